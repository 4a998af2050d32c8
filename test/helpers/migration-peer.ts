// A hand-driven migration source for hostile tests of `vgpu host`: raw bytes, sections framed by hand,
// the handshake with any proof, and what the host sent back, read with the stream's own section reader.

import * as net from 'node:net';
import { SEC, frameSection, imageDoc, metaDoc, stateDoc } from '../../emulator/checkpoint';
import { MIG, PROTOCOL, jsonSection, proofOf, streamHeader } from '../../emulator/migration/stream';
import { FrameReader, type Frame } from '../../emulator/migration/stream';
import type { Vm } from '../../emulator/vm';

export class Peer {
  private readonly reader = new FrameReader('the host');
  private readonly frames: Frame[] = [];
  private wake: (() => void) | undefined;
  /** Why reading what the host sent stopped (it broke the stream format), if it did. */
  readError: string | undefined;
  /** Milliseconds from connect to the host closing the connection. */
  readonly closed: Promise<number>;

  private constructor(readonly sock: net.Socket) {
    const t0 = performance.now();
    this.closed = new Promise((r) => sock.on('close', () => (r(performance.now() - t0), this.wake?.())));
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      this.reader.push(d);
      try {
        for (let f = this.reader.next(); f; f = this.reader.next()) this.frames.push(f);
      } catch (e) {
        this.readError ??= (e as Error).message;
      }
      this.wake?.();
    });
  }

  static connect(port: number): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => resolve(new Peer(sock)));
      sock.once('error', reject);
    });
  }

  send(bytes: Buffer): void {
    if (this.sock.writable) this.sock.write(bytes);
  }

  /** The next section the host sent (null: the connection closed first, or `ms` passed). */
  async next(ms = 5000): Promise<Frame | null> {
    const until = performance.now() + ms;
    while (!this.frames.length) {
      if (this.sock.destroyed || performance.now() > until) return null;
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
    return this.frames.shift()!;
  }

  /** Reads the host's challenge and answers with `proof` (computed from the nonce when a function). */
  async hello(
    vm: Vm,
    proof: string | null | unknown | ((nonce: string) => unknown),
  ): Promise<{ nonce: string; verdict: { accepted: boolean; reason?: string } | null }> {
    const chal = await this.next();
    if (!chal || chal.tag !== MIG.CHALLENGE)
      throw new Error(`no challenge from the host (got ${chal?.tag ?? 'nothing'})`);
    const nonce = String(JSON.parse(chal.payload.toString()).nonce);
    this.send(streamHeader());
    this.send(helloSection(vm, typeof proof === 'function' ? proof(nonce) : proof));
    const v = await this.next();
    return { nonce, verdict: v && v.tag === MIG.VERDICT ? JSON.parse(v.payload.toString()) : null };
  }

  /** The sections that build the VM at the target (before any page). */
  sendVm(vm: Vm): void {
    this.send(frameSection(SEC.META, Buffer.from(JSON.stringify(metaDoc(vm)))));
    this.send(frameSection(SEC.IMAGE, Buffer.from(JSON.stringify(imageDoc(vm.image)))));
    this.send(frameSection(SEC.STATE, Buffer.from(JSON.stringify(stateDoc(vm)))));
  }

  /** Closes this side and waits (at most `ms`) for the host to close: the milliseconds since connect, or -1. */
  async end(ms = 10_000): Promise<number> {
    this.sock.end();
    const t = await Promise.race([this.closed, new Promise<number>((r) => setTimeout(() => r(-1), ms).unref())]);
    this.sock.destroy();
    return t;
  }
}

/** A section header claiming `length` bytes (the payload and checksum are not sent). */
/** The HELLO section a source sends for a whole-VM move (`finish`) of `vm` with `proof`. */
export function helloSection(vm: Vm, proof: unknown): Buffer {
  return jsonSection(MIG.HELLO, {
    protocol: PROTOCOL,
    proof,
    exposedVersion: vm.cfg.version,
    mode: 'finish',
    program: 'small.vgpu',
    memory: vm.cfg.memory,
    pages: 0,
    surfaces: [],
  });
}

export function sectionHead(tag: string, length: bigint): Buffer {
  const head = Buffer.alloc(12);
  head.write(tag, 0, 4, 'latin1');
  head.writeBigUInt64LE(length, 4);
  return head;
}

export { proofOf };
