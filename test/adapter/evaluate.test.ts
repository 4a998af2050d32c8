// The debug console, hovers and completions over DAP, and the `vgpu/...` custom requests of
// adapter/protocol.ts (snapshots, rollback, diff, surface, caps, translate).

import * as assert from 'node:assert/strict';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CustomBody } from '../../adapter/protocol';
import { VmHost } from '../../emulator/migration';
import { DRIVER, RCS0, digest, failure, launch, program, repl, top, untilStop, clientPerTest } from './client';

const P = program('nested.vgpu');

describe('adapter: debug console, hovers, completions', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it('evaluates registers (engine from the frame), labels, surfaces, MIRROR and expressions', async () => {
    await launch(dc, { program: P, stopOnEntry: false });
    const f = await top(dc, RCS0);
    assert.equal(await repl(dc, 'CS_GPR0', f.id), '0x00000005');
    assert.equal(await repl(dc, 'bcs0.CS_GPR0'), '0x00000000');
    assert.equal(await repl(dc, 'CS_GPR3'), '0x00000007', "the driver's .mmio rcs0.CS_GPR3");
    const v = await dc.evaluateRequest({ expression: 'value', context: 'repl' });
    assert.equal(v.body.result, '0x140000 [0x00000042]');
    assert.equal(v.body.memoryReference, 'va:0x140000');
    assert.equal(await repl(dc, 'value + 4 * 2'), '0x140008 (1310728)');
    assert.equal(await repl(dc, '[value + 4] == 0x43 && CS_GPR0 >= 5'), '0x1 (1)');
    assert.equal(await repl(dc, 'MIRROR'), '0x8000000000 (549755813888)');
    assert.match(await repl(dc, 'fb'), /^0x180000 /);
    const dec = await dc.evaluateRequest({ expression: 'value + 1', context: 'watch', format: { hex: false } });
    assert.equal(dec.body.result, '1310721');
    assert.match(
      await failure(dc.evaluateRequest({ expression: 'nosuchthing + 1', context: 'repl' })),
      /unknown name 'nosuchthing'/,
    );
    assert.match(await failure(dc.evaluateRequest({ expression: '(1 +', context: 'repl' })), /help/);
  });

  it('console commands: translate, x/Nx, caps, errors, help', async () => {
    await launch(dc, { program: P, hostGen: 3, deviceVersion: 2 });
    assert.match(await repl(dc, 'translate value'), /=> GPA 0x0000140000 => HPA 0x10000140000$/);
    assert.match(await repl(dc, 'translate value restricted'), /under the restricted EPT view/);
    assert.match(
      await repl(dc, 'translate 0x700000'),
      /page-fault: read at GPU VA 0x700000: PD\[3\] .* is not present/,
    );
    assert.equal(await repl(dc, 'x/4x value'), 'va:0x000000140000  0x00000001 0x00000002 0x00000003 0x00000004');
    assert.equal(await repl(dc, 'x/2d value + 4'), 'va:0x000000140004  2 3');
    assert.equal(await repl(dc, 'x/1x gpa:0x140000'), 'gpa:0x0000140000  0x00000001');
    assert.equal(await repl(dc, 'x/2x 0x1ffffc'), 'va:0x0000001ffffc  0x00000000 ??????????');
    assert.match(await repl(dc, 'caps'), /GENCAP\s+0x[0-9a-f]+\s+0x[0-9a-f]+ {2}<- virtualized/);
    assert.match(await repl(dc, 'caps'), /ext cap PASID\s+hidden/);
    assert.equal(await repl(dc, 'errors'), 'no GPU errors');
    assert.match(await repl(dc, 'help'), /translate \[ggtt\] VA \[full\|restricted\]/);
  });

  it('console commands: snapshots, snapshot, rollback N, goto T, diff', async () => {
    await launch(dc, { program: P });
    assert.match(await repl(dc, 'snapshots'), /^#0 +t=0 +step 0 +start/);
    const at0 = await digest(dc);
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
    const taken = await repl(dc, 'snapshot');
    const id = Number(/#(\d+)/.exec(taken)![1]);
    const atSnap = await digest(dc);
    assert.match(await repl(dc, 'snapshots'), new RegExp(`#${id} .* manual .* <- now`));
    // goto T: forward and back in time, stopping with reason goto.
    let [stop] = await Promise.all([dc.waitForEvent('stopped'), repl(dc, 'goto 6')]);
    assert.equal((stop as DebugProtocol.StoppedEvent).body.reason, 'goto');
    assert.match(await repl(dc, '$commands'), /^0x6 /);
    const at6 = await digest(dc);
    await Promise.all([dc.waitForEvent('stopped'), repl(dc, 'goto 9')]);
    await Promise.all([dc.waitForEvent('stopped'), repl(dc, 'goto 6')]);
    assert.equal(await digest(dc), at6);
    assert.match(await repl(dc, `diff ${id}`), /rcs0\.RING_HEAD +0x0 -> 0x/);
    [stop] = await Promise.all([dc.waitForEvent('stopped'), repl(dc, `rollback ${id}`)]);
    assert.equal((stop as DebugProtocol.StoppedEvent).body.description, `Rolled back to snapshot #${id}`);
    assert.equal(await digest(dc), atSnap);
    await Promise.all([dc.waitForEvent('stopped'), repl(dc, 'rollback 0')]);
    assert.equal(await digest(dc), at0);
    assert.match(
      await failure(dc.evaluateRequest({ expression: 'rollback 999', context: 'repl' })),
      /no kept snapshot #999/,
    );
  });

  it('hovers show registers, labels and mnemonics; other words give nothing', async () => {
    await launch(dc, { program: P, stopOnEntry: false });
    const f = await top(dc, RCS0);
    const h = (expression: string) => dc.evaluateRequest({ expression, context: 'hover', frameId: f.id });
    // The register's meaning travels in the result: many clients show nothing else of a hover.
    assert.match((await h('CS_GPR0')).body.result, /^0x00000005 {2}rcs0\.CS_GPR0 \(\d+-bit \w+\): \S/);
    assert.equal((await h('value')).body.result, '0x140000 [0x00000042]');
    assert.match((await h('MI_STORE_DATA_IMM')).body.result, /^MI_STORE_DATA_IMM: Store an immediate/);
    await failure(h('addr'));
  });

  it('completes registers, engine-prefixed registers, labels and console commands', async () => {
    await launch(dc, { program: P });
    const labels = async (text: string, column = text.length + 1) =>
      (await dc.completionsRequest({ text, column })).body.targets;
    const gpr = await labels('CS_GPR1');
    assert.ok(gpr.some((t) => t.label === 'CS_GPR10'));
    assert.equal(gpr[0].start, 1);
    assert.equal(gpr[0].length, 7);
    assert.ok((await labels('x/4x rcs0.RING_H')).some((t) => t.label === 'rcs0.RING_HEAD'));
    const v = await labels('x/4x va');
    assert.ok(v.some((t) => t.label === 'value'));
    assert.equal(v[0].start, 6);
    assert.ok((await labels('tra')).some((t) => t.label === 'translate'));
    assert.ok(!(await labels('1 + tra')).some((t) => t.label === 'translate'), 'commands only at the start');
  });
});

describe('adapter: vgpu/ custom requests', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  async function custom<K extends import('../../adapter/protocol').CustomRequestName>(
    name: K,
    args: object = {},
  ): Promise<CustomBody<K>> {
    return (await dc.customRequest(name, args)).body as CustomBody<K>;
  }

  it('answer with an error before launch', async () => {
    await dc.initializeRequest();
    assert.match(await failure(dc.customRequest('vgpu/snapshots', {})), /no program is running/);
  });

  it('vgpu/snapshots, vgpu/snapshot and vgpu/rollback', async () => {
    await launch(dc, { program: P });
    await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
    const list = await custom('vgpu/snapshots');
    assert.equal(list.snapshots[0].reason, 'start');
    // The start snapshot keeps no before-images: its bytes are its saved state (registers, engines).
    assert.ok(list.snapshots[0].bytes > 1024 && list.snapshots[0].bytes < 8192, `${list.snapshots[0].bytes} bytes`);
    assert.ok(list.commands >= 1);
    const s = await custom('vgpu/snapshot');
    assert.equal(s.snapshot.reason, 'manual');
    assert.equal(s.snapshot.current, true);
    const [stop, r] = await Promise.all([
      dc.waitForEvent('stopped'),
      custom('vgpu/rollback', { id: list.snapshots[1].id }),
    ]);
    assert.equal((stop as DebugProtocol.StoppedEvent).body.reason, 'goto');
    assert.equal(r.step, list.snapshots[1].step);
    assert.match(
      await failure(dc.customRequest('vgpu/rollback', { id: 'x' })),
      /vgpu\/rollback: 'id' must be an integer/,
    );
  });

  it('vgpu/diff: registers with old and new values, changed byte ranges, changed surface pixels', async () => {
    await launch(dc, { program: P, stopOnEntry: false });
    const list = await custom('vgpu/snapshots');
    const d = await custom('vgpu/diff', { from: list.snapshots[0].id, to: -1 });
    assert.deepEqual(
      d.registers.find((r) => r.name === 'rcs0.CS_GPR0'),
      { name: 'rcs0.CS_GPR0', old: '0x0', new: '0x5' },
    );
    assert.deepEqual(
      d.pages.find((p) => p.gpa === '0x140000'),
      { gpa: '0x140000', ranges: [[0, 13]], bytes: 4 },
      'four bytes 4 apart: one range',
    );
    assert.deepEqual([d.start, d.more, d.totalPages], [0, 0, d.pages.length]);
    assert.deepEqual(d.surfaces, [{ name: 'fb', changedPixels: 256, width: 16, height: 16 }]);
    const last = list.snapshots[list.snapshots.length - 1].id;
    const same = await custom('vgpu/diff', { from: last, to: last });
    assert.deepEqual([same.registers.length, same.pages.length], [0, 0]);
    assert.match(await failure(dc.customRequest('vgpu/diff', { from: 999, to: 0 })), /kept snapshots/);
  });

  it('vgpu/surface: the pixels as base64 ARGB dwords', async () => {
    await launch(dc, { program: P, stopOnEntry: false });
    const s = await custom('vgpu/surface', { name: 'FB' });
    assert.deepEqual([s.name, s.width, s.height, s.surfaces], ['fb', 16, 16, ['fb']]);
    const px = new Uint32Array(new Uint8Array(Buffer.from(s.pixels, 'base64')).buffer);
    assert.equal(px.length, 256);
    assert.ok(px.every((p) => p === 0xff00ff00));
    assert.match(await failure(dc.customRequest('vgpu/surface', { name: 'nope' })), /no surface 'nope'/);
  });

  it('vgpu/caps: physical and exposed VIEWs and the fields the VMM hides', async () => {
    await launch(dc, { program: P, hostGen: 3, deviceVersion: 1 });
    const c = await custom('vgpu/caps');
    assert.deepEqual([c.hostGen, c.deviceVersion], [3, 1]);
    assert.equal(c.exposed.registers.VERSION, '0x1');
    assert.equal(c.physical.registers.VERSION, '0x3');
    assert.deepEqual(c.exposed.pci.extended, []);
    assert.deepEqual(
      c.physical.pci.extended.map((x) => x.id),
      [0x0f, 0x1b, 0x13],
    );
    assert.deepEqual(
      c.fields.find((x) => x.field === 'PAGE_2M'),
      { register: 'GENCAP', field: 'PAGE_2M', bits: '1', physical: 1, exposed: 0, hidden: true },
    );
  });

  it('vgpu/translate: every step of the walk, or the fault', async () => {
    await launch(dc, { program: P });
    const ok = await custom('vgpu/translate', { va: 'value + 4' });
    assert.deepEqual([ok.ok, ok.gpa, ok.hpa], [true, '0x140004', '0x10000140004']);
    assert.deepEqual(
      ok.steps.map((s) => s.level),
      ['PML4', 'PDPT', 'PD', 'PT', 'EPT'],
    );
    assert.equal(ok.steps[0].ept!.length, 3);
    const bad = await custom('vgpu/translate', { va: 0x700000, view: 'restricted', engine: 'bcs0' });
    assert.equal(bad.ok, false);
    assert.equal(bad.fault!.kind, 'page-fault');
    assert.match(await failure(dc.customRequest('vgpu/translate', { va: 2 ** 50 })), /48-bit/);
    assert.match(
      await failure(dc.customRequest('vgpu/translate', { va: 0, engine: 'vcs0' })),
      /'engine' must be one of rcs0, bcs0/,
    );
  });

  it('vgpu/migrate moves the VM to a vgpu host; the session goes on there until the program ends (more in migrate.test.ts)', async () => {
    const host = new VmHost({ gen: 3 });
    const { port } = await host.listen();
    try {
      await launch(dc, { program: P });
      await untilStop(dc, dc.nextRequest({ threadId: RCS0 }));
      const outputs: string[] = [];
      dc.on('output', (e: DebugProtocol.OutputEvent) => outputs.push(e.body.output));
      const [, r] = await Promise.all([
        dc.waitForEvent('stopped'),
        custom('vgpu/migrate', { to: `127.0.0.1:${port}` }),
      ]);
      assert.equal(r.status, 'completed');
      assert.equal(r.hostGen, 3);
      assert.ok(r.rounds >= 1 && r.pagesSent > 0);
      await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
      await Promise.all([dc.waitForEvent('terminated'), dc.continueRequest({ threadId: DRIVER })]);
      assert.ok(
        outputs.some((o) => /ended on 127\.0\.0\.1:\d+, generation 3: completed after 12 commands/.test(o)),
        outputs.join(''),
      );
    } finally {
      await host.close();
    }
  });

  it('vgpu/migrate refused by an older host: the VM keeps running here', async () => {
    const host = new VmHost({ gen: 1 });
    const { port } = await host.listen();
    try {
      await launch(dc, { program: P });
      const before = await digest(dc);
      const [stop, r] = await Promise.all([
        dc.waitForEvent('stopped'),
        custom('vgpu/migrate', { to: `127.0.0.1:${port}` }),
      ]);
      assert.equal(r.status, 'refused');
      assert.match(r.reason!, /version 3/);
      assert.equal((stop as DebugProtocol.StoppedEvent).body.description, 'Migration refused');
      assert.equal(await digest(dc), before, 'nothing lost, nothing run');
      await untilStop(dc, dc.nextRequest({ threadId: DRIVER }));
      assert.match(await failure(dc.customRequest('vgpu/migrate', { to: 'nowhere' })), /HOST:PORT/);
    } finally {
      await host.close();
    }
  });

  it('unknown requests get an error', async () => {
    await launch(dc, { program: P });
    assert.match(await failure(dc.customRequest('vgpu/frobnicate', {})), /unrecognized request/);
  });
});
