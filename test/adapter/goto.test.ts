// Jump to Cursor as time travel (gotoTargets/goto): forward to a line's next run, back to its latest,
// the same state as a breakpoint there; lines that run nothing have no targets; bad targets are errors.

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { ADAPTER, BCS0, DRIVER, EXAMPLES, ROOT, clientPerTest, digest, launch, top, untilStop } from './client';

const PICTURE = path.join(EXAMPLES, 'picture.vgpu');
const source = { path: PICTURE };

describe('adapter: goto (time travel to a line)', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  const targets = async (line: number) =>
    ((await dc.customRequest('gotoTargets', { source, line })) as DebugProtocol.GotoTargetsResponse).body.targets;
  const goto = (threadId: number, targetId: number) => untilStop(dc, dc.customRequest('goto', { threadId, targetId }));

  it('goto targets, forward and back, equal the breakpoint state; no earlier run leaves the VM where it is', async () => {
    const ref = new DebugClient('node', ADAPTER, 'vgpu', { cwd: ROOT }, true);
    await ref.start();
    await launch(ref, { program: PICTURE }, () => ref.setBreakpointsRequest({ source, breakpoints: [{ line: 21 }] }));
    await untilStop(ref, ref.continueRequest({ threadId: DRIVER }));
    const want = await digest(ref);
    await ref.stop();

    await launch(dc, { program: PICTURE });
    assert.deepEqual(await targets(3), [], 'a comment line runs nothing');
    const t = await targets(21);
    assert.equal(t.length, 2);
    assert.ok(t.every((x) => x.line === 21));
    const [back, forward] = t;
    let s = await goto(BCS0, forward.id);
    assert.deepEqual([s.reason, s.threadId], ['goto', BCS0]);
    assert.equal((await top(dc, BCS0)).line, 21);
    assert.equal(await digest(dc), want, 'forward: the breakpoint state');
    // On to the end, then back in time to line 21.
    await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    s = await goto(BCS0, back.id);
    assert.deepEqual([s.reason, s.threadId], ['goto', BCS0]);
    assert.equal((await top(dc, BCS0)).line, 21);
    assert.equal(await digest(dc), want, 'back: the same state');
    // It did not run before that: the VM stays.
    s = await goto(BCS0, back.id);
    assert.match(s.description ?? '', /did not run earlier/);
    assert.equal(await digest(dc), want);
    // The driver's .submit line is a target too; its thread is the driver.
    const submit = await targets(32);
    s = await goto(DRIVER, submit[0].id);
    assert.deepEqual([s.reason, s.threadId], ['goto', DRIVER]);
  });

  it('bad goto requests get error responses', async () => {
    await launch(dc, { program: PICTURE });
    await assert.rejects(dc.customRequest('goto', { threadId: BCS0, targetId: 'x' }), /targetId/);
    await assert.rejects(dc.customRequest('goto', { threadId: BCS0, targetId: 2 * 3 + 1 }), /runs nothing/);
    await assert.rejects(dc.customRequest('gotoTargets', { line: 21 }), /source\.path/);
    assert.deepEqual(
      (
        (await dc.customRequest('gotoTargets', {
          source: { path: '/elsewhere.vgpu' },
          line: 21,
        })) as DebugProtocol.GotoTargetsResponse
      ).body.targets,
      [],
    );
  });
});
