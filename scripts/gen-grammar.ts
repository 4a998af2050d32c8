// Generates syntaxes/vgpu.tmLanguage.json (the TextMate grammar of `.vgpu`, SPEC section 6) from the
// command table, the register table, the lexer's data keywords and the assembler's directive usage lines
// (read by extension/languageModel.ts),
// so that a command, field, enum value or register added to a table is highlighted without touching this.
//
// Usage: npx tsx scripts/gen-grammar.ts [--check]   (--check: exit 1 when the file is out of date)

import * as fs from 'fs';
import * as path from 'path';
import { COMMANDS, snakeName, type CmdField } from '../emulator/commands';
import { DATA_KEYWORDS } from '../emulator/lexer';
import { CAP_REG_DEFS, DEVICE_REG_DEFS, ENGINES, ENGINE_REGS } from '../emulator/registers';
import { DIRECTIVES, directiveKeywords } from '../extension/languageModel';

export const GRAMMAR_PATH = path.join(__dirname, '..', 'syntaxes', 'vgpu.tmLanguage.json');
export const SCOPE = 'source.vgpu';

type Rule = Record<string, unknown>;

const NAME = '[A-Za-z_][A-Za-z0-9_]*';
/** Where a statement stops: the end of the line or the start of a comment. */
const STATEMENT_END = '(?=;)|$';

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A case-insensitive alternation of words, longest first so that no word shadows a longer one. */
function words(list: Iterable<string>): string {
  const uniq = [...new Set(list)].sort((a, b) => b.length - a.length || a.localeCompare(b));
  return uniq.map(escape).join('|');
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

// ---------------------------------------------------------------------------------------------
// Shared pieces: expressions (numbers, strings, names, operators) used by every statement.

function repositoryBase(): Record<string, Rule> {
  const engineRegs = words(ENGINE_REGS.map((r) => r.name));
  const otherRegs = words([...DEVICE_REG_DEFS, ...CAP_REG_DEFS].map((r) => r.name));
  const engines = words(ENGINES);
  return {
    comment: {
      match: '(;).*$',
      name: 'comment.line.semicolon.vgpu',
      captures: { 1: { name: 'punctuation.definition.comment.vgpu' } },
    },
    label: {
      comment: 'label: names the current address (several labels may precede one statement)',
      match: `(${NAME})\\s*(:)`,
      captures: { 1: { name: 'entity.name.label.vgpu' }, 2: { name: 'punctuation.separator.label.vgpu' } },
    },
    string: {
      begin: '"',
      beginCaptures: { 0: { name: 'punctuation.definition.string.begin.vgpu' } },
      end: '(")|$',
      endCaptures: { 1: { name: 'punctuation.definition.string.end.vgpu' } },
      name: 'string.quoted.double.vgpu',
      patterns: [
        { match: '\\\\(?:[nrt0\\\\"\']|x[0-9A-Fa-f]{2})', name: 'constant.character.escape.vgpu' },
        { match: '\\\\.', name: 'invalid.illegal.escape.vgpu' },
      ],
    },
    number: {
      comment: 'decimal, 0x hex, 0b binary; _ separators; K M G suffixes (x1024^n)',
      patterns: [
        {
          match: '\\b0[xX][0-9A-Fa-f_]*[0-9A-Fa-f][0-9A-Fa-f_]*([kKmMgG])?\\b',
          name: 'constant.numeric.hex.vgpu',
          captures: { 1: { name: 'keyword.other.unit.suffix.vgpu' } },
        },
        {
          match: '\\b0[bB][01_]*[01][01_]*([kKmMgG])?\\b',
          name: 'constant.numeric.binary.vgpu',
          captures: { 1: { name: 'keyword.other.unit.suffix.vgpu' } },
        },
        {
          match: '\\b[0-9][0-9_]*([kKmMgG])?\\b',
          name: 'constant.numeric.decimal.vgpu',
          captures: { 1: { name: 'keyword.other.unit.suffix.vgpu' } },
        },
        { match: '\\b[0-9][A-Za-z0-9_]*\\b', name: 'invalid.illegal.numeric.vgpu' },
      ],
    },
    register: {
      comment: 'register names from the register table; engine registers take an optional engine prefix',
      match: `(?i)\\b(?:(?:(${engines})(\\.))?(${engineRegs})|(${otherRegs}))\\b`,
      captures: {
        1: { name: 'entity.name.namespace.engine.vgpu' },
        2: { name: 'punctuation.accessor.vgpu' },
        3: { name: 'variable.language.register.vgpu' },
        4: { name: 'variable.language.register.vgpu' },
      },
    },
    engine: { match: `(?i)\\b(?:${engines})\\b`, name: 'constant.language.engine.vgpu' },
    mirror: { match: '(?i)\\bMIRROR\\b', name: 'constant.language.mirror.vgpu' },
    operator: {
      patterns: [
        { match: '<<|>>', name: 'keyword.operator.bitwise.shift.vgpu' },
        { match: '[&|^~]', name: 'keyword.operator.bitwise.vgpu' },
        { match: '[-+*/%]', name: 'keyword.operator.arithmetic.vgpu' },
        { match: '=', name: 'keyword.operator.assignment.vgpu' },
        { match: ',', name: 'punctuation.separator.comma.vgpu' },
        { match: '\\(', name: 'punctuation.section.parens.begin.vgpu' },
        { match: '\\)', name: 'punctuation.section.parens.end.vgpu' },
      ],
    },
    symbol: {
      comment: 'labels, batch and surface names used as values',
      match: `\\b${NAME}\\b`,
      name: 'variable.other.symbol.vgpu',
    },
    expression: {
      patterns: ['string', 'number', 'register', 'engine', 'mirror', 'operator', 'symbol'].map((k) => ({
        include: `#${k}`,
      })),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Statements: one rule per directive, one for data lines, one per group of commands with the same fields.

function directiveRules(): { patterns: Rule[]; repo: Record<string, Rule> } {
  const repo: Record<string, Rule> = {};
  const patterns: Rule[] = [];
  for (const d of DIRECTIVES.values()) {
    const { name, usage } = d;
    const key = `directive-${slug(name)}`;
    const keys = [...d.options.keys()];
    const keywords = directiveKeywords(d);
    const inner: Rule[] = [{ include: '#comment' }];
    if (keys.length) {
      inner.push({
        match: `(?i)\\b(${words(keys)})\\s*(?==)`,
        captures: { 1: { name: 'variable.parameter.option.vgpu' } },
      });
    }
    if (keywords.length)
      inner.push({ match: `(?i)\\b(?:${words(keywords)})\\b`, name: 'constant.language.keyword.vgpu' });
    inner.push({ include: '#expression' });
    repo[key] = {
      comment: usage,
      begin: `(?i)(\\.)(${escape(name)})\\b`,
      beginCaptures: {
        0: { name: 'keyword.control.directive.vgpu' },
        1: { name: 'punctuation.definition.directive.vgpu' },
      },
      end: STATEMENT_END,
      name: `meta.directive.${slug(name)}.vgpu`,
      patterns: inner,
    };
    patterns.push({ include: `#${key}` });
  }
  repo['directive-unknown'] = { match: `\\.${NAME}`, name: 'invalid.illegal.directive.vgpu' };
  patterns.push({ include: '#directive-unknown' });
  return { patterns, repo };
}

function dataRule(): Rule {
  return {
    comment: 'data lines inside a .data block',
    begin: `(?i)\\b(${words(DATA_KEYWORDS)})\\b`,
    beginCaptures: { 1: { name: 'storage.type.data.vgpu' } },
    end: STATEMENT_END,
    name: 'meta.data.vgpu',
    patterns: [{ include: '#comment' }, { include: '#expression' }],
  };
}

/** What a command line may write as keys, over every generation that declares the mnemonic. */
interface CommandKeys {
  /** Field names (the language's and genxml's snake_case), with their enum values. */
  readonly fields: Map<string, Set<string>>;
  /** Group entry fields (`name.N`), with their enum values. */
  readonly group: Map<string, Set<string>>;
}

function addKey(to: Map<string, Set<string>>, name: string, f: CmdField): void {
  let vals = to.get(name);
  if (!vals) to.set(name, (vals = new Set()));
  if (f.kind === 'enum' && f.values) for (const v of Object.keys(f.values)) vals.add(v);
}

/** Keys per mnemonic: gen8 and gen9 layouts of one name highlight as one (the grammar cannot see `.vm gen=`). */
function commandKeys(): Map<string, CommandKeys> {
  const out = new Map<string, CommandKeys>();
  for (const c of COMMANDS) {
    let k = out.get(c.mnemonic);
    if (!k) out.set(c.mnemonic, (k = { fields: new Map(), group: new Map() }));
    for (const f of c.fields) {
      addKey(k.fields, f.name, f);
      if (f.xml) addKey(k.fields, snakeName(f.xml), f);
    }
    for (const f of c.groupFields) addKey(k.group, f.name, f);
    if (c.length.kind === 'range')
      addKey(
        k.fields,
        'dword_length',
        c.headerFields.find((h) => h.role === 'length')!,
      );
  }
  return out;
}

const FIELD_CAPTURES = {
  1: { name: 'variable.parameter.field.vgpu' },
  2: { name: 'keyword.operator.assignment.vgpu' },
  3: { name: 'constant.language.enum.vgpu' },
};

/** Enum values after keys that share one set of values (`key=VALUE`), longest value lists first. */
function enumPatterns(keys: Map<string, Set<string>>, keyPattern: (names: string) => string): Rule[] {
  const byValues = new Map<string, string[]>();
  for (const [name, vals] of keys) {
    if (!vals.size) continue;
    const sig = words(vals);
    byValues.set(sig, [...(byValues.get(sig) ?? []), name]);
  }
  return [...byValues].map(([vals, names]) => ({
    match: `(?i)\\b(${keyPattern(words(names))})\\s*(=)\\s*(${vals})\\b`,
    captures: FIELD_CAPTURES,
  }));
}

/** `field=` and `field.N=` for a command's keys, and `key=VALUE` for the values of its enum fields. */
function fieldPatterns(k: CommandKeys): Rule[] {
  const group = (names: string) => `(?:${names})\\.[0-9]+`;
  const out: Rule[] = [...enumPatterns(k.fields, (n) => n), ...enumPatterns(k.group, group)];
  if (k.group.size)
    out.push({
      match: `(?i)\\b(${group(words(k.group.keys()))})\\s*(?==)`,
      captures: { 1: { name: 'variable.parameter.field.vgpu' } },
    });
  if (k.fields.size)
    out.push({
      match: `(?i)\\b(${words(k.fields.keys())})\\s*(?==)`,
      captures: { 1: { name: 'variable.parameter.field.vgpu' } },
    });
  return out;
}

function commandRules(): { patterns: Rule[]; repo: Record<string, Rule> } {
  // Commands whose keys highlight the same way share one rule.
  const groups = new Map<string, { mnemonics: string[]; fields: Rule[] }>();
  for (const [mnemonic, keys] of commandKeys()) {
    const fields = fieldPatterns(keys);
    const sig = JSON.stringify(fields);
    const g = groups.get(sig);
    if (g) g.mnemonics.push(mnemonic);
    else groups.set(sig, { mnemonics: [mnemonic], fields });
  }
  const repo: Record<string, Rule> = {};
  const patterns: Rule[] = [];
  for (const g of groups.values()) {
    const key = `command-${slug(g.mnemonics[0])}`;
    repo[key] = {
      comment: g.mnemonics.join(', '),
      begin: `(?i)\\b(${words(g.mnemonics)})\\b`,
      beginCaptures: { 1: { name: 'keyword.other.mnemonic.vgpu' } },
      end: STATEMENT_END,
      name: 'meta.command.vgpu',
      patterns: [{ include: '#comment' }, ...g.fields, { include: '#expression' }],
    };
    patterns.push({ include: `#${key}` });
  }
  return { patterns, repo };
}

// ---------------------------------------------------------------------------------------------

export function buildGrammar(): Record<string, unknown> {
  const directives = directiveRules();
  const commands = commandRules();
  return {
    information_for_contributors: [
      'GENERATED FILE: do not edit. It is produced by scripts/gen-grammar.ts (npm run gen:grammar) from',
      "emulator/commands.ts, emulator/registers.ts, emulator/lexer.ts and the assembler's directive table.",
    ],
    name: 'vGPU',
    scopeName: SCOPE,
    fileTypes: ['vgpu'],
    patterns: [
      { include: '#comment' },
      { include: '#label' },
      ...directives.patterns,
      { include: '#data' },
      ...commands.patterns,
      { include: '#expression' },
    ],
    repository: {
      ...repositoryBase(),
      ...directives.repo,
      data: dataRule(),
      ...commands.repo,
    },
  };
}

export function grammarText(): string {
  return JSON.stringify(buildGrammar(), null, 2) + '\n';
}

if (require.main === module) {
  const text = grammarText();
  const current = fs.existsSync(GRAMMAR_PATH) ? fs.readFileSync(GRAMMAR_PATH, 'utf8') : '';
  if (process.argv.includes('--check')) {
    if (current !== text) {
      console.error(`${path.relative(process.cwd(), GRAMMAR_PATH)} is out of date: run npm run gen:grammar`);
      process.exit(1);
    }
  } else if (current !== text) {
    fs.mkdirSync(path.dirname(GRAMMAR_PATH), { recursive: true });
    fs.writeFileSync(GRAMMAR_PATH, text);
    console.log(`wrote ${path.relative(process.cwd(), GRAMMAR_PATH)}`);
  }
}
