// Large answers come in windows over DAP: Compare Snapshots (`vgpu/diff`: computed once, its changed
// pages paged by token, cancellable), the kept snapshots (`vgpu/snapshots` with start/count, the
// Snapshots scope's indexed children), the Page Tables scope's `.map` list and the console's `diff`.
// Each answer's size follows the window asked for, never the size of the change or of the list.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CustomArgs, CustomBody, CustomRequestName } from '../../adapter/protocol';
import { children, clientPerTest, digest, failure, launch, named, program, repl, scope, top, RCS0 } from './client';

const MiB = 2 ** 20;

/** A program whose one blit changes the alpha byte of every pixel over `bytes` (2 MiB pages). */
function fills(bytes: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-compare-'));
  const file = path.join(dir, 'fills.vgpu');
  fs.writeFileSync(
    file,
    [
      '.vm memory=256M',
      '.map 0x100000, 0x100000, 64K, rw',
      `.map 0x4000000, 0x4000000, ${bytes / MiB}M, rw, page=2M`,
      '.batch b, 0x100000, bcs0',
      `    XY_COLOR_BLT write_enable=2, dst=0x4000000, pitch=16384, x1=0, y1=0, x2=4096, y2=${bytes / 16384}, color=0x80000000`,
      '    MI_BATCH_BUFFER_END',
      '.ring bcs0',
      '    MI_BATCH_BUFFER_START addr=b',
      '.submit bcs0',
      '.wait all',
      '',
    ].join('\n'),
  );
  return file;
}

describe('adapter: large answers in windows (vgpu/diff, vgpu/snapshots, Variables, console diff)', function () {
  this.timeout(60000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  async function custom<K extends CustomRequestName>(
    name: K,
    args: CustomArgs<K> | Record<string, unknown> = {},
  ): Promise<CustomBody<K>> {
    return (await dc.customRequest(name, args)).body as CustomBody<K>;
  }

  it('vgpu/diff: the first answer carries a window of the changed pages and a token; the token pages through the rest', async () => {
    const file = fills(8 * MiB);
    await launch(dc, { program: file, stopOnEntry: false });
    const { snapshots } = await custom('vgpu/snapshots');
    const first = await custom('vgpu/diff', { from: snapshots[0].id, to: -1 });
    assert.equal(first.pages.length, 256, 'a default window');
    assert.ok(first.totalPages >= 2048 && first.more === first.totalPages - 256);
    assert.ok(
      JSON.stringify(first).length < 32 * 1024,
      `${JSON.stringify(first).length} bytes of JSON for ${first.totalPages} changed pages`,
    );
    assert.deepEqual(
      first.pages[0],
      { gpa: '0x4000000', ranges: [[3, 4096]], bytes: 1024 },
      'one range per page, not one per pixel',
    );
    const seen = [...first.pages];
    for (let start = seen.length; start < first.totalPages;) {
      const w = await custom('vgpu/diff', { token: first.token, start, count: 700 });
      assert.deepEqual(
        [w.start, w.totalPages, w.more],
        [start, first.totalPages, Math.max(0, first.totalPages - start - 700)],
      );
      assert.deepEqual(w.registers, first.registers);
      seen.push(...w.pages);
      start += w.pages.length;
    }
    const gpas = seen.map((p) => Number(p.gpa));
    assert.ok(
      gpas.every((g, i) => i === 0 || g > gpas[i - 1]),
      'GPA order, each page once',
    );
    assert.equal(
      seen.reduce((n, p) => n + p.bytes, 0),
      first.changedBytes,
    );
    assert.equal(seen.filter((p) => p.bytes === 1024).length, 2048);
    const big = await custom('vgpu/diff', { token: first.token, start: 0, count: 1e9 });
    assert.equal(big.pages.length, Math.min(4096, first.totalPages));
    const past = await custom('vgpu/diff', { token: first.token, start: 1e9 });
    assert.deepEqual([past.pages.length, past.more], [0, 0]);
    assert.match(
      await failure(dc.customRequest('vgpu/diff', { token: 'diff-999' })),
      /no longer kept: compare the snapshots again/,
    );
    assert.match(
      await failure(dc.customRequest('vgpu/diff', { token: first.token, start: -1 })),
      /'start' must be at least 0/,
    );
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  it('vgpu/diff is a long operation: cancelled, it answers "cancelled" with the VM unmoved', async () => {
    const file = fills(64 * MiB);
    await dc.initializeRequest({
      adapterID: 'vgpu',
      linesStartAt1: true,
      columnsStartAt1: true,
      supportsProgressReporting: true,
    } as DebugProtocol.InitializeRequestArguments);
    await Promise.all([
      dc.waitForEvent('initialized'),
      dc.launchRequest({ program: file, stopOnEntry: false } as DebugProtocol.LaunchRequestArguments),
    ]);
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    const { snapshots } = await custom('vgpu/snapshots');
    const before = await digest(dc);
    const seq = (dc as unknown as { sequence: number }).sequence;
    const asked = failure(dc.customRequest('vgpu/diff', { from: snapshots[0].id }));
    await dc.customRequest('cancel', { requestId: seq });
    assert.equal(await asked, 'cancelled');
    assert.equal(await digest(dc), before);
    const whole = await custom('vgpu/diff', { from: snapshots[0].id });
    assert.ok(whole.totalPages >= 16384);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  it('console diff lists 32 changed pages at a time, @N from the N-th', async () => {
    const file = fills(2 * MiB);
    await launch(dc, { program: file, stopOnEntry: false });
    const text = await repl(dc, 'diff 0');
    const pages = text.split('\n').filter((l) => l.startsWith('GPA '));
    assert.equal(pages.length, 32);
    assert.equal(pages[0], 'GPA 0x4000000: 1024 bytes in 0x3-0xfff');
    assert.match(text, /pages 0\.\.31 of (\d+) changed \(\d+ bytes\): 'diff 0 @32' lists the next/);
    const total = Number(/of (\d+) changed/.exec(text)![1]);
    const tail = await repl(dc, `diff 0 @${total - 3}`);
    assert.equal(tail.split('\n').filter((l) => l.startsWith('GPA ')).length, 3);
    assert.match(tail, new RegExp(`pages ${total - 3}\\.\\.${total - 1} of ${total} changed`));
    assert.doesNotMatch(tail, /lists the next/);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  it('vgpu/snapshots: the newest 256 unless asked for a window; thousands kept, the answer stays small', async () => {
    await launch(dc, { program: program('spin.vgpu'), snapshotEvery: 1, watchdog: 10_000_000 });
    await Promise.all([dc.waitForEvent('stopped'), repl(dc, 'goto 5000')]);
    const newest = await custom('vgpu/snapshots');
    assert.ok(newest.total > 5000, `${newest.total} kept`);
    assert.equal(newest.snapshots.length, 256);
    assert.equal(newest.start, newest.total - 256);
    assert.equal(newest.snapshots.at(-1)!.commands, 5000);
    const size = JSON.stringify(newest).length;
    assert.ok(size < 48 * 1024, `${size} bytes of JSON with ${newest.total} snapshots kept`);
    const oldest = await custom('vgpu/snapshots', { start: 0, count: 10 });
    assert.deepEqual(
      [oldest.start, oldest.snapshots.length, oldest.snapshots[0].reason, oldest.total],
      [0, 10, 'start', newest.total],
    );
    const none = await custom('vgpu/snapshots', { count: 0 });
    assert.deepEqual([none.snapshots.length, none.commands, none.total], [0, 5000, newest.total]);
    const capped = await custom('vgpu/snapshots', { start: 0, count: 1e6 });
    assert.equal(capped.snapshots.length, 4096);
    assert.match(await failure(dc.customRequest('vgpu/snapshots', { count: -1 })), /'count' must be at least 0/);
    // The console's `snapshots`: the newest 64, @N from the N-th.
    const text = (await repl(dc, 'snapshots')).split('\n');
    assert.equal(text.length, 65);
    assert.match(text[63], /^#\d+ +t=5000 .* <- now$/);
    assert.equal(
      text[64],
      `snapshots ${newest.total - 64}..${newest.total - 1} of ${newest.total} kept: 'snapshots @${newest.total - 128}' lists older ones`,
    );
    const first = (await repl(dc, 'snapshots @0')).split('\n');
    assert.match(first[0], /^#0 +t=0 +step 0 +start/);
    assert.equal(first[64], `snapshots 0..63 of ${newest.total} kept: 'snapshots @64' newer ones`);
    assert.match(await failure(dc.evaluateRequest({ expression: 'snapshots 3', context: 'repl' })), /@N/);
    // The Snapshots scope: `now` and `kept` by name, the snapshots by index.
    const frame = await top(dc, RCS0);
    const sc = (await dc.scopesRequest({ frameId: frame.id })).body.scopes.find((s) => s.name === 'Snapshots')!;
    assert.deepEqual([sc.namedVariables, sc.indexedVariables], [2, newest.total]);
    const plain = (await dc.variablesRequest({ variablesReference: sc.variablesReference })).body.variables;
    assert.deepEqual(
      plain.slice(0, 3).map((v) => v.name),
      ['now', 'kept', '[0..99]'],
      'a client that pages nothing gets groups',
    );
    assert.ok(plain.length <= 2 + 100 && JSON.stringify(plain).length < 16 * 1024);
    const some = (
      await dc.variablesRequest({
        variablesReference: sc.variablesReference,
        filter: 'indexed',
        start: newest.total - 2,
        count: 2,
      })
    ).body.variables;
    assert.deepEqual(
      some.map((v) => v.name),
      newest.snapshots.slice(-2).map((s) => `#${s.id}`),
    );
    assert.match(some[1].value, /^t=5000 periodic: 0 pages, \d+ bytes \(current\)$/);
  });

  it('Page Tables: the .map list is indexed, a window at a time', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-maps-'));
    const file = path.join(dir, 'maps.vgpu');
    const lines = ['.vm memory=64M', '.map 0x100000, 0x100000, 64K, rw'];
    for (let i = 0; i < 5000; i++)
      lines.push(
        `.map 0x${(0x10000000 + i * 0x2000).toString(16)}, 0x${(0x200000 + i * 0x1000).toString(16)}, 4K, ${i % 2 ? 'ro' : 'rw'}`,
      );
    lines.push(
      '.batch b, 0x100000',
      '    MI_NOOP',
      '    MI_BATCH_BUFFER_END',
      '.ring rcs0',
      '    MI_BATCH_BUFFER_START addr=b',
      '.submit rcs0',
      '.wait rcs0',
      '',
    );
    fs.writeFileSync(file, lines.join('\n'));
    await launch(dc, { program: file });
    const frame = await top(dc, RCS0);
    const maps = named(await scope(dc, frame.id, 'Page Tables'), 'mappings');
    const n = maps.indexedVariables!;
    assert.ok(n >= 5001, `${n} mappings`);
    assert.match(maps.value, new RegExp(`^${n} \\.map directives$`));
    // Each window holds what the program says of its mappings (whatever order the list keeps).
    const check = (vars: DebugProtocol.Variable[]) => {
      for (const v of vars) {
        const i = (Number(v.name.slice(3)) - 0x10000000) / 0x2000;
        if (!(i >= 0 && i < 5000)) continue;
        assert.equal(
          v.value,
          `→ GPA 0x${(0x200000 + i * 0x1000).toString(16).padStart(10, '0')}, 4096 bytes, ${i % 2 ? 'ro' : 'rw'}, 4 KiB pages`,
        );
        assert.equal(v.type, `${file}:${3 + i}`);
      }
    };
    const seen = new Set<string>();
    for (let start = 0; start < n; start += 1000) {
      const window = await children(dc, maps, { filter: 'indexed', start, count: 1000 });
      assert.equal(window.length, Math.min(1000, n - start));
      check(window);
      for (const v of window) seen.add(v.name);
    }
    assert.equal(seen.size, n, 'the windows cover every mapping once');
    const plain = await children(dc, maps);
    assert.equal(plain[0].name, '[0..99]');
    assert.ok(plain.length <= 100 && plain.every((g) => g.indexedVariables! <= 100));
    check(await children(dc, plain[50], { filter: 'indexed', start: 0, count: 100 }));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
