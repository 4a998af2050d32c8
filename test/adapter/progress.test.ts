// Progress and cancel for the long operations besides motions (those are in clients.test.ts): the
// console's `goto T` over a long replay, loading a large program, and a VM transfer cancelled before
// its stop-and-copy. Each cancelled operation leaves the VM at a position the stop and the reply name.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CustomBody } from '../../adapter/protocol';
import { VmHost } from '../../emulator/migration';
import { DRIVER, EXAMPLES, clientPerTest, digest, program, repl } from './client';
const ROOT = path.resolve(__dirname, '../..');

/** A program of `stores` MI_STORE_DATA_IMMs to `v` (one batch), in a new temporary folder. */
function bigProgram(name: string, stores: number): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-big-'));
  const file = path.join(dir, name);
  const lines = [
    '.vm memory=64M',
    '.map 0x100000, 0x100000, 8M, rw',
    '.data 0x108000',
    'v: dword 0',
    '.batch b, 0x200000',
  ];
  for (let i = 0; i < stores; i++) lines.push(`    MI_STORE_DATA_IMM addr=v, data=${i}`);
  lines.push('    MI_BATCH_BUFFER_END', '.ring rcs0', '    MI_BATCH_BUFFER_START addr=b', '.submit rcs0', '.wait rcs0');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { dir, file };
}

const PLAIN = {
  adapterID: 'vgpu',
  clientID: 'plain',
  linesStartAt1: true,
  columnsStartAt1: true,
  supportsProgressReporting: true,
} as DebugProtocol.InitializeRequestArguments;

/** The sequence number the client gives its next request (a `cancel` may name a request by it). */
const nextSeq = (dc: DebugClient): number => (dc as unknown as { sequence: number }).sequence;

async function start(dc: DebugClient, args: Record<string, unknown>): Promise<void> {
  await dc.initializeRequest(PLAIN);
  await Promise.all([
    dc.waitForEvent('initialized'),
    dc.launchRequest({ stopOnEntry: true, ...args } as DebugProtocol.LaunchRequestArguments),
  ]);
  await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
}

const position = async (dc: DebugClient) =>
  ((await dc.customRequest('vgpu/snapshots')).body as CustomBody<'vgpu/snapshots'>).commands;

describe('adapter: progress and cancel for goto T, the launch and migration', function () {
  this.timeout(60000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it('console goto T: progress while it replays; cancelled, it stops where the replay stood and says so', async () => {
    await start(dc, { program: program('spin.vgpu'), watchdog: 100_000_000 });
    const events: string[] = [];
    for (const e of ['continued', 'stopped', 'progressStart', 'progressEnd']) dc.on(e, () => events.push(e));
    const started = dc.waitForEvent('progressStart', 20000) as Promise<DebugProtocol.ProgressStartEvent>;
    const seq = nextSeq(dc);
    const reply = repl(dc, 'goto 60000000');
    const p = (await started).body;
    assert.equal(p.cancellable, true);
    assert.equal(p.requestId, seq, 'the progress names the evaluate request');
    assert.match(p.title, /t=60000000/);
    const stopped = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
    const t0 = performance.now();
    await dc.customRequest('cancel', { progressId: p.progressId });
    const [text, stop] = await Promise.all([reply, stopped]);
    const ms = performance.now() - t0;
    assert.ok(ms < 100, `stopped ${ms.toFixed(1)} ms after the cancel`);
    const at = await position(dc);
    assert.ok(at > 0 && at < 60_000_000, `somewhere on the way (t=${at})`);
    assert.match(text, new RegExp(`^goto 60000000 cancelled at t=${at} \\(step \\d+\\): the VM stands there$`));
    assert.equal(stop.body.description, 'Cancelled');
    assert.equal(stop.body.reason, 'pause');
    assert.match(stop.body.text ?? '', new RegExp(`^t=${at}, `));
    assert.deepEqual(
      events,
      ['progressStart', 'progressEnd', 'continued', 'stopped'],
      'progress closed, then the stop the client did not request, announced',
    );
    // Not cancelled, it arrives: the same state as a plain replay to that time.
    await Promise.all([dc.waitForEvent('stopped'), repl(dc, 'goto 1000')]);
    const d = await digest(dc);
    await Promise.all([dc.waitForEvent('stopped'), repl(dc, `goto ${at + 5}`)]);
    assert.equal(await position(dc), at + 5);
    await Promise.all([dc.waitForEvent('stopped'), repl(dc, 'goto 1000')]);
    assert.equal(await digest(dc), d);
  });

  it('loading a large program shows progress before the launch answers (assembled in a worker thread: cancellable)', async () => {
    const { dir, file } = bigProgram('big.vgpu', 20000);
    assert.ok(fs.statSync(file).size >= 512 * 1024);
    try {
      const seen: DebugProtocol.Event[] = [];
      for (const e of ['progressStart', 'progressEnd', 'initialized'])
        dc.on(e, (ev: DebugProtocol.Event) => seen.push(ev));
      await dc.initializeRequest(PLAIN);
      const seq = nextSeq(dc);
      await Promise.all([
        dc.waitForEvent('initialized'),
        dc.launchRequest({ program: file, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
      ]);
      assert.deepEqual(
        seen.map((e) => e.event),
        ['progressStart', 'progressEnd', 'initialized'],
      );
      const s = (seen[0] as DebugProtocol.ProgressStartEvent).body;
      assert.equal(s.title, 'Loading big.vgpu');
      assert.equal(s.cancellable, true);
      assert.equal(s.requestId, seq);
      assert.equal((seen[1] as DebugProtocol.ProgressEndEvent).body.message, 'loaded');
      await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
      const end = (
        await Promise.all([dc.waitForEvent('stopped'), dc.continueRequest({ threadId: DRIVER })])
      )[0] as DebugProtocol.StoppedEvent;
      assert.equal(end.body.description, 'Program finished', 'the program loaded whole runs to its end');
      assert.equal(await repl(dc, '[v]'), '0x4e1f (19999)');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cancelling the load of a large program ends the launch at once, cancelled; a launch after it works', async () => {
    const { dir, file } = bigProgram('huge.vgpu', 120000);
    try {
      await dc.initializeRequest(PLAIN);
      const started = dc.waitForEvent('progressStart', 20000) as Promise<DebugProtocol.ProgressStartEvent>;
      const launch = dc
        .launchRequest({ program: file, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments)
        .then(
          () => 'launched',
          (e: Error) => e.message,
        );
      const p = (await started).body;
      assert.equal(p.cancellable, true);
      const t0 = Date.now();
      const ended = dc.waitForEvent('progressEnd', 20000) as Promise<DebugProtocol.ProgressEndEvent>;
      await dc.customRequest('cancel', { progressId: p.progressId });
      assert.equal(await launch, 'cancelled');
      const elapsed = Date.now() - t0;
      assert.ok(elapsed < 500, `the launch answered ${elapsed} ms after the cancel`);
      assert.equal((await ended).body.message, 'cancelled');
      // The adapter is free: the next launch loads.
      await Promise.all([
        dc.waitForEvent('initialized'),
        dc.launchRequest({
          program: path.join(EXAMPLES, 'picture.vgpu'),
          stopOnEntry: true,
        } as DebugProtocol.LaunchRequestArguments),
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a large program with errors fails its launch with the assembler's FILE:LINE:COL messages, as a small one does", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-big-'));
    const file = path.join(dir, 'bad.vgpu');
    const lines = ['.vm memory=64M', '.map 0x100000, 0x100000, 8M, rw', '.batch b, 0x200000'];
    for (let i = 0; i < 20000; i++) lines.push(`    MI_STORE_DATA_IMM addr=0x108000, data=${i}`);
    lines.push('    MI_NOT_A_COMMAND', '    MI_BATCH_BUFFER_END');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    try {
      await dc.initializeRequest(PLAIN);
      const err = await dc.launchRequest({ program: file } as DebugProtocol.LaunchRequestArguments).then(
        () => '',
        (e: Error) => e.message,
      );
      assert.match(err, new RegExp(`bad\\.vgpu:20004:5: error: .*MI_NOT_A_COMMAND`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a capture whose listing runs long (a spinning batch exported as AUB) shows loading progress and is cancelled', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-spin-'));
    const aub = path.join(dir, 'spin.aub');
    const r = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'dist', 'cli.js'),
        'export',
        path.join(ROOT, 'test', 'adapter', 'programs', 'spin.vgpu'),
        '-o',
        aub,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    try {
      await dc.initializeRequest(PLAIN);
      const shown: DebugProtocol.ProgressStartEvent[] = [];
      dc.on('progressStart', (e: DebugProtocol.ProgressStartEvent) => shown.push(e));
      // 4M steps of listing dry run: cancelled by the launch's request id (its progress may not show yet).
      const seq = nextSeq(dc);
      const launch = dc
        .launchRequest({ program: aub, watchdog: 100_000_000 } as DebugProtocol.LaunchRequestArguments)
        .then(
          () => 'launched',
          (e: Error) => e.message,
        );
      const t0 = Date.now();
      await dc.customRequest('cancel', { requestId: seq });
      assert.equal(await launch, 'cancelled');
      assert.ok(Date.now() - t0 < 1000, 'answered within a slice');
      for (const e of shown) assert.deepEqual([e.body.title, e.body.cancellable], ['Loading spin.aub', true]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a small program loads with no progress', async () => {
    let shown = 0;
    dc.on('progressStart', () => shown++);
    await start(dc, { program: path.join(EXAMPLES, 'picture.vgpu') });
    assert.equal(shown, 0);
  });

  it('a migration cancelled before its stop-and-copy: the VM stays here, intact, and the target runs nothing', async () => {
    const host = new VmHost({ gen: 2, idleTimeoutMs: 10_000 });
    let resumed = false;
    host.on('resumed', () => (resumed = true));
    const to = `127.0.0.1:${(await host.listen()).port}`;
    try {
      await start(dc, { program: path.join(EXAMPLES, 'picture.vgpu'), hostGen: 3, deviceVersion: 2 });
      const before = await digest(dc);
      const seq = nextSeq(dc);
      const stopped = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
      const reply = dc.customRequest('vgpu/migrate', { to });
      await dc.customRequest('cancel', { requestId: seq });
      const r = (await reply).body as CustomBody<'vgpu/migrate'>;
      assert.equal(r.status, 'failed');
      assert.match(r.reason ?? '', /^cancelled before the stop-and-copy \(/);
      assert.match(r.host ?? '', /^local/);
      assert.equal((await stopped).body.description, 'Migration cancelled');
      assert.equal(resumed, false);
      assert.equal(await digest(dc), before, 'nothing of the VM changed');
      // It still runs here to its end.
      const end = (
        await Promise.all([dc.waitForEvent('stopped'), dc.continueRequest({ threadId: DRIVER })])
      )[0] as DebugProtocol.StoppedEvent;
      assert.equal(end.body.description, 'Program finished');
    } finally {
      await host.close();
    }
  });
});
