// Compare Snapshots (adapter/history.ts) against the machine itself: the VM rolled back to each snapshot
// gives the true bytes and pixels, which the comparison (read from before-images without moving) must
// match; ranges are coalesced per page, windows page through the changed pages, and the memory the
// comparison takes stays a small fraction of what changed.

import { strict as assert } from 'node:assert';
import { Comparison, diff, diffSteps } from '../../adapter/history';
import { MAX_RANGES_PER_PAGE, surfaceAt } from '../../emulator';
import { PAGE_SIZE } from '../../emulator/memory';
import { loadVm } from '../../emulator/program';
import { RAM_HPA, type Vm } from '../../emulator/vm';

const MiB = 2 ** 20;

/**
 * Three epochs: bcs0 fills the alpha byte of a surface in a 2 MiB page and a rectangle of a surface in
 * 4 KiB pages whose rows start mid-page; rcs0 then stores single bytes 64 bytes apart (64 ranges in one
 * page) and repaints part of the first surface.
 */
const PROGRAM = `.vm memory=64M
.map 0x100000, 0x100000, 64K, rw
.map 0x400000, 0x400000, 2M, rw, page=2M
.map 0x800000, 0x800000, 256K, rw
.surface big, 0x400000, 512, 512
.surface odd, 0x800100, 300, 40, 1280
.batch first, 0x100000, bcs0
    XY_COLOR_BLT write_enable=2, dst=big, x1=0, y1=0, x2=512, y2=512, color=0x80000000
    XY_COLOR_BLT dst=odd, x1=10, y1=5, x2=290, y2=35, color=0xff123456
    MI_BATCH_BUFFER_END
.batch second, 0x101000
${Array.from({ length: 64 }, (_, k) => `    MI_STORE_DATA_IMM addr=0x${(0x830000 + 64 * k).toString(16)}, data=0x${(0x11 << (8 * (k % 4))).toString(16)}`).join('\n')}
    MI_LOAD_REGISTER_IMM CS_GPR3=7
    MI_BATCH_BUFFER_END
.batch third, 0x102000, bcs0
    XY_COLOR_BLT dst=big, x1=100, y1=200, x2=101, y2=203, color=0xff00ff00
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

/** Guest RAM (allocated pages, by GPA page number) and the surfaces' pixels, as the VM has them now. */
function record(vm: Vm): { pages: Map<number, Buffer>; surfaces: Map<string, Uint32Array> } {
  const first = RAM_HPA / PAGE_SIZE;
  const pages = new Map<number, Buffer>();
  for (const pfn of vm.mem.allocatedIn(first, first + vm.cfg.memory / PAGE_SIZE)) {
    const p = vm.mem.pageForRead(pfn);
    pages.set(pfn - first, Buffer.from(new Uint8Array(p.buffer, p.byteOffset, PAGE_SIZE)));
  }
  const surfaces = new Map(vm.image.surfaces.map((s) => [s.name, vm.readSurface(s.name).pixels.slice()]));
  return { pages, surfaces };
}

/** Every page of a comparison, through windows of `size`. */
function allPages(c: Comparison, size: number): ReturnType<Comparison['page']>[] {
  const out: ReturnType<Comparison['page']>[] = [];
  for (let start = 0; ;) {
    const w = c.window('t', start, size);
    assert.equal(w.start, start);
    assert.equal(w.totalPages, c.pageCount);
    assert.equal(w.more, c.pageCount - start - w.pages.length);
    out.push(...w.pages);
    start += w.pages.length;
    if (w.more === 0) return out;
  }
}

/** Asserts that a comparison says exactly how `before` became `after`. */
function check(c: Comparison, before: ReturnType<typeof record>, after: ReturnType<typeof record>): void {
  const zero = Buffer.alloc(PAGE_SIZE);
  const truth = new Map<number, number[]>();
  for (const gp of new Set([...before.pages.keys(), ...after.pages.keys()])) {
    const p = before.pages.get(gp) ?? zero;
    const q = after.pages.get(gp) ?? zero;
    const offs: number[] = [];
    for (let i = 0; i < PAGE_SIZE; i++) if (p[i] !== q[i]) offs.push(i);
    if (offs.length) truth.set(gp, offs);
  }
  const pages = allPages(c, 3);
  assert.deepEqual(
    pages.map((p) => Number(p.gpa) / PAGE_SIZE),
    [...truth.keys()].sort((x, y) => x - y),
    'the changed pages, in GPA order',
  );
  let bytes = 0;
  for (const p of pages) {
    const offs = truth.get(Number(p.gpa) / PAGE_SIZE)!;
    assert.equal(p.bytes, offs.length, `${p.gpa}: changed bytes`);
    bytes += p.bytes;
    assert.ok(p.ranges.length >= 1 && p.ranges.length <= MAX_RANGES_PER_PAGE, `${p.gpa}: ${p.ranges.length} ranges`);
    for (let r = 0; r < p.ranges.length; r++) {
      const [s, e] = p.ranges[r];
      assert.ok(s < e && (r === 0 || p.ranges[r - 1][1] < s), `${p.gpa}: ranges ascending and apart`);
      assert.ok(
        offs.includes(s) && offs.includes(e - 1),
        `${p.gpa}: range [${s}, ${e}) starts and ends on changed bytes`,
      );
    }
    for (const o of offs)
      assert.ok(
        p.ranges.some(([s, e]) => o >= s && o < e),
        `${p.gpa}: byte ${o} is in a range`,
      );
  }
  assert.equal(c.changedBytes, bytes);
  for (const s of c.surfaces) {
    const a = before.surfaces.get(s.name)!;
    const b = after.surfaces.get(s.name)!;
    let n = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
    assert.equal(s.changedPixels, n, `surface ${s.name}`);
  }
}

describe('Compare Snapshots (adapter/history.ts)', () => {
  it('says what changed between any two snapshots, as the VM rolled back to each has it', () => {
    const vm = loadVm('diff.vgpu', {}, PROGRAM);
    vm.run();
    const n = vm.snapshots.list.length;
    assert.ok(n >= 4, `${n} snapshots: the start and one per submission`);
    const pairs: [number, number][] = [];
    for (let a = 0; a <= n; a++) for (let b = 0; b <= n; b++) if (a < n) pairs.push([a, b]);
    const comparisons = pairs.map(([a, b]) => diff(vm, a, b));
    // The past, for real: roll back one snapshot at a time (each rollback drops the later ones).
    const states = new Map<number, ReturnType<typeof record>>([[n, record(vm)]]);
    const surfacesAt = new Map<number, Map<string, Uint32Array>>();
    for (let i = n - 1; i >= 0; i--) {
      surfacesAt.set(i, new Map(vm.image.surfaces.map((s) => [s.name, surfaceAt(vm, i, s.name).pixels])));
      vm.restoreSnapshot(i);
      states.set(i, record(vm));
    }
    for (const [i, m] of surfacesAt)
      for (const [name, px] of m)
        assert.deepEqual(px, states.get(i)!.surfaces.get(name), `surfaceAt(${i}, ${name}) without moving`);
    pairs.forEach(([a, b], k) => check(comparisons[k], states.get(a)!, states.get(b)!));
    const all = comparisons[pairs.findIndex(([a, b]) => a === 0 && b === n)];
    const gpr = all.registers.find((r) => r.name === 'rcs0.CS_GPR3');
    assert.deepEqual(gpr && [gpr.old, gpr.new], ['0x0', '0x7']);
    const back = comparisons[pairs.findIndex(([a, b]) => a === n - 1 && b === 0)];
    assert.deepEqual(
      back.registers.find((r) => r.name === 'rcs0.CS_GPR3'),
      { name: 'rcs0.CS_GPR3', old: '0x7', new: '0x0' },
    );
  });

  it('coalesces per page: a fill of the alpha byte is one range per page, 64 stores in a page at most 8', () => {
    const vm = loadVm('diff.vgpu', {}, PROGRAM);
    vm.run();
    const c = diff(vm, 0, vm.snapshots.list.length);
    const pages = allPages(c, 4096);
    const fill = pages.filter((p) => Number(p.gpa) >= 0x400000 && Number(p.gpa) < 0x500000);
    assert.equal(fill.length, 256);
    assert.ok(
      fill
        .filter((p) => p.gpa !== '0x464000' && p.gpa !== '0x465000')
        .every(
          (p) => p.bytes === 1024 && p.ranges.length === 1 && p.ranges[0][0] === 3 && p.ranges[0][1] === PAGE_SIZE,
        ),
    );
    const stores = pages.find((p) => p.gpa === '0x830000')!;
    assert.equal(stores.bytes, 64);
    assert.ok(stores.ranges.length <= MAX_RANGES_PER_PAGE);
    assert.deepEqual(
      c.surfaces.map((s) => [s.name, s.changedPixels]),
      [
        ['big', 512 * 512],
        ['odd', 280 * 30],
      ],
    );
  });

  it('holds a few bytes per changed page while it runs and after, never a copy of what changed', () => {
    const bytes = 32 * MiB;
    const lines = [
      '.vm memory=128M',
      '.map 0x100000, 0x100000, 64K, rw',
      `.map 0x2000000, 0x2000000, ${bytes / MiB}M, rw, page=2M`,
      '.surface s, 0x2000000, 4096, 2048',
      '.batch b, 0x100000, bcs0',
    ];
    lines.push(
      `    XY_COLOR_BLT write_enable=2, dst=0x2000000, pitch=16384, x1=0, y1=0, x2=4096, y2=${bytes / 16384}, color=0x80000000`,
    );
    lines.push(
      '    MI_BATCH_BUFFER_END',
      '.ring bcs0',
      '    MI_BATCH_BUFFER_START addr=b',
      '.submit bcs0',
      '.wait all',
    );
    const vm = loadVm('big.vgpu', {}, lines.join('\n') + '\n');
    vm.run();
    const base = process.memoryUsage();
    let peakBuffers = 0;
    let peakHeap = 0;
    const steps = diffSteps(vm, 0, vm.snapshots.list.length);
    let r = steps.next();
    for (; !r.done; r = steps.next()) {
      const m = process.memoryUsage();
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers - base.arrayBuffers);
      peakHeap = Math.max(peakHeap, m.heapUsed - base.heapUsed);
    }
    const c = r.value;
    const pages = bytes / PAGE_SIZE;
    assert.ok(c.pageCount >= pages);
    assert.equal(c.surfaces[0].changedPixels, 4096 * 2048);
    // Typed arrays: the page index (8 bytes a record), the comparison, a few dozen page pairs.
    assert.ok(peakBuffers < 2 * MiB, `typed arrays grew by ${peakBuffers} bytes while ${bytes} bytes changed`);
    assert.ok(peakHeap < 24 * MiB, `the heap grew by ${peakHeap} bytes while ${bytes} bytes changed`);
    assert.ok(c.heldBytes <= 2 * 18 * c.pageCount + 4096, `kept: ${c.heldBytes} bytes for ${c.pageCount} pages`);
    const w = JSON.stringify(c.window('t'));
    assert.ok(w.length < 32 * 1024, `a default window is ${w.length} bytes of JSON`);
  });
});
