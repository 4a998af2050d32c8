// Host physical memory: a sparse store of 4 KiB pages carved from large pooled slabs; a page costs memory only once written.

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
 */
export class HostMemory {
  private readonly pages = new Map<number, Uint32Array>();
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

  /** The page for reading; a shared zero page when untouched (never write into it). */
  pageForRead(pfn: number): Uint32Array {
    return this.pages.get(pfn) ?? ZERO_PAGE;
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
      this.pages.set(pfn, p);
    }
    return p;
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

  hasPage(pfn: number): boolean {
    return this.pages.has(pfn);
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

  /** Replaces a page's contents without going through the write hook (restore paths). */
  restorePage(pfn: number, data: Uint32Array | null): void {
    if (this.restoreHook !== null) this.restoreHook(pfn);
    if (data === null || isZero(data)) {
      const p = this.pages.get(pfn);
      if (p !== undefined) {
        this.pages.delete(pfn);
        this.free.push(p);
        this.generation++;
      }
    } else this.allocated(pfn).set(data);
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
    const out = new Float64Array(this.pages.size);
    let n = 0;
    for (const pfn of this.pages.keys()) if (pfn >= firstPfn && pfn < endPfn) out[n++] = pfn;
    return out.subarray(0, n).sort();
  }

  /**
   * Feeds `h` every non-zero page in [firstPfn, endPfn), ascending, each as its offset from firstPfn in
   * bytes (8 bytes little endian) followed by its 4096 bytes. Pages are taken in one walk of the page
   * map and put in order by a native sort (usually they already are: pages are added as first
   * written): a lookup per page, out of cache at millions of pages, cost more than the hashing.
   */
  hashPages(h: Hash, firstPfn: number, endPfn: number): void {
    const frames: number[] = [];
    const pages: Uint32Array[] = [];
    this.pages.forEach((p, pfn) => {
      if (pfn >= firstPfn && pfn < endPfn) {
        frames.push(pfn);
        pages.push(p);
      }
    });
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

  get allocatedPages(): number {
    return this.pages.size;
  }
}

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

/** Splits a 64-bit entry's address bits 51:12 out of its two dwords. */
export function entryAddress(lo: number, hi: number): number {
  return (hi & 0xfffff) * 0x100000000 + ((lo & 0xfffff000) >>> 0);
}

export function hex(n: number | bigint, pad = 0): string {
  return '0x' + n.toString(16).padStart(pad, '0');
}
