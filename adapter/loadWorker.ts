// The assembler pass of a large program, in a worker thread (bundled as dist/loadWorker.js): the
// adapter's event loop stays free, so a `cancel` of the launch is seen, and terminating the worker
// stops the assembly wherever it is. The image comes back by structured clone.

import { parentPort, workerData } from 'node:worker_threads';
import { assembleProgram, AssemblyError, ProgramFileError, readProgram, type LoadOptions } from '../emulator';

/** What the worker posts back: the image, or the error to rethrow on the adapter's side. */
export type WorkerReply =
  | { readonly image: ReturnType<typeof assembleProgram>; readonly source: string }
  | { readonly error: 'assembly'; readonly diagnostics: AssemblyError['diagnostics']; readonly source: string }
  | { readonly error: 'file' | 'other'; readonly message: string };

if (parentPort) {
  const { file, options } = workerData as { file: string; options: LoadOptions };
  let reply: WorkerReply;
  let source = '';
  try {
    source = readProgram(file);
    reply = { image: assembleProgram(file, source, options), source };
  } catch (e) {
    if (e instanceof AssemblyError) reply = { error: 'assembly', diagnostics: e.diagnostics, source };
    else reply = { error: e instanceof ProgramFileError ? 'file' : 'other', message: (e as Error).message };
  }
  parentPort.postMessage(reply);
}
