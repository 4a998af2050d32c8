// The incremental fingerprint (lockstep's comparison after a move) against one made from scratch, at
// every kind of change: commands, rollbacks of GPU errors, reverse steps, time travel, edits; and its
// registers keyed by name, so hosts whose register tables differ in order agree (issue 17).

import { strict as assert } from 'node:assert';
import { Fingerprint } from '../../emulator/fingerprint';
import { loadVm } from '../../emulator/program';
import { stepBack } from '../../emulator/reverse';
import { STEP_DONE, STEP_ERROR, Vm, machineStateJson } from '../../emulator/vm';
import { REGISTERS, RegInstance, SLOT_COUNT, registerTable, registerTableDifference } from '../../emulator/registers';
import type { RemoteVm } from '../../emulator/migration';
import { Lockstep, LockstepError } from '../../emulator/migration/lockstep';
import { prng } from './helpers';
import { randomProgram } from './random';

function fresh(vm: Vm): string {
  const f = new Fingerprint(vm);
  const d = f.digest();
  f.dispose();
  return d;
}

describe('incremental fingerprint', () => {
  it('equals a fingerprint made from scratch through runs, rollbacks, reverse steps, time travel and edits', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rnd = prng(1000 + seed);
      const vm = loadVm('r.vgpu', { snapshotEvery: 3 }, randomProgram(seed, { faults: true, commands: 60 }));
      const fp = new Fingerprint(vm);
      const check = (what: string) => assert.equal(fp.digest(), fresh(vm), `seed ${seed}: ${what} at step ${vm.step}`);
      check('start');
      for (let k = 0; k < 80; k++) {
        const r = rnd();
        if (r < 0.55) {
          const s = vm.stepOnce();
          if (s === STEP_ERROR && !vm.recover()) break;
          if (s === STEP_DONE) break;
        } else if (r < 0.7) stepBack(vm);
        else if (r < 0.8) vm.goToStep(Math.floor(rnd() * (vm.step + 1)));
        else if (r < 0.9) vm.editMemory('gpa', 0x120000 + 4 * Math.floor(rnd() * 64), [Math.floor(rnd() * 2 ** 32)]);
        else vm.editRegister(vm.engine('rcs0').slots.gpr0, Math.floor(rnd() * 2 ** 32));
        check(`after action ${k}`);
      }
      fp.dispose();
    }
  });

  it('tells two states apart that differ in one byte of guest memory', () => {
    const src = randomProgram(3);
    const a = loadVm('r.vgpu', {}, src);
    const b = loadVm('r.vgpu', {}, src);
    const fa = new Fingerprint(a);
    const fb = new Fingerprint(b);
    assert.equal(fa.digest(), fb.digest());
    b.editMemory('gpa', 0x120000, [(b.readGpa(0x120000)! ^ 0x100) >>> 0]);
    assert.notEqual(fa.digest(), fb.digest());
  });
});

describe('registers in digests are keyed by name (two hosts whose register tables differ in order agree)', () => {
  /** REGISTERS in another order, at other slots (as another build might lay them out), and `values` moved there. */
  function permuted(values: Uint32Array, seed: number): { table: RegInstance[]; values: Uint32Array } {
    const rnd = prng(seed);
    const order = [...REGISTERS];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const table: RegInstance[] = [];
    const moved: number[] = [];
    for (const r of order) {
      table.push({ ...r, slot: moved.length });
      moved.push(values[r.slot]);
      if (r.def.width === 64) moved.push(values[r.slot + 1]);
    }
    return { table, values: Uint32Array.from(moved) };
  }

  it('a state laid out by a permuted register table hashes as it does here; by slot it would not', () => {
    const vm = loadVm('r.vgpu', {}, randomProgram(5, { commands: 40 }));
    vm.run({ untilCommands: 20 });
    const st = vm.machineState();
    for (let seed = 1; seed <= 5; seed++) {
      const p = permuted(st.regs, seed);
      assert.equal(machineStateJson({ ...st, regs: p.values }, p.table), machineStateJson(st), `seed ${seed}`);
      assert.notEqual(JSON.stringify(Array.from(p.values)), JSON.stringify(Array.from(st.regs)), 'slots moved');
      assert.equal(registerTableDifference(registerTable(), registerTable(p.table), 'the other host'), null);
    }
    // One register's value changed: the digests differ.
    const p = permuted(st.regs, 9);
    p.values[p.table.find((r) => r.name === 'rcs0.CS_GPR0')!.slot] ^= 1;
    assert.notEqual(machineStateJson({ ...st, regs: p.values }, p.table), machineStateJson(st));
  });

  it('a register one side does not know is refused, naming it', () => {
    const here = registerTable();
    const extra = { ...REGISTERS[0], name: 'rcs0.NEW_REG', slot: SLOT_COUNT };
    assert.equal(
      registerTableDifference(here, registerTable([...REGISTERS, extra]), 'host B'),
      'register rcs0.NEW_REG of the register table on host B is unknown here: the two hosts run different vgpu versions',
    );
    assert.equal(
      registerTableDifference(here, registerTable(REGISTERS.filter((r) => r.name !== 'FAULT_STATUS')), 'host B'),
      'register FAULT_STATUS is unknown to the register table on host B: the two hosts run different vgpu versions',
    );
    const wide = REGISTERS.find((r) => r.def.width === 32)!;
    const widened = REGISTERS.map((r) => (r === wide ? { ...r, def: { ...r.def, width: 64 as const } } : r));
    assert.equal(
      registerTableDifference(here, registerTable(widened), 'host B'),
      `register ${wide.name} is 32-bit here and 64-bit on host B`,
    );
  });

  it('lockstep refuses a target whose register table lists a register this side lacks, before comparing anything', async () => {
    const vm = loadVm('r.vgpu', {}, randomProgram(2));
    const extra = { ...REGISTERS[0], name: 'vcs0.SHINY', slot: SLOT_COUNT };
    const remote = {
      address: '10.0.0.9:7480',
      hostGen: 3,
      caps: async () => ({ registerTable: registerTable([...REGISTERS, extra]) }),
    };
    const ls = new Lockstep(remote as unknown as RemoteVm, vm);
    await assert.rejects(ls.checkDevice(), (e: Error) => {
      assert.ok(e instanceof LockstepError);
      assert.match(
        e.message,
        /^register vcs0\.SHINY of the register table on 10\.0\.0\.9:7480, generation 3 is unknown here/,
      );
      return true;
    });
  });
});
