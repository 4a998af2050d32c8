// Post-mortem: a GPU error of the VM captured as a kernel hang dump (what i915 would have printed), and a
// hang dump (i915 error state, Xe devcoredump) turned back into a VM that replays to the hung command.

import * as fs from 'node:fs';
import { COMMANDS, decodeCommand, encodeCommand } from './commands';
import { DumpBuffer, DumpEngine, DumpFormatError, HangDump, hungEngine, newEngine } from './formats/dump';
import { formatI915ErrorState, isI915ErrorState, parseI915ErrorState } from './formats/i915-error';
import { isXeDevcoredump, parseXeDevcoredump } from './formats/xe-devcoredump';
import { assemble } from './assembler';
import { hex, PAGE_SIZE } from './memory';
import {
  ENGINE_REGS,
  ENGINES,
  EngineName,
  REGISTERS,
  regAt,
  regCompose,
  regField,
  ringBytesOf,
  type RegInstance,
} from './registers';
import { SPACE_GGTT } from './engine';
import { GpuError, Vm, VmOptions } from './vm';

/** gen9 PCI device the written dumps name (Skylake GT2), and its platform name as i915 prints it. */
export const WRITTEN_PCI_ID = 0x1912;
export const WRITTEN_PLATFORM = 'skylake';
/** GGTT addresses the written dumps give the synthesized context images (one 8 KiB LRC per engine). */
const CONTEXT_GGTT_BASE = 0x7ff00000;
/** Longest buffer written per mapping (a 1 GiB page mapping is not dumped whole). */
const MAX_BUFFER_BYTES = 1 << 20;
/** LRI pairs per MI_LOAD_REGISTER_IMM in a written context image (the LRC splits its lists similarly). */
const LRI_PAIRS = 16;

// gen8+ FAULT_REG (GEN8_RING_FAULT_REG): bit 0 valid, bits 2:1 fault level, bits 14:12 engine (GFX 0, BLT 4).
const FAULT_VALID = 1;
const FAULT_ENGINE_SHIFT = 12;
const FAULT_ENGINE_ID: Record<EngineName, number> = { rcs0: 0, bcs0: 4 };
/** Errors that are memory faults (FAULT_REG valid, FAULT_TLB_DATA holds the address). */
const FAULT_KINDS_WITH_ADDRESS = new Set(['page-fault', 'ept-violation', 'isolation-violation']);

const u64 = (lo: number, hi: number) => (hi >>> 0) * 0x100000000 + (lo >>> 0);

function engineReg(e: EngineName, name: string): RegInstance {
  return REGISTERS.find((r) => r.engine === e && r.def.name === name)!;
}

/** Engine registers a context image carries: every engine register software or commands may write. */
const CONTEXT_REGS = ENGINE_REGS.filter((d) => d.access !== 'ro');

const command = (m: string) => COMMANDS.find((d) => d.mnemonic === m && d.gens.includes(9))!;
const LRI = command('MI_LOAD_REGISTER_IMM');
const BB_END = command('MI_BATCH_BUFFER_END');

/** A context image: page 0 the per-process status page, page 1 on the register state as LRI lists. */
function contextImage(vm: Vm, e: EngineName): Uint32Array {
  const img = new Uint32Array(2 * 1024);
  let i = 1024 + 1; // dword 0 of the register state is an MI_NOOP, as in the LRC
  const regs = CONTEXT_REGS.map((d) => engineReg(e, d.name));
  for (let k = 0; k < regs.length; k += LRI_PAIRS) {
    const chunk = regs.slice(k, k + LRI_PAIRS);
    const lri = encodeCommand(
      LRI,
      new Map(),
      chunk.map((r) => [r.mmio, vm.regs.values[r.slot]] as const),
    );
    img.set(lri, i);
    i += lri.length;
  }
  img.set(encodeCommand(BB_END, new Map()), i); // closes the register state
  return img;
}

type Space = 'ppgtt' | 'ggtt';

/** A buffer's dwords through the address space the engine reaches it by (unmapped dwords read 0). */
function readBuffer(vm: Vm, e: EngineName, va: number, bytes: number, space: Space = 'ppgtt'): Uint32Array {
  if (space === 'ppgtt') return Uint32Array.from(vm.readVa(va, bytes / 4, e), (x) => x ?? 0);
  const out = new Uint32Array(bytes / 4);
  for (let off = 0; off < bytes; off += PAGE_SIZE) {
    const t = vm.translate(va + off, 0, e, 'ggtt');
    if (t.hpa < 0) continue;
    for (let k = 0; k < Math.min(PAGE_SIZE, bytes - off) / 4; k++) out[off / 4 + k] = vm.mem.read32(t.hpa + 4 * k);
  }
  return out;
}

/** Bytes mapped from `va` (page aligned) on, page by page, up to `max`: the extent of a buffer no `.map` declares. */
function mappedExtent(vm: Vm, e: EngineName, va: number, space: Space, max: number): number {
  let n = 0;
  while (n < max && vm.translate(va + n, 0, e, space).hpa >= 0) n += PAGE_SIZE;
  return n;
}

/**
 * The dump i915 would capture for a GPU error of this VM, on gen9: the engines that were busy with their
 * ring registers, ACTHD (the command), IPEHR (its header dword), BBADDR, FAULT_REG, PDP0; buffers: the
 * batch (the mapping holding the first-level batch), every other mapping as `user`, the ring, the HW
 * context (an LRC image whose LRI lists hold the engine's registers, CS_GPRs included).
 */
export function captureHangDump(vm: Vm, err: GpuError): HangDump {
  const d: HangDump = {
    format: 'i915-error',
    file: vm.image.file,
    reason: `${err.kind} on ${err.engine}: ${err.message}`,
    kind: err.kind,
    platform: WRITTEN_PLATFORM,
    pciId: WRITTEN_PCI_ID,
    pciRevision: vm.cfg.version,
    gen: 9,
    engines: [],
    batchAddrs: [],
    globalBuffers: [],
    unknown: [],
  };
  if (FAULT_KINDS_WITH_ADDRESS.has(err.kind)) d.faultAddress = err.faultAddress ?? err.gpa;
  for (const name of ENGINES) {
    const eng = vm.engine(name);
    if (name !== err.engine && eng.idle()) continue;
    const s = eng.slots;
    const R = vm.regs.values;
    const de: DumpEngine = newEngine(name, 0);
    de.hung = name === err.engine;
    const acthd = de.hung ? err.commandVa : u64(R[s.acthd], R[s.acthdUdw]);
    const sub = eng.curSub >= 0 ? vm.image.driver[eng.curSub] : undefined;
    de.regs.set('START', R[s.start]);
    de.regs.set('HEAD', R[s.head]);
    de.regs.set('RQ_HEAD', sub?.op === 'submit' ? sub.offset : sub?.op === 'context' ? sub.ring.head : R[s.head]);
    de.regs.set('TAIL', R[s.tail]);
    de.regs.set('CTL', R[s.ctl]);
    de.regs.set('HWS', R[s.hws]);
    de.regs.set('ACTHD', acthd);
    const cmdSpace: Space = (eng.depth > 0 ? eng.bbSpace[eng.depth - 1] === SPACE_GGTT : vm.image.ringSpace === 'ggtt')
      ? 'ggtt'
      : 'ppgtt';
    de.regs.set('IPEHR', readBuffer(vm, name, acthd, 4, cmdSpace)[0]);
    de.regs.set('INSTDONE', 0xffffffff);
    de.regs.set('BBADDR', u64(R[s.bbAddr], R[s.bbAddrUdw]));
    const faulted = de.hung && FAULT_KINDS_WITH_ADDRESS.has(err.kind);
    de.regs.set('FAULT_REG', faulted ? (FAULT_VALID | (FAULT_ENGINE_ID[name] << FAULT_ENGINE_SHIFT)) >>> 0 : 0);
    de.regs.set('PDP0', u64(R[s.pdpLo], R[s.pdpHi]));
    for (let i = 1; i < 4; i++) de.regs.set(`PDP${i}`, 0);

    const ringVa = R[s.start];
    const ringBytes = eng.ringEnabled() ? eng.ringSize() : 0;
    const ringSpace: Space = vm.image.ringSpace ?? 'ppgtt';
    const firstLevel = eng.depth > 0 ? eng.bb[0] : -1;
    const batchSpace: Space = eng.depth > 0 && eng.bbSpace[0] === SPACE_GGTT ? 'ggtt' : 'ppgtt';
    const maps = [...vm.image.mappings].filter(
      (m) => ringBytes === 0 || ringSpace !== 'ppgtt' || m.va + m.size <= ringVa || m.va >= ringVa + ringBytes,
    );
    const batch =
      batchSpace === 'ppgtt' ? maps.find((m) => firstLevel >= m.va && firstLevel < m.va + m.size) : undefined;
    const bufs: DumpBuffer[] = [];
    const add = (bufName: string, va: number, bytes: number, space: Space = 'ppgtt', dwords?: Uint32Array) =>
      bufs.push({
        name: bufName,
        va,
        dwords: dwords ?? readBuffer(vm, name, va, bytes, space),
        encoding: 'zlib',
        line: 0,
      });
    if (batch) add('batch', batch.va, Math.min(batch.size, MAX_BUFFER_BYTES));
    else if (firstLevel >= 0) {
      // No `.map` holds it (a capture's own page tables, or the global GTT): the pages mapped from its start.
      const bbAddr = u64(R[s.bbAddr], R[s.bbAddrUdw]);
      const from =
        Math.floor(
          (eng.depth === 1 && bbAddr <= firstLevel && firstLevel - bbAddr < MAX_BUFFER_BYTES ? bbAddr : firstLevel) /
            PAGE_SIZE,
        ) * PAGE_SIZE;
      const bytes = mappedExtent(vm, name, from, batchSpace, MAX_BUFFER_BYTES);
      if (bytes > 0) add('batch', from, bytes, batchSpace);
    }
    if (de.hung) for (const m of maps) if (m !== batch) add('user', m.va, Math.min(m.size, MAX_BUFFER_BYTES));
    if (ringBytes > 0) add('ring', ringVa, ringBytes, ringSpace);
    const hws = eng.statusPage();
    if (hws !== 0 && vm.translate(hws, 0, name, 'ggtt').hpa >= 0) add('HW Status', hws, PAGE_SIZE, 'ggtt');
    add('HW context', CONTEXT_GGTT_BASE + eng.index * 0x2000, 0, 'ggtt', contextImage(vm, name));
    for (const b of bufs) de.buffers.push(b);
    d.engines.push(de);
  }
  return d;
}

/** The i915 error state text for a GPU error (compressed buffers unless `compress` is false). */
export function errorStateText(vm: Vm, err: GpuError, compress = true): string {
  return formatI915ErrorState(captureHangDump(vm, err), { compress });
}

// ---------------------------------------------------------------------------------------------------
// Reading a dump back into a VM.

/** Reads a dump of either format, recognized from the content; undefined when the text is neither. */
export function parseHangDump(text: string, file: string): HangDump | undefined {
  if (isXeDevcoredump(text)) return parseXeDevcoredump(text, file);
  if (isI915ErrorState(text)) return parseI915ErrorState(text, file);
  return undefined;
}

/** Bytes read to recognize a hang dump. */
const DUMP_SNIFF_BYTES = 1 << 16;

/**
 * Is FILE a kernel hang dump (recognized from the first 64 KiB of a regular file)? Anything else, or an
 * unreadable file, is not: the program path refuses it, naming what it is. A FIFO or a device is never opened.
 */
export function isHangDumpFile(file: string): boolean {
  let fd: number | undefined;
  try {
    if (!fs.statSync(file).isFile()) return false;
    fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(DUMP_SNIFF_BYTES);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    return looksLikeHangDump(buf.subarray(0, n).toString('latin1'));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function looksLikeHangDump(text: string): boolean {
  return isXeDevcoredump(text) || isI915ErrorState(text);
}

export interface CaptureReport {
  format: HangDump['format'];
  reason: string;
  kind?: string;
  platform?: string;
  pciId?: string;
  engine: string;
  /** The engine the replay ran on (dumps of engines the VM does not model replay on rcs0). */
  replayEngine: EngineName;
  acthd: string;
  ipehr?: string;
  /** Where the replay started: the ring's request head, or the batch (no ring in the dump). */
  replayFrom: { ring: boolean; va: string };
  reached: boolean;
  /** The command at ACTHD once reached. */
  command?: { va: string; mnemonic: string | null; header: string };
  /** null when the dump has no IPEHR. */
  headerMatchesIpehr: boolean | null;
  divergence?: { at: string; reason: string };
  buffers: { name: string; va: string; bytes: number; encoding: string; mapped: boolean }[];
  notes: string[];
  unknown: { line: number; text: string }[];
}

/** Maps dump engine names (`rcs0`, `render ring`, `bcs0`, `blitter ring`, ...) onto the VM's engines. */
function vmEngine(name: string): EngineName | undefined {
  if (/^(rcs|render)/i.test(name)) return 'rcs0';
  if (/^(bcs|blt|blitter)/i.test(name)) return 'bcs0';
  return undefined;
}

/** Buffers the replay maps into the PPGTT, in priority order (the ring and the batch win overlaps). */
const MAPPED_ORDER = ['ring', 'batch', 'user'];
const NOT_MAPPED = /^(HW context|HW Status|WA context|WA batchbuffer|GuC|semaphores|\[HWCTX\])/i;

const RING_OFFSET = regField('RING_HEAD', 'OFFSET');

export interface OpenedDump {
  readonly dump: HangDump;
  /** The `.vgpu` program the VM was built from (mappings, data, registers). */
  readonly program: string;
  readonly vm: Vm;
  readonly report: CaptureReport;
}

/**
 * Builds a VM from a dump and replays to the hung command. The page tables are not in a dump: the
 * program maps every captured buffer at its GPU VA with page tables of its own; memory not captured
 * reads as zero through one read-only zero page (`.vm unmapped=zero`), so a write to it faults. Registers come from the dump and the context image; the ring runs from the request's
 * head to TAIL, or, without a ring, a one-command ring starts the batch.
 */
export function openHangDump(dump: HangDump, o: VmOptions = {}): OpenedDump {
  const he = hungEngine(dump);
  if (!he) throw new DumpFormatError(0, 'missing section: the dump has no engine');
  const acthd = he.regs.get('ACTHD');
  if (acthd === undefined) throw new DumpFormatError(he.line, `missing register: ${he.name} has no ACTHD`);
  const notes: string[] = [
    'page tables are not in a dump: the replay maps each captured buffer at its GPU VA with page tables it builds; memory not captured reads as zero (writing it ends the replay)',
  ];
  const engine = vmEngine(he.name) ?? 'rcs0';
  if (!vmEngine(he.name)) notes.push(`engine ${he.name} is not modelled: replayed on rcs0`);

  // Page-granular placement: first buffer wins a page.
  const all = [...he.buffers, ...dump.globalBuffers];
  const rank = (b: DumpBuffer) => {
    const k = MAPPED_ORDER.indexOf(b.name.toLowerCase());
    return k < 0 ? MAPPED_ORDER.length : k;
  };
  const mappedPages = new Map<number, { buf: DumpBuffer; off: number }>();
  const reportBufs: CaptureReport['buffers'] = [];
  for (const b of [...all].sort((a, c) => rank(a) - rank(c))) {
    const mapped = !NOT_MAPPED.test(b.name) && b.va < 2 ** 48 && b.dwords.length > 0;
    reportBufs.push({ name: b.name, va: hex(b.va), bytes: b.dwords.length * 4, encoding: b.encoding, mapped });
    if (!mapped) continue;
    const first = Math.floor(b.va / PAGE_SIZE);
    const last = Math.floor((b.va + b.dwords.length * 4 - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++)
      if (!mappedPages.has(p)) mappedPages.set(p, { buf: b, off: p * PAGE_SIZE - b.va });
  }
  const pages = [...mappedPages.keys()].sort((a, b) => a - b);

  const src: string[] = [];
  src.push(`; generated by vgpu-debug from ${dump.file} (${dump.format}): ${dump.reason}`);
  src.push('; page tables are not in a dump: these mappings and their page tables are built anew');
  const version =
    dump.pciId === WRITTEN_PCI_ID && dump.pciRevision !== undefined && dump.pciRevision >= 1 && dump.pciRevision <= 3
      ? dump.pciRevision
      : undefined;
  const memory = Math.max(64, Math.ceil((pages.length * PAGE_SIZE * 2 + (16 << 20)) / (16 << 20)) * 16) * 1024 * 1024;
  src.push(`.vm memory=${memory} unmapped=zero${version !== undefined ? ` version=${version}` : ''}`);
  let gpa = 0x100000;
  for (let i = 0; i < pages.length;) {
    let j = i + 1;
    while (j < pages.length && pages[j] === pages[j - 1] + 1) j++;
    src.push(`.map ${hex(pages[i] * PAGE_SIZE)}, ${hex(gpa)}, ${hex((j - i) * PAGE_SIZE)}, rw`);
    gpa += (j - i) * PAGE_SIZE;
    i = j;
  }
  for (const p of pages) {
    const { buf, off } = mappedPages.get(p)!;
    const base = off / 4;
    for (let k = 0; k < 1024;) {
      const idx = base + k;
      if (idx < 0 || idx >= buf.dwords.length || buf.dwords[idx] === 0) {
        k++;
        continue;
      }
      let end = k;
      while (end < 1024 && base + end < buf.dwords.length && buf.dwords[base + end] !== 0 && end - k < 8) end++;
      const words = Array.from(buf.dwords.subarray(base + k, base + end), (w) => hex(w));
      src.push(`.data ${hex(p * PAGE_SIZE + 4 * k)}`, `dword ${words.join(', ')}`);
      k = end;
    }
  }

  // Registers: the context image's LRI lists, then the dump's own lines (they are the later truth).
  const regWrites = new Map<string, number>();
  let eptView: number | undefined;
  for (const [mmio, value] of he.contextRegs) {
    const at = regAt(mmio);
    const r = at?.reg;
    if (!r || r.engine === null || at.dword !== 0) continue;
    if (/^(RING_|PDP0_)/.test(r.def.name) || r.def.access === 'ro') continue;
    if (r.def.name === 'EPT_VIEW') eptView = regField('EPT_VIEW', 'VIEW').get(value);
    else if (r.def.access !== 'priv') regWrites.set(`${engine}.${r.def.name}`, value);
  }
  for (const [name, value] of regWrites) src.push(`.mmio ${name}, ${hex(value)}`);
  if (eptView === 1) src.push(`.eptp restricted, ${engine}`);

  const ring = he.buffers.find((b) => b.name.toLowerCase() === 'ring');
  const rqHead = RING_OFFSET.place(he.regs.get('RQ_HEAD') ?? he.regs.get('HEAD') ?? 0);
  const tail = RING_OFFSET.place(he.regs.get('TAIL') ?? 0);
  let replayFrom: CaptureReport['replayFrom'];
  if (ring && ring.va < 2 ** 32 && ring.va % PAGE_SIZE === 0 && rqHead !== tail) {
    const ctl = he.regs.get('CTL');
    const ringPages =
      ctl !== undefined && regField('RING_CTL', 'ENABLE').get(ctl)
        ? ringBytesOf(ctl) / PAGE_SIZE
        : Math.max(1, Math.ceil((ring.dwords.length * 4) / PAGE_SIZE));
    src.push(`.mmio ${engine}.RING_START, ${hex(ring.va)}`);
    src.push(`.mmio ${engine}.RING_CTL, ${hex(regCompose('RING_CTL', { ENABLE: 1, LENGTH: ringPages - 1 }))}`);
    src.push(`.mmio ${engine}.RING_HEAD, ${hex(rqHead)}`);
    src.push(`.mmio ${engine}.RING_TAIL, ${hex(tail)}`);
    replayFrom = { ring: true, va: hex(ring.va + rqHead) };
  } else {
    const start =
      dump.batchAddrs[0] ?? he.buffers.find((b) => b.name.toLowerCase() === 'batch')?.va ?? he.regs.get('BBADDR');
    if (start === undefined)
      throw new DumpFormatError(
        he.line,
        `missing section: ${he.name} has neither a ring (with HEAD != TAIL) nor a batch address to replay from`,
      );
    notes.push(
      ring
        ? 'the ring holds nothing between HEAD and TAIL: the replay starts at the batch'
        : 'the ring is not in the dump: the replay starts at the batch address',
    );
    let ringVa = 0xfff00000;
    while (pages.some((p) => p * PAGE_SIZE >= ringVa && p * PAGE_SIZE < ringVa + 0x4000) && ringVa > 0x10000000)
      ringVa -= 0x100000;
    src.push(
      `.ring ${engine}, ${hex(ringVa)}, 16K`,
      `.map ${hex(ringVa)}, ${hex(gpa)}, 16K, rw`,
      `    MI_BATCH_BUFFER_START addr=${hex(start)}`,
      `.submit ${engine}`,
    );
    replayFrom = { ring: false, va: hex(start) };
  }
  const program = src.join('\n') + '\n';
  const image = assemble(program, { file: dump.file });
  const vm = new Vm(image, { autoRollback: false, ...o });

  const eng = vm.engine(engine);
  const outcome = vm.run({ stopAt: (m) => eng.busy() && m.nextActor() === eng && eng.nextVa() === acthd });
  const ipehr = he.regs.get('IPEHR');
  const report: CaptureReport = {
    format: dump.format,
    reason: dump.reason,
    kind: dump.kind,
    platform: dump.platform,
    pciId: dump.pciId === undefined ? undefined : hex(dump.pciId, 4),
    engine: he.name,
    replayEngine: engine,
    acthd: hex(acthd),
    ipehr: ipehr === undefined ? undefined : hex(ipehr, 8),
    replayFrom,
    reached: outcome === 'stopped',
    headerMatchesIpehr: null,
    buffers: reportBufs,
    notes,
    unknown: dump.unknown,
  };
  if (report.reached) {
    const words = vm.readVa(acthd, 16, engine).map((x) => x ?? 0);
    const dc = decodeCommand(words, 0, words.length, vm.gen);
    report.command = {
      va: hex(acthd),
      mnemonic: typeof dc === 'string' ? null : dc.def.mnemonic,
      header: hex(words[0], 8),
    };
    if (ipehr !== undefined) {
      report.headerMatchesIpehr = words[0] === ipehr;
      if (!report.headerMatchesIpehr)
        notes.push(
          `the header at ACTHD (${hex(words[0], 8)}) is not IPEHR (${hex(ipehr, 8)}): the dump's buffer or IPEHR is stale`,
        );
    }
  } else {
    const err = vm.pending;
    const faultGpa = err?.faultAddress !== undefined ? vm.translate(err.faultAddress, 0, err.engine).gpa : undefined;
    const uncaptured =
      faultGpa !== undefined && vm.uncaptured(faultGpa) ? ' (a write to memory the dump did not capture)' : '';
    report.divergence = err
      ? {
          at: hex(err.commandVa),
          reason: `${err.kind} on ${err.engine} before reaching ACTHD: ${err.message}${uncaptured}`,
        }
      : {
          at: hex(eng.cmdVa),
          reason: `the replay ${outcome === 'done' ? 'ran to the end' : `stopped (${outcome})`} without reaching ACTHD ${hex(acthd)}; last command at ${hex(eng.cmdVa)}`,
        };
  }
  return { dump, program, vm, report };
}
