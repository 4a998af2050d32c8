// Disjoint intervals by start address (the assembler's `.map` ranges): insert, point lookup and
// overlap queries in O(log n) whatever order the intervals come in.

/**
 * Disjoint half-open intervals [start, end), each with a value, in a treap: a binary search tree on
 * start whose shape a priority per node keeps balanced in expectation. Priorities come from a fixed
 * xorshift sequence, so the same insertions build the same tree every run. Nodes live in parallel
 * arrays (no object per node).
 */
export class IntervalMap<T> {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly values: T[] = [];
  private readonly left: number[] = [];
  private readonly right: number[] = [];
  private readonly prio: number[] = [];
  private root = -1;
  private seed = 0x9e3779b9;
  /** split()'s results: the tree of starts below the key, and the rest. */
  private lo = -1;
  private hi = -1;

  get size(): number {
    return this.starts.length;
  }

  /** Adds [start, end) with `value`; the caller makes sure it overlaps no interval already in. */
  insert(start: number, end: number, value: T): void {
    const node = this.starts.length;
    this.starts.push(start);
    this.ends.push(end);
    this.values.push(value);
    this.left.push(-1);
    this.right.push(-1);
    this.seed ^= this.seed << 13;
    this.seed ^= this.seed >>> 17;
    this.seed ^= this.seed << 5;
    this.prio.push(this.seed >>> 0);
    this.root = this.insertAt(this.root, node);
  }

  /** The value of the interval holding `point`, if any. */
  find(point: number): T | undefined {
    let t = this.root;
    let best = -1;
    while (t >= 0) {
      if (this.starts[t] <= point) {
        best = t;
        t = this.right[t];
      } else t = this.left[t];
    }
    return best >= 0 && this.ends[best] > point ? this.values[best] : undefined;
  }

  /**
   * Whether any interval overlaps [start, end), in one descent: the interval starting last below `end`
   * ends last of those (they are disjoint), so it overlaps when any does.
   */
  overlaps(start: number, end: number): boolean {
    let t = this.root;
    let best = -1;
    while (t >= 0) {
      if (this.starts[t] < end) {
        best = t;
        t = this.right[t];
      } else t = this.left[t];
    }
    return best >= 0 && this.ends[best] > start;
  }

  /** The values of the intervals overlapping [start, end), by start. */
  overlapping(start: number, end: number): T[] {
    const out: T[] = [];
    this.collect(this.root, start, end, out);
    return out;
  }

  private collect(t: number, start: number, end: number, out: T[]): void {
    if (t < 0) return;
    // Disjoint intervals sorted by start are sorted by end too: a left subtree ends before its root
    // does, a right subtree starts after it.
    if (this.ends[t] > start) this.collect(this.left[t], start, end, out);
    if (this.ends[t] > start && this.starts[t] < end) out.push(this.values[t]);
    if (this.starts[t] < end) this.collect(this.right[t], start, end, out);
  }

  private insertAt(t: number, node: number): number {
    if (t < 0) return node;
    if (this.prio[node] > this.prio[t]) {
      this.split(t, this.starts[node]);
      this.left[node] = this.lo;
      this.right[node] = this.hi;
      return node;
    }
    if (this.starts[node] < this.starts[t]) this.left[t] = this.insertAt(this.left[t], node);
    else this.right[t] = this.insertAt(this.right[t], node);
    return t;
  }

  /** Splits tree t into starts below `key` (lo) and the rest (hi). */
  private split(t: number, key: number): void {
    if (t < 0) {
      this.lo = this.hi = -1;
      return;
    }
    if (this.starts[t] < key) {
      this.split(this.right[t], key);
      this.right[t] = this.lo;
      this.lo = t;
    } else {
      this.split(this.left[t], key);
      this.left[t] = this.hi;
      this.hi = t;
    }
  }
}
