// PPGTT walk GPU VA -> GPA -> HPA: the x86-64 4-level format (Intel SDM vol. 3A 4.5, as gen8+ 48-bit
// PPGTT uses it), tables in guest RAM reached through EPT, with precise faults and a step record.

import type { GpuErrorKind } from './registers';
import { Ept, EPT_VIOLATION, EptLeaf, ISOLATION_VIOLATION, LEVEL_NAMES, WalkStep, indexAt, offsetIn } from './ept';
import { HostMemory, PAGE_SIZE, entryAddress, hex } from './memory';

/** PPGTT entry bits (SDM 4.5, tables 4-15 to 4-20). */
export const PTE_BITS = { P: 0, RW: 1, US: 2, PWT: 3, PCD: 4, A: 5, D: 6, PS: 7, G: 8, NX: 63 } as const;
const P = 1 << PTE_BITS.P;
const RW = 1 << PTE_BITS.RW;
const PS = 1 << PTE_BITS.PS;
const NX_HI = 1 << (PTE_BITS.NX - 32);

export const ACCESS_READ = 0;
export const ACCESS_WRITE = 1;
export const ACCESS_FETCH = 2;
export const ACCESS_NAMES = ['read', 'write', 'fetch'] as const;

const LEVEL_SPAN = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12];
const PAGE_LABEL = ['512 GiB', '1 GiB', '2 MiB', '4 KiB'];

export function pteFlags(lo: number, hi: number, level: number): string {
  const parts = [lo & P ? 'P' : '-', lo & RW ? 'RW' : 'RO', lo & 4 ? 'US' : 'S'];
  if (level > 0 && level < 3 && lo & PS) parts.push(`PS(${PAGE_LABEL[level]})`);
  if (hi & NX_HI) parts.push('NX');
  return parts.join(' ');
}

/** What the walker needs to know about the context it walks in. */
export interface PagingContext {
  readonly mem: HostMemory;
  readonly ept: Ept;
  /** EPT view of the engine (EPT_VIEW register). */
  view: number;
  /** GPA of the PML4 (PDP0). */
  pml4: number;
  readonly allow2M: boolean;
  readonly allow1G: boolean;
  /** Brings view/pml4 up to date from their registers; the TLB calls it before a walk. */
  readonly refresh?: () => void;
  /**
   * Set only while the tables cannot change (a command's write prediction and source reads, before it
   * writes anything): walks then resume from the previous walk's path. Null or absent: every walk is full.
   */
  memo?: WalkMemo | null;
}

/**
 * The path of the last walk, for the next one while the tables are unchanged: for each level it
 * reached, the table (GPA and HPA) and the permissions gathered above it, and the EPT page the data
 * GPA ended in. A walk of a VA sharing the path down to some level resumes there, and a data GPA in
 * the same EPT page needs no EPT walk: a blit's thousands of pages cost a PTE read each, the same
 * results and faults as full walks of unchanged tables.
 */
export class WalkMemo {
  /** Levels recorded (0: none); entries at and past it are stale. */
  depth = 0;
  pml4 = -1;
  view = -1;
  /** Per level: the VA bits that choose its table (those above the previous level's index). */
  readonly key = new Float64Array(4);
  readonly table = new Float64Array(4);
  readonly tableHpa = new Float64Array(4);
  readonly roLevel = new Int8Array(4);
  readonly roTable = new Float64Array(4);
  readonly nxLevel = new Int8Array(4);
  readonly nxTable = new Float64Array(4);
  /** Per level: the host page holding the table. */
  readonly tablePage: (Uint32Array | null)[] = [null, null, null, null];
  /** The EPT page of the last data GPA (size 0: none). */
  readonly leaf: EptLeaf = { gpa: 0, hpa: 0, size: 0 };

  /** Forgets everything (the tables may have changed since). */
  clear(): void {
    this.depth = 0;
    this.pml4 = -1;
    this.leaf.size = 0;
  }
}

/** The VA bits that choose level `level`'s table (0 for the PML4, the same for every VA). */
function pathKey(va: number, level: number): number {
  return level === 0 ? 0 : Math.floor(va * LEVEL_SCALE[level - 1]);
}

const LEVEL_SCALE = [2 ** -39, 2 ** -30, 2 ** -21, 2 ** -12];

/** Filled in place on a failed walk: the evidence a driver engineer needs. */
export class FaultInfo {
  kind: GpuErrorKind = 'page-fault';
  /** GPU VA that faulted. */
  va = 0;
  /** GPA involved, for EPT/isolation errors. */
  gpa: number | undefined = undefined;
  access = ACCESS_READ;
  level = -1;
  reason = '';
  steps: WalkStep[] = [];
}

/** Result of a successful walk beyond the HPA: what the TLB caches. */
export interface WalkOut {
  writable: boolean;
  nx: boolean;
  pageSize: number;
  gpa: number;
}

/** A walk's step for the EPT translation of `gpa` (its own steps nested), kept as the evidence of a fault too. */
function eptStep(
  ctx: { readonly ept: Ept; readonly view: number },
  gpa: number,
  ept: WalkStep[] | undefined,
): WalkStep {
  return {
    level: 'EPT',
    table: ctx.ept.roots[ctx.view],
    index: -1,
    entryLo: 0,
    entryHi: 0,
    flags: `GPA ${hex(gpa)}`,
    ept,
  };
}

/**
 * Walks va for an access. Returns the HPA, or -1 with `fault` filled. `steps` (optional) records every
 * table entry read, with the EPT walk that reached each table. `out` receives permissions for the TLB.
 */
export function walk(
  ctx: PagingContext,
  va: number,
  access: number,
  fault: FaultInfo,
  out: WalkOut | null,
  steps?: WalkStep[],
): number {
  if (va < 0 || va >= 2 ** 48 || !Number.isInteger(va))
    return pageFault(fault, va, access, -1, `address ${hex(va)} is not a 48-bit GPU VA`, steps);
  let table = ctx.pml4;
  // The first entry on the path with RW=0 / NX=1 (level and table GPA): the fault names that entry.
  let roLevel = -1;
  let roTable = 0;
  let nxLevel = -1;
  let nxTable = 0;
  let level = 0;
  let resumedHpa = -1;
  let resumedPage: Uint32Array | null = null;
  const memo = steps === undefined && ctx.memo != null ? ctx.memo : null;
  if (memo !== null) {
    if (memo.pml4 !== ctx.pml4 || memo.view !== ctx.view) {
      memo.clear();
      memo.pml4 = ctx.pml4;
      memo.view = ctx.view;
    }
    for (let l = memo.depth - 1; l >= 0; l--) {
      if (memo.key[l] !== pathKey(va, l)) continue;
      level = l;
      table = memo.table[l];
      resumedHpa = memo.tableHpa[l];
      resumedPage = memo.tablePage[l];
      roLevel = memo.roLevel[l];
      roTable = memo.roTable[l];
      nxLevel = memo.nxLevel[l];
      nxTable = memo.nxTable[l];
      break;
    }
  }
  for (; level < 4; level++) {
    const index = indexAt(va, level);
    const eptSteps: WalkStep[] | undefined = steps ? [] : undefined;
    let tableHpa = resumedHpa;
    if (tableHpa < 0) {
      tableHpa = ctx.ept.translate(table, ctx.view, eptSteps);
      if (tableHpa < 0) {
        // Keep the failed EPT walk as evidence, as the data-GPA case below does.
        if (steps) steps.push(eptStep(ctx, table, eptSteps));
        return eptFault(
          ctx,
          fault,
          va,
          access,
          table,
          tableHpa,
          `${LEVEL_NAMES[level]} table at GPA ${hex(table)}`,
          steps,
        );
      }
      if (memo !== null) {
        memo.key[level] = pathKey(va, level);
        memo.table[level] = table;
        memo.tableHpa[level] = tableHpa;
        memo.roLevel[level] = roLevel;
        memo.roTable[level] = roTable;
        memo.nxLevel[level] = nxLevel;
        memo.nxTable[level] = nxTable;
        memo.depth = level + 1;
      }
    }
    resumedHpa = -1;
    const entry = tableHpa + index * 8;
    let pg = resumedPage;
    if (pg === null) {
      pg = ctx.mem.pageForRead(Math.floor(entry / PAGE_SIZE));
      if (memo !== null) memo.tablePage[level] = pg;
    }
    resumedPage = null;
    const di = (entry & 0xfff) >>> 2; // ToInt32 keeps the low bits of an integer below 2^53: no float remainder
    const lo = pg[di];
    const hi = pg[di + 1];
    if (steps)
      steps.push({
        level: LEVEL_NAMES[level],
        table,
        index,
        entryLo: lo,
        entryHi: hi,
        flags: pteFlags(lo, hi, level),
        ept: eptSteps,
      });
    if ((lo & P) === 0)
      return pageFault(
        fault,
        va,
        access,
        level,
        `${entryWhere(va, level, table)} is not present (entry ${entryHex(lo, hi)})`,
        steps,
      );
    if ((lo & RW) === 0 && roLevel < 0) {
      roLevel = level;
      roTable = table;
    }
    if (hi & NX_HI && nxLevel < 0) {
      nxLevel = level;
      nxTable = table;
    }
    let leaf = level === 3;
    if (!leaf && lo & PS) {
      if (level === 0)
        return pageFault(
          fault,
          va,
          access,
          level,
          `${entryWhere(va, level, table)} has PS set, which is reserved in a PML4 entry`,
          steps,
        );
      if (level === 1 && !ctx.allow1G)
        return pageFault(
          fault,
          va,
          access,
          level,
          `${entryWhere(va, level, table)} maps a 1 GiB page, but the exposed device version has no 1 GiB pages`,
          steps,
        );
      if (level === 2 && !ctx.allow2M)
        return pageFault(
          fault,
          va,
          access,
          level,
          `${entryWhere(va, level, table)} maps a 2 MiB page, but the exposed device version has no 2 MiB pages`,
          steps,
        );
      const addr = entryAddress(lo, hi);
      if (addr % LEVEL_SPAN[level] !== 0) {
        return pageFault(
          fault,
          va,
          access,
          level,
          `${entryWhere(va, level, table)} maps a ${PAGE_LABEL[level]} page at ${hex(addr)}, not ${PAGE_LABEL[level]} aligned (reserved bits set)`,
          steps,
        );
      }
      leaf = true;
    }
    if (leaf) {
      if (access === ACCESS_WRITE && roLevel >= 0) {
        return pageFault(
          fault,
          va,
          access,
          roLevel,
          `write to a read-only page: ${entryWhere(va, roLevel, roTable)} has RW=0`,
          steps,
        );
      }
      if (access === ACCESS_FETCH && nxLevel >= 0) {
        return pageFault(
          fault,
          va,
          access,
          nxLevel,
          `command fetch from a no-execute page: ${entryWhere(va, nxLevel, nxTable)} has NX=1`,
          steps,
        );
      }
      const gpa = entryAddress(lo, hi) + offsetIn(va, level);
      const eptSteps2: WalkStep[] | undefined = steps ? [] : undefined;
      let hpa: number;
      if (memo === null) hpa = ctx.ept.translate(gpa, ctx.view, eptSteps2);
      else {
        const leafPage = memo.leaf;
        const inLeaf = gpa - leafPage.gpa;
        if (inLeaf >= 0 && inLeaf < leafPage.size) hpa = leafPage.hpa + inLeaf;
        else {
          leafPage.size = 0; // a failed translation leaves none
          hpa = ctx.ept.translate(gpa, ctx.view, undefined, leafPage);
        }
      }
      if (steps) steps.push(eptStep(ctx, gpa, eptSteps2));
      if (hpa < 0) return eptFault(ctx, fault, va, access, gpa, hpa, `data at GPA ${hex(gpa)}`, steps);
      if (out) {
        out.writable = roLevel < 0;
        out.nx = nxLevel >= 0;
        out.pageSize = LEVEL_SPAN[level];
        out.gpa = gpa;
      }
      return hpa;
    }
    table = entryAddress(lo, hi);
  }
  return -1;
}

const runFault = new FaultInfo();
const runOut: WalkOut = { writable: false, nx: false, pageSize: 0, gpa: 0 };

/**
 * GPU VA -> HPA by one uncached walk (never the TLB), and how many bytes from `va` translate
 * contiguously: to the end of the PPGTT leaf page or of the EPT leaf, whichever comes first (a row of a
 * surface in 2 MiB or 1 GiB pages is one run). Unmapped: hpa -1, and the run ends at the next 4 KiB page.
 */
export function walkRun(ctx: PagingContext, va: number): { hpa: number; bytes: number } {
  const hpa = walk(ctx, va, ACCESS_READ, runFault, runOut);
  if (hpa < 0) return { hpa: -1, bytes: PAGE_SIZE - (va % PAGE_SIZE) };
  const leaf = runOut.pageSize - (va % runOut.pageSize);
  return { hpa, bytes: Math.max(1, Math.min(leaf, ctx.ept.leafSpan(runOut.gpa, ctx.view))) };
}

/** `PD[3] at GPA 0x...`: built only on a fault, so the walk itself allocates no strings. */
function entryWhere(va: number, level: number, table: number): string {
  const index = indexAt(va, level);
  return `${LEVEL_NAMES[level]}[${index}] at GPA ${hex(table + index * 8)}`;
}

function entryHex(lo: number, hi: number): string {
  return hex(BigInt(hi >>> 0) * 0x100000000n + BigInt(lo >>> 0), 16);
}

function pageFault(
  fault: FaultInfo,
  va: number,
  access: number,
  level: number,
  reason: string,
  steps?: WalkStep[],
): number {
  fault.kind = 'page-fault';
  fault.va = va;
  fault.gpa = undefined;
  fault.access = access;
  fault.level = level;
  fault.reason = `${ACCESS_NAMES[access]} at GPU VA ${hex(va)}: ${reason}`;
  fault.steps = steps ?? [];
  return -1;
}

function eptFault(
  ctx: PagingContext,
  fault: FaultInfo,
  va: number,
  access: number,
  gpa: number,
  code: number,
  what: string,
  steps?: WalkStep[],
): number {
  fault.kind = code === ISOLATION_VIOLATION ? 'isolation-violation' : 'ept-violation';
  fault.va = va;
  fault.gpa = gpa;
  fault.access = access;
  fault.level = -1;
  fault.reason = `${ACCESS_NAMES[access]} at GPU VA ${hex(va)}: ${what}: ${ctx.ept.describeViolation(code === ISOLATION_VIOLATION ? ISOLATION_VIOLATION : EPT_VIOLATION, gpa, ctx.view)}`;
  fault.steps = steps ?? [];
  return -1;
}

// ---------------------------------------------------------------------------------------------
// The global GTT: one level, a flat table of 64-bit PTEs in guest RAM (gen8 GGTT PTE: bit 0 present,
// bits 47:12 the page's GPA; no permission bits), reached through the EPT like every guest table.

export const GGTT_PTE_PRESENT = 1;

/** The GGTT as an engine sees it: the table's GPA and its entry count (device registers GGTT_*). */
export interface GgttContext {
  readonly mem: HostMemory;
  readonly ept: Ept;
  view: number;
  /** GPA of the PTE table. */
  base: number;
  /** PTEs in the table (the GGTT spans entries x 4 KiB). */
  entries: number;
  readonly refresh?: () => void;
}

/** Walks a GGTT address; the HPA, or -1 with `fault` filled. `steps` records the PTE and its EPT walk. */
export function walkGgtt(
  ctx: GgttContext,
  va: number,
  access: number,
  fault: FaultInfo,
  out: WalkOut | null,
  steps?: WalkStep[],
): number {
  const index = Math.floor(va / PAGE_SIZE);
  if (va < 0 || !Number.isInteger(va) || index >= ctx.entries) {
    return pageFault(
      fault,
      va,
      access,
      -1,
      ctx.entries === 0
        ? 'the device has no global GTT (GGTT_ENTRIES = 0)'
        : `GGTT address ${hex(va)} is beyond the ${ctx.entries}-entry global GTT`,
      steps,
    );
  }
  const pteGpa = ctx.base + index * 8;
  const eptSteps: WalkStep[] | undefined = steps ? [] : undefined;
  const pteHpa = ctx.ept.translate(pteGpa, ctx.view, eptSteps);
  if (pteHpa < 0) {
    if (steps) steps.push(eptStep(ctx, pteGpa, eptSteps));
    return eptFault(
      ctx as unknown as PagingContext,
      fault,
      va,
      access,
      pteGpa,
      pteHpa,
      `GGTT PTE at GPA ${hex(pteGpa)}`,
      steps,
    );
  }
  const pg = ctx.mem.pageForRead(Math.floor(pteHpa / PAGE_SIZE));
  const di = (pteHpa % PAGE_SIZE) >>> 2;
  const lo = pg[di];
  const hi = pg[di + 1];
  if (steps)
    steps.push({
      level: 'GGTT',
      table: ctx.base,
      index,
      entryLo: lo,
      entryHi: hi,
      flags: lo & GGTT_PTE_PRESENT ? 'P' : '-',
      ept: eptSteps,
    });
  if ((lo & GGTT_PTE_PRESENT) === 0)
    return pageFault(
      fault,
      va,
      access,
      0,
      `GGTT[${index}] at GPA ${hex(pteGpa)} is not present (entry ${entryHex(lo, hi)})`,
      steps,
    );
  const gpa = entryAddress(lo, hi) + (va % PAGE_SIZE);
  const eptSteps2: WalkStep[] | undefined = steps ? [] : undefined;
  const hpa = ctx.ept.translate(gpa, ctx.view, eptSteps2);
  if (steps) steps.push(eptStep(ctx, gpa, eptSteps2));
  if (hpa < 0)
    return eptFault(ctx as unknown as PagingContext, fault, va, access, gpa, hpa, `data at GPA ${hex(gpa)}`, steps);
  if (out) {
    out.writable = true;
    out.nx = false;
    out.pageSize = PAGE_SIZE;
    out.gpa = gpa;
  }
  return hpa;
}
