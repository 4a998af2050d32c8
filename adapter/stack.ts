// Threads and call stacks: the driver thread and one thread per engine; an engine's stack is its batch
// levels, innermost first, down to the ring (a caller frame points at its MI_BATCH_BUFFER_START).

import { EngineName, ENGINES, PAGE_SIZE, type Engine, type SourceLoc, type Vm } from '../emulator';
import { listingOf } from './listing';
import { peekMnemonic } from './memory';

export const DRIVER_THREAD = 1;
/** Thread ids: driver 1, then the engines in table order (rcs0 2, bcs0 3). */
export const THREADS: readonly { id: number; name: string }[] = [
  { id: DRIVER_THREAD, name: 'driver' },
  ...ENGINES.map((name, i) => ({ id: i + 2, name })),
];

/** Dwords of MI_BATCH_BUFFER_START: a caller's batch pointer sits just after it. */
const BBS_BYTES = 12;
/** Frame ids encode the thread and the level: threadId * FRAME_STRIDE + index (0 = innermost). */
const FRAME_STRIDE = 64;

export function engineOfThread(threadId: unknown): EngineName | undefined {
  return typeof threadId === 'number' && threadId >= 2 ? ENGINES[threadId - 2] : undefined;
}

export function threadOfEngine(engine: EngineName): number {
  return ENGINES.indexOf(engine) + 2;
}

export function isThread(threadId: unknown): threadId is number {
  return typeof threadId === 'number' && THREADS.some((t) => t.id === threadId);
}

export interface Frame {
  readonly id: number;
  readonly threadId: number;
  /** 0 = innermost. */
  readonly index: number;
  readonly name: string;
  readonly engine: EngineName | null;
  /** Batch level (0 = ring); -1 for the driver. */
  readonly level: number;
  /** GPU VA of the command this frame is at (engines only). */
  readonly va: number | undefined;
  readonly loc: SourceLoc | undefined;
  /** The engine has nothing to run (frame shows where its ring head is). */
  readonly idle: boolean;
}

export function frameId(threadId: number, index: number): number {
  return threadId * FRAME_STRIDE + index;
}

/** Splits a frame id; undefined when it cannot be one. */
export function parseFrameId(id: unknown): { threadId: number; index: number } | undefined {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < FRAME_STRIDE) return undefined;
  const threadId = Math.floor(id / FRAME_STRIDE);
  return isThread(threadId) ? { threadId, index: id % FRAME_STRIDE } : undefined;
}

/** GPU VA of the command an engine's level is at: the innermost level's next command, a caller's start. */
export function levelVa(vm: Vm, e: Engine, level: number): number {
  if (level > 0) return level === e.depth ? e.bb[level - 1] : e.bb[level - 1] - BBS_BYTES;
  const start = vm.regs.values[e.slots.start];
  if (e.depth === 0) return start + e.head();
  const size = e.ringSize();
  return start + ((e.head() - BBS_BYTES + size) % size);
}

export function framesOf(vm: Vm, threadId: number): Frame[] {
  if (threadId === DRIVER_THREAD) return [driverFrame(vm)];
  const engine = engineOfThread(threadId);
  if (!engine) return [];
  const e = vm.engine(engine);
  const frames: Frame[] = [];
  const idle = !e.busy() && !e.halted;
  for (let level = e.depth; level >= 0; level--) {
    const va = levelVa(vm, e, level);
    const index = frames.length;
    const loc = idle ? undefined : locateCommand(vm, engine, va);
    frames.push({
      id: frameId(threadId, index),
      threadId,
      index,
      name: frameName(vm, e, level, va, idle),
      engine,
      level,
      va,
      loc,
      idle,
    });
  }
  return frames;
}

function driverFrame(vm: Vm): Frame {
  const ops = vm.image.driver;
  const pc = vm.driverPc;
  const op = pc < ops.length ? ops[pc] : undefined;
  const name = op
    ? `.${op.op}${'engine' in op ? ' ' + op.engine : 'engines' in op ? ' ' + op.engines.join(',') : ''}`
    : 'driver finished';
  return {
    id: frameId(DRIVER_THREAD, 0),
    threadId: DRIVER_THREAD,
    index: 0,
    name,
    engine: null,
    level: -1,
    va: undefined,
    loc: op ? driverLoc(vm, pc) : undefined,
    idle: !op,
  };
}

/** Source location of a driver operation: its program line, or its line in the listing of a capture or dump. */
export function driverLoc(vm: Vm, pc: number): SourceLoc | undefined {
  const listing = listingOf(vm);
  return listing ? listing.driverLoc(pc) : vm.image.driver[pc]?.loc;
}

/**
 * GPU VA pages where a command that locateCommand places on source line `line` can start (any
 * engine or address space): a backward search for the line passes over epochs that fetched from none.
 */
export function commandPagesOfLine(vm: Vm, line: number): Set<number> {
  const pages = new Set<number>();
  const add = (va: number, bytes = 4) => {
    for (let p = Math.floor(va / PAGE_SIZE); p <= Math.floor((va + bytes - 1) / PAGE_SIZE); p++) pages.add(p);
  };
  const listing = listingOf(vm);
  if (listing) {
    for (const va of listing.commandLines().get(line) ?? []) add(va);
    return pages;
  }
  for (const [va, loc] of vm.image.sourceMap) if (loc.line === line) add(va);
  for (const l of vm.image.listing) if (l.line === line && l.dwords.length > 0) add(l.va, 4 * l.dwords.length);
  // A ring command is found by its offset from RING_START, which only driver operations and edits
  // set: every value it takes is a driver operation's or one a kept snapshot (an edit's) holds.
  const offsets = new Set<number>();
  const starts = new Set<number>();
  for (const op of vm.image.driver) {
    if (op.op === 'submit') for (const e of op.entries) if (e.loc.line === line) offsets.add(e.offset);
    if (op.op === 'ring') starts.add(op.va);
    else if (op.op === 'context') starts.add(op.ring.start);
    else if (op.op === 'mmio') starts.add(op.value);
  }
  if (offsets.size > 0) {
    for (const e of vm.engines) {
      starts.add(vm.regs.values[e.slots.start]);
      for (const s of vm.snapshots.list) starts.add(s.state.regs[e.slots.start]);
    }
    for (const start of starts) for (const off of offsets) add(start + off);
  }
  return pages;
}

/** Driver operations (program counters) at source line `line`. */
export function driverPcsOfLine(vm: Vm, line: number): number[] {
  const pcs: number[] = [];
  for (let pc = 0; pc < vm.image.driver.length; pc++) if (driverLoc(vm, pc)?.line === line) pcs.push(pc);
  return pcs;
}

/** The program's own location of a command (a listing line for captures and dumps), without the `.dword` fallback. */
export function commandLoc(vm: Vm, engine: EngineName, va: number): SourceLoc | undefined {
  const listing = listingOf(vm);
  return listing ? listing.locate(vm, engine, va) : vm.locate(engine, va);
}

function frameName(vm: Vm, e: Engine, level: number, va: number, idle: boolean): string {
  if (!e.ringEnabled()) return `${e.name}: no ring`;
  const where =
    level === 0 ? `${e.name} ring+0x${(va - vm.regs.values[e.slots.start]).toString(16)}` : symbolize(vm, va);
  if (idle) return `${where} (idle)`;
  const m = peekMnemonic(vm, e, va);
  return `${m ?? '??'} @ ${where}`;
}

/** `name+0x10` from the nearest label or batch at or below a GPU VA (within 1 MiB), else the hex VA. */
export function symbolize(vm: Vm, va: number): string {
  let best: string | undefined;
  let bestVa = -1;
  for (const [name, value] of vm.image.symbols) {
    if (
      value <= va &&
      value > bestVa &&
      va - value < 0x100000 &&
      !vm.image.surfaces.some((s) => s.name.toUpperCase() === name)
    ) {
      best = name;
      bestVa = value;
    }
  }
  if (best === undefined) return `0x${va.toString(16)}`;
  const name = best.toLowerCase();
  return va === bestVa ? name : `${name}+0x${(va - bestVa).toString(16)}`;
}

interface Span {
  readonly start: number;
  readonly end: number;
  readonly line: number;
  readonly col: number;
  readonly ring: EngineName | null;
}

const spans = new WeakMap<Vm, Span[]>();

/**
 * Source location of the command at a VA: the VM's own lookup (batch source map, ring submissions),
 * else the listing line whose dwords contain it (a `.dword` line holding several commands).
 */
export function locateCommand(vm: Vm, engine: EngineName, va: number): SourceLoc | undefined {
  const listing = listingOf(vm);
  if (listing) return listing.locate(vm, engine, va);
  const loc = vm.locate(engine, va);
  if (loc) return loc;
  let list = spans.get(vm);
  if (!list) {
    const text = vm.image.source.split(/\r\n|\n|\r/);
    const col = (line: number) => Math.max(1, (text[line - 1] ?? '').search(/\S/) + 1);
    list = vm.image.listing
      .filter((l) => l.dwords.length > 0)
      .map((l) => ({ start: l.va, end: l.va + 4 * l.dwords.length, line: l.line, col: col(l.line), ring: l.ring }))
      .sort((a, b) => a.start - b.start);
    spans.set(vm, list);
  }
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const sp = list[mid];
    if (va < sp.start) hi = mid - 1;
    else if (va >= sp.end) lo = mid + 1;
    else
      return sp.ring === null || sp.ring === engine ? { file: vm.image.file, line: sp.line, col: sp.col } : undefined;
  }
  return undefined;
}
