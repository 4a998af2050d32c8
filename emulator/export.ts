// A program image as an AUB capture (`vgpu export`): what Mesa's intel_dump_gpu would have recorded had
// the program's driver run on hardware, so that aubinator decodes it and emulator/capture.ts reads it back.
//
// The image's guest RAM (page tables, data, batches) is written physically first; each ring is mapped
// in the global GTT at its own VA (rings lie below 4 GiB, RING_START holds the same value either way);
// each submission gets its own execlist context image (the PPHWSP page, then the register state: the
// ring registers and PDP0 in one MI_LOAD_REGISTER_IMM at the positions aubinator reads them), written
// before the first submission with the ring's contents, so that nothing the capture writes later makes
// the reader wait for the engines (a real driver's writes between submissions do).

import { AubWriter, EXECLIST_STATUS } from './formats/aub-write';
import type { DriverOp, ProgramImage } from './image';
import { PAGE_SIZE, hex } from './memory';
import { DEFAULT_GEN, commandByMnemonic, encodeCommand } from './commands';
import { SURFACE_COMMENT_PREFIX, VM_COMMENT_PREFIX } from './capture';
import { ENGINE_BASE, EngineName, regByName } from './registers';

/** An image the AUB format cannot carry as it is; the message says what. */
export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

/** The platform an exported capture names, by command generation: a PCI ID aubinator knows and the simulator's device code. */
const PLATFORM_OF_GEN: Readonly<Record<8 | 9, { pciId: number; device: number; name: string }>> = {
  8: { pciId: 0x1616, device: 11, name: 'BDW' },
  9: { pciId: 0x1912, device: 12, name: 'SKL' },
};
/** Context descriptor: valid (bit 0), addressing mode 3 = 48-bit 4-level PPGTT (bits 4:3). */
const DESCRIPTOR_FLAGS = 1 | (3 << 3);
/** The execlist status register's bit Mesa's writer polls clear after a submission. */
const STATUS_ACTIVE = 0x10;
const MI_NOOP = commandByMnemonic('MI_NOOP')!.header;
const MI_BATCH_BUFFER_END = commandByMnemonic('MI_BATCH_BUFFER_END')!.header;
const MI_LOAD_REGISTER_IMM = commandByMnemonic('MI_LOAD_REGISTER_IMM')!;
const PTE_BYTES = 8;
/** Register-state dword indices aubinator reads (RING_HEAD, _TAIL, _START, _CTL values, PDP0 upper, lower). */
const CONTEXT_LAYOUT: readonly string[] = [
  'CTX_CTRL',
  'RING_HEAD',
  'RING_TAIL',
  'RING_START',
  'RING_CTL',
  'CS_GPR0',
  'CS_GPR0_HI',
  'CS_GPR1',
  'CS_GPR1_HI',
  'CS_GPR2',
  'CS_GPR2_HI',
  'CS_GPR3',
  'CS_GPR3_HI',
  'CS_GPR4',
  'CS_GPR4_HI',
  'CS_GPR5',
  'CS_GPR5_HI',
  'PDP3_UDW',
  'PDP3_LDW',
  'PDP2_UDW',
  'PDP2_LDW',
  'PDP1_UDW',
  'PDP1_LDW',
  'PDP0_UDW',
  'PDP0_LDW',
];
/** Engine-relative offsets of the registers the context image lists (the i915 gen8 context layout's, and CS_GPR as filler). */
const CONTEXT_REG_OFFSET: Readonly<Record<string, number>> = {
  CTX_CTRL: 0x244,
  RING_HEAD: 0x34,
  RING_TAIL: 0x30,
  RING_START: 0x38,
  RING_CTL: 0x3c,
  PDP3_UDW: 0x28c,
  PDP3_LDW: 0x288,
  PDP2_UDW: 0x284,
  PDP2_LDW: 0x280,
  PDP1_UDW: 0x27c,
  PDP1_LDW: 0x278,
  PDP0_UDW: 0x274,
  PDP0_LDW: 0x270,
  ...Object.fromEntries(
    Array.from({ length: 6 }, (_, n) => [
      [`CS_GPR${n}`, 0x600 + 8 * n],
      [`CS_GPR${n}_HI`, 0x604 + 8 * n],
    ]).flat(),
  ),
};

interface RingState {
  va: number;
  gpa: number;
  size: number;
  /** Bytes written so far (unwrapped), to see when a submission would overwrite an earlier one's. */
  written: number;
}

interface Submission {
  engine: EngineName;
  lrca: number;
  gpa: number;
  ring: { start: number; head: number; tail: number; ctl: number };
  pml4: number;
}

export interface ExportOptions {
  /** Application name in the version header (trimmed to fit its 32 bytes). */
  readonly application?: string;
}

/** The AUB bytes of an assembled program. Throws ExportError. */
export function exportAub(image: ProgramImage, opts: ExportOptions = {}): Uint8Array {
  const gen = (image.capture?.gen ?? image.vm.gen ?? DEFAULT_GEN) as 8 | 9;
  const plat = PLATFORM_OF_GEN[gen];
  if (!plat) throw new ExportError(`no AUB platform for command generation ${gen}`);
  const application = (opts.application ?? 'vgpu').slice(0, 32 - `PCI-ID=0x${plat.pciId.toString(16)} `.length - 1);
  const aub = new AubWriter(plat.pciId, plat.device, application);
  const vmSettings = vmComment(image);
  if (vmSettings) aub.comment(VM_COMMENT_PREFIX + vmSettings);
  for (const sd of image.surfaces)
    aub.comment(`${SURFACE_COMMENT_PREFIX}${sd.name} ${hex(sd.va)} ${sd.width} ${sd.height} ${sd.pitch}`);

  // The global GTT: the program's own entries, then each ring at its VA, then the context images.
  const ggtt = new Map<number, number>(); // GGTT page index -> PTE low dword | high << 32 (as a number)
  if (image.ggtt) {
    for (let i = 0; i < image.ggtt.entries; i++) {
      const at = image.ggtt.base + i * PTE_BYTES;
      const page = image.pages.get(Math.floor(at / PAGE_SIZE));
      if (!page) continue;
      const lo = page[(at % PAGE_SIZE) >>> 2];
      const hi = page[((at % PAGE_SIZE) >>> 2) + 1];
      if (lo !== 0 || hi !== 0) ggtt.set(i, hi * 2 ** 32 + lo);
    }
  }
  const mapGgtt = (va: number, gpa: number, pages: number, what: string) => {
    for (let p = 0; p < pages; p++) {
      const index = va / PAGE_SIZE + p;
      const pte = gpa + p * PAGE_SIZE + 1;
      const old = ggtt.get(index);
      if (old !== undefined && old !== pte)
        throw new ExportError(
          `${what} at GGTT ${hex(va + p * PAGE_SIZE)} clashes with the program's .ggtt entry there (GPA ${hex(Math.floor(old / PAGE_SIZE) * PAGE_SIZE)})`,
        );
      ggtt.set(index, pte);
    }
  };

  const rings = new Map<EngineName, RingState>();
  for (const op of image.driver) {
    if (op.op === 'ring' && !rings.has(op.engine)) {
      rings.set(op.engine, { va: op.va, gpa: op.gpa, size: op.size, written: 0 });
      mapGgtt(op.va, op.gpa, op.size / PAGE_SIZE, `the ${op.engine} ring`);
    }
  }
  // Context images go above the program's guest RAM, two pages each, at free GGTT addresses.
  let nextGpa = Math.ceil(image.memory / PAGE_SIZE) * PAGE_SIZE;
  let nextIndex = 16;
  const newContext = (): { lrca: number; gpa: number } => {
    while (ggtt.has(nextIndex) || ggtt.has(nextIndex + 1)) nextIndex += 2;
    const lrca = nextIndex * PAGE_SIZE;
    const gpa = nextGpa;
    mapGgtt(lrca, gpa, 2, 'a context image');
    nextIndex += 2;
    nextGpa += 2 * PAGE_SIZE;
    return { lrca, gpa };
  };

  // Plan every submission and which ring writes can go before the first one.
  const early: { gpa: number; bytes: Uint8Array }[] = [];
  const late = new Map<number, { gpa: number; bytes: Uint8Array }[]>(); // driver op index -> writes just before it
  const subs = new Map<number, Submission>();
  const ringOf = new Map<EngineName, { start: number; ctl: number }>();
  image.driver.forEach((op, k) => {
    if (op.op === 'ring') {
      ringOf.set(op.engine, { start: op.va, ctl: (1 | ((op.size / PAGE_SIZE - 1) << 12)) >>> 0 });
      rings.get(op.engine)!.written = 0;
    } else if (op.op === 'submit') {
      const ring = rings.get(op.engine);
      const regs = ringOf.get(op.engine);
      if (!ring || !regs)
        throw new ExportError(`${op.loc.file}:${op.loc.line}: .submit ${op.engine} before its ring is set up`);
      const writes = ringWrites(ring, op);
      // Later writes would make the reader wait for the engines first: only a wrapped ring needs them.
      const wraps = ring.written + 4 * op.dwords.length > ring.size;
      if (wraps) late.set(k, writes);
      else early.push(...writes);
      ring.written += 4 * op.dwords.length;
      const ctx = newContext();
      subs.set(k, {
        engine: op.engine,
        ...ctx,
        ring: { start: regs.start, head: op.offset, tail: op.tail, ctl: regs.ctl },
        pml4: image.pml4,
      });
    } else if (op.op === 'context') {
      const ctx = newContext();
      subs.set(k, { engine: op.engine, ...ctx, ring: { ...op.ring }, pml4: op.pml4 });
    }
  });

  // GGTT entries, in runs of consecutive indices.
  const indices = [...ggtt.keys()].sort((a, b) => a - b);
  for (let i = 0; i < indices.length;) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1 && j - i < 4095) j++;
    const data = new Uint8Array((j - i + 1) * PTE_BYTES);
    const v = new DataView(data.buffer);
    for (let k = i; k <= j; k++) {
      const pte = ggtt.get(indices[k])!;
      v.setUint32((k - i) * PTE_BYTES, pte % 2 ** 32, true);
      v.setUint32((k - i) * PTE_BYTES + 4, Math.floor(pte / 2 ** 32), true);
    }
    aub.memWrite('ggtt-entry', indices[i] * PTE_BYTES, data);
    i = j + 1;
  }

  // Guest RAM, in runs of consecutive non-zero pages.
  const pfns = [...image.pages.keys()]
    .filter((p) => p * PAGE_SIZE < image.memory && image.pages.get(p)!.some((d) => d !== 0))
    .sort((a, b) => a - b);
  for (let i = 0; i < pfns.length;) {
    let j = i;
    while (j + 1 < pfns.length && pfns[j + 1] === pfns[j] + 1 && j - i < 15) j++;
    const data = new Uint8Array((j - i + 1) * PAGE_SIZE);
    for (let k = i; k <= j; k++)
      data.set(new Uint8Array(image.pages.get(pfns[k])!.buffer, 0, PAGE_SIZE), (k - i) * PAGE_SIZE);
    aub.memWrite('physical', pfns[i] * PAGE_SIZE, data);
    i = j + 1;
  }
  for (const w of early) aub.memWrite('physical', w.gpa, w.bytes);
  for (const s of subs.values()) aub.memWrite('physical', s.gpa, contextImage(s));

  image.driver.forEach((op, k) => {
    for (const w of late.get(k) ?? []) aub.memWrite('physical', w.gpa, w.bytes);
    const s = subs.get(k);
    if (s) {
      aub.submitElsp(ENGINE_BASE[s.engine], (s.lrca | DESCRIPTOR_FLAGS) >>> 0, k);
      return;
    }
    emitOp(aub, op);
  });
  return aub.bytes();
}

function emitOp(aub: AubWriter, op: DriverOp): void {
  switch (op.op) {
    case 'wait':
      for (const e of op.engines) aub.regPoll(ENGINE_BASE[e] + EXECLIST_STATUS, STATUS_ACTIVE, 0);
      return;
    case 'mmio':
      aub.regWrite(op.offset, op.value);
      return;
    case 'eptp':
      for (const e of op.engines) aub.regWrite(regByName('EPT_VIEW', e)!.mmio, op.view);
      return;
    case 'write': {
      const bytes = new Uint8Array(op.dwords.length * 4);
      const v = new DataView(bytes.buffer);
      op.dwords.forEach((d, i) => v.setUint32(4 * i, d >>> 0, true));
      aub.memWrite('physical', op.gpa, bytes);
      return;
    }
    case 'ring':
    case 'submit':
    case 'context':
      return; // planned above
  }
}

/** A submission's dwords as physical writes into its ring (split where the ring wraps). */
function ringWrites(ring: RingState, op: DriverOp & { op: 'submit' }): { gpa: number; bytes: Uint8Array }[] {
  const out: { gpa: number; bytes: Uint8Array }[] = [];
  let i = 0;
  while (i < op.dwords.length) {
    const off = (op.offset + 4 * i) % ring.size;
    const n = Math.min(op.dwords.length - i, (ring.size - off) / 4);
    const bytes = new Uint8Array(4 * n);
    const v = new DataView(bytes.buffer);
    for (let k = 0; k < n; k++) v.setUint32(4 * k, op.dwords[i + k] >>> 0, true);
    out.push({ gpa: ring.gpa + off, bytes });
    i += n;
  }
  return out;
}

/**
 * Two pages: the per-process hardware status page (zero), then the register state: MI_NOOP, one
 * MI_LOAD_REGISTER_IMM of CONTEXT_LAYOUT's registers (absolute MMIO offsets, as i915 writes them on
 * gen8/9), MI_BATCH_BUFFER_END.
 */
function contextImage(s: Submission): Uint8Array {
  const bytes = new Uint8Array(2 * PAGE_SIZE);
  const v = new DataView(bytes.buffer, PAGE_SIZE);
  const base = ENGINE_BASE[s.engine];
  const value: Record<string, number> = {
    CTX_CTRL: 0,
    RING_HEAD: s.ring.head,
    RING_TAIL: s.ring.tail,
    RING_START: s.ring.start,
    RING_CTL: s.ring.ctl,
    PDP0_UDW: Math.floor(s.pml4 / 2 ** 32),
    PDP0_LDW: s.pml4 % 2 ** 32,
  };
  const lri = encodeCommand(
    MI_LOAD_REGISTER_IMM,
    new Map(),
    CONTEXT_LAYOUT.map((name) => [base + CONTEXT_REG_OFFSET[name], (value[name] ?? 0) >>> 0] as const),
  );
  [MI_NOOP, ...lri, MI_BATCH_BUFFER_END].forEach((d, i) => v.setUint32(4 * i, d, true));
  return bytes;
}

/** The `.vm` settings that change how the capture runs (device version, pool, isolation), as `key=value` text. */
function vmComment(image: ProgramImage): string {
  const parts: string[] = [];
  if (image.vm.version !== undefined) parts.push(`version=${image.vm.version}`);
  if (image.vm.pool?.length) parts.push(`pool=${image.vm.pool.join(',')}`);
  if (image.vm.isolation !== undefined) parts.push(`isolation=${image.vm.isolation ? 'on' : 'off'}`);
  return parts.join(' ');
}
