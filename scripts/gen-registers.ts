// Generates emulator/registers.gen.ts, the genxml half of the register table: every gen8 and gen9
// register Mesa's genxml describes in the render engine's MMIO range (below 0x10000) or the blitter's
// register window (0x22000-0x22FFF), with its length in dwords and every field (bits, enum values,
// default). A register the two generations declare alike is one entry; one they declare differently
// has an entry per layout. Registers at an offset the device's own table already declares (its ring
// registers, ACTHD_UDW, ...) are left out and listed in the file's header comment.
//
//   npm run gen:registers            (reads ../shared/genxml by default, or GENXML_DIR)
//
// The project's semantics (which of them a batch may write, the engine window a register sits in) are
// in emulator/registers.ts; this file only transcribes genxml's facts, plus one reading of them: a
// register is "masked" when every field in bits 15:0 has a "<name> Mask" twin 16 bits higher and no
// other field sits in bits 31:16 (the PRM's masked-register convention, which genxml spells this way).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { genxmlDir, type GenField } from './gen-commands';
import { loadGenxml, xmlNumber, type GenxmlDoc, type XmlElement } from './genxml';
import { handDeclaredMmio } from '../emulator/registers';

export const REG_GENS = [8, 9] as const;

/** genxml's register range for our two engines: render MMIO, and the blitter's engine window. */
export function inOurRange(offset: number): boolean {
  return offset < 0x10000 || (offset >= 0x22000 && offset < 0x23000);
}

/** A register field as genxml gives it: the same shape as a command's field. */
export type GenRegField = GenField;

export interface GenRegister {
  name: string;
  gens: number[];
  offset: number;
  dwords: number;
  masked: boolean;
  fields: GenRegField[];
}

export interface GenCollision {
  name: string;
  gens: number[];
  offset: number;
  declared: string;
}

function registerOf(doc: GenxmlDoc, el: XmlElement): Omit<GenRegister, 'gens'> {
  const fields: GenRegField[] = [];
  for (const c of el.children) {
    if (c.tag !== 'field') continue;
    const f: GenRegField = {
      name: c.attrs.name,
      start: xmlNumber(c.attrs.start)!,
      end: xmlNumber(c.attrs.end)!,
      type: c.attrs.type ?? 'uint',
    };
    const d = xmlNumber(c.attrs.default);
    if (d !== undefined) f.default = d;
    const inline = c.children
      .filter((v) => v.tag === 'value')
      .map((v): [string, number] => [v.attrs.name, xmlNumber(v.attrs.value)!]);
    const en = doc.items.get(`enum:${f.type}`);
    if (en)
      f.values = en.children
        .filter((v) => v.tag === 'value')
        .map((v): [string, number] => [v.attrs.name, xmlNumber(v.attrs.value)!]);
    else if (inline.length) f.values = inline;
    fields.push(f);
  }
  fields.sort((a, b) => a.start - b.start || a.end - b.end);
  return {
    name: el.attrs.name,
    offset: xmlNumber(el.attrs.num)!,
    dwords: xmlNumber(el.attrs.length) ?? 1,
    masked: isMasked(fields),
    fields,
  };
}

/** The masked-register reading of a field list (see the header). */
export function isMasked(fields: readonly GenRegField[]): boolean {
  const high = fields.filter((f) => f.start >= 16);
  const low = fields.filter((f) => f.end < 16);
  if (high.length === 0 || low.length === 0) return false;
  if (fields.some((f) => f.start < 16 && f.end >= 16)) return false;
  const twins = new Set(high.map((f) => `${f.name}@${f.start}-${f.end}`));
  return (
    high.every(
      (f) =>
        f.name.endsWith(' Mask') &&
        low.some((l) => `${l.name} Mask` === f.name && l.start + 16 === f.start && l.end + 16 === f.end),
    ) && low.every((l) => twins.has(`${l.name} Mask@${l.start + 16}-${l.end + 16}`))
  );
}

/** Every in-range gen8/gen9 register, split into those the device takes and those its own table already declares. */
export function genRegisters(dir = genxmlDir()): { registers: GenRegister[]; collisions: GenCollision[] } {
  const declared = handDeclaredMmio();
  const registers: GenRegister[] = [];
  const collisions: GenCollision[] = [];
  const byKey = new Map<string, GenRegister>();
  const collidedByKey = new Map<string, GenCollision>();
  for (const gen of REG_GENS) {
    const doc = loadGenxml(dir, `gen${gen}.xml`);
    for (const el of doc.items.values()) {
      if (el.tag !== 'register') continue;
      const r = registerOf(doc, el);
      if (!inOurRange(r.offset)) continue;
      const hit = [...Array(r.dwords).keys()].map((d) => declared.get(r.offset + 4 * d)).find((x) => x !== undefined);
      if (hit !== undefined) {
        const k = `${r.name}@${r.offset}`;
        const known = collidedByKey.get(k);
        if (known) known.gens.push(gen);
        else {
          const c = { name: r.name, gens: [gen], offset: r.offset, declared: hit };
          collidedByKey.set(k, c);
          collisions.push(c);
        }
        continue;
      }
      const key = JSON.stringify(r);
      const known = byKey.get(key);
      if (known) known.gens.push(gen);
      else {
        const entry = { ...r, gens: [gen] } as GenRegister;
        byKey.set(key, entry);
        registers.push(entry);
      }
    }
  }
  registers.sort((a, b) => a.offset - b.offset || a.gens[0] - b.gens[0]);
  collisions.sort((a, b) => a.offset - b.offset);
  return { registers, collisions };
}

const hex = (n: number) => `0x${n.toString(16)}`;

function fieldText(f: GenRegField): string {
  const parts = [`n: ${JSON.stringify(f.name)}`, `s: ${f.start}`, `e: ${f.end}`, `t: ${JSON.stringify(f.type)}`];
  if (f.default !== undefined) parts.push(`d: ${f.default}`);
  if (f.values) parts.push(`v: [${f.values.map(([n, v]) => `[${JSON.stringify(n)}, ${v}]`).join(', ')}]`);
  return `{ ${parts.join(', ')} }`;
}

export function render(regs: readonly GenRegister[], collisions: readonly GenCollision[]): string {
  const lines = [
    "// Generated by scripts/gen-registers.ts from Mesa's genxml gen8.xml and gen9.xml (MIT); do not edit.",
    '// `npm run gen:registers` regenerates it; test/unit/genxml-registers.test.ts proves it current.',
    '// Registers: offset (BAR0), dwords, masked (bits 31:16 enable writes of bits 15:0), fields:',
    '// n name, s/e start/end bit, t genxml type, d default, v enum values.',
    '//',
    "// Left out: genxml registers at offsets the device's own table declares (emulator/registers.ts):",
    ...collisions.map((c) => `//   ${hex(c.offset)} ${c.name} (gen${c.gens.join('/')}) is ${c.declared}`),
    '',
    "import type { GenxmlRegister } from './registers';",
    '',
    'export const GENXML_REGISTERS: readonly GenxmlRegister[] = [',
  ];
  for (const r of regs) {
    lines.push(
      `  {`,
      `    name: ${JSON.stringify(r.name)}, gens: [${r.gens.join(', ')}], offset: ${hex(r.offset)}, dwords: ${r.dwords}, masked: ${r.masked},`,
      `    fields: [`,
    );
    for (const f of r.fields) lines.push(`      ${fieldText(f)},`);
    lines.push(`    ],`, `  },`);
  }
  lines.push('];', '');
  return lines.join('\n');
}

if (require.main === module) {
  const { registers, collisions } = genRegisters();
  const file = join(__dirname, '..', 'emulator', 'registers.gen.ts');
  writeFileSync(file, render(registers, collisions));
  console.log(
    `${file}: ${registers.length} entries, ${new Set(registers.map((r) => r.name)).size} registers; ${collisions.length} left out as collisions`,
  );
}
