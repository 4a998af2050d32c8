// Command streamer figures: MI_LOAD_REGISTER_IMM throughput, blit fill bandwidth against Buffer.fill
// measured side by side, and RSS of a 64 GiB-RAM VM against a 64 MiB one running the same program.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadVm } from '../../emulator/program';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { median, repeatedBatch, timeIt } from './workloads';

function lriRate(): { rate: number; commands: number } {
  const src = repeatedBatch(['MI_LOAD_REGISTER_IMM CS_GPR0=1', 'MI_LOAD_REGISTER_IMM CS_GPR1=2, CS_GPR2=3'], 1000, 2000, { memory: '64M' });
  const rates: number[] = [];
  let commands = 0;
  for (let i = 0; i < 7; i++) {
    const vm = loadVm('lri.vgpu', {}, src);
    vm.run({ untilCommands: 1 }); // driver ops and the first batch start: only the stream is timed
    const start = vm.commands;
    const ms = timeIt(() => vm.run());
    commands = vm.commands - start;
    if (i >= 2) rates.push(commands / (ms / 1000)); // the first runs warm the JIT up
  }
  return { rate: median(rates), commands };
}

/**
 * Blit fill bytes/s against Buffer.fill writing the same bytes (the same 32-bit color pattern) into a
 * buffer of the surface's size, alternated in one process after a warm-up round.
 */
function fillRatio(): { ratio: number; blitMBs: number; bufferMBs: number } {
  const W = 1024, H = 1024, FILLS = 32;
  const colors = Array.from({ length: FILLS }, (_, i) => (0xff102030 + i * 0x010101) >>> 0);
  const body = colors.map((c) => `XY_COLOR_BLT dst=s, x1=0, y1=0, x2=${W}, y2=${H}, color=0x${c.toString(16)}`);
  const src = repeatedBatch(body, FILLS, 1, { engine: 'bcs0', memory: '256M', extraMaps: [`.map 0x1000000, 0x1000000, ${(W * H * 4) / 1024}K, rw`, `.surface s, 0x1000000, ${W}, ${H}`] });
  const bytes = W * H * 4 * FILLS;
  const buf = Buffer.alloc(W * H * 4);
  const patterns = colors.map((c) => {
    const p = Buffer.alloc(4);
    p.writeUInt32LE(c);
    return p;
  });
  const blit: number[] = [];
  const fill: number[] = [];
  for (let round = 0; round < 6; round++) {
    const vm = loadVm('fill.vgpu', { snapshotEvery: 0 }, src);
    vm.run({ untilCommands: 1 }); // driver ops and the batch start: only the fills are timed
    const b = bytes / (timeIt(() => vm.run()) / 1000);
    const f = bytes / (timeIt(() => { for (const p of patterns) buf.fill(p); }) / 1000);
    if (round === 0) continue; // warm-up
    blit.push(b);
    fill.push(f);
  }
  return { ratio: median(blit) / median(fill), blitMBs: median(blit) / 1e6, bufferMBs: median(fill) / 1e6 };
}

/** RSS after running examples/picture.vgpu with a given guest RAM size, in a fresh process. */
function rssOf(memory: string): number {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const example = path.join(__dirname, '..', '..', 'examples', 'picture.vgpu');
  const probe = path.join(path.dirname(cli), 'rss-probe.js');
  fs.writeFileSync(probe, `process.on('exit', () => { require('fs').writeSync(2, 'RSS ' + process.memoryUsage().rss + '\\n'); }); require(${JSON.stringify(cli)});`);
  const r = spawnSync(process.execPath, [probe, 'run', example, '--memory', memory, '--json'], { encoding: 'utf8' });
  const m = /RSS (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`rss probe failed: ${r.stderr}`);
  return Number(m[1]);
}

interface SpeedReport {
  lri: number;
  commands: number;
  ratio: number;
  blitMBs: number;
  bufferMBs: number;
}

export const section: Section = {
  name: 'streamer',
  goals: {
    'MI_LOAD_REGISTER_IMM commands/s': { min: 20e6 },
    'blit fill / Buffer.fill': { min: 0.25 },
    'RSS 64 GiB VM / 64 MiB VM': { max: 1.1 },
  },
  async run() {
    const speed = measureInChild<SpeedReport>(__filename, 'streamer:speed');
    const small = rssOf('64M');
    const big = rssOf('64G');
    return {
      'MI_LOAD_REGISTER_IMM commands/s': Math.round(speed.lri),
      'blit fill / Buffer.fill': Number(speed.ratio.toFixed(3)),
      'blit fill MB/s': Math.round(speed.blitMBs),
      'Buffer.fill MB/s': Math.round(speed.bufferMBs),
      'RSS 64 MiB VM (MB)': Math.round(small / 1e6),
      'RSS 64 GiB VM (MB)': Math.round(big / 1e6),
      'RSS 64 GiB VM / 64 MiB VM': Number((big / small).toFixed(3)),
    };
  },
};

if (childMode() === 'streamer:speed') {
  const lri = lriRate();
  const fill = fillRatio();
  reply({ lri: lri.rate, commands: lri.commands, ratio: fill.ratio, blitMBs: fill.blitMBs, bufferMBs: fill.bufferMBs } satisfies SpeedReport);
}
