// What the extension's views and pages show, from `vgpu/...` replies: the models behind the Snapshots,
// Capability Registers, Page Tables and Pipeline State trees, the Surface page and PNG, the snapshot diff and F5 resolution.

import * as assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import type { CustomBody, SnapshotInfo } from '../../adapter/protocol';
import { capsNodes } from '../../extension/capsNodes';
import { diffHtml, rangeText } from '../../extension/diffHtml';
import { initialConfiguration, resolveLaunch } from '../../extension/launchConfig';
import { snapshotNodes } from '../../extension/snapshotNodes';
import { contentSecurityPolicy, surfaceHtml } from '../../extension/surfaceHtml';
import { decodeSurface, encodePng } from '../../extension/surfaceImage';
import { bytes, hex } from '../../extension/treeNode';
import { parseTranslateInput, translationNode } from '../../extension/walkNodes';
import { pipelineNodes } from '../../extension/pipelineNodes';
import type { PipelineStateInfo } from '../../adapter/protocol';

const snap = (id: number, step: number, extra: Partial<SnapshotInfo> = {}): SnapshotInfo => ({
  id,
  step,
  commands: step,
  reason: 'periodic',
  engine: 'rcs0',
  pages: 2,
  bytes: 8192 + 64,
  current: false,
  ...extra,
});

describe('extension: Snapshots view model', () => {
  it('is a timeline, oldest first, with "now" placed where the VM is', () => {
    const nodes = snapshotNodes({
      snapshots: [snap(3, 30), snap(1, 0, { reason: 'start', engine: null }), snap(2, 10)],
      start: 0,
      total: 3,
      step: 12,
      commands: 12,
    });
    assert.deepEqual(
      nodes.map((n) => n.label),
      ['#1 at 0 commands', '#2 at 10 commands', 'now at 12 commands', '#3 at 30 commands'],
    );
    assert.equal(nodes[0].description, 'start · driver · 2 pages · 8.1 KiB');
    assert.equal(nodes[1].command?.command, 'vgpu.rollbackToSnapshot');
    assert.equal((nodes[1].command?.arguments?.[0] as SnapshotInfo).id, 2);
    assert.equal(nodes[1].contextValue, 'snapshot');
    assert.equal(nodes[2].contextValue, 'now');
    assert.equal(
      nodes[1].tooltip,
      'Snapshot #2: step 10, 10 commands executed; taken periodically (every snapshotEvery commands) on rcs0; keeps the before-images of 2 pages written after it, 8256 bytes.\nClick to roll the VM back to it.',
    );
    const trail = snapshotNodes({
      snapshots: [snap(4, 5, { reason: 'reverse', engine: null })],
      start: 0,
      total: 1,
      step: 9,
      commands: 9,
    });
    assert.match(String(trail[0].tooltip), /taken by a backward move, so the next steps back replay little;/);
  });

  it('puts "now" last when no snapshot is later', () => {
    const nodes = snapshotNodes({ snapshots: [snap(1, 0)], start: 0, total: 1, step: 5, commands: 4 });
    assert.equal(nodes.at(-1)!.label, 'now at 4 commands');
  });

  it('shows the newest window; older snapshots are fetched a group at a time when expanded', async () => {
    const total = 70_000;
    const asked: [number, number][] = [];
    const load = async (start: number, count: number) => {
      asked.push([start, count]);
      return {
        snapshots: Array.from({ length: count }, (_, k) => snap(start + k, (start + k) * 10)),
        start,
        total,
        step: total * 10,
        commands: total * 10,
      };
    };
    const newest = await load(total - 100, 100);
    asked.length = 0;
    const nodes = snapshotNodes(newest, load);
    assert.deepEqual([nodes[0].label, nodes[0].description], ['69900 older snapshots', 'of 70000 kept']);
    assert.equal(nodes.length, 1 + 100 + 1, 'the older group, the window, now');
    assert.deepEqual(asked, [], 'nothing fetched before a group is expanded');
    const top = await nodes[0].loadChildren!();
    assert.ok(top.length <= 256 && top.every((n) => n.loadChildren), `${top.length} groups`);
    assert.deepEqual([top[0].label, top.at(-1)!.label], ['snapshots 1–65536', 'snapshots 65537–69900']);
    const groups = await top[0].loadChildren!();
    assert.equal(groups.length, 256);
    assert.equal(groups[1].label, 'snapshots 257–512');
    const leaves = await groups[1].loadChildren!();
    assert.deepEqual(asked, [[256, 256]], 'one window, of the group expanded');
    assert.deepEqual(
      [leaves.length, leaves[0].label, leaves[0].contextValue],
      [256, '#256 at 2560 commands', 'snapshot'],
    );
    const few = snapshotNodes({ ...newest, start: 3 }, load);
    assert.deepEqual(
      (await few[0].loadChildren!()).map((n) => n.label),
      ['#0 at 0 commands', '#1 at 10 commands', '#2 at 20 commands'],
    );
    assert.equal(snapshotNodes(newest)[0].label, '#69900 at 699000 commands', 'without a loader, the window alone');
  });
});

describe('extension: Capability Registers view model', () => {
  const caps: CustomBody<'vgpu/caps'> = {
    hostGen: 3,
    deviceVersion: 2,
    physical: {
      registers: { VERSION: '0x3', GENCAP: '0x1f' },
      pci: {
        capabilities: [
          { id: 0x10, offset: 0x40 },
          { id: 0x11, offset: 0x50 },
        ],
        extended: [],
      },
    },
    exposed: {
      registers: { VERSION: '0x2', GENCAP: '0xf' },
      pci: { capabilities: [{ id: 0x10, offset: 0x40 }], extended: [] },
    },
    fields: [
      { register: 'VERSION', field: 'MAJOR', bits: '7:0', physical: 3, exposed: 2, hidden: true },
      { register: 'GENCAP', field: 'PAGE_1G', bits: '4', physical: 1, exposed: 0, hidden: true },
      { register: 'GENCAP', field: 'PAGE_2M', bits: '3', physical: 1, exposed: 1, hidden: false },
    ],
  };

  it('shows each register physical and exposed, each field with what the version hides', () => {
    const nodes = capsNodes(caps);
    assert.equal(nodes[0].label, 'Host generation 3');
    assert.equal(nodes[0].description, 'device version 2 exposed to the VM');
    assert.equal(
      capsNodes({ ...caps, host: '127.0.0.1:7700, generation 3' } as typeof caps)[0].description,
      'device version 2 exposed to the VM · 127.0.0.1:7700, generation 3',
      'where the VM runs, when the adapter says',
    );
    const version = nodes.find((n) => n.label === 'VERSION')!;
    assert.equal(version.description, 'physical 0x3 · exposed 0x2');
    assert.deepEqual(
      version.children!.map((f) => f.description),
      ['physical 3 · exposed 2 · lowered for version 2'],
    );
    const gencap = nodes.find((n) => n.label === 'GENCAP')!;
    assert.equal(gencap.description, 'physical 0x1f · exposed 0xf · 1 hidden');
    assert.deepEqual(
      gencap.children!.map((f) => [f.label, f.description, f.icon]),
      [
        ['PAGE_1G [4]', 'physical 1 · exposed 0 · hidden by version 2', 'eye-closed'],
        ['PAGE_2M [3]', 'physical 1 · exposed 1', 'eye'],
      ],
    );
    const pci = nodes.find((n) => n.label === 'PCI capabilities')!;
    assert.equal(pci.description, '1 of 2 exposed');
    assert.deepEqual(
      pci.children!.map((c) => c.description),
      ['physical · exposed', 'physical · hidden'],
    );
  });
});

describe('extension: Page Tables view model', () => {
  // Shaped as the adapter sends them: each PPGTT step carries the EPT walk that found its table, and the
  // final GPA's EPT walk is one `EPT` step whose `ept` list holds the levels.
  const ept = (pd: number) => [
    { level: 'PML4', table: '0x10000000', index: 0, entry: '0x0000000010001007', flags: 'RWX' },
    { level: 'PD', table: '0x10002000', index: pd, entry: '0x00000100004000b7', flags: 'RWX mt=6 large' },
  ];
  const step = (level: string, index: number) => ({
    level,
    table: '0x3fff000',
    index,
    entry: '0x0000000003ffe007',
    flags: 'P RW US',
    ept: ept(31),
  });
  const final = {
    level: 'EPT',
    table: '0x10000000',
    index: -1,
    entry: '0x0000000000000000',
    flags: 'GPA 0x400000',
    ept: ept(2),
  };

  it('parses an address with optional view and engine', () => {
    assert.deepEqual(parseTranslateInput(' 0x30_0000 restricted BCS0 '), {
      va: '0x30_0000',
      view: 'restricted',
      engine: 'bcs0',
    });
    assert.deepEqual(parseTranslateInput('1M'), { va: '1M', view: 'full', engine: 'rcs0' });
    assert.match(parseTranslateInput('zz') as string, /not an address/);
    assert.match(parseTranslateInput('0x1000 sideways') as string, /neither/);
  });

  it('shows the PPGTT steps, each with its EPT walk, then the EPT walk of the GPA and the HPA', () => {
    const n = translationNode({
      va: '0x200000',
      view: 'full',
      engine: 'rcs0',
      reply: {
        ok: true,
        gpa: '0x200000',
        hpa: '0x10000200000',
        steps: [step('PML4', 0), step('PDPT', 0), step('PD', 1), step('PT', 0), final],
      },
    });
    assert.equal(n.description, '→ GPA 0x200000 → HPA 0x10000200000');
    assert.deepEqual(
      n.children!.map((c) => c.label),
      ['PPGTT', 'EPT (full view)', 'HPA 0x10000200000'],
    );
    assert.deepEqual(
      n.children![0].children!.map((c) => c.label),
      ['PML4 [0]', 'PDPT [0]', 'PD [1]', 'PT [0]'],
    );
    const tableWalk = n.children![0].children![0].children![0];
    assert.equal(tableWalk.label, 'EPT walk of this table');
    assert.deepEqual(
      tableWalk.children!.map((c) => [c.label, c.description]),
      [
        ['EPT PML4 [0]', '0x0000000010001007 RWX'],
        ['EPT PD [31]', '0x00000100004000b7 RWX mt=6 large'],
      ],
    );
    assert.deepEqual(
      n.children![1].children!.map((c) => c.label),
      ['EPT PML4 [0]', 'EPT PD [2]'],
    );
  });

  it('shows a fault with its kind and reason', () => {
    const n = translationNode({
      va: '0x200008',
      view: 'full',
      engine: 'bcs0',
      reply: {
        ok: false,
        fault: { kind: 'page-fault', reason: 'PT entry not present' },
        steps: [step('PML4', 0), step('PT', 0)],
      },
    });
    assert.equal(n.description, 'page-fault: PT entry not present');
    assert.equal(n.icon, 'error');
    assert.deepEqual(n.children!.at(-1)!.label, 'page-fault');
    assert.equal(new Set(collectIds(n)).size, collectIds(n).length, 'tree item ids are unique');
  });
});

function collectIds(n: { id?: string; children?: readonly any[] }): string[] {
  return [...(n.id ? [n.id] : []), ...(n.children ?? []).flatMap(collectIds)];
}

describe('extension: Pipeline State view model', () => {
  // Shaped as `vgpu/pipelineState` answers (see test/adapter/pipeline.test.ts for the adapter side).
  const rcs0: PipelineStateInfo = {
    engine: 'rcs0',
    retired: 6,
    lastDraw: null,
    commands: [
      {
        mnemonic: '3DSTATE_VS',
        group: '3D pipeline',
        va: '0x000000100068',
        at: 4,
        first: false,
        sinceDraw: true,
        changed: 1,
        fields: [
          {
            name: 'kernel_start_pointer',
            value: '0x0000000000000080',
            placement: 'DW1-2 bits 63:6',
            description: 'Kernel Start Pointer',
            changed: true,
            previous: '0x0000000000000040',
          },
          { name: 'enable', value: '1', placement: 'DW7 bit 0', description: 'Enable', changed: false },
        ],
      },
      {
        mnemonic: 'STATE_BASE_ADDRESS',
        group: 'common',
        va: '0x000000100004',
        at: 2,
        first: true,
        sinceDraw: false,
        changed: 0,
        fields: [
          {
            name: 'general_state_base_address',
            value: '0x000000100000',
            placement: 'DW1-2 bits 63:12',
            description: 'General State Base Address',
            changed: false,
            va: '0x000000100000',
            gpa: '0x0000100000',
          },
          {
            name: 'instruction_base_address',
            value: '0x0000007f0000',
            placement: 'DW10-11 bits 63:12',
            description: 'Instruction Base Address',
            changed: false,
            va: '0x0000007f0000',
            gpa: null,
            walk: 'PT[16] is not present',
          },
        ],
      },
    ],
  };
  const empty: PipelineStateInfo = { engine: 'bcs0', retired: 0, lastDraw: null, commands: [] };

  it('groups commands per engine, dots what changed and what was set since the last draw, resolves addresses', () => {
    const nodes = pipelineNodes([rcs0, empty]);
    assert.deepEqual(
      nodes.map((n) => n.label),
      ['rcs0'],
      'an engine without state is left out',
    );
    assert.equal(nodes[0].description, '2 state commands · no draw yet');
    const groups = nodes[0].children!;
    assert.deepEqual(
      groups.map((g) => [g.label, g.description]),
      [
        ['3D pipeline', '1 command · 1 since the last draw'],
        ['common', '1 command'],
      ],
    );
    const vs = groups[0].children![0];
    assert.deepEqual(
      [vs.label, vs.description, vs.icon, vs.iconColor],
      ['3DSTATE_VS', '1 changed · t=4 · since the last draw', 'circle-filled', 'charts.orange'],
    );
    const [ksp, enable] = vs.children!;
    assert.equal(ksp.description, '0x0000000000000080 · was 0x0000000000000040');
    assert.equal(ksp.icon, 'circle-filled');
    assert.equal(enable.iconColor, undefined);
    const sba = groups[1].children![0];
    assert.equal(sba.iconColor, undefined);
    assert.deepEqual(
      sba.children!.map((f) => f.description),
      ['0x000000100000 → GPA 0x0000100000', '0x0000007f0000 → not mapped'],
    );
    assert.match(String(sba.children![1].tooltip), /PT\[16\] is not present/);
  });

  it('says so when no engine has state yet', () => {
    assert.deepEqual(
      pipelineNodes([empty]).map((n) => n.label),
      ['No pipeline state yet'],
    );
  });
});

describe('extension: Surface', () => {
  const argb = [0xff203060, 0xffd32f2f, 0x00ffa000, 0xff2e7d32];
  const reply = {
    name: 'canvas',
    width: 2,
    height: 2,
    pixels: Buffer.from(Uint32Array.from(argb).buffer).toString('base64'),
  };

  it('decodes little-endian ARGB dwords and saves an opaque RGB PNG', () => {
    const img = decodeSurface(reply);
    assert.deepEqual([...img.pixels], argb);
    const png = PNG.sync.read(encodePng(img));
    assert.equal(png.width, 2);
    assert.deepEqual([...png.data.subarray(0, 8)], [0x20, 0x30, 0x60, 0xff, 0xd3, 0x2f, 0x2f, 0xff]);
    assert.deepEqual([...png.data.subarray(8, 12)], [0xff, 0xa0, 0x00, 0xff], 'alpha is not shown');
  });

  it('refuses pixels that do not match the size', () => {
    assert.throws(() => decodeSurface({ ...reply, width: 3 }), /expected 24/);
  });

  it('has a strict Content-Security-Policy: nonce-only script and style, nothing remote', () => {
    const csp = contentSecurityPolicy('https://webview.example', 'N0NCE');
    assert.equal(
      csp,
      "default-src 'none'; img-src https://webview.example data:; style-src 'nonce-N0NCE'; script-src 'nonce-N0NCE'",
    );
    const html = surfaceHtml('https://webview.example', 'N0NCE');
    assert.ok(html.includes(`content="${csp}"`));
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.equal(scripts.length, 1);
    assert.equal(scripts[0][1].trim(), 'nonce="N0NCE"');
    assert.doesNotThrow(() => new Function(scripts[0][2]), 'the inlined webview script parses');
    assert.ok(!/\bsrc="http|href="http|style="/.test(html), 'no remote content, no inline style attributes');
    assert.ok(html.includes('var(--vscode-editor-background)'), 'theme colours');
  });
});

describe('extension: Compare Snapshots page', () => {
  const window = {
    registers: [],
    pages: [],
    surfaces: [],
    start: 0,
    totalPages: 0,
    more: 0,
    changedBytes: 0,
    token: 'diff-1',
  };

  it('lists registers old/new, changed byte ranges of pages and surfaces, escaped', () => {
    const html = diffHtml(
      {
        ...window,
        registers: [{ name: 'CS_GPR0', old: '0x0', new: '0x1' }],
        pages: [
          {
            gpa: '0x10f000',
            ranges: [
              [0, 4],
              [8, 9],
            ],
            bytes: 5,
          },
        ],
        surfaces: [{ name: 'canvas<1>', changedPixels: 1024, width: 64, height: 16 }],
        totalPages: 1,
        changedBytes: 5,
      },
      snap(1, 0),
      snap(2, 10),
      'N',
      [],
    );
    assert.match(html, /CS_GPR0<\/td><td><code class="old">0x0<\/code><\/td><td><code class="new">0x1/);
    assert.ok(
      html.includes('<td><code>0x10f000</code></td><td>5</td><td><code>0x0..0x3</code><br><code>0x8..0x8</code></td>'),
    );
    assert.ok(html.includes('5 bytes changed in 1 page'));
    assert.ok(html.includes('canvas&#60;1&#62;') && html.includes('1024'));
    assert.ok(!html.includes('<script') && !html.includes('command:'), 'one window holds every page: no links');
    assert.equal(rangeText([0x10, 0x20]), '0x10..0x1f');
  });

  it('shows a window of the changed pages, with links to the previous and next windows', () => {
    const page = (k: number) => ({
      gpa: `0x${(0x400000 + k * 4096).toString(16)}`,
      ranges: [[3, 4096]] as [number, number][],
      bytes: 1024,
    });
    const diff = {
      ...window,
      pages: Array.from({ length: 500 }, (_, k) => page(500 + k)),
      start: 500,
      totalPages: 262_145,
      more: 261_145,
      changedBytes: 268_435_460,
      token: 'diff-7',
    };
    const html = diffHtml(diff, snap(1, 0), snap(2, 10), 'N', []);
    assert.ok(html.includes('<h2>Pages (262,145)</h2>') && html.includes('268,435,460 bytes changed in 262,145 pages'));
    assert.ok(html.includes('pages 501–1,000 of 262,145'));
    const links = [...html.matchAll(/<a href="command:vgpu\.snapshotDiffPage\?([^"]+)">([^<]+)<\/a>/g)].map((m) => [
      JSON.parse(decodeURIComponent(m[1])),
      m[2],
    ]);
    assert.deepEqual(links.slice(0, 2), [
      [['diff-7', 0], '← previous'],
      [['diff-7', 1000], 'next 500 →'],
    ]);
    assert.equal([...html.matchAll(/<tr><td><code>0x/g)].length, 500);
  });

  it("draws each surface at both snapshots side by side, as PNG data URIs the page's CSP allows", () => {
    const img = (fill: number, width = 4, height = 2) => ({
      name: 'tile',
      width,
      height,
      pixels: new Uint32Array(width * height).fill(fill),
    });
    const diff = {
      ...window,
      surfaces: [
        { name: 'tile', changedPixels: 8, width: 4, height: 2 },
        { name: 'huge', changedPixels: 3, width: 4096, height: 4096 },
      ],
    };
    const html = diffHtml(diff, snap(1, 0), snap(2, 10), 'N', [
      { name: 'tile', from: img(0xff000000), to: img(0xffd32f2f) },
    ]);
    assert.match(html, /content="default-src 'none'; img-src data:; style-src 'nonce-N'"/);
    assert.ok(html.includes('<td>tile</td><td>8</td>'), 'the changed-pixel table stays');
    assert.ok(html.includes('tile · 8 changed pixels'));
    const imgs = [
      ...html.matchAll(/<img src="data:image\/png;base64,([^"]+)" width="(\d+)" height="(\d+)" alt="([^"]+)">/g),
    ];
    assert.deepEqual(
      imgs.map((m) => [m[2], m[3], m[4]]),
      [
        ['256', '128', '#1'],
        ['256', '128', '#2'],
      ],
      'old then new, small surfaces zoomed',
    );
    const first = (m: RegExpMatchArray) => PNG.sync.read(Buffer.from(m[1], 'base64')).data.subarray(0, 4);
    assert.deepEqual([...first(imgs[0])], [0, 0, 0, 255]);
    assert.deepEqual([...first(imgs[1])], [0xd3, 0x2f, 0x2f, 255]);
    assert.ok(html.includes('#1 · 4×2') && html.includes('#2 · 4×2'));
    assert.ok(!html.includes('<script') && !/style="/.test(html), 'no script, no inline style attributes');
    const missing = diffHtml(diff, snap(1, 0), snap(2, 10), 'N', 'no kept snapshot #2');
    assert.ok(
      missing.includes('Surfaces cannot be drawn: no kept snapshot #2') && missing.includes('<td>tile</td><td>8</td>'),
    );
    assert.ok(
      html.includes(
        'huge · 3 changed pixels</h3><p class="empty">4096×4096 is too large to draw on this page: the Surface panel shows it.</p>',
      ),
      'a surface not drawn says where to see it',
    );
  });
});

describe('extension: F5 without launch.json', () => {
  const editor = { languageId: 'vgpu', fileName: '/ws/picture.vgpu' };

  it('debugs the open .vgpu file', () => {
    assert.deepEqual(resolveLaunch({}, editor), { config: { ...initialConfiguration(), program: '/ws/picture.vgpu' } });
  });

  it('fills a missing program from the editor, and says why when there is none', () => {
    assert.deepEqual(resolveLaunch({ type: 'vgpu', request: 'launch', name: 'x' }, editor), {
      config: { type: 'vgpu', request: 'launch', name: 'x', program: '/ws/picture.vgpu' },
    });
    assert.match(
      (resolveLaunch({}, { languageId: 'markdown', fileName: '/ws/README.md' }) as { error: string }).error,
      /Open a \.vgpu program/,
    );
    assert.match(
      (resolveLaunch({ type: 'vgpu', request: 'launch', name: 'x' }, undefined) as { error: string }).error,
      /no "program"/,
    );
  });

  it('keeps a launch.json configuration as written', () => {
    const c = { type: 'vgpu', request: 'launch', name: 'x', program: '${workspaceFolder}/a.vgpu', hostGen: 2 };
    assert.deepEqual(resolveLaunch(c, undefined), { config: c });
  });

  it('formats numbers and sizes as the views show them', () => {
    assert.deepEqual(
      [hex(9), hex(31), bytes(100), bytes(8256), bytes(3 * 1024 * 1024)],
      ['9', '0x1f', '100 B', '8.1 KiB', '3.0 MiB'],
    );
  });
});
