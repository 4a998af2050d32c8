// Saved versions of small tables keyed by integers (an engine's command counts and pipeline state):
// a version shares every leaf of 16 keys that did not change with the version saved before it, so a
// snapshot's copy costs the leaves changed since the last save, not the table. Versions are immutable.

import { arrayBytes } from './heapsize';

const SHIFT = 4;
const WIDTH = 1 << SHIFT;

type Leaf<T> = readonly (T | undefined)[];

export class SavedTable<T> {
  /** @internal */
  constructor(
    readonly leaves: readonly (Leaf<T> | undefined)[],
    /** Keys with a value, in the order they first got one (JSON keeps it). */
    readonly keys: readonly number[],
    private readonly json: (t: SavedTable<T>) => unknown,
  ) {}

  get(k: number): T | undefined {
    const leaf = this.leaves[k >>> SHIFT];
    return leaf === undefined ? undefined : leaf[k & (WIDTH - 1)];
  }

  /** Checkpoints, migration streams and digests see what the table's owner made of it (a record by name). */
  toJSON(): unknown {
    return this.json(this);
  }

  /**
   * Heap bytes this version holds that `prev` (the version saved before it, or none) does not share;
   * `value` gives a changed value's own bytes given the value it replaced.
   */
  bytesAgainst(prev: SavedTable<T> | undefined, value?: (v: T, old: T | undefined) => number): number {
    if (prev === this) return 0;
    let n = TABLE_BYTES + arrayBytes(this.leaves.length);
    if (prev === undefined || this.keys !== prev.keys) n += arrayBytes(this.keys.length);
    for (let l = 0; l < this.leaves.length; l++) {
      const leaf = this.leaves[l];
      const old = prev?.leaves[l];
      if (leaf === undefined || leaf === old) continue;
      n += arrayBytes(WIDTH);
      if (value)
        for (let j = 0; j < WIDTH; j++)
          if (leaf[j] !== undefined && leaf[j] !== old?.[j]) n += value(leaf[j]!, old?.[j]);
    }
    return n;
  }
}

/** The table object itself: header and three fields. */
const TABLE_BYTES = 24 + 3 * 8;

/**
 * Makes versions of one live table: the owner marks the keys it changes, and `save` copies only the
 * leaves holding them (and the leaf list) into a new version; with nothing marked it returns the last.
 */
export class TableSaver<T> {
  private last: SavedTable<T>;
  private readonly dirty: number[] = [];
  private readonly marked: Uint8Array;

  constructor(
    private readonly size: number,
    private readonly json: (t: SavedTable<T>) => unknown,
  ) {
    this.marked = new Uint8Array(size);
    this.last = new SavedTable<T>([], [], json);
  }

  /** The version saved last (or adopted). */
  get current(): SavedTable<T> {
    return this.last;
  }

  /** Key k's value changed (or may have) since the last save. */
  mark(k: number): void {
    if (this.marked[k] === 0) {
      this.marked[k] = 1;
      this.dirty.push(k);
    }
  }

  /** A version with the marked keys read from `value`; keys that get a value are appended in marking order. */
  save(value: (k: number) => T | undefined): SavedTable<T> {
    if (this.dirty.length === 0) return this.last;
    const prev = this.last;
    const leaves = prev.leaves.slice();
    let copied = false;
    let keys: number[] | null = null;
    for (const k of this.dirty) {
      this.marked[k] = 0;
      const v = value(k);
      const old = prev.get(k);
      if (v === old) continue;
      const l = k >>> SHIFT;
      while (leaves.length <= l) leaves.push(undefined);
      // A leaf still the previous version's is copied before its first change.
      if (leaves[l] === prev.leaves[l]) {
        copied = true;
        leaves[l] = leaves[l] === undefined ? new Array<T | undefined>(WIDTH).fill(undefined) : leaves[l]!.slice();
      }
      (leaves[l] as (T | undefined)[])[k & (WIDTH - 1)] = v;
      if (old === undefined) (keys ??= prev.keys.slice()).push(k);
      else if (v === undefined) keys = (keys ?? prev.keys).filter((x) => x !== k);
    }
    this.dirty.length = 0;
    if (!copied) return prev;
    this.last = new SavedTable<T>(leaves, keys ?? prev.keys, this.json);
    return this.last;
  }

  /** The live table was restored to `v`: later versions build on it. */
  adopt(v: SavedTable<T>): void {
    for (const k of this.dirty) this.marked[k] = 0;
    this.dirty.length = 0;
    this.last = v;
  }

  /** The live table was replaced (restored from a record): the next version is built afresh from `keys`. */
  reset(keys: Iterable<number>): void {
    this.adopt(new SavedTable<T>([], [], this.json));
    for (const k of keys) if (k >= 0 && k < this.size) this.mark(k);
  }
}
