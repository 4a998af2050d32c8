// Which recorded epochs a reverse search for data breakpoints must replay: an epoch can hold a write
// of a watched location only if its undo log has a record of the page the location lives in (every
// write keeps a before-image) or, for a register, the epoch wrote the register. A GPU VA resolves
// through page tables; an epoch that wrote none of the pages its walk read and none of the registers
// that root it (PDP0, EPT_VIEW) translated the VA as the epoch after it did, so the pages and
// registers are worked out at the later end and carried back across the epochs passed over.

import { PAGE_SIZE } from '../emulator/memory';
import type { WalkStep } from '../emulator/ept';
import { ACCESS_READ, ACCESS_WRITE, FaultInfo, WalkOut, walk } from '../emulator/paging';
import type { EpochFilter } from '../emulator/reverse';
import type { Vm } from '../emulator/vm';
import type { DataWatch } from './breakpoints';
import { gpaToHpa, pagingContext } from './memory';

export class WatchEpochs implements EpochFilter {
  private readonly pages = new Set<number>();
  private readonly slots = new Set<number>();
  private readonly fault = new FaultInfo();
  private readonly out: WalkOut = { writable: false, nx: false, pageSize: 0, gpa: 0 };

  constructor(private readonly watches: readonly DataWatch[]) {}

  prepare(vm: Vm): void {
    this.pages.clear();
    this.slots.clear();
    for (const w of this.watches) {
      if (w.reg) {
        for (let i = 0; i < w.reg.def.width / 32; i++) this.slots.add(w.reg.slot + i);
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

  mayHit(vm: Vm, index: number): boolean {
    const list = vm.snapshots.list;
    // The open epoch's register writes are not all on record (a resumed checkpoint): always replayed.
    if (index >= list.length - 1) return true;
    for (const s of list[index + 1].touchedRegs) if (this.slots.has(s)) return true;
    const log = list[index].undo;
    for (const pfn of this.pages) if (log.has(pfn)) return true;
    return false;
  }
}
