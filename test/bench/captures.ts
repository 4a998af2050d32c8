// Capture figures: opening Mesa's triangle capture (read + gunzip + parse + build VM + first command
// retired, what a debug session waits for before its first stop), and the command rate of a real
// capture against the same commands as a .vgpu program, alternated in one process.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { assemble } from '../../emulator/assembler';
import { loadCapture } from '../../emulator/capture';
import { Vm } from '../../emulator/vm';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { median, timeIt } from './workloads';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { performance } from 'node:perf_hooks';

const CAPTURES = path.join(__dirname, '..', 'captures');
const DIR_ENV = 'VGPU_BENCH_CAPTURES';

function openTriangleMs(): { ms: number; firstMs: number } {
  const file = path.join(CAPTURES, 'gltri-bdw.aub.gz');
  const times: number[] = [];
  let firstMs = 0;
  for (let i = 0; i < 9; i++) {
    const ms = timeIt(() => {
      const vm = new Vm(loadCapture(file, fs.readFileSync(file)));
      vm.run({ untilCommands: 1 });
      if (vm.commands !== 1) throw new Error('the triangle capture did not reach its first command');
    });
    if (i === 0)
      firstMs = ms; // cold: module JIT included
    else times.push(ms);
  }
  return { ms: median(times), firstMs };
}

/**
 * A debug session on a capture, as a user waits for it: `node dist/adapter.js` already running,
 * from `initialize` to the `stopped` event (read, parse, build the VM, the listing's dry run, entry stop).
 */
async function firstStopMs(capture: string): Promise<number> {
  const adapter = path.join(__dirname, '..', '..', 'dist', 'adapter.js');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const dc = new DebugClient('node', adapter, 'vgpu');
    dc.defaultTimeout = 60000;
    await dc.start();
    try {
      const t0 = performance.now();
      await dc.initializeRequest({ adapterID: 'vgpu', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true });
      await Promise.all([
        dc.waitForEvent('initialized'),
        dc.launchRequest({
          program: path.join(CAPTURES, capture),
          stopOnEntry: true,
        } as DebugProtocol.LaunchRequestArguments),
      ]);
      await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
      times.push(performance.now() - t0);
    } finally {
      await dc.stop();
    }
  }
  return median(times);
}

/**
 * Commands/s of the mi-stream capture, or of mi-stream.vgpu (the same 16003 commands), in this process:
 * each kind is measured in its own fresh process (in one process the second kind runs on code the
 * first kind's shapes made polymorphic, which measured the order, not the input).
 */
function rateOf(kind: 'capture' | 'program'): number {
  const dir = process.env[DIR_ENV] ?? CAPTURES;
  const bytes = fs.readFileSync(path.join(dir, 'mi-stream-skl.aub.gz'));
  const source = fs.readFileSync(path.join(dir, 'mi-stream.vgpu'), 'utf8');
  // The image is built once (loading is timed above); each round runs a fresh VM of it, so the garbage
  // a load leaves is not collected inside the timed run.
  const image =
    kind === 'capture' ? loadCapture('mi-stream-skl.aub.gz', bytes) : assemble(source, { file: 'mi-stream.vgpu' });
  const rates: number[] = [];
  // The last round's VM is let go only once the next one has run: a VM whose objects all die before a
  // full collection takes V8's hidden classes with it, and the next one runs on code warming up again
  // (a run here is ~3 ms: that warm-up decided the rate; see lastVm in streamer.ts).
  let last: Vm | null = null;
  for (let round = 0; round < 40; round++) {
    const vm = new Vm(image, { snapshotEvery: 0 });
    vm.run({ untilCommands: 1 }); // driver ops and the batch start: only the stream is timed
    const start = vm.commands;
    const ms = timeIt(() => vm.run());
    if (round >= 8) rates.push((vm.commands - start) / (ms / 1000)); // the first runs warm the JIT up
    last = vm;
  }
  void last;
  return median(rates);
}

/** Children alternated (capture, program, capture, program); the median of each kind's runs. */
function rates(): { capture: number; program: number } {
  process.env[DIR_ENV] = CAPTURES; // the children run from a bundle elsewhere
  const cap: number[] = [];
  const prog: number[] = [];
  // Seven children of each kind: a child times ~30 runs of about a millisecond each, which a burst of
  // load on this shared machine can slow as a whole.
  for (let i = 0; i < 7; i++) {
    cap.push(measureInChild<number>(__filename, 'captures:capture'));
    prog.push(measureInChild<number>(__filename, 'captures:program'));
  }
  return { capture: median(cap), program: median(prog) };
}

export const section: Section = {
  name: 'captures',
  goals: {
    'open gltri-bdw.aub.gz to first command (ms)': { max: 1000 },
    'debug gltri-bdw.aub.gz: initialize to first stop (ms)': { max: 1000 },
    'capture / .vgpu command rate': { min: 0.9 },
  },
  async run() {
    const open = openTriangleMs();
    const r = rates();
    const session = await firstStopMs('gltri-bdw.aub.gz');
    const longer = await firstStopMs('mi-stream-skl.aub.gz');
    return {
      'debug gltri-bdw.aub.gz: initialize to first stop (ms)': Number(session.toFixed(1)),
      'debug mi-stream-skl.aub.gz (16003 commands listed): initialize to first stop (ms)': Number(longer.toFixed(1)),
      'open gltri-bdw.aub.gz to first command (ms)': Number(open.ms.toFixed(1)),
      'open gltri-bdw.aub.gz, first (cold) open (ms)': Number(open.firstMs.toFixed(1)),
      'mi-stream capture commands/s': Math.round(r.capture),
      'mi-stream.vgpu commands/s': Math.round(r.program),
      'capture / .vgpu command rate': Number((r.capture / r.program).toFixed(3)),
    };
  },
};

const mode = childMode();
if (mode === 'captures:capture') reply(rateOf('capture'));
if (mode === 'captures:program') reply(rateOf('program'));
