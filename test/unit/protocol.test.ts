// Requests as data: every custom request's arguments are declared once (adapter/protocol.ts), and the
// adapter's validation reads the declaration.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CUSTOM_REQUEST_ARGS, LAUNCH_ATTRIBUTES, checkArguments } from '../../adapter/protocol';
import { loadVm } from '../../emulator/program';
import { ConfigError, VM_DEFAULTS, VM_MINIMUMS } from '../../emulator/vm';

describe('requests as data', () => {
  it('checks required, typed, ranged and enumerated arguments, naming the request and the argument', () => {
    const t = CUSTOM_REQUEST_ARGS['vgpu/translate'];
    assert.deepEqual(checkArguments('vgpu/translate', {}, t), ["vgpu/translate: 'va' is required"]);
    assert.deepEqual(checkArguments('vgpu/translate', { va: 0x1000 }, t), []);
    assert.deepEqual(
      checkArguments('vgpu/translate', { va: 'label + 4' }, t),
      [],
      'a union type: a number or an expression',
    );
    assert.deepEqual(checkArguments('vgpu/translate', { va: true }, t), [
      "vgpu/translate: 'va' must be an integer or a string (got true)",
    ]);
    assert.deepEqual(checkArguments('vgpu/translate', { va: 1, engine: 'vcs0' }, t), [
      `vgpu/translate: 'engine' must be one of rcs0, bcs0 (got "vcs0")`,
    ]);
    assert.deepEqual(checkArguments('vgpu/diff', { to: -2 }, CUSTOM_REQUEST_ARGS['vgpu/diff']), [
      "vgpu/diff: 'to' must be at least -1 (got -2)",
    ]);
    assert.deepEqual(checkArguments('vgpu/rollback', { id: 1.5 }, CUSTOM_REQUEST_ARGS['vgpu/rollback']), [
      "vgpu/rollback: 'id' must be an integer (got 1.5)",
    ]);
    assert.deepEqual(checkArguments('launch', { program: 'x.vgpu', memory: '12Q' }, LAUNCH_ATTRIBUTES), [
      `launch: 'memory' must match ${LAUNCH_ATTRIBUTES.memory.pattern} (got "12Q")`,
    ]);
  });

  it('the adapter handles exactly the declared custom requests', () => {
    const session = fs.readFileSync(path.resolve(__dirname, '../../adapter/session.ts'), 'utf8');
    const handled = [...session.matchAll(/^\s+'(vgpu\/\w+)': \(/gm)].map((m) => m[1]).sort();
    assert.deepEqual(handled, Object.keys(CUSTOM_REQUEST_ARGS).sort());
  });

  it("launch attributes show the VM's own defaults and least values, which the VM applies", () => {
    const vm = loadVm('defaults.vgpu', {}, '');
    for (const name of ['hostGen', 'snapshotEvery', 'watchdog', 'autoRollback'] as const) {
      assert.equal(LAUNCH_ATTRIBUTES[name].default, VM_DEFAULTS[name], `${name} is declared once`);
      assert.equal(vm.cfg[name], LAUNCH_ATTRIBUTES[name].default, `a launch without ${name} gets the default shown`);
    }
    for (const name of ['snapshotEvery', 'watchdog'] as const) {
      const least = LAUNCH_ATTRIBUTES[name].minimum;
      assert.equal(least, VM_MINIMUMS[name], `${name}'s least value is declared once`);
      assert.equal(loadVm('least.vgpu', { [name]: least }, '').cfg[name], least);
      assert.throws(() => loadVm('less.vgpu', { [name]: least - 1 }, ''), ConfigError);
    }
  });
});
