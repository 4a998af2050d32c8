// Breakpoints over DAP: source lines (conditions, hit counts, log points), functions (mnemonics and
// labels), instructions (GPU VAs), data (guest memory and register writes), GPU error filters,
// exceptionInfo, and rollback when continuing after an error.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { loadVm } from '../../emulator/program';
import {
  DRIVER,
  RCS0,
  EXAMPLES,
  client,
  clientPerTest,
  digest,
  failure,
  launch,
  program,
  repl,
  top,
  untilStop,
} from './client';

const C = program('counter.vgpu');
const F = program('fault.vgpu');

describe('adapter: breakpoints', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  const lines = (bps: DebugProtocol.SourceBreakpoint[]) => (d: DebugClient) =>
    d.setBreakpointsRequest({ source: { path: C }, breakpoints: bps });
  const cont = () => untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
  const counter = async () => Number(await repl(dc, 'x/1d counter').then((s) => s.split(/\s+/)[1]));

  it('stops on a source line each time an engine reaches it, and moves a breakpoint to the next line with code', async () => {
    let bp: DebugProtocol.SetBreakpointsResponse | undefined;
    await launch(dc, { program: C }, async (d) => {
      bp = await d.setBreakpointsRequest({ source: { path: C }, breakpoints: [{ line: 14 }, { line: 20 }] });
    });
    assert.deepEqual(
      bp!.body.breakpoints.map((b) => [b.verified, b.line]),
      [
        [true, 14],
        [true, 21],
      ],
    );
    // Line 21 (.ring) is where the entry stop stands: continuing from a breakpoint does not stop on it again.
    let s = await cont();
    assert.deepEqual([s.reason, s.threadId, s.hitBreakpointIds], ['breakpoint', RCS0, [bp!.body.breakpoints[0].id]]);
    assert.equal((await top(dc, RCS0)).line, 14);
    assert.equal(await counter(), 2);
    await cont();
    assert.equal((await top(dc, RCS0)).line, 14);
    assert.equal(await counter(), 6);
    s = await cont();
    assert.equal(s.description, 'Program finished');
  });

  it('honours conditions and hit counts', async () => {
    await launch(
      dc,
      { program: C },
      lines([
        { line: 14, condition: '[counter] == 6' },
        { line: 12, hitCondition: '2' },
        { line: 16, condition: 'CS_GPR2 != 0x22' },
      ]),
    );
    await cont();
    assert.equal((await top(dc, RCS0)).line, 12, 'second hit of line 12');
    assert.equal(await counter(), 5);
    await cont();
    assert.equal((await top(dc, RCS0)).line, 14);
    assert.equal(await counter(), 6);
    assert.equal((await cont()).description, 'Program finished', 'line 16 never stops: CS_GPR2 is 0x22 there');
  });

  it('rejects a malformed condition or hit count as unverified', async () => {
    await launch(dc, { program: C });
    const r = await dc.setBreakpointsRequest({
      source: { path: C },
      breakpoints: [
        { line: 14, condition: '[counter' },
        { line: 12, hitCondition: 'often' },
      ],
    });
    assert.deepEqual(
      r.body.breakpoints.map((b) => b.verified),
      [false, false],
    );
    assert.match(r.body.breakpoints[0].message!, /condition/);
    assert.match(r.body.breakpoints[1].message!, /hit count/);
  });

  it('log points print with {expressions} and do not stop', async () => {
    await launch(
      dc,
      { program: C },
      lines([{ line: 16, logMessage: 'counter={[counter]} gpr2={CS_GPR2}' }, { line: 24 }]),
    );
    const outputs: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => outputs.push(e.body.output));
    const s = await cont();
    assert.equal(s.reason, 'breakpoint');
    assert.equal((await top(dc, RCS0)).line, 24);
    assert.deepEqual(
      outputs.filter((o) => o.startsWith('counter=')),
      ['counter=0x3 gpr2=0x22\n', 'counter=0x7 gpr2=0x22\n'],
    );
  });

  it('function breakpoints stop on a mnemonic or a label; unknown names are unverified', async () => {
    let r: DebugProtocol.SetFunctionBreakpointsResponse | undefined;
    await launch(dc, { program: C }, async (d) => {
      r = await d.setFunctionBreakpointsRequest({
        breakpoints: [{ name: 'mi_load_register_imm' }, { name: 'count' }, { name: 'frobnicate' }],
      });
    });
    assert.deepEqual(
      r!.body.breakpoints.map((b) => b.verified),
      [true, true, false],
    );
    let s = await cont();
    assert.equal(s.reason, 'function breakpoint');
    assert.equal((await top(dc, RCS0)).line, 11, 'the label count');
    s = await cont();
    assert.equal((await top(dc, RCS0)).line, 15, 'MI_LOAD_REGISTER_IMM');
    assert.deepEqual(s.hitBreakpointIds, [r!.body.breakpoints[0].id]);
  });

  it('instruction breakpoints stop at a GPU VA', async () => {
    await launch(dc, { program: C }, (d) =>
      d.send('setInstructionBreakpoints', { breakpoints: [{ instructionReference: '0x100000', offset: 0x28 }] }),
    );
    const s = await cont();
    assert.equal(s.reason, 'instruction breakpoint');
    const f = await top(dc, RCS0);
    assert.deepEqual([f.line, f.instructionPointerReference], [14, '0x100028']);
  });

  it('data breakpoints stop after a command writes a watched GPU VA', async () => {
    await launch(dc, { program: C });
    const info = await dc.dataBreakpointInfoRequest({ name: 'other' });
    assert.equal(info.body.dataId, 'va:0x108004:4');
    assert.deepEqual(info.body.accessTypes, ['write']);
    await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId!, accessType: 'write' }] });
    // The same from a variable with a memory reference: the address field of the command about to run.
    await untilStop(dc, dc.stepInRequest({ threadId: RCS0 }));
    const sc = (await dc.scopesRequest({ frameId: (await top(dc, RCS0)).id })).body.scopes.find(
      (x) => x.name === 'Command',
    )!;
    const fromField = await dc.dataBreakpointInfoRequest({ variablesReference: sc.variablesReference, name: 'addr' });
    assert.equal(fromField.body.dataId, 'va:0x108000:4');
    const s = await cont();
    assert.deepEqual([s.reason, s.threadId], ['data breakpoint', RCS0]);
    assert.equal((await top(dc, RCS0)).line, 14, 'stopped right after the write on line 13');
    assert.equal(await repl(dc, 'x/1x other'), 'va:0x000000108004  0x00000007');
  });

  it('data breakpoints on a register (from the Registers scope) stop after a command writes it', async () => {
    await launch(dc, { program: C });
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    const frameId = (await top(dc, RCS0)).id;
    const sc = await dc.scopesRequest({ frameId });
    const regs = sc.body.scopes.find((x) => x.name === 'Registers')!;
    const info = await dc.dataBreakpointInfoRequest({ variablesReference: regs.variablesReference, name: 'CS_GPR2' });
    assert.equal(info.body.dataId, 'reg:rcs0.CS_GPR2');
    await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId! }] });
    await cont();
    assert.equal((await top(dc, RCS0)).line, 16, 'right after MI_LOAD_REGISTER_IMM on line 15');
    assert.equal(await repl(dc, 'CS_GPR2', (await top(dc, RCS0)).id), '0x00000022');
  });

  it('a GPU error stops with reason exception; exceptionInfo gives the id, a description and the failed walk', async () => {
    await launch(dc, { program: F });
    const s = await cont();
    assert.deepEqual([s.reason, s.threadId, s.description], ['exception', RCS0, 'GPU error: page-fault']);
    const f = await top(dc, RCS0);
    assert.deepEqual([f.line, f.column], [12, 5]);
    const info = await dc.exceptionInfoRequest({ threadId: RCS0 });
    assert.equal(info.body.exceptionId, 'page-fault');
    assert.match(info.body.description!, /write at GPU VA 0x700000: PD\[3\] .* is not present/);
    assert.doesNotMatch(info.body.description!, /\n/);
    assert.equal(info.body.breakMode, 'always');
    // the walk as every view writes it (emulator/walkformat.ts)
    assert.match(info.body.details!.stackTrace!, /walk:\n {2}PML4 {2}table GPA 0x3fff000 \[ {2}0\]/);
    assert.match(info.body.details!.stackTrace!, /PD {4}table GPA 0x3ffd000 \[ {2}3\] = 0x0000000000000000/);
  });

  it('continuing after an error rolls the VM back (autoRollback), refreshes the views and runs on', async () => {
    await launch(dc, { program: F });
    await cont();
    const [inv, out, end] = await Promise.all([dc.waitForEvent('invalidated'), dc.waitForEvent('output'), cont()]);
    assert.ok(inv);
    assert.match((out as DebugProtocol.OutputEvent).body.output, /page-fault on rcs0 rolled back/);
    assert.equal(end.description, 'Program finished');
    assert.equal(
      await repl(dc, 'x/2x first'),
      'va:0x000000108000  0x00000000 0x00000003',
      'the guilty submission undone and skipped',
    );
    assert.match(await repl(dc, 'errors'), /page-fault on rcs0 .*fault\.vgpu:12:5.*\(rolled back\)/);
  });

  it('with the filter off, an error is rolled back without stopping', async () => {
    await launch(dc, { program: F }, (d) => d.setExceptionBreakpointsRequest({ filters: ['hang', 'invalid-command'] }));
    const outputs: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => outputs.push(e.body.output));
    const s = await cont();
    assert.equal(s.description, 'Program finished');
    assert.ok(
      outputs.some((o) =>
        /page-fault on rcs0 at .*fault\.vgpu:12: .* \(rolled back; the submission is skipped\)/.test(o),
      ),
    );
  });

  it('with autoRollback off, continuing from an error is refused with the reason', async () => {
    await launch(dc, { program: F, autoRollback: false });
    await cont();
    assert.match(await failure(dc.continueRequest({ threadId: DRIVER })), /autoRollback is off/);
    // Stepping back still works.
    await untilStop(dc, dc.stepBackRequest({ threadId: RCS0 }));
    assert.equal((await top(dc, RCS0)).line, 11);
  });

  for (const name of fs.existsSync(EXAMPLES)
    ? fs
        .readdirSync(EXAMPLES)
        .filter((f) => f.endsWith('.vgpu'))
        .sort()
    : []) {
    it(`example ${name}: the debugger stops where the machine reports its first error, or finishes`, async () => {
      const file = path.join(EXAMPLES, name);
      const vm = loadVm(file, { autoRollback: false });
      vm.run();
      const err = vm.errors[0];
      await launch(dc, { program: file, stopOnEntry: false });
      const st = await dc.stackTraceRequest({ threadId: err ? 2 + ['rcs0', 'bcs0'].indexOf(err.engine) : DRIVER });
      if (err) {
        const info = await dc.exceptionInfoRequest({ threadId: 2 + ['rcs0', 'bcs0'].indexOf(err.engine) });
        assert.equal(info.body.exceptionId, err.kind);
        assert.equal(st.body.stackFrames[0].line, err.line);
      } else {
        assert.match(await repl(dc, 'errors'), /no GPU errors/);
      }
      const scopes = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
      assert.ok(scopes.body.scopes.length >= 5);
    });
  }

  /**
   * A long batch (1,500 commands: a page of batch holds ~300) the ring starts three times, and the
   * motions `drive` makes on it, recorded after each stop (line, time, digest): once as the debugger
   * runs them, once with a function breakpoint on a mnemonic the program lacks, which keeps the debugger
   * stepping one command at a time (Vm.runAhead off): the reference the same stops must come out of.
   */
  async function bothWays(
    setup: (d: DebugClient, file: string) => Promise<unknown>,
    drive: (d: DebugClient, n: number) => Promise<DebugProtocol.StoppedEvent['body'] | null>,
  ): Promise<string[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-bp-'));
    const file = path.join(dir, 'long.vgpu');
    const body = Array.from({ length: 1500 }, (_, i) =>
      i % 2 === 0
        ? `    MI_LOAD_REGISTER_IMM CS_GPR${i % 16}=${i}`
        : `    MI_STORE_DATA_IMM addr=0x${(0x200000 + (i % 37) * 4).toString(16)}, data=${i}`,
    );
    fs.writeFileSync(
      file,
      [
        '.vm memory=64M',
        '.map 0x100000, 0x100000, 64K, rw',
        '.map 0x200000, 0x200000, 64K, rw',
        '.batch work, 0x100000',
        ...body, // lines 5-1504
        '    MI_BATCH_BUFFER_END',
        '.ring rcs0',
        '    MI_BATCH_BUFFER_START addr=work', // line 1507
        '    MI_BATCH_BUFFER_START addr=work',
        '    MI_BATCH_BUFFER_START addr=work',
        '.submit rcs0',
        '.wait rcs0',
        '',
      ].join('\n'),
    );
    const record = async (d: DebugClient, stepping: boolean): Promise<string[]> => {
      await launch(d, { program: file }, async (c) => {
        await setup(c, file);
        if (stepping) await c.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'XY_COLOR_BLT' }] });
      });
      const seen: string[] = [];
      for (let n = 0; ; n++) {
        const s = await drive(d, n);
        if (s === null || s.description === 'Program finished') break;
        seen.push(`${s.reason} ${(await top(d, RCS0)).line} t=${await repl(d, '$commands')} ${await digest(d)}`);
      }
      return seen;
    };
    const other = await client();
    try {
      const fast = await record(dc, false);
      assert.deepEqual(fast, await record(other, true));
      return fast;
    } finally {
      await other.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it('a continue stops where one step at a time would: breakpoints in several pages of a long batch, a hit count', async () => {
    const stops = await bothWays(
      (d, file) =>
        d.setBreakpointsRequest({
          source: { path: file },
          breakpoints: [{ line: 10 }, { line: 700, hitCondition: '2' }, { line: 1403 }],
        }),
      (d) => untilStop(d, d.continueRequest({ threadId: DRIVER })),
    );
    assert.equal(stops.length, 8, stops.join('\n'));
  });

  it('stepping over and out of a long batch stops where one step at a time would', async () => {
    // From the first batch start in the ring: over it, into the next, a step, out, over the last.
    const motions = ['next', 'in', 'next', 'out', 'next', 'next'];
    const stops = await bothWays(
      (d, file) => d.setBreakpointsRequest({ source: { path: file }, breakpoints: [{ line: 1507 }] }),
      (d, n) => {
        if (n === 0) return untilStop(d, d.continueRequest({ threadId: DRIVER }));
        const m = motions[n - 1];
        if (m === undefined) return Promise.resolve(null);
        const req =
          m === 'next'
            ? d.nextRequest({ threadId: RCS0 })
            : m === 'in'
              ? d.stepInRequest({ threadId: RCS0 })
              : d.stepOutRequest({ threadId: RCS0 });
        return untilStop(d, req);
      },
    );
    // The last step over leaves the engine idle (no line); the one after it finishes the program.
    assert.deepEqual(
      stops.map((s) => s.split(' ').slice(0, 3).join(' ')),
      [
        'breakpoint 1507 t=0x0',
        'step 1508 t=0x5de',
        'step 5 t=0x5df',
        'step 6 t=0x5e0',
        'step 1509 t=0xbbc',
        'step 0 t=0x119a',
      ],
    );
  });
});
