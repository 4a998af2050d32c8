// The adapter as clients other than VS Code drive it: an `initialize` with only what the DAP
// specification requires, no optional events accepted, and nvim-dap's thread following (a stop on a
// thread other than the one it follows is resumed unless a `continued` event came before it).

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  ADAPTER,
  BCS0,
  DRIVER,
  EXAMPLES,
  RCS0,
  clientPerTest,
  program,
  repl,
  startAdapterServer,
  untilStop,
  type AdapterServer,
} from './client';

const PICTURE = path.join(EXAMPLES, 'picture.vgpu');
const PAGE_FAULT = path.join(EXAMPLES, 'page-fault.vgpu');

/** What a plain client announces: no pathFormat (default 'path'), no invalidated/memory/progress events. */
const PLAIN_INITIALIZE = {
  adapterID: 'vgpu',
  clientID: 'plain',
  linesStartAt1: true,
  columnsStartAt1: true,
} as DebugProtocol.InitializeRequestArguments;

/**
 * nvim-dap's thread following, played over a DebugClient: it remembers the thread it stopped on; a
 * later stop (all threads stopped) on another thread is resumed at once, unless a `continued` event (or
 * a request of its own that resumes) came in between.
 */
class Follower {
  followed: number | undefined;
  readonly log: string[] = [];
  autoContinued = 0;
  private lastEvent = Date.now();

  constructor(private readonly dc: DebugClient) {
    dc.on('continued', (e: DebugProtocol.ContinuedEvent) => {
      this.lastEvent = Date.now();
      this.log.push(`continued ${e.body.threadId}${e.body.allThreadsContinued ? ' all' : ''}`);
      if (e.body.allThreadsContinued !== false || e.body.threadId === this.followed) this.followed = undefined;
    });
    dc.on('stopped', (e: DebugProtocol.StoppedEvent) => {
      this.lastEvent = Date.now();
      this.log.push(`stopped ${e.body.threadId} ${e.body.reason}`);
      if (this.followed !== undefined && this.followed !== e.body.threadId && e.body.allThreadsStopped) {
        this.autoContinued++;
        void dc.continueRequest({ threadId: e.body.threadId ?? DRIVER }).catch(() => undefined);
        return;
      }
      this.followed = e.body.threadId;
    });
  }

  /** A request of the client's own that resumes the VM: it stops following until the next stop. */
  resume<T>(p: Promise<T>): Promise<T> {
    this.followed = undefined;
    return p;
  }

  /** Resolves once no stop or continue has arrived for `ms` (the client's own reactions included). */
  async settled(ms = 400): Promise<void> {
    while (Date.now() - this.lastEvent < ms) await new Promise((r) => setTimeout(r, 50));
  }
}

/** goto, rollback and restart under nvim-dap's thread following: each keeps the position it travelled to. */
async function timeTravelUnderFollowing(dc: DebugClient): Promise<void> {
  const f = new Follower(dc);
  const position = async () => ((await dc.customRequest('vgpu/snapshots')).body as { commands: number }).commands;
  await dc.initializeRequest(PLAIN_INITIALIZE);
  await Promise.all([
    dc.waitForEvent('initialized'),
    dc.launchRequest({ program: PICTURE, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
  ]);
  await dc.setBreakpointsRequest({ source: { path: PICTURE }, breakpoints: [{ line: 21 }] });
  await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
  assert.equal(f.followed, DRIVER);
  const toBreakpoint = async () => {
    await Promise.all([dc.waitForEvent('stopped'), f.resume(dc.continueRequest({ threadId: DRIVER }))]);
    await f.settled();
    assert.equal(f.followed, BCS0, 'the breakpoint is in the bcs0 batch');
    return position();
  };
  const atBreakpoint = await toBreakpoint();
  assert.ok(atBreakpoint > 3);

  // Console `goto T`: a stop on the driver thread while the client follows bcs0.
  f.log.length = 0;
  await Promise.all([dc.waitForEvent('stopped'), repl(dc, 'goto 3')]);
  await f.settled();
  assert.deepEqual(f.log, ['continued 3 all', 'stopped 3 goto']);
  assert.equal(await position(), 3);

  // Console `rollback N`.
  const snaps = ((await dc.customRequest('vgpu/snapshots')).body as { snapshots: { id: number; commands: number }[] })
    .snapshots;
  const first = snaps[0];
  await toBreakpoint();
  f.log.length = 0;
  await Promise.all([dc.waitForEvent('stopped'), repl(dc, `rollback ${first.id}`)]);
  await f.settled();
  assert.deepEqual(f.log, ['continued 3 all', 'stopped 1 goto']);
  assert.equal(await position(), first.commands);

  // vgpu/rollback, the Snapshots view's request.
  await toBreakpoint();
  await Promise.all([dc.waitForEvent('stopped'), dc.customRequest('vgpu/rollback', { id: first.id })]);
  await f.settled();
  assert.equal(await position(), first.commands);

  // restart: the user lands on the entry stop, as configured (stopOnEntry), not on the breakpoint.
  await toBreakpoint();
  f.log.length = 0;
  const [entry] = await Promise.all([
    dc.waitForEvent('stopped'),
    dc.customRequest('restart', { arguments: { program: PICTURE, stopOnEntry: true } }),
  ]);
  await f.settled();
  assert.equal((entry as DebugProtocol.StoppedEvent).body.reason, 'entry');
  assert.deepEqual(f.log, ['continued 3 all', 'stopped 1 entry']);
  assert.equal(await position(), 0);
  assert.equal(f.autoContinued, 0, 'the client never had to resume a stop it did not follow');
}

/**
 * Emacs dap-mode's view: it shows the thread of a stop only if it shows none; a `continued` event drops
 * the shown thread only when its `threadId` is that thread (`allThreadsContinued` is not read).
 */
class ShownThread {
  shown: number | undefined;

  constructor(dc: DebugClient) {
    dc.on('continued', (e: DebugProtocol.ContinuedEvent) => {
      if (e.body.threadId === this.shown) this.shown = undefined;
    });
    dc.on('stopped', (e: DebugProtocol.StoppedEvent) => {
      if (this.shown === undefined) this.shown = e.body.threadId;
    });
  }

  resume<T>(p: Promise<T>): Promise<T> {
    this.shown = undefined;
    return p;
  }
}

/**
 * nvim-dap 0.6's thread following (the last release for Neovim 0.7.2, as Debian ships): like Follower,
 * but a `continued` event changes nothing; only its own resuming requests drop the followed thread.
 */
class OldFollower {
  followed: number | undefined;
  resumed = 0;

  constructor(dc: DebugClient) {
    dc.on('stopped', (e: DebugProtocol.StoppedEvent) => {
      if (this.followed !== undefined && this.followed !== e.body.threadId && e.body.allThreadsStopped) {
        this.resumed++;
        return;
      }
      this.followed = e.body.threadId;
    });
  }

  resume<T>(p: Promise<T>): Promise<T> {
    this.followed = undefined;
    return p;
  }
}

describe('adapter: clients other than VS Code', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it('accepts an initialize without pathFormat (its default is path)', async () => {
    const caps = (await dc.initializeRequest(PLAIN_INITIALIZE)).body!;
    assert.equal(caps.supportsStepBack, true);
    await Promise.all([
      dc.waitForEvent('initialized'),
      dc.launchRequest({ program: PICTURE, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
    ]);
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    const st = await dc.stackTraceRequest({ threadId: DRIVER });
    assert.equal(st.body.stackFrames[0].source?.path, PICTURE, 'paths are native paths');
  });

  it("keeps the time-travel position after goto, rollback and restart under nvim-dap's thread following (adapter as executable)", () =>
    timeTravelUnderFollowing(dc));

  it('puts a stop the client did not request, after a continued naming the thread it shows, on that thread where it has a source line (dap-mode reads only threadId; nvim-dap 0.6 reads no continued)', async () => {
    const view = new ShownThread(dc);
    const old = new OldFollower(dc);
    const events: string[] = [];
    dc.on('continued', (e: DebugProtocol.ContinuedEvent) => events.push(`continued ${e.body.threadId}`));
    dc.on('stopped', (e: DebugProtocol.StoppedEvent) => events.push(`stopped ${e.body.threadId} ${e.body.reason}`));
    const position = async () =>
      (await dc.customRequest('vgpu/snapshots')).body as {
        commands: number;
        snapshots: { id: number; commands: number }[];
      };
    await dc.initializeRequest(PLAIN_INITIALIZE);
    await Promise.all([
      dc.waitForEvent('initialized'),
      dc.launchRequest({ program: PICTURE, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
    ]);
    await dc.setBreakpointsRequest({ source: { path: PICTURE }, breakpoints: [{ line: 21 }] });
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    const toBreakpoint = async () => {
      await Promise.all([
        dc.waitForEvent('stopped'),
        old.resume(view.resume(dc.continueRequest({ threadId: DRIVER }))),
      ]);
      assert.equal(view.shown, BCS0, 'the breakpoint is in the bcs0 batch');
    };
    const unrequested = async (what: string, req: Promise<unknown>, expected: string[], shown: number) => {
      events.length = 0;
      await Promise.all([dc.waitForEvent('stopped'), req]);
      assert.deepEqual(events, expected, what);
      assert.equal(view.shown, shown, `${what}: dap-mode shows the thread of the new stop`);
    };

    // goto 3: bcs0 has a source line there; the stop stays on it, and nvim-dap 0.6 does not resume it.
    await toBreakpoint();
    await unrequested('goto 3', repl(dc, 'goto 3'), [`continued ${BCS0}`, `stopped ${BCS0} goto`], BCS0);
    const [top] = (await dc.stackTraceRequest({ threadId: BCS0 })).body.stackFrames;
    assert.equal(top.source?.path, PICTURE);
    assert.equal((await position()).commands, 3);
    assert.equal(old.resumed, 0, 'nvim-dap 0.6 followed the stop');

    // goto 0: bcs0 has no ring yet, so the driver's line; shown the driver, the next one names it.
    await unrequested('goto 0', repl(dc, 'goto 0'), [`continued ${BCS0}`, `stopped ${DRIVER} goto`], DRIVER);
    await unrequested('goto 2', repl(dc, 'goto 2'), [`continued ${DRIVER}`, `stopped ${DRIVER} goto`], DRIVER);

    // vgpu/rollback to a snapshot taken where bcs0 runs its batch (made here with vgpu/snapshot).
    await toBreakpoint();
    const snap = ((await dc.customRequest('vgpu/snapshot')).body as { snapshot: { id: number; commands: number } })
      .snapshot;
    await untilStop(dc, old.resume(view.resume(dc.nextRequest({ threadId: BCS0 }))));
    await unrequested(
      'vgpu/rollback',
      dc.customRequest('vgpu/rollback', { id: snap.id }),
      [`continued ${BCS0}`, `stopped ${BCS0} goto`],
      BCS0,
    );
    assert.equal((await position()).commands, snap.commands);

    // restart: the entry stop is the driver's, as at launch.
    await unrequested(
      'restart',
      dc.customRequest('restart', { arguments: { program: PICTURE, stopOnEntry: true } }),
      [`continued ${BCS0}`, `stopped ${DRIVER} entry`],
      DRIVER,
    );
  });

  it("takes an empty array or null as no arguments (Lua encodes nvim-dap's `{}` as `[]`), and still refuses other non-objects", async () => {
    await dc.initializeRequest(PLAIN_INITIALIZE);
    await Promise.all([
      dc.waitForEvent('initialized'),
      dc.launchRequest({ program: PICTURE, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
    ]);
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    for (const args of [[], null]) {
      const r = await dc.send('vgpu/snapshots', args);
      assert.equal((r.body as { commands: number }).commands, 0, `vgpu/snapshots with ${JSON.stringify(args)}`);
      assert.equal((await dc.send('threads', args)).body.threads.length, 3);
    }
    await assert.rejects(dc.send('vgpu/snapshots', [1]), /arguments must be an object/);
    await assert.rejects(dc.send('vgpu/snapshots', 'x'), /arguments must be an object/);
  });

  it('sends no invalidated or memory events to a client that did not accept them, and makes it refetch by a stop instead', async () => {
    const seen: string[] = [];
    for (const e of ['invalidated', 'memory', 'stopped', 'continued']) dc.on(e, () => seen.push(e));
    await dc.initializeRequest(PLAIN_INITIALIZE);
    await Promise.all([
      dc.waitForEvent('initialized'),
      dc.launchRequest({ program: PICTURE, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
    ]);
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    seen.length = 0;
    // An edit and a memory write would each send invalidated (and memory) to VS Code.
    await Promise.all([
      dc.waitForEvent('stopped'),
      dc.customRequest('setExpression', { expression: 'bcs0.CS_GPR0', value: '0x5' }),
    ]);
    await Promise.all([
      dc.waitForEvent('stopped'),
      dc.customRequest('writeMemory', {
        memoryReference: 'gpa:0x3000000',
        data: Buffer.from([1, 2, 3, 4]).toString('base64'),
      }),
    ]);
    assert.deepEqual(seen, ['continued', 'stopped', 'continued', 'stopped']);
    assert.equal(await repl(dc, 'bcs0.CS_GPR0'), '0x00000005');
  });

  it('sends invalidated and memory events to a client that accepts them, and no extra stop', async () => {
    const seen: string[] = [];
    for (const e of ['invalidated', 'memory', 'stopped', 'continued']) dc.on(e, () => seen.push(e));
    await dc.initializeRequest({ ...PLAIN_INITIALIZE, supportsInvalidatedEvent: true, supportsMemoryEvent: true });
    await Promise.all([
      dc.waitForEvent('initialized'),
      dc.launchRequest({ program: PICTURE, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
    ]);
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    seen.length = 0;
    await Promise.all([
      dc.waitForEvent('invalidated'),
      dc.customRequest('setExpression', { expression: 'bcs0.CS_GPR0', value: '0x5' }),
    ]);
    await Promise.all([
      dc.waitForEvent('invalidated'),
      dc.customRequest('writeMemory', {
        memoryReference: 'gpa:0x3000000',
        data: Buffer.from([1, 2, 3, 4]).toString('base64'),
      }),
    ]);
    assert.deepEqual(seen, ['invalidated', 'memory', 'invalidated']);
  });

  it('every frame has a source or is a label: the start of history and the finished program say so', async () => {
    const all = async () => {
      const out: DebugProtocol.StackFrame[] = [];
      for (const t of [DRIVER, RCS0, BCS0]) out.push(...(await dc.stackTraceRequest({ threadId: t })).body.stackFrames);
      for (const fr of out)
        assert.ok(
          fr.source?.path || fr.presentationHint === 'label',
          `frame '${fr.name}' has neither a source nor the label hint`,
        );
      return out;
    };
    await dc.initializeRequest(PLAIN_INITIALIZE);
    await Promise.all([
      dc.waitForEvent('initialized'),
      dc.launchRequest({ program: PAGE_FAULT, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
    ]);
    await dc.setExceptionBreakpointsRequest({ filters: ['page-fault'] });
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    assert.ok(
      (await all()).some((fr) => /start of the recorded history/.test(fr.name)),
      'engines with no ring yet, at the start',
    );
    const fault = (
      await Promise.all([dc.waitForEvent('stopped'), dc.continueRequest({ threadId: DRIVER })])
    )[0] as DebugProtocol.StoppedEvent;
    assert.equal(fault.body.reason, 'exception');
    // Back to the start of history from the faulting engine's thread: the stop is on a thread with a source line.
    const start = (
      await Promise.all([
        dc.waitForEvent('stopped'),
        dc.customRequest('reverseContinue', { threadId: fault.body.threadId }),
      ])
    )[0] as DebugProtocol.StoppedEvent;
    assert.equal(start.body.description, 'Beginning of the recorded history');
    const [topFrame] = (await dc.stackTraceRequest({ threadId: start.body.threadId! })).body.stackFrames;
    assert.equal(topFrame.source?.path, PAGE_FAULT);
    assert.ok(topFrame.line > 0);
    await all();
    // To the end (the fault filter off): the driver's frame says the program finished.
    await dc.setExceptionBreakpointsRequest({ filters: [] });
    const end = (
      await Promise.all([dc.waitForEvent('stopped'), dc.continueRequest({ threadId: DRIVER })])
    )[0] as DebugProtocol.StoppedEvent;
    assert.equal(end.body.description, 'Program finished');
    const frames = await all();
    const done = frames.find((fr) => /Program finished/.test(fr.name));
    assert.ok(done, 'a frame named Program finished');
    assert.equal(done.presentationHint, 'label');
  });

  it('a reverse continue over 1e7 commands shows progress and is cancelled within 100 ms, at a reported position', async function () {
    this.timeout(240000);
    const progress: DebugProtocol.Event[] = [];
    for (const e of ['progressStart', 'progressUpdate', 'progressEnd'])
      dc.on(e, (ev: DebugProtocol.Event) => progress.push(ev));
    const caps = (await dc.initializeRequest({ ...PLAIN_INITIALIZE, supportsProgressReporting: true })).body!;
    assert.equal(caps.supportsCancelRequest, true);
    await Promise.all([
      dc.waitForEvent('initialized'),
      dc.launchRequest({
        program: program('spin.vgpu'),
        stopOnEntry: true,
        watchdog: 10_000_000,
      } as DebugProtocol.LaunchRequestArguments),
    ]);
    await dc.setExceptionBreakpointsRequest({ filters: ['hang'] });
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    // "Who last wrote CS_GPR0?": nothing in this program does, so every motion checks each step to the end of its way.
    const info = (await dc.customRequest('dataBreakpointInfo', { name: 'rcs0.CS_GPR0' }))
      .body as DebugProtocol.DataBreakpointInfoResponse['body'];
    await dc.customRequest('setDataBreakpoints', { breakpoints: [{ dataId: info.dataId }] });
    const position = async () => ((await dc.customRequest('vgpu/snapshots')).body as { commands: number }).commands;

    /** Starts `req`, cancels it by its progress id once progress shows, and times the stop that follows. */
    const cancelled = async (req: () => Promise<unknown>) => {
      progress.length = 0;
      const started = dc.waitForEvent('progressStart', 20000) as Promise<DebugProtocol.ProgressStartEvent>;
      await req();
      const start = await started;
      assert.equal(start.body.cancellable, true);
      const stopped = dc
        .waitForEvent('stopped')
        .then((e) => ({ e: e as DebugProtocol.StoppedEvent, at: performance.now() }));
      const ended = dc.waitForEvent('progressEnd');
      const t0 = performance.now();
      await dc.customRequest('cancel', { progressId: start.body.progressId });
      const { e, at } = await stopped;
      await ended;
      return { stop: e.body, ms: at - t0 };
    };

    // A run towards a far stop (the watchdog at t=1e7) is cancelled where it is; continue goes on from there.
    const run = await cancelled(() => dc.continueRequest({ threadId: DRIVER }));
    assert.ok(run.ms < 100, `the run stopped ${run.ms.toFixed(1)} ms after the cancel`);
    assert.equal(run.stop.description, 'Cancelled');
    const here = await position();
    assert.ok(here > 0 && here < 10_000_000);
    assert.match(run.stop.text ?? '', new RegExp(`cancelled at t=${here} `));
    const t0 = performance.now();
    const hang = (
      await Promise.all([dc.waitForEvent('stopped', 200000), dc.continueRequest({ threadId: DRIVER })])
    )[0] as DebugProtocol.StoppedEvent;
    const forwardMs = performance.now() - t0;
    assert.equal(hang.body.reason, 'exception');
    const end = await position();
    assert.ok(end >= 10_000_000 - 10, `the watchdog fires at 1e7 commands (t=${end})`);

    // Reverse continue from t=1e7 searches all history back: cancel it once it shows progress. A data
    // breakpoint alone lets it pass over the epochs that wrote nothing watched (here: all of them, at
    // once); a function breakpoint on a command the program never runs makes it replay every step.
    await dc.customRequest('setFunctionBreakpoints', { breakpoints: [{ name: 'MI_ATOMIC' }] });
    const back = await cancelled(() => dc.customRequest('reverseContinue', { threadId: RCS0 }));
    assert.ok(back.ms < 100, `the reverse continue stopped ${back.ms.toFixed(1)} ms after the cancel`);
    assert.equal(back.stop.description, 'Cancelled');
    assert.ok(progress.some((p) => p.event === 'progressStart') && progress.at(-1)!.event === 'progressEnd');
    const at = await position();
    assert.ok(at < end, 'the search had gone back in time');
    assert.match(back.stop.text ?? '', new RegExp(`cancelled at t=${at} `), 'the stop says where the VM is');
    const [frame] = (await dc.stackTraceRequest({ threadId: back.stop.threadId! })).body.stackFrames;
    assert.equal(frame.source?.path, program('spin.vgpu'), 'a consistent position: a frame on a source line');
    console.log(
      `      forward to t=${end}: ${forwardMs.toFixed(0)} ms; run cancelled in ${run.ms.toFixed(1)} ms; reverse continue cancelled in ${back.ms.toFixed(1)} ms at t=${at}`,
    );
  });
});

describe("adapter: nvim-dap's thread following, the adapter as a server (--server=PORT)", function () {
  this.timeout(30000);
  let server: AdapterServer;
  let port = 0;
  before(async () => {
    server = await startAdapterServer();
    port = server.port;
  });
  after(() => server.stop());

  it('keeps the time-travel position after goto, rollback and restart', async () => {
    const dc = new DebugClient('node', ADAPTER, 'vgpu');
    dc.defaultTimeout = 10000;
    await dc.start(port);
    try {
      await timeTravelUnderFollowing(dc);
    } finally {
      await dc.stop();
    }
  });
});
