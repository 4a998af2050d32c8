// `npm run fuzz`: the DAP fuzz (issue 17). 10,000 requests over stdio (`node dist/adapter.js`, a fresh
// process per session) and 10,000 over TCP (`--server=0`, one process serving every session, two at a
// time, beside a peer that never reads its answers): hostile arguments (wrong types, boundary and huge
// numbers, NaN-like strings, missing fields, huge strings, deep nests, references that do not exist or
// went stale) on every request and every `vgpu/*` custom request, unknown commands, requests before
// initialize, before launch and after disconnect, mixed with real stepping and inspection chains. Every
// request gets exactly one answer (matching request_seq) in time, none is an internal error, the adapter
// never dies, and its RSS stays under RSS_BOUND_MIB. Then garbage on the wire, each kind on its own
// connection: the adapter says what was wrong (an `output` event and a stderr line naming the byte
// offset and cause) and closes that connection; on TCP a session running alongside goes on untouched
// and the server takes new ones. VGPU_FUZZ_SEED reproduces a run (it is printed); VGPU_FUZZ_SCALE
// multiplies the counts.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { MAX_BODY_BYTES, MAX_HEADER_BYTES } from '../../adapter/framing';
import { ADAPTER, EXAMPLES, PROGRAMS, build, startAdapterServer, type AdapterServer } from '../adapter/client';
import { DapWire, RssWatch, stdioAdapter, tcpAdapter } from '../helpers/dapwire';
import { Harvest, HostileRequests, type Rnd } from '../helpers/hostile-dap';
import { mulberry32 } from '../helpers/prng';

const SEED = Number(process.env.VGPU_FUZZ_SEED ?? 0xda917);
const SCALE = Number(process.env.VGPU_FUZZ_SCALE ?? 1);
const PER_TRANSPORT = 10_000 * SCALE;
const SESSIONS = 8;
/** The adapter's resident set may not pass this, whatever it is sent (a fresh one is about 60 MiB). */
const RSS_BOUND_MIB = 256;
/** No answer may be larger (a 1 MiB readMemory is 1.4 MB of base64). */
const ANSWER_BOUND_BYTES = 4 * 1024 * 1024;

const PROGRAMS_LIST = [
  ...fs
    .readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.vgpu'))
    .map((f) => path.join(EXAMPLES, f)),
  ...['nested.vgpu', 'counter.vgpu', 'fault.vgpu', 'spin.vgpu', 'lines.vgpu', 'bad.vgpu'].map((f) =>
    path.join(PROGRAMS, f),
  ),
];

interface Tally {
  sent: number;
  failed: number;
  sessions: number;
  /** Distinct internal errors (each one an adapter bug). */
  readonly internal: Set<string>;
  /** Requests without exactly one answer in time, adapter deaths, protocol faults. */
  readonly broken: string[];
  largest: number;
}

function newTally(): Tally {
  return { sent: 0, failed: 0, sessions: 0, internal: new Set(), broken: [], largest: 0 };
}

/**
 * One debug session driven through its whole life over `wire`: hostile requests before initialize,
 * before launch, while stopped and running, mixed with real motions and inspection chains, then
 * disconnect (and on TCP more requests after it). Sends `budget` requests in all.
 */
async function fuzzSession(wire: DapWire, rnd: Rnd, budget: number, t: Tally, afterDisconnect: boolean): Promise<void> {
  const harvest = new Harvest();
  const gen = new HostileRequests(rnd, { programs: PROGRAMS_LIST, extremes: true, harvest });
  let sent = 0;
  const inflight = new Set<Promise<void>>();
  const ask = (command: unknown, args?: unknown): Promise<DebugProtocol.Response | undefined> => {
    sent++;
    t.sent++;
    const p = wire.request(command, args).then(
      (r) => {
        if (!r.success) {
          t.failed++;
          if (/^internal error|\n\s+at /.test(r.message ?? ''))
            t.internal.add(`${String(command)}: ${r.message}`.slice(0, 300));
          if ((r.message ?? '').length > 2100)
            t.broken.push(`${String(command)}: a ${r.message!.length}-character error message`);
        } else harvest.take(r.body);
        return r;
      },
      (e: Error) => {
        t.broken.push(`${e.message} (arguments ${JSON.stringify(args)?.slice(0, 200)})`);
        return undefined;
      },
    );
    return p;
  };
  /** Fire and forget, up to `window` requests in flight. */
  const window = 1 + Math.floor(rnd() * 12);
  const post = async (command: unknown, args?: unknown) => {
    const p = ask(command, args).then(() => {
      inflight.delete(p);
    });
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  };
  const drain = () => Promise.all([...inflight]);
  const hostile = async (n: number) => {
    for (let i = 0; i < n && sent < budget; i++) await post(gen.command(), gen.args());
  };
  const thread = () => gen.pick([1, 2, 3]);

  await hostile(Math.floor(rnd() * 20)); // before initialize
  await drain();
  await ask('initialize', {
    adapterID: 'vgpu',
    linesStartAt1: rnd() < 0.9,
    columnsStartAt1: true,
    pathFormat: 'path',
    supportsProgressReporting: rnd() < 0.5,
    supportsInvalidatedEvent: rnd() < 0.5,
    supportsMemoryEvent: rnd() < 0.5,
    supportsMemoryReferences: true,
  });
  await hostile(50 + Math.floor(rnd() * 150)); // before launch
  await drain();
  const stop = Promise.race([wire.event('stopped', 5000), wire.event('terminated', 5000)]).catch(() => undefined);
  const launched = await ask('launch', {
    program: gen.pick(PROGRAMS_LIST),
    stopOnEntry: true,
    ...(rnd() < 0.3 ? { snapshotEvery: gen.pick([0, 1, 5, 100]) } : {}),
    ...(rnd() < 0.2 ? { watchdog: gen.pick([1, 50, 1000]) } : {}),
  });
  await ask('setExceptionBreakpoints', { filters: rnd() < 0.5 ? ['page-fault', 'hang'] : [] });
  await ask('configurationDone');
  // A launch refused (a program that does not assemble, or one launched already by a hostile request,
  // whose stop has come and gone) has no stop to wait for.
  if (launched?.success) await stop;

  const reserve = afterDisconnect ? 30 : 1;
  while (sent < budget - reserve) {
    const r = rnd();
    if (r < 0.5) await hostile(1);
    else if (r < 0.68) {
      // Real motions, often while another is under way.
      const kind = gen.pick([
        'next',
        'stepIn',
        'stepOut',
        'stepBack',
        'continue',
        'reverseContinue',
        'vgpu/stepBackInto',
        'pause',
        'next',
        'stepIn',
      ]);
      await post(kind, { threadId: thread(), ...(rnd() < 0.3 ? { granularity: 'instruction' } : {}) });
      if (kind === 'continue' && rnd() < 0.7) await post('pause', { threadId: 1 });
    } else if (r < 0.88) {
      // An inspection chain on real references, with hostile extras on the way.
      await drain();
      const st = await ask('stackTrace', {
        threadId: thread(),
        ...(rnd() < 0.2 ? { startFrame: gen.int(), levels: gen.int() } : {}),
      });
      const frame = (st?.body?.stackFrames as DebugProtocol.StackFrame[] | undefined)?.[0];
      if (!frame) continue;
      const sc = await ask('scopes', { frameId: frame.id });
      const scopes = (sc?.body?.scopes ?? []) as DebugProtocol.Scope[];
      if (!scopes.length) continue;
      const scope = gen.pick(scopes);
      const extra =
        rnd() < 0.4
          ? {
              start: gen.int(),
              count: gen.int(),
              filter: gen.pick(['indexed', 'named', 'bogus', undefined]),
              format: gen.pick([{ hex: false }, 'x', null]),
            }
          : {};
      const vars = await ask('variables', { variablesReference: scope.variablesReference, ...extra });
      const list = (vars?.body?.variables ?? []) as DebugProtocol.Variable[];
      const v = list.length ? gen.pick(list) : undefined;
      if (v && v.variablesReference > 0)
        await post('variables', {
          variablesReference: v.variablesReference,
          ...(rnd() < 0.3 ? { count: gen.int() } : {}),
        });
      if (v && rnd() < 0.3)
        await post('setVariable', {
          variablesReference: scope.variablesReference,
          name: v.name,
          value: rnd() < 0.5 ? gen.string() : String(gen.int()),
        });
      if (v?.memoryReference && rnd() < 0.5)
        await post('readMemory', {
          memoryReference: v.memoryReference,
          count: gen.int(),
          ...(rnd() < 0.5 ? { offset: gen.int() } : {}),
        });
      if (v && rnd() < 0.3)
        await post('dataBreakpointInfo', { variablesReference: scope.variablesReference, name: v.name });
      if (frame.instructionPointerReference && rnd() < 0.4) {
        await post('disassemble', {
          memoryReference: frame.instructionPointerReference,
          instructionCount: gen.int(),
          instructionOffset: gen.int(),
          offset: rnd() < 0.5 ? gen.int() : undefined,
        });
      }
      if (rnd() < 0.4)
        await post('evaluate', {
          expression: gen.string(),
          frameId: frame.id,
          context: gen.pick(['repl', 'watch', 'hover', 'clipboard', 'variables']),
        });
    } else if (r < 0.95) {
      // Every custom request, with plausible and hostile arguments.
      const c = gen.pick([
        'vgpu/snapshots',
        'vgpu/snapshot',
        'vgpu/rollback',
        'vgpu/diff',
        'vgpu/surface',
        'vgpu/caps',
        'vgpu/translate',
        'vgpu/pipelineState',
        'vgpu/errorState',
        'vgpu/migrate',
      ]);
      const a: Record<string, unknown> = {
        id: gen.int(),
        from: gen.int(),
        to: gen.int(),
        snapshot: rnd() < 0.5 ? gen.int() : undefined,
        va: rnd() < 0.5 ? gen.int() : gen.string(),
      };
      if (c === 'vgpu/errorState')
        a.path = rnd() < 0.5 ? path.join(os.tmpdir(), `vgpu-dap-fuzz-${process.pid}`, 'e.txt') : gen.string();
      if (c === 'vgpu/migrate') a.to = gen.pick(['127.0.0.1:1', 'nohost', 1234, null, '[::1]:1']);
      await post(c, rnd() < 0.8 ? a : gen.args());
    } else {
      // Breakpoints of every kind on real and absent lines, then a run into them.
      const line = gen.pick([1, 5, 10, 15, 20, 30, gen.int()]);
      await post('setBreakpoints', {
        source: { path: gen.pick(PROGRAMS_LIST) },
        breakpoints: [
          {
            line,
            ...(rnd() < 0.4 ? { condition: gen.string() } : {}),
            ...(rnd() < 0.2 ? { hitCondition: gen.string() } : {}),
            ...(rnd() < 0.2 ? { logMessage: `{${gen.string()}}` } : {}),
          },
        ],
      });
      if (rnd() < 0.3)
        await post('setInstructionBreakpoints', {
          breakpoints: [{ instructionReference: gen.string(), offset: gen.int() }],
        });
      if (rnd() < 0.3)
        await post('setDataBreakpoints', { breakpoints: [{ dataId: gen.string(), accessType: 'write' }] });
      if (rnd() < 0.3)
        await post('setFunctionBreakpoints', {
          breakpoints: [{ name: gen.string(), condition: rnd() < 0.5 ? gen.string() : undefined }],
        });
      if (rnd() < 0.2)
        await post(
          'restart',
          rnd() < 0.5 ? {} : { arguments: { program: gen.pick(PROGRAMS_LIST), stopOnEntry: rnd() < 0.7 } },
        );
    }
  }
  await drain();
  await ask('disconnect', rnd() < 0.8 ? { restart: false } : gen.args());
  if (afterDisconnect) {
    // A TCP session outlives disconnect until the client hangs up: it still answers everything (refused: ended).
    while (sent < budget) await post(gen.command(), gen.args());
    await drain();
  }
  t.largest = Math.max(t.largest, wire.largest);
  t.broken.push(...wire.faults);
  t.sessions++;
}

function report(what: string, t: Tally, peakKiB: number, ms: number): void {
  console.log(
    `      ${what}: ${t.sent} requests in ${t.sessions} sessions, ${t.failed} refused, ${t.broken.length} without exactly one timely answer, ${t.internal.size} internal errors; largest answer ${(t.largest / 1024).toFixed(0)} KiB; adapter RSS peak ${(peakKiB / 1024).toFixed(0)} MiB (bound ${RSS_BOUND_MIB}); ${(ms / 1000).toFixed(1)} s`,
  );
}

function assertClean(t: Tally, peakKiB: number): void {
  const problems = [...t.broken.slice(0, 20), ...[...t.internal].slice(0, 20).map((x) => `internal error: ${x}`)];
  assert.deepEqual(
    problems,
    [],
    `${t.broken.length} broken answers and ${t.internal.size} internal errors (seed ${SEED})`,
  );
  assert.ok(t.failed > t.sent / 4, `most hostile requests are refused (${t.failed} of ${t.sent})`);
  assert.ok(t.largest < ANSWER_BOUND_BYTES, `an answer of ${t.largest} bytes`);
  assert.ok(
    peakKiB < RSS_BOUND_MIB * 1024,
    `adapter RSS peaked at ${(peakKiB / 1024).toFixed(0)} MiB (bound ${RSS_BOUND_MIB} MiB, seed ${SEED})`,
  );
}

// ---------------------------------------------------------------------------------------------
// Garbage on the wire: each case, the bytes a connection sends after one good request, and what the
// adapter must say (after "protocol error at byte N: ").

const body = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  return Buffer.concat([Buffer.from(`Content-Length: ${b.length}\r\n\r\n`), b]);
};
const GARBAGE: readonly { name: string; bytes: Buffer; says: RegExp }[] = [
  {
    name: 'Content-Length not a number',
    bytes: Buffer.from('Content-Length: abc\r\n\r\n{}'),
    says: /Content-Length "abc" is not a byte count/,
  },
  {
    name: 'negative Content-Length',
    bytes: Buffer.from('Content-Length: -5\r\n\r\n'),
    says: /Content-Length "-5" is not a byte count/,
  },
  {
    name: 'Content-Length in exponent form',
    bytes: Buffer.from('Content-Length: 1e3\r\n\r\n'),
    says: /Content-Length "1e3" is not a byte count/,
  },
  { name: 'Content-Length 0', bytes: Buffer.from('Content-Length: 0\r\n\r\n'), says: /an empty body is not a message/ },
  {
    name: 'Content-Length past the limit',
    bytes: Buffer.from('Content-Length: 99999999999\r\n\r\n'),
    says: new RegExp(`Content-Length 99999999999 is past the ${MAX_BODY_BYTES}-byte limit`),
  },
  {
    name: 'Content-Length twice',
    bytes: Buffer.from('Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}'),
    says: /Content-Length given twice/,
  },
  {
    name: 'no Content-Length',
    bytes: Buffer.from('Content-Type: application/json\r\n\r\n{}'),
    says: /a header without Content-Length/,
  },
  {
    name: 'a header line without a colon',
    bytes: Buffer.from('Content-Length 12\r\n\r\n'),
    says: /header line "Content-Length 12" is not 'Name: value'/,
  },
  {
    name: 'a huge header',
    bytes: Buffer.alloc(1 << 20, 'X'),
    says: new RegExp(`a header longer than ${MAX_HEADER_BYTES} bytes`),
  },
  {
    name: 'binary data',
    bytes: Buffer.from('VGPUSTAT\x02\x00\x00\x00', 'latin1'),
    says: /a 0x02 byte in a header \(binary data, not DAP\)/,
  },
  { name: 'a body that is not JSON', bytes: body('hello world'), says: /the body is not JSON/ },
  { name: 'truncated JSON', bytes: body('{"seq":9,"type":"req'), says: /the body is not JSON/ },
  {
    name: 'Content-Length shorter than the body',
    bytes: Buffer.from('Content-Length: 5\r\n\r\n{"seq":9,"type":"request","command":"threads"}'),
    says: /the body is not JSON/,
  },
  {
    name: 'a body that is not UTF-8',
    bytes: body(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])),
    says: /the body is not UTF-8 text/,
  },
  { name: 'an array body', bytes: body('[1,2,3]'), says: /the body is an array, not a DAP message/ },
  { name: 'a string body', bytes: body('"threads"'), says: /the body is a string, not a DAP message/ },
  { name: 'a number body', bytes: body('42'), says: /the body is a number, not a DAP message/ },
  { name: 'a null body', bytes: body('null'), says: /the body is null, not a DAP message/ },
  {
    name: 'an event from the client',
    bytes: body('{"seq":9,"type":"event","event":"stopped"}'),
    says: /a message of type "event"/,
  },
  { name: 'a message without type', bytes: body('{"seq":9,"command":"threads"}'), says: /the message has no type/ },
  {
    name: 'a request without seq',
    bytes: body('{"type":"request","command":"threads"}'),
    says: /the request has no usable seq \(absent\)/,
  },
  {
    name: 'a request with a string seq',
    bytes: body('{"seq":"9","type":"request","command":"threads"}'),
    says: /the request has no usable seq \(a string\)/,
  },
  {
    name: 'a request with a negative seq',
    bytes: body('{"seq":-1,"type":"request","command":"threads"}'),
    says: /the request has no usable seq \(-1\)/,
  },
];

const PROTOCOL_ERROR = (says: RegExp) =>
  new RegExp(`protocol error at byte \\d+: (.*)${says.source.replace(/^\^/, '')}.*; closing the connection`);

/** A good request, the garbage, then: the cause said in an output event, and the connection closed. */
async function garbageCase(wire: DapWire, c: (typeof GARBAGE)[number]): Promise<void> {
  const r = await wire.request('threads');
  assert.ok(r.success, `${c.name}: a good request first`);
  wire.raw(c.bytes);
  const closed = await Promise.race([
    wire.whenClosed.then(() => true),
    new Promise<boolean>((res) => setTimeout(() => res(false), 5000)),
  ]);
  assert.ok(closed, `${c.name}: the connection stayed open`);
  assert.match(
    wire.output.text,
    PROTOCOL_ERROR(c.says),
    `${c.name}: the output events say ${JSON.stringify(wire.output.text.slice(0, 300))}`,
  );
  assert.deepEqual(wire.faults, []);
}

describe('DAP fuzz (long)', function () {
  this.timeout(0);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-dap-fuzz-'));
  fs.mkdirSync(path.join(os.tmpdir(), `vgpu-dap-fuzz-${process.pid}`), { recursive: true });

  before(() => {
    build();
    console.log(`      seed ${SEED} (VGPU_FUZZ_SEED=${SEED} reproduces it)`);
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(path.join(os.tmpdir(), `vgpu-dap-fuzz-${process.pid}`), { recursive: true, force: true });
  });

  it(`stdio: ${PER_TRANSPORT} hostile and valid requests, each answered once, RSS under ${RSS_BOUND_MIB} MiB`, async () => {
    const t = newTally();
    const t0 = performance.now();
    let peak = 0;
    for (let s = 0; s < SESSIONS; s++) {
      const a = stdioAdapter(ADAPTER, tmp);
      const rss = new RssWatch(a.child.pid!);
      let died = '';
      void a.exited.then((x) => (died = `exit ${x.code ?? x.signal}`));
      await fuzzSession(a.wire, mulberry32(SEED + s), PER_TRANSPORT / SESSIONS, t, false);
      assert.equal(
        died,
        '',
        `session ${s}: the adapter died before disconnect (${died}): ${a.stderr().slice(0, 2000)}`,
      );
      const ended = await Promise.race([a.exited, new Promise<undefined>((r) => setTimeout(r, 5000))]);
      peak = Math.max(peak, rss.stop());
      assert.deepEqual(
        ended && { code: ended.code, signal: ended.signal },
        { code: 0, signal: null },
        `session ${s}: after disconnect the adapter exits 0 (${a.stderr().slice(0, 2000)})`,
      );
      assert.doesNotMatch(
        a.stderr(),
        /\n\s+at |internal error|attempt to send more than one response/,
        `session ${s}: stderr`,
      );
    }
    report('stdio', t, peak, performance.now() - t0);
    assertClean(t, peak);
  });

  it(`TCP: ${PER_TRANSPORT} requests, two sessions at a time on one server, RSS under ${RSS_BOUND_MIB} MiB`, async () => {
    const server: AdapterServer = await startAdapterServer(tmp);
    const rss = new RssWatch(server.pid);
    const t = newTally();
    const t0 = performance.now();
    try {
      // Alongside every session: a peer that asks for 400 MiB of answers and does not read them.
      const lazy = await tcpAdapter(server.port, 120_000);
      await lazy.wire.request('initialize', { adapterID: 'vgpu' });
      await lazy.wire.request('launch', { program: path.join(PROGRAMS, 'nested.vgpu'), stopOnEntry: true });
      await lazy.wire.request('configurationDone');
      lazy.socket.pause();
      const unread = Array.from({ length: 300 }, () =>
        lazy.wire.request('readMemory', { memoryReference: 'gpa:0x0', count: 1 << 20 }),
      );
      for (let s = 0; s < SESSIONS; s += 2) {
        await Promise.all(
          [s, s + 1].map(async (k) => {
            const { wire, socket } = await tcpAdapter(server.port);
            await fuzzSession(wire, mulberry32(SEED + 1000 + k), PER_TRANSPORT / SESSIONS, t, true);
            socket.end();
            await wire.whenClosed;
          }),
        );
        assert.ok(server.alive(), `the server died: ${server.stderr().slice(0, 2000)}`);
      }
      const peak = rss.stop();
      lazy.socket.resume();
      assert.ok(
        (await Promise.all(unread)).every((r) => r.success),
        'the lazy peer gets its answers once it reads',
      );
      lazy.socket.end();
      report('TCP', t, peak, performance.now() - t0);
      assertClean(t, peak);
      assert.doesNotMatch(server.stderr(), /\n\s+at |internal error|attempt to send more than one response/);
    } finally {
      server.stop();
    }
  });

  it(`garbage on the wire (${GARBAGE.length} kinds) over stdio: the adapter says why and exits 1`, async () => {
    for (const c of GARBAGE) {
      const a = stdioAdapter(ADAPTER, tmp);
      await garbageCase(a.wire, c);
      const ended = await Promise.race([a.exited, new Promise<undefined>((r) => setTimeout(r, 5000))]);
      assert.deepEqual(ended, { code: 1, signal: null }, `${c.name}: exit status`);
      assert.match(a.stderr(), PROTOCOL_ERROR(c.says), `${c.name}: stderr`);
      assert.equal(a.stderr().trim().split('\n').length, 1, `${c.name}: one stderr line: ${a.stderr()}`);
    }
  });

  it(`garbage on the wire (${GARBAGE.length} kinds) over TCP: that connection closes, a session alongside goes on`, async () => {
    const server = await startAdapterServer(tmp);
    try {
      // The bystander: a live session stepping while the garbage arrives on other connections.
      const { wire: good, socket } = await tcpAdapter(server.port);
      const stop = good.event('stopped');
      for (const [c, a] of [
        ['initialize', { adapterID: 'vgpu', pathFormat: 'path' }],
        ['launch', { program: path.join(EXAMPLES, 'gpu-loop.vgpu'), stopOnEntry: true }],
        ['configurationDone', {}],
      ] as const) {
        assert.ok((await good.request(c, a)).success, c);
      }
      await stop;
      for (const [i, c] of GARBAGE.entries()) {
        // Forward and back in turn, so that the program never ends.
        const motion = i % 2 ? 'stepBack' : 'next';
        const { wire } = await tcpAdapter(server.port);
        const stepped = good.event('stopped');
        const [r] = await Promise.all([good.request(motion, { threadId: 2 }), garbageCase(wire, c)]);
        assert.ok(r.success, `${c.name}: the session alongside runs ${motion}: ${r.message}`);
        assert.equal((await stepped).body.reason, 'step');
      }
      assert.ok((await good.request('threads')).success);
      assert.deepEqual(good.faults, []);
      socket.end();
      // And the server takes a new session.
      const { wire: after, socket: s2 } = await tcpAdapter(server.port);
      assert.ok((await after.request('initialize', { adapterID: 'vgpu' })).success);
      s2.end();
      assert.ok(server.alive());
      assert.equal((server.stderr().match(/protocol error at byte/g) ?? []).length, GARBAGE.length, server.stderr());
    } finally {
      server.stop();
    }
  });
});
