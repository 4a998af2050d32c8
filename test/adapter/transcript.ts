// Golden DAP transcripts: a scripted session against dist/adapter.js over stdio, every message both
// ways recorded in order, normalized (the checkout's path), and compared with a file under golden/.
// `VGPU_UPDATE_GOLDEN=1 npm test` rewrites the files; review the diff like code.

import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADAPTER, ROOT } from './client';

type Message = {
  type: 'request' | 'response' | 'event';
  seq: number;
  command?: string;
  event?: string;
  request_seq?: number;
  body?: unknown;
  success?: boolean;
};

/** A raw DAP peer: frames messages both ways and keeps the transcript. */
export class Transcript {
  readonly lines: string[] = [];
  private readonly proc: ChildProcess;
  private buf = Buffer.alloc(0);
  private seq = 1;
  private readonly waiting: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  private readonly backlog: Message[] = [];
  private readonly sent = new Map<number, string>();

  constructor() {
    this.proc = spawn(process.execPath, [ADAPTER], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdout!.on('data', (d: Buffer) => this.receive(d));
  }

  private receive(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /Content-Length: (\d+)/i.exec(this.buf.subarray(0, end).toString('ascii'));
      const len = Number(m![1]);
      if (this.buf.length < end + 4 + len) return;
      const msg = JSON.parse(this.buf.subarray(end + 4, end + 4 + len).toString('utf8')) as Message;
      this.buf = this.buf.subarray(end + 4 + len);
      // A request is written just before its response: where it falls among events still arriving
      // from the request before is a race, its response's place in the adapter's order is not.
      const sent = msg.type === 'response' ? this.sent.get(msg.request_seq!) : undefined;
      if (sent !== undefined) this.lines.push(sent);
      this.lines.push(`<- ${normalize(msg)}`);
      const w = this.waiting.findIndex((x) => x.match(msg));
      if (w >= 0) this.waiting.splice(w, 1)[0].resolve(msg);
      else this.backlog.push(msg);
    }
  }

  private next(match: (m: Message) => boolean): Promise<Message> {
    const i = this.backlog.findIndex(match);
    if (i >= 0) return Promise.resolve(this.backlog.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`transcript: timed out waiting; so far:\n${this.lines.join('\n')}`)),
        10000,
      );
      this.waiting.push({ match, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }

  /** Sends a request; resolves with its response and, when `until` names an event, that event too. */
  async request(command: string, args?: unknown, until?: string): Promise<{ response: Message; event?: Message }> {
    const msg = { seq: this.seq++, type: 'request', command, ...(args === undefined ? {} : { arguments: args }) };
    this.sent.set(msg.seq, `-> ${normalize(msg as Message)}`);
    const json = JSON.stringify(msg);
    this.proc.stdin!.write(`Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    const seq = msg.seq;
    const [response, event] = await Promise.all([
      this.next((m) => m.type === 'response' && m.request_seq === seq),
      until ? this.next((m) => m.type === 'event' && m.event === until) : Promise.resolve(undefined),
    ]);
    return { response, event };
  }

  /** Waits for an event already on its way (e.g. `initialized` after launch). */
  event(name: string): Promise<Message> {
    return this.next((m) => m.type === 'event' && m.event === name);
  }

  close(): void {
    this.proc.kill();
  }

  /** Compares with (or, with VGPU_UPDATE_GOLDEN=1, writes) test/adapter/golden/NAME.dap. */
  check(name: string): { file: string; want: string | null; got: string } {
    const file = path.join(__dirname, 'golden', `${name}.dap`);
    const got = this.lines.join('\n') + '\n';
    if (process.env.VGPU_UPDATE_GOLDEN === '1') fs.writeFileSync(file, got);
    return { file, want: fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null, got };
  }
}

/** One message a line, keys in a fixed order, the checkout's path as <root>. */
function normalize(m: Message): string {
  return JSON.stringify(m, (_k, v: unknown) => (typeof v === 'string' ? v.split(ROOT).join('<root>') : v));
}
