// The editor's model of a `.vgpu` file, free of the vscode API so it can be unit-tested: what each token of a
// line is, hover text, completions, document symbols and diagnostic ranges, all derived from the command and
// register tables, the lexer and the assembler's directive table (nothing here re-implements the language).

import {
  CAP_BASE,
  CAP_REG_DEFS,
  commandByMnemonic,
  COMMANDS,
  commandsOf,
  DATA_KEYWORDS,
  DEFAULT_GEN,
  DEVICE_REG_DEFS,
  directiveUsage,
  ENGINE_BASE,
  ENGINE_REGS,
  ENGINES,
  FEATURES,
  fieldByName,
  fieldPlacement,
  groupKey,
  regByName,
  snakeName,
  tokenizeLine,
  type Access,
  type CmdField,
  type CommandDef,
  type Diagnostic,
  type EngineName,
  type Gen,
  type RegDef,
  type Token,
  type WriteSpec,
} from '../emulator';
import type { SymbolName } from './documentIndex';

export const LANGUAGE_ID = 'vgpu';

export {
  documentGen,
  documentSymbols,
  symbolNames,
  type DocSymbol,
  type SymbolKind,
  type SymbolName,
} from './documentIndex';

// ---------------------------------------------------------------------------------------------
// Directive usage lines (`.map VA, GPA, SIZE, rw|ro [, page=4K|2M|1G]`) read as data: `key=a|b` is an option
// with its literal values, other lower-case words are keywords, upper-case words are placeholders.

export interface DirectiveSyntax {
  readonly name: string;
  readonly usage: string;
  /** Option keys with their literal values (`isolation` -> on, off; `memory` -> none). */
  readonly options: ReadonlyMap<string, readonly string[]>;
  /** Literal keywords outside options (`rw`, `ro`, `all`, `full`, `restricted`). */
  readonly keywords: readonly string[];
  /** Upper-case placeholders of positional arguments (`VA`, `ENGINE`, `REGISTER`; not those of options). */
  readonly positional: ReadonlySet<string>;
}

const PLACEHOLDER = /^[A-Z][A-Z0-9_]*$/;

export function parseUsage(name: string, usage: string): DirectiveSyntax {
  const options = new Map<string, string[]>();
  const keywords: string[] = [];
  const positional = new Set<string>();
  let body = usage.replace(/^\.\w+/, '');
  body = body.replace(/(?<![\w.])([A-Za-z_]\w*)\s*=\s*(\w+(?:\|\w+)*(?:,\w+)*)/g, (_, key: string, alts: string) => {
    options.set(
      key,
      alts.split(/[|,]/).filter((w) => !PLACEHOLDER.test(w)),
    );
    return ' ';
  });
  for (const m of body.matchAll(/(?<![\w.])[A-Za-z_]\w*(?:\|[A-Za-z_]\w*)*/g)) {
    for (const w of m[0].split('|')) {
      if (PLACEHOLDER.test(w)) positional.add(w);
      else if (!keywords.includes(w)) keywords.push(w);
    }
  }
  return { name, usage, options, keywords, positional };
}

export const DIRECTIVES: ReadonlyMap<string, DirectiveSyntax> = new Map(
  [...directiveUsage()].map(([name, usage]) => [name, parseUsage(name, usage)]),
);

/** Every literal word a directive accepts (keywords and option values that are names). */
export function directiveKeywords(d: DirectiveSyntax): string[] {
  const out = new Set(d.keywords);
  for (const vals of d.options.values()) for (const v of vals) if (/^[A-Za-z_]/.test(v)) out.add(v);
  return [...out];
}

// ---------------------------------------------------------------------------------------------
// Registers as the language names them.

export interface RegRef {
  readonly def: RegDef;
  /** The engine prefix written in the source, if any. */
  readonly engine?: EngineName;
  /** Length of `engine.` in the source text (0 without a prefix). */
  readonly prefixLength: number;
}

const ENGINE_REG_SET = new Set(ENGINE_REGS);

/** Resolves `CS_GPR0`, `bcs0.CS_GPR0`, `FAULT_STATUS` (case-insensitive) through the register table. */
export function lookupRegister(name: string): RegRef | undefined {
  const inst = regByName(name);
  if (!inst) return undefined;
  const dot = name.indexOf('.');
  if (dot < 0) return { def: inst.def, prefixLength: 0 };
  return { def: inst.def, engine: inst.engine ?? undefined, prefixLength: dot + 1 };
}

function isEngine(name: string): name is EngineName {
  return (ENGINES as readonly string[]).includes(name.toLowerCase());
}

// ---------------------------------------------------------------------------------------------
// Token roles of one line.

export type Role =
  | 'label'
  | 'directive'
  | 'mnemonic'
  | 'data'
  | 'field'
  | 'option'
  | 'enum'
  | 'keyword'
  | 'register'
  | 'engine'
  | 'mirror'
  | 'number'
  | 'string'
  | 'symbol'
  | 'operator'
  | 'punctuation'
  /** A name the language does not know in its place (unknown mnemonic, unknown directive, unknown field). */
  | 'unknown';

export interface LineToken {
  readonly role: Role;
  /** Source text (strings with their quotes, directives with their dot). */
  readonly text: string;
  /** 0-based start and exclusive end. */
  readonly start: number;
  readonly end: number;
  readonly value?: bigint;
  /** The command of the line (mnemonic, field and enum tokens). */
  readonly command?: CommandDef;
  readonly field?: CmdField;
  /** The group entry of a `field.N` key (field and enum tokens). */
  readonly entry?: number;
  /** The directive of the line, lower-case without the dot (directive, option and keyword tokens). */
  readonly directive?: string;
  readonly register?: RegRef;
}

export interface ClassifiedLine {
  readonly tokens: readonly LineToken[];
  /** 0-based column of the `;` that starts a comment, if any. */
  readonly commentStart?: number;
  /** Whether the lexer reported an error on the line. */
  readonly lexError: boolean;
}

const OPERATORS = new Set(['+', '-', '*', '/', '%', '<<', '>>', '&', '|', '^', '~', '=']);

function isPunct(t: Token | undefined, p: string): boolean {
  return t !== undefined && t.kind === 'punct' && t.text === p;
}

/** Column (0-based) of the `;` that starts the comment, outside strings, or undefined. */
export function commentStart(text: string): number | undefined {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === ';') return i;
  }
  return undefined;
}

/**
 * A key a command line may give, as the assembler reads it: a field (its language name or genxml's name in
 * snake_case), a group entry key `field.N` (with N), or `dword_length` for commands whose length it chooses.
 */
export interface CommandKey {
  readonly field: CmdField;
  /** The group entry, for `field.N` keys. */
  readonly entry?: number;
}

export function commandKey(def: CommandDef, name: string): CommandKey | undefined {
  const f = fieldByName(def, name);
  if (f) return { field: f };
  const g = groupKey(def, name);
  if (g) return { field: g.field, entry: g.index };
  if (def.length.kind === 'range' && name.toLowerCase() === 'dword_length') {
    const len = def.headerFields.find((h) => h.role === 'length');
    if (len) return { field: len };
  }
  return undefined;
}

/** The value name of an enum field, as written (case-insensitive), or undefined. */
function enumKey(f: CmdField, text: string): string | undefined {
  if (f.kind !== 'enum' || !f.values) return undefined;
  const upper = text.toUpperCase();
  return Object.keys(f.values).find((v) => v.toUpperCase() === upper);
}

/** What every token of a line is, the way the assembler will read it (commands as `gen` lays them out). */
export function classifyLine(text: string, gen: Gen = DEFAULT_GEN): ClassifiedLine {
  const { tokens, errors } = tokenizeLine(text);
  const out: LineToken[] = [];
  const src = (t: Token) => text.slice(t.col - 1, t.end - 1);
  const push = (t: Token, role: Role, extra: Partial<LineToken> = {}) =>
    out.push({ role, text: src(t), start: t.col - 1, end: t.end - 1, ...extra });

  let i = 0;
  while (tokens[i]?.kind === 'name' && isPunct(tokens[i + 1], ':')) {
    push(tokens[i], tokens[i].text.includes('.') ? 'unknown' : 'label');
    push(tokens[i + 1], 'punctuation');
    i += 2;
  }
  const head = tokens[i];
  let command: CommandDef | undefined;
  let directive: DirectiveSyntax | undefined;
  if (head) {
    if (head.kind === 'directive') {
      directive = DIRECTIVES.get(head.text.toLowerCase());
      push(head, directive ? 'directive' : 'unknown', { directive: head.text.toLowerCase() });
      i++;
    } else if (head.kind === 'name') {
      const lower = head.text.toLowerCase();
      if ((DATA_KEYWORDS as readonly string[]).includes(lower)) push(head, 'data');
      else {
        command = commandByMnemonic(head.text, gen);
        push(head, command ? 'mnemonic' : 'unknown', { command });
      }
      i++;
    }
  }
  const keywords = directive ? directiveKeywords(directive).map((k) => k.toLowerCase()) : [];
  for (; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === 'num') {
      push(t, 'number', { value: t.value });
      continue;
    }
    if (t.kind === 'string') {
      push(t, 'string');
      continue;
    }
    if (t.kind === 'punct') {
      push(t, OPERATORS.has(t.text) ? 'operator' : 'punctuation');
      continue;
    }
    if (t.kind === 'directive') {
      push(t, 'unknown');
      continue;
    }
    // A name: a key before `=`, an enum value after `field=`, or a value.
    if (isPunct(tokens[i + 1], '=')) {
      const k = command && commandKey(command, t.text);
      if (k) {
        push(t, 'field', { command, field: k.field, entry: k.entry });
        continue;
      }
      if (directive && [...directive.options.keys()].some((k) => k.toLowerCase() === t.text.toLowerCase())) {
        push(t, 'option', { directive: directive.name });
        continue;
      }
    }
    const key = isPunct(tokens[i - 1], '=') ? tokens[i - 2] : undefined;
    const keyOf = key?.kind === 'name' && command ? commandKey(command, key.text) : undefined;
    if (keyOf && enumKey(keyOf.field, t.text) !== undefined) {
      push(t, 'enum', { command, field: keyOf.field, entry: keyOf.entry });
      continue;
    }
    if (keywords.includes(t.text.toLowerCase())) {
      push(t, 'keyword', { directive: directive!.name });
      continue;
    }
    const reg = lookupRegister(t.text);
    if (reg) push(t, 'register', { register: reg });
    else if (isEngine(t.text)) push(t, 'engine');
    else if (t.text.toUpperCase() === 'MIRROR') push(t, 'mirror');
    else push(t, 'symbol');
  }
  return { tokens: out, commentStart: commentStart(text), lexError: errors.length > 0 };
}

// ---------------------------------------------------------------------------------------------
// Hover text (Markdown), derived from the tables.

const hex = (n: number, pad = 0) => '0x' + (n >>> 0).toString(16).toUpperCase().padStart(pad, '0');
const hexBig = (n: number | bigint) => '0x' + n.toString(16).toUpperCase();

const ACCESS_TEXT: Readonly<Record<Access, string>> = {
  ro: 'read-only (the device updates it)',
  rw: 'read/write by the driver (`.mmio`)',
  cmd: 'written by the driver and by commands on its own engine (the command scanner allow-list)',
  priv: 'privileged: the driver only (a VMM control)',
};

function bitRange(lo: number, hi: number): string {
  return lo === hi ? `${lo}` : `${hi}:${lo}`;
}

/** Where a field sits, as genxml counts (`DW1-2 bits 47:2`), and what its kind means there. */
export function fieldWhere(f: CmdField): { placement: string; note?: string } {
  const placement = fieldPlacement(f);
  const aligned = f.lo ? `, ${2 ** f.lo}-byte aligned (bits ${f.lo - 1}:0 are not stored)` : '';
  switch (f.kind) {
    case 'addr':
      return {
        placement,
        note:
          f.hi > 31
            ? `a GPU VA${aligned}: bits 31:${f.lo} in DW${f.dw}, bits ${Math.min(f.hi, 47)}:32 in DW${f.dw + 1}${f.hi > 47 ? ' (63:48 repeat bit 47: canonical)' : ''}`
            : `a GPU VA below 4G${aligned}`,
      };
    case 'reg':
      return { placement, note: 'register offset (dword aligned), kept in place' };
    case 'offset':
      return f.lo || f.hi > 31
        ? {
            placement,
            note: `${aligned.slice(2)}${f.hi > 31 ? `${f.lo ? ', ' : ''}continuing into DW${f.dw + 1}` : ''}`,
          }
        : { placement };
    default:
      return f.hi > 31
        ? { placement, note: `from DW${f.dw} bit ${f.lo} to DW${f.dw + 1} bit ${f.hi - 32}` }
        : { placement };
  }
}

/** A field's description split into the project's words (the overlay's, if any) and genxml's name and type. */
export function fieldText(f: CmdField): { text?: string; xml?: string; type?: string } {
  if (!f.xml) return { text: f.desc };
  const at = f.desc.lastIndexOf(`${f.xml} (`);
  if (at < 0 || !f.desc.endsWith(')')) return { text: f.desc, xml: f.xml };
  const type = /, ([^,()]+)\)$/.exec(f.desc)?.[1];
  const text = at > 0 ? f.desc.slice(0, at).replace(/\s*—\s*$/, '') : undefined;
  return { text: text || undefined, xml: f.xml, type };
}

const KIND_TEXT: Readonly<Record<CmdField['kind'], string>> = {
  uint: 'number',
  enum: 'enum',
  flag: 'flag (0 or 1)',
  reg: 'register',
  addr: 'GPU VA',
  int: 'signed number',
  float: '32-bit float (raw bits)',
  fixed: 'fixed-point number (raw bits)',
  offset: 'offset (kept in place)',
};

const EXECUTION_TEXT: Readonly<Record<CommandDef['execution'], string>> = {
  executed: 'executed: the engine gives it its semantics',
  state: 'retired as state: the engine keeps the latest of each state command (no memory effect)',
  'not-emulated':
    'not emulated: a draw or dispatch, retired with no memory effect (no shader runs; counted in `notEmulated`, the `not-emulated` exception filter stops on it)',
};

/** Enum values shown in one hover or table cell at most. */
const VALUES_SHOWN = 24;
/** Fields listed in a command's hover table at most (3DSTATE_SBE_SWIZ has 144); the rest are named after it. */
export const FIELD_ROWS = 20;
/** Names of further fields listed after the table at most. */
const MORE_NAMES = 30;

function valuesText(f: CmdField, max = VALUES_SHOWN): string | undefined {
  if (!f.values) return undefined;
  const all = Object.entries(f.values);
  const shown = all
    .slice(0, max)
    .map(([k, v]) => `\`${k}\` ${v}`)
    .join(', ');
  return `values: ${shown}${all.length > max ? `, … ${all.length - max} more` : ''}`;
}

function fieldFacts(f: CmdField, maxValues = VALUES_SHOWN): string[] {
  const facts: string[] = [];
  if (f.required) facts.push('required');
  else if (f.default !== undefined && f.default !== 0) facts.push(`default ${enumName(f, f.default) ?? f.default}`);
  const vals = valuesText(f, maxValues);
  if (vals) facts.push(vals);
  if (f.pitchField) facts.push(`accepts a surface name (then also sets \`${f.pitchField}\`)`);
  if (f.impliedBy)
    facts.push(`${enumName(f, f.impliedBy.value) ?? f.impliedBy.value} when \`${f.impliedBy.field}\` is given`);
  return facts;
}

function enumName(f: CmdField, v: number): string | undefined {
  return f.values ? Object.entries(f.values).find(([, n]) => n === v)?.[0] : undefined;
}

/** Fields in the order a writer wants them: required, then the project's named ones (`addr`, `qword`), then genxml's. */
export function fieldRank(def: CommandDef, f: CmdField): number {
  const filled = def.fields.some((x) => x.pitchField === f.name);
  if (f.required && !filled) return 0;
  return !f.xml || f.name !== snakeName(f.xml) ? 1 : 2;
}

export function orderedFields(def: CommandDef): CmdField[] {
  return def.fields
    .map((f, i) => ({ f, i, r: fieldRank(def, f) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.f);
}

function lengthField(def: CommandDef): CmdField | undefined {
  return def.headerFields.find((h) => h.role === 'length');
}

function lengthText(def: CommandDef): string {
  const r = def.length;
  const lf = lengthField(def);
  const field = lf ? `; DWord Length (bits ${bitRange(lf.lo, lf.hi)}) = total − ${def.bias}` : '; no length field';
  if (r.kind === 'fixed') return `${r.dwords} dword${r.dwords > 1 ? 's' : ''}${field}`;
  if (r.kind === 'flag') return `${r.off} dwords, ${r.on} with \`${r.field}=1\`${field}`;
  if (r.kind === 'range') return `${r.min} to ${r.max} dwords, as \`dword_length\` says (default ${r.default})${field}`;
  if (r.kind === 'group') return `${r.base} dwords + ${r.entry} per group entry (\`FIELD.N=\` gives entry N)${field}`;
  return `1 + 2n dwords (n register/value pairs)${field}`;
}

/** The header as named fields: `0x78100007`: Command Type 3 (31:29), Command SubType 3 (28:27), … */
function headerText(def: CommandDef): string {
  const ids = def.headerFields
    .filter((h) => h.role === 'identity')
    .sort((a, b) => b.hi - a.hi)
    .map((h) => `${h.xml || h.name} ${hex(h.default ?? 0)} (bits ${bitRange(h.lo, h.hi)})`);
  return `\`${hex(def.header, 8)}\`: ${def.client}; ${ids.join(', ')}`;
}

function gensText(def: CommandDef): string {
  const text = def.gens.map((g) => `gen${g}`).join(', ');
  const others = COMMANDS.filter((c) => c !== def && c.mnemonic === def.mnemonic).flatMap((c) => c.gens);
  return others.length
    ? `${text} (gen${others.join(', gen')} lays it out differently: \`.vm gen=${others[0]}\`)`
    : text;
}

function writesText(w: WriteSpec): string {
  if (w.kind === 'rect') return `a rectangle at \`${w.addr}\``;
  const b = w.bytes;
  const bytes =
    typeof b === 'number'
      ? `${b} bytes`
      : 'flag' in b
        ? `${b.off} bytes, ${b.on} with \`${b.flag}=1\``
        : 'atLength' in b
          ? `${b.short} bytes, ${b.long} in the ${b.atLength}-dword form`
          : `${b.sizes.join('/')} bytes as \`${b.sizeField}\` says`;
  return `${bytes} at ${w.addr ? `\`${w.addr}\`` : 'the hardware status page'}${w.ifNonZero ? ` when \`${w.ifNonZero}\` is not 0` : ''}`;
}

/** Optional keys shown in a syntax line at most. */
const SYNTAX_OPTIONAL = 8;

/** `MI_STORE_DATA_IMM addr=…, data=… [, qword=…]`: the required fields, then (some of) the optional ones. */
export function commandSyntax(def: CommandDef): string {
  if (def.length.kind === 'pairs') return `${def.mnemonic} REGISTER=value, ...`;
  const ordered = orderedFields(def);
  const req = ordered.filter((f) => fieldRank(def, f) === 0).map((f) => `${f.name}=…`);
  const opt = [
    ...ordered.filter((f) => fieldRank(def, f) > 0).map((f) => `${f.name}=…`),
    ...def.groupFields.map((f) => `${f.name}.N=…`),
  ];
  if (def.length.kind === 'range') opt.push('dword_length=…');
  const shown = opt.length > SYNTAX_OPTIONAL ? [...opt.slice(0, SYNTAX_OPTIONAL), '…'] : opt;
  return [def.mnemonic, req.join(', '), shown.length ? `[${req.length ? ', ' : ''}${shown.join(', ')}]` : '']
    .filter(Boolean)
    .join(' ');
}

function fieldRow(f: CmdField): string {
  const t = fieldText(f);
  const desc = [t.text, ...fieldFacts(f, 6)].filter(Boolean).join('; ');
  const xml = t.xml ? `${t.xml}${t.type ? ` (${t.type})` : ''}` : '—';
  return `| \`${f.name}\` | ${fieldPlacement(f)} | ${KIND_TEXT[f.kind]} | ${xml} | ${desc.replace(/\|/g, '\\|')} |`;
}

function fieldTable(
  title: string,
  fields: readonly CmdField[],
  key: (f: CmdField) => string = (f) => f.name,
): string[] {
  const out = ['', title, '', '| field | placement | kind | genxml | description |', '|---|---|---|---|---|'];
  for (const f of fields.slice(0, FIELD_ROWS)) out.push(fieldRow(f));
  if (fields.length > FIELD_ROWS) {
    const rest = fields.slice(FIELD_ROWS);
    const names = rest
      .slice(0, MORE_NAMES)
      .map((f) => `\`${key(f)}\``)
      .join(', ');
    out.push('', `… ${rest.length} more: ${names}${rest.length > MORE_NAMES ? ', …' : ''} (hover one for its bits)`);
  }
  return out;
}

export function commandHover(def: CommandDef): string {
  const rows: [string, string][] = [
    ['Header', headerText(def)],
    ['Length', lengthText(def)],
    ['Engines', def.engines.join(', ')],
    ['Execution', EXECUTION_TEXT[def.execution]],
    ['Generations', gensText(def)],
  ];
  if (def.requires) {
    const f = FEATURES.find((x) => x.name === def.requires)!;
    rows.push(['Requires', `GENCAP bit ${f.bit} \`${f.name}\` (${f.desc}), device version ${f.minGen} or later`]);
  }
  if (def.writes?.length) rows.push(['Writes', def.writes.map(writesText).join('; ')]);
  if (def.regWrites)
    rows.push(['Writes registers', def.regWrites === 'pairs' ? 'the REGISTER=value pairs' : `\`${def.regWrites}\``]);
  if (def.predicated)
    rows.push(['Predicated', `by \`${snakeName(def.predicated)}\` (MI_PREDICATE / MI_SET_PREDICATE)`]);
  if (def.execution === 'executed') rows.push(['Cost', `${def.cycles} cycle${def.cycles > 1 ? 's' : ''}`]);
  const out = [
    `**${def.mnemonic}** — ${def.desc}`,
    '',
    '```vgpu',
    commandSyntax(def),
    '```',
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
  ];
  if (def.fields.length) out.push(...fieldTable(`**Fields** (${def.fields.length})`, orderedFields(def)));
  if (def.length.kind === 'group') {
    const g = def.length;
    out.push(
      ...fieldTable(
        `**Group entry** (${g.entry} dword${g.entry > 1 ? 's' : ''} each from DW${g.base}; entry N's fields are \`field.N=\`)`,
        def.groupFields,
        (f) => `${f.name}.N`,
      ),
    );
  }
  return out.join('\n');
}

export function fieldHover(def: CommandDef, f: CmdField, enumValue?: string, entry?: number): string {
  const w = fieldWhere(f);
  const name = entry === undefined ? f.name : `${f.name}.${entry}`;
  const t = fieldText(f);
  const lines = [
    `**${name}** (${def.mnemonic} field) — ${t.text ?? t.xml ?? f.desc}`,
    '',
    `${w.placement}: ${KIND_TEXT[f.kind]}${w.note ? ` (${w.note})` : ''}`,
  ];
  if (f === lengthField(def)) lines.push('', `Length: ${lengthText(def)}`);
  if (entry !== undefined && def.length.kind === 'group') {
    const first = def.length.base + entry * def.length.entry;
    lines.push(
      '',
      `group entry ${entry}: DW${first}${def.length.entry > 1 ? `–${first + def.length.entry - 1}` : ''} of the command (placement counted from the entry's first dword)`,
    );
  }
  if (t.xml)
    lines.push(
      '',
      `genxml: \`${t.xml}\`${t.type ? ` (${t.type})` : ''}${t.xml && snakeName(t.xml) !== f.name ? `, also written \`${snakeName(t.xml)}=\`` : ''}`,
    );
  const facts = fieldFacts(f, 64);
  if (facts.length) lines.push('', facts.join('; '));
  if (enumValue !== undefined) {
    const k = enumKey(f, enumValue);
    if (k !== undefined) lines.unshift(`\`${k}\` = ${f.values![k]}`, '');
  }
  return lines.join('\n');
}

/** Where a register sits in BAR0, per engine for engine registers. */
export function registerOffsets(def: RegDef, engine?: EngineName): string {
  if (ENGINE_REG_SET.has(def)) {
    const engines = engine ? [engine] : ENGINES;
    return `${engines.map((e) => `${e} \`${hex(ENGINE_BASE[e] + def.offset, 5)}\``).join(', ')} (engine base + \`${hex(def.offset, 3)}\`)`;
  }
  if (CAP_REG_DEFS.includes(def))
    return `\`${hex(CAP_BASE + def.offset)}\` (capability block \`${hex(CAP_BASE)}\` + \`${hex(def.offset, 2)}\`)`;
  return `\`${hex(def.offset, 4)}\``;
}

export function registerHover(def: RegDef, engine?: EngineName): string {
  const scope = ENGINE_REG_SET.has(def)
    ? 'engine register'
    : CAP_REG_DEFS.includes(def)
      ? 'capability register'
      : 'device register';
  const out = [
    `**${engine ? `${engine}.` : ''}${def.name}** (${scope}) — ${def.desc}`,
    '',
    '| | |',
    '|---|---|',
    `| BAR0 offset | ${registerOffsets(def, engine)} |`,
    `| Width | ${def.width} bits, reset \`${hex(def.reset)}\` |`,
    `| Access | ${def.access}: ${ACCESS_TEXT[def.access]} |`,
  ];
  if (ENGINE_REG_SET.has(def) && !engine)
    out.push('', 'Without an engine prefix: the engine of the enclosing `.ring`, or the `.batch` engine.');
  if (def.fields.length) {
    out.push('', '| field | bits | description |', '|---|---|---|');
    for (const f of def.fields) {
      const vals = f.values
        ? ` (${Object.entries(f.values)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')})`
        : '';
      out.push(`| ${f.name} | ${bitRange(f.lo, f.hi)} | ${f.desc}${vals} |`);
    }
  }
  return out.join('\n');
}

export function directiveHover(d: DirectiveSyntax): string {
  return ['```vgpu', d.usage, '```'].join('\n');
}

/** ENGCAP's field for an engine describes it (`render engine`). */
export function engineHover(engine: EngineName): string {
  const engcap = CAP_REG_DEFS.find((r) => r.name === 'ENGCAP');
  const desc = engcap?.fields.find((f) => f.name.toLowerCase() === engine)?.desc ?? 'engine';
  const runs = COMMANDS.filter((c) => c.engines.length === 1 && c.engines[0] === engine).map((c) => c.mnemonic);
  const lines = [`**${engine}** — ${desc}, registers at BAR0 \`${hex(ENGINE_BASE[engine], 5)}\``];
  if (runs.length) lines.push('', `Only on ${engine}: ${runs.join(', ')}`);
  return lines.join('\n');
}

export interface HoverResult {
  readonly markdown: string;
  readonly start: number;
  readonly end: number;
}

/** Hover text for the token at a 0-based character, if it is something the tables describe (commands as `gen` lays them out). */
export function hoverAt(
  text: string,
  character: number,
  symbols?: ReadonlyMap<string, number>,
  gen: Gen = DEFAULT_GEN,
): HoverResult | undefined {
  const line = classifyLine(text, gen);
  if (line.commentStart !== undefined && character >= line.commentStart) return undefined;
  const t =
    line.tokens.find((x) => x.start <= character && character < x.end) ?? line.tokens.find((x) => x.end === character);
  if (!t) return undefined;
  const md = tokenHover(t, symbols);
  return md === undefined ? undefined : { markdown: md, start: t.start, end: t.end };
}

function tokenHover(t: LineToken, symbols?: ReadonlyMap<string, number>): string | undefined {
  switch (t.role) {
    case 'mnemonic':
      return commandHover(t.command!);
    case 'field':
      return fieldHover(t.command!, t.field!, undefined, t.entry);
    case 'enum':
      return fieldHover(t.command!, t.field!, t.text, t.entry);
    case 'register':
      return registerHover(t.register!.def, t.register!.engine);
    case 'directive':
    case 'option':
    case 'keyword':
      return directiveHover(DIRECTIVES.get(t.directive!)!);
    case 'engine':
      return engineHover(t.text.toLowerCase() as EngineName);
    case 'mirror':
      return '**MIRROR** = 2^physBits: the first GPA of range B, which mirrors guest RAM when isolation is on';
    case 'number':
      return t.value === undefined ? undefined : `\`${t.text}\` = ${t.value.toString()} = \`${hexBig(t.value)}\``;
    case 'label':
    case 'symbol': {
      const v = symbols?.get(t.text.toUpperCase());
      return v === undefined ? undefined : `**${t.text}** = \`${hex(v)}\``;
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Completion.

export type CompletionKind =
  | 'mnemonic'
  | 'directive'
  | 'data'
  | 'field'
  | 'option'
  | 'enum'
  | 'keyword'
  | 'register'
  | 'engine'
  | 'symbol'
  | 'constant';

export interface CompletionEntry {
  readonly label: string;
  readonly kind: CompletionKind;
  readonly insertText?: string;
  readonly detail?: string;
  readonly documentation?: string;
  readonly sortText?: string;
  /** Re-open completion after inserting (after `field=`). */
  readonly retrigger?: boolean;
}

export interface CompletionResult {
  /** 0-based range of the text the completion replaces (the word under the cursor). */
  readonly start: number;
  readonly end: number;
  readonly items: readonly CompletionEntry[];
}

const WORD_CHAR = /[A-Za-z0-9_.]/;

/** The word around a 0-based character: names with dots (`bcs0.CS_GPR0`) and directives (`.map`). */
export function wordAt(text: string, character: number): { start: number; end: number } {
  let start = character;
  while (start > 0 && WORD_CHAR.test(text[start - 1])) start--;
  let end = character;
  while (end < text.length && WORD_CHAR.test(text[end])) end++;
  return { start, end };
}

const MNEMONIC_ITEMS = new Map<Gen, readonly CompletionEntry[]>();

/** Every command of a generation; built once (their hovers are the costly part), so a long table costs nothing per request. */
function mnemonicItems(gen: Gen): readonly CompletionEntry[] {
  let items = MNEMONIC_ITEMS.get(gen);
  if (!items) {
    items = commandsOf(gen).map((c) => {
      const takes = c.fields.length > 0 || c.length.kind === 'pairs' || c.length.kind === 'group';
      return {
        label: c.mnemonic,
        kind: 'mnemonic',
        insertText:
          c.fields.some((f) => f.required) || c.length.kind === 'pairs' || c.length.kind === 'group'
            ? `${c.mnemonic} `
            : c.mnemonic,
        detail: c.desc,
        documentation: commandHover(c),
        retrigger: takes,
      } satisfies CompletionEntry;
    });
    MNEMONIC_ITEMS.set(gen, items);
  }
  return items;
}

function directiveItems(): CompletionEntry[] {
  return [...DIRECTIVES.values()].map((d) => ({
    label: `.${d.name}`,
    kind: 'directive',
    insertText: `.${d.name} `,
    detail: d.usage,
    documentation: directiveHover(d),
  }));
}

function dataItems(): CompletionEntry[] {
  return DATA_KEYWORDS.map((k) => ({
    label: k,
    kind: 'data',
    insertText: `${k} `,
    detail: 'data line (inside .data)',
  }));
}

function registerItems(word: string, filter: (d: RegDef) => boolean = () => true, suffix = ''): CompletionEntry[] {
  const dot = word.indexOf('.');
  const prefix = dot > 0 && isEngine(word.slice(0, dot)) ? word.slice(0, dot).toLowerCase() : undefined;
  const defs = prefix ? ENGINE_REGS : [...ENGINE_REGS, ...DEVICE_REG_DEFS, ...CAP_REG_DEFS];
  return defs.filter(filter).map((d) => {
    const label = prefix ? `${prefix}.${d.name}` : d.name;
    return {
      label,
      kind: 'register',
      insertText: label + suffix,
      detail: d.desc,
      documentation: registerHover(d, prefix as EngineName | undefined),
      sortText: (d.access === 'cmd' ? '0' : '1') + label,
    } satisfies CompletionEntry;
  });
}

function engineItems(): CompletionEntry[] {
  return ENGINES.map((e) => ({ label: e, kind: 'engine', detail: 'engine', documentation: engineHover(e) }));
}

function valueItems(symbols: readonly SymbolName[]): CompletionEntry[] {
  return [
    ...symbols.map((s) => ({ label: s.name, kind: 'symbol', detail: s.kind }) satisfies CompletionEntry),
    { label: 'MIRROR', kind: 'constant', detail: '2^physBits: start of the mirror range' },
  ];
}

/** The keys a command line may still take: fields (required, named, then genxml's), group entry keys, dword_length. */
function keyItems(def: CommandDef, given: readonly string[]): CompletionEntry[] {
  const used = new Set<string>();
  let entry = -1;
  const inEntry = new Set<string>();
  for (const name of given) {
    const k = commandKey(def, name);
    if (!k) continue;
    if (k.entry === undefined) used.add(k.field.name);
    else if (k.entry > entry) {
      entry = k.entry;
      inEntry.clear();
      inEntry.add(k.field.name);
    } else if (k.entry === entry) inEntry.add(k.field.name);
  }
  const items: CompletionEntry[] = [];
  orderedFields(def).forEach((f, n) => {
    if (used.has(f.name)) return;
    const rank = fieldRank(def, f);
    items.push({
      label: f.name,
      kind: 'field',
      insertText: `${f.name}=`,
      detail: `${fieldPlacement(f)}${rank === 0 ? ', required' : ''}`,
      documentation: fieldHover(def, f),
      sortText: `${rank}${String(n).padStart(3, '0')}`,
      retrigger: true,
    });
  });
  // Group keys: the fields of the entry being written, then of the next one.
  def.groupFields.forEach((f, n) => {
    const e = entry < 0 || inEntry.has(f.name) ? entry + 1 : entry;
    const label = `${f.name}.${e}`;
    items.push({
      label,
      kind: 'field',
      insertText: `${label}=`,
      detail: `group entry ${e}: ${fieldPlacement(f)} of the entry`,
      documentation: fieldHover(def, f, undefined, e),
      sortText: `3${String(n).padStart(3, '0')}`,
      retrigger: true,
    });
  });
  if (def.length.kind === 'range' && !given.some((g) => g.toLowerCase() === 'dword_length')) {
    const lf = lengthField(def)!;
    items.push({
      label: 'dword_length',
      kind: 'field',
      insertText: 'dword_length=',
      detail: lengthText(def),
      documentation: fieldHover(def, lf),
      sortText: '4000',
      retrigger: true,
    });
  }
  return items;
}

/** Completions at a 0-based character of a line (commands as `gen` lays them out). */
export function completionsAt(
  text: string,
  character: number,
  symbols: readonly SymbolName[] = [],
  gen: Gen = DEFAULT_GEN,
): CompletionResult {
  const word = wordAt(text, character);
  const typed = text.slice(word.start, character);
  const none = { ...word, items: [] };
  const before = text.slice(0, word.start);
  const comment = commentStart(before);
  if (comment !== undefined) return none;
  if ((before.match(/"/g)?.length ?? 0) % 2 === 1) return none;
  const toks = tokenizeLine(before).tokens;
  let i = 0;
  while (toks[i]?.kind === 'name' && isPunct(toks[i + 1], ':')) i += 2;
  const head = toks[i];
  const rest = toks.slice(i + 1);

  if (!head) {
    if (typed.startsWith('.')) return { ...word, items: directiveItems() };
    return { ...word, items: [...mnemonicItems(gen), ...dataItems(), ...(typed === '' ? directiveItems() : [])] };
  }
  const last = rest[rest.length - 1];
  const key = isPunct(last, '=') ? rest[rest.length - 2] : undefined;
  const atKey = rest.length === 0 || isPunct(last, ',');

  if (head.kind === 'directive') {
    const d = DIRECTIVES.get(head.text.toLowerCase());
    if (!d) return none;
    if (key?.kind === 'name') {
      const vals = [...d.options].find(([k]) => k.toLowerCase() === key.text.toLowerCase())?.[1] ?? [];
      return { ...word, items: vals.map((v) => ({ label: v, kind: 'keyword', detail: d.usage })) };
    }
    const items: CompletionEntry[] = [];
    const used = new Set(
      rest.filter((t, j) => t.kind === 'name' && isPunct(rest[j + 1], '=')).map((t) => t.text.toLowerCase()),
    );
    for (const k of d.options.keys()) {
      if (!used.has(k.toLowerCase()))
        items.push({
          label: k,
          kind: 'option',
          insertText: `${k}=`,
          detail: d.usage,
          retrigger: d.options.get(k)!.length > 0,
        });
    }
    for (const k of d.keywords) items.push({ label: k, kind: 'keyword', detail: d.usage });
    if (d.positional.has('ENGINE')) items.push(...engineItems());
    if (d.positional.has('REGISTER')) items.push(...registerItems(typed));
    if ([...d.positional].some((p) => p !== 'ENGINE' && p !== 'REGISTER')) items.push(...valueItems(symbols));
    return { ...word, items };
  }

  if (head.kind !== 'name') return none;
  const def = commandByMnemonic(head.text, gen);
  if (!def) return { ...word, items: valueItems(symbols) };
  if (key?.kind === 'name') {
    const k = commandKey(def, key.text);
    const f = k?.field;
    if (f?.kind === 'enum' && f.values) {
      return {
        ...word,
        items: Object.entries(f.values).map(([name, v]) => ({
          label: name,
          kind: 'enum',
          detail: `${f.name} = ${v}`,
          documentation: fieldHover(def, f, name, k!.entry),
        })),
      };
    }
    if (f?.kind === 'reg') {
      const writes = def.regWrites === f.name;
      return { ...word, items: registerItems(typed, writes ? (d) => d.access === 'cmd' : undefined) };
    }
    return { ...word, items: valueItems(symbols) };
  }
  if (atKey) {
    // MI_LOAD_REGISTER_IMM: the registers a batch may write (REGISTER=value), then its own fields.
    const given = rest.filter((t, j) => t.kind === 'name' && isPunct(rest[j + 1], '=')).map((t) => t.text);
    if (def.length.kind === 'pairs')
      return { ...word, items: [...registerItems(typed, (d) => d.access === 'cmd', '='), ...keyItems(def, given)] };
    const items = keyItems(def, given);
    return { ...word, items };
  }
  return { ...word, items: [...valueItems(symbols), ...registerItems(typed)] };
}

// ---------------------------------------------------------------------------------------------
// Diagnostics.

/** 0-based range of an assembler diagnostic on its line: its own end column, else the token it starts at. */
export function diagnosticRange(d: Diagnostic, lineText: string): { line: number; start: number; end: number } {
  const line = Math.max(0, d.line - 1);
  const start = Math.min(Math.max(0, d.col - 1), lineText.length);
  if (d.endCol !== undefined && d.endCol - 1 > start)
    return { line, start, end: Math.min(d.endCol - 1, Math.max(lineText.length, start + 1)) };
  const tok = tokenizeLine(lineText).tokens.find((t) => t.col - 1 === start);
  if (tok) return { line, start, end: tok.end - 1 };
  if (start >= lineText.length) return { line, start: 0, end: lineText.length };
  return { line, start, end: start + 1 };
}
