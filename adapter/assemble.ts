// Assembling a large program off the adapter's event loop (a worker thread running dist/loadWorker.js),
// so the launch can show progress and be cancelled. Where the worker bundle is absent (tests run the
// sources), the assembly runs in place.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  assembleProgram,
  AssemblyError,
  ProgramFileError,
  readProgram,
  type LoadOptions,
  type ProgramImage,
} from '../emulator';
import type { WorkerReply } from './loadWorker';

export class AssemblyCancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/** How often the wait for the worker looks at the cancel flag (ms): a cancel stops the assembly within this. */
const POLL_MS = 20;

/**
 * Assembles `file` with `options`, off the event loop when the worker bundle is there. `cancelled` is
 * polled: when it turns true the worker is terminated and AssemblyCancelled thrown. Throws what the
 * in-place assembly would (AssemblyError with the source, ProgramFileError).
 */
export async function assembleOffThread(
  file: string,
  options: LoadOptions,
  cancelled: () => boolean,
): Promise<{ image: ProgramImage; source: string }> {
  const bundle = path.join(__dirname, 'loadWorker.js');
  if (!fs.existsSync(bundle)) {
    const source = readProgram(file);
    return { image: assembleProgram(file, source, options), source };
  }
  const worker = new Worker(bundle, { workerData: { file, options } });
  let reply: WorkerReply | undefined;
  let failure: Error | undefined;
  worker.once('message', (m: WorkerReply) => (reply = m));
  worker.once('error', (e) => (failure = e));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  try {
    while (!reply && !failure) {
      if (cancelled()) throw new AssemblyCancelled();
      const done = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), POLL_MS)),
      ]);
      if (done && !reply && !failure) failure = new Error('the assembler worker exited without an answer');
    }
  } finally {
    void worker.terminate();
  }
  if (failure) throw failure;
  const r = reply!;
  if ('image' in r) return { image: r.image, source: r.source };
  if (r.error === 'assembly') throw Object.assign(new AssemblyError(r.diagnostics), { source: r.source });
  if (r.error === 'file') throw new ProgramFileError(r.message);
  throw new Error(r.message);
}
