// Command streamer figures: MI_LOAD_REGISTER_IMM throughput; the streamer against a minimal JS loop over
// the same dwords (register-only and memory-writing streams, alternated round by round); warm 4096x4096
// blits with snapshots on against Buffer.fill / Buffer.copy of the same bytes, alternated (the goals: byte
// writes, uniform pages off; beside them the default, which maps whole pages uniform); and RSS of a
// 64 GiB-RAM VM against a 64 MiB one running the same program. Times are the process's CPU time: the
// machine is shared, and waiting for a core is not the streamer's cost.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS, LOOKUPS, REG_OFFSET_MASK, commandLength } from '../../emulator/commands';
import { assembleProgram, loadVm } from '../../emulator/program';
import { Vm } from '../../emulator/vm';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { cpuTimeIt as timeIt, median, repeatedBatch } from './workloads';

const LRI_BODY = ['MI_LOAD_REGISTER_IMM CS_GPR0=1', 'MI_LOAD_REGISTER_IMM CS_GPR1=2, CS_GPR2=3'];
/** Stores spread over 64 pages (a dword each, at different offsets), as a memory-writing stream. */
const SDI_BODY = Array.from(
  { length: 64 },
  (_, i) => `MI_STORE_DATA_IMM addr=0x${(0x200000 + i * 4096 + (i % 16) * 4).toString(16)}, data=${i}`,
);

/**
 * The VM a measurement ran last, let go only once the next one has run. When every object of a VM dies
 * and a full collection follows, V8 collects the hidden classes only they used; the next VM's objects
 * get new ones, and optimized code checked against the old ones deoptimizes: the new VM runs its first
 * ~100 ms some times slower while the JIT warms up again (a startup cost, not the streamer's rate, and
 * one a collection's timing decides: rounds varied 3x with it). Holding the last VM keeps its classes.
 */
let lastVm: Vm | null = null;

function lriRate(): { rate: number; commands: number } {
  const src = repeatedBatch(LRI_BODY, 1000, 2000, { memory: '64M' });
  const rates: number[] = [];
  let commands = 0;
  for (let i = 0; i < 9; i++) {
    const vm = loadVm('lri.vgpu', {}, src);
    vm.run({ untilCommands: 1 }); // driver ops and the first batch start: only the stream is timed
    const start = vm.commands;
    const ms = timeIt(() => vm.run());
    commands = vm.commands - start;
    // The first four runs warm the JIT and the heap up (the first section of its process: the rate
    // climbs over its first ~10 M commands), as againstMinimal's rounds are warmed by these.
    if (i >= 4) rates.push(commands / (ms / 1000));
    lastVm = vm;
  }
  return { rate: median(rates), commands };
}

const gen9 = (m: string) => COMMANDS.findIndex((d) => d.mnemonic === m && d.gens.includes(9));
const LRI = gen9('MI_LOAD_REGISTER_IMM');
const SDI = gen9('MI_STORE_DATA_IMM');
const BBE = gen9('MI_BATCH_BUFFER_END');

/**
 * The least a JS interpreter of the same batch does: each header through the table's opcode lookup
 * and its DWord Length, MI_LOAD_REGISTER_IMM's pairs stored through the engine's offset-to-slot table,
 * MI_STORE_DATA_IMM's data stored into a page array indexed by VA page (no translation, no checks, no
 * history). Returns the commands it ran (the batch's, `calls` times; the ring's starts are not counted).
 */
function minimalLoop(
  batch: Uint32Array,
  calls: number,
  regs: Uint32Array,
  slotOf: Int32Array,
  base: number,
  pages: Uint32Array[],
): number {
  const lookup = LOOKUPS[9];
  let n = 0;
  for (let c = 0; c < calls; c++) {
    for (let i = 0; ;) {
      const h = batch[i];
      const idx = lookup[h >>> 16];
      n++;
      if (idx === BBE) break;
      const len = commandLength(idx, h);
      if (idx === LRI) {
        for (let j = 1; j < len; j += 2)
          regs[slotOf[((batch[i + j] & REG_OFFSET_MASK) - base) >>> 2]] = batch[i + j + 1];
      } else if (idx === SDI) {
        const va = batch[i + 1]; // the Address field's low dword (DW2 holds its high bits)
        pages[va >>> 12][(va & 0xfff) >>> 2] = batch[i + 3];
      }
      i += len;
    }
  }
  return n;
}

/**
 * The streamer's command rate on a stream against the minimal loop's on the same batch dwords (read
 * back from the VM), alternated round by round after a warm-up: the median of the per-round ratios.
 */
function againstMinimal(
  body: readonly string[],
  perBatch: number,
  calls: number,
): { ratio: number; streamer: number; minimal: number } {
  const src = repeatedBatch(body, perBatch, calls, { memory: '64M' });
  const image = assembleProgram('stream.vgpu', src);
  const ratios: number[] = [];
  const streamer: number[] = [];
  const minimal: number[] = [];
  for (let round = 0; round < 8; round++) {
    const vm = new Vm(image);
    vm.run({ untilCommands: 1 });
    const start = vm.commands;
    const msVm = timeIt(() => vm.run());
    const rateVm = (vm.commands - start) / msVm;
    lastVm = vm;
    const e = vm.engine('rcs0');
    const batch = Uint32Array.from(vm.readVa(image.symbols.get('WORK')!, perBatch * 5 + 1).map((d) => d ?? 0));
    const regs = new Uint32Array(vm.regs.values.length);
    const pages = Array.from({ length: 1024 }, () => new Uint32Array(1024));
    let n = 0;
    const msLoop = timeIt(() => {
      n = minimalLoop(batch, calls, regs, e.cmdSlot, e.base, pages);
    });
    const rateLoop = n / msLoop;
    if (round < 2) continue; // JIT warm-up
    streamer.push(rateVm * 1000);
    minimal.push(rateLoop * 1000);
    ratios.push(rateLoop / rateVm);
  }
  return { ratio: median(ratios), streamer: median(streamer), minimal: median(minimal) };
}

const BLIT_W = 4096;
const BLIT_H = 4096;
const BLITS = 8;

/**
 * Warm 4096x4096 blits with snapshots on (the defaults: a snapshot every 1000 commands and at every
 * submission): a first submission touches both surfaces; the next one fills the destination BLITS
 * times, the last copies the source over it BLITS times. Each timed submission opens an epoch, so its
 * first blit keeps the destination's before-image (64 MiB) and the others keep nothing.
 */
function blitSource(): string {
  const rect = `x1=0, y1=0, x2=${BLIT_W}, y2=${BLIT_H}`;
  const kib = (BLIT_W * BLIT_H * 4) / 1024;
  const lines = [
    '.vm memory=256M',
    '.map 0x100000, 0x100000, 64K, rw',
    '.map 0xF000000, 0x800000, 64K, rw',
    `.map 0x1000000, 0x1000000, ${kib}K, rw`,
    `.map 0x5000000, 0x5000000, ${kib}K, rw`,
    `.surface dst, 0x1000000, ${BLIT_W}, ${BLIT_H}`,
    `.surface src, 0x5000000, ${BLIT_W}, ${BLIT_H}`,
    '.batch warm, 0x100000, bcs0',
    `XY_COLOR_BLT dst=dst, ${rect}, color=0xff000001`,
    `XY_COLOR_BLT dst=src, ${rect}, color=0xff000002`,
    'MI_BATCH_BUFFER_END',
    '.batch fills, 0x101000, bcs0',
    ...Array.from(
      { length: BLITS },
      (_, i) => `XY_COLOR_BLT dst=dst, ${rect}, color=0x${(0xff102030 + i * 0x010101).toString(16)}`,
    ),
    'MI_BATCH_BUFFER_END',
    '.batch copies, 0x102000, bcs0',
    ...Array.from({ length: BLITS }, () => `XY_SRC_COPY_BLT dst=dst, ${rect}, src=src, sx=0, sy=0`),
    'MI_BATCH_BUFFER_END',
    '.ring bcs0, 0xF000000, 64K',
  ];
  for (const b of ['warm', 'fills', 'copies'])
    lines.push(`MI_BATCH_BUFFER_START addr=${b}`, '.submit bcs0', '.wait bcs0');
  return lines.join('\n') + '\n';
}

interface BlitReport {
  fill: number;
  copy: number;
  fillMBs: number;
  copyMBs: number;
  bufferFillMBs: number;
  bufferCopyMBs: number;
}

/**
 * Blit bytes/s against Buffer.fill / Buffer.copy of the same bytes into a buffer of the surface's size,
 * alternated. With `dedup` off the blits write every byte (HostMemory.dedup: no uniform pages); on (the
 * default), every page these fills and copies (of a filled source) cover whole maps to a uniform page:
 * O(pages), no bytes written.
 */
function blitRatios(dedup: boolean): BlitReport {
  const image = assembleProgram('blits.vgpu', blitSource());
  const bytes = BLIT_W * BLIT_H * 4 * BLITS;
  const dst = Buffer.alloc(BLIT_W * BLIT_H * 4);
  const src = Buffer.alloc(BLIT_W * BLIT_H * 4, 2);
  const patterns = Array.from({ length: BLITS }, (_, i) => {
    const p = Buffer.alloc(4);
    p.writeUInt32LE((0xff102030 + i * 0x010101) >>> 0);
    return p;
  });
  const r = { fill: [] as number[], copy: [] as number[], bufFill: [] as number[], bufCopy: [] as number[] };
  for (let round = 0; round < 6; round++) {
    (globalThis as { gc?: () => void }).gc?.(); // the previous round's VM
    const vm = new Vm(image);
    vm.mem.dedup = dedup;
    // Commands: each submission is a ring start, its blits and a batch end.
    vm.run({ untilCommands: 4 });
    const fill = bytes / (timeIt(() => vm.run({ untilCommands: 4 + BLITS + 2 })) / 1000);
    const copy = bytes / (timeIt(() => vm.run({ untilCommands: 4 + 2 * (BLITS + 2) })) / 1000);
    if (vm.run() !== 'done') throw new Error('blit workload did not complete');
    const bufFill =
      bytes /
      (timeIt(() => {
        for (const p of patterns) dst.fill(p);
      }) /
        1000);
    const bufCopy =
      bytes /
      (timeIt(() => {
        for (let i = 0; i < BLITS; i++) src.copy(dst);
      }) /
        1000);
    if (round === 0) continue; // warm-up
    r.fill.push(fill);
    r.copy.push(copy);
    r.bufFill.push(bufFill);
    r.bufCopy.push(bufCopy);
  }
  const m = { fill: median(r.fill), copy: median(r.copy), bufFill: median(r.bufFill), bufCopy: median(r.bufCopy) };
  return {
    fill: m.fill / m.bufFill,
    copy: m.copy / m.bufCopy,
    fillMBs: m.fill / 1e6,
    copyMBs: m.copy / 1e6,
    bufferFillMBs: m.bufFill / 1e6,
    bufferCopyMBs: m.bufCopy / 1e6,
  };
}

/** RSS after running examples/picture.vgpu with a given guest RAM size, in a fresh process. */
function rssOf(memory: string): number {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const example = path.join(__dirname, '..', '..', 'examples', 'picture.vgpu');
  const probe = path.join(path.dirname(cli), 'rss-probe.js');
  fs.writeFileSync(
    probe,
    `process.on('exit', () => { require('fs').writeSync(2, 'RSS ' + process.memoryUsage().rss + '\\n'); }); require(${JSON.stringify(cli)});`,
  );
  const r = spawnSync(process.execPath, [probe, 'run', example, '--memory', memory, '--json'], { encoding: 'utf8' });
  const m = /RSS (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`rss probe failed: ${r.stderr}`);
  return Number(m[1]);
}

interface SpeedReport {
  lri: number;
  registers: ReturnType<typeof againstMinimal>;
  stores: ReturnType<typeof againstMinimal>;
  blits: BlitReport;
  uniformBlits: BlitReport;
}

export const section: Section = {
  name: 'streamer',
  goals: {
    'MI_LOAD_REGISTER_IMM commands/s': { min: 25e6 },
    'streamer / minimal loop, register-only (time)': { max: 3 },
    'streamer / minimal loop, memory-writing (time)': { max: 3 },
    'warm 4096x4096 blit fill / Buffer.fill, snapshots on': { min: 0.25 },
    'warm 4096x4096 blit copy / Buffer.copy, snapshots on': { min: 0.2 },
    'RSS 64 GiB VM / 64 MiB VM': { max: 1.1 },
  },
  async run() {
    const speed = measureInChild<SpeedReport>(__filename, 'streamer:speed');
    const small = rssOf('64M');
    const big = rssOf('64G');
    const M = (x: number) => Number((x / 1e6).toFixed(1));
    return {
      'MI_LOAD_REGISTER_IMM commands/s': Math.round(speed.lri),
      'streamer / minimal loop, register-only (time)': Number(speed.registers.ratio.toFixed(2)),
      'register-only M commands/s, streamer / minimal loop': `${M(speed.registers.streamer)} / ${M(speed.registers.minimal)}`,
      'streamer / minimal loop, memory-writing (time)': Number(speed.stores.ratio.toFixed(2)),
      'memory-writing M commands/s, streamer / minimal loop': `${M(speed.stores.streamer)} / ${M(speed.stores.minimal)}`,
      'warm 4096x4096 blit fill / Buffer.fill, snapshots on': Number(speed.blits.fill.toFixed(3)),
      'warm 4096x4096 blit copy / Buffer.copy, snapshots on': Number(speed.blits.copy.toFixed(3)),
      'blit fill / Buffer.fill MB/s': `${Math.round(speed.blits.fillMBs)} / ${Math.round(speed.blits.bufferFillMBs)}`,
      'blit copy / Buffer.copy MB/s': `${Math.round(speed.blits.copyMBs)} / ${Math.round(speed.blits.bufferCopyMBs)}`,
      'warm blit fill / Buffer.fill, uniform pages (whole pages mapped, O(pages): no bytes written)': Number(
        speed.uniformBlits.fill.toFixed(3),
      ),
      'warm blit copy of a filled source / Buffer.copy, uniform pages (O(pages): no bytes written)': Number(
        speed.uniformBlits.copy.toFixed(3),
      ),
      'RSS 64 MiB VM (MB)': Math.round(small / 1e6),
      'RSS 64 GiB VM (MB)': Math.round(big / 1e6),
      'RSS 64 GiB VM / 64 MiB VM': Number((big / small).toFixed(3)),
    };
  },
};

if (childMode() === 'streamer:speed') {
  const lri = lriRate();
  const registers = againstMinimal(LRI_BODY, 1000, 2000);
  // 500 stores a batch: a store is two units of watchdog work, and a submission starts 500 batches.
  const stores = againstMinimal(SDI_BODY, 500, 4000);
  const blits = blitRatios(false);
  const uniformBlits = blitRatios(true);
  reply({ lri: lri.rate, registers, stores, blits, uniformBlits } satisfies SpeedReport);
}
