// The snapshot budget against the memory snapshots really take: what the store says it holds must
// match what the process's heap and buffers grow by (measured after full collections), for epochs
// that keep one block, epochs that write many pages, epochs that blit whole pages (kept in page
// units), epochs full of 3D pipeline state and epochs that sweep the TLB; and a run
// that fills the budget stays within it.

import { strict as assert } from 'node:assert';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { loadVm } from '../../emulator/program';
import type { Vm } from '../../emulator/vm';
import { mixedWorkload, repeatedBatch } from '../bench/workloads';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap and ArrayBuffer bytes in use once garbage is gone. */
function measured(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** One store per 1000 commands, register loads otherwise: every epoch keeps a block and 16 registers. */
function oneBlockEpochs(commands: number): string {
  const body = ['MI_STORE_DATA_IMM addr=0x200000, data=1'];
  for (let i = 1; i < 1000; i++) body.push(`MI_LOAD_REGISTER_IMM CS_GPR${i % 16}=${i}`);
  return repeatedBatch(body, 1000, commands / 1000 + 1);
}

/** A 3D setup over and over: every epoch changes pipeline state entries and command counts. */
function pipelineEpochs(commands: number): string {
  const body: string[] = [];
  for (let i = 0; i < 25; i++) {
    body.push(
      `3DSTATE_VIEWPORT_STATE_POINTERS_CC cc_viewport_pointer=0x${(64 * i).toString(16)}`,
      `3DSTATE_VS kernel_start_pointer=0x${(0x100 + 64 * i).toString(16)}, enable=1, maximum_number_of_threads=15`,
      'PIPELINE_SELECT pipeline_selection=_3D, mask_bits=3',
      `MI_STORE_DATA_IMM addr=0x${(0x200000 + 4096 * (i % 8)).toString(16)}, data=${i}`,
    );
  }
  return repeatedBatch(body, 100, commands / 100 + 1);
}

/** Stores over 8192 pages, 1000 an epoch: the direct-mapped TLB's slots change every epoch. */
function sweepingEpochs(commands: number): string {
  const body = Array.from(
    { length: 8192 },
    (_, i) => `MI_STORE_DATA_IMM addr=0x${(0x1000000 + i * 4096).toString(16)}, data=${i}`,
  );
  return repeatedBatch(body, 8192, commands / 8192 + 1, { extraMaps: ['.map 0x1000000, 0x1000000, 32M, rw'] });
}

/** A blit over 16 whole pages per 1000 commands, register loads otherwise: every epoch keeps 16 page units. */
function blitEpochs(commands: number): string {
  const body = ['XY_COLOR_BLT dst=0x1000000, pitch=4096, x1=0, y1=0, x2=1024, y2=16, color=0xff102030'];
  for (let i = 1; i < 1000; i++) body.push(`MI_LOAD_REGISTER_IMM CS_GPR${i % 16}=${i}`);
  return repeatedBatch(body, 1000, commands / 1000 + 1, {
    engine: 'bcs0',
    extraMaps: ['.map 0x1000000, 0x1000000, 1M, rw'],
  });
}

/** Runs from `from` to `to` commands and compares the growth of what the store holds with the growth measured. */
function growth(vm: Vm, from: number, to: number): { held: number; real: number; kept: number } {
  vm.run({ untilCommands: from });
  const m0 = measured();
  const h0 = vm.snapshots.heldBytes();
  const k0 = vm.snapshots.list.length;
  vm.run({ untilCommands: to });
  const m1 = measured();
  return { held: vm.snapshots.heldBytes() - h0, real: m1 - m0, kept: vm.snapshots.list.length - k0 };
}

const MiB = 2 ** 20;

describe('snapshot budget against measured memory', function () {
  this.timeout(120_000);

  // Within 20%: figures are V8's object sizes on x64 (heap snapshots); slabs come 1 MiB at a time.
  // The blits' pages are filled whole with one value, which with uniform pages on keeps no page unit
  // (a uniform record): that case runs with them off, so it measures page units.
  const cases: [string, string, number, boolean?][] = [
    ['epochs that keep one block', oneBlockEpochs(3_000_000), 3_000_000],
    ['epochs that write 64 pages', mixedWorkload(1_200_000 / 1000 + 1), 1_200_000],
    ['epochs that blit whole pages', blitEpochs(400_000), 400_000, false],
    ['epochs full of pipeline state', pipelineEpochs(1_500_000), 1_500_000],
    ['epochs that sweep the TLB', sweepingEpochs(400_000), 400_000],
  ];
  for (const [what, src, commands, dedup] of cases) {
    it(`counts what snapshots hold within 20%: ${what}`, () => {
      const vm = loadVm('budget.vgpu', { snapshotBudget: 1024 * MiB }, src);
      if (dedup !== undefined) vm.mem.dedup = dedup;
      const g = growth(vm, commands / 8, commands);
      assert.ok(g.held > 8 * MiB, `${(g.held / MiB).toFixed(1)} MiB held: too little to measure`);
      const ratio = g.real / g.held;
      assert.ok(
        ratio > 0.8 && ratio < 1.2,
        `${what}: ${g.kept} snapshots hold ${(g.held / MiB).toFixed(1)} MiB by the store's count, ${(g.real / MiB).toFixed(1)} MiB measured (${ratio.toFixed(2)}x)`,
      );
    });
  }

  it('a run that fills the budget takes what the budget allows, whatever the length of the run', () => {
    const budget = 16 * MiB;
    const vm = loadVm('budget.vgpu', { snapshotBudget: budget }, oneBlockEpochs(6_000_000));
    vm.run({ untilCommands: 1000 });
    const before = measured();
    vm.run({ untilCommands: 4_000_000 });
    const full = measured() - before;
    vm.run({ untilCommands: 6_000_000 });
    const later = measured() - before;
    assert.ok(vm.snapshots.heldBytes() <= budget, `held ${vm.snapshots.heldBytes()} of ${budget}`);
    // The pool keeps the segments thinning freed for the next snapshots (one pass: 1/16 of the budget).
    assert.ok(
      full < budget * 1.2 && later < budget * 1.2,
      `grew ${(full / MiB).toFixed(1)} MiB, then ${(later / MiB).toFixed(1)} MiB, for a ${budget / MiB} MiB budget`,
    );
  });
});
