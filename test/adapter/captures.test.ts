// Debugging what has no source text: an AUB capture (gltri-bdw: iris drawing a triangle on BDW) and
// kernel hang dumps (an i915 error state written by `vgpu run --error-state`, the Xe fixture) open with
// a generated listing served by reference; breakpoints on its lines, Pipeline State, reverse execution,
// and a dump opens paused at the hung command with the kernel's reason.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { openHangDump, parseHangDump } from '../../emulator/postmortem';
import { DRIVER, EXAMPLES, RCS0, ROOT, children, clientPerTest, launch, named, scope, top, untilStop } from './client';

const GLTRI = path.join(ROOT, 'test', 'captures', 'gltri-bdw.aub.gz');
const XE = path.join(ROOT, 'test', 'fixtures', 'dumps', 'xe-timedout-job.devcoredump');
const CLI = path.join(ROOT, 'dist', 'cli.js');

async function listingText(dc: DebugClient, src: DebugProtocol.Source): Promise<string[]> {
  assert.ok(src.sourceReference && src.sourceReference > 0, 'the listing is served by reference');
  assert.equal(src.path, undefined, 'the listing has no path');
  const r = await dc.sourceRequest({ source: src, sourceReference: src.sourceReference });
  return r.body.content.split('\n');
}

/** 1-based listing lines whose text matches. */
function linesOf(lines: string[], re: RegExp): number[] {
  return lines.flatMap((l, i) => (re.test(l) ? [i + 1] : []));
}

describe('adapter: captures and hang dumps (generated listings)', function () {
  this.timeout(60000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it('an AUB capture: listing, breakpoint on a 3DPRIMITIVE line, Pipeline State, step back, reverse continue', async () => {
    const entry = await launch(dc, { program: GLTRI });
    assert.equal(entry.body.reason, 'entry');
    const driver = await top(dc, DRIVER);
    assert.ok(driver.source?.sourceReference, 'the driver frame points into the listing');
    const lines = await listingText(dc, driver.source!);
    assert.match(lines[0], /gltri-bdw\.aub\.gz: AUB capture .* on (bdw|broadwell)/i);
    assert.match(lines[driver.line - 1], /^; #0 /, 'the entry stop is on the first driver operation');
    const prims = linesOf(lines, /^\s*0x[0-9a-f]{12}  3DPRIMITIVE\b/);
    assert.equal(prims.length, 2, 'the capture draws twice (aubinator lists two 3DPRIMITIVEs)');
    const topo = linesOf(lines, /^\s*0x[0-9a-f]{12}  3DSTATE_VF_TOPOLOGY\b/);
    assert.ok(topo.length > 0 && topo[0] < prims[0]);

    const set = await dc.setBreakpointsRequest({ source: driver.source!, breakpoints: [{ line: prims[0] }] });
    assert.equal(set.body.breakpoints[0].verified, true);
    assert.equal(set.body.breakpoints[0].line, prims[0]);
    assert.equal(set.body.breakpoints[0].source?.sourceReference, driver.source!.sourceReference);
    const locs = (await dc.customRequest('breakpointLocations', {
      source: driver.source!,
      line: prims[0],
    })) as DebugProtocol.BreakpointLocationsResponse;
    assert.deepEqual(
      locs.body.breakpoints.map((b) => b.line),
      [prims[0]],
    );

    const hit = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(hit.reason, 'breakpoint');
    assert.equal(hit.threadId, RCS0);
    const f = await top(dc, RCS0);
    assert.equal(f.line, prims[0]);
    assert.equal(f.source?.sourceReference, driver.source!.sourceReference);
    assert.match(f.name, /^3DPRIMITIVE @ /);
    const stack = await dc.stackTraceRequest({ threadId: RCS0 });
    assert.equal(
      stack.body.stackFrames[1].name,
      'MI_BATCH_BUFFER_START @ rcs0 ring+0x0',
      'the ring, read through the global GTT',
    );
    const va = lines[prims[0] - 1].trim().split(/\s+/)[0];
    assert.equal(BigInt(f.instructionPointerReference!), BigInt(va), 'the frame is at the listed GPU VA');

    const cmd = await scope(dc, f.id, 'Command');
    assert.ok(cmd.length > 0);
    const groups = await scope(dc, f.id, 'Pipeline State');
    const all = (await Promise.all(groups.filter((g) => g.variablesReference > 0).map((g) => children(dc, g)))).flat();
    const names = all.map((v) => v.name);
    assert.ok(
      names.includes('3DSTATE_VF_TOPOLOGY'),
      `Pipeline State lists 3DSTATE_VF_TOPOLOGY (got ${names.join(', ')})`,
    );
    assert.ok(names.includes('3DSTATE_VS'));
    // The first draw is iris's fast clear (a BLORP rectangle); the triangle is the second.
    assert.equal(
      named(await children(dc, named(all, '3DSTATE_VF_TOPOLOGY')), 'primitive_topology_type').value,
      'RECTLIST (15)',
    );

    // The Surface view lists the render target the state describes (aubinator decodes the same RENDER_SURFACE_STATE).
    const surface = await dc.customRequest('vgpu/surface', {});
    assert.deepEqual(surface.body.surfaces, ['ps.bt[0]']);
    assert.equal(surface.body.name, 'ps.bt[0]');
    assert.deepEqual([surface.body.width, surface.body.height], [64, 64]);
    assert.equal(Buffer.from(surface.body.pixels, 'base64').length, 64 * 64 * 4);
    await assert.rejects(
      dc.customRequest('vgpu/surface', { name: 'ps.bt[0]', snapshot: 0 }),
      /described by the engine's state at this stop/,
    );

    const dis = (await dc.customRequest('disassemble', {
      memoryReference: f.instructionPointerReference,
      instructionCount: 3,
      instructionOffset: -1,
    })) as DebugProtocol.DisassembleResponse;
    const here = dis.body!.instructions.find((i) => BigInt(i.address) === BigInt(va))!;
    assert.match(here.instruction, /^3DPRIMITIVE/);
    assert.equal(here.line, prims[0], 'disassembly opens on the listing line');
    assert.equal(here.location?.sourceReference, driver.source!.sourceReference);

    const back = await untilStop(dc, dc.stepBackRequest({ threadId: RCS0 }));
    assert.equal(back.threadId, RCS0);
    const before = await top(dc, RCS0);
    assert.ok(before.line < prims[0], `one command back is above the draw (line ${before.line})`);
    assert.equal(before.source?.sourceReference, driver.source!.sourceReference);

    // On past the first draw to the second, then reverse continue comes back to the first.
    await dc.setBreakpointsRequest({ source: driver.source!, breakpoints: prims.map((line) => ({ line })) });
    const first = await untilStop(dc, dc.continueRequest({ threadId: RCS0 }));
    assert.equal(first.reason, 'breakpoint');
    assert.equal((await top(dc, RCS0)).line, prims[0]);
    const second = await untilStop(dc, dc.continueRequest({ threadId: RCS0 }));
    assert.equal(second.reason, 'breakpoint');
    const draw2 = await top(dc, RCS0);
    assert.equal(draw2.line, prims[1]);
    const groups2 = await scope(dc, draw2.id, 'Pipeline State');
    const all2 = (
      await Promise.all(groups2.filter((g) => g.variablesReference > 0).map((g) => children(dc, g)))
    ).flat();
    assert.match(
      named(await children(dc, named(all2, '3DSTATE_VF_TOPOLOGY')), 'primitive_topology_type').value,
      /^• TRILIST \(4\) \(was RECTLIST \(15\)\)$/,
    );
    const rev = await untilStop(dc, dc.customRequest('reverseContinue', { threadId: RCS0 }));
    assert.equal(rev.reason, 'breakpoint');
    assert.equal((await top(dc, RCS0)).line, prims[0]);

    // Jump to Cursor on the listing: forward in time to the second draw's line.
    const targets = (await dc.customRequest('gotoTargets', {
      source: driver.source!,
      line: prims[1],
    })) as DebugProtocol.GotoTargetsResponse;
    const forward = targets.body.targets.find((t) => /Forward/.test(t.label))!;
    await untilStop(dc, dc.customRequest('goto', { threadId: RCS0, targetId: forward.id }));
    assert.equal((await top(dc, RCS0)).line, prims[1]);
  });

  it('a data breakpoint on a capture stops at the command that writes', async () => {
    await launch(dc, { program: GLTRI });
    const driver = await top(dc, DRIVER);
    const lines = await listingText(dc, driver.source!);
    // The capture's MI_STORE_REGISTER_MEM / PIPE_CONTROL writes land in memory; watch a register instead:
    // 3DSTATE_* commands do not write MMIO, but MI_LOAD_REGISTER_IMM does.
    const lri = linesOf(lines, /^\s*0x[0-9a-f]{12}  MI_LOAD_REGISTER_IMM\b/);
    assert.ok(lri.length > 0, 'the capture loads registers');
    const reg = /MI_LOAD_REGISTER_IMM ([A-Z0-9_.]+)=/.exec(lines[lri[0] - 1])?.[1];
    assert.ok(reg, `a register name in ${lines[lri[0] - 1]}`);
    const info = await dc.dataBreakpointInfoRequest({ name: reg! });
    assert.ok(info.body.dataId, info.body.description);
    await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId! }] });
    const hit = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(hit.reason, 'data breakpoint');
    const f = await top(dc, hit.threadId!);
    assert.equal(f.source?.sourceReference, driver.source!.sourceReference, 'the stop shows a listing line');
  });

  it('vgpu/errorState at a GPU error stop writes the i915 error state, which opens back paused at the same command', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-errstate-'));
    const out = path.join(dir, 'at-stop.error');
    try {
      const entry = await launch(dc, { program: path.join(EXAMPLES, 'hang.vgpu') });
      assert.equal(entry.body.reason, 'entry');
      await assert.rejects(dc.customRequest('vgpu/errorState', { path: out }), /no GPU error here to write/);
      const hang = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
      assert.equal(hang.reason, 'exception');
      const r = await dc.customRequest('vgpu/errorState', { path: out });
      assert.deepEqual([r.body.kind, r.body.engine, r.body.commandVa], ['hang', 'rcs0', '0x100000']);
      assert.ok(fs.statSync(out).size === r.body.bytes && r.body.bytes > 500);
      assert.match(fs.readFileSync(out, 'latin1'), /^GPU HANG: ecode 9:/);
      // The file reads back to the same hung command (a session on it opens there: the test above).
      const opened = openHangDump(parseHangDump(fs.readFileSync(out, 'latin1'), out)!);
      assert.equal(opened.report.reached, true);
      assert.equal(opened.report.command?.mnemonic, 'MI_SEMAPHORE_WAIT');
      assert.equal(BigInt(opened.report.command!.va), 0x100000n);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an i915 error state written by the CLI opens paused at the hung MI_SEMAPHORE_WAIT with the reason; step back replays', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-capdbg-'));
    const dump = path.join(dir, 'hang.error');
    try {
      const w = spawnSync(
        process.execPath,
        [CLI, 'run', path.join(EXAMPLES, 'hang.vgpu'), '--no-auto-rollback', '--error-state', dump],
        { encoding: 'utf8' },
      );
      assert.ok(fs.existsSync(dump), `the CLI wrote the error state: ${w.stderr}`);
      const stop = await launch(dc, { program: dump });
      assert.equal(stop.body.reason, 'exception');
      assert.equal(stop.body.threadId, RCS0);
      assert.match(stop.body.description!, /^Hung: GPU HANG: .*MI_SEMAPHORE_WAIT unsatisfied/);
      const info = await dc.exceptionInfoRequest({ threadId: RCS0 });
      assert.match(info.body.description!, /GPU HANG: ecode .*reason: hang on rcs0/);
      assert.match(info.body.details!.stackTrace!, /at MI_SEMAPHORE_WAIT 0x100000 \(rcs0\)/);

      const f = await top(dc, RCS0);
      assert.match(f.name, /^MI_SEMAPHORE_WAIT @ /);
      assert.equal(BigInt(f.instructionPointerReference!), 0x100000n);
      const lines = await listingText(dc, f.source!);
      assert.match(lines[f.line - 1], /^\s*0x000000100000  MI_SEMAPHORE_WAIT /);
      assert.ok(lines.some((l) => /^; reason: GPU HANG/.test(l)));
      assert.match(lines[f.line], /MI_BATCH_BUFFER_END/, 'the rest of the hung batch is listed');
      const cmd = await scope(dc, f.id, 'Command');
      assert.match(named(cmd, 'command').value, /^MI_SEMAPHORE_WAIT /);
      assert.doesNotMatch(
        named(cmd, 'addr').value,
        /not captured/,
        "the semaphore's flag is in the dumped batch buffer",
      );

      const back = await untilStop(dc, dc.stepBackRequest({ threadId: RCS0 }));
      assert.equal(back.threadId, RCS0);
      const ring = await top(dc, RCS0);
      assert.match(
        ring.name,
        /^MI_BATCH_BUFFER_START @ rcs0 ring/,
        'one step back: the ring command that started the batch',
      );
      assert.equal(ring.source?.sourceReference, f.source!.sourceReference);
      assert.ok(ring.line < f.line);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Writes `source` as a program, runs it with the CLI and returns the i915 error state it wrote. */
  function errorState(dir: string, source: string): string {
    const prog = path.join(dir, 'prog.vgpu');
    const out = path.join(dir, 'prog.error');
    fs.writeFileSync(prog, source);
    const w = spawnSync(process.execPath, [CLI, 'run', prog, '--no-auto-rollback', '--error-state', out], {
      encoding: 'utf8',
    });
    assert.ok(fs.existsSync(out), `the CLI wrote the error state: ${w.stderr}`);
    return out;
  }

  // A semaphore on memory the dump does not hold: the CLI writes at most 1 MiB of a mapping.
  const FAR_WAIT = [
    '.vm memory=64M',
    '.map 0x100000, 0x100000, 4M, rw',
    '.batch waiter, 0x100000',
    '    MI_SEMAPHORE_WAIT addr=0x380000, data=1, op=EQ',
    '    MI_BATCH_BUFFER_END',
    '.ring rcs0',
    '    MI_BATCH_BUFFER_START addr=waiter',
    '.submit rcs0',
    '.wait rcs0',
    '',
  ].join('\n');

  it('in a dump, an address field whose memory was not captured says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-capdbg-'));
    try {
      await launch(dc, { program: errorState(dir, FAR_WAIT) });
      const f = await top(dc, RCS0);
      const cmd = await scope(dc, f.id, 'Command');
      assert.match(named(cmd, 'addr').value, /380000 \(not captured: not in the dump, reads as zero\)$/);
      const read = (await dc.customRequest('readMemory', {
        memoryReference: 'va:0x380000',
        count: 16,
      })) as DebugProtocol.ReadMemoryResponse;
      assert.equal(read.body!.unreadableBytes ?? 0, 0, 'memory not captured reads as zero');
      assert.deepEqual([...Buffer.from(read.body!.data!, 'base64')], new Array(16).fill(0));
      const walk = await dc.evaluateRequest({ expression: 'translate 0x380000', frameId: f.id, context: 'repl' });
      assert.match(walk.body.result, /=> GPA .* not captured: not in the dump, reads as zero$/);
      const captured = await dc.evaluateRequest({ expression: 'translate 0x100000', frameId: f.id, context: 'repl' });
      assert.doesNotMatch(captured.body.result, /not captured/, 'the batch was captured');
      const t = await dc.customRequest('vgpu/translate', { engine: 'rcs0', va: 0x380000 });
      assert.equal(t.body.notCaptured, true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a dump whose replay does not reach ACTHD stops where it diverged and says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-capdbg-'));
    try {
      // The batch stores to memory beyond the 1 MiB the CLI dumps, then hangs on it: the replay cannot write what the dump did not capture.
      const dump = errorState(
        dir,
        FAR_WAIT.replace(
          '    MI_SEMAPHORE_WAIT addr=0x380000, data=1',
          '    MI_STORE_DATA_IMM addr=0x380000, data=2\n    MI_SEMAPHORE_WAIT addr=0x380000, data=1',
        ),
      );
      const stop = await launch(dc, { program: dump });
      assert.equal(stop.body.reason, 'exception');
      assert.match(
        stop.body.description!,
        /^Replay diverged at 0x100000: page-fault on rcs0 before reaching ACTHD: write .*0x380000.*\(a write to memory the dump did not capture\)$/,
      );
      assert.match(stop.body.text!, /did not reach ACTHD 0x10001/);
      const f = await top(dc, RCS0);
      assert.equal(BigInt(f.instructionPointerReference!), 0x100000n);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Xe devcoredump opens paused at its hung command, replayed from the batch address', async () => {
    const stop = await launch(dc, { program: XE });
    assert.equal(stop.body.reason, 'exception');
    assert.equal(stop.body.description, 'Hung: Timedout job');
    const f = await top(dc, RCS0);
    assert.equal(BigInt(f.instructionPointerReference!), 0x1a001cn);
    assert.match(f.name, /^MI_SEMAPHORE_WAIT @ /);
    const lines = await listingText(dc, f.source!);
    assert.ok(lines.some((l) => /note: the ring is not in the dump/.test(l)));
    const info = await dc.exceptionInfoRequest({ threadId: RCS0 });
    assert.equal(info.body.description, 'Timedout job');
    assert.equal(info.body.details?.typeName, 'xe-devcoredump');
  });
});
