// Reverse continue to a data breakpoint passes over the epochs whose undo logs hold no record of the
// watched page (and that wrote no watched register), replaying only the candidates, and lands where
// forward execution stops (digests compared).

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { DRIVER, clientPerTest, digest, launch, repl, untilStop } from './client';

/** `early` written at t=2, then `calls` x 1000 commands writing another page; with `again`, `early` written once more midway. */
function source(calls: number, again: boolean): string {
  const lines = [
    '.vm memory=64M',
    '.map 0x100000, 0x100000, 64K, rw',
    '.map 0x200000, 0x200000, 64K, rw',
    '.map 0x300000, 0x300000, 4K, rw',
    '.data 0x300000',
    'early: dword 0',
    '.batch first, 0x100000',
    '    MI_NOOP',
    '    MI_STORE_DATA_IMM addr=early, data=7',
    '    MI_BATCH_BUFFER_END',
    '.batch work, 0x108000',
  ];
  for (let i = 0; i < 1000; i++) lines.push(`    MI_STORE_DATA_IMM addr=0x200010, data=${i}`);
  lines.push(
    '    MI_BATCH_BUFFER_END',
    '.batch late, 0x10c000',
    '    MI_STORE_DATA_IMM addr=early, data=9',
    '    MI_BATCH_BUFFER_END',
    '.ring rcs0',
    '    MI_BATCH_BUFFER_START addr=first',
    '.submit rcs0',
    '.wait rcs0',
  );
  for (let c = 0; c < calls; c += 100) {
    lines.push('.ring rcs0');
    for (let k = 0; k < 100; k++) lines.push('    MI_BATCH_BUFFER_START addr=work');
    lines.push('.submit rcs0', '.wait rcs0');
    if (again && c === calls / 2)
      lines.push('.ring rcs0', '    MI_BATCH_BUFFER_START addr=late', '.submit rcs0', '.wait rcs0');
  }
  return lines.join('\n') + '\n';
}

describe('adapter: reverse continue passes over epochs that cannot hold a watched write', function () {
  this.timeout(120000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-skip-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const remap of [false, true]) {
    it(
      remap
        ? 'a write midway, then the one at t=2: each where forward execution stopped'
        : 'a write at t=2 found back from t=200,000 in a fraction of the replay',
      async () => {
        const file = path.join(dir, remap ? 'again.vgpu' : 'early.vgpu');
        fs.writeFileSync(file, source(200, remap));
        await launch(dc, { program: file, stopOnEntry: true });
        const info = await dc.dataBreakpointInfoRequest({ name: 'early' });
        await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId! }] });
        // Forward: the state after the last write of `early`.
        const states: string[] = [];
        for (;;) {
          const s = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
          if (s.reason !== 'data breakpoint') break;
          states.push(await digest(dc));
        }
        assert.equal(states.length, remap ? 2 : 1);
        const t0 = performance.now();
        const s = await untilStop(dc, dc.reverseContinueRequest({ threadId: DRIVER }));
        const ms = performance.now() - t0;
        assert.equal(s.reason, 'data breakpoint');
        assert.equal(await digest(dc), states.at(-1));
        assert.match(await repl(dc, 'x/1d early'), remap ? /\s9$/ : /\s7$/);
        if (remap) {
          assert.equal(
            (await untilStop(dc, dc.reverseContinueRequest({ threadId: DRIVER }))).reason,
            'data breakpoint',
          );
          assert.equal(await digest(dc), states[0]);
        }
        if (!remap) assert.ok(ms < 3000, `reverse continue took ${ms.toFixed(0)} ms`);
      },
    );
  }
});
