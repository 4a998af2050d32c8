// What a kernel GPU hang dump holds, whatever its format (i915 error state, Xe devcoredump): the reason,
// the platform, per engine its registers and captured buffers. Readers fill it; the post-mortem replay
// and triage read it.

import { decodeCommand } from '../commands';

export type DumpFormat = 'i915-error' | 'xe-devcoredump';

/** A dump that cannot be read, with the 1-based line that shows why. */
export class DumpFormatError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(line > 0 ? `line ${line}: ${reason}` : reason);
  }
}

/** A buffer object the kernel captured: its GPU VA and contents. */
export interface DumpBuffer {
  /** As the kernel names it: `ring`, `batch`, `user`, `HW context`, `HW Status`, ... */
  readonly name: string;
  readonly va: number;
  readonly dwords: Uint32Array;
  /** How its data was stored: zlib + ascii85, raw ascii85, or the pre-2016 hex lines. */
  readonly encoding: 'zlib' | 'ascii85' | 'hex';
  /** Line of the buffer's header in the dump. */
  readonly line: number;
}

/** One engine's block: registers by the names below, and its buffers. */
export interface DumpEngine {
  readonly name: string;
  /**
   * Registers as read from the dump, by a format-independent name: START, HEAD, RQ_HEAD (the hung
   * request's start in the ring), TAIL, CTL, ACTHD (64-bit), IPEHR, IPEIR, INSTDONE, BBADDR (64-bit),
   * FAULT_REG, HWS, PDP0..PDP3, ESR.
   */
  readonly regs: Map<string, number>;
  /** Registers by MMIO offset, from the context image's MI_LOAD_REGISTER_IMM lists (CS_GPRs, ...). */
  readonly contextRegs: Map<number, number>;
  readonly buffers: DumpBuffer[];
  /** The kernel marked this engine as the hung one. */
  hung: boolean;
  readonly line: number;
}

export interface HangDump {
  readonly format: DumpFormat;
  readonly file: string;
  /** The kernel's first line / Reason: (the stop description). */
  reason: string;
  /** Error kind when the dump says it (vgpu-written dumps: `reason: page-fault on rcs0 ...`). */
  kind?: string;
  platform?: string;
  pciId?: number;
  pciRevision?: number;
  /** Hardware generation implied by the dump (9 for the i915 formats this reads). */
  gen?: number;
  /** FAULT_TLB_DATA (gen8+): faulting address bits, when the dump has them. */
  faultAddress?: number;
  readonly engines: DumpEngine[];
  /** Batch addresses of the hung job (Xe `batch_addr[]`), when the dump names them. */
  readonly batchAddrs: number[];
  /** Buffers outside any engine (`global --- ...`, Xe VM state). */
  readonly globalBuffers: DumpBuffer[];
  /** Sections and lines the reader does not understand: kept, reported, never fatal. */
  readonly unknown: { line: number; text: string }[];
}

export function newEngine(name: string, line: number): DumpEngine {
  return { name, regs: new Map(), contextRegs: new Map(), buffers: [], hung: false, line };
}

/** The engine that hung: the one the kernel marked, else the first with an ACTHD. */
export function hungEngine(d: HangDump): DumpEngine | undefined {
  return d.engines.find((e) => e.hung) ?? d.engines.find((e) => e.regs.has('ACTHD')) ?? d.engines[0];
}

/** (offset, value) pairs of every MI_LOAD_REGISTER_IMM in a context image (gen8+ LRC: lists of LRIs). */
export function contextRegisters(dwords: Uint32Array): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < dwords.length;) {
    const d = dwords[i] === 0 ? null : decodeCommand(dwords, i);
    if (d !== null && typeof d !== 'string' && d.def.mnemonic === 'MI_LOAD_REGISTER_IMM') {
      for (const [reg, value] of d.pairs) out.set(reg, value);
      i += d.length;
    } else i++;
  }
  return out;
}
