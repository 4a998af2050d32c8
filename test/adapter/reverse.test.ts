// Reverse execution over DAP: reverseContinue to the latest earlier breakpoint hit, "who last wrote this?"
// with data breakpoints on memory and registers, landing on exactly the state forward execution had.

import * as assert from 'node:assert/strict';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { DRIVER, RCS0, digest, launch, program, repl, top, untilStop, clientPerTest } from './client';

const C = program('counter.vgpu');

describe('adapter: reverse execution', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  const cont = () => untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
  const back = () => untilStop(dc, dc.reverseContinueRequest({ threadId: DRIVER }));

  it('reverseContinue stops at the latest earlier breakpoint hit, in the same state as going forward', async () => {
    await launch(dc, { program: C }, (d) =>
      d.setBreakpointsRequest({ source: { path: C }, breakpoints: [{ line: 14 }] }),
    );
    await cont();
    const firstHit = await digest(dc);
    await cont();
    const secondHit = await digest(dc);
    assert.equal((await cont()).description, 'Program finished');
    let s = await back();
    assert.deepEqual([s.reason, s.threadId], ['breakpoint', RCS0]);
    assert.equal((await top(dc, RCS0)).line, 14);
    assert.equal(await digest(dc), secondHit);
    s = await back();
    assert.equal(await digest(dc), firstHit);
    s = await back();
    assert.equal(s.reason, 'entry', 'no earlier hit: the beginning of the recorded history');
    assert.equal((await top(dc, DRIVER)).line, 21);
    // Forward again reaches the same states.
    await cont();
    assert.equal(await digest(dc), firstHit);
  });

  it('"who last wrote this address?": reverseContinue with a data breakpoint stops right after the last write', async () => {
    await launch(dc, { program: C });
    // Forward: the state right after the 8th (last) write of counter.
    const info = await dc.dataBreakpointInfoRequest({ name: 'counter' });
    await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId! }] });
    let s;
    for (let i = 0; i < 8; i++) {
      s = await cont();
      assert.equal(s.reason, 'data breakpoint');
    }
    const lastWrite = await digest(dc);
    assert.equal(await repl(dc, 'x/1d counter'), 'va:0x000000108000  8');
    assert.equal((await cont()).description, 'Program finished');
    // Back from the end: one click finds it.
    s = await back();
    assert.deepEqual([s.reason, s.threadId], ['data breakpoint', RCS0]);
    assert.equal((await top(dc, RCS0)).line, 17, 'just after the MI_ATOMIC of line 16');
    assert.equal(await digest(dc), lastWrite);
    s = await back();
    assert.equal((await top(dc, RCS0)).line, 15, 'the write before: line 14');
    assert.equal(await repl(dc, 'x/1d counter'), 'va:0x000000108000  7');
  });

  it('"who last wrote this register?": reverseContinue with a register data breakpoint', async () => {
    await launch(dc, { program: C, stopOnEntry: false });
    await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: 'reg:rcs0.CS_GPR2' }] });
    const s = await back();
    assert.equal(s.reason, 'data breakpoint');
    const f = await top(dc, RCS0);
    assert.equal(f.line, 16);
    assert.equal(await repl(dc, 'CS_GPR2', f.id), '0x00000022');
    // The previous write was in the first call of the batch: further back, CS_GPR2 is still 0x22 before it.
    await back();
    assert.equal((await top(dc, RCS0)).line, 16);
    assert.equal(await repl(dc, 'x/1d counter'), 'va:0x000000108000  3');
  });

  it('stepBack and next alternate over many steps without drift', async () => {
    await launch(dc, { program: C });
    await untilStop(dc, dc.stepInRequest({ threadId: RCS0 }));
    assert.equal((await top(dc, RCS0)).line, 11, 'inside the batch');
    const states: string[] = [await digest(dc)];
    for (let i = 0; i < 8; i++) {
      await untilStop(dc, dc.nextRequest({ threadId: RCS0, granularity: 'instruction' }));
      states.push(await digest(dc));
    }
    assert.equal((await top(dc, RCS0)).line, 19);
    for (let i = 7; i >= 0; i--) {
      await untilStop(dc, dc.stepBackRequest({ threadId: RCS0, granularity: 'instruction' }));
      assert.equal(await digest(dc), states[i], `back to step ${i}`);
    }
  });
});
