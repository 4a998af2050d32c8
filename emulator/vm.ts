// The virtual machine: host memory and EPT, the VDEV with its exposed version, the register bank,
// two engines and the driver thread, scheduled deterministically; snapshots and automatic rollback.

import { createHash } from 'node:crypto';
import { Generation, LIMITS, hasFeature, isGeneration } from './capabilities';
import { COMMANDS, DEFAULT_GEN, GENS, type Gen } from './commands';
import {
  Engine,
  EngineFault,
  EngineHost,
  type EngineState,
  SPACE_GGTT,
  SPACE_PPGTT,
  STEP_COMMAND,
  STEP_ERROR,
  STEP_POLL,
} from './engine';
import { Ept, EPT_VIEW_FULL, WalkStep } from './ept';
import type { CaptureInfo, DriverOp, ProgramImage, SourceLoc } from './image';
import { HostMemory, PAGE_SIZE, hex } from './memory';
import { RegisterBank } from './mmio';
import { ACCESS_READ, FaultInfo, PagingContext, walk, walkGgtt } from './paging';
import {
  ENGINES,
  EngineName,
  GpuErrorKind,
  REGISTERS,
  RegInstance,
  deviceSlot,
  faultKindCode,
  regAt,
  regCompose,
  regField,
  regOfSlot,
  registerNamed,
  registerPairs,
} from './registers';

const RING_OFFSET = regField('RING_HEAD', 'OFFSET');
import { MachineState, type PageGate, Snapshot, SnapshotReason, SnapshotStore, snapshotBytes } from './snapshots';
import { DeviceCaps, physicalCaps, selectVersion, versionAccepts, virtualizeCaps } from './vdev';

export const STEP_DRIVER = 4;
export const STEP_DONE = 5;
/** Nothing can run: the driver waits on an engine a GPU error stopped. */
export const STEP_STUCK = 6;
export { STEP_COMMAND, STEP_ERROR, STEP_POLL };

/** HPA layout of a VM on its host: guest RAM at 1 TiB (1 GiB aligned, so EPT can use 1 GiB pages), EPT tables at 256 MiB. */
export const RAM_HPA = 2 ** 40;
export const EPT_TABLE_HPA = 0x10000000;

export interface VmOptions {
  hostGen?: number;
  deviceVersion?: number;
  migrationPool?: number[];
  isolation?: boolean;
  /** Commands between periodic snapshots (0: none); a snapshot is also taken at every submission. */
  snapshotEvery?: number;
  autoRollback?: boolean;
  watchdog?: number;
  semaphoreTimeout?: number;
  /** Bytes kept for snapshots before thinning. */
  snapshotBudget?: number;
  /** Hardware generation whose command layouts the device decodes (8 or 9). */
  gen?: number;
}

/**
 * What an option left out means, declared once: resolveConfig applies these, and the debug adapter's
 * launch attributes (adapter/protocol.ts, so package.json's schema) show them as their defaults.
 */
export const VM_DEFAULTS = {
  hostGen: 3,
  snapshotEvery: 1000,
  autoRollback: true,
  watchdog: 1_000_000,
  semaphoreTimeout: 100_000,
  snapshotBudget: 256 * 1024 * 1024,
  gen: DEFAULT_GEN,
} as const satisfies { [K in keyof VmOptions]?: VmOptions[K] };

/** The least value of each integer option (resolveConfig refuses less; the launch attributes' `minimum`). */
export const VM_MINIMUMS = {
  snapshotEvery: 0,
  watchdog: 1,
  semaphoreTimeout: 1,
  snapshotBudget: 0,
} as const satisfies { [K in keyof VmOptions]?: number };

export interface ResolvedConfig {
  readonly hostGen: Generation;
  readonly version: Generation;
  readonly memory: number;
  readonly physBits: number;
  readonly isolation: boolean;
  readonly snapshotEvery: number;
  readonly autoRollback: boolean;
  readonly watchdog: number;
  readonly semaphoreTimeout: number;
  readonly snapshotBudget: number;
  readonly migrationPool: readonly number[];
  readonly gen: Gen;
}

export class ConfigError extends Error {}

/** A GPU error as the user sees it (SPEC section 7 `errors[]`). */
export interface GpuError {
  readonly kind: GpuErrorKind;
  readonly engine: EngineName;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly commandVa: number;
  readonly mnemonic: string | null;
  readonly faultAddress?: number;
  readonly gpa?: number;
  readonly message: string;
  rolledBack: boolean;
  readonly step: number;
  readonly commands: number;
  readonly walk?: readonly WalkStep[];
}

/** A debugger edit, as the VM applied it (repeatable on another copy of the VM in the same state). */
export type VmEdit =
  /** One dword (0 low, 1 high) of a register, by table name: a copy of the VM on another host may order its table otherwise. */
  | { readonly kind: 'register'; readonly register: string; readonly dword: number; readonly value: number }
  | {
      readonly kind: 'memory';
      readonly space: 'va' | 'gpa';
      readonly addr: number;
      readonly dwords: readonly number[];
    };

export interface VmEvents {
  output: (text: string) => void;
  interrupt: (engine: EngineName) => void;
  /** A debugger edit was applied (after its barrier snapshot). */
  edit: (e: VmEdit) => void;
}

function genOf(g: number | undefined): Gen {
  const x = g ?? VM_DEFAULTS.gen;
  if (!(GENS as readonly number[]).includes(x))
    throw new ConfigError(`command generation ${g} is not described (8 or 9)`);
  return x as Gen;
}

export function resolveConfig(image: ProgramImage, o: VmOptions): ResolvedConfig {
  const hostGen = o.hostGen ?? VM_DEFAULTS.hostGen;
  if (!isGeneration(hostGen)) throw new ConfigError(`host generation ${hostGen} does not exist (1, 2 or 3)`);
  const pool = o.migrationPool ?? image.vm.pool;
  if (pool)
    for (const g of pool)
      if (!isGeneration(g)) throw new ConfigError(`migration pool entry ${g} is not a generation (1, 2 or 3)`);
  let version: Generation;
  try {
    version = selectVersion(hostGen, o.deviceVersion ?? (o.migrationPool ? undefined : image.vm.version), pool);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const explicitIso = o.isolation ?? image.vm.isolation;
  if (explicitIso === true && !hasFeature(version, 'ISOLATION')) {
    throw new ConfigError(
      `isolation was asked for, but device version ${version} has no address-space isolation (version 2 or later)`,
    );
  }
  const isolation = explicitIso ?? hasFeature(version, 'ISOLATION');
  const num = (v: number | undefined, what: keyof typeof VM_MINIMUMS) => {
    const x = v ?? VM_DEFAULTS[what];
    const min = VM_MINIMUMS[what];
    if (!Number.isInteger(x) || x < min) throw new ConfigError(`${what} must be an integer >= ${min}, got ${v}`);
    return x;
  };
  if (image.physBits < 32 || image.physBits > 46) throw new ConfigError(`physBits ${image.physBits} is outside 32..46`);
  if (image.memory <= 0 || image.memory % PAGE_SIZE !== 0 || image.memory > 2 ** image.physBits) {
    throw new ConfigError(`guest memory ${image.memory} must be a multiple of 4 KiB and at most 2^physBits`);
  }
  return {
    hostGen,
    version,
    memory: image.memory,
    physBits: image.physBits,
    isolation,
    snapshotEvery: num(o.snapshotEvery, 'snapshotEvery'),
    autoRollback: o.autoRollback ?? VM_DEFAULTS.autoRollback,
    watchdog: num(o.watchdog, 'watchdog'),
    semaphoreTimeout: num(o.semaphoreTimeout, 'semaphoreTimeout'),
    snapshotBudget: num(o.snapshotBudget, 'snapshotBudget'),
    migrationPool: pool ?? [],
    gen: genOf(o.gen ?? image.capture?.gen ?? image.vm.gen),
  };
}

/** What every view says of memory a hang dump did not capture (it reads as zero in the replay). */
export const NOT_CAPTURED = 'not captured: not in the dump, reads as zero';

/** Registers an engine's being busy depends on (Engine.busy): commands cannot write them (stepBatch relies on it). */
const RING_REGISTERS = ['RING_TAIL', 'RING_HEAD', 'RING_START', 'RING_CTL'];
if (REGISTERS.some((r) => RING_REGISTERS.includes(r.def.name) && r.def.access === 'cmd'))
  throw new Error('a ring register is writable by commands');

export class Vm implements EngineHost {
  readonly cfg: ResolvedConfig;
  readonly mem = new HostMemory();
  readonly ept: Ept;
  readonly regs = new RegisterBank();
  readonly physical: DeviceCaps;
  readonly exposed: DeviceCaps;
  readonly accepts: Uint8Array;
  readonly engines: Engine[];
  readonly snapshots: SnapshotStore;
  readonly errors: GpuError[] = [];
  /** Driver ops skipped after a GPU error (guilty submissions, as a GPU reset would skip them). */
  readonly guilty = new Set<number>();

  // Scheduling state.
  step = 0;
  commands = 0;
  driverPc = 0;
  rr = 0;
  interrupts = 0;
  readonly ringGpa: number[] = ENGINES.map(() => 0);
  /** The step at which each driver op last ran (for rollback to a submission). */
  readonly opStep: Float64Array;
  /** The error that stopped an engine and has not been recovered yet. */
  pending: GpuError | null = null;
  predicted: Set<number> | null = null;
  /** False while the driver is known to be blocked (rechecked after any ring step or state load). */
  private driverMayRun = true;
  /** Command count at which the next periodic snapshot is due (Infinity: none). */
  private nextPeriodic = Infinity;
  private inEngineStep = false;

  readonly version: number;
  readonly gen: Gen;
  readonly maxBatchDepth: number;
  readonly maxRingPages: number;
  readonly allow2M: boolean;
  readonly allow1G: boolean;
  readonly semaphoreTimeout: number;
  readonly watchdog: number;
  readonly ringSpace: number;
  readonly foreignGen: number;
  private readonly listeners: { [K in keyof VmEvents]: VmEvents[K][] } = { output: [], interrupt: [], edit: [] };

  constructor(
    readonly image: ProgramImage,
    options: VmOptions = {},
  ) {
    this.cfg = resolveConfig(image, options);
    const c = this.cfg;
    this.version = c.version;
    this.gen = c.gen;
    const lim = LIMITS[c.version];
    this.maxBatchDepth = lim.maxBatchDepth;
    this.maxRingPages = lim.maxRingPages;
    this.allow2M = hasFeature(c.version, 'PAGE_2M');
    this.allow1G = hasFeature(c.version, 'PAGE_1G');
    this.semaphoreTimeout = c.semaphoreTimeout;
    this.watchdog = c.watchdog;
    this.ringSpace = image.ringSpace === 'ggtt' ? SPACE_GGTT : SPACE_PPGTT;
    const hw = image.capture?.hardwareGen ?? 0;
    this.foreignGen = hw > c.gen ? hw : 0;
    this.physical = physicalCaps(c.hostGen);
    this.exposed = virtualizeCaps(this.physical, c.version);
    this.accepts = Uint8Array.from(COMMANDS, (d) => (versionAccepts(c.version, d) ? 1 : 0));
    this.ept = new Ept(this.mem, {
      ramBytes: c.memory,
      ramHpa: RAM_HPA,
      physBits: c.physBits,
      isolation: c.isolation,
      tableHpa: EPT_TABLE_HPA,
    });
    this.engines = ENGINES.map((n, i) => new Engine(n, i, this));
    this.opStep = new Float64Array(image.driver.length).fill(-1);
    this.snapshots = new SnapshotStore(this.mem, c.snapshotBudget);
    if (image.capture || image.vm.unmodelled === 'drop') this.regs.unmodelled = new Set();
    this.reset();
  }

  /** Loads the image: guest RAM contents, capability registers, PDP0 of every engine. */
  private reset(): void {
    for (const [gpfn, data] of this.image.pages) {
      const pfn = RAM_HPA / PAGE_SIZE + gpfn;
      if (gpfn * PAGE_SIZE >= this.cfg.memory) continue;
      this.mem.pageForWrite(pfn).set(data);
    }
    this.regs.reset();
    for (const [name, value] of this.exposed.registers) {
      const r = REGISTERS.find((x) => x.name === name)!;
      this.regs.values[r.slot] = Number(value & 0xffffffffn);
      if (r.def.width === 64) this.regs.values[r.slot + 1] = Number(value >> 32n);
    }
    if (this.image.ggtt) {
      this.regs.values[deviceSlot('GGTT_BASE_LO')] = this.image.ggtt.base % 0x100000000;
      this.regs.values[deviceSlot('GGTT_BASE_HI')] = Math.floor(this.image.ggtt.base / 0x100000000);
      this.regs.values[deviceSlot('GGTT_ENTRIES')] = this.image.ggtt.entries;
    }
    for (const e of this.engines) {
      this.regs.values[e.slots.pdpLo] = this.image.pml4 % 0x100000000;
      this.regs.values[e.slots.pdpHi] = Math.floor(this.image.pml4 / 0x100000000);
      this.regs.values[e.slots.view] = EPT_VIEW_FULL;
    }
    this.regs.takeTouched();
    this.nextPeriodic = this.cfg.snapshotEvery > 0 ? this.cfg.snapshotEvery : Infinity;
    this.takeSnapshot('start');
  }

  on<K extends keyof VmEvents>(event: K, fn: VmEvents[K]): void {
    this.listeners[event].push(fn);
  }

  private emit<K extends keyof VmEvents>(event: K, ...args: Parameters<VmEvents[K]>): void {
    for (const fn of this.listeners[event]) (fn as (...a: unknown[]) => void)(...args);
  }

  // EngineHost
  gateOf(pfn: number): PageGate | null {
    return this.snapshots.gateOf(pfn);
  }

  keepStore(gate: PageGate, pfn: number, page: Uint32Array, off: number, bytes: number, step: number): boolean {
    return this.snapshots.keepStore(gate, pfn, page, off, bytes, step);
  }

  stampEpoch(): number {
    return this.snapshots.stampEpoch();
  }

  stampKept(gate: PageGate, off: number, bytes: number, step: number): boolean {
    return this.snapshots.stampKept(gate, off, bytes, step);
  }

  preserveSegments(hpa: Float64Array, bytes: Int32Array, count: number): void {
    // The step of the command writing: regs.step (Engine.runBatch keeps it current; this.step it counts after).
    this.snapshots.preserveSegments(hpa, bytes, count, this.regs.step);
  }

  engineBySelect(select: number): Engine | undefined {
    // MI_SEMAPHORE_SIGNAL's Target Engine Select: RCS 0, BCS 2 (the video engines are not modelled).
    return select === 0 ? this.engines[0] : select === 2 ? this.engines[1] : undefined;
  }

  userInterrupt(e: Engine): void {
    this.interrupts++;
    this.emit('interrupt', e.name);
  }

  engine(name: EngineName): Engine {
    return name === 'rcs0' ? this.engines[0] : this.engines[1];
  }

  get finished(): boolean {
    return this.driverPc >= this.image.driver.length && this.engines.every((e) => !e.busy());
  }

  // ---------------------------------------------------------------------------------------------
  // Scheduling: the driver runs whenever it can; engines take one command each, round-robin.

  /** Runs one step: a driver op, or one command (or semaphore poll) of one engine. */
  stepOnce(): number {
    if (this.pending !== null) return STEP_ERROR;
    this.regs.step = this.step;
    if (this.driverPc < this.image.driver.length && this.driverMayRun) {
      if (this.driverCanRun()) {
        this.runDriverOp();
        this.step++;
        return STEP_DRIVER;
      }
      this.driverMayRun = false;
    }
    const n = this.engines.length;
    for (let k = 0, j = this.rr; k < n; k++, j = j + 1 === n ? 0 : j + 1) {
      const e = this.engines[j];
      if (!e.busy()) continue;
      this.rr = e.index + 1 === n ? 0 : e.index + 1;
      if (this.predicted !== null) this.predicted.clear();
      this.inEngineStep = true;
      const wasInRing = e.depth === 0;
      const r = e.step();
      this.inEngineStep = false;
      if (this.afterEngineStep !== null) this.afterEngineStep(e);
      // What blocks the driver (engines idle, ring space) changes only by ring steps.
      if (wasInRing || e.depth === 0) this.driverMayRun = true;
      return this.counted(e, r);
    }
    return this.driverPc < this.image.driver.length ? STEP_STUCK : STEP_DONE;
  }

  /** After an engine's step: its GPU error, or the step (and its command) counted and a periodic snapshot taken when due. */
  private counted(e: Engine, r: number): number {
    if (r === STEP_ERROR) {
      this.onEngineFault(e);
      return STEP_ERROR;
    }
    this.step++;
    if (r === STEP_COMMAND) {
      this.commands++;
      if (this.commands === this.nextPeriodic) {
        this.takeSnapshot('periodic');
        this.nextPeriodic += this.cfg.snapshotEvery;
      }
    }
    return r;
  }

  /**
   * stepOnce, then, while only the engine that ran it can run and it stays in a batch, its next steps
   * (below the limits): the steps stepOnce would take one call at a time, in the same order, without
   * choosing who runs before each. The driver is blocked (it may run again only after a ring step);
   * every other engine is idle and stays so, and this one busy, while it runs its batch: only the
   * driver writes ring registers (RING_REGISTERS), and an engine's own errors end the run. Returns
   * the last step's result.
   */
  private stepBatch(stepLimit: number, cmdLimit: number): number {
    const first = this.stepOnce();
    if (first !== STEP_COMMAND && first !== STEP_POLL) return first;
    const e = this.soleEngine();
    if (e === null) return first;
    let r = first;
    while (e.depth > 0 && this.step < stepLimit && this.commands < cmdLimit) {
      if (this.batchAhead(e, Math.min(stepLimit - this.step, cmdLimit - this.commands)) > 0) {
        r = STEP_COMMAND;
        continue;
      }
      this.regs.step = this.step;
      this.inEngineStep = true;
      r = e.step();
      this.inEngineStep = false;
      if (e.depth === 0) this.driverMayRun = true;
      if (this.counted(e, r) === STEP_ERROR) return STEP_ERROR;
    }
    return r;
  }

  /**
   * The engine that alone can run after an engine step: the driver is blocked (it may run again only
   * after a ring step) and every other engine idle, which stays so while this one runs its batch (only
   * the driver writes ring registers). Null when that is not so, or on the checked paths (test mode).
   */
  private soleEngine(): Engine | null {
    if (this.pending !== null || this.predicted !== null || this.afterEngineStep !== null) return null;
    if (this.driverMayRun && this.driverPc < this.image.driver.length) return null;
    const n = this.engines.length;
    const e = this.engines[this.rr === 0 ? n - 1 : this.rr - 1];
    if (!e.busy()) return null;
    for (let k = 0; k < n; k++) if (k !== e.index && this.engines[k].busy()) return null;
    return e;
  }

  /**
   * Up to `room` commands of `e`'s batch through the batch fast path (Engine.runBatch), each counted a
   * step and a command as counted() counts them, and a periodic snapshot after the last when due.
   * Returns the commands run (0: the next command needs a step of its own).
   */
  private batchAhead(e: Engine, room: number): number {
    this.regs.step = this.step;
    room = Math.min(room, this.nextPeriodic - this.commands);
    const ran = room > 1 ? e.runBatch(room) : 0;
    if (ran === 0) return 0;
    this.step += ran;
    this.commands += ran;
    if (this.commands === this.nextPeriodic) {
      this.takeSnapshot('periodic');
      this.nextPeriodic += this.cfg.snapshotEvery;
    }
    return ran;
  }

  /**
   * For a loop that takes steps one at a time (a debugger checking its breakpoints, a replay to a step
   * or a time): after a step it took, when one engine alone can run (soleEngine) in a batch page that
   * `clear` says nothing needs to look at before each command, runs up to `max` of its commands as
   * run() would (each one step and one command). Returns the commands run (0: take the next step as usual).
   */
  runAhead(max: number, clear?: (e: Engine) => boolean): number {
    const e = this.soleEngine();
    if (e === null || e.depth === 0 || (clear !== undefined && !clear(e))) return 0;
    return this.batchAhead(e, max);
  }

  /**
   * Test mode: every byte an engine actually changes must lie inside the command parser's predicted
   * write ranges for that command, and every page it writes in a predicted page (the snapshot
   * soundness check of SPEC section 9). `offset` is the byte in the page for a byte-level miss.
   */
  enableWriteCheck(onViolation: (pfn: number, engine: EngineName, commandVa: number, offset?: number) => void): void {
    this.predicted = new Set();
    const before = new Map<number, Uint32Array>();
    this.mem.writeHook = (pfn) => {
      if (!this.inEngineStep) return;
      const e = this.engines[(this.rr + this.engines.length - 1) % this.engines.length];
      if (!this.predicted!.has(pfn)) onViolation(pfn, e.name, e.cmdVa);
      else if (!before.has(pfn)) before.set(pfn, this.mem.copyPage(pfn));
    };
    this.afterEngineStep = (e) => {
      for (const [pfn, old] of before) {
        const now = this.mem.pageForRead(pfn);
        for (let i = 0; i < old.length; i++) {
          const changed = (old[i] ^ now[i]) >>> 0;
          if (changed === 0) continue;
          for (let b = 0; b < 4; b++) {
            if (((changed >>> (8 * b)) & 0xff) === 0) continue;
            const hpa = pfn * PAGE_SIZE + i * 4 + b;
            let covered = false;
            for (let k = 0; k < e.segCount && !covered; k++)
              covered = hpa >= e.segHpa[k] && hpa < e.segHpa[k] + e.segBytes[k];
            if (!covered) onViolation(pfn, e.name, e.cmdVa, i * 4 + b);
          }
        }
      }
      before.clear();
    };
  }

  /** Test mode's check after each engine step (null on the fast path). */
  private afterEngineStep: ((e: Engine) => void) | null = null;

  /** Which engine will the next step run (null: the driver, or nothing)? For the debugger's stepping. */
  nextActor(): Engine | 'driver' | null {
    if (this.driverPc < this.image.driver.length && this.driverCanRun()) return 'driver';
    const n = this.engines.length;
    for (let k = 0; k < n; k++) {
      const e = this.engines[(this.rr + k) % n];
      if (e.busy()) return e;
    }
    return null;
  }

  private driverCanRun(): boolean {
    const op = this.image.driver[this.driverPc];
    if (op.op === 'wait') {
      for (let i = 0; i < op.engines.length; i++) if (!this.engine(op.engines[i]).idle()) return false;
      return true;
    }
    if (op.op === 'context') return this.engine(op.engine).idle();
    if (op.op === 'submit') {
      const e = this.engine(op.engine);
      if (!e.ringEnabled()) return true;
      const size = e.ringSize();
      const used = (e.tail() - e.head() + size) % size;
      return op.dwords.length * 4 <= size - used - 4;
    }
    return true;
  }

  private runDriverOp(): void {
    const pc = this.driverPc;
    const op = this.image.driver[pc];
    this.opStep[pc] = this.step;
    switch (op.op) {
      case 'ring': {
        const e = this.engine(op.engine);
        const i = e.index;
        this.ringGpa[i] = op.gpa;
        this.driverWrite(e.slots.start, op.va);
        this.driverWrite(e.slots.head, 0);
        this.driverWrite(e.slots.tail, 0);
        this.driverWrite(e.slots.ctl, (1 | ((op.size / PAGE_SIZE - 1) << 12)) >>> 0);
        e.subs.clear();
        break;
      }
      case 'submit': {
        const e = this.engine(op.engine);
        this.driverPc = pc; // the snapshot is of the state before this op
        this.takeSnapshot('submission', pc, op.engine);
        const size = e.ringSize();
        const base = RAM_HPA + this.ringGpa[e.index];
        for (let i = 0; i < op.dwords.length; i++) {
          const hpa = base + ((op.offset + 4 * i) % size);
          const pfn = Math.floor(hpa / PAGE_SIZE);
          this.snapshots.preserve(hpa, 4, this.step);
          this.mem.pageForWrite(pfn)[(hpa % PAGE_SIZE) >>> 2] = op.dwords[i];
        }
        this.driverWrite(e.slots.tail, op.tail);
        if (this.guilty.has(pc)) {
          // Skipped, as a GPU reset skips the guilty request; submissions still pending before it run
          // first (the engine skips this one when its head reaches it).
          e.retireSubmissions();
          if (e.subs.length === 0) this.driverWrite(e.slots.head, op.tail);
          else e.subs.push(pc, op.tail);
          this.emit(
            'output',
            `driver: submission at ${op.loc.file}:${op.loc.line} skipped (guilty of an earlier GPU error)\n`,
          );
        } else {
          e.subs.push(pc, op.tail);
        }
        break;
      }
      case 'wait':
        break;
      case 'write': {
        for (let i = 0; i < op.dwords.length; i++) {
          const hpa = RAM_HPA + op.gpa + 4 * i;
          this.snapshots.preserve(hpa, 4, this.step);
          this.mem.pageForWrite(Math.floor(hpa / PAGE_SIZE))[(hpa % PAGE_SIZE) >>> 2] = op.dwords[i];
        }
        break;
      }
      case 'context': {
        // An execlist context switch: ring registers and PPGTT root from the context image; TLBs flushed.
        const e = this.engine(op.engine);
        this.driverPc = pc;
        this.takeSnapshot('submission', pc, op.engine);
        this.driverWrite(e.slots.start, op.ring.start);
        this.driverWrite(e.slots.ctl, op.ring.ctl);
        this.driverWrite(e.slots.head, op.ring.head);
        this.driverWrite(e.slots.pdpLo, op.pml4 % 0x100000000); // (their postWrite flushes the TLBs)
        this.driverWrite(e.slots.pdpHi, Math.floor(op.pml4 / 0x100000000));
        e.subs.clear(); // a context switch: the new context's ring replaces the old one's pending work
        this.driverWrite(e.slots.tail, op.ring.tail);
        if (this.guilty.has(pc)) {
          this.driverWrite(e.slots.head, op.ring.tail);
          this.emit(
            'output',
            `driver: submission ${pc} (context at GGTT ${hex(op.lrca)}) skipped (guilty of an earlier GPU error)\n`,
          );
        } else {
          e.subs.push(pc, RING_OFFSET.place(op.ring.tail));
        }
        break;
      }
      case 'mmio': {
        const r = this.regs.driverWrite(op.offset, op.value);
        if (typeof r === 'string') {
          this.emit(
            'output',
            `driver: .mmio ${hex(op.offset)} at ${op.loc.file}:${op.loc.line} ignored: ${r === 'unknown' ? 'no register at that offset' : 'the register is read-only'}\n`,
          );
        } else {
          this.afterWrite(r);
        }
        break;
      }
      case 'eptp':
        for (const n of op.engines) this.driverWrite(this.engine(n).slots.view, op.view);
        break;
    }
    this.driverPc = pc + 1;
  }

  /** What a register's write must also do (its table entry's postWrite), whoever wrote it. */
  private afterWrite(r: RegInstance): void {
    if (r.def.postWrite === 'flush-tlbs')
      for (const e of this.engines) if (r.engine === null || r.engine === e.name) e.invalidateTlbs();
  }

  /** A write by the driver to a register slot, with the register's postWrite. */
  private driverWrite(slot: number, value: number): void {
    this.regs.set(slot, value >>> 0);
    const r = regOfSlot(slot);
    if (r) this.afterWrite(r);
  }

  // ---------------------------------------------------------------------------------------------
  // GPU errors and rollback.

  private onEngineFault(e: Engine): void {
    const f = e.lastFault as EngineFault;
    const loc = this.locate(e.name, f.commandVa);
    const err: GpuError = {
      kind: f.kind,
      engine: f.engine,
      file: loc?.file ?? this.image.file,
      line: loc?.line ?? 0,
      col: loc?.col ?? 0,
      commandVa: f.commandVa,
      mnemonic: f.mnemonic,
      faultAddress: f.faultAddress,
      gpa: f.gpa,
      message: f.message,
      rolledBack: false,
      step: this.step,
      commands: this.commands,
      walk: f.walk,
    };
    const addr = f.gpa ?? f.faultAddress ?? f.commandVa;
    this.regs.set(deviceSlot('FAULT_ADDR_LO'), addr % 0x100000000);
    this.regs.set(deviceSlot('FAULT_ADDR_HI'), Math.floor(addr / 0x100000000));
    this.regs.set(
      deviceSlot('FAULT_STATUS'),
      regCompose('FAULT_STATUS', { VALID: 1, KIND: faultKindCode(f.kind), ENGINE: e.index }),
    );
    this.errors.push(err);
    this.pending = err;
  }

  /**
   * Can the pending error be rolled back (it belongs to a known submission)? Not when that submission
   * is guilty already: skipping it did not remove the cause (a forged state), and rolling back again
   * would loop forever; each rollback makes one more submission guilty, so recoveries are bounded.
   */
  canRecover(): boolean {
    const p = this.pending;
    if (!p) return false;
    const sub = this.engine(p.engine).curSub;
    return (
      sub >= 0 &&
      !this.guilty.has(sub) &&
      this.opStep[sub] >= 0 &&
      this.snapshots.indexAtOrBefore(this.opStep[sub]) >= 0
    );
  }

  /**
   * Rolls the VM back to just before the guilty submission, marks it guilty (skipped) and lets the
   * VM continue. Returns false when there is nothing to roll back to.
   */
  recover(): boolean {
    const p = this.pending;
    if (!p || !this.canRecover()) return false;
    const sub = this.engine(p.engine).curSub;
    const target = this.opStep[sub];
    this.pending = null;
    p.rolledBack = true; // history: kept when the state it happened in is undone
    this.goToStep(target);
    this.guilty.add(sub);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots, restore and replay.

  /** The machine state as it stands; `regs` receives a copy of the register bank (a new array by default). */
  machineState(regs: Uint32Array = new Uint32Array(this.regs.values)): MachineState {
    // Saved lists are never changed: the newest snapshot's are shared when they hold the same values.
    const last = this.snapshots.list[this.snapshots.list.length - 1]?.state;
    const engines: EngineState[] = new Array(this.engines.length);
    for (let i = 0; i < engines.length; i++) engines[i] = this.engines[i].save();
    return {
      step: this.step,
      commands: this.commands,
      regs,
      engines: last !== undefined && sameItems(last.engines, engines) ? last.engines : engines,
      driverPc: this.driverPc,
      ringGpa: last !== undefined && sameItems(last.ringGpa, this.ringGpa) ? last.ringGpa : [...this.ringGpa],
      rr: this.rr,
      interrupts: this.interrupts,
    };
  }

  loadMachineState(s: MachineState): void {
    this.step = s.step;
    this.commands = s.commands;
    this.regs.values.set(s.regs);
    this.regs.forgetWritesFrom(s.step);
    this.engines.forEach((e, i) => e.restore(s.engines[i]));
    this.driverPc = s.driverPc;
    this.ringGpa.splice(0, this.ringGpa.length, ...s.ringGpa);
    this.rr = s.rr;
    this.interrupts = s.interrupts;
    this.pending = null;
    this.driverMayRun = true;
    const every = this.cfg.snapshotEvery;
    this.nextPeriodic = every > 0 ? (Math.floor(s.commands / every) + 1) * every : Infinity;
    for (let i = 0; i < this.errors.length; i++) {
      const er = this.errors[i];
      if (!er.rolledBack && er.step >= s.step) this.errors.splice(i--, 1);
    }
  }

  takeSnapshot(reason: SnapshotReason, op = -1, engine: string | null = null): Snapshot {
    const touchedRegs = this.regs.takeTouched();
    const lastWrite = this.regs.lastWrite;
    const touchedAt: number[] = new Array(touchedRegs.length);
    for (let i = 0; i < touchedRegs.length; i++) touchedAt[i] = lastWrite[touchedRegs[i]];
    const fetched: number[] = [];
    for (let i = 0; i < this.engines.length; i++) this.engines[i].takeFetched(fetched);
    if (fetched.length > 1) ascendingUnique(fetched);
    return this.snapshots.add(
      reason,
      this.machineState(this.snapshots.regsCopy(this.regs.values)),
      { touchedRegs, touchedAt, fetched },
      op,
      engine,
    );
  }

  /** Restores snapshot `index` exactly (registers, memory, TLBs, engines, driver). */
  restoreSnapshot(index: number): void {
    const st = this.snapshots.rewind(index);
    this.loadMachineState(st);
  }

  /**
   * Puts the VM at global step `target` (before that step runs): restore the nearest snapshot at or
   * before it and replay deterministically. Stops early at a GPU error; returns the final step.
   * With `trail` > 0, a replay after a restore leaves snapshots behind it (reason 'reverse') at
   * target - 2^k steps for every 2^k >= trail that the replay passes, as rr leaves checkpoints when
   * it runs backwards: a few snapshots, and the steps back after this one replay little.
   */
  goToStep(target: number, stopAt?: (vm: Vm) => boolean, trail = 0): number {
    const points: number[] = [];
    if (target < this.step || this.pending) {
      const i = this.snapshots.indexAtOrBefore(target);
      if (i < 0) throw new RangeError(`no snapshot at or before step ${target}`);
      this.restoreSnapshot(i);
      if (trail > 0) for (let gap = trail; target - gap > this.step; gap *= 2) points.push(target - gap);
    }
    while (this.step < target) {
      if (points.length > 0 && this.step >= points[points.length - 1]) {
        points.pop();
        this.takeSnapshot('reverse');
      }
      if (stopAt && stopAt(this)) break;
      const r = this.stepOnce();
      if (r === STEP_ERROR || r === STEP_DONE || r === STEP_STUCK) break;
      // Nothing looks between steps but the trail: on to the target or the next trail point.
      if (stopAt === undefined && r === STEP_COMMAND)
        this.runAhead(Math.min(target, points.length > 0 ? points[points.length - 1] : Infinity) - this.step);
    }
    return this.step;
  }

  /**
   * Runs until done, an unrecovered error, or `maxSteps`. With autoRollback, errors are rolled back
   * and the run continues. `stopAt` is checked before every step.
   */
  run(
    opts: { maxSteps?: number; untilCommands?: number; stopAt?: (vm: Vm) => boolean } = {},
  ): 'done' | 'error' | 'limit' | 'stuck' | 'stopped' {
    const stepLimit = opts.maxSteps ?? Infinity;
    const cmdLimit = opts.untilCommands ?? Infinity;
    for (;;) {
      if (this.step >= stepLimit || this.commands >= cmdLimit) return 'limit';
      if (opts.stopAt && opts.stopAt(this)) return 'stopped';
      const r = opts.stopAt === undefined ? this.stepBatch(stepLimit, cmdLimit) : this.stepOnce();
      if (r === STEP_ERROR) {
        if (this.cfg.autoRollback && this.recover()) continue;
        return 'error';
      }
      if (r === STEP_DONE) return 'done';
      if (r === STEP_STUCK) return 'stuck';
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Edits from the debugger (setVariable, writeMemory). They are not replayable, so each keeps
  // before-images like a command would and ends with a barrier snapshot: going back before an edit
  // undoes it; replay never crosses it.

  /** Writes a register slot; returns false for a read-only register. */
  editRegister(slot: number, value: number): boolean {
    const r = REGISTERS.find((x) => slot >= x.slot && slot < x.slot + x.def.width / 32);
    if (!r || r.def.scope === 'cap') return false;
    this.regs.set(slot, value >>> 0);
    this.afterWrite(r);
    this.takeSnapshot('edit');
    this.emit('edit', { kind: 'register', register: r.name, dword: slot - r.slot, value: value >>> 0 });
    return true;
  }

  /** Applies an edit another copy of this VM made (lockstep after a move); returns what it wrote. */
  applyEdit(e: VmEdit): number {
    if (e.kind === 'memory') return this.editMemory(e.space, e.addr, e.dwords);
    const r = registerNamed(String(e.register));
    if (!r || !Number.isInteger(e.dword) || e.dword < 0 || e.dword >= r.def.width / 32) return 0;
    return this.editRegister(r.slot + e.dword, e.value) ? 1 : 0;
  }

  /** Writes dwords at a GPU VA (rcs0's PPGTT, full view) or a GPA; returns how many were written. */
  editMemory(space: 'va' | 'gpa', addr: number, dwords: readonly number[]): number {
    let n = 0;
    for (let i = 0; i < dwords.length; i++) {
      const a = addr + 4 * i;
      let hpa: number;
      if (space === 'gpa') {
        const g = a >= this.ept.mirrorBase && this.cfg.isolation ? a - this.ept.mirrorBase : a;
        if (g < 0 || g >= this.cfg.memory) break;
        hpa = RAM_HPA + g;
      } else {
        const t = this.translate(a - (a % PAGE_SIZE), EPT_VIEW_FULL);
        if (t.hpa < 0) break;
        hpa = t.hpa + (a % PAGE_SIZE);
      }
      const pfn = Math.floor(hpa / PAGE_SIZE);
      this.snapshots.preserve(hpa, 4, this.step);
      this.mem.pageForWrite(pfn)[(hpa % PAGE_SIZE) >>> 2] = dwords[i] >>> 0;
      n++;
    }
    if (n > 0) {
      this.takeSnapshot('edit');
      this.emit('edit', { kind: 'memory', space, addr, dwords: dwords.slice(0, n).map((d) => d >>> 0) });
    }
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // Inspection (never changes machine state: no TLB fills, no snapshots).

  /** Walks a GPU VA with an engine's PPGTT root under a view, recording every step. */
  translate(
    va: number,
    view: number,
    engine: EngineName = 'rcs0',
    space: 'ppgtt' | 'ggtt' = 'ppgtt',
  ): { hpa: number; gpa?: number; fault?: FaultInfo; steps: WalkStep[] } {
    const e = this.engine(engine);
    e.syncContext();
    const fault = new FaultInfo();
    const steps: WalkStep[] = [];
    const out = { writable: false, nx: false, pageSize: 0, gpa: 0 };
    const hpa =
      space === 'ggtt'
        ? walkGgtt({ ...e.gctx, view }, va, ACCESS_READ, fault, out, steps)
        : walk({ ...e.ctx, view }, va, ACCESS_READ, fault, out, steps);
    return hpa < 0 ? { hpa, fault, steps } : { hpa, gpa: out.gpa, steps };
  }

  /**
   * `.vm unmapped=zero` (a hang dump's replay): is GPA in the zero page or the shared tables every
   * unmapped VA reaches, memory the dump did not capture?
   */
  uncaptured(gpa: number): boolean {
    const z = this.image.zeroFill;
    if (!z) return false;
    const page = Math.floor(gpa / PAGE_SIZE) * PAGE_SIZE;
    return page === z.page || z.tables.includes(page);
  }

  /** Reads guest memory at a GPU VA (through rcs0's PPGTT, full view); unmapped dwords read as undefined. */
  readVa(va: number, count: number, engine: EngineName = 'rcs0'): (number | undefined)[] {
    const e = this.engine(engine);
    e.syncContext();
    const ctx: PagingContext = { ...e.ctx, view: EPT_VIEW_FULL };
    const fault = new FaultInfo();
    const out: (number | undefined)[] = [];
    let pageVa = -1;
    let pageHpa = -1;
    for (let i = 0; i < count; i++) {
      const a = va + 4 * i;
      const pva = a - (a % PAGE_SIZE);
      if (pva !== pageVa) {
        pageVa = pva;
        pageHpa = walk(ctx, pva, ACCESS_READ, fault, null);
      }
      out.push(pageHpa < 0 ? undefined : this.mem.read32(pageHpa + (a % PAGE_SIZE)));
    }
    return out;
  }

  readGpa(gpa: number): number | undefined {
    const g = gpa >= this.ept.mirrorBase && this.cfg.isolation ? gpa - this.ept.mirrorBase : gpa;
    if (g < 0 || g >= this.cfg.memory) return undefined;
    return this.mem.read32(RAM_HPA + g);
  }

  /** A surface's pixels (ARGB, row-major, width*height); unmapped pixels read as 0. */
  readSurface(name: string): { width: number; height: number; pixels: Uint32Array } {
    const s = this.image.surfaces.find((x) => x.name.toUpperCase() === name.toUpperCase());
    if (!s) throw new RangeError(`no surface named ${name}`);
    const pixels = new Uint32Array(s.width * s.height);
    for (let y = 0; y < s.height; y++) {
      const row = this.readVa(s.va + y * s.pitch, s.width);
      for (let x = 0; x < s.width; x++) pixels[y * s.width + x] = row[x] ?? 0;
    }
    return { width: s.width, height: s.height, pixels };
  }

  /** Source location of a command: batch source map, or the submission that wrote that ring slot. */
  locate(engine: EngineName, va: number): SourceLoc | undefined {
    const m = this.image.sourceMap.get(va);
    if (m) return m;
    const e = this.engine(engine);
    const start = this.regs.values[e.slots.start];
    const off = va - start;
    if (off < 0 || off >= e.ringSize()) return undefined;
    for (let pc = Math.min(this.driverPc, this.image.driver.length) - 1; pc >= 0; pc--) {
      const op: DriverOp = this.image.driver[pc];
      if (op.op === 'ring' && op.engine === engine) break;
      if (op.op !== 'submit' || op.engine !== engine) continue;
      const hit = op.entries.find((x) => x.offset === off);
      if (hit) return hit.loc;
    }
    return undefined;
  }

  /** sha256 over every non-zero guest page in GPA order (8-byte little-endian GPA, then the page). */
  memorySha256(): string {
    const h = createHash('sha256');
    const first = RAM_HPA / PAGE_SIZE;
    this.mem.hashPages(h, first, first + this.cfg.memory / PAGE_SIZE);
    return h.digest('hex');
  }

  surfaceSha256(name: string): string {
    const s = this.readSurface(name);
    return createHash('sha256').update(new Uint8Array(s.pixels.buffer)).digest('hex');
  }

  /**
   * Digest of the whole VM state: registers, engines (with TLBs), driver, scheduling and guest memory,
   * registers in this build's slot order (for states of one host: the debugger's `digest`, tests).
   */
  digest(): string {
    const h = createHash('sha256');
    const st = this.machineState();
    h.update(JSON.stringify({ ...st, regs: Array.from(st.regs) }));
    h.update(this.memorySha256());
    return h.digest('hex');
  }

  /**
   * `digest` as two hosts compare it (a moved VM's `digest` request): registers as [name, value] pairs
   * in name order (machineStateJson), so register tables that order registers differently agree.
   */
  portableDigest(): string {
    return createHash('sha256').update(machineStateJson(this.machineState())).update(this.memorySha256()).digest('hex');
  }

  registerValue(mmio: number): number {
    return this.regs.read(mmio);
  }

  /** The result object of `vgpu run --json` (SPEC section 7). */
  result(status?: 'completed' | 'error'): RunResult {
    const unrecovered = this.errors.some((e) => !e.rolledBack);
    const surfaces: RunResult['surfaces'] = {};
    for (const s of this.image.surfaces)
      surfaces[s.name] = { width: s.width, height: s.height, sha256: this.surfaceSha256(s.name) };
    let bytes = 0;
    for (const s of this.snapshots.list) bytes += snapshotBytes(s);
    return {
      status: status ?? (unrecovered ? 'error' : 'completed'),
      commands: this.commands,
      cycles: this.engines.reduce((n, e) => n + e.cycles, 0),
      errors: this.errors.map((e) => ({
        kind: e.kind,
        engine: e.engine,
        file: e.file,
        line: e.line,
        commandVa: e.commandVa,
        ...(e.faultAddress !== undefined ? { faultAddress: e.faultAddress } : {}),
        ...(e.gpa !== undefined ? { gpa: e.gpa } : {}),
        message: e.message,
        rolledBack: e.rolledBack,
      })),
      snapshots: { taken: this.snapshots.taken, bytes },
      surfaces,
      memorySha256: this.memorySha256(),
      ...this.commandCounts(),
      ...(this.image.capture ? { capture: captureSummary(this.image.capture) } : {}),
    };
  }

  /** Every command retired, by name, over all engines; and the draws and dispatches not emulated. */
  commandCounts(): { commandCounts: Record<string, number>; notEmulated: Record<string, number> } {
    const commandCounts: Record<string, number> = {};
    const notEmulated: Record<string, number> = {};
    for (const e of this.engines) {
      const c = e.commandCounts();
      for (const [k, v] of Object.entries(c.counts)) commandCounts[k] = (commandCounts[k] ?? 0) + v;
      for (const [k, v] of Object.entries(c.notEmulated)) notEmulated[k] = (notEmulated[k] ?? 0) + v;
    }
    const sorted = (o: Record<string, number>) =>
      Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return { commandCounts: sorted(commandCounts), notEmulated: sorted(notEmulated) };
  }

  /** Name of the register at a BAR0 offset, for messages. */
  static regName(mmio: number): string {
    const r = regAt(mmio);
    return r ? r.reg.name : hex(mmio);
  }
}

/**
 * A machine state as digests hash it (`Vm.digest`, fingerprint.ts): registers as [name, value] pairs in
 * name order (registers.ts registerPairs), so hosts whose register tables order registers differently
 * agree; `table` is the one `st.regs` is laid out by.
 */
export function machineStateJson(st: MachineState, table?: readonly RegInstance[]): string {
  return JSON.stringify({ ...st, regs: registerPairs(st.regs, table) });
}

function captureSummary(c: CaptureInfo): CaptureInfo {
  return {
    format: c.format,
    platform: c.platform,
    pciId: c.pciId,
    application: c.application,
    submissions: c.submissions,
    ...(c.note ? { note: c.note } : {}),
  };
}

export interface RunResult {
  status: 'completed' | 'error';
  commands: number;
  cycles: number;
  errors: {
    kind: GpuErrorKind;
    engine: EngineName;
    file: string;
    line: number;
    commandVa: number;
    faultAddress?: number;
    gpa?: number;
    message: string;
    rolledBack: boolean;
  }[];
  snapshots: { taken: number; bytes: number };
  surfaces: Record<string, { width: number; height: number; sha256: string }>;
  memorySha256: string;
  /** Commands retired, by name (all engines). */
  commandCounts: Record<string, number>;
  /** Draws and dispatches retired without running shaders, by name. */
  notEmulated: Record<string, number>;
  /** A real GPU capture's origin (emulator/capture.ts). */
  capture?: CaptureInfo;
  migration?: {
    status: 'completed' | 'refused' | 'failed';
    reason?: string;
    rounds: number;
    pagesSent: number;
    downtimeMs: number;
  };
}

/** Do two lists hold the same items (the same values, or the same shared objects)? */
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Sorts a list of integers ascending and drops repeats, in place. */
function ascendingUnique(xs: number[]): void {
  // Insertion sort for the few pages an epoch usually fetched commands from (mostly in order already).
  if (xs.length > 32) xs.sort((a, b) => a - b);
  else
    for (let i = 1; i < xs.length; i++) {
      const x = xs[i];
      let j = i - 1;
      for (; j >= 0 && xs[j] > x; j--) xs[j + 1] = xs[j];
      xs[j + 1] = x;
    }
  let n = 0;
  for (let i = 0; i < xs.length; i++) if (i === 0 || xs[i] !== xs[n - 1]) xs[n++] = xs[i];
  xs.length = n;
}
