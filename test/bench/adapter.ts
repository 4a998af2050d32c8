// Benchmark section "adapter": DAP round trips against `node dist/adapter.js` as a separate process —
// `next` (request to stopped event), `stepBack` at t = 1,000,000 commands, and `variables` on a full
// 512-entry page-table level — on a generated program of about a million commands.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Section } from './run';

const ROOT = path.resolve(__dirname, '..', '..');
const ADAPTER = path.join(ROOT, 'dist', 'adapter.js');
const T = 1_000_000;
const INNER = 1000; // commands of the innermost batch
const CALLS = 100; // second-level calls per middle batch
const RING_CALLS = 10; // first-level calls from the ring: 10 * 100 * 1001 ~ 1.0M commands

export const section: Section = {
  name: 'adapter',
  goals: {
    nextMedianMs: { max: 2, unit: 'ms' },
    stepBackAt1MMedianMs: { max: 30, unit: 'ms' },
    variables512MedianMs: { max: 10, unit: 'ms' },
  },
  async run() {
    if (!fs.existsSync(ADAPTER))
      throw new Error('dist/adapter.js is missing: run `node esbuild.js` (npm run bench does)');
    const file = writeProgram();
    const dc = new DebugClient('node', ADAPTER, 'vgpu', { cwd: ROOT });
    dc.defaultTimeout = 120000;
    await dc.start();
    try {
      const t0 = performance.now();
      await dc.initializeRequest({ adapterID: 'vgpu', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true });
      await Promise.all([
        dc.waitForEvent('initialized'),
        dc.launchRequest({
          program: file,
          stopOnEntry: true,
          watchdog: 100_000_000,
        } as DebugProtocol.LaunchRequestArguments),
      ]);
      await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
      const launchMs = performance.now() - t0;

      // Baseline: a request that does no work.
      const threadsMs: number[] = [];
      for (let i = 0; i < 300; i++) threadsMs.push(await timed(() => dc.threadsRequest()));

      // next: inside the innermost batch, one command a step.
      for (let i = 0; i < 3; i++) await stop(dc, dc.stepInRequest({ threadId: 2 }));
      const nextMs: number[] = [];
      for (let i = 0; i < 300; i++)
        nextMs.push(await timed(() => stop(dc, dc.nextRequest({ threadId: 2, granularity: 'instruction' }))));

      // variables: a full level of the PPGTT (the PT of the 4 MiB mapping, 512 present 4 KiB entries).
      const frame = (await dc.stackTraceRequest({ threadId: 2 })).body.stackFrames[0];
      const scopes = (await dc.scopesRequest({ frameId: frame.id })).body.scopes;
      const pt = scopes.find((s) => s.name === 'Page Tables')!;
      const root = (await dc.variablesRequest({ variablesReference: pt.variablesReference })).body.variables.find(
        (v) => v.name === 'PML4',
      )!;
      let level = root;
      for (let k = 0; k < 3; k++)
        level = (
          await dc.variablesRequest({
            variablesReference: level.variablesReference,
            filter: 'indexed',
            start: 0,
            count: 1,
          })
        ).body.variables[0];
      const varMs: number[] = [];
      let entries = 0;
      for (let i = 0; i < 50; i++) {
        varMs.push(
          await timed(async () => {
            entries = (
              await dc.variablesRequest({
                variablesReference: level.variablesReference,
                filter: 'indexed',
                start: 0,
                count: 512,
              })
            ).body.variables.length;
          }),
        );
      }
      if (entries !== 512) throw new Error(`expected 512 page-table entries, got ${entries}`);

      // Time travel to t = 1,000,000, then step back (each followed by an untimed next to stay there).
      const g0 = performance.now();
      await Promise.all([dc.waitForEvent('stopped'), dc.evaluateRequest({ expression: `goto ${T}`, context: 'repl' })]);
      const gotoMs = performance.now() - g0;
      const at = (await dc.evaluateRequest({ expression: '$commands', context: 'watch', format: { hex: false } })).body
        .result;
      if (Number(at) !== T) throw new Error(`goto ${T} reached t=${at}`);
      const backMs: number[] = [];
      for (let i = 0; i < 30; i++) {
        backMs.push(await timed(() => stop(dc, dc.stepBackRequest({ threadId: 2, granularity: 'instruction' }))));
        await stop(dc, dc.nextRequest({ threadId: 2, granularity: 'instruction' }));
      }
      const snaps = (await dc.customRequest('vgpu/snapshots', {})).body.snapshots.length;
      return {
        threadsMedianMs: round2(median(threadsMs)),
        nextMedianMs: round2(median(nextMs)),
        nextP95Ms: round2(percentile(nextMs, 0.95)),
        stepBackAt1MMedianMs: round2(median(backMs)),
        stepBackAt1MP95Ms: round2(percentile(backMs, 0.95)),
        variables512MedianMs: round2(median(varMs)),
        launchMs: Math.round(launchMs),
        goto1MCommandsMs: Math.round(gotoMs),
        commandsPerSecThroughAdapter: Math.round(T / (gotoMs / 1000)),
        snapshotsKeptAt1M: snaps,
      };
    } finally {
      await dc.stop();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  },
};

/** Ring -> 10 x middle batch -> 100 x second-level innermost batch of 1000 commands. */
function writeProgram(): string {
  const lines = [
    '; generated by test/bench/adapter.ts',
    '.vm memory=64M',
    '.map 0x100000, 0x100000, 4M, rw',
    '.data 0x4f0000',
    'counter: dword 0',
    '.batch inner, 0x100000',
  ];
  for (let i = 0; i < INNER; i++) lines.push(i % 2 ? '    MI_NOOP' : `    MI_STORE_DATA_IMM addr=counter, data=${i}`);
  lines.push('    MI_BATCH_BUFFER_END', '.batch middle, 0x300000');
  for (let i = 0; i < CALLS; i++) lines.push('    MI_BATCH_BUFFER_START addr=inner, second_level=1');
  lines.push('    MI_BATCH_BUFFER_END', '.ring rcs0');
  for (let i = 0; i < RING_CALLS; i++) lines.push('    MI_BATCH_BUFFER_START addr=middle');
  lines.push('.submit rcs0', '.wait rcs0', '');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-bench-adapter-'));
  const file = path.join(dir, 'million.vgpu');
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

async function stop(dc: DebugClient, req: Promise<unknown>): Promise<void> {
  await Promise.all([dc.waitForEvent('stopped'), req]);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function median(xs: number[]): number {
  return percentile(xs, 0.5);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
