// The extension's views fed with real adapter replies (dist/adapter.js on examples/picture.vgpu, paused
// at the end of its batch): what the Capability Registers, Page Tables and Snapshots views and the
// Surface panel would show.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { CustomBody } from '../../adapter/protocol';
import { capsNodes } from '../../extension/capsNodes';
import { diffHtml } from '../../extension/diffHtml';
import { snapshotNodes } from '../../extension/snapshotNodes';
import { decodeSurface } from '../../extension/surfaceImage';
import { translationNode } from '../../extension/walkNodes';
import { EXAMPLES, build, client, launch, untilStop } from '../adapter/client';

const PICTURE = path.join(EXAMPLES, 'picture.vgpu');
const END =
  fs
    .readFileSync(PICTURE, 'utf8')
    .split('\n')
    .findIndex((l) => l.includes('MI_BATCH_BUFFER_END')) + 1;

describe('extension views over real adapter replies', function () {
  this.timeout(30_000);
  let dc: DebugClient;
  const request = async <K extends import('../../adapter/protocol').CustomRequestName>(name: K, args: object = {}) =>
    (await dc.customRequest(name, args)).body as CustomBody<K>;

  before(async () => {
    build();
    dc = await client();
    const entry = await launch(dc, { program: PICTURE, hostGen: 3, deviceVersion: 2 }, (c) =>
      c.setBreakpointsRequest({ source: { path: PICTURE }, breakpoints: [{ line: END }] }),
    );
    await untilStop(dc, dc.continueRequest({ threadId: entry.body.threadId ?? 1 }));
  });

  after(async () => {
    await dc?.stop();
  });

  it('Capability Registers: host 3 exposing version 2, with the fields version 2 hides', async () => {
    const nodes = capsNodes(await request('vgpu/caps'));
    assert.equal(nodes[0].label, 'Host generation 3');
    assert.match(nodes[0].description!, /^device version 2 exposed to the VM( · .+)?$/);
    const version = nodes.find((n) => n.label === 'VERSION')!;
    assert.equal(version.description, 'physical 0x3 · exposed 0x2');
    const hidden = nodes
      .flatMap((n) => n.children ?? [])
      .filter((f) => f.icon === 'eye-closed' && /hidden by version 2$/.test(f.description ?? ''));
    assert.ok(hidden.length > 0, 'some field is hidden by version 2');
  });

  it('Page Tables: the canvas VA walks four PPGTT levels, then EPT, to its HPA', async () => {
    const n = translationNode({
      va: '0x1000000',
      view: 'full',
      engine: 'bcs0',
      reply: await request('vgpu/translate', { va: '0x1000000', engine: 'bcs0' }),
    });
    assert.match(n.description!, /^→ GPA 0x400000 → HPA 0x[0-9a-f]+$/);
    assert.deepEqual(
      n.children!.map((c) => c.label.replace(/0x[0-9a-f]+/, 'X')),
      ['PPGTT', 'EPT (full view)', 'HPA X'],
    );
    assert.deepEqual(
      n.children![0].children!.map((c) => c.label.split(' ')[0]),
      ['PML4', 'PDPT', 'PD', 'PT'],
    );
    assert.ok(
      n.children![0].children!.every((c) => c.children?.[0]?.label === 'EPT walk of this table'),
      'each table found through EPT',
    );
    assert.ok(n.children![1].children!.every((c) => c.label.startsWith('EPT ')));
    const fault = translationNode({
      va: '0x5000000',
      view: 'full',
      engine: 'bcs0',
      reply: await request('vgpu/translate', { va: '0x5000000', engine: 'bcs0' }),
    });
    assert.equal(fault.icon, 'error');
    assert.match(fault.description!, /^page-fault: /);
  });

  it('Snapshots: a timeline from the start to now; the diff names the changed surface', async () => {
    const reply = await request('vgpu/snapshots');
    const nodes = snapshotNodes(reply);
    assert.match(nodes[0].label, /^#\d+ at 0 commands$/);
    assert.equal(nodes.at(-1)!.label, `now at ${reply.commands} commands`);
    assert.ok(reply.commands >= 9);
    const { snapshot } = await request('vgpu/snapshot');
    const first = reply.snapshots[0];
    const html = diffHtml(await request('vgpu/diff', { from: first.id, to: snapshot.id }), first, snapshot, 'N');
    assert.match(html, /<td>canvas<\/td><td>[1-9]\d*<\/td>/);
  });

  it('Surface: the finished picture, pixel for pixel', async () => {
    const img = decodeSurface(await request('vgpu/surface', { name: 'canvas' }));
    assert.deepEqual([img.width, img.height], [256, 128]);
    const at = (x: number, y: number) => img.pixels[y * img.width + x].toString(16);
    assert.deepEqual(
      [at(4, 4), at(4, 120), at(18, 58), at(32, 72), at(208, 20)],
      ['ff203060', 'ff2e7d32', 'ffffa000', 'ffd32f2f', 'ffd32f2f'],
    );
  });
});
