// `vgpu caps` end to end: the built CLI's JSON shape, its text table, exit codes and one-line errors.

import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { GENERATIONS } from '../../emulator/capabilities';
import { CAP_REG_DEFS } from '../../emulator/registers';
import { physicalCaps, virtualizeCaps, walkPciCaps, walkPciExtCaps } from '../../emulator/vdev';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function vgpu(...args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, 'caps', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(...args: string[]): any {
  const r = vgpu(...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout.trim().split('\n').length, 1, 'one JSON line');
  return JSON.parse(r.stdout);
}

function assertUsageError(r: Run, message: RegExp): void {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^vgpu: /);
  assert.match(lines[0], message);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, 'no stack trace');
}

describe('vgpu caps (built CLI)', function () {
  this.timeout(60_000);

  before(() => {
    execFileSync(process.execPath, ['esbuild.js'], { cwd: ROOT, stdio: 'pipe', timeout: 60_000 });
  });

  it('--json prints exactly hostGen, deviceVersion, physical and exposed views', () => {
    const out = json();
    assert.deepEqual(Object.keys(out), ['hostGen', 'deviceVersion', 'physical', 'exposed']);
    assert.equal(out.hostGen, 3, 'default host generation');
    assert.equal(out.deviceVersion, 3);
    for (const v of [out.physical, out.exposed]) {
      assert.deepEqual(Object.keys(v), ['registers', 'pci']);
      assert.deepEqual(
        Object.keys(v.registers),
        CAP_REG_DEFS.map((r) => r.name),
        'all capability registers, in table order',
      );
      for (const x of Object.values(v.registers)) assert.match(x as string, /^0x[0-9a-f]+$/);
      assert.deepEqual(Object.keys(v.pci), ['capabilities', 'extended']);
      for (const e of [...v.pci.capabilities, ...v.pci.extended]) assert.deepEqual(Object.keys(e), ['id', 'offset']);
    }
    assert.deepEqual(
      out.exposed.pci.capabilities.map((e: { id: number }) => e.id),
      [0x01, 0x05, 0x10, 0x09],
    );
    assert.deepEqual(
      out.exposed.pci.extended.map((e: { id: number }) => e.id),
      [0x0f, 0x1b, 0x13],
    );
  });

  for (const g of GENERATIONS) {
    for (const v of GENERATIONS) {
      it(`--host-gen ${g} --device-version ${v}: ${v <= g ? 'the exposed view is a version-' + v + ' device' : 'exit 2'}`, () => {
        if (v > g) {
          assertUsageError(
            vgpu('--host-gen', String(g), '--device-version', String(v), '--json'),
            new RegExp(`device version ${v} is newer than this host's GPU \\(generation ${g}\\)`),
          );
          return;
        }
        const out = json('--host-gen', String(g), '--device-version', String(v));
        assert.equal(out.hostGen, g);
        assert.equal(out.deviceVersion, v);
        const hex = (d: ReturnType<typeof physicalCaps>) =>
          Object.fromEntries([...d.registers].map(([k, x]) => [k, '0x' + x.toString(16)]));
        assert.deepEqual(out.physical.registers, hex(physicalCaps(g)));
        assert.deepEqual(out.exposed.registers, hex(physicalCaps(v)));
        assert.deepEqual(out.exposed.registers, hex(virtualizeCaps(physicalCaps(g), v)));
        assert.deepEqual(out.physical.pci, {
          capabilities: walkPciCaps(physicalCaps(g).config),
          extended: walkPciExtCaps(physicalCaps(g).config),
        });
        assert.deepEqual(out.exposed.pci, {
          capabilities: walkPciCaps(physicalCaps(v).config),
          extended: walkPciExtCaps(physicalCaps(v).config),
        });
        assert.equal(out.exposed.registers.VERSION, `0x${v}`);
      });
    }
  }

  it('--pool selects its oldest generation; without a version the host generation is exposed', () => {
    assert.equal(json('--pool', '3,2,3').deviceVersion, 2);
    assert.equal(json('--host-gen', '2', '--pool', '1,2').deviceVersion, 1);
    assert.equal(json('--host-gen', '1').deviceVersion, 1);
    assert.equal(json('--host-gen', '2').exposed.registers.GENCAP, '0x40035b');
  });

  it('text mode: registers with decoded GENCAP fields and both PCI lists, side by side', () => {
    const r = vgpu('--host-gen', '3', '--device-version', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /physical \(gen3\)\s+exposed \(version 2\)/);
    assert.match(r.stdout, /0x08 GENCAP\s+0x00000000020003ff\s+0x000000000040035b\s+<- virtualized/);
    assert.match(r.stdout, /PAGE_1G \(bit 2\)\s+yes\s+-\s+<- virtualized/);
    assert.match(r.stdout, /MAX_RING_PAGES \(31:16\)\s+512\s+64\s+<- virtualized/);
    assert.match(r.stdout, /MI_ATOMIC\s+yes\s+-/);
    assert.match(r.stdout, /0x09 Vendor-Specific\s+at 0xa0\s+at 0xa0\n/);
    assert.match(r.stdout, /0x000f ATS\s+at 0x100\s+at 0x100\n/);
    assert.match(r.stdout, /0x001b PASID\s+at 0x108\s+- \(unlinked, reads 0\)\s+<- virtualized/);
    const same = vgpu('--host-gen', '2');
    assert.equal(same.code, 0);
    assert.doesNotMatch(same.stdout, /virtualized/, 'nothing is masked when the version is the host generation');
  });

  const bad: [string[], RegExp][] = [
    [['--device-version', '4'], /device version 4 does not exist/],
    [['--device-version', '0'], /device version 0 does not exist/],
    [['--device-version', 'two'], /--device-version: 'two' is not an integer/],
    [['--host-gen', '4'], /--host-gen: generation 4 does not exist/],
    [['--host-gen', '3x'], /--host-gen: '3x' is not an integer/],
    [['--pool', '2,x'], /--pool: 'x' is not an integer/],
    [['--pool', '2,5'], /--pool: '5' is not a GPU generation/],
    [['--pool', '2,,3'], /--pool: '2,,3' has an empty entry/],
    [['--host-gen', '2', '--pool', '3'], /device version 3 is newer than this host's GPU \(generation 2\)/],
    [['--device-version', '1', '--pool', '2'], /--device-version and --pool are exclusive/],
    [['--colour'], /--colour/],
    [['extra'], /caps takes no arguments/],
  ];
  for (const [args, message] of bad) {
    it(`${args.join(' ')}: one line on stderr, exit 2`, () => {
      assertUsageError(vgpu(...args), message);
      assertUsageError(vgpu(...args, '--json'), message);
    });
  }
});
