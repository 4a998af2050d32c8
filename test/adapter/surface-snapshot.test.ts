// `vgpu/surface` with `snapshot`: a surface as it was at a kept snapshot (what Compare Snapshots draws
// side by side), equal to a plain run stopped there, read without moving the VM or renumbering snapshots,
// also on the replica of a VM moved to another host.

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { CustomBody, CustomRequestName } from '../../adapter/protocol';
import { VmHost } from '../../emulator/migration';
import { loadVm } from '../../emulator/program';
import type { Vm } from '../../emulator/vm';
import { BCS0, DRIVER, EXAMPLES, build, client, digest, failure, launch, untilStop } from './client';

const PICTURE = path.join(EXAMPLES, 'picture.vgpu');
const EVERY = { snapshotEvery: 2 };

function pixels(s: CustomBody<'vgpu/surface'>): Uint32Array {
  return new Uint32Array(new Uint8Array(Buffer.from(s.pixels, 'base64')).buffer);
}

/** A plain run of picture.vgpu stopped at `step`: its canvas. */
function canvasAt(step: number, o: object = {}): Uint32Array {
  const vm = loadVm(PICTURE, { ...EVERY, ...o });
  vm.goToStep(step);
  return vm.readSurface('canvas').pixels;
}

describe('adapter: vgpu/surface at a snapshot', function () {
  this.timeout(30000);
  let dc: DebugClient;
  before(build);
  beforeEach(async () => {
    dc = await client();
  });
  afterEach(async () => {
    await dc.stop();
  });

  async function custom<K extends CustomRequestName>(name: K, args: object = {}): Promise<CustomBody<K>> {
    return (await dc.customRequest(name, args)).body as CustomBody<K>;
  }

  it('reads the pixels as they were at each kept snapshot, leaving the VM and its snapshots as they were', async () => {
    await launch(dc, { program: PICTURE, stopOnEntry: false, ...EVERY });
    const before = await digest(dc);
    const list = await custom('vgpu/snapshots');
    assert.ok(list.snapshots.length > 3, 'snapshots along the batch');
    const now = pixels(await custom('vgpu/surface', { name: 'canvas' }));
    const first = pixels(await custom('vgpu/surface', { name: 'canvas', snapshot: list.snapshots[0].id }));
    assert.equal(first.length, 256 * 128);
    assert.ok(
      first.every((p) => p === 0),
      'nothing drawn at the start',
    );
    assert.notDeepEqual(first, now);
    for (const s of list.snapshots) {
      const got = await custom('vgpu/surface', { name: 'canvas', snapshot: s.id });
      assert.deepEqual([got.name, got.width, got.height], ['canvas', 256, 128]);
      assert.deepEqual(
        pixels(got),
        canvasAt(s.step),
        `snapshot #${s.id} (step ${s.step}): as a plain run stopped there`,
      );
    }
    assert.equal(await digest(dc), before, 'the VM did not move');
    assert.deepEqual(await custom('vgpu/snapshots'), list, 'no snapshot dropped or renumbered');
    assert.deepEqual(pixels(await custom('vgpu/surface', { name: 'canvas' })), now);
    assert.match(
      await failure(dc.customRequest('vgpu/surface', { name: 'canvas', snapshot: 999 })),
      /no kept snapshot #999/,
    );
    assert.match(
      await failure(dc.customRequest('vgpu/surface', { snapshot: 'x' })),
      /'snapshot' must be an integer \(got "x"\)/,
    );
  });

  it('reads an earlier snapshot of a VM moved to another host without taking the replica out of step', async () => {
    let target: Vm | undefined;
    const host = new VmHost({ gen: 2, idleTimeoutMs: 10_000 });
    host.on('resumed', (_t, vm) => (target = vm));
    try {
      const to = `127.0.0.1:${(await host.listen()).port}`;
      const V2 = { hostGen: 3, deviceVersion: 2 };
      await launch(dc, { program: PICTURE, ...V2, ...EVERY }, (d) =>
        d.setBreakpointsRequest({ source: { path: PICTURE }, breakpoints: [{ line: 22 }] }),
      );
      await untilStop(dc, dc.continueRequest({ threadId: DRIVER }));
      const [, r] = await Promise.all([dc.waitForEvent('stopped'), custom('vgpu/migrate', { to })]);
      assert.equal(r.status, 'completed', r.reason);
      const here = await digest(dc);
      const list = await custom('vgpu/snapshots');
      const earlier = list.snapshots.find((s) => s.step > 0 && !s.current)!;
      const got = pixels(await custom('vgpu/surface', { name: 'canvas', snapshot: earlier.id }));
      assert.deepEqual(got, canvasAt(earlier.step, V2));
      assert.notDeepEqual(got, pixels(await custom('vgpu/surface', { name: 'canvas' })));
      assert.equal(await digest(dc), here);
      assert.equal(target?.digest(), here, 'the VM on the target and the replica are still equal');
      await untilStop(dc, dc.nextRequest({ threadId: BCS0 }));
      assert.equal(target?.digest(), await digest(dc), 'and they go on in step');
    } finally {
      await dc.stop();
      dc = await client();
      await host.close();
    }
  });
});
