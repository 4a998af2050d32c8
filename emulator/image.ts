// The assembled program: what the assembler hands the machine (guest RAM contents, page tables,
// driver operations, surfaces, symbols and the source map).

import type { EngineName } from './registers';

export interface SourceLoc {
  readonly file: string;
  readonly line: number; // 1-based
  readonly col: number; // 1-based
}

export interface Diagnostic extends SourceLoc {
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly endCol?: number;
  /** On the closing diagnostic of a file past the error limit: errors counted but not kept. */
  readonly more?: number;
}

/** `FILE:LINE:COL: error: MESSAGE` */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`;
}

/** `.vm` defaults of a program (launch configuration and CLI flags override them). */
export interface VmDirective {
  memory?: number;
  physBits?: number;
  isolation?: boolean;
  version?: number;
  pool?: number[];
  /** Hardware generation whose command layouts the program uses (8 or 9; the device's default when absent). */
  gen?: number;
  /**
   * `unmodelled=drop`: a command loading a register the model lacks drops the write and lists the
   * register (as a capture's VM does), instead of a privileged-register error.
   */
  unmodelled?: 'drop' | 'refuse';
  /**
   * `unmapped=zero`: every VA no `.map` covers reads as zero and faults on write (a hang dump's replay:
   * memory the dump did not capture); `fault` (the default): such an access is a page fault.
   */
  unmapped?: 'fault' | 'zero';
}

export interface SurfaceDef {
  readonly name: string;
  readonly va: number;
  readonly width: number;
  readonly height: number;
  readonly pitch: number;
  readonly loc: SourceLoc;
}

export interface MappingDef {
  readonly va: number;
  readonly gpa: number;
  readonly size: number;
  readonly writable: boolean;
  readonly pageSize: number;
  readonly loc: SourceLoc;
}

/** A command emitted into a ring at a byte offset, with where it came from. */
export interface RingEntry {
  readonly offset: number;
  readonly loc: SourceLoc;
}

/**
 * What the driver thread does, in program order. Ring contents are written by the driver at
 * `.submit` (as a real driver does), so rings can wrap: the driver waits for ring space first.
 */
export type DriverOp =
  /** `.ring`: program RING_START, RING_HEAD = RING_TAIL = 0, RING_CTL (enable, size). */
  | {
      readonly op: 'ring';
      readonly engine: EngineName;
      readonly va: number;
      readonly gpa: number;
      readonly size: number;
      readonly loc: SourceLoc;
    }
  /**
   * `.submit`: write `dwords` into the ring at byte `offset` (wrapping at the ring size; `gpa` is the
   * ring's GPA base, contiguous), then write RING_TAIL = `tail`.
   */
  | {
      readonly op: 'submit';
      readonly engine: EngineName;
      readonly offset: number;
      readonly dwords: readonly number[];
      readonly tail: number;
      readonly entries: readonly RingEntry[];
      readonly loc: SourceLoc;
    }
  /** `.wait`: block until the engines are idle. */
  | { readonly op: 'wait'; readonly engines: readonly EngineName[]; readonly loc: SourceLoc }
  /** `.mmio`: write a device register (BAR0 offset). */
  | { readonly op: 'mmio'; readonly offset: number; readonly value: number; readonly loc: SourceLoc }
  /** `.eptp`: switch the EPT view (0 full, 1 restricted) of engines. */
  | { readonly op: 'eptp'; readonly view: number; readonly engines: readonly EngineName[]; readonly loc: SourceLoc }
  /** A capture's memory write after its first submission: dwords at a GPA (contiguous). */
  | { readonly op: 'write'; readonly gpa: number; readonly dwords: readonly number[]; readonly loc: SourceLoc }
  /**
   * A capture's execlist submission: load the context's ring registers (RING_START is a GGTT address)
   * and PPGTT root from its context image, then run the ring from head to tail.
   */
  | {
      readonly op: 'context';
      readonly engine: EngineName;
      /** GGTT address of the logical ring context. */
      readonly lrca: number;
      readonly ring: { readonly start: number; readonly head: number; readonly tail: number; readonly ctl: number };
      readonly pml4: number;
      readonly loc: SourceLoc;
    };

/** Where an image came from when it is a real GPU capture (emulator/capture.ts); `vgpu run --json` prints it. */
export interface CaptureInfo {
  readonly format: 'aub';
  readonly platform: string;
  /** PCI device ID, hex. */
  readonly pciId: string;
  readonly application: string;
  readonly submissions: number;
  /** A later generation's capture (gen11, gen12): how the VM runs it (decoded as gen9) and what it skips. */
  readonly note?: string;
}

export interface ListingLine {
  readonly va: number;
  readonly dwords: readonly number[];
  readonly line: number;
  readonly text: string;
  /** Engine whose ring holds it, or null for batch/data. */
  readonly ring: EngineName | null;
}

export interface ProgramImage {
  readonly file: string;
  readonly source: string;
  readonly vm: VmDirective;
  /** Guest RAM size and physBits the image was built for (page tables sit at the top of RAM). */
  readonly memory: number;
  readonly physBits: number;
  /** Initial guest RAM: GPA page frame number -> 1024 dwords (page tables, data, batches). */
  readonly pages: ReadonlyMap<number, Uint32Array>;
  /** GPA of the PPGTT PML4; every engine's PDP0 points here. */
  readonly pml4: number;
  /** The global GTT the program's `.ggtt` ranges built: its PTE table's GPA and entry count. */
  readonly ggtt?: { readonly base: number; readonly entries: number };
  readonly mappings: readonly MappingDef[];
  readonly driver: readonly DriverOp[];
  readonly surfaces: readonly SurfaceDef[];
  /** Labels, batches, surfaces (upper-cased name -> value). */
  readonly symbols: ReadonlyMap<string, number>;
  /** Batch command GPU VA -> source location (ring commands are in their submit op's entries). */
  readonly sourceMap: ReadonlyMap<number, SourceLoc>;
  readonly listing: readonly ListingLine[];
  readonly warnings: readonly Diagnostic[];
  /** Address space rings are fetched through: the PPGTT (`.vgpu` programs) or the GGTT (captures, as on hardware). */
  readonly ringSpace?: 'ppgtt' | 'ggtt';
  /** Set for a real GPU capture: what it is, its command generation, the registers it wrote that the VM does not model. */
  readonly capture?: CaptureInfo & {
    readonly gen: 8 | 9;
    /** The platform's own generation when later than `gen` (11, 12): its commands are decoded with gen9's layouts. */
    readonly hardwareGen?: number;
    readonly ignoredRegisters: readonly number[];
  };
  /**
   * `.vm unmapped=zero`: the one zero page every unmapped VA reaches (read-only) and the shared PDP, PD
   * and PT tables above it, so views can say "not captured".
   */
  readonly zeroFill?: { readonly page: number; readonly tables: readonly number[] };
  /** A capture's file as read (AUB, possibly gzipped): checkpoints and migrations carry it and rebuild the image from it. */
  readonly captureFile?: Uint8Array;
}

/** Thrown by the assembler with every error it found (never just the first). */
export class AssemblyError extends Error {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(
      diagnostics
        .filter((d) => d.severity === 'error')
        .map(formatDiagnostic)
        .join('\n'),
    );
  }
}

export interface AssembleOptions {
  /** File name used in diagnostics and the source map. */
  readonly file: string;
  /** Overrides `.vm memory=` (bytes). */
  readonly memory?: number;
  /** Overrides `.vm physBits=`. */
  readonly physBits?: number;
  /**
   * Reads a file `.incbin` / `.write` name (as written, relative to the program); absent, those
   * directives are an error (a program held only in memory has no files beside it).
   */
  readonly readFile?: (name: string) => Uint8Array;
}
