// Every example's expected outcome, as a user would check it: results in memory, errors at the right line.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { EXAMPLES, atLabel, example, runChecked } from './helpers';
import { decodeCommand } from '../../emulator/commands';

describe('examples', () => {
  it('picture: draws the scene with fills and copies', () => {
    const vm = example('picture.vgpu');
    assert.deepEqual(runChecked(vm), []);
    const r = vm.result();
    assert.equal(r.status, 'completed');
    assert.equal(r.errors.length, 0);
    const s = vm.readSurface('canvas');
    const px = (x: number, y: number) => s.pixels[y * s.width + x];
    assert.equal(px(0, 0), 0xff203060, 'sky');
    assert.equal(px(0, 127), 0xff2e7d32, 'ground');
    assert.equal(px(16, 56), 0xffffa000, 'tile border');
    assert.equal(px(32, 72), 0xffd32f2f, 'tile core');
    assert.equal(px(48, 72), 0xff203060, 'x2 is exclusive');
    assert.equal(px(224, 72), 0xffd32f2f, 'fast copy');
    assert.equal(px(208, 20), 0xffd32f2f, 'sun');
    assert.equal(r.surfaces.canvas.sha256, vm.surfaceSha256('canvas'));
  });

  it('picture: version 1 rejects XY_FAST_COPY_BLT at run time, not at assembly', () => {
    const vm = example('picture.vgpu', { deviceVersion: 1 });
    vm.run();
    assert.equal(vm.errors.length, 1);
    assert.equal(vm.errors[0].kind, 'invalid-command');
    assert.equal(vm.errors[0].mnemonic, 'XY_FAST_COPY_BLT');
    assert.equal(vm.errors[0].line, 25);
    assert.equal(vm.errors[0].rolledBack, true);
  });

  it('semaphore-handoff: bcs0 waits for rcs0 and copies its value', () => {
    const vm = example('semaphore-handoff.vgpu');
    assert.deepEqual(runChecked(vm), []);
    assert.equal(vm.result().status, 'completed');
    assert.equal(atLabel(vm, 'result'), 42);
    assert.equal(atLabel(vm, 'flag'), 1);
  });

  it('nested-batches: three levels, then back to the ring', () => {
    const vm = example('nested-batches.vgpu');
    assert.deepEqual(runChecked(vm), []);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => atLabel(vm, 'results', i)),
      [1, 2, 3, 0xd00e],
    );
    assert.equal(vm.engine('rcs0').depth, 0);
  });

  it('nested-batches: version 1 refuses the third level', () => {
    const vm = example('nested-batches.vgpu', { deviceVersion: 1, autoRollback: false });
    assert.equal(vm.run(), 'error');
    assert.equal(vm.pending!.kind, 'invalid-command');
    assert.match(vm.pending!.message, /nesting depth 3 exceeds the maximum 2/);
    assert.equal(vm.pending!.line, 22);
    assert.equal(vm.engine('rcs0').depth, 2, 'stopped inside the second level');
  });

  it('page-fault: the GPU clears its own PTE, the TLB hides it until invalidated, then a precise fault', () => {
    const vm = example('page-fault.vgpu', { autoRollback: false });
    assert.equal(vm.run(), 'error');
    const e = vm.pending!;
    assert.equal(e.kind, 'page-fault');
    assert.equal(e.faultAddress, 0x200008);
    assert.equal(e.line, 20);
    assert.match(e.message, /PT\[0\] at GPA 0x3ffb000 is not present/);
    assert.ok(e.walk && e.walk.length === 4, 'the walk is recorded');
    // The stale-TLB store went through before the invalidation.
    assert.equal(vm.readGpa(0x200004), 0x2222);
    // Fault registers: valid, kind page-fault (2), engine bcs0 (1).
    assert.equal(vm.registerValue(0x4408), 1 | (2 << 4) | (1 << 8));
    assert.equal(vm.registerValue(0x4400), 0x200008);
  });

  it('page-fault: autoRollback undoes the guilty submission', () => {
    const vm = example('page-fault.vgpu');
    assert.equal(vm.run(), 'done');
    assert.equal(vm.errors[0].rolledBack, true);
    assert.equal(vm.readGpa(0x200000), 0, 'the first store was rolled back too');
    assert.equal(vm.result().status, 'completed');
  });

  it('hang: the semaphore times out; the next submission still runs', () => {
    const vm = example('hang.vgpu');
    vm.run();
    assert.equal(vm.errors.length, 1);
    assert.equal(vm.errors[0].kind, 'hang');
    assert.equal(vm.errors[0].line, 15);
    assert.equal(atLabel(vm, 'done'), 1);
  });

  it('hang: the watchdog catches a batch that loops forever', () => {
    const src = `.map 0x100000, 0x100000, 4K, rw\n.batch spin, 0x100000\nloop: MI_NOOP\n MI_BATCH_BUFFER_START addr=loop\n.ring rcs0\n MI_BATCH_BUFFER_START addr=spin\n.submit rcs0\n.wait rcs0\n`;
    const { loadVm } = require('../../emulator/program');
    const vm = loadVm('spin.vgpu', { watchdog: 5000, autoRollback: false }, src);
    assert.equal(vm.run(), 'error');
    assert.equal(vm.pending.kind, 'hang');
    assert.match(vm.pending.message, /watchdog/);
  });

  it('isolation-violation: the mirror works under the full view, faults under the restricted one', () => {
    const vm = example('isolation-violation.vgpu', { autoRollback: false });
    assert.equal(vm.run(), 'error');
    assert.equal(vm.readGpa(0x180000), 0xa11ce, 'first batch wrote through range B');
    assert.equal(vm.pending!.kind, 'isolation-violation');
    assert.equal(vm.pending!.gpa, 2 ** 39 + 0x180000);
  });

  it('isolation is refused on a version without it', () => {
    assert.throws(
      () => example('isolation-violation.vgpu', { deviceVersion: 1 }),
      /isolation was asked for, but device version 1/,
    );
  });

  it('privileged-register: EPT_VIEW is outside the allow-list', () => {
    const vm = example('privileged-register.vgpu', { autoRollback: false });
    assert.equal(vm.run(), 'error');
    assert.equal(vm.pending!.kind, 'privileged-register');
    assert.equal(vm.pending!.line, 11);
    assert.equal(vm.registerValue(0x2600), 7, 'the allowed write happened');
    assert.equal(vm.registerValue(0x23f0), 0, 'EPT_VIEW unchanged');
  });

  it('version-rejected: MI_ATOMIC is refused on the pool minimum, accepted on version 3', () => {
    const v1 = example('version-rejected.vgpu');
    v1.run();
    assert.equal(v1.cfg.version, 1);
    assert.equal(v1.errors[0].kind, 'invalid-command');
    assert.equal(atLabel(v1, 'counter'), 41);
    const v3 = example('version-rejected.vgpu', { deviceVersion: 3 });
    v3.run();
    assert.equal(v3.errors.length, 0);
    assert.equal(atLabel(v3, 'counter'), 42);
  });

  it('predicated-render: the query that found nothing skips its draw and its second-level batch', () => {
    const vm = example('predicated-render.vgpu');
    assert.deepEqual(runChecked(vm), []);
    const r = vm.result();
    assert.equal(r.status, 'completed');
    assert.deepEqual([atLabel(vm, 'pred_a'), atLabel(vm, 'pred_b')], [0, 1]);
    assert.deepEqual([atLabel(vm, 'marker_a'), atLabel(vm, 'marker_b')], [0, 1]);
    assert.equal(r.commandCounts['3DPRIMITIVE'], 2, 'both draws retire');
    assert.deepEqual(r.notEmulated, { '3DPRIMITIVE': 1 }, 'only the second would have run shaders');
  });

  it('gpu-loop: MI_MATH counts down, MI_CONDITIONAL_BATCH_BUFFER_END leaves after five rounds', () => {
    const vm = example('gpu-loop.vgpu');
    assert.deepEqual(runChecked(vm), []);
    const r = vm.result();
    assert.equal(r.status, 'completed');
    assert.deepEqual([atLabel(vm, 'remaining'), atLabel(vm, 'sum'), atLabel(vm, 'done')], [0, 15, 1]);
    assert.equal(r.commandCounts.MI_MATH, 5);
    assert.equal(r.commandCounts.MI_CONDITIONAL_BATCH_BUFFER_END, 5);
    assert.equal(vm.engine('rcs0').depth, 0, 'back on the ring');
  });

  it('pipeline-3d: state commands kept as pipeline state, the draw not emulated, the fence written', () => {
    const vm = example('pipeline-3d.vgpu');
    assert.deepEqual(runChecked(vm), []);
    const r = vm.result();
    assert.equal(r.status, 'completed');
    assert.deepEqual(r.notEmulated, { '3DPRIMITIVE': 1 });
    assert.equal(atLabel(vm, 'fence'), 1);
    const p = vm.engine('rcs0').pipeline;
    for (const m of [
      'PIPELINE_SELECT',
      'STATE_BASE_ADDRESS',
      '3DSTATE_VERTEX_BUFFERS',
      '3DSTATE_VERTEX_ELEMENTS',
      '3DSTATE_VS',
      '3DSTATE_PS',
      '3DSTATE_VF_TOPOLOGY',
    ])
      assert.ok(p[m], m);
    const vb = decodeCommand(p['3DSTATE_VERTEX_BUFFERS'].dwords, 0, p['3DSTATE_VERTEX_BUFFERS'].dwords.length);
    assert.ok(typeof vb !== 'string');
    assert.deepEqual(
      [vb.fields.get('buffer_pitch.0'), vb.fields.get('buffer_starting_address.0'), vb.fields.get('buffer_size.0')],
      [16n, 0x200000n, 48n],
    );
    const sba = decodeCommand(p.STATE_BASE_ADDRESS.dwords, 0, 19);
    assert.ok(typeof sba !== 'string');
    assert.equal(sba.fields.get('instruction_base_address'), 0x430000n);
  });

  it('every example is deterministic and sound (predicted writes cover actual writes)', () => {
    for (const f of fs.readdirSync(EXAMPLES).filter((x) => x.endsWith('.vgpu'))) {
      const a = example(f);
      assert.deepEqual(runChecked(a), [], f);
      const b = example(f);
      b.run();
      assert.equal(a.memorySha256(), b.memorySha256(), f);
      assert.equal(a.digest(), b.digest(), f);
      assert.deepEqual(a.result(), b.result(), f);
    }
  });
});
