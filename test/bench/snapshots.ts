// Snapshot figures, measured side by side in one process: periodic snapshots against none on a long
// run, a 64 GiB guest against a 64 MiB one, and reverse steps at t = 1,000,000 against replay from 0
// (the first step back from there, and the median of the nine after it).

import { loadVm } from '../../emulator/program';
import { runToCommands, stepBack } from '../../emulator/reverse';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { median, mixedWorkload, timeIt } from './workloads';

interface Report {
  overhead: number;
  sizeRatio: number;
  bytesSmall: number;
  bytesBig: number;
  firstBackMs: number;
  stepBackMs: number;
  replayMs: number;
  commands: number;
}

function measure(): Report {
  const T = 1_000_000;
  const src = mixedWorkload(T / 1000);
  // Overhead: alternate runs with and without periodic snapshots; the ratio of each pair (run side by
  // side, so a load change on the machine touches both), median over the pairs.
  const pairs: number[] = [];
  for (let i = 0; i < 9; i++) {
    const a = loadVm('mixed.vgpu', { snapshotEvery: 1000 }, src);
    const tOn = timeIt(() => a.run());
    const b = loadVm('mixed.vgpu', { snapshotEvery: 0 }, src);
    const tOff = timeIt(() => b.run());
    if (i === 0) continue; // JIT warm-up
    pairs.push(tOn / tOff);
  }
  // Guest-size independence, snapshots on.
  const sizes: number[] = [];
  let bytesSmall = 0;
  let bytesBig = 0;
  const short = mixedWorkload(200);
  for (let i = 0; i < 7; i++) {
    const s = loadVm('mixed.vgpu', { memory: 64 * 2 ** 20 }, short);
    const tSmall = timeIt(() => s.run());
    bytesSmall = s.result().snapshots.bytes;
    const g = loadVm('mixed.vgpu', { memory: 64 * 2 ** 30 }, short);
    const tBig = timeIt(() => g.run());
    bytesBig = g.result().snapshots.bytes;
    if (i > 0) sizes.push(tBig / tSmall);
  }
  // Reverse step at t = 1,000,000 against restart-and-replay from 0.
  // The reverse path's code warmed on a small VM first: the figure is the algorithm, not the JIT.
  const warm = loadVm('mixed.vgpu', { snapshotEvery: 1000 }, short);
  warm.run({ untilCommands: 50_000 });
  for (let i = 0; i < 20; i++) stepBack(warm);
  const vm = loadVm('mixed.vgpu', { snapshotEvery: 1000 }, src);
  vm.run({ untilCommands: T });
  // The first step back from a position reached by running forward replays up to one snapshot
  // interval; it leaves snapshots behind (REVERSE_TRAIL), so the next ones replay a few dozen steps.
  const firstBackMs = timeIt(() => stepBack(vm));
  const backs: number[] = [];
  for (let i = 0; i < 9; i++) backs.push(timeIt(() => stepBack(vm)));
  const replays: number[] = [];
  for (let i = 0; i < 3; i++) {
    replays.push(
      timeIt(() => {
        const fresh = loadVm('mixed.vgpu', { snapshotEvery: 1000 }, src);
        runToCommands(fresh, T - 1);
      }),
    );
  }
  return {
    overhead: median(pairs),
    sizeRatio: median(sizes),
    bytesSmall,
    bytesBig,
    firstBackMs,
    stepBackMs: median(backs),
    replayMs: median(replays),
    commands: vm.commands,
  };
}

export const section: Section = {
  name: 'snapshots',
  goals: {
    'snapshot-every 1000 / snapshot-every 0': { max: 1.25 },
    '64 GiB guest / 64 MiB guest time': { max: 1.1 },
    'stepBack at t=1M (ms)': { max: 20 },
    'stepBack / replay from 0': { max: 0.001 },
  },
  async run() {
    const r = measureInChild<Report>(__filename, 'snapshots');
    return {
      'snapshot-every 1000 / snapshot-every 0': Number(r.overhead.toFixed(3)),
      '64 GiB guest / 64 MiB guest time': Number(r.sizeRatio.toFixed(3)),
      'snapshot bytes 64 MiB guest': r.bytesSmall,
      'snapshot bytes 64 GiB guest': r.bytesBig,
      'stepBack at t=1M (ms)': Number(r.stepBackMs.toFixed(3)),
      'replay from 0 to t=1M (ms)': Math.round(r.replayMs),
      'stepBack / replay from 0': Number((r.stepBackMs / r.replayMs).toFixed(5)),
      'first stepBack at t=1M (ms)': Number(r.firstBackMs.toFixed(3)),
      'first stepBack / replay from 0': Number((r.firstBackMs / r.replayMs).toFixed(5)),
    };
  },
};

if (childMode() === 'snapshots') reply(measure());
