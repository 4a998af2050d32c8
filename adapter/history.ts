// The VM's recorded history as the debugger shows it: kept snapshots as SnapshotInfo, and the difference
// between two snapshots (registers, changed byte ranges of guest pages, changed surface pixels), read
// from the snapshots' before-images without moving the VM.

import { PAGE_SIZE } from '../emulator/memory';
import { REGISTERS } from '../emulator/registers';
import { summarize } from '../emulator/snapshots';
import { RAM_HPA, Vm } from '../emulator/vm';
import type { CustomBody, SnapshotInfo } from './protocol';
import { pagingContext, vaToHpa } from './memory';

export function snapshotInfos(vm: Vm): SnapshotInfo[] {
  return vm.snapshots.list.map((s) => ({ ...summarize(s), current: s.state.step === vm.step }));
}

/** Index of the kept snapshot with this id, or -1. */
export function snapshotIndex(vm: Vm, id: unknown): number {
  if (typeof id !== 'number' || !Number.isInteger(id)) return -1;
  return vm.snapshots.list.findIndex((s) => s.id === id);
}

/**
 * Contents of a host page at kept snapshot `index` (`index` = list length: now), read from the later
 * epochs' before-images without moving the VM; `cache` keeps pages already built for one question.
 */
export function pageAt(vm: Vm, index: number, pfn: number, cache?: Map<string, Uint32Array>): Uint32Array {
  const key = `${index}:${pfn}`;
  const hit = cache?.get(key);
  if (hit) return hit;
  const page = vm.snapshots.pageAt(index, pfn);
  cache?.set(key, page);
  return page;
}

export type Diff = CustomBody<'vgpu/diff'>;

/** Differences from snapshot index `a` to index `b` (b = list length: the current state). */
export function diff(vm: Vm, a: number, b: number): Diff {
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
export function* diffSteps(vm: Vm, a: number, b: number): Generator<number, Diff> {
  const list = vm.snapshots.list;
  const regsA = list[a].state.regs;
  const regsB = b < list.length ? list[b].state.regs : vm.regs.values;
  const registers: Diff['registers'] = [];
  for (const r of REGISTERS) {
    const n = r.def.width / 32;
    let changed = false;
    for (let i = 0; i < n; i++) if (regsA[r.slot + i] !== regsB[r.slot + i]) changed = true;
    if (!changed) continue;
    const val = (v: Uint32Array) => '0x' + (n === 2 ? ((BigInt(v[r.slot + 1]) << 32n) | BigInt(v[r.slot])) : BigInt(v[r.slot])).toString(16);
    registers.push({ name: r.name, old: val(regsA), new: val(regsB) });
  }
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  const pfns = new Set<number>();
  for (let j = lo; j < hi && j < list.length; j++) for (const pfn of list[j].undo.pfns()) pfns.add(pfn);
  const firstRam = RAM_HPA / PAGE_SIZE;
  const endRam = firstRam + vm.cfg.memory / PAGE_SIZE;
  const pages: Diff['pages'] = [];
  const cache = new Map<string, Uint32Array>();
  const sorted = [...pfns].sort((x, y) => x - y);
  const rows = vm.image.surfaces.reduce((n, s) => n + s.height, 0);
  const work = sorted.length + rows || 1;
  let done = 0;
  for (const pfn of sorted) {
    if (++done % 16 === 0) yield done / work;
    if (pfn < firstRam || pfn >= endRam) continue;
    const ranges = byteRanges(pageAt(vm, a, pfn, cache), pageAt(vm, b, pfn, cache));
    if (ranges.length) pages.push({ gpa: '0x' + ((pfn - firstRam) * PAGE_SIZE).toString(16), ranges });
  }
  const changedPfns = new Set(pfns);
  const surfaces: Diff['surfaces'] = [];
  for (const s of vm.image.surfaces) {
    const ctx = pagingContext(vm, 'rcs0');
    let changedPixels = 0;
    for (let y = 0; y < s.height; y++) {
      if (++done % 16 === 0) yield done / work;
      for (let x = 0; x < s.width; x++) {
        const va = s.va + y * s.pitch + x * 4;
        const hpa = vaToHpa(ctx, va);
        if (hpa < 0) continue;
        const pfn = Math.floor(hpa / PAGE_SIZE);
        if (!changedPfns.has(pfn)) {
          x += Math.max(0, Math.floor((PAGE_SIZE - (hpa % PAGE_SIZE)) / 4) - 1); // rest of this page is unchanged
          continue;
        }
        const i = (hpa % PAGE_SIZE) >>> 2;
        if (pageAt(vm, a, pfn, cache)[i] !== pageAt(vm, b, pfn, cache)[i]) changedPixels++;
      }
    }
    surfaces.push({ name: s.name, changedPixels });
  }
  return { registers, pages, surfaces };
}

/** Byte ranges [start, end) where two pages differ. */
function byteRanges(p: Uint32Array, q: Uint32Array): [number, number][] {
  const bp = new Uint8Array(p.buffer, p.byteOffset, PAGE_SIZE);
  const bq = new Uint8Array(q.buffer, q.byteOffset, PAGE_SIZE);
  const out: [number, number][] = [];
  let start = -1;
  for (let i = 0; i < PAGE_SIZE; i++) {
    if ((i & 3) === 0 && start < 0 && p[i >>> 2] === q[i >>> 2]) {
      i += 3;
      continue;
    }
    const d = bp[i] !== bq[i];
    if (d && start < 0) start = i;
    else if (!d && start >= 0) {
      out.push([start, i]);
      start = -1;
    }
  }
  if (start >= 0) out.push([start, PAGE_SIZE]);
  return out;
}
