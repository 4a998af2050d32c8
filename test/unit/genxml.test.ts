// The command table against Mesa's genxml (../shared/genxml): read independently here, every gen8 and
// gen9 render/blitter command's minimal encoding must disassemble to that command's name and consume
// exactly its length, every field must land at genxml's bits, and the generated half of the table
// must be what scripts/gen-commands.ts makes of the XML today.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { genCommands, genStructs, genxmlDir, render } from '../../scripts/gen-commands';
import { instructions, loadGenxml, runsOnRenderOrBlitter, xmlNumber, type XmlElement } from '../../scripts/genxml';
import {
  COMMANDS,
  commandByMnemonic,
  decodeCommand,
  encodeCommand,
  lengthRuleByTopByte,
  type CmdField,
  type CommandDef,
  type Gen,
} from '../../emulator/commands';
import { disassemble } from '../../emulator/disassembler';

const DIR = genxmlDir();
const GENS: Gen[] = [8, 9];

/** Known genxml slips the table corrects (see GENXML_FIXES in emulator/commands.ts). */
const FIXED_LENGTH: Record<string, number> = { 'MI_CONDITIONAL_BATCH_BUFFER_END@8': 4 };

interface XmlCmd {
  readonly el: XmlElement;
  readonly name: string;
  readonly bias: number;
  /** The minimal length genxml gives: its length attribute, or the dwords before its variable group. */
  readonly length: number;
  /** DW0 as genxml's defaults make it (identity fields and DWord Length = length - bias). */
  readonly header: number;
}

function fromXml(el: XmlElement, gen: Gen): XmlCmd {
  const name = el.attrs.name;
  const bias = xmlNumber(el.attrs.bias) ?? 2;
  const group = el.children.find((c) => c.tag === 'group' && (xmlNumber(c.attrs.count) ?? 0) === 0);
  let length =
    FIXED_LENGTH[`${name}@${gen}`] ?? xmlNumber(el.attrs.length) ?? (group ? xmlNumber(group.attrs.start)! / 32 : 1);
  // A group command needs at least enough entries for a DWord Length of 0 (MI_MATH, 3DSTATE_VERTEX_ELEMENTS).
  if (group && length < bias)
    length += Math.ceil((bias - length) / (xmlNumber(group.attrs.size)! / 32)) * (xmlNumber(group.attrs.size)! / 32);
  let header = 0;
  for (const f of el.children) {
    if (f.tag !== 'field') continue;
    const s = xmlNumber(f.attrs.start)!;
    const e = xmlNumber(f.attrs.end)!;
    if (e >= 32) continue;
    const d =
      f.attrs.name === 'DWord Length'
        ? length - bias
        : IDENTITY.test(f.attrs.name)
          ? xmlNumber(f.attrs.default)
          : undefined;
    if (d !== undefined) header = (header | (d * 2 ** s)) >>> 0;
  }
  return { el, name, bias, length, header };
}

const IDENTITY =
  /^(Command Type|Command SubType|MI Command Opcode|3D Command Opcode|3D Command Sub Opcode|Media Command Opcode|Media Command Sub-Opcode|Media Command Pipeline|Pipeline|SubOpcode)$/;

interface FlatField {
  readonly name: string;
  readonly s: number;
  readonly e: number;
  readonly default?: number;
}

/**
 * A command's fields as absolute bits, read here from the XML on its own: struct-typed fields expanded
 * into their members, fixed-count groups unrolled (`Name i`); the variable group kept apart.
 */
function flatFields(
  doc: ReturnType<typeof loadGenxml>,
  el: XmlElement,
): { fields: FlatField[]; group?: { start: number; fields: FlatField[] } } {
  let group: { start: number; fields: FlatField[] } | undefined;
  const walk = (children: readonly XmlElement[], base: number, suffix: string, out: FlatField[]): void => {
    for (const c of children) {
      if (c.tag === 'field') {
        const s = base + xmlNumber(c.attrs.start)!;
        const e = base + xmlNumber(c.attrs.end)!;
        const struct = doc.items.get(`struct:${c.attrs.type}`);
        if (struct) walk(struct.children, s, suffix, out);
        else out.push({ name: c.attrs.name + suffix, s, e, default: xmlNumber(c.attrs.default) });
      } else if (c.tag === 'group') {
        const count = xmlNumber(c.attrs.count) ?? 0;
        const start = base + (xmlNumber(c.attrs.start) ?? 0);
        const size = xmlNumber(c.attrs.size)!;
        if (count === 0) {
          const g = { start, fields: [] as FlatField[] };
          walk(c.children, 0, '', g.fields);
          group = g;
        } else for (let i = 0; i < count; i++) walk(c.children, start + i * size, `${suffix} ${i}`, out);
      }
    }
  };
  const fields: FlatField[] = [];
  walk(el.children, 0, '', fields);
  return { fields, group };
}

/**
 * Sets one field to all ones (in place for addresses, offsets and registers), alone, and checks that
 * exactly genxml's bits s..e change, and that it decodes back. `entry` is the group entry, or null.
 */
function checkBits(def: CommandDef, gen: Gen, tf: CmdField, s: number, e: number, entry: number | null): void {
  const inPlace = tf.kind === 'addr' || tf.kind === 'offset' || tf.kind === 'reg';
  const width = Math.min(e - s + 1, tf.kind === 'addr' ? 48 - (s % 32) : e - s + 1);
  const ones = (1n << BigInt(width)) - 1n;
  const value = inPlace ? ones << BigInt(s % 32) : ones;
  const key = entry === null ? tf.name : `${tf.name}.${entry}`;
  const given = new Map<string, bigint>([[key, value]]);
  for (const r of def.fields) if (r.required && r.name !== tf.name) given.set(r.name, 0n);
  if (def.length.kind === 'flag' && tf.dw >= def.length.off && entry === null) given.set(def.length.field, 1n);
  if (def.length.kind === 'range' && tf.dw >= def.length.min)
    given.set('dword_length', BigInt(def.length.max - def.bias));
  const pairs: [number, number][] = def.length.kind === 'pairs' ? [[0, 0]] : [];
  const dw = encodeCommand(def, given, pairs);
  const zero = encodeCommand(def, new Map([...given, [key, 0n]]), pairs);
  let got = 0n;
  for (let i = 0; i < dw.length; i++) got |= BigInt((dw[i] ^ zero[i]) >>> 0) << BigInt(32 * i);
  got &= ~BigInt((1 << def.lengthBits) - 1); // a length flag also changes DWord Length
  const low = s - (s % 32);
  const expected = inPlace ? value << BigInt(low) : value << BigInt(s);
  assert.equal(
    got.toString(16),
    expected.toString(16),
    `gen${gen} ${def.mnemonic}.${key} (${tf.xml}) at bits ${e}:${s}`,
  );
  const back = decodeCommand(dw, 0, dw.length, gen);
  assert.ok(
    typeof back !== 'string' && back.fields.get(key) === value,
    `gen${gen} ${def.mnemonic}.${key} decodes back`,
  );
}

const XML: Record<Gen, XmlCmd[]> = { 8: [], 9: [] };
for (const gen of GENS) {
  const doc = loadGenxml(DIR, `gen${gen}.xml`);
  for (const el of instructions(doc))
    if (runsOnRenderOrBlitter(el) || el.attrs.name === 'MI_FLUSH_DW') XML[gen].push(fromXml(el, gen));
}

describe('command table against Mesa genxml', () => {
  it(`reads genxml from ${path.relative(process.cwd(), DIR)}: 141 gen9 and 138 gen8 render/blitter commands (plus MI_FLUSH_DW)`, () => {
    assert.equal(XML[9].filter((c) => c.name !== 'MI_FLUSH_DW').length, 141);
    assert.equal(XML[8].filter((c) => c.name !== 'MI_FLUSH_DW').length, 138);
  });

  for (const gen of GENS) {
    it(`gen${gen}: every command's minimal encoding disassembles to its name and consumes exactly its length`, () => {
      const named: string[] = [];
      for (const c of XML[gen]) {
        const dwords = [c.header, ...new Array(c.length - 1).fill(0)];
        const lines = disassemble(dwords, { gen });
        assert.equal(lines.length, 1, `gen${gen} ${c.name}: ${lines.map((l) => l.text).join(' | ')}`);
        assert.equal(lines[0].length, c.length, `gen${gen} ${c.name} length`);
        assert.match(lines[0].text, new RegExp(`^${c.name}( |$)`), `gen${gen} ${c.name}: ${lines[0].text}`);
        // Followed by another command, it still stops exactly at its end.
        const two = disassemble([...dwords, 0x05000000], { gen });
        assert.deepEqual(
          two.map((l) => l.length),
          [c.length, 1],
          `gen${gen} ${c.name} then MI_BATCH_BUFFER_END`,
        );
        named.push(c.name);
      }
      assert.equal(named.length, XML[gen].length);
    });

    it(`gen${gen}: every field of every command (struct members and group entries too) encodes at genxml's bit positions`, () => {
      const doc = loadGenxml(DIR, `gen${gen}.xml`);
      let checked = 0;
      for (const c of XML[gen]) {
        const def = commandByMnemonic(c.name, gen)!;
        assert.ok(def, `gen${gen} ${c.name} is in the table`);
        const { fields, group } = flatFields(doc, c.el);
        for (const f of fields) {
          if (f.name === 'DWord Length') continue;
          if (f.e < 32 && f.default !== undefined && IDENTITY.test(f.name)) {
            // Identity: the table's header fields carry genxml's value at genxml's bits.
            const hf = def.headerFields.find((h) => h.xml === f.name)!;
            assert.ok(hf, `gen${gen} ${c.name}.${f.name} is a header field`);
            assert.deepEqual([hf.lo, hf.hi, hf.default], [f.s, f.e, f.default], `gen${gen} ${c.name}.${f.name}`);
            continue;
          }
          if (f.e >= 32 * c.length) continue; // genxml declares a few fields past the command's length
          if (def.length.kind === 'pairs' && f.s >= 32) continue; // LRI's pairs are REGISTER=value
          const tf = def.fields.find((x) => x.xml.replace(/ \(\d+\)$/, '') === f.name && 32 * x.dw + x.lo === f.s);
          assert.ok(tf, `gen${gen} ${c.name}.${f.name} (bits ${f.e}:${f.s}) is in the table`);
          checkBits(def, gen, tf!, f.s, f.e, null);
          checked++;
        }
        if (group && def.length.kind === 'group') {
          for (const f of group.fields) {
            const tf = def.groupFields.find(
              (x) => x.xml.replace(/ \(\d+\)$/, '') === f.name && 32 * x.dw + x.lo === f.s,
            );
            assert.ok(tf, `gen${gen} ${c.name} group entry field ${f.name} is in the table`);
            checkBits(def, gen, tf!, group.start + f.s, group.start + f.e, 0);
            checked++;
          }
        }
      }
      assert.ok(checked > 1000, `${checked} fields checked`);
    });
  }

  it("the language's own enum names (op=EQ, post_sync=write, ...) stand for values genxml gives the field", () => {
    let checked = 0;
    for (const d of COMMANDS) {
      const g = d.genxml;
      if (!g) continue;
      for (const f of d.fields) {
        const x = g.fields.find((y) => y.n === f.xml);
        if (!f.values || !x?.v) continue;
        const genxmlValues = new Set(x.v.map(([, v]) => v));
        for (const [name, v] of Object.entries(f.values))
          assert.ok(
            genxmlValues.has(v),
            `${d.mnemonic}.${f.name}=${name} is ${v}, which genxml's ${x.n} does not have`,
          );
        checked++;
      }
    }
    assert.ok(checked > 100, `${checked} enum fields checked`);
  });

  it('the generated half of the table is current (npm run gen:commands)', () => {
    const file = path.join(__dirname, '..', '..', 'emulator', 'commands.gen.ts');
    assert.equal(fs.readFileSync(file, 'utf8'), render(genCommands(DIR), genStructs(DIR)));
  });

  it('the table holds nothing genxml does not, but the XY_* blits genxml leaves out for gen8+', () => {
    const known = new Set([...XML[8], ...XML[9]].map((c) => c.name));
    const extra = [...new Set(COMMANDS.map((d) => d.mnemonic))].filter((m) => !known.has(m)).sort();
    assert.deepEqual(extra, ['XY_COLOR_BLT', 'XY_FAST_COPY_BLT', 'XY_SRC_COPY_BLT']);
  });

  it("the XY_* blits' DW0-DW3 agree with gen5.xml's (only the addresses widened to 64 bits on gen8)", () => {
    const doc = loadGenxml(DIR, 'gen5.xml');
    let checked = 0;
    for (const name of ['XY_COLOR_BLT', 'XY_SRC_COPY_BLT']) {
      const el = doc.items.get(`instruction:${name}`);
      assert.ok(el, `gen5.xml describes ${name}`);
      if (!el) continue;
      const def = commandByMnemonic(name)!;
      for (const f of el.children) {
        if (f.tag !== 'field') continue;
        const s = xmlNumber(f.attrs.start)!;
        const e = xmlNumber(f.attrs.end)!;
        if (e >= 128) continue;
        if (e < 32 && f.attrs.default !== undefined && /Opcode|Command Type/.test(f.attrs.name)) {
          // The header identity is gen5's, bit for bit.
          const hf = def.headerFields.find((h) => h.lo === s && h.hi === e);
          assert.ok(
            hf && hf.default === xmlNumber(f.attrs.default),
            `${name}: ${f.attrs.name} (${e}:${s}) = ${f.attrs.default} in the header`,
          );
          checked++;
          continue;
        }
        const hit = [...def.fields, ...def.headerFields].filter((x) => 32 * x.dw + x.lo <= e && 32 * x.dw + x.hi >= s);
        for (const x of hit)
          assert.ok(
            32 * x.dw + x.lo >= s && 32 * x.dw + x.hi <= e,
            `${name}.${x.name} fits inside gen5's ${f.attrs.name} (${e}:${s})`,
          );
      }
    }
    assert.equal(checked, 4, 'both blits: opcode and command type');
  });
});

describe('the later-generation skip rule against genxml', () => {
  it("an unknown GFXPIPE command is measured as most of genxml's gen9 commands with its top byte are", () => {
    const rules = lengthRuleByTopByte(9);
    // Read from genxml itself: per top byte (type, subtype, opcode), the DWord Length width and bias of each command.
    const byTop = new Map<number, string[]>();
    for (const c of genCommands(DIR)) {
      if (!c.gens.includes(9)) continue;
      const id = (n: string) => c.fields.find((f) => f.name === n)?.default ?? 0;
      if (id('Command Type') !== 3) continue;
      const top =
        (3 << 5) |
        ((id('Command SubType') | id('Pipeline') | id('Media Command Pipeline')) << 3) |
        id('3D Command Opcode') |
        id('Media Command Opcode');
      const len = c.fields.find((f) => f.name === 'DWord Length');
      const key = len ? `${len.end + 1}:${c.bias}` : '0:1';
      byTop.set(top, [...(byTop.get(top) ?? []), key]);
    }
    for (const [top, keys] of byTop) {
      const rule = rules.get(top);
      assert.ok(rule, `top byte 0x${top.toString(16)} has a rule`);
      const count = (k: string) => keys.filter((x) => x === k).length;
      assert.ok(
        keys.every((k) => count(k) <= count(`${rule.bits}:${rule.bias}`)),
        `0x${top.toString(16)}: ${rule.bits}:${rule.bias} is the most common of ${keys.join(' ')}`,
      );
    }
    // The cases the gen12 fixtures meet, and the ones a fixed rule got wrong: media (16 bits), one-dword commands.
    assert.deepEqual(rules.get(0x78), { bits: 8, bias: 2 });
    assert.deepEqual(rules.get(0x70), { bits: 16, bias: 2 });
    assert.deepEqual(rules.get(0x69), { bits: 0, bias: 1 });
  });
});
