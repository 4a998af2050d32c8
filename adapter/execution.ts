// Execution control: forward motions (continue, next/stepIn/stepOut per thread and granularity) run the
// deterministic VM step by step, checking breakpoints before each step and data breakpoints after it,
// in chunks so that `pause` gets through; reverse motions (stepBack, reverseContinue) search the
// recorded history (emulator/reverse.ts) and land on exactly the state forward execution had there.

import {
  BackwardSearch,
  GpuError,
  rewindFor,
  searchBackward,
  STEP_COMMAND,
  STEP_DONE,
  STEP_DRIVER,
  STEP_ERROR,
  STEP_POLL,
  STEP_STUCK,
  Vm,
  type Engine,
} from '../emulator';
import { LineEpochs, WatchEpochs } from './epochs';
import type { Breakpoints, Hit } from './breakpoints';
import { peekMnemonic } from './memory';
import { Operation } from './progress';
import {
  DRIVER_THREAD,
  commandPagesOfLine,
  driverLoc,
  driverPcsOfLine,
  engineOfThread,
  framesOf,
  locateCommand,
  threadOfEngine,
} from './stack';

export type Granularity = 'instruction' | 'line';
export type StepKind = 'over' | 'in' | 'out';

export interface Stop {
  readonly reason: string;
  readonly threadId: number;
  readonly description?: string;
  readonly text?: string;
  readonly hitBreakpointIds?: number[];
  /** The program ran to its end: the next forward motion ends the session. */
  readonly finished?: boolean;
  /** A stop of the `not-emulated` filter: the draw or dispatch about to retire. */
  readonly notEmulated?: { readonly mnemonic: string; readonly va: number };
}

/** A request the VM cannot honour in its current state (shown to the user as is). */
export class MotionError extends Error {}

/** Steps between two looks at the clock (a slice ends after SLICE_MS, then the event loop runs: pause, cancel). */
const CLOCK_EVERY = 1024;
/** Replayed steps per call of a backward search between two looks at the clock. */
const SEARCH_STEPS = 2048;
/** Bound on repeated instruction steps inside one `line` step back. */
const MAX_LINE_STEPS = 256;

/**
 * The client's end of the wire, as a motion sees it: while the client has more unread output than a
 * bound (a logpoint hit at every step, a client that does not read), the motion waits for it to drain
 * instead of queueing more events; none is dropped.
 */
export interface OutputFlow {
  /** More output than the bound is waiting for the client to read it. */
  over(): boolean;
  /** Resolves once the waiting output has drained (or the connection is gone). */
  drained(): Promise<void>;
}

/** A motion held by a client that does not read looks again this often (drain is the usual wake-up). */
const FLOW_RECHECK_MS = 500;

export class Execution {
  running = false;
  private pauseRequested = false;
  /** Wakes a motion waiting for the client to read its output (pause, cancel). */
  private wake: (() => void) | undefined;

  constructor(
    private readonly vm: Vm,
    private readonly bps: Breakpoints,
    private readonly output: (text: string) => void,
    /** The VM state jumped (rollback after an error): views must refresh. */
    private readonly invalidated: () => void,
    /**
     * A GPU error was rolled back (the VM is now at `step`, its submission marked guilty): the one
     * change of timeline a motion makes, which a VM kept in step elsewhere must repeat (lockstep.ts).
     */
    private readonly recovered: (err: GpuError, step: number) => void = () => undefined,
    private readonly flow?: OutputFlow,
  ) {}

  /** Waits while the client has too much unread output (not past a pause or cancel). */
  private async waitForReader(): Promise<void> {
    const flow = this.flow;
    while (flow?.over() && !this.pauseRequested && !this.cancelled) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(resolve, FLOW_RECHECK_MS);
        void flow.drained().then(resolve);
      });
      clearTimeout(timer);
      this.wake = undefined;
    }
  }

  private cancelled = false;

  pause(): void {
    if (this.running) this.pauseRequested = true;
    this.wake?.();
  }

  /** The session drops this VM (restart, terminate): a running motion ends without a stop. */
  cancel(): void {
    this.cancelled = true;
    this.pause();
  }

  /**
   * Runs forward until the motion's goal, a breakpoint, a GPU error, the end, or a pause (null:
   * cancelled). With `until`, breakpoints are passed over and the motion ends where `until` gives a
   * stop (checked before each step, as breakpoints are).
   */
  async forward(
    threadId: number,
    kind: 'continue' | StepKind,
    granularity: Granularity = 'line',
    until?: (vm: Vm) => Stop | null,
    op = new Operation('Running'),
  ): Promise<Stop | null> {
    const vm = this.vm;
    let moved = false;
    if (vm.pending) {
      const err = vm.pending;
      if (!vm.cfg.autoRollback)
        throw new MotionError(
          `the VM is stopped by a GPU error (${err.kind}) and autoRollback is off: step back, reverse-continue or roll back to a snapshot first`,
        );
      if (!vm.recover())
        throw new MotionError(`the GPU error (${err.kind}) cannot be rolled back: no snapshot before its submission`);
      this.recovered(err, vm.step);
      this.output(
        `${err.kind} on ${err.engine} rolled back: the VM is back before the guilty submission (${err.file}:${err.line}), which will be skipped\n`,
      );
      this.invalidated();
      moved = true;
    }
    const goal = this.goal(threadId, kind, granularity);
    const cannotArrive = this.cannotArrive(threadId, kind);
    // Once the goal is reached, the VM runs on until the stepping thread is next to act again, so that a
    // step stops where a step back lands: just before the thread's next command (or driver operation).
    const engine = engineOfThread(threadId);
    const actorOfThread = engine ? vm.engine(engine) : 'driver';
    let settling = false;
    let skipCheck = !moved; // the breakpoint we are standing on does not stop us again
    this.running = true;
    this.pauseRequested = false;
    let logged = this.bps.logged;
    try {
      for (;;) {
        for (let i = 1; ; i++) {
          if (i % CLOCK_EVERY === 0 && (op.sliceOver() || this.flow?.over())) break;
          if (this.bps.logged !== logged) {
            // A logpoint wrote: if the client has not read enough of its output, let it drain first.
            logged = this.bps.logged;
            if (this.flow?.over()) break;
          }
          if (settling) {
            const next = vm.nextActor();
            if (
              next === actorOfThread ||
              next === null ||
              (actorOfThread === 'driver' ? vm.driverPc >= vm.image.driver.length : !actorOfThread.busy())
            ) {
              return { reason: 'step', threadId };
            }
          }
          if (!skipCheck) {
            if (until) {
              const u = until(vm);
              if (u) return u;
            } else {
              const h = this.bps.before(vm);
              if (h) return hitStop(h);
            }
          }
          skipCheck = false;
          const actor = vm.nextActor();
          const before = vm.step;
          const watch = this.bps.hasData;
          if (watch) this.bps.arm(vm);
          const r = vm.stepOnce();
          if (r === STEP_ERROR) {
            const s = this.onError();
            if (s) return s;
            continue;
          }
          if (r === STEP_DONE) return this.endStop();
          if (r === STEP_STUCK)
            return {
              reason: 'pause',
              threadId: DRIVER_THREAD,
              description: 'VM stuck',
              text: 'Nothing can run: the driver waits on an engine a GPU error stopped',
            };
          if (watch) {
            const h = this.bps.after(vm, actor, r, before);
            if (h) return hitStop(h);
          }
          if (!settling && goal(actor, r)) settling = true;
          // On through the rest of a batch page, as run() goes, where no breakpoint can stop and the
          // motion cannot arrive (the clock still read every CLOCK_EVERY steps).
          if (!settling && until === undefined && r === STEP_COMMAND) {
            const room = CLOCK_EVERY - (i % CLOCK_EVERY) - 1;
            if (room > 1) i += vm.runAhead(room, (e) => cannotArrive(e) && this.bps.pageClear(e));
          }
        }
        const cancelled = await op.yield(`t=${vm.commands}`);
        await this.waitForReader();
        if (this.cancelled) return null;
        if (cancelled)
          return {
            reason: 'pause',
            threadId: this.focus(threadId),
            description: 'Cancelled',
            text: `${op.title} cancelled at t=${vm.commands} (step ${vm.step}): the VM stands there; continue goes on from here`,
          };
        if (this.pauseRequested) return { reason: 'pause', threadId: this.focus(threadId) };
      }
    } finally {
      this.running = false;
      this.pauseRequested = false;
    }
  }

  /** Steps back over one command of the thread (a whole batch at the thread's level), or one driver op. */
  /**
   * With `into` (Step Back Into, the reverse of Step Into): back to the thread's previous command at
   * any depth, so stepping back over a batch's return lands on its MI_BATCH_BUFFER_END.
   */
  stepBack(threadId: number, granularity: Granularity = 'line', into = false): Stop {
    const vm = this.vm;
    const engine = engineOfThread(threadId);
    if (!engine) {
      const found = searchBackward(vm, { pre: (v) => v.nextActor() === 'driver' });
      return found === null ? this.beginning(threadId) : { reason: 'step', threadId };
    }
    const e = vm.engine(engine);
    const d0 = e.depth;
    const once = () =>
      searchBackward(vm, { pre: (v) => v.nextActor() === e && e.semPolls === 0 && (into || e.depth <= d0) });
    if (once() === null) return this.beginning(threadId);
    const line1 = lineAt(vm, e);
    if (granularity === 'line' && !into && line1 !== undefined) {
      // Back to the first command of the line's run (several commands on one source line).
      const d1 = e.depth;
      for (let k = 0; k < MAX_LINE_STEPS; k++) {
        const saved = vm.step;
        if (once() === null) break;
        if (lineAt(vm, e) !== line1 || e.depth !== d1) {
          vm.goToStep(saved);
          break;
        }
      }
    }
    return { reason: 'step', threadId };
  }

  /**
   * Back to the latest earlier breakpoint hit or write of a watched location ("who last wrote this?"),
   * in slices (null: the session dropped the VM). Cancelled or paused, the VM stays where the search
   * stood (a real position of its history) and the stop says where.
   */
  async reverseContinue(threadId: number, op = new Operation('Reverse continue')): Promise<Stop | null> {
    const vm = this.vm;
    const bps = this.bps;
    const watch = bps.hasData;
    let actor: Engine | 'driver' | null = null;
    let before = 0;
    let commandsBefore = 0;
    let latest: { step: number; hit: Hit } | null = null;
    const onlyData = bps.onlyData;
    const search = new BackwardSearch(vm, {
      // Data breakpoints alone: epochs that wrote none of the watched pages are not replayed.
      epochs: onlyData ? new WatchEpochs(onlyData) : undefined,
      pre: (v) => {
        actor = v.nextActor();
        before = v.step;
        commandsBefore = v.commands;
        if (watch) bps.arm(v);
        const h = bps.before(v, true);
        if (h) latest = { step: v.step, hit: h };
        return h !== null;
      },
      post: watch
        ? (v) => {
            const h = bps.after(v, actor, v.commands > commandsBefore ? STEP_COMMAND : 0, before, true);
            if (h) latest = { step: v.step, hit: h };
            return h !== null;
          }
        : undefined,
    });
    const interrupted = await this.slices(search, op);
    if (interrupted) return interrupted === 'dropped' ? null : this.cancelledBack(threadId, op, search);
    const last = latest as { step: number; hit: Hit } | null;
    if (search.result === null || last === null) {
      vm.restoreSnapshot(0);
      return {
        reason: 'entry',
        threadId: this.withSource(this.focus(threadId)),
        description: 'Beginning of the recorded history',
        text: 'No earlier breakpoint or watched write: the VM is at its oldest kept snapshot',
      };
    }
    return hitStop(last.hit);
  }

  /**
   * "Jump to Cursor" as time travel: to the latest earlier (back) or the next (forward) moment the
   * VM is about to run something of source line `line` (a command of it on an engine, or a driver
   * operation). Breakpoints are passed over; going forward, GPU errors behave as in a continue.
   */
  async travel(
    line: number,
    direction: 'back' | 'forward',
    threadId: number,
    op = new Operation(`Jump to line ${line}`),
  ): Promise<Stop | null> {
    const vm = this.vm;
    const arrived = (v: Vm): Stop | null => {
      const t = threadAtLine(v, line);
      return t === null
        ? null
        : { reason: 'goto', threadId: t, description: `Line ${line}`, text: `t=${v.commands}, step ${v.step}` };
    };
    if (direction === 'forward') return this.forward(threadId, 'continue', 'line', arrived, op);
    // Epochs that fetched from none of the line's pages, and whose driver passed none of its operations, are not replayed.
    const epochs = new LineEpochs(commandPagesOfLine(vm, line), driverPcsOfLine(vm, line));
    const search = new BackwardSearch(vm, { pre: (v) => threadAtLine(v, line) !== null, epochs });
    let interrupted = await this.slices(search, op);
    if (interrupted) return interrupted === 'dropped' ? null : this.cancelledBack(threadId, op, search);
    const stop = search.result === null ? null : arrived(vm);
    if (stop === null) {
      // Not found: the VM goes back to where it was, by replay, in slices too.
      const end = search.end;
      this.running = true;
      try {
        while (vm.step < end) {
          const before = vm.step;
          vm.goToStep(Math.min(end, vm.step + SEARCH_STEPS));
          if (vm.step === before) break;
          if (op.sliceOver()) {
            const cancelled = await op.yield(`back to t=${vm.commands}`, end ? vm.step / end : undefined);
            if (this.cancelled) return null;
            interrupted = cancelled || this.pauseRequested ? 'cancelled' : undefined;
            if (interrupted)
              return {
                reason: 'pause',
                threadId: this.focus(threadId),
                description: 'Cancelled',
                text: `line ${line} did not run earlier; ${op.title} cancelled on the way back, at t=${vm.commands} (step ${vm.step})`,
              };
          }
        }
      } finally {
        this.running = false;
        this.pauseRequested = false;
      }
      this.output(`line ${line} does not run earlier in the recorded history: the VM stays at t=${vm.commands}\n`);
      return { reason: 'goto', threadId: this.focus(threadId), description: `Line ${line} did not run earlier` };
    }
    return stop;
  }

  /**
   * The console's `goto T`: right after the T-th command retired (what runToCommands reaches), back
   * through a kept snapshot and forward from it, in slices. Breakpoints are passed over. Cancelled or
   * paused, the VM stays where the replay stood (a real position of its history). Null: the session
   * dropped the VM.
   */
  async toTime(
    t: number,
    op: Operation,
  ): Promise<{ readonly arrived: boolean; readonly cancelled?: boolean; readonly why?: string } | null> {
    const vm = this.vm;
    if (!rewindFor(vm, t)) return { arrived: false, why: 'no snapshot that early' };
    const from = vm.commands;
    this.running = true;
    this.pauseRequested = false;
    try {
      for (let i = 1; vm.commands < t; i++) {
        const r = vm.stepOnce();
        if (r !== STEP_COMMAND && r !== STEP_DRIVER && r !== STEP_POLL)
          return { arrived: false, why: vm.pending ? `GPU error ${vm.pending.kind}` : 'the program ends before that' };
        if (i % CLOCK_EVERY === 0 && op.sliceOver()) {
          const cancelled = await op.yield(`t=${vm.commands} of ${t}`, (vm.commands - from) / (t - from));
          if (this.cancelled) return null;
          if (cancelled || this.pauseRequested) return { arrived: false, cancelled: true };
        }
        if (r === STEP_COMMAND) i += vm.runAhead(Math.min(CLOCK_EVERY - (i % CLOCK_EVERY) - 1, t - vm.commands));
      }
    } finally {
      this.running = false;
      this.pauseRequested = false;
    }
    return { arrived: true };
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Runs a backward search in slices of SLICE_MS, looking at the event loop between them (progress,
   * cancel, pause). Undefined when it is over; else why it was interrupted.
   */
  private async slices(search: BackwardSearch, op: Operation): Promise<'cancelled' | 'dropped' | undefined> {
    this.running = true;
    this.pauseRequested = false;
    try {
      for (;;) {
        let done = search.advance(SEARCH_STEPS);
        while (!done && !op.sliceOver()) done = search.advance(SEARCH_STEPS);
        if (done) return undefined;
        const total = search.end;
        const cancelled = await op.yield(
          `back at t=${this.vm.commands}`,
          total > 0 ? (total - search.segStart) / total : undefined,
        );
        if (this.cancelled) return 'dropped';
        if (cancelled || this.pauseRequested) return 'cancelled';
      }
    } finally {
      this.running = false;
      this.pauseRequested = false;
    }
  }

  /** The stop of a backward search cut short: the VM is at the position the search had reached. */
  private cancelledBack(threadId: number, op: Operation, search: BackwardSearch): Stop {
    const vm = this.vm;
    return {
      reason: 'pause',
      threadId: this.withSource(this.focus(threadId)),
      description: 'Cancelled',
      text: `${op.title} cancelled at t=${vm.commands} (step ${vm.step}), on its way back from step ${search.end}: nothing found in the history it had searched`,
    };
  }

  /**
   * Can a forward motion not arrive while engine `e` runs on in its batch page (Vm.runAhead: its
   * commands only, at its depth, the driver blocked)? A continue never arrives; a driver step arrives
   * only by a driver op; an engine's step over or out only by that engine at or above the depth it
   * started at (above, for out). Step into is left to single steps.
   */
  private cannotArrive(threadId: number, kind: 'continue' | StepKind): (e: Engine) => boolean {
    const engine = engineOfThread(threadId);
    if (kind === 'continue' || !engine) return () => true;
    if (kind === 'in') return () => false;
    const stepper = this.vm.engine(engine);
    const d0 = stepper.depth;
    return kind === 'out' ? (e) => e !== stepper || e.depth >= d0 : (e) => e !== stepper || e.depth > d0;
  }

  /** When has a forward step motion of this thread arrived? Called after each VM step. */
  private goal(
    threadId: number,
    kind: 'continue' | StepKind,
    granularity: Granularity,
  ): (actor: Engine | 'driver' | null, r: number) => boolean {
    if (kind === 'continue') return () => false;
    const engine = engineOfThread(threadId);
    if (!engine) return (actor) => actor === 'driver';
    const vm = this.vm;
    const e = vm.engine(engine);
    const d0 = e.depth;
    // stepIn on a batch start (or on an idle engine, whose next command is not known yet) stops after one command.
    if (kind === 'in' && (!(e.busy() || e.halted) || peekMnemonic(vm, e, e.nextVa()) === 'MI_BATCH_BUFFER_START')) {
      return (actor, r) => actor === e && r === STEP_COMMAND;
    }
    if (kind === 'out') {
      return d0 > 0
        ? (actor, r) => actor === e && r === STEP_COMMAND && e.depth < d0
        : (actor, r) => actor === e && r === STEP_COMMAND && e.idle();
    }
    const line0 = e.busy() ? lineAt(vm, e) : undefined;
    return (actor, r) =>
      actor === e &&
      r === STEP_COMMAND &&
      e.depth <= d0 &&
      (granularity === 'instruction' || e.depth !== d0 || line0 === undefined || lineAt(vm, e) !== line0);
  }

  /** A GPU error stopped an engine: stop when its filter is on, else behave as outside a debug session. */
  private onError(): Stop | null {
    const vm = this.vm;
    const err = vm.pending!;
    const threadId = threadOfEngine(err.engine);
    const stop: Stop = { reason: 'exception', threadId, description: `GPU error: ${err.kind}`, text: err.message };
    if (this.bps.exceptions.has(err.kind)) return stop;
    if (vm.cfg.autoRollback && vm.recover()) {
      this.recovered(err, vm.step);
      this.output(
        `${err.kind} on ${err.engine} at ${err.file}:${err.line}: ${err.message} (rolled back; the submission is skipped)\n`,
      );
      this.invalidated();
      return null;
    }
    return { ...stop, description: `GPU error: ${err.kind} (not rolled back)` };
  }

  private endStop(): Stop {
    const r = this.vm.result();
    const errs = this.vm.errors.length;
    return {
      reason: 'pause',
      threadId: DRIVER_THREAD,
      finished: true,
      description: 'Program finished',
      text: `${r.status} after ${r.commands} commands, ${r.cycles} cycles${errs ? `, ${errs} GPU error${errs > 1 ? 's' : ''}` : ''}; step back to inspect, continue to end the session`,
    };
  }

  private beginning(threadId: number): Stop {
    this.output('no earlier position of this thread in the recorded history\n');
    return { reason: 'step', threadId: this.withSource(threadId), description: 'Beginning of the recorded history' };
  }

  /** The thread, or the driver when the thread's top frame has no source line (an engine with no ring yet). */
  private withSource(threadId: number): number {
    return framesOf(this.vm, threadId)[0]?.loc ? threadId : DRIVER_THREAD;
  }

  private focus(threadId: number): number {
    if (threadId !== DRIVER_THREAD) return threadId;
    const a = this.vm.nextActor();
    return a && a !== 'driver' ? threadOfEngine(a.name) : DRIVER_THREAD;
  }
}

function hitStop(h: Hit): Stop {
  if (h.notEmulated)
    return {
      reason: h.reason,
      threadId: h.threadId,
      description: h.description,
      text: h.text,
      notEmulated: h.notEmulated,
    };
  return { reason: h.reason, threadId: h.threadId, description: h.description, hitBreakpointIds: h.ids };
}

/** The thread about to run something of source line `line` (its next actor's command or driver operation), or null. */
function threadAtLine(vm: Vm, line: number): number | null {
  const a = vm.nextActor();
  if (a === null) return null;
  if (a === 'driver') return driverLoc(vm, vm.driverPc)?.line === line ? DRIVER_THREAD : null;
  if (a.semPolls > 0) return null; // polling a semaphore again is not a new execution of its line
  return locateCommand(vm, a.name, a.nextVa())?.line === line ? threadOfEngine(a.name) : null;
}

/** Source line of the command an engine will run next. */
function lineAt(vm: Vm, e: Engine): number | undefined {
  if (!e.busy() && !e.halted) return undefined;
  return locateCommand(vm, e.name, e.nextVa())?.line;
}
