// The GPU command table (SPEC section 4): every gen8 and gen9 command of the render and blitter engines,
// declared once. Its facts come from Mesa's genxml, transcribed by scripts/gen-commands.ts into
// commands.gen.ts: name, header identity (Command Type, opcodes), DWord Length field and bias, every field
// at its bit position with its enum values. This module adds the project's own half, in OVERLAYS: the
// language's short field names (`addr`, `data`, ...), which engines run a command, its cycle cost, the
// guest memory it writes (the command parser's prediction) and the feature a device version needs for it.
// Assembler, disassembler, command parser, engine, grammar, hover and the Command scope all derive from it.
//
// Header layouts (Intel PRM, genxml): client 31:29; MI opcode 28:23; 2D opcode 28:22; 3D/media/GPGPU
// subtype 28:27, opcode 26:24, sub-opcode 23:16. DWord Length = total dwords - bias (2 for most).

import type { Feature } from './capabilities';
import { GENXML_COMMANDS, GENXML_STRUCTS } from './commands.gen';
import type { EngineName } from './registers';

// ---------------------------------------------------------------------------------------------
// genxml's half, as the generator writes it.

export interface GenxmlField {
  /** genxml name. */
  readonly n: string;
  /** Absolute start and end bit over the command's dwords. */
  readonly s: number;
  readonly e: number;
  /** genxml type: uint, int, bool, address, offset, float, mbz, uN.M/sN.M fixed point, or enum. */
  readonly t: string;
  readonly d?: number;
  readonly v?: readonly (readonly [string, number])[];
}

export interface GenxmlCommand {
  readonly name: string;
  readonly gens: readonly number[];
  readonly engine?: string;
  readonly bias: number;
  readonly length?: number;
  readonly fields: readonly GenxmlField[];
  /** A variable group (genxml count="0"): entries of `size` bits from bit `start` to the command's end. */
  readonly group?: { readonly start: number; readonly size: number; readonly fields: readonly GenxmlField[] };
}

/** A state structure genxml describes (read from memory, not a command): its dwords and fields. */
export interface GenxmlStruct {
  readonly name: string;
  readonly gens: readonly number[];
  readonly length: number;
  readonly fields: readonly GenxmlField[];
}

/** The hardware generations the table describes (Mesa's gen8 = Broadwell, gen9 = Skylake and its successors). */
export type Gen = 8 | 9;
export const GENS: readonly Gen[] = [8, 9];
/** The generation the device decodes as unless a VM says otherwise. */
export const DEFAULT_GEN: Gen = 9;

// ---------------------------------------------------------------------------------------------
// The resolved table.

export type Client = 'MI' | '2D' | '3D';
export const CLIENT_CODE: Readonly<Record<Client, number>> = { MI: 0, '2D': 2, '3D': 3 };
/** Opcode bit range per client (the bits that, with the client, identify a command). */
export const OPCODE_BITS: Readonly<Record<Client, { lo: number; hi: number }>> = {
  MI: { lo: 23, hi: 28 },
  '2D': { lo: 22, hi: 28 },
  '3D': { lo: 16, hi: 28 },
};

/**
 * uint/int/float/fixed/enum/flag: the value is bits hi:lo of the little-endian dwords from `dw`, shifted
 * down (hi may pass 31: a field can span two dwords). addr/offset/reg: the same bits kept in place (an
 * address's low bits below `lo` are not part of the command: it is aligned to 2^lo); an address is a
 * 48-bit GPU VA (bits 63:48 of its qword are the sign extension of bit 47 in canonical form).
 */
export type FieldKind = 'uint' | 'int' | 'float' | 'fixed' | 'enum' | 'flag' | 'reg' | 'offset' | 'addr';

export interface CmdField {
  /** The language's name: the overlay's short name, else genxml's name in snake_case. */
  readonly name: string;
  /** genxml's name ('' for fields the project declares itself). */
  readonly xml: string;
  readonly dw: number;
  readonly lo: number;
  /** Relative to `dw`: at most lo + 63. */
  readonly hi: number;
  readonly kind: FieldKind;
  readonly desc: string;
  readonly values?: Readonly<Record<string, number>>;
  /** Value when the program omits it. */
  readonly default?: number;
  /** The program must give it. */
  readonly required?: boolean;
  /** For an address field that accepts a surface name: the pitch field the surface fills in. */
  readonly pitchField?: string;
  /** Set to this value when the named field is given and this one is not (MI_FLUSH_DW post-sync). */
  readonly impliedBy?: { readonly field: string; readonly value: number };
  /** How fieldValue reads it, worked out once (fields the table builds have it; others take the generic path). */
  readonly read?: FieldRead;
}

/** A field's read recipe: 0 shifted, 1 in place (within DW `dw`); 2 shifted, 3 in place (over two dwords). */
export interface FieldRead {
  readonly mode: 0 | 1 | 2 | 3;
  readonly lowMask: number;
  readonly highMask: number;
  /** 2^(32 - lo): the weight of the second dword's bits in a shifted wide field. */
  readonly scale: number;
}

/** A field of the header the assembler sets itself: the command's identity or its DWord Length. */
export interface HeaderField extends CmdField {
  readonly role: 'identity' | 'length';
}

/** How a command's total length in dwords is determined. */
export type LengthRule =
  | { readonly kind: 'fixed'; readonly dwords: number }
  /** A header flag selects one of two lengths (MI_STORE_DATA_IMM qword, MI_ATOMIC inline data, MI_FLUSH_DW). */
  | { readonly kind: 'flag'; readonly field: string; readonly on: number; readonly off: number }
  /** 1 + 2n dwords of (register, value) pairs (MI_LOAD_REGISTER_IMM). */
  | { readonly kind: 'pairs' }
  /** `base` dwords, then any number of `entry`-dword group entries (genxml's variable groups). */
  | { readonly kind: 'group'; readonly base: number; readonly entry: number }
  /** DWord Length alone chooses among min..max (MI_FLUSH_DW and MI_STORE_DATA_INDEX: a dword or a qword of data). */
  | { readonly kind: 'range'; readonly min: number; readonly max: number; readonly default: number };

/** A guest memory write the command parser predicts, before the command runs. */
export type WriteSpec =
  | {
      readonly kind: 'mem';
      readonly addr: string;
      /** Bytes written: fixed, chosen by a header flag, by the command's length (`long` from `atLength` dwords on), or by a size field. */
      readonly bytes:
        | number
        | { readonly flag: string; readonly on: number; readonly off: number }
        | { readonly atLength: number; readonly long: number; readonly short: number }
        | { readonly sizeField: string; readonly sizes: readonly number[] };
      /** Only when this field is non-zero. */
      readonly ifNonZero?: string;
      /** The field that, when 1, puts the address in the global GTT (else the PPGTT). */
      readonly space?: string;
    }
  /** A 32 bpp rectangle x1..x2-1, y1..y2-1 at addr with pitch. */
  | { readonly kind: 'rect'; readonly addr: string };

/** What the engine does with a command. */
export type Execution =
  /** A handler gives it its semantics (MI commands, blits, PIPE_CONTROL). */
  | 'executed'
  /** Retired as pipeline state: the latest of each state command is kept per engine. */
  | 'state'
  /** A draw or dispatch: retired with no memory effect (no shader runs), counted as not emulated. */
  | 'not-emulated';

export interface CommandDef {
  readonly mnemonic: string;
  readonly client: Client;
  /** Generations that declare the command with this layout. */
  readonly gens: readonly Gen[];
  /** genxml's declaration this entry was built from (undefined for the project's own XY_* blits). */
  readonly genxml?: GenxmlCommand;
  /** Header fields: identity (with their fixed values as `default`) and DWord Length. */
  readonly headerFields: readonly HeaderField[];
  /** The header with the identity bits and the default DWord Length (derived from headerFields). */
  readonly header: number;
  /** The identity bits of the header (mask) and their values. */
  readonly identityMask: number;
  /** Width of DWord Length in the header (0 for commands without one). */
  readonly lengthBits: number;
  /** DWord Length = total - bias. */
  readonly bias: number;
  readonly length: LengthRule;
  readonly fields: readonly CmdField[];
  /** Fields of one group entry (relative to the entry's first dword), for 'group' lengths. */
  readonly groupFields: readonly CmdField[];
  readonly engines: readonly EngineName[];
  readonly requires?: Feature;
  readonly execution: Execution;
  /** Cycles charged when it executes (blits add one per 64 pixels). */
  readonly cycles: number;
  readonly writes?: readonly WriteSpec[];
  /** Registers it writes: the LRI pairs, or a register field. */
  readonly regWrites?: 'pairs' | string;
  /** Engine registers the streamer updates for this command beyond STREAMER_REGISTERS. */
  readonly implicitRegs?: readonly string[];
  /** genxml's Predicate Enable field name when the command obeys MI_SET_PREDICATE / MI_PREDICATE. */
  readonly predicated?: string;
  readonly desc: string;
}

const BOTH: readonly EngineName[] = ['rcs0', 'bcs0'];
const BCS: readonly EngineName[] = ['bcs0'];
const RCS: readonly EngineName[] = ['rcs0'];

/** A register operand: the MMIO offset in bits 22:2 of its dword (PRM "Register Offset"), kept in place. */
export const REG_OFFSET_BITS = { lo: 2, hi: 22 } as const;
export const REG_OFFSET_MASK = (((1 << (REG_OFFSET_BITS.hi + 1)) - 1) & ~((1 << REG_OFFSET_BITS.lo) - 1)) >>> 0;

/** Engine registers the command streamer updates for every command (plus RING_HEAD for ring commands). */
export const STREAMER_REGISTERS = ['ACTHD', 'ACTHD_UDW', 'TIMESTAMP'] as const;

export const COMPARE_OPS = { GT: 0, GTE: 1, LT: 2, LTE: 3, EQ: 4, NEQ: 5 } as const;
export const POST_SYNC_OPS = { none: 0, write: 1, depth: 2, timestamp: 3 } as const;
/** MI_ATOMIC operations: genxml gen9's Atomic_OPCODE enum (gen8 declares the field without names). */
export const ATOMIC_OPS: Readonly<Record<string, number>> = enumOf('MI_ATOMIC', 'ATOMIC OPCODE', 9);

/** The language's spelling of a genxml name: snake_case, never starting with a digit (`16x Sample0` is `_16x_sample0`). */
export function snakeName(xml: string): string {
  const s = xml
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** An enum value name usable in the language: identifier characters, never starting with a digit. */
export function enumName(xml: string): string {
  const s = xml.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function enumOf(cmd: string, field: string, gen: number): Record<string, number> {
  const c = GENXML_COMMANDS.find((x) => x.name === cmd && x.gens.includes(gen))!;
  const f = c.fields.find((x) => x.n === field)!;
  return Object.fromEntries(f.v!.map(([n, v]) => [enumName(n), v]));
}

// ---------------------------------------------------------------------------------------------
// The project's half: per command, what the device does with it and the language's names.

interface FieldOverlay {
  readonly name?: string;
  readonly kind?: FieldKind;
  readonly desc?: string;
  readonly values?: Readonly<Record<string, number>>;
  readonly default?: number;
  readonly required?: boolean;
  readonly impliedBy?: { readonly field: string; readonly value: number };
}

interface Overlay {
  readonly desc: string;
  readonly engines?: readonly EngineName[];
  readonly cycles?: number;
  readonly requires?: Feature;
  readonly writes?: readonly WriteSpec[];
  readonly regWrites?: 'pairs' | string;
  readonly implicitRegs?: readonly string[];
  readonly length?: LengthRule;
  /** By genxml field name. */
  readonly fields?: Readonly<Record<string, FieldOverlay>>;
  readonly execution?: Execution;
}

const ADDR = (name: string, desc: string, extra: FieldOverlay = {}): FieldOverlay => ({
  name,
  kind: 'addr',
  desc,
  required: true,
  ...extra,
});
const REG = (name: string, desc: string): FieldOverlay => ({ name, kind: 'reg', desc, required: true });
const GGTT_BIT = (name = 'ggtt'): FieldOverlay => ({
  name,
  desc: 'address space: 1 = global GTT (privileged batches only), 0 = PPGTT',
});

/**
 * Known slips in genxml (checked against Intel's PRM-derived headers), corrected here and tested:
 * gen8 MI_CONDITIONAL_BATCH_BUFFER_END is 4 dwords (its Compare Address reaches DW3); gen8's
 * MI_LOAD_REGISTER_IMM repeats its pairs from DW3, as gen9 says.
 */
const GENXML_FIXES: Readonly<Record<string, (c: GenxmlCommand) => GenxmlCommand>> = {
  MI_CONDITIONAL_BATCH_BUFFER_END: (c) => ({
    ...c,
    length: 4,
    fields: c.fields.map((f) => (f.n === 'DWord Length' ? { ...f, d: 2 } : f)),
  }),
  MI_LOAD_REGISTER_IMM: (c) => (c.group ? { ...c, group: { ...c.group, start: 96 } } : c),
};

const OVERLAYS: Readonly<Record<string, Overlay>> = {
  MI_NOOP: { desc: 'No operation', execution: 'executed' },
  MI_USER_INTERRUPT: { desc: 'Signal a user interrupt to the driver', execution: 'executed' },
  MI_ARB_CHECK: { desc: 'Arbitration point (preemption check)', execution: 'executed' },
  MI_ARB_ON_OFF: {
    desc: 'Allow (1) or forbid (0) preemption at arbitration points',
    execution: 'executed',
    fields: { 'Arbitration Enable': { name: 'enable' } },
  },
  MI_BATCH_BUFFER_END: { desc: 'End the current batch buffer and return one level', execution: 'executed' },
  MI_REPORT_HEAD: {
    desc: 'Report the ring head (to the hardware status page)',
    execution: 'executed',
    writes: [{ kind: 'mem', addr: '', bytes: 4 }],
  },
  MI_CONDITIONAL_BATCH_BUFFER_END: {
    desc: 'With compare_semaphore=1: end the batch (in a second-level batch, the first level too) when mem[addr] <= data',
    requires: 'COND_BB_END',
    cycles: 2,
    execution: 'executed',
    fields: {
      'Compare Semaphore': {
        name: 'compare_semaphore',
        default: 1,
        desc: 'compare (without it the command does nothing)',
      },
      'Use Global GTT': GGTT_BIT(),
      'Compare Data Dword': { name: 'data', required: true, desc: 'compare data' },
      'Compare Address': ADDR('addr', 'GPU VA of the dword compared (qword aligned)'),
      'Compare Mask Mode': { name: 'mask_mode', desc: 'compare mask mode: the dword after the data is a mask' },
    },
  },
  MI_SEMAPHORE_WAIT: {
    desc: 'Wait until mem[addr] OP data holds (polling), or until signalled (signal mode)',
    requires: 'SEMAPHORE_WAIT',
    execution: 'executed',
    fields: {
      'Wait Mode': {
        name: 'poll',
        kind: 'flag',
        values: undefined,
        default: 1,
        desc: 'polling mode (1) or signal mode (0)',
      },
      'Compare Operation': {
        name: 'op',
        kind: 'enum',
        values: COMPARE_OPS,
        default: COMPARE_OPS.EQ,
        desc: 'compare operation (memory OP data)',
      },
      'Memory Type': GGTT_BIT(),
      'Semaphore Data Dword': { name: 'data', required: true, desc: 'semaphore data' },
      'Semaphore Address': ADDR('addr', 'GPU VA of the semaphore dword'),
      'Semaphore Address High': { name: 'addr_high', desc: 'semaphore address bits 47:32 (gen8)' },
    },
  },
  MI_SEMAPHORE_SIGNAL: {
    desc: 'Signal the target engine: its MI_SEMAPHORE_WAIT in signal mode re-evaluates',
    execution: 'executed',
    fields: {
      'Target Engine Select': { name: 'target', desc: 'engine signalled' },
      'Target Context ID': { name: 'context', desc: 'target context' },
    },
  },
  MI_STORE_DATA_IMM: {
    desc: 'Store an immediate dword or qword to memory',
    cycles: 2,
    execution: 'executed',
    length: { kind: 'flag', field: 'qword', on: 5, off: 4 },
    writes: [{ kind: 'mem', addr: 'addr', bytes: { flag: 'qword', on: 8, off: 4 }, space: 'ggtt' }],
    fields: {
      'Store Qword': { name: 'qword', kind: 'flag', desc: 'store a qword' },
      'Use Global GTT': GGTT_BIT(),
      Address: ADDR('addr', 'GPU VA written'),
      'Immediate Data': { name: 'data', required: true, desc: 'data (the high dword only with qword=1)' },
    },
  },
  MI_STORE_DATA_INDEX: {
    desc: 'Store an immediate dword (or two) at an offset into the hardware status page',
    cycles: 2,
    execution: 'executed',
    length: { kind: 'range', min: 3, max: 4, default: 3 },
    writes: [{ kind: 'mem', addr: '', bytes: { atLength: 4, long: 8, short: 4 } }],
    fields: {
      'Use Per-Process Hardware Status Page': {
        name: 'per_process',
        desc: "per-process status page (not modelled: the engine's page is used)",
      },
      Offset: {
        name: 'offset',
        required: true,
        desc: 'byte offset into the hardware status page (dword aligned)',
        kind: 'offset',
      },
      'Data DWord 0': { name: 'data', required: true, desc: 'data dword 0' },
      'Data DWord 1': { name: 'data1', desc: 'data dword 1 (4-dword form)' },
    },
  },
  MI_LOAD_REGISTER_IMM: {
    desc: 'Write immediate values to registers (REGISTER=value pairs)',
    regWrites: 'pairs',
    length: { kind: 'pairs' },
    execution: 'executed',
    fields: { 'Byte Write Disables': { name: 'byte_write_disables', desc: 'bytes of each register not written' } },
  },
  MI_STORE_REGISTER_MEM: {
    desc: 'Store a register to memory',
    cycles: 4,
    execution: 'executed',
    writes: [{ kind: 'mem', addr: 'addr', bytes: 4, space: 'ggtt' }],
    fields: {
      'Use Global GTT': GGTT_BIT(),
      'Register Address': REG('reg', 'register read'),
      'Memory Address': ADDR('addr', 'GPU VA written'),
      'Predicate Enable': { name: 'predicate' },
    },
  },
  MI_FLUSH_DW: {
    desc: 'Flush, optionally invalidate the TLB and write post-sync data (one dword in the 4-dword form)',
    engines: BCS,
    cycles: 4,
    execution: 'executed',
    length: { kind: 'range', min: 4, max: 5, default: 5 },
    writes: [
      { kind: 'mem', addr: 'addr', bytes: { atLength: 5, long: 8, short: 4 }, ifNonZero: 'post_sync', space: 'ggtt' },
    ],
    fields: {
      'DWord Length': {},
      'TLB Invalidate': { name: 'invalidate_tlb', desc: 'invalidate the TLB' },
      'Post-Sync Operation': {
        name: 'post_sync',
        kind: 'enum',
        values: POST_SYNC_OPS,
        impliedBy: { field: 'addr', value: 1 },
        desc: 'post-sync operation',
      },
      'Destination Address Type': {
        name: 'ggtt',
        desc: 'address space: 1 = global GTT (privileged batches only), 0 = PPGTT',
      },
      Address: ADDR('addr', 'post-sync GPU VA (qword aligned)', { required: false }),
      'Immediate Data': { name: 'data', desc: 'post-sync data' },
    },
  },
  MI_LOAD_REGISTER_MEM: {
    desc: 'Load a register from memory',
    regWrites: 'reg',
    cycles: 4,
    execution: 'executed',
    fields: {
      'Use Global GTT': GGTT_BIT(),
      'Register Address': REG('reg', 'register written'),
      'Memory Address': ADDR('addr', 'GPU VA read'),
    },
  },
  MI_LOAD_REGISTER_REG: {
    desc: 'Copy one register to another',
    regWrites: 'dst',
    cycles: 2,
    execution: 'executed',
    fields: {
      'Source Register Address': REG('src', 'source register'),
      'Destination Register Address': REG('dst', 'destination register'),
    },
  },
  MI_COPY_MEM_MEM: {
    desc: 'Copy one dword in memory',
    requires: 'ATOMIC_COPY',
    cycles: 4,
    execution: 'executed',
    writes: [{ kind: 'mem', addr: 'dst', bytes: 4, space: 'dst_ggtt' }],
    fields: {
      'Use Global GTT Destination': GGTT_BIT('dst_ggtt'),
      'Use Global GTT Source': GGTT_BIT('src_ggtt'),
      'Destination Memory Address': ADDR('dst', 'destination GPU VA'),
      'Source Memory Address': ADDR('src', 'source GPU VA'),
    },
  },
  MI_ATOMIC: {
    desc: 'Atomic read-modify-write of a dword, qword or octword',
    requires: 'ATOMIC_COPY',
    cycles: 4,
    execution: 'executed',
    length: { kind: 'flag', field: 'inline', on: 11, off: 3 },
    writes: [{ kind: 'mem', addr: 'addr', bytes: { sizeField: 'size', sizes: [4, 8, 16] }, space: 'ggtt' }],
    fields: {
      'ATOMIC OPCODE': { name: 'op', kind: 'enum', values: ATOMIC_OPS, required: true, desc: 'atomic operation' },
      'Return Data Control': { name: 'return_data', desc: 'return the old value in CS_GPR4/5' },
      'CS STALL': { name: 'cs_stall' },
      'Inline Data': { name: 'inline', kind: 'flag', desc: 'operands in the command (else CS_GPR0..3)' },
      'Data Size': { name: 'size', desc: 'operand size' },
      'Post-Sync Operation': { name: 'post_sync' },
      'Memory Type': GGTT_BIT(),
      'Memory Address': ADDR('addr', 'GPU VA of the operand'),
      'Operand1 Data Dword 0': { name: 'data', desc: 'operand 1, dword 0 (inline data)' },
      'Operand2 Data Dword 0': { name: 'data2' },
    },
  },
  MI_BATCH_BUFFER_START: {
    desc: 'Start a batch buffer',
    cycles: 2,
    implicitRegs: ['BB_ADDR', 'BB_ADDR_UDW'],
    execution: 'executed',
    fields: {
      'Second Level Batch Buffer': {
        name: 'second_level',
        kind: 'flag',
        values: undefined,
        desc: 'second-level batch (returns to the calling batch)',
      },
      'Address Space Indicator': {
        name: 'ppgtt',
        kind: 'flag',
        values: undefined,
        default: 1,
        desc: 'address space: 1 = PPGTT, 0 = global GTT (privileged)',
      },
      'Batch Buffer Start Address': ADDR('addr', 'GPU VA of the batch'),
      'Predication Enable': { name: 'predicate' },
    },
  },
  MI_MATH: {
    desc: 'ALU program over CS_GPR0..15 (ACCU, ZF, CF): one instruction per dword',
    execution: 'executed',
    implicitRegs: [],
  },
  MI_PREDICATE: {
    desc: 'Set the predicate from MI_PREDICATE_SRC0/SRC1 (or their deltas), combined with its previous value',
    execution: 'executed',
    fields: {
      'Compare Operation': { name: 'compare' },
      'Combine Operation': { name: 'combine' },
      'Load Operation': { name: 'load' },
    },
  },
  MI_SET_PREDICATE: {
    desc: 'Make the following commands no-ops depending on the predicate result',
    execution: 'executed',
    fields: { 'Predicate Enable': { name: 'enable' } },
  },
  PIPE_CONTROL: {
    desc: 'Pipeline synchronization: flushes, invalidations, CS stall and a post-sync write',
    engines: RCS,
    cycles: 4,
    execution: 'executed',
    writes: [{ kind: 'mem', addr: 'addr', bytes: 8, ifNonZero: 'post_sync', space: 'ggtt' }],
    fields: {
      'Post Sync Operation': {
        name: 'post_sync',
        kind: 'enum',
        values: POST_SYNC_OPS,
        impliedBy: { field: 'addr', value: 1 },
        desc: 'post-sync operation',
      },
      'Destination Address Type': {
        name: 'ggtt',
        desc: 'address space: 1 = global GTT (privileged batches only), 0 = PPGTT',
      },
      Address: ADDR('addr', 'post-sync GPU VA (qword aligned)', { required: false }),
      'Immediate Data': { name: 'data', desc: 'post-sync data (qword)' },
      'TLB Invalidate': { name: 'invalidate_tlb', desc: 'invalidate the TLB' },
      'Command Streamer Stall Enable': { name: 'cs_stall' },
    },
  },
  '3DPRIMITIVE': { desc: 'Draw: retired without running shaders (not emulated)', execution: 'not-emulated' },
  GPGPU_WALKER: { desc: 'Compute dispatch: retired without running kernels (not emulated)', execution: 'not-emulated' },
  MEDIA_OBJECT: { desc: 'Media dispatch: retired without running kernels (not emulated)', execution: 'not-emulated' },
  MEDIA_OBJECT_PRT: {
    desc: 'Media dispatch: retired without running kernels (not emulated)',
    execution: 'not-emulated',
  },
  MEDIA_OBJECT_WALKER: {
    desc: 'Media dispatch: retired without running kernels (not emulated)',
    execution: 'not-emulated',
  },
  MEDIA_OBJECT_GRPID: {
    desc: 'Media dispatch: retired without running kernels (not emulated)',
    execution: 'not-emulated',
  },
};

// ---------------------------------------------------------------------------------------------
// The XY_* blits: gen8/gen9 genxml does not describe them (gen5.xml does, with 32-bit addresses; gen8
// widened each address to 64 bits). Declared here with the PRM's gen8+ layout.

interface OwnField {
  readonly name: string;
  readonly dw: number;
  readonly lo: number;
  readonly hi: number;
  readonly desc: string;
  readonly kind?: FieldKind;
  readonly default?: number;
  readonly required?: boolean;
  readonly pitchField?: string;
}

const own = (
  name: string,
  dw: number,
  lo: number,
  hi: number,
  desc: string,
  extra: Partial<OwnField> = {},
): OwnField => ({ name, dw, lo, hi, desc, ...extra });
const ownAddr = (name: string, dw: number, desc: string, pitchField: string): OwnField =>
  own(name, dw, 0, 47, desc, { kind: 'addr', required: true, pitchField });
const br13 = (rop: number): OwnField[] => [
  own('pitch', 1, 0, 15, 'destination pitch in bytes', { required: true }),
  own('rop', 1, 16, 23, 'raster operation (0xF0 pattern copy, 0xCC source copy)', { default: rop }),
  own('depth', 1, 24, 25, 'color depth (3 = 32 bpp)', { default: 3 }),
];
const rect = (dw: number): OwnField[] => [
  own('x1', dw, 0, 15, 'left edge (inclusive)', { required: true }),
  own('y1', dw, 16, 31, 'top edge (inclusive)', { required: true }),
  own('x2', dw + 1, 0, 15, 'right edge (exclusive)', { required: true }),
  own('y2', dw + 1, 16, 31, 'bottom edge (exclusive)', { required: true }),
];
const writeEnables = own('write_enable', 0, 20, 21, 'channel write enables (bit 21 alpha, bit 20 RGB)', { default: 3 });
const srcBlit = (depthField: OwnField[]): OwnField[] => [
  ...depthField,
  ...rect(2),
  ownAddr('dst', 4, 'destination surface GPU VA', 'pitch'),
  own('sx', 6, 0, 15, 'source left edge', { required: true }),
  own('sy', 6, 16, 31, 'source top edge', { required: true }),
  own('src_pitch', 7, 0, 15, 'source pitch in bytes', { required: true }),
  ownAddr('src', 8, 'source surface GPU VA', 'src_pitch'),
];

interface OwnCommand {
  readonly mnemonic: string;
  readonly opcode: number;
  readonly dwords: number;
  readonly fields: readonly OwnField[];
  readonly requires?: Feature;
  readonly desc: string;
}

const BLITS: readonly OwnCommand[] = [
  {
    mnemonic: 'XY_FAST_COPY_BLT',
    opcode: 0x42,
    dwords: 10,
    requires: 'FAST_COPY',
    desc: 'Fast copy of a rectangle',
    fields: srcBlit([
      own('pitch', 1, 0, 15, 'destination pitch in bytes', { required: true }),
      own('depth', 1, 24, 26, 'color depth (3 = 32 bpp)', { default: 3 }),
    ]),
  },
  {
    mnemonic: 'XY_COLOR_BLT',
    opcode: 0x50,
    dwords: 7,
    desc: 'Fill a rectangle with a color',
    fields: [
      writeEnables,
      ...br13(0xf0),
      ...rect(2),
      ownAddr('dst', 4, 'destination surface GPU VA', 'pitch'),
      own('color', 6, 0, 31, 'fill color (ARGB)', { required: true }),
    ],
  },
  {
    mnemonic: 'XY_SRC_COPY_BLT',
    opcode: 0x53,
    dwords: 10,
    desc: 'Copy a rectangle from a source surface',
    fields: [writeEnables, ...srcBlit(br13(0xcc))],
  },
];

// ---------------------------------------------------------------------------------------------
// Building the table.

function fieldKind(f: GenxmlField): FieldKind {
  switch (f.t) {
    case 'address':
      return 'addr';
    case 'offset':
      return 'offset';
    case 'bool':
      return 'flag';
    case 'int':
      return 'int';
    case 'float':
      return 'float';
    case 'enum':
      return 'enum';
    default:
      if (/^[us]\d+\.\d+$/.test(f.t)) return 'fixed';
      return f.v && f.v.length ? 'enum' : 'uint';
  }
}

function describe(f: GenxmlField, base: number): string {
  const dw = Math.floor((f.s - base) / 32);
  const lo = (f.s - base) % 32;
  const hi = f.e - base - 32 * dw;
  const where = hi > 31 ? `DW${dw}-${dw + 1} bits ${hi}:${lo}` : `DW${dw} bits ${hi}:${lo}`;
  return `${f.n} (${where}, ${f.t})`;
}

function resolveField(f: GenxmlField, base: number, ov: FieldOverlay | undefined, taken: Set<string>): CmdField {
  const rel = f.s - base;
  const dw = Math.floor(rel / 32);
  const lo = rel % 32;
  const hi = f.e - base - 32 * dw;
  let name = ov?.name ?? snakeName(f.n);
  if (taken.has(name)) name = `${name}_${dw}_${lo}`;
  taken.add(name);
  const kind = ov?.kind ?? fieldKind(f);
  const values =
    ov && 'values' in ov
      ? ov.values
      : f.v && f.v.length
        ? Object.fromEntries(f.v.map(([n, v]) => [enumName(n), v]))
        : undefined;
  return field({
    name,
    xml: f.n,
    dw,
    lo,
    hi,
    kind: kind === 'enum' && !values ? 'uint' : kind,
    desc: ov?.desc ? `${ov.desc} — ${describe(f, base)}` : describe(f, base),
    values,
    default: ov?.default ?? f.d,
    required: ov?.required,
    impliedBy: ov?.impliedBy,
  });
}

/**
 * A field object with every property present, in one order: all fields share one hidden class, so
 * the hot path's field reads (fieldValue) stay monomorphic.
 */
function field(f: CmdField): CmdField {
  return {
    name: f.name,
    xml: f.xml,
    dw: f.dw,
    lo: f.lo,
    hi: f.hi,
    kind: f.kind,
    desc: f.desc,
    values: f.values,
    default: f.default,
    required: f.required ?? false,
    pitchField: f.pitchField,
    impliedBy: f.impliedBy,
    read: readRecipe(f),
  };
}

function readRecipe(f: CmdField): FieldRead {
  const place = f.kind === 'addr' || f.kind === 'offset' || f.kind === 'reg';
  if (f.hi <= 31) {
    const w = f.hi - f.lo + 1;
    const bits = w >= 32 ? 0xffffffff : (1 << w) - 1;
    return { mode: place ? 1 : 0, lowMask: place ? (bits << f.lo) >>> 0 : bits >>> 0, highMask: 0, scale: 0 };
  }
  // Over two dwords: an address keeps bits 47:32 (16 of the second dword); other values up to 53 bits exact.
  const highBits = f.kind === 'addr' ? Math.min(f.hi, 47) - 31 : Math.min(f.hi - 31, 21);
  return {
    mode: place ? 3 : 2,
    lowMask: place ? (0xffffffff << f.lo) >>> 0 : 0xffffffff,
    highMask: (2 ** highBits - 1) >>> 0,
    scale: 2 ** (32 - f.lo),
  };
}

const IDENTITY = new Set([
  'Command Type',
  'Command SubType',
  'MI Command Opcode',
  '3D Command Opcode',
  '3D Command Sub Opcode',
  'Media Command Opcode',
  'Media Command Sub-Opcode',
  'Media Command Pipeline',
  'Pipeline',
  'SubOpcode',
]);

function clientOfCode(code: number, name: string): Client {
  if (code === 0) return 'MI';
  if (code === 2) return '2D';
  if (code === 3) return '3D';
  throw new Error(`${name}: command type ${code} is not MI, 2D or 3D`);
}

function engineList(g: GenxmlCommand, client: Client): readonly EngineName[] {
  if (client === '3D') return RCS;
  const e = g.engine;
  if (e === undefined) return BOTH;
  const parts = e.split('|');
  const out: EngineName[] = [];
  if (parts.includes('render')) out.push('rcs0');
  if (parts.includes('blitter')) out.push('bcs0');
  return out.length ? out : BOTH;
}

function fromGenxml(raw: GenxmlCommand): CommandDef {
  const g = GENXML_FIXES[raw.name]?.(raw) ?? raw;
  const ov = OVERLAYS[g.name];
  const headerFields: HeaderField[] = [];
  const fields: CmdField[] = [];
  const taken = new Set<string>();
  let header = 0;
  let identityMask = 0;
  let lengthBits = 0;
  for (const f of g.fields) {
    if (f.e < 32 && (IDENTITY.has(f.n) || f.n === 'DWord Length')) {
      const role = f.n === 'DWord Length' ? 'length' : 'identity';
      const hf: HeaderField = { ...resolveField(f, 0, undefined, taken), role }; // off the hot path: its own shape is fine
      headerFields.push(hf);
      const mask = ((2 ** (f.e - f.s + 1) - 1) * 2 ** f.s) >>> 0;
      header = (header | ((f.d ?? 0) * 2 ** f.s)) >>> 0;
      if (role === 'identity') identityMask = (identityMask | mask) >>> 0;
      else {
        if (f.s !== 0) throw new Error(`${g.name}: DWord Length does not start at bit 0`);
        lengthBits = f.e + 1;
      }
      continue;
    }
    fields.push(resolveField(f, 0, ov?.fields?.[f.n], taken));
  }
  const client = clientOfCode(header >>> 29, g.name);
  let length: LengthRule;
  if (ov?.length) length = ov.length;
  else if (g.group) length = { kind: 'group', base: g.group.start / 32, entry: g.group.size / 32 };
  else length = { kind: 'fixed', dwords: g.length ?? 1 };
  // A group replaces the fields it overlaps with entries; LRI's first pair is part of its pairs.
  let kept = fields;
  if (length.kind === 'pairs') kept = fields.filter((f) => f.dw === 0);
  const groupTaken = new Set<string>();
  const groupFields =
    g.group && length.kind === 'group' ? g.group.fields.map((f) => resolveField(f, 0, undefined, groupTaken)) : [];
  const defaultLength =
    length.kind === 'fixed'
      ? length.dwords
      : length.kind === 'group'
        ? length.base + minEntriesOf(length, g.bias) * length.entry
        : length.kind === 'flag'
          ? length.off
          : length.kind === 'range'
            ? length.default
            : 3;
  if (lengthBits)
    header = ((header & ~(2 ** lengthBits - 1)) | ((defaultLength - g.bias) & (2 ** lengthBits - 1))) >>> 0;
  const predicate = g.fields.find((f) => f.n === 'Predicate Enable' && f.e < 32);
  return {
    mnemonic: g.name,
    client,
    gens: g.gens as Gen[],
    genxml: raw,
    headerFields,
    header,
    identityMask,
    lengthBits,
    bias: g.bias,
    length,
    fields: kept,
    groupFields,
    engines: ov?.engines ?? engineList(g, client),
    requires: ov?.requires,
    execution: ov?.execution ?? 'state',
    cycles: ov?.cycles ?? 1,
    writes: ov?.writes,
    regWrites: ov?.regWrites,
    implicitRegs: ov?.implicitRegs,
    predicated: predicate && client === '3D' ? predicate.n : undefined,
    desc: ov?.desc ?? `${g.name}: ${client === '3D' ? 'pipeline state, retired as state' : 'retired as state'}`,
  };
}

function fromOwn(c: OwnCommand): CommandDef {
  const header = ((CLIENT_CODE['2D'] << 29) | (c.opcode << 22) | (c.dwords - 2)) >>> 0;
  const headerFields: HeaderField[] = [
    {
      name: 'dword_length',
      xml: 'DWord Length',
      dw: 0,
      lo: 0,
      hi: 7,
      kind: 'uint',
      desc: 'DWord Length (DW0 bits 7:0): total - 2',
      default: c.dwords - 2,
      role: 'length',
    },
    {
      name: 'instruction_target_opcode',
      xml: 'Instruction Target/Opcode',
      dw: 0,
      lo: 22,
      hi: 28,
      kind: 'uint',
      desc: '2D opcode (DW0 bits 28:22)',
      default: c.opcode,
      role: 'identity',
    },
    {
      name: 'command_type',
      xml: 'Command Type',
      dw: 0,
      lo: 29,
      hi: 31,
      kind: 'uint',
      desc: 'client (DW0 bits 31:29)',
      default: 2,
      role: 'identity',
    },
  ];
  return {
    mnemonic: c.mnemonic,
    client: '2D',
    gens: [8, 9],
    headerFields,
    header,
    identityMask: 0xffc00000,
    lengthBits: 8,
    bias: 2,
    length: { kind: 'fixed', dwords: c.dwords },
    fields: c.fields.map((f) => field({ xml: '', kind: f.lo === f.hi ? 'flag' : 'uint', ...f })),
    groupFields: [],
    engines: BCS,
    requires: c.requires,
    execution: 'executed',
    cycles: 8,
    writes: [{ kind: 'rect', addr: 'dst' }],
    desc: c.desc,
  };
}

/** Every command, both generations' layouts (a command gen8 and gen9 declare differently has two entries). */
export const COMMANDS: readonly CommandDef[] = [...GENXML_COMMANDS.map(fromGenxml), ...BLITS.map(fromOwn)];

/** A state structure of a gen, its fields resolved as a command's are (snake_case names, read recipes). */
export interface StateStruct {
  readonly name: string;
  readonly length: number;
  readonly fields: readonly CmdField[];
  field(name: string): CmdField;
}

const STATE_STRUCTS = new Map<string, StateStruct>(
  GENXML_STRUCTS.flatMap((g) => {
    const taken = new Set<string>();
    const fields = g.fields.map((f) => resolveField(f, 0, undefined, taken));
    const byName = new Map(fields.map((f) => [f.name, f]));
    const st: StateStruct = {
      name: g.name,
      length: g.length,
      fields,
      field: (n) =>
        byName.get(n) ??
        (() => {
          throw new Error(`${g.name} has no field ${n}`);
        })(),
    };
    return g.gens.map((gen) => [`${gen}:${g.name}`, st] as const);
  }),
);

/** genxml's layout of a state structure (RENDER_SURFACE_STATE, BINDING_TABLE_STATE) on a gen. */
export function stateStruct(name: string, gen: Gen): StateStruct {
  const st = STATE_STRUCTS.get(`${gen}:${name}`);
  if (!st) throw new Error(`no state structure ${name} for gen${gen}`);
  return st;
}

// ---------------------------------------------------------------------------------------------
// Derived decoding: per generation, a header's top 16 bits -> command index (every identity bit is in
// 31:16). Built from the table; nothing is hand-decoded.

export function clientOf(header: number): number {
  return header >>> 29;
}

export function opcodeOf(client: Client, header: number): number {
  const b = OPCODE_BITS[client];
  return (header >>> b.lo) & ((1 << (b.hi - b.lo + 1)) - 1);
}

function buildLookup(gen: Gen): Int16Array {
  const t = new Int16Array(1 << 16).fill(-1);
  COMMANDS.forEach((d, i) => {
    if (!d.gens.includes(gen)) return;
    if (d.identityMask & 0xffff) throw new Error(`${d.mnemonic}: identity bits below bit 16`);
    const m = d.identityMask >>> 16;
    const v = (d.header & d.identityMask) >>> 16;
    // Every 16-bit key that agrees with the identity bits.
    const free = ~m & 0xffff;
    for (let sub = free; ; sub = (sub - 1) & free) {
      const k = v | sub;
      if (t[k] !== -1 && t[k] !== i)
        throw new Error(`gen${gen}: ${d.mnemonic} collides with ${COMMANDS[t[k]].mnemonic}`);
      t[k] = i;
      if (sub === 0) break;
    }
  });
  return t;
}

/** Per generation: header >>> 16 -> command index (-1: unknown). */
export const LOOKUPS: Readonly<Record<Gen, Int16Array>> = { 8: buildLookup(8), 9: buildLookup(9) };

/**
 * How a later generation's command this table lacks is measured: by its header's top byte (command
 * type, subtype, opcode), the length field most of this gen's commands with that top byte have (their
 * DWord Length width and bias), or 1 dword when most have none; undefined when the table has no command
 * there. gen12's new 3D state commands (0x786d...) share 0x78 with gen9's, whose length is bits 7:0.
 */
export function lengthRuleByTopByte(gen: Gen): ReadonlyMap<number, { bits: number; bias: number }> {
  const votes = new Map<number, Map<string, number>>();
  for (const d of COMMANDS) {
    if (!d.gens.includes(gen)) continue;
    const top = d.header >>> 24;
    const key = `${d.lengthBits}:${d.lengthBits ? d.bias : 1}`;
    const v = votes.get(top) ?? new Map<string, number>();
    v.set(key, (v.get(key) ?? 0) + 1);
    votes.set(top, v);
  }
  const out = new Map<number, { bits: number; bias: number }>();
  for (const [top, v] of votes) {
    const [key] = [...v].sort((a, b) => b[1] - a[1])[0];
    const [bits, bias] = key.split(':').map(Number);
    out.set(top, { bits, bias });
  }
  return out;
}

/** Index in COMMANDS of the command a header starts on that generation, or -1 for an unknown command. */
export function commandIndex(header: number, gen: Gen = DEFAULT_GEN): number {
  return LOOKUPS[gen][header >>> 16];
}

// ---------------------------------------------------------------------------------------------
// A command's length: the one place a header's DWord Length is decoded. Every rule (fixed, flag,
// pairs, range, group) is a window min..max in steps of `step` over DWord Length + bias; a flag swaps
// the window for its long form. Typed arrays by command index, for the command loop.

const LEN_MASK = Int32Array.from(COMMANDS, (d) => (d.lengthBits ? (1 << d.lengthBits) - 1 : 0));
const LEN_BIAS = Int32Array.from(COMMANDS, (d) => d.bias);
const LEN_MIN = Int32Array.from(COMMANDS, (d) => lengthWindow(d).min);
const LEN_MAX = Int32Array.from(COMMANDS, (d) => lengthWindow(d).max);
/** The step less one (every step, a group entry's dwords or a pair's 2, is a power of two: a mask, not a division). */
const LEN_STEP_MASK = Int32Array.from(COMMANDS, (d) => {
  const step = lengthWindow(d).step;
  if ((step & (step - 1)) !== 0) throw new Error(`${d.mnemonic}: a length step of ${step} is not a power of two`);
  return step - 1;
});
/** Commands whose length a header flag selects: the flag's bit (-1: none) and the long form's length. */
const LEN_FLAG_BIT = Int8Array.from(COMMANDS, (d) =>
  d.length.kind === 'flag' ? d.fields.find((f) => f.name === (d.length as { field: string }).field)!.lo : -1,
);
const LEN_FLAG_ON = Int32Array.from(COMMANDS, (d) => (d.length.kind === 'flag' ? d.length.on : 0));

function lengthWindow(d: CommandDef): { min: number; max: number; step: number } {
  const r = d.length;
  const widest = d.lengthBits ? 2 ** d.lengthBits - 1 + d.bias : 1;
  switch (r.kind) {
    case 'fixed':
      return { min: r.dwords, max: r.dwords, step: 1 };
    case 'flag':
      return { min: r.off, max: r.off, step: 1 };
    case 'pairs':
      return { min: 3, max: widest, step: 2 };
    case 'range':
      return { min: r.min, max: r.max, step: 1 };
    case 'group':
      return { min: r.base + minEntriesOf(r, d.bias) * r.entry, max: widest, step: r.entry };
  }
}

/**
 * The length in dwords of the command COMMANDS[idx] whose header is `header`: DWord Length + bias (a
 * command without the field is its fixed length), when its length rule allows it; else the negated
 * declared length (never 0: every bias is at least 1). lengthError says why. No allocation: the
 * command loop calls it for every command.
 */
export function commandLength(idx: number, header: number): number {
  const mask = LEN_MASK[idx];
  if (mask === 0) return LEN_MIN[idx];
  const n = (header & mask) + LEN_BIAS[idx];
  const flag = LEN_FLAG_BIT[idx];
  if (flag >= 0 && ((header >>> flag) & 1) === 1) return n === LEN_FLAG_ON[idx] ? n : -n;
  const min = LEN_MIN[idx];
  return n >= min && n <= LEN_MAX[idx] && ((n - min) & LEN_STEP_MASK[idx]) === 0 ? n : -n;
}

/** Why commandLength refuses a header (a length the command's layout does not allow); '' when it does not. */
export function lengthError(idx: number, header: number): string {
  const n = commandLength(idx, header);
  if (n > 0) return '';
  const def = COMMANDS[idx];
  const len = -n;
  const rule = def.length;
  switch (rule.kind) {
    case 'pairs':
      return `${def.mnemonic} needs an odd length of at least 3 dwords, header says ${len}`;
    case 'range':
      return `${def.mnemonic} is ${rule.min} to ${rule.max} dwords, header DWord Length says ${len}`;
    case 'group':
      return `${def.mnemonic} is ${rule.base} dwords plus entries of ${rule.entry}, header DWord Length says ${len}`;
    case 'flag':
      return `${def.mnemonic} is ${(header >>> LEN_FLAG_BIT[idx]) & 1 ? rule.on : rule.off} dwords, header DWord Length says ${len}`;
    case 'fixed':
      return `${def.mnemonic} is ${rule.dwords} dwords, header DWord Length says ${len}`;
  }
}

/** The longest command any header may declare (the widest DWord Length plus its bias, over the table). */
export const MAX_COMMAND_DWORDS = COMMANDS.reduce(
  (m, d) => Math.max(m, d.lengthBits ? 2 ** d.lengthBits - 1 + d.bias : 1),
  1,
);

/**
 * Per generation and header top byte: a command of that gen whose DWord Length (width and bias) a later
 * gen's command the table lacks is measured by (lengthRuleByTopByte's rule), or -1.
 */
const FOREIGN_MODEL: Readonly<Record<Gen, Int16Array>> = { 8: foreignModels(8), 9: foreignModels(9) };

function foreignModels(gen: Gen): Int16Array {
  const t = new Int16Array(256).fill(-1);
  for (const [top, rule] of lengthRuleByTopByte(gen))
    t[top] = COMMANDS.findIndex(
      (d) =>
        d.gens.includes(gen) &&
        d.header >>> 24 === top &&
        d.lengthBits === rule.bits &&
        (!d.lengthBits || d.bias === rule.bias),
    );
  return t;
}

/**
 * Per later generation, by header top 16 bits: the DWord Length (width, bias) of its commands gen9 lacks
 * that the top-byte rule would misread, from Mesa's genxml (src/intel/genxml/gen<N>.xml). Of gen11's and
 * gen12's GFXPIPE commands gen9 lacks (test/unit/foreign-gens.test.ts lists them all), only gen12's
 * 3DSTATE_CPS_POINTERS (0x7822) has a length field wider than gen9's 0x78 rule: bits 15:0 (gen11's
 * 3DSTATE_CPS at the same opcode has bits 7:0, the rule's).
 */
const FOREIGN_LENGTH_EXCEPTIONS: Readonly<Record<number, ReadonlyMap<number, { bits: number; bias: number }>>> = {
  12: new Map([[0x7822, { bits: 16, bias: 2 }]]),
};

/**
 * The length of a later generation's command `gen` lacks (commandIndex gave -1): DWord Length + bias
 * as genxml declares it for `foreignGen`'s exceptions (FOREIGN_LENGTH_EXCEPTIONS), else as gen's commands
 * with the same top byte declare it (1 dword where they have no length field), or 0 when gen has no
 * command with that top byte.
 */
export function foreignLength(gen: Gen, header: number, foreignGen = 0): number {
  const exception = FOREIGN_LENGTH_EXCEPTIONS[foreignGen]?.get(header >>> 16);
  if (exception !== undefined) return (header & ((1 << exception.bits) - 1)) + exception.bias;
  const model = FOREIGN_MODEL[gen][header >>> 24];
  if (model < 0) return 0;
  const n = commandLength(model, header);
  return n < 0 ? -n : n;
}

/** Index in COMMANDS of each definition. */
const INDEX_OF = new Map<CommandDef, number>(COMMANDS.map((d, i) => [d, i]));

const BY_MNEMONIC: Readonly<Record<Gen, Map<string, CommandDef>>> = { 8: new Map(), 9: new Map() };
for (const d of COMMANDS) for (const g of d.gens) BY_MNEMONIC[g].set(d.mnemonic, d);

/** The command by name as a generation declares it (gen9 unless given). */
export function commandByMnemonic(m: string, gen: Gen = DEFAULT_GEN): CommandDef | undefined {
  return BY_MNEMONIC[gen].get(m.toUpperCase());
}

/** The commands one generation declares (one entry per name). */
export function commandsOf(gen: Gen): readonly CommandDef[] {
  return [...BY_MNEMONIC[gen].values()];
}

const FIELDS_BY_NAME = new Map<CommandDef, Map<string, CmdField>>(
  COMMANDS.map((d) => [
    d,
    new Map([
      ...d.fields.map((f): [string, CmdField] => [f.name, f]),
      ...d.fields.map((f): [string, CmdField] => [snakeName(f.xml), f]).filter(([k]) => k !== ''),
    ]),
  ]),
);

/** A field by its language name or its genxml name in snake_case. */
export function fieldByName(def: CommandDef, name: string): CmdField | undefined {
  const m = FIELDS_BY_NAME.get(def)!;
  return m.get(name) ?? m.get(name.toLowerCase());
}

/** A field's value in a command's dwords (addresses as 48-bit numbers); 0 when absent at this length. */
export function fieldNum(def: CommandDef, dw: ArrayLike<number>, len: number, name: string): number {
  return fieldValue(fieldByName(def, name)!, dw, len);
}

/** Where a field sits, as genxml counts: `DW1 bits 47:3` (a field past bit 31 continues into the next dword). */
export function fieldPlacement(f: CmdField): string {
  const range = f.lo === f.hi ? `bit ${f.lo}` : `bits ${f.hi}:${f.lo}`;
  return f.hi > 31 ? `DW${f.dw}-${f.dw + 1} ${range}` : `DW${f.dw} ${range}`;
}

/** Is the field kept in place (its low bits zero) rather than shifted down? */
export function inPlace(f: CmdField): boolean {
  return f.kind === 'addr' || f.kind === 'offset' || f.kind === 'reg';
}

/**
 * A field's value in a command's dwords `dw` (`len` of them present): fieldNum for a field already
 * looked up (the hot paths resolve their fields once, with fieldsOf). Fields up to 53 bits come out
 * exact; an address is its 48-bit VA (the canonical sign extension dropped); 0 when absent at this length.
 */
export function fieldValue(f: CmdField, dw: ArrayLike<number>, len: number): number {
  if (f.dw >= len) return 0;
  return f.read !== undefined ? readByRecipe(f, f.read, dw, len, f.dw) : fieldValueGeneric(f, dw, len);
}

/** A field read by its recipe, its low dword at dw[k] (k < len); the high one, when it has one, 0 past len. */
function readByRecipe(f: CmdField, r: FieldRead, dw: ArrayLike<number>, len: number, k: number): number {
  const lo = dw[k];
  switch (r.mode) {
    case 0:
      return ((lo >>> f.lo) & r.lowMask) >>> 0;
    case 1:
      return (lo & r.lowMask) >>> 0;
    case 2:
      return (k + 1 < len ? dw[k + 1] & r.highMask : 0) * r.scale + (lo >>> f.lo);
    default:
      return (k + 1 < len ? (dw[k + 1] & r.highMask) >>> 0 : 0) * 0x100000000 + ((lo & r.lowMask) >>> 0);
  }
}

/**
 * fieldValue for a field of the header dword (DW0, present in every command and never spanning two
 * dwords): the hot path's read of flags such as MI_LOAD_REGISTER_IMM's Byte Write Disables, with
 * no length check and no recipe switch beyond shifted or in place.
 */
export function headerFieldValue(f: CmdField, dw: ArrayLike<number>): number {
  const r = f.read!;
  const header = dw[0];
  return (r.mode === 0 ? (header >>> f.lo) & r.lowMask : header & r.lowMask) >>> 0;
}

/**
 * fieldValue for a field of a group entry starting at dword `at` (MI_MATH's ALU instructions): a
 * function of its own, so the command's own fields keep the three-argument read on the hot path.
 */
export function entryValue(f: CmdField, dw: ArrayLike<number>, len: number, at: number): number {
  const k = at + f.dw;
  return k >= len ? 0 : readByRecipe(f, f.read!, dw, len, k);
}

/** Dword `k` of a field as the command holds it (data a store copies: an immediate qword's halves); 0 past the command's end. */
export function fieldDword(f: CmdField, dw: ArrayLike<number>, len: number, k: number): number {
  const at = f.dw + k;
  return at < len ? dw[at] : 0;
}

/** The field an optional name resolves to where a command's layout lacks it: every read of it is 0. */
const ABSENT: CmdField = field({ name: '', xml: '', dw: 0x3fffffff, lo: 0, hi: 0, kind: 'uint', desc: 'absent' });

/**
 * The fields a handler reads, resolved once by their language names (the command's fields, then its
 * group entries'): `fieldsOf(def, ['addr', 'data'])` is `{ addr, data }`, each read with fieldValue,
 * fieldDword or (a group entry's) entryValue. A required name the command lacks is an error when the view is made, not when a command
 * runs; an optional one (a field one gen's layout has and another's lacks) resolves to a field that reads 0.
 */
export function fieldsOf<const R extends string, const O extends string = never>(
  def: CommandDef,
  required: readonly R[],
  optional: readonly O[] = [],
): { readonly [K in R | O]: CmdField } {
  const view: Record<string, CmdField> = {};
  for (const n of required) {
    const f = fieldByName(def, n) ?? def.groupFields.find((g) => g.name === n);
    if (!f) throw new Error(`${def.mnemonic} (gen${def.gens.join('/')}) has no field ${n}`);
    view[n] = f;
  }
  for (const n of optional) view[n] = fieldByName(def, n) ?? def.groupFields.find((g) => g.name === n) ?? ABSENT;
  return view as { readonly [K in R | O]: CmdField };
}

/** Does the command's layout have this field (fieldsOf's optional names)? */
export function hasField(f: CmdField): boolean {
  return f !== ABSENT;
}

/**
 * A field's enum values by the names the table gives them (genxml's, or the language's where it names
 * them), resolved to numbers once: handlers switch over these, not over bare numbers.
 */
export function enumValues<const N extends string>(
  def: CommandDef,
  f: CmdField,
  names: readonly N[],
): { readonly [K in N]: number } {
  const out: Record<string, number> = {};
  for (const n of names) {
    const v = f.values?.[n];
    if (v === undefined) throw new Error(`${def.mnemonic}.${f.name} has no value ${n} in the command table`);
    out[n] = v;
  }
  return out as { readonly [K in N]: number };
}

/** fieldValue for a field object the table did not build (no read recipe). */
function fieldValueGeneric(f: CmdField, dw: ArrayLike<number>, len: number): number {
  const lo = dw[f.dw] >>> 0;
  if (f.hi <= 31) {
    const w = f.hi - f.lo + 1;
    if (inPlace(f)) return w >= 32 ? lo : (lo & (((1 << w) - 1) << f.lo)) >>> 0;
    return w >= 32 ? lo : (lo >>> f.lo) & ((1 << w) - 1);
  }
  const hiWord = f.dw + 1 < len ? dw[f.dw + 1] >>> 0 : 0;
  const hiBits = Math.min(f.hi, 47) - 31; // bits of the second dword that count (addresses stop at 47)
  const top =
    f.kind === 'addr'
      ? hiWord & (2 ** Math.min(hiBits, 16) - 1)
      : hiWord & (f.hi >= 63 ? 0x1fffff : 2 ** (f.hi - 31) - 1);
  const low = inPlace(f) ? ((lo >>> f.lo) << f.lo) >>> 0 : lo >>> f.lo;
  return inPlace(f) ? top * 0x100000000 + low : top * 2 ** (32 - f.lo) + low;
}

/**
 * The command parser's prediction, from the table's write specs: every guest memory range (GPU VA,
 * bytes, required alignment) the command will write, in write order; a store must be aligned to its
 * size, a blit gives one 4-byte-aligned range per destination row. `emit` returns false to stop early.
 * Writes whose address the engine computes itself (the hardware status page) are not listed here: the
 * engine adds them. The engine translates these through its TLB before executing; the debugger walks
 * them uncached for display.
 */
export function writeRanges(
  def: CommandDef,
  dw: ArrayLike<number>,
  len: number,
  emit: (va: number, bytes: number, align: number, ggtt: number) => boolean,
): void {
  const plan = WRITE_PLANS.get(def);
  if (plan !== undefined) runPlan(def, plan, dw, len, emit);
}

/** writeRanges for the command at COMMANDS[index] (the engine's hot path: no map lookup, its plan compiled). */
export function writeRangesAt(index: number, dw: ArrayLike<number>, len: number, emit: RangeSink): void {
  const writer = WRITERS[index];
  if (writer !== null) writer(dw, len, emit);
}

/**
 * The write of a command whose writes are one store at an address field and nothing else (the MI
 * stores, atomics, copies): the engine's parser predicts it from these fields without running the
 * plan; writeRangesAt emits the same range. Null for any other command.
 */
export function singleStoreAt(index: number): SingleStore | null {
  return SINGLE_STORES[index];
}

/** A command's one store (singleStoreAt): its address field, optional condition and space fields, its size rule. */
export interface SingleStore {
  readonly addr: CmdField;
  /** No store when this field is zero (null: always). */
  readonly ifNonZero: CmdField | null;
  /** The address-space field (1: global GTT), or null for PPGTT only. */
  readonly space: CmdField | null;
  readonly plan: WritePlan;
}

/** Bytes a single store (singleStoreAt) writes for these dwords; also its alignment (writeRanges' rule). */
export function singleStoreBytes(s: SingleStore, dw: ArrayLike<number>, len: number): number {
  return writeBytes(s.plan, dw, len);
}

/** Whether a single store's bytes follow from its header alone (a size flag in DW0, or its length): singleStoreBytes of [header]. */
export function storeBytesByHeader(s: SingleStore): boolean {
  return s.plan.flag === null || s.plan.flag.dw === 0;
}

type RangeSink = (va: number, bytes: number, align: number, ggtt: number) => boolean;
/** A command's writeRanges, made once from its plan. */
type Writer = (dw: ArrayLike<number>, len: number, emit: RangeSink) => void;

/**
 * The writer of a plan: a single store at an address field (the MI stores, flushes, atomics) reads
 * its few fields directly, by the rule its bytes follow; anything else runs the plan.
 */
function compileWriter(def: CommandDef, plan: readonly WritePlan[]): Writer {
  const listed = plan.filter((w) => w.addr !== null);
  if (listed.length !== 1 || listed[0].rect !== null) return (dw, len, emit) => runPlan(def, plan, dw, len, emit);
  const w = listed[0];
  const addr = w.addr!;
  const space = w.space;
  const cond = w.ifNonZero;
  const ggtt = (dw: ArrayLike<number>, len: number) => (space === null ? 0 : fieldValue(space, dw, len) & 1);
  if (cond !== null) {
    return (dw, len, emit) => {
      if (fieldValue(cond, dw, len) === 0) return;
      const bytes = writeBytes(w, dw, len);
      emit(fieldValue(addr, dw, len), bytes, bytes, ggtt(dw, len));
    };
  }
  if (w.flag !== null && w.sizes === null) {
    const flag = w.flag;
    const on = w.on;
    const off = w.off;
    return (dw, len, emit) => {
      const bytes = fieldValue(flag, dw, len) ? on : off;
      emit(fieldValue(addr, dw, len), bytes, bytes, ggtt(dw, len));
    };
  }
  return (dw, len, emit) => {
    const bytes = writeBytes(w, dw, len);
    emit(fieldValue(addr, dw, len), bytes, bytes, ggtt(dw, len));
  };
}

function runPlan(
  def: CommandDef,
  plan: readonly WritePlan[],
  dw: ArrayLike<number>,
  len: number,
  emit: (va: number, bytes: number, align: number, ggtt: number) => boolean,
): void {
  for (let i = 0; i < plan.length; i++) {
    const w = plan[i];
    if (w.addr === null) continue;
    if (w.rect === null) {
      if (w.ifNonZero !== null && fieldValue(w.ifNonZero, dw, len) === 0) continue;
      const bytes = writeBytes(w, dw, len);
      if (!emit(fieldValue(w.addr, dw, len), bytes, bytes, w.space === null ? 0 : fieldValue(w.space, dw, len) & 1))
        return;
    } else {
      const g = blitGeometry(def, dw, len, w.addr);
      if (g.w > 0)
        for (let y = g.y1; y < g.y1 + g.h; y++) if (!emit(g.dst + y * g.pitch + g.x1 * 4, g.w * 4, 4, 0)) return;
    }
  }
}

/** The write specs with their fields resolved once per command (writeRanges runs before every store). */
interface WritePlan {
  /** null: the engine computes the address (hardware status page). */
  readonly addr: CmdField | null;
  readonly rect: true | null;
  /** Bytes chosen by a flag or size field (null: by length, or fixed `on` when atLength is 0). */
  readonly flag: CmdField | null;
  readonly sizes: readonly number[] | null;
  readonly atLength: number;
  readonly on: number;
  readonly off: number;
  readonly ifNonZero: CmdField | null;
  /** The address-space field (1: global GTT), or null for PPGTT only. */
  readonly space: CmdField | null;
}

/** Bytes one planned memory write covers, for the command in dw[0..len). */
function writeBytes(w: WritePlan, dw: ArrayLike<number>, len: number): number {
  if (w.sizes !== null) return w.sizes[fieldValue(w.flag!, dw, len)] ?? 0;
  if (w.flag !== null) return fieldValue(w.flag, dw, len) ? w.on : w.off;
  if (w.atLength !== 0) return len >= w.atLength ? w.on : w.off;
  return w.on;
}

/** Bytes of a command's write whose address the engine computes (status page): 0 when it has none. */
export function computedWriteBytes(def: CommandDef, dw: ArrayLike<number>, len: number): number {
  const plan = WRITE_PLANS.get(def);
  const w = plan?.find((p) => p.addr === null && p.rect === null);
  return w ? writeBytes(w, dw, len) : 0;
}

const WRITE_PLANS = new Map<CommandDef, WritePlan[]>();
for (const d of COMMANDS) {
  if (!d.writes) continue;
  const f = (n: string) => {
    const x = fieldByName(d, n);
    if (!x) throw new Error(`${d.mnemonic}: its write names no field '${n}'`);
    return x;
  };
  WRITE_PLANS.set(
    d,
    d.writes.map((w): WritePlan => {
      if (w.kind === 'rect')
        return {
          addr: f(w.addr),
          rect: true,
          flag: null,
          sizes: null,
          atLength: 0,
          on: 0,
          off: 0,
          ifNonZero: null,
          space: null,
        };
      const b = w.bytes;
      const base = {
        addr: w.addr === '' ? null : f(w.addr),
        rect: null,
        ifNonZero: w.ifNonZero !== undefined ? f(w.ifNonZero) : null,
        space: w.space !== undefined ? f(w.space) : null,
      };
      if (typeof b === 'number') return { ...base, flag: null, sizes: null, atLength: 0, on: b, off: b };
      if ('flag' in b) return { ...base, flag: f(b.flag), sizes: null, atLength: 0, on: b.on, off: b.off };
      if ('atLength' in b) return { ...base, flag: null, sizes: null, atLength: b.atLength, on: b.long, off: b.short };
      return { ...base, flag: f(b.sizeField), sizes: b.sizes, atLength: 0, on: 0, off: 0 };
    }),
  );
}
const WRITERS: (Writer | null)[] = COMMANDS.map((d) => {
  const plan = WRITE_PLANS.get(d);
  return plan === undefined ? null : compileWriter(d, plan);
});

const SINGLE_STORES: (SingleStore | null)[] = COMMANDS.map((d) => {
  const plan = WRITE_PLANS.get(d);
  if (plan === undefined || plan.length !== 1 || plan[0].addr === null || plan[0].rect !== null) return null;
  const w = plan[0];
  return { addr: w.addr!, ifNonZero: w.ifNonZero, space: w.space, plan: w };
});

export interface BlitGeometry {
  readonly dst: number;
  readonly pitch: number;
  readonly x1: number;
  readonly y1: number;
  /** Width and height; x2/y2 are exclusive, so an empty or inverted rectangle has w or h <= 0. */
  readonly w: number;
  readonly h: number;
}

/** The blits' pitch and rectangle fields, resolved once per command. */
const RECT_FIELDS = new Map<CommandDef, { readonly [K in 'pitch' | 'x1' | 'y1' | 'x2' | 'y2']: CmdField }>();

/** Destination rectangle of a blit (32 bpp) at its address field `addr`, from BR13 and the rectangle fields. */
export function blitGeometry(def: CommandDef, dw: ArrayLike<number>, len: number, addr: CmdField): BlitGeometry {
  let f = RECT_FIELDS.get(def);
  if (f === undefined) RECT_FIELDS.set(def, (f = fieldsOf(def, ['pitch', 'x1', 'y1', 'x2', 'y2'])));
  const x1 = fieldValue(f.x1, dw, len);
  const y1 = fieldValue(f.y1, dw, len);
  return {
    dst: fieldValue(addr, dw, len),
    pitch: fieldValue(f.pitch, dw, len),
    x1,
    y1,
    w: fieldValue(f.x2, dw, len) - x1,
    h: fieldValue(f.y2, dw, len) - y1,
  };
}

/** Some lengths a command may have (fuzzers and tests pick from them): every fixed or flag-chosen one, a few variable ones. */
export function validLengths(def: CommandDef): number[] {
  const r = def.length;
  switch (r.kind) {
    case 'fixed':
      return [r.dwords];
    case 'flag':
      return [r.off, r.on];
    case 'range':
      return Array.from({ length: r.max - r.min + 1 }, (_, i) => r.min + i);
    case 'pairs':
      return [3, 5, 7];
    case 'group': {
      const m = minEntries(def);
      return [m, m + 1, m + 3].filter((n) => n <= maxEntries(def)).map((n) => r.base + n * r.entry);
    }
  }
}

/**
 * The length in dwords a header declares, or a reason it is malformed (a length the command's layout
 * does not allow). For commands without a length field this is the fixed length. (commandLength and
 * lengthError, for a definition rather than an index.)
 */
export function declaredLength(def: CommandDef, header: number): number | string {
  const idx = INDEX_OF.get(def)!;
  const n = commandLength(idx, header);
  return n > 0 ? n : lengthError(idx, header);
}

// ---------------------------------------------------------------------------------------------
// Generic field access (used off the hot path: disassembler, assembler, debugger views, parser).

function qword(dw: ArrayLike<number>, at: number, len: number): bigint {
  const lo = at < len ? BigInt(dw[at] >>> 0) : 0n;
  const hi = at + 1 < len ? BigInt(dw[at + 1] >>> 0) : 0n;
  return lo | (hi << 32n);
}

/** Reads a field at `base` (relative dword positions `f.dw` from there; `len` dwords present). */
export function readField(dw: ArrayLike<number>, base: number, len: number, f: CmdField): bigint {
  if (f.dw >= len) return 0n;
  const avail = len - f.dw;
  const q = qword(dw, base + f.dw, base + f.dw + Math.min(avail, 2));
  const w = BigInt(f.hi - f.lo + 1);
  const bits = (q >> BigInt(f.lo)) & ((1n << w) - 1n);
  if (f.kind === 'addr') return (bits << BigInt(f.lo)) & ((1n << 48n) - 1n);
  return inPlace(f) ? bits << BigInt(f.lo) : bits;
}

export interface DecodedCommand {
  readonly def: CommandDef;
  readonly length: number;
  /** Field values by name (only fields present at this length); group entries as `name.i`. */
  readonly fields: ReadonlyMap<string, bigint>;
  /** MI_LOAD_REGISTER_IMM (register offset, value) pairs. */
  readonly pairs: readonly (readonly [number, number])[];
  /** Number of group entries (variable-group commands). */
  readonly entries: number;
}

/** Decodes the command at dw[base]; a reason string for an unknown opcode, bad length or truncation. */
export function decodeCommand(
  dw: ArrayLike<number>,
  base = 0,
  available = dw.length - base,
  gen: Gen = DEFAULT_GEN,
): DecodedCommand | string {
  const header = dw[base] >>> 0;
  const idx = commandIndex(header, gen);
  if (idx < 0) return `unknown command header 0x${header.toString(16).padStart(8, '0')}`;
  const def = COMMANDS[idx];
  const len = commandLength(idx, header);
  if (len < 0) return lengthError(idx, header);
  if (len > available) return `${def.mnemonic} needs ${len} dwords, only ${available} available`;
  const fields = new Map<string, bigint>();
  for (const f of def.fields) if (f.dw < len) fields.set(f.name, readField(dw, base, len, f));
  const pairs: [number, number][] = [];
  if (def.length.kind === 'pairs')
    for (let i = 1; i + 1 < len; i += 2) pairs.push([dw[base + i] & REG_OFFSET_MASK, dw[base + i + 1] >>> 0]);
  let entries = 0;
  if (def.length.kind === 'group') {
    const rule = def.length;
    entries = (len - rule.base) / rule.entry;
    for (let k = 0; k < entries; k++) {
      const at = base + rule.base + k * rule.entry;
      for (const f of def.groupFields) fields.set(`${f.name}.${k}`, readField(dw, at, rule.entry, f));
    }
  }
  return { def, length: len, fields, pairs, entries };
}

export class EncodeError extends Error {}

/** Splits a group key `name.i` into the group field and entry index (undefined when not a group key). */
export function groupKey(def: CommandDef, key: string): { field: CmdField; index: number } | undefined {
  const m = /^(.*)\.(\d+)$/.exec(key);
  if (!m) return undefined;
  const field = def.groupFields.find((f) => f.name === m[1].toLowerCase());
  return field ? { field, index: Number(m[2]) } : undefined;
}

/** Fewest group entries a command has: enough for a DWord Length of at least 0. */
function minEntriesOf(rule: { readonly base: number; readonly entry: number }, bias: number): number {
  return Math.max(0, Math.ceil((bias - rule.base) / rule.entry));
}

export function minEntries(def: CommandDef): number {
  return def.length.kind === 'group' ? minEntriesOf(def.length, def.bias) : 0;
}

/** Maximum group entries a command may carry (its DWord Length must still fit). */
export function maxEntries(def: CommandDef): number {
  if (def.length.kind !== 'group') return 0;
  return Math.floor((2 ** def.lengthBits - 1 + def.bias - def.length.base) / def.length.entry);
}

/**
 * Encodes a command from field values (bigint). Fields not given take their default (or the value
 * implied by another field); missing required fields are an EncodeError. The length follows the
 * command's length rule; group entries are given as `name.i` (entries = highest i + 1).
 */
export function encodeCommand(
  def: CommandDef,
  given: ReadonlyMap<string, bigint>,
  pairs: readonly (readonly [number, number])[] = [],
): number[] {
  const values = new Map<string, bigint>();
  const groupValues: Map<string, bigint>[] = [];
  for (const [k, v] of given) {
    if (fieldByName(def, k) || (k === 'dword_length' && def.length.kind === 'range')) continue;
    const g = groupKey(def, k);
    if (!g) throw new EncodeError(`${def.mnemonic} has no field '${k}'`);
    while (groupValues.length <= g.index) groupValues.push(new Map());
    groupValues[g.index].set(g.field.name, v);
  }
  const byName = new Map<string, bigint>();
  for (const [k, v] of given) {
    const f = fieldByName(def, k);
    if (f) byName.set(f.name, v);
  }
  for (const f of def.fields) {
    let v = byName.get(f.name);
    if (v === undefined && f.impliedBy && byName.has(f.impliedBy.field)) v = BigInt(f.impliedBy.value);
    if (v === undefined && f.required) throw new EncodeError(`${def.mnemonic} needs ${f.name}=`);
    values.set(f.name, v ?? BigInt(f.default ?? 0));
  }
  let len: number;
  const rule = def.length;
  if (rule.kind === 'fixed') len = rule.dwords;
  else if (rule.kind === 'pairs') {
    if (pairs.length === 0) throw new EncodeError(`${def.mnemonic} needs at least one REGISTER=value pair`);
    len = 1 + 2 * pairs.length;
  } else if (rule.kind === 'range') {
    const asked = given.get('dword_length');
    const longOnly = def.fields.some((f) => f.dw >= rule.min && byName.has(f.name) && byName.get(f.name) !== 0n);
    len = asked !== undefined ? Number(asked) + def.bias : rule.default === rule.max || longOnly ? rule.max : rule.min;
    if (len < rule.min || len > rule.max)
      throw new EncodeError(
        `${def.mnemonic} dword_length=${asked} is not ${rule.min - def.bias}..${rule.max - def.bias}`,
      );
  } else if (rule.kind === 'group') {
    if (groupValues.length > maxEntries(def))
      throw new EncodeError(`${def.mnemonic} has room for ${maxEntries(def)} entries, not ${groupValues.length}`);
    while (groupValues.length < minEntries(def)) groupValues.push(new Map());
    len = rule.base + rule.entry * groupValues.length;
  } else {
    // A flag-selected length sets its flag when the long form's extra fields are given.
    const longOnly = def.fields.filter((f) => f.dw >= rule.off);
    const wantsLong = !!byName.get(rule.field) || longOnly.some((f) => byName.has(f.name) && byName.get(f.name) !== 0n);
    values.set(rule.field, wantsLong ? 1n : 0n);
    len = wantsLong ? rule.on : rule.off;
  }
  const out = new Array<number>(len).fill(0);
  out[0] = def.header;
  if (def.lengthBits) {
    const mask = (1 << def.lengthBits) - 1;
    if (len - def.bias > mask) throw new EncodeError(`${def.mnemonic} is too long (${len} dwords)`);
    out[0] = ((out[0] & ~mask) | (len - def.bias)) >>> 0;
  }
  for (const f of def.fields) {
    const v = values.get(f.name)!;
    if (f.dw >= len) {
      if (byName.has(f.name) && v !== 0n) throw new EncodeError(`${def.mnemonic} field ${f.name} needs the long form`);
      continue;
    }
    putField(out, 0, len, f, v, def.mnemonic);
  }
  if (rule.kind === 'pairs')
    pairs.forEach(([r, v], i) => {
      out[1 + 2 * i] = r & REG_OFFSET_MASK;
      out[2 + 2 * i] = v >>> 0;
    });
  if (rule.kind === 'group')
    groupValues.forEach((m, k) => {
      for (const f of def.groupFields)
        putField(
          out,
          rule.base + k * rule.entry,
          rule.entry,
          f,
          m.get(f.name) ?? BigInt(f.default ?? 0),
          `${def.mnemonic} entry ${k}`,
        );
    });
  return out.map((x) => x >>> 0);
}

/** Writes one field's value into out[base..base+len). */
export function putField(out: number[], base: number, len: number, f: CmdField, v: bigint, what: string): void {
  const fail = (why: string) => new EncodeError(`${what} ${f.name}=0x${v.toString(16)} ${why}`);
  if (v < 0n) {
    if (f.kind !== 'int' && f.kind !== 'fixed') throw fail('is negative');
    v = BigInt.asUintN(f.hi - f.lo + 1, v);
  }
  const w = BigInt(f.hi - f.lo + 1);
  let bits: bigint;
  if (f.kind === 'addr') {
    // A canonical address (bits 63:47 all ones) is the same 48-bit VA.
    if (v >= 0xffff800000000000n && v < 1n << 64n) v &= (1n << 48n) - 1n;
    if (v >= 1n << 48n) throw fail('does not fit a 48-bit address');
    if (v & ((1n << BigInt(f.lo)) - 1n))
      throw fail(`is not ${2 ** f.lo}-byte aligned (the command has no address bits below ${f.lo})`);
    bits = v >> BigInt(f.lo);
    const room = BigInt(Math.min(f.hi, 47) - f.lo + 1);
    if (bits >= 1n << room) throw fail('does not fit a 48-bit address');
  } else if (inPlace(f)) {
    if (v & ((1n << BigInt(f.lo)) - 1n)) throw fail(`is not ${2 ** f.lo}-byte aligned`);
    bits = v >> BigInt(f.lo);
    if (bits >= 1n << w)
      throw fail(
        f.kind === 'reg' ? 'is not a dword-aligned register offset below 8 MiB' : `does not fit bits ${f.hi}:${f.lo}`,
      );
  } else {
    bits = v;
    // Where the command is shorter than the field (MI_STORE_DATA_IMM's dword form), only what fits is room.
    const room = BigInt(Math.min(f.hi + 1, 32 * (len - f.dw)) - f.lo);
    if (bits >= 1n << (room < w ? room : w)) throw fail(`does not fit ${room < w ? room : w} bits`);
  }
  const at = base + f.dw;
  const mask = ((1n << w) - 1n) << BigInt(f.lo);
  const cur = BigInt(out[at] >>> 0) | (at + 1 < base + len ? BigInt(out[at + 1] >>> 0) << 32n : 0n);
  const next = (cur & ~mask) | ((bits << BigInt(f.lo)) & mask);
  out[at] = Number(next & 0xffffffffn);
  if (at + 1 < base + len) out[at + 1] = Number((next >> 32n) & 0xffffffffn);
}

/**
 * Where a command's acceptance shows in the OPCAP registers: MI and 2D commands by opcode; type-3
 * commands by class, bit 0 PIPE_CONTROL, bit 1 3D pipeline state and draws, bit 2 media and GPGPU.
 */
export function opcapOf(d: CommandDef): {
  register: 'OPCAP_MI' | 'OPCAP_2D_LO' | 'OPCAP_2D_HI' | 'OPCAP_3D';
  bit: number;
} {
  if (d.client === 'MI') return { register: 'OPCAP_MI', bit: opcodeOf('MI', d.header) };
  if (d.client === '2D') {
    const op = opcodeOf('2D', d.header);
    return op < 64 ? { register: 'OPCAP_2D_LO', bit: op } : { register: 'OPCAP_2D_HI', bit: op - 64 };
  }
  if (d.mnemonic === 'PIPE_CONTROL') return { register: 'OPCAP_3D', bit: 0 };
  const pipeline = (d.header >>> 27) & 3;
  return { register: 'OPCAP_3D', bit: pipeline === 2 ? 2 : 1 };
}

/** OPCAP_3D's bits by class (every type-3 command shares its class's bit). */
export const OPCAP_3D_CLASSES: readonly { readonly bit: number; readonly label: string }[] = [
  { bit: 0, label: 'PIPE_CONTROL' },
  { bit: 1, label: '3D pipeline state and draws (3DSTATE_*, 3DPRIMITIVE, STATE_BASE_ADDRESS, PIPELINE_SELECT, ...)' },
  { bit: 2, label: 'media and GPGPU (MEDIA_*, GPGPU_*)' },
];

/** What each bit of an OPCAP register stands for: one command (MI, 2D) or one class of commands (3D), for views and `vgpu caps`. */
export function opcapRows(register: string, gen: Gen = DEFAULT_GEN): { label: string; bit: number }[] {
  if (register === 'OPCAP_3D') return OPCAP_3D_CLASSES.map((c) => ({ ...c }));
  return commandsOf(gen)
    .filter((d) => opcapOf(d).register === register)
    .map((d) => ({ label: d.mnemonic, bit: opcapOf(d).bit }));
}

/** Bit mask of MI opcodes (etc.) of the commands a version accepts: OPCAP register values. */
export function opcodeMask(client: Client, accepts: (d: CommandDef) => boolean): bigint {
  let m = 0n;
  for (const d of COMMANDS) {
    if (d.client !== client || !accepts(d)) continue;
    const o = opcapOf(d);
    m |= 1n << BigInt(o.register === 'OPCAP_2D_HI' ? o.bit + 64 : o.bit);
  }
  return m;
}
