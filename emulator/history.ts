// The VM's past read without moving it: a surface's pixels and an engine's PPGTT root as they were at a
// kept snapshot, and the difference between two snapshots (registers, the changed bytes of guest pages
// coalesced per page, changed surface pixels), all read from the snapshots' before-images. Going to a
// snapshot and back would replay, which renumbers every later snapshot and cannot cross an edit; and
// after a migration the debugger's replica must stay equal to the VM on the other host.

import { EPT_VIEW_FULL } from './ept';
import { HostMemory, PAGE_DWORDS, PAGE_SIZE } from './memory';
import { type PagingContext, walkRun } from './paging';
import { addressRegister, type EngineName, registerAddress, REGISTERS } from './registers';
import { RAM_HPA, type Vm } from './vm';

/** Changed bytes closer than this (one 32-byte block of before-images) are one range. */
export const RANGE_GAP = 32;
/** The most ranges one page reports: past it, the gap that joins two ranges doubles until they fit. */
export const MAX_RANGES_PER_PAGE = 8;
/** Page pairs kept while surfaces are compared (rows run through pages in order: a few suffice). */
const PAIR_CACHE = 64;

/**
 * The PPGTT root (PML4 GPA) an engine had at kept snapshot `index` (list length: now), from that
 * snapshot's PDP0 registers; the live registers are not touched.
 */
export function pml4At(vm: Vm, index: number, engine: EngineName = 'rcs0'): number {
  const list = vm.snapshots.list;
  const regs = index < list.length ? list[index].state.regs : vm.regs.values;
  return registerAddress(regs, addressRegister('PDP0_LDW', engine));
}

/** A register whose value differs between two snapshots. */
export interface RegisterChange {
  readonly name: string;
  readonly old: bigint;
  readonly new: bigint;
}

/** A `.surface` and how many of its pixels differ between two snapshots. */
export interface SurfaceChange {
  readonly name: string;
  readonly changedPixels: number;
  readonly width: number;
  readonly height: number;
}

/** A changed page of a difference: its GPA, its changed byte count and its ranges [start, end) in the page. */
export interface PageChange {
  readonly gpa: number;
  readonly ranges: [number, number][];
  readonly bytes: number;
}

/**
 * The difference between two snapshots, kept compact: per changed page its GPA page number, its
 * changed byte count and at most MAX_RANGES_PER_PAGE ranges, in typed arrays (10 bytes a page and 4 a
 * range: at most 42 bytes, 1% of a changed page; twice that while the arrays grow).
 */
export class SnapshotDiff {
  readonly surfaces: SurfaceChange[] = [];
  /** Bytes that differ over all pages. */
  changedBytes = 0;
  private n = 0;
  private gpaPages = new Uint32Array(256);
  private changed = new Uint16Array(256);
  /** Page k's ranges are ranges[2 * first[k] .. 2 * first[k + 1]). */
  private first = new Uint32Array(257);
  private ranges = new Uint16Array(512);
  private nRanges = 0;

  constructor(readonly registers: readonly RegisterChange[]) {}

  get pageCount(): number {
    return this.n;
  }

  /** Bytes the difference holds (its typed arrays; registers and surfaces are a few small objects). */
  get heldBytes(): number {
    return this.gpaPages.byteLength + this.changed.byteLength + this.first.byteLength + this.ranges.byteLength;
  }

  /** Adds a changed page (GPA order): `changed` bytes differ, in ranges rs[0..2n). */
  addPage(gpaPage: number, changed: number, rs: Int32Array, n: number): void {
    if (this.n === this.gpaPages.length) {
      this.gpaPages = grow(this.gpaPages, this.n * 2);
      this.changed = grow(this.changed, this.n * 2);
      this.first = grow(this.first, this.n * 2 + 1);
    }
    if (2 * (this.nRanges + n) > this.ranges.length)
      this.ranges = grow(this.ranges, Math.max(2 * (this.nRanges + n), this.ranges.length * 2));
    this.gpaPages[this.n] = gpaPage;
    this.changed[this.n] = changed;
    this.ranges.set(rs.subarray(0, 2 * n), 2 * this.nRanges);
    this.nRanges += n;
    this.first[++this.n] = this.nRanges;
    this.changedBytes += changed;
  }

  /** Changed page k (0 <= k < pageCount, in GPA order). */
  page(k: number): PageChange {
    const ranges: [number, number][] = [];
    for (let r = this.first[k]; r < this.first[k + 1]; r++) ranges.push([this.ranges[2 * r], this.ranges[2 * r + 1]]);
    return { gpa: this.gpaPages[k] * PAGE_SIZE, ranges, bytes: this.changed[k] };
  }
}

function grow<T extends Uint16Array | Uint32Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

/**
 * Pages as they were at two kept snapshots lo <= hi (hi = list length: now): the current page with the
 * before-images of every later epoch applied, newest first. One sorted index of (page, epoch) over the
 * logs from lo on says which epochs kept a page, so building a page touches those alone; its size is
 * the records the snapshots already hold (8 bytes each), whatever changed.
 */
class PageVersions {
  private readonly keys: Float64Array;
  /** Keys are pfn * scale + (epoch - lo). */
  private readonly scale: number;

  constructor(
    private readonly vm: Vm,
    readonly lo: number,
    readonly hi: number,
  ) {
    const list = vm.snapshots.list;
    let records = 0;
    for (let j = lo; j < list.length; j++) records += list[j].undo.pageCount;
    this.scale = 2 ** Math.ceil(Math.log2(list.length - lo + 1));
    const keys = new Float64Array(records);
    let k = 0;
    for (let j = lo; j < list.length; j++) {
      for (const pfn of list[j].undo.pfns()) {
        if (pfn * this.scale >= 2 ** 53) throw new RangeError(`page ${pfn} is beyond what a comparison indexes`);
        keys[k++] = pfn * this.scale + (j - lo);
      }
    }
    this.keys = keys.sort();
  }

  get size(): number {
    return this.keys.length;
  }

  pfnAt(k: number): number {
    return Math.floor(this.keys[k] / this.scale);
  }

  private epochAt(k: number): number {
    return this.keys[k] - this.pfnAt(k) * this.scale + this.lo;
  }

  /** Index of the first key of page `pfn`, or -1 when no epoch from lo on kept it. */
  find(pfn: number): number {
    let a = 0;
    let b = this.keys.length;
    const key = pfn * this.scale;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (this.keys[m] < key) a = m + 1;
      else b = m;
    }
    return a < this.keys.length && this.pfnAt(a) === pfn ? a : -1;
  }

  /** Whether the page at key k (its first) was written between lo and hi: only those can differ. */
  written(k: number): boolean {
    return k >= 0 && this.epochAt(k) < this.hi;
  }

  /** Index past the last key of the page whose first key is k. */
  end(k: number): number {
    const pfn = this.pfnAt(k);
    let e = k + 1;
    while (e < this.keys.length && this.pfnAt(e) === pfn) e++;
    return e;
  }

  /** Page `pfn` (its keys [k, e); k -1: none) at lo into `older` and at hi into `newer`. */
  build(pfn: number, k: number, e: number, older: Uint32Array, newer: Uint32Array): void {
    const list = this.vm.snapshots.list;
    newer.set(this.vm.mem.pageForRead(pfn));
    if (k < 0) {
      older.set(newer);
      return;
    }
    let i = e - 1;
    for (; i >= k && this.epochAt(i) >= this.hi; i--) list[this.epochAt(i)].undo.applyTo(pfn, newer);
    older.set(newer);
    for (; i >= k; i--) list[this.epochAt(i)].undo.applyTo(pfn, older);
  }
}

/**
 * rcs0's paging context at kept snapshot `index`, reading guest pages through `pageForRead` (a page as
 * it was then): that snapshot's PPGTT root, the full EPT view, no TLB.
 */
function contextAt(vm: Vm, index: number, pageForRead: (pfn: number) => Uint32Array): PagingContext {
  const mem = { pageForRead } as Pick<HostMemory, 'pageForRead'> as HostMemory;
  return {
    ...vm.engine('rcs0').ctx,
    view: EPT_VIEW_FULL,
    mem,
    pml4: pml4At(vm, index),
    refresh: undefined,
    memo: null,
  };
}

/** Differences from snapshot index `a` to index `b` (b = list length: the current state), all at once. */
export function snapshotDiff(vm: Vm, a: number, b: number): SnapshotDiff {
  const steps = snapshotDiffSteps(vm, a, b);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same, as a generator that yields the fraction of the work done every few pages or surface rows,
 * so that a caller can run it in slices (progress, cancel). The VM must not move while it runs. Its
 * memory: the page index (8 bytes per page record of the epochs from the older snapshot on), the
 * difference (compact), and a few pages; never a copy of what changed.
 */
export function* snapshotDiffSteps(vm: Vm, a: number, b: number): Generator<number, SnapshotDiff> {
  const list = vm.snapshots.list;
  const regsA = list[a].state.regs;
  const regsB = b < list.length ? list[b].state.regs : vm.regs.values;
  const registers: RegisterChange[] = [];
  for (const r of REGISTERS) {
    const n = r.def.width / 32;
    let changed = false;
    for (let i = 0; i < n; i++) if (regsA[r.slot + i] !== regsB[r.slot + i]) changed = true;
    if (!changed) continue;
    const val = (v: Uint32Array) => (n === 2 ? (BigInt(v[r.slot + 1]) << 32n) | BigInt(v[r.slot]) : BigInt(v[r.slot]));
    registers.push({ name: r.name, old: val(regsA), new: val(regsB) });
  }
  const out = new SnapshotDiff(registers);
  const versions = new PageVersions(vm, Math.min(a, b), Math.max(a, b));
  const forward = a <= b;
  const firstRam = RAM_HPA / PAGE_SIZE;
  const endRam = firstRam + vm.cfg.memory / PAGE_SIZE;
  const rows = vm.image.surfaces.reduce((n, s) => n + s.height, 0);
  const work = versions.size + rows || 1;
  const older = new Uint32Array(PAGE_DWORDS);
  const newer = new Uint32Array(PAGE_DWORDS);
  const delta: PageDelta = { changed: 0, n: 0, rs: new Int32Array(2 * (PAGE_SIZE / RANGE_GAP + 1)) };
  let sinceYield = 0;
  for (let k = 0; k < versions.size;) {
    const e = versions.end(k);
    const pfn = versions.pfnAt(k);
    if (versions.written(k) && pfn >= firstRam && pfn < endRam) {
      versions.build(pfn, k, e, older, newer);
      const [p, q] = forward ? [older, newer] : [newer, older];
      pageChanges(p, q, delta);
      if (delta.changed > 0) out.addPage(pfn - firstRam, delta.changed, delta.rs, delta.n);
    }
    sinceYield += e - k;
    k = e;
    if (sinceYield >= 64) {
      sinceYield = 0;
      yield k / work;
    }
  }
  let done = versions.size;
  const pairs = new PairCache(versions);
  const ctxAt = (side: 'older' | 'newer'): PagingContext =>
    contextAt(vm, side === 'older' ? versions.lo : versions.hi, (pfn) => pairs.get(pfn)[side]);
  const [ctxA, ctxB] = forward ? [ctxAt('older'), ctxAt('newer')] : [ctxAt('newer'), ctxAt('older')];
  for (const s of vm.image.surfaces) {
    let changedPixels = 0;
    for (let y = 0; y < s.height; y++) {
      if (++done % 16 === 0) yield done / work;
      changedPixels += rowChanges(versions, pairs, forward, ctxA, ctxB, s.va + y * s.pitch, s.width * 4);
    }
    out.surfaces.push({ name: s.name, changedPixels, width: s.width, height: s.height });
  }
  return out;
}

/** One page's comparison: bytes that differ, and their ranges as [start, end) pairs in rs[0 .. 2n). */
interface PageDelta {
  changed: number;
  n: number;
  /** Ranges at least RANGE_GAP apart: at most PAGE_SIZE / RANGE_GAP of them. */
  readonly rs: Int32Array;
}

/**
 * Compares two pages into `d`, ranges closer than RANGE_GAP joined (a dword is looked at whole: its
 * changed bytes are one range, so a fill of one byte per pixel is one range per page, not one per
 * pixel), then joined further until at most MAX_RANGES_PER_PAGE remain.
 */
function pageChanges(p: Uint32Array, q: Uint32Array, d: PageDelta): void {
  d.changed = d.n = 0;
  if (
    Buffer.compare(
      new Uint8Array(p.buffer, p.byteOffset, PAGE_SIZE),
      new Uint8Array(q.buffer, q.byteOffset, PAGE_SIZE),
    ) === 0
  )
    return;
  const rs = d.rs;
  let changed = 0;
  let n = 0;
  for (let i = 0; i < PAGE_DWORDS; i++) {
    const x = (p[i] ^ q[i]) >>> 0;
    if (x === 0) continue;
    // Bytes of x that are non-zero: fold each byte onto its low bit, then sum the four bits.
    let y = x | (x >>> 4);
    y |= y >>> 2;
    y |= y >>> 1;
    changed += Math.imul(y & 0x01010101, 0x01010101) >>> 24;
    const start = i * 4 + ((31 - Math.clz32(x & -x)) >>> 3);
    const end = i * 4 + ((31 - Math.clz32(x)) >>> 3) + 1;
    if (n > 0 && start - rs[2 * n - 1] < RANGE_GAP) rs[2 * n - 1] = end;
    else {
      rs[2 * n] = start;
      rs[2 * n + 1] = end;
      n++;
    }
  }
  for (let gap = RANGE_GAP * 2; n > MAX_RANGES_PER_PAGE; gap *= 2) {
    let m = 0;
    for (let r = 0; r < n; r++) {
      if (m > 0 && rs[2 * r] - rs[2 * m - 1] < gap) rs[2 * m - 1] = rs[2 * r + 1];
      else {
        rs[2 * m] = rs[2 * r];
        rs[2 * m + 1] = rs[2 * r + 1];
        m++;
      }
    }
    n = m;
  }
  d.changed = changed;
  d.n = n;
}

/** Both versions of recently used pages (page tables, a surface's rows), at most PAIR_CACHE of them. */
class PairCache {
  private readonly map = new Map<number, { older: Uint32Array; newer: Uint32Array }>();

  constructor(private readonly versions: PageVersions) {}

  get(pfn: number): { older: Uint32Array; newer: Uint32Array } {
    let pair = this.map.get(pfn);
    if (pair !== undefined) {
      this.map.delete(pfn); // most recently used last
      this.map.set(pfn, pair);
      return pair;
    }
    if (this.map.size >= PAIR_CACHE) {
      const [oldest, reused] = this.map.entries().next().value as [number, { older: Uint32Array; newer: Uint32Array }];
      this.map.delete(oldest);
      pair = reused;
    } else pair = { older: new Uint32Array(PAGE_DWORDS), newer: new Uint32Array(PAGE_DWORDS) };
    const k = this.versions.find(pfn);
    this.versions.build(pfn, k, k < 0 ? k : this.versions.end(k), pair.older, pair.newer);
    this.map.set(pfn, pair);
    return pair;
  }
}

const ZERO_PAGE = new Uint32Array(PAGE_DWORDS);

/**
 * Pixels that differ in `bytes` of a surface row at `va`: the row is translated at each snapshot through
 * its own page tables, one walk per run of contiguous mapping (one per row in 2 MiB or 1 GiB pages),
 * and compared a page at a time; a page written by neither epoch between the two is skipped whole.
 * Unmapped pixels read as zero, as the Surface view shows them.
 */
function rowChanges(
  versions: PageVersions,
  pairs: PairCache,
  forward: boolean,
  ctxA: PagingContext,
  ctxB: PagingContext,
  va: number,
  bytes: number,
): number {
  const side = (older: boolean) => (older === forward ? 'older' : 'newer');
  let changed = 0;
  let x = 0;
  while (x < bytes) {
    const ra = walkRun(ctxA, va + x);
    const rb = walkRun(ctxB, va + x);
    const run = Math.min(bytes - x, ra.bytes, rb.bytes);
    for (let o = 0; o < run;) {
      const ha = ra.hpa < 0 ? -1 : ra.hpa + o;
      const hb = rb.hpa < 0 ? -1 : rb.hpa + o;
      const offA = ha < 0 ? (va + x + o) % PAGE_SIZE : ha % PAGE_SIZE;
      const offB = hb < 0 ? (va + x + o) % PAGE_SIZE : hb % PAGE_SIZE;
      const n = Math.min(run - o, PAGE_SIZE - offA, PAGE_SIZE - offB);
      const pfnA = ha < 0 ? -1 : Math.floor(ha / PAGE_SIZE);
      const pfnB = hb < 0 ? -1 : Math.floor(hb / PAGE_SIZE);
      if (!(pfnA === pfnB && (pfnA < 0 || !versions.written(versions.find(pfnA))))) {
        const pa = pfnA < 0 ? ZERO_PAGE : pairs.get(pfnA)[side(true)];
        const pb = pfnB < 0 ? ZERO_PAGE : pairs.get(pfnB)[side(false)];
        for (let i = 0; i < n >>> 2; i++) if (pa[(offA >>> 2) + i] !== pb[(offB >>> 2) + i]) changed++;
      }
      o += n;
    }
    x += run;
  }
  return changed;
}

/**
 * A `.surface` as it was at kept snapshot `index` (list length: now), walked through that snapshot's
 * PPGTT root and read from the pages' before-images, as `Vm.readSurface` reads it now: one walk per run
 * of contiguous mapping, a few pages built at a time. The VM does not move.
 */
export function surfaceAt(vm: Vm, index: number, name: string): { width: number; height: number; pixels: Uint32Array } {
  const surface = vm.image.surfaces.find((x) => x.name.toUpperCase() === name.toUpperCase());
  if (!surface) throw new RangeError(`no surface named ${name}`);
  const versions = new PageVersions(vm, index, index);
  const pairs = new PairCache(versions);
  const ctx = contextAt(vm, index, (pfn) => pairs.get(pfn).newer);
  const { width, height, pitch } = surface;
  const pixels = new Uint32Array(width * height);
  for (let y = 0; y < height; y++) {
    const va = surface.va + y * pitch;
    for (let x = 0; x < width * 4;) {
      const r = walkRun(ctx, va + x);
      const run = Math.min(width * 4 - x, r.bytes);
      for (let o = 0; r.hpa >= 0 && o < run;) {
        const off = (r.hpa + o) % PAGE_SIZE;
        const n = Math.min(run - o, PAGE_SIZE - off);
        const page = pairs.get(Math.floor((r.hpa + o) / PAGE_SIZE)).newer;
        pixels.set(page.subarray(off >>> 2, (off + n) >>> 2), y * width + ((x + o) >>> 2));
        o += n;
      }
      x += run;
    }
  }
  return { width, height, pixels };
}
