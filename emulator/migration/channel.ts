// One end of a transfer connection: sections out with TCP back-pressure, verified sections in, and
// one reason for the end of the conversation (closed, broken, timed out, dropped by the peer).

import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { Frame, FrameReader, MIG, StreamError, jsonSection, parseJsonPayload } from './stream';

/** The conversation ended: the peer closed, broke the format, reported an error, or went silent. */
export class ChannelClosed extends Error {
  /** ERR. from the peer (its words), as opposed to a local observation. */
  constructor(
    message: string,
    readonly fromPeer = false,
  ) {
    super(message);
  }
}

/** Bytes of parsed but unconsumed sections above which the socket stops reading (TCP pushes back). */
const HIGH_WATER = 64 * 1024 * 1024;

export class Channel {
  private readonly reader: FrameReader;
  private readonly queue: Frame[] = [];
  private queuedBytes = 0;
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | null = null;
  private drainWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly endWaiters = new Set<(e: Error) => void>();
  /** Longest wait for the peer to take what we write. */
  stallMs = 30_000;
  private ended: ChannelClosed | null = null;
  /** Bytes written to the socket (headers and framing included). */
  bytesOut = 0;

  constructor(
    readonly socket: Socket,
    readonly what: string,
  ) {
    this.reader = new FrameReader(what);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.end(new ChannelClosed(`${describe(e)}`)));
    socket.on('end', () =>
      this.end(
        new ChannelClosed(
          this.reader.pending > 0
            ? 'the connection ended in the middle of a section'
            : 'the peer closed the connection',
        ),
      ),
    );
    socket.on('close', () => this.end(new ChannelClosed('the connection closed')));
    socket.on('drain', () => this.flushDrain());
  }

  /** Largest section the peer may send (until it is authenticated, a host takes no more than a hello). */
  set sectionLimit(bytes: number) {
    this.reader.limit = bytes;
  }

  /** Bytes of whole sections received so far (the host's measure of a peer's progress). */
  bytesIn = 0;

  get closed(): ChannelClosed | null {
    return this.ended;
  }

  /** Writes, and waits while the socket's buffer is full (the peer reads slower than we write). */
  async send(buf: Buffer): Promise<void> {
    if (this.ended) throw this.ended;
    this.bytesOut += buf.length;
    if (this.socket.write(buf)) return;
    await this.drained();
  }

  /**
   * Writes one section without first joining it into one buffer: header, payload and checksum go
   * out corked together (the same bytes frameSection makes). With `written` (run once the payload
   * has left for the kernel, or the connection died: the caller may then reuse its buffer), the
   * caller bounds what is in flight and this does not wait; without it, it waits for the drain.
   */
  async sendSection(tag: string, payload: Buffer, written?: () => void): Promise<void> {
    if (this.ended) {
      written?.();
      throw this.ended;
    }
    const head = Buffer.allocUnsafe(12);
    head.write(tag, 0, 4, 'latin1');
    head.writeBigUInt64LE(BigInt(payload.length), 4);
    const sum = createHash('sha256').update(head.subarray(0, 4)).update(payload).digest();
    this.bytesOut += 12 + payload.length + 32;
    const s = this.socket;
    s.cork();
    s.write(head);
    s.write(payload, written ? () => written() : undefined);
    const more = s.write(sum);
    s.uncork();
    if (more || written) return;
    await this.drained();
  }

  /**
   * Resolves when the socket has taken everything written so far; rejects when the connection ends
   * or the peer has read nothing for `stallMs` (a stopped or wedged peer must not hold us forever).
   */
  drained(): Promise<void> {
    if (this.ended) return Promise.reject(this.ended);
    if (this.socket.writableLength === 0) return Promise.resolve();
    return this.waitFor((resolve, reject) => this.drainWaiters.push({ resolve, reject }), 'the peer stopped reading');
  }

  /** Waits for `start`'s callback, bounded by `stallMs` and by the end of the connection. */
  waitFor(start: (resolve: () => void, reject: (e: Error) => void) => void, stalled: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const e = new ChannelClosed(`${stalled} for ${(this.stallMs / 1000).toFixed(1)} s`);
        this.close(e);
        reject(e);
      }, this.stallMs);
      const done = (): void => {
        clearTimeout(timer);
        this.endWaiters.delete(fail);
      };
      const fail = (e: Error): void => {
        done();
        reject(e);
      };
      this.endWaiters.add(fail);
      start(() => {
        done();
        resolve();
      }, fail);
    });
  }

  /** Writes without waiting (small control sections). */
  post(buf: Buffer): void {
    if (this.ended) return;
    this.bytesOut += buf.length;
    this.socket.write(buf);
  }

  /** The next verified section; an ERR. from the peer, a bad stream, a close or silence reject. */
  next(timeoutMs: number, doing: string): Promise<Frame> {
    const f = this.queue.shift();
    if (f) return Promise.resolve(this.consumed(f));
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<Frame>((resolve, reject) => {
      const timer =
        timeoutMs > 0 && Number.isFinite(timeoutMs)
          ? setTimeout(() => {
              this.waiter = null;
              const e = new ChannelClosed(`no answer for ${(timeoutMs / 1000).toFixed(1)} s while ${doing}`);
              this.close(e);
              reject(e);
            }, timeoutMs)
          : null;
      this.waiter = {
        resolve: (x) => {
          if (timer) clearTimeout(timer);
          resolve(x);
        },
        reject: (e) => {
          if (timer) clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  get queueEmpty(): boolean {
    return this.queue.length === 0;
  }

  /** Is a section waiting (without blocking)? */
  poll(): Frame | null {
    const f = this.queue.shift();
    return f ? this.consumed(f) : null;
  }

  /** Ends the conversation from this side; `e` is what this side will report. */
  close(e: ChannelClosed): void {
    this.end(e);
    this.socket.destroy();
  }

  /** Tells the peer why, then closes once the words are out. */
  fail(reason: string): void {
    if (this.ended) return;
    const e = new ChannelClosed(reason);
    this.post(errorSection(reason));
    this.end(e);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.reader.push(chunk);
    try {
      for (let f = this.reader.next(); f; f = this.reader.next()) {
        if (f.tag === MIG.ERROR) {
          const { reason } = parseJsonPayload<{ reason: string }>(f);
          this.close(new ChannelClosed(String(reason), true));
          return;
        }
        this.bytesIn += 12 + f.length + 32;
        if (this.waiter && this.queue.length === 0) {
          const w = this.waiter;
          this.waiter = null;
          w.resolve(f);
        } else {
          this.queue.push(f);
          this.queuedBytes += f.length;
        }
      }
    } catch (e) {
      if (!(e instanceof StreamError)) throw e;
      this.fail(e.message);
      return;
    }
    if (this.queuedBytes > Math.min(HIGH_WATER, 4 * this.reader.limit)) this.socket.pause();
  }

  private consumed(f: Frame): Frame {
    this.queuedBytes -= f.length;
    if (this.queuedBytes <= Math.min(HIGH_WATER, 4 * this.reader.limit) / 2 && this.socket.isPaused())
      this.socket.resume();
    return f;
  }

  private flushDrain(): void {
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w.resolve();
  }

  private end(e: ChannelClosed): void {
    if (this.ended) return;
    this.ended = e;
    const w = this.waiter;
    this.waiter = null;
    if (w) w.reject(e);
    const ds = this.drainWaiters;
    this.drainWaiters = [];
    for (const d of ds) d.reject(e);
    for (const w of [...this.endWaiters]) w(e);
  }
}

export function errorSection(reason: string): Buffer {
  return jsonSection(MIG.ERROR, { reason });
}

function describe(e: Error): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ECONNREFUSED') return 'connection refused (is a vgpu host listening there?)';
  if (err.code === 'ECONNRESET') return 'the connection was reset by the peer';
  if (err.code === 'EPIPE') return 'the peer stopped reading (broken pipe)';
  if (err.code === 'ETIMEDOUT') return 'the connection timed out';
  if (err.code === 'ENOTFOUND') return `no such host (${err.message})`;
  return err.message;
}
