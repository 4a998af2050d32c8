// Every example under examples/, driven the way a generic DAP client does: an `initialize` with no
// `pathFormat`, no `supportsInvalidatedEvent`, no progress or memory events; the client follows the
// thread of the last stop and takes a stop it did not ask for only after a `continued`. Launch, stop on
// entry, step, step back (to the very same state), continue to the end, and no event it did not accept.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { DRIVER, EXAMPLES, clientPerTest, digest } from './client';

const GENERIC = {
  adapterID: 'vgpu',
  clientID: 'generic',
  linesStartAt1: true,
  columnsStartAt1: true,
} as DebugProtocol.InitializeRequestArguments;
/** Events a client that accepted nothing optional understands. */
const ACCEPTED = new Set([
  'initialized',
  'stopped',
  'continued',
  'output',
  'breakpoint',
  'terminated',
  'exited',
  'thread',
]);
/** The examples whose program makes a GPU error (each is rolled back by the continue after it). */
const FAULTING = new Set([
  'hang.vgpu',
  'isolation-violation.vgpu',
  'page-fault.vgpu',
  'privileged-register.vgpu',
  'version-rejected.vgpu',
]);
const EXAMPLE_FILES = fs
  .readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.vgpu'))
  .sort();

/** The generic client's view of the session: the thread it follows, and what it would not understand. */
class GenericClient {
  followed: number | undefined;
  readonly stray: string[] = [];
  stops = 0;
  private asked = false;
  private announced = false;

  constructor(private readonly dc: DebugClient) {
    for (const name of [
      'invalidated',
      'memory',
      'progressStart',
      'progressUpdate',
      'progressEnd',
      'capabilities',
      'process',
      'loadedSource',
      'module',
    ]) {
      dc.on(name, () => this.stray.push(name));
    }
    dc.on('continued', () => (this.announced = true));
    dc.on('stopped', (e: DebugProtocol.StoppedEvent) => {
      this.stops++;
      if (!this.asked && !this.announced)
        this.stray.push(`stopped ${e.body.reason} with neither a request nor a continued before it`);
      if (e.body.threadId === undefined) this.stray.push('stopped without a thread');
      this.followed = e.body.threadId;
      this.asked = false;
      this.announced = false;
    });
  }

  /** A request of its own that resumes the VM: the next stop answers it. */
  async resume(req: () => Promise<unknown>): Promise<DebugProtocol.StoppedEvent['body'] | 'terminated'> {
    this.asked = true;
    const stop = Promise.race([
      this.dc.waitForEvent('stopped').then((e) => (e as DebugProtocol.StoppedEvent).body),
      this.dc.waitForEvent('terminated').then(() => 'terminated' as const),
    ]);
    await req();
    return stop;
  }

  /** Every frame of the followed thread has a source on a line, or tells the client not to look for one. */
  async frames(): Promise<DebugProtocol.StackFrame[]> {
    const frames = (await this.dc.stackTraceRequest({ threadId: this.followed! })).body.stackFrames;
    assert.ok(frames.length > 0, 'the followed thread has a frame');
    for (const f of frames)
      assert.ok(
        (f.source?.path && f.line > 0) || f.presentationHint === 'label',
        `frame '${f.name}' has neither a source line nor the label hint`,
      );
    return frames;
  }
}

describe('adapter: every example under a generic DAP client', function () {
  this.timeout(60000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it('there are eleven examples', () => assert.equal(EXAMPLE_FILES.length, 11, EXAMPLE_FILES.join(', ')));

  for (const name of EXAMPLE_FILES) {
    it(`${name}: launch, stop on entry, step, step back to the same state, continue to the end, no stray event`, async () => {
      const file = path.join(EXAMPLES, name);
      const client = new GenericClient(dc);
      const caps = (await dc.initializeRequest(GENERIC)).body!;
      assert.equal(caps.supportsStepBack, true);
      await Promise.all([
        dc.waitForEvent('initialized'),
        dc.launchRequest({ program: file, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
      ]);
      const entry = await client.resume(() => dc.configurationDoneRequest());
      assert.ok(entry !== 'terminated');
      assert.equal(entry.reason, 'entry');
      assert.equal(entry.threadId, DRIVER);
      const [top] = await client.frames();
      assert.equal(top.source?.path, file, 'the entry stop is on the program');
      const atEntry = await digest(dc);

      const step = await client.resume(() => dc.nextRequest({ threadId: client.followed! }));
      assert.ok(step !== 'terminated', 'a step from the entry does not end the session');
      await client.frames();
      assert.notEqual(await digest(dc), atEntry, 'the step moved the VM');
      const back = await client.resume(() => dc.stepBackRequest({ threadId: client.followed! }));
      assert.ok(back !== 'terminated');
      await client.frames();
      assert.equal(await digest(dc), atEntry, 'step back lands on the state the step left');

      // To the end: GPU errors stop on the way (their exception filters are on by default); continue rolls each back.
      const reasons: string[] = [];
      let finished = false;
      for (let i = 0; i < 20 && !finished; i++) {
        const s = await client.resume(() => dc.continueRequest({ threadId: client.followed! }));
        assert.ok(s !== 'terminated', 'the last stop comes before the session ends');
        reasons.push(s.reason);
        await client.frames();
        finished = s.description === 'Program finished';
      }
      assert.ok(finished, `${name} runs to its end (stops: ${reasons.join(', ')})`);
      assert.deepEqual(
        reasons,
        FAULTING.has(name) ? ['exception', 'pause'] : ['pause'],
        'one stop on its GPU error, if it has one, then the end',
      );
      assert.equal(
        await client.resume(() => dc.continueRequest({ threadId: client.followed! })),
        'terminated',
        'continue from the end ends the session',
      );
      assert.deepEqual(client.stray, [], 'no event the client did not accept, no unannounced stop');
    });
  }
});
