// The command streamer of one engine (rcs0/bcs0): ring and batch fetch, decode through the command
// table, the command parser's write set, and the command semantics as handlers keyed by mnemonic.

import { COMMANDS, CommandDef, FIXED_LENGTH, REG_OFFSET_MASK, FLAG_BIT, FLAG_OFF, FLAG_ON, LENGTH_MASK, PAIRS, blitGeometry, commandIndex, declaredLength, fieldByName, fieldNum, fieldValue, writeRanges } from './commands';
import { HostMemory, PAGE_SIZE, hex } from './memory';
import { RegisterBank } from './mmio';
import { ACCESS_FETCH, ACCESS_READ, ACCESS_WRITE, FaultInfo, PagingContext, walk } from './paging';
import { ENGINE_BASE, ENGINE_WINDOW, EngineName, GpuErrorKind, REGISTERS, engineSlot, regAt } from './registers';
import { Tlb } from './tlb';
import type { Ept } from './ept';

/** Results of one engine step. */
export const STEP_COMMAND = 1; // a command retired
export const STEP_POLL = 2; // MI_SEMAPHORE_WAIT polled and is still waiting
export const STEP_ERROR = 3; // a GPU error stopped the engine

/** What an engine needs from the machine around it. */
export interface EngineHost {
  readonly mem: HostMemory;
  readonly regs: RegisterBank;
  readonly ept: Ept;
  /** Per command index: 1 when the exposed version accepts the command. */
  readonly accepts: Uint8Array;
  readonly version: number;
  readonly maxBatchDepth: number;
  readonly maxRingPages: number;
  readonly allow2M: boolean;
  readonly allow1G: boolean;
  readonly semaphoreTimeout: number;
  readonly watchdog: number;
  /** Snapshot hook: bytes [hpa, hpa + bytes), within one page, are about to be written (their before-image must be kept). */
  preserve(hpa: number, bytes: number): void;
  /** Test mode: the parser's predicted page set for the current command (null when off). */
  predicted: Set<number> | null;
  userInterrupt(engine: Engine): void;
}

/** A GPU error as the engine saw it; the VM adds source locations and rollback state. */
export interface EngineFault {
  readonly kind: GpuErrorKind;
  readonly engine: EngineName;
  readonly commandVa: number;
  readonly mnemonic: string | null;
  readonly message: string;
  readonly faultAddress?: number;
  readonly gpa?: number;
  readonly walk?: FaultInfo['steps'];
}

/** One submission the driver made to this engine: ring bytes up to `end` belong to driver op `op`. */
export interface PendingSubmission {
  readonly op: number;
  readonly end: number;
}

const MAX_CMD_DWORDS = 256;
const MAX_DEPTH = 8;
const SEG_MAX = 1 << 16;

/** Engine registers the streamer updates itself, resolved once from the register table. */
function slotsOf(e: EngineName) {
  return {
    tail: engineSlot(e, 'RING_TAIL'), head: engineSlot(e, 'RING_HEAD'), start: engineSlot(e, 'RING_START'), ctl: engineSlot(e, 'RING_CTL'),
    acthd: engineSlot(e, 'ACTHD'), acthdUdw: engineSlot(e, 'ACTHD_UDW'), bbAddr: engineSlot(e, 'BB_ADDR'), bbAddrUdw: engineSlot(e, 'BB_ADDR_UDW'),
    pdpLo: engineSlot(e, 'PDP0_LDW'), pdpHi: engineSlot(e, 'PDP0_UDW'), timestamp: engineSlot(e, 'TIMESTAMP'), view: engineSlot(e, 'EPT_VIEW'),
    gpr0: engineSlot(e, 'CS_GPR0'),
  };
}

/** Field dword positions of a command, from the table (handlers never hard-code a layout). */
function dwOf(mnemonic: string, field: string): number {
  const def = COMMANDS.find((d) => d.mnemonic === mnemonic)!;
  return fieldByName(def, field)!.dw;
}

const HEAD_MASK = 0x1ffffc;
const WRAP_SHIFT = 21;

export class Engine {
  readonly slots: ReturnType<typeof slotsOf>;
  readonly tlb = new Tlb();
  readonly fault = new FaultInfo();
  readonly ctx: PagingContext;
  /** Dwords of the command being executed. */
  readonly buf = new Uint32Array(MAX_CMD_DWORDS);
  /** Batch pointers per level (level k+1 at index k); depth 0 = executing from the ring. */
  readonly bb = new Float64Array(MAX_DEPTH);
  depth = 0;
  cycles = 0;
  /** Set when a GPU error stopped the engine (until the VM recovers it). */
  halted = false;
  /** Polls spent in the current MI_SEMAPHORE_WAIT. */
  semPolls = 0;
  /** Commands retired in the current submission (watchdog). */
  subCommands = 0;
  /** Driver op of the submission being executed (-1: none). */
  curSub = -1;
  subs: PendingSubmission[] = [];
  /** VA of the command last fetched (the faulting one after an error). */
  cmdVa = 0;
  cmdIndex = -1;
  cmdLen = 0;
  lastFault: EngineFault | null = null;

  // Command parser output: translated destination segments (HPA, bytes) in write order.
  readonly segHpa = new Float64Array(SEG_MAX);
  readonly segBytes = new Int32Array(SEG_MAX);
  segCount = 0;
  private scratch = new Uint32Array(1024);

  /** Per command index: 1 when this engine can execute it. */
  private readonly runsHere: Uint8Array;
  /** Slot of each dword of this engine's window that commands may write (CS_GPRs), else -1. */
  readonly cmdSlot = new Int32Array(ENGINE_WINDOW / 4).fill(-1);
  readonly base: number;

  constructor(readonly name: EngineName, readonly index: number, private readonly host: EngineHost) {
    this.slots = slotsOf(name);
    this.r = host.regs.values;
    this.runsHere = Uint8Array.from(COMMANDS, (d) => (d.engines.includes(name) ? 1 : 0));
    this.base = ENGINE_BASE[name];
    for (const r of REGISTERS) if (r.engine === name && r.def.access === 'cmd') this.cmdSlot[(r.mmio - this.base) >>> 2] = r.slot;
    // PDP0 and EPT_VIEW are read when the TLB misses (a hit needs neither): same result as reading
    // them before every command, without the cost.
    this.ctx = { mem: host.mem, ept: host.ept, view: 0, pml4: 0, allow2M: host.allow2M, allow1G: host.allow1G, refresh: () => this.syncContext() };
  }

  private readonly r: Uint32Array;

  ringSize(): number {
    return ((((this.r[this.slots.ctl] >>> 12) & 0x1ff) + 1) * PAGE_SIZE);
  }

  ringEnabled(): boolean {
    return (this.r[this.slots.ctl] & 1) === 1;
  }

  head(): number {
    return this.r[this.slots.head] & HEAD_MASK;
  }

  tail(): number {
    return this.r[this.slots.tail] & HEAD_MASK;
  }

  /** Has work and can run. */
  busy(): boolean {
    if (this.halted || !this.ringEnabled()) return false;
    return this.depth > 0 || this.head() !== this.tail() || this.semPolls > 0;
  }

  /** Idle from the driver's point of view (nothing queued, nothing running). */
  idle(): boolean {
    if (!this.ringEnabled()) return true;
    return this.depth === 0 && this.head() === this.tail() && this.semPolls === 0;
  }

  /** GPU VA of the next command this engine will fetch. */
  nextVa(): number {
    if (this.depth > 0) return this.bb[this.depth - 1];
    return this.r[this.slots.start] + this.head();
  }

  syncContext(): void {
    const r = this.r;
    this.ctx.pml4 = (r[this.slots.pdpHi] & 0xfffff) * 0x100000000 + ((r[this.slots.pdpLo] & 0xfffff000) >>> 0);
    this.ctx.view = r[this.slots.view] & 1;
  }

  /** Executes (or polls) one command. Returns STEP_COMMAND, STEP_POLL or STEP_ERROR. */
  step(): number {
    const r = this.r;
    const s = this.slots;
    const inRing = this.depth === 0;
    let va: number;
    if (inRing) {
      const head = r[s.head] & HEAD_MASK;
      while (this.subs.length > 0 && this.subs[0].end === head) this.subs.shift();
      const sub = this.subs.length > 0 ? this.subs[0].op : this.curSub;
      if (sub !== this.curSub) {
        this.curSub = sub;
        this.subCommands = 0;
      }
      const pages = ((r[s.ctl] >>> 12) & 0x1ff) + 1;
      va = r[s.start] + head;
      this.cmdVa = va;
      if (pages > this.host.maxRingPages) {
        return this.raise('invalid-command', null, `ring of ${pages} pages exceeds the ${this.host.maxRingPages}-page maximum of device version ${this.host.version}`);
      }
    } else {
      va = this.bb[this.depth - 1];
      this.cmdVa = va;
    }
    this.cmdIndex = -1;
    // Fetch the header (from the cached fetch page when it is still valid).
    const mem = this.host.mem;
    const header = !inRing && this.fVpn === Math.floor(va / PAGE_SIZE) && this.fTlbGen === this.tlb.generation && this.fMemGen === mem.generation
      ? this.fPage![(va & 0xfff) >>> 2]
      : this.fetchDword(va, 0, inRing);
    if (header < 0) return this.raiseFault(null);
    const idx = commandIndex(header);
    if (idx < 0) return this.raise('invalid-command', null, `unknown command header ${hex(header >>> 0, 8)} (client ${header >>> 29}, opcode not in the command table)`);
    const def = COMMANDS[idx];
    this.cmdIndex = idx;
    const fixed = FIXED_LENGTH[idx];
    let len: number;
    if (fixed !== 0 && (LENGTH_MASK[idx] === 0 ? 1 : (header & LENGTH_MASK[idx]) + 2) === fixed) len = fixed;
    else if (PAIRS[idx] === 1 && (header & 1) === 1) len = (header & LENGTH_MASK[idx]) + 2; // 1 + 2n, n >= 1
    else if (FLAG_BIT[idx] >= 0 && (header & LENGTH_MASK[idx]) + 2 === ((header >>> FLAG_BIT[idx]) & 1 ? FLAG_ON[idx] : FLAG_OFF[idx])) len = (header & LENGTH_MASK[idx]) + 2;
    else {
      const d = declaredLength(def, header);
      if (typeof d === 'string') return this.raise('invalid-command', def, d);
      len = d;
    }
    if (this.host.accepts[idx] === 0) {
      return this.raise('invalid-command', def, `${def.mnemonic} is not accepted by device version ${this.host.version} (it needs ${def.requires}); the VM's OPCAP registers do not list it`);
    }
    if (this.runsHere[idx] === 0) return this.raise('invalid-command', def, `${def.mnemonic} runs on ${def.engines.join('/')} only, not on ${this.name}`);
    const buf = this.buf;
    buf[0] = header;
    const at = (va & 0xfff) >>> 2;
    if (!inRing && at + len <= 1024 && this.fVpn === Math.floor(va / PAGE_SIZE) && this.fTlbGen === this.tlb.generation && this.fMemGen === mem.generation) {
      // The whole command is in the cached fetch page (fetchDword just validated it for the header).
      const page = this.fPage!;
      for (let i = 1; i < len; i++) buf[i] = page[at + i];
    } else {
      for (let i = 1; i < len; i++) {
        const d = this.fetchDword(va, i, inRing);
        if (d < 0) return this.raiseFault(def);
        buf[i] = d;
      }
    }
    this.cmdLen = len;
    // Command parser: translate and check every destination before anything is written.
    if (def.writes !== undefined) {
      const err = this.predictWrites(def, len);
      if (err !== 0) return err;
      const host = this.host;
      for (let i = 0; i < this.segCount; i++) {
        host.preserve(this.segHpa[i], this.segBytes[i]);
        if (host.predicted !== null) host.predicted.add(Math.floor(this.segHpa[i] / PAGE_SIZE));
      }
    } else {
      this.segCount = 0;
    }
    r[s.acthd] = va % 0x100000000;
    r[s.acthdUdw] = Math.floor(va / 0x100000000);
    const result = HANDLERS[idx](this, this.host, len);
    if (result === STEP_ERROR) return STEP_ERROR;
    if (result === STEP_POLL) {
      this.cycles += 1;
      r[s.timestamp] = this.cycles % 0x100000000;
      if (++this.semPolls >= this.host.semaphoreTimeout) {
        this.semPolls = 0;
        return this.raise('hang', def, `MI_SEMAPHORE_WAIT unsatisfied for ${this.host.semaphoreTimeout} cycles`);
      }
      return STEP_POLL;
    }
    this.semPolls = 0;
    if (result === ADVANCE) this.advance(len * 4);
    this.cycles += def.cycles + this.extraCycles;
    this.extraCycles = 0;
    r[s.timestamp] = this.cycles % 0x100000000;
    if (++this.subCommands > this.host.watchdog) {
      return this.raise('hang', def, `submission ran more than ${this.host.watchdog} commands (watchdog)`);
    }
    return STEP_COMMAND;
  }

  extraCycles = 0;

  advance(bytes: number): void {
    if (this.depth > 0) {
      this.bb[this.depth - 1] += bytes;
      return;
    }
    const r = this.r;
    const s = this.slots;
    const size = this.ringSize();
    const raw = r[s.head];
    let head = (raw & HEAD_MASK) + bytes;
    let wraps = raw >>> WRAP_SHIFT;
    if (head >= size) {
      head -= size;
      wraps = (wraps + 1) & 0x7ff;
    }
    this.host.regs.set(s.head, ((wraps << WRAP_SHIFT) | head) >>> 0);
  }

  // Fetch cache: the page the last command came from. Valid while the TLB and the memory's page
  // objects are unchanged (both count their invalidations); only allocated pages are cached.
  private fVpn = -1;
  private fPage: Uint32Array | null = null;
  private fTlbGen = -1;
  private fMemGen = -1;

  /** Dword i of the command at va (ring commands wrap at the ring end). -1 after a fetch fault. */
  private fetchDword(va: number, i: number, inRing: boolean): number {
    let a = va + i * 4;
    if (inRing) {
      const start = this.r[this.slots.start];
      const size = this.ringSize();
      a = start + ((va - start + i * 4) % size);
    }
    const vpn = Math.floor(a / PAGE_SIZE);
    const mem = this.host.mem;
    if (vpn === this.fVpn && this.fTlbGen === this.tlb.generation && this.fMemGen === mem.generation) return this.fPage![(a & 0xfff) >>> 2];
    const hpa = this.tlb.translate(this.ctx, a, ACCESS_FETCH, this.fault);
    if (hpa < 0) return -1;
    const pfn = Math.floor(hpa / PAGE_SIZE);
    const page = mem.pageForRead(pfn);
    if (mem.hasPage(pfn)) {
      this.fVpn = vpn;
      this.fPage = page;
      this.fTlbGen = this.tlb.generation;
      this.fMemGen = mem.generation;
    }
    return page[(hpa % PAGE_SIZE) >>> 2];
  }

  /** Translates a data access; -1 with the fault filled (misalignment is a page fault too). */
  translate(va: number, access: number, align: number): number {
    if (va % align !== 0) {
      const f = this.fault;
      f.kind = 'page-fault';
      f.va = va;
      f.gpa = undefined;
      f.access = access;
      f.level = -1;
      f.reason = `${access === ACCESS_WRITE ? 'write' : 'read'} at GPU VA ${hex(va)}: address is not ${align}-byte aligned`;
      f.steps = [];
      return -1;
    }
    return this.tlb.translate(this.ctx, va, access, this.fault);
  }

  readMem32(va: number): number {
    const hpa = this.translate(va, ACCESS_READ, 4);
    if (hpa < 0) return -1;
    return this.host.mem.pageForRead(Math.floor(hpa / PAGE_SIZE))[(hpa % PAGE_SIZE) >>> 2];
  }

  /**
   * The command parser: the table's write ranges of the current command (commands.writeRanges),
   * translated to HPA segments that never cross a page. Returns 0, or STEP_ERROR after a fault.
   */
  predictWrites(def: CommandDef, len: number): number {
    this.segCount = 0;
    this.segDef = def;
    this.segError = 0;
    writeRanges(def, this.buf, len, this.addRange);
    return this.segError;
  }

  private segDef: CommandDef | null = null;
  private segError = 0;
  /** writeRanges' sink, made once: translate a range page by page into segments. */
  private readonly addRange = (va: number, bytes: number, align: number): boolean => {
    const def = this.segDef!;
    if (bytes <= 0) return true;
    if (va % align !== 0) {
      this.translate(va, ACCESS_WRITE, align);
      this.segError = this.raiseFault(def);
      return false;
    }
    let left = bytes;
    while (left > 0) {
      const inPage = Math.min(left, PAGE_SIZE - (va % PAGE_SIZE));
      const hpa = this.translate(va, ACCESS_WRITE, 4);
      if (hpa < 0) {
        this.segError = this.raiseFault(def);
        return false;
      }
      if (this.segCount >= SEG_MAX) {
        this.segError = this.raise('invalid-command', def, `${def.mnemonic} writes more than ${SEG_MAX} page segments`);
        return false;
      }
      this.segHpa[this.segCount] = hpa;
      this.segBytes[this.segCount++] = inPage;
      va += inPage;
      left -= inPage;
    }
    return true;
  };

  /** Reads a w x h source rectangle into scratch (row-major), or -1 after a fault. */
  gatherSource(def: CommandDef, src: number, pitch: number, sx: number, sy: number, w: number, h: number): Uint32Array | null {
    const n = w * h;
    if (this.scratch.length < n) this.scratch = new Uint32Array(Math.max(n, this.scratch.length * 2));
    const out = this.scratch;
    let k = 0;
    for (let y = 0; y < h; y++) {
      let va = src + (sy + y) * pitch + sx * 4;
      let left = w;
      while (left > 0) {
        const hpa = this.translate(va, ACCESS_READ, 4);
        if (hpa < 0) return null;
        const inPage = Math.min(left, (PAGE_SIZE - (va % PAGE_SIZE)) >>> 2);
        const page = this.host.mem.pageForRead(Math.floor(hpa / PAGE_SIZE));
        const at = (hpa % PAGE_SIZE) >>> 2;
        out.set(page.subarray(at, at + inPage), k);
        k += inPage;
        va += inPage * 4;
        left -= inPage;
      }
    }
    void def;
    return out;
  }

  /** Records a GPU error from the last failed translation. */
  raiseFault(def: CommandDef | null): number {
    const f = this.fault;
    let steps = f.steps;
    if (steps.length === 0 && (f.level >= 0 || f.gpa !== undefined)) {
      // The hot path walks without a record; walk again (same state, same result) to keep the evidence.
      steps = [];
      this.syncContext();
      walk(this.ctx, f.va, f.access, new FaultInfo(), null, steps);
    }
    return this.raise(f.kind, def, f.reason, f.va, f.gpa, steps);
  }

  raise(kind: GpuErrorKind, def: CommandDef | null, message: string, faultAddress?: number, gpa?: number, walk?: FaultInfo['steps']): number {
    this.halted = true;
    this.lastFault = { kind, engine: this.name, commandVa: this.cmdVa, mnemonic: def ? def.mnemonic : null, message, faultAddress, gpa, walk };
    return STEP_ERROR;
  }

  /** Engine state beyond the register bank, for snapshots and checkpoints. */
  save(): EngineState {
    const bb: number[] = new Array(MAX_DEPTH);
    for (let i = 0; i < MAX_DEPTH; i++) bb[i] = this.bb[i];
    return {
      depth: this.depth, bb, cycles: this.cycles, halted: this.halted, semPolls: this.semPolls,
      subCommands: this.subCommands, curSub: this.curSub, subs: this.subs.map((x) => ({ op: x.op, end: x.end })), tlb: this.tlb.save(),
    };
  }

  restore(st: EngineState): void {
    this.depth = st.depth;
    this.bb.set(st.bb);
    this.cycles = st.cycles;
    this.halted = st.halted;
    this.semPolls = st.semPolls;
    this.subCommands = st.subCommands;
    this.curSub = st.curSub;
    this.subs = st.subs.map((x) => ({ op: x.op, end: x.end }));
    this.tlb.restore(st.tlb);
    this.lastFault = null;
  }
}

export interface EngineState {
  depth: number;
  bb: number[];
  cycles: number;
  halted: boolean;
  semPolls: number;
  subCommands: number;
  curSub: number;
  subs: { op: number; end: number }[];
  tlb: readonly number[];
}

/** ROP3 (PRM "BR13 raster operation"): bit (P<<2 | S<<1 | D) of rop gives the result bit. */
export function rop3(rop: number, p: number, s: number, d: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) {
    if (((rop >>> i) & 1) === 0) continue;
    r |= (i & 4 ? p : ~p) & (i & 2 ? s : ~s) & (i & 1 ? d : ~d);
  }
  return r >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Handlers keyed by mnemonic. Each returns ADVANCE (pointer moves past the command), JUMPED (the
// handler moved it), STEP_POLL or STEP_ERROR.

const ADVANCE = 10;
const JUMPED = 11;

type Handler = (e: Engine, h: EngineHost, len: number) => number;

function writeSeg32(h: EngineHost, hpa: number, value: number): void {
  h.mem.pageForWrite(Math.floor(hpa / PAGE_SIZE))[(hpa % PAGE_SIZE) >>> 2] = value;
}

function readPhys32(h: EngineHost, hpa: number): number {
  return h.mem.pageForRead(Math.floor(hpa / PAGE_SIZE))[(hpa % PAGE_SIZE) >>> 2];
}

function regName(offset: number): string {
  const r = regAt(offset);
  return r ? `${r.reg.name}${r.dword ? '+4' : ''} (${hex(offset)})` : `register ${hex(offset)}`;
}

function postSync(e: Engine, h: EngineHost, def: CommandDef, len: number, dataDw: number): void {
  const op = fieldNum(def, e.buf, len, 'post_sync');
  if (op === 0 || e.segCount === 0) return;
  const hpa = e.segHpa[0];
  let lo = 0;
  let hi = 0;
  if (op === 1) {
    lo = e.buf[dataDw];
    hi = e.buf[dataDw + 1];
  } else if (op === 3) {
    lo = e.cycles % 0x100000000;
    hi = Math.floor(e.cycles / 0x100000000);
  }
  writeSeg32(h, hpa, lo);
  writeSeg32(h, hpa + 4, hi);
}

const SEMAPHORE = COMMANDS.find((d) => d.mnemonic === 'MI_SEMAPHORE_WAIT')!;
const ATOMIC = COMMANDS.find((d) => d.mnemonic === 'MI_ATOMIC')!;
const BBS = COMMANDS.find((d) => d.mnemonic === 'MI_BATCH_BUFFER_START')!;
const FLUSH = COMMANDS.find((d) => d.mnemonic === 'MI_FLUSH_DW')!;
const PIPE = COMMANDS.find((d) => d.mnemonic === 'PIPE_CONTROL')!;
const COND = COMMANDS.find((d) => d.mnemonic === 'MI_CONDITIONAL_BATCH_BUFFER_END')!;

// Dword positions the handlers read, resolved once from the table.
const DW_ATOMIC_DATA = dwOf('MI_ATOMIC', 'data');
const DW_COND_DATA = dwOf('MI_CONDITIONAL_BATCH_BUFFER_END', 'data');
const DW_FLUSH_DATA = dwOf('MI_FLUSH_DW', 'data');
const DW_LRM_REG = dwOf('MI_LOAD_REGISTER_MEM', 'reg');
const DW_LRR_DST = dwOf('MI_LOAD_REGISTER_REG', 'dst');
const DW_LRR_SRC = dwOf('MI_LOAD_REGISTER_REG', 'src');
const DW_SEMAPHORE_DATA = dwOf('MI_SEMAPHORE_WAIT', 'data');
const DW_SDI_DATA = dwOf('MI_STORE_DATA_IMM', 'data');
const DW_SRM_REG = dwOf('MI_STORE_REGISTER_MEM', 'reg');
const DW_PIPE_DATA = dwOf('PIPE_CONTROL', 'data');
const DW_COLOR_COLOR = dwOf('XY_COLOR_BLT', 'color');

// Fields the handlers read, resolved once from the table.
const F_ATOMIC_OP = fieldByName(ATOMIC, 'op')!;
const F_BBS_ADDR = fieldByName(BBS, 'addr')!;
const F_BBS_PPGTT = fieldByName(BBS, 'ppgtt')!;
const F_BBS_SECOND_LEVEL = fieldByName(BBS, 'second_level')!;
const F_COND_ADDR = fieldByName(COND, 'addr')!;
const F_FLUSH_INVALIDATE_TLB = fieldByName(FLUSH, 'invalidate_tlb')!;
const F_SEMAPHORE_ADDR = fieldByName(SEMAPHORE, 'addr')!;
const F_SEMAPHORE_OP = fieldByName(SEMAPHORE, 'op')!;

function endBatch(e: Engine, def: CommandDef): number {
  if (e.depth === 0) return e.raise('invalid-command', def, `${def.mnemonic} outside a batch buffer`);
  e.depth--; // a second-level return resumes at bb[depth-1], already past its MI_BATCH_BUFFER_START
  return JUMPED;
}

const BY_MNEMONIC: Record<string, Handler> = {
  MI_NOOP: () => ADVANCE,
  MI_ARB_CHECK: () => ADVANCE,
  MI_USER_INTERRUPT: (e, h) => {
    h.userInterrupt(e);
    return ADVANCE;
  },
  MI_BATCH_BUFFER_END: (e) => endBatch(e, COMMANDS[e.cmdIndex]),
  MI_CONDITIONAL_BATCH_BUFFER_END: (e, _h, len) => {
    if (e.depth === 0) return e.raise('invalid-command', COND, 'MI_CONDITIONAL_BATCH_BUFFER_END outside a batch buffer');
    const v = e.readMem32(fieldValue(F_COND_ADDR, e.buf, len)); // -1 only on a fault: stored dwords are unsigned
    if (v < 0) return e.raiseFault(COND);
    return v <= e.buf[DW_COND_DATA] ? endBatch(e, COND) : ADVANCE;
  },
  MI_SEMAPHORE_WAIT: (e, _h, len) => {
    const v = e.readMem32(fieldValue(F_SEMAPHORE_ADDR, e.buf, len));
    if (v < 0) return e.raiseFault(SEMAPHORE);
    const data = e.buf[DW_SEMAPHORE_DATA];
    const op = fieldValue(F_SEMAPHORE_OP, e.buf, len);
    let ok: boolean;
    switch (op) {
      case 0: ok = v > data; break;
      case 1: ok = v >= data; break;
      case 2: ok = v < data; break;
      case 3: ok = v <= data; break;
      case 4: ok = v === data; break;
      case 5: ok = v !== data; break;
      default: return e.raise('invalid-command', SEMAPHORE, `MI_SEMAPHORE_WAIT compare operation ${op} is reserved`);
    }
    return ok ? ADVANCE : STEP_POLL;
  },
  MI_STORE_DATA_IMM: (e, h, len) => {
    const d = DW_SDI_DATA;
    writeSeg32(h, e.segHpa[0], e.buf[d]);
    if (len === 5) writeSeg32(h, e.segHpa[0] + 4, e.buf[d + 1]);
    return ADVANCE;
  },
  MI_LOAD_REGISTER_IMM: (e, h, len) => {
    // The scanner checks every pair before any write (a refused command changes nothing).
    for (let i = 1; i < len; i += 2) {
      const off = (e.buf[i] & REG_OFFSET_MASK) - e.base;
      if (off < 0 || off >= ENGINE_WINDOW || e.cmdSlot[off >>> 2] < 0) {
        const mmio = e.buf[i] & REG_OFFSET_MASK;
        return e.raise('privileged-register', COMMANDS[e.cmdIndex], `MI_LOAD_REGISTER_IMM writes ${regName(mmio)}: commands may only write ${e.name}'s CS_GPR registers`);
      }
    }
    for (let i = 1; i < len; i += 2) h.regs.set(e.cmdSlot[((e.buf[i] & REG_OFFSET_MASK) - e.base) >>> 2], e.buf[i + 1]);
    return ADVANCE;
  },
  MI_STORE_REGISTER_MEM: (e, h) => {
    writeSeg32(h, e.segHpa[0], h.regs.read(e.buf[DW_SRM_REG] & REG_OFFSET_MASK));
    return ADVANCE;
  },
  MI_LOAD_REGISTER_MEM: (e, h, len) => {
    const def = COMMANDS[e.cmdIndex];
    const off = e.buf[DW_LRM_REG] & REG_OFFSET_MASK;
    const v = e.readMem32(fieldNum(def, e.buf, len, 'addr'));
    if (v < 0) return e.raiseFault(def);
    if (typeof h.regs.commandWrite(e.name, off, v) === 'string') {
      return e.raise('privileged-register', def, `MI_LOAD_REGISTER_MEM writes ${regName(off)}: commands may only write ${e.name}'s CS_GPR registers`);
    }
    return ADVANCE;
  },
  MI_LOAD_REGISTER_REG: (e, h) => {
    const def = COMMANDS[e.cmdIndex];
    const src = e.buf[DW_LRR_SRC] & REG_OFFSET_MASK;
    const dst = e.buf[DW_LRR_DST] & REG_OFFSET_MASK;
    if (typeof h.regs.commandWrite(e.name, dst, h.regs.read(src)) === 'string') {
      return e.raise('privileged-register', def, `MI_LOAD_REGISTER_REG writes ${regName(dst)}: commands may only write ${e.name}'s CS_GPR registers`);
    }
    return ADVANCE;
  },
  MI_FLUSH_DW: (e, h, len) => {
    if (fieldValue(F_FLUSH_INVALIDATE_TLB, e.buf, len)) e.tlb.invalidate();
    postSync(e, h, FLUSH, len, DW_FLUSH_DATA);
    return ADVANCE;
  },
  PIPE_CONTROL: (e, h, len) => {
    postSync(e, h, PIPE, len, DW_PIPE_DATA);
    return ADVANCE;
  },
  MI_COPY_MEM_MEM: (e, h, len) => {
    const def = COMMANDS[e.cmdIndex];
    const v = e.readMem32(fieldNum(def, e.buf, len, 'src'));
    if (v < 0) return e.raiseFault(def);
    writeSeg32(h, e.segHpa[0], v);
    return ADVANCE;
  },
  MI_ATOMIC: (e, h, len) => {
    const op = fieldValue(F_ATOMIC_OP, e.buf, len);
    const hpa = e.segHpa[0];
    const old = readPhys32(h, hpa);
    const operand = len === 11 ? e.buf[DW_ATOMIC_DATA] : h.regs.values[e.slots.gpr0];
    let v: number;
    switch (op) {
      case 0x01: v = old & operand; break;
      case 0x02: v = old | operand; break;
      case 0x03: v = old ^ operand; break;
      case 0x04: v = operand; break;
      case 0x05: v = old + 1; break;
      case 0x06: v = old - 1; break;
      case 0x07: v = old + operand; break;
      case 0x08: v = old - operand; break;
      default: return e.raise('invalid-command', ATOMIC, `MI_ATOMIC operation ${hex(op)} is not a dword atomic this device implements`);
    }
    writeSeg32(h, hpa, v >>> 0);
    return ADVANCE;
  },
  MI_BATCH_BUFFER_START: (e, h, len) => {
    const target = fieldValue(F_BBS_ADDR, e.buf, len);
    if (!fieldValue(F_BBS_PPGTT, e.buf, len)) return e.raise('invalid-command', BBS, 'MI_BATCH_BUFFER_START from the GGTT: a VM\'s batches must be in its PPGTT (address space indicator = 1)');
    if (target % 4 !== 0) {
      e.translate(target, ACCESS_FETCH, 4);
      return e.raiseFault(BBS);
    }
    const second = fieldValue(F_BBS_SECOND_LEVEL, e.buf, len) === 1;
    if (e.depth === 0) {
      e.advance(len * 4); // the ring resumes after the start
      e.depth = 1;
      e.bb[0] = target;
    } else if (second) {
      if (e.depth + 1 > h.maxBatchDepth) {
        return e.raise('invalid-command', BBS, `batch nesting depth ${e.depth + 1} exceeds the maximum ${h.maxBatchDepth} of device version ${h.version}`);
      }
      e.bb[e.depth - 1] += len * 4;
      e.bb[e.depth] = target;
      e.depth++;
    } else {
      e.bb[e.depth - 1] = target; // chained: replaces the current batch
    }
    h.regs.set(e.slots.bbAddr, target % 0x100000000);
    h.regs.set(e.slots.bbAddrUdw, Math.floor(target / 0x100000000));
    return JUMPED;
  },
  XY_COLOR_BLT: (e, h, len) => blit(e, h, len, 'color'),
  XY_SRC_COPY_BLT: (e, h, len) => blit(e, h, len, 'copy'),
  XY_FAST_COPY_BLT: (e, h, len) => blit(e, h, len, 'fast'),
};

function blit(e: Engine, h: EngineHost, len: number, kind: 'color' | 'copy' | 'fast'): number {
  const def = COMMANDS[e.cmdIndex];
  const depth = fieldNum(def, e.buf, len, 'depth');
  if (depth !== 3) return e.raise('invalid-command', def, `${def.mnemonic} color depth ${depth}: this device implements 32 bpp (3) only`);
  const g = blitGeometry(def, e.buf, len, 'dst');
  if (g.w <= 0 || g.h <= 0) return ADVANCE;
  const rop = kind === 'fast' ? 0xcc : fieldNum(def, e.buf, len, 'rop');
  let src: Uint32Array | null = null;
  let color = 0;
  if (kind === 'color') color = e.buf[DW_COLOR_COLOR];
  else {
    src = e.gatherSource(def, fieldNum(def, e.buf, len, 'src'), fieldNum(def, e.buf, len, 'src_pitch'), fieldNum(def, e.buf, len, 'sx'), fieldNum(def, e.buf, len, 'sy'), g.w, g.h);
    if (src === null) return e.raiseFault(def);
  }
  let k = 0; // pixel index in row-major order over the destination rectangle
  for (let i = 0; i < e.segCount; i++) {
    const hpa = e.segHpa[i];
    const n = e.segBytes[i] >>> 2;
    const page = h.mem.pageForWrite(Math.floor(hpa / PAGE_SIZE));
    const at = (hpa % PAGE_SIZE) >>> 2;
    if (rop === 0xf0 && kind === 'color') page.fill(color, at, at + n);
    else if (rop === 0xcc && src !== null) page.set(src.subarray(k, k + n), at);
    else for (let j = 0; j < n; j++) page[at + j] = rop3(rop, color, src ? src[k + j] : 0, page[at + j]);
    k += n;
  }
  e.extraCycles = Math.ceil((g.w * g.h) / 64);
  return ADVANCE;
}

const HANDLERS: Handler[] = COMMANDS.map((d) => {
  const fn = BY_MNEMONIC[d.mnemonic];
  if (!fn) throw new Error(`no handler for ${d.mnemonic}`);
  return fn;
});

