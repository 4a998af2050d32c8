// Second-level translation GPA -> HPA: the VMM builds EPT tables in host memory (Intel SDM vol. 3C
// 29.3.2 EPT entry format) with two views when isolation is on: full (range A and mirror B) and
// restricted (range A only).

import { HostMemory, PAGE_SIZE, entryAddress, hex } from './memory';

/** EPT entry bits (SDM 29.3.2). */
export const EPT_BITS = { R: 0, W: 1, X: 2, MEMTYPE_LO: 3, MEMTYPE_HI: 5, IGNORE_PAT: 6, LARGE: 7 } as const;
const EPT_RWX = 0x7;
const EPT_WB = 6 << EPT_BITS.MEMTYPE_LO;
const EPT_LARGE = 1 << EPT_BITS.LARGE;

export const LEVEL_NAMES = ['PML4', 'PDPT', 'PD', 'PT'] as const;
/** Address bit where each level's 9-bit index starts. */
export const LEVEL_SHIFT = [39, 30, 21, 12] as const;
const LEVEL_SIZE = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12];

export const EPT_VIEW_FULL = 0;
export const EPT_VIEW_RESTRICTED = 1;
export const EPT_VIEW_NAMES = ['full', 'restricted'] as const;

/** Failure codes of the hot-path translation (non-negative results are HPAs). */
export const EPT_VIOLATION = -1;
export const ISOLATION_VIOLATION = -2;

export interface WalkStep {
  readonly level: string;
  /** Address of the table (GPA for the PPGTT, HPA for EPT). */
  readonly table: number;
  readonly index: number;
  readonly entryLo: number;
  readonly entryHi: number;
  readonly flags: string;
  /** For PPGTT steps: the EPT walk that found the table in host memory. */
  readonly ept?: readonly WalkStep[];
}

/** The EPT page a translation ended in (translate's optional output): GPAs [gpa, gpa + size) map to [hpa, ...). */
export interface EptLeaf {
  gpa: number;
  hpa: number;
  size: number;
}

export interface EptConfig {
  readonly ramBytes: number;
  readonly ramHpa: number;
  readonly physBits: number;
  readonly isolation: boolean;
  /** HPA where the VMM allocates EPT table pages (outside guest RAM). */
  readonly tableHpa: number;
}

/** 2^-shift per level: multiplying by it is exact, and much cheaper on the walk's hot path than `2 ** shift`. */
const LEVEL_SCALE = [2 ** -39, 2 ** -30, 2 ** -21, 2 ** -12];

/**
 * The offset of an address in its page at a level (a 512 GiB, 1 GiB, 2 MiB or 4 KiB span): exact for
 * addresses below 2^53, and a multiply and a subtract where `%` on a double is a slow floating remainder.
 */
export function offsetIn(addr: number, level: number): number {
  return addr - Math.floor(addr * LEVEL_SCALE[level]) * LEVEL_SIZE[level];
}

/** The 9-bit table index of a (non-negative, < 2^53) address at a level. */
export function indexAt(addr: number, level: number): number {
  return Math.floor(addr * LEVEL_SCALE[level]) & 511;
}

export function eptFlags(lo: number, leaf: boolean): string {
  const s = [lo & 1 ? 'R' : '-', lo & 2 ? 'W' : '-', lo & 4 ? 'X' : '-'].join('');
  return leaf ? `${s} mt=${(lo >>> 3) & 7}${lo & EPT_LARGE ? ' large' : ''}` : s;
}

export class Ept {
  readonly roots: readonly [number, number];
  readonly mirrorBase: number;
  readonly tablePages: number[] = [];
  private nextTable: number;

  constructor(
    private readonly mem: HostMemory,
    readonly cfg: EptConfig,
  ) {
    // A size or base off the page grid would map a partial page in full: HPAs past the VM's own RAM.
    for (const [what, v] of [
      ['guest RAM size', cfg.ramBytes],
      ['guest RAM HPA', cfg.ramHpa],
      ['EPT table HPA', cfg.tableHpa],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v % PAGE_SIZE !== 0)
        throw new RangeError(`${what} ${hex(v)} is not a multiple of 4 KiB`);
    }
    this.nextTable = cfg.tableHpa;
    this.mirrorBase = 2 ** cfg.physBits;
    const full = this.allocTable();
    this.mapRange(full, 0, cfg.ramHpa, cfg.ramBytes);
    if (cfg.isolation) {
      this.mapRange(full, this.mirrorBase, cfg.ramHpa, cfg.ramBytes);
      const restricted = this.allocTable();
      this.mapRange(restricted, 0, cfg.ramHpa, cfg.ramBytes);
      this.roots = [full, restricted];
    } else {
      this.roots = [full, full];
    }
  }

  private allocTable(): number {
    const hpa = this.nextTable;
    this.nextTable += PAGE_SIZE;
    this.tablePages.push(hpa / PAGE_SIZE);
    return hpa;
  }

  /** Maps [gpa, gpa+size) to [hpa, ...) with the largest pages alignment allows (1 GiB, 2 MiB, 4 KiB). */
  private mapRange(root: number, gpa: number, hpa: number, size: number): void {
    let off = 0;
    while (off < size) {
      const g = gpa + off;
      const h = hpa + off;
      let level = 1;
      while (
        level < 3 &&
        !(g % LEVEL_SIZE[level] === 0 && h % LEVEL_SIZE[level] === 0 && size - off >= LEVEL_SIZE[level])
      )
        level++;
      this.mapOne(root, g, h, level);
      off += LEVEL_SIZE[level];
    }
  }

  private mapOne(root: number, gpa: number, hpa: number, leafLevel: number): void {
    let table = root;
    for (let level = 0; level < leafLevel; level++) {
      const e = table + indexAt(gpa, level) * 8;
      const [lo, hi] = this.mem.read64(e);
      if (lo & EPT_RWX) {
        table = entryAddress(lo, hi);
        continue;
      }
      const next = this.allocTable();
      this.mem.write64(e, (next % 2 ** 32) | EPT_RWX, Math.floor(next / 2 ** 32));
      table = next;
    }
    const e = table + indexAt(gpa, leafLevel) * 8;
    const large = leafLevel < 3 ? EPT_LARGE : 0;
    this.mem.write64(e, ((hpa % 2 ** 32) | EPT_RWX | EPT_WB | large) >>> 0, Math.floor(hpa / 2 ** 32));
  }

  /**
   * GPA -> HPA under a view by walking the tables in host memory. Returns the HPA, or
   * EPT_VIOLATION / ISOLATION_VIOLATION. Records each step into `steps` when given.
   */
  translate(gpa: number, view: number, steps?: WalkStep[], leafOut?: EptLeaf): number {
    if (!(gpa >= 0 && gpa < 2 ** 48)) return this.violation(gpa, view);
    let table = this.roots[view];
    for (let level = 0; level < 4; level++) {
      const index = indexAt(gpa, level);
      // read64 without its [lo, hi] array (this loop runs five times per PPGTT walk); tables are page
      // aligned (checked in the constructor, and entry addresses have bits 11:0 clear).
      const page = this.mem.pageForRead(table / PAGE_SIZE);
      const lo = page[index * 2];
      const hi = page[index * 2 + 1];
      const leaf = level === 3 || (level > 0 && (lo & EPT_LARGE) !== 0);
      if (steps)
        steps.push({ level: LEVEL_NAMES[level], table, index, entryLo: lo, entryHi: hi, flags: eptFlags(lo, leaf) });
      if ((lo & EPT_RWX) === 0) return this.violation(gpa, view);
      if (leaf) {
        const offset = offsetIn(gpa, level);
        if (leafOut !== undefined) {
          leafOut.gpa = gpa - offset;
          leafOut.hpa = entryAddress(lo, hi);
          leafOut.size = LEVEL_SIZE[level];
        }
        return entryAddress(lo, hi) + offset;
      }
      table = entryAddress(lo, hi);
    }
    return this.violation(gpa, view);
  }

  /**
   * Bytes from `gpa` to the end of the EPT leaf page that maps it under a view (0 when unmapped): a
   * range that fits translates as one piece (what a reader of long runs of guest memory needs).
   */
  leafSpan(gpa: number, view: number): number {
    if (!(gpa >= 0 && gpa < 2 ** 48)) return 0;
    let table = this.roots[view];
    for (let level = 0; level < 4; level++) {
      const page = this.mem.pageForRead(table / PAGE_SIZE);
      const index = indexAt(gpa, level);
      const lo = page[index * 2];
      if ((lo & EPT_RWX) === 0) return 0;
      if (level === 3 || (level > 0 && (lo & EPT_LARGE) !== 0)) return LEVEL_SIZE[level] - (gpa % LEVEL_SIZE[level]);
      table = entryAddress(lo, page[index * 2 + 1]);
    }
    return 0;
  }

  /** Which error an unmapped GPA is: a mirror-range access under the restricted view is isolation. */
  private violation(gpa: number, view: number): number {
    if (
      this.cfg.isolation &&
      view === EPT_VIEW_RESTRICTED &&
      gpa >= this.mirrorBase &&
      gpa < this.mirrorBase + this.cfg.ramBytes
    ) {
      return ISOLATION_VIOLATION;
    }
    return EPT_VIOLATION;
  }

  describeViolation(code: number, gpa: number, view: number): string {
    if (code === ISOLATION_VIOLATION) {
      return `GPA ${hex(gpa)} is in the mirror range B [${hex(this.mirrorBase)}, ${hex(this.mirrorBase + this.cfg.ramBytes)}) and the engine runs under the restricted EPT view`;
    }
    const limit = this.cfg.isolation
      ? `range A [0, ${hex(this.cfg.ramBytes)}) or mirror B [${hex(this.mirrorBase)}, ${hex(this.mirrorBase + this.cfg.ramBytes)})`
      : `guest RAM [0, ${hex(this.cfg.ramBytes)})`;
    return `GPA ${hex(gpa)} is outside ${limit} (EPT view ${EPT_VIEW_NAMES[view]})`;
  }

  /** True when an HPA belongs to this VM's guest RAM (the isolation property tests check it). */
  ownsHpa(hpa: number): boolean {
    return hpa >= this.cfg.ramHpa && hpa < this.cfg.ramHpa + this.cfg.ramBytes;
  }
}
