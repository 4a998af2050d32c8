// A DAP client at the byte level, for the fuzz and the framing tests: requests with any seq, command and
// arguments, raw bytes (garbage framing), and a strict reader of what the adapter sends that counts
// responses per request_seq (a second answer or one to no request is recorded, not dropped), over the
// stdio of `node dist/adapter.js` or a TCP connection to `--server`.

import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { DebugProtocol } from '@vscode/debugprotocol';

export class NoAnswer extends Error {}

interface Waiter {
  readonly command: string;
  readonly resolve: (r: DebugProtocol.Response) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Keeps the first `max` characters of a growing text. */
class Capped {
  text = '';
  constructor(private readonly max: number) {}
  add(s: string): void {
    if (this.text.length < this.max) this.text += s.slice(0, this.max - this.text.length);
  }
}

export class DapWire {
  private nextSeq = 1;
  private readonly waiting = new Map<number, Waiter>();
  /** request_seq of every request answered so far. */
  private readonly answered = new Set<number>();
  private buf: Buffer = Buffer.alloc(0);
  private eventWaiters: { name: string; resolve: (e: DebugProtocol.Event) => void }[] = [];
  /** Protocol faults of the adapter: a second response, a response to nothing, a malformed frame. */
  readonly faults: string[] = [];
  /** The text of every `output` event (first 256 KiB). */
  readonly output = new Capped(256 * 1024);
  readonly eventCounts = new Map<string, number>();
  responses = 0;
  /** Called with every event, in the order the adapter sent them. */
  onEvent: ((e: DebugProtocol.Event) => void) | undefined;
  /** Bytes of the largest message the adapter sent. */
  largest = 0;
  closed = false;
  readonly whenClosed: Promise<void>;
  private onClose!: () => void;

  constructor(
    private readonly out: Writable,
    input: Readable,
    /** Milliseconds a request may wait for its answer. */
    readonly replyMs = 10_000,
  ) {
    this.whenClosed = new Promise((r) => (this.onClose = r));
    input.on('data', (d: Buffer) => this.feed(d));
    input.on('close', () => this.close());
    input.on('end', () => this.close());
    input.on('error', () => this.close());
    out.on('error', () => undefined);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [seq, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(new NoAnswer(`${w.command} (seq ${seq}): the connection closed without an answer`));
    }
    this.waiting.clear();
    this.onClose();
  }

  private feed(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /^Content-Length: (\d+)$/.exec(this.buf.toString('latin1', 0, end));
      if (!m) {
        this.faults.push(
          `a malformed header from the adapter: ${JSON.stringify(this.buf.toString('latin1', 0, Math.min(end, 80)))}`,
        );
        this.buf = Buffer.alloc(0);
        return;
      }
      const n = Number(m[1]);
      if (this.buf.length < end + 4 + n) return;
      const body = this.buf.subarray(end + 4, end + 4 + n);
      this.buf = this.buf.subarray(end + 4 + n);
      this.largest = Math.max(this.largest, n);
      let msg: DebugProtocol.ProtocolMessage;
      try {
        msg = JSON.parse(body.toString('utf8'));
      } catch {
        this.faults.push(`a body from the adapter that is not JSON: ${body.toString('utf8', 0, 80)}`);
        continue;
      }
      this.message(msg);
    }
  }

  private message(msg: DebugProtocol.ProtocolMessage): void {
    if (msg.type === 'event') {
      const e = msg as DebugProtocol.Event;
      this.eventCounts.set(e.event, (this.eventCounts.get(e.event) ?? 0) + 1);
      if (e.event === 'output') this.output.add(String(e.body?.output ?? ''));
      this.onEvent?.(e);
      const ready = this.eventWaiters.filter((w) => w.name === e.event);
      this.eventWaiters = this.eventWaiters.filter((w) => w.name !== e.event);
      for (const w of ready) w.resolve(e);
      return;
    }
    if (msg.type !== 'response') {
      this.faults.push(`a message of type ${String(msg.type)} from the adapter`);
      return;
    }
    const r = msg as DebugProtocol.Response;
    this.responses++;
    const w = this.waiting.get(r.request_seq);
    if (!w) {
      this.faults.push(
        this.answered.has(r.request_seq)
          ? `a second response to request ${r.request_seq} (${r.command})`
          : `a response to request ${r.request_seq}, which was never sent (${r.command})`,
      );
      return;
    }
    this.waiting.delete(r.request_seq);
    this.answered.add(r.request_seq);
    clearTimeout(w.timer);
    w.resolve(r);
  }

  /** Sends a request (`command` and arguments as given, even malformed) and resolves with its response. */
  request(command: unknown, args?: unknown): Promise<DebugProtocol.Response> {
    const seq = this.nextSeq++;
    const msg: Record<string, unknown> = { seq, type: 'request', command };
    if (args !== undefined) msg.arguments = args;
    return this.send(seq, String(command).slice(0, 40), msg);
  }

  /** Sends a message (an object, or its frame as bytes) that carries `seq`; resolves with the response to that seq. */
  send(seq: number, label: string, msg: object | Buffer): Promise<DebugProtocol.Response> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new NoAnswer(`${label} (seq ${seq}): the connection is closed`));
        return;
      }
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new NoAnswer(`${label} (seq ${seq}): no answer in ${this.replyMs} ms`));
      }, this.replyMs);
      this.waiting.set(seq, { command: label, resolve, reject, timer });
      this.raw(Buffer.isBuffer(msg) ? msg : frame(msg));
    });
  }

  /** A fresh seq, for messages built by hand. */
  seq(): number {
    return this.nextSeq++;
  }

  raw(bytes: Buffer | string): void {
    if (!this.closed) this.out.write(bytes);
  }

  /** The next event of a kind (resolves at once for none already seen: only later ones count). */
  event(name: string, timeoutMs = 10_000): Promise<DebugProtocol.Event> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new NoAnswer(`no ${name} event in ${timeoutMs} ms`)), timeoutMs);
      this.eventWaiters.push({ name, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  get outstanding(): number {
    return this.waiting.size;
  }
}

export function frame(msg: object): Buffer {
  const body = Buffer.from(JSON.stringify(msg), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
}

/** Resident set size of a process in KiB (Linux /proc), or undefined once it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` and keeps the peak. */
export class RssWatch {
  peakKiB = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(
    readonly pid: number,
    everyMs = 25,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  sample(): void {
    const r = rssKiB(this.pid);
    if (r !== undefined) this.peakKiB = Math.max(this.peakKiB, r);
  }
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return this.peakKiB;
  }
}

export interface StdioAdapter {
  readonly wire: DapWire;
  readonly child: ChildProcess;
  /** What the adapter wrote to stderr (first 64 KiB). */
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node dist/adapter.js` over stdio. */
export function stdioAdapter(adapter: string, cwd: string, replyMs?: number): StdioAdapter {
  const child = spawn(process.execPath, [adapter], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const err = new Capped(64 * 1024);
  child.stderr!.on('data', (d: Buffer) => err.add(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { wire: new DapWire(child.stdin!, child.stdout!, replyMs), child, stderr: () => err.text, exited };
}

/** A TCP connection to `node dist/adapter.js --server`. */
export async function tcpAdapter(port: number, replyMs?: number): Promise<{ wire: DapWire; socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { wire: new DapWire(socket, socket, replyMs), socket };
}
