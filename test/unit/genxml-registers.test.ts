// The genxml half of the register table: emulator/registers.gen.ts is what scripts/gen-registers.ts makes
// of ../shared/genxml now, it agrees with genxml register by register, the device declares each one, and
// the command scanner's allow-list admits exactly the registers whose access is 'cmd'.

import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { genRegisters, inOurRange, render } from '../../scripts/gen-registers';
import { genxmlDir } from '../../scripts/gen-commands';
import { loadGenxml, xmlNumber } from '../../scripts/genxml';
import { GENXML_REGISTERS } from '../../emulator/registers.gen';
import {
  ENGINES,
  ENGINE_BASE,
  ENGINE_WINDOW,
  GENXML_ACCESS,
  GENXML_REG_DEFS,
  REGISTERS,
  fieldNameOf,
  handDeclaredMmio,
  regAt,
  regByName,
} from '../../emulator/registers';
import { RegisterBank } from '../../emulator/mmio';
import { loadVm } from '../../emulator/program';

describe('genxml registers: the generated table', () => {
  it('emulator/registers.gen.ts is current (npm run gen:registers)', () => {
    const { registers, collisions } = genRegisters();
    const file = readFileSync(join(__dirname, '..', '..', 'emulator', 'registers.gen.ts'), 'utf8');
    assert.equal(file, render(registers, collisions));
  });

  it('agrees with genxml: every gen8/gen9 register in range, at its offset, with every field at its bits', () => {
    const declared = handDeclaredMmio();
    for (const gen of [8, 9]) {
      const doc = loadGenxml(genxmlDir(), `gen${gen}.xml`);
      for (const el of doc.items.values()) {
        if (el.tag !== 'register') continue;
        const offset = xmlNumber(el.attrs.num)!;
        if (!inOurRange(offset)) continue;
        const entry = GENXML_REGISTERS.find((r) => r.name === el.attrs.name && r.gens.includes(gen));
        if (declared.has(offset)) {
          assert.equal(entry, undefined, `${el.attrs.name} collides with ${declared.get(offset)} and is left out`);
          continue;
        }
        assert.ok(entry, `gen${gen} ${el.attrs.name} is in the table`);
        assert.equal(entry.offset, offset, el.attrs.name);
        assert.equal(entry.dwords, xmlNumber(el.attrs.length) ?? 1, el.attrs.name);
        const want = el.children
          .filter((c) => c.tag === 'field')
          .map((c) => [c.attrs.name, xmlNumber(c.attrs.start), xmlNumber(c.attrs.end)]);
        const got = entry.fields.map((fd) => [fd.n, fd.s, fd.e]);
        assert.deepEqual(
          new Set(got.map((x) => JSON.stringify(x))),
          new Set(want.map((x) => JSON.stringify(x))),
          `gen${gen} ${el.attrs.name} fields`,
        );
      }
    }
    // The collisions the header reports are the device's own ring registers.
    assert.deepEqual(
      genRegisters().collisions.map((c) => `${c.name}=${c.declared}`),
      [
        'RCS_RING_BUFFER_CTL=rcs0.RING_CTL',
        'ACTHD_UDW=rcs0.ACTHD_UDW',
        'BCS_RING_BUFFER_CTL=bcs0.RING_CTL',
        'BCS_ACTHD_UDW=bcs0.ACTHD_UDW',
      ],
    );
  });

  it('masked registers are those whose fields 15:0 each have a Mask twin 16 bits higher', () => {
    assert.deepEqual(
      GENXML_REGISTERS.filter((r) => r.masked).map((r) => r.name),
      [
        'INSTPM',
        'CS_DEBUG_MODE2',
        'CS_CHICKEN1',
        'CACHE_MODE_0',
        'CACHE_MODE_1',
        'CACHE_MODE_1',
        'GT_MODE',
        'SLICE_COMMON_ECO_CHICKEN1',
      ],
    );
    for (const r of GENXML_REGISTERS.filter((x) => x.masked)) {
      for (const fd of r.fields.filter((x) => x.e < 16))
        assert.ok(
          r.fields.some((m) => m.n === `${fd.n} Mask` && m.s === fd.s + 16 && m.e === fd.e + 16),
          `${r.name}.${fd.n}`,
        );
    }
  });
});

describe('genxml registers: declared by the device', () => {
  it('one device-scope register per offset (gen9 layout first), fields at genxml bits, owner = the engine window holding it', () => {
    const offsets = new Set(GENXML_REGISTERS.map((r) => r.offset));
    assert.equal(GENXML_REG_DEFS.length, offsets.size);
    for (const d of GENXML_REG_DEFS) {
      const g =
        GENXML_REGISTERS.find((r) => r.offset === d.offset && r.gens.includes(9)) ??
        GENXML_REGISTERS.find((r) => r.offset === d.offset)!;
      assert.equal(d.name, g.name);
      assert.equal(d.scope, 'device');
      assert.equal(d.width, g.dwords * 32);
      assert.equal(d.masked ?? false, g.masked);
      assert.deepEqual(
        d.fields.map((fd) => [fd.name, fd.lo, fd.hi]),
        g.fields.map((fd) => [fieldNameOf(fd.n), fd.s, fd.e]),
      );
      const inst = regByName(d.name)!;
      assert.equal(inst.def, d, `${d.name} resolves by name`);
      assert.equal(regAt(d.offset)?.reg, inst, `${d.name} resolves by offset`);
      const window = ENGINES.find((e) => d.offset >= ENGINE_BASE[e] && d.offset < ENGINE_BASE[e] + ENGINE_WINDOW);
      assert.equal(d.owner, window, `${d.name} owner`);
      assert.ok(GENXML_ACCESS[d.name], `${d.name} has an access decision`);
      assert.equal(d.access, GENXML_ACCESS[d.name].access);
    }
    assert.equal(regByName('CACHE_MODE_1')!.def.owner, undefined);
    assert.equal(regByName('CS_CHICKEN1')!.def.owner, 'rcs0');
    assert.equal(regByName('BCS_INSTDONE')!.def.owner, 'bcs0');
  });

  it("the 'cmd' registers are the statistics, stream output, CACHE_MODE, L3, GT_MODE and CS chicken/debug registers", () => {
    assert.deepEqual(
      GENXML_REG_DEFS.filter((d) => d.access === 'cmd')
        .map((d) => d.name)
        .sort(),
      [
        'CACHE_MODE_0',
        'CACHE_MODE_1',
        'CL_INVOCATION_COUNT',
        'CL_PRIMITIVES_COUNT',
        'CS_CHICKEN1',
        'CS_DEBUG_MODE2',
        'CS_INVOCATION_COUNT',
        'DS_INVOCATION_COUNT',
        'FAULT_REG',
        'GS_INVOCATION_COUNT',
        'GS_PRIMITIVES_COUNT',
        'GT_MODE',
        'HS_INVOCATION_COUNT',
        'IA_PRIMITIVES_COUNT',
        'IA_VERTICES_COUNT',
        'INSTPM',
        'L3CNTLREG',
        'PS_INVOCATION_COUNT',
        'SLICE_COMMON_ECO_CHICKEN1',
        'SO_NUM_PRIMS_WRITTEN0',
        'SO_NUM_PRIMS_WRITTEN1',
        'SO_NUM_PRIMS_WRITTEN2',
        'SO_NUM_PRIMS_WRITTEN3',
        'SO_PRIM_STORAGE_NEEDED0',
        'SO_PRIM_STORAGE_NEEDED1',
        'SO_PRIM_STORAGE_NEEDED2',
        'SO_PRIM_STORAGE_NEEDED3',
        'SO_WRITE_OFFSET0',
        'SO_WRITE_OFFSET1',
        'SO_WRITE_OFFSET2',
        'SO_WRITE_OFFSET3',
        'VS_INVOCATION_COUNT',
      ],
    );
    for (const d of GENXML_REG_DEFS) assert.ok(d.why && d.why.length > 10, `${d.name}: the decision says why`);
  });
});

describe('genxml registers: the command scanner', () => {
  it("admits exactly the 'cmd' registers, each only from its owning engine", () => {
    const bank = new RegisterBank();
    for (const e of ENGINES) {
      for (const r of REGISTERS) {
        const owner = r.engine ?? r.def.owner;
        const want = r.def.access === 'cmd' && (owner === undefined || owner === e);
        for (let k = 0; k < r.def.width / 32; k++)
          assert.equal(bank.commandWritable(e, r.mmio + 4 * k), want, `${e} writes ${r.name} dword ${k}`);
      }
      assert.equal(bank.commandWritable(e, 0x7ff0), false, 'an offset no register holds');
    }
  });

  it('masked writes: bits 31:16 enable bits 15:0, for commands and the driver alike', () => {
    const bank = new RegisterBank();
    bank.reset();
    const cm1 = regByName('CACHE_MODE_1')!;
    assert.equal(bank.commandWrite('rcs0', 0x7004, 0x0021_0021), cm1);
    assert.equal(bank.read(0x7004), 0x0021, 'enabled bits set, no enables stored');
    bank.commandWrite('bcs0', 0x7004, 0x0001_0000);
    assert.equal(bank.read(0x7004), 0x0020, 'bit 0 cleared (a device register: any engine)');
    bank.driverWrite(0x7004, 0x0000_ffff);
    assert.equal(bank.read(0x7004), 0x0020, 'no enables: nothing changes');
    bank.driverWrite(0x7034, 0xdead_beef);
    assert.equal(bank.read(0x7034) >>> 0, 0xdead_beef, 'L3CNTLREG is not masked');
    assert.equal(bank.commandWrite('bcs0', 0x2580, 0x0001_0001), 'privileged', "CS_CHICKEN1 is rcs0's");
  });
});

describe('genxml registers: batches', () => {
  const program = (body: string, engine = 'rcs0') => `.vm memory=64M
.map 0x100000, 0x100000, 64K, rw
.batch b, 0x100000${engine === 'rcs0' ? '' : `, ${engine}`}
${body}
    MI_BATCH_BUFFER_END
.ring ${engine}
    MI_BATCH_BUFFER_START addr=b
.submit ${engine}
.wait ${engine}
`;
  const run = (body: string, engine = 'rcs0') => {
    const vm = loadVm('genxml-registers.vgpu', { autoRollback: false }, program(body, engine));
    return { vm, result: vm.run() };
  };

  it('MI_LOAD_REGISTER_IMM loads CACHE_MODE_1 (0x7004) as a masked register, Byte Write Disables included', () => {
    const { vm, result } = run(
      [
        '    MI_LOAD_REGISTER_IMM CACHE_MODE_1=0x00300030',
        '    MI_LOAD_REGISTER_IMM 0x7004=0x00100000',
        '    MI_LOAD_REGISTER_IMM byte_write_disables=0xc, CACHE_MODE_1=0x00010001',
        '    MI_LOAD_REGISTER_IMM L3CNTLREG=0x60000060, SO_WRITE_OFFSET1=0x40, CL_INVOCATION_COUNT=7',
      ].join('\n'),
    );
    assert.equal(result, 'done', vm.pending?.message);
    // 0x30 set; bit 4 cleared; the last write would set bit 0, but its enable bytes (2, 3) are disabled, so it changes nothing.
    assert.equal(vm.registerValue(0x7004), 0x20);
    assert.equal(vm.registerValue(0x7034) >>> 0, 0x60000060);
    assert.equal(vm.registerValue(0x5284), 0x40);
    assert.equal(vm.registerValue(0x2338), 7);
  });

  it('RING_CTL, SC_INSTDONE and, from the blitter, CS_CHICKEN1 are privileged-register', () => {
    for (const [body, engine, name] of [
      ['    MI_LOAD_REGISTER_IMM RING_CTL=1', 'rcs0', 'RING_CTL'],
      ['    MI_LOAD_REGISTER_IMM SC_INSTDONE=1', 'rcs0', 'SC_INSTDONE'],
      ['    MI_LOAD_REGISTER_IMM CS_CHICKEN1=0x00010001', 'bcs0', 'CS_CHICKEN1'],
    ]) {
      const { vm, result } = run(body, engine);
      assert.equal(result, 'error', name);
      assert.equal(vm.pending!.kind, 'privileged-register', name);
      assert.match(vm.pending!.message, new RegExp(name));
    }
  });
});
