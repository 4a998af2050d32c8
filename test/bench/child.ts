// Sections measure in fresh node processes running an esbuild bundle of the section file, as dist/
// ships the emulator: no TypeScript loader in the heap, no module-wrapper getters on the hot path.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CHILD_ENV = 'VGPU_BENCH_CHILD';
const bundles = new Map<string, string>();

/** The mode this process was started in to measure, when it is a bench child. */
export function childMode(): string | undefined {
  return process.env[CHILD_ENV];
}

/** Sends a child's report to its parent (the last line of stdout). */
export function reply(report: unknown): void {
  process.stdout.write(JSON.stringify(report) + '\n');
}

/** Bundles `file` (once) and runs it as a child in `mode`; returns the child's report. */
export function measureInChild<T>(file: string, mode: string, nodeArgs: string[] = ['--expose-gc']): T {
  let bundle = bundles.get(file);
  if (!bundle) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-bench-'));
    bundle = path.join(dir, path.basename(file).replace(/\.ts$/, '.js'));
    const esbuild = require('esbuild') as typeof import('esbuild'); // only the parent needs it
    esbuild.buildSync({
      entryPoints: [file],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: bundle,
      external: ['esbuild'],
      logLevel: 'error',
    });
    bundles.set(file, bundle);
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  const r = spawnSync(process.execPath, [...nodeArgs, bundle], {
    env: { ...process.env, [CHILD_ENV]: mode },
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`bench child '${mode}' failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}
