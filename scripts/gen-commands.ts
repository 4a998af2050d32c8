// Generates emulator/commands.gen.ts, the genxml half of the command table: every gen8 and gen9
// instruction of the render and blitter engines (plus MI_FLUSH_DW, which genxml files under video but
// the blitter runs too), with its header identity, DWord Length field and bias, and every field at its
// absolute bit position. Struct-typed fields are expanded into their members; groups of a fixed count
// are unrolled (`Name 0`, `Name 1`, ...); a variable group (count 0) stays a group whose entries the
// command's length decides. Enum-typed fields carry their enum's values.
//
//   npm run gen:commands            (reads ../shared/genxml by default, or GENXML_DIR)
//
// The project's semantics (which commands execute, language aliases, write sets) are in
// emulator/commands.ts; this file only transcribes genxml's facts.

import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { instructions, loadGenxml, runsOnRenderOrBlitter, xmlNumber, type GenxmlDoc, type XmlElement } from './genxml';

export const GENS = [8, 9] as const;
export type Gen = (typeof GENS)[number];

export interface GenField {
  name: string;
  start: number;
  end: number;
  /** genxml's type: uint, int, bool, address, offset, float, mbo, mbz, a fixed-point uN.M / sN.M, or enum. */
  type: string;
  default?: number;
  values?: [string, number][];
}

export interface GenGroup {
  start: number;
  size: number;
  fields: GenField[];
}

export interface GenCommand {
  name: string;
  gens: Gen[];
  engine?: string;
  bias: number;
  length?: number;
  fields: GenField[];
  group?: GenGroup;
}

export function genxmlDir(): string {
  return resolve(process.env.GENXML_DIR ?? join(__dirname, '..', '..', 'shared', 'genxml'));
}

function isCommandForUs(el: XmlElement): boolean {
  return runsOnRenderOrBlitter(el) || el.attrs.name === 'MI_FLUSH_DW';
}

function enumValues(doc: GenxmlDoc, type: string): [string, number][] | undefined {
  const e = doc.items.get(`enum:${type}`);
  if (!e) return undefined;
  return e.children.filter((c) => c.tag === 'value').map((c) => [c.attrs.name, xmlNumber(c.attrs.value)!]);
}

/** Expands one element's children (fields, groups, struct-typed fields) at bit `base`. */
function flatten(
  doc: GenxmlDoc,
  children: readonly XmlElement[],
  base: number,
  where: string,
  out: GenField[],
  groups: GenGroup[] | null,
  depth = 0,
): void {
  if (depth > 8) throw new Error(`${where}: structs nest too deep`);
  for (const c of children) {
    if (c.tag === 'field') {
      const start = base + xmlNumber(c.attrs.start)!;
      const end = base + xmlNumber(c.attrs.end)!;
      const type = c.attrs.type ?? 'uint';
      const struct = doc.items.get(`struct:${type}`);
      if (struct) {
        flatten(doc, struct.children, start, `${where}.${c.attrs.name}`, out, null, depth + 1);
        continue;
      }
      const f: GenField = { name: c.attrs.name, start, end, type };
      const inline = c.children
        .filter((v) => v.tag === 'value')
        .map((v): [string, number] => [v.attrs.name, xmlNumber(v.attrs.value)!]);
      const named = enumValues(doc, type);
      if (named) {
        f.type = 'enum';
        f.values = named;
      } else if (inline.length) f.values = inline;
      const d = xmlNumber(c.attrs.default);
      if (d !== undefined) f.default = d;
      out.push(f);
    } else if (c.tag === 'group') {
      const count = xmlNumber(c.attrs.count) ?? 0;
      const start = base + (xmlNumber(c.attrs.start) ?? 0);
      const size = xmlNumber(c.attrs.size)!;
      if (count === 0) {
        if (groups === null || groups.length > 0)
          throw new Error(`${where}: a variable group where only one is supported`);
        const g: GenGroup = { start, size, fields: [] };
        flatten(doc, c.children, 0, `${where}[]`, g.fields, null, depth + 1);
        groups.push(g);
        continue;
      }
      for (let i = 0; i < count; i++) {
        const inner: GenField[] = [];
        flatten(doc, c.children, start + i * size, `${where}[${i}]`, inner, null, depth + 1);
        for (const f of inner) out.push({ ...f, name: `${f.name} ${i}` });
      }
    }
  }
}

function dedupe(fields: GenField[]): GenField[] {
  const seen = new Map<string, number>();
  return fields.map((f) => {
    const n = (seen.get(f.name) ?? 0) + 1;
    seen.set(f.name, n);
    return n === 1 ? f : { ...f, name: `${f.name} (${n})` };
  });
}

function commandOf(doc: GenxmlDoc, el: XmlElement): Omit<GenCommand, 'gens'> {
  const fields: GenField[] = [];
  const groups: GenGroup[] = [];
  flatten(doc, el.children, 0, el.attrs.name, fields, groups);
  fields.sort((a, b) => a.start - b.start || a.end - b.end);
  const cmd: Omit<GenCommand, 'gens'> = {
    name: el.attrs.name,
    bias: xmlNumber(el.attrs.bias) ?? 2,
    fields: dedupe(fields),
  };
  if (el.attrs.engine !== undefined) cmd.engine = el.attrs.engine;
  const length = xmlNumber(el.attrs.length);
  if (length !== undefined) cmd.length = length;
  if (groups.length) cmd.group = groups[0];
  return cmd;
}

/** Every command of gen8 and gen9 for the render and blitter engines; a command the two declare alike is one entry. */
export function genCommands(dir = genxmlDir()): GenCommand[] {
  const out: GenCommand[] = [];
  const byKey = new Map<string, GenCommand>();
  for (const gen of GENS) {
    const doc = loadGenxml(dir, `gen${gen}.xml`);
    for (const el of instructions(doc)) {
      if (!isCommandForUs(el)) continue;
      const c = commandOf(doc, el);
      const key = JSON.stringify(c);
      const known = byKey.get(key);
      if (known) known.gens.push(gen);
      else {
        const entry = { ...c, gens: [gen] } as GenCommand;
        byKey.set(key, entry);
        out.push(entry);
      }
    }
  }
  return out;
}

/** State structures the debugger reads from memory (binding tables and the surface states they point at). */
export const STATE_STRUCTS = ['BINDING_TABLE_STATE', 'RENDER_SURFACE_STATE'] as const;

export interface GenStruct {
  name: string;
  gens: Gen[];
  length: number;
  fields: GenField[];
}

/** The state structures of STATE_STRUCTS for gen8 and gen9; a structure the two declare alike is one entry. */
export function genStructs(dir = genxmlDir()): GenStruct[] {
  const out: GenStruct[] = [];
  const byKey = new Map<string, GenStruct>();
  for (const gen of GENS) {
    const doc = loadGenxml(dir, `gen${gen}.xml`);
    for (const name of STATE_STRUCTS) {
      const el = doc.items.get(`struct:${name}`);
      if (!el) throw new Error(`gen${gen}.xml has no struct ${name}`);
      const fields: GenField[] = [];
      flatten(doc, el.children, 0, name, fields, null);
      fields.sort((a, b) => a.start - b.start || a.end - b.end);
      const c = { name, length: xmlNumber(el.attrs.length)!, fields: dedupe(fields) };
      const key = JSON.stringify(c);
      const known = byKey.get(key);
      if (known) known.gens.push(gen);
      else {
        const entry: GenStruct = { ...c, gens: [gen] };
        byKey.set(key, entry);
        out.push(entry);
      }
    }
  }
  return out;
}

function fieldText(f: GenField): string {
  const parts = [`n: ${JSON.stringify(f.name)}`, `s: ${f.start}`, `e: ${f.end}`, `t: ${JSON.stringify(f.type)}`];
  if (f.default !== undefined) parts.push(`d: ${f.default}`);
  if (f.values) parts.push(`v: [${f.values.map(([n, v]) => `[${JSON.stringify(n)}, ${v}]`).join(', ')}]`);
  return `{ ${parts.join(', ')} }`;
}

export function render(cmds: readonly GenCommand[], structs: readonly GenStruct[]): string {
  const lines = [
    "// Generated by scripts/gen-commands.ts from Mesa's genxml gen8.xml and gen9.xml (MIT); do not edit.",
    '// `npm run gen:commands` regenerates it; test/unit/genxml.test.ts proves it current.',
    "// Fields: n name, s/e absolute start/end bit over the command's dwords, t genxml type, d default, v enum values.",
    '',
    "import type { GenxmlCommand, GenxmlStruct } from './commands';",
    '',
    '/** State structures read from memory (binding tables, surface states). */',
    'export const GENXML_STRUCTS: readonly GenxmlStruct[] = [',
  ];
  for (const c of structs) {
    lines.push(
      `  {`,
      `    name: ${JSON.stringify(c.name)}, gens: [${c.gens.join(', ')}], length: ${c.length},`,
      `    fields: [`,
    );
    for (const f of c.fields) lines.push(`      ${fieldText(f)},`);
    lines.push(`    ],`, `  },`);
  }
  lines.push('];', '', 'export const GENXML_COMMANDS: readonly GenxmlCommand[] = [');
  for (const c of cmds) {
    const head = [`name: ${JSON.stringify(c.name)}`, `gens: [${c.gens.join(', ')}]`];
    if (c.engine !== undefined) head.push(`engine: ${JSON.stringify(c.engine)}`);
    head.push(`bias: ${c.bias}`);
    if (c.length !== undefined) head.push(`length: ${c.length}`);
    lines.push(`  {`, `    ${head.join(', ')},`, `    fields: [`);
    for (const f of c.fields) lines.push(`      ${fieldText(f)},`);
    lines.push(`    ],`);
    if (c.group) {
      lines.push(`    group: { start: ${c.group.start}, size: ${c.group.size}, fields: [`);
      for (const f of c.group.fields) lines.push(`      ${fieldText(f)},`);
      lines.push(`    ] },`);
    }
    lines.push(`  },`);
  }
  lines.push('];', '');
  return lines.join('\n');
}

if (require.main === module) {
  const cmds = genCommands();
  const file = join(__dirname, '..', 'emulator', 'commands.gen.ts');
  writeFileSync(file, render(cmds, genStructs()));
  const names = new Set(cmds.map((c) => c.name));
  console.log(`${file}: ${cmds.length} entries, ${names.size} commands`);
}
