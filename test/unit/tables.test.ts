// Consistency of the device tables: commands (headers, lengths, opcodes, fields), OPCAP, registers and capabilities.

import * as assert from 'node:assert/strict';
import { FEATURES, GENERATIONS, LIMITS, PCI_CAPS, PCI_EXT_CAPS, gencapValue } from '../../emulator/capabilities';
import {
  CLIENT_CODE, COMMANDS, CommandDef, OPCODE_BITS, clientOf, commandByMnemonic, commandIndex, declaredLength, decodeCommand,
  encodeCommand, opcodeOf,
} from '../../emulator/commands';
import {
  CAP_BASE, CAP_REG_DEFS, DEVICE_REG_DEFS, ENGINES, ENGINE_BASE, ENGINE_REGS, ENGINE_WINDOW, REGISTERS, RegDef, regAt, regByName,
} from '../../emulator/registers';
import { physicalCaps, versionAccepts } from '../../emulator/vdev';

/** SPEC section 4, column "header": the contract the table must match. */
const SPEC_HEADERS: Record<string, number> = {
  MI_NOOP: 0x00000000,
  MI_USER_INTERRUPT: 0x01000000,
  MI_ARB_CHECK: 0x02800000,
  MI_BATCH_BUFFER_END: 0x05000000,
  MI_CONDITIONAL_BATCH_BUFFER_END: 0x1b000002,
  MI_SEMAPHORE_WAIT: 0x0e008002,
  MI_STORE_DATA_IMM: 0x10000002,
  MI_LOAD_REGISTER_IMM: 0x11000001,
  MI_STORE_REGISTER_MEM: 0x12000002,
  MI_FLUSH_DW: 0x13000003,
  MI_LOAD_REGISTER_MEM: 0x14800002,
  MI_LOAD_REGISTER_REG: 0x15000001,
  MI_COPY_MEM_MEM: 0x17000003,
  MI_ATOMIC: 0x17800001,
  MI_BATCH_BUFFER_START: 0x18800101,
  XY_FAST_COPY_BLT: 0x50800008,
  XY_COLOR_BLT: 0x54300005,
  XY_SRC_COPY_BLT: 0x54f00008,
  PIPE_CONTROL: 0x7a000004,
};

/** SPEC section 1: the feature each version-gated command needs. */
const SPEC_REQUIRES: Record<string, string> = {
  MI_SEMAPHORE_WAIT: 'SEMAPHORE_WAIT',
  XY_FAST_COPY_BLT: 'FAST_COPY',
  MI_ATOMIC: 'ATOMIC_COPY',
  MI_COPY_MEM_MEM: 'ATOMIC_COPY',
  MI_CONDITIONAL_BATCH_BUFFER_END: 'COND_BB_END',
};

function lengths(d: CommandDef): number[] {
  const r = d.length;
  return r.kind === 'fixed' ? [r.dwords] : r.kind === 'flag' ? [r.off, r.on] : [3, 5, 33];
}

/** The header for a given total length (DWord Length and, for flag rules, the flag). */
function headerFor(d: CommandDef, len: number): number {
  let h = d.header;
  const r = d.length;
  if (r.kind === 'flag') {
    const f = d.fields.find((x) => x.name === r.field)!;
    h = len === r.on ? h | (1 << f.lo) : h & ~(1 << f.lo);
  }
  if (d.lengthBits) h = (h & ~((1 << d.lengthBits) - 1)) | (len - 2);
  return h >>> 0;
}

const fieldMask = (lo: number, hi: number) => (hi - lo >= 31 ? 0xffffffff : ((2 ** (hi - lo + 1) - 1) * 2 ** lo)) >>> 0;

describe('tables: commands', () => {
  it('matches the SPEC headers, one entry each, mnemonics unique', () => {
    assert.deepEqual(COMMANDS.map((d) => d.mnemonic).sort(), Object.keys(SPEC_HEADERS).sort());
    for (const d of COMMANDS) assert.equal(d.header, SPEC_HEADERS[d.mnemonic], d.mnemonic);
    for (const d of COMMANDS) assert.equal(commandByMnemonic(d.mnemonic.toLowerCase()), d);
  });

  it('opcodes are unique per client and the header client field matches', () => {
    const seen = new Map<string, string>();
    for (const d of COMMANDS) {
      assert.equal(clientOf(d.header), CLIENT_CODE[d.client], d.mnemonic);
      const key = `${d.client}:${opcodeOf(d.client, d.header)}`;
      assert.ok(!seen.has(key), `${d.mnemonic} and ${seen.get(key)} share ${key}`);
      seen.set(key, d.mnemonic);
    }
  });

  it('every header decodes to its own command, at every legal length', () => {
    COMMANDS.forEach((d, i) => {
      for (const len of lengths(d)) {
        const h = headerFor(d, len);
        assert.equal(commandIndex(h), i, `${d.mnemonic} 0x${h.toString(16)}`);
        const dec = decodeCommand([h, ...new Array(len - 1).fill(0)]);
        assert.ok(typeof dec !== 'string', `${d.mnemonic}: ${dec}`);
        assert.equal(dec.def, d);
        assert.equal(dec.length, len);
      }
    });
  });

  it('a header with other field values still decodes to the same command', () => {
    COMMANDS.forEach((d, i) => {
      const b = OPCODE_BITS[d.client];
      const identity = (fieldMask(29, 31) | fieldMask(b.lo, b.hi)) >>> 0;
      for (const noise of [0, 0x55555555, 0xaaaaaaaa, 0xffffffff]) {
        const h = ((d.header & identity) | (noise & ~identity)) >>> 0;
        assert.equal(commandIndex(h), i, `${d.mnemonic} with 0x${h.toString(16)}`);
      }
    });
  });

  it('declaredLength follows each length rule and rejects the rest', () => {
    for (const d of COMMANDS) {
      const legal = lengths(d);
      for (const len of legal) assert.equal(declaredLength(d, headerFor(d, len)), len, `${d.mnemonic} at ${len}`);
      if (!d.lengthBits) continue;
      const r = d.length;
      for (let len = 2; len < 40; len++) {
        if (legal.includes(len)) continue;
        if (r.kind === 'pairs' && len % 2 === 1) continue;
        if (r.kind === 'flag') {
          // The long length with the flag clear (and vice versa) is wrong too.
          const f = d.fields.find((x) => x.name === r.field)!;
          const h = (((d.header | (1 << f.lo)) & ~((1 << d.lengthBits) - 1)) | (len - 2)) >>> 0;
          if (len !== r.on) assert.equal(typeof declaredLength(d, h), 'string', `${d.mnemonic} flag set, length ${len}`);
        }
        const h = ((d.header & ~((1 << d.lengthBits) - 1)) | (len - 2)) >>> 0;
        if (r.kind === 'flag' && len === r.off) continue;
        assert.match(String(declaredLength(d, h)), new RegExp(`^${d.mnemonic} `), `${d.mnemonic} at ${len}`);
      }
    }
  });

  it('the table header carries the default length in DWord Length', () => {
    for (const d of COMMANDS) {
      const len = lengths(d)[0];
      if (d.lengthBits) assert.equal(d.header & ((1 << d.lengthBits) - 1), len - 2, d.mnemonic);
      else assert.equal(len, 1, `${d.mnemonic} has no length field, so it is one dword`);
    }
  });

  it('fields fit their dwords, avoid the header identity bits, and do not overlap', () => {
    for (const d of COMMANDS) {
      const maxLen = Math.max(...lengths(d));
      const b = OPCODE_BITS[d.client];
      const used = new Map<number, number>([[0, (fieldMask(29, 31) | fieldMask(b.lo, b.hi) | (d.lengthBits ? fieldMask(0, d.lengthBits - 1) : 0)) >>> 0]]);
      const names = new Set<string>();
      for (const f of d.fields) {
        assert.ok(!names.has(f.name), `${d.mnemonic}.${f.name} twice`);
        names.add(f.name);
        assert.ok(f.dw >= 0 && f.dw < maxLen, `${d.mnemonic}.${f.name} dword ${f.dw}`);
        const wide = f.kind === 'addr' || f.kind === 'u64';
        if (wide) {
          assert.ok(f.dw + 1 < maxLen || f.kind === 'u64', `${d.mnemonic}.${f.name} needs two dwords`);
          assert.equal(f.lo, 0);
          continue;
        }
        assert.ok(f.lo >= 0 && f.lo <= f.hi && f.hi < 32, `${d.mnemonic}.${f.name} bits ${f.hi}:${f.lo}`);
        const m = fieldMask(f.lo, f.hi);
        assert.equal((used.get(f.dw) ?? 0) & m, 0, `${d.mnemonic}.${f.name} overlaps another field or the header identity`);
        used.set(f.dw, ((used.get(f.dw) ?? 0) | m) >>> 0);
        if (f.default !== undefined) assert.ok(f.default < 2 ** (f.hi - f.lo + 1), `${d.mnemonic}.${f.name} default fits`);
        for (const v of Object.values(f.values ?? {})) assert.ok(v < 2 ** (f.hi - f.lo + 1), `${d.mnemonic}.${f.name} value ${v} fits`);
      }
      const r = d.length;
      if (r.kind === 'flag') assert.ok(names.has(r.field), `${d.mnemonic}: length flag ${r.field} is a field`);
      for (const w of d.writes ?? []) assert.ok(names.has(w.addr), `${d.mnemonic}: write address ${w.addr} is a field`);
    }
  });

  it('decode(encode(fields)) == fields and encode(decode(x)) == x, at every legal length', () => {
    for (const d of COMMANDS) {
      for (const len of lengths(d)) {
        const given = new Map<string, bigint>();
        for (const f of d.fields) {
          if (f.dw >= len) continue;
          const r = d.length;
          if (r.kind === 'flag' && f.name === r.field) given.set(f.name, len === r.on ? 1n : 0n);
          else if (f.kind === 'addr') given.set(f.name, 0x1234_5678_9ac0n);
          else if (f.kind === 'u64') given.set(f.name, f.dw + 1 < len ? 0xfedc_ba98_7654_3210n : 0x7654_3210n);
          else if (f.kind === 'reg') given.set(f.name, 0x2604n);
          else given.set(f.name, (0x5a5a_5a5an >> BigInt(f.lo)) & ((1n << BigInt(f.hi - f.lo + 1)) - 1n) || 1n);
        }
        const pairs: [number, number][] = d.length.kind === 'pairs' ? Array.from({ length: (len - 1) / 2 }, (_, i) => [0x2600 + 4 * i, i * 0x1111]) : [];
        const dw = encodeCommand(d, given, pairs);
        assert.equal(dw.length, len, `${d.mnemonic} encodes to ${len} dwords`);
        const dec = decodeCommand(dw);
        assert.ok(typeof dec !== 'string', `${d.mnemonic}: ${dec}`);
        assert.equal(dec.def, d);
        assert.deepEqual(new Map([...dec.fields].filter(([k]) => given.has(k))), given, `${d.mnemonic} fields`);
        assert.deepEqual(dec.pairs, pairs);
        assert.deepEqual(encodeCommand(d, dec.fields, dec.pairs), dw, `${d.mnemonic} at ${len}`);
      }
    }
  });

  it('engines and version requirements follow SPEC sections 1 and 4', () => {
    for (const d of COMMANDS) {
      assert.ok(d.engines.length > 0 && d.engines.every((e) => ENGINES.includes(e)), d.mnemonic);
      const expected = d.client === '2D' || d.mnemonic === 'MI_FLUSH_DW' ? ['bcs0'] : d.client === '3D' ? ['rcs0'] : ['rcs0', 'bcs0'];
      assert.deepEqual([...d.engines], expected, d.mnemonic);
      assert.equal(d.requires, SPEC_REQUIRES[d.mnemonic], d.mnemonic);
      assert.ok(d.cycles > 0);
    }
  });
});

describe('tables: OPCAP registers', () => {
  for (const v of GENERATIONS) {
    it(`version ${v}: one OPCAP bit per accepted command, none for the others`, () => {
      const regs = physicalCaps(v).registers;
      const expect = { MI: 0n, '2D': 0n, '3D': 0n };
      for (const d of COMMANDS) {
        const bit = d.client === '3D' ? 0 : opcodeOf(d.client, d.header);
        const reg = d.client === 'MI' ? 'OPCAP_MI' : d.client === '3D' ? 'OPCAP_3D' : bit < 64 ? 'OPCAP_2D_LO' : 'OPCAP_2D_HI';
        const set = ((regs.get(reg)! >> BigInt(bit % 64)) & 1n) === 1n;
        assert.equal(set, versionAccepts(v, d), `${d.mnemonic} in ${reg} bit ${bit % 64}`);
        if (versionAccepts(v, d)) expect[d.client] |= 1n << BigInt(bit);
      }
      assert.equal(regs.get('OPCAP_MI'), expect.MI);
      assert.equal(regs.get('OPCAP_2D_LO')! | (regs.get('OPCAP_2D_HI')! << 64n), expect['2D']);
      assert.equal(regs.get('OPCAP_3D'), expect['3D']);
    });
  }
});

describe('tables: registers', () => {
  const checkFields = (r: RegDef) => {
    const names = new Set<string>();
    let used = 0n;
    for (const f of r.fields) {
      assert.ok(f.lo >= 0 && f.lo <= f.hi && f.hi < r.width, `${r.name}.${f.name} bits ${f.hi}:${f.lo} in ${r.width}`);
      const m = ((1n << BigInt(f.hi - f.lo + 1)) - 1n) << BigInt(f.lo);
      assert.equal(used & m, 0n, `${r.name}.${f.name} overlaps`);
      used |= m;
      assert.ok(!names.has(f.name), `${r.name}.${f.name} twice`);
      names.add(f.name);
      for (const k of Object.keys(f.values ?? {})) assert.ok(Number(k) < 2 ** (f.hi - f.lo + 1), `${r.name}.${f.name} value ${k}`);
    }
    assert.ok(r.reset >= 0 && r.reset < 2 ** Math.min(r.width, 32), `${r.name} reset`);
  };

  it('engine register offsets are unique, aligned and inside the engine window', () => {
    const offs = new Set<number>();
    for (const r of ENGINE_REGS) {
      assert.ok(!offs.has(r.offset), `${r.name} offset 0x${r.offset.toString(16)} twice`);
      offs.add(r.offset);
      assert.equal(r.offset % (r.width / 8), 0, r.name);
      assert.ok(r.offset + r.width / 8 <= ENGINE_WINDOW, `${r.name} inside the window`);
      assert.equal(r.scope, 'engine');
      checkFields(r);
    }
  });

  it('SPEC offsets of the engine registers', () => {
    const at = (n: string) => ENGINE_REGS.find((r) => r.name === n)!.offset;
    assert.deepEqual(
      ['RING_TAIL', 'RING_HEAD', 'RING_START', 'RING_CTL', 'ACTHD_UDW', 'ACTHD', 'BB_ADDR_UDW', 'BB_ADDR', 'PDP0_UDW', 'PDP0_LDW', 'TIMESTAMP', 'EPT_VIEW'].map(at),
      [0x30, 0x34, 0x38, 0x3c, 0x5c, 0x74, 0x168, 0x140, 0x270, 0x274, 0x358, 0x3f0],
    );
    for (let n = 0; n < 16; n++) assert.deepEqual([at(`CS_GPR${n}`), at(`CS_GPR${n}_UDW`)], [0x600 + 8 * n, 0x604 + 8 * n]);
    assert.deepEqual(ENGINE_REGS.filter((r) => r.access === 'cmd').map((r) => r.name).sort(), ENGINE_REGS.filter((r) => /^CS_GPR/.test(r.name)).map((r) => r.name).sort(), 'commands may write only CS_GPRs');
  });

  it('device and capability registers: unique, aligned, fields within width', () => {
    for (const defs of [DEVICE_REG_DEFS, CAP_REG_DEFS]) {
      const offs = new Set<number>();
      for (const r of defs) {
        assert.ok(!offs.has(r.offset), `${r.name} offset twice`);
        offs.add(r.offset);
        assert.equal(r.offset % (r.width / 8), 0, r.name);
        checkFields(r);
      }
    }
    assert.deepEqual(CAP_REG_DEFS.map((r) => [r.name, r.offset, r.width]), [
      ['VERSION', 0x00, 32], ['GENCAP', 0x08, 64], ['ENGCAP', 0x10, 64], ['OPCAP_MI', 0x20, 64],
      ['OPCAP_2D_LO', 0x28, 64], ['OPCAP_2D_HI', 0x30, 64], ['OPCAP_3D', 0x38, 64],
    ]);
    assert.ok(CAP_REG_DEFS.every((r) => r.access === 'ro'), 'capability registers are read-only');
    assert.deepEqual(DEVICE_REG_DEFS.map((r) => r.offset), [0x4400, 0x4404, 0x4408]);
  });

  it('every MMIO dword belongs to exactly one register instance, found by offset and by name', () => {
    const dwords = new Set<number>();
    for (const r of REGISTERS) {
      for (let k = 0; k < r.def.width / 32; k++) {
        const mmio = r.mmio + 4 * k;
        assert.ok(!dwords.has(mmio), `${r.name} dword ${k} collides at 0x${mmio.toString(16)}`);
        dwords.add(mmio);
        assert.deepEqual(regAt(mmio), { reg: r, dword: k });
      }
      assert.equal(regByName(r.name), r);
      if (r.engine) {
        assert.ok(r.mmio >= ENGINE_BASE[r.engine] && r.mmio < ENGINE_BASE[r.engine] + ENGINE_WINDOW);
        assert.equal(regByName(r.def.name.toLowerCase(), r.engine), r, 'unprefixed names resolve on the default engine');
      }
      if (r.def.scope === 'cap') assert.equal(r.mmio, CAP_BASE + r.def.offset);
    }
    // Engine windows do not overlap each other or the device and capability registers.
    for (const e of ENGINES) {
      for (const r of REGISTERS) if (r.engine !== e) assert.ok(r.mmio < ENGINE_BASE[e] || r.mmio >= ENGINE_BASE[e] + ENGINE_WINDOW, `${r.name} in ${e}'s window`);
    }
  });
});

describe('tables: capabilities', () => {
  it('GENCAP bits and limits match the SPEC table', () => {
    assert.deepEqual(FEATURES.map((f) => [f.bit, f.minGen]), [[0, 1], [1, 2], [2, 3], [3, 2], [4, 2], [5, 3], [6, 2], [7, 3]]);
    assert.deepEqual(GENERATIONS.map((g) => [LIMITS[g].maxBatchDepth, LIMITS[g].maxRingPages]), [[2, 32], [3, 64], [3, 512]]);
    assert.deepEqual(GENERATIONS.map((g) => gencapValue(g)), [0x0020_0201, 0x0040_035b, 0x0200_03ff]);
  });

  it('PCI capabilities: SPEC ids and generations, aligned, inside their region, no overlap', () => {
    assert.deepEqual(PCI_CAPS.map((c) => [c.id, c.minGen]), [[0x01, 1], [0x05, 1], [0x10, 1], [0x09, 1]]);
    assert.deepEqual(PCI_EXT_CAPS.map((c) => [c.id, c.minGen]), [[0x000f, 2], [0x001b, 3], [0x0013, 3]]);
    for (const [list, lo, hi] of [[PCI_CAPS, 0x40, 0x100], [PCI_EXT_CAPS, 0x100, 0x1000]] as const) {
      let end = lo;
      for (const c of [...list].sort((a, b) => a.offset - b.offset)) {
        assert.equal(c.offset % 4, 0, c.name);
        assert.ok(c.offset >= end, `${c.name} overlaps the one before`);
        end = c.offset + c.size;
        assert.ok(end <= hi, `${c.name} ends inside its region`);
        for (const v of GENERATIONS) assert.ok(c.body(v).length + (lo === 0x40 ? 2 : 4) <= c.size, `${c.name} body fits`);
      }
    }
  });
});
