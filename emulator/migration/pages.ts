// Guest pages on the wire: the checkpoint's page records ([u64 GPA page number, 4096 bytes], as
// checkpoint.encodePages/applyPages), written into reused buffers and applied from views of the
// received section. Fresh memory is slow to come by (every new page faults in), so a gigabyte moves
// with one copy of each page on either side and no allocation of its own on the source.

import { CheckpointError, SEC } from '../checkpoint';
import { PAGE_DWORDS, PAGE_SIZE } from '../memory';
import { RAM_HPA, Vm } from '../vm';
import type { Channel } from './channel';

export const RECORD_BYTES = 8 + PAGE_SIZE;
const RECORD_DWORDS = RECORD_BYTES / 4;
const FIRST_PFN = RAM_HPA / PAGE_SIZE;

/** Encodes guest pages into `buf` (the checkpoint's record format); returns the bytes used. */
export function encodePagesInto(vm: Vm, gpfns: readonly number[], buf: Buffer): number {
  const u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  const mem = vm.mem;
  for (let i = 0; i < gpfns.length; i++) {
    const g = gpfns[i];
    const at = i * RECORD_DWORDS;
    u32[at] = g % 0x100000000;
    u32[at + 1] = Math.floor(g / 0x100000000);
    u32.set(mem.pageForRead(FIRST_PFN + g), at + 2);
  }
  return gpfns.length * RECORD_BYTES;
}

/**
 * Sends pages as PAGE sections from a few reused buffers: a buffer goes back to the pool once the
 * socket has handed it to the kernel, so at most `count` sections are in flight.
 */
export class PageSender {
  private readonly free: Buffer[] = [];
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly ch: Channel, private readonly vm: Vm, readonly chunkPages: number, count = 8) {
    for (let i = 0; i < count; i++) this.free.push(Buffer.allocUnsafeSlow(chunkPages * RECORD_BYTES));
  }

  /** Reads the pages now (their contents as of this call) and sends them. */
  async send(gpfns: readonly number[]): Promise<void> {
    while (this.free.length === 0) await this.ch.waitFor((r) => this.waiting.push(r), 'the target stopped reading');
    const buf = this.free.pop()!;
    const n = encodePagesInto(this.vm, gpfns, buf);
    await this.ch.sendSection(SEC.PAGES, buf.subarray(0, n), () => {
      this.free.push(buf);
      this.waiting.shift()?.();
    });
  }
}

/**
 * Writes received page records into guest RAM (as checkpoint.applyPages does: whole records only,
 * nothing outside guest RAM). Records may straddle the pieces a section arrived in; each is copied
 * into one aligned scratch record and from there into its page.
 */
export function applyPageRecords(vm: Vm, parts: readonly Buffer[], length: number): number {
  if (length % RECORD_BYTES !== 0) throw new CheckpointError(`page section of ${length} bytes is not whole 4 KiB page records`);
  const rec = new Uint32Array(RECORD_DWORDS);
  const bytes = new Uint8Array(rec.buffer);
  const page = rec.subarray(2);
  const pages = vm.cfg.memory / PAGE_SIZE;
  const mem = vm.mem;
  let part = 0;
  let at = 0;
  const n = length / RECORD_BYTES;
  for (let i = 0; i < n; i++) {
    for (let got = 0; got < RECORD_BYTES;) {
      const p = parts[part];
      const k = Math.min(RECORD_BYTES - got, p.length - at);
      bytes.set(p.subarray(at, at + k), got);
      got += k;
      at += k;
      if (at === p.length) {
        part++;
        at = 0;
      }
    }
    const g = rec[0] + rec[1] * 0x100000000;
    if (g >= pages) throw new CheckpointError(`page at GPA 0x${(g * PAGE_SIZE).toString(16)} is outside guest RAM`);
    mem.restorePage(FIRST_PFN + g, page);
  }
  return n;
}
