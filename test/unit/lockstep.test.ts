// A VM moved in lockstep (emulator/migration/lockstep.ts), through the emulator's API alone, with a host
// in this process: the replica is built for the target's generation; motions, rollbacks and edits made
// on it are repeated on the target and compared; a target that differs is found; a move no longer wanted
// or refused leaves the VM here.

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Lockstep, LockstepError, migrateInLockstep, rebuildFor, VmHost } from '../../emulator/migration';
import { loadVm } from '../../emulator/program';
import { regByName } from '../../emulator/registers';
import { STEP_ERROR, type Vm } from '../../emulator/vm';

const EXAMPLES = path.resolve(__dirname, '../../examples');
const PICTURE = path.join(EXAMPLES, 'picture.vgpu');
const PAGE_FAULT = path.join(EXAMPLES, 'page-fault.vgpu');
const V2 = { hostGen: 3, deviceVersion: 2 };

describe('lockstep (emulator/migration/lockstep.ts)', function () {
  this.timeout(30000);
  let host: VmHost;
  let at: { host: string; port: number };
  let target: Vm | undefined;
  let lockstep: Lockstep | undefined;

  beforeEach(async () => {
    target = undefined;
    lockstep = undefined;
    host = new VmHost({ gen: 2, idleTimeoutMs: 10_000 });
    host.on('resumed', (_t, vm) => (target = vm));
    at = await host.listen();
  });
  afterEach(async () => {
    await lockstep?.close();
    await host.close();
  });

  /** Moves the VM; the lockstep and the VM on the target. */
  async function move(vm: Vm): Promise<Lockstep> {
    const { outcome, lockstep: ls } = await migrateInLockstep(vm, at);
    assert.equal(outcome.status, 'completed', outcome.reason);
    assert.ok(ls && target, 'the VM runs on the target');
    lockstep = ls;
    return ls;
  }

  it('rebuilds a VM for another generation: the same machine, that host physical registers', () => {
    const vm = loadVm(PICTURE, V2);
    vm.goToStep(6);
    const copy = rebuildFor(vm, 2, 'the copy');
    assert.equal(copy.digest(), vm.digest());
    assert.equal(copy.cfg.hostGen, 2);
    assert.equal(copy.physical.registers.get('VERSION'), 2n);
    assert.equal(copy.step, vm.step);
    const faulting = loadVm(PAGE_FAULT, { autoRollback: false });
    faulting.run();
    assert.ok(faulting.pending, 'stopped on its page fault');
    const again = rebuildFor(faulting, 3, 'the copy');
    assert.equal(again.pending?.kind, faulting.pending.kind, 'the copy stops on the same GPU error');
    assert.equal(again.digest(), faulting.digest());
  });

  it('moves a VM: the target repeats every motion and edit of the replica, compared at each stop', async () => {
    const vm = loadVm(PICTURE, V2);
    vm.goToStep(5);
    const ls = await move(vm);
    const r = ls.replica;
    assert.notEqual(r, vm);
    assert.equal(r.cfg.hostGen, 2);
    assert.equal(ls.host, `${at.host}:${at.port}, generation 2`);
    assert.equal(target!.digest(), r.digest(), 'moved exactly where it stood');

    r.stepOnce();
    r.stepOnce();
    await ls.follow();
    assert.equal(ls.verified, 1);
    assert.equal(target!.step, r.step);
    r.goToStep(3); // back: the target restores a snapshot and replays, as the replica did
    await ls.follow();
    assert.equal(target!.digest(), r.digest());

    const gpr = regByName('CS_GPR5', 'rcs0')!;
    r.on('edit', (e) => ls.edit(e));
    assert.ok(r.editRegister(gpr.slot, 0x1234));
    await ls.follow();
    assert.equal(target!.regs.values[gpr.slot], 0x1234, 'the edit made on the target');
    assert.equal(target!.digest(), r.digest());

    r.run();
    await ls.follow();
    assert.equal(ls.verified, 4);
    assert.deepEqual(target!.result(), r.result());
  });

  it('repeats the rollback of a GPU error the replica stopped on', async () => {
    const vm = loadVm(PAGE_FAULT, V2);
    const ls = await move(vm);
    const r = ls.replica;
    while (r.stepOnce() !== STEP_ERROR) assert.ok(!r.finished, 'the example faults');
    await ls.follow();
    assert.equal(target!.pending?.kind, r.pending!.kind, 'both stopped on the fault');
    const err = r.pending!;
    assert.ok(r.recover());
    ls.recovered(err, r.step);
    r.run();
    await ls.follow();
    assert.equal(target!.digest(), r.digest());
    assert.deepEqual(target!.result(), r.result());
  });

  it('finds a target that differs from the replica', async () => {
    const vm = loadVm(PICTURE, V2);
    vm.goToStep(5);
    const ls = await move(vm);
    const gpr = regByName('CS_GPR5', 'rcs0')!;
    target!.regs.values[gpr.slot] ^= 1;
    ls.replica.stepOnce();
    await assert.rejects(ls.follow(), (e: unknown) => e instanceof LockstepError && /differ/.test(e.message));
  });

  it('a move no longer wanted once the VM arrived, or refused, leaves the VM here', async () => {
    const vm = loadVm(PICTURE, V2);
    vm.goToStep(5);
    const before = vm.digest();
    const gone = await migrateInLockstep(vm, at, () => 'the session ended');
    assert.equal(gone.lockstep, undefined);
    assert.equal(gone.outcome.status, 'failed');
    assert.equal(gone.outcome.reason, 'the session ended; the VM on the target is discarded');
    assert.equal(vm.digest(), before);

    const v3 = loadVm(PICTURE);
    const refused = await migrateInLockstep(v3, at);
    assert.equal(refused.outcome.status, 'refused');
    assert.equal(refused.lockstep, undefined);
  });
});
