// The register bank behind BAR0: one dword slot per register dword (from the register table), access
// rules applied in one place, and the I/O tracker that records who wrote which register when.

import { EngineName, REGISTERS, RegInstance, SLOT_COUNT, regAt } from './registers';

/** Why a register write was refused. */
export type WriteRefusal = 'unknown' | 'read-only' | 'privileged';

export class RegisterBank {
  readonly values = new Uint32Array(SLOT_COUNT);
  /** I/O tracker: slots written since the tracker was last cleared (by a snapshot), in order. */
  readonly touchedList: number[] = [];
  private readonly touched = new Uint8Array(SLOT_COUNT);
  /**
   * Step of the last write to each slot, for "was this register written by that step" (register data
   * breakpoints) and each epoch's trace. -1: never, or a rewind forgot a later write (only the last
   * stamp is kept, so the write before it is not known again).
   */
  readonly lastWrite = new Float64Array(SLOT_COUNT).fill(-1);
  /** Current global step, maintained by the VM so writes can be stamped. */
  step = 0;
  /**
   * Offsets of registers this device does not model that commands wrote, or null when such writes are
   * refused by the scanner. A capture's VM sets it: real drivers load hardware registers the model lacks,
   * and the hardware takes them; here they are dropped and listed.
   */
  unmodelled: Set<number> | null = null;

  reset(): void {
    this.values.fill(0);
    for (const r of REGISTERS) {
      this.values[r.slot] = r.def.reset;
    }
  }

  read(mmio: number): number {
    const r = regAt(mmio);
    return r ? this.values[r.reg.slot + r.dword] : 0;
  }

  /** A device-internal update (ACTHD, TIMESTAMP, fault registers): no access check. */
  set(slot: number, value: number): void {
    this.values[slot] = value;
    this.track(slot);
  }

  track(slot: number): void {
    if (this.touched[slot] === 0) {
      this.touched[slot] = 1;
      this.touchedList.push(slot);
    }
    this.lastWrite[slot] = this.step;
  }

  /**
   * A write by the driver (`.mmio`): any writable register. Returns the register written, or why not.
   */
  driverWrite(mmio: number, value: number): RegInstance | WriteRefusal {
    const r = regAt(mmio);
    if (!r) return 'unknown';
    if (r.reg.def.access === 'ro') return 'read-only';
    this.write(r.reg, r.dword, value);
    return r.reg;
  }

  /**
   * The one guest write path (driver and commands alike), with the table's write rules: a masked
   * register (PRM: bits 31:16 are write enables for bits 15:0) changes only the enabled bits and
   * stores no enables.
   */
  private write(reg: RegInstance, dword: number, value: number): void {
    const slot = reg.slot + dword;
    if (reg.def.masked) {
      const enable = value >>> 16;
      value = ((this.values[slot] & ~enable) | (value & enable)) & 0xffff;
    }
    this.set(slot, value >>> 0);
  }

  /**
   * A write by a command of `engine` (MI_LOAD_REGISTER_*, PIPE_CONTROL's post-sync LRI): the command
   * scanner's allow-list (as in GVT-g): registers whose access is 'cmd', of that engine (its own window,
   * or a device register its window holds: `owner`) or of the whole device.
   */
  commandWrite(engine: EngineName, mmio: number, value: number): RegInstance | WriteRefusal | null {
    const r = regAt(mmio);
    if (!r) {
      // A capture VM drops (and lists) writes to registers the model does not have; anything else refuses them.
      if (this.unmodelled === null) return 'privileged';
      this.unmodelled.add(mmio);
      return null;
    }
    if (!this.commandWritable(engine, mmio)) return 'privileged';
    this.write(r.reg, r.dword, value);
    return r.reg;
  }

  /** Would commandWrite accept this register (the scanner checks a whole command before it writes)? */
  commandWritable(engine: EngineName, mmio: number): boolean {
    const r = regAt(mmio);
    if (r === undefined) return this.unmodelled !== null;
    if (r.reg.def.access !== 'cmd') return false;
    const owner = r.reg.engine ?? r.reg.def.owner;
    return owner === undefined || owner === engine;
  }

  /**
   * The machine was put back at `step` (a restore): write stamps at or after it belong to a timeline
   * that no longer exists, and a replay of the same steps must see its writes as new.
   */
  forgetWritesFrom(step: number): void {
    const last = this.lastWrite;
    for (let i = 0; i < last.length; i++) if (last[i] >= step) last[i] = -1;
  }

  /**
   * Clears the I/O tracker and returns the slots it had recorded, ascending (epochs that write the
   * same registers give equal lists, which snapshots then share).
   */
  takeTouched(): number[] {
    const out = this.touchedList.splice(0);
    // Insertion sort: a few dozen slots, mostly in order already (a comparator sort cost more than the rest of a snapshot's trace).
    for (let i = 1; i < out.length; i++) {
      const x = out[i];
      let j = i - 1;
      for (; j >= 0 && out[j] > x; j--) out[j + 1] = out[j];
      out[j + 1] = x;
    }
    for (const s of out) this.touched[s] = 0;
    return out;
  }
}
