// Backward searches that pass over epochs (reverse continue to data breakpoints, Jump to Cursor back),
// in process: on random programs with thinned history they land, hit after hit, exactly where forward
// execution stopped; on a long run they replay only the candidate epochs, up to their last write.

import * as assert from 'node:assert/strict';
import { loadVm, LoadOptions } from '../../emulator/program';
import { regByName } from '../../emulator/registers';
import type { Vm } from '../../emulator/vm';
import { Breakpoints, dataIdOfMemory, dataIdOfRegister } from '../../adapter/breakpoints';
import { Execution, Stop } from '../../adapter/execution';
import { DRIVER_THREAD } from '../../adapter/stack';
import { randomProgram } from '../programs/random';
import { prng } from '../programs/helpers';

/** Where a stop left the VM. */
interface Place {
  readonly step: number;
  readonly digest: string;
}

function place(vm: Vm): Place {
  return { step: vm.step, digest: vm.digest() };
}

function session(src: string, o: LoadOptions): { vm: Vm; bps: Breakpoints; exec: Execution } {
  const vm = loadVm('r.vgpu', o, src);
  const bps = new Breakpoints(() => undefined);
  bps.index(vm);
  return {
    vm,
    bps,
    exec: new Execution(
      vm,
      bps,
      () => undefined,
      () => undefined,
    ),
  };
}

/** Counts the VM steps `fn` runs (replays included). */
async function counting(vm: Vm, fn: () => Promise<Stop | null>): Promise<{ stop: Stop | null; steps: number }> {
  const step = vm.stepOnce;
  let steps = 0;
  vm.stepOnce = () => {
    steps++;
    return step.call(vm);
  };
  try {
    return { stop: await fn(), steps };
  } finally {
    vm.stepOnce = step;
  }
}

/** Every stop of repeated forward motions from the start to the end of the program. */
async function forwardStops(vm: Vm, motion: () => Promise<Stop | null>): Promise<Place[]> {
  const stops: Place[] = [];
  for (;;) {
    const s = await motion();
    if (s?.finished) return stops;
    assert.ok(
      s && (s.reason === 'data breakpoint' || s.reason === 'goto'),
      `a forward motion stopped (${s?.reason}: ${s?.description})`,
    );
    stops.push(place(vm));
  }
}

/** Repeated backward motions from the end: each lands on the forward stop before it, then the beginning. */
async function checkBackward(
  vm: Vm,
  stops: readonly Place[],
  motion: () => Promise<Stop | null>,
  what: string,
): Promise<void> {
  const end = vm.step;
  const expected = stops.filter((s) => s.step < end).reverse();
  for (const want of expected) {
    const s = await motion();
    assert.ok(
      s && s.description !== 'Beginning of the recorded history' && !/did not run earlier/.test(s.description ?? ''),
      `${what}: stopped (${s?.description}) instead of at step ${want.step}`,
    );
    assert.equal(vm.step, want.step, `${what}: landed at step ${vm.step}, forward stopped at ${want.step}`);
    assert.equal(vm.digest(), want.digest, `${what}: state at step ${want.step}`);
  }
  const last = await motion();
  assert.ok(
    last && (last.reason === 'entry' || /did not run earlier/.test(last.description ?? '')),
    `${what}: found a hit (step ${vm.step}) forward execution did not stop at`,
  );
}

describe('backward searches that pass over epochs', function () {
  this.timeout(120000);
  const thinned: LoadOptions = { snapshotEvery: 5, snapshotBudget: 40 * 1024 };

  it('reverse continue to data breakpoints on random programs: each stop where forward execution stopped', async () => {
    const rnd = prng(14);
    const watches = (seed: number) => {
      const buf = 0x120000;
      const k = Math.floor(rnd() * 60);
      const reg = ['rcs0.CS_GPR3', 'bcs0.CS_GPR7', 'rcs0.MI_PREDICATE_RESULT', 'rcs0.TIMESTAMP', 'bcs0.ACTHD'][
        seed % 5
      ];
      return [
        dataIdOfMemory('va', buf + 4 * k, 4 + 4 * (seed % 2)),
        dataIdOfMemory('gpa', buf + 4 * Math.floor(rnd() * 64), 4),
        dataIdOfMemory('va', 0x130000 + 256 * Math.floor(rnd() * 32), 16), // surface rows (blits)
        dataIdOfRegister(regByName(reg)!),
      ];
    };
    let checked = 0;
    for (let seed = 220; seed < 236; seed++) {
      const src = randomProgram(seed, { commands: 120, submissions: 4 });
      for (const dataId of watches(seed)) {
        const { vm, bps, exec } = session(src, thinned);
        bps.setData([{ dataId }], vm);
        const stops = await forwardStops(vm, () => exec.forward(DRIVER_THREAD, 'continue'));
        assert.ok(vm.snapshots.taken > vm.snapshots.list.length + 5, `seed ${seed}: history was thinned`);
        await checkBackward(vm, stops, () => exec.reverseContinue(DRIVER_THREAD), `seed ${seed} ${dataId}`);
        checked += stops.length;
      }
    }
    assert.ok(checked > 100, `${checked} stops compared`);
  });

  it('Jump to Cursor back on random programs: each stop where Jump to Cursor forward stopped', async () => {
    const rnd = prng(15);
    let checked = 0;
    for (let seed = 300; seed < 312; seed++) {
      const src = randomProgram(seed, { commands: 100, submissions: 3 });
      const first = session(src, thinned);
      const lines = first.bps.breakableLines(first.vm);
      for (let n = 0; n < 4; n++) {
        const line = lines[Math.floor(rnd() * lines.length)];
        const { vm, exec } = session(src, thinned);
        const stops = await forwardStops(vm, () => exec.travel(line, 'forward', DRIVER_THREAD));
        await checkBackward(vm, stops, () => exec.travel(line, 'back', DRIVER_THREAD), `seed ${seed} line ${line}`);
        checked += stops.length;
      }
    }
    assert.ok(checked > 40, `${checked} stops compared`);
  });

  /** `early` written at t=2 (line 9), then `calls` x 1000 stores to another page from a batch on line 11. */
  function longRun(calls: number): string {
    const lines = [
      '.vm memory=64M',
      '.map 0x100000, 0x100000, 64K, rw',
      '.map 0x200000, 0x200000, 64K, rw',
      '.map 0x300000, 0x300000, 4K, rw',
      '.data 0x300000',
      'early: dword 0',
      '.batch first, 0x100000',
      '    MI_NOOP',
      '    MI_STORE_DATA_IMM addr=early, data=7',
      '    MI_BATCH_BUFFER_END',
      '.batch work, 0x108000',
    ];
    for (let i = 0; i < 1000; i++) lines.push(`    MI_STORE_DATA_IMM addr=0x200010, data=${i}`);
    lines.push(
      '    MI_BATCH_BUFFER_END',
      '.ring rcs0',
      '    MI_BATCH_BUFFER_START addr=first',
      '.submit rcs0',
      '.wait rcs0',
    );
    for (let c = 0; c < calls; c += 100) {
      lines.push('.ring rcs0');
      for (let k = 0; k < 100; k++) lines.push('    MI_BATCH_BUFFER_START addr=work');
      lines.push('.submit rcs0', '.wait rcs0');
    }
    return lines.join('\n') + '\n';
  }

  it('reverse continue replays the open epoch and the candidate up to its last write, not the history', async () => {
    // A small budget thins the history: the epoch holding t=2 is tens of thousands of steps long.
    const { vm, bps, exec } = session(longRun(200), { snapshotEvery: 1000, snapshotBudget: 64 * 1024 });
    bps.setData([{ dataId: dataIdOfMemory('va', vm.image.symbols.get('EARLY')!, 4) }], vm);
    const stops = await forwardStops(vm, () => exec.forward(DRIVER_THREAD, 'continue'));
    assert.equal(stops.length, 1);
    const list = vm.snapshots.list;
    assert.ok(
      vm.step > 200_000 && list[1].state.step > 20_000,
      `epoch 0 spans ${list[1].state.step} of ${vm.step} steps`,
    );
    const { stop, steps } = await counting(vm, () => exec.reverseContinue(DRIVER_THREAD));
    assert.equal(stop?.reason, 'data breakpoint');
    assert.deepEqual(place(vm), stops[0]);
    // The open epoch (at most one snapshot interval) and the few steps up to t=2.
    assert.ok(steps < 1100, `${steps} steps replayed`);
  });

  it("Jump to Cursor back replays only the epochs that fetched from the line's pages", async () => {
    const { vm, exec } = session(longRun(200), { snapshotEvery: 1000 });
    const line = 9; // MI_STORE_DATA_IMM addr=early: runs once, at t=2
    const stops = await forwardStops(vm, () => exec.travel(line, 'forward', DRIVER_THREAD));
    assert.equal(stops.length, 1);
    const { stop, steps } = await counting(vm, () => exec.travel(line, 'back', DRIVER_THREAD));
    assert.equal(stop?.reason, 'goto');
    assert.deepEqual(place(vm), stops[0]);
    // The open epoch and the first one (the line's batch page is fetched in no other).
    assert.ok(steps < 2200, `${steps} steps replayed of ${stops[0].step}..${vm.snapshots.taken * 1000}`);
  });
});
