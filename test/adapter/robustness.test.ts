// Robustness: a seeded stream of 10,000 random and malformed requests (bad references, bad memory ranges,
// requests before launch, unknown commands, wrong argument types) each gets a response (an error or a
// valid answer), the adapter process stays alive, and `threads` still answers afterwards.

import * as assert from 'node:assert/strict';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { HostileRequests } from '../helpers/hostile-dap';
import { mulberry32 } from '../helpers/prng';
import { launch, program, clientPerTest } from './client';

const TOTAL = 10000;
const BEFORE_LAUNCH = 500;
const CONCURRENCY = 8;
const REPLY_MS = 5000;

describe('adapter: robustness', function () {
  this.timeout(120000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it(`answers ${TOTAL} random and malformed requests, then threads`, async () => {
    const gen = new HostileRequests(mulberry32(Number(process.env.VGPU_FUZZ_SEED ?? 0x5eed)), {
      programs: [program('nested.vgpu')],
    });
    let answered = 0;
    let errors = 0;
    const bad: string[] = [];
    const internal = new Set<string>();
    const sendOne = async (i: number) => {
      const command = gen.command();
      const a = gen.args();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), REPLY_MS);
      });
      const reply = dc.send(command, a).then(
        () => 'ok' as const,
        (e: Error) => {
          if (e.message.startsWith('internal error')) internal.add(`${command}: ${e.message}`);
          return e.message ? ('error' as const) : ('empty' as const);
        },
      );
      const r = await Promise.race([reply, timeout]);
      clearTimeout(timer);
      if (r === 'timeout' || r === 'empty') bad.push(`#${i} ${command} ${JSON.stringify(a)?.slice(0, 200)}: ${r}`);
      else {
        answered++;
        if (r === 'error') errors++;
      }
    };
    const stream = async (from: number, to: number) => {
      for (let i = from; i < to; i += CONCURRENCY) {
        await Promise.all(Array.from({ length: Math.min(CONCURRENCY, to - i) }, (_, k) => sendOne(i + k)));
        if (bad.length) break;
      }
    };

    // Before launch (only initialize has been sent).
    await dc.initializeRequest();
    await stream(0, BEFORE_LAUNCH);
    assert.deepEqual(bad, []);
    // Launched and stopped on entry: the same stream against a live VM.
    await launch(dc, { program: program('nested.vgpu') }).catch(async () => {
      // A random `launch` may already have started the program: configure it instead.
      await dc.configurationDoneRequest().catch(() => undefined);
    });
    await stream(BEFORE_LAUNCH, TOTAL);
    assert.deepEqual(bad, []);
    assert.equal(answered, TOTAL);
    assert.deepEqual([...internal], [], 'no request reaches an internal error');
    assert.ok(errors > TOTAL / 4, `most malformed requests are refused (${errors} errors)`);
    if (process.env.VGPU_FUZZ_SEED) console.log(`answered ${answered}, errors ${errors}`);
    const t = await dc.threadsRequest();
    assert.deepEqual(
      t.body.threads.map((x: DebugProtocol.Thread) => x.name),
      ['driver', 'rcs0', 'bcs0'],
    );
  });
});
