// Engine stacks and stepping over DAP: frames innermost batch first down to the ring, next over a whole
// batch, stepIn into a batch, stepOut to the caller, granularity, the driver thread, reverse stepping.

import * as assert from 'node:assert/strict';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import {
  DRIVER,
  RCS0,
  BCS0,
  build,
  client,
  digest,
  failure,
  frames,
  launch,
  program,
  repl,
  top,
  untilStop,
} from './client';

describe('adapter: stacks and stepping', function () {
  this.timeout(30000);
  let dc: DebugClient;
  const P = program('nested.vgpu');
  before(build);
  beforeEach(async () => {
    dc = await client();
  });
  afterEach(async () => {
    await dc.stop();
  });

  const lines = async (threadId: number) => (await frames(dc, threadId)).map((f) => f.line);

  it('next on an engine runs until it retires its next command, stepping over a whole batch', async () => {
    await launch(dc, { program: P });
    let s = await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    assert.deepEqual([s.reason, s.threadId], ['step', RCS0]);
    assert.deepEqual(await lines(RCS0), [23], 'the ring MI_NOOP retired; the MI_BATCH_BUFFER_START is next');
    s = await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [24], 'next stepped over the batch and its nested batch');
    assert.equal(await repl(dc, 'x/2x value + 4'), 'va:0x000000140004  0x00000043 0x00000003');
  });

  it("stepIn enters a batch, frames go innermost first with the callers' MI_BATCH_BUFFER_START, stepOut returns", async () => {
    await launch(dc, { program: P });
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    await untilStop(dc, dc.stepInRequest({ threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [16, 23]);
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    await untilStop(dc, dc.stepInRequest({ threadId: RCS0 }));
    const f = await frames(dc, RCS0);
    assert.deepEqual(
      f.map((x) => x.line),
      [11, 17, 23],
    );
    assert.deepEqual(
      f.map((x) => x.instructionPointerReference),
      ['0x120000', '0x110004', '0xfff00004'],
    );
    assert.deepEqual(
      f.map((x) => x.column),
      [5, 5, 5],
    );
    assert.match(f[0].name, /^MI_STORE_DATA_IMM @ inner$/);
    assert.match(f[2].name, /^MI_BATCH_BUFFER_START @ rcs0 ring\+0x4$/);
    assert.equal(f[0].source!.path, P);
    await untilStop(dc, dc.stepOutRequest({ threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [18, 23], 'back in the caller, after its MI_BATCH_BUFFER_START');
    await untilStop(dc, dc.stepOutRequest({ threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [24], 'back on the ring');
  });

  it('stepIn on a command that is not a batch start is next', async () => {
    await launch(dc, { program: P });
    await untilStop(dc, dc.stepInRequest({ threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [23]);
  });

  it('next on the driver thread runs one driver operation', async () => {
    await launch(dc, { program: P });
    const want = [25, 26, 29, 30];
    for (const line of want) {
      const s = await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
      assert.equal(s.threadId, DRIVER);
      assert.equal((await top(dc, DRIVER)).line, line);
    }
    // `.wait all` waits for both engines: one `next` runs them to idle.
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    assert.equal((await top(dc, DRIVER)).line, 31);
    assert.equal(await repl(dc, 'x/4x value'), 'va:0x000000140000  0x00000042 0x00000043 0x00000044 0x00000045');
    assert.match((await top(dc, RCS0)).name, /idle/);
  });

  it('granularity line steps over all commands of a line; instruction steps one', async () => {
    const L = program('lines.vgpu');
    await launch(dc, { program: L });
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    assert.equal((await top(dc, RCS0)).line, 7);
    await untilStop(dc, dc.nextRequest({ threadId: RCS0, granularity: 'instruction' }));
    let f = await top(dc, RCS0);
    assert.deepEqual([f.line, f.instructionPointerReference], [7, '0xfff00008']);
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    f = await top(dc, RCS0);
    assert.deepEqual([f.line, f.instructionPointerReference], [8, '0xfff00010']);
    await untilStop(dc, dc.stepBackRequest({ threadId: RCS0 }));
    f = await top(dc, RCS0);
    assert.deepEqual(
      [f.line, f.instructionPointerReference],
      [7, '0xfff00004'],
      'line step back goes to the start of the line',
    );
    await untilStop(dc, dc.nextRequest({ threadId: RCS0, granularity: 'instruction' }));
    await untilStop(dc, dc.nextRequest({ threadId: RCS0, granularity: 'instruction' }));
    await untilStop(dc, dc.stepBackRequest({ threadId: RCS0, granularity: 'instruction' }));
    assert.equal((await top(dc, RCS0)).instructionPointerReference, '0xfff00008');
  });

  it('stepBack lands on exactly the state forward execution had (digest), over a batch as next does', async () => {
    await launch(dc, { program: P });
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    const before = await digest(dc);
    assert.deepEqual(await lines(RCS0), [23]);
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    const after = await digest(dc);
    assert.notEqual(before, after);
    await untilStop(dc, dc.stepBackRequest({ threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [23], 'stepped back over the whole batch');
    assert.equal(await digest(dc), before);
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    assert.equal(await digest(dc), after, 'and forward again to the same state');
    // Into the batch, then back out of it: the first command of a batch steps back to its start.
    await untilStop(dc, dc.stepBackRequest({ threadId: RCS0 }));
    await untilStop(dc, dc.stepInRequest({ threadId: RCS0 }));
    await untilStop(dc, dc.stepBackRequest({ threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [23]);
    assert.equal(await digest(dc), before);
  });

  it('vgpu/stepBackInto goes back into the batch just returned from: its MI_BATCH_BUFFER_END, then on inside', async () => {
    await launch(dc, { program: P });
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [24], 'past the batch');
    const after = await digest(dc);
    let s = await untilStop(dc, dc.customRequest('vgpu/stepBackInto', { threadId: RCS0 }));
    assert.deepEqual([s.reason, s.threadId], ['step', RCS0]);
    assert.deepEqual(await lines(RCS0), [19, 23], "on outer's MI_BATCH_BUFFER_END, under the ring's start");
    s = await untilStop(dc, dc.customRequest('vgpu/stepBackInto', { threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [18, 23]);
    s = await untilStop(dc, dc.customRequest('vgpu/stepBackInto', { threadId: RCS0 }));
    assert.deepEqual(await lines(RCS0), [13, 17, 23], 'and into the nested batch');
    // Forward again by single commands: back where it started, the same state.
    for (let i = 0; i < 3; i++) await untilStop(dc, dc.nextRequest({ threadId: RCS0, granularity: 'instruction' }));
    assert.deepEqual(await lines(RCS0), [24]);
    assert.equal(await digest(dc), after);
    assert.match(await failure(dc.customRequest('vgpu/stepBackInto', { threadId: 99 })), /no thread/);
  });

  it('stepBack on the driver thread undoes one driver operation; at the beginning it stays', async () => {
    await launch(dc, { program: P });
    const d0 = await digest(dc);
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    await untilStop(dc, dc.stepBackRequest({ threadId: DRIVER }));
    assert.equal((await top(dc, DRIVER)).line, 21);
    assert.equal(await digest(dc), d0);
    const s = await untilStop(dc, dc.stepBackRequest({ threadId: DRIVER }));
    assert.equal(s.description, 'Beginning of the recorded history');
    assert.equal(await digest(dc), d0);
  });

  it('bcs0 has its own stack and steps on its own', async () => {
    await launch(dc, { program: P });
    await untilStop(dc, dc.nextRequest({ threadId: BCS0 }));
    const f = await top(dc, BCS0);
    assert.equal(f.line, 28);
    assert.equal(f.instructionPointerReference, '0xfff8001c');
  });
});
