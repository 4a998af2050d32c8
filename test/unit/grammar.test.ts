// The TextMate grammar: generated from the tables and current, and scoping what the lexer and tables say each
// token is, over the hand-written tests in test/grammar, a line for every table entry, and the examples.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMMANDS, DEFAULT_GEN, GENS, commandsOf, snakeName, type CmdField, type Gen } from '../../emulator/commands';
import { DATA_KEYWORDS } from '../../emulator/lexer';
import { CAP_REG_DEFS, DEVICE_REG_DEFS, ENGINES, ENGINE_REGS } from '../../emulator/registers';
import { DIRECTIVES, classifyLine, type LineToken } from '../../extension/languageModel';
import { GRAMMAR_PATH, SCOPE, grammarText } from '../../scripts/gen-grammar';

const ROOT = path.join(__dirname, '..', '..');

/** Runs the vscode-tmgrammar-test CLI (the grammar comes from package.json's contributes.grammars). */
function tmGrammarTest(pattern: string): { status: number | null; output: string } {
  const pkg = require.resolve('vscode-tmgrammar-test/package.json');
  const bin = path.join(path.dirname(pkg), require(pkg).bin['vscode-tmgrammar-test']);
  const r = spawnSync(process.execPath, [bin, '-c', pattern], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const OPERATOR_SCOPE: Record<string, string> = {
  '=': 'keyword.operator.assignment.vgpu',
  '<<': 'keyword.operator.bitwise.shift.vgpu',
  '>>': 'keyword.operator.bitwise.shift.vgpu',
};
const PUNCT_SCOPE: Record<string, string> = {
  ',': 'punctuation.separator.comma.vgpu',
  ':': 'punctuation.separator.label.vgpu',
  '(': 'punctuation.section.parens.begin.vgpu',
  ')': 'punctuation.section.parens.end.vgpu',
};

/** The scopes the grammar must give a token the language model classified: [from, to, scope]. */
function expectedScopes(t: LineToken): [number, number, string][] {
  const at = (scope: string): [number, number, string][] => [[t.start, t.end, scope]];
  switch (t.role) {
    case 'label':
      return at('entity.name.label.vgpu');
    case 'directive':
      return at('keyword.control.directive.vgpu');
    case 'mnemonic':
      return at('keyword.other.mnemonic.vgpu');
    case 'data':
      return at('storage.type.data.vgpu');
    case 'field':
      return at('variable.parameter.field.vgpu');
    case 'option':
      return at('variable.parameter.option.vgpu');
    case 'enum':
      return at('constant.language.enum.vgpu');
    case 'keyword':
      return at('constant.language.keyword.vgpu');
    case 'engine':
      return at('constant.language.engine.vgpu');
    case 'mirror':
      return at('constant.language.mirror.vgpu');
    case 'string':
      return at('string.quoted.double.vgpu');
    case 'symbol':
      return at('variable.other.symbol.vgpu');
    case 'register': {
      const p = t.register!.prefixLength;
      const name: [number, number, string] = [t.start + p, t.end, 'variable.language.register.vgpu'];
      return p
        ? [
            [t.start, t.start + p - 1, 'entity.name.namespace.engine.vgpu'],
            [t.start + p - 1, t.start + p, 'punctuation.accessor.vgpu'],
            name,
          ]
        : [name];
    }
    case 'number': {
      const base = /^0x/i.test(t.text) ? 'hex' : /^0b/i.test(t.text) ? 'binary' : 'decimal';
      return at(`constant.numeric.${base}.vgpu`);
    }
    case 'operator':
      return at(
        OPERATOR_SCOPE[t.text] ??
          ('&|^~'.includes(t.text) ? 'keyword.operator.bitwise.vgpu' : 'keyword.operator.arithmetic.vgpu'),
      );
    case 'punctuation':
      return at(PUNCT_SCOPE[t.text]);
    case 'unknown':
      return [];
  }
}

const NO_INVALID = 'invalid.illegal.numeric.vgpu invalid.illegal.directive.vgpu invalid.illegal.escape.vgpu';

/**
 * A vscode-tmgrammar-test file asserting, for every line, the scopes the language model expects; with
 * `clean`, also that nothing on the line is scoped invalid. Left-arrow assertions (`<~~~---`) reach any column.
 */
function assertionFile(
  title: string,
  source: string,
  clean: boolean,
  gen: Gen = DEFAULT_GEN,
): { text: string; assertions: number } {
  const out = [`; SYNTAX TEST "${SCOPE}" "${title}"`];
  let assertions = 0;
  const assert = (from: number, to: number, what: string) => {
    if (to <= from) return;
    out.push(`;<${'~'.repeat(from)}${'-'.repeat(to - from)} ${what}`);
    assertions++;
  };
  for (const text of source.split(/\r\n|\n|\r/)) {
    if (/^;\s*(\^|<~*-)/.test(text) || /SYNTAX TEST/.test(text)) continue;
    out.push(text);
    const line = classifyLine(text, gen);
    if (line.lexError) continue;
    for (const t of line.tokens) for (const [from, to, scope] of expectedScopes(t)) assert(from, to, scope);
    if (line.commentStart !== undefined) assert(line.commentStart, text.length, 'comment.line.semicolon.vgpu');
    if (clean) assert(0, text.length, `- ${NO_INVALID}`);
  }
  return { text: out.join('\n') + '\n', assertions };
}

const value = (f: CmdField) => (f.kind === 'enum' && f.values ? Object.keys(f.values)[0] : '1');

/**
 * One line per entry of a generation's command table: every mnemonic (both cases) with every field, by its
 * name and by genxml's, every enum value, group entries (`field.N=`), `dword_length`, register pairs.
 */
function commandLines(gen: Gen): string[] {
  const lines = gen === DEFAULT_GEN ? [] : [`.vm gen=${gen}`];
  for (const c of commandsOf(gen)) {
    const fields = c.fields.map((f) => `${f.name}=${value(f)}`);
    lines.push(
      `    ${c.mnemonic} ${fields.join(', ')}`,
      `${c.mnemonic.toLowerCase()} ${fields.join(', ').toUpperCase()}`,
    );
    const aliases = c.fields
      .filter((f) => f.xml && snakeName(f.xml) !== f.name)
      .map((f) => `${snakeName(f.xml)}=${value(f)}`);
    if (aliases.length) lines.push(`${c.mnemonic} ${aliases.join(', ')}`);
    for (const f of [...c.fields, ...c.groupFields]) {
      const key = c.groupFields.includes(f) ? `${f.name}.3` : f.name;
      if (f.values)
        for (const v of Object.keys(f.values)) lines.push(`${c.mnemonic} ${key}=${v}, ${key} = ${v.toLowerCase()}`);
    }
    if (c.groupFields.length) {
      const entry = (n: number) => c.groupFields.map((f) => `${f.name}.${n}=${value(f)}`).join(', ');
      lines.push(`${c.mnemonic} ${entry(0)}, ${entry(1).toUpperCase()}`);
    }
    if (c.length.kind === 'range') lines.push(`${c.mnemonic} dword_length=${c.length.max - c.bias}, DWORD_LENGTH = 1`);
    if (c.length.kind === 'pairs') lines.push(`${c.mnemonic} ${ENGINE_REGS.map((r) => `${r.name}=1`).join(', ')}`);
  }
  return lines;
}

/** One line per entry of the other tables: registers, directives and their options, data keywords. */
function tableLines(): string[] {
  const lines: string[] = [];
  for (const r of ENGINE_REGS)
    lines.push(
      `.mmio ${r.name}, 1`,
      ...ENGINES.map((e) => `.mmio ${e}.${r.name}, ${e.toUpperCase()}.${r.name.toLowerCase()}`),
    );
  for (const r of [...DEVICE_REG_DEFS, ...CAP_REG_DEFS]) lines.push(`.mmio ${r.name}, ${r.name.toLowerCase()}`);
  for (const d of DIRECTIVES.values()) {
    const opts = [...d.options].map(([k, v]) => `${k}=${v[0] ?? 1}`);
    lines.push(
      `.${d.name} ${[...d.keywords, ...opts].join(', ')}`.trimEnd(),
      `.${d.name.toUpperCase()} 1 ; ${d.usage}`,
    );
    for (const [k, vals] of d.options) for (const v of vals) lines.push(`.${d.name} ${k.toUpperCase()}=${v}`);
  }
  for (const k of DATA_KEYWORDS)
    lines.push(`lbl_${k}: ${k} 0x1_000, 0b1_0, 4K, 2m, 1G, -(1 << 2) ^ ~3 & 7 | 8 % 3 / 2 * 1 >> 1`);
  lines.push(
    `ascii "text ; not a comment", "\\x41\\n" ; a comment`,
    'a: b: MI_NOOP ; labels',
    '.map MIRROR, mirror + 4K, 4K, rw',
  );
  return lines;
}

describe('grammar', () => {
  it('syntaxes/vgpu.tmLanguage.json is what scripts/gen-grammar.ts generates from the tables', () => {
    assert.equal(fs.readFileSync(GRAMMAR_PATH, 'utf8'), grammarText(), 'out of date: run npm run gen:grammar');
    const g = JSON.parse(grammarText());
    assert.equal(g.scopeName, SCOPE);
    assert.match(g.information_for_contributors.join(' '), /GENERATED/);
  });

  it('package.json contributes the language, its configuration and the grammar', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const lang = pkg.contributes.languages.find((l: { id: string }) => l.id === 'vgpu');
    assert.deepEqual(lang.extensions, ['.vgpu']);
    const conf = JSON.parse(fs.readFileSync(path.join(ROOT, lang.configuration), 'utf8'));
    assert.equal(conf.comments.lineComment, ';');
    const word = new RegExp(conf.wordPattern, 'g');
    assert.deepEqual('bcs0.CS_GPR0=.map 0x1_000K x1'.match(word), ['bcs0.CS_GPR0', '.map', '0x1_000K', 'x1']);
    const g = pkg.contributes.grammars.find((x: { language: string }) => x.language === 'vgpu');
    assert.equal(g.scopeName, SCOPE);
    assert.equal(path.resolve(ROOT, g.path), GRAMMAR_PATH);
  });

  it('passes the hand-written scope tests in test/grammar (npm run test:grammar)', () => {
    const r = tmGrammarTest('test/grammar/*.vgpu');
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /program\.vgpu run successfuly/);
  });

  it('writes every command line of the table so that the language model reads every key as a field', () => {
    for (const gen of GENS) {
      for (const text of commandLines(gen)) {
        const line = classifyLine(text, gen);
        assert.equal(line.lexError, false, text);
        const toks = line.tokens;
        if (toks[0].role === 'directive') continue;
        assert.equal(toks[0].role, 'mnemonic', text);
        const pairs = toks[0].command!.length.kind === 'pairs';
        toks.forEach((t, i) => {
          if (toks[i + 1]?.text === '=')
            assert.ok(t.role === 'field' || (pairs && t.role === 'register'), `${text}: ${t.text} is ${t.role}`);
        });
      }
    }
  });

  it('scopes every token of every table entry and of the examples as the lexer and the tables classify it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-grammar-'));
    try {
      let total = 0;
      const write = (name: string, title: string, source: string, clean: boolean, gen?: Gen) => {
        const f = assertionFile(title, source, clean, gen);
        fs.writeFileSync(path.join(dir, name), f.text);
        total += f.assertions;
      };
      for (const gen of GENS)
        write(`commands-gen${gen}.vgpu`, `every gen${gen} command`, commandLines(gen).join('\n'), true, gen);
      write('tables.vgpu', 'every register, directive and keyword', tableLines().join('\n'), true);
      const examples = path.join(ROOT, 'examples');
      const files = fs.existsSync(examples) ? fs.readdirSync(examples).filter((f) => f.endsWith('.vgpu')) : [];
      for (const f of files)
        write(`example-${f}`, `examples/${f}`, fs.readFileSync(path.join(examples, f), 'utf8'), true);
      write(
        'program.vgpu',
        'test/grammar/program.vgpu',
        fs.readFileSync(path.join(ROOT, 'test/grammar/program.vgpu'), 'utf8'),
        true,
      );
      const r = tmGrammarTest(path.join(dir, '*.vgpu'));
      assert.equal(r.status, 0, r.output);
      assert.ok(total > 1000, `only ${total} assertions`);
      // Every entry of the table is on one of the generations' lines.
      assert.equal(new Set(GENS.flatMap((g) => commandsOf(g))).size, COMMANDS.length);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
