// Pipeline State over DAP: the scope (groups, commands, decoded fields, changed and since-the-last-draw
// marks, base addresses walked through the PPGTT), `vgpu/pipelineState`, reverse execution, and the
// `not-emulated` exception filter (stops before a draw that will run, once; not on a predicated-off one).

import * as assert from 'node:assert/strict';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { PipelineStateInfo } from '../../adapter/protocol';
import { DRIVER, RCS0, children, clientPerTest, launch, named, program, scope, top, untilStop } from './client';

const P = program('pipeline.vgpu');
const DRAW_LINE = 13;

describe('adapter: Pipeline State and the not-emulated filter', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  async function atDraw(): Promise<DebugProtocol.StackFrame> {
    await launch(dc, { program: P }, (d) =>
      d.setBreakpointsRequest({ source: { path: P }, breakpoints: [{ line: DRAW_LINE }] }),
    );
    const stop = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(stop.reason, 'breakpoint');
    const f = await top(dc, RCS0);
    assert.equal(f.line, DRAW_LINE);
    return f;
  }

  async function command(
    frameId: number,
    group: string,
    mnemonic: string,
  ): Promise<{ cmd: DebugProtocol.Variable; fields: DebugProtocol.Variable[] }> {
    const groups = await scope(dc, frameId, 'Pipeline State');
    const cmd = named(await children(dc, named(groups, group)), mnemonic);
    return { cmd, fields: await children(dc, cmd) };
  }

  it('the scope follows Command on engine frames', async () => {
    const f = await atDraw();
    const names = (await dc.scopesRequest({ frameId: f.id })).body.scopes.map((s) => s.name);
    assert.deepEqual(names.slice(0, 3), ['Command', 'Pipeline State', 'Registers']);
  });

  it('at the draw: groups, decoded fields, changed marks and base addresses through the PPGTT', async () => {
    const f = await atDraw();
    const top = await scope(dc, f.id, 'Pipeline State');
    assert.deepEqual(
      top.map((v) => v.name),
      ['last draw', '3D pipeline', 'common'],
    );
    assert.equal(named(top, 'last draw').value, 'none yet');
    assert.equal(named(top, '3D pipeline').value, '2 commands, 2 set since the last draw');

    const vs = await command(f.id, '3D pipeline', '3DSTATE_VS');
    assert.match(vs.cmd.value, /^• 2 fields changed, at t=\d+ \(0x0+100\w+\), since the last draw$/);
    assert.equal(named(vs.fields, 'kernel_start_pointer').value, '• 0x0000000000000080 (was 0x0000000000000040)');
    assert.equal(named(vs.fields, 'maximum_number_of_threads').value, '• 0x00000007 (was 0x00000000)');
    assert.equal(named(vs.fields, 'enable').value, '1', 'an unchanged field is not marked');
    assert.match(named(vs.fields, 'kernel_start_pointer').type!, /^DW1-2 bits 63:6: /);

    const ve = await command(f.id, '3D pipeline', '3DSTATE_VERTEX_ELEMENTS');
    assert.match(ve.cmd.value, /^• first set, at t=/);
    assert.equal(named(ve.fields, 'valid.0').value, '1');
    assert.equal(named(ve.fields, 'valid.1').value, '1');
    assert.equal(named(ve.fields, 'source_element_offset.1').value, '0x00000010');
    assert.ok(
      ve.fields.every((v) => !v.value.startsWith('•')),
      'no previous value: no field is marked',
    );

    const sba = await command(f.id, 'common', 'STATE_BASE_ADDRESS');
    const general = named(sba.fields, 'general_state_base_address');
    assert.equal(general.value, '0x000000100000 (GPA 0x0000100000)');
    assert.equal(general.memoryReference, 'va:0x100000');
    assert.equal(named(sba.fields, 'instruction_base_address').value, '0x0000007f0000 (not mapped)');
    assert.match(named(sba.fields, 'instruction_base_address').type!, /not present/);
    const ps = await command(f.id, 'common', 'PIPELINE_SELECT');
    assert.equal(named(ps.fields, 'pipeline_selection').value, '_3D (0)');
  });

  it("a field's evaluateName, hovered, gives its value and meaning; read-only", async () => {
    const f = await atDraw();
    const vs = await command(f.id, '3D pipeline', '3DSTATE_VS');
    const ksp = named(vs.fields, 'kernel_start_pointer');
    assert.equal(ksp.evaluateName, '$state.3DSTATE_VS.kernel_start_pointer');
    assert.deepEqual(ksp.presentationHint?.attributes, ['readOnly']);
    const h = (await dc.evaluateRequest({ expression: ksp.evaluateName!, context: 'hover', frameId: f.id })).body;
    assert.match(h.result, /^0x0000000000000080  3DSTATE_VS\.kernel_start_pointer, DW1-2 bits \d+:\d+: \S/);
    const w = (await dc.evaluateRequest({ expression: ksp.evaluateName!, context: 'watch', frameId: f.id })).body;
    assert.equal(w.result, '0x0000000000000080');
    assert.match(w.type ?? '', /^3DSTATE_VS\.kernel_start_pointer, /);
  });

  it('vgpu/pipelineState returns the same data as JSON', async () => {
    await atDraw();
    const r = (await dc.customRequest('vgpu/pipelineState', { engine: 'rcs0' })).body as PipelineStateInfo;
    assert.equal(r.engine, 'rcs0');
    assert.equal(r.lastDraw, null);
    assert.deepEqual(
      r.commands.map((c) => [c.mnemonic, c.group, c.first, c.changed, c.sinceDraw]),
      [
        ['3DSTATE_VERTEX_ELEMENTS', '3D pipeline', true, 0, true],
        ['3DSTATE_VS', '3D pipeline', false, 2, true],
        ['PIPELINE_SELECT', 'common', true, 0, true],
        ['STATE_BASE_ADDRESS', 'common', true, 0, true],
      ],
    );
    const vs = r.commands.find((c) => c.mnemonic === '3DSTATE_VS')!;
    const ksp = vs.fields!.find((x) => x.name === 'kernel_start_pointer')!;
    assert.deepEqual([ksp.value, ksp.changed, ksp.previous], ['0x0000000000000080', true, '0x0000000000000040']);
    const sba = r.commands.find((c) => c.mnemonic === 'STATE_BASE_ADDRESS')!;
    const general = sba.fields!.find((x) => x.name === 'general_state_base_address')!;
    assert.deepEqual([general.va, general.gpa], ['0x000000100000', '0x0000100000']);
    assert.equal(sba.fields!.find((x) => x.name === 'instruction_base_address')!.gpa, null);
  });

  it('step back: the state before the last state command', async () => {
    await atDraw();
    await untilStop(dc, dc.stepBackRequest({ threadId: RCS0 }));
    const f = await top(dc, RCS0);
    assert.equal(f.line, DRAW_LINE - 1);
    const vs = await command(f.id, '3D pipeline', '3DSTATE_VS');
    assert.match(vs.cmd.value, /^• first set/);
    assert.equal(named(vs.fields, 'kernel_start_pointer').value, '0x0000000000000040');
    assert.equal(named(vs.fields, 'maximum_number_of_threads').value, '0x00000000');
    // And forward again: the same state as before.
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    const again = await command((await top(dc, RCS0)).id, '3D pipeline', '3DSTATE_VS');
    assert.equal(named(again.fields, 'kernel_start_pointer').value, '• 0x0000000000000080 (was 0x0000000000000040)');
  });

  it('after the draw, nothing is set since it', async () => {
    await atDraw();
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    const f = await top(dc, RCS0);
    const groups = await scope(dc, f.id, 'Pipeline State');
    assert.match(named(groups, 'last draw').value, /^t=\d+$/);
    assert.equal(named(groups, '3D pipeline').value, '2 commands');
    const vs = await command(f.id, '3D pipeline', '3DSTATE_VS');
    assert.match(vs.cmd.value, /^2 fields changed, at t=\d+ \(0x\w+\)$/);
  });

  it('the not-emulated filter is off by default and listed with the GPU error kinds', async () => {
    const init = await dc.initializeRequest({ adapterID: 'vgpu' } as DebugProtocol.InitializeRequestArguments);
    const f = init.body!.exceptionBreakpointFilters!.find((x) => x.filter === 'not-emulated');
    assert.ok(f);
    assert.equal(f.default, false);
  });

  it('not-emulated: stops before the draw that runs, once; not on the predicated-off one', async () => {
    await launch(dc, { program: P }, (d) => d.setExceptionBreakpointsRequest({ filters: ['not-emulated'] }));
    const stop = await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    assert.equal(stop.reason, 'exception');
    assert.equal(stop.threadId, RCS0);
    assert.equal(stop.description, 'Not emulated: 3DPRIMITIVE');
    assert.match(stop.text!, /without running its shaders/);
    assert.equal((await top(dc, RCS0)).line, DRAW_LINE);
    const info = await dc.exceptionInfoRequest({ threadId: RCS0 });
    assert.equal(info.body.exceptionId, 'not-emulated');
    assert.match(info.body.description!, /shaders are not run/);
    // Continue: not again on the same draw, and not on the predicated-off one: the program ends.
    const end = await untilStop(dc, dc.continueRequest({ threadId: RCS0 }));
    assert.equal(end.description, 'Program finished');
  });
});
