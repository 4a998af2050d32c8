// Debugging across a VM transfer (`vgpu/migrate`): the VM moves, paused, to a generation-2 host and the
// session goes on against it there; the adapter's replica (what inspection reads) and the VM on the
// target are equal at every stop; Capability Registers show the new host; results equal a plain run.
// Refusals and a lost target leave the session debugging on this host.

import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CustomBody, CustomRequestName } from '../../adapter/protocol';
import { VmHost } from '../../emulator/migration';
import { loadVm } from '../../emulator/program';
import type { RunResult, Vm } from '../../emulator/vm';
import { regByName } from '../../emulator/registers';
import {
  BCS0,
  DRIVER,
  EXAMPLES,
  build,
  children,
  client,
  digest,
  failure,
  launch,
  named,
  scope,
  top,
  untilStop,
} from './client';

const PICTURE = path.join(EXAMPLES, 'picture.vgpu');
const PAGE_FAULT = path.join(EXAMPLES, 'page-fault.vgpu');
const NESTED = path.join(EXAMPLES, 'nested-batches.vgpu');
const V2 = { hostGen: 3, deviceVersion: 2 };

/** rcs0's CS_GPR5 in a VM, by its table name. */
const gpr5 = (vm: Vm): number => vm.regs.values[regByName('CS_GPR5', 'rcs0')!.slot];

/** `vgpu run` of the program, without a move: its result and final state. */
function plain(file: string): RunResult & { digest: string } {
  const vm = loadVm(file, V2);
  vm.run();
  return { ...vm.result(), digest: vm.digest() };
}

describe('adapter: vgpu/migrate, debugging the VM on another host', function () {
  this.timeout(30000);
  let dc: DebugClient;
  let host: VmHost;
  let to: string;
  /** The VM as the target host runs it (the host is in this process), and its result when the session closes. */
  let target: Vm | undefined;
  let closed: RunResult | undefined;
  let outputs: string[];

  before(build);
  beforeEach(async () => {
    target = undefined;
    closed = undefined;
    host = new VmHost({ gen: 2, idleTimeoutMs: 10_000 });
    host.on('resumed', (_t, vm) => (target = vm)).on('finished', (_t, r) => (closed = r));
    to = `127.0.0.1:${(await host.listen()).port}`;
    dc = await client();
    outputs = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => outputs.push(e.body.output));
  });
  afterEach(async () => {
    await dc.stop();
    await host.close();
  });

  async function custom<K extends CustomRequestName>(name: K, args: object = {}): Promise<CustomBody<K>> {
    return (await dc.customRequest(name, args)).body as CustomBody<K>;
  }

  async function migrate(
    args: object = { to },
  ): Promise<[DebugProtocol.StoppedEvent['body'], CustomBody<'vgpu/migrate'>]> {
    const [stop, r] = await Promise.all([dc.waitForEvent('stopped'), custom('vgpu/migrate', args)]);
    return [(stop as DebugProtocol.StoppedEvent).body, r];
  }

  /** The replica the session shows and the VM on the target are the same machine state. */
  async function inStep(what: string): Promise<string> {
    const d = await digest(dc);
    assert.ok(target, 'the target host runs the VM');
    assert.equal(target.digest(), d, `${what}: the VM on the target and the session's replica`);
    return d;
  }

  async function until(cond: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cond(), what);
  }

  it('moves the stopped VM to a generation-2 host and goes on debugging it there: steps, step back, continue', async () => {
    const reference = plain(PICTURE);
    await launch(dc, { program: PICTURE, ...V2 }, (d) =>
      d.setBreakpointsRequest({ source: { path: PICTURE }, breakpoints: [{ line: 18 }] }),
    );
    await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    await dc.setBreakpointsRequest({ source: { path: PICTURE }, breakpoints: [] });
    await untilStop(dc, dc.nextRequest({ threadId: BCS0 }));
    const before = await custom('vgpu/caps');
    assert.equal(before.host, 'local (this debug adapter), generation 3');
    assert.equal(before.physical.registers.VERSION, '0x3');
    const line = (await top(dc, BCS0)).line;
    const here = await digest(dc);

    const [stop, r] = await migrate();
    assert.equal(r.status, 'completed', r.reason);
    assert.deepEqual([r.hostGen, r.host], [2, `${to}, generation 2`]);
    assert.deepEqual([stop.reason, stop.description], ['pause', `Migrated to ${to}, generation 2`]);
    assert.equal(await inStep('after the move'), here, 'the VM moved exactly where it stood');

    // The new host's physical registers beside the unchanged exposed ones.
    const caps = await custom('vgpu/caps');
    assert.deepEqual([caps.hostGen, caps.deviceVersion, caps.host], [2, 2, `${to}, generation 2`]);
    assert.equal(caps.physical.registers.VERSION, '0x2');
    assert.deepEqual(caps.exposed, before.exposed);
    assert.ok(
      caps.fields.every((f) => !f.hidden),
      'a version-2 VM on a generation-2 host: nothing to hide',
    );
    const f = await top(dc, BCS0);
    assert.equal(f.line, line, 'the stack is where it was');
    const regs = await scope(dc, f.id, 'Capability Registers');
    assert.equal(named(regs, 'host').value, `${to}, generation 2`);
    assert.equal(named(regs, 'host generation').value, '2');
    assert.match(named(regs, 'VERSION').value, /^0x0+2 \(= physical\)$/);
    assert.equal(named(await children(dc, named(regs, 'GENCAP')), 'PAGE_1G').value, '0');

    // Forward and backward, the target moves with the replica.
    await untilStop(dc, dc.nextRequest({ threadId: BCS0 }));
    const after = await inStep('after next');
    assert.notEqual(after, here);
    assert.ok((await top(dc, BCS0)).line > line);
    await untilStop(dc, dc.stepBackRequest({ threadId: BCS0 }));
    assert.equal(await inStep('after stepBack'), here);
    assert.equal((await top(dc, BCS0)).line, line);
    await untilStop(dc, dc.nextRequest({ threadId: BCS0 }));
    assert.equal(await inStep('after next again'), after);
    await dc.setBreakpointsRequest({ source: { path: PICTURE }, breakpoints: [{ line: 23 }] });
    const bp = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(bp.reason, 'breakpoint');
    await inStep('at a breakpoint');
    await dc.setBreakpointsRequest({ source: { path: PICTURE }, breakpoints: [] });
    const end = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(end.description, 'Program finished');
    assert.equal(await inStep('at the end'), reference.digest);
    assert.ok(target!.finished);

    // The same pictures and memory as a plain `vgpu run`.
    const got = target!.result();
    assert.equal(got.memorySha256, reference.memorySha256);
    assert.deepEqual(got.surfaces, reference.surfaces);
    const canvas = await custom('vgpu/surface', { name: 'canvas' });
    assert.equal(
      createHash('sha256').update(Buffer.from(canvas.pixels, 'base64')).digest('hex'),
      reference.surfaces.canvas.sha256,
    );

    // Continuing past the end closes the session on the target, with its result in the console.
    await Promise.all([dc.waitForEvent('terminated'), dc.continueRequest({ threadId: DRIVER })]);
    assert.ok(
      outputs.some((o) =>
        o.startsWith(
          `the program ended on ${to}, generation 2: completed after ${reference.commands} commands, 0 GPU errors, memorySha256 ${reference.memorySha256}`,
        ),
      ),
      outputs.join(''),
    );
    await until(() => closed !== undefined, 'the target closes the session');
    assert.equal(closed!.memorySha256, reference.memorySha256);
  });

  it('GPU errors after the move: the target stops on the same fault, rolls back the same way, and reverse execution follows', async () => {
    const reference = plain(PAGE_FAULT);
    await launch(dc, { program: PAGE_FAULT, ...V2 });
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    const [, r] = await migrate();
    assert.equal(r.status, 'completed', r.reason);
    const fault = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.deepEqual([fault.reason, fault.threadId, fault.description], ['exception', BCS0, 'GPU error: page-fault']);
    assert.equal(target!.pending?.kind, 'page-fault', 'the target stands on the same fault');
    await inStep('on the fault');
    const end = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(end.description, 'Program finished');
    await inStep('after the rollback, at the end');
    assert.equal(target!.result().memorySha256, reference.memorySha256);
    assert.deepEqual(target!.result().errors, reference.errors);

    // Back to the oldest state the move carried, and forward again to the same end.
    const first = await untilStop(dc, dc.reverseContinueRequest({ threadId: DRIVER }));
    assert.equal(first.description, 'Beginning of the recorded history');
    await inStep('at the beginning of the history');
    assert.equal((await untilStop(dc, dc.continueRequest({ threadId: DRIVER }))).description, 'Program finished');
    await inStep('at the end again');
    assert.equal(target!.result().memorySha256, reference.memorySha256);
  });

  it('moves again, from the generation-2 host to a generation-3 one: the first host lets the VM go', async () => {
    const reference = plain(NESTED);
    const third = new VmHost({ gen: 3, idleTimeoutMs: 10_000 });
    let onThird: Vm | undefined;
    third.on('resumed', (_t, vm) => (onThird = vm));
    const to3 = `127.0.0.1:${(await third.listen()).port}`;
    try {
      await launch(dc, { program: NESTED, ...V2 });
      await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
      assert.equal((await migrate())[1].status, 'completed');
      await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
      const here = await inStep('on the first host');
      const [stop, r] = await migrate({ to: to3 });
      assert.deepEqual(
        [r.status, r.hostGen, r.host, stop.description],
        ['completed', 3, `${to3}, generation 3`, `Migrated to ${to3}, generation 3`],
      );
      await until(() => closed !== undefined, 'the first host lets the VM go');
      assert.equal(onThird!.digest(), here);
      const caps = await custom('vgpu/caps');
      assert.deepEqual(
        [caps.hostGen, caps.physical.registers.VERSION, caps.exposed.registers.VERSION],
        [3, '0x3', '0x2'],
      );
      assert.equal((await untilStop(dc, dc.continueRequest({ threadId: DRIVER }))).description, 'Program finished');
      assert.equal(await digest(dc), reference.digest);
      assert.equal(onThird!.digest(), reference.digest);
    } finally {
      await third.close();
    }
  });

  it('refused (a version-3 VM, a generation-2 host): the session goes on debugging here; no host: an error', async () => {
    await launch(dc, { program: NESTED, hostGen: 3 });
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    assert.match(await failure(dc.customRequest('vgpu/migrate', {})), /migrationHosts/);
    const here = await digest(dc);
    const [stop, r] = await migrate();
    assert.equal(r.status, 'refused');
    assert.match(r.reason!, /VM exposes device version 3; this host is generation 2/);
    assert.equal(stop.description, 'Migration refused');
    assert.equal(target, undefined);
    assert.equal(await digest(dc), here, 'nothing lost, nothing run');
    const caps = await custom('vgpu/caps');
    assert.deepEqual(
      [caps.hostGen, caps.host, caps.physical.registers.VERSION],
      [3, 'local (this debug adapter), generation 3', '0x3'],
    );
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    assert.notEqual(await digest(dc), here);
    assert.equal((await untilStop(dc, dc.continueRequest({ threadId: DRIVER }))).description, 'Program finished');
  });

  it('edits after the move are made on the target too; stepping back undoes them on both', async () => {
    await launch(dc, { program: NESTED, ...V2 });
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    const [, r] = await migrate();
    assert.equal(r.status, 'completed', r.reason);
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    const before = await inStep('a step after the move');
    // A register by setExpression, guest memory by writeMemory (the `results` dwords at GPA 0x10F000).
    assert.equal(
      (
        (await dc.customRequest('setExpression', {
          expression: 'rcs0.CS_GPR5',
          value: '0x5555',
        })) as DebugProtocol.SetExpressionResponse
      ).body.value,
      '0x5555',
    );
    await dc.customRequest('writeMemory', {
      memoryReference: 'gpa:0x10f000',
      data: Buffer.from([0xef, 0xbe, 0xad, 0xde]).toString('base64'),
    });
    await until(
      () => gpr5(target!) === 0x5555 && target!.readGpa(0x10f000) === 0xdeadbeef,
      'the target made both edits',
    );
    const edited = await inStep('after the edits');
    assert.notEqual(edited, before);
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    await inStep('a step after the edits');
    // Back to the edits, then one more step back, before them: undone here and there.
    await untilStop(dc, dc.stepBackRequest({ threadId: DRIVER }));
    assert.equal(await inStep('stepped back to the edits'), edited);
    await untilStop(dc, dc.stepBackRequest({ threadId: DRIVER }));
    await inStep('stepped back before the edits');
    assert.equal(target!.readGpa(0x10f000), 0, 'the memory edit is undone on the target');
    assert.equal(gpr5(target!), 0, 'the register edit too');
    assert.equal((await untilStop(dc, dc.continueRequest({ threadId: DRIVER }))).description, 'Program finished');
    await inStep('at the end');
    assert.ok(!outputs.some((o) => /diverged|is lost/.test(o)), outputs.join(''));
  });

  it('uses the first of migrationHosts; a lost target brings the VM back here', async () => {
    const reference = plain(NESTED);
    await launch(dc, { program: NESTED, ...V2, migrationHosts: [to, '127.0.0.1:1'] });
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    const [, r] = await migrate({});
    assert.deepEqual([r.status, r.host], ['completed', `${to}, generation 2`]);
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    await inStep('after next');

    await host.close('the host is going down for the test');
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    assert.ok(
      outputs.some((o) =>
        /^the connection to .* is lost: .*; the VM continues on this host \(generation 3\) from its replica/.test(o),
      ),
      outputs.join(''),
    );
    const caps = await custom('vgpu/caps');
    assert.deepEqual([caps.hostGen, caps.host], [3, 'local (this debug adapter), generation 3']);
    assert.equal((await untilStop(dc, dc.continueRequest({ threadId: DRIVER }))).description, 'Program finished');
    assert.equal(await digest(dc), reference.digest, 'the end a plain run reaches');
  });
});
