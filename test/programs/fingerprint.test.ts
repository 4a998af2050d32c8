// The incremental fingerprint (lockstep's comparison after a move) against one made from scratch, at
// every kind of change: commands, rollbacks of GPU errors, reverse steps, time travel, edits.

import { strict as assert } from 'node:assert';
import { Fingerprint } from '../../emulator/fingerprint';
import { loadVm } from '../../emulator/program';
import { stepBack } from '../../emulator/reverse';
import { STEP_DONE, STEP_ERROR, Vm } from '../../emulator/vm';
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
