// The `vgpu` command line as a user runs it: exit codes, JSON shapes, PNGs, errors with carets.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const ex = (f: string) => path.join(ROOT, 'examples', f);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-cli-'));

function vgpu(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('vgpu CLI', () => {
  before(function () {
    this.timeout(120000);
    const b = spawnSync(process.execPath, [path.join(ROOT, 'esbuild.js')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
  });

  it('run --json prints the SPEC result object', () => {
    const r = vgpu('run', ex('picture.vgpu'), '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(Object.keys(j), [
      'status',
      'commands',
      'cycles',
      'errors',
      'snapshots',
      'surfaces',
      'memorySha256',
      'commandCounts',
      'notEmulated',
    ]);
    assert.equal(j.status, 'completed');
    assert.deepEqual(Object.keys(j.surfaces).sort(), ['canvas', 'tile']);
    assert.match(j.memorySha256, /^[0-9a-f]{64}$/);
  });

  it('a rolled-back error is recovered (exit 0); --no-auto-rollback stops with exit 1', () => {
    const a = vgpu('run', ex('page-fault.vgpu'), '--json');
    assert.equal(a.code, 0);
    const e = JSON.parse(a.out).errors[0];
    assert.deepEqual(Object.keys(e), [
      'kind',
      'engine',
      'file',
      'line',
      'commandVa',
      'faultAddress',
      'message',
      'rolledBack',
    ]);
    assert.equal(e.rolledBack, true);
    const b = vgpu('run', ex('page-fault.vgpu'), '--json', '--no-auto-rollback');
    assert.equal(b.code, 1);
    assert.equal(JSON.parse(b.out).status, 'error');
    const t = vgpu('run', ex('page-fault.vgpu'), '--no-auto-rollback');
    assert.match(t.out, /page-fault on bcs0/);
    assert.match(t.out, /\n\s+\^/);
  });

  it('a GPU error at a command with no source line is reported without a line 0 (the program fuzz: a batch run off its end printed FILE:0:)', () => {
    const f = path.join(tmp, 'off-the-end.vgpu');
    fs.writeFileSync(
      f,
      [
        '.vm memory=64M',
        '.map 0x100000, 0x100000, 64K, rw',
        '.batch b, 0x100000',
        '    MI_NOOP',
        '.ring rcs0',
        '    MI_BATCH_BUFFER_START addr=b',
        '.submit rcs0',
        '.wait rcs0',
        '',
      ].join('\n'),
    );
    const r = vgpu('run', f);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /off-the-end\.vgpu: page-fault on rcs0 at GPU VA 0x110000 \(no source line\) \(rolled back, submission skipped\)\n/,
    );
    assert.doesNotMatch(r.out, /:0:/);
  });

  it('--png writes the surface', () => {
    const out = path.join(tmp, 'canvas.png');
    assert.equal(vgpu('run', ex('picture.vgpu'), '--png', `canvas=${out}`).code, 0);
    const png = PNG.sync.read(fs.readFileSync(out));
    assert.equal(png.width, 256);
    assert.equal(png.height, 128);
    assert.deepEqual([...png.data.subarray(0, 4)], [0x20, 0x30, 0x60, 0xff]);
  });

  it('bad input: exit 2 with one line, never a stack trace', () => {
    for (const args of [
      ['run'],
      ['run', 'nope.vgpu'],
      ['run', ex('picture.vgpu'), '--memory', 'lots'],
      ['run', ex('picture.vgpu'), '--device-version', '4'],
      ['run', ex('picture.vgpu'), '--host-gen', '2', '--device-version', '3'],
      ['run', ex('picture.vgpu'), '--png', 'nosuch=x.png'],
      ['run', ex('picture.vgpu'), '--bogus'],
      ['frobnicate'],
    ]) {
      const r = vgpu(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.doesNotMatch(r.err, /at .*\.js:\d+/);
    }
  });

  it('an assembly error prints FILE:LINE:COL with the line and a caret, exit 2', () => {
    const f = path.join(tmp, 'bad.vgpu');
    fs.writeFileSync(
      f,
      '.map 0x100000, 0x100000, 4K, rw\n.batch b, 0x100000\n  MI_STORE_DATA_IMM addr=0x100000, dta=1\n  MI_FROB\n',
    );
    const r = vgpu('run', f);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: error: .*dta`));
    assert.match(r.err, /:4:\d+: error: .*MI_FROB/);
    assert.match(r.err, /\n\s+\^/);
  });

  it('checkpoint and resume give the plain result; a corrupted checkpoint is refused with exit 2', () => {
    const ck = path.join(tmp, 'p.ckpt');
    assert.equal(vgpu('run', ex('semaphore-handoff.vgpu'), '--checkpoint-at', '3', '--save', ck).code, 0);
    const resumed = JSON.parse(vgpu('resume', ck, '--json').out);
    const plain = JSON.parse(vgpu('run', ex('semaphore-handoff.vgpu'), '--json').out);
    assert.equal(resumed.memorySha256, plain.memorySha256);
    const buf = fs.readFileSync(ck);
    buf[buf.length - 50] ^= 1;
    fs.writeFileSync(ck, buf);
    const r = vgpu('resume', ck);
    assert.equal(r.code, 2);
    assert.match(r.err, /checksum/);
  });

  it('translate shows every step and the fault', () => {
    const ok = JSON.parse(vgpu('translate', ex('picture.vgpu'), '0x1000010', '--json').out);
    assert.equal(ok.ok, true);
    assert.equal(ok.gpa, '0x400010');
    assert.deepEqual(
      ok.steps.map((s: { level: string }) => s.level),
      ['PML4', 'PDPT', 'PD', 'PT', 'EPT'],
    );
    const bad = vgpu('translate', ex('isolation-violation.vgpu'), '0x200000', '--view', 'restricted');
    assert.equal(bad.code, 1);
    assert.match(bad.out, /isolation-violation/);
  });
});
