// Hang dumps from outside: a hand-made Xe devcoredump, a pre-2016 hex-line i915 dump, `vgpu run DUMP --json`,
// and malformed dumps (bad ascii85, truncated zlib, missing sections): a clear error naming the line, never
// a crash (fuzzed).

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DumpFormatError } from '../../emulator/formats/dump';
import { formatI915ErrorState, parseI915ErrorState } from '../../emulator/formats/i915-error';
import { parseXeDevcoredump } from '../../emulator/formats/xe-devcoredump';
import { captureHangDump, openHangDump, parseHangDump } from '../../emulator/postmortem';
import { loadVm } from '../../emulator/program';
import { REGISTERS } from '../../emulator/registers';
import { mulberry32 } from '../helpers/prng';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const XE = path.join(ROOT, 'test/fixtures/dumps/xe-timedout-job.devcoredump');
const gpr = (vm: ReturnType<typeof loadVm>, name: string) =>
  vm.regs.values[REGISTERS.find((r) => r.name === name)!.slot];

function hangDumpText(compress: boolean): string {
  const vm = loadVm(path.join(ROOT, 'examples/privileged-register.vgpu'), { autoRollback: false });
  vm.run();
  return formatI915ErrorState(captureHangDump(vm, vm.errors[0]), { compress });
}

/** The parse-and-open outcome: a report, or the DumpFormatError (anything else propagates). */
function open(text: string): { ok: true; reached: boolean } | { ok: false; err: DumpFormatError } {
  try {
    const d = parseHangDump(text, 'fuzz.err');
    if (!d) return { ok: false, err: new DumpFormatError(0, 'not a dump') };
    return { ok: true, reached: openHangDump(d).report.reached };
  } catch (e) {
    if (e instanceof DumpFormatError) return { ok: false, err: e };
    throw e;
  }
}

describe('hang dumps: Xe devcoredump (hand-made fixture)', () => {
  it('reads the Job, HW Engines, Contexts and VM state sections', () => {
    const d = parseXeDevcoredump(fs.readFileSync(XE, 'utf8'), XE);
    assert.equal(d.reason, 'Timedout job');
    assert.equal(d.pciId, 0x56a0);
    assert.deepEqual(d.batchAddrs, [0x1a0000]);
    const rcs = d.engines.find((e) => e.name === 'rcs0')!;
    assert.equal(rcs.hung, true);
    assert.equal(d.engines.find((e) => e.name === 'bcs0')!.hung, false);
    assert.equal(rcs.regs.get('ACTHD'), 0x1a001c);
    assert.equal(rcs.regs.get('IPEHR'), 0x0e00c002);
    assert.equal(rcs.contextRegs.get(0x2608), 7, 'CS_GPR1 from the [HWCTX] LRC');
    assert.deepEqual(
      d.globalBuffers.map((b) => [b.name, b.va, b.dwords.length]),
      [
        ['batch', 0x1a0000, 1024],
        ['user', 0x1b0000, 1024],
      ],
    );
    assert.ok(
      d.unknown.some((u) => /0x1c0000 not captured/.test(u.text)),
      'a VMA the kernel could not capture is reported',
    );
  });

  it('opens at the hung command: the replay starts at the batch (no ring in the dump)', () => {
    const { report, vm } = openHangDump(parseXeDevcoredump(fs.readFileSync(XE, 'utf8'), XE));
    assert.equal(report.format, 'xe-devcoredump');
    assert.deepEqual(report.replayFrom, { ring: false, va: '0x1a0000' });
    assert.equal(report.reached, true);
    assert.equal(report.command!.mnemonic, 'MI_SEMAPHORE_WAIT');
    assert.equal(report.headerMatchesIpehr, true);
    assert.ok(report.notes.some((n) => /ring is not in the dump/.test(n)));
    assert.equal(gpr(vm, 'rcs0.CS_GPR0'), 5, 'the batch ran up to the hung command');
    assert.equal(gpr(vm, 'rcs0.CS_GPR1'), 7, 'registers from the context image');
    assert.equal(vm.readVa(0x1b0000, 1)[0], 1, 'the store before the hang replayed');
  });
});

describe('hang dumps: pre-2016 i915 hex-line dump', () => {
  const OLD = [
    'Time: 1389026131 s 469735 us',
    'PCI ID: 0x0166',
    'EIR: 0x00000000',
    'render ring command stream:',
    '  START: 0x00005000',
    '  HEAD: 0x00000000',
    '  TAIL: 0x00000010',
    '  CTL: 0x00000001',
    '  ACTHD: 0x0010000c',
    '  IPEHR: 0x0e00c002',
    'render ring --- gtt_offset = 0x00100000',
    '00000000 :  11000001',
    '00000004 :  00002600',
    '00000008 :  00000009',
    '0000000c :  0e00c002',
    '00000010 :  00000001',
    '00000014 :  00100800',
    '00000018 :  00000000',
    '0000001c :  05000000',
    'render ring --- ringbuffer = 0x00005000',
    '00000000 :  18800101',
    '00000004 :  00100000',
    '00000008 :  00000000',
    '0000000c :  00000000',
    'some section this reader has never seen',
    '',
  ].join('\n');

  it('reads hex lines as buffers (gtt_offset = batch, ringbuffer = ring) and reports unknown lines', () => {
    const d = parseI915ErrorState(OLD, 'old.err');
    const e = d.engines[0];
    assert.equal(e.name, 'render ring');
    assert.deepEqual(
      e.buffers.map((b) => [b.name, b.va, b.encoding, b.dwords.length]),
      [
        ['batch', 0x100000, 'hex', 8],
        ['ring', 0x5000, 'hex', 4],
      ],
    );
    assert.deepEqual(d.unknown, [{ line: 25, text: 'some section this reader has never seen' }]);
  });

  it('replays from the ring to ACTHD on rcs0', () => {
    const { report, vm } = openHangDump(parseI915ErrorState(OLD, 'old.err'));
    assert.equal(report.replayEngine, 'rcs0');
    assert.equal(report.reached, true, JSON.stringify(report.divergence));
    assert.equal(report.command!.mnemonic, 'MI_SEMAPHORE_WAIT');
    assert.equal(gpr(vm, 'rcs0.CS_GPR0'), 9);
  });
});

describe('hang dumps: malformed dumps give an error naming the line', () => {
  const lineOf = (text: string, re: RegExp) => text.split('\n').findIndex((l) => re.test(l)) + 1;

  it('bad ascii85', () => {
    const t = hangDumpText(false);
    const n = lineOf(t, /^~/);
    const lines = t.split('\n');
    lines[n - 1] = lines[n - 1].slice(0, 3) + '{' + lines[n - 1].slice(4);
    const r = open(lines.join('\n'));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.err.line, n);
      assert.match(r.err.message, /bad ascii85 character '\{' at column 4/);
    }
  });

  it('truncated zlib', () => {
    const t = hangDumpText(true);
    const lines = t.split('\n');
    const n = lines.findIndex((l, i) => l.startsWith(':') && /--- batch/.test(lines[i - 1])) + 1;
    const body = lines[n - 1].slice(1);
    // Cut at a group boundary in the middle, so the ascii85 is fine and the zlib stream is not.
    let cut = 0;
    for (let i = 0, groups = 0; i < body.length && groups < 4; groups++) cut = i = i + (body[i] === 'z' ? 1 : 5);
    lines[n - 1] = ':' + body.slice(0, cut);
    const r = open(lines.join('\n'));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.err.line, n);
      assert.match(r.err.message, /zlib data of buffer 'batch' \(rcs0\) is truncated or corrupt/);
    }
  });

  it('missing sections', () => {
    const t = hangDumpText(true);
    const noEngines = t
      .split('\n')
      .filter((l) => !/command stream:$/.test(l) && !/ --- /.test(l) && !/^[:~]/.test(l))
      .join('\n');
    const r1 = open(noEngines);
    assert.equal(r1.ok, false);
    if (!r1.ok) assert.match(r1.err.message, /missing section: no "<engine> command stream:" block/);

    const noActhd = t.replace(/\n  ACTHD: [^\n]*/, '');
    const r2 = open(noActhd);
    assert.equal(r2.ok, false);
    if (!r2.ok) {
      assert.equal(r2.err.line, lineOf(noActhd, /^rcs0 command stream:/));
      assert.match(r2.err.message, /rcs0 is marked hung but has no ACTHD/);
    }

    const xe = fs.readFileSync(XE, 'utf8').replace(/\*\*\*\* Job \*\*\*\*[^*]*/, '');
    const r3 = open(xe);
    assert.equal(r3.ok, false);
    if (!r3.ok) assert.match(r3.err.message, /missing section: no '\*\*\*\* Job \*\*\*\*' section/);

    const headerOnly = t.replace(/(rcs0 --- batch = [^\n]*)\n[:~][^\n]*/, '$1');
    const r4 = open(headerOnly);
    assert.equal(r4.ok, false);
    if (!r4.ok) {
      assert.equal(r4.err.line, lineOf(headerOnly, /^rcs0 --- batch = /));
      assert.match(r4.err.message, /buffer 'batch' of rcs0 has no data/);
    }
  });

  it('the CLI prints FILE:LINE: reason and exits 2', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-baddump-'));
    try {
      const file = path.join(dir, 'bad.err');
      const t = hangDumpText(false);
      const n = lineOf(t, /^~/);
      const lines = t.split('\n');
      lines[n - 1] = lines[n - 1] + 'ab';
      fs.writeFileSync(file, lines.join('\n'));
      const r = spawnSync(process.execPath, [CLI, 'run', file, '--json'], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `vgpu: ${file}:${n}: ascii85 data ends inside a group (2 of 5 characters at column ${lines[n - 1].length - 1})`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fuzz: mutated dumps open or fail with a DumpFormatError, never anything else', function () {
    this.timeout(120_000);
    const rnd = mulberry32(13);
    const seeds = [hangDumpText(true), hangDumpText(false), fs.readFileSync(XE, 'utf8')];
    let failed = 0;
    let opened = 0;
    for (let iter = 0; iter < 300; iter++) {
      const lines = seeds[iter % seeds.length].split('\n');
      for (let m = 1 + Math.floor(rnd() * 3); m > 0; m--) {
        const i = Math.floor(rnd() * lines.length);
        const op = Math.floor(rnd() * 5);
        if (op === 0) lines.splice(i, 1);
        else if (op === 1) lines.splice(i, 0, lines[Math.floor(rnd() * lines.length)]);
        else if (op === 2 && lines[i].length > 0) {
          const c = Math.floor(rnd() * lines[i].length);
          lines[i] = lines[i].slice(0, c) + String.fromCharCode(32 + Math.floor(rnd() * 95)) + lines[i].slice(c + 1);
        } else if (op === 3) lines[i] = lines[i].slice(0, Math.floor(rnd() * lines[i].length));
        else lines.length = Math.max(1, i);
      }
      const r = open(lines.join('\n'));
      if (r.ok) opened++;
      else {
        failed++;
        assert.ok(r.err.message.length > 0 && r.err.line >= 0);
      }
    }
    assert.ok(failed > 20 && opened > 20, `both outcomes exercised: ${opened} opened, ${failed} refused`);
  });
});

describe('hang dumps: vgpu run DUMP --json', () => {
  it('recognizes the format from the content and reports the capture', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-dumpjson-'));
    try {
      const src = path.join(ROOT, 'examples/page-fault.vgpu');
      const out = path.join(dir, 'no-extension');
      const w = spawnSync(process.execPath, [CLI, 'run', src, '--no-auto-rollback', '--error-state', out], {
        encoding: 'utf8',
      });
      assert.equal(w.status, 1, w.stderr);
      assert.match(w.stderr, /error state of the page-fault on bcs0 at 0x100044 written/);
      const r = spawnSync(process.execPath, [CLI, 'run', out, '--json'], { encoding: 'utf8' });
      assert.equal(r.status, 1, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.equal(j.capture.format, 'i915-error');
      assert.equal(j.capture.kind, 'page-fault');
      assert.equal(j.capture.engine, 'bcs0');
      assert.equal(j.capture.reached, true);
      assert.deepEqual(j.capture.command, { va: '0x100044', mnemonic: 'MI_STORE_DATA_IMM', header: '0x10000002' });
      assert.equal(j.capture.headerMatchesIpehr, true);
      const x = spawnSync(process.execPath, [CLI, 'run', XE, '--json'], { encoding: 'utf8' });
      assert.equal(JSON.parse(x.stdout).capture.format, 'xe-devcoredump');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
