// Host physical memory: a sparse store of 4 KiB pages carved from large pooled slabs; a page costs memory only once written,
// and a page a fill or copy wrote whole with one repeated dword costs none (it maps to a shared read-only page of that value).

import type { Hash } from 'node:crypto';

export const PAGE_SIZE = 4096;
export const PAGE_DWORDS = 1024;
const ZERO_PAGE = new Uint32Array(PAGE_DWORDS);
/**
 * Slabs start small (a tiny VM stays tiny) and double up to 1 GiB, so the slabs reserved are at most
 * twice the pages handed out (plus the first). A slab's untouched tail costs address space, not
 * resident memory (the allocator maps it zeroed on demand). Large slabs matter for the collector: V8
 * starts a full GC for every ~64 MB of ArrayBuffers allocated, and each marks every page view; with
 * 16 MiB slabs touching 4 GiB took 53 full GCs, with doubling slabs it takes a handful.
 */
const SLAB_MIN_PAGES = 16;
const SLAB_MAX_PAGES = 2 ** 18;

/**
 * Pages are Uint32Arrays (the GPU's natural unit); byte views are made where bytes are needed.
 * Reads of untouched pages see zeros without allocating. A page is a view into a slab shared by many
 * pages, handed out in allocation order (not by address, so a sparse guest stays sparse): one
 * ArrayBuffer per page made the collector's work grow with the pages held (superlinear at 1-4 GiB).
 * A page removed by a restore goes to a free list and is reused zeroed; holders of page references
 * check `generation`, as before.
 *
 * Uniform pages (as KSM and zero-page handling do in real VMMs): a page written whole with one repeated
 * dword (a fill, a copy of such a page, a restore of such an image) maps to a shared read-only page of
 * that value, one per distinct value, instead of 4 KiB of its own. Readers see the same bytes through
 * pageForRead; a page is uniform or owned, never both; the first write through pageForWrite or
 * pageForRestore copies it into a page of its own (and counts a removal: the shared page may be
 * cached). Which pages are present (hasPage, allocatedIn) is what it would be without them, so hashes
 * and checkpoints are too. Stores to owned pages cost nothing more: a uniform page is looked up only
 * where a page is missing from the owned map.
 */
export class HostMemory {
  private readonly pages = new Map<number, Uint32Array>();
  /** Uniform pages: frame -> the shared page of its value (never written). */
  private readonly uniform = new Map<number, Uint32Array>();
  /** The shared page of each value uniform pages hold, and how many hold it (value -> entry; gone at none). */
  private readonly shared = new Map<number, { page: Uint32Array; refs: number }>();
  /** Shared pages' buffers -> their value (the zero page's always). */
  private readonly sharedValue = new Map<ArrayBufferLike, number>([[ZERO_PAGE.buffer, 0]]);
  /**
   * Whether fills, copies and restores may map uniform pages (on by default). Off, memory holds every
   * page written in a page of its own, as before uniform pages: tests compare the two layouts, and the
   * bench measures blits' byte writes with it.
   */
  dedup = true;
  private slab: ArrayBuffer | null = null;
  private slabUsed = 0;
  private slabPages = 0;
  private nextSlabPages = SLAB_MIN_PAGES;
  private readonly free: Uint32Array[] = [];
  /** Bytes of slabs allocated (pages in use, free-listed, and the unused tail of the newest slab). */
  slabBytes = 0;
  /**
   * Called with the page frame number before every write access to a page (test mode checks the
   * command parser's prediction with it; migration logs dirty pages). Null on the fast path.
   */
  writeHook: ((pfn: number) => void) | null = null;
  /** Called with the page frame number before a restore path changes a page (migration logs it as dirty). */
  restoreHook: ((pfn: number) => void) | null = null;

  /** The page for reading; a shared zero page when untouched, a shared page when uniform (never write into either). */
  pageForRead(pfn: number): Uint32Array {
    const p = this.pages.get(pfn);
    if (p !== undefined) return p;
    return this.uniform.size === 0 ? ZERO_PAGE : (this.uniform.get(pfn) ?? ZERO_PAGE);
  }

  /** The page for writing, allocated (zeroed) on first write. */
  pageForWrite(pfn: number): Uint32Array {
    if (this.writeHook !== null) this.writeHook(pfn);
    return this.allocated(pfn);
  }

  private allocated(pfn: number): Uint32Array {
    let p = this.pages.get(pfn);
    if (p === undefined) {
      p = this.newPage();
      if (this.uniform.size !== 0) {
        const u = this.uniform.get(pfn);
        if (u !== undefined) {
          // Copy on write: the page gets memory of its own holding the uniform value.
          this.unmapUniform(pfn);
          if (u[0] !== 0) p.fill(u[0]);
          this.generation++;
        }
      }
      this.pages.set(pfn, p);
    }
    return p;
  }

  /**
   * Page `pfn` is written whole with `value` in every dword (a fill or copy covering it): with dedup on
   * it maps to the shared page of that value and its own page, if any, is freed (a removal); off (or
   * with SHARED_MAX other values shared), the page is written. Goes through the write hook as
   * pageForWrite does.
   */
  fillPage(pfn: number, value: number): void {
    if (this.writeHook !== null) this.writeHook(pfn);
    if (!this.dedup || !this.mapUniform(pfn, value >>> 0)) this.allocated(pfn).fill(value);
  }

  /**
   * Maps page `pfn` to the shared page of `value` (made on first use), freeing what it had; false,
   * changing nothing, when SHARED_MAX other values are shared already (distinct values would each
   * cost a page and an ArrayBuffer of their own: no saving, and the collector's work per buffer).
   */
  private mapUniform(pfn: number, value: number): boolean {
    let e = this.shared.get(value);
    if (e === undefined) {
      if (this.shared.size >= SHARED_MAX) return false;
      const page = value === 0 ? ZERO_PAGE : new Uint32Array(PAGE_DWORDS).fill(value);
      e = { page, refs: 0 };
      this.shared.set(value, e);
      this.sharedValue.set(page.buffer, value);
    }
    if (this.uniform.get(pfn) === e.page) return true; // already
    e.refs++;
    const p = this.pages.get(pfn);
    if (p !== undefined) {
      this.pages.delete(pfn);
      this.free.push(p);
      this.generation++;
    } else if (this.unmapUniform(pfn)) this.generation++;
    this.uniform.set(pfn, e.page);
    return true;
  }

  /** Drops page `pfn`'s uniform mapping (and its value's shared page when no page holds it any more); false when it had none. */
  private unmapUniform(pfn: number): boolean {
    const u = this.uniform.get(pfn);
    if (u === undefined) return false;
    this.uniform.delete(pfn);
    const e = this.shared.get(u[0])!;
    if (--e.refs === 0) {
      this.shared.delete(u[0]);
      if (u[0] !== 0) this.sharedValue.delete(u.buffer);
    }
    return true;
  }

  /** Distinct values uniform pages hold (a shared page each). */
  get sharedPages(): number {
    return this.shared.size;
  }

  /**
   * The value every dword of a buffer holds when it is a shared page's (uniform pages', and the zero
   * page untouched pages read as); undefined for any other buffer. Blits read their source runs' buffers.
   */
  uniformValueOf(buf: ArrayBufferLike): number | undefined {
    return this.sharedValue.get(buf);
  }

  /** Pages mapped uniform (no memory of their own) and pages with memory of their own. */
  get uniformPages(): number {
    return this.uniform.size;
  }

  get ownedPages(): number {
    return this.pages.size;
  }

  /** A zeroed page from the free list or the current slab. */
  private newPage(): Uint32Array {
    const f = this.free.pop();
    if (f !== undefined) {
      f.fill(0);
      return f;
    }
    if (this.slabUsed === this.slabPages) {
      this.slabPages = this.nextSlabPages;
      this.nextSlabPages = Math.min(SLAB_MAX_PAGES, this.nextSlabPages * 2);
      this.slab = new ArrayBuffer(this.slabPages * PAGE_SIZE);
      this.slabBytes += this.slabPages * PAGE_SIZE;
      this.slabUsed = 0;
    }
    return new Uint32Array(this.slab!, this.slabUsed++ * PAGE_SIZE, PAGE_DWORDS);
  }

  /** pageForRead of a present page (hasPage), null for an absent one: one lookup for both. */
  presentPage(pfn: number): Uint32Array | null {
    const p = this.pages.get(pfn);
    if (p !== undefined) return p;
    return this.uniform.size === 0 ? null : (this.uniform.get(pfn) ?? null);
  }

  /** Whether page `pfn` is present: written (owned or uniform) and not removed by a restore. */
  hasPage(pfn: number): boolean {
    return this.pages.has(pfn) || (this.uniform.size !== 0 && this.uniform.has(pfn));
  }

  /** A copy of a page's contents (zeros for an untouched page). */
  copyPage(pfn: number): Uint32Array {
    return new Uint32Array(this.pageForRead(pfn));
  }

  /** Counts removals of page objects (caches of page references check it). */
  generation = 0;

  /** A page for a restore path to write into (allocated when missing), without the write hook. */
  pageForRestore(pfn: number): Uint32Array {
    if (this.restoreHook !== null) this.restoreHook(pfn);
    return this.allocated(pfn);
  }

  /**
   * Replaces a page's contents without going through the write hook (restore paths): zeros (or null)
   * remove it; a uniform image maps it uniform (with dedup on).
   */
  restorePage(pfn: number, data: Uint32Array | null): void {
    if (this.restoreHook !== null) this.restoreHook(pfn);
    if (data === null || isZero(data)) {
      const p = this.pages.get(pfn);
      if (p !== undefined) {
        this.pages.delete(pfn);
        this.free.push(p);
        this.generation++;
      } else if (this.uniform.size !== 0 && this.unmapUniform(pfn)) this.generation++;
    } else if (!(this.dedup && isUniform(data) && this.mapUniform(pfn, data[0]))) this.allocated(pfn).set(data);
  }

  /**
   * Gives page `pfn` the contents `data` (a whole before-image), present whatever they are, without
   * the write hook: a uniform image maps it uniform (with dedup on), else it is copied into its page.
   */
  restoreWhole(pfn: number, data: Uint32Array): void {
    if (this.restoreHook !== null) this.restoreHook(pfn);
    if (!(this.dedup && isUniform(data) && this.mapUniform(pfn, data[0]))) this.allocated(pfn).set(data);
  }

  read32(addr: number): number {
    return this.pageForRead(Math.floor(addr / PAGE_SIZE))[(addr % PAGE_SIZE) >>> 2];
  }

  write32(addr: number, value: number): void {
    this.pageForWrite(Math.floor(addr / PAGE_SIZE))[(addr % PAGE_SIZE) >>> 2] = value;
  }

  /** Reads a 64-bit little-endian entry as [lo, hi]. */
  read64(addr: number): [number, number] {
    const p = this.pageForRead(Math.floor(addr / PAGE_SIZE));
    const i = (addr % PAGE_SIZE) >>> 2;
    return [p[i], p[i + 1]];
  }

  write64(addr: number, lo: number, hi: number): void {
    const p = this.pageForWrite(Math.floor(addr / PAGE_SIZE));
    const i = (addr % PAGE_SIZE) >>> 2;
    p[i] = lo;
    p[i + 1] = hi;
  }

  /** Page frame numbers allocated in [firstPfn, endPfn), ascending. */
  allocatedIn(firstPfn: number, endPfn: number): number[] {
    return Array.from(this.sortedIn(firstPfn, endPfn));
  }

  /** allocatedIn as a typed array (sorted natively: a comparator sort of 1M pages took longer than hashing them). */
  sortedIn(firstPfn: number, endPfn: number): Float64Array {
    const out = new Float64Array(this.pages.size + this.uniform.size);
    let n = 0;
    for (const pfn of this.pages.keys()) if (pfn >= firstPfn && pfn < endPfn) out[n++] = pfn;
    for (const pfn of this.uniform.keys()) if (pfn >= firstPfn && pfn < endPfn) out[n++] = pfn;
    return out.subarray(0, n).sort();
  }

  /**
   * Feeds `h` every non-zero page in [firstPfn, endPfn), ascending, each as its offset from firstPfn in
   * bytes (8 bytes little endian) followed by its 4096 bytes. Pages are taken in one walk of the page
   * map and put in order by a native sort (usually they already are: pages are added as first
   * written): a lookup per page, out of cache at millions of pages, cost more than the hashing.
   * Uniform pages come from a second walk, their bytes from their shared page: the same input as
   * when each had a page of its own.
   */
  hashPages(h: Hash, firstPfn: number, endPfn: number): void {
    const frames: number[] = [];
    const pages: Uint32Array[] = [];
    const take = (p: Uint32Array, pfn: number): void => {
      if (pfn >= firstPfn && pfn < endPfn) {
        frames.push(pfn);
        pages.push(p);
      }
    };
    this.pages.forEach(take);
    this.uniform.forEach(take);
    const order = ascendingOrder(frames);
    const offset = Buffer.alloc(8);
    for (let k = 0; k < frames.length; k++) {
      const i = order === null ? k : order[k];
      const p = pages[i];
      const bytes = new Uint8Array(p.buffer, p.byteOffset, PAGE_SIZE);
      if (Buffer.compare(bytes, ZERO_BYTES) === 0) continue;
      const off = (frames[i] - firstPfn) * PAGE_SIZE;
      offset.writeUInt32LE(off % 0x100000000, 0);
      offset.writeUInt32LE(Math.floor(off / 0x100000000), 4);
      h.update(offset);
      h.update(bytes);
    }
  }

  /** Pages present (owned or uniform). */
  get allocatedPages(): number {
    return this.pages.size + this.uniform.size;
  }
}

/** Distinct values uniform pages may hold at once (a 4 KiB shared page each); pages of further values are written. */
export const SHARED_MAX = 1024;

const ZERO_BYTES = new Uint8Array(PAGE_SIZE);

/**
 * The indices of `xs` (distinct) in ascending order of their values, or null when they are in order
 * already: a natural merge sort, merging the ascending runs pairwise, so a list of a few runs (pages
 * are added as first written, mostly in address order) sorts in a few linear passes.
 */
function ascendingOrder(xs: readonly number[]): Int32Array | null {
  const n = xs.length;
  let bounds: number[] = [0];
  for (let i = 1; i < n; i++) if (xs[i - 1] > xs[i]) bounds.push(i);
  if (bounds.length === 1) return null;
  bounds.push(n);
  let order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let spare = new Int32Array(n);
  while (bounds.length > 2) {
    const next: number[] = [0];
    for (let r = 0; r + 1 < bounds.length; r += 2) {
      const lo = bounds[r];
      const mid = bounds[r + 1];
      const hi = r + 2 < bounds.length ? bounds[r + 2] : mid;
      let a = lo;
      let b = mid;
      for (let o = lo; o < hi; o++)
        spare[o] = b >= hi || (a < mid && xs[order[a]] < xs[order[b]]) ? order[a++] : order[b++];
      next.push(hi);
    }
    if (next[next.length - 1] !== n) next.push(n);
    [order, spare] = [spare, order];
    bounds = next;
  }
  return order;
}

/** Whether a page (or any dword array) is all zeros; whole pages compare with memcmp. */
export function isZero(p: Uint32Array): boolean {
  if (p.length === PAGE_DWORDS)
    return Buffer.compare(new Uint8Array(p.buffer, p.byteOffset, PAGE_SIZE), ZERO_BYTES) === 0;
  for (let i = 0; i < p.length; i++) if (p[i] !== 0) return false;
  return true;
}

/**
 * Whether every dword of a page is the same: its bytes from 4 on equal its bytes up to 4 from the end
 * (one memcmp, which stops at the first difference).
 */
export function isUniform(p: Uint32Array): boolean {
  if (p.length !== PAGE_DWORDS) return false;
  const b = new Uint8Array(p.buffer, p.byteOffset, PAGE_SIZE);
  return Buffer.compare(b.subarray(4), b.subarray(0, PAGE_SIZE - 4)) === 0;
}

/** Splits a 64-bit entry's address bits 51:12 out of its two dwords. */
export function entryAddress(lo: number, hi: number): number {
  return (hi & 0xfffff) * 0x100000000 + ((lo & 0xfffff000) >>> 0);
}

export function hex(n: number | bigint, pad = 0): string {
  return '0x' + n.toString(16).padStart(pad, '0');
}
