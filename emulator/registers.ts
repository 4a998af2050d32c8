// The register table (SPEC section 2): every MMIO register declared once, as data, with its fields and
// access rules. MMIO decode, the register bank, pretty-printing and the debugger's views derive from it.

import { FEATURES, GENCAP_DEPTH, GENCAP_RING_PAGES } from './capabilities';

export type EngineName = 'rcs0' | 'bcs0';
export const ENGINES: readonly EngineName[] = ['rcs0', 'bcs0'];
export const ENGINE_BASE: Readonly<Record<EngineName, number>> = { rcs0: 0x02000, bcs0: 0x22000 };
/** Size of an engine's register window. */
export const ENGINE_WINDOW = 0x1000;
export const CAP_BASE = 0x100000;

/**
 * ro: nobody writes it (the device updates it); rw: driver writes it; cmd: driver and commands
 * of the owning engine write it (the command scanner's allow-list); priv: driver only, and it is
 * a VMM-level control (EPT view).
 */
export type Access = 'ro' | 'rw' | 'cmd' | 'priv';
export type RegScope = 'engine' | 'device' | 'cap';

export interface FieldDef {
  readonly name: string;
  readonly lo: number;
  readonly hi: number;
  readonly desc: string;
  readonly values?: Readonly<Record<number, string>>;
}

export interface RegDef {
  readonly name: string;
  /** Offset within the engine window (engine scope), BAR0 (device) or the capability block (cap). */
  readonly offset: number;
  readonly width: 32 | 64;
  readonly access: Access;
  readonly scope: RegScope;
  readonly reset: number;
  readonly desc: string;
  readonly fields: readonly FieldDef[];
}

export const FAULT_KINDS = [
  'invalid-command',
  'page-fault',
  'ept-violation',
  'isolation-violation',
  'privileged-register',
  'hang',
] as const;
export type GpuErrorKind = (typeof FAULT_KINDS)[number];

/** FAULT_STATUS.KIND code of an error kind (1-based; 0 means none). */
export function faultKindCode(kind: GpuErrorKind): number {
  return FAULT_KINDS.indexOf(kind) + 1;
}

const f = (name: string, lo: number, hi: number, desc: string, values?: Record<number, string>): FieldDef => ({
  name,
  lo,
  hi,
  desc,
  values,
});

function engineRegs(): RegDef[] {
  const regs: RegDef[] = [
    {
      name: 'RING_TAIL', offset: 0x030, width: 32, access: 'rw', scope: 'engine', reset: 0,
      desc: 'Ring tail: the driver writes it to submit the commands before this offset',
      fields: [f('OFFSET', 2, 20, 'byte offset of the tail in the ring, dword aligned')],
    },
    {
      name: 'RING_HEAD', offset: 0x034, width: 32, access: 'rw', scope: 'engine', reset: 0,
      desc: 'Ring head: offset of the next ring command the engine fetches',
      fields: [f('OFFSET', 2, 20, 'byte offset of the head in the ring'), f('WRAP_COUNT', 21, 31, 'times the head wrapped to 0')],
    },
    {
      name: 'RING_START', offset: 0x038, width: 32, access: 'rw', scope: 'engine', reset: 0,
      desc: 'GPU VA of the ring buffer (page aligned, below 4 GiB)',
      fields: [f('ADDRESS', 12, 31, 'ring start address bits 31:12')],
    },
    {
      name: 'RING_CTL', offset: 0x03c, width: 32, access: 'rw', scope: 'engine', reset: 0,
      desc: 'Ring control: enable and length',
      fields: [f('ENABLE', 0, 0, 'ring enabled'), f('LENGTH', 12, 20, 'ring length in pages minus one')],
    },
    {
      name: 'ACTHD_UDW', offset: 0x05c, width: 32, access: 'ro', scope: 'engine', reset: 0,
      desc: 'Active head, upper dword: GPU VA bits 47:32 of the command being executed',
      fields: [f('ADDRESS', 0, 15, 'address bits 47:32')],
    },
    {
      name: 'ACTHD', offset: 0x074, width: 32, access: 'ro', scope: 'engine', reset: 0,
      desc: 'Active head: GPU VA bits 31:0 of the command being executed',
      fields: [f('ADDRESS', 0, 31, 'address bits 31:0')],
    },
    {
      name: 'BB_ADDR', offset: 0x140, width: 32, access: 'ro', scope: 'engine', reset: 0,
      desc: 'Current batch buffer GPU VA bits 31:0',
      fields: [f('ADDRESS', 0, 31, 'address bits 31:0')],
    },
    {
      name: 'BB_ADDR_UDW', offset: 0x168, width: 32, access: 'ro', scope: 'engine', reset: 0,
      desc: 'Current batch buffer GPU VA bits 47:32',
      fields: [f('ADDRESS', 0, 15, 'address bits 47:32')],
    },
    {
      name: 'HWS_PGA', offset: 0x080, width: 32, access: 'rw', scope: 'engine', reset: 0,
      desc: "Hardware status page address: global GTT address of the engine's 4 KiB status page (MI_STORE_DATA_INDEX, MI_REPORT_HEAD)",
      fields: [f('ADDRESS', 12, 31, 'GGTT address bits 31:12')],
    },
    {
      name: 'PDP0_LDW', offset: 0x270, width: 32, access: 'rw', scope: 'engine', reset: 0,
      desc: "PPGTT root (PML4) guest physical address, lower dword (i915's GEN8_RING_PDP_LDW)",
      fields: [f('ADDRESS', 12, 31, 'GPA bits 31:12')],
    },
    {
      name: 'PDP0_UDW', offset: 0x274, width: 32, access: 'rw', scope: 'engine', reset: 0,
      desc: "PPGTT root (PML4) guest physical address, upper dword (i915's GEN8_RING_PDP_UDW)",
      fields: [f('ADDRESS', 0, 19, 'GPA bits 51:32')],
    },
    {
      name: 'MI_PREDICATE_RESULT_2', offset: 0x3bc, width: 32, access: 'cmd', scope: 'engine', reset: 0,
      desc: 'Predicate result 2: MI_SET_PREDICATE\'s "NOOP on result2" modes test bit 0',
      fields: [f('RESULT', 0, 0, 'result 2')],
    },
    { name: 'MI_PREDICATE_SRC0', offset: 0x400, width: 32, access: 'cmd', scope: 'engine', reset: 0, desc: 'MI_PREDICATE source 0, low dword', fields: [] },
    { name: 'MI_PREDICATE_SRC0_UDW', offset: 0x404, width: 32, access: 'cmd', scope: 'engine', reset: 0, desc: 'MI_PREDICATE source 0, high dword', fields: [] },
    { name: 'MI_PREDICATE_SRC1', offset: 0x408, width: 32, access: 'cmd', scope: 'engine', reset: 0, desc: 'MI_PREDICATE source 1, low dword', fields: [] },
    { name: 'MI_PREDICATE_SRC1_UDW', offset: 0x40c, width: 32, access: 'cmd', scope: 'engine', reset: 0, desc: 'MI_PREDICATE source 1, high dword', fields: [] },
    {
      name: 'MI_PREDICATE_DATA', offset: 0x410, width: 32, access: 'cmd', scope: 'engine', reset: 0,
      desc: 'MI_PREDICATE delta data (SRC0 - SRC1 at the last DELTAS_EQUAL compare), low dword', fields: [],
    },
    { name: 'MI_PREDICATE_DATA_UDW', offset: 0x414, width: 32, access: 'cmd', scope: 'engine', reset: 0, desc: 'MI_PREDICATE delta data, high dword', fields: [] },
    {
      name: 'MI_PREDICATE_RESULT', offset: 0x418, width: 32, access: 'cmd', scope: 'engine', reset: 0,
      desc: 'Result of MI_PREDICATE: a predicated 3DPRIMITIVE, GPGPU_WALKER or MI_BATCH_BUFFER_START runs only when bit 0 is set',
      fields: [f('RESULT', 0, 0, 'predicate result')],
    },
    {
      name: 'MI_PREDICATE_RESULT_1', offset: 0x41c, width: 32, access: 'cmd', scope: 'engine', reset: 0,
      desc: 'Predicate result 1: MI_SET_PREDICATE\'s "NOOP on result" modes test bit 0',
      fields: [f('RESULT', 0, 0, 'result 1')],
    },
    {
      name: 'TIMESTAMP', offset: 0x358, width: 32, access: 'ro', scope: 'engine', reset: 0,
      desc: 'Engine cycle counter',
      fields: [f('CYCLES', 0, 31, 'cycles executed by this engine')],
    },
    {
      name: 'EPT_VIEW', offset: 0x3f0, width: 32, access: 'priv', scope: 'engine', reset: 0,
      desc: 'EPT view the engine runs under (privileged)',
      fields: [f('VIEW', 0, 0, 'EPT view', { 0: 'full', 1: 'restricted' })],
    },
  ];
  for (let n = 0; n < 16; n++) {
    regs.push({
      name: `CS_GPR${n}`, offset: 0x600 + 8 * n, width: 32, access: 'cmd', scope: 'engine', reset: 0,
      desc: `General purpose register ${n}, low dword`, fields: [],
    });
    regs.push({
      name: `CS_GPR${n}_UDW`, offset: 0x604 + 8 * n, width: 32, access: 'cmd', scope: 'engine', reset: 0,
      desc: `General purpose register ${n}, high dword`, fields: [],
    });
  }
  return regs;
}

const ENGINE_CODES: Record<number, string> = { 0: 'rcs0', 1: 'bcs0' };
const KIND_CODES: Record<number, string> = Object.fromEntries(FAULT_KINDS.map((k, i) => [i + 1, k]));

const DEVICE_REGS: RegDef[] = [
  {
    name: 'FAULT_ADDR_LO', offset: 0x4400, width: 32, access: 'ro', scope: 'device', reset: 0,
    desc: 'Faulting address bits 31:0 (GPU VA, or GPA for EPT errors)', fields: [f('ADDRESS', 0, 31, 'address bits 31:0')],
  },
  {
    name: 'FAULT_ADDR_HI', offset: 0x4404, width: 32, access: 'ro', scope: 'device', reset: 0,
    desc: 'Faulting address bits 63:32', fields: [f('ADDRESS', 0, 31, 'address bits 63:32')],
  },
  {
    name: 'FAULT_STATUS', offset: 0x4408, width: 32, access: 'rw', scope: 'device', reset: 0,
    desc: 'Fault status; the driver writes 0 to clear',
    fields: [f('VALID', 0, 0, 'a fault is recorded'), f('KIND', 4, 7, 'error kind', KIND_CODES), f('ENGINE', 8, 11, 'faulting engine', ENGINE_CODES)],
  },
];

// The global GTT (gen8+ GGTT): a flat table of 64-bit PTEs (bit 0 present, bits 47:12 the GPA) in guest
// RAM, one entry per 4 KiB of the GGTT address space. Privileged batches, rings and the status pages use it.
DEVICE_REGS.push(
  {
    name: 'GGTT_BASE_LO', offset: 0x4420, width: 32, access: 'rw', scope: 'device', reset: 0,
    desc: 'Global GTT: guest physical address of its PTE table, bits 31:12', fields: [f('ADDRESS', 12, 31, 'GPA bits 31:12')],
  },
  {
    name: 'GGTT_BASE_HI', offset: 0x4424, width: 32, access: 'rw', scope: 'device', reset: 0,
    desc: 'Global GTT: guest physical address of its PTE table, bits 51:32', fields: [f('ADDRESS', 0, 19, 'GPA bits 51:32')],
  },
  {
    name: 'GGTT_ENTRIES', offset: 0x4428, width: 32, access: 'rw', scope: 'device', reset: 0,
    desc: 'Global GTT: number of PTEs (the GGTT spans ENTRIES x 4 KiB; 0 = no GGTT)', fields: [f('ENTRIES', 0, 31, 'PTE count')],
  },
);

const CAP_REGS: RegDef[] = [
  { name: 'VERSION', offset: 0x00, width: 32, access: 'ro', scope: 'cap', reset: 0, desc: 'Exposed device version', fields: [f('VERSION', 0, 7, 'device version')] },
  {
    name: 'GENCAP', offset: 0x08, width: 64, access: 'ro', scope: 'cap', reset: 0, desc: 'Generation capabilities',
    fields: [
      ...FEATURES.map((d) => f(d.name, d.bit, d.bit, d.desc)),
      f('MAX_BATCH_DEPTH', GENCAP_DEPTH.lo, GENCAP_DEPTH.hi, 'maximum batch nesting depth'),
      f('MAX_RING_PAGES', GENCAP_RING_PAGES.lo, GENCAP_RING_PAGES.hi, 'maximum ring size in pages'),
    ],
  },
  { name: 'ENGCAP', offset: 0x10, width: 64, access: 'ro', scope: 'cap', reset: 0, desc: 'Engines present', fields: [f('RCS0', 0, 0, 'render engine'), f('BCS0', 1, 1, 'blitter engine')] },
  { name: 'OPCAP_MI', offset: 0x20, width: 64, access: 'ro', scope: 'cap', reset: 0, desc: 'Bit n: MI opcode n accepted', fields: [] },
  { name: 'OPCAP_2D_LO', offset: 0x28, width: 64, access: 'ro', scope: 'cap', reset: 0, desc: 'Bit n: 2D opcode n accepted (n < 64)', fields: [] },
  { name: 'OPCAP_2D_HI', offset: 0x30, width: 64, access: 'ro', scope: 'cap', reset: 0, desc: 'Bit n-64: 2D opcode n accepted (n >= 64)', fields: [] },
  { name: 'OPCAP_3D', offset: 0x38, width: 64, access: 'ro', scope: 'cap', reset: 0, desc: 'Bit 0: PIPE_CONTROL accepted', fields: [f('PIPE_CONTROL', 0, 0, 'PIPE_CONTROL')] },
];

export const ENGINE_REGS: readonly RegDef[] = engineRegs();
export const DEVICE_REG_DEFS: readonly RegDef[] = DEVICE_REGS;
export const CAP_REG_DEFS: readonly RegDef[] = CAP_REGS;

// ---------------------------------------------------------------------------------------------
// Register instances: the table instantiated per engine, with a dword slot each in the register bank.

export interface RegInstance {
  readonly def: RegDef;
  /** Full name: `rcs0.RING_TAIL`, `FAULT_STATUS`, `GENCAP`. */
  readonly name: string;
  readonly engine: EngineName | null;
  /** BAR0 offset of the low dword. */
  readonly mmio: number;
  /** Slot of the low dword in the bank (the high dword of a 64-bit register is slot + 1). */
  readonly slot: number;
}

function buildInstances(): RegInstance[] {
  const out: RegInstance[] = [];
  let slot = 0;
  const add = (def: RegDef, engine: EngineName | null, mmio: number, name: string) => {
    out.push({ def, name, engine, mmio, slot });
    slot += def.width / 32;
  };
  for (const e of ENGINES) for (const d of ENGINE_REGS) add(d, e, ENGINE_BASE[e] + d.offset, `${e}.${d.name}`);
  for (const d of DEVICE_REGS) add(d, null, d.offset, d.name);
  for (const d of CAP_REGS) add(d, null, CAP_BASE + d.offset, d.name);
  return out;
}

export const REGISTERS: readonly RegInstance[] = buildInstances();
export const SLOT_COUNT = REGISTERS.reduce((n, r) => n + r.def.width / 32, 0);

const byMmio = new Map<number, { reg: RegInstance; dword: number }>();
for (const r of REGISTERS) for (let d = 0; d < r.def.width / 32; d++) byMmio.set(r.mmio + 4 * d, { reg: r, dword: d });
const byName = new Map<string, RegInstance>();
for (const r of REGISTERS) byName.set(r.name.toUpperCase(), r);

/** The register (and which of its dwords) at a BAR0 offset, or undefined for an unimplemented offset. */
export function regAt(mmio: number): { reg: RegInstance; dword: number } | undefined {
  return byMmio.get(mmio);
}

/**
 * Resolves a register name as the language writes it: `bcs0.CS_GPR0`, or `CS_GPR0` meaning the
 * given default engine's register, or a device/capability register name. Case-insensitive.
 */
export function regByName(name: string, defaultEngine: EngineName = 'rcs0'): RegInstance | undefined {
  const n = name.toUpperCase();
  return byName.get(n) ?? byName.get(`${defaultEngine}.${n}`.toUpperCase());
}

/** The slot of an engine register by its table name, for the device model's own hot-path accesses. */
export function engineSlot(engine: EngineName, name: string): number {
  const r = byName.get(`${engine}.${name}`.toUpperCase());
  if (!r) throw new Error(`no register ${engine}.${name} in the register table`);
  return r.slot;
}

export function deviceSlot(name: string): number {
  const r = byName.get(name.toUpperCase());
  if (!r || r.engine) throw new Error(`no device register ${name} in the register table`);
  return r.slot;
}

/** A register's short name for display with an engine context: `CS_GPR0` on its own engine, else `bcs0.CS_GPR0`. */
export function regDisplayName(r: RegInstance, contextEngine?: EngineName): string {
  if (r.engine && r.engine === contextEngine) return r.def.name;
  return r.name;
}

export function fieldValue(value: number, fd: FieldDef): number {
  const width = fd.hi - fd.lo + 1;
  if (width >= 32) return value >>> 0;
  return (value >>> fd.lo) & ((1 << width) - 1) >>> 0;
}

export function fieldMask(fd: FieldDef): number {
  const width = fd.hi - fd.lo + 1;
  return width >= 32 ? 0xffffffff : (((1 << width) - 1) << fd.lo) >>> 0;
}

/** Names usable as register operands, for the grammar, completion and hover. */
export function registerNames(): string[] {
  const names = new Set<string>();
  for (const d of ENGINE_REGS) names.add(d.name);
  for (const d of DEVICE_REGS) names.add(d.name);
  for (const d of CAP_REGS) names.add(d.name);
  return [...names];
}
