// Scopes and variables over DAP: Command, Pipeline State (more in pipeline.test.ts), Registers (fields, setVariable), Capability Registers,
// Page Tables (paged 512-entry levels), EPT, Snapshots; memory references, readMemory, writeMemory,
// disassemble.

import * as assert from 'node:assert/strict';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  DRIVER,
  RCS0,
  children,
  failure,
  launch,
  named,
  program,
  repl,
  scope,
  top,
  untilStop,
  clientPerTest,
} from './client';

const P = program('nested.vgpu');

describe('adapter: scopes, variables and memory', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  /** Stopped at line 11: rcs0 about to run the first command of `inner`, three frames deep. */
  async function atInner(args: Record<string, unknown> = {}): Promise<DebugProtocol.StackFrame[]> {
    await launch(dc, { program: P, ...args }, (d) =>
      d.setBreakpointsRequest({ source: { path: P }, breakpoints: [{ line: 11 }] }),
    );
    await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
    return (await dc.stackTraceRequest({ threadId: RCS0 })).body.stackFrames;
  }

  it('engine frames have the seven scopes; the driver frame shows its operation', async () => {
    const f = await atInner();
    const sc = await dc.scopesRequest({ frameId: f[0].id });
    assert.deepEqual(
      sc.body.scopes.map((s) => s.name),
      ['Command', 'Pipeline State', 'Registers', 'Capability Registers', 'Page Tables', 'EPT', 'Snapshots'],
    );
    const drv = await top(dc, DRIVER);
    assert.deepEqual(
      (await dc.scopesRequest({ frameId: drv.id })).body.scopes.map((s) => s.name),
      ['Driver', 'Registers', 'Capability Registers', 'Page Tables', 'EPT', 'Snapshots'],
    );
    const d = await scope(dc, drv.id, 'Driver');
    assert.equal(named(d, 'operation').value, 'wait');
  });

  it('Command: decoded fields by name, addresses with memory references, and the predicted write set', async () => {
    const f = await atInner();
    const cmd = await scope(dc, f[0].id, 'Command');
    assert.match(named(cmd, 'command').value, /^MI_STORE_DATA_IMM addr=0x140000, data=/);
    assert.equal(named(cmd, 'addr').value, '0x000000140000');
    assert.equal(named(cmd, 'addr').memoryReference, 'va:0x140000');
    assert.equal(named(cmd, 'data').value, '0x0000000000000042');
    assert.equal(named(cmd, 'qword').value, '0');
    const pages = await children(dc, named(cmd, 'writes pages'));
    assert.deepEqual(
      pages.map((p) => [p.name, p.value, p.memoryReference]),
      [['0x000000140000', 'GPA 0x0000140000', 'gpa:0x140000']],
    );
    assert.match(named(cmd, 'writes registers').value, /ACTHD \(engine\)/);
    // The caller frame's command is its MI_BATCH_BUFFER_START.
    const caller = await scope(dc, f[1].id, 'Command');
    assert.equal(named(caller, 'second_level').value, '1');
    assert.equal(named(caller, 'addr').memoryReference, 'va:0x120000');
    assert.ok(!caller.some((v) => v.name === 'writes pages'), 'only the command about to run has a write set');
  });

  it('Command: an MI_LOAD_REGISTER_IMM lists its register writes by name', async () => {
    await atInner();
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    const f = await top(dc, RCS0);
    const cmd = await scope(dc, f.id, 'Command');
    assert.equal(named(cmd, 'CS_GPR0').value, '0x00000005');
    assert.match(named(cmd, 'writes registers').value, /^CS_GPR0, /);
  });

  it('Registers: table names at the top level, hex values, fields as children; setVariable edits and invalidates', async () => {
    const f = await atInner();
    const regs = await scope(dc, f[0].id, 'Registers');
    const names = regs.map((r) => r.name);
    for (const n of [
      'RING_TAIL',
      'RING_HEAD',
      'RING_START',
      'RING_CTL',
      'ACTHD',
      'BB_ADDR',
      'PDP0_LDW',
      'EPT_VIEW',
      'CS_GPR0',
      'CS_GPR15_UDW',
      'FAULT_STATUS',
    ])
      assert.ok(names.includes(n), n);
    assert.equal(named(regs, 'RING_START').value, '0xfff00000');
    assert.equal(named(regs, 'BB_ADDR').value, '0x00120000');
    assert.equal(named(regs, 'BB_ADDR').memoryReference, 'va:0x120000', 'address registers open the memory view');
    assert.equal(named(regs, 'PDP0_LDW').memoryReference, 'gpa:0x3fff000');
    const ctl = await children(dc, named(regs, 'RING_CTL'));
    assert.deepEqual(
      ctl.map((x) => [x.name, x.value]),
      [
        ['ENABLE', '1'],
        ['LENGTH', '0x003'],
      ],
    );
    const view = await children(dc, named(regs, 'EPT_VIEW'));
    assert.equal(named(view, 'VIEW').value, '0 (full)');
    // The engine's registers come first; genxml's gen8/gen9 registers wait in one group at the end.
    assert.equal(names[0], 'RING_TAIL');
    assert.equal(names[names.length - 1], 'Device (genxml)');
    assert.ok(!names.includes('CACHE_MODE_1'));
    const genxml = await children(dc, named(regs, 'Device (genxml)'));
    assert.equal(named(genxml, 'CACHE_MODE_1').value, '0x00000000');
    assert.match(named(genxml, 'CACHE_MODE_1').type!, /32-bit cmd: genxml gen9.*masked/);
    const cm1 = await children(dc, named(genxml, 'CACHE_MODE_1'));
    assert.equal(named(cm1, 'NP_PMA_FIX_ENABLE').type, 'bits 11:11: NP PMA Fix Enable (uint)');

    const sc = (await dc.scopesRequest({ frameId: f[0].id })).body.scopes.find((s) => s.name === 'Registers')!;
    const [inv, set] = await Promise.all([
      dc.waitForEvent('invalidated'),
      dc.setVariableRequest({ variablesReference: sc.variablesReference, name: 'CS_GPR2', value: 'value + 0x10' }),
    ]);
    assert.ok(inv);
    assert.equal(set.body.value, '0x00140010');
    assert.equal(await repl(dc, 'CS_GPR2', f[0].id), '0x00140010');
    // A field, read-modify-write.
    await dc.setVariableRequest({
      variablesReference: named(regs, 'EPT_VIEW').variablesReference,
      name: 'VIEW',
      value: '1',
    });
    assert.equal(await repl(dc, 'rcs0.EPT_VIEW'), '0x00000001');
    assert.match(
      await failure(
        dc.setVariableRequest({ variablesReference: sc.variablesReference, name: 'CS_GPR2', value: '1 +' }),
      ),
      /cannot set/,
    );
    assert.match(
      await failure(dc.setVariableRequest({ variablesReference: sc.variablesReference, name: 'NOPE', value: '1' })),
      /no register/,
    );
    // Values in decimal when the client asks.
    const dec = await dc.variablesRequest({ variablesReference: sc.variablesReference, format: { hex: false } });
    assert.equal(named(dec.body.variables, 'CS_GPR2').value, String(0x140010));
  });

  it('setExpression: a register, a field by its evaluateName, [ADDR]; anything else is refused', async () => {
    const f = await atInner();
    const set = (expression: string, value: string) =>
      dc.customRequest('setExpression', {
        expression,
        value,
        frameId: f[0].id,
      }) as Promise<DebugProtocol.SetExpressionResponse>;
    const [inv, r] = await Promise.all([dc.waitForEvent('invalidated'), set('CS_GPR3', '0x1200 + 0x34')]);
    assert.ok(inv);
    assert.equal(r.body.value, '0x1234');
    assert.equal(await repl(dc, 'CS_GPR3', f[0].id), '0x00001234');
    // The evaluateName the Registers scope gives a field is assignable: VS Code's Set Value on a field.
    assert.equal((await set('(CS_GPR3 >> 8) & 0xff', '0xab')).body.value, '0xab');
    assert.equal(await repl(dc, 'CS_GPR3', f[0].id), '0x0000ab34');
    assert.equal((await set('bcs0.CS_GPR1', '7')).body.value, '0x7');
    assert.equal(await repl(dc, 'bcs0.CS_GPR1'), '0x00000007');
    assert.equal((await set('[value + 4]', '0xdeadbeef')).body.value, '0xdeadbeef');
    assert.match(await repl(dc, '[value + 4]'), /^0xdeadbeef\b/);
    assert.match(await failure(set('CS_GPR3 + 1', '1')), /only a register/);
    assert.match(await failure(set('VERSION', '1')), /capability register/);
    assert.match(await failure(set('(CS_GPR3 >> 8) & 0xff', '0x100')), /does not fit/);
    assert.match(await failure(set('[0x7000000]', '1')), /not mapped/);
    assert.match(await failure(set('value', '1')), /only a register/);
  });

  it("descriptions where clients show them: each field's evaluateName, evaluated, carries its meaning (hover: in the result)", async () => {
    const f = await atInner();
    const ev = async (v: DebugProtocol.Variable, context: string) => {
      assert.ok(v.evaluateName, `${v.name} has an evaluateName`);
      return (await dc.evaluateRequest({ expression: v.evaluateName, context, frameId: f[0].id })).body;
    };
    // A register field: its value in the result, its meaning in a hover's result and in every type.
    const ctl = await children(dc, named(await scope(dc, f[0].id, 'Registers'), 'RING_CTL'));
    const enable = named(ctl, 'ENABLE');
    const hover = await ev(enable, 'hover');
    assert.match(hover.result, /^0x1 \(1\)  rcs0\.RING_CTL\.ENABLE, bit 0: \S/);
    const watch = await ev(enable, 'watch');
    assert.equal(watch.result, '0x1 (1)');
    assert.match(watch.type ?? '', /^rcs0\.RING_CTL\.ENABLE, bit 0: /);
    assert.match(enable.type ?? '', /^bits 0:0: /, 'VS Code shows type on the name: it stays');
    // A field of the command the frame is at: the value as the Command scope shows it, read-only.
    const cmd = await scope(dc, f[0].id, 'Command');
    const addr = named(cmd, 'addr');
    assert.equal(addr.evaluateName, '$command.addr');
    assert.deepEqual(addr.presentationHint?.attributes, ['readOnly']);
    const a = await ev(addr, 'hover');
    assert.match(a.result, /^0x000000140000  MI_STORE_DATA_IMM\.addr, DW1-2 bits \d+:\d+: \S/);
    assert.equal((await ev(addr, 'watch')).result, addr.value);
    // The caller frame's command is another one: $command follows the frame.
    const caller = named(await scope(dc, f[1].id, 'Command'), 'second_level');
    const c = (await dc.evaluateRequest({ expression: caller.evaluateName!, context: 'hover', frameId: f[1].id })).body;
    assert.match(c.result, /^1  MI_BATCH_BUFFER_START\.second_level, /);
    // A capability register's field, read-only.
    const gencap = await children(dc, named(await scope(dc, f[0].id, 'Capability Registers'), 'GENCAP'));
    const g = named(gencap, 'PAGE_2M');
    assert.deepEqual(g.presentationHint?.attributes, ['readOnly']);
    assert.match((await ev(g, 'hover')).result, /^0x1 \(1\)  GENCAP\.PAGE_2M, bit \d+: \S/);
    // A field name that does not exist is an error naming it, not a wrong answer.
    assert.match(
      await failure(dc.evaluateRequest({ expression: '$command.nonesuch', context: 'hover', frameId: f[0].id })),
      /MI_STORE_DATA_IMM has no field 'nonesuch'/,
    );
  });

  it('Capability Registers: exposed next to physical, hidden features and PCI capabilities marked', async () => {
    const f = await atInner({ hostGen: 3, deviceVersion: 2 });
    const caps = await scope(dc, f[0].id, 'Capability Registers');
    assert.equal(named(caps, 'host generation').value, '3');
    assert.equal(named(caps, 'device version').value, '2');
    assert.match(named(caps, 'GENCAP').value, /^0x[0-9a-f]{16} \(physical 0x[0-9a-f]{16}\)$/);
    const gencap = await children(dc, named(caps, 'GENCAP'));
    assert.equal(named(gencap, 'PAGE_1G').value, '0 (physical 1: hidden from the VM)');
    assert.equal(named(gencap, 'PAGE_2M').value, '1');
    const mi = await children(dc, named(caps, 'OPCAP_MI'));
    assert.equal(named(mi, 'MI_ATOMIC').value, 'rejected (the physical GPU accepts it: hidden from the VM)');
    assert.equal(named(mi, 'MI_NOOP').value, 'accepted');
    const ext = await children(dc, named(caps, 'PCIe extended capabilities'));
    assert.match(named(ext, '0x001b PASID').value, /^hidden from the VM/);
    assert.match(named(ext, '0x000f ATS').value, /^exposed at 0x100/);
  });

  it('Page Tables: the PPGTT from PDP0, 512 entries per level served in pages, each entry decoded', async () => {
    const f = await atInner();
    const pt = await scope(dc, f[0].id, 'Page Tables');
    assert.equal(named(pt, 'PDP0').value, 'GPA 0x0003fff000');
    assert.equal(named(pt, 'PDP0').memoryReference, 'gpa:0x3fff000');
    const pml4 = named(pt, 'PML4');
    assert.equal(pml4.indexedVariables, 512);
    const all = await children(dc, pml4, { filter: 'indexed', start: 0, count: 512 });
    assert.equal(all.length, 512);
    assert.match(all[0].value, /^0x[0-9a-f]{16} P RW US → PDPT at GPA 0x0003ffe000/);
    assert.match(all[1].value, /^not present/);
    assert.deepEqual(await children(dc, pml4, { filter: 'named' }), []);
    const chunks = await children(dc, pml4);
    assert.deepEqual(chunks.map((c) => c.name).slice(0, 2), ['[0..63]', '[64..127]']);
    assert.equal(chunks.length, 8);
    const pdpt = await children(dc, all[0], { filter: 'indexed', start: 0, count: 1 });
    const pd = await children(dc, pdpt[0], { filter: 'indexed', start: 0, count: 1 });
    const ptes = await children(dc, pd[0], { filter: 'indexed', start: 256, count: 3 });
    assert.deepEqual(
      ptes.map((p) => p.name),
      ['[256]', '[257]', '[258]'],
    );
    assert.match(ptes[0].value, /P RW US → 4 KiB page at GPA 0x0000100000 \(VA 0x000000100000\)/);
    assert.equal(ptes[0].memoryReference, 'va:0x100000');
    const fields = await children(dc, ptes[0]);
    assert.equal(named(fields, 'P').value, '1');
    assert.equal(named(fields, 'NX').value, '0');
    assert.equal(named(fields, 'address').memoryReference, 'gpa:0x100000');
    const entryFields = await children(dc, all[0], { filter: 'named' });
    assert.equal(named(entryFields, 'VA range').value, '0x000000000000 - 0x007fffffffff');
  });

  it('EPT: both views, range A and mirror B marked', async () => {
    const f = await atInner();
    const ept = await scope(dc, f[0].id, 'EPT');
    assert.match(named(ept, 'range A').value, /^\[0x0000000000, 0x0004000000\) guest RAM, 64 MiB/);
    assert.match(named(ept, 'mirror B').value, /^\[0x8000000000, 0x8004000000\) mirrors range A/);
    const full = await children(dc, named(ept, 'full (view 0)'), { filter: 'indexed', start: 0, count: 2 });
    assert.match(full[0].value, /range A\)$/);
    assert.match(full[1].value, /mirror B\)$/);
    const restricted = await children(dc, named(ept, 'restricted (view 1)'), { filter: 'indexed', start: 0, count: 2 });
    assert.match(restricted[0].value, /range A\)$/);
    assert.match(restricted[1].value, /^not present/);
    assert.equal(named(ept, 'rcs0 runs under').value, 'full (EPT_VIEW = 0)');
  });

  it('Snapshots: time, pages and bytes of each kept snapshot', async () => {
    const f = await atInner();
    const snaps = await scope(dc, f[0].id, 'Snapshots');
    assert.match(named(snaps, 'now').value, /^t=\d+ commands/);
    assert.match(named(snaps, '#0').value, /^t=0 start: 0 pages, \d+ bytes/);
    const one = await children(dc, named(snaps, '#1'));
    assert.equal(named(one, 'reason').value, 'submission (rcs0)');
  });

  it('stale or bad references get error responses', async () => {
    const f = await atInner();
    assert.match(await failure(dc.variablesRequest({ variablesReference: 9999 })), /no variables container/);
    assert.match(await failure(dc.scopesRequest({ frameId: 12345 })), /no frame/);
    const regs = (await dc.scopesRequest({ frameId: f[0].id })).body.scopes[1].variablesReference;
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    assert.match(
      await failure(dc.variablesRequest({ variablesReference: regs })),
      /no variables container/,
      'handles die when the VM moves',
    );
  });

  it('readMemory and writeMemory in GPU VA and GPA space; unmapped bytes are unreadable', async () => {
    await atInner();
    const r = await dc.send('readMemory', { memoryReference: 'va:0x140000', count: 8 });
    assert.equal(r.body.address, '0x140000');
    assert.deepEqual([...Buffer.from(r.body.data, 'base64')], [1, 0, 0, 0, 2, 0, 0, 0]);
    const g = await dc.send('readMemory', { memoryReference: 'gpa:0x140000', offset: 4, count: 4 });
    assert.deepEqual([...Buffer.from(g.body.data, 'base64')], [2, 0, 0, 0]);
    const edge = await dc.send('readMemory', { memoryReference: 'va:0x1ffff8', count: 16 });
    assert.equal(Buffer.from(edge.body.data, 'base64').length, 8);
    assert.equal(edge.body.unreadableBytes, 8);
    const [mem, w] = await Promise.all([
      dc.waitForEvent('memory'),
      dc.send('writeMemory', {
        memoryReference: 'va:0x140000',
        offset: 5,
        data: Buffer.from([0xaa, 0xbb]).toString('base64'),
      }),
    ]);
    assert.ok(mem);
    assert.equal(w.body.bytesWritten, 2);
    assert.equal(await repl(dc, 'x/2x value'), 'va:0x000000140000  0x00000001 0x00bbaa02');
    assert.match(
      await failure(
        dc.send('writeMemory', { memoryReference: 'va:0x1ffffc', data: Buffer.alloc(8).toString('base64') }),
      ),
      /only 4 of 8 bytes/,
    );
    assert.match(
      await failure(dc.send('readMemory', { memoryReference: 'somewhere', count: 4 })),
      /bad memoryReference/,
    );
    assert.match(
      await failure(dc.send('readMemory', { memoryReference: 'va:0xffffffffffff', offset: 16, count: 4 })),
      /outside the GPU VA space/,
    );
  });

  it("disassembles around a command in the language's syntax, with source lines", async () => {
    const f = await atInner();
    const d = await dc.send('disassemble', {
      memoryReference: f[0].instructionPointerReference,
      instructionOffset: -2,
      instructionCount: 5,
      resolveSymbols: true,
    });
    const ins = d.body.instructions as DebugProtocol.DisassembledInstruction[];
    assert.deepEqual(
      ins.map((i) => i.address),
      ['0x00000011fff8', '0x00000011fffc', '0x000000120000', '0x000000120010', '0x00000012001c'],
    );
    assert.match(ins[2].instruction, /^MI_STORE_DATA_IMM addr=0x140000/);
    assert.equal(ins[2].line, 11);
    assert.equal(ins[2].symbol, 'inner');
    assert.equal(ins[3].instruction, 'MI_LOAD_REGISTER_IMM CS_GPR0=5');
    assert.equal(ins[4].instruction, 'MI_BATCH_BUFFER_END');
    const ring = await dc.send('disassemble', {
      memoryReference: '0xfff00004',
      instructionOffset: -1,
      instructionCount: 2,
    });
    assert.deepEqual(
      ring.body.instructions.map((i: DebugProtocol.DisassembledInstruction) => [i.address, i.line]),
      [
        ['0x0000fff00000', 22],
        ['0x0000fff00004', 23],
      ],
    );
    // The driver frame has no instruction pointer: VS Code then asks with an empty reference.
    const none = await dc.send('disassemble', { memoryReference: '', instructionCount: 10 });
    assert.deepEqual(none.body.instructions, []);
  });
});
