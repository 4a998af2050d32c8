// Benchmark section "assembler": 100k `.map` directives (4 KiB each, every other VA page) assembled
// with their VAs rising, falling and shuffled, and 10k rising beside them (the cost per directive
// stays flat); each the median of three runs alternated in one process.

import { assembleSource } from '../../emulator/assembler';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { median, timeIt } from './workloads';

type Order = 'rising' | 'falling' | 'shuffled';

function maps(n: number, order: Order): string {
  const idx = Array.from({ length: n }, (_, i) => (order === 'falling' ? n - 1 - i : i));
  if (order === 'shuffled') {
    let x = 12345;
    for (let i = n - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const j = x % (i + 1);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
  }
  const lines = ['.vm memory=1G'];
  for (const i of idx)
    lines.push(`.map 0x${(0x100000 + i * 0x2000).toString(16)}, 0x${(0x100000 + i * 0x1000).toString(16)}, 4K, rw`);
  return lines.join('\n') + '\n';
}

interface Report {
  rising: number;
  falling: number;
  shuffled: number;
  small: number;
}

function measure(): Report {
  const sources = {
    rising: maps(100_000, 'rising'),
    falling: maps(100_000, 'falling'),
    shuffled: maps(100_000, 'shuffled'),
    small: maps(10_000, 'rising'),
  };
  const times: Record<keyof Report, number[]> = { rising: [], falling: [], shuffled: [], small: [] };
  assembleSource(sources.small, { file: 'maps.vgpu' }); // warm-up
  for (let k = 0; k < 3; k++) {
    for (const key of Object.keys(sources) as (keyof Report)[]) {
      times[key].push(
        timeIt(() => {
          const r = assembleSource(sources[key], { file: 'maps.vgpu' });
          if (!r.image) throw new Error(`${key}: ${r.diagnostics[0]?.message}`);
        }),
      );
    }
  }
  return {
    rising: median(times.rising),
    falling: median(times.falling),
    shuffled: median(times.shuffled),
    small: median(times.small),
  };
}

export const section: Section = {
  name: 'assembler',
  goals: {
    '100k .map directives, VAs rising (s)': { max: 1, unit: 's' },
    '100k .map directives, VAs falling (s)': { max: 1, unit: 's' },
    '100k .map directives, VAs shuffled (s)': { max: 1, unit: 's' },
  },
  async run() {
    const r = measureInChild<Report>(__filename, 'assembler');
    return {
      '100k .map directives, VAs rising (s)': Number((r.rising / 1000).toFixed(3)),
      '100k .map directives, VAs falling (s)': Number((r.falling / 1000).toFixed(3)),
      '100k .map directives, VAs shuffled (s)': Number((r.shuffled / 1000).toFixed(3)),
      '100k rising / 10x 10k rising': Number((r.rising / (10 * r.small)).toFixed(2)),
    };
  },
};

if (childMode() === 'assembler') reply(measure());
