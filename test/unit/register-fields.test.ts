// Registers as data (QEMU's registerfields): field accessors from the table, addresses and post-write
// hooks declared on the register, and no register field masked by hand outside emulator/registers.ts.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadVm } from '../../emulator/program';
import { REGISTERS, regCompose, regField, registerAddress, ringBytesOf } from '../../emulator/registers';

const ROOT = path.resolve(__dirname, '../..');

function sources(dir: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .flatMap((d) =>
      d.isDirectory() ? sources(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : [],
    );
}

describe('register fields', () => {
  it('accessors read their shift and mask from the table', () => {
    const length = regField('RING_CTL', 'LENGTH');
    assert.deepEqual([length.shift, length.mask], [12, 0x1ff000]);
    assert.equal(length.get(0x3001), 3);
    assert.equal(length.set(0x1, 7), 0x7001);
    assert.equal(ringBytesOf(0x3001), 4 * 4096);
    assert.equal(regField('RING_HEAD', 'OFFSET').place(0xffe00abc), 0xabc);
    assert.equal(regCompose('FAULT_STATUS', { VALID: 1, KIND: 2, ENGINE: 1 }), 0x121);
    assert.throws(() => regField('RING_CTL', 'NOPE'), /no field RING_CTL\.NOPE/);
  });

  it("address registers: the ADDRESS field in place plus the high register's bits 63:32", () => {
    const values = new Uint32Array(REGISTERS.reduce((n, r) => n + r.def.width / 32, 0));
    const lo = REGISTERS.find((r) => r.name === 'rcs0.PDP0_LDW')!;
    const hi = REGISTERS.find((r) => r.name === 'rcs0.PDP0_UDW')!;
    values[lo.slot] = 0x12345fff;
    values[hi.slot] = 0xfff00003;
    assert.equal(registerAddress(values, lo), 0x3_12345000);
    for (const r of REGISTERS.filter((x) => x.def.address)) {
      assert.ok(
        r.def.fields.some((f) => f.name === 'ADDRESS'),
        `${r.name} has an ADDRESS field`,
      );
      if (r.def.address!.high)
        assert.ok(
          REGISTERS.some((x) => x.engine === r.engine && x.def.name === r.def.address!.high),
          `${r.name}'s high register exists`,
        );
    }
  });

  it('every register with a postWrite is one commands cannot write (the engine applies no hooks)', () => {
    const hooked = REGISTERS.filter((r) => r.def.postWrite);
    assert.ok(hooked.length >= 4);
    for (const r of hooked) assert.notEqual(r.def.access, 'cmd', r.name);
  });

  it('flush-tlbs: a driver write to any such register drops the translations its engine (or, for a device register, every engine) cached', () => {
    const program = [
      '.vm memory=16M',
      '.map 0x100000, 0x100000, 64K, rw',
      '.batch b, 0x100000',
      '    MI_NOOP',
      '    MI_BATCH_BUFFER_END',
      '.ring rcs0',
      '    MI_BATCH_BUFFER_START addr=b',
      '.submit rcs0',
      '.ring bcs0',
      '    MI_BATCH_BUFFER_START addr=b',
      '.submit bcs0',
      '.wait all',
      '',
    ].join('\n');
    for (const r of REGISTERS.filter((x) => x.def.postWrite === 'flush-tlbs')) {
      const vm = loadVm('<hook>.vgpu', {}, `${program}.mmio ${r.name}, 0x${(r.def.reset >>> 0).toString(16)}\n`);
      vm.run({ stopAt: (m) => m.driverPc === m.image.driver.length - 1 });
      for (const e of vm.engines)
        assert.ok(e.tlb.save().entries().length > 0, `${r.name}: the run filled ${e.name}'s TLB`);
      vm.run();
      for (const e of vm.engines) {
        const flushed = r.engine === null || r.engine === e.name;
        assert.equal(
          e.tlb.save().entries().length === 0,
          flushed,
          `${r.name}: ${e.name}'s TLB ${flushed ? 'flushed' : 'kept'}`,
        );
      }
    }
  });

  it('no register value is masked or shifted by hand outside emulator/registers.ts', () => {
    // A register slot's value followed by a literal mask or shift (`values[slot] & 0xfff`, `r[s.ctl] >>> 12`).
    const bad = /(values|regs|\br|\bR)\[[^\]]*(slots|Slot|slot)[^\]]*\]\s*(&|>>>|>>|<<)\s*(0x[0-9a-fA-F]+|[1-9][0-9]*)/;
    const hits: string[] = [];
    for (const file of [...sources('emulator'), ...sources('adapter'), ...sources('extension')]) {
      if (/registers(\.gen)?\.ts$|commands\.gen\.ts$/.test(file)) continue;
      fs.readFileSync(path.join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((l, i) => {
          if (bad.test(l) || /0x1ffffc|EPT_VIEW'.*invalidateTlbs/.test(l)) hits.push(`${file}:${i + 1}: ${l.trim()}`);
        });
    }
    assert.deepEqual(hits, []);
  });
});
