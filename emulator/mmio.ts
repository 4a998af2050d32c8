// The register bank behind BAR0: one dword slot per register dword (from the register table), access
// rules applied in one place, and the I/O tracker that records who wrote which register when.

import { EngineName, REGISTERS, RegInstance, SLOT_COUNT, regAt } from './registers';

export const WRITER_DRIVER = 0;
export const WRITER_COMMAND = 1;
export const WRITER_DEVICE = 2;

/** Why a register write was refused. */
export type WriteRefusal = 'unknown' | 'read-only' | 'privileged';

export class RegisterBank {
  readonly values = new Uint32Array(SLOT_COUNT);
  /** I/O tracker: slots written since the tracker was last cleared (by a snapshot), in order. */
  readonly touchedList: number[] = [];
  private readonly touched = new Uint8Array(SLOT_COUNT);
  /** Step of the last write to each slot (-1: never), for "who last wrote this register". */
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
    this.set(r.reg.slot + r.dword, value >>> 0);
    return r.reg;
  }

  /**
   * A write by a command of `engine` (MI_LOAD_REGISTER_*): the command scanner's allow-list (as in
   * GVT-g): registers whose access is 'cmd', of that engine or of the device.
   */
  commandWrite(engine: EngineName, mmio: number, value: number): RegInstance | WriteRefusal | null {
    const r = regAt(mmio);
    if (!r) {
      if (this.unmodelled === null) return 'privileged';
      this.unmodelled.add(mmio);
      return null;
    }
    if (r.reg.def.access !== 'cmd' || (r.reg.engine !== null && r.reg.engine !== engine)) return 'privileged';
    this.set(r.reg.slot + r.dword, value >>> 0);
    return r.reg;
  }

  /** Would commandWrite accept this register (the scanner checks a whole command before it writes)? */
  commandWritable(engine: EngineName, mmio: number): boolean {
    const r = regAt(mmio);
    if (r === undefined) return this.unmodelled !== null;
    return r.reg.def.access === 'cmd' && (r.reg.engine === null || r.reg.engine === engine);
  }

  /** Clears the I/O tracker and returns the slots it had recorded. */
  takeTouched(): number[] {
    const out = this.touchedList.splice(0);
    for (const s of out) this.touched[s] = 0;
    return out;
  }
}
