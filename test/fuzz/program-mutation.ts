// Grammar-aware mutations of .vgpu programs, shared by the quick suite in `npm test` and `npm run fuzz`:
// lines swapped, duplicated, deleted, repeated and spliced in from other programs; tokens (found by the
// language's own lexer) replaced by boundary numbers and by names from the tables (directives, command
// mnemonics and their fields, registers, engines); tokens dropped and doubled; truncation at a line or a
// byte; characters and bytes no program holds (controls, NUL, invalid UTF-8). Each mutant goes the way `vgpu run` takes a file (programText, assemble, Vm,
// run, result, the printed report), in-process with a step watchdog; only the project's own refusals
// may come out, each with a place, and output, time and memory stay bounded.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assembleSource, directiveUsage, mnemonics } from '../../emulator/assembler';
import { formatDiagnostics } from '../../emulator/cli/diagnostics';
import { formatResult } from '../../emulator/cli/run';
import { COMMANDS } from '../../emulator/commands';
import { programText } from '../../emulator/filetype';
import { splitLines, tokenizeLine, type Token } from '../../emulator/lexer';
import { PAGE_SIZE } from '../../emulator/memory';
import { ENGINES, REGISTERS as REGISTER_TABLE } from '../../emulator/registers';
import { ConfigError, Vm, type VmOptions } from '../../emulator/vm';
import type { Rnd } from '../helpers/hostile-dap';

const DIRECTIVE_NAMES = [...directiveUsage().keys()];
const MNEMONICS = mnemonics();
/** Names usable as register operands: every register's short name, once. */
const REGISTERS = [...new Set(REGISTER_TABLE.map((r) => r.def.name))];
const FIELDS = [...new Set(COMMANDS.flatMap((c) => c.fields.map((f) => f.name)))];
const KEYWORDS = [
  'rw',
  'ro',
  'full',
  'restricted',
  'all',
  'ggtt',
  'phys',
  'on',
  'off',
  'page',
  'memory',
  'physBits',
  'isolation',
  'version',
  'pool',
  'gen',
  'unmodelled',
  'dword',
  'qword',
  'byte',
  'ascii',
  'MIRROR',
  ...ENGINES,
];

/** Numbers at every boundary the assembler or the machine might check. */
const BOUNDARY = [
  '0',
  '1',
  '-1',
  '2',
  '3',
  '4',
  '7',
  '8',
  '63',
  '64',
  '255',
  '256',
  '4095',
  '4096',
  '4097',
  '0xfff',
  '0x1000',
  '0x1001',
  '65535',
  '65536',
  '0x7fffffff',
  '0x80000000',
  '0xffffffff',
  '0x100000000',
  '0xfffffffff000',
  '0x1000000000000',
  '0xffffffffffffffff',
  '0x10000000000000000',
  '9007199254740993',
  '1G',
  '64G',
  '4096G',
  '0x1_0000',
  '0b1',
  '1K',
  '2M',
  '0',
  '-0x80000000',
  '18446744073709551616',
  '1' + '0'.repeat(60),
  '0x' + 'f'.repeat(40),
];

export interface Program {
  readonly name: string;
  readonly text: string;
}

/** The programs mutated: the examples and the adapter tests' programs. */
export function corpus(): Program[] {
  const root = path.join(__dirname, '..', '..');
  const dirs = [path.join(root, 'examples'), path.join(root, 'test', 'adapter', 'programs')];
  return dirs.flatMap((d) =>
    fs
      .readdirSync(d)
      .filter((f) => f.endsWith('.vgpu'))
      .sort()
      .map((f) => ({ name: f, text: fs.readFileSync(path.join(d, f), 'utf8') })),
  );
}

/** Every mutation kind, by name (the fuzz tallies how often each ran). */
export const MUTATIONS = [
  'swap lines',
  'duplicate line',
  'delete line',
  'move line',
  'repeat line',
  'splice line',
  'truncate at line',
  'truncate at byte',
  'boundary number',
  'other directive',
  'other mnemonic',
  'other register',
  'other field',
  'other name',
  'other keyword',
  'drop token',
  'double token',
  'other punctuation',
  'damage byte',
  'binary byte',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

interface Located extends Token {
  readonly line: number;
}

function tokensOf(lines: readonly string[], line: number): Located[] {
  return tokenizeLine(lines[line]).tokens.map((t) => ({ ...t, line }));
}

/** Replaces a token (columns are 1-based; a directive token's text lacks its dot). */
function replaceToken(lines: string[], t: Located, text: string): void {
  const l = lines[t.line];
  const from = t.kind === 'directive' ? t.col : t.col - 1;
  lines[t.line] = l.slice(0, from) + text + l.slice(t.end - 1);
}

export class Mutator {
  readonly counts = new Map<Mutation, number>();

  constructor(
    private readonly rnd: Rnd,
    private readonly corpus: readonly Program[],
  ) {}

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** 1 to 4 mutations of `p`; returns the file's bytes and what was done. */
  mutate(p: Program): { bytes: Buffer; done: Mutation[] } {
    let text = p.text;
    const done: Mutation[] = [];
    let binary = false;
    for (let k = 1 + this.int(4); k > 0; k--) {
      const m = this.pick(MUTATIONS);
      if (m === 'binary byte') binary = true;
      else {
        const next = this.apply(m, text);
        if (next === undefined) continue;
        text = next;
      }
      done.push(m);
      this.counts.set(m, (this.counts.get(m) ?? 0) + 1);
    }
    const bytes = Buffer.from(text, 'utf8');
    if (!binary) return { bytes, done };
    // Bytes no UTF-8 text holds: a NUL, a stray continuation byte, a sequence cut short.
    const at = this.int(bytes.length + 1);
    const bad = this.pick([[0x00], [0x80], [0xff], [0xe2, 0x82], [0xc3]]);
    return { bytes: Buffer.concat([bytes.subarray(0, at), Buffer.from(bad), bytes.subarray(at)]), done };
  }

  private apply(m: Mutation, text: string): string | undefined {
    const lines = splitLines(text);
    const n = lines.length;
    const i = this.int(n);
    const j = this.int(n);
    /** A token that passes `ok` (given its line's tokens and index), from a few lines tried at random. */
    const tokenWhere = (ok: (t: Located, all: Located[], k: number) => boolean): Located | undefined => {
      for (let tries = 0; tries < 40; tries++) {
        const all = tokensOf(lines, this.int(n));
        const hits = all.filter((t, k) => ok(t, all, k));
        if (hits.length) return this.pick(hits);
      }
      return undefined;
    };
    const isName = (set: readonly string[]) => (t: Located) =>
      t.kind === 'name' && set.some((s) => s.toUpperCase() === t.text.toUpperCase().replace(/^(RCS0|BCS0)\./, ''));
    switch (m) {
      case 'swap lines':
        [lines[i], lines[j]] = [lines[j], lines[i]];
        break;
      case 'duplicate line':
        lines.splice(j, 0, lines[i]);
        break;
      case 'delete line':
        lines.splice(i, 1);
        break;
      case 'move line':
        lines.splice(j, 0, ...lines.splice(i, 1));
        break;
      case 'repeat line':
        lines.splice(i, 0, ...Array.from({ length: this.pick([10, 100, 1000, 3000]) }, () => lines[i]));
        break;
      case 'splice line': {
        const other = splitLines(this.pick(this.corpus).text);
        lines.splice(i, 0, this.pick(other));
        break;
      }
      case 'truncate at line':
        lines.length = Math.max(1, i);
        break;
      case 'truncate at byte':
        return text.slice(0, this.int(text.length));
      case 'boundary number': {
        const t = tokenWhere((x) => x.kind === 'num');
        if (!t) return undefined;
        replaceToken(lines, t, this.pick(BOUNDARY));
        break;
      }
      case 'other directive': {
        const t = tokenWhere((x) => x.kind === 'directive');
        if (!t) return undefined;
        replaceToken(
          lines,
          t,
          this.rnd() < 0.9 ? this.pick(DIRECTIVE_NAMES) : this.pick(['nope', 'VM', 'Map', 'dword', 'x'.repeat(300)]),
        );
        break;
      }
      case 'other mnemonic': {
        const t = tokenWhere(isName(MNEMONICS));
        if (!t) return undefined;
        replaceToken(lines, t, this.pick(MNEMONICS));
        break;
      }
      case 'other register': {
        const t = tokenWhere(isName(REGISTERS));
        if (!t) return undefined;
        const r = this.pick(REGISTERS);
        replaceToken(lines, t, this.rnd() < 0.3 ? `${this.pick(ENGINES)}.${r}` : r);
        break;
      }
      case 'other field': {
        // A name followed by `=`: a command's field (or a `.vm` key).
        const t = tokenWhere(
          (x, all, k) => x.kind === 'name' && all[k + 1]?.text === '=' && all[k + 1].line === x.line,
        );
        if (!t) return undefined;
        replaceToken(lines, t, this.pick(FIELDS));
        break;
      }
      case 'other name': {
        const t = tokenWhere((x) => x.kind === 'name');
        if (!t) return undefined;
        const names = splitLines(this.pick(this.corpus).text).flatMap((l) =>
          tokenizeLine(l)
            .tokens.filter((x) => x.kind === 'name')
            .map((x) => x.text),
        );
        replaceToken(
          lines,
          t,
          this.rnd() < 0.8 && names.length
            ? this.pick(names)
            : this.pick(['undefined_label', 'MIRROR', '_', 'a'.repeat(5000)]),
        );
        break;
      }
      case 'other keyword': {
        const t = tokenWhere((x) => x.kind === 'name');
        if (!t) return undefined;
        replaceToken(lines, t, this.pick(KEYWORDS));
        break;
      }
      case 'drop token': {
        const t = tokenWhere(() => true);
        if (!t) return undefined;
        replaceToken(lines, t, '');
        break;
      }
      case 'double token': {
        const t = tokenWhere(() => true);
        if (!t) return undefined;
        const l = lines[t.line];
        const from = t.kind === 'directive' ? t.col - 2 : t.col - 1;
        const src = l.slice(from, t.end - 1);
        lines[t.line] = l.slice(0, from) + src + ' ' + src + l.slice(t.end - 1);
        break;
      }
      case 'other punctuation': {
        const t = tokenWhere((x) => x.kind === 'punct');
        if (!t) return undefined;
        replaceToken(
          lines,
          t,
          this.pick([
            ',',
            '=',
            ':',
            '(',
            ')',
            '+',
            '-',
            '*',
            '/',
            '%',
            '<<',
            '>>',
            '&',
            '|',
            '^',
            '~',
            ',,',
            '',
            '"',
            ';',
          ]),
        );
        break;
      }
      case 'damage byte': {
        const at = this.int(text.length + 1);
        const ch = this.pick([
          '\u0001',
          '\u007f',
          '\u00e9',
          '\u200b',
          '\ufeff',
          '\ud800',
          '\t',
          '\r',
          '"',
          '\\',
          '\u{1f642}',
        ]);
        return text.slice(0, at) + ch + text.slice(at + (this.rnd() < 0.5 ? 1 : 0));
      }
    }
    return lines.join('\n');
  }
}

/** Flags `vgpu run` may be given (host generation, device version, rollback, snapshots), drawn at random. */
export function runOptions(rnd: Rnd): VmOptions {
  const gen = () => 1 + Math.floor(rnd() * 3);
  const o: { -readonly [K in keyof VmOptions]: VmOptions[K] } = {};
  if (rnd() < 0.3) o.hostGen = gen();
  if (rnd() < 0.2) o.deviceVersion = gen();
  if (rnd() < 0.3) o.autoRollback = false;
  if (rnd() < 0.2) o.snapshotEvery = [0, 1, 7, 1000][Math.floor(rnd() * 4)];
  if (rnd() < 0.1) o.isolation = false;
  return o;
}

/** What `vgpu run` would have made of a mutant. */
export type Outcome = 'refused' | 'does not assemble' | 'bad configuration' | 'completed' | 'error' | 'watchdog';

export interface RunLimits {
  /** Steps a mutant may run (the in-process watchdog). */
  readonly maxSteps: number;
  /** Bytes `vgpu run` may print for it. */
  readonly maxOutput: number;
  /** Guest RAM pages plus snapshot bytes it may hold. */
  readonly maxBytes: number;
}

export interface MutantResult {
  readonly outcome: Outcome;
  readonly output: number;
  readonly bytes: number;
}

/**
 * A mutant the way `vgpu run FILE` takes it: bytes through programText, assembly, the VM, a run, the
 * result and the report it prints. Throws (an assertion) on an exception that is not the project's own
 * refusal, a diagnostic without a place in the file, an internal error, or output or memory past the limits.
 */
export function runMutant(file: string, bytes: Buffer, limits: RunLimits, options: VmOptions = {}): MutantResult {
  const t = programText(bytes);
  if ('refused' in t) {
    assert.ok(t.refused.length < 200);
    return { outcome: 'refused', output: t.refused.length, bytes: 0 };
  }
  const r = assembleSource(t.text, {
    file,
    readFile: () => {
      throw new Error('no such file');
    },
  });
  const lines = splitLines(t.text);
  for (const d of r.diagnostics) {
    assert.ok(!/internal/.test(d.message), `an internal error: ${d.message}`);
    assert.equal(d.file, file);
    assert.ok(d.message.length > 0 && d.message.length < 2000, `a ${d.message.length}-character message`);
    if (d.more !== undefined) continue;
    assert.ok(
      Number.isInteger(d.line) && d.line >= 1 && d.line <= lines.length,
      `line ${d.line} is outside the file (${lines.length} lines): ${d.message}`,
    );
    assert.ok(
      Number.isInteger(d.col) && d.col >= 1 && d.col <= lines[d.line - 1].length + 1,
      `column ${d.col} is outside line ${d.line}: ${d.message}`,
    );
  }
  if (!r.image) {
    assert.ok(r.diagnostics.some((d) => d.severity === 'error'));
    const out = formatDiagnostics(r.diagnostics, t.text, '  ');
    assert.ok(out.length <= limits.maxOutput, `${out.length} bytes of diagnostics`);
    return { outcome: 'does not assemble', output: out.length, bytes: 0 };
  }
  let vm: Vm;
  try {
    vm = new Vm(r.image, { watchdog: 20_000, semaphoreTimeout: 20_000, ...options });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    assert.ok(e.message.length > 0 && e.message.length < 500, e.message);
    return { outcome: 'bad configuration', output: e.message.length, bytes: 0 };
  }
  const how = vm.run({ maxSteps: limits.maxSteps });
  const result = vm.result();
  const out = formatResult(vm, result);
  assert.ok(out.length <= limits.maxOutput, `a ${out.length}-byte report`);
  const held = vm.mem.allocatedPages * PAGE_SIZE + result.snapshots.bytes;
  assert.ok(held <= limits.maxBytes, `${held} bytes of guest pages and snapshots`);
  // Line 0: a command with no source line (a batch run off its end, data run as commands).
  for (const e of result.errors)
    assert.ok(e.line >= 0 && e.line <= lines.length, `a GPU error at line ${e.line}, outside the file`);
  assert.doesNotMatch(out, /:0: /, 'the report names line 0');
  return {
    outcome: how === 'limit' ? 'watchdog' : result.status === 'completed' ? 'completed' : 'error',
    output: out.length,
    bytes: held,
  };
}
