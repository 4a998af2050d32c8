// Checkpoints: the whole VM saved at N commands and resumed gives the same result as a plain run;
// a truncated or corrupted file is refused with a message, nothing half-loaded runs.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CheckpointError,
  readCheckpoint,
  serializeVm,
  parseSections,
  vmFromSections,
  writeCheckpoint,
} from '../../emulator/checkpoint';
import { loadVm } from '../../emulator/program';
import { EXAMPLES, example } from './helpers';
import { randomProgram } from './random';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-ckpt-'));

function comparable(r: ReturnType<ReturnType<typeof example>['result']>) {
  const { snapshots: _s, ...rest } = r;
  return rest;
}

describe('checkpoints', () => {
  it('every example, checkpointed at several points, resumes to the plain result', () => {
    for (const f of fs.readdirSync(EXAMPLES).filter((x) => x.endsWith('.vgpu'))) {
      const plain = example(f);
      plain.run();
      const want = comparable(plain.result());
      for (const n of [0, 1, 3, 6]) {
        const vm = example(f);
        vm.run({ untilCommands: n });
        const file = path.join(tmp, `${f}.${n}.ckpt`);
        writeCheckpoint(vm, file);
        const back = readCheckpoint(file);
        assert.equal(back.digest(), vm.digest(), `${f}@${n}: identical state after load`);
        back.run();
        assert.deepEqual(comparable(back.result()), want, `${f} checkpointed at ${n}`);
      }
    }
  });

  it('a GPU error after resuming still rolls back to the guilty submission', () => {
    const plain = example('page-fault.vgpu');
    plain.run();
    const vm = example('page-fault.vgpu');
    vm.run({ untilCommands: 3 }); // inside the guilty submission
    const back = vmFromSections(parseSections(serializeVm(vm), 'mem'), 'mem');
    back.run();
    assert.equal(back.errors[0].rolledBack, true);
    assert.equal(back.memorySha256(), plain.memorySha256());
  });

  it('random programs: resume equals plain', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const src = randomProgram(seed, { commands: 60, faults: true });
      const plain = loadVm('r.vgpu', {}, src);
      plain.run();
      const vm = loadVm('r.vgpu', {}, src);
      vm.run({ untilCommands: 17 });
      const back = vmFromSections(parseSections(serializeVm(vm), 'mem'), 'mem');
      back.run();
      assert.deepEqual(comparable(back.result()), comparable(plain.result()), `seed ${seed}`);
    }
  });

  it('refuses truncated, corrupted and foreign files with a reason', () => {
    const vm = example('picture.vgpu');
    vm.run({ untilCommands: 4 });
    const good = serializeVm(vm);
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 100), /truncated/],
      ['empty', Buffer.alloc(0), /truncated/],
      ['foreign', Buffer.from('hello world, not a checkpoint'), /bad magic/],
    ];
    for (const at of [20, 200, Math.floor(good.length / 2), good.length - 40]) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x40;
      cases.push([`bit flip at ${at}`, bad, /checksum|truncated|unknown section|stray/]);
    }
    for (const [what, buf, re] of cases) {
      const file = path.join(tmp, `bad-${what.replace(/ /g, '-')}.ckpt`);
      fs.writeFileSync(file, buf);
      assert.throws(
        () => readCheckpoint(file),
        (e: Error) => e instanceof CheckpointError && re.test(e.message),
        what,
      );
    }
  });

  it('refuses to resume a VM on a host older than its exposed version', () => {
    const vm = example('picture.vgpu');
    assert.throws(
      () => vmFromSections(parseSections(serializeVm(vm), 'x'), 'x', 2),
      /VM exposes device version 3; this host is generation 2/,
    );
  });
});
