// Guest memory as the debugger sees it: `va:`/`gpa:` memory references, side-effect-free reads through
// an engine's PPGTT (uncached walks, never the TLB), byte-granular reads and writes, and command peeking.

import {
  ACCESS_READ,
  commandIndex,
  commandLength,
  COMMANDS,
  EPT_VIEW_FULL,
  FaultInfo,
  PAGE_SIZE,
  PagingContext,
  RAM_HPA,
  Vm,
  walk,
  walkGgtt,
  type Engine,
  type EngineName,
} from '../emulator';

export type AddressSpace = 'va' | 'gpa';

export interface MemoryRef {
  readonly space: AddressSpace;
  readonly addr: number;
}

/** Largest read or write one request may ask for (larger requests are clamped). */
export const MAX_TRANSFER = 1 << 20;
const VA_LIMIT = 2 ** 48;

export function formatRef(space: AddressSpace, addr: number): string {
  return `${space}:0x${addr.toString(16)}`;
}

/** `va:0x1000`, `gpa:0x1000`, or a bare number (a GPU VA, as instruction pointers are). */
export function parseRef(text: unknown): MemoryRef | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^\s*(?:(va|gpa):)?\s*(0x[0-9a-f_]+|[0-9][0-9_]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const digits = m[2].replace(/_/g, '');
  const addr = Number(digits.toLowerCase().startsWith('0x') ? BigInt(digits) : BigInt(digits));
  if (!Number.isSafeInteger(addr) || addr < 0) return undefined;
  return { space: (m[1]?.toLowerCase() as AddressSpace | undefined) ?? 'va', addr };
}

/** Size of an address space: 48-bit GPU VAs; GPAs up to the end of the mirror range. */
export function spaceLimit(vm: Vm, space: AddressSpace): number {
  return space === 'va' ? VA_LIMIT : 2 ** (vm.cfg.physBits + 1);
}

/**
 * A private copy of an engine's paging context (PDP0 and EPT view from its registers). Walks through it
 * read guest page tables without touching the engine's TLB.
 */
export function pagingContext(vm: Vm, engine: EngineName, view?: number): PagingContext {
  const e = vm.engine(engine);
  e.syncContext(); // derives pml4/view from the registers only
  return { ...e.ctx, view: view ?? e.ctx.view };
}

const scratchFault = new FaultInfo();

/** GPU VA -> HPA by an uncached walk (-1 when unmapped). */
export function vaToHpa(ctx: PagingContext, va: number, access = ACCESS_READ): number {
  return walk(ctx, va, access, scratchFault, null);
}

/** GPA (range A or mirror B) -> HPA of guest RAM, or -1 outside guest RAM. */
export function gpaToHpa(vm: Vm, gpa: number): number {
  const g = vm.cfg.isolation && gpa >= vm.ept.mirrorBase ? gpa - vm.ept.mirrorBase : gpa;
  if (!(g >= 0 && g < vm.cfg.memory)) return -1;
  return RAM_HPA + g;
}

/** Reads one dword at an HPA. */
export function readHpa32(vm: Vm, hpa: number): number {
  return vm.mem.pageForRead(Math.floor(hpa / PAGE_SIZE))[(hpa % PAGE_SIZE) >>> 2];
}

/**
 * Reads `count` bytes from an address space. Returns the bytes that could be read from the start
 * (reading stops at the first unmapped page) and how many could not.
 */
export function readBytes(
  vm: Vm,
  ref: MemoryRef,
  count: number,
  engine: EngineName = 'rcs0',
): { data: Uint8Array; unreadable: number } {
  const n = Math.max(0, Math.min(count, MAX_TRANSFER, spaceLimit(vm, ref.space) - ref.addr));
  const out = new Uint8Array(n);
  const ctx = ref.space === 'va' ? pagingContext(vm, engine, EPT_VIEW_FULL) : null;
  let done = 0;
  while (done < n) {
    const a = ref.addr + done;
    const inPage = Math.min(n - done, PAGE_SIZE - (a % PAGE_SIZE));
    const hpa = ctx ? vaToHpa(ctx, a - (a % PAGE_SIZE)) : gpaToHpa(vm, a - (a % PAGE_SIZE));
    if (hpa < 0) break;
    const page = vm.mem.pageForRead(Math.floor(hpa / PAGE_SIZE));
    const bytes = new Uint8Array(page.buffer, page.byteOffset, PAGE_SIZE);
    out.set(bytes.subarray(a % PAGE_SIZE, (a % PAGE_SIZE) + inPage), done);
    done += inPage;
  }
  return { data: out.subarray(0, done), unreadable: Math.max(0, count - done) };
}

/** Reads dwords at a GPU VA or GPA; unmapped dwords are undefined. */
export function readDwords(vm: Vm, ref: MemoryRef, count: number, engine: EngineName = 'rcs0'): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  const ctx = ref.space === 'va' ? pagingContext(vm, engine) : null;
  let pageBase = -1;
  let pageHpa = -1;
  for (let i = 0; i < count; i++) {
    const a = ref.addr + 4 * i;
    const base = a - (a % PAGE_SIZE);
    if (base !== pageBase) {
      pageBase = base;
      pageHpa = ctx ? vaToHpa(ctx, base) : gpaToHpa(vm, base);
    }
    out.push(pageHpa < 0 ? undefined : readHpa32(vm, pageHpa + (a % PAGE_SIZE)));
  }
  return out;
}

/**
 * Writes bytes through the VM's edit API (dword granular: partial dwords are read-modified-written).
 * Returns the number of bytes written (stops at the first unmapped dword).
 */
export function writeBytes(vm: Vm, ref: MemoryRef, bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  const first = ref.addr - (ref.addr % 4);
  const end = ref.addr + bytes.length;
  const last = end + ((4 - (end % 4)) % 4);
  const count = (last - first) / 4;
  const old = readDwords(vm, { space: ref.space, addr: first }, count);
  let readable = 0;
  while (readable < count && old[readable] !== undefined) readable++;
  if (readable === 0) return 0;
  const words: number[] = [];
  for (let i = 0; i < readable; i++) {
    let w = old[i]!;
    for (let k = 0; k < 4; k++) {
      const a = first + 4 * i + k;
      if (a >= ref.addr && a < end) w = (w & ~(0xff << (8 * k))) | (bytes[a - ref.addr] << (8 * k));
    }
    words.push(w >>> 0);
  }
  const n = vm.editMemory(ref.space, first, words);
  return Math.max(0, Math.min(end, first + 4 * n) - ref.addr);
}

/** The dwords of the command at `va` as the engine would fetch it (ring commands wrap at the ring end). */
export function peekCommand(vm: Vm, e: Engine, va: number, limit = 1100): number[] | undefined {
  const ctx = pagingContext(vm, e.name);
  const start = vm.regs.values[e.slots.start];
  const size = e.ringSize();
  const inRing = e.ringEnabled() && va >= start && va < start + size;
  const at = (i: number) => (inRing ? start + ((va - start + 4 * i) % size) : va + 4 * i);
  // A capture's rings are fetched through the global GTT, as on hardware.
  const ggtt = inRing && vm.image.ringSpace === 'ggtt' ? { ...e.gctx, view: ctx.view } : undefined;
  // One translation a page, not a dword: a command of up to 1,100 dwords spans at most two pages.
  let lastPage = -1;
  let lastHpa = -1;
  const fetch = (i: number): number | undefined => {
    const a = at(i);
    const offset = a % PAGE_SIZE;
    if (a - offset !== lastPage) {
      lastPage = a - offset;
      lastHpa = ggtt ? walkGgtt(ggtt, lastPage, ACCESS_READ, scratchFault, null) : vaToHpa(ctx, lastPage);
    }
    return lastHpa < 0 ? undefined : readHpa32(vm, lastHpa + offset);
  };
  const header = fetch(0);
  if (header === undefined) return undefined;
  const idx = commandIndex(header, vm.gen);
  const len = idx < 0 ? 1 : commandLength(idx, header);
  const n = len > 0 ? Math.min(len, limit) : 1;
  const out = [header];
  for (let i = 1; i < n; i++) {
    const d = fetch(i);
    if (d === undefined) break;
    out.push(d);
  }
  return out;
}

/** The dword at a GPU VA as the engine would fetch it (a capture's ring through the global GTT), or undefined when unmapped. */
export function peekDword(vm: Vm, e: Engine, va: number): number | undefined {
  return peekCommand(vm, e, va, 1)?.[0];
}

/** Mnemonic of the command at `va`, or undefined (unmapped or unknown header). */
export function peekMnemonic(vm: Vm, e: Engine, va: number): string | undefined {
  const header = peekDword(vm, e, va);
  if (header === undefined) return undefined;
  const idx = commandIndex(header, vm.gen);
  return idx < 0 ? undefined : COMMANDS[idx].mnemonic;
}
