// `vgpu triage`: dumps grouped by signature (platform, engine, hung command and batch offset, IPEHR, kind).

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { triage } from '../../emulator/triage';
import { generateDumps } from '../helpers/dumps';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const XE = path.join(ROOT, 'test/fixtures/dumps/xe-timedout-job.devcoredump');

describe('triage: hang dumps grouped by signature', function () {
  this.timeout(60_000);
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-triage-test-'));
    assert.equal(generateDumps(dir, 45, 45), 1); // the last one's zlib is cut short
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds one group per example and platform, with counts, and lists unreadable dumps with their line', () => {
    const files = fs
      .readdirSync(dir)
      .sort()
      .map((f) => ({ file: path.join(dir, f), text: fs.readFileSync(path.join(dir, f), 'utf8') }));
    const r = triage([...files, { file: XE, text: fs.readFileSync(XE, 'utf8') }]);
    assert.equal(r.dumps, 46);
    assert.equal(r.unreadable.length, 1);
    assert.equal(r.unreadable[0].file, path.join(dir, 'dump-00044.err'));
    assert.match(r.unreadable[0].error, /zlib data of buffer .* is truncated or corrupt/);
    assert.ok(r.unreadable[0].line > 0);
    assert.equal(r.groups.length, 21);
    assert.equal(
      r.groups.reduce((s, g) => s + g.count, 0),
      45,
    );
    const hang = r.groups.find((g) => g.key === 'skylake rcs0 MI_SEMAPHORE_WAIT batch+0x0 IPEHR 0x0e00c002 hang')!;
    assert.ok(hang, r.groups.map((g) => g.key).join('\n'));
    assert.equal(hang.count, 3); // dumps 0, 20, 40
    assert.equal(hang.example, path.join(dir, 'dump-00000.err'));
    const pf = r.groups.find((g) => g.signature.kind === 'page-fault' && g.signature.platform === 'kabylake')!;
    assert.deepEqual(pf.signature, {
      platform: 'kabylake',
      engine: 'bcs0',
      command: 'MI_STORE_DATA_IMM',
      offset: 'batch+0x44',
      ipehr: '0x10000002',
      kind: 'page-fault',
    });
    const xe = r.groups.find((g) => g.example === XE)!;
    assert.deepEqual(xe.signature, {
      platform: 'pci-0x56a0',
      engine: 'rcs0',
      command: 'MI_SEMAPHORE_WAIT',
      offset: 'batch+0x1c',
      ipehr: '0x0e00c002',
      kind: 'hang',
    });
    assert.ok(r.groups[0].count >= r.groups[r.groups.length - 1].count, 'largest groups first');
  });

  it('the CLI prints one line per group with a count and an example file; --json the same data', () => {
    const t = spawnSync(process.execPath, [CLI, 'triage', dir], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    const lines = t.stdout.trim().split('\n');
    assert.equal(lines[0], '45 dumps, 20 signatures, 1 unreadable');
    const groupLines = lines.filter((l) => /^\s*\d+  /.test(l));
    assert.equal(groupLines.length, 20);
    assert.ok(groupLines.every((l) => / e\.g\. .*dump-\d{5}\.err$/.test(l)));
    assert.ok(lines.some((l) => l.startsWith(`unreadable: ${path.join(dir, 'dump-00044.err')}:`)));
    const j = spawnSync(process.execPath, [CLI, 'triage', dir, '--json'], { encoding: 'utf8' });
    const r = JSON.parse(j.stdout);
    assert.equal(r.dumps, 45);
    assert.equal(r.groups.length, 20);
    const bad = spawnSync(process.execPath, [CLI, 'triage'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /usage: vgpu triage DUMP/);
  });
});
