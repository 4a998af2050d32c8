// Triage at scale (issue 13): `vgpu triage DIR --json` on 1,000 generated dumps (5 hangs/faults of the
// examples on 4 gen9 platforms, compressed), wall time of the built CLI, node start-up included.
// Goal: seconds per thousand dumps (<= 10 s).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateDumps } from '../helpers/dumps';
import type { Section } from './run';

const ROOT = path.join(__dirname, '..', '..');
const N = 1000;

export const section: Section = {
  name: 'triage',
  goals: { triageMsPer1000: { max: 10_000, unit: 'ms' } },
  async run() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-triage-'));
    try {
      const corrupted = generateDumps(dir, N, 100);
      const bytes = fs.readdirSync(dir).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'triage', dir, '--json'], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`vgpu triage failed: ${r.stderr}`);
      const j = JSON.parse(r.stdout) as { dumps: number; groups: unknown[]; unreadable: unknown[] };
      if (j.dumps !== N || j.unreadable.length !== corrupted)
        throw new Error(
          `triage read ${j.dumps} dumps, ${j.unreadable.length} unreadable (expected ${N}, ${corrupted})`,
        );
      return {
        dumps: N,
        megabytes: bytes / 1e6,
        signatures: j.groups.length,
        unreadable: j.unreadable.length,
        triageMsPer1000: (ms * 1000) / N,
      };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
