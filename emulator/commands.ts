// The GPU command table (SPEC section 4): every command declared once as data, with Intel's gen8/9 header
// layouts (client 31:29; MI opcode 28:23; 2D opcode 28:22; 3D pipeline/opcode/subopcode 28:16) and
// DWord Length = total - 2. Assembler, disassembler, command parser, decoder and debugger views derive from it.

import type { Feature } from './capabilities';
import type { EngineName } from './registers';

export type Client = 'MI' | '2D' | '3D';
export const CLIENT_CODE: Readonly<Record<Client, number>> = { MI: 0, '2D': 2, '3D': 3 };
/** Opcode bit range per client (the bits that, with the client, identify a command). */
export const OPCODE_BITS: Readonly<Record<Client, { lo: number; hi: number }>> = {
  MI: { lo: 23, hi: 28 },
  '2D': { lo: 22, hi: 28 },
  '3D': { lo: 16, hi: 28 },
};

/**
 * uint/enum/flag: the value is bits hi:lo shifted down. reg: a register offset, bits 22:2 kept in
 * place. addr: a 48-bit GPU VA, low dword at dw and bits 47:32 in bits 15:0 of dw+1. u64: a 64-bit
 * value over dw and dw+1 (the high dword only where the command is long enough to hold it).
 */
export type FieldKind = 'uint' | 'enum' | 'flag' | 'reg' | 'addr' | 'u64';

export interface CmdField {
  readonly name: string;
  readonly dw: number;
  readonly lo: number;
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
}

/** How a command's total length in dwords is determined. */
export type LengthRule =
  | { readonly kind: 'fixed'; readonly dwords: number }
  /** A header flag selects one of two lengths (MI_STORE_DATA_IMM qword, MI_ATOMIC inline data). */
  | { readonly kind: 'flag'; readonly field: string; readonly on: number; readonly off: number }
  /** 1 + 2n dwords of (register, value) pairs (MI_LOAD_REGISTER_IMM). */
  | { readonly kind: 'pairs' };

/** A guest memory write the command parser predicts, before the command runs. */
export type WriteSpec =
  | {
      readonly kind: 'mem';
      readonly addr: string;
      readonly bytes: number | { readonly flag: string; readonly on: number; readonly off: number };
      /** Only when this field is non-zero. */
      readonly ifNonZero?: string;
    }
  /** A 32 bpp rectangle x1..x2-1, y1..y2-1 at addr with pitch. */
  | { readonly kind: 'rect'; readonly addr: string };

export interface CommandDef {
  readonly mnemonic: string;
  readonly client: Client;
  /** The header with fixed bits and default fields set, DWord Length for the default length. */
  readonly header: number;
  /** Length bits in the header (0 for 1-dword commands with no length field). */
  readonly lengthBits: number;
  readonly length: LengthRule;
  readonly fields: readonly CmdField[];
  readonly engines: readonly EngineName[];
  readonly requires?: Feature;
  /** Cycles charged when it executes (blits add one per 64 pixels). */
  readonly cycles: number;
  readonly writes?: readonly WriteSpec[];
  /** Registers it writes: the LRI pairs, or a register field. */
  readonly regWrites?: 'pairs' | string;
  /** Engine registers the streamer updates for this command beyond STREAMER_REGISTERS. */
  readonly implicitRegs?: readonly string[];
  readonly desc: string;
}

const BOTH: readonly EngineName[] = ['rcs0', 'bcs0'];
const BCS: readonly EngineName[] = ['bcs0'];
const RCS: readonly EngineName[] = ['rcs0'];

const addr = (name: string, dw: number, desc: string, extra: Partial<CmdField> = {}): CmdField => ({
  name, dw, lo: 0, hi: 47, kind: 'addr', desc, required: true, ...extra,
});
const u32 = (name: string, dw: number, desc: string, extra: Partial<CmdField> = {}): CmdField => ({
  name, dw, lo: 0, hi: 31, kind: 'uint', desc, ...extra,
});
const bits = (name: string, dw: number, lo: number, hi: number, desc: string, extra: Partial<CmdField> = {}): CmdField => ({
  name, dw, lo, hi, kind: lo === hi ? 'flag' : 'uint', desc, ...extra,
});
/** A register operand: the MMIO offset in bits 22:2 of its dword (PRM "Register Offset"), kept in place. */
export const REG_OFFSET_BITS = { lo: 2, hi: 22 } as const;
export const REG_OFFSET_MASK = (((1 << (REG_OFFSET_BITS.hi + 1)) - 1) & ~((1 << REG_OFFSET_BITS.lo) - 1)) >>> 0;
const reg = (name: string, dw: number, desc: string): CmdField => ({
  name, dw, lo: REG_OFFSET_BITS.lo, hi: REG_OFFSET_BITS.hi, kind: 'reg', desc, required: true,
});

/** Engine registers the command streamer updates for every command (plus RING_HEAD for ring commands). */
export const STREAMER_REGISTERS = ['ACTHD', 'ACTHD_UDW', 'TIMESTAMP'] as const;

export const COMPARE_OPS = { GT: 0, GTE: 1, LT: 2, LTE: 3, EQ: 4, NEQ: 5 } as const;
export const ATOMIC_OPS = { AND: 0x01, OR: 0x02, XOR: 0x03, MOVE: 0x04, INC: 0x05, DEC: 0x06, ADD: 0x07, SUB: 0x08 } as const;
export const POST_SYNC_OPS = { none: 0, write: 1, depth: 2, timestamp: 3 } as const;

/** BR13 (XY_*_BLT DW1): color depth 25:24, ROP 23:16, destination pitch 15:0. */
const br13 = (rop: number): CmdField[] => [
  bits('pitch', 1, 0, 15, 'destination pitch in bytes', { required: true }),
  bits('rop', 1, 16, 23, 'raster operation (0xF0 pattern copy, 0xCC source copy)', { default: rop }),
  bits('depth', 1, 24, 25, 'color depth (3 = 32 bpp)', { default: 3 }),
];
const rect = (dw: number): CmdField[] => [
  bits('x1', dw, 0, 15, 'left edge (inclusive)', { required: true }),
  bits('y1', dw, 16, 31, 'top edge (inclusive)', { required: true }),
  bits('x2', dw + 1, 0, 15, 'right edge (exclusive)', { required: true }),
  bits('y2', dw + 1, 16, 31, 'bottom edge (exclusive)', { required: true }),
];
const writeEnables = bits('write_enable', 0, 20, 21, 'channel write enables (bit 21 alpha, bit 20 RGB)', { default: 3 });
const srcBlit = (depthField: CmdField[]): CmdField[] => [
  ...depthField,
  ...rect(2),
  addr('dst', 4, 'destination surface GPU VA', { pitchField: 'pitch' }),
  bits('sx', 6, 0, 15, 'source left edge', { required: true }),
  bits('sy', 6, 16, 31, 'source top edge', { required: true }),
  bits('src_pitch', 7, 0, 15, 'source pitch in bytes', { required: true }),
  addr('src', 8, 'source surface GPU VA', { pitchField: 'src_pitch' }),
];

export const COMMANDS: readonly CommandDef[] = [
  { mnemonic: 'MI_NOOP', client: 'MI', header: 0x00000000, lengthBits: 0, length: { kind: 'fixed', dwords: 1 }, fields: [], engines: BOTH, cycles: 1, desc: 'No operation' },
  { mnemonic: 'MI_USER_INTERRUPT', client: 'MI', header: 0x01000000, lengthBits: 0, length: { kind: 'fixed', dwords: 1 }, fields: [], engines: BOTH, cycles: 1, desc: 'Signal a user interrupt to the driver' },
  { mnemonic: 'MI_ARB_CHECK', client: 'MI', header: 0x02800000, lengthBits: 0, length: { kind: 'fixed', dwords: 1 }, fields: [], engines: BOTH, cycles: 1, desc: 'Arbitration point (preemption check)' },
  { mnemonic: 'MI_BATCH_BUFFER_END', client: 'MI', header: 0x05000000, lengthBits: 0, length: { kind: 'fixed', dwords: 1 }, fields: [], engines: BOTH, cycles: 1, desc: 'End the current batch buffer and return one level' },
  {
    mnemonic: 'MI_CONDITIONAL_BATCH_BUFFER_END', client: 'MI', header: 0x1b000002, lengthBits: 8, length: { kind: 'fixed', dwords: 4 },
    fields: [u32('data', 1, 'compare data', { required: true }), addr('addr', 2, 'GPU VA of the dword compared')],
    engines: BOTH, requires: 'COND_BB_END', cycles: 2, desc: 'End the batch when mem[addr] <= data',
  },
  {
    mnemonic: 'MI_SEMAPHORE_WAIT', client: 'MI', header: 0x0e008002, lengthBits: 8, length: { kind: 'fixed', dwords: 4 },
    fields: [
      bits('poll', 0, 15, 15, 'polling mode', { default: 1 }),
      { name: 'op', dw: 0, lo: 12, hi: 14, kind: 'enum', values: COMPARE_OPS, desc: 'compare operation (memory OP data)', default: COMPARE_OPS.EQ },
      u32('data', 1, 'semaphore data', { required: true }),
      addr('addr', 2, 'GPU VA of the semaphore dword'),
    ],
    engines: BOTH, requires: 'SEMAPHORE_WAIT', cycles: 1, desc: 'Wait until mem[addr] OP data holds',
  },
  {
    mnemonic: 'MI_STORE_DATA_IMM', client: 'MI', header: 0x10000002, lengthBits: 10, length: { kind: 'flag', field: 'qword', on: 5, off: 4 },
    fields: [
      bits('qword', 0, 21, 21, 'store a qword', { default: 0 }),
      addr('addr', 1, 'GPU VA written'),
      { name: 'data', dw: 3, lo: 0, hi: 63, kind: 'u64', desc: 'data (the high dword only with qword=1)', required: true },
    ],
    writes: [{ kind: 'mem', addr: 'addr', bytes: { flag: 'qword', on: 8, off: 4 } }],
    engines: BOTH, cycles: 2, desc: 'Store an immediate dword or qword to memory',
  },
  {
    mnemonic: 'MI_LOAD_REGISTER_IMM', client: 'MI', header: 0x11000001, lengthBits: 8, length: { kind: 'pairs' },
    fields: [], regWrites: 'pairs', engines: BOTH, cycles: 1, desc: 'Write immediate values to registers (REGISTER=value pairs)',
  },
  {
    mnemonic: 'MI_STORE_REGISTER_MEM', client: 'MI', header: 0x12000002, lengthBits: 8, length: { kind: 'fixed', dwords: 4 },
    fields: [reg('reg', 1, 'register read'), addr('addr', 2, 'GPU VA written')],
    writes: [{ kind: 'mem', addr: 'addr', bytes: 4 }], engines: BOTH, cycles: 4, desc: 'Store a register to memory',
  },
  {
    mnemonic: 'MI_FLUSH_DW', client: 'MI', header: 0x13000003, lengthBits: 8, length: { kind: 'fixed', dwords: 5 },
    fields: [
      bits('invalidate_tlb', 0, 18, 18, 'invalidate the TLB', { default: 0 }),
      { name: 'post_sync', dw: 0, lo: 14, hi: 15, kind: 'enum', values: POST_SYNC_OPS, desc: 'post-sync operation', default: 0, impliedBy: { field: 'addr', value: 1 } },
      addr('addr', 1, 'post-sync GPU VA (qword aligned)', { required: false }),
      { name: 'data', dw: 3, lo: 0, hi: 63, kind: 'u64', desc: 'post-sync data (qword)' },
    ],
    writes: [{ kind: 'mem', addr: 'addr', bytes: 8, ifNonZero: 'post_sync' }],
    engines: BCS, cycles: 4, desc: 'Flush, optionally invalidate the TLB and write post-sync data',
  },
  {
    mnemonic: 'MI_LOAD_REGISTER_MEM', client: 'MI', header: 0x14800002, lengthBits: 8, length: { kind: 'fixed', dwords: 4 },
    fields: [reg('reg', 1, 'register written'), addr('addr', 2, 'GPU VA read')],
    regWrites: 'reg', engines: BOTH, cycles: 4, desc: 'Load a register from memory',
  },
  {
    mnemonic: 'MI_LOAD_REGISTER_REG', client: 'MI', header: 0x15000001, lengthBits: 8, length: { kind: 'fixed', dwords: 3 },
    fields: [reg('src', 1, 'source register'), reg('dst', 2, 'destination register')],
    regWrites: 'dst', engines: BOTH, cycles: 2, desc: 'Copy one register to another',
  },
  {
    mnemonic: 'MI_COPY_MEM_MEM', client: 'MI', header: 0x17000003, lengthBits: 8, length: { kind: 'fixed', dwords: 5 },
    fields: [addr('dst', 1, 'destination GPU VA'), addr('src', 3, 'source GPU VA')],
    writes: [{ kind: 'mem', addr: 'dst', bytes: 4 }], engines: BOTH, requires: 'ATOMIC_COPY', cycles: 4, desc: 'Copy one dword in memory',
  },
  {
    mnemonic: 'MI_ATOMIC', client: 'MI', header: 0x17800001, lengthBits: 8, length: { kind: 'flag', field: 'inline', on: 11, off: 3 },
    fields: [
      bits('inline', 0, 18, 18, 'inline data (operand in the command)', { default: 0 }),
      { name: 'op', dw: 0, lo: 8, hi: 15, kind: 'enum', values: ATOMIC_OPS, desc: 'atomic operation (dword)', required: true },
      addr('addr', 1, 'GPU VA of the dword'),
      u32('data', 3, 'operand (inline data); without it the operand is CS_GPR0'),
    ],
    writes: [{ kind: 'mem', addr: 'addr', bytes: 4 }], engines: BOTH, requires: 'ATOMIC_COPY', cycles: 4, desc: 'Atomic read-modify-write of a dword',
  },
  {
    mnemonic: 'MI_BATCH_BUFFER_START', client: 'MI', header: 0x18800101, lengthBits: 8, length: { kind: 'fixed', dwords: 3 },
    fields: [
      bits('second_level', 0, 22, 22, 'second-level batch (returns to the calling batch)', { default: 0 }),
      bits('ppgtt', 0, 8, 8, 'address space: 1 = PPGTT', { default: 1 }),
      addr('addr', 1, 'GPU VA of the batch'),
    ],
    implicitRegs: ['BB_ADDR', 'BB_ADDR_UDW'], engines: BOTH, cycles: 2, desc: 'Start a batch buffer',
  },
  {
    mnemonic: 'XY_FAST_COPY_BLT', client: '2D', header: 0x50800008, lengthBits: 8, length: { kind: 'fixed', dwords: 10 },
    fields: srcBlit([
      bits('pitch', 1, 0, 15, 'destination pitch in bytes', { required: true }),
      bits('depth', 1, 24, 26, 'color depth (3 = 32 bpp)', { default: 3 }),
    ]),
    writes: [{ kind: 'rect', addr: 'dst' }], engines: BCS, requires: 'FAST_COPY', cycles: 8, desc: 'Fast copy of a rectangle',
  },
  {
    mnemonic: 'XY_COLOR_BLT', client: '2D', header: 0x54300005, lengthBits: 8, length: { kind: 'fixed', dwords: 7 },
    fields: [writeEnables, ...br13(0xf0), ...rect(2), addr('dst', 4, 'destination surface GPU VA', { pitchField: 'pitch' }), u32('color', 6, 'fill color (ARGB)', { required: true })],
    writes: [{ kind: 'rect', addr: 'dst' }], engines: BCS, cycles: 8, desc: 'Fill a rectangle with a color',
  },
  {
    mnemonic: 'XY_SRC_COPY_BLT', client: '2D', header: 0x54f00008, lengthBits: 8, length: { kind: 'fixed', dwords: 10 },
    fields: [writeEnables, ...srcBlit(br13(0xcc))],
    writes: [{ kind: 'rect', addr: 'dst' }], engines: BCS, cycles: 8, desc: 'Copy a rectangle from a source surface',
  },
  {
    mnemonic: 'PIPE_CONTROL', client: '3D', header: 0x7a000004, lengthBits: 8, length: { kind: 'fixed', dwords: 6 },
    fields: [
      { name: 'post_sync', dw: 1, lo: 14, hi: 15, kind: 'enum', values: POST_SYNC_OPS, desc: 'post-sync operation', required: true },
      addr('addr', 2, 'post-sync GPU VA (qword aligned)'),
      { name: 'data', dw: 4, lo: 0, hi: 63, kind: 'u64', desc: 'post-sync data (qword)' },
    ],
    writes: [{ kind: 'mem', addr: 'addr', bytes: 8, ifNonZero: 'post_sync' }],
    engines: RCS, cycles: 4, desc: 'Pipeline synchronization with a post-sync write',
  },
];

// ---------------------------------------------------------------------------------------------
// Derived decoding: opcode of a header, lookup tables per client, command lengths.

export function clientOf(header: number): number {
  return header >>> 29;
}

export function opcodeOf(client: Client, header: number): number {
  const b = OPCODE_BITS[client];
  return (header >>> b.lo) & ((1 << (b.hi - b.lo + 1)) - 1);
}

const CLIENT_BY_CODE: (Client | undefined)[] = [];
for (const c of Object.keys(CLIENT_CODE) as Client[]) CLIENT_BY_CODE[CLIENT_CODE[c]] = c;

/** Per client code, opcode -> command index. Built from the table; nothing is hand-decoded. */
const LOOKUP: Int16Array[] = [];
for (const c of Object.keys(CLIENT_CODE) as Client[]) {
  const b = OPCODE_BITS[c];
  LOOKUP[CLIENT_CODE[c]] = new Int16Array(1 << (b.hi - b.lo + 1)).fill(-1);
}
COMMANDS.forEach((d, i) => {
  if (clientOf(d.header) !== CLIENT_CODE[d.client]) throw new Error(`${d.mnemonic}: header client mismatch`);
  const t = LOOKUP[CLIENT_CODE[d.client]];
  const op = opcodeOf(d.client, d.header);
  if (t[op] !== -1) throw new Error(`${d.mnemonic}: opcode collides with ${COMMANDS[t[op]].mnemonic}`);
  t[op] = i;
});

/** Per client code (0..7): the opcode's shift and mask, numeric, for the decoder's hot path. */
const OP_SHIFT = new Int32Array(8);
const OP_MASK = new Int32Array(8);
const EMPTY_LOOKUP = new Int16Array(1).fill(-1);
const LOOKUP_BY_CODE: Int16Array[] = [];
for (let code = 0; code < 8; code++) {
  const client = CLIENT_BY_CODE[code];
  LOOKUP_BY_CODE[code] = client === undefined ? EMPTY_LOOKUP : LOOKUP[code];
  if (client !== undefined) {
    OP_SHIFT[code] = OPCODE_BITS[client].lo;
    OP_MASK[code] = (1 << (OPCODE_BITS[client].hi - OPCODE_BITS[client].lo + 1)) - 1;
  }
}

/** Index in COMMANDS of the command a header starts, or -1 for an unknown client/opcode. */
export function commandIndex(header: number): number {
  const code = header >>> 29;
  return LOOKUP_BY_CODE[code][(header >>> OP_SHIFT[code]) & OP_MASK[code]];
}

/**
 * Per command index, what the hot path needs to check a header's length without the generic
 * `declaredLength`: the length field mask (0: none), and the expected total (0: variable).
 */
export const LENGTH_MASK = Int32Array.from(COMMANDS, (d) => (d.lengthBits ? (1 << d.lengthBits) - 1 : 0));
export const FIXED_LENGTH = Int32Array.from(COMMANDS, (d) => (d.length.kind === 'fixed' ? d.length.dwords : 0));
/** For commands whose length a header flag selects: the flag's bit (-1: none), and the two lengths. */
export const FLAG_BIT = Int8Array.from(COMMANDS, (d) => (d.length.kind === 'flag' ? d.fields.find((f) => f.name === (d.length as { field: string }).field)!.lo : -1));
export const FLAG_ON = Int32Array.from(COMMANDS, (d) => (d.length.kind === 'flag' ? d.length.on : 0));
export const FLAG_OFF = Int32Array.from(COMMANDS, (d) => (d.length.kind === 'flag' ? d.length.off : 0));
/** 1 for commands of (register, value) pairs: an odd DWord Length means 1 + 2n dwords. */
export const PAIRS = Uint8Array.from(COMMANDS, (d) => (d.length.kind === 'pairs' ? 1 : 0));

export function commandByMnemonic(m: string): CommandDef | undefined {
  return BY_MNEMONIC.get(m.toUpperCase());
}
const BY_MNEMONIC = new Map(COMMANDS.map((d) => [d.mnemonic, d]));

const FIELDS_BY_NAME = new Map<CommandDef, Map<string, CmdField>>(COMMANDS.map((d) => [d, new Map(d.fields.map((f) => [f.name, f]))]));

export function fieldByName(def: CommandDef, name: string): CmdField | undefined {
  const m = FIELDS_BY_NAME.get(def);
  return m ? (m.get(name) ?? m.get(name.toLowerCase())) : def.fields.find((f) => f.name === name.toLowerCase());
}

/** A field's value in a command's dwords (addresses as 48-bit numbers); 0 when absent at this length. */
export function fieldNum(def: CommandDef, dw: ArrayLike<number>, len: number, name: string): number {
  return fieldValue(fieldByName(def, name)!, dw, len);
}

/** fieldNum for a field already looked up (the hot paths resolve their fields once). */
export function fieldValue(f: CmdField, dw: ArrayLike<number>, len: number): number {
  if (f.dw >= len) return 0;
  const lo = dw[f.dw] >>> 0;
  if (f.kind === 'addr') return lo + (f.dw + 1 < len ? (dw[f.dw + 1] & 0xffff) * 0x100000000 : 0);
  if (f.kind === 'reg') return lo & REG_OFFSET_MASK;
  const w = f.hi - f.lo + 1;
  return w >= 32 ? lo : (lo >>> f.lo) & ((1 << w) - 1);
}

/**
 * The command parser's prediction, from the table's write specs: every guest memory range (GPU VA,
 * bytes, required alignment) the command will write, in write order; a store must be aligned to its
 * size, a blit gives one 4-byte-aligned range per destination row. `emit` returns false to stop early. The engine translates these through its TLB before executing; the
 * debugger walks them uncached for display.
 */
export function writeRanges(def: CommandDef, dw: ArrayLike<number>, len: number, emit: (va: number, bytes: number, align: number) => boolean): void {
  const plan = WRITE_PLANS.get(def);
  if (plan === undefined) return;
  for (let i = 0; i < plan.length; i++) {
    const w = plan[i];
    if (w.rect === null) {
      if (w.ifNonZero !== null && fieldValue(w.ifNonZero, dw, len) === 0) continue;
      const bytes = w.flag === null ? w.on : fieldValue(w.flag, dw, len) ? w.on : w.off;
      if (!emit(fieldValue(w.addr, dw, len), bytes, bytes)) return;
    } else {
      const g = blitGeometry(def, dw, len, w.addr.name);
      if (g.w > 0) for (let y = g.y1; y < g.y1 + g.h; y++) if (!emit(g.dst + y * g.pitch + g.x1 * 4, g.w * 4, 4)) return;
    }
  }
}

/** The write specs with their fields resolved once per command (writeRanges runs before every store). */
interface WritePlan {
  readonly addr: CmdField;
  readonly rect: true | null;
  readonly flag: CmdField | null;
  readonly on: number;
  readonly off: number;
  readonly ifNonZero: CmdField | null;
}

const WRITE_PLANS = new Map<CommandDef, WritePlan[]>();
for (const d of COMMANDS) {
  if (!d.writes) continue;
  const f = (n: string) => fieldByName(d, n)!;
  WRITE_PLANS.set(d, d.writes.map((w): WritePlan => w.kind === 'rect'
    ? { addr: f(w.addr), rect: true, flag: null, on: 0, off: 0, ifNonZero: null }
    : {
        addr: f(w.addr), rect: null, ifNonZero: w.ifNonZero !== undefined ? f(w.ifNonZero) : null,
        flag: typeof w.bytes === 'number' ? null : f(w.bytes.flag),
        on: typeof w.bytes === 'number' ? w.bytes : w.bytes.on, off: typeof w.bytes === 'number' ? w.bytes : w.bytes.off,
      }));
}

export interface BlitGeometry {
  readonly dst: number;
  readonly pitch: number;
  readonly x1: number;
  readonly y1: number;
  /** Width and height; x2/y2 are exclusive, so an empty or inverted rectangle has w or h <= 0. */
  readonly w: number;
  readonly h: number;
}

/** Destination rectangle of a blit (32 bpp), from BR13 and the rectangle fields. */
export function blitGeometry(def: CommandDef, dw: ArrayLike<number>, len: number, addrField: string): BlitGeometry {
  const x1 = fieldNum(def, dw, len, 'x1');
  const y1 = fieldNum(def, dw, len, 'y1');
  return {
    dst: fieldNum(def, dw, len, addrField),
    pitch: fieldNum(def, dw, len, 'pitch'),
    x1,
    y1,
    w: fieldNum(def, dw, len, 'x2') - x1,
    h: fieldNum(def, dw, len, 'y2') - y1,
  };
}

function bitsOf(value: number, lo: number, hi: number): number {
  const w = hi - lo + 1;
  return w >= 32 ? value >>> 0 : (value >>> lo) & ((1 << w) - 1);
}

/**
 * The length in dwords a header declares, or a reason it is malformed. For commands without a length
 * field this is the fixed length.
 */
export function declaredLength(def: CommandDef, header: number): number | string {
  const len = def.lengthBits ? (header & ((1 << def.lengthBits) - 1)) + 2 : 1;
  const rule = def.length;
  let expected: number;
  if (rule.kind === 'fixed') expected = rule.dwords;
  else if (rule.kind === 'flag') {
    const f = fieldByName(def, rule.field)!;
    expected = bitsOf(header, f.lo, f.hi) ? rule.on : rule.off;
  } else {
    if (len < 3 || len % 2 === 0) return `${def.mnemonic} needs an odd length of at least 3 dwords, header says ${len}`;
    return len;
  }
  if (len !== expected) return `${def.mnemonic} is ${expected} dwords, header DWord Length says ${len}`;
  return len;
}

// ---------------------------------------------------------------------------------------------
// Generic field access (used off the hot path: disassembler, assembler, debugger views, parser).

export function readField(dw: ArrayLike<number>, base: number, len: number, f: CmdField): bigint {
  if (f.dw >= len) return 0n;
  const lo = dw[base + f.dw] >>> 0;
  switch (f.kind) {
    case 'addr':
      return BigInt(lo) | (f.dw + 1 < len ? BigInt(dw[base + f.dw + 1] & 0xffff) << 32n : 0n);
    case 'u64':
      return BigInt(lo) | (f.dw + 1 < len ? BigInt(dw[base + f.dw + 1] >>> 0) << 32n : 0n);
    case 'reg':
      return BigInt(lo & REG_OFFSET_MASK);
    default:
      return BigInt(bitsOf(lo, f.lo, f.hi));
  }
}

/** Number-valued read for addresses and fields (48-bit addresses fit a double exactly). */
export function readFieldNum(dw: ArrayLike<number>, base: number, len: number, f: CmdField): number {
  return Number(readField(dw, base, len, f));
}

export interface DecodedCommand {
  readonly def: CommandDef;
  readonly length: number;
  /** Field values by name (only fields present at this length). */
  readonly fields: ReadonlyMap<string, bigint>;
  /** MI_LOAD_REGISTER_IMM (register offset, value) pairs. */
  readonly pairs: readonly (readonly [number, number])[];
}

/** Decodes the command at dw[base]; undefined for unknown opcode or bad length (raw dwords then). */
export function decodeCommand(dw: ArrayLike<number>, base = 0, available = dw.length - base): DecodedCommand | string {
  const header = dw[base] >>> 0;
  const idx = commandIndex(header);
  if (idx < 0) return `unknown command header 0x${header.toString(16).padStart(8, '0')}`;
  const def = COMMANDS[idx];
  const len = declaredLength(def, header);
  if (typeof len === 'string') return len;
  if (len > available) return `${def.mnemonic} needs ${len} dwords, only ${available} available`;
  const fields = new Map<string, bigint>();
  for (const f of def.fields) if (f.dw < len) fields.set(f.name, readField(dw, base, len, f));
  const pairs: [number, number][] = [];
  if (def.length.kind === 'pairs') for (let i = 1; i + 1 < len; i += 2) pairs.push([dw[base + i] & REG_OFFSET_MASK, dw[base + i + 1] >>> 0]);
  return { def, length: len, fields, pairs };
}

export class EncodeError extends Error {}

/**
 * Encodes a command from field values (bigint). Fields not given take their default (or the
 * value implied by another field); missing required fields are an EncodeError. The length follows
 * the command's length rule.
 */
export function encodeCommand(def: CommandDef, given: ReadonlyMap<string, bigint>, pairs: readonly (readonly [number, number])[] = []): number[] {
  const values = new Map<string, bigint>();
  for (const f of def.fields) {
    let v = given.get(f.name);
    if (v === undefined && f.impliedBy && given.has(f.impliedBy.field)) v = BigInt(f.impliedBy.value);
    if (v === undefined && f.required) throw new EncodeError(`${def.mnemonic} needs ${f.name}=`);
    values.set(f.name, v ?? BigInt(f.default ?? 0));
  }
  for (const k of given.keys()) if (!def.fields.some((f) => f.name === k)) throw new EncodeError(`${def.mnemonic} has no field '${k}'`);
  // Length rule: a flag-selected length sets its flag when the long form's extra fields are given.
  let len: number;
  const rule = def.length;
  if (rule.kind === 'fixed') len = rule.dwords;
  else if (rule.kind === 'pairs') {
    if (pairs.length === 0) throw new EncodeError(`${def.mnemonic} needs at least one REGISTER=value pair`);
    len = 1 + 2 * pairs.length;
  } else {
    const longOnly = def.fields.filter((f) => f.dw >= rule.off);
    const wantsLong = !!given.get(rule.field) || longOnly.some((f) => given.has(f.name));
    values.set(rule.field, wantsLong ? 1n : 0n);
    len = wantsLong ? rule.on : rule.off;
  }
  const out = new Array<number>(len).fill(0);
  out[0] = def.header;
  if (def.lengthBits) {
    const mask = (1 << def.lengthBits) - 1;
    if (len - 2 > mask) throw new EncodeError(`${def.mnemonic} is too long (${len} dwords)`);
    out[0] = ((out[0] & ~mask) | (len - 2)) >>> 0;
  }
  for (const f of def.fields) {
    const v = values.get(f.name)!;
    if (f.dw >= len) {
      if (given.has(f.name) && v !== 0n) throw new EncodeError(`${def.mnemonic} field ${f.name} needs the long form`);
      continue;
    }
    putField(out, len, f, v, def.mnemonic);
  }
  if (rule.kind === 'pairs') pairs.forEach(([r, v], i) => {
    out[1 + 2 * i] = r & REG_OFFSET_MASK;
    out[2 + 2 * i] = v >>> 0;
  });
  return out.map((x) => x >>> 0);
}

function putField(out: number[], len: number, f: CmdField, v: bigint, mnemonic: string): void {
  const fail = (what: string) => new EncodeError(`${mnemonic} ${f.name}=0x${v.toString(16)} ${what}`);
  if (v < 0n) throw fail('is negative');
  switch (f.kind) {
    case 'addr':
      if (v >= 1n << 48n) throw fail('does not fit a 48-bit address');
      out[f.dw] = Number(v & 0xffffffffn);
      out[f.dw + 1] = (out[f.dw + 1] & ~0xffff) | Number(v >> 32n);
      return;
    case 'u64': {
      const room = f.dw + 1 < len ? 64n : 32n;
      if (v >= 1n << room) throw fail(`does not fit ${room} bits`);
      out[f.dw] = Number(v & 0xffffffffn);
      if (room === 64n) out[f.dw + 1] = Number(v >> 32n);
      return;
    }
    case 'reg':
      if (v > BigInt(REG_OFFSET_MASK) || v % 4n !== 0n) throw fail('is not a dword-aligned register offset below 8 MiB');
      out[f.dw] = (out[f.dw] & ~REG_OFFSET_MASK) | Number(v);
      return;
    default: {
      const w = BigInt(f.hi - f.lo + 1);
      if (v >= 1n << w) throw fail(`does not fit ${w} bits`);
      const mask = Number(((1n << w) - 1n) << BigInt(f.lo)) >>> 0;
      out[f.dw] = ((out[f.dw] & ~mask) | (Number(v) << f.lo)) >>> 0;
    }
  }
}

/** Bit mask of MI opcodes (etc.) of the commands a version accepts: OPCAP register values. */
export function opcodeMask(client: Client, accepts: (d: CommandDef) => boolean): bigint {
  let m = 0n;
  for (const d of COMMANDS) {
    if (d.client !== client || !accepts(d)) continue;
    m |= 1n << BigInt(client === '3D' ? 0 : opcodeOf(client, d.header));
  }
  return m;
}
