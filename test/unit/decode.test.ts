// commands.ts owns decoding (Mesa genxml's way): one length function, checked here against genxml read
// on its own for every command and every DWord Length value; no other module decodes a DWord Length;
// handlers read fields through per-command views and switch over enum names the table declares.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { genxmlDir } from '../../scripts/gen-commands';
import { instructions, loadGenxml, runsOnRenderOrBlitter, xmlNumber, type XmlElement } from '../../scripts/genxml';
import {
  COMMANDS,
  MAX_COMMAND_DWORDS,
  commandByMnemonic,
  commandIndex,
  commandLength,
  declaredLength,
  decodeCommand,
  entryValue,
  enumValues,
  fieldDword,
  fieldValue,
  fieldsOf,
  foreignLength,
  hasField,
  lengthError,
  lengthRuleByTopByte,
  type Gen,
} from '../../emulator/commands';

const ROOT = path.resolve(__dirname, '../..');
const DIR = genxmlDir();
const GENS: Gen[] = [8, 9];

const IDENTITY =
  /^(Command Type|Command SubType|MI Command Opcode|3D Command Opcode|3D Command Sub Opcode|Media Command Opcode|Media Command Sub-Opcode|Media Command Pipeline|Pipeline|SubOpcode)$/;

/**
 * Lengths genxml leaves to the PRM (its `length` is the short form only), as the table's overlays
 * declare them: a header flag's long form, a DWord Length that alone picks one of two forms; and the
 * genxml slips the table corrects (GENXML_FIXES).
 */
const BEYOND_GENXML: Readonly<Record<string, { flag: string; on: number } | { min: number; max: number }>> = {
  MI_STORE_DATA_IMM: { flag: 'Store Qword', on: 5 },
  MI_ATOMIC: { flag: 'Inline Data', on: 11 },
  MI_FLUSH_DW: { min: 4, max: 5 },
  MI_STORE_DATA_INDEX: { min: 3, max: 4 },
};
const FIXES: Readonly<Record<string, { length?: number; groupStart?: number }>> = {
  'MI_CONDITIONAL_BATCH_BUFFER_END@8': { length: 4 },
  'MI_LOAD_REGISTER_IMM@8': { groupStart: 96 },
};

interface XmlLength {
  readonly name: string;
  readonly header: number;
  /** DWord Length's width (0: no field) and bias. */
  readonly bits: number;
  readonly bias: number;
  /** The long form's flag bit (header) and length, when a flag selects it. */
  readonly flag?: { readonly bit: number; readonly on: number };
  /** Is `len` (DWord Length + bias, flag clear) a length genxml (and the PRM) allow? */
  allows(len: number): boolean;
}

function fromXml(el: XmlElement, gen: Gen): XmlLength {
  const name = el.attrs.name;
  const fix = FIXES[`${name}@${gen}`] ?? {};
  const bias = xmlNumber(el.attrs.bias) ?? 2;
  const fields = el.children.filter((c) => c.tag === 'field');
  const lengthField = fields.find((f) => f.attrs.name === 'DWord Length');
  const bits = lengthField ? xmlNumber(lengthField.attrs.end)! + 1 : 0;
  let header = 0;
  for (const f of fields)
    if (IDENTITY.test(f.attrs.name) && f.attrs.default !== undefined)
      header = (header | (xmlNumber(f.attrs.default)! * 2 ** xmlNumber(f.attrs.start)!)) >>> 0;
  const group = el.children.find((c) => c.tag === 'group' && (xmlNumber(c.attrs.count) ?? 0) === 0);
  const fixed = fix.length ?? xmlNumber(el.attrs.length) ?? 1;
  const beyond = BEYOND_GENXML[name];
  let allows: (len: number) => boolean;
  let flag: XmlLength['flag'];
  if (group) {
    const base = (fix.groupStart ?? xmlNumber(group.attrs.start)!) / 32;
    const entry = xmlNumber(group.attrs.size)! / 32;
    allows = (len) => len >= base && len >= bias && (len - base) % entry === 0;
  } else if (beyond && 'min' in beyond) allows = (len) => len >= beyond.min && len <= beyond.max;
  else {
    allows = (len) => len === fixed;
    if (beyond && 'flag' in beyond) {
      const f = fields.find((x) => x.attrs.name === beyond.flag)!;
      flag = { bit: xmlNumber(f.attrs.start)!, on: beyond.on };
    }
  }
  if (!bits) allows = (len) => len === fixed;
  return { name, header, bits, bias, flag, allows };
}

const XML: Record<Gen, XmlLength[]> = { 8: [], 9: [] };
for (const gen of GENS)
  for (const el of instructions(loadGenxml(DIR, `gen${gen}.xml`)))
    if (runsOnRenderOrBlitter(el) || el.attrs.name === 'MI_FLUSH_DW') XML[gen].push(fromXml(el, gen));

function sources(dir: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .flatMap((d) =>
      d.isDirectory() ? sources(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : [],
    );
}

describe('decoding: one length function', () => {
  for (const gen of GENS) {
    it(`gen${gen}: commandLength agrees with genxml for every command at every DWord Length (flag clear and set)`, () => {
      let checked = 0;
      for (const c of XML[gen]) {
        const idx = commandIndex(c.header, gen);
        assert.ok(idx >= 0 && COMMANDS[idx].mnemonic === c.name, `gen${gen} ${c.name} decodes to itself`);
        const def = COMMANDS[idx];
        const legal: (readonly [number, number])[] = []; // length, header
        const flags = c.flag ? [0, 1] : [0];
        for (const set of flags) {
          for (let v = 0; v < (c.bits ? 2 ** c.bits : 1); v++) {
            const header = (c.header | v | (set ? 2 ** c.flag!.bit : 0)) >>> 0;
            const declared = c.bits ? v + c.bias : commandLength(idx, header);
            const ok = set ? declared === c.flag!.on : c.allows(declared);
            const got = commandLength(idx, header);
            if (got !== (ok ? declared : -declared))
              assert.fail(
                `gen${gen} ${c.name} DWord Length ${v}${set ? ' (flag set)' : ''}: ${got}, genxml says ${ok ? declared : 'malformed'}`,
              );
            const why = lengthError(idx, header);
            const back = declaredLength(def, header);
            if (ok ? why !== '' || back !== declared : !why.startsWith(`${c.name} `) || back !== why)
              assert.fail(`gen${gen} ${c.name} DWord Length ${v}: lengthError '${why}', declaredLength ${back}`);
            if (ok) legal.push([declared, header]);
            checked++;
          }
        }
        assert.ok(legal.length > 0, `gen${gen} ${c.name} has a legal length`);
        // The shortest and the longest legal forms decode (decodeCommand) to their length, and only with all their dwords.
        legal.sort((a, b) => a[0] - b[0]);
        for (const [len, header] of [legal[0], legal[legal.length - 1]]) {
          const dwords = [header, ...new Array<number>(len - 1).fill(0)];
          const d = decodeCommand(dwords, 0, len, gen);
          assert.ok(typeof d !== 'string' && d.length === len, `gen${gen} ${c.name} at ${len}: ${String(d)}`);
          assert.ok(len <= MAX_COMMAND_DWORDS);
          if (len > 1) assert.match(String(decodeCommand(dwords, 0, len - 1, gen)), /needs \d+ dwords, only/);
        }
      }
      assert.ok(checked > 40000, `${checked} headers checked`);
    });

    it(`gen${gen}: a later gen's unknown GFXPIPE command is measured by its top byte's rule, nothing else is`, () => {
      const rules = lengthRuleByTopByte(gen);
      for (let top = 0; top < 256; top++) {
        const rule = rules.get(top);
        for (const low of [0, 1, 0xff, 0x1234, 0xffffff]) {
          const header = ((top << 24) | low) >>> 0;
          const want = !rule ? 0 : rule.bits === 0 ? 1 : (low & (2 ** rule.bits - 1)) + rule.bias;
          assert.equal(foreignLength(gen, header), want, `gen${gen} 0x${header.toString(16)}`);
        }
      }
    });
  }

  it('no module but commands.ts decodes a DWord Length', () => {
    const bad = [
      /\blengthBits\b/, // the field's width
      /&[^;]*\+\s*[\w.]*\bbias\b/, // a masked header plus the bias
      /&\s*0x(3f|ff|3ff|fff|ffff)\s*\)\s*\+\s*[12]\b/, // `(h & 0xff) + 2`, `((h & 0xff) + 1) >>> 1`
      /\b(LENGTH_MASK|FIXED_LENGTH|FLAG_BIT|PAIRS|headerLength|lengthRuleByTopByte)\b/,
    ];
    const hits: string[] = [];
    for (const file of [...sources('emulator'), ...sources('adapter'), ...sources('extension')]) {
      if (/emulator\/commands(\.gen)?\.ts$/.test(file)) continue;
      fs.readFileSync(path.join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((l, i) => {
          if (bad.some((re) => re.test(l))) hits.push(`${file}:${i + 1}: ${l.trim()}`);
        });
    }
    assert.deepEqual(hits, []);
  });
});

describe('decoding: field views and enum names', () => {
  it('a view resolves names once: required ones must exist, optional ones read 0 where a layout lacks them', () => {
    const sdi = commandByMnemonic('MI_STORE_DATA_IMM')!;
    const f = fieldsOf(sdi, ['addr', 'data', 'qword'], ['no_such_field']);
    const dw = [0x10200003, 0x1000, 0x2, 0xaaaa5555, 0x12345678];
    assert.equal(fieldValue(f.addr, dw, 5), 0x2_00001000);
    assert.equal(fieldValue(f.qword, dw, 5), 1);
    assert.deepEqual([fieldDword(f.data, dw, 5, 0), fieldDword(f.data, dw, 5, 1)], [0xaaaa5555, 0x12345678]);
    assert.equal(fieldDword(f.data, dw, 4, 1), 0, 'past the dword form its second dword reads 0');
    assert.equal(hasField(f.no_such_field), false);
    assert.equal(fieldValue(f.no_such_field, dw, 5), 0);
    assert.throws(() => fieldsOf(sdi, ['nope']), /MI_STORE_DATA_IMM \(gen8\/9\) has no field nope/);
    // Group entries: MI_MATH's ALU instructions, read at each entry's dword.
    const math = commandByMnemonic('MI_MATH')!;
    const m = fieldsOf(math, ['alu_opcode', 'operand_1', 'operand_2']);
    const ALU = enumValues(math, m.alu_opcode, ['LOAD', 'ADD']);
    const words = [0x0d000001, (ALU.LOAD << 20) | (0x20 << 10) | 3, ALU.ADD << 20];
    assert.deepEqual(
      [1, 2].map((at) => [entryValue(m.alu_opcode, words, 3, at), entryValue(m.operand_1, words, 3, at)]),
      [
        [ALU.LOAD, 0x20],
        [ALU.ADD, 0],
      ],
    );
    assert.throws(() => enumValues(math, m.alu_opcode, ['MUL']), /MI_MATH\.alu_opcode has no value MUL/);
  });

  it('engine handlers read fields through views and switch over enum names, not layouts and bare numbers', () => {
    const text = fs.readFileSync(path.join(ROOT, 'emulator/engine.ts'), 'utf8');
    const handlers = text.slice(text.indexOf('// Handlers keyed by mnemonic'));
    const bad = [
      /\bfieldNum\(/, // a field looked up by name per command
      /\bDW_[A-Z_]+\b/, // a dword position constant
      /\bbuf\[[^\]]*\.dw\b/, // a field's dword read by hand
      /\bbuf\[\d+\s*[+\]]/, // a literal dword position
      />>>\s*\w+\.lo\b/, // a field shifted out by hand
      /case\s+(0x[0-9a-fA-F]+|\d+)\s*:/, // a switch over bare values
    ];
    const hits = handlers
      .split('\n')
      .map((l, i) => [l, i] as const)
      .filter(([l]) => bad.some((re) => re.test(l)))
      .map(([l]) => l.trim());
    assert.deepEqual(hits, []);
    assert.doesNotMatch(text, /case\s+(0x[0-9a-fA-F]+|\d+)\s*:/, 'no switch over bare numbers anywhere in engine.ts');
  });
});
