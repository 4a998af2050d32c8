// A real GPU capture (Mesa's AUB) as a VM image: guest RAM from the capture's physical writes, the
// global GTT from its GGTT entries, each execlist submission's context image read by register offset,
// and every submission a driver operation in capture order.

import * as zlib from 'node:zlib';
import { commandByMnemonic, commandIndex, commandLength, COMMANDS } from './commands';
import { AubFile, AubFormatError, AubRecord, looksLikeAub, parseAub } from './formats/aub';
import type { CaptureInfo, DriverOp, ProgramImage, SourceLoc, SurfaceDef, VmDirective } from './image';
import { PAGE_SIZE, hex } from './memory';
import { ENGINES, EngineName, regAt, regField } from './registers';

/** A capture the VM cannot run (not modelled, or inconsistent); the message says which and where. */
export class CaptureError extends Error {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `byte ${offset}: ${message}`);
    this.name = 'CaptureError';
  }
}

/**
 * Platforms by PCI device ID (the IDs Mesa 22's iris driver lists; CHV from i915). `gen` is the command
 * generation; only 8 and 9 are modelled.
 */
const PLATFORMS: readonly { name: string; gen: number; ids: readonly number[] }[] = [
  {
    name: 'BDW',
    gen: 8,
    ids: [
      0x1602, 0x1606, 0x160a, 0x160b, 0x160d, 0x160e, 0x1612, 0x1616, 0x161a, 0x161b, 0x161d, 0x161e, 0x1622, 0x1626,
      0x162a, 0x162b, 0x162d, 0x162e,
    ],
  },
  { name: 'CHV', gen: 8, ids: [0x22b0, 0x22b1, 0x22b2, 0x22b3] },
  {
    name: 'SKL',
    gen: 9,
    ids: [
      0x1902, 0x1906, 0x190a, 0x190b, 0x190e, 0x1912, 0x1913, 0x1915, 0x1916, 0x1917, 0x191a, 0x191b, 0x191d, 0x191e,
      0x1921, 0x1923, 0x1926, 0x1927, 0x192a, 0x192b, 0x192d, 0x1932, 0x193a, 0x193b, 0x193d,
    ],
  },
  { name: 'BXT', gen: 9, ids: [0x0a84, 0x1a84, 0x1a85, 0x5a84, 0x5a85] },
  { name: 'GLK', gen: 9, ids: [0x3184, 0x3185] },
  {
    name: 'KBL',
    gen: 9,
    ids: [
      0x5902, 0x5906, 0x5908, 0x590a, 0x590b, 0x590e, 0x5912, 0x5913, 0x5915, 0x5916, 0x5917, 0x591a, 0x591b, 0x591c,
      0x591d, 0x591e, 0x5921, 0x5923, 0x5926, 0x5927, 0x593b, 0x87c0,
    ],
  },
  {
    name: 'CFL',
    gen: 9,
    ids: [
      0x87ca, 0x3e90, 0x3e91, 0x3e92, 0x3e93, 0x3e94, 0x3e96, 0x3e98, 0x3e99, 0x3e9a, 0x3e9b, 0x3e9c, 0x3ea0, 0x3ea1,
      0x3ea2, 0x3ea3, 0x3ea4, 0x3ea5, 0x3ea6, 0x3ea7, 0x3ea8, 0x3ea9, 0x9b21, 0x9b41, 0x9ba2, 0x9ba4, 0x9ba5, 0x9ba8,
      0x9baa, 0x9bab, 0x9bac, 0x9bc2, 0x9bc4, 0x9bc5, 0x9bc6, 0x9bc8, 0x9bca, 0x9bcb, 0x9bcc, 0x9be6, 0x9bf6,
    ],
  },
  {
    name: 'ICL',
    gen: 11,
    ids: [
      0x8a50, 0x8a51, 0x8a52, 0x8a53, 0x8a54, 0x8a56, 0x8a57, 0x8a58, 0x8a59, 0x8a5a, 0x8a5b, 0x8a5c, 0x8a5d, 0x8a71,
    ],
  },
  {
    name: 'EHL',
    gen: 11,
    ids: [0x4500, 0x4541, 0x4551, 0x4555, 0x4557, 0x4571, 0x4e51, 0x4e55, 0x4e57, 0x4e61, 0x4e71],
  },
  {
    name: 'TGL',
    gen: 12,
    ids: [0x9a40, 0x9a49, 0x9a59, 0x9a60, 0x9a68, 0x9a70, 0x9a78, 0x9ac0, 0x9ac9, 0x9ad9, 0x9af8],
  },
  { name: 'RKL', gen: 12, ids: [0x4c8a, 0x4c8b, 0x4c8c, 0x4c90, 0x4c9a] },
  {
    name: 'ADL',
    gen: 12,
    ids: [
      0x4626, 0x4628, 0x462a, 0x4680, 0x4682, 0x4688, 0x468a, 0x468b, 0x4690, 0x4692, 0x4693, 0x46a0, 0x46a1, 0x46a2,
      0x46a3, 0x46a6, 0x46a8, 0x46aa, 0x46b0, 0x46b1, 0x46b2, 0x46b3, 0x46c0, 0x46c1, 0x46c2, 0x46c3, 0x46d0, 0x46d1,
      0x46d2,
    ],
  },
  {
    name: 'RPL',
    gen: 12,
    ids: [
      0xa720, 0xa721, 0xa780, 0xa781, 0xa782, 0xa783, 0xa788, 0xa789, 0xa78a, 0xa78b, 0xa7a0, 0xa7a1, 0xa7a8, 0xa7a9,
    ],
  },
  { name: 'DG1', gen: 12, ids: [0x4905, 0x4906, 0x4907, 0x4908, 0x4909] },
  {
    name: 'DG2',
    gen: 12,
    ids: [
      0x5690, 0x5691, 0x5692, 0x5693, 0x5694, 0x5695, 0x5696, 0x5697, 0x5698, 0x56a0, 0x56a1, 0x56a2, 0x56a3, 0x56a4,
      0x56a5, 0x56a6, 0x56b0, 0x56b1, 0x56b2, 0x56b3, 0x56ba, 0x56bb, 0x56bc, 0x56bd, 0x56c0, 0x56c1,
    ],
  },
];

export function platformOf(pciId: number): { name: string; gen: number } | undefined {
  return PLATFORMS.find((p) => p.ids.includes(pciId));
}

/** Capture engines the VM has, by the capture's engine class. */
const ENGINE_OF: Readonly<Record<string, EngineName | undefined>> = { render: 'rcs0', blitter: 'bcs0' };

/** gen8/gen9 execlist context: the PPHWSP page, then the register state (SPEC-less fact from the PRM's "Logical Ring Context"). */
const PPHWSP_BYTES = PAGE_SIZE;
/** Context descriptor bits 4:3, addressing mode: 3 = 48-bit 4-level PPGTT ("legacy 64-bit"), what this VM walks. */
const ADDRESSING_4LEVEL = 3;
/** Largest register state scanned for the MI_LOAD_REGISTER_IMM list (the gen9 render context is ~20 pages). */
const CONTEXT_SCAN_DWORDS = 0x6000;
/** The context image's register lists are gen9 MI_LOAD_REGISTER_IMMs (their layout is the same on gen8). */
const MI_LRI = COMMANDS.indexOf(commandByMnemonic('MI_LOAD_REGISTER_IMM')!);
const MI_BATCH_BUFFER_END = commandByMnemonic('MI_BATCH_BUFFER_END')!.header;
/** The VM's smallest guest RAM for a capture, and the GGTT PTE size. */
const MIN_RAM = 64 * 1024 * 1024;
const PTE_BYTES = 8;

/**
 * A comment block `vgpu .vm KEY=VALUE ...` (what `vgpu export` writes; aubinator skips comments) carries
 * the program's device version, migration pool and isolation, which AUB has no place for.
 */
export const VM_COMMENT_PREFIX = 'vgpu .vm ';
/** A comment block `vgpu .surface NAME VA WIDTH HEIGHT PITCH`: a program's surface, so that results name it. */
export const SURFACE_COMMENT_PREFIX = 'vgpu .surface ';

function surfaceFromComment(text: string, file: string): SurfaceDef | undefined {
  const m = /^(\w+) (0x[0-9a-f]+) (\d+) (\d+) (\d+)$/i.exec(text.slice(SURFACE_COMMENT_PREFIX.length).trim());
  if (!m) return undefined;
  const [width, height, pitch] = [Number(m[3]), Number(m[4]), Number(m[5])];
  if (
    width < 1 ||
    height < 1 ||
    width > 65536 ||
    height > 65536 ||
    pitch < width * 4 ||
    pitch * height > 64 * 1024 * 1024
  )
    return undefined;
  return { name: m[1], va: Number(m[2]), width, height, pitch, loc: { file, line: 0, col: 0 } };
}

function vmFromComment(text: string, into: VmDirective): void {
  for (const kv of text.slice(VM_COMMENT_PREFIX.length).trim().split(/\s+/)) {
    const [k, v] = kv.split('=');
    if (k === 'version' && /^[1-3]$/.test(v)) into.version = Number(v);
    else if (k === 'pool' && /^[1-3](,[1-3])*$/.test(v)) into.pool = v.split(',').map(Number);
    else if (k === 'isolation' && (v === 'on' || v === 'off')) into.isolation = v === 'on';
  }
}

/** Decompresses a gzipped capture; a broken gzip stream is a format error. */
export function captureBytes(raw: Uint8Array): Uint8Array {
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return new Uint8Array(zlib.gunzipSync(raw));
    } catch (e) {
      throw new AubFormatError(0, `gzip stream: ${(e as Error).message}`);
    }
  }
  return raw;
}

/** Is this file's content a capture (AUB, possibly gzipped)? Recognized from the bytes, not the name. */
export function isCapture(raw: Uint8Array): boolean {
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      // the first block is enough to recognize AUB
      const head = zlib.gunzipSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      return looksLikeAub(head);
    } catch {
      return false;
    }
  }
  return looksLikeAub(raw);
}

/** Sparse byte-addressed guest RAM the builder reads context images from, as it stands at each record. */
class Mirror {
  readonly pages = new Map<number, Uint32Array>();

  write(gpa: number, data: Uint8Array): void {
    for (let i = 0; i < data.length;) {
      const a = gpa + i;
      const pfn = Math.floor(a / PAGE_SIZE);
      let p = this.pages.get(pfn);
      if (!p) this.pages.set(pfn, (p = new Uint32Array(PAGE_SIZE / 4)));
      const bytes = new Uint8Array(p.buffer);
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, data.length - i);
      bytes.set(data.subarray(i, i + n), off);
      i += n;
    }
  }

  read32(gpa: number): number {
    const p = this.pages.get(Math.floor(gpa / PAGE_SIZE));
    return p ? p[(gpa % PAGE_SIZE) >>> 2] : 0;
  }
}

/** What a context image's register list says about one engine (by the register table's names). */
interface ContextRegs {
  ring: { start: number; head: number; tail: number; ctl: number };
  pml4: number;
}

/** Largest capture file opened (the file is kept whole, for checkpoints and migrations). */
export const MAX_CAPTURE_BYTES = 256 * 1024 * 1024;

/** Loads a capture (AUB or gzipped AUB bytes) as a program image. Throws AubFormatError or CaptureError. */
export function loadCapture(file: string, raw: Uint8Array): ProgramImage {
  if (raw.length > MAX_CAPTURE_BYTES)
    throw new CaptureError(`the file is ${raw.length} bytes; captures of up to ${MAX_CAPTURE_BYTES} bytes open`, 0);
  const aub = parseAub(captureBytes(raw));
  return { ...captureImage(file, aub), captureFile: raw };
}

export function captureImage(file: string, aub: AubFile): ProgramImage {
  if (aub.pciId === null)
    throw new CaptureError('the version header has no PCI-ID: the platform (and so the command layouts) is unknown', 0);
  const plat = platformOf(aub.pciId);
  if (!plat)
    throw new CaptureError(`unknown PCI ID ${hex(aub.pciId, 4)}: not a gen8-gen12 Intel GPU this tool knows`, 0);
  if (plat.gen !== 8 && plat.gen !== 9 && plat.gen !== 11 && plat.gen !== 12) {
    throw new CaptureError(
      `${plat.name} (gen${plat.gen}) capture, PCI ID ${hex(aub.pciId, 4)}: not modelled — captures from gen8, gen9, gen11 and gen12 platforms open`,
      0,
    );
  }
  if (aub.flavor === 'classic')
    throw new CaptureError(
      'classic (ring-buffer) AUB: a gen4-7 capture; only execlist captures (gen8+) are modelled',
      0,
    );

  // Pass 1: the extent of guest RAM and of the GGTT.
  let maxGpa = 0;
  let maxEntry = -1;
  for (const r of aub.records) {
    if (r.kind !== 'mem-write') continue;
    if (r.space === 'physical') maxGpa = Math.max(maxGpa, r.address + r.data.length);
    else if (r.space === 'ggtt-entry') {
      if (r.address % PTE_BYTES !== 0 || r.data.length % PTE_BYTES !== 0)
        throw new CaptureError(
          `GGTT entry write at ${hex(r.address)} of ${r.data.length} bytes is not whole 8-byte entries`,
          r.offset,
        );
      maxEntry = Math.max(maxEntry, (r.address + r.data.length) / PTE_BYTES - 1);
      const v = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
      for (let i = 0; i < r.data.length; i += PTE_BYTES) {
        const lo = v.getUint32(i, true);
        if (lo & 1)
          maxGpa = Math.max(maxGpa, (v.getUint32(i + 4, true) & 0xffff) * 0x100000000 + (lo & 0xfffff000) + PAGE_SIZE);
      }
    } else if (r.space === 'local') {
      throw new CaptureError('write to device-local memory (a discrete GPU): not modelled', r.offset);
    }
  }
  const entries = Math.ceil((maxEntry + 1) / 512) * 512;
  const tableBytes = entries * PTE_BYTES;
  let memory = MIN_RAM;
  while (memory < 2 * (maxGpa + tableBytes)) memory *= 2;
  const physBits = 39;
  if (memory > 2 ** physBits)
    throw new CaptureError(`the capture's physical writes reach ${hex(maxGpa)}, beyond a ${physBits}-bit guest`);
  // The GGTT's PTE table sits at the top of guest RAM, above everything the capture wrote.
  const ggttBase = memory - Math.ceil(tableBytes / PAGE_SIZE) * PAGE_SIZE;

  // Pass 2: in capture order.
  const mirror = new Mirror();
  const pages = new Map<number, Uint32Array>();
  const driver: DriverOp[] = [];
  let started = false;
  const outstanding = new Set<EngineName>();
  let pml4 = 0;
  let submissions = 0;
  const ignoredRegisters = new Set<number>();
  const vm: VmDirective = {};
  const surfaces: SurfaceDef[] = [];
  const loc = (_r: AubRecord): SourceLoc => ({ file, line: 0, col: 0 });

  const ggttGpa = (va: number, r: AubRecord): number => {
    const index = Math.floor(va / PAGE_SIZE);
    if (index >= entries)
      throw new CaptureError(`GGTT address ${hex(va)} is beyond the capture's ${entries}-entry GGTT`, r.offset);
    const lo = mirror.read32(ggttBase + index * PTE_BYTES);
    const hi = mirror.read32(ggttBase + index * PTE_BYTES + 4);
    if ((lo & 1) === 0)
      throw new CaptureError(
        `GGTT address ${hex(va)} is not mapped (entry ${index} not present) when the capture uses it`,
        r.offset,
      );
    return (hi & 0xffff) * 0x100000000 + (lo & 0xfffff000) + (va % PAGE_SIZE);
  };
  /** Waits for submitted work before the capture changes memory or submits again (the writer polled for it). */
  const settle = (r: AubRecord, engines?: EngineName[]) => {
    const list = engines ?? [...outstanding];
    if (list.length === 0) return;
    driver.push({ op: 'wait', engines: ENGINES.filter((e) => list.includes(e)), loc: loc(r) });
    for (const e of list) outstanding.delete(e);
  };
  const writeGpa = (gpa: number, data: Uint8Array, r: AubRecord) => {
    if (gpa + data.length > memory) throw new CaptureError(`write at GPA ${hex(gpa)} beyond guest RAM`, r.offset);
    mirror.write(gpa, data);
    if (!started) return;
    settle(r);
    // Dword-granular: partial dwords at either end keep the bytes the capture had there.
    const first = gpa - (gpa % 4);
    const last = Math.ceil((gpa + data.length) / 4) * 4;
    const dwords: number[] = [];
    for (let a = first; a < last; a += 4) dwords.push(mirror.read32(a));
    driver.push({ op: 'write', gpa: first, dwords, loc: loc(r) });
  };

  for (const r of aub.records) {
    switch (r.kind) {
      case 'mem-write':
        if (r.space === 'physical') writeGpa(r.address, r.data, r);
        else if (r.space === 'ggtt-entry') writeGpa(ggttBase + r.address, r.data, r);
        else if (r.space === 'ggtt') {
          // split at GGTT pages: each maps its own GPA
          for (let i = 0; i < r.data.length;) {
            const va = r.address + i;
            const n = Math.min(PAGE_SIZE - (va % PAGE_SIZE), r.data.length - i);
            writeGpa(ggttGpa(va, r), r.data.subarray(i, i + n), r);
            i += n;
          }
        }
        break;
      case 'reg-write': {
        const reg = regAt(r.register);
        if (reg && reg.reg.def.access !== 'ro' && reg.reg.def.scope !== 'cap') {
          if (started) settle(r);
          driver.push({ op: 'mmio', offset: r.register, value: r.value, loc: loc(r) });
        } else {
          ignoredRegisters.add(r.register);
        }
        break;
      }
      case 'reg-poll': {
        const reg = regAt(r.register);
        const e = reg?.reg.engine;
        settle(r, e ? [e] : undefined);
        break;
      }
      case 'mem-poll':
        settle(r);
        break;
      case 'submit': {
        const engine = ENGINE_OF[r.engine];
        if (!engine)
          throw new CaptureError(
            `submission to the ${r.engine} engine: not modelled (the VM has the render and blitter engines)`,
            r.offset,
          );
        const mode = (r.descriptorLo >>> 3) & 3;
        if (mode !== ADDRESSING_4LEVEL)
          throw new CaptureError(
            `context descriptor ${hex(r.descriptorLo, 8)} asks for addressing mode ${mode}; only the 48-bit 4-level PPGTT (mode 3) is modelled`,
            r.offset,
          );
        const lrca = r.descriptorLo & 0xfffff000;
        const regs = contextRegisters(engine, lrca, (va) => ggttGpa(va, r), mirror, r);
        settle(r, outstanding.has(engine) ? [engine] : []);
        if (!started) {
          // Everything written so far is the VM's initial guest RAM.
          for (const [pfn, p] of mirror.pages) pages.set(pfn, new Uint32Array(p));
          pml4 = regs.pml4;
          started = true;
        }
        driver.push({ op: 'context', engine, lrca, ring: regs.ring, pml4: regs.pml4, loc: loc(r) });
        outstanding.add(engine);
        submissions++;
        break;
      }
      case 'ring-write':
        throw new CaptureError('classic ring write in an execlist capture', r.offset);
      case 'comment':
        if (r.text.startsWith(VM_COMMENT_PREFIX)) vmFromComment(r.text, vm);
        else if (r.text.startsWith(SURFACE_COMMENT_PREFIX)) {
          const sd = surfaceFromComment(r.text, file);
          if (sd && !surfaces.some((x) => x.name.toUpperCase() === sd.name.toUpperCase())) surfaces.push(sd);
        }
        break;
    }
  }
  if (!started) for (const [pfn, p] of mirror.pages) pages.set(pfn, new Uint32Array(p));
  if (outstanding.size > 0)
    driver.push({ op: 'wait', engines: ENGINES.filter((e) => outstanding.has(e)), loc: { file, line: 0, col: 0 } });

  const capture: CaptureInfo = {
    format: 'aub',
    platform: plat.name,
    pciId: hex(aub.pciId, 4),
    application: aub.application,
    submissions,
    ...(plat.gen > 9 ? { note: foreignNote(plat.gen) } : {}),
  };
  return {
    file,
    source: '',
    vm,
    memory,
    physBits,
    pages,
    pml4,
    ggtt: { base: ggttBase, entries },
    mappings: [],
    driver,
    surfaces,
    symbols: new Map(surfaces.map((x) => [x.name.toUpperCase(), x.va])),
    sourceMap: new Map(),
    listing: [],
    warnings: [],
    ringSpace: 'ggtt',
    capture: {
      ...capture,
      gen: Math.min(plat.gen, 9) as 8 | 9,
      ...(plat.gen > 9 ? { hardwareGen: plat.gen } : {}),
      ignoredRegisters: [...ignoredRegisters].sort((a, b) => a - b),
    },
  };
}

/** What a gen11/gen12 capture's VM models and what it does not (said wherever the capture is summarized). */
export function foreignNote(gen: number): string {
  return (
    `a gen${gen} capture, decoded with gen9's command layouts: commands gen9 has run as there (a longer gen${gen} state command is read with gen9's fields); ` +
    `gen${gen}-only 3D commands and commands whose gen${gen} form differs are skipped and listed under notEmulated`
  );
}

/**
 * The ring and PPGTT root of a context image, found by register offset in its MI_LOAD_REGISTER_IMM
 * lists (the logical ring context's register state starts one page after the LRCA).
 */
function contextRegisters(
  engine: EngineName,
  lrca: number,
  gpaOf: (va: number) => number,
  mirror: Mirror,
  r: AubRecord,
): ContextRegs {
  const found = new Map<string, number>();
  const base = lrca + PPHWSP_BYTES;
  const read = (i: number) => mirror.read32(gpaOf(base + 4 * i));
  let i = 0;
  while (i < CONTEXT_SCAN_DWORDS) {
    const h = read(i);
    if (h === MI_BATCH_BUFFER_END) break;
    if (h === 0) {
      i++;
      continue;
    }
    const idx = commandIndex(h);
    if (idx !== MI_LRI) break; // end of the register lists
    const n = (Math.abs(commandLength(idx, h)) - 1) >>> 1; // (register, value) pairs, as declared

    for (let k = 0; k < n; k++) {
      const reg = regAt(read(i + 1 + 2 * k));
      if (reg && reg.reg.engine === engine) found.set(reg.reg.def.name, read(i + 2 + 2 * k));
    }
    i += 1 + 2 * n;
  }
  const need = ['RING_START', 'RING_HEAD', 'RING_TAIL', 'RING_CTL', 'PDP0_LDW', 'PDP0_UDW'];
  const missing = need.filter((n) => !found.has(n));
  if (missing.length > 0) {
    throw new CaptureError(
      `the ${engine} context image at GGTT ${hex(lrca)} has no ${missing.join(', ')} in its register list`,
      r.offset,
    );
  }
  return {
    ring: {
      start: found.get('RING_START')!,
      head: found.get('RING_HEAD')!,
      tail: found.get('RING_TAIL')!,
      ctl: found.get('RING_CTL')!,
    },
    pml4:
      regField('PDP0_UDW', 'ADDRESS').get(found.get('PDP0_UDW')!) * 0x100000000 +
      regField('PDP0_LDW', 'ADDRESS').place(found.get('PDP0_LDW')!),
  };
}
