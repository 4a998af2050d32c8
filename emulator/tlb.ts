// Translation cache GPU VA page -> HPA page per engine (SPEC section 3): filled by PPGTT walks,
// invalidated by MI_FLUSH_DW with TLB invalidate and by EPT view switches; stale until then.

import { arrayBytes, objectBytes } from './heapsize';
import { ACCESS_FETCH, ACCESS_WRITE, FaultInfo, GgttContext, PagingContext, WalkOut, walk, walkGgtt } from './paging';

/** The walk a TLB caches: the PPGTT's 4 levels, or the global GTT's one. */
export type Walker = (
  ctx: PagingContext & GgttContext,
  va: number,
  access: number,
  fault: FaultInfo,
  out: WalkOut | null,
) => number;
export const PPGTT_WALK = walk as Walker;
export const GGTT_WALK = walkGgtt as Walker;

const SIZE = 4096; // direct-mapped entries
const MASK = SIZE - 1;
const PERM_W = 1;
const PERM_NX = 2;
// An empty slot's tag. Not -1: VAs -4096..-1 have vpn -1 and would hit an empty slot. NaN equals no vpn.
const EMPTY = NaN;
/** Slots per leaf of a saved TLB (a save copies the leaves whose slots changed, and the list of leaves). */
const LEAF_SHIFT = 6;
const LEAF_SLOTS = 1 << LEAF_SHIFT;
const LEAVES = SIZE / LEAF_SLOTS;

/**
 * A saved TLB: immutable leaves of 64 slots, each its valid entries as [vpn, hpa base, perms]
 * triples in slot order (undefined when none), shared with the save before it where no slot changed,
 * so a snapshot's copy costs the slots filled or dropped since, not the whole cache. Checkpoints,
 * migration and digests see the plain list of triples in slot order.
 */
export class SavedTlb {
  /** @internal */
  constructor(readonly leaves: readonly (readonly number[] | undefined)[]) {}

  /** Valid entries as [vpn, hpa base, perms] triples in slot order. */
  entries(): number[] {
    const out: number[] = [];
    for (const leaf of this.leaves) if (leaf !== undefined) for (const x of leaf) out.push(x);
    return out;
  }

  toJSON(): number[] {
    return this.entries();
  }

  /** Heap bytes this save holds that `prev` (the save before it, or none) does not share. */
  bytesAgainst(prev: SavedTlb | undefined): number {
    if (prev === this) return 0;
    let n = objectBytes(1) + arrayBytes(LEAVES);
    for (let l = 0; l < LEAVES; l++) {
      const leaf = this.leaves[l];
      if (leaf !== undefined && leaf !== prev?.leaves[l]) n += arrayBytes(leaf.length);
    }
    return n;
  }
}

const NO_LEAVES = new SavedTlb(new Array<undefined>(LEAVES).fill(undefined));

export class Tlb {
  constructor(private readonly walker: Walker = PPGTT_WALK) {}

  private readonly tags = new Float64Array(SIZE).fill(EMPTY);
  private readonly bases = new Float64Array(SIZE);
  private readonly perms = new Uint8Array(SIZE);
  private readonly out: WalkOut = { writable: false, nx: false, pageSize: 0, gpa: 0 };
  /** Changes whenever an entry is filled, replaced or dropped (the engine's fetch cache checks it). */
  generation = 0;
  /** Slots filled since the last invalidate, ascending, so save() need neither scan every slot nor sort. */
  private filled: number[] = [];
  private readonly listed = new Uint8Array(SIZE);

  /** VA -> HPA for an access; -1 with `fault` filled when the walk fails. */
  translate(ctx: PagingContext | GgttContext, va: number, access: number, fault: FaultInfo): number {
    const vpn = Math.floor(va / 4096);
    const i = vpn & MASK;
    if (this.tags[i] === vpn) {
      const p = this.perms[i];
      if ((access !== ACCESS_WRITE || p & PERM_W) && (access !== ACCESS_FETCH || !(p & PERM_NX)))
        return this.bases[i] + (va & 0xfff);
    }
    if (ctx.refresh !== undefined) ctx.refresh();
    const hpa = this.walker(ctx as PagingContext & GgttContext, va, access, fault, this.out);
    if (hpa < 0) return -1;
    this.generation++;
    if (this.listed[i] === 0) this.list(i);
    this.markDirty(i >>> LEAF_SHIFT);
    this.tags[i] = vpn;
    this.bases[i] = hpa - (va & 0xfff);
    this.perms[i] = (this.out.writable ? PERM_W : 0) | (this.out.nx ? PERM_NX : 0);
    return hpa;
  }

  /**
   * translate, the HPA written to out[k]; false after a fault. No HPA (a double above 2^31) crosses the
   * call, so none is boxed on the heap when the call is not inlined (a store's hot path).
   */
  translateTo(
    ctx: PagingContext | GgttContext,
    va: number,
    access: number,
    fault: FaultInfo,
    out: Float64Array,
    k: number,
  ): boolean {
    const hpa = this.translate(ctx, va, access, fault);
    if (hpa < 0) return false;
    out[k] = hpa;
    return true;
  }

  /** Adds a slot to the filled list in its place (fills are TLB misses: rare next to hits). */
  private list(i: number): void {
    this.listed[i] = 1;
    const f = this.filled;
    let lo = 0;
    let hi = f.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f[mid] < i) lo = mid + 1;
      else hi = mid;
    }
    if (lo === f.length) f.push(i);
    else f.splice(lo, 0, i);
  }

  /** The cached translation of a VA page, if any (for the debugger and tests). */
  peek(va: number): number | undefined {
    const vpn = Math.floor(va / 4096);
    const i = vpn & MASK;
    return this.tags[i] === vpn ? this.bases[i] + (va & 0xfff) : undefined;
  }

  invalidate(): void {
    for (const i of this.filled) {
      this.tags[i] = EMPTY;
      this.listed[i] = 0;
      this.markDirty(i >>> LEAF_SHIFT);
    }
    this.filled = [];
    this.generation++;
  }

  /** The last save: the next one shares its leaves but the dirty ones (whose slots changed since). */
  private saved = NO_LEAVES;
  private readonly dirty = new Uint8Array(LEAVES);
  private readonly dirtyList: number[] = [];

  private markDirty(l: number): void {
    if (this.dirty[l] === 0) {
      this.dirty[l] = 1;
      this.dirtyList.push(l);
    }
  }

  /** The valid entries (snapshots, checkpoints, digests): a version sharing the leaves that did not change with the last save. */
  save(): SavedTlb {
    if (this.dirtyList.length === 0) return this.saved;
    const leaves = this.saved.leaves.slice();
    for (const l of this.dirtyList) {
      this.dirty[l] = 0;
      const leaf: number[] = [];
      for (let i = l * LEAF_SLOTS; i < (l + 1) * LEAF_SLOTS; i++)
        if (!Number.isNaN(this.tags[i])) leaf.push(this.tags[i], this.bases[i], this.perms[i]);
      leaves[l] = leaf.length > 0 ? leaf : undefined;
    }
    this.dirtyList.length = 0;
    this.saved = new SavedTlb(leaves);
    return this.saved;
  }

  /** Restores a saved TLB: a version (then shared by the next save) or a plain list of triples (parsed from a checkpoint). */
  restore(saved: SavedTlb | readonly number[]): void {
    this.invalidate();
    const entries = saved instanceof SavedTlb ? saved.entries() : saved;
    for (let k = 0; k < entries.length; k += 3) {
      const i = entries[k] & MASK;
      if (this.listed[i] === 0) this.list(i);
      this.markDirty(i >>> LEAF_SHIFT);
      this.tags[i] = entries[k];
      this.bases[i] = entries[k + 1];
      this.perms[i] = entries[k + 2];
    }
    this.generation++;
    if (saved instanceof SavedTlb) {
      for (const l of this.dirtyList) this.dirty[l] = 0;
      this.dirtyList.length = 0;
      this.saved = saved;
    }
  }
}
