// Checking saved VM state (checkpoint files, VM transfer streams) before any of it is applied: every
// field's type and limits, and every position that becomes a host address (ring GPAs, TLB entries,
// snapshot pages) inside this VM's guest RAM. A forged section is refused with the place it failed.

import { MAX_CAPTURE_BYTES } from './capture';
import { COMMANDS, MAX_COMMAND_DWORDS } from './commands';
import {
  ENGINES,
  FAULT_KINDS,
  REGISTERS,
  type SavedRegisters,
  registerNamed,
  restoreRegisters,
  ringBytesOf,
} from './registers';
import { PAGE_SIZE } from './memory';
import { RAM_HPA } from './vm';
import type { Vm } from './vm';

/** A refusal: `path` names the field (`state.engines[0].tlb[3]`), `message` what is wrong with it. */
export class StateCheckError extends Error {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`${path}: ${why}`);
  }
}

type Check = (v: unknown, path: string) => void;

const fail = (path: string, why: string): never => {
  throw new StateCheckError(path, why);
};
const show = (v: unknown) =>
  v === undefined
    ? 'absent'
    : v === null
      ? 'null'
      : typeof v === 'object'
        ? Array.isArray(v)
          ? 'an array'
          : 'an object'
        : JSON.stringify(v)?.slice(0, 40);

export const int =
  (min: number, max: number): Check =>
  (v, p) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      fail(p, `${show(v)} is not an integer in ${min}..${max}`);
  };
export const num: Check = (v, p) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(p, `${show(v)} is not a number`);
};
export const bool: Check = (v, p) => {
  if (typeof v !== 'boolean') fail(p, `${show(v)} is not true or false`);
};
export const str =
  (max: number): Check =>
  (v, p) => {
    if (typeof v !== 'string') fail(p, `${show(v)} is not a string`);
    else if (v.length > max) fail(p, `a string of ${v.length} characters (at most ${max})`);
  };
export const oneOf =
  (values: readonly unknown[]): Check =>
  (v, p) => {
    if (!values.includes(v)) fail(p, `${show(v)} is not one of ${values.join(', ')}`);
  };
export const nullable =
  (c: Check): Check =>
  (v, p) => {
    if (v !== null) c(v, p);
  };
export const optional =
  (c: Check): Check =>
  (v, p) => {
    if (v !== undefined) c(v, p);
  };
export const array =
  (c: Check, max: number, exact?: number): Check =>
  (v, p) => {
    if (!Array.isArray(v)) return fail(p, `${show(v)} is not a list`);
    if (exact !== undefined && v.length !== exact) fail(p, `${v.length} entries (this VM has ${exact})`);
    if (v.length > max) fail(p, `${v.length} entries (at most ${max})`);
    for (let i = 0; i < v.length; i++) c(v[i], `${p}[${i}]`);
  };
export const object =
  (fields: Readonly<Record<string, Check>>): Check =>
  (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(p, `${show(v)} is not an object`);
    for (const [k, c] of Object.entries(fields)) c((v as Record<string, unknown>)[k], `${p}.${k}`);
  };

const U32 = int(0, 0xffffffff);
const COUNT = int(0, Number.MAX_SAFE_INTEGER);
const VA = int(-(2 ** 48), 2 ** 48);
const GEN = int(1, 3);
const ENGINE = oneOf(ENGINES);
/** Entries a list in saved state may hold whatever the program (errors and snapshots are bounded by the run). */
const MAX_LIST = 1 << 22;
const TLB_SLOTS = 4096;

export const META: Check = object({
  exposedVersion: GEN,
  hostGen: GEN,
  step: optional(COUNT),
  commands: optional(COUNT),
});

/** The image fields vmFromSections reads before it rebuilds the image from its source. */
export const IMAGE_HEAD: Check = object({
  file: str(4096),
  source: str(4 * 1024 * 1024),
  memory: int(PAGE_SIZE, 2 ** 46),
  physBits: int(32, 46),
  // a capture file, base64 (captures are read whole; the largest the CLI opens)
  capture: optional(str(Math.ceil((MAX_CAPTURE_BYTES * 4) / 3) + 4)),
});

/** A record keyed by command names of the table (counts, pipeline state): names known, values checked. */
const byCommand =
  (names: ReadonlySet<string>, c: Check): Check =>
  (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(p, `${show(v)} is not an object`);
    const keys = Object.keys(v);
    if (keys.length > names.size) fail(p, `${keys.length} entries (the table has ${names.size} commands)`);
    for (const k of keys) {
      if (!names.has(k)) fail(`${p}.${k}`, 'is not a command of the table');
      c((v as Record<string, unknown>)[k], `${p}.${k}`);
    }
  };
const COMMAND_NAMES = new Set(COMMANDS.map((d) => d.mnemonic));
const STATE_NAMES = new Set(COMMANDS.filter((d) => d.execution === 'state').map((d) => d.mnemonic));
const DWORDS = array(U32, MAX_COMMAND_DWORDS);

/** A later generation's skipped commands by name (engine.ts skipForeign): bounded names and counts. */
const FOREIGN: Check = (v, p) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(p, `${show(v)} is not an object`);
  const keys = Object.keys(v);
  if (keys.length > 1 << 16) fail(p, `${keys.length} entries`);
  for (const k of keys) {
    if (k.length > 256) fail(`${p}.${k.slice(0, 40)}...`, 'names a command in more than 256 characters');
    COUNT((v as Record<string, unknown>)[k], `${p}.${k}`);
  }
};

const ENGINE_STATE = (driverOps: number) =>
  object({
    depth: int(0, 8),
    bb: array(VA, 8, 8),
    bbSpace: optional(array(int(0, 1), 8, 8)),
    cycles: COUNT,
    halted: bool,
    semPolls: COUNT,
    signalled: optional(bool),
    subCommands: COUNT,
    curSub: int(-1, driverOps - 1),
    subs: array(object({ op: int(0, driverOps - 1), end: COUNT }), driverOps),
    tlb: array(num, 3 * TLB_SLOTS),
    ggttTlb: optional(array(num, 3 * TLB_SLOTS)),
    setPredicate: optional(int(0, 15)),
    arbitration: optional(int(0, 1)),
    retired: optional(COUNT),
    counts: optional(byCommand(COMMAND_NAMES, COUNT)),
    notEmulated: optional(byCommand(COMMAND_NAMES, COUNT)),
    pipeline: optional(
      byCommand(STATE_NAMES, object({ dwords: DWORDS, previous: nullable(DWORDS), at: COUNT, va: VA })),
    ),
    lastDraw: optional(COUNT),
    foreign: optional(FOREIGN),
  });

/** A register by its table name; a name this vgpu's table lacks is refused, never guessed at. */
const REGISTER_NAME: Check = (v, p) => {
  if (typeof v !== 'string') return fail(p, `${show(v)} is not a register name`);
  if (!registerNamed(v)) fail(p, `no register ${show(v)} in this vgpu's register table (saved by another version?)`);
};

/** Register values by name (registers.ts saveRegisters): a dword, or [low, high] for a 64-bit register. */
const REGISTER_VALUES: Check = (v, p) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return fail(p, `${show(v)} is not an object of registers by name`);
  // Each name known and an object's keys distinct: an unknown one stops it within the table's length.
  for (const name of Object.keys(v)) {
    const r = registerNamed(name);
    const at = `${p}.${name}`;
    if (!r) fail(at, `no register ${show(name)} in this vgpu's register table (saved by another version?)`);
    else if (r.def.width === 64) array(U32, 2, 2)((v as Record<string, unknown>)[name], at);
    else U32((v as Record<string, unknown>)[name], at);
  }
};

const machineShape = (vm: Vm) =>
  object({
    step: COUNT,
    commands: COUNT,
    regs: REGISTER_VALUES,
    engines: array(ENGINE_STATE(vm.image.driver.length), ENGINES.length, ENGINES.length),
    driverPc: int(0, vm.image.driver.length),
    ringGpa: array(COUNT, ENGINES.length, ENGINES.length),
    rr: int(0, ENGINES.length),
    interrupts: COUNT,
  });

const GPU_ERROR: Check = object({
  kind: oneOf(FAULT_KINDS),
  engine: ENGINE,
  file: str(4096),
  line: COUNT,
  col: COUNT,
  commandVa: num,
  mnemonic: nullable(str(64)),
  faultAddress: optional(num),
  gpa: optional(num),
  message: str(4096),
  rolledBack: bool,
  step: COUNT,
  commands: COUNT,
  walk: optional(array(object({}), 64)),
});

interface SavedMachine {
  regs: SavedRegisters;
  engines: { tlb: number[]; ggttTlb?: number[] }[];
  ringGpa: number[];
}

/** A machine state (the current one or a snapshot's) against the VM it is for: shape, then addresses. */
export function checkMachineState(vm: Vm, st: unknown, path: string): void {
  machineShape(vm)(st, path);
  const s = st as SavedMachine;
  const regs = restoreRegisters(s.regs, vm.regs.values);
  const ramEnd = vm.cfg.memory;
  vm.engines.forEach((e, i) => {
    // The driver writes ring contents at RAM_HPA + ringGpa + (offset mod ring size): all of it in guest RAM.
    const size = ringBytesOf(regs[e.slots.ctl]);
    const gpa = s.ringGpa[i];
    if (gpa + size > ramEnd)
      fail(
        `${path}.ringGpa[${i}]`,
        `ring of ${size} bytes at GPA 0x${gpa.toString(16)} reaches outside guest RAM (${ramEnd} bytes)`,
      );
    for (const which of ['tlb', 'ggttTlb'] as const)
      checkTlb(s.engines[i][which] ?? [], `${path}.engines[${i}].${which}`, ramEnd);
  });
}

/** TLB entries [vpn, hpa base, perms]: each a page of this VM's guest RAM, one per slot (PPGTT and GGTT TLBs alike). */
function checkTlb(tlb: readonly number[], path: string, ramEnd: number): void {
  if (tlb.length % 3 !== 0) fail(path, `${tlb.length} numbers is not whole [vpn, hpa, perms] entries`);
  {
    const slots = new Set<number>();
    for (let k = 0; k < tlb.length; k += 3) {
      const at = `${path}[${k / 3}]`;
      const [vpn, base, perms] = [tlb[k], tlb[k + 1], tlb[k + 2]];
      if (!Number.isSafeInteger(vpn) || Math.abs(vpn) >= 2 ** 36) fail(at, `VA page ${vpn} is not a 48-bit VA page`);
      if (slots.has(vpn & (TLB_SLOTS - 1))) fail(at, 'a second entry for the same TLB slot');
      slots.add(vpn & (TLB_SLOTS - 1));
      if (
        !Number.isSafeInteger(base) ||
        base % PAGE_SIZE !== 0 ||
        base < RAM_HPA ||
        base + PAGE_SIZE > RAM_HPA + ramEnd
      ) {
        fail(at, `host address 0x${Number(base).toString(16)} is outside this VM's guest RAM`);
      }
      if (!Number.isInteger(perms) || perms < 0 || perms > 3) fail(at, `permissions ${perms} are not 0..3`);
    }
  }
}

/** The STAT document (everything but pages) against the VM built from the image. */
export function checkStateDoc(vm: Vm, doc: unknown, path = 'STAT'): void {
  const ops = vm.image.driver.length;
  object({
    config: object({
      hostGen: GEN,
      version: GEN,
      memory: oneOf([vm.cfg.memory]),
      physBits: oneOf([vm.cfg.physBits]),
      isolation: bool,
      snapshotEvery: COUNT,
      autoRollback: bool,
      watchdog: int(1, Number.MAX_SAFE_INTEGER),
      semaphoreTimeout: COUNT,
      snapshotBudget: COUNT,
      migrationPool: array(GEN, 3),
    }),
    guilty: array(int(0, ops - 1), ops),
    errors: array(GPU_ERROR, MAX_LIST),
    opStep: array(int(-1, Number.MAX_SAFE_INTEGER), ops, ops),
  })(doc, path);
  checkMachineState(vm, (doc as { state: unknown }).state, `${path}.state`);
}

/** A SNAP section's JSON (its page records are checked as they are decoded). */
export function checkSnapshotDoc(vm: Vm, d: unknown, path: string): void {
  const pages = vm.cfg.memory / PAGE_SIZE;
  object({
    id: COUNT,
    reason: oneOf(['start', 'periodic', 'submission', 'manual', 'edit', 'reverse']),
    op: int(-1, vm.image.driver.length - 1),
    engine: nullable(ENGINE),
    touchedRegs: array(REGISTER_NAME, REGISTERS.length),
    barrier: bool,
    absent: array(int(0, pages - 1), pages),
  })(d, path);
  checkMachineState(vm, (d as { state: unknown }).state, `${path}.state`);
}

/**
 * The oldest step a resumed VM may have to roll back to: the step of the oldest submission an engine
 * is still executing (rollbackSnapshots keeps snapshots from there), or undefined when none is.
 */
export function oldestLiveStep(doc: {
  readonly state: {
    readonly engines: readonly { readonly curSub: number; readonly subs: readonly { readonly op: number }[] }[];
  };
  readonly opStep: readonly number[];
}): number | undefined {
  let oldest = Infinity;
  for (const e of doc.state.engines)
    for (const op of [e.curSub, ...e.subs.map((x) => x.op)])
      if (op >= 0 && doc.opStep[op] >= 0) oldest = Math.min(oldest, doc.opStep[op]);
  return oldest === Infinity ? undefined : oldest;
}
