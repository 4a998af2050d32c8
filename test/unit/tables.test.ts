// Consistency of the device tables: commands (headers, lengths, opcodes, fields), OPCAP, registers and capabilities.

import * as assert from 'node:assert/strict';
import { FEATURES, GENERATIONS, LIMITS, PCI_CAPS, PCI_EXT_CAPS, gencapValue } from '../../emulator/capabilities';
import {
  CLIENT_CODE,
  COMMANDS,
  CmdField,
  CommandDef,
  GENS,
  clientOf,
  commandByMnemonic,
  commandIndex,
  commandsOf,
  declaredLength,
  decodeCommand,
  encodeCommand,
  opcapOf,
  validLengths,
} from '../../emulator/commands';
import {
  CAP_BASE,
  CAP_REG_DEFS,
  DEVICE_REG_DEFS,
  ENGINES,
  ENGINE_BASE,
  ENGINE_REGS,
  ENGINE_WINDOW,
  REGISTERS,
  RegDef,
  regAt,
  regByName,
} from '../../emulator/registers';
import { physicalCaps, versionAccepts } from '../../emulator/vdev';

/** SPEC section 4, column "header": the identity and default length the table must match (gen9). */
const SPEC_HEADERS: Record<string, number> = {
  MI_NOOP: 0x00000000,
  MI_USER_INTERRUPT: 0x01000000,
  MI_ARB_CHECK: 0x02800000,
  MI_BATCH_BUFFER_END: 0x05000000,
  MI_CONDITIONAL_BATCH_BUFFER_END: 0x1b000002,
  MI_SEMAPHORE_WAIT: 0x0e000002,
  MI_STORE_DATA_IMM: 0x10000002,
  MI_LOAD_REGISTER_IMM: 0x11000001,
  MI_STORE_REGISTER_MEM: 0x12000002,
  MI_FLUSH_DW: 0x13000003,
  MI_LOAD_REGISTER_MEM: 0x14800002,
  MI_LOAD_REGISTER_REG: 0x15000001,
  MI_COPY_MEM_MEM: 0x17000003,
  MI_ATOMIC: 0x17800001,
  MI_BATCH_BUFFER_START: 0x18800001,
  XY_FAST_COPY_BLT: 0x50800008,
  XY_COLOR_BLT: 0x54000005,
  XY_SRC_COPY_BLT: 0x54c00008,
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

/** Commands genxml declares with fields reaching past their length. */
const GENXML_PAST_LENGTH = new Set(['MI_DISPLAY_FLIP', 'SWTESS_BASE_ADDRESS']);

/** The header for a given total length (DWord Length and, for flag rules, the flag). */
function headerFor(d: CommandDef, len: number): number {
  let h = d.header;
  const r = d.length;
  if (r.kind === 'flag') {
    const f = d.fields.find((x) => x.name === r.field)!;
    h = len === r.on ? h | (1 << f.lo) : h & ~(1 << f.lo);
  }
  if (d.lengthBits) h = (h & ~((1 << d.lengthBits) - 1)) | (len - d.bias);
  return h >>> 0;
}

/** The bits of a field over its dwords, as one bigint mask (bit 0 = DW0 bit 0). */
const span = (dw: number, lo: number, hi: number) => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(32 * dw + lo);

describe('tables: commands', () => {
  it('the SPEC commands keep their headers (identity and default length), by name, case-insensitively', () => {
    for (const [m, h] of Object.entries(SPEC_HEADERS)) {
      const d = commandByMnemonic(m)!;
      assert.ok(d, m);
      assert.equal(d.header, h, `${m} 0x${d.header.toString(16)}`);
      assert.equal(commandByMnemonic(m.toLowerCase()), d);
    }
  });

  it('each generation maps every one of its commands, and only those, by header', () => {
    for (const gen of GENS) {
      const seen = new Set<string>();
      COMMANDS.forEach((d, i) => {
        if (!d.gens.includes(gen)) return;
        assert.ok(!seen.has(d.mnemonic), `gen${gen} declares ${d.mnemonic} twice`);
        seen.add(d.mnemonic);
        assert.equal(clientOf(d.header), CLIENT_CODE[d.client], d.mnemonic);
        assert.equal(commandIndex(d.header, gen), i, `gen${gen} ${d.mnemonic}`);
        assert.equal(commandByMnemonic(d.mnemonic, gen), d);
      });
      assert.equal(commandsOf(gen).length, seen.size);
    }
  });

  it('every header decodes to its own command, at every legal length', () => {
    COMMANDS.forEach((d, i) => {
      const gen = d.gens[0];
      for (const len of validLengths(d)) {
        const h = headerFor(d, len);
        assert.equal(commandIndex(h, gen), i, `${d.mnemonic} 0x${h.toString(16)}`);
        const dec = decodeCommand([h, ...new Array(len - 1).fill(0)], 0, len, gen);
        assert.ok(typeof dec !== 'string', `${d.mnemonic}: ${dec}`);
        assert.equal(dec.def, d);
        assert.equal(dec.length, len);
      }
    });
  });

  it('a header with other field values still decodes to the same command', () => {
    COMMANDS.forEach((d, i) => {
      for (const noise of [0, 0x55555555, 0xaaaaaaaa, 0xffffffff]) {
        const h = ((d.header & d.identityMask) | (noise & ~d.identityMask)) >>> 0;
        assert.equal(commandIndex(h, d.gens[0]), i, `${d.mnemonic} with 0x${h.toString(16)}`);
      }
    });
  });

  it('declaredLength follows each length rule and rejects the rest', () => {
    for (const d of COMMANDS) {
      const legal = validLengths(d);
      for (const len of legal) assert.equal(declaredLength(d, headerFor(d, len)), len, `${d.mnemonic} at ${len}`);
      if (!d.lengthBits) continue;
      const r = d.length;
      if (r.kind === 'group' || r.kind === 'pairs') continue;
      for (let len = d.bias; len < 40; len++) {
        if (legal.includes(len)) continue;
        if (r.kind === 'flag') {
          // The long length with the flag clear (and vice versa) is wrong too.
          const flagField = r.field;
          const f: CmdField = d.fields.find((x) => x.name === flagField)!;
          const h: number = (((d.header | (1 << f.lo)) & ~((1 << d.lengthBits) - 1)) | (len - d.bias)) >>> 0;
          if (len !== r.on)
            assert.equal(typeof declaredLength(d, h), 'string', `${d.mnemonic} flag set, length ${len}`);
        }
        const h = ((d.header & ~((1 << d.lengthBits) - 1)) | (len - d.bias)) >>> 0;
        if (r.kind === 'flag' && len === r.off) continue;
        assert.match(String(declaredLength(d, h)), new RegExp(`^${d.mnemonic} `), `${d.mnemonic} at ${len}`);
      }
    }
  });

  it('the table header carries the default length in DWord Length; the header is its named fields', () => {
    for (const d of COMMANDS) {
      let h = 0;
      for (const f of d.headerFields) h = (h | ((f.default ?? 0) << f.lo)) >>> 0;
      if (d.lengthBits) assert.ok((d.header & ((1 << d.lengthBits) - 1)) + d.bias >= 1, d.mnemonic);
      assert.equal(h & d.identityMask, d.header & d.identityMask, `${d.mnemonic} identity`);
    }
  });

  it('fields fit their dwords and do not overlap each other or the header', () => {
    for (const d of COMMANDS) {
      const maxLen = Math.max(...validLengths(d));
      let used = 0n;
      for (const f of d.headerFields) used |= span(0, f.lo, f.hi);
      const names = new Set<string>();
      for (const f of d.fields) {
        assert.ok(!names.has(f.name), `${d.mnemonic}.${f.name} twice`);
        names.add(f.name);
        // genxml declares a few fields past a command's length (MI_DISPLAY_FLIP's stereo address, SWTESS_BASE_ADDRESS's
        // high bits): they are in the table as genxml has them, and read as absent.
        assert.ok(
          f.dw >= 0 && (f.dw < maxLen || GENXML_PAST_LENGTH.has(d.mnemonic)),
          `${d.mnemonic}.${f.name} dword ${f.dw}`,
        );
        assert.ok(f.lo >= 0 && f.lo <= f.hi && f.hi < 64 && f.lo < 32, `${d.mnemonic}.${f.name} bits ${f.hi}:${f.lo}`);
        const m = span(f.dw, f.lo, f.hi);
        assert.equal(used & m, 0n, `${d.mnemonic}.${f.name} overlaps another field or the header`);
        used |= m;
        if (f.default !== undefined)
          assert.ok(f.default < 2 ** (f.hi - f.lo + 1), `${d.mnemonic}.${f.name} default fits`);
        for (const v of Object.values(f.values ?? {}))
          assert.ok(v < 2 ** (f.hi - f.lo + 1), `${d.mnemonic}.${f.name} value ${v} fits`);
      }
      const r = d.length;
      if (r.kind === 'flag') assert.ok(names.has(r.field), `${d.mnemonic}: length flag ${r.field} is a field`);
      for (const w of d.writes ?? [])
        if (w.addr !== '') assert.ok(names.has(w.addr), `${d.mnemonic}: write address ${w.addr} is a field`);
    }
  });

  it('decode(encode(fields)) == fields and encode(decode(x)) == x, at every legal length', () => {
    for (const d of COMMANDS) {
      const gen = d.gens[0];
      for (const len of validLengths(d)) {
        const given = new Map<string, bigint>();
        for (const f of d.fields) {
          if (f.dw >= len || (f.hi > 31 && f.dw + 1 >= len && GENXML_PAST_LENGTH.has(d.mnemonic))) continue;
          const r = d.length;
          const room = Math.min(f.hi + 1, 32 * (len - f.dw)) - f.lo;
          if (r.kind === 'flag' && f.name === r.field) given.set(f.name, len === r.on ? 1n : 0n);
          else if (f.kind === 'addr')
            given.set(
              f.name,
              0x1234_5678_9ac0n & ((1n << BigInt(Math.min(f.hi, 47) + 1)) - 1n) & ~((1n << BigInt(f.lo)) - 1n),
            );
          else if (f.kind === 'reg') given.set(f.name, 0x2604n);
          else if (f.kind === 'offset')
            given.set(
              f.name,
              0x5a5a_5a5an & ((1n << BigInt(f.hi + 1)) - 1n) & ~((1n << BigInt(f.lo)) - 1n) || 1n << BigInt(f.lo),
            );
          else given.set(f.name, (0xfedc_ba98_5a5a_5a5an >> BigInt(f.lo)) & ((1n << BigInt(room)) - 1n) || 1n);
        }
        if (d.length.kind === 'range') given.set('dword_length', BigInt(len - d.bias));
        if (d.length.kind === 'group') {
          const n = (len - d.length.base) / d.length.entry;
          for (let k = 0; k < n; k++)
            for (const f of d.groupFields)
              given.set(
                `${f.name}.${k}`,
                BigInt((k + 1) & ((1 << Math.min(f.hi - f.lo + 1, 30)) - 1)) <<
                  BigInt(['addr', 'offset', 'reg'].includes(f.kind) ? f.lo : 0),
              );
        }
        const pairs: [number, number][] =
          d.length.kind === 'pairs'
            ? Array.from({ length: (len - 1) / 2 }, (_, i) => [0x2600 + 4 * i, i * 0x1111])
            : [];
        const dw = encodeCommand(d, given, pairs);
        assert.equal(dw.length, len, `${d.mnemonic} encodes to ${len} dwords`);
        const dec = decodeCommand(dw, 0, dw.length, gen);
        assert.ok(typeof dec !== 'string', `${d.mnemonic}: ${dec}`);
        assert.equal(dec.def, d);
        assert.deepEqual(
          new Map([...dec.fields].filter(([k]) => given.has(k))),
          new Map([...given].filter(([k]) => k !== 'dword_length')),
          `${d.mnemonic} fields`,
        );
        assert.deepEqual(dec.pairs, pairs);
        const again = new Map(dec.fields);
        if (d.length.kind === 'range') again.set('dword_length', BigInt(len - d.bias));
        assert.deepEqual(encodeCommand(d, again, dec.pairs), dw, `${d.mnemonic} at ${len}`);
      }
    }
  });

  it('engines and version requirements follow SPEC sections 1 and 4 and genxml', () => {
    for (const d of COMMANDS) {
      assert.ok(d.engines.length > 0 && d.engines.every((e) => ENGINES.includes(e)), d.mnemonic);
      if (SPEC_HEADERS[d.mnemonic] !== undefined) {
        const expected =
          d.client === '2D' || d.mnemonic === 'MI_FLUSH_DW'
            ? ['bcs0']
            : d.client === '3D'
              ? ['rcs0']
              : ['rcs0', 'bcs0'];
        assert.deepEqual([...d.engines], expected, d.mnemonic);
      } else if (d.client === '3D') assert.deepEqual([...d.engines], ['rcs0'], d.mnemonic);
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
        const { register: reg, bit } = opcapOf(d);
        const set = ((regs.get(reg)! >> BigInt(bit)) & 1n) === 1n;
        // Every command sharing an OPCAP bit is accepted alike (3D commands share theirs by class).
        if (versionAccepts(v, d)) assert.ok(set, `${d.mnemonic} in ${reg} bit ${bit}`);
        if (versionAccepts(v, d)) expect[d.client] |= 1n << BigInt(reg === 'OPCAP_2D_HI' ? bit + 64 : bit);
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
      for (const k of Object.keys(f.values ?? {}))
        assert.ok(Number(k) < 2 ** (f.hi - f.lo + 1), `${r.name}.${f.name} value ${k}`);
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
      [
        'RING_TAIL',
        'RING_HEAD',
        'RING_START',
        'RING_CTL',
        'ACTHD_UDW',
        'ACTHD',
        'BB_ADDR_UDW',
        'BB_ADDR',
        'PDP0_LDW',
        'PDP0_UDW',
        'TIMESTAMP',
        'EPT_VIEW',
        'HWS_PGA',
      ].map(at),
      [0x30, 0x34, 0x38, 0x3c, 0x5c, 0x74, 0x168, 0x140, 0x270, 0x274, 0x358, 0x3f0, 0x80],
    );
    for (let n = 0; n < 16; n++)
      assert.deepEqual([at(`CS_GPR${n}`), at(`CS_GPR${n}_UDW`)], [0x600 + 8 * n, 0x604 + 8 * n]);
    // The command scanner's allow-list in the engine window: the CS_GPRs and the MI_PREDICATE registers (i915's and GVT-g's).
    assert.deepEqual(
      ENGINE_REGS.filter((r) => r.access === 'cmd')
        .map((r) => r.name)
        .sort(),
      ENGINE_REGS.filter((r) => /^(CS_GPR|MI_PREDICATE_)/.test(r.name))
        .map((r) => r.name)
        .sort(),
    );
    assert.deepEqual(
      [
        'MI_PREDICATE_SRC0',
        'MI_PREDICATE_SRC1',
        'MI_PREDICATE_DATA',
        'MI_PREDICATE_RESULT',
        'MI_PREDICATE_RESULT_1',
        'MI_PREDICATE_RESULT_2',
      ].map(at),
      [0x400, 0x408, 0x410, 0x418, 0x41c, 0x3bc],
    );
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
    assert.deepEqual(
      CAP_REG_DEFS.map((r) => [r.name, r.offset, r.width]),
      [
        ['VERSION', 0x00, 32],
        ['GENCAP', 0x08, 64],
        ['ENGCAP', 0x10, 64],
        ['OPCAP_MI', 0x20, 64],
        ['OPCAP_2D_LO', 0x28, 64],
        ['OPCAP_2D_HI', 0x30, 64],
        ['OPCAP_3D', 0x38, 64],
      ],
    );
    assert.ok(
      CAP_REG_DEFS.every((r) => r.access === 'ro'),
      'capability registers are read-only',
    );
    assert.deepEqual(
      DEVICE_REG_DEFS.slice(0, 6).map((r) => [r.name, r.offset]),
      [
        ['FAULT_ADDR_LO', 0x4400],
        ['FAULT_ADDR_HI', 0x4404],
        ['FAULT_STATUS', 0x4408],
        ['GGTT_BASE_LO', 0x4420],
        ['GGTT_BASE_HI', 0x4424],
        ['GGTT_ENTRIES', 0x4428],
      ],
    );
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
        assert.equal(
          regByName(r.def.name.toLowerCase(), r.engine),
          r,
          'unprefixed names resolve on the default engine',
        );
      }
      if (r.def.scope === 'cap') assert.equal(r.mmio, CAP_BASE + r.def.offset);
    }
    // Engine windows do not overlap each other or the device and capability registers, except for the
    // device-scope registers genxml places in an engine's window, which name it as their owner.
    for (const e of ENGINES) {
      for (const r of REGISTERS)
        if (r.engine !== e && r.def.owner !== e)
          assert.ok(r.mmio < ENGINE_BASE[e] || r.mmio >= ENGINE_BASE[e] + ENGINE_WINDOW, `${r.name} in ${e}'s window`);
    }
  });
});

describe('tables: capabilities', () => {
  it('GENCAP bits and limits match the SPEC table', () => {
    assert.deepEqual(
      FEATURES.map((f) => [f.bit, f.minGen]),
      [
        [0, 1],
        [1, 2],
        [2, 3],
        [3, 2],
        [4, 2],
        [5, 3],
        [6, 2],
        [7, 3],
      ],
    );
    assert.deepEqual(
      GENERATIONS.map((g) => [LIMITS[g].maxBatchDepth, LIMITS[g].maxRingPages]),
      [
        [2, 32],
        [3, 64],
        [3, 512],
      ],
    );
    assert.deepEqual(
      GENERATIONS.map((g) => gencapValue(g)),
      [0x0020_0201, 0x0040_035b, 0x0200_03ff],
    );
  });

  it('PCI capabilities: SPEC ids and generations, aligned, inside their region, no overlap', () => {
    assert.deepEqual(
      PCI_CAPS.map((c) => [c.id, c.minGen]),
      [
        [0x01, 1],
        [0x05, 1],
        [0x10, 1],
        [0x09, 1],
      ],
    );
    assert.deepEqual(
      PCI_EXT_CAPS.map((c) => [c.id, c.minGen]),
      [
        [0x000f, 2],
        [0x001b, 3],
        [0x0013, 3],
      ],
    );
    for (const [list, lo, hi] of [
      [PCI_CAPS, 0x40, 0x100],
      [PCI_EXT_CAPS, 0x100, 0x1000],
    ] as const) {
      let end = lo;
      for (const c of [...list].sort((a, b) => a.offset - b.offset)) {
        assert.equal(c.offset % 4, 0, c.name);
        assert.ok(c.offset >= end, `${c.name} overlaps the one before`);
        end = c.offset + c.size;
        assert.ok(end <= hi, `${c.name} ends inside its region`);
        for (const v of GENERATIONS)
          assert.ok(c.body(v).length + (lo === 0x40 ? 2 : 4) <= c.size, `${c.name} body fits`);
      }
    }
  });
});
