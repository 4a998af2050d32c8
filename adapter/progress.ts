// Long operations (reverse continue, time travel, runs, Compare Snapshots, migration, loading a large
// program): run in time
// slices so that the event loop gets `cancel` and `pause` requests between them, report DAP progress
// to clients that accept it once an operation has run for a while, and carry the cancel flag.

import { performance } from 'node:perf_hooks';

/** How long an operation runs before it shows progress (shorter ones would only flicker). */
export const PROGRESS_AFTER_MS = 500;
/** Longest run between two looks at the event loop: a cancel is honoured within about this. */
export const SLICE_MS = 15;
/** Least time between two progress updates. */
const UPDATE_MS = 200;

/** Where progress goes: the session's progressStart/Update/End events (when the client accepts them). */
export interface ProgressSink {
  start(
    progressId: string,
    title: string,
    requestId: number | undefined,
    message: string,
    percentage: number | undefined,
    cancellable: boolean,
  ): void;
  update(progressId: string, message: string, percentage: number | undefined): void;
  end(progressId: string, message: string): void;
}

let nextId = 1;

export class Operation {
  readonly progressId = `vgpu-${nextId++}`;
  cancelled = false;
  private readonly t0 = performance.now();
  private sliceStart = performance.now();
  private shown = false;
  private lastUpdate = 0;
  private ended = false;

  constructor(
    readonly title: string,
    private readonly sink?: ProgressSink,
    /** The request that started it (a `cancel` may name it instead of the progress id). */
    readonly requestId?: number,
    /** Does it honour `cancel`? (Loading a program is one pass of the assembler: it cannot stop half-way.) */
    readonly cancellable = true,
  ) {}

  /** Has the current slice used its time? (Cheap enough to call every few thousand steps.) */
  sliceOver(): boolean {
    return performance.now() - this.sliceStart >= SLICE_MS;
  }

  /**
   * Ends the slice: reports where the operation is (`fraction` of the work done, when known) and lets
   * the event loop run. Resolves to true when the operation was cancelled meanwhile.
   */
  async yield(message: string, fraction?: number): Promise<boolean> {
    this.report(message, fraction);
    await new Promise((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
    return this.cancelled;
  }

  /** Shows where the operation is, once it has run PROGRESS_AFTER_MS (updates at most every UPDATE_MS). */
  report(message: string, fraction?: number): void {
    const now = performance.now();
    const pct = fraction === undefined ? undefined : Math.max(0, Math.min(100, Math.round(fraction * 100)));
    if (this.sink && !this.ended) {
      if (!this.shown && now - this.t0 >= PROGRESS_AFTER_MS) {
        this.shown = true;
        this.lastUpdate = now;
        this.sink.start(this.progressId, this.title, this.requestId, message, pct, this.cancellable);
      } else if (this.shown && now - this.lastUpdate >= UPDATE_MS) {
        this.lastUpdate = now;
        this.sink.update(this.progressId, message, pct);
      }
    }
  }

  /** Shows progress now (an operation known to be long before it starts, which then blocks the event loop). */
  showNow(message: string): void {
    if (!this.sink || this.shown || this.ended) return;
    this.shown = true;
    this.lastUpdate = performance.now();
    this.sink.start(this.progressId, this.title, this.requestId, message, undefined, this.cancellable);
  }

  /** The operation is over (done, failed or cancelled): closes its progress if one was shown. */
  end(message: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.shown) this.sink?.end(this.progressId, message);
  }

  get elapsedMs(): number {
    return performance.now() - this.t0;
  }
}
