// A capture as an editable `.vgpu` program (`vgpu import`): the VM image emulator/capture.ts builds,
// written out in the language so that it assembles to the same guest RAM and runs the same driver
// operations (same surfaces, memorySha256 and commandCounts).
//
// Page tables are written as explicit data at the capture's own GPAs (`.pml4` names the root), not
// as `.map` lines: the assembler would build `.map` tables at the top of guest RAM, other pages than the
// capture's, and the capture's memory (hence memorySha256) would differ; the regular mappings are
// listed as comments instead. Batches and rings reached from each submission are disassembled into
// `.batch NAME, GPA, ENGINE, phys` blocks; the rest of guest RAM is `.data` (a few dwords) or `.incbin`
// from a sidecar binary; the GGTT is `.ggtt` ranges in a table placed where the capture had it.

import { assembleSource } from './assembler';
import { DEFAULT_GEN, decodeCommand, type Gen } from './commands';
import { disassembleOne } from './disassembler';
import type { DriverOp, ProgramImage } from './image';
import { PAGE_SIZE, hex } from './memory';
import { ENGINES, ringBytesOf, type EngineName } from './registers';

export interface ImportResult {
  /** The program text. */
  readonly program: string;
  /** The sidecar binary its `.incbin` and `.write` lines read. */
  readonly sidecar: Uint8Array;
  readonly stats: { batches: number; commands: number; dataBytes: number; rawFallback: boolean };
}

/** Runs of this many zero dwords split a data run (zero is guest RAM's default: nothing to write). */
const ZERO_SPLIT = 32;
/** Data runs up to this many dwords are written inline (`dword` lines), longer ones go to the sidecar. */
const INLINE_DWORDS = 8;
/** Longest stretch a batch walk follows, and the deepest second-level nesting it follows. */
const MAX_BATCH_DWORDS = 1 << 20;
const MAX_DEPTH = 3;
const PTE_P = 1;
const PTE_RW = 2;
const PTE_PS = 0x80;

/** Reads the image's initial guest RAM. */
class Ram {
  constructor(private readonly pages: ReadonlyMap<number, Uint32Array>) {}
  read32(gpa: number): number {
    const p = this.pages.get(Math.floor(gpa / PAGE_SIZE));
    return p ? p[(gpa % PAGE_SIZE) >>> 2] : 0;
  }
  read64(gpa: number): number {
    return (this.read32(gpa + 4) & 0xfffff) * 2 ** 32 + this.read32(gpa);
  }
}

/** x86-64 4-level walk of the capture's own tables: the GPA and writability of a VA, or undefined. */
function walk(ram: Ram, pml4: number, va: number): { gpa: number; rw: boolean; pageSize: number } | undefined {
  let table = pml4;
  let rw = true;
  for (let level = 0; level < 4; level++) {
    const shift = 39 - 9 * level;
    const e = ram.read64(table + (Math.floor(va / 2 ** shift) % 512) * 8);
    if ((e & PTE_P) === 0) return undefined;
    rw = rw && (e & PTE_RW) !== 0;
    const addr = Math.floor(e / PAGE_SIZE) * PAGE_SIZE;
    if (level === 3 || (level >= 1 && e & PTE_PS)) {
      const size = 2 ** shift;
      const base = Math.floor(addr / size) * size;
      return { gpa: base + (va % size), rw, pageSize: size };
    }
    table = addr;
  }
  return undefined;
}

/** The GGTT's translation of an address (the table at `base`), or undefined. */
function ggttGpa(ram: Ram, ggtt: { base: number; entries: number }, va: number): number | undefined {
  const i = Math.floor(va / PAGE_SIZE);
  if (i >= ggtt.entries) return undefined;
  const e = ram.read64(ggtt.base + i * 8);
  return e & 1 ? Math.floor(e / PAGE_SIZE) * PAGE_SIZE + (va % PAGE_SIZE) : undefined;
}

interface Command {
  gpa: number;
  va: number;
  words: number[];
  text: string;
}

/** Imports a capture image (emulator/capture.ts). `sidecarName` is what `.incbin` lines name. */
export function importCapture(image: ProgramImage, sidecarName: string, opts: { raw?: boolean } = {}): ImportResult {
  const first = render(image, sidecarName, !!opts.raw);
  if (opts.raw) return first;
  // Self-check: the program must assemble to exactly the capture's guest RAM; if a disassembled batch
  // does not, everything is written as data instead (still runs the same, less readable).
  if (sameRam(image, first)) return first;
  return render(image, sidecarName, true);
}

function sameRam(image: ProgramImage, r: ImportResult): boolean {
  const a = assembleSource(r.program, { file: 'import-check.vgpu', readFile: () => r.sidecar });
  if (!a.image) return false;
  const nonZero = (m: ReadonlyMap<number, Uint32Array>) =>
    [...m].filter(([, p]) => p.some((d) => d !== 0)).sort((x, y) => x[0] - y[0]);
  const want = nonZero(image.pages);
  const got = nonZero(a.image.pages);
  if (want.length !== got.length) return false;
  return want.every(([pfn, p], i) => got[i][0] === pfn && got[i][1].every((d, k) => d === p[k]));
}

function render(image: ProgramImage, sidecarName: string, raw: boolean): ImportResult {
  const gen = (image.capture?.gen ?? image.vm.gen ?? DEFAULT_GEN) as Gen;
  const ram = new Ram(image.pages);
  const ggtt = image.ggtt;
  const out: string[] = [];
  const sidecar: Uint8Array[] = [];
  let sidecarSize = 0;
  const addSidecar = (bytes: Uint8Array): number => {
    const at = sidecarSize;
    sidecar.push(bytes);
    sidecarSize += bytes.length;
    return at;
  };
  const contexts = image.driver.filter((o): o is DriverOp & { op: 'context' } => o.op === 'context');
  const c = image.capture;

  out.push(
    `; ${image.file} imported by vgpu import${c ? `: ${c.platform} (PCI ID ${c.pciId}), application '${c.application}', ${c.submissions} submission(s)` : ''}.`,
  );
  out.push("; Guest RAM is the capture's, page for page: its page tables are data at their own GPAs (.pml4 names");
  out.push('; the root), the GGTT table stays where the capture had it, batches and rings are disassembled');
  out.push(`; in place (.batch ..., phys) and the rest is .data / .incbin from ${sidecarName}.`);
  out.push('');
  const vmKeys = [`memory=${hex(2 * image.memory)}`, `gen=${gen}`, 'unmodelled=drop'];
  if (image.vm.version !== undefined) vmKeys.push(`version=${image.vm.version}`);
  if (image.vm.pool?.length) vmKeys.push(`pool=${image.vm.pool.join(',')}`);
  if (image.vm.isolation !== undefined) vmKeys.push(`isolation=${image.vm.isolation ? 'on' : 'off'}`);
  out.push(`.vm ${vmKeys.join(' ')}`);
  out.push(`.pml4 ${hex(image.pml4)}`);

  // The GGTT: `.ggtt` ranges when every entry is a plain present one (what Mesa's writer makes), else raw table data.
  const excluded = new Set<number>(); // dword GPAs not written as data
  if (ggtt) {
    out.push('', `.ggtt table=${hex(ggtt.base)}, entries=${ggtt.entries}`);
    const runs: { va: number; gpa: number; size: number }[] = [];
    let plain = true;
    for (let i = 0; i < ggtt.entries && plain; i++) {
      const lo = ram.read32(ggtt.base + 8 * i);
      const hi = ram.read32(ggtt.base + 8 * i + 4);
      if (lo === 0 && hi === 0) continue;
      if ((lo & 0xfff) !== 1 || hi > 0xffff) {
        plain = false;
        break;
      }
      const gpa = hi * 2 ** 32 + (lo & 0xfffff000);
      const last = runs[runs.length - 1];
      if (last && last.va + last.size === i * PAGE_SIZE && last.gpa + last.size === gpa) last.size += PAGE_SIZE;
      else runs.push({ va: i * PAGE_SIZE, gpa, size: PAGE_SIZE });
    }
    if (plain) {
      for (const r of runs) out.push(`.ggtt ${hex(r.va)}, ${hex(r.gpa)}, ${hex(r.size)}`);
      for (let a = ggtt.base; a < ggtt.base + ggtt.entries * 8; a += 4) excluded.add(a);
    } else {
      out.push('; its entries carry bits other than present: the table is written as data below');
    }
  }

  // The PPGTT of each context, as comments (the tables themselves are data).
  const roots = [...new Set(contexts.map((o) => o.pml4))];
  for (const root of roots) {
    out.push(
      '',
      `; PPGTT at GPA ${hex(root)} (${contexts
        .filter((o) => o.pml4 === root)
        .map((o) => o.engine)
        .filter((e, i, l) => l.indexOf(e) === i)
        .join(', ')}): regular mappings`,
    );
    const maps = mappingsOf(ram, root);
    for (const m of maps.slice(0, 64))
      out.push(`;   .map ${hex(m.va)}, ${hex(m.gpa)}, ${hex(m.size)}, ${m.rw ? 'rw' : 'ro'}`);
    if (maps.length > 64) out.push(`;   ... ${maps.length - 64} more`);
  }

  // Batches and rings reached from each submission, disassembled where they lie.
  const claimed = new Map<number, { engine: EngineName; cmd: Command; label: string }>(); // command GPA -> command
  const claimedDwords = new Set<number>();
  const claim = (engine: EngineName, cmd: Command, label: string): boolean => {
    for (let k = 0; k < cmd.words.length; k++) if (claimedDwords.has(cmd.gpa + 4 * k)) return false;
    for (let k = 0; k < cmd.words.length; k++) claimedDwords.add(cmd.gpa + 4 * k);
    claimed.set(cmd.gpa, { engine, cmd, label });
    return true;
  };
  if (!raw && ggtt) {
    for (const ctx of contexts) {
      const size = ringBytesOf(ctx.ring.ctl);
      const head = ctx.ring.head % size;
      const tail = ctx.ring.tail % size;
      const bytes = (tail - head + size) % size;
      const at = (off: number) => ggttGpa(ram, ggtt, ctx.ring.start + ((head + off) % size));
      const batches = decodeStream(
        ram,
        (i) => at(4 * i),
        bytes / 4,
        ctx.ring.start + head,
        gen,
        ctx.engine,
        (cmd) => claim(ctx.engine, cmd, `ring_${ctx.engine}`),
      );
      const seen = new Set<number>();
      const follow = (va: number, depth: number) => {
        if (depth > MAX_DEPTH || seen.has(va)) return;
        seen.add(va);
        const next = decodeStream(
          ram,
          (i) => walk(ram, ctx.pml4, va + 4 * i)?.gpa,
          MAX_BATCH_DWORDS,
          va,
          gen,
          ctx.engine,
          (cmd) => claim(ctx.engine, cmd, `batch_${va.toString(16)}`),
          true,
        );
        for (const b of next) follow(b, depth + 1);
      };
      for (const b of batches) follow(b, 1);
    }
  }

  // Claimed commands, grouped into GPA-contiguous blocks.
  const starts = [...claimed.keys()].sort((a, b) => a - b);
  let batchCount = 0;
  const names = new Set<string>();
  for (let i = 0; i < starts.length;) {
    const firstCmd = claimed.get(starts[i])!;
    let end = firstCmd.cmd.gpa + 4 * firstCmd.cmd.words.length;
    let j = i + 1;
    while (j < starts.length && starts[j] === end && claimed.get(starts[j])!.engine === firstCmd.engine) {
      const cj = claimed.get(starts[j])!;
      end = cj.cmd.gpa + 4 * cj.cmd.words.length;
      j++;
    }
    let name = `${firstCmd.label}_at_${firstCmd.cmd.gpa.toString(16)}`;
    while (names.has(name.toUpperCase())) name += '_';
    names.add(name.toUpperCase());
    out.push('', `; ${firstCmd.label.startsWith('ring') ? 'ring' : 'batch'} at GPU VA ${hex(firstCmd.cmd.va)}`);
    out.push(`.batch ${name}, ${hex(firstCmd.cmd.gpa)}, ${firstCmd.engine}, phys`);
    for (let k = i; k < j; k++) out.push(`    ${claimed.get(starts[k])!.cmd.text}`);
    batchCount++;
    i = j;
  }

  // The rest of guest RAM: runs of dwords not claimed, split at long zero stretches.
  out.push('', '; the rest of guest RAM');
  let dataBytes = 0;
  const emitRun = (gpa: number, words: number[]) => {
    while (words.length && words[words.length - 1] === 0) words.pop();
    if (!words.length) return;
    dataBytes += 4 * words.length;
    if (words.length <= INLINE_DWORDS) {
      out.push(`.data ${hex(gpa)}, phys`, `    dword ${words.map((w) => hex(w)).join(', ')}`);
      return;
    }
    const bytes = new Uint8Array(4 * words.length);
    const v = new DataView(bytes.buffer);
    words.forEach((w, k) => v.setUint32(4 * k, w, true));
    out.push(`.incbin ${hex(gpa)}, "${sidecarName}", ${hex(addSidecar(bytes))}, ${hex(bytes.length)}, phys`);
  };
  const pfns = [...image.pages.keys()].sort((a, b) => a - b);
  let runStart = -1;
  let run: number[] = [];
  let zeros = 0;
  const flush = () => {
    if (runStart >= 0) emitRun(runStart, run);
    runStart = -1;
    run = [];
    zeros = 0;
  };
  let expect = -1;
  for (const pfn of pfns) {
    const page = image.pages.get(pfn)!;
    if (pfn * PAGE_SIZE !== expect) flush();
    for (let k = 0; k < page.length; k++) {
      const gpa = pfn * PAGE_SIZE + 4 * k;
      if (claimedDwords.has(gpa) || excluded.has(gpa)) {
        flush();
        continue;
      }
      const w = page[k];
      if (w === 0) {
        if (runStart >= 0 && ++zeros >= ZERO_SPLIT) flush();
        else if (runStart >= 0) run.push(0);
        continue;
      }
      if (runStart < 0) runStart = gpa;
      zeros = 0;
      run.push(w);
    }
    expect = (pfn + 1) * PAGE_SIZE;
  }
  flush();

  // Surfaces a program described (captures written by vgpu export carry them).
  if (image.surfaces.length) out.push('');
  for (const s of image.surfaces) out.push(`.surface ${s.name}, ${hex(s.va)}, ${s.width}, ${s.height}, ${s.pitch}`);

  // The driver, in capture order.
  out.push('', '; the driver, in capture order');
  for (const op of image.driver) {
    switch (op.op) {
      case 'context':
        out.push(
          `.context ${op.engine}, start=${hex(op.ring.start)}, head=${hex(op.ring.head)}, tail=${hex(op.ring.tail)}, ctl=${hex(op.ring.ctl)}, pml4=${hex(op.pml4)}, lrca=${hex(op.lrca)}`,
        );
        break;
      case 'wait':
        out.push(`.wait ${ENGINES.every((e) => op.engines.includes(e)) ? 'all' : op.engines.join(', ')}`);
        break;
      case 'mmio':
        out.push(`.mmio ${hex(op.offset)}, ${hex(op.value)}`);
        break;
      case 'write': {
        if (op.dwords.length <= INLINE_DWORDS) {
          out.push(`.write ${hex(op.gpa)}, ${op.dwords.map((d) => hex(d)).join(', ')}`);
          break;
        }
        const bytes = new Uint8Array(4 * op.dwords.length);
        const v = new DataView(bytes.buffer);
        op.dwords.forEach((w, k) => v.setUint32(4 * k, w, true));
        out.push(`.write ${hex(op.gpa)}, "${sidecarName}", ${hex(addSidecar(bytes))}, ${hex(bytes.length)}`);
        break;
      }
      case 'eptp':
        out.push(
          `.eptp ${op.view === 0 ? 'full' : 'restricted'}${op.engines.length === 1 ? `, ${op.engines[0]}` : ''}`,
        );
        break;
      case 'ring':
      case 'submit':
        throw new Error('importCapture: a capture image has no .ring/.submit operations');
    }
  }
  const all = new Uint8Array(sidecarSize);
  let at = 0;
  for (const b of sidecar) {
    all.set(b, at);
    at += b.length;
  }
  return {
    program: out.join('\n') + '\n',
    sidecar: all,
    stats: { batches: batchCount, commands: claimed.size, dataBytes, rawFallback: raw },
  };
}

/**
 * Decodes commands from a stream (`gpaOf(i)`: the GPA of dword i, or undefined past a mapping) and hands
 * each to `take` (false: already taken, stop); returns the first-level batch addresses it starts.
 * In a batch (`batch`), stops at MI_BATCH_BUFFER_END, an undecodable dword or a non-contiguous page.
 */
function decodeStream(
  ram: Ram,
  gpaOf: (i: number) => number | undefined,
  limit: number,
  va0: number,
  gen: Gen,
  engine: EngineName,
  take: (c: Command) => boolean,
  batch = false,
): number[] {
  const starts: number[] = [];
  const window: number[] = [];
  for (let i = 0; i < limit;) {
    const gpa = gpaOf(i);
    if (gpa === undefined) break;
    // The command's dwords, while they stay GPA-contiguous (16 is the longest header-decoded look-ahead needed).
    window.length = 0;
    const n = Math.min(limit - i, 512);
    for (let k = 0; k < n; k++) {
      // translate once per page: within a page the GPAs are contiguous
      if (k > 0 && (gpa + 4 * k) % PAGE_SIZE === 0 && gpaOf(i + k) !== gpa + 4 * k) break;
      window.push(ram.read32(gpa + 4 * k));
    }
    const d = decodeCommand(window, 0, window.length, gen);
    if (typeof d === 'string') break;
    // A command the language cannot spell bit for bit (a sign-extended address) stays `.dword ...; NAME`.
    const one = disassembleOne(window, 0, engine, gen);
    const words = window.slice(0, d.length);
    const text =
      one.length === d.length ? one.text : `.dword ${words.map((w) => hex(w >>> 0)).join(', ')} ; ${d.def.mnemonic}`;
    const cmd: Command = { gpa, va: va0 + 4 * i, words, text };
    if (!take(cmd)) break;
    if (d.def.mnemonic === 'MI_BATCH_BUFFER_START') {
      const addr = Number(d.fields.get('addr') ?? 0n); // its 48-bit VA (the sign extension above is ignored)
      if ((d.fields.get('ppgtt') ?? 0n) === 1n) starts.push(addr);
      if (batch && (d.fields.get('second_level') ?? 0n) === 0n) break; // a chained first-level batch: the rest is not reached
    }
    if (batch && d.def.mnemonic === 'MI_BATCH_BUFFER_END') break;
    i += d.length;
  }
  return starts;
}

/** The leaf mappings of a PPGTT, merged into runs contiguous in VA and GPA with the same access. */
function mappingsOf(ram: Ram, pml4: number): { va: number; gpa: number; size: number; rw: boolean }[] {
  const out: { va: number; gpa: number; size: number; rw: boolean }[] = [];
  const visit = (table: number, level: number, vaBase: number, rw: boolean) => {
    const shift = 39 - 9 * level;
    for (let i = 0; i < 512; i++) {
      const e = ram.read64(table + 8 * i);
      if ((e & PTE_P) === 0) continue;
      const va = vaBase + i * 2 ** shift;
      const w = rw && (e & PTE_RW) !== 0;
      const addr = Math.floor(e / PAGE_SIZE) * PAGE_SIZE;
      if (level === 3 || (level >= 1 && e & PTE_PS)) {
        const size = 2 ** shift;
        const last = out[out.length - 1];
        if (last && last.va + last.size === va && last.gpa + last.size === addr && last.rw === w) last.size += size;
        else out.push({ va, gpa: addr, size, rw: w });
      } else if (out.length < 100000) visit(addr, level + 1, va, w);
    }
  };
  visit(pml4, 0, 0, true);
  return out;
}
