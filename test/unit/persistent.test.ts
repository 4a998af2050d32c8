// Saved table versions (emulator/persistent.ts) and what engines save with them: a version shares
// every leaf that did not change, so a snapshot's copy of command counts and pipeline state costs the
// changes since the last snapshot, however many commands the table has seen.

import { strict as assert } from 'node:assert';
import { Engine } from '../../emulator/engine';
import { TableSaver } from '../../emulator/persistent';
import { loadVm } from '../../emulator/program';

const json = (t: { keys: readonly number[]; get(k: number): unknown }) =>
  Object.fromEntries(t.keys.map((k) => [k, t.get(k)]));

describe('saved table versions', () => {
  it('a version copies only the leaves whose keys changed, and keeps keys in the order they first got a value', () => {
    const live = new Map<number, number>();
    const saver = new TableSaver<number>(200, json);
    const set = (k: number, v: number) => {
      live.set(k, v);
      saver.mark(k);
    };
    for (const k of [150, 3, 40, 199, 0]) set(k, k + 1);
    const a = saver.save((k) => live.get(k));
    assert.deepEqual(a.keys, [150, 3, 40, 199, 0]);
    assert.equal(
      saver.save((k) => live.get(k)),
      a,
      'nothing marked: the same version',
    );
    set(41, 7);
    set(3, 9);
    const b = saver.save((k) => live.get(k));
    assert.deepEqual(
      JSON.parse(JSON.stringify(a)),
      { 150: 151, 3: 4, 40: 41, 199: 200, 0: 1 },
      'the older version is unchanged',
    );
    assert.deepEqual(b.keys, [150, 3, 40, 199, 0, 41]);
    assert.deepEqual([b.get(3), b.get(41), b.get(40), b.get(5)], [9, 7, 41, undefined]);
    // 3 and 0 share a leaf, 40 and 41 another: two leaves copied, the others shared.
    const copied = b.leaves.filter((l, i) => l !== undefined && l !== a.leaves[i]).length;
    assert.equal(copied, 2);
    assert.equal(b.leaves[150 >> 4], a.leaves[150 >> 4]);
    set(41, 7); // marked with the same value: nothing to copy
    assert.equal(
      saver.save((k) => live.get(k)),
      b,
    );
  });

  it('a restored version is built upon, and a table restored from a record starts afresh', () => {
    const saver = new TableSaver<number>(64, json);
    saver.mark(5);
    const a = saver.save(() => 1);
    saver.mark(6);
    saver.save(() => 2);
    saver.adopt(a);
    saver.mark(7);
    const c = saver.save((k) => k);
    assert.deepEqual(c.keys, [5, 7]);
    assert.equal(c.get(6), undefined);
    saver.reset([9, 2]);
    const d = saver.save((k) => k * 10);
    assert.deepEqual([d.keys, d.get(9), d.get(5)], [[9, 2], 90, undefined]);
  });
});

describe('engine saved state', () => {
  // 3D state and a draw first (many commands counted, eight pipeline entries), then register loads only.
  const src = `.vm memory=64M
.map 0x100000, 0x100000, 64K, rw
.map 0x200000, 0x200000, 64K, rw
.batch setup, 0x100000
    PIPELINE_SELECT pipeline_selection=_3D, mask_bits=3
    STATE_BASE_ADDRESS general_state_base_address=0x200000, general_state_base_address_modify_enable=1
    3DSTATE_VIEWPORT_STATE_POINTERS_CC cc_viewport_pointer=0x40
    3DSTATE_VS kernel_start_pointer=0x100, enable=1, maximum_number_of_threads=15
    3DSTATE_PS kernel_start_pointer_0=0x200, _8_pixel_dispatch_enable=1, maximum_number_of_threads_per_psd=63
    3DSTATE_VF_TOPOLOGY primitive_topology_type=TRILIST
    3DPRIMITIVE vertex_access_type=SEQUENTIAL, vertex_count_per_instance=3, instance_count=1
    MI_NOOP
    MI_BATCH_BUFFER_END
.batch loads, 0x108000
${Array.from({ length: 200 }, (_, i) => `    MI_LOAD_REGISTER_IMM CS_GPR${i % 16}=${i}`).join('\n')}
    MI_BATCH_BUFFER_END
.ring rcs0
    MI_BATCH_BUFFER_START addr=setup
    MI_BATCH_BUFFER_START addr=loads
.submit rcs0
.wait rcs0
`;

  it('an idle engine saves the same state; a busy one shares every part that did not change', () => {
    const vm = loadVm('saved.vgpu', { snapshotEvery: 0 }, src);
    vm.run({ untilCommands: 20 });
    const [rcs, bcs] = vm.engines;
    const a = rcs.save();
    assert.equal(bcs.save(), bcs.save(), 'an idle engine');
    assert.equal(rcs.save(), a, 'nothing ran since');
    vm.run({ maxSteps: vm.step + 5 });
    const b = rcs.save();
    assert.notEqual(b, a);
    assert.equal(b.pipeline, a.pipeline, 'no state command since: the pipeline version is shared');
    assert.deepEqual(JSON.parse(JSON.stringify(b.pipeline)), JSON.parse(JSON.stringify(rcs.pipeline)));
    assert.equal(Object.keys(rcs.pipeline).length, 6);
    // Only register loads since: one leaf of counts, not the table, nor the pipeline entries.
    assert.ok(
      Engine.stateBytes(b, a) < 1024,
      `${Engine.stateBytes(b, a)} bytes against ${Engine.stateBytes(b, undefined)} for the whole state`,
    );
    assert.ok(Engine.stateBytes(b, undefined) > 3 * Engine.stateBytes(b, a));
  });

  it('saved versions restore the engine exactly (counts, pipeline state, JSON as before)', () => {
    const vm = loadVm('saved.vgpu', { snapshotEvery: 0 }, src);
    vm.run({ untilCommands: 12 });
    const st = vm.machineState();
    const text = JSON.stringify(st.engines);
    const counts = vm.commandCounts();
    vm.run();
    assert.notDeepEqual(vm.commandCounts(), counts);
    vm.engines.forEach((e, i) => e.restore(st.engines[i]));
    assert.deepEqual(vm.commandCounts().commandCounts, counts.commandCounts);
    assert.equal(JSON.stringify(vm.engines.map((e) => e.save())), text);
    // And from a record (a checkpoint's JSON) to the same state.
    vm.engines.forEach((e, i) => e.restore(JSON.parse(text)[i]));
    assert.equal(JSON.stringify(vm.engines.map((e) => e.save())), text);
  });
});
