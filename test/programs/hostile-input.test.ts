// The CLI given files that are not programs, or programs built to flood it: every answer is bounded,
// one line where the file is not a program at all, exit 2, and quick.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { MAX_DIAGNOSTICS, LINE_WINDOW, SourceLines, excerpt, formatDiagnostics } from '../../emulator/cli/diagnostics';
import { assembleSource } from '../../emulator/assembler';
import { prng } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const CAPTURES = '/work/shared/captures';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-hostile-'));

function vgpu(...args: string[]) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 20000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', ms: performance.now() - t, signal: r.signal };
}

function file(name: string, data: string | Buffer): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, data);
  return f;
}

/** A refusal: exit 2, one line on stderr naming the file, nothing on stdout, well under 4 KB. */
function assertRefused(r: ReturnType<typeof vgpu>, what: RegExp): void {
  assert.equal(r.signal, null, 'killed by the timeout');
  assert.equal(r.code, 2, r.err.slice(0, 500));
  assert.equal(r.out, '');
  assert.ok(r.out.length + r.err.length < 4096, `${r.err.length} bytes printed`);
  assert.equal(r.err.trimEnd().split('\n').length, 1, r.err.slice(0, 500));
  assert.doesNotMatch(r.err, /internal error|\n\s+at /);
  assert.match(r.err, what);
}

describe('hostile input files', () => {
  before(function () {
    this.timeout(120000);
    const b = spawnSync(process.execPath, [path.join(ROOT, 'esbuild.js')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
  });

  it('random bytes: one line, exit 2 (20 seeds, 1 B to 1 MiB)', function () {
    this.timeout(120000);
    const rnd = prng(0x17);
    for (let i = 0; i < 20; i++) {
      const n = i === 0 ? 1 : Math.floor(2 ** (rnd() * 20));
      const buf = Buffer.alloc(n);
      for (let k = 0; k < n; k++) buf[k] = Math.floor(rnd() * 256);
      // A single random byte may be printable text; then it is a (bad) program with a bounded report.
      const r = vgpu('run', file(`random-${i}.bin`, buf));
      assert.equal(r.code, 2);
      assert.ok(r.out.length + r.err.length < 4096, `seed ${i}: ${r.err.length} bytes printed`);
      if (n > 16) assertRefused(r, /binary file|not UTF-8|is an? /);
    }
  });

  it('an AUB capture, gzipped and not: `vgpu run` opens it (issue 12), a broken one is one line with its byte offset; `vgpu asm` names it', function () {
    // A memtrace version packet as today's AUB files open with, then garbage where the next block should be.
    const head = Buffer.alloc(64);
    head.writeUInt32LE(0xf70e0009, 0);
    head.write('PCI-ID=0x1912 x', 20, 'latin1');
    assertRefused(vgpu('run', file('made.aub', head)), /made\.aub: byte \d+: /);
    assertRefused(vgpu('asm', file('made.aub', head)), /is an AUB capture/);
    assertRefused(
      vgpu('run', file('made.aub.gz', zlib.gzipSync(head))),
      /made\.aub\.gz(: byte \d+:| is a gzip-compressed file)/,
    );
    // The real captures beside the project, where present (a clean clone has none): they run.
    if (!fs.existsSync(CAPTURES)) return;
    for (const name of fs.readdirSync(CAPTURES).filter((f) => f.endsWith('.aub.gz'))) {
      const gz = path.join(CAPTURES, name);
      const aub = file(name.replace(/\.gz$/, ''), zlib.gunzipSync(fs.readFileSync(gz)));
      for (const f of [gz, aub]) {
        const r = vgpu('run', f, '--json');
        assert.ok(r.code === 0 || r.code === 1, `${name}: exit ${r.code}`);
        assert.equal(JSON.parse(r.out).capture.format, 'aub');
        assert.ok(r.ms < 5000, `${r.ms} ms`);
      }
      assertRefused(vgpu('asm', aub), /AUB capture/);
    }
  });

  it('100k NUL bytes, invalid UTF-8, a checkpoint and an i915 error state: each refused by type', function () {
    this.timeout(60000);
    const nul = vgpu('run', file('zeros.vgpu', Buffer.alloc(100000)));
    assertRefused(nul, /binary file \(NUL byte at offset 0\)/);
    assert.ok(nul.ms < 5000, `${nul.ms} ms`);
    assertRefused(
      vgpu('run', file('latin1.vgpu', Buffer.from('.vm memory=1M ; caf\xe9\n', 'latin1'))),
      /is not UTF-8 text/,
    );
    const ck = path.join(tmp, 'a.ckpt');
    assert.equal(
      vgpu('run', path.join(ROOT, 'examples', 'semaphore-handoff.vgpu'), '--checkpoint-at', '3', '--save', ck).code,
      0,
    );
    assertRefused(vgpu('run', ck), /is a vgpu VM checkpoint \(use `vgpu resume`\)/);
    const state = [
      'GPU HANG: ecode 9:0:00000000, in gltri [1234]',
      'Kernel: 6.1.0-18-amd64 x86_64',
      'Time: 1712345678 s 123456 us',
      'rcs0 command stream:',
      '  IPEHR: 0x7a000004',
    ].join('\n');
    // `vgpu run` opens error states (issue 13): this fragment is refused by the dump reader, naming its line;
    // `vgpu asm` refuses it by type.
    assertRefused(vgpu('run', file('error-state.txt', state + '\n')), /error-state\.txt:\d+: missing register/);
    assertRefused(vgpu('asm', file('error-state.txt', state + '\n')), /is an i915 GPU error state/);
  });

  it('a FIFO, /dev/zero, a directory and a file past the size limit are refused without reading them', function () {
    this.timeout(30000);
    const fifo = path.join(tmp, 'fifo');
    spawnSync('mkfifo', [fifo]);
    if (fs.existsSync(fifo)) assertRefused(vgpu('run', fifo), /not a regular file \(a FIFO\)/);
    assertRefused(vgpu('run', '/dev/zero'), /not a regular file \(a character device\)/);
    assertRefused(vgpu('run', tmp), /not a regular file \(a directory\)/);
    const big = path.join(tmp, 'big.vgpu');
    fs.writeFileSync(big, '');
    fs.truncateSync(big, 64 * 1024 * 1024); // sparse: costs no disk
    assertRefused(vgpu('run', big), /67108864 bytes is past the 4 MiB limit/);
  });

  it('\\r and \\r\\n line endings: errors quote the right line', () => {
    for (const eol of ['\r', '\r\n', '\n']) {
      const src = ['.vm memory=1M', '; a comment', 'BOGUS_DIRECTIVE_OR_COMMAND', '; after'].join(eol) + eol;
      const r = vgpu('run', file('eol.vgpu', src));
      assert.equal(r.code, 2);
      assert.match(r.err, /eol\.vgpu:3:1: error: [^\n]*\n {2}BOGUS_DIRECTIVE_OR_COMMAND\n {2}\^/, JSON.stringify(eol));
    }
  });

  it('a file of errors: the first 50, then one line counting the rest; linear time', function () {
    this.timeout(60000);
    const timings: number[] = [];
    for (const n of [10000, 80000]) {
      const r = vgpu('run', file(`errors-${n}.vgpu`, '@\n'.repeat(n)));
      assert.equal(r.code, 2);
      assert.equal((r.err.match(/: error: /g) ?? []).length, MAX_DIAGNOSTICS);
      assert.match(r.err, new RegExp(`too many errors: ${n - MAX_DIAGNOSTICS} more errors not shown\\n$`));
      assert.ok(r.err.length < 8192, `${r.err.length} bytes`);
      timings.push(r.ms);
    }
    // 8x the lines in well under 8x the time of a quadratic report (node's start-up dominates the small one).
    assert.ok(timings[1] < 10000, `80k error lines took ${timings[1]} ms`);
  });

  it('a long line is cut to a window around the caret, controls escaped', () => {
    const line = '.dword 1, ' + 'x'.repeat(50000) + ' @ ' + '\x01\x1b[31m'.repeat(10000);
    const r = vgpu('run', file('long.vgpu', line + '\n'));
    assert.equal(r.code, 2);
    for (const l of r.err.split('\n')) assert.ok(l.length < 4 * LINE_WINDOW + 200, `a ${l.length}-character line`);
    assert.doesNotMatch(r.err, /[\x00-\x08\x0b-\x1f\x7f]/);
    assert.ok(r.err.length < 8192);
  });
});

describe('diagnostic excerpts', () => {
  it('SourceLines splits once, as the lexer does', () => {
    const s = new SourceLines('a\r\nb\rc\n\nd');
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => s.line(n)),
      ['a', 'b', 'c', '', 'd', undefined],
    );
    assert.equal(new SourceLines('x\r\n').line(2), '');
  });

  it('the caret stays under its character after escapes, tabs and cuts', () => {
    const e = excerpt('\t\x00ab', 4);
    assert.equal(e.text, '\t\\x00ab');
    assert.equal(e.caret, '\t     ^');
    const long = 'y'.repeat(1000) + 'Z' + 'y'.repeat(1000);
    const w = excerpt(long, 1001, 1002);
    assert.ok(w.text.startsWith('...') && w.text.endsWith('...'));
    assert.equal(w.text[w.caret.indexOf('^')], 'Z');
    assert.ok(w.text.length <= LINE_WINDOW + 6);
  });

  it('the assembler keeps at most 1000 diagnostics and counts the rest', () => {
    const r = assembleSource('@\n'.repeat(5000), { file: 'f.vgpu' });
    assert.ok(!r.image);
    assert.equal(r.diagnostics.length, 1001);
    assert.equal(r.diagnostics.at(-1)!.more, 4000);
    assert.match(formatDiagnostics(r.diagnostics, ''), /f\.vgpu: too many errors: 4950 more errors not shown\n$/);
    // One line of garbage keeps a few lexical errors, not one per character.
    assert.ok(assembleSource('@'.repeat(300000), { file: 'g' }).diagnostics.length <= 8);
  });
});

describe('hostile output paths', () => {
  const picture = path.join(ROOT, 'examples', 'picture.vgpu');
  const handoff = path.join(ROOT, 'examples', 'semaphore-handoff.vgpu');
  const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

  /** A failure: exit 2, one line naming the option, no stack trace, nothing left behind. */
  function assertFailed(r: ReturnType<typeof vgpu>, what: RegExp, dir = tmp): void {
    assert.equal(r.code, 2, r.err);
    assert.equal(r.err.trimEnd().split('\n').length, 1, r.err);
    assert.doesNotMatch(r.err, /internal error|\n\s+at /);
    assert.match(r.err, what);
    assert.deepEqual(leftovers(dir), []);
  }

  it('--png into a missing directory, onto a directory, or with no name: refused before the run', () => {
    assertFailed(
      vgpu('run', picture, '--png', `canvas=${path.join(tmp, 'missing', 'c.png')}`),
      /--png: cannot write .*missing\/c\.png: no such directory/,
    );
    assertFailed(vgpu('run', picture, '--png', `canvas=${tmp}`), /--png: .* is a directory; give a file name/);
    assertFailed(vgpu('run', picture, '--png', `canvas=${tmp}/`), /is a directory/);
    assertFailed(vgpu('run', picture, '--png', 'canvas= '), /--png: no file name given/);
  });

  it("--save to a directory, to '' or into a missing directory: one line, and nothing written anywhere", () => {
    const cwd = fs.mkdtempSync(path.join(tmp, 'cwd-'));
    const parent = fs.readdirSync(tmp).length;
    const r = spawnSync(process.execPath, [CLI, 'run', handoff, '--checkpoint-at', '3', '--save', ''], {
      cwd,
      encoding: 'utf8',
    });
    assertFailed(
      { code: r.status, out: r.stdout, err: r.stderr, ms: 0, signal: r.signal },
      /--save: no file name given/,
      cwd,
    );
    assert.equal(fs.readdirSync(tmp).length, parent, "--save '' wrote into the parent directory");
    assertFailed(vgpu('run', handoff, '--checkpoint-at', '3', '--save', tmp), /--save: .* is a directory/);
    assertFailed(
      vgpu('run', handoff, '--checkpoint-at', '3', '--save', path.join(tmp, 'no', 'such', 'x.ckpt')),
      /--save: cannot write .*: no such directory/,
    );
  });

  it('a write past the file-size limit fails cleanly and keeps the existing checkpoint intact', function () {
    this.timeout(30000);
    const ck = path.join(tmp, 'keep.ckpt');
    assert.equal(vgpu('run', handoff, '--checkpoint-at', '3', '--save', ck).code, 0);
    const before = fs.readFileSync(ck);
    // ulimit -f 4: a few KiB, far below a checkpoint; node sees EFBIG (it ignores SIGXFSZ).
    const r = spawnSync(
      'sh',
      [
        '-c',
        `ulimit -f 4 && exec "$0" "$@"`,
        process.execPath,
        CLI,
        'run',
        handoff,
        '--checkpoint-at',
        '5',
        '--save',
        ck,
      ],
      { encoding: 'utf8' },
    );
    assertFailed(
      { code: r.status, out: r.stdout, err: r.stderr, ms: 0, signal: r.signal },
      /--save: cannot write .*keep\.ckpt: file too large/,
    );
    assert.ok(fs.readFileSync(ck).equals(before), 'the old checkpoint was damaged');
    assert.equal(vgpu('resume', ck, '--json').code, 0);
  });
});

describe('bounded programs', () => {
  it('a huge surface is an assembly error, fast, not gigabytes of pixels', () => {
    const t = performance.now();
    const r = assembleSource('.vm memory=64M\n.surface s, 0x1000000, 65536, 8192\n', { file: 's.vgpu' });
    assert.ok(!r.image);
    assert.match(
      r.diagnostics[0].message,
      /surface of 0x80000000 bytes is larger than 0x4000000 \(65536x8192, pitch 262144\)/,
    );
    const many = Array.from({ length: 5 }, (_, i) => `.surface s${i}, 0x1000000, 4096, 4096`).join('\n');
    assert.match(
      assembleSource(`.vm memory=64M\n${many}\n`, { file: 's.vgpu' }).diagnostics[0]?.message ?? '',
      /surfaces total more than 0x10000000 bytes/,
    );
    assert.ok(performance.now() - t < 2000);
  });
});

describe('vgpu host exposure', () => {
  it('refuses to listen beyond loopback, or to accept any peer, without a token', () => {
    for (const args of [
      ['--listen', '0.0.0.0:0'],
      ['--listen', '[::]:0'],
      ['--allow', 'any'],
      ['--allow', '10.0.0.7'],
    ]) {
      const r = vgpu('host', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.out}${r.err}`);
      assert.match(r.err, /beyond loopback needs a token \(--token T or VGPU_HOST_TOKEN\)/);
      assert.equal(r.err.trimEnd().split('\n').length, 1);
    }
  });
});
