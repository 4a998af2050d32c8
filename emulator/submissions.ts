// The submissions an engine still has to execute: a queue whose saved form costs O(1), so a snapshot
// per `.submit` stays cheap however many submissions are pending (issue 17: 20,000 `.submit`s without
// `.wait` once copied the whole list at every snapshot, O(n²) in all).
//
// Storage is append-only: entries are never overwritten, only appended, so a saved view (storage,
// start, end) stays valid forever. A queue appends in place only while it is the storage's tail
// owner (its end is the storage's length); a queue restored from an older view copies its live
// entries first (copy on write), and a queue whose dead prefix outgrows its live part moves to fresh
// storage, so memory follows what is pending, not what was ever submitted.

/** One pending submission: the driver op that made it and the ring offset where it ends. */
export interface PendingSubmission {
  readonly op: number;
  readonly end: number;
}

class Storage {
  readonly ops: number[] = [];
  readonly ends: number[] = [];
}

/** A saved queue: immutable, shares storage with the queue it was taken from; JSON is a plain array. */
export class SubmissionsView {
  constructor(
    /** @internal */ readonly storage: Storage,
    /** @internal */ readonly start: number,
    /** @internal */ readonly end: number,
  ) {}

  get length(): number {
    return this.end - this.start;
  }

  toArray(): PendingSubmission[] {
    const out: PendingSubmission[] = new Array(this.end - this.start);
    for (let i = this.start; i < this.end; i++)
      out[i - this.start] = { op: this.storage.ops[i], end: this.storage.ends[i] };
    return out;
  }

  /** Checkpoints, migration streams and digests see a plain array. */
  toJSON(): PendingSubmission[] {
    return this.toArray();
  }
}

/** The saved form in a machine state: a view (in memory) or a plain array (parsed from a checkpoint). */
export type SavedSubmissions = SubmissionsView | readonly PendingSubmission[];

/** Below this many dead entries a queue never moves to fresh storage (moving costs its live part). */
const COMPACT_MIN = 1024;

export class SubmissionQueue {
  /** A saved form as a plain array (a copy). */
  static toArray(saved: SavedSubmissions): PendingSubmission[] {
    return saved instanceof SubmissionsView ? saved.toArray() : saved.map((s) => ({ op: s.op, end: s.end }));
  }

  private storage = new Storage();
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  /** Ring offset where the oldest pending submission ends (the queue must not be empty). */
  firstEnd(): number {
    return this.storage.ends[this.start];
  }

  /** Driver op of the oldest pending submission (the queue must not be empty). */
  firstOp(): number {
    return this.storage.ops[this.start];
  }

  /** Driver ops of every pending submission, oldest first. */
  ops(): number[] {
    return this.storage.ops.slice(this.start, this.end);
  }

  shift(): void {
    if (this.start < this.end) this.start++;
    if (this.start >= COMPACT_MIN && this.start > 2 * (this.end - this.start)) this.own();
  }

  push(op: number, end: number): void {
    if (this.storage.ops.length !== this.end) this.own();
    this.storage.ops.push(op);
    this.storage.ends.push(end);
    this.end++;
  }

  clear(): void {
    this.start = this.end;
  }

  /** The last view saved: a queue that did not change since saves the same one. */
  private saved: SubmissionsView | null = null;

  save(): SubmissionsView {
    const v = this.saved;
    if (v !== null && v.storage === this.storage && v.start === this.start && v.end === this.end) return v;
    return (this.saved = new SubmissionsView(this.storage, this.start, this.end));
  }

  load(saved: SavedSubmissions): void {
    if (saved instanceof SubmissionsView) {
      this.storage = saved.storage;
      this.start = saved.start;
      this.end = saved.end;
      return;
    }
    this.storage = new Storage();
    for (const s of saved) {
      this.storage.ops.push(s.op);
      this.storage.ends.push(s.end);
    }
    this.start = 0;
    this.end = saved.length;
  }

  /** Moves the live entries to storage of this queue's own (views of the old storage keep it). */
  private own(): void {
    const next = new Storage();
    for (let i = this.start; i < this.end; i++) {
      next.ops.push(this.storage.ops[i]);
      next.ends.push(this.storage.ends[i]);
    }
    this.storage = next;
    this.end -= this.start;
    this.start = 0;
  }
}
