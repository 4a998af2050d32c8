// Translation cache GPU VA page -> HPA page per engine (SPEC section 3): filled by PPGTT walks,
// invalidated by MI_FLUSH_DW with TLB invalidate and by EPT view switches; stale until then.

import { ACCESS_FETCH, ACCESS_WRITE, FaultInfo, GgttContext, PagingContext, WalkOut, walk, walkGgtt } from './paging';

/** The walk a TLB caches: the PPGTT's 4 levels, or the global GTT's one. */
export type Walker = (ctx: PagingContext & GgttContext, va: number, access: number, fault: FaultInfo, out: WalkOut | null) => number;
export const PPGTT_WALK = walk as Walker;
export const GGTT_WALK = walkGgtt as Walker;

const SIZE = 4096; // direct-mapped entries
const MASK = SIZE - 1;
const PERM_W = 1;
const PERM_NX = 2;
// An empty slot's tag. Not -1: VAs -4096..-1 have vpn -1 and would hit an empty slot. NaN equals no vpn.
const EMPTY = NaN;

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
      if ((access !== ACCESS_WRITE || p & PERM_W) && (access !== ACCESS_FETCH || !(p & PERM_NX))) return this.bases[i] + (va & 0xfff);
    }
    if (ctx.refresh !== undefined) ctx.refresh();
    const hpa = this.walker(ctx as PagingContext & GgttContext, va, access, fault, this.out);
    if (hpa < 0) return -1;
    this.generation++;
    if (this.listed[i] === 0) this.list(i);
    this.tags[i] = vpn;
    this.bases[i] = hpa - (va & 0xfff);
    this.perms[i] = (this.out.writable ? PERM_W : 0) | (this.out.nx ? PERM_NX : 0);
    return hpa;
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
    }
    this.filled = [];
    this.generation++;
  }

  /** The last save() and the generation it was made at: unchanged contents share one (immutable) list. */
  private saved: readonly number[] = [];
  private savedAt = -1;

  /** Valid entries as [vpn, hpa base, perms] triples in slot order (snapshots, checkpoints, digests). */
  save(): readonly number[] {
    if (this.savedAt === this.generation) return this.saved;
    const out: number[] = [];
    for (const i of this.filled) if (!Number.isNaN(this.tags[i])) out.push(this.tags[i], this.bases[i], this.perms[i]);
    this.saved = out;
    this.savedAt = this.generation;
    return out;
  }

  restore(entries: readonly number[]): void {
    this.invalidate();
    for (let k = 0; k < entries.length; k += 3) {
      const i = entries[k] & MASK;
      if (this.listed[i] === 0) this.list(i);
      this.tags[i] = entries[k];
      this.bases[i] = entries[k + 1];
      this.perms[i] = entries[k + 2];
    }
    this.generation++;
    this.saved = entries;
    this.savedAt = this.generation;
  }
}
