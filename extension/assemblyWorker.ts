// The assembler off the extension host's thread: a document's diagnostics and symbol values come from a worker,
// so that assembling a long document (seconds at a million lines) never holds up completion, hover or typing.
// This file is both the worker (dist/assemblyWorker.js) and the extension's side of it.

import { parentPort, workerData, type Worker } from 'node:worker_threads';
import { assembleSource, type Diagnostic } from '../emulator';

export interface AssemblyRequest {
  readonly id: number;
  readonly text: string;
  readonly file: string;
}

export interface AssemblyReply {
  readonly id: number;
  readonly diagnostics: Diagnostic[];
  /** The image's symbols (upper-cased names) when the program assembled. */
  readonly symbols?: [string, number][];
}

/** What the worker answers: the assembly reduced to what the editor shows. */
export function assembleForEditor(req: AssemblyRequest): AssemblyReply {
  const r = assembleSource(req.text, { file: req.file });
  return { id: req.id, diagnostics: r.diagnostics, symbols: r.image ? [...r.image.symbols] : undefined };
}

/** The `workerData` a worker is started with to answer assemblies (the extension's bundle includes this file too). */
export const ASSEMBLY_WORKER = 'vgpu-assembly-worker';

if (parentPort && workerData === ASSEMBLY_WORKER) {
  const port = parentPort;
  port.on('message', (req: AssemblyRequest) => port.postMessage(assembleForEditor(req)));
}

/** A document's assembly as it was asked for: its version and text are read when the worker is free. */
export interface AssemblyJob {
  readonly file: string;
  snapshot(): { version: number; text: string };
}

/**
 * One worker, one assembly at a time; per document only the latest request waits (one asked for while an
 * older one waits replaces it), so a burst of edits costs one assembly after the one running.
 */
export class BackgroundAssembler {
  private worker: Worker | undefined;
  private running: { key: string; version: number; id: number; file: string } | undefined;
  private readonly waiting = new Map<string, AssemblyJob>();
  private nextId = 1;

  constructor(
    private readonly spawn: () => Worker,
    private readonly done: (key: string, version: number, reply: AssemblyReply) => void,
  ) {}

  request(key: string, job: AssemblyJob): void {
    this.waiting.delete(key);
    this.waiting.set(key, job);
    this.pump();
  }

  /** Forgets a document's waiting request (its answer, if running, is still delivered). */
  cancel(key: string): void {
    this.waiting.delete(key);
  }

  dispose(): void {
    this.waiting.clear();
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private pump(): void {
    if (this.running || this.waiting.size === 0) return;
    const [key, job] = this.waiting.entries().next().value as [string, AssemblyJob];
    this.waiting.delete(key);
    const { version, text } = job.snapshot();
    this.running = { key, version, id: this.nextId++, file: job.file };
    this.ensureWorker().postMessage({ id: this.running.id, text, file: job.file } satisfies AssemblyRequest);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = this.spawn();
    w.unref();
    w.on('message', (reply: AssemblyReply) => this.finish(reply));
    // A worker that dies (out of memory on a huge document) answers its job with the reason; the next job starts another.
    const failed = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const r = this.running;
      if (r)
        this.finish({
          id: r.id,
          diagnostics: [{ file: r.file, line: 1, col: 1, severity: 'error', message: `the assembler stopped: ${why}` }],
        });
    };
    w.on('error', (e) => failed(e.message));
    w.on('exit', (code) => failed(`exit code ${code}`));
    this.worker = w;
    return w;
  }

  private finish(reply: AssemblyReply): void {
    const r = this.running;
    if (!r || r.id !== reply.id) return;
    this.running = undefined;
    this.done(r.key, r.version, reply);
    this.pump();
  }
}
