// Which recorded epochs a backward search must replay, and up to which step. Data breakpoints: an
// epoch can hold a write of a watched location only if its undo log has a record of the page the
// location lives in (every write keeps a before-image) or, for a register, the epoch wrote the
// register; and no later than the last such write, which the records and the epoch's trace keep. A
// GPU VA resolves through page tables; an epoch that wrote none of the pages its walk read and none
// of the registers that root it (PDP0, EPT_VIEW) translated the VA as the epoch after it did, so the
// pages and registers are worked out at the later end and carried back across the epochs passed
// over (after the epoch's last write to them it translates as its end does). Source lines: an epoch
// can be about to run a command of the line only if it fetched from a page one of the line's
// commands starts in, and a driver operation of it only if the driver's position passed it.

import {
  ACCESS_READ,
  ACCESS_WRITE,
  FaultInfo,
  PAGE_SIZE,
  walk,
  WalkOut,
  type EpochFilter,
  type Vm,
  type WalkStep,
} from '../emulator';
import type { DataWatch } from './breakpoints';
import { gpaToHpa, pagingContext } from './memory';

export class WatchEpochs implements EpochFilter {
  private readonly pages = new Set<number>();
  private readonly slots = new Set<number>();
  /** A watched register the streamer updates at every step without the I/O tracker (ACTHD, TIMESTAMP). */
  private everyStep = false;
  private readonly fault = new FaultInfo();
  private readonly out: WalkOut = { writable: false, nx: false, pageSize: 0, gpa: 0 };

  constructor(private readonly watches: readonly DataWatch[]) {}

  prepare(vm: Vm): void {
    this.pages.clear();
    this.slots.clear();
    const untracked = new Set(vm.engines.flatMap((e) => e.untrackedSlots()));
    this.everyStep = false;
    for (const w of this.watches) {
      if (w.reg) {
        for (let i = 0; i < w.reg.def.width / 32; i++) {
          this.slots.add(w.reg.slot + i);
          if (untracked.has(w.reg.slot + i)) this.everyStep = true;
        }
        continue;
      }
      const first = w.addr! - (w.addr! % PAGE_SIZE);
      for (let at = first; at < w.addr! + w.bytes!; at += PAGE_SIZE) {
        if (w.space !== 'va') {
          const hpa = gpaToHpa(vm, at);
          if (hpa >= 0) this.pages.add(Math.floor(hpa / PAGE_SIZE));
          continue;
        }
        // Any engine may be the one that writes: each one's translation, and what it rests on.
        for (const e of vm.engines) {
          this.slots.add(e.slots.pdpLo).add(e.slots.pdpHi).add(e.slots.view);
          const ctx = pagingContext(vm, e.name);
          for (const access of [ACCESS_WRITE, ACCESS_READ]) {
            const steps: WalkStep[] = [];
            const hpa = walk(ctx, at, access, this.fault, this.out, steps);
            for (const s of steps) {
              for (const t of s.ept ?? []) this.pages.add(Math.floor(t.table / PAGE_SIZE));
              const tableHpa = ctx.ept.translate(s.table, ctx.view);
              if (tableHpa >= 0) this.pages.add(Math.floor(tableHpa / PAGE_SIZE));
            }
            if (hpa >= 0) {
              this.pages.add(Math.floor(hpa / PAGE_SIZE));
              const eptSteps: WalkStep[] = [];
              ctx.ept.translate(this.out.gpa, ctx.view, eptSteps);
              for (const t of eptSteps) this.pages.add(Math.floor(t.table / PAGE_SIZE));
            }
          }
        }
      }
    }
  }

  lastStep(vm: Vm, index: number): number {
    const list = vm.snapshots.list;
    // The open epoch's register writes are not on record yet: replayed whole.
    if (index >= list.length - 1) return Infinity;
    const next = list[index + 1];
    if (this.everyStep && next.state.step > list[index].state.step) return Infinity;
    let last = -1;
    next.touchedRegs.forEach((slot, k) => {
      if (this.slots.has(slot)) last = Math.max(last, next.touchedAt === null ? Infinity : next.touchedAt[k]);
    });
    const log = list[index].undo;
    for (const pfn of this.pages) last = Math.max(last, log.lastWrite(pfn));
    return last;
  }
}

export class LineEpochs implements EpochFilter {
  /** `pages`: GPU VA pages a command of the line can start in; `pcs`: the line's driver operations. */
  constructor(
    private readonly pages: ReadonlySet<number>,
    private readonly pcs: readonly number[],
  ) {}

  prepare(): void {}

  lastStep(vm: Vm, index: number): number {
    const list = vm.snapshots.list;
    if (index >= list.length - 1) return Infinity;
    const from = list[index].state.driverPc;
    const next = list[index + 1];
    // The driver's position only moves forward in a kept history (a rollback rewinds it).
    for (const pc of this.pcs) if (pc >= from && pc <= next.state.driverPc) return Infinity;
    if (next.fetched === null) return Infinity; // not known (a resumed checkpoint)
    for (const p of next.fetched) if (this.pages.has(p)) return Infinity;
    return -1;
  }
}
