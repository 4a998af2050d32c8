// Incremental snapshots: each keeps the registers and engine/driver state at its step plus the
// before-images of the 32-byte blocks first written after it (predicted by the command parser), so
// its cost is what changed, never the size of guest RAM. Rollback undoes epochs newest-first.

import { Engine, type EngineState } from './engine';
import {
  MAP_ENTRY_BYTES,
  TYPED_VIEW_BYTES,
  arrayBytes,
  grownArrayBytes,
  objectBytes,
  ownTypedArrayBytes,
} from './heapsize';
import { HostMemory, PAGE_DWORDS, PAGE_SIZE } from './memory';

/** 'reverse': left behind by a backward move's replay (Vm.goToStep's trail). */
export type SnapshotReason = 'start' | 'periodic' | 'submission' | 'manual' | 'edit' | 'reverse';

/**
 * Before-images are kept per block of 32 bytes: a 4-byte store costs a 32-byte copy, not a 4 KiB
 * one, and a blit that covers a page still copies it in a few long runs.
 */
export const BLOCK_SHIFT = 5;
export const BLOCK_BYTES = 1 << BLOCK_SHIFT;
export const BLOCK_DWORDS = BLOCK_BYTES / 4;
export const BLOCKS_PER_PAGE = PAGE_SIZE / BLOCK_BYTES;
/** 32-bit words of a page's block mask (bit b of word b >> 5: block b). */
export const MASK_WORDS = BLOCKS_PER_PAGE / 32;
/** What a page record costs besides its blocks: in the checkpoint format, its GPA page number (u64) and block mask. */
export const PAGE_RECORD_BYTES = 8 + 4 * MASK_WORDS;

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

/** Block numbers set in a block mask, ascending. */
export function maskBlocks(mask: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let b = 0; b < BLOCKS_PER_PAGE; b++) if ((mask[b >>> 5] >>> (b & 31)) & 1) out.push(b);
  return out;
}

/** Before-images live in 1 KiB segments carved out of 1 MiB slabs and recycled, so a long run allocates no arrays per snapshot. */
const SEG_DWORDS = 256;
const SEG_BLOCKS = SEG_DWORDS / BLOCK_DWORDS;
const SLAB_BYTES = 1 << 20;
const FIRST_SLAB_BYTES = 16 << 10;

/**
 * Records of a fixed number of dwords (segments of before-images, snapshots' register copies) carved
 * out of slabs and recycled: no ArrayBuffer, and no malloc'd backing store, per record.
 */
export class BlockPool {
  private readonly free: Uint32Array[] = [];
  private readonly slabs = new Set<ArrayBuffer>();
  /** Records taken and not given back. */
  inUse = 0;
  /** Heap the pool's users hold beside their records (views of them, the lists holding them), as they report it. */
  extraBytes = 0;
  /** Heap of the users' lookup caches (built by searches, dropped when their owner changes or goes). */
  cacheBytes = 0;

  constructor(readonly dwords = SEG_DWORDS) {}

  /** The newest slab and the dword its next unused record starts at (records are carved from it as taken). */
  private slab: Uint32Array | null = null;
  private carved = 0;

  take(): Uint32Array {
    this.inUse++;
    const seg = this.free.pop();
    if (seg !== undefined) return seg;
    if (this.slab === null || this.carved === this.slab.length) {
      // A new slab, twice the last up to SLAB_BYTES, its views made one a take: a new VM's first epochs
      // take a few records, not a megabyte's worth.
      const bytes = Math.min(SLAB_BYTES, FIRST_SLAB_BYTES * 2 ** this.slabs.size);
      const slab = new Uint32Array(Math.max(1, Math.floor(bytes / 4 / this.dwords)) * this.dwords);
      this.slabs.add(slab.buffer);
      this.slab = slab;
      this.carved = 0;
    }
    this.carved += this.dwords;
    return this.slab.subarray(this.carved - this.dwords, this.carved);
  }

  give(seg: Uint32Array): void {
    this.inUse--;
    this.free.push(seg);
  }

  // Whole-page images (a page first written whole in an epoch: a blit's rows) live in page units of
  // their own slabs, numbered; units taken one after another from a fresh slab (or given back in order
  // and taken again) are adjacent, so pages adjacent in host memory are kept in one copy.
  private readonly pageSlabs: Uint32Array[] = [];
  private readonly freePages: number[] = [];
  private pagesMade = 0;
  /** Page units taken and not given back. */
  pagesInUse = 0;

  takePage(): number {
    this.pagesInUse++;
    const u = this.freePages.pop();
    if (u !== undefined) return u;
    if (this.pagesMade === this.pageSlabs.length * SLAB_PAGES)
      this.pageSlabs.push(new Uint32Array(SLAB_PAGES * PAGE_DWORDS));
    return this.pagesMade++;
  }

  /** Gives units back; the first of `units` is taken again first. */
  givePages(units: readonly number[]): void {
    this.pagesInUse -= units.length;
    for (let i = units.length - 1; i >= 0; i--) this.freePages.push(units[i]);
  }

  /** The slab holding page unit u (at pageAt(u)). */
  pageSlab(u: number): Uint32Array {
    return this.pageSlabs[Math.floor(u / SLAB_PAGES)];
  }

  pageAt(u: number): number {
    return (u % SLAB_PAGES) * PAGE_DWORDS;
  }

  /** Whether a record came from this pool. */
  owns(r: Uint32Array): boolean {
    return r.length === this.dwords && this.slabs.has(r.buffer as ArrayBuffer);
  }

  /**
   * Bytes the records and page units in use hold: their data and view (a unit is part of a slab, with
   * no view of its own), and what users reported (the lists holding them; not caches).
   */
  get heldBytes(): number {
    return this.inUse * (this.dwords * 4 + TYPED_VIEW_BYTES) + this.pagesInUse * PAGE_SIZE + this.extraBytes;
  }
}

/** Page units per slab of whole-page images (1 MiB). */
const SLAB_PAGES = 256;

/** The image of a uniform whole-page record, filled when read (UndoLog.wholeImage). */
const UNIFORM_SCRATCH = new Uint32Array(PAGE_DWORDS);

/** A page record of a log as encoders read it. */
export interface PageRecord {
  readonly pfn: number;
  /** The page was unallocated when first written in the epoch: undo drops it, no blocks are kept. */
  readonly absent: boolean;
  /** Blocks kept (MASK_WORDS words). */
  readonly mask: Uint32Array;
}

let nextLogId = 0;
/** The empty list every empty list of a log is. */
const NONE: never[] = [];

const ABSENT = 0x80000000;
/** Runs are two dwords: record, and first block | count << 8. */
const RUN_SHIFT = 8;
const RUNS_PER_SEG = SEG_DWORDS / 2;
/**
 * A record segment holds RECS_PER_SEG frames (u32), then from dword STEPS_AT (8-byte aligned) the
 * same records' last-write steps (f64): 80 * 4 + 80 * 8 bytes fit in a segment.
 */
const RECS_PER_SEG = 80;
const STEPS_AT = RECS_PER_SEG;
/** Logs of up to this many records are searched by a scan, without building an index. */
const SCAN_RECORDS = 8;
/** A record's last-write step when it is not known (a log decoded from a checkpoint): any step of the epoch. */
const STEP_UNKNOWN = Infinity;

/**
 * The before-images one epoch keeps. Per page first written in the epoch, a record: its frame, with
 * bit 31 set when the page was unallocated then (undo drops it; no blocks are kept), and the step of
 * the epoch's last write to the page (a backward search replays a candidate epoch up to it). Per run of
 * consecutive blocks kept together, [record, first block | count << 8]. Images are appended in run
 * order, so a run's slot (segment * blocks per segment + block in it) is the sum of the counts
 * before it; a run never crosses a segment. Records, runs and images all live in pooled segments:
 * keeping a block allocates nothing. Which blocks an open epoch already kept is the store's page
 * tracker's business; a closed log works its masks out from its runs when asked (merging, saving).
 */
export class UndoLog {
  /** Unique over the process: the store's page tracker tells the open log's records by it. */
  readonly id = nextLogId++;
  private recs: Uint32Array[] = NONE;
  /** Views of the record segments' step halves (one per record segment). */
  private steps: Float64Array[] = NONE;
  private runs: Uint32Array[] = NONE;
  private segs: Uint32Array[] = NONE;
  /**
   * Pages kept whole, each in a page unit of the pool: their records, and their units. A page that was
   * uniform (HostMemory's shared page of one value) keeps no unit: its unit is -1 - value.
   */
  private wholeRecs: number[] = NONE;
  private wholeUnits: number[] = NONE;
  /** Of wholeUnits, the uniform ones (no unit of the pool). */
  private uniformCount = 0;
  /** record -> its page unit, built when first asked for (applyTo), dropped when a page is kept whole; a cache, charged as one. */
  private unitOf: Map<number, number> | null = null;
  /**
   * A copy of whole pages not made yet: `pendPages` pages adjacent in host memory from `pendBuf` at
   * byte `pendOff`, into adjacent units from `pendUnit`. Made by flush() before anything reads the
   * images, and by the store before a command writes.
   */
  private pendBuf: ArrayBufferLike | null = null;
  private pendOff = 0;
  private pendUnit = 0;
  private pendPages = 0;
  private nRecs = 0;
  private nRuns = 0;
  /** Blocks used in the newest image segment. */
  private fill = SEG_BLOCKS;
  /** Blocks kept (absent pages keep none). */
  blockCount = 0;
  /** pfn -> record, built when first asked for (the hot path never needs it). */
  private index: Map<number, number> | null = null;
  /**
   * Runs by record, built when a page is first asked for (applyTo), dropped when a run is added:
   * record r's [run, slot] pairs are byRecord[2 * first[r] ..  2 * first[r + 1]).
   */
  private byRecord: { first: Int32Array; pairs: Int32Array } | null = null;
  /** Heap of the log's own besides its segments (step views, lists), also reported to the pool. */
  private extraBytes = 0;
  /** Heap of its lookup caches (index, runs by record), also reported to the pool. */
  private cacheBytes = 0;

  constructor(private readonly pool: BlockPool) {}

  get pageCount(): number {
    return this.nRecs;
  }

  /** Bytes this log costs in the checkpoint format: its block images and a fixed amount per page record. */
  get bytes(): number {
    return this.blockCount * BLOCK_BYTES + this.nRecs * PAGE_RECORD_BYTES;
  }

  /**
   * Bytes this log holds in memory: its segments (whole: the last ones are partly filled) and their
   * views, its page units, the lists of them. Not its lookup caches: searching a snapshot does not change what it keeps
   * (the store's budget counts them apart).
   */
  get heldBytes(): number {
    return (
      (this.recs.length + this.runs.length + this.segs.length) * (SEG_DWORDS * 4 + TYPED_VIEW_BYTES) +
      (this.wholeUnits.length - this.uniformCount) * PAGE_SIZE +
      this.extraBytes
    );
  }

  private charge(bytes: number): void {
    this.extraBytes += bytes;
    this.pool.extraBytes += bytes;
  }

  private chargeCache(bytes: number): void {
    this.cacheBytes += bytes;
    this.pool.cacheBytes += bytes;
  }

  /**
   * A list of the log's with `x` appended, its growth charged: most logs hold one segment of each
   * kind, and an empty list pushed into reserves 17 slots. Empty lists are all NONE (never pushed into).
   */
  private append<T>(list: T[], x: T): T[] {
    this.charge(grownArrayBytes(list.length + 1, 1) - (list.length === 0 ? 0 : grownArrayBytes(list.length, 1)));
    if (list.length === 0) return [x];
    list.push(x);
    return list;
  }

  private dropRunIndex(): void {
    if (this.byRecord === null) return;
    this.chargeCache(
      -ownTypedArrayBytes(this.byRecord.first.byteLength) - ownTypedArrayBytes(this.byRecord.pairs.byteLength),
    );
    this.byRecord = null;
  }

  private recWord(r: number): number {
    return this.recs[Math.floor(r / RECS_PER_SEG)][r % RECS_PER_SEG];
  }

  private pfnOf(r: number): number {
    return (this.recWord(r) & ~ABSENT) >>> 0;
  }

  private absent(r: number): boolean {
    return (this.recWord(r) & ABSENT) !== 0;
  }

  private lookup(pfn: number): number {
    if (this.index === null && this.nRecs <= SCAN_RECORDS) {
      for (let r = 0; r < this.nRecs; r++) if (this.pfnOf(r) === pfn) return r;
      return -1;
    }
    if (this.index === null) {
      this.index = new Map();
      for (let r = 0; r < this.nRecs; r++) this.index.set(this.pfnOf(r), r);
      this.chargeCache(objectBytes(4) + this.nRecs * MAP_ENTRY_BYTES);
    }
    return this.index.get(pfn) ?? -1;
  }

  /** Whether the log has a record of page `pfn` (the page was written in its epoch). */
  has(pfn: number): boolean {
    return this.lookup(pfn) >= 0;
  }

  /** Step of the epoch's last write to page `pfn`: -1 when the epoch did not write it, STEP_UNKNOWN when not known. */
  lastWrite(pfn: number): number {
    const r = this.lookup(pfn);
    return r < 0 ? -1 : this.steps[Math.floor(r / RECS_PER_SEG)][r % RECS_PER_SEG];
  }

  /** The step array holding record r's last-write step (at r % RECS_PER_SEG): the store's page tracker writes it directly. */
  stepsOf(r: number): Float64Array {
    return this.steps[Math.floor(r / RECS_PER_SEG)];
  }

  pfns(): number[] {
    const out: number[] = new Array(this.nRecs);
    for (let r = 0; r < this.nRecs; r++) out[r] = this.pfnOf(r);
    return out;
  }

  /**
   * Every record's block mask (absent pages: all ones), worked out from the runs, record r's at
   * [r * MASK_WORDS, (r + 1) * MASK_WORDS): the open epoch's masks are the page tracker's, so a log
   * keeps none of its own.
   */
  masks(): Uint32Array {
    const masks = new Uint32Array(Math.max(this.nRecs, 1) * MASK_WORDS);
    for (let r = 0; r < this.nRecs; r++)
      if (this.absent(r)) masks.fill(0xffffffff, r * MASK_WORDS, (r + 1) * MASK_WORDS);
    this.forRuns((r, first, count) => setBits(masks, r * MASK_WORDS, first, count));
    for (const r of this.wholeRecs) masks.fill(0xffffffff, r * MASK_WORDS, (r + 1) * MASK_WORDS);
    return masks;
  }

  records(): PageRecord[] {
    const masks = this.masks();
    const out: PageRecord[] = [];
    for (let r = 0; r < this.nRecs; r++)
      out.push({
        pfn: this.pfnOf(r),
        absent: this.absent(r),
        mask: masks.subarray(r * MASK_WORDS, (r + 1) * MASK_WORDS),
      });
    return out;
  }

  /** Gives the log's segments back to the pool (the log is not used again). */
  release(): void {
    this.pendPages = 0; // nothing reads them any more
    for (const list of [this.segs, this.recs, this.runs]) for (const seg of list) this.pool.give(seg);
    this.pool.givePages(this.uniformCount === 0 ? this.wholeUnits : this.wholeUnits.filter((u) => u >= 0));
    this.uniformCount = 0;
    this.segs = this.recs = this.runs = NONE;
    this.steps = NONE;
    this.wholeRecs = this.wholeUnits = NONE;
    this.nRecs = this.nRuns = this.blockCount = 0;
    this.fill = SEG_BLOCKS;
    this.index = null;
    this.byRecord = null;
    this.unitOf = null;
    this.pool.extraBytes -= this.extraBytes;
    this.pool.cacheBytes -= this.cacheBytes;
    this.extraBytes = this.cacheBytes = 0;
  }

  /** Starts the record of a page first written in this epoch; returns its number. */
  addRecord(pfn: number, absent: boolean, step = STEP_UNKNOWN): number {
    const r = this.nRecs++;
    if (r % RECS_PER_SEG === 0) {
      const seg = this.pool.take();
      this.recs = this.append(this.recs, seg);
      this.steps = this.append(this.steps, new Float64Array(seg.buffer, seg.byteOffset + 4 * STEPS_AT, RECS_PER_SEG));
      this.charge(TYPED_VIEW_BYTES);
    }
    this.recs[Math.floor(r / RECS_PER_SEG)][r % RECS_PER_SEG] = absent ? (pfn | ABSENT) >>> 0 : pfn;
    this.steps[Math.floor(r / RECS_PER_SEG)][r % RECS_PER_SEG] = step;
    if (this.index !== null) {
      this.index.set(pfn, r);
      this.chargeCache(MAP_ENTRY_BYTES);
    }
    this.dropRunIndex();
    return r;
  }

  /**
   * Blocks b0..b1 (inclusive) of record r's page (frame `pfn`) are about to be written; `mask` says
   * which this epoch kept already (updated here). Keeps the others, a run at a time; returns the
   * bytes added. `known`: the page's memory when the caller has it (else read from `mem`).
   */
  keep(
    mem: HostMemory,
    r: number,
    pfn: number,
    mask: Uint32Array,
    b0: number,
    b1: number,
    known?: Uint32Array,
  ): number {
    if (b0 === b1) {
      // One block (a store's): no runs to look for.
      const bit = 1 << (b0 & 31);
      if ((mask[b0 >>> 5] & bit) !== 0) return 0;
      mask[b0 >>> 5] |= bit;
      this.keepBlock(r, b0, known ?? mem.pageForRead(pfn));
      return BLOCK_BYTES;
    }
    if (b0 === 0 && b1 === BLOCKS_PER_PAGE - 1 && emptyMask(mask)) {
      mask.fill(0xffffffff);
      const page = known ?? mem.pageForRead(pfn);
      const value = mem.uniformValueOf(page.buffer);
      // A uniform page's image is its value: no copy.
      if (value !== undefined) this.addWhole(r, -1 - value);
      else this.keepWhole(r, page);
      return PAGE_SIZE;
    }
    let added = 0;
    let page: Uint32Array | null = known ?? null;
    const end = b1 + 1;
    // Runs of blocks not kept yet, found a mask word at a time: a range already kept costs a few word
    // tests, and a page first written whole is one run (copied a segment at a time).
    for (let b = nextBit(mask, b0, end, 0); b < end;) {
      const e = nextBit(mask, b + 1, end, 1);
      if (page === null) page = mem.pageForRead(pfn);
      setBits(mask, 0, b, e - b);
      this.addRun(r, b, e - b, page, b * BLOCK_DWORDS);
      added += (e - b) * BLOCK_BYTES;
      b = e < end ? nextBit(mask, e + 1, end, 0) : end;
    }
    return added;
  }

  /** Keeps block b of record r's page (`page`, its current contents), not kept yet in this epoch. */
  keepBlock(r: number, b: number, page: Uint32Array): void {
    // addRun of one block, its copy a fixed-length loop.
    this.blockCount++;
    if (this.byRecord !== null) this.dropRunIndex();
    if (this.fill === SEG_BLOCKS) {
      this.segs = this.append(this.segs, this.pool.take());
      this.fill = 0;
    }
    const seg = this.segs[this.segs.length - 1];
    const to = this.fill * BLOCK_DWORDS;
    const at = b * BLOCK_DWORDS;
    for (let i = 0; i < BLOCK_DWORDS; i++) seg[to + i] = page[at + i];
    this.pushRun(r, b, 1);
    this.fill++;
  }

  /**
   * Keeps all of record r's page (`page`, first written whole in this epoch) in a page unit. The copy
   * joins the pending one when both the page and the unit follow it; else that one is made first.
   */
  private keepWhole(r: number, page: Uint32Array): void {
    const u = this.pool.takePage();
    this.addWhole(r, u);
    const n = this.pendPages;
    if (
      n > 0 &&
      page.buffer === this.pendBuf &&
      page.byteOffset === this.pendOff + n * PAGE_SIZE &&
      u === this.pendUnit + n &&
      u % SLAB_PAGES !== 0
    ) {
      this.pendPages++;
      return;
    }
    this.flush();
    this.pendBuf = page.buffer;
    this.pendOff = page.byteOffset;
    this.pendUnit = u;
    this.pendPages = 1;
  }

  /** Record r is kept whole in page unit u (taken, or moved over from a merged log). */
  private addWhole(r: number, u: number): void {
    if (u < 0) this.uniformCount++;
    this.wholeRecs = this.append(this.wholeRecs, r);
    this.wholeUnits = this.append(this.wholeUnits, u);
    this.dropUnitIndex();
    this.blockCount += BLOCKS_PER_PAGE;
  }

  private dropUnitIndex(): void {
    if (this.unitOf === null) return;
    this.chargeCache(-(objectBytes(4) + this.unitOf.size * MAP_ENTRY_BYTES));
    this.unitOf = null;
  }

  /** Makes the pending copy of whole pages (before their memory is written, or the images read). */
  flush(): void {
    if (this.pendPages === 0) return;
    const src = new Uint32Array(this.pendBuf!, this.pendOff, this.pendPages * PAGE_DWORDS);
    this.pool.pageSlab(this.pendUnit).set(src, this.pool.pageAt(this.pendUnit));
    this.pendPages = 0;
    this.pendBuf = null;
  }

  /** The image of a page kept whole (a view of its unit; of a uniform one, a scratch page valid until the next call). */
  private wholeImage(u: number): Uint32Array {
    if (u < 0) return UNIFORM_SCRATCH.fill(-1 - u);
    const at = this.pool.pageAt(u);
    return this.pool.pageSlab(u).subarray(at, at + PAGE_DWORDS);
  }

  /** Appends `count` blocks of record r starting at block `first`, their image read from src[at..]. */
  private addRun(r: number, first: number, count: number, src: Uint32Array, at: number): void {
    this.blockCount += count;
    if (this.byRecord !== null) this.dropRunIndex();
    while (count > 0) {
      if (this.fill === SEG_BLOCKS) {
        this.segs = this.append(this.segs, this.pool.take());
        this.fill = 0;
      }
      const k = Math.min(count, SEG_BLOCKS - this.fill);
      const seg = this.segs[this.segs.length - 1];
      copyBlocks(src, at, seg, this.fill * BLOCK_DWORDS, k * BLOCK_DWORDS);
      this.pushRun(r, first, k);
      this.fill += k;
      first += k;
      count -= k;
      at += k * BLOCK_DWORDS;
    }
  }

  private pushRun(r: number, first: number, count: number): void {
    const j = this.nRuns - 1;
    if (j >= 0 && this.fill > 0) {
      // A run that continues the newest one (same page, next blocks, same segment) extends it.
      const p = this.runs[Math.floor(j / RUNS_PER_SEG)];
      const o = (j % RUNS_PER_SEG) * 2;
      const pf = p[o + 1] & ((1 << RUN_SHIFT) - 1);
      const pc = p[o + 1] >>> RUN_SHIFT;
      if (p[o] === r && pf + pc === first) {
        p[o + 1] = pf | ((pc + count) << RUN_SHIFT);
        return;
      }
    }
    const k = this.nRuns++;
    if (k % RUNS_PER_SEG === 0) this.runs = this.append(this.runs, this.pool.take());
    const q = this.runs[Math.floor(k / RUNS_PER_SEG)];
    const o = (k % RUNS_PER_SEG) * 2;
    q[o] = r;
    q[o + 1] = first | (count << RUN_SHIFT);
  }

  /** Adds the images of blocks of record r not kept yet (decoding a saved log): `blocks` ascending, their images in `src`. */
  addImages(r: number, blocks: readonly number[], src: Uint32Array): void {
    for (let i = 0; i < blocks.length; i++) this.addRun(r, blocks[i], 1, src, i * BLOCK_DWORDS);
  }

  /** Calls fn(record, first block, count, image segment, dword offset in it) for every run, in order. */
  private forRuns(fn: (r: number, first: number, count: number, seg: Uint32Array, at: number) => void): void {
    let slot = 0;
    for (let k = 0; k < this.nRuns; k++) {
      const q = this.runs[Math.floor(k / RUNS_PER_SEG)];
      const o = (k % RUNS_PER_SEG) * 2;
      const count = q[o + 1] >>> RUN_SHIFT;
      fn(
        q[o],
        q[o + 1] & ((1 << RUN_SHIFT) - 1),
        count,
        this.segs[Math.floor(slot / SEG_BLOCKS)],
        (slot % SEG_BLOCKS) * BLOCK_DWORDS,
      );
      slot += count;
    }
  }

  /** Writes the before-images back into memory (each page as it was when the epoch began). */
  undo(mem: HostMemory): void {
    this.flush();
    for (let r = 0; r < this.nRecs; r++) if (this.absent(r)) mem.restorePage(this.pfnOf(r), null);
    for (let i = 0; i < this.wholeRecs.length; i++)
      mem.restoreWhole(this.pfnOf(this.wholeRecs[i]), this.wholeImage(this.wholeUnits[i]));
    let cur = -1;
    let page: Uint32Array | null = null;
    this.forRuns((r, first, count, seg, at) => {
      if (r !== cur) {
        cur = r;
        page = mem.pageForRestore(this.pfnOf(r));
      }
      copyBlocks(seg, at, page!, first * BLOCK_DWORDS, count * BLOCK_DWORDS);
    });
  }

  /** Writes this epoch's before-images of page `pfn` into `page` (a copy); false when it kept none. */
  applyTo(pfn: number, page: Uint32Array): boolean {
    const want = this.lookup(pfn);
    if (want < 0) return false;
    if (this.absent(want)) {
      page.fill(0);
      return true;
    }
    this.flush();
    if (this.wholeRecs.length > 0) {
      if (this.unitOf === null) {
        const unitOf = new Map<number, number>();
        for (let i = 0; i < this.wholeRecs.length; i++) unitOf.set(this.wholeRecs[i], this.wholeUnits[i]);
        this.unitOf = unitOf;
        this.chargeCache(objectBytes(4) + unitOf.size * MAP_ENTRY_BYTES);
      }
      const u = this.unitOf.get(want);
      if (u !== undefined) {
        page.set(this.wholeImage(u));
        return true;
      }
    }
    if (this.byRecord === null) {
      // Counting sort of the runs by record: two typed arrays, whatever the number of records.
      const first = new Int32Array(this.nRecs + 1);
      for (let k = 0; k < this.nRuns; k++) first[this.runs[Math.floor(k / RUNS_PER_SEG)][(k % RUNS_PER_SEG) * 2] + 1]++;
      for (let r = 0; r < this.nRecs; r++) first[r + 1] += first[r];
      const pairs = new Int32Array(2 * this.nRuns);
      const next = first.slice(0, this.nRecs);
      let slot = 0;
      for (let k = 0; k < this.nRuns; k++) {
        const q = this.runs[Math.floor(k / RUNS_PER_SEG)];
        const o = (k % RUNS_PER_SEG) * 2;
        const at = 2 * next[q[o]]++;
        pairs[at] = k;
        pairs[at + 1] = slot;
        slot += q[o + 1] >>> RUN_SHIFT;
      }
      this.byRecord = { first, pairs };
      this.chargeCache(ownTypedArrayBytes(first.byteLength) + ownTypedArrayBytes(pairs.byteLength));
    }
    const { first, pairs } = this.byRecord;
    for (let i = 2 * first[want]; i < 2 * first[want + 1]; i += 2) {
      const q = this.runs[Math.floor(pairs[i] / RUNS_PER_SEG)];
      const o = (pairs[i] % RUNS_PER_SEG) * 2;
      const slot = pairs[i + 1];
      copyBlocks(
        this.segs[Math.floor(slot / SEG_BLOCKS)],
        (slot % SEG_BLOCKS) * BLOCK_DWORDS,
        page,
        (q[o + 1] & ((1 << RUN_SHIFT) - 1)) * BLOCK_DWORDS,
        (q[o + 1] >>> RUN_SHIFT) * BLOCK_DWORDS,
      );
    }
    return true;
  }

  /**
   * Folds a newer epoch's log into this (older) one and releases it: for each block the older
   * before-image wins, so undoing the merged log gives the state at this epoch's start; a page's last
   * write is the newer epoch's.
   */
  absorb(newer: UndoLog): void {
    const hadIndex = this.index !== null;
    const masks = new Uint32Array((this.nRecs + newer.nRecs) * MASK_WORDS);
    masks.set(this.masks().subarray(0, this.nRecs * MASK_WORDS));
    const map = new Int32Array(newer.nRecs);
    for (let n = 0; n < newer.nRecs; n++) {
      const pfn = newer.pfnOf(n);
      const absent = newer.absent(n);
      const step = newer.steps[Math.floor(n / RECS_PER_SEG)][n % RECS_PER_SEG];
      let o = this.lookup(pfn);
      if (o < 0) o = this.addRecord(pfn, absent, step);
      else {
        const steps = this.steps[Math.floor(o / RECS_PER_SEG)];
        steps[o % RECS_PER_SEG] = Math.max(steps[o % RECS_PER_SEG], step);
        // Pages stay allocated until an undo drops them, so an older present record never meets a
        // newer absent one; an older absent record already wins everything.
        if (this.absent(o) || absent) o = -1;
      }
      map[n] = absent ? -1 : o;
    }
    newer.flush();
    // The newer epoch's whole pages: into a page this epoch did not keep, its unit moves over as it is;
    // into one it kept in part, the blocks it did not keep are copied.
    const moved: number[] = [];
    for (let i = 0; i < newer.wholeRecs.length; i++) {
      const o = map[newer.wholeRecs[i]];
      if (o < 0) continue;
      const u = newer.wholeUnits[i];
      const mask = masks.subarray(o * MASK_WORDS, (o + 1) * MASK_WORDS);
      if (emptyMask(mask)) {
        this.addWhole(o, u);
        mask.fill(0xffffffff);
        moved.push(i);
        continue;
      }
      const image = newer.wholeImage(u);
      for (let b = nextBit(mask, 0, BLOCKS_PER_PAGE, 0); b < BLOCKS_PER_PAGE;) {
        const e = nextBit(mask, b + 1, BLOCKS_PER_PAGE, 1);
        this.addRun(o, b, e - b, image, b * BLOCK_DWORDS);
        setBits(mask, 0, b, e - b);
        b = e < BLOCKS_PER_PAGE ? nextBit(mask, e + 1, BLOCKS_PER_PAGE, 0) : BLOCKS_PER_PAGE;
      }
    }
    for (let k = moved.length - 1; k >= 0; k--) {
      newer.wholeRecs.splice(moved[k], 1);
      if (newer.wholeUnits.splice(moved[k], 1)[0] < 0) newer.uniformCount--;
    }
    newer.forRuns((n, first, count, seg, at) => {
      const o = map[n];
      if (o < 0) return;
      const m = o * MASK_WORDS;
      let b = first;
      const end = first + count;
      while (b < end) {
        if ((masks[m + (b >>> 5)] >>> (b & 31)) & 1) {
          b++;
          continue;
        }
        let e = b + 1;
        while (e < end && !((masks[m + (e >>> 5)] >>> (e & 31)) & 1)) e++;
        this.addRun(o, b, e - b, seg, at + (b - first) * BLOCK_DWORDS);
        b = e;
      }
    });
    newer.release();
    // The index served this merge only: a merged log is rarely searched, and would hold it for good.
    if (!hadIndex) this.dropIndex();
  }

  private dropIndex(): void {
    if (this.index === null) return;
    this.chargeCache(-(objectBytes(4) + this.index.size * MAP_ENTRY_BYTES));
    this.index = null;
  }
}

/** Sets bits first..first+count-1 of the block mask at mask[at..], a word at a time. */
function setBits(mask: Uint32Array, at: number, first: number, count: number): void {
  let b = first;
  const end = first + count;
  while (b < end) {
    const lo = b & 31;
    const n = Math.min(32 - lo, end - b);
    mask[at + (b >>> 5)] |= n === 32 ? 0xffffffff : ((1 << n) - 1) << lo;
    b += n;
  }
}

/** The first block in [from, end) whose mask bit is `bit` (0 or 1), or `end`: a mask word at a time. */
function nextBit(mask: Uint32Array, from: number, end: number, bit: number): number {
  let b = from;
  while (b < end) {
    const word = bit === 1 ? mask[b >>> 5] : ~mask[b >>> 5];
    const rest = word >>> (b & 31); // bits of blocks b.. to the end of the word, b's at bit 0
    if (rest !== 0) return Math.min(end, b + 31 - Math.clz32(rest & -rest));
    b = (b | 31) + 1;
  }
  return end;
}

/** Whether no block of a page's mask is set. */
function emptyMask(mask: Uint32Array): boolean {
  for (let w = 0; w < MASK_WORDS; w++) if (mask[w] !== 0) return false;
  return true;
}

/** Whether every block of a page's mask is set (kept this epoch, or the page was absent). */
function fullMask(mask: Uint32Array): boolean {
  for (let w = 0; w < MASK_WORDS; w++) if (mask[w] !== 0xffffffff) return false;
  return true;
}

/** Copies n dwords (a short run by hand, a long one in one piece). */
function copyBlocks(src: Uint32Array, at: number, dst: Uint32Array, to: number, n: number): void {
  if (n <= 2 * BLOCK_DWORDS) for (let i = 0; i < n; i++) dst[to + i] = src[at + i];
  else dst.set(src.subarray(at, at + n), to);
}

/**
 * What the epoch before a snapshot did besides keeping before-images, for reverse searches that skip
 * epochs (a merged or superseded snapshot's trace covers its predecessor's epoch too).
 */
export interface EpochTrace {
  /** Register slots the I/O tracker saw written. */
  touchedRegs: readonly number[];
  /** Step of the last write of each of touchedRegs (same order); null when not known (a decoded checkpoint). */
  touchedAt: readonly number[] | null;
  /** GPU VA page numbers commands were fetched from (any engine or address space), ascending; null when not known. */
  fetched: readonly number[] | null;
}

/** The trace of an epoch followed by another (older first). */
export function mergeTraces(older: EpochTrace, newer: EpochTrace): EpochTrace {
  // An epoch like the one before it (the same registers, the same command pages): the newer trace is
  // the merge (its writes are the later ones), and merging allocates nothing.
  if (
    sameNumbers(older.touchedRegs, newer.touchedRegs) &&
    ascending(newer.touchedRegs) &&
    (older.touchedAt === null) === (newer.touchedAt === null) &&
    (older.fetched === null
      ? newer.fetched === null
      : newer.fetched !== null && sameNumbers(older.fetched, newer.fetched))
  ) {
    return { touchedRegs: newer.touchedRegs, touchedAt: newer.touchedAt, fetched: newer.fetched };
  }
  const known = older.touchedAt !== null && newer.touchedAt !== null;
  const at = new Map<number, number>();
  for (const t of [older, newer])
    t.touchedRegs.forEach((slot, i) => at.set(slot, known ? Math.max(at.get(slot) ?? -1, t.touchedAt![i]) : -1));
  const touchedRegs = [...at.keys()].sort((x, y) => x - y);
  return {
    touchedRegs,
    touchedAt: known ? touchedRegs.map((slot) => at.get(slot)!) : null,
    fetched:
      older.fetched === null || newer.fetched === null
        ? null
        : [...new Set([...older.fetched, ...newer.fetched])].sort((x, y) => x - y),
  };
}

export interface Snapshot extends EpochTrace {
  readonly id: number;
  readonly reason: SnapshotReason;
  /** For a submission snapshot: the driver op about to run. */
  readonly op: number;
  readonly engine: string | null;
  readonly state: MachineState;
  /** Before-images of the blocks first written in this snapshot's epoch. */
  undo: UndoLog;
  /** Edits (setVariable, writeMemory) are not replayable: never thin a snapshot that follows one. */
  readonly barrier: boolean;
  /**
   * Heap bytes of its state and trace that its predecessor does not share (saved engine state is
   * shared while it does not change): kept by the store that holds it, 0 elsewhere.
   */
  stateBytes: number;
}

/** Snapshots younger than this many are never thinned. */
const DENSE_RECENT = 16;
/** A thinning pass goes this far below the budget (of it). */
const THIN_SLACK = 1 / 16;

/** What snapshot `s` holds in memory: its undo log (segments, their views and lists) and its own part of the state. */
export function snapshotBytes(s: Snapshot): number {
  return s.undo.heldBytes + s.stateBytes;
}

/** A snapshot object's own fields, and its undo log object (the log charges its lists). */
const SNAPSHOT_BYTES = objectBytes(11);
const UNDO_LOG_BYTES = objectBytes(21);

/**
 * Heap bytes snapshot `s` holds besides its log's segments that its predecessor `p` (or none) does
 * not share. Saved state shares a part with the state saved just before it or not at all, and always
 * in the same place, so comparing the two in place finds what is shared.
 */
function ownStateBytes(s: Snapshot, p: Snapshot | undefined): number {
  let n = SNAPSHOT_BYTES + UNDO_LOG_BYTES;
  if (s.touchedRegs !== p?.touchedRegs) n += arrayBytes(s.touchedRegs.length);
  if (s.touchedAt !== null && s.touchedAt !== p?.touchedAt) n += arrayBytes(s.touchedAt.length);
  if (s.fetched !== null && s.fetched !== p?.fetched) n += arrayBytes(s.fetched.length);
  const st = s.state;
  const ps = p?.state;
  if (st === ps) return n;
  // Register copies the store made are views of its pool; others (decoded) have buffers of their own.
  const pooled = st.regs.byteOffset > 0 || st.regs.buffer.byteLength > st.regs.byteLength;
  n += objectBytes(8) + (pooled ? TYPED_VIEW_BYTES + st.regs.byteLength : ownTypedArrayBytes(st.regs.byteLength));
  if (st.ringGpa !== ps?.ringGpa) n += arrayBytes(st.ringGpa.length);
  if (st.engines !== ps?.engines) {
    n += arrayBytes(st.engines.length);
    for (let i = 0; i < st.engines.length; i++) n += Engine.stateBytes(st.engines[i], ps?.engines[i]);
  }
  return n;
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
  return {
    id: s.id,
    step: s.state.step,
    commands: s.state.commands,
    reason: s.reason,
    engine: s.engine,
    pages: s.undo.pageCount,
    bytes: snapshotBytes(s),
  };
}

/**
 * A page's entry in the snapshot store's page tracker, as its users outside hold it (gateOf, stampKept):
 * which log last started a record of the page, whether that log keeps every block of it, and where it
 * keeps the page's last-write step. Within one epoch (one open log id) the steps array and index of a
 * record never change, and its blocks kept only grow: a store cache may hold them for the epoch.
 */
export interface PageGate {
  readonly log: number;
  readonly full: boolean;
  readonly steps: Float64Array;
  readonly at: number;
}

interface TrackedPage extends PageGate {
  /** Id of the log the record is in (an entry of an earlier epoch's log is stale: the page is not written yet in this one). */
  log: number;
  rec: number;
  mask: Uint32Array;
  /** Every block of the page is kept in the open epoch (or it was absent): a write needs no mask test. */
  full: boolean;
  /** The log's step array and index holding the page's last-write step. */
  steps: Float64Array;
  at: number;
}

const NO_STEPS = new Float64Array(1);
/** Pages per chunk of the page tracker (2 MiB of memory). */
const TRACK_CHUNK = 512;
/** What the page tracker holds per page: its entry object, its mask (on the heap: 32 bytes). */
const TRACKED_BYTES = objectBytes(6) + TYPED_VIEW_BYTES + 32;
/** What it holds per chunk: the map entry, the chunk's list. */
const TRACKED_CHUNK_BYTES = MAP_ENTRY_BYTES + arrayBytes(TRACK_CHUNK);
/** The tracker keeps entries of earlier epochs (pages written again reuse theirs) up to this many beyond twice the last epoch's pages. */
const TRACKED_SLACK = 256;

export class SnapshotStore {
  readonly list: Snapshot[] = [];
  private nextId = 0;
  /** Total snapshots ever taken (including thinned and replaced ones). */
  taken = 0;
  /** Before-images of the open epoch (the newest snapshot's). */
  private open: UndoLog | null = null;
  /** Sum of the kept snapshots' stateBytes (maintained as they come and go: the budget check is O(1)). */
  private stateSum = 0;

  /** Where every kept before-image lives (recycled as snapshots go). */
  readonly pool = new BlockPool();
  /** Where the register copies of snapshots taken here live (made on first use: the store learns the bank's size then). */
  private regsPool: BlockPool | null = null;

  constructor(
    private readonly mem: HostMemory,
    public budget: number,
  ) {}

  /**
   * Page tracker: for pages written lately, which log last started a record of the page, its number
   * there, the blocks that log kept and where it keeps the page's last-write step, in chunks of
   * TRACK_CHUNK pages by frame. A page's first write in the open epoch is one lookup here, not a map
   * per log, and a repeated write to a kept block is one mask test. Emptied when it holds much more
   * than the epoch that closes wrote, so it follows what recent epochs wrote, never every page ever
   * written.
   */
  private readonly tracked = new Map<number, TrackedPage[]>();
  /** The chunk of `tracked` last used, and its number: a blit's pages, in order, cost one map lookup per chunk. */
  private chunk: TrackedPage[] | null = null;
  private chunkKey = -1;
  /** Pages the tracker has entries for (over all chunks). */
  private trackedCount = 0;

  /** The tracker's entry of page `pfn` (made, never having been written, when first asked for). */
  private trackedPage(pfn: number): TrackedPage {
    const key = Math.floor(pfn / TRACK_CHUNK);
    let chunk = this.chunk;
    if (key !== this.chunkKey) {
      chunk = this.tracked.get(key) ?? null;
      if (chunk === null) this.tracked.set(key, (chunk = []));
      this.chunk = chunk;
      this.chunkKey = key;
    }
    const i = pfn - key * TRACK_CHUNK;
    let t = chunk![i];
    if (t === undefined) {
      this.trackedCount++;
      chunk![i] = t = { log: -1, rec: 0, mask: new Uint32Array(MASK_WORDS), full: false, steps: NO_STEPS, at: 0 };
    }
    return t;
  }

  /**
   * Sets that collect the frame of every page written (through preserve) or restored (by a rewind),
   * for whoever follows the VM's changes (fingerprint.ts). Empty on the fast path.
   */
  private readonly watchers: Set<number>[] = [];

  watchChanges(): Set<number> {
    const s = new Set<number>();
    this.watchers.push(s);
    return s;
  }

  unwatchChanges(s: Set<number>): void {
    const i = this.watchers.indexOf(s);
    if (i >= 0) this.watchers.splice(i, 1);
  }

  /**
   * Bytes [hpa, hpa + bytes) are about to be written (within one page) by global step `step`: keep
   * their before-image once per epoch, and the step as the page's last write.
   */
  preserve(hpa: number, bytes: number, step: number): void {
    this.preserveIn(hpa, bytes, step);
    if (this.open !== null) this.open.flush();
  }

  /**
   * preserve() for a command's write segments (each within one page, in write order): segments that
   * continue each other in a page are kept as one range (a page a blit's rows cover is kept whole, in
   * one copy), and whole pages adjacent in host memory in one copy for all.
   */
  preserveSegments(hpa: Float64Array, bytes: Int32Array, count: number, step: number): void {
    if (count === 1) {
      // One segment (a store): its page and offset as small integers, not an HPA (a double).
      const pfn = Math.floor(hpa[0] / PAGE_SIZE);
      this.preservePage(pfn, hpa[0] - pfn * PAGE_SIZE, bytes[0], step);
    } else {
      for (let i = 0; i < count;) {
        const at = hpa[i];
        let n = bytes[i++];
        const pageEnd = (Math.floor(at / PAGE_SIZE) + 1) * PAGE_SIZE;
        while (i < count && hpa[i] === at + n && at + n < pageEnd) n += bytes[i++];
        this.preserveIn(at, n, step);
      }
    }
    if (this.open !== null) this.open.flush();
  }

  private preserveIn(hpa: number, bytes: number, step: number): void {
    const pfn = Math.floor(hpa / PAGE_SIZE);
    this.preservePage(pfn, hpa - pfn * PAGE_SIZE, bytes, step);
  }

  /**
   * The page tracker's entry for page `pfn`, for a caller that writes the page again and again
   * (Engine.runBatch's store cache) to pass to stampKept instead of a lookup per write. Null when no
   * epoch is open: preserve tracks no page then, and this makes no entry it would not.
   */
  gateOf(pfn: number): PageGate | null {
    return this.open === null ? null : this.trackedPage(pfn);
  }

  /**
   * preservePage's commonest case, for the page whose gate this is: bytes [off, off + bytes), within
   * one block, the open epoch has kept already. Stamps the write's step and returns true; returns false,
   * having done nothing, when preservePage must run (a first write in the epoch, a block not kept yet,
   * a watcher, no epoch open).
   */
  stampKept(gate: PageGate, off: number, bytes: number, step: number): boolean {
    const t = gate as TrackedPage;
    const open = this.open;
    if (open === null || t.log !== open.id || this.watchers.length !== 0) return false;
    const b0 = off >>> BLOCK_SHIFT;
    if (!t.full && (b0 !== (off + bytes - 1) >>> BLOCK_SHIFT || ((t.mask[b0 >>> 5] >>> (b0 & 31)) & 1) === 0))
      return false;
    t.steps[t.at] = step;
    return true;
  }

  /**
   * The id of the open epoch's log when stampKept's shortcut may stand for preserve (an epoch is open
   * and nothing watches changes); else -1. It changes only between commands (a snapshot, a rewind, a
   * watcher added or removed).
   */
  stampEpoch(): number {
    return this.open === null || this.watchers.length !== 0 ? -1 : this.open.id;
  }

  /**
   * preservePage of a store's bytes [off, off + bytes), within one block, of page `pfn`, present, its
   * memory `page`, for the caller holding its gate (a store cache): the block kept when this epoch has
   * not kept it yet (the page's record started when this is its first write in the epoch), the step
   * stamped. False, nothing done, when stampKept's shortcut does not hold (no epoch, a watcher), the
   * bytes span two blocks, or the gate is no longer the tracker's entry of the page (the tracker
   * forgot it): preserve then runs.
   */
  keepStore(gate: PageGate, pfn: number, page: Uint32Array, off: number, bytes: number, step: number): boolean {
    const t = gate as TrackedPage;
    const open = this.open;
    if (open === null || this.watchers.length !== 0) return false;
    // An entry of an earlier epoch stays the tracker's until the tracker forgets every page.
    if (t.log !== open.id && this.trackedPage(pfn) !== t) return false;
    this.preserveTracked(t, open, pfn, page, off, bytes, step);
    return true;
  }

  /** preserveIn of bytes [off, off + bytes) of page `pfn`. */
  private preservePage(pfn: number, off: number, bytes: number, step: number): void {
    for (let i = 0; i < this.watchers.length; i++) this.watchers[i].add(pfn);
    const open = this.open;
    if (open !== null) this.preserveTracked(this.trackedPage(pfn), open, pfn, undefined, off, bytes, step);
  }

  /**
   * preservePage for the tracker's entry `t` of page `pfn`: a first write in the open epoch starts the
   * page's record; a later one stamps its step and keeps the blocks not kept yet. `page`: the page's
   * memory when the caller knows it is present (keepStore), else undefined (looked up when needed).
   */
  private preserveTracked(
    t: TrackedPage,
    open: UndoLog,
    pfn: number,
    page: Uint32Array | undefined,
    off: number,
    bytes: number,
    step: number,
  ): void {
    if (t.log !== open.id) {
      this.firstWrite(t, open, pfn, page === undefined ? this.mem.presentPage(pfn) : page, off, bytes, step);
      return;
    }
    t.steps[t.at] = step;
    if (t.full) return;
    const b0 = off >>> BLOCK_SHIFT;
    const b1 = (off + bytes - 1) >>> BLOCK_SHIFT;
    const mask = t.mask;
    if (b0 === b1 && ((mask[b0 >>> 5] >>> (b0 & 31)) & 1) === 1) return;
    if (open.keep(this.mem, t.rec, pfn, mask, b0, b1, page) > 0) t.full = fullMask(mask);
  }

  /**
   * preservePage of page `pfn`'s first write in the open epoch (its memory `page`, null when absent):
   * its record, and its blocks written. Out of the hot path's line (a periodic snapshot's epoch makes
   * one per page it writes).
   */
  private firstWrite(
    t: TrackedPage,
    open: UndoLog,
    pfn: number,
    page: Uint32Array | null,
    off: number,
    bytes: number,
    step: number,
  ): void {
    const mask = t.mask;
    this.track(t, open, open.addRecord(pfn, page === null, step));
    if (page === null) {
      for (let w = 0; w < MASK_WORDS; w++) mask[w] = 0xffffffff;
      t.full = true;
      return;
    }
    for (let w = 0; w < MASK_WORDS; w++) mask[w] = 0;
    t.full = false;
    const b0 = off >>> BLOCK_SHIFT;
    const b1 = (off + bytes - 1) >>> BLOCK_SHIFT;
    if (b0 === b1) {
      // One block (a store's): kept as the record's first run.
      mask[b0 >>> 5] = 1 << (b0 & 31);
      open.keepBlock(t.rec, b0, page);
    } else if (open.keep(this.mem, t.rec, pfn, mask, b0, b1, page) > 0) t.full = fullMask(mask);
  }

  private track(t: TrackedPage, log: UndoLog, rec: number): void {
    t.log = log.id;
    t.rec = rec;
    t.steps = log.stepsOf(rec);
    t.at = rec % RECS_PER_SEG;
  }

  /** A new epoch opens with `log` (null: none); the tracker forgets old pages once it holds many more than the closing epoch wrote. */
  private openEpoch(log: UndoLog | null): void {
    const wrote = this.open === null ? 0 : this.open.pageCount;
    if (this.trackedCount > 2 * wrote + TRACKED_SLACK || log === null) {
      this.tracked.clear();
      this.chunk = null;
      this.chunkKey = -1;
      this.trackedCount = 0;
    }
    this.open = log;
  }

  /** A copy of the register bank for a snapshot, in the store's pool (given back when the snapshot goes). */
  regsCopy(values: Uint32Array): Uint32Array {
    if (this.regsPool === null || this.regsPool.dwords !== values.length) this.regsPool = new BlockPool(values.length);
    const r = this.regsPool.take();
    r.set(values);
    return r;
  }

  /** A snapshot's state leaves the store (merged away, thinned, rewound past, replaced). */
  private dropState(s: Snapshot): void {
    this.stateSum -= s.stateBytes;
    s.stateBytes = 0;
    if (this.regsPool !== null && this.regsPool.owns(s.state.regs)) this.regsPool.give(s.state.regs);
  }

  /** Charges snapshot `s` for its state, less what `prev` (its predecessor, if any) shares with it. */
  private chargeState(s: Snapshot, prev: Snapshot | undefined): void {
    const bytes = ownStateBytes(s, prev);
    this.stateSum += bytes - s.stateBytes;
    s.stateBytes = bytes;
  }

  /** A snapshot of `state`; `trace` is what the epoch it closes did. */
  add(reason: SnapshotReason, state: MachineState, trace: EpochTrace, op = -1, engine: string | null = null): Snapshot {
    let last = this.list[this.list.length - 1];
    // A snapshot at the same step as the newest one, with nothing written in between, supersedes it
    // (unless that one is a barrier: its state may differ by an edit that left memory alone).
    let merged = trace;
    if (last && last.state.step === state.step && last.undo.pageCount === 0 && !last.barrier) {
      this.list.pop()!.undo.release();
      this.dropState(last);
      merged = mergeTraces(last, trace);
      last = this.list[this.list.length - 1];
    }
    let touchedRegs = merged.touchedRegs;
    let touchedAt = merged.touchedAt;
    let fetched = merged.fetched;
    if (last) {
      state = shareUnchanged(last.state, state);
      touchedRegs = sharedList(last.touchedRegs, touchedRegs)!;
      touchedAt = sharedList(last.touchedAt, touchedAt);
      fetched = sharedList(last.fetched, fetched);
    }
    const s: Snapshot = {
      id: this.nextId++,
      reason,
      op,
      engine,
      state,
      touchedRegs,
      touchedAt,
      fetched,
      undo: new UndoLog(this.pool),
      barrier: reason === 'edit',
      stateBytes: 0,
    };
    this.list.push(s);
    this.chargeState(s, last);
    this.openEpoch(s.undo);
    this.taken++;
    this.thin();
    return s;
  }

  /** What the kept snapshots hold (the sum of snapshotBytes over them). */
  totalBytes(): number {
    return this.pool.heldBytes + this.stateSum;
  }

  /**
   * What the store holds for its snapshots, checked against the budget: their logs' whole segments
   * (a log's last ones are partly filled) with their views, their states less what neighbours share,
   * the logs' lookup caches searches built and the page tracker. Many tiny epochs cannot outgrow it.
   */
  heldBytes(): number {
    return (
      this.totalBytes() +
      this.pool.cacheBytes +
      this.trackedCount * TRACKED_BYTES +
      this.tracked.size * TRACKED_CHUNK_BYTES
    );
  }

  private overBudget(): boolean {
    return this.heldBytes() > this.budget;
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
   * block wins) and drops the snapshots after it; returns its machine state for the caller to load.
   */
  rewind(index: number): MachineState {
    for (let i = this.list.length - 1; i >= index; i--) {
      if (this.watchers.length > 0)
        for (const pfn of this.list[i].undo.pfns()) for (const w of this.watchers) w.add(pfn);
      this.list[i].undo.undo(this.mem);
      this.list[i].undo.release();
      if (i > index) this.dropState(this.list[i]);
    }
    const s = this.list[index];
    this.list.length = index + 1;
    s.undo = new UndoLog(this.pool);
    this.openEpoch(s.undo);
    return s.state;
  }

  /**
   * Contents of host page `pfn` at kept snapshot `index` (`index` = list length: now), without moving
   * the VM: the current page with every later epoch's before-images applied, newest first.
   */
  pageAt(index: number, pfn: number): Uint32Array {
    const page = new Uint32Array(PAGE_DWORDS);
    page.set(this.mem.pageForRead(pfn));
    for (let j = this.list.length - 1; j >= index; j--) this.list[j].undo.applyTo(pfn, page);
    return page;
  }

  /**
   * Thinning policy: when kept snapshots exceed the budget, merge the snapshot whose removal leaves
   * the smallest gap relative to its age: the gap it would open (from its predecessor to its
   * successor, in commands) divided by its distance from the present. Spacing then grows in
   * proportion to age, so the kept snapshots form a geometric ladder (recent history dense, old
   * history sparse, about the same number per doubling of age) and any position is within a replay
   * proportional to its age, never to the length of the run. The newest DENSE_RECENT are never
   * touched, nor barriers (edits). Merging keeps the older before-image of a block.
   *
   * A pass merges, smallest score first (a heap; a merge rescores its two neighbours), until the
   * snapshots hold THIN_SLACK less than the budget, so passes come once per many snapshots: a scan
   * of every kept snapshot for each new one made a run whose budget was full 10x slower.
   */
  private thin(): void {
    const list = this.list;
    if (list.length <= DENSE_RECENT + 1 || !this.overBudget()) return;
    const n = list.length;
    const end = n - DENSE_RECENT; // snapshots 1..end-1 may be merged
    const now = list[n - 1].state.commands;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const version = new Uint32Array(n);
    const gone = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1;
    }
    const score = (i: number) =>
      (list[next[i]].state.commands - list[prev[i]].state.commands) / Math.max(1, now - list[i].state.commands);
    const heap = new MergeHeap(3 * n);
    for (let i = 1; i < end; i++) if (!list[i].barrier) heap.push(score(i), i, 0);
    const target = this.budget * (1 - THIN_SLACK);
    let merged = 0;
    // (The merged snapshots leave the list at the end of the pass; what they held is released as they merge.)
    while (this.heldBytes() > target && heap.size > 0) {
      const i = heap.top();
      const v = heap.topVersion();
      heap.pop();
      if (gone[i] || v !== version[i]) continue;
      const p = prev[i];
      const q = next[i];
      this.absorbEpoch(list[p], list[i], list[q]);
      gone[i] = 1;
      merged++;
      next[p] = q;
      prev[q] = p;
      // q's trace is new (merged): charge it against its new predecessor, and its successor against it.
      this.chargeState(list[q], list[p]);
      if (next[q] < n) this.chargeState(list[next[q]], list[q]);
      if (p >= 1 && !list[p].barrier) heap.push(score(p), p, ++version[p]);
      if (q < end && !list[q].barrier) heap.push(score(q), q, ++version[q]);
    }
    if (merged > 0) {
      let w = 0;
      for (let r = 0; r < n; r++) if (gone[r] === 0) list[w++] = list[r];
      list.length = w; // never the open epoch: the newest DENSE_RECENT are not merged
    }
    // Nothing left to merge (barriers): the oldest epochs go.
    while (list.length > DENSE_RECENT + 1 && this.overBudget()) {
      if (list[0].barrier) break;
      const oldest = list.shift()!; // the oldest epoch cannot be reached any more
      oldest.undo.release();
      this.dropState(oldest);
      this.chargeState(list[0], undefined);
    }
  }

  /** Folds snapshot `cur`'s epoch into its predecessor's; `next` (its successor) carries the merged trace. */
  private absorbEpoch(prev: Snapshot, cur: Snapshot, next: Snapshot): void {
    prev.undo.absorb(cur.undo);
    this.dropState(cur);
    Object.assign(next, mergeTraces(cur, next));
  }

  /** Replaces the kept snapshots (a resumed or moved VM); the newest one's epoch is open. */
  load(list: readonly Snapshot[]): void {
    for (const s of this.list) {
      if (list.includes(s)) continue;
      s.undo.release();
      this.dropState(s);
    }
    this.list.splice(0, this.list.length, ...list);
    this.stateSum = 0;
    for (let i = 0; i < this.list.length; i++) {
      this.list[i].stateBytes = 0;
      this.chargeState(this.list[i], this.list[i - 1]);
    }
    this.openEpoch(list.length ? list[list.length - 1].undo : null);
    // The open log came from elsewhere: tell the tracker its records, or a write would start a second one.
    if (this.open !== null) {
      const masks = this.open.masks();
      const open = this.open;
      open.pfns().forEach((pfn, rec) => {
        const t = this.trackedPage(pfn);
        const m = masks.subarray(rec * MASK_WORDS, (rec + 1) * MASK_WORDS);
        t.mask.set(m);
        t.full = fullMask(m);
        this.track(t, open, rec);
      });
    }
    this.nextId = list.reduce((n, s) => Math.max(n, s.id + 1), this.nextId);
  }

  clear(): void {
    for (const s of this.list) {
      s.undo.release();
      this.dropState(s);
    }
    this.list.length = 0;
    this.stateSum = 0;
    this.openEpoch(null);
  }
}

/** `st` with the parts that equal `prev`'s (the engines' saved states, the rings' addresses) taken from `prev`, so snapshots share them. */
function shareUnchanged(prev: MachineState, st: MachineState): MachineState {
  const engines = sharedList(prev.engines, st.engines);
  const ringGpa = sharedList(prev.ringGpa, st.ringGpa);
  return engines === st.engines && ringGpa === st.ringGpa ? st : { ...st, engines, ringGpa };
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function ascending(a: readonly number[]): boolean {
  for (let i = 1; i < a.length; i++) if (a[i - 1] >= a[i]) return false;
  return true;
}

/** `prev` when `list` has the same elements (lists in saved state are never changed), else `list`. */
function sharedList<T, L extends readonly T[] | null>(prev: L, list: L): L {
  if (prev === null || list === null || prev.length !== list.length) return list;
  for (let i = 0; i < list.length; i++) if (prev[i] !== list[i]) return list;
  return prev;
}

/**
 * A binary min-heap of merge candidates: score, then snapshot index (ties broken the same way every
 * run). Typed arrays sized for a whole pass (every candidate once, then two rescored per merge): a
 * pass leaves no garbage on the JS heap, where thinning's leftovers once made most of what the
 * collector let pile up.
 */
class MergeHeap {
  private readonly scores: Float64Array;
  private readonly items: Int32Array;
  private readonly versions: Uint32Array;
  size = 0;

  constructor(capacity: number) {
    this.scores = new Float64Array(capacity);
    this.items = new Int32Array(capacity);
    this.versions = new Uint32Array(capacity);
  }

  top(): number {
    return this.items[0];
  }

  topVersion(): number {
    return this.versions[0];
  }

  push(score: number, item: number, version: number): void {
    let k = this.size++;
    this.scores[k] = score;
    this.items[k] = item;
    this.versions[k] = version;
    while (k > 0) {
      const up = (k - 1) >> 1;
      if (!this.less(k, up)) break;
      this.swap(k, up);
      k = up;
    }
  }

  pop(): void {
    const last = --this.size;
    this.swap(0, last);
    let k = 0;
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let m = k;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === k) return;
      this.swap(k, m);
      k = m;
    }
  }

  private less(a: number, b: number): boolean {
    return this.scores[a] < this.scores[b] || (this.scores[a] === this.scores[b] && this.items[a] < this.items[b]);
  }

  private swap(a: number, b: number): void {
    const s = this.scores[a];
    this.scores[a] = this.scores[b];
    this.scores[b] = s;
    const i = this.items[a];
    this.items[a] = this.items[b];
    this.items[b] = i;
    const v = this.versions[a];
    this.versions[a] = this.versions[b];
    this.versions[b] = v;
  }
}
