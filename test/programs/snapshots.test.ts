// Snapshots, rollback and reverse execution: restoring reproduces the recorded state exactly; going
// backwards reaches the same state as going forwards; snapshot cost is what changed, not RAM size.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { loadVm } from '../../emulator/program';
import { runToCommands, stepBack, reverseContinue } from '../../emulator/reverse';
import { snapshotBytes } from '../../emulator/snapshots';
import { STEP_DONE, STEP_ERROR, Vm } from '../../emulator/vm';
import { EXAMPLES, example, prng, runChecked } from './helpers';
import { randomProgram } from './random';

/** Runs to the end (rolling errors back), recording the VM's digest at the moment each snapshot is taken. */
function runRecording(vm: Vm): Map<number, string> {
  const digests = new Map<number, string>();
  const take = vm.takeSnapshot.bind(vm);
  vm.takeSnapshot = (...args: Parameters<Vm['takeSnapshot']>) => {
    const s = take(...args);
    digests.set(s.id, vm.digest());
    return s;
  };
  digests.set(vm.snapshots.list[0].id, vm.digest());
  for (;;) {
    const r = vm.stepOnce();
    if (r === STEP_ERROR && vm.recover()) continue;
    if (r === STEP_ERROR || r === STEP_DONE) break;
  }
  return digests;
}

describe('snapshots and rollback', () => {
  it('restoring every snapshot of every example gives the digest recorded when it was taken', () => {
    for (const f of fs.readdirSync(EXAMPLES).filter((x) => x.endsWith('.vgpu'))) {
      const vm = example(f, { snapshotEvery: 2 });
      const digests = runRecording(vm);
      const ids = vm.snapshots.list.map((s) => s.id);
      assert.ok(ids.length >= 2, `${f}: several snapshots`);
      for (let i = ids.length - 1; i >= 0; i--) {
        vm.restoreSnapshot(i);
        assert.equal(vm.digest(), digests.get(ids[i]), `${f}: snapshot ${i} (id ${ids[i]})`);
      }
    }
  });

  it('a snapshot keeps only the pages written in its epoch', () => {
    const vm = example('picture.vgpu', { snapshotEvery: 0 });
    vm.run();
    // start snapshot + one submission snapshot: the canvas (32 pages) + tile (4) + ring page.
    const pages = vm.snapshots.list.reduce((n, s) => n + s.undo.pageCount, 0);
    assert.ok(pages > 30 && pages < 45, `pages kept: ${pages}`);
  });

  it('snapshot cost does not depend on guest RAM size', () => {
    const src = fs.readFileSync(`${EXAMPLES}/picture.vgpu`, 'utf8').replace('.vm memory=64M', '');
    const small = loadVm('picture.vgpu', { memory: 64 * 2 ** 20, snapshotEvery: 3 }, src);
    const big = loadVm('picture.vgpu', { memory: 64 * 2 ** 30, snapshotEvery: 3 }, src);
    small.run();
    big.run();
    assert.equal(small.result().snapshots.bytes, big.result().snapshots.bytes);
    assert.equal(small.result().surfaces.canvas.sha256, big.result().surfaces.canvas.sha256);
  });

  it('thins old snapshots to stay within the budget, keeping recent ones dense', () => {
    const vm = loadVm(
      'r.vgpu',
      { snapshotEvery: 1, snapshotBudget: 40 * 4096 },
      randomProgram(7, { commands: 400, submissions: 4 }),
    );
    vm.run();
    assert.ok(vm.snapshots.totalBytes() <= 40 * 4096 + 17 * 5000, `kept ${vm.snapshots.totalBytes()} bytes`);
    const steps = vm.snapshots.list.map((s) => s.state.step);
    const tail = steps.slice(-8);
    assert.ok(
      tail.every((s, i) => i === 0 || s - tail[i - 1] <= 3),
      'recent snapshots are dense',
    );
    // Every kept snapshot still restores a consistent state that replays to the same end.
    const end = vm.digest();
    const endStep = vm.step;
    vm.goToStep(vm.snapshots.list[1].state.step);
    vm.goToStep(endStep);
    assert.equal(vm.digest(), end);
  });

  it('thinning keeps a geometric ladder: the gap behind a snapshot grows with its age, not with the run', () => {
    // A long store loop: every epoch writes, so the budget fills and thinning runs at every snapshot.
    const src = ['.vm memory=64M', '.map 0x100000, 0x100000, 1M, rw', '.batch b, 0x100000'];
    for (let i = 0; i < 200; i++) src.push(`MI_STORE_DATA_IMM addr=${0x180000 + 64 * i}, data=${i}`);
    src.push('MI_BATCH_BUFFER_END', '.ring rcs0');
    for (let k = 0; k < 100; k++) src.push('MI_BATCH_BUFFER_START addr=b', '.submit rcs0', '.wait rcs0');
    // (A budget for ~40 snapshots of ~7 KB: what each epoch's log, state and trace really hold.)
    const vm = loadVm('ladder.vgpu', { snapshotEvery: 50, snapshotBudget: 400 * 1024 }, src.join('\n') + '\n');
    vm.run();
    const list = vm.snapshots.list;
    const now = list[list.length - 1].state.commands;
    assert.ok(vm.snapshots.heldBytes() <= 400 * 1024 * 1.25, `held ${vm.snapshots.heldBytes()}`);
    assert.ok(list.length > 20 && list.length < 400, `${list.length} snapshots`);
    // Within a snapshot interval of any position younger than ~1/3 of the run: the gap right behind
    // the dense window stays small (the old policy let it grow with the run).
    let worst = 0;
    for (let i = 1; i < list.length; i++) {
      const gap = list[i].state.commands - list[i - 1].state.commands;
      const age = Math.max(1, now - list[i].state.commands);
      worst = Math.max(worst, gap / Math.max(age, 50 * 16));
    }
    assert.ok(worst < 1.5, `a gap of ${worst.toFixed(2)}x its age`);
    const young = list.filter((s) => now - s.state.commands < now / 8);
    assert.ok(young.length >= 16, `${young.length} snapshots in the newest eighth of the run`);
    // Any point replays from a snapshot at most proportional to its age.
    const end = vm.digest();
    const endStep = vm.step;
    vm.goToStep(list[Math.floor(list.length / 2)].state.step + 7);
    vm.goToStep(endStep);
    assert.equal(vm.digest(), end);
  });

  it('random programs: write-set predictions are sound', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const vm = loadVm('r.vgpu', {}, randomProgram(seed, { faults: true }));
      assert.deepEqual(runChecked(vm), [], `seed ${seed}`);
    }
  });

  it('blits over many pages (whole pages kept in one copy, adjacent pages written in runs): results, predictions, restores and steps back exact', () => {
    // Three surfaces on pages allocated in order: 2 rows a page, 1 row a page, and 4 pages a row.
    const surfaces = [
      { name: 'a', va: 0x200000, w: 512, h: 64 },
      { name: 'b', va: 0x220000, w: 1024, h: 32 },
      { name: 'c', va: 0x240000, w: 4096, h: 8 },
    ];
    for (let seed = 1; seed <= 4; seed++) {
      const rnd = prng(700 + seed);
      const int = (n: number) => Math.floor(rnd() * n);
      const model = new Map(surfaces.map((x) => [x.name, new Uint32Array(x.w * x.h)]));
      const lines = [
        '.vm memory=16M',
        '.map 0x100000, 0x100000, 64K, rw',
        '.map 0x200000, 0x200000, 512K, rw',
        ...surfaces.map((x) => `.surface ${x.name}, 0x${x.va.toString(16)}, ${x.w}, ${x.h}`),
        '.batch draw, 0x100000, bcs0',
      ];
      for (let i = 0; i < 40; i++) {
        const d = surfaces[int(3)];
        const whole = rnd() < 0.4;
        const x1 = whole ? 0 : int(d.w);
        const y1 = whole ? 0 : int(d.h);
        const w = whole ? d.w : 1 + int(d.w - x1);
        const h = whole ? d.h : 1 + int(d.h - y1);
        const dst = model.get(d.name)!;
        if (rnd() < 0.5) {
          const color = int(0xffffffff) >>> 0;
          lines.push(
            `XY_COLOR_BLT dst=${d.name}, x1=${x1}, y1=${y1}, x2=${x1 + w}, y2=${y1 + h}, color=0x${color.toString(16)}`,
          );
          for (let y = y1; y < y1 + h; y++) dst.fill(color, y * d.w + x1, y * d.w + x1 + w);
          continue;
        }
        // A copy from any surface, the destination's own included (overlapping: the source is read first).
        const s2 = surfaces.filter((x) => x.w >= w && x.h >= h)[
          int(surfaces.filter((x) => x.w >= w && x.h >= h).length)
        ];
        const sx = int(s2.w - w + 1);
        const sy = int(s2.h - h + 1);
        lines.push(
          `${rnd() < 0.5 ? 'XY_SRC_COPY_BLT' : 'XY_FAST_COPY_BLT'} dst=${d.name}, x1=${x1}, y1=${y1}, x2=${x1 + w}, y2=${y1 + h}, src=${s2.name}, sx=${sx}, sy=${sy}`,
        );
        const src = model.get(s2.name)!;
        const rows = Array.from({ length: h }, (_, y) => src.slice((sy + y) * s2.w + sx, (sy + y) * s2.w + sx + w));
        rows.forEach((row, y) => dst.set(row, (y1 + y) * d.w + x1));
      }
      lines.push('MI_BATCH_BUFFER_END', '.ring bcs0', 'MI_BATCH_BUFFER_START addr=draw', '.submit bcs0', '.wait all');
      const src = lines.join('\n') + '\n';
      const checked = loadVm('blits.vgpu', { snapshotEvery: 3 }, src);
      assert.deepEqual(runChecked(checked), [], `seed ${seed}: predictions`);
      for (const x of surfaces)
        assert.ok(
          Buffer.from(checked.readSurface(x.name).pixels.buffer).equals(Buffer.from(model.get(x.name)!.buffer)),
          `seed ${seed}: surface ${x.name}`,
        );
      // Every snapshot restores (one per blit; a small budget for odd seeds merges epochs that kept pages whole).
      const vm = loadVm('blits.vgpu', { snapshotEvery: 1, snapshotBudget: seed % 2 ? 600 * 1024 : 256 * 2 ** 20 }, src);
      const digests = runRecording(vm);
      assert.equal(vm.digest(), checked.digest(), `seed ${seed}: the same end`);
      const kept = vm.snapshots.list.map((x) => x.id);
      if (seed % 2) assert.ok(kept.length < 40, `seed ${seed}: thinned to ${kept.length}`);
      for (let i = kept.length - 1; i >= 0; i -= 1 + int(3)) {
        vm.restoreSnapshot(i);
        assert.equal(vm.digest(), digests.get(kept[i]), `seed ${seed}: snapshot ${i}`);
      }
      // Steps back over blits land where forward execution was.
      const fwd = loadVm('blits.vgpu', { snapshotEvery: 5 }, src);
      fwd.run();
      for (let t = fwd.commands - 1; t >= 0; t -= 1 + int(6)) {
        const fresh = loadVm('blits.vgpu', { snapshotEvery: 5 }, src);
        fresh.run({ untilCommands: t });
        assert.ok(runToCommands(fwd, t), `seed ${seed}: back to ${t}`);
        assert.equal(fwd.digest(), fresh.digest(), `seed ${seed}: t=${t}`);
      }
    }
  });

  it('the soundness check catches a prediction short by one dword, or missing a page', () => {
    const src =
      [
        '.vm memory=64M',
        '.map 0x100000, 0x100000, 1M, rw',
        '.ring rcs0',
        'MI_STORE_DATA_IMM addr=0x180000, data=0x1122334455667788, qword=1',
        '.submit rcs0',
        '.wait rcs0',
      ].join('\n') + '\n';
    for (const [cut, want] of [
      [4, /wrote byte 0x[4-7] of page/],
      [8, /wrote page/],
    ] as const) {
      const vm = loadVm('short.vgpu', {}, src);
      const e = vm.engine('rcs0');
      const predict = e.predictWrites.bind(e);
      e.predictWrites = (def, len) => {
        const r = predict(def, len);
        if (e.segCount > 0) {
          e.segBytes[0] -= cut;
          if (e.segBytes[0] <= 0) e.segCount = 0;
        }
        return r;
      };
      const bad = runChecked(vm);
      assert.ok(bad.length > 0 && bad.every((b) => want.test(b)), `cut ${cut}: ${bad.join('; ')}`);
    }
  });
});

describe('reverse execution', () => {
  it('property: for random programs and random t, backwards equals forwards', () => {
    const rnd = prng(99);
    for (let seed = 100; seed < 125; seed++) {
      const src = randomProgram(seed, { commands: 60 });
      const fwd = loadVm('r.vgpu', { snapshotEvery: 7 }, src);
      fwd.run();
      const total = fwd.commands;
      const endDigest = fwd.digest();
      for (let k = 0; k < 4; k++) {
        const t = Math.floor(rnd() * (total + 1));
        const fresh = loadVm('r.vgpu', { snapshotEvery: 7 }, src);
        fresh.run({ untilCommands: t });
        assert.ok(runToCommands(fwd, t), `seed ${seed}: runTo ${t}`);
        assert.equal(fwd.digest(), fresh.digest(), `seed ${seed} t=${t}`);
      }
      assert.ok(runToCommands(fwd, total));
      fwd.run();
      assert.equal(fwd.digest(), endDigest, `seed ${seed}: forward again to the end`);
    }
  });

  it('stepBack lands on the state forward execution had one step earlier', () => {
    const src = randomProgram(5, { commands: 50 });
    const rec = loadVm('r.vgpu', { snapshotEvery: 5 }, src);
    const byStep = new Map<number, string>();
    for (;;) {
      byStep.set(rec.step, rec.digest());
      if (rec.stepOnce() === STEP_DONE) break;
    }
    const vm = loadVm('r.vgpu', { snapshotEvery: 5 }, src);
    vm.run();
    let n = 0;
    while (stepBack(vm) && n < 40) {
      assert.equal(vm.digest(), byStep.get(vm.step), `after ${++n} steps back (step ${vm.step})`);
    }
    assert.ok(n >= 40);
  });

  it('a step back leaves a trail of snapshots 32, 64, 128... steps before it; the steps after replay little and land exactly', () => {
    const body = Array.from({ length: 200 }, (_, i) =>
      i % 2
        ? `MI_LOAD_REGISTER_IMM CS_GPR1=${i}`
        : `MI_STORE_DATA_IMM addr=0x${(0x180000 + 4 * i).toString(16)}, data=${i}`,
    );
    const src =
      [
        '.vm memory=64M',
        '.map 0x100000, 0x100000, 1M, rw',
        '.map 0xF000000, 0x800000, 64K, rw',
        '.batch work, 0x100000',
        ...body,
        'MI_BATCH_BUFFER_END',
        '.ring rcs0, 0xF000000, 64K',
        ...Array(15).fill('MI_BATCH_BUFFER_START addr=work'),
        '.submit rcs0',
        '.wait rcs0',
      ].join('\n') + '\n';
    const rec = loadVm('t.vgpu', { snapshotEvery: 1000 }, src);
    const byStep = new Map<number, string>();
    for (;;) {
      byStep.set(rec.step, rec.digest());
      const r = rec.stepOnce();
      if (r === STEP_DONE || r === STEP_ERROR) break;
    }
    const vm = loadVm('t.vgpu', { snapshotEvery: 1000 }, src);
    vm.run({ untilCommands: 1900 });
    const from = vm.snapshots.list[vm.snapshots.indexAtOrBefore(vm.step - 2)].state.step;
    assert.ok(vm.step - from > 256, `a long way back to the nearest snapshot (${vm.step - from} steps)`);
    assert.ok(stepBack(vm));
    const trail = vm.snapshots.list.filter((x) => x.reason === 'reverse').map((x) => vm.step - x.state.step);
    assert.ok(trail.length >= 3 && trail.includes(32) && trail.includes(64), `trail ${trail}`);
    for (let k = 0; k < 100 && vm.step > 0; k++) {
      const before = vm.step;
      assert.ok(stepBack(vm));
      assert.equal(vm.digest(), byStep.get(vm.step), `step ${vm.step}`);
      const near = vm.snapshots.list[vm.snapshots.indexAtOrBefore(vm.step)].state.step;
      assert.ok(
        vm.step - near <= 128 && before - vm.step >= 1,
        `step ${vm.step}: nearest snapshot ${vm.step - near} steps back`,
      );
    }
  });

  it('reverseContinue finds who last wrote a dword', () => {
    const vm = example('semaphore-handoff.vgpu');
    vm.run();
    const flagVa = vm.image.symbols.get('FLAG')!;
    const target = vm.translate(flagVa, 0).hpa;
    const at = reverseContinue(vm, {
      post: (v) => {
        const e = v.engines.find(
          (x) =>
            x.segCount > 0 &&
            x.cmdVa !== undefined &&
            Array.from({ length: x.segCount }, (_, i) => x.segHpa[i]).includes(target),
        );
        return e !== undefined && v.regs.step >= 0;
      },
    });
    assert.notEqual(at, null);
    // We are right after the store that raised the flag: it now reads 1, one step earlier it read 0.
    assert.equal(vm.readVa(flagVa, 1)[0], 1);
    stepBack(vm);
    assert.equal(vm.readVa(flagVa, 1)[0], 0);
  });
});

describe('snapshot store accounting', () => {
  it('the running byte count equals the sum over kept snapshots through runs, rollbacks and thinning', () => {
    const vm = loadVm(
      'r.vgpu',
      { snapshotEvery: 1, snapshotBudget: 30 * 4096 },
      randomProgram(11, { commands: 300, submissions: 3, faults: true }),
    );
    const exact = () => vm.snapshots.list.reduce((n, s) => n + snapshotBytes(s), 0);
    for (let i = 0; i < 5000 && vm.stepOnce() !== STEP_DONE; i++) {
      if (vm.pending) vm.recover();
      assert.equal(vm.snapshots.totalBytes(), exact(), `step ${vm.step}`);
    }
    vm.restoreSnapshot(Math.floor(vm.snapshots.list.length / 2));
    assert.equal(vm.snapshots.totalBytes(), exact());
  });
});
