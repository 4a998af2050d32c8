// Diagnostics assembled in a worker thread: the worker answers as the assembler does, per document only the
// latest waiting request is assembled, and a worker that dies answers its job with the reason.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { assembleSource } from '../../emulator/assembler';
import {
  ASSEMBLY_WORKER,
  BackgroundAssembler,
  assembleForEditor,
  type AssemblyReply,
} from '../../extension/assemblyWorker';

const WORKER = path.join(__dirname, '..', '..', 'extension', 'assemblyWorker.ts');
const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'nested-batches.vgpu');

/** The worker from its TypeScript source (the extension starts dist/assemblyWorker.js). */
const spawn = () =>
  new Worker(`require('tsx/cjs'); require(${JSON.stringify(WORKER)});`, { eval: true, workerData: ASSEMBLY_WORKER });

function collect(
  assembler: (done: BackgroundAssembler) => void,
  expected: number,
  spawnWorker = spawn,
): Promise<[string, number, AssemblyReply][]> {
  return new Promise((resolve) => {
    const got: [string, number, AssemblyReply][] = [];
    const bg: BackgroundAssembler = new BackgroundAssembler(spawnWorker, (key, version, reply) => {
      got.push([key, version, reply]);
      if (got.length === expected) {
        bg.dispose();
        resolve(got);
      }
    });
    assembler(bg);
  });
}

const job = (version: number, text: string) => ({ file: 'doc.vgpu', snapshot: () => ({ version, text }) });

describe('assembly worker', () => {
  it("answers with the assembler's diagnostics and symbols", () => {
    const text = fs.readFileSync(EXAMPLE, 'utf8');
    const r = assembleSource(text, { file: EXAMPLE });
    const reply = assembleForEditor({ id: 7, text, file: EXAMPLE });
    assert.equal(reply.id, 7);
    assert.deepEqual(reply.diagnostics, r.diagnostics);
    assert.deepEqual(new Map(reply.symbols), r.image!.symbols);
    const broken = assembleForEditor({ id: 8, text: 'MI_BOGUS', file: 'b.vgpu' });
    assert.equal(broken.symbols, undefined);
    assert.deepEqual(broken.diagnostics, assembleSource('MI_BOGUS', { file: 'b.vgpu' }).diagnostics);
  });

  it("assembles in a worker, only the latest of a document's waiting requests", async () => {
    const good = fs.readFileSync(EXAMPLE, 'utf8');
    const got = await collect((bg) => {
      bg.request('a', job(1, 'MI_BOGUS'));
      bg.request('a', job(2, 'MI_OTHER'));
      bg.request('a', job(3, good));
      bg.request('b', job(1, good));
      bg.request('c', job(1, good));
      bg.cancel('c');
    }, 3);
    assert.deepEqual(
      got.map(([k, v]) => `${k}@${v}`),
      ['a@1', 'a@3', 'b@1'],
    );
    assert.deepEqual(got[0][2].diagnostics, assembleSource('MI_BOGUS', { file: 'doc.vgpu' }).diagnostics);
    assert.deepEqual(got[1][2].diagnostics, []);
    assert.deepEqual(new Map(got[1][2].symbols), assembleSource(good, { file: 'doc.vgpu' }).image!.symbols);
  });

  it('answers a job whose worker died with the reason, and starts another for the next', async () => {
    let spawned = 0;
    const dying = () => (spawned++ === 0 ? new Worker('process.exit(3)', { eval: true }) : spawn());
    const got = await collect(
      (bg) => {
        bg.request('a', job(1, 'MI_NOOP'));
        bg.request('b', job(1, 'MI_BOGUS'));
      },
      2,
      dying,
    );
    assert.equal(got[0][0], 'a');
    assert.match(got[0][2].diagnostics[0].message, /the assembler stopped: exit code 3/);
    assert.deepEqual(got[1][2].diagnostics, assembleSource('MI_BOGUS', { file: 'doc.vgpu' }).diagnostics);
    assert.equal(spawned, 2);
  });
});
