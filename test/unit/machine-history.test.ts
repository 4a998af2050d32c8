// The VM's past read without moving it (emulator/history.ts), through the emulator's API alone: a
// surface and the PPGTT root at each kept snapshot equal what the VM rolled back there has, the live
// registers untouched; a difference between two snapshots in plain numbers (no DAP formatting).

import { strict as assert } from 'node:assert';
import { MAX_RANGES_PER_PAGE, pml4At, snapshotDiff, surfaceAt } from '../../emulator/history';
import { PAGE_SIZE } from '../../emulator/memory';
import { loadVm } from '../../emulator/program';
import { addressRegister } from '../../emulator/registers';

/** Two submissions on bcs0 paint a surface; one on rcs0 between them stores dwords and loads CS_GPR3. */
const PROGRAM = `.vm memory=16M
.map 0x100000, 0x100000, 64K, rw
.map 0x400000, 0x400000, 256K, rw
.surface s, 0x400000, 64, 32
.batch first, 0x100000, bcs0
    XY_COLOR_BLT dst=s, x1=0, y1=0, x2=64, y2=32, color=0xff0000ff
    MI_BATCH_BUFFER_END
.batch second, 0x101000
    MI_STORE_DATA_IMM addr=0x430000, data=0x11
    MI_STORE_DATA_IMM addr=0x430100, data=0x2200
    MI_LOAD_REGISTER_IMM CS_GPR3=7
    MI_BATCH_BUFFER_END
.batch third, 0x102000, bcs0
    XY_COLOR_BLT dst=s, x1=8, y1=4, x2=16, y2=12, color=0xff00ff00
    MI_BATCH_BUFFER_END
.ring bcs0
    MI_BATCH_BUFFER_START addr=first
.submit bcs0
.wait bcs0
.ring rcs0
    MI_BATCH_BUFFER_START addr=second
.submit rcs0
.wait rcs0
.ring bcs0
    MI_BATCH_BUFFER_START addr=third
.submit bcs0
.wait bcs0
`;

/** Two pixel arrays are equal (without a diff of thousands of numbers when they are not). */
function same(a: Uint32Array, b: Uint32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function run() {
  const vm = loadVm('history.vgpu', {}, PROGRAM);
  vm.run();
  return vm;
}

describe('the past without moving (emulator/history.ts)', () => {
  it('reads a surface and the PPGTT root at every kept snapshot as the VM rolled back there has them', () => {
    const vm = run();
    const n = vm.snapshots.list.length;
    assert.ok(n >= 4, `${n} snapshots: the start and one per submission`);
    const read = new Map<number, { pixels: Uint32Array; pml4: number }>();
    for (let i = 0; i <= n; i++) {
      const regs = vm.regs.values.slice();
      const step = vm.step;
      read.set(i, { pixels: surfaceAt(vm, i, 'S').pixels, pml4: pml4At(vm, i) });
      assert.deepEqual(vm.regs.values, regs, `reading snapshot ${i} leaves the live registers alone`);
      assert.equal(vm.step, step, 'and the VM where it stands');
    }
    assert.ok(same(read.get(n)!.pixels, vm.readSurface('s').pixels), 'list length: now');
    for (let i = n - 1; i >= 0; i--) {
      vm.restoreSnapshot(i);
      const e = vm.engine('rcs0');
      e.syncContext();
      assert.ok(same(read.get(i)!.pixels, vm.readSurface('s').pixels), `surface at snapshot ${i}`);
      assert.equal(read.get(i)!.pml4, e.ctx.pml4, `rcs0's root at snapshot ${i}`);
    }
    assert.ok(read.get(0)!.pixels.every((p) => p === 0));
    assert.throws(() => surfaceAt(vm, 0, 'nope'), /no surface named nope/);
  });

  it("walks each snapshot's own page tables: a root edited later does not change what an earlier one shows", () => {
    const vm = run();
    const last = vm.snapshots.list.length - 1;
    const then = surfaceAt(vm, last, 's').pixels;
    const root = pml4At(vm, last);
    assert.ok(
      then.some((p) => p !== 0),
      'the surface is painted at the last snapshot',
    );
    const slot = addressRegister('PDP0_LDW', 'rcs0').slot;
    assert.ok(vm.editRegister(slot, 0x00f00000), 'rcs0.PDP0 moved to an empty page');
    const list = vm.snapshots.list;
    const edit = list.findIndex((s) => s.reason === 'edit');
    assert.equal(edit, last + 1, 'the edit took a snapshot');
    for (const i of [edit, list.length]) {
      assert.equal(pml4At(vm, i), 0x00f00000);
      assert.ok(
        surfaceAt(vm, i, 's').pixels.every((p) => p === 0),
        `${i}: nothing mapped under the new root`,
      );
    }
    assert.equal(pml4At(vm, last), root);
    assert.ok(same(surfaceAt(vm, last, 's').pixels, then), 'before the edit: the old root, the same pixels');
  });

  it('says what changed between two snapshots in numbers: registers, pages with coalesced ranges, pixels', () => {
    const vm = run();
    const n = vm.snapshots.list.length;
    const d = snapshotDiff(vm, 0, n);
    const gpr = d.registers.find((r) => r.name === 'rcs0.CS_GPR3');
    assert.deepEqual(gpr, { name: 'rcs0.CS_GPR3', old: 0n, new: 7n });
    const back = snapshotDiff(vm, n - 1, 0);
    assert.deepEqual(
      back.registers.find((r) => r.name === 'rcs0.CS_GPR3'),
      { name: 'rcs0.CS_GPR3', old: 7n, new: 0n },
      'backwards (from after the store): old and new swap',
    );
    const pages = Array.from({ length: d.pageCount }, (_, k) => d.page(k));
    assert.deepEqual(
      pages.map((p) => p.gpa),
      [...pages.map((p) => p.gpa)].sort((a, b) => a - b),
      'in GPA order',
    );
    const stores = pages.find((p) => p.gpa === 0x430000)!;
    assert.deepEqual(
      [stores.bytes, stores.ranges],
      [
        2,
        [
          [0, 1],
          [0x101, 0x102],
        ],
      ],
    );
    assert.ok(pages.every((p) => p.gpa % PAGE_SIZE === 0 && p.ranges.length <= MAX_RANGES_PER_PAGE));
    assert.equal(
      d.changedBytes,
      pages.reduce((s, p) => s + p.bytes, 0),
    );
    assert.deepEqual(d.surfaces, [{ name: 's', changedPixels: 64 * 32, width: 64, height: 32 }]);
    const none = snapshotDiff(vm, n - 1, n - 1);
    assert.deepEqual([none.registers.length, none.pageCount, none.surfaces[0].changedPixels], [0, 0, 0]);
  });
});
