// The batch fast path (Engine.runBatch, taken by Vm.run without a stop condition) and the store cache
// against the one-step path (Vm.stepOnce, taken whenever run has a stopAt) with the write check on (no
// store cache): the same program must reach the same machine state, command count, step count, errors,
// I/O tracker stamps and snapshots, at every point a run can stop. Programs: the examples and the adapter tests' programs, seeded mutants of them, the real
// captures, and streams made to hit the fast path's edges (page ends, self-modifying stores, stores
// that fault or allocate pages, the watchdog's last units, MI_SET_PREDICATE, byte-disabled and device
// register loads, odd snapshot periods).

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assembleSource } from '../../emulator/assembler';
import { programText } from '../../emulator/filetype';
import { loadCaptureVm } from '../../emulator/program';
import { runToCommands } from '../../emulator/reverse';
import { ConfigError, Vm, type VmOptions } from '../../emulator/vm';
import { mulberry32 } from '../helpers/prng';
import { Mutator, corpus, runOptions } from '../fuzz/program-mutation';

/** Everything two runs of one program must agree on. */
function observed(vm: Vm): string {
  // Each snapshot: its place, why it was taken, its epoch's trace, and the pages its undo log keeps
  // (with the step of each one's last write) and their blocks.
  const snaps = vm.snapshots.list.map((s) => [
    s.id,
    s.state.step,
    s.reason,
    s.touchedRegs,
    s.touchedAt,
    s.fetched,
    s.undo.pfns().map((pfn) => [pfn, s.undo.lastWrite(pfn)]),
    Array.from(s.undo.masks()),
    s.undo.heldBytes,
  ]);
  return JSON.stringify({
    digest: vm.digest(),
    held: vm.snapshots.heldBytes(),
    step: vm.step,
    commands: vm.commands,
    errors: vm.errors,
    lastWrite: Array.from(vm.regs.lastWrite),
    touched: [...vm.regs.touchedList],
    snaps,
    counts: vm.engines.map((e) => e.commandCounts()),
    // The last command as the engine holds it (its position, decode and dwords).
    last: vm.engines.map((e) => [e.cmdVa, e.cmdIndex, e.cmdLen, Array.from(e.buf.subarray(0, e.cmdLen)), e.segCount]),
  });
}

/**
 * Runs `make()`'s VM with run() (the fast path) and another with run({ stopAt }) (one step at a time),
 * stopping both at the same command counts and at the end; fails at the first difference.
 */
function sameBothWays(
  make: () => Vm,
  stops: readonly number[],
  maxSteps: number,
  what: string,
  atStop?: (vm: Vm) => void,
): void {
  const fast = make();
  // The reference: one step at a time with the parser's write check on, which also keeps every
  // prediction out of the store cache (each store translated and preserved the general way).
  const slow = make();
  const violations: string[] = [];
  slow.enableWriteCheck((pfn, engine, va, offset) => violations.push(`${engine} ${va} page ${pfn} byte ${offset}`));
  const never = () => false;
  for (const at of [...stops, Infinity]) {
    const a = fast.run({ untilCommands: at, maxSteps });
    const b = slow.run({ untilCommands: at, maxSteps, stopAt: never });
    assert.equal(a, b, `${what}: run status at ${at}`);
    const oa = observed(fast);
    const ob = observed(slow);
    if (oa !== ob) {
      const ja = JSON.parse(oa);
      const jb = JSON.parse(ob);
      const keys = Object.keys(ja).filter((k) => JSON.stringify(ja[k]) !== JSON.stringify(jb[k]));
      assert.fail(`${what}: the fast path differs at command ${at} in ${keys.join(', ')}`);
    }
    assert.deepEqual(violations.slice(0, 3), [], `${what}: writes outside the predicted ranges`);
    if (a !== 'limit') break;
    atStop?.(fast);
    atStop?.(slow);
  }
}

function vmOf(file: string, text: string, options: VmOptions): (() => Vm) | null {
  const r = assembleSource(text, { file, readFile: () => fs.readFileSync(path.join(path.dirname(file), 'x')) });
  if (!r.image) return null;
  const image = r.image;
  try {
    new Vm(image, options);
  } catch (e) {
    if (e instanceof ConfigError) return null;
    throw e;
  }
  return () => new Vm(image, { watchdog: 20_000, semaphoreTimeout: 20_000, ...options });
}

/** A batch of `lines` at 0x100000 run `calls` times from the ring, with optional data maps. */
function stream(lines: readonly string[], calls = 3, extra: readonly string[] = []): string {
  return [
    '.vm memory=64M',
    '.map 0x100000, 0x100000, 64K, rw',
    '.map 0x200000, 0x200000, 64K, rw',
    '.map 0xF000000, 0x800000, 64K, rw',
    ...extra,
    '.batch work, 0x100000, rcs0',
    ...lines,
    'MI_BATCH_BUFFER_END',
    '.ring rcs0, 0xF000000, 64K',
    ...Array.from({ length: calls }, () => 'MI_BATCH_BUFFER_START addr=work'),
    '.submit rcs0',
    '.wait rcs0',
  ].join('\n');
}

const LRI = (i: number) => `MI_LOAD_REGISTER_IMM CS_GPR${i % 16}=${i}`;
const SDI = (i: number) =>
  `MI_STORE_DATA_IMM addr=0x${(0x200000 + (i % 16) * 4096 + (i % 7) * 4).toString(16)}, data=${i}`;

const EDGES: Record<string, string> = {
  // 1,500 three-dword loads cross a page end in the middle of a command.
  'loads across page ends': stream(Array.from({ length: 1500 }, (_, i) => LRI(i))),
  'stores and loads': stream(Array.from({ length: 900 }, (_, i) => (i % 3 === 0 ? SDI(i) : LRI(i)))),
  'stores into the batch itself': stream(
    [
      'MI_STORE_DATA_IMM addr=0x100010, data=0',
      'MI_NOOP',
      ...Array.from({ length: 40 }, (_, i) => LRI(i)),
      'MI_STORE_DATA_IMM addr=0x100200, data=0x11000001',
      ...Array.from({ length: 200 }, (_, i) => LRI(i)),
    ],
    4,
  ),
  'a store that faults': stream([
    ...Array.from({ length: 50 }, (_, i) => LRI(i)),
    'MI_STORE_DATA_IMM addr=0x900000, data=1',
    LRI(3),
  ]),
  'stores that allocate pages': stream(
    Array.from({ length: 300 }, (_, i) => `MI_STORE_DATA_IMM addr=0x${(0x300000 + i * 4096).toString(16)}, data=${i}`),
    2,
    ['.map 0x300000, 0x300000, 2M, rw'],
  ),
  'predicated loads': stream(
    [
      'MI_LOAD_REGISTER_IMM MI_PREDICATE_RESULT=0',
      'MI_SET_PREDICATE enable=1',
      ...Array.from({ length: 20 }, (_, i) => LRI(i)),
      'MI_SET_PREDICATE enable=0',
      ...Array.from({ length: 20 }, (_, i) => SDI(i)),
    ],
    3,
  ),
  // Single stores the one-step path takes from the store cache: atomics, post-sync writes, register stores.
  'atomics, post-sync writes and register stores': stream(
    Array.from({ length: 600 }, (_, i) => {
      const at = `0x${(0x200000 + (i % 9) * 4096 + (i % 5) * 8).toString(16)}`;
      return [
        `MI_ATOMIC op=ADD, addr=${at}, data=${i + 1}`,
        `PIPE_CONTROL post_sync=write, addr=${at}, data=${i}`,
        `PIPE_CONTROL post_sync=timestamp, addr=${at}`,
        `MI_STORE_REGISTER_MEM reg=CS_GPR${i % 16}, addr=${at}`,
        `MI_ATOMIC op=INC, addr=${at}`,
        LRI(i),
      ][i % 6];
    }),
  ),
  // One VA in both address spaces, stored to through each in turn (from the ring and a privileged batch).
  'stores to one VA through the PPGTT and the global GTT': [
    '.vm memory=64M',
    '.map 0x100000, 0x100000, 64K, rw',
    '.map 0x200000, 0x200000, 64K, rw',
    '.map 0xF000000, 0x800000, 64K, rw',
    '.ggtt 0x40000, 0x320000, 8K',
    '.ggtt 0x200000, 0x330000, 4K',
    '.batch priv, 0x40000, ggtt',
    ...Array.from({ length: 200 }, (_, i) =>
      i % 2 === 0 ? `MI_STORE_DATA_IMM addr=0x200010, data=${i}` : `MI_STORE_DATA_IMM ggtt=1, addr=0x200010, data=${i}`,
    ),
    'MI_BATCH_BUFFER_END',
    '.ring rcs0, 0xF000000, 64K',
    'MI_STORE_DATA_IMM addr=0x200010, data=7',
    'MI_STORE_DATA_IMM ggtt=1, addr=0x200010, data=8',
    'MI_BATCH_BUFFER_START addr=priv, ppgtt=0',
    'MI_BATCH_BUFFER_START addr=priv, ppgtt=0',
    '.submit rcs0',
    '.wait rcs0',
  ].join('\n'),
  // Runs of stores (storeRun): dwords and qwords over blocks of a few pages, a qword at a dword-aligned
  // address, stores that rewrite the next store's data and header in the batch itself, and stores into
  // pages a blit left uniform (the first store gives each its own memory: memory's generation moves).
  'runs of stores into the batch itself and into uniform pages': [
    '.vm memory=64M',
    '.map 0x100000, 0x100000, 64K, rw',
    '.map 0x200000, 0x200000, 64K, rw',
    '.map 0xF000000, 0x800000, 64K, rw',
    '.map 0xF100000, 0x810000, 64K, rw',
    '.surface s, 0x200000, 1024, 4',
    '.batch work, 0x100000, rcs0',
    'MI_STORE_DATA_IMM addr=0x10001c, data=77',
    'MI_STORE_DATA_IMM addr=0x200100, data=1',
    'MI_STORE_DATA_IMM addr=0x100030, data=0',
    'MI_STORE_DATA_IMM addr=0x200104, data=2',
    ...Array.from({ length: 120 }, (_, i) =>
      i % 5 === 4
        ? `MI_STORE_DATA_IMM addr=0x${(0x200000 + (i % 4) * 4096 + (i % 3) * 8).toString(16)}, data=0x${(0x1122334455667788 + i).toString(16)}, qword=1`
        : `MI_STORE_DATA_IMM addr=0x${(0x200000 + (i % 4) * 4096 + ((i * 36) % 4096)).toString(16)}, data=${i}`,
    ),
    'MI_BATCH_BUFFER_END',
    '.batch fill, 0x108000, bcs0',
    'XY_COLOR_BLT dst=s, x1=0, y1=0, x2=1024, y2=4, color=0x01020304',
    'MI_BATCH_BUFFER_END',
    ...Array.from({ length: 3 }, (_, k) => [
      k === 0 ? '.ring rcs0, 0xF000000, 64K' : '.ring rcs0',
      'MI_BATCH_BUFFER_START addr=work',
      '.submit rcs0',
      '.wait rcs0',
      k === 0 ? '.ring bcs0, 0xF100000, 64K' : '.ring bcs0',
      'MI_BATCH_BUFFER_START addr=fill',
      '.submit bcs0',
      '.wait bcs0',
    ]).flat(),
  ].join('\n'),
  'byte-disabled and device loads': stream(
    [
      ...Array.from({ length: 10 }, (_, i) => LRI(i)),
      'MI_LOAD_REGISTER_IMM byte_write_disables=3, CS_GPR1=0xffffffff',
      ...Array.from({ length: 10 }, (_, i) => LRI(i)),
      'MI_LOAD_REGISTER_IMM IA_VERTICES_COUNT=5, CS_GPR2=1',
      ...Array.from({ length: 10 }, (_, i) => LRI(i)),
      'MI_LOAD_REGISTER_IMM EPT_VIEW=0',
      ...Array.from({ length: 10 }, (_, i) => LRI(i)),
    ],
    2,
  ),
};

describe('the batch fast path runs every program as one step at a time does', () => {
  for (const [name, text] of Object.entries(EDGES)) {
    it(`${name}: same state at every stop, under odd snapshot periods and a tight watchdog`, () => {
      for (const options of [{}, { snapshotEvery: 7 }, { snapshotEvery: 1 }, { snapshotEvery: 0 }, { watchdog: 333 }]) {
        const make = vmOf(`${name}.vgpu`, text, options);
        assert.ok(make, `${name} assembles`);
        sameBothWays(make, [1, 2, 3, 50, 51, 777, 1000, 1001, 2500], 1_000_000, `${name} ${JSON.stringify(options)}`);
      }
    });
  }

  it('replays to a time and to a step (runToCommands, goToStep back with a trail) as one step at a time does', () => {
    // The machine (not the I/O tracker's stamps: it keeps a register's last one only, so a rewind that
    // forgets a later write leaves -1 where a fresh run has the one before, whichever path replays).
    const at = (v: Vm) => [v.digest(), v.step, v.commands];
    const snaps = (v: Vm) => v.snapshots.list.map((x) => `${x.reason}@${x.state.step}`);
    for (const name of [
      'stores and loads',
      'atomics, post-sync writes and register stores',
      'loads across page ends',
    ]) {
      const make = vmOf(`${name}.vgpu`, EDGES[name], { snapshotEvery: 100 });
      assert.ok(make);
      // The same history twice: replayed through the fast path, and one step at a time (write check on).
      const fast = make();
      fast.run();
      const slow = make();
      slow.enableWriteCheck(() => assert.fail(`${name}: a write outside the predicted ranges`));
      slow.run({ stopAt: () => false });
      const end = fast.commands;
      for (const t of [end - 1, Math.floor(end / 2), 37, 1]) {
        assert.ok(runToCommands(fast, t) && runToCommands(slow, t), `${name}: back to t=${t}`);
        assert.deepEqual([at(fast), snaps(fast)], [at(slow), snaps(slow)], `${name}: runToCommands(${t})`);
        const fresh = make();
        while (fresh.commands < t) fresh.stepOnce();
        assert.deepEqual(at(fast), at(fresh), `${name}: runToCommands(${t}) against a fresh run`);
        // A step back from there: goToStep replays from a snapshot, leaving its trail of snapshots.
        const back = Math.max(0, fast.step - 250);
        fast.goToStep(back, undefined, 16);
        slow.goToStep(back, undefined, 16);
        assert.deepEqual([at(fast), snaps(fast)], [at(slow), snaps(slow)], `${name}: goToStep(${back})`);
      }
    }
  });

  it('with no epoch open (the snapshots dropped at every stop, as a restore of none leaves them)', () => {
    for (const name of ['stores and loads', 'stores that allocate pages']) {
      const make = vmOf(`${name}.vgpu`, EDGES[name], {});
      assert.ok(make);
      sameBothWays(make, [10, 100, 400, 1000], 1_000_000, `${name}, snapshots cleared`, (vm) => vm.snapshots.clear());
    }
  });

  it('the examples and the adapter tests programs', () => {
    for (const p of corpus()) {
      const make = vmOf(p.name, p.text, {});
      if (make === null) continue;
      sameBothWays(make, [5, 100, 1000], 200_000, p.name);
    }
  });

  it('1,000 seeded mutants of them under random run options', function () {
    this.timeout(300_000);
    const rnd = mulberry32(0xfa57);
    const programs = corpus();
    const mutator = new Mutator(rnd, programs);
    let ran = 0;
    for (let i = 0; i < 1000; i++) {
      const m = mutator.mutate(programs[i % programs.length]);
      const options = runOptions(rnd);
      const t = programText(m.bytes);
      if ('refused' in t) continue;
      const make = vmOf(`mutant-${i}.vgpu`, t.text, options);
      if (make === null) continue;
      sameBothWays(make, [3, 64, 500], 20_000, `mutant ${i} (${m.done.join(', ')})`);
      ran++;
    }
    assert.ok(ran > 150, `${ran} mutants ran`);
  });

  it('the real captures', function () {
    this.timeout(300_000);
    const dir = path.join(__dirname, '..', 'captures');
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.aub.gz'))) {
      const file = path.join(dir, f);
      sameBothWays(() => loadCaptureVm(file)!, [10, 200], 2_000_000, f);
    }
  });
});
