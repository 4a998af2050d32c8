// Test helper: a small VM (host memory, EPT, paging context) and hand-built x86-64 4-level page tables in its guest RAM.

import { Ept, EPT_VIEW_FULL, LEVEL_NAMES, LEVEL_SHIFT, indexAt } from '../../emulator/ept';
import { HostMemory, PAGE_SIZE, entryAddress, hex } from '../../emulator/memory';
import { PTE_BITS, PagingContext } from '../../emulator/paging';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const PAGE_4K = 4 * KiB;
export const PAGE_2M = 2 * MiB;
export const PAGE_1G = GiB;

/** Bits of a PPGTT entry's low dword (SDM vol. 3A 4.5). */
export const PTE_P = 1 << PTE_BITS.P;
export const PTE_RW = 1 << PTE_BITS.RW;
export const PTE_US = 1 << PTE_BITS.US;
export const PTE_PS = 1 << PTE_BITS.PS;
/** NX is bit 63: bit 31 of the high dword. */
export const PTE_NX_HI = (1 << (PTE_BITS.NX - 32)) >>> 0;

const LEAF_LEVEL: Readonly<Record<number, number>> = { [PAGE_4K]: 3, [PAGE_2M]: 2, [PAGE_1G]: 1 };

export interface MapOptions {
  /** Writable (RW=1); default true. */
  readonly rw?: boolean;
  /** 4 KiB (default), 2 MiB or 1 GiB. */
  readonly pageSize?: number;
  /** No-execute (NX=1); default false. */
  readonly nx?: boolean;
}

export interface TestVmOptions {
  readonly ramBytes?: number;
  readonly physBits?: number;
  readonly isolation?: boolean;
  readonly allow2M?: boolean;
  readonly allow1G?: boolean;
  /** HPA of guest RAM (default 4 GiB, 1 GiB aligned so the EPT can use 1 GiB pages). */
  readonly ramHpa?: number;
  /** HPA of the VMM's EPT table pages (default 1 MiB, below guest RAM). */
  readonly tableHpa?: number;
}

export interface TestVm {
  readonly mem: HostMemory;
  readonly ept: Ept;
  readonly pt: PageTables;
  readonly ctx: PagingContext;
}

/** A VM with empty page tables: the PML4 is allocated at the top of guest RAM and ctx.pml4 points at it. */
export function makeVm(o: TestVmOptions = {}): TestVm {
  const mem = new HostMemory();
  const ramBytes = o.ramBytes ?? 64 * MiB;
  const ept = new Ept(mem, {
    ramBytes,
    ramHpa: o.ramHpa ?? 4 * GiB,
    physBits: o.physBits ?? 39,
    isolation: o.isolation ?? true,
    tableHpa: o.tableHpa ?? MiB,
  });
  const pt = new PageTables(mem, ept, ramBytes);
  const ctx: PagingContext = {
    mem,
    ept,
    view: EPT_VIEW_FULL,
    pml4: pt.pml4,
    allow2M: o.allow2M ?? true,
    allow1G: o.allow1G ?? true,
  };
  return { mem, ept, pt, ctx };
}

/**
 * Page tables in guest RAM, table pages allocated downwards from `top` (as the assembler does).
 * Every access goes GPA -> HPA through the full EPT view, the way the VMM would see guest RAM.
 */
export class PageTables {
  readonly pml4: number;
  /** GPAs of the table pages, in allocation order. */
  readonly tablePages: number[] = [];
  private next: number;

  constructor(
    private readonly mem: HostMemory,
    private readonly ept: Ept,
    top: number,
  ) {
    this.next = top;
    this.pml4 = this.allocTable();
  }

  allocTable(): number {
    this.next -= PAGE_SIZE;
    this.tablePages.push(this.next);
    return this.next;
  }

  /** Maps [va, va+size) to [gpa, ...) with pages of one size; intermediate entries are P|RW|US. */
  map(va: number, gpa: number, size: number, o: MapOptions = {}): void {
    const pageSize = o.pageSize ?? PAGE_4K;
    const leafLevel = LEAF_LEVEL[pageSize];
    if (leafLevel === undefined) throw new Error(`page size ${pageSize} is not 4K, 2M or 1G`);
    if (va % pageSize || gpa % pageSize || size % pageSize)
      throw new Error(`map(${hex(va)}, ${hex(gpa)}, ${hex(size)}) is not ${hex(pageSize)} aligned`);
    const lo = PTE_P | PTE_US | (o.rw === false ? 0 : PTE_RW) | (leafLevel < 3 ? PTE_PS : 0);
    const hiFlags = o.nx ? PTE_NX_HI : 0;
    for (let off = 0; off < size; off += pageSize) {
      const table = this.tableFor(va + off, leafLevel);
      const g = gpa + off;
      this.writeEntry(
        table + indexAt(va + off, leafLevel) * 8,
        ((g % 2 ** 32) | lo) >>> 0,
        (Math.floor(g / 2 ** 32) | hiFlags) >>> 0,
      );
    }
  }

  /** GPA of va's entry at a level (0 PML4 .. 3 PT); the tables above must exist and not map a large page. */
  entryGpa(va: number, level: number): number {
    let table = this.pml4;
    for (let l = 0; l < level; l++) {
      const [lo, hi] = this.readEntry(table + indexAt(va, l) * 8);
      if (!(lo & PTE_P) || (l > 0 && lo & PTE_PS)) throw new Error(`no ${LEVEL_NAMES[l + 1]} table for ${hex(va)}`);
      table = entryAddress(lo, hi);
    }
    return table + indexAt(va, level) * 8;
  }

  /** Rewrites va's entry at a level: lo = (lo & ~clear) | set, same for the high dword. */
  patch(va: number, level: number, clear: number, set: number, clearHi = 0, setHi = 0): void {
    const e = this.entryGpa(va, level);
    const [lo, hi] = this.readEntry(e);
    this.writeEntry(e, ((lo & ~clear) | set) >>> 0, ((hi & ~clearHi) | setHi) >>> 0);
  }

  readEntry(gpa: number): [number, number] {
    return this.mem.read64(this.hpa(gpa));
  }

  writeEntry(gpa: number, lo: number, hi: number): void {
    this.mem.write64(this.hpa(gpa), lo >>> 0, hi >>> 0);
  }

  read32(gpa: number): number {
    return this.mem.read32(this.hpa(gpa));
  }

  write32(gpa: number, value: number): void {
    this.mem.write32(this.hpa(gpa), value >>> 0);
  }

  /** Guest RAM GPA -> HPA through the full view; throws outside guest RAM. */
  hpa(gpa: number): number {
    const h = this.ept.translate(gpa, EPT_VIEW_FULL);
    if (h < 0) throw new Error(`GPA ${hex(gpa)} is not guest RAM`);
    return h;
  }

  /** The table that holds va's entry at leafLevel, creating missing tables on the way. */
  private tableFor(va: number, leafLevel: number): number {
    let table = this.pml4;
    for (let level = 0; level < leafLevel; level++) {
      const e = table + indexAt(va, level) * 8;
      const [lo, hi] = this.readEntry(e);
      if (lo & PTE_P) {
        if (level > 0 && lo & PTE_PS)
          throw new Error(`${hex(va)} is already mapped by a large page at ${LEVEL_NAMES[level]}`);
        table = entryAddress(lo, hi);
        continue;
      }
      const next = this.allocTable();
      this.writeEntry(e, (next % 2 ** 32) | PTE_P | PTE_RW | PTE_US, Math.floor(next / 2 ** 32));
      table = next;
    }
    return table;
  }
}

/** The VA span one entry covers at a level (PML4 512 GiB .. PT 4 KiB). */
export function levelSpan(level: number): number {
  return 2 ** LEVEL_SHIFT[level];
}
