// An incremental fingerprint of a VM's whole state, for comparing two copies of one VM at every stop
// (the debugger's replica and the VM on another host): the machine state hashed whole, guest memory as
// the XOR of a hash per non-zero page (its GPA and contents), rehashed only for the pages written or
// restored since the last fingerprint (the snapshot store sees every one). Equal states give equal
// fingerprints; unlike `Vm.digest`, its cost is what changed, not the guest memory touched. Registers are
// hashed by name (machineStateJson), so two hosts whose register tables order them differently agree.

import { createHash, hash } from 'node:crypto';
import { PAGE_SIZE, isZero } from './memory';
import { RAM_HPA, Vm, machineStateJson } from './vm';

const HASH_BYTES = 32;

export class Fingerprint {
  private readonly pageHash = new Map<number, Buffer>();
  private readonly memory = Buffer.alloc(HASH_BYTES);
  private readonly changed: Set<number>;
  private readonly first = RAM_HPA / PAGE_SIZE;
  private readonly end: number;
  private readonly record = Buffer.alloc(8 + PAGE_SIZE);

  constructor(private readonly vm: Vm) {
    this.end = this.first + vm.cfg.memory / PAGE_SIZE;
    this.changed = vm.snapshots.watchChanges();
    for (const pfn of vm.mem.allocatedIn(this.first, this.end)) this.rehash(pfn);
  }

  /** Stops following the VM's changes (the fingerprint is not used again). */
  dispose(): void {
    this.vm.snapshots.unwatchChanges(this.changed);
  }

  /** The fingerprint of the VM as it stands. */
  digest(): string {
    for (const pfn of this.changed) if (pfn >= this.first && pfn < this.end) this.rehash(pfn);
    this.changed.clear();
    return createHash('sha256').update(machineStateJson(this.vm.machineState())).update(this.memory).digest('hex');
  }

  private rehash(pfn: number): void {
    const old = this.pageHash.get(pfn);
    if (old) xorInto(this.memory, old);
    const page = this.vm.mem.pageForRead(pfn);
    if (!this.vm.mem.hasPage(pfn) || isZero(page)) {
      this.pageHash.delete(pfn);
      return;
    }
    // One record (GPA, page) hashed in one call: a hash object and two updates per page cost more than the hashing.
    const gpa = (pfn - this.first) * PAGE_SIZE;
    this.record.writeUInt32LE(gpa % 0x100000000, 0);
    this.record.writeUInt32LE(Math.floor(gpa / 0x100000000), 4);
    this.record.set(new Uint8Array(page.buffer, page.byteOffset, PAGE_SIZE), 8);
    const h = hash('sha256', this.record, 'buffer') as unknown as Buffer;
    this.pageHash.set(pfn, h);
    xorInto(this.memory, h);
  }
}

function xorInto(acc: Buffer, h: Buffer): void {
  for (let i = 0; i < HASH_BYTES; i++) acc[i] ^= h[i];
}
