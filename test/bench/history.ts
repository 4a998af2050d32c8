// Benchmark section "history": moving back 20,000 commands at t = 1e6 (the snapshot budget far from
// full) and at t = 1e8 (the default 256 MB budget full since ~4.4e7, old history thinned to a
// geometric ladder), in one VM of one process; each figure is the median of moves made one after
// another. The same process's peak RSS against the budget plus the live VM (the process's RSS at
// t = 1e6, less what its snapshots held then): what history really costs, measured by the system.

import { loadVm } from '../../emulator/program';
import { runToCommands } from '../../emulator/reverse';
import type { Vm } from '../../emulator/vm';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { median, repeatedBatch, timeIt } from './workloads';

const BACK = 20_000;
const MOVES = 7;

interface Moves {
  ms: number;
  steps: number;
}

interface Report {
  near: Moves;
  far: Moves;
  runS: number;
  kept: number;
  heldMb: number;
  budgetMb: number;
  liveMb: number;
  peakMb: number;
  /** Growth of heap and ArrayBuffers (after full GCs) from t = 1e6 to t = 1e8 / growth of what the store says it holds. */
  measuredPerHeld: number;
}

/** Heap and ArrayBuffer bytes in use once garbage is gone. */
function inUse(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** One store per 1000 commands (each epoch keeps a block), register loads otherwise: ~15 M commands/s. */
function workload(calls: number): string {
  const body = ['MI_STORE_DATA_IMM addr=0x200000, data=1'];
  for (let i = 1; i < 1000; i++) body.push(`MI_LOAD_REGISTER_IMM CS_GPR${i % 16}=${i}`);
  return repeatedBatch(body, 1000, calls);
}

/** Moves back BACK commands MOVES times in a row; the median time and replayed steps. */
function movesBack(vm: Vm): Moves {
  const times: number[] = [];
  const steps: number[] = [];
  const step = vm.stepOnce;
  let n = 0;
  vm.stepOnce = () => {
    n++;
    return step.call(vm);
  };
  try {
    for (let k = 0; k < MOVES; k++) {
      n = 0;
      const t = vm.commands - BACK;
      times.push(
        timeIt(() => {
          if (!runToCommands(vm, t)) throw new Error(`could not move back to t=${t}`);
        }),
      );
      steps.push(n);
    }
  } finally {
    vm.stepOnce = step;
  }
  return { ms: median(times), steps: median(steps) };
}

function measure(): Report {
  // The reverse path warmed on a small VM first: the figures are the algorithm, not the JIT.
  const warm = loadVm('history.vgpu', {}, workload(300));
  warm.run({ untilCommands: 250_000 });
  movesBack(warm);
  const T = 100_000_000;
  const vm = loadVm('history.vgpu', {}, workload(T / 1000 + 1000));
  vm.run({ untilCommands: 1_000_000 });
  const used0 = inUse();
  const held0 = vm.snapshots.heldBytes();
  const liveMb = (process.memoryUsage().rss - held0) / 2 ** 20;
  const near = movesBack(vm);
  const runS = timeIt(() => vm.run({ untilCommands: T })) / 1000;
  const measuredPerHeld = (inUse() - used0) / (vm.snapshots.heldBytes() - held0);
  const far = movesBack(vm);
  return {
    near,
    far,
    runS,
    kept: vm.snapshots.list.length,
    heldMb: vm.snapshots.heldBytes() / 2 ** 20,
    budgetMb: vm.cfg.snapshotBudget / 2 ** 20,
    liveMb,
    peakMb: process.resourceUsage().maxRSS / 1024,
    measuredPerHeld,
  };
}

export const section: Section = {
  name: 'history',
  goals: {
    'move back 20k at t=1e8 / at t=1e6': { max: 2 },
    'peak RSS / (budget + live VM), run to t=1e8': { max: 1.5 },
    'heap+buffers grown / snapshot bytes held, t=1e6 to 1e8': { min: 0.8, max: 1.25 },
  },
  async run() {
    const r = measureInChild<Report>(__filename, 'history');
    return {
      'move back 20k commands at t=1e6 (ms)': Number(r.near.ms.toFixed(3)),
      'move back 20k commands at t=1e8 (ms)': Number(r.far.ms.toFixed(3)),
      'move back 20k at t=1e8 / at t=1e6': Number((r.far.ms / r.near.ms).toFixed(3)),
      'steps replayed per move at t=1e6 / t=1e8': `${r.near.steps} / ${r.far.steps}`,
      'run from t=1e6 to t=1e8 (s)': Number(r.runS.toFixed(1)),
      'snapshots kept at t=1e8': r.kept,
      'snapshot MiB held at t=1e8 (budget)': `${r.heldMb.toFixed(0)} (${r.budgetMb.toFixed(0)})`,
      'peak RSS MiB (budget + live VM)': `${r.peakMb.toFixed(0)} (${r.budgetMb.toFixed(0)} + ${r.liveMb.toFixed(0)})`,
      'peak RSS / (budget + live VM), run to t=1e8': Number((r.peakMb / (r.budgetMb + r.liveMb)).toFixed(3)),
      'heap+buffers grown / snapshot bytes held, t=1e6 to 1e8': Number(r.measuredPerHeld.toFixed(3)),
    };
  },
};

if (childMode() === 'history') reply(measure());
