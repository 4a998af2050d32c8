// The adapter's wire (issue 17; regressions the DAP fuzz found): frames read with limits, garbage
// closes the connection with a message naming the byte offset and the cause (it used to hang on a bad
// Content-Length, buffer a header without end, and exit 0 silently on a body that is not JSON), and
// requests the library's dispatcher mishandled (initialize without arguments answered with a stack
// trace, error messages quoting megabytes, arguments nested past JSON.stringify's stack).

import { strict as assert } from 'node:assert';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { FrameReader, MAX_HEADER_BYTES, ProtocolError, nestsDeeperThan } from '../../adapter/framing';
import { DapWire, frame, rssKiB, stdioAdapter, tcpAdapter } from '../helpers/dapwire';
import { ADAPTER, ROOT, build, program, startAdapterServer } from './client';

function reader() {
  const got: DebugProtocol.ProtocolMessage[] = [];
  const errors: ProtocolError[] = [];
  const r = new FrameReader(
    (m) => got.push(m),
    (e) => errors.push(e),
  );
  return { r, got, errors };
}

const req = (seq: number, command = 'threads') => frame({ seq, type: 'request', command });

describe('adapter wire: FrameReader', () => {
  it('reads frames split at every byte and several in one chunk', () => {
    const bytes = Buffer.concat([req(1), req(2, 'x'.repeat(3000)), req(3)]);
    for (const step of [1, 7, 4096, bytes.length]) {
      const { r, got, errors } = reader();
      for (let o = 0; o < bytes.length; o += step) r.push(bytes.subarray(o, o + step));
      assert.deepEqual(
        got.map((m) => m.seq),
        [1, 2, 3],
        `chunks of ${step}`,
      );
      assert.deepEqual(errors, []);
    }
  });

  it('names the byte offset of the bad frame, then reads nothing more', () => {
    const { r, got, errors } = reader();
    const first = req(1);
    r.push(Buffer.concat([first, Buffer.from('Content-Length: 2\r\n\r\n[]'), req(2)]));
    assert.deepEqual(
      got.map((m) => m.seq),
      [1],
    );
    assert.equal(errors.length, 1);
    assert.equal(errors[0].offset, first.length);
    assert.equal(errors[0].message, `byte ${first.length}: the body is an array, not a DAP message (a JSON object)`);
    r.push(req(3));
    assert.equal(got.length, 1);
  });

  it('refuses binary at its first byte and a header without end once past the limit, not later', () => {
    const bin = reader();
    bin.r.push(Buffer.from('Content-Le\x00', 'latin1'));
    assert.deepEqual(
      bin.errors.map((e) => e.message),
      ['byte 10: a 0x00 byte in a header (binary data, not DAP)'],
    );
    const long = reader();
    long.r.push(Buffer.alloc(MAX_HEADER_BYTES, 'a'));
    assert.equal(long.errors.length, 0, 'a header may still end');
    long.r.push(Buffer.alloc(100, 'a'));
    assert.match(long.errors.map((e) => e.message).join(), /^byte 0: a header longer than 4096 bytes/);
  });

  it('nestsDeeperThan walks any depth without recursion', () => {
    let v: unknown = 1;
    for (let i = 0; i < 200_000; i++) v = [v];
    assert.equal(nestsDeeperThan(v, 32), true);
    assert.equal(nestsDeeperThan({ a: [{ b: 1 }] }, 32), false);
  });
});

describe('adapter wire: garbage closes the connection with a message', function () {
  this.timeout(30000);
  before(build);

  it('stdio: a body that is not JSON ends the adapter with exit 1, an output event and a stderr line (it exited 0, silently)', async () => {
    const a = stdioAdapter(ADAPTER, ROOT);
    assert.ok((await a.wire.request('initialize', { adapterID: 'vgpu' })).success);
    a.wire.raw('Content-Length: 11\r\n\r\nhello world');
    assert.deepEqual(await a.exited, { code: 1, signal: null });
    assert.match(
      a.wire.output.text,
      /^vgpu debug adapter: protocol error at byte \d+: the body is not JSON \(.*starts "hello world"\); closing the connection\n$/,
    );
    assert.equal(a.stderr(), a.wire.output.text);
  });

  it('stdio: a bad Content-Length closes at once (it waited forever)', async () => {
    const a = stdioAdapter(ADAPTER, ROOT);
    a.wire.raw('Content-Length: -12\r\n\r\n{}');
    assert.deepEqual(await a.exited, { code: 1, signal: null });
    assert.match(
      a.stderr(),
      /protocol error at byte 0: Content-Length "-12" is not a byte count; closing the connection/,
    );
  });

  it('TCP: a header that never ends closes that connection after 4 KiB; another session goes on', async () => {
    const server = await startAdapterServer();
    try {
      const good = await tcpAdapter(server.port);
      assert.ok((await good.wire.request('initialize', { adapterID: 'vgpu' })).success);
      const bad = await tcpAdapter(server.port);
      bad.wire.raw(Buffer.alloc(64 * 1024, 'X'));
      await bad.wire.whenClosed;
      assert.match(bad.wire.output.text, /protocol error at byte 0: a header longer than 4096 bytes/);
      assert.ok((await good.wire.request('threads')).success);
      good.socket.end();
      assert.ok(server.alive());
    } finally {
      server.stop();
    }
  });
});

describe('adapter wire: a peer that does not read', function () {
  this.timeout(60000);
  before(build);

  it('its answers wait in the socket, not in the adapter (200 MiB of readMemory answers piled up in the heap)', async () => {
    const server = await startAdapterServer();
    try {
      const { wire, socket } = await tcpAdapter(server.port, 30000);
      await wire.request('initialize', { adapterID: 'vgpu' });
      await wire.request('launch', { program: program('nested.vgpu'), stopOnEntry: true });
      await wire.request('configurationDone');
      socket.pause();
      const answers = Array.from({ length: 150 }, () =>
        wire.request('readMemory', { memoryReference: 'gpa:0x0', count: 1 << 20 }),
      );
      let peak = 0;
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, rssKiB(server.pid) ?? 0);
      }
      assert.ok(peak < 200 * 1024, `the server's RSS reached ${(peak / 1024).toFixed(0)} MiB`);
      socket.resume();
      const all = await Promise.all(answers);
      assert.ok(all.every((r) => r.success && r.body.data.length > 1_000_000));
      socket.end();
    } finally {
      server.stop();
    }
  });
});

describe('adapter wire: logpoint output for a peer that does not read', function () {
  this.timeout(90000);
  before(build);

  /**
   * A continue through spin.vgpu with a logpoint on its loop (a hit every other command), the peer not
   * reading for `stallMs`: the adapter's RSS before and at its peak meanwhile; then the peer reads, pauses
   * the motion, and every logpoint line must have come, in order ($t, in hex, goes up by 2 a loop).
   */
  async function stalledLogpoints(
    wire: DapWire,
    pid: number,
    stall: { pause(): void; resume(): void },
    stallMs: number,
  ): Promise<{ baseKiB: number; peakKiB: number; hits: number }> {
    const ts: number[] = [];
    wire.onEvent = (e) => {
      const m = e.event === 'output' ? /^hit (0x[0-9a-f]+) x+\n$/.exec(String(e.body?.output)) : null;
      if (m) ts.push(Number(m[1]));
    };
    await wire.request('initialize', { adapterID: 'vgpu' });
    await wire.request('launch', { program: program('spin.vgpu'), stopOnEntry: true, watchdog: 1e9 });
    const bp = await wire.request('setBreakpoints', {
      source: { path: program('spin.vgpu') },
      breakpoints: [{ line: 7, logMessage: `hit {$t} ${'x'.repeat(150)}` }],
    });
    assert.ok(bp.success && bp.body.breakpoints[0].verified, JSON.stringify(bp.body));
    const entry = wire.event('stopped');
    await wire.request('configurationDone');
    await entry;
    const baseKiB = rssKiB(pid)!;
    stall.pause();
    const going = wire.request('continue', { threadId: 1 });
    let peakKiB = 0;
    for (let t = 0; t < stallMs; t += 100) {
      await new Promise((r) => setTimeout(r, 100));
      peakKiB = Math.max(peakKiB, rssKiB(pid) ?? 0);
    }
    stall.resume();
    assert.ok((await going).success);
    await new Promise((r) => setTimeout(r, 1000)); // the motion runs on while the peer reads
    const stopped = wire.event('stopped', 30000);
    assert.ok((await wire.request('pause', { threadId: 1 })).success);
    await stopped;
    assert.ok(ts.length > 1000, `${ts.length} logpoint lines`);
    for (let i = 1; i < ts.length; i++)
      assert.equal(
        ts[i],
        ts[i - 1] + 2,
        `logpoint line ${i}: t=${ts[i]} after t=${ts[i - 1]} (one lost or out of order)`,
      );
    return { baseKiB, peakKiB, hits: ts.length };
  }

  it('TCP: the continue waits for the peer instead of queueing its output; then every line arrives in order', async () => {
    const server = await startAdapterServer();
    try {
      const { wire, socket } = await tcpAdapter(server.port, 30000);
      const r = await stalledLogpoints(wire, server.pid, socket, 4000);
      const grew = (r.peakKiB - r.baseKiB) / 1024;
      assert.ok(grew < 64, `the server's RSS grew ${grew.toFixed(0)} MiB while the peer did not read`);
      socket.end();
    } finally {
      server.stop();
    }
  });

  it('stdio: the same', async () => {
    const a = stdioAdapter(ADAPTER, ROOT, 30000);
    try {
      const r = await stalledLogpoints(a.wire, a.child.pid!, a.child.stdout!, 4000);
      const grew = (r.peakKiB - r.baseKiB) / 1024;
      assert.ok(grew < 64, `the adapter's RSS grew ${grew.toFixed(0)} MiB while the client did not read`);
    } finally {
      a.child.kill();
    }
  });
});

describe('adapter wire: requests the dispatcher mishandled', function () {
  this.timeout(30000);
  let a: ReturnType<typeof stdioAdapter>;
  let wire: DapWire;
  before(build);
  beforeEach(() => {
    a = stdioAdapter(ADAPTER, ROOT);
    wire = a.wire;
  });
  afterEach(() => a.child.kill());

  it('initialize without arguments is answered in words, not with a stack trace', async () => {
    for (const args of [undefined, null]) {
      const r = await wire.request('initialize', args);
      // null, as some clients send (Lua's encoders), means no arguments too: the defaults.
      assert.ok(r.success, `${JSON.stringify(args)}: the defaults (${r.message})`);
    }
    const r = await wire.request('initialize', { pathFormat: 'uri' });
    assert.equal(r.message, `initialize: pathFormat "uri" is not supported (only 'path')`);
  });

  it('an error message quoting a huge argument is cut to 2,000 characters', async () => {
    await wire.request('initialize', { adapterID: 'vgpu' });
    await wire.request('launch', { program: program('nested.vgpu'), stopOnEntry: true });
    await wire.request('configurationDone');
    const r = await wire.request('evaluate', { expression: 'x'.repeat(5000), context: 'hover' });
    assert.equal(r.success, false);
    assert.ok(r.message!.length < 2100, `${r.message!.length} characters`);
    assert.match(r.message!, /\.\.\. \(\d+ more characters\)$/);
  });

  it('arguments nested 100,000 deep are refused in words (JSON.stringify of them overflowed the stack)', async () => {
    // JSON.stringify cannot write it either: the frame is built by hand.
    const seq = wire.seq();
    const body = Buffer.from(
      `{"seq":${seq},"type":"request","command":"stackTrace","arguments":{"threadId":${'['.repeat(100_000)}1${']'.repeat(100_000)}}}`,
    );
    const r = await wire.send(
      seq,
      'stackTrace',
      Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]),
    );
    assert.equal(r.message, 'stackTrace: arguments nest deeper than 32 levels');
  });

  it('a request whose command is not a string is refused by its seq', async () => {
    const r = await wire.request(42, {});
    assert.equal(r.success, false);
    assert.match(r.message!, /^request \d+: command must be a string \(got number\)$/);
  });
});

describe('adapter wire: requests after disconnect (stdio)', function () {
  this.timeout(30000);
  before(build);

  /** Sends requests as one write (one chunk on the adapter's side) and resolves with their answers. */
  function together(a: ReturnType<typeof stdioAdapter>, list: [string, unknown?][]) {
    a.child.stdin!.cork();
    const answers = list.map(([command, args]) => a.wire.request(command, args));
    a.child.stdin!.uncork();
    return Promise.all(answers);
  }

  it('every request written with disconnect is answered once: those after it with "the debug session has ended"', async () => {
    const a = stdioAdapter(ADAPTER, ROOT);
    await a.wire.request('initialize', { adapterID: 'vgpu' });
    await a.wire.request('launch', { program: program('nested.vgpu'), stopOnEntry: true });
    await a.wire.request('configurationDone');
    const after: [string, unknown?][] = [
      ['threads'],
      ['stackTrace', { threadId: 1 }],
      ['evaluate', { expression: 'digest', context: 'repl' }],
      ['continue', { threadId: 1 }],
      ['launch', { program: program('nested.vgpu') }],
      ['initialize', { adapterID: 'vgpu' }],
      ['vgpu/snapshots', {}],
      ['frobnicate'],
      ['disconnect', {}],
    ];
    const [bye, ...rest] = await together(a, [['disconnect', {}], ...after]);
    assert.ok(bye.success, bye.message);
    rest.forEach((r, i) => {
      assert.equal(r.success, false, `${after[i][0]} after disconnect`);
      assert.equal(r.message, `${after[i][0]}: the debug session has ended (disconnect)`);
    });
    assert.deepEqual(await a.exited, { code: 0, signal: null });
    assert.deepEqual(a.wire.faults, [], 'no request answered twice or never');
    assert.equal(a.wire.responses, 4 + after.length);
  });

  it('a request still running when disconnect arrives is answered once before the adapter exits', async () => {
    const a = stdioAdapter(ADAPTER, ROOT);
    await a.wire.request('initialize', { adapterID: 'vgpu' });
    // launch answers once its program is loaded: it is under way when disconnect comes in the same chunk.
    const [launch, bye, threads] = await together(a, [
      ['launch', { program: program('nested.vgpu'), stopOnEntry: true }],
      ['disconnect', {}],
      ['threads'],
    ]);
    assert.ok(launch.success || launch.message === 'launch: the debug session has ended', launch.message);
    assert.ok(bye.success);
    assert.match(threads.message!, /the debug session has ended/);
    assert.deepEqual(await a.exited, { code: 0, signal: null });
    assert.deepEqual(a.wire.faults, []);
    assert.equal(a.wire.responses, 4);
  });
});
