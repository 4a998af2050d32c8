// GPU hang dumps: the i915 error state written for every example that ends in an unrecovered GPU error,
// decoded by Debian's intel_error_decode (intel-gpu-tools) when installed, and read back by our reader to
// the same hung command and registers.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeAscii85, encodeAscii85 } from '../../emulator/formats/ascii85';
import { parseI915ErrorState, formatI915ErrorState } from '../../emulator/formats/i915-error';
import { captureHangDump, openHangDump } from '../../emulator/postmortem';
import { loadCaptureVm, loadVm } from '../../emulator/program';
import { ENGINES, REGISTERS } from '../../emulator/registers';
import type { GpuError, Vm } from '../../emulator/vm';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = path.join(ROOT, 'examples');

/** Every example that stops on an unrecovered GPU error when rollback is off, with that error. */
function failingExamples(): { name: string; vm: Vm; err: GpuError }[] {
  const out: { name: string; vm: Vm; err: GpuError }[] = [];
  for (const f of fs
    .readdirSync(EXAMPLES)
    .filter((x) => x.endsWith('.vgpu'))
    .sort()) {
    const vm = loadVm(path.join(EXAMPLES, f), { autoRollback: false });
    vm.run();
    const err = vm.errors.find((e) => !e.rolledBack);
    if (err) out.push({ name: f, vm, err });
  }
  return out;
}

const loadVmText = (source: string) => loadVm('<test>.vgpu', { autoRollback: false }, source);
/** The hang capture (a real AUB: rings and the status page in the global GTT, the batch under the capture's own PPGTT). */
function hangCapture(): { name: string; vm: Vm; err: GpuError } {
  const vm = loadCaptureVm(path.join(ROOT, 'test/captures/hang-skl.aub.gz'), { autoRollback: false })!;
  vm.run();
  return { name: 'hang-skl.aub', vm, err: vm.errors.find((e) => !e.rolledBack)! };
}

const regValue = (vm: Vm, name: string) => vm.regs.values[REGISTERS.find((r) => r.name === name)!.slot];

describe('hang dumps: ascii85 as the kernel prints it', () => {
  it('encodes zero as z and other dwords as five digits, most significant first', () => {
    assert.equal(encodeAscii85([0, 1, 0xffffffff]), 'z!!!!"s8W-!');
    assert.deepEqual(Array.from(decodeAscii85('z!!!!"s8W-!', 1)), [0, 1, 0xffffffff]);
  });
  it('round-trips arbitrary dwords', () => {
    const words = Uint32Array.from({ length: 500 }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) >>> (i % 7)) >>> 0);
    assert.deepEqual(decodeAscii85(encodeAscii85(words), 1), words);
  });
});

describe('hang dumps: i915 error state written and read back (every failing example)', function () {
  this.timeout(120_000);
  const cases = failingExamples();

  it('covers the examples that end in an unrecovered GPU error', () => {
    const names = cases.map((c) => c.name);
    for (const n of [
      'hang.vgpu',
      'page-fault.vgpu',
      'isolation-violation.vgpu',
      'privileged-register.vgpu',
      'version-rejected.vgpu',
    ])
      assert.ok(names.includes(n), `${n} missing from ${names}`);
  });

  for (const compress of [true, false]) {
    it(`reads the ${compress ? 'compressed' : 'raw'} dump back to the same hung command and registers`, () => {
      for (const { name, vm, err } of cases) {
        const text = formatI915ErrorState(captureHangDump(vm, err), { compress });
        assert.ok(
          text.includes(compress ? '\n:' : '\n~'),
          `${name}: buffer lines use the ${compress ? ':' : '~'} marker`,
        );
        const dump = parseI915ErrorState(text, name);
        const e = dump.engines.find((x) => x.hung)!;
        assert.equal(e.name, err.engine, name);
        assert.equal(dump.kind, err.kind, name);
        assert.equal(dump.pciRevision, vm.cfg.version, name);
        const eng = vm.engine(err.engine);
        const s = eng.slots;
        const R = vm.regs.values;
        assert.equal(e.regs.get('ACTHD'), err.commandVa, `${name} ACTHD`);
        assert.equal(e.regs.get('IPEHR'), vm.readVa(err.commandVa, 1, err.engine)[0], `${name} IPEHR`);
        for (const [k, slot] of [
          ['START', s.start],
          ['HEAD', s.head],
          ['TAIL', s.tail],
          ['CTL', s.ctl],
        ] as const)
          assert.equal(e.regs.get(k), R[slot], `${name} ${k}`);
        assert.equal(e.regs.get('BBADDR'), R[s.bbAddrUdw] * 2 ** 32 + R[s.bbAddr], `${name} BBADDR`);
        assert.equal(e.regs.get('PDP0'), R[s.pdpHi] * 2 ** 32 + R[s.pdpLo], `${name} PDP0`);
        // CS_GPRs through the context image, by register offset.
        for (let n = 0; n < 16; n++) {
          const r = REGISTERS.find((x) => x.name === `${err.engine}.CS_GPR${n}`)!;
          assert.equal(e.contextRegs.get(r.mmio), R[r.slot], `${name} CS_GPR${n}`);
        }
        // The ring and the batch as captured.
        const ring = e.buffers.find((b) => b.name === 'ring')!;
        assert.equal(ring.va, R[s.start]);
        assert.deepEqual(
          Array.from(ring.dwords),
          vm.readVa(R[s.start], eng.ringSize() / 4, err.engine).map((x) => x ?? 0),
          `${name} ring`,
        );

        const { report, vm: replay } = openHangDump(dump);
        assert.equal(report.reached, true, `${name}: ${JSON.stringify(report.divergence)}`);
        assert.equal(report.command!.va, '0x' + err.commandVa.toString(16), name);
        assert.equal(report.command!.mnemonic, err.mnemonic, name);
        assert.equal(report.headerMatchesIpehr, true, name);
        assert.ok(
          report.notes.some((x) => /page tables are not in a dump/.test(x)),
          'says the page tables were built',
        );
        for (let n = 0; n < 16; n++) {
          assert.equal(
            regValue(replay, `${err.engine}.CS_GPR${n}`),
            regValue(vm, `${err.engine}.CS_GPR${n}`),
            `${name}: replayed CS_GPR${n}`,
          );
        }
      }
    });
  }

  it('says so when the header at ACTHD is not IPEHR', () => {
    const { vm, err } = cases.find((c) => c.name === 'hang.vgpu')!;
    const d = captureHangDump(vm, err);
    d.engines.find((x) => x.hung)!.regs.set('IPEHR', 0x12345678);
    const { report } = openHangDump(parseI915ErrorState(formatI915ErrorState(d, { compress: true })));
    assert.equal(report.reached, true);
    assert.equal(report.headerMatchesIpehr, false);
    assert.ok(report.notes.some((x) => /not IPEHR/.test(x)));
  });

  it('says where the replay diverged when it cannot reach ACTHD', () => {
    const { vm, err } = cases.find((c) => c.name === 'hang.vgpu')!;
    const d = captureHangDump(vm, err);
    d.engines.find((x) => x.hung)!.regs.set('ACTHD', 0x100100); // past the batch's end: never executed
    const { report } = openHangDump(parseI915ErrorState(formatI915ErrorState(d, { compress: true })));
    assert.equal(report.reached, false);
    assert.ok(
      report.divergence && /hang on rcs0 before reaching ACTHD/.test(report.divergence.reason),
      JSON.stringify(report.divergence),
    );
    assert.equal(report.divergence!.at, '0x100000');
  });

  it("writes a capture's hang with its global-GTT ring, its batch and the HW status page, and reads it back", () => {
    const { vm, err } = hangCapture();
    assert.equal(err.mnemonic, 'MI_SEMAPHORE_WAIT');
    const d = captureHangDump(vm, err);
    const e = d.engines.find((x) => x.hung)!;
    const s = vm.engine(err.engine).slots;
    const R = vm.regs.values;
    const ggtt = (va: number, n: number) =>
      Array.from({ length: n }, (_, k) => vm.mem.read32(vm.translate(va + 4 * k, 0, err.engine, 'ggtt').hpa));
    const ring = e.buffers.find((b) => b.name === 'ring')!;
    assert.deepEqual(
      Array.from(ring.dwords.subarray(0, 16)),
      ggtt(R[s.start], 16),
      'the ring is read through the global GTT',
    );
    const hws = e.buffers.find((b) => b.name === 'HW Status')!;
    assert.equal(hws.va, R[s.hws] & ~0xfff);
    assert.deepEqual(
      Array.from(hws.dwords.subarray(0, 64)),
      ggtt(hws.va, 64),
      'the status page, through the global GTT',
    );
    const batch = e.buffers.find((b) => b.name === 'batch')!;
    assert.ok(
      batch && err.commandVa >= batch.va && err.commandVa < batch.va + batch.dwords.length * 4,
      'the batch holding ACTHD, though no .map declares it',
    );
    assert.equal(e.regs.get('IPEHR'), vm.readVa(err.commandVa, 1, err.engine)[0]);
    const { report } = openHangDump(parseI915ErrorState(formatI915ErrorState(d, { compress: true }), 'hang-skl.err'));
    assert.equal(report.reached, true, JSON.stringify(report.divergence));
    assert.equal(report.command!.mnemonic, 'MI_SEMAPHORE_WAIT');
    assert.equal(report.headerMatchesIpehr, true);
    assert.ok(report.buffers.some((b) => b.name === 'HW Status' && !b.mapped));
  });

  describe('decoded by intel_error_decode (intel-gpu-tools)', () => {
    const probe = spawnSync('intel_error_decode', ['/dev/null'], { encoding: 'utf8' });
    const installed = !probe.error;
    before(function () {
      if (!installed) {
        console.log('      (skipped: intel_error_decode is not installed; apt-get install -y intel-gpu-tools)');
        this.skip();
      }
    });

    for (const compress of [true, false]) {
      it(`prints the ring, batch and register values written (${compress ? 'compressed' : 'raw'})`, () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-errstate-'));
        try {
          for (const { name, vm, err } of [...cases, hangCapture()]) {
            const d = captureHangDump(vm, err);
            const file = path.join(dir, name.replace('.vgpu', '.err'));
            fs.writeFileSync(file, formatI915ErrorState(d, { compress }));
            const r = spawnSync('intel_error_decode', [file], { encoding: 'utf8', maxBuffer: 64 << 20 });
            assert.equal(r.status, 0, r.stderr);
            const out = r.stdout;
            assert.match(out, /Detected GEN9 chipset/, name);
            assert.doesNotMatch(out + r.stderr, /ASCII85 decode failed/, name);
            const e = d.engines.find((x) => x.hung)!;
            const h8 = (v: number) => (v >>> 0).toString(16).padStart(8, '0');
            assert.ok(out.includes(`  IPEHR: 0x${h8(e.regs.get('IPEHR')!)}`), `${name} IPEHR`);
            assert.ok(out.includes(`  ACTHD: 0x00000000 ${h8(err.commandVa)}`), `${name} ACTHD`);
            assert.ok(
              out.includes(`  CTL:   0x${h8(e.regs.get('CTL')!)}`) && /len=\d+, enabled/.test(out),
              `${name} CTL`,
            );
            assert.ok(out.includes(`    head = 0x${h8(e.regs.get('HEAD')!)}`), `${name} HEAD decoded`);
            if (e.regs.get('FAULT_REG'))
              assert.match(
                out,
                new RegExp(`Valid\\n\\s+Invalid PTE Fault\\n\\s+Engine ${err.engine === 'bcs0' ? 'BLT' : 'GFX'}`),
                `${name} FAULT_REG`,
              );
            // Every dword the decoder prints for the ring and the batch is the one written.
            for (const bufName of ['ring', 'batch']) {
              const buf = e.buffers.find((b) => b.name === bufName);
              if (!buf) continue;
              const start = out.indexOf(
                `${bufName} (${err.engine}) at 0x${h8(Math.floor(buf.va / 2 ** 32))}_${h8(buf.va)}`,
              );
              assert.ok(start >= 0, `${name}: the decoder lists the ${bufName}`);
              const section = out.slice(start).split('\n').slice(1);
              let seen = 0;
              for (const l of section) {
                const m = /^0x([0-9a-f]{8}):\s+(?:HEAD )?0x([0-9a-f]{8}):/.exec(l);
                if (!m) {
                  if (/^(ring|batch|HW context|user) \(/.test(l)) break;
                  continue;
                }
                const off: number = (parseInt(m[1], 16) - (buf.va >>> 0)) / 4;
                assert.equal(parseInt(m[2], 16), buf.dwords[off], `${name} ${bufName} dword at 0x${m[1]}`);
                seen++;
              }
              const used = buf.dwords.length - [...buf.dwords].reverse().findIndex((x) => x !== 0);
              assert.ok(
                seen >= Math.min(used, buf.dwords.length),
                `${name}: ${bufName}: ${seen} dwords decoded, ${used} written`,
              );
            }
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });
});

describe('hang dumps: engines named in dumps', () => {
  it('the register table offsets the context image uses are the i915 ones (RING_HEAD 0x2034, CS_GPR0 0x2600, bcs0 base 0x22000)', () => {
    const mmio = (n: string) => REGISTERS.find((r) => r.name === n)!.mmio;
    assert.equal(mmio('rcs0.RING_HEAD'), 0x2034);
    assert.equal(mmio('rcs0.CS_GPR0'), 0x2600);
    assert.equal(mmio('bcs0.RING_START'), 0x22038);
    assert.deepEqual([...ENGINES], ['rcs0', 'bcs0']);
  });
});

describe('hang dumps: memory not captured reads as zero (.vm unmapped=zero)', () => {
  const program = (unmapped: string) =>
    [
      `.vm memory=16M${unmapped}`,
      '.map 0x100000, 0x100000, 64K, rw',
      '.batch b, 0x100000',
      '    MI_LOAD_REGISTER_MEM reg=CS_GPR0, addr=0x7f0000000040',
      '    MI_STORE_DATA_IMM addr=0x7f0000000080, data=7',
      '    MI_BATCH_BUFFER_END',
      '.ring rcs0',
      '    MI_BATCH_BUFFER_START addr=b',
      '.submit rcs0',
      '.wait rcs0',
      '',
    ].join('\n');

  it('an unmapped VA reads as zero through one read-only zero page, and writing it faults', () => {
    const vm = loadVmText(program(' unmapped=zero'));
    assert.ok(vm.image.zeroFill, 'the image names the zero page and its shared tables');
    assert.equal(vm.image.zeroFill!.tables.length, 3);
    vm.regs.values[REGISTERS.find((r) => r.name === 'rcs0.CS_GPR0')!.slot] = 0xdead;
    vm.run();
    assert.equal(regValue(vm, 'rcs0.CS_GPR0'), 0, 'the load read zero');
    const err = vm.errors[0];
    assert.equal(err?.kind, 'page-fault');
    assert.match(err.message, /write to a read-only page/);
    const t = vm.translate(0x7f0000000080, 0);
    assert.equal(vm.uncaptured(t.gpa!), true);
    assert.equal(vm.uncaptured(vm.translate(0x100000, 0).gpa!), false);
    // Any VA, however far: the same four pages serve the whole 48-bit space.
    assert.equal(vm.translate(0xfffffffff000, 0).gpa, vm.image.zeroFill!.page);
  });

  it('without it, the same load is a page fault', () => {
    const vm = loadVmText(program(''));
    vm.run();
    assert.equal(vm.errors[0]?.kind, 'page-fault');
    assert.match(vm.errors[0].message, /read/);
    assert.equal(vm.image.zeroFill, undefined);
  });
});
