// The VM's recorded history as the debugger shows it: kept snapshots as SnapshotInfo (served a window at
// a time), and Compare Snapshots' answers, windows of a difference between two snapshots that the
// emulator reads from the snapshots' before-images without moving the VM (emulator/history.ts).

import { MAX_RANGES_PER_PAGE, snapshotDiffSteps, summarize, Vm, type Snapshot, type SnapshotDiff } from '../emulator';
import type { CustomArgs, CustomBody, SnapshotInfo } from './protocol';

/** Snapshots in one `vgpu/snapshots` answer when the request names no count, and the most one carries. */
export const SNAPSHOT_WINDOW = 256;
export const MAX_SNAPSHOT_WINDOW = 4096;

/**
 * Kept snapshots [start, start + count) in list order (oldest first); without `start`, the newest
 * `count`. Cost and size follow the window, never the number kept.
 */
export function snapshotWindow(vm: Vm, args: CustomArgs<'vgpu/snapshots'> = {}): CustomBody<'vgpu/snapshots'> {
  const list = vm.snapshots.list;
  const count = windowCount(args.count, SNAPSHOT_WINDOW, MAX_SNAPSHOT_WINDOW);
  const start =
    args.start === undefined
      ? Math.max(0, list.length - count)
      : Math.max(0, Math.min(list.length, Math.floor(args.start)));
  const snapshots: SnapshotInfo[] = [];
  for (let i = start; i < Math.min(list.length, start + count); i++) snapshots.push(snapshotInfo(vm, list[i]));
  return { snapshots, start, total: list.length, step: vm.step, commands: vm.commands };
}

export function snapshotInfo(vm: Vm, s: Snapshot): SnapshotInfo {
  return { ...summarize(s), current: s.state.step === vm.step };
}

/** Index of the kept snapshot with this id, or -1. */
export function snapshotIndex(vm: Vm, id: unknown): number {
  if (typeof id !== 'number' || !Number.isInteger(id)) return -1;
  return vm.snapshots.list.findIndex((s) => s.id === id);
}

/** A window's size: `requested` when it is a positive integer, at most `max`; else `fallback`. */
function windowCount(requested: unknown, fallback: number, max: number): number {
  if (typeof requested !== 'number' || !Number.isFinite(requested)) return fallback;
  return Math.max(0, Math.min(max, Math.floor(requested)));
}

// ---------------------------------------------------------------------------------------------
// Compare Snapshots.

export type Diff = CustomBody<'vgpu/diff'>;
export type DiffPage = Diff['pages'][number];

/** Changed pages in one `vgpu/diff` answer when the request names no count, and the most one carries. */
export const DIFF_WINDOW = 256;
export const MAX_DIFF_WINDOW = 4096;

/**
 * A comparison of two snapshots as `vgpu/diff` serves it: the emulator's compact difference (at most
 * MAX_RANGES_PER_PAGE ranges a page), registers and addresses in hex, and windows of its changed pages.
 */
export class Comparison {
  readonly registers: Diff['registers'];

  constructor(private readonly diff: SnapshotDiff) {
    this.registers = diff.registers.map((r) => ({
      name: r.name,
      old: '0x' + r.old.toString(16),
      new: '0x' + r.new.toString(16),
    }));
  }

  get surfaces(): Diff['surfaces'] {
    return this.diff.surfaces;
  }

  /** Bytes that differ over all pages. */
  get changedBytes(): number {
    return this.diff.changedBytes;
  }

  get pageCount(): number {
    return this.diff.pageCount;
  }

  /** Bytes the comparison holds (the difference's typed arrays; registers and surfaces are a few small objects). */
  get heldBytes(): number {
    return this.diff.heldBytes;
  }

  page(k: number): DiffPage {
    const p = this.diff.page(k);
    return { gpa: '0x' + p.gpa.toString(16), ranges: p.ranges, bytes: p.bytes };
  }

  /** The answer for changed pages [start, start + count) (count: DIFF_WINDOW when not given, at most MAX_DIFF_WINDOW). */
  window(token: string, start?: unknown, count?: unknown): Diff {
    const total = this.pageCount;
    const s = typeof start === 'number' && Number.isFinite(start) ? Math.max(0, Math.min(total, Math.floor(start))) : 0;
    const end = Math.min(total, s + windowCount(count, DIFF_WINDOW, MAX_DIFF_WINDOW));
    const pages: DiffPage[] = [];
    for (let k = s; k < end; k++) pages.push(this.page(k));
    return {
      registers: this.registers,
      pages,
      surfaces: this.surfaces,
      start: s,
      totalPages: total,
      more: total - end,
      changedBytes: this.changedBytes,
      token,
    };
  }
}

/** Differences from snapshot index `a` to index `b` (b = list length: the current state), all at once. */
export function diff(vm: Vm, a: number, b: number): Comparison {
  const steps = diffSteps(vm, a, b);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same, as a generator that yields the fraction of the work done every few pages or surface rows,
 * so that a caller can run it in slices (progress, cancel: adapter/progress.ts). The VM must not move
 * while it runs.
 */
export function* diffSteps(vm: Vm, a: number, b: number): Generator<number, Comparison> {
  return new Comparison(yield* snapshotDiffSteps(vm, a, b));
}
