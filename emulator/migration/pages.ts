// Guest pages on the wire: the checkpoint's page records (checkpoint.encodePagesInto), written into a
// few reused buffers. Fresh memory is slow to come by (every new page faults in), so a gigabyte moves
// with one copy of each page on either side and no allocation of its own on the source.

import { RECORD_BYTES, SEC, encodePagesInto } from '../checkpoint';
import type { Vm } from '../vm';
import type { Channel } from './channel';

/**
 * Sends pages as PAGE sections from a few reused buffers: a buffer goes back to the pool once the
 * socket has handed it to the kernel, so at most `count` sections are in flight.
 */
export class PageSender {
  private readonly free: Buffer[] = [];
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly ch: Channel,
    private readonly vm: Vm,
    readonly chunkPages: number,
    count = 8,
  ) {
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
