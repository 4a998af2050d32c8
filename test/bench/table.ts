// The full gen8/gen9 command table against the 19-command table it replaced, side by side in one process:
// the MI path (MI_LOAD_REGISTER_IMM / MI_STORE_DATA_IMM / MI_MATH-free streams both engines run) on
// today's streamer and on the streamer of BASELINE (rebuilt from git history into a temporary bundle),
// alternated round by round; and a mixed batch shaped like a real iris batch (3DSTATE_* state, PIPE_CONTROL,
// MI_LOAD_REGISTER_IMM, 3DPRIMITIVE), which only today's table can run, against today's MI rate.
// Goal (issue 11): the wider table slows the MI path by at most 10%.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadVm } from '../../emulator/program';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { median, repeatedBatch, timeIt } from './workloads';

/** The last commit with the hand-written 19-command table. */
export const BASELINE = '0e9ee81';

const ROOT = path.join(__dirname, '..', '..');

type LoadVm = (
  file: string,
  o: object,
  src: string,
) => { run(o?: { untilCommands?: number }): unknown; commands: number };

/** The baseline's emulator, built by the parent from `git archive` with esbuild; '' when history is not there. */
function buildBaseline(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-baseline-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  try {
    const tar = execFileSync('git', ['-C', ROOT, 'archive', BASELINE, 'emulator'], {
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
    const out = path.join(dir, 'baseline.js');
    const esbuild = require('esbuild') as typeof import('esbuild');
    esbuild.buildSync({
      entryPoints: [path.join(dir, 'emulator', 'program.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: out,
      logLevel: 'error',
    });
    return out;
  } catch {
    return '';
  }
}

function baselineLoader(): LoadVm | null {
  const file = process.env.VGPU_BASELINE_BUNDLE;
  return file ? (require(file) as { loadVm: LoadVm }).loadVm : null;
}

/** Commands per second of one workload on one loader: median of rounds after a warm-up. */
function rate(load: LoadVm, src: string): number {
  const vm = load('bench.vgpu', { snapshotEvery: 1000 }, src);
  vm.run({ untilCommands: 1 });
  const start = vm.commands;
  const ms = timeIt(() => vm.run());
  return (vm.commands - start) / (ms / 1000);
}

/** MI commands both tables know, as the streamer hot path sees them. */
const MI_BODY = [
  'MI_LOAD_REGISTER_IMM CS_GPR0=1',
  'MI_LOAD_REGISTER_IMM CS_GPR1=2, CS_GPR2=3',
  'MI_STORE_DATA_IMM addr=0x300000, data=7',
  'MI_LOAD_REGISTER_REG src=CS_GPR1, dst=CS_GPR3',
  'MI_NOOP',
];

/** A batch shaped like iris's: mostly 3D state, some LRIs and flushes, draws. */
const MIXED_BODY = [
  'PIPE_CONTROL cs_stall=1, post_sync=write, addr=0x300100, data=1',
  '3DSTATE_VF_TOPOLOGY primitive_topology_type=TRILIST',
  '3DSTATE_VERTEX_BUFFERS vertex_buffer_index.0=0, buffer_pitch.0=16, address_modify_enable.0=1, buffer_starting_address.0=0x300000, buffer_size.0=48',
  '3DSTATE_VERTEX_ELEMENTS valid.0=1, component_0_control.0=STORE_SRC, valid.1=1',
  '3DSTATE_VS kernel_start_pointer=0x100, enable=1',
  '3DSTATE_PS kernel_start_pointer_0=0x200, _8_pixel_dispatch_enable=1',
  '3DSTATE_SBE number_of_sf_output_attributes=1',
  '3DSTATE_BLEND_STATE_POINTERS blend_state_pointer=0x40',
  'MI_LOAD_REGISTER_IMM CS_GPR0=5',
  '3DPRIMITIVE vertex_count_per_instance=3, instance_count=1',
];

interface Report {
  mi: number;
  miBaseline: number | null;
  mixed: number;
}

function measure(): Report {
  const base = baselineLoader();
  const miSrc = repeatedBatch(MI_BODY, 1000, 1000, { memory: '64M' });
  const mixedSrc = repeatedBatch(MIXED_BODY, 1000, 1000, { memory: '64M' });
  const now: number[] = [];
  const then: number[] = [];
  const mixed: number[] = [];
  for (let round = 0; round < 7; round++) {
    const a = rate(loadVm as unknown as LoadVm, miSrc);
    const b = base ? rate(base, miSrc) : NaN;
    const c = rate(loadVm as unknown as LoadVm, mixedSrc);
    if (round < 2) continue; // JIT warm-up
    now.push(a);
    then.push(b);
    mixed.push(c);
  }
  return { mi: median(now), miBaseline: base ? median(then) : null, mixed: median(mixed) };
}

export const section: Section = {
  name: 'table',
  goals: {
    'MI path, full table / 19-command table': { min: 0.9 },
  },
  async run() {
    process.env.VGPU_BASELINE_BUNDLE = buildBaseline();
    const r = measureInChild<Report>(__filename, 'table:speed');
    return {
      'MI commands/s (full gen8/gen9 table)': Math.round(r.mi),
      'MI commands/s (19-command table, baseline)':
        r.miBaseline === null ? 'baseline not in history' : Math.round(r.miBaseline),
      'MI path, full table / 19-command table':
        r.miBaseline === null ? 'n/a' : Number((r.mi / r.miBaseline).toFixed(3)),
      'mixed 3D-state batch commands/s': Math.round(r.mixed),
      'mixed 3D-state batch / MI path': Number((r.mixed / r.mi).toFixed(3)),
    };
  },
};

if (childMode() === 'table:speed') reply(measure() satisfies Report);
