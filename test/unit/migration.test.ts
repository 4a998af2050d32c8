// VM transfer: programs moved live from a generation-3 host to a generation-2 host end exactly as a
// plain run; refusals, dead targets, corrupted sections and wrong tokens leave the source VM to finish
// with nothing lost; the guest sees the same device before and after.

import { strict as assert } from 'node:assert';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { rebuildFor } from '../../emulator/migration/lockstep';
import { SEC } from '../../emulator/checkpoint';
import { MIG, MigrateOptions, MigrationOutcome, VmHost, migrateVm } from '../../emulator/migration';
import type { HostOptions } from '../../emulator/migration';
import { LoadOptions, loadVm } from '../../emulator/program';
import { CAP_BASE, CAP_REG_DEFS, REGISTERS, registerTable } from '../../emulator/registers';
import type { RunResult, Vm } from '../../emulator/vm';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = path.join(ROOT, 'examples');
const PROGRAMS = path.join(__dirname, 'programs', 'migration');
const V2: LoadOptions = { hostGen: 3, deviceVersion: 2 };

const programFiles = (): string[] => [
  ...(fs.existsSync(EXAMPLES)
    ? fs
        .readdirSync(EXAMPLES)
        .filter((f) => f.endsWith('.vgpu'))
        .map((f) => path.join(EXAMPLES, f))
    : []),
  ...fs
    .readdirSync(PROGRAMS)
    .filter((f) => f.endsWith('.vgpu'))
    .map((f) => path.join(PROGRAMS, f)),
];
const prog = (name: string): string => path.join(PROGRAMS, name);

/** Everything of a result but what depends on where the snapshots were kept (bytes) and the move itself. */
function comparable(r: RunResult): object {
  const { snapshots, migration: _m, ...rest } = r;
  return { ...rest, snapshotsTaken: snapshots.taken };
}

function plainResult(file: string, o: LoadOptions = V2): RunResult {
  const vm = loadVm(file, o);
  vm.run();
  return vm.result();
}

interface Moved {
  out: MigrationOutcome;
  result: RunResult;
  vm: Vm;
}

/** `vgpu run --migrate-at n` in-process: run n commands, move, take the target's result or finish here. */
async function moveAt(
  file: string,
  n: number,
  to: { port: number; host?: string },
  o: Partial<MigrateOptions> = {},
  load: LoadOptions = V2,
): Promise<Moved> {
  const vm = loadVm(file, load);
  vm.run({ untilCommands: n });
  const out = await migrateVm(vm, { host: to.host ?? '127.0.0.1', port: to.port, timeoutMs: 10_000, ...o });
  if (out.status === 'completed') {
    assert.ok(out.result, 'a completed move brings the result back');
    return { out, result: out.result, vm };
  }
  vm.run();
  return { out, result: vm.result(), vm };
}

async function startHost(o: Partial<HostOptions> = {}): Promise<{ server: VmHost; port: number }> {
  const host = new VmHost({ gen: 2, idleTimeoutMs: 10_000, ...o });
  const a = await host.listen();
  return { server: host, port: a.port };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * A TCP relay between source and target that parses the source's sections and flips one byte in
 * the first section with `tag` (in its payload, or in its checksum when it has none).
 */
async function corruptingRelay(
  targetPort: number,
  tag: string,
): Promise<{ port: number; hits: () => number; close: () => void }> {
  let hits = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let buf = Buffer.alloc(0);
    let headerDone = false;
    let done = false;
    client.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!headerDone) {
          if (buf.length < 12) return;
          upstream.write(buf.subarray(0, 12));
          buf = buf.subarray(12);
          headerDone = true;
        }
        if (buf.length < 12) return;
        const t = buf.toString('latin1', 0, 4);
        const len = Number(buf.readBigUInt64LE(4));
        if (buf.length < 12 + len + 32) return;
        const frame = Buffer.from(buf.subarray(0, 12 + len + 32));
        buf = buf.subarray(12 + len + 32);
        if (t === tag && !done) {
          done = true;
          hits++;
          frame[len > 0 ? 12 + Math.floor(len / 2) : 12 + 5] ^= 0x40;
        }
        upstream.write(frame);
      }
    });
    upstream.on('data', (d) => client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    hits: () => hits,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** The CLI as users run it: the bundle when built (npm test builds it), else the sources through tsx. */
function cliCommand(args: string[]): [string, string[]] {
  const dist = path.join(ROOT, 'dist', 'cli.js');
  return fs.existsSync(dist)
    ? [process.execPath, [dist, ...args]]
    : [process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'emulator', 'cli.ts'), ...args]];
}

/** Starts `vgpu host` as a child process and waits for its listening line. */
async function spawnHost(
  args: string[],
): Promise<{ child: ChildProcess; port: number; output: () => string; exited: Promise<number | null> }> {
  const [cmd, argv] = cliCommand(['host', '--listen', '127.0.0.1:0', ...args]);
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vgpu host did not start:\n${out}`)), 20_000);
    const look = () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', look);
    child.on('exit', () => reject(new Error(`vgpu host exited:\n${out}`)));
  });
  return { child, port, output: () => out, exited };
}

describe('debugger edits between copies of a VM', () => {
  it('a register edit names its register and dword, and another copy applies it by name', () => {
    const a = loadVm(path.join(EXAMPLES, 'semaphore-handoff.vgpu'));
    const b = loadVm(path.join(EXAMPLES, 'semaphore-handoff.vgpu'));
    const edits: unknown[] = [];
    a.on('edit', (e) => edits.push(e));
    const perf = REGISTERS.find((r) => r.name === 'PERFCNT1')!;
    assert.equal(perf.def.width, 64);
    assert.ok(a.editRegister(perf.slot + 1, 0xabcd));
    assert.deepEqual(edits, [{ kind: 'register', register: 'PERFCNT1', dword: 1, value: 0xabcd }]);
    assert.equal(b.applyEdit(edits[0] as never), 1);
    assert.equal(b.regs.values[perf.slot + 1], 0xabcd);
    // A register this copy's table lacks, or a dword it does not have, is not applied (the next comparison says so).
    assert.equal(b.applyEdit({ kind: 'register', register: 'rcs0.CS_GPR99', dword: 0, value: 1 }), 0);
    assert.equal(b.applyEdit({ kind: 'register', register: 'rcs0.CS_GPR1', dword: 1, value: 1 }), 0);
  });
});

describe('VM transfer (live migration)', function () {
  this.timeout(60_000);
  let gen2: { server: VmHost; port: number };

  before(async () => {
    gen2 = await startHost({ gen: 2 });
  });

  after(async () => {
    await gen2.server.close();
  });

  it('every example and migration program, moved from generation 3 to 2 at several points, ends as a plain run', async () => {
    const files = programFiles();
    assert.ok(files.length >= 4, 'programs to move');
    let moves = 0;
    for (const file of files) {
      const plain = plainResult(file);
      const total = plain.commands;
      for (const n of [...new Set([0, 1, Math.floor(total / 3), Math.floor((2 * total) / 3), total + 5])]) {
        const m = await moveAt(file, n, gen2, { commandsPerChunk: 1, chunkPages: 4 });
        const what = `${path.basename(file)} moved at ${n}`;
        assert.equal(m.out.status, 'completed', `${what}: ${m.out.reason}`);
        assert.equal(m.out.hostGen, 2);
        assert.ok(m.out.pagesSent > 0, `${what}: pages went over`);
        assert.deepEqual(comparable(m.result), comparable(plain), what);
        moves++;
      }
    }
    assert.ok(moves >= 20);
  });

  it('pre-copy runs several rounds while the guest keeps dirtying pages, and the VM switches over mid-run', async () => {
    const file = prog('blit-rounds.vgpu');
    const plain = plainResult(file);
    const rounds: number[] = [];
    const m = await moveAt(file, 20, gen2, {
      chunkPages: 8,
      commandsPerChunk: 1,
      stopPages: 2,
      maxRounds: 6,
      onProgress: (p) => p.phase === 'round' && rounds.push(p.pages),
    });
    assert.equal(m.out.status, 'completed', m.out.reason);
    assert.ok(m.out.rounds >= 2, `rounds: ${m.out.rounds}`);
    assert.equal(rounds.length, m.out.rounds);
    assert.ok(
      rounds.slice(1).every((n) => n > 0),
      `later rounds resend the pages dirtied meanwhile (${rounds.join(', ')})`,
    );
    assert.ok(
      m.out.switchedAtCommands! > 20 && m.out.switchedAtCommands! < plain.commands,
      `switched at ${m.out.switchedAtCommands} of ${plain.commands}`,
    );
    assert.ok(m.out.pagesSent > rounds[0], 'dirtied pages went again');
    assert.ok(m.out.downtimeMs > 0 && m.out.downtimeMs < 5000);
    assert.deepEqual(comparable(m.result), comparable(plain));
  });

  it('the guest cannot tell it moved: exposed registers, PCI config space and behaviour are identical', async () => {
    const file = prog('caps-probe.vgpu');
    const plain = plainResult(file);
    const src = loadVm(file, V2);
    let target: Vm | null = null;
    const onResumed = (_t: unknown, vm: Vm) => (target = vm);
    gen2.server.on('resumed', onResumed);
    src.run({ untilCommands: 12 });
    const seen = (vm: Vm) =>
      CAP_REG_DEFS.map((d) => [
        d.name,
        vm.registerValue(CAP_BASE + d.offset),
        d.width === 64 ? vm.registerValue(CAP_BASE + d.offset + 4) : 0,
      ]);
    const before = { regs: seen(src), exposed: [...src.exposed.registers], config: Buffer.from(src.exposed.config) };
    const out = await migrateVm(src, { host: '127.0.0.1', port: gen2.port, commandsPerChunk: 1 });
    assert.equal(out.status, 'completed', out.reason);
    assert.ok(target, 'the host reported the resumed VM');
    const t = target as Vm;
    assert.equal(t.cfg.hostGen, 2);
    assert.equal(t.physical.version, 2, "the new host's physical device");
    assert.deepEqual(seen(t), before.regs, 'capability registers as the guest reads them');
    assert.deepEqual([...t.exposed.registers], before.exposed, "the VDEV's exposed registers");
    assert.ok(Buffer.from(t.exposed.config).equals(before.config), 'PCI config space byte for byte');
    assert.notDeepEqual([...t.physical.registers], [...src.physical.registers], 'only the physical side differs');
    assert.deepEqual(
      comparable(out.result!),
      comparable(plain),
      'the probes stored after the move read the same values',
    );
    assert.equal(out.result!.errors.length, 1, 'the version-3 command is rejected after the move too');
    assert.equal(out.result!.errors[0].kind, 'invalid-command');
  });

  it('refuses a version-3 VM on a generation-2 host before any memory; the source finishes it', async () => {
    const file = prog('blit-rounds.vgpu');
    const v3: LoadOptions = { hostGen: 3, deviceVersion: 3 };
    const plain = plainResult(file, v3);
    const m = await moveAt(file, 30, gen2, {}, v3);
    assert.equal(m.out.status, 'refused');
    assert.equal(m.out.reason, 'VM exposes device version 3; this host is generation 2');
    assert.equal(m.out.pagesSent, 0);
    assert.equal(m.out.downtimeMs, 0);
    assert.deepEqual(m.result, plain, 'exactly the plain result (snapshots too: nothing moved)');
  });

  it('a wrong or missing token is refused; the right one is accepted', async () => {
    const locked = await startHost({ gen: 2, token: 'open sesame' });
    try {
      const file = prog('late-fault.vgpu');
      const plain = plainResult(file);
      const wrong = await moveAt(file, 10, locked, { token: 'open barley' });
      assert.equal(wrong.out.status, 'refused');
      assert.equal(wrong.out.reason, 'wrong token');
      assert.deepEqual(wrong.result, plain);
      const missing = await moveAt(file, 10, locked);
      assert.equal(missing.out.status, 'refused');
      assert.match(missing.out.reason!, /requires a token/);
      assert.deepEqual(missing.result, plain);
      const right = await moveAt(file, 10, locked, { token: 'open sesame' });
      assert.equal(right.out.status, 'completed', right.out.reason);
      assert.deepEqual(comparable(right.result), comparable(plain));
    } finally {
      await locked.server.close();
    }
  });

  it('a corrupted byte in any section drops the transfer; the source finishes with the plain result', async () => {
    const file = prog('long-batch.vgpu');
    const plain = plainResult(file);
    // long-batch at 40 commands: both engines are mid-submission, so rollback snapshots (SNAP) travel.
    for (const tag of [MIG.HELLO, SEC.META, SEC.IMAGE, SEC.STATE, MIG.ROUND, SEC.PAGES, SEC.SNAPSHOT, SEC.END]) {
      const relay = await corruptingRelay(gen2.port, tag);
      try {
        const m = await moveAt(file, 40, relay, { commandsPerChunk: 1, chunkPages: 8, stopPages: 1000 });
        assert.equal(relay.hits(), 1, `${tag}: the relay corrupted one section`);
        assert.equal(m.out.status, 'failed', `${tag}: ${m.out.reason}`);
        assert.match(m.out.reason!, new RegExp(`section ${tag.replace('.', '\\.')} fails its checksum`), tag);
        assert.deepEqual(comparable(m.result), comparable(plain), `${tag}: finished here as a plain run`);
      } finally {
        relay.close();
      }
    }
    // The host is still serving.
    const ok = await moveAt(file, 40, gen2);
    assert.equal(ok.out.status, 'completed', ok.out.reason);
  });

  it('a target killed mid-stream (pre-copy or stop-and-copy): the source finishes with nothing lost', async () => {
    const file = prog('blit-rounds.vgpu');
    const plain = plainResult(file);
    for (const when of ['round', 'stop-and-copy'] as const) {
      const h = await spawnHost(['--gen', '2']);
      const m = await moveAt(file, 25, h, {
        chunkPages: 1,
        commandsPerChunk: 1,
        onProgress: (p) => {
          if (p.phase === when && h.child.exitCode === null) h.child.kill('SIGKILL');
        },
      });
      await h.exited;
      assert.equal(m.out.status, 'failed', `${when}: ${m.out.reason}`);
      assert.ok(m.out.reason && m.out.reason.length > 10, m.out.reason);
      assert.deepEqual(comparable(m.result), comparable(plain), `${when}: plain result`);
      if (when === 'stop-and-copy') assert.ok(m.out.downtimeMs > 0, 'the VM had stopped and resumed here');
    }
  });

  it('a target that stops reading (SIGSTOP) or shuts down (SIGTERM) mid-transfer: the source finishes', async () => {
    const file = prog('blit-rounds.vgpu');
    const plain = plainResult(file);
    const frozen = await spawnHost(['--gen', '2']);
    try {
      const m = await moveAt(file, 25, frozen, {
        chunkPages: 1,
        commandsPerChunk: 1,
        timeoutMs: 1500,
        onProgress: (p) => p.phase === 'round' && p.round === 1 && frozen.child.kill('SIGSTOP'),
      });
      assert.equal(m.out.status, 'failed');
      assert.match(m.out.reason!, /stopped reading|no answer|did not confirm/);
      assert.deepEqual(comparable(m.result), comparable(plain));
    } finally {
      frozen.child.kill('SIGKILL');
      frozen.child.kill('SIGCONT');
    }
    const leaving = await spawnHost(['--gen', '2']);
    const m = await moveAt(file, 25, leaving, {
      chunkPages: 1,
      commandsPerChunk: 1,
      onProgress: (p) => p.phase === 'round' && p.round === 1 && leaving.child.kill('SIGTERM'),
    });
    assert.equal(await leaving.exited, 0, leaving.output());
    assert.equal(m.out.status, 'failed');
    assert.match(m.out.reason!, /shutting down|closed|reset/);
    assert.deepEqual(comparable(m.result), comparable(plain));
  });

  it('an unreachable target fails at once; the source finishes', async () => {
    const file = prog('late-fault.vgpu');
    const m = await moveAt(file, 5, { port: await deadPort() });
    assert.equal(m.out.status, 'failed');
    assert.match(m.out.reason!, /connection refused/);
    assert.deepEqual(m.result, plainResult(file));
  });

  it('pre-copy leaves the VM untouched: after a failed move its whole state equals a VM that never tried', async () => {
    const file = prog('late-fault.vgpu');
    for (const n of [0, 8, 20, 30]) {
      const vm = loadVm(file, V2);
      vm.run({ untilCommands: n });
      // The target refuses only after the source sent everything (a corrupted END): pre-copy ran fully.
      const relay = await corruptingRelay(gen2.port, SEC.END);
      const out = await migrateVm(vm, { host: '127.0.0.1', port: relay.port, commandsPerChunk: 1, chunkPages: 1 });
      relay.close();
      assert.equal(out.status, 'failed');
      const same = loadVm(file, V2);
      same.run({
        stopAt: (v) => v.step === vm.step && v.commands === vm.commands && v.errors.length === vm.errors.length,
      });
      assert.equal(vm.digest(), same.digest(), `moved at ${n}: identical VM state at step ${vm.step}`);
      assert.equal(vm.mem.writeHook, null, 'the dirty log is gone');
      assert.equal(vm.mem.restoreHook, null, 'the restore hook is gone');
    }
  });

  it('a GPU error rolled back during pre-copy or after the move ends as in a plain run', async () => {
    const file = prog('late-fault.vgpu');
    const plain = plainResult(file);
    assert.equal(plain.errors.length, 1);
    for (let n = 14; n <= 30; n += 2) {
      const m = await moveAt(file, n, gen2, { commandsPerChunk: 3, chunkPages: 1, stopPages: 0, maxRounds: 4 });
      assert.equal(m.out.status, 'completed', m.out.reason);
      assert.deepEqual(comparable(m.result), comparable(plain), `moved at ${n}`);
    }
    // Without automatic rollback the error stops the VM: wherever it happens, the run ends the same.
    const stop: LoadOptions = { ...V2, autoRollback: false };
    const stopped = plainResult(file, stop);
    assert.equal(stopped.status, 'error');
    const statuses = new Set<string>();
    for (const n of [0, 16, 29, 40]) {
      const m = await moveAt(file, n, gen2, { commandsPerChunk: 1 }, stop);
      statuses.add(m.out.status);
      assert.deepEqual(
        comparable(m.result),
        comparable(stopped),
        `no rollback, moved at ${n} (${m.out.status}: ${m.out.reason ?? ''})`,
      );
    }
    assert.deepEqual(
      [...statuses].sort(),
      ['completed', 'failed'],
      'the error struck on the target and, stopping the VM, at the source',
    );
  });

  it('one host serves transfers one after another, refuses a second while busy, and peers not allowed', async () => {
    const file = prog('blit-rounds.vgpu');
    const plain = plainResult(file);
    const [a, b] = await Promise.all([
      moveAt(file, 5, gen2, { chunkPages: 1 }),
      moveAt(file, 5, gen2, { chunkPages: 1 }),
    ]);
    const statuses = [a.out.status, b.out.status].sort();
    assert.deepEqual(statuses, ['completed', 'refused']);
    assert.match((a.out.status === 'refused' ? a : b).out.reason!, /busy/);
    for (const m of [a, b]) assert.deepEqual(comparable(m.result), comparable(plain));
    for (let i = 0; i < 3; i++) assert.equal((await moveAt(file, 10 * i, gen2)).out.status, 'completed');

    const picky = await startHost({ gen: 3, allow: ['10.9.8.7'] });
    try {
      const m = await moveAt(file, 5, picky);
      assert.equal(m.out.status, 'refused');
      assert.match(m.out.reason!, /connections from 127\.0\.0\.1 are not accepted/);
      assert.deepEqual(m.result, plain);
    } finally {
      await picky.server.close();
    }
  });

  it("session mode: the VM keeps being driven on the target (debugger), with the new host's physical registers", async () => {
    const file = prog('caps-probe.vgpu');
    const plain = plainResult(file);
    const vm = loadVm(file, V2);
    vm.run({ untilCommands: 10 });
    const out = await migrateVm(vm, { host: '127.0.0.1', port: gen2.port, mode: 'session', commandsPerChunk: 0 });
    assert.equal(out.status, 'completed', out.reason);
    assert.equal(out.switchedAtCommands, 10, 'a paused VM (a debugger stopped on it) moves exactly where it stands');
    const remote = out.remote!;
    try {
      const caps = await remote.caps();
      assert.equal(caps.hostGen, 2);
      assert.equal(caps.deviceVersion, 2);
      assert.equal(caps.physical.registers.VERSION, '0x2');
      for (const [k, v] of vm.exposed.registers) assert.equal(caps.exposed.registers[k], '0x' + v.toString(16), k);
      assert.equal(caps.exposed.config, Buffer.from(vm.exposed.config).toString('base64'));
      const st = await remote.state();
      assert.equal(st.commands, out.switchedAtCommands);
      // Registers by name: the two hosts' tables need not order them alike.
      assert.equal(st.regs['rcs0.RING_HEAD'], vm.regs.values[vm.engine('rcs0').slots.head]);
      assert.equal(Object.keys(st.regs).length, REGISTERS.length);
      // So is what the two compare: the table by name and width, the digest over [name, value] pairs.
      assert.deepEqual(caps.registerTable, registerTable());
      const d = await remote.digest();
      assert.equal(
        d.digest,
        rebuildFor(vm, 2, 'replica').portableDigest(),
        'the same state digests alike on both hosts',
      );
      const one = await remote.stepOnce();
      assert.equal(one.step, st.step + 1);
      const r = await remote.run();
      assert.equal(r.how, 'done');
      assert.deepEqual(comparable(await remote.result()), comparable(plain));
      const back = await remote.call('goToStep', { step: st.step });
      assert.equal(back.commands, st.commands, 'reverse execution on the target');
      await assert.rejects(remote.readSurface('nope'), /no surface named nope/);
    } finally {
      await remote.close();
    }
    // The host is free again.
    assert.equal((await moveAt(file, 3, gen2)).out.status, 'completed');
  });

  it('vgpu host and vgpu run --migrate-at, end to end; the host stops cleanly on SIGTERM', async () => {
    const h = await spawnHost(['--gen', '2', '--token', 'tok']);
    try {
      const file = prog('blit-rounds.vgpu');
      const run = async (...args: string[]): Promise<RunResult> => {
        const [cmd, argv] = cliCommand(['run', file, '--device-version', '2', '--json', ...args]);
        const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(
            cmd,
            argv,
            { cwd: ROOT, timeout: 30_000, env: { ...process.env, VGPU_HOST_TOKEN: '' } },
            (err, stdout, stderr) =>
              resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as RunResult;
      };
      const plain = await run();
      const moved = await run('--migrate-at', '40', '--to', `127.0.0.1:${h.port}`, '--token', 'tok');
      assert.equal(moved.migration?.status, 'completed', moved.migration?.reason);
      assert.deepEqual(Object.keys(moved.migration!).sort(), ['downtimeMs', 'pagesSent', 'rounds', 'status']);
      assert.deepEqual(comparable(moved), comparable(plain));
      const refused = await run('--migrate-at', '40', '--to', `127.0.0.1:${h.port}`);
      assert.equal(refused.migration?.status, 'refused');
      assert.deepEqual({ ...refused, migration: undefined }, { ...plain, migration: undefined });
      assert.match(h.output(), /accepted .*blit-rounds\.vgpu \(device version 2\)/);
      assert.match(h.output(), /refused .*requires a token/);
    } finally {
      h.child.kill('SIGTERM');
    }
    assert.equal(await h.exited, 0);
    assert.match(h.output(), /SIGTERM: shutting down/);
  });
});
