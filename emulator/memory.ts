// Host physical memory: a sparse store of 4 KiB pages; a page costs memory only once written.

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PAGE_DWORDS = 1024;
const ZERO_PAGE = new Uint32Array(PAGE_DWORDS);

/**
 * Pages are Uint32Arrays (the GPU's natural unit); byte views are made where bytes are needed.
 * Reads of untouched pages see zeros without allocating.
 */
export class HostMemory {
  private readonly pages = new Map<number, Uint32Array>();
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
      p = new Uint32Array(PAGE_DWORDS);
      this.pages.set(pfn, p);
    }
    return p;
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
      if (this.pages.delete(pfn)) this.generation++;
    }
    else {
      const p = this.pages.get(pfn);
      if (p) p.set(data);
      else this.pages.set(pfn, new Uint32Array(data));
    }
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
    const out: number[] = [];
    for (const pfn of this.pages.keys()) if (pfn >= firstPfn && pfn < endPfn) out.push(pfn);
    return out.sort((a, b) => a - b);
  }

  get allocatedPages(): number {
    return this.pages.size;
  }
}

export function isZero(p: Uint32Array): boolean {
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
