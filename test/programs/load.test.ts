// Programs built to load the machine: thousands of submissions pending at once. Saving state costs
// the same however long the pending list is (issue 17: 20,000 `.submit`s without `.wait` reached
// 3.7 GB), and the list still rolls back, reverses and travels in checkpoints exactly.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  parseSections,
  readCheckpoint,
  serializeVm,
  stateDoc,
  vmFromSections,
  writeCheckpoint,
} from '../../emulator/checkpoint';
import { loadVm } from '../../emulator/program';
import { SubmissionQueue, SubmissionsView } from '../../emulator/submissions';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-load-'));

/** n submissions of one MI_STORE_DATA_IMM each, no `.wait` until the end; `bad` faults (an unmapped address). */
function manySubmits(n: number, bad = -1): string {
  const lines = [
    '.vm memory=16M',
    '.map 0x100000, 0x100000, 1M, rw',
    '.data 0x1f0000',
    'out: dword 0',
    '.ring rcs0, 0x100000, 512K',
  ];
  for (let i = 0; i < n; i++)
    lines.push(`MI_STORE_DATA_IMM addr=${i === bad ? '0x7000000' : 'out'}, data=${i + 1}`, '.submit rcs0');
  lines.push('.wait rcs0');
  return lines.join('\n') + '\n';
}

const plainSubs = (q: SubmissionQueue) => SubmissionQueue.toArray(q.save());

describe('load: thousands of pending submissions', () => {
  it('a saved queue is not changed by what the queue does after (push, shift, clear, restore)', () => {
    const q = new SubmissionQueue();
    for (let i = 0; i < 5; i++) q.push(i, 100 + i);
    const a = q.save();
    q.shift();
    q.push(5, 105);
    const b = q.save();
    q.load(a); // back to the older view: the next push must not write over b's entries
    q.push(9, 999);
    assert.deepEqual(
      plainSubs(q).map((s) => s.op),
      [0, 1, 2, 3, 4, 9],
    );
    assert.deepEqual(
      a.toArray().map((s) => s.op),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual(
      b.toArray().map((s) => s.op),
      [1, 2, 3, 4, 5],
    );
    q.load(b);
    q.clear();
    assert.equal(q.length, 0);
    assert.deepEqual(
      b.toArray().map((s) => s.end),
      [101, 102, 103, 104, 105],
    );
    // JSON (checkpoints, migration, digests) sees a plain array.
    assert.deepEqual(JSON.parse(JSON.stringify({ subs: b })), { subs: b.toArray() });
    // Two queues restored from one view each keep their own appends.
    const q1 = new SubmissionQueue();
    const q2 = new SubmissionQueue();
    q1.load(b);
    q2.load(b);
    q1.push(7, 7);
    q2.push(8, 8);
    assert.deepEqual(
      plainSubs(q1).map((s) => s.op),
      [1, 2, 3, 4, 5, 7],
    );
    assert.deepEqual(
      plainSubs(q2).map((s) => s.op),
      [1, 2, 3, 4, 5, 8],
    );
    // A plain array (a checkpoint's) loads too.
    q.load([{ op: 3, end: 30 }]);
    assert.deepEqual(plainSubs(q), [{ op: 3, end: 30 }]);
  });

  it('a queue drained of many entries moves to fresh storage: memory follows what is pending', () => {
    const q = new SubmissionQueue();
    const first = q.save();
    for (let i = 0; i < 100_000; i++) {
      q.push(i, i);
      if (i >= 10) q.shift();
    }
    assert.equal(q.length, 10);
    assert.ok((q.save() as unknown as { storage: { ops: number[] } }).storage.ops.length < 4096, 'storage compacted');
    assert.equal(first.length, 0);
  });

  it('20,000 .submits without .wait: every snapshot shares the pending list, memory and time bounded', function () {
    this.timeout(120_000);
    const n = 20_000;
    const heap0 = process.memoryUsage().heapUsed;
    const t = performance.now();
    const vm = loadVm('load.vgpu', {}, manySubmits(n));
    assert.equal(vm.run(), 'done');
    const ms = performance.now() - t;
    const heap = process.memoryUsage().heapUsed - heap0;
    assert.equal(vm.errors.length, 0);
    assert.equal(vm.result().commands, n);
    assert.ok(vm.snapshots.list.length > 1000, `${vm.snapshots.list.length} snapshots`);
    // O(1) saved lists: every snapshot's pending list is a view, none a copy.
    const views = vm.snapshots.list.map((s) => s.state.engines[0].subs);
    assert.ok(views.every((v) => v instanceof SubmissionsView));
    assert.ok(
      views.some((v) => v.length > n / 2),
      'the list really grew long',
    );
    // Before: 765 MB for 5,000 submissions and a heap abort at 4 GB for 20,000.
    assert.ok(heap < 400 * 1024 * 1024, `heap grew ${Math.round(heap / 1048576)} MB`);
    assert.ok(ms < 60_000, `${Math.round(ms)} ms`);
  });

  it('a fault in submission 300 of 600 pending rolls back and skips it alone, the rest run; checkpoints carry the list', () => {
    const src = manySubmits(600, 300);
    const plain = loadVm('load.vgpu', {}, src);
    assert.equal(plain.run(), 'done');
    // Only the guilty submission is skipped: the 300 before it, pending when it was made, still run.
    assert.equal(plain.result().commands, 599);
    assert.ok(
      plain.errors.some((e) => e.rolledBack),
      'the fault was rolled back',
    );
    for (const at of [10, 299, 500]) {
      const vm = loadVm('load.vgpu', {}, src);
      vm.run({ untilCommands: at });
      assert.ok(vm.engine('rcs0').subs.length > 0, 'submissions pending at the checkpoint');
      const doc = stateDoc(vm);
      assert.ok(Array.isArray(doc.state.engines[0].subs), 'the document holds a plain array');
      const file = path.join(tmp, `load.${at}.ckpt`);
      writeCheckpoint(vm, file);
      const back = readCheckpoint(file);
      assert.equal(back.digest(), vm.digest(), `identical state after load at ${at}`);
      back.run();
      assert.equal(back.digest(), plain.digest(), `checkpointed at ${at}: same end state as the plain run`);
    }
  });

  it('reverse execution over pending submissions lands on identical states', () => {
    const vm = loadVm('load.vgpu', {}, manySubmits(400));
    vm.run({ untilCommands: 150 });
    const mid = vm.digest();
    const midStep = vm.step;
    vm.run();
    const end = vm.digest();
    vm.goToStep(midStep);
    assert.equal(vm.digest(), mid, 'back to the middle');
    vm.run();
    assert.equal(vm.digest(), end, 'forward again to the same end');
  });

  it('a loop of 65,535-row blits hangs on the watchdog after bounded work, deterministically', function () {
    this.timeout(60_000);
    const blits: [string, string][] = [
      ['color', 'XY_COLOR_BLT dst=0x1000000, pitch=64, x1=0, y1=0, x2=1, y2=65535, color=1'],
      [
        'copy',
        'XY_SRC_COPY_BLT dst=0x1000000, pitch=64, x1=0, y1=0, x2=1, y2=65535, src=0x1000000, src_pitch=64, sx=0, sy=0',
      ],
    ];
    for (const [what, cmd] of blits) {
      const src = `.vm memory=64M\n.map 0x100000, 0x100000, 4K, rw\n.map 0x1000000, 0x1000000, 4M, rw\n.batch spin, 0x100000, bcs0\nloop: ${cmd}\n MI_BATCH_BUFFER_START addr=loop\n.ring bcs0\n MI_BATCH_BUFFER_START addr=spin\n.submit bcs0\n.wait bcs0\n`;
      const runOnce = () => {
        const vm = loadVm('blit.vgpu', { autoRollback: false, watchdog: 300_000 }, src);
        assert.equal(vm.run(), 'error', what);
        return vm;
      };
      const vm = runOnce();
      assert.equal(vm.pending!.kind, 'hang', what);
      assert.match(vm.pending!.message, /more than 300000 units of work \(watchdog/);
      // Each blit writes 65,535 one-pixel rows, a page segment each (a copy reads as many): the watchdog
      // fires within a handful of blits, where it counted commands it would have run 150,000 of them.
      const perBlit = what === 'copy' ? 2 * 65535 + 1 : 65535 + 1;
      assert.ok(vm.commands <= 2 * Math.ceil(300_000 / perBlit) + 2, `${vm.commands} commands`);
      const again = runOnce();
      assert.equal(again.commands, vm.commands, 'the same command hangs every time');
      assert.equal(again.digest(), vm.digest());
    }
  });

  it('a blit rectangle larger than the largest surface is refused (rows may overlap: pitch 0)', () => {
    const src = `.vm memory=64M\n.map 0x1000000, 0x1000000, 64K, rw\n.ring bcs0\nXY_SRC_COPY_BLT dst=0x1000000, pitch=0, x1=0, y1=0, x2=1024, y2=65535, src=0x1000000, src_pitch=0, sx=0, sy=0\n.submit bcs0\n.wait bcs0\n`;
    const vm = loadVm('big.vgpu', { autoRollback: false }, src);
    const heap0 = process.memoryUsage().heapUsed;
    assert.equal(vm.run(), 'error');
    assert.equal(vm.pending!.kind, 'invalid-command');
    assert.match(vm.pending!.message, /rectangle 1024x65535 is more than 16777216 pixels/);
    assert.ok(process.memoryUsage().heapUsed - heap0 < 64 * 1024 * 1024, 'no 256 MiB source copy');
  });

  it('a rollback that does not remove the cause (a forged driver position) stops with the error instead of looping', () => {
    const vm0 = loadVm(path.join(__dirname, '..', '..', 'examples', 'page-fault.vgpu'));
    vm0.run({ untilCommands: 5 });
    const secs = parseSections(serializeVm(vm0), 'ckpt');
    const st = JSON.parse(secs.get('STAT')![0].toString());
    st.state.driverPc = 1; // resubmits what the ring already holds: the fault recurs in a guilty submission
    secs.set('STAT', [Buffer.from(JSON.stringify(st))]);
    const vm = vmFromSections(secs, 'ckpt');
    assert.equal(vm.run({ maxSteps: 200_000 }), 'error');
    assert.ok(vm.errors.length < 10, `${vm.errors.length} errors`);
  });
});
