// Reverse execution: time travel as restore-nearest-snapshot plus deterministic replay. Positions are
// global steps (driver ops, commands, semaphore polls); "time" shown to users is the command count.

import { STEP_COMMAND, STEP_DRIVER, STEP_ERROR, STEP_POLL, Vm } from './vm';
import type { EngineName } from './registers';

/**
 * The nearest of the snapshots a backward move leaves behind (at this many steps before where it
 * lands, twice as many, four times...): after the first reverse step from a position (one snapshot
 * interval of replay), the next ones replay a few dozen steps.
 */
export const REVERSE_TRAIL = 32;

/** A condition checked during replay: `pre` before a step runs, `post` after it. */
export interface StopCondition {
  pre?: (vm: Vm) => boolean;
  post?: (vm: Vm) => boolean;
  /** Lets the search skip epochs, without replaying them, that provably hold no position where pre or post holds. */
  epochs?: EpochFilter;
}

/**
 * Which steps of an epoch (kept snapshot i up to snapshot i + 1, or to the present for the newest)
 * may take part in a hit: a step about to run where `pre` holds, or one after which `post` does.
 * `prepare` sees the VM at the end of the epochs it is about to be asked about (where the search
 * starts, then right after each restore). `lastStep(vm, i)` bounds them: no step after it can (-1:
 * none in the epoch; Infinity: any). It must never be below a real one (its undo log's page records,
 * register writes and fetched pages say what the epoch did): a bound too low would make reverse
 * motions miss a hit that forward execution has.
 */
export interface EpochFilter {
  prepare(vm: Vm): void;
  lastStep(vm: Vm, index: number): number;
}

/**
 * Puts the VM right after its t-th command retired (the first step where vm.commands === t), the
 * same state a fresh forward run to t reaches.
 */
export function runToCommands(vm: Vm, t: number): boolean {
  if (!rewindFor(vm, t)) return false;
  while (vm.commands < t) {
    const r = vm.stepOnce();
    if (r !== STEP_COMMAND && r !== STEP_DRIVER && r !== STEP_POLL) return false;
    if (r === STEP_COMMAND) vm.runAhead(t - vm.commands);
  }
  return vm.commands === t;
}

/**
 * When time `t` is not ahead (driver ops may have run since the t-th command retired), restores the
 * latest kept snapshot before it, from which a forward run reaches the first step with t. False when
 * no snapshot is that early (the VM did not move).
 */
export function rewindFor(vm: Vm, t: number): boolean {
  if (t > vm.commands) return true;
  const list = vm.snapshots.list;
  let i = list.length - 1;
  while (i > 0 && !(list[i].state.commands < t)) i--;
  if (i < 0 || list[i].state.commands > t) return false;
  vm.restoreSnapshot(i);
  return true;
}

/**
 * Finds the latest position before `end` where a condition holds (scanning back one snapshot
 * segment at a time) and moves the VM there. Returns the step, or null (the VM is then put back at
 * `end`).
 */
export function searchBackward(vm: Vm, cond: StopCondition, end = vm.step): number | null {
  const search = new BackwardSearch(vm, cond, end);
  search.advance(Infinity);
  if (search.result === null) vm.goToStep(end);
  return search.result ?? null;
}

/**
 * A backward search that runs a bounded number of replayed steps at a time, so that a caller can
 * look elsewhere between slices (progress, cancellation) and stop it at any slice boundary: the VM is
 * then at a real position of its history (`vm.step`), the one a forward run reaches there.
 */
export class BackwardSearch {
  /** The found step; null when nothing before `end` holds; undefined while searching. */
  result: number | null | undefined = undefined;
  /** Start of the segment being scanned (the search covers [segStart, end) once it is done with it). */
  segStart: number;
  private segEnd: number;
  private index = -1;
  private found: number | null = null;
  private prepared = false;
  /** Epochs passed over without replay (an EpochFilter said they hold no hit). */
  skipped = 0;

  constructor(
    private readonly vm: Vm,
    private readonly cond: StopCondition,
    readonly end = vm.step,
  ) {
    this.segEnd = end;
    this.segStart = end;
  }

  /**
   * Replays at most `budget` steps. True when the search is over: found (the VM is there), or not
   * (the VM is at the start of the oldest segment; searchBackward puts it back at `end`).
   */
  advance(budget: number): boolean {
    const vm = this.vm;
    const { pre, post } = this.cond;
    while (this.result === undefined) {
      if (this.index < 0) {
        const list = vm.snapshots.list;
        let i = vm.snapshots.indexAtOrBefore(this.segEnd - 1);
        const filter = this.cond.epochs;
        if (filter && i >= 0) {
          if (!this.prepared) {
            filter.prepare(vm);
            this.prepared = true;
          }
          // Epochs that cannot hold a hit are passed over (the restore below rewinds their memory), and
          // a candidate is replayed only up to its last step that may hit.
          let last = filter.lastStep(vm, i);
          while (i > 0 && last < list[i].state.step) {
            this.skipped++;
            last = filter.lastStep(vm, --i);
          }
          if (last < list[i].state.step) {
            this.skipped++;
            this.segStart = list[i].state.step;
            this.result = null;
            break;
          }
          this.segEnd = Math.min(this.segEnd, i + 1 < list.length ? list[i + 1].state.step : Infinity, last + 1);
        }
        if (i < 0) {
          this.result = null;
          break;
        }
        vm.restoreSnapshot(i);
        filter?.prepare(vm);
        this.index = i;
        this.segStart = vm.step;
        this.found = null;
      }
      let over = vm.step >= this.segEnd;
      while (!over && budget > 0) {
        budget--;
        if (pre && pre(vm)) this.found = vm.step;
        const r = vm.stepOnce();
        if (r === STEP_ERROR) over = true;
        else if (post && vm.step < this.end && post(vm)) this.found = vm.step;
        if (vm.step >= this.segEnd) over = true;
      }
      if (!over) return false;
      const i = this.index;
      this.index = -1;
      if (this.found !== null) {
        vm.goToStep(this.found, undefined, REVERSE_TRAIL);
        this.result = this.found;
      } else if (i === 0 || this.segStart === 0) {
        vm.restoreSnapshot(0);
        this.result = null;
      } else {
        this.segEnd = this.segStart;
      }
    }
    return true;
  }
}

/**
 * Steps back over one command (of `engine` when given, else of any engine) or one driver op;
 * semaphore polls are not positions of their own. Returns false at the beginning of time.
 */
export function stepBack(vm: Vm, engine?: EngineName | 'driver'): boolean {
  const isStop = (v: Vm) => {
    const a = v.nextActor();
    const ok = a !== null && (engine === undefined || (a === 'driver' ? engine === 'driver' : a.name === engine));
    return ok && (a === 'driver' || !willPoll(v, a));
  };
  // Usually the previous step is the answer: one restore and one replay. Otherwise search.
  const end = vm.step;
  if (end > 0 && vm.snapshots.indexAtOrBefore(end - 1) >= 0) {
    vm.goToStep(end - 1, undefined, REVERSE_TRAIL);
    if (vm.step === end - 1 && isStop(vm)) return true;
    vm.goToStep(end);
  }
  return searchBackward(vm, { pre: isStop }, end) !== null;
}

/** Would the engine's next step only poll a semaphore? (It already polled at least once.) */
function willPoll(_vm: Vm, e: Exclude<ReturnType<Vm['nextActor']>, 'driver' | null>): boolean {
  return e.semPolls > 0;
}

/** Reverse-continue: the latest earlier point where a breakpoint or data breakpoint condition holds. */
export function reverseContinue(vm: Vm, cond: StopCondition): number | null {
  return searchBackward(vm, cond);
}
