// Adapter life cycle over DAP: capabilities, launch validation, stopOnEntry, threads, end of program,
// restart, terminate, loaded sources, and the TCP server mode.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  ADAPTER,
  DRIVER,
  failure,
  launch,
  program,
  top,
  untilStop,
  clientPerTest,
  startAdapterServer,
  type AdapterServer,
} from './client';

describe('adapter: life cycle', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it('advertises what it implements, with the six GPU error filters on by default and not-emulated off', async () => {
    const r = await dc.initializeRequest();
    const c = r.body!;
    for (const k of [
      'supportsConfigurationDoneRequest',
      'supportsStepBack',
      'supportsConditionalBreakpoints',
      'supportsHitConditionalBreakpoints',
      'supportsLogPoints',
      'supportsFunctionBreakpoints',
      'supportsDataBreakpoints',
      'supportsInstructionBreakpoints',
      'supportsExceptionInfoRequest',
      'supportsSetVariable',
      'supportsEvaluateForHovers',
      'supportsCompletionsRequest',
      'supportsReadMemoryRequest',
      'supportsWriteMemoryRequest',
      'supportsDisassembleRequest',
      'supportsSteppingGranularity',
      'supportsRestartRequest',
      'supportsTerminateRequest',
      'supportsLoadedSourcesRequest',
      'supportsValueFormattingOptions',
    ] as const)
      assert.equal(c[k], true, k);
    assert.deepEqual(
      c.exceptionBreakpointFilters!.map((f) => [f.filter, f.default]),
      [
        ['invalid-command', true],
        ['page-fault', true],
        ['ept-violation', true],
        ['isolation-violation', true],
        ['privileged-register', true],
        ['hang', true],
        ['not-emulated', false],
      ],
    );
  });

  it('fails the launch of a program with errors, naming file, line, column and cause', async () => {
    await dc.initializeRequest();
    const [msg, out] = await Promise.all([
      failure(dc.launchRequest({ program: program('bad.vgpu') } as DebugProtocol.LaunchRequestArguments)),
      dc.waitForEvent('output'),
    ]);
    assert.match(msg, /bad\.vgpu:4:5: error: unknown command 'MI_FROBNICATE'/);
    assert.match((out as DebugProtocol.OutputEvent).body.output, /\^/, 'the console shows the line with a caret');
    // The session stays usable: threads still answers.
    assert.equal((await dc.threadsRequest()).body.threads.length, 3);
  });

  it('a program of huge lines fails its launch in a few lines: source lines cut around the caret, at most 50 (the program fuzz: each error printed its whole line)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-launch-'));
    const file = path.join(dir, 'wide.vgpu');
    fs.writeFileSync(file, Array.from({ length: 200 }, (_, i) => `MI_BOGUS_${i}_${'X'.repeat(20_000)}`).join('\n'));
    await dc.initializeRequest();
    const outputs: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => outputs.push(e.body.output));
    const msg = await failure(dc.launchRequest({ program: file } as DebugProtocol.LaunchRequestArguments));
    await dc.threadsRequest();
    assert.ok(msg.length < 2000, `a ${msg.length}-character launch error`);
    const out = outputs.join('');
    assert.match(out, /wide\.vgpu:1:1: error: [^\n]+\n {2}MI_BOGUS_0_X{80,100}\.\.\.\n {2}\^/);
    assert.match(out, /too many errors: 150 more errors not shown/);
    assert.ok(out.length < 32 * 1024, `${out.length} characters of output`);
  });

  it('fails the launch on a missing file and on bad options, with the cause', async () => {
    await dc.initializeRequest();
    assert.match(
      await failure(dc.launchRequest({ program: program('nope.vgpu') } as DebugProtocol.LaunchRequestArguments)),
      /nope\.vgpu: no such file/,
    );
    assert.match(
      await failure(
        dc.launchRequest({ program: program('nested.vgpu'), hostGen: 4 } as DebugProtocol.LaunchRequestArguments),
      ),
      /'hostGen' must be one of 1, 2, 3/,
    );
    assert.match(
      await failure(
        dc.launchRequest({ program: program('nested.vgpu'), memory: 'lots' } as DebugProtocol.LaunchRequestArguments),
      ),
      /'memory' must match/,
    );
    assert.match(
      await failure(
        dc.launchRequest({
          program: program('nested.vgpu'),
          stopOnEntry: 'yes',
        } as DebugProtocol.LaunchRequestArguments),
      ),
      /'stopOnEntry' must be true or false/,
    );
    assert.match(
      await failure(
        dc.launchRequest({
          program: program('nested.vgpu'),
          hostGen: 1,
          deviceVersion: 2,
        } as DebugProtocol.LaunchRequestArguments),
      ),
      /device version 2 is newer than this host/,
    );
    assert.match(
      await failure(
        dc.launchRequest({
          program: program('nested.vgpu'),
          hostGen: 1,
          isolation: true,
        } as DebugProtocol.LaunchRequestArguments),
      ),
      /isolation/,
    );
    assert.match(
      await failure(dc.launchRequest({} as DebugProtocol.LaunchRequestArguments)),
      /'program' must name a \.vgpu file/,
    );
  });

  it('stops on entry on the driver thread, and lists driver, rcs0 and bcs0', async () => {
    const stop = await launch(dc, { program: program('nested.vgpu') });
    assert.equal(stop.body.reason, 'entry');
    assert.equal(stop.body.threadId, DRIVER);
    assert.deepEqual(
      (await dc.threadsRequest()).body.threads.map((t) => [t.id, t.name]),
      [
        [1, 'driver'],
        [2, 'rcs0'],
        [3, 'bcs0'],
      ],
    );
    const f = await top(dc, DRIVER);
    assert.equal(f.line, 21);
    assert.equal(f.name, '.ring rcs0');
  });

  it('runs to the end without stopOnEntry, pauses there, and a further continue terminates', async () => {
    const stop = await launch(dc, { program: program('nested.vgpu'), stopOnEntry: false });
    assert.equal(stop.body.reason, 'pause');
    assert.equal(stop.body.description, 'Program finished');
    assert.match(stop.body.text!, /completed after 12 commands/);
    await Promise.all([dc.waitForEvent('terminated'), dc.continueRequest({ threadId: DRIVER })]);
  });

  it('restarts from the beginning, keeping breakpoints', async () => {
    await launch(dc, { program: program('nested.vgpu') }, (d) =>
      d.setBreakpointsRequest({ source: { path: program('nested.vgpu') }, breakpoints: [{ line: 18 }] }),
    );
    let s = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(s.reason, 'breakpoint');
    const [stop] = await Promise.all([
      dc.waitForEvent('stopped'),
      dc.restartRequest({
        arguments: { program: program('nested.vgpu'), stopOnEntry: true },
      } as DebugProtocol.RestartArguments),
    ]);
    assert.equal((stop as DebugProtocol.StoppedEvent).body.reason, 'entry');
    s = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(s.reason, 'breakpoint');
    assert.equal((await top(dc, 2)).line, 18);
  });

  it('terminates on request, and lists the program as its loaded source', async () => {
    await launch(dc, { program: program('nested.vgpu') });
    const src = await dc.send('loadedSources', {});
    assert.deepEqual(
      src.body.sources.map((s: DebugProtocol.Source) => s.path),
      [program('nested.vgpu')],
    );
    await Promise.all([dc.waitForEvent('terminated'), dc.terminateRequest()]);
  });

  it('pauses a program that runs forever', async () => {
    await launch(dc, { program: program('spin.vgpu'), watchdog: 1e9 });
    await dc.continueRequest({ threadId: DRIVER });
    await new Promise((r) => setTimeout(r, 200));
    const s = await untilStop(dc, dc.pauseRequest({ threadId: DRIVER }));
    assert.equal(s.reason, 'pause');
    assert.ok(
      Number((await dc.evaluateRequest({ expression: '$commands', context: 'watch' })).body.result.split(' ')[0]) >
        1000,
    );
  });
});

describe('adapter: --server=PORT', function () {
  this.timeout(30000);
  let server: AdapterServer;
  let port = 0;
  before(async () => {
    server = await startAdapterServer();
    port = server.port;
  });
  after(() => server.stop());

  it('serves each connection with its own session', async () => {
    const a = new DebugClient('node', ADAPTER, 'vgpu');
    const b = new DebugClient('node', ADAPTER, 'vgpu');
    await a.start(port);
    await b.start(port);
    try {
      await launch(a, { program: program('nested.vgpu') });
      await launch(b, { program: program('counter.vgpu') });
      assert.equal((await top(a, DRIVER)).line, 21);
      assert.equal((await top(b, DRIVER)).line, 21);
      const s = await untilStop(a, a.nextRequest({ threadId: DRIVER }));
      assert.equal(s.reason, 'step');
      assert.equal((await top(a, DRIVER)).line, 25);
      assert.equal((await top(b, DRIVER)).line, 21);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
