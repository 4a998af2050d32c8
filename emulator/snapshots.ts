// Incremental snapshots: each keeps the registers and engine/driver state at its step plus the
// before-images of the pages first written after it (predicted by the command parser), so its cost
// is what changed, never the size of guest RAM. Rollback undoes epochs newest-first.

import type { EngineState } from './engine';
import { HostMemory, PAGE_SIZE } from './memory';

export type SnapshotReason = 'start' | 'periodic' | 'submission' | 'manual' | 'edit';

/** The machine state a snapshot holds besides memory (small, fixed size). */
export interface MachineState {
  readonly step: number;
  readonly commands: number;
  readonly regs: Uint32Array;
  readonly engines: readonly EngineState[];
  readonly driverPc: number;
  readonly ringGpa: readonly number[];
  readonly rr: number;
  readonly interrupts: number;
}

export interface Snapshot {
  readonly id: number;
  readonly reason: SnapshotReason;
  /** For a submission snapshot: the driver op about to run. */
  readonly op: number;
  readonly engine: string | null;
  readonly state: MachineState;
  /** Register slots the I/O tracker saw written in the epoch before this snapshot. */
  readonly touchedRegs: readonly number[];
  /** Before-images of pages first written in this snapshot's epoch (null: the page was unallocated). */
  pages: Map<number, Uint32Array | null>;
  /** Edits (setVariable, writeMemory) are not replayable: never thin a snapshot that follows one. */
  readonly barrier: boolean;
}

const FIXED_BYTES = 1024;
/** Before-images are carved out of 1 MiB slabs and recycled, so a long run allocates no page arrays. */
const SLAB_PAGES = 256;
/** Snapshots younger than this many are never thinned. */
const DENSE_RECENT = 16;

export function snapshotBytes(s: Snapshot): number {
  return s.pages.size * PAGE_SIZE + FIXED_BYTES;
}

/** A kept snapshot as views and remote clients list it (time = commands). */
export interface SnapshotSummary {
  readonly id: number;
  readonly step: number;
  readonly commands: number;
  readonly reason: string;
  readonly engine: string | null;
  readonly pages: number;
  readonly bytes: number;
}

export function summarize(s: Snapshot): SnapshotSummary {
  return { id: s.id, step: s.state.step, commands: s.state.commands, reason: s.reason, engine: s.engine, pages: s.pages.size, bytes: snapshotBytes(s) };
}

export class SnapshotStore {
  readonly list: Snapshot[] = [];
  private nextId = 0;
  /** Total snapshots ever taken (including thinned and replaced ones). */
  taken = 0;
  /** Before-images of the open epoch (the newest snapshot's). */
  private open: Map<number, Uint32Array | null> | null = null;

  constructor(private readonly mem: HostMemory, public budget: number) {}

  /** Recycled before-image arrays. */
  private readonly free: Uint32Array[] = [];

  /** The page is about to be written: keep its before-image once per epoch. */
  preserve(pfn: number): void {
    const open = this.open;
    if (open === null || open.has(pfn)) return;
    if (!this.mem.hasPage(pfn)) {
      open.set(pfn, null);
      this.keptPages++;
      return;
    }
    const img = this.free.pop() ?? this.newImages();
    img.set(this.mem.pageForRead(pfn));
    open.set(pfn, img);
    this.keptPages++;
  }

  private newImages(): Uint32Array {
    const slab = new Uint32Array(SLAB_PAGES * (PAGE_SIZE / 4));
    for (let i = 1; i < SLAB_PAGES; i++) this.free.push(slab.subarray(i * (PAGE_SIZE / 4), (i + 1) * (PAGE_SIZE / 4)));
    return slab.subarray(0, PAGE_SIZE / 4);
  }

  private recycle(pages: Map<number, Uint32Array | null>): void {
    for (const img of pages.values()) if (img !== null) this.free.push(img);
  }

  add(reason: SnapshotReason, state: MachineState, touchedRegs: number[], op = -1, engine: string | null = null): Snapshot {
    const last = this.list[this.list.length - 1];
    // A snapshot at the same step as the newest one, with nothing written in between, supersedes it
    // (unless that one is a barrier: its state may differ by an edit that left memory alone).
    const s: Snapshot = { id: this.nextId++, reason, op, engine, state, touchedRegs, pages: new Map(), barrier: reason === 'edit' };
    if (last && last.state.step === state.step && last.pages.size === 0 && !last.barrier) this.list.pop();
    this.list.push(s);
    this.open = s.pages;
    this.taken++;
    this.thin();
    return s;
  }

  /** Before-images kept over all snapshots (maintained as they come and go: the budget check is O(1)). */
  private keptPages = 0;

  totalBytes(): number {
    return this.keptPages * PAGE_SIZE + this.list.length * FIXED_BYTES;
  }

  private overBudget(): boolean {
    return this.totalBytes() > this.budget;
  }

  /** Index of the newest snapshot at or before a step, or -1. */
  indexAtOrBefore(step: number): number {
    let lo = 0;
    let hi = this.list.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.list[mid].state.step <= step) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  /**
   * Undoes memory back to snapshot `index` (newest epoch first, so the oldest before-image of each
   * page wins) and drops the snapshots after it; returns its machine state for the caller to load.
   */
  rewind(index: number): MachineState {
    for (let i = this.list.length - 1; i >= index; i--) {
      for (const [pfn, img] of this.list[i].pages) this.mem.restorePage(pfn, img);
      this.recycle(this.list[i].pages);
      this.keptPages -= this.list[i].pages.size;
    }
    const s = this.list[index];
    this.list.length = index + 1;
    s.pages = new Map();
    this.open = s.pages;
    return s.state;
  }

  /**
   * Thinning policy: when kept snapshots exceed the budget, merge older snapshots into their
   * predecessors, every other one from the oldest, so recent history stays dense (the newest 16 are
   * never touched) and old history grows sparse. Merging keeps the older before-image of a page.
   */
  private thin(): void {
    while (this.list.length > DENSE_RECENT + 1 && this.overBudget()) {
      let merged = false;
      const end = this.list.length - DENSE_RECENT;
      for (let i = end - 1; i >= 1; i -= 2) {
        if (this.list[i].barrier) continue;
        this.mergeIntoPrevious(i);
        merged = true;
        if (this.totalBytes() <= this.budget) return;
      }
      if (!merged) {
        if (this.list[0].barrier && this.list.length > 1) break;
        const oldest = this.list.shift()!; // the oldest epoch cannot be reached any more
        this.recycle(oldest.pages);
        this.keptPages -= oldest.pages.size;
      }
    }
  }

  private mergeIntoPrevious(i: number): void {
    const prev = this.list[i - 1];
    for (const [pfn, img] of this.list[i].pages) {
      if (!prev.pages.has(pfn)) prev.pages.set(pfn, img);
      else {
        this.keptPages--;
        if (img !== null) this.free.push(img);
      }
    }
    if (this.open === this.list[i].pages) this.open = prev.pages;
    this.list.splice(i, 1);
  }

  /** Replaces the kept snapshots (a resumed or moved VM); the newest one's epoch is open. */
  load(list: readonly Snapshot[]): void {
    this.list.splice(0, this.list.length, ...list);
    this.keptPages = list.reduce((n, s) => n + s.pages.size, 0);
    this.open = list.length ? list[list.length - 1].pages : null;
    this.nextId = list.reduce((n, s) => Math.max(n, s.id + 1), this.nextId);
  }

  clear(): void {
    for (const s of this.list) this.recycle(s.pages);
    this.list.length = 0;
    this.keptPages = 0;
    this.open = null;
  }
}
