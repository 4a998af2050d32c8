// Benchmark section "language": the editor's language features on a generated program of about a million
// lines. Completion after a one-line edit, with the document index kept by the edit, against the full
// re-parse the extension did on every request before (BASELINE's languageModel, rebuilt from git history
// into a temporary bundle: the text joined as getText() does, documentSymbols, symbolNames, documentGen),
// alternated in one process; building the index against one full re-parse, each in its own process for
// its time, the heap it keeps and the peak RSS (the text's lines included in both); and the assembly the
// extension runs for diagnostics (debounced) against BASELINE's assembler, which kept every parsed line.
// Goal (issue 14): completion on a 1M-line file under 50 ms.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { splitLines } from '../../emulator/lexer';
import { assembleSource } from '../../emulator/assembler';
import { DocumentIndex, type LineSource, type SymbolName } from '../../extension/documentIndex';
import { completionsAt } from '../../extension/languageModel';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { longProgram, median, timeIt } from './workloads';

/** The last commit whose extension parsed the whole document for every completion. */
export const BASELINE = '2f03748';

const ROOT = path.join(__dirname, '..', '..');
const LINES = 1_000_000;
const BASELINE_ENV = 'VGPU_LANGUAGE_BASELINE';

interface OldModel {
  documentSymbols(source: string): unknown[];
  symbolNames(symbols: never): SymbolName[];
  documentGen(source: string): number;
  completionsAt(
    text: string,
    character: number,
    symbols: readonly SymbolName[],
    gen: number,
  ): { items: readonly unknown[] };
}

/** BASELINE's language model and assembler as bundles in a directory; '' when history is not there. */
function buildBaseline(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-language-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  try {
    const tar = execFileSync('git', ['-C', ROOT, 'archive', BASELINE, 'emulator', 'extension'], {
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
    const esbuild = require('esbuild') as typeof import('esbuild');
    for (const entry of ['extension/languageModel.ts', 'emulator/assembler.ts']) {
      esbuild.buildSync({
        entryPoints: [path.join(dir, entry)],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        outfile: path.join(dir, path.basename(entry, '.ts') + '.js'),
        logLevel: 'error',
      });
    }
    return dir;
  } catch {
    return '';
  }
}

function oldModel(): OldModel | null {
  const dir = process.env[BASELINE_ENV];
  return dir ? (require(path.join(dir, 'languageModel.js')) as OldModel) : null;
}

function oldAssembler(): typeof assembleSource | null {
  const dir = process.env[BASELINE_ENV];
  return dir
    ? (require(path.join(dir, 'assembler.js')) as { assembleSource: typeof assembleSource }).assembleSource
    : null;
}

const sourceOf = (lines: readonly string[]): LineSource => ({ lineCount: lines.length, lineAt: (i) => lines[i] });

/** The line typed: a store whose address is being completed (symbols, MIRROR and registers are offered). */
const TYPED = '    MI_STORE_DATA_IMM addr=';

interface Speed {
  lines: number;
  symbols: number;
  items: number;
  completionMs: number;
  completionLabelMs: number;
  oldCompletionMs: number | null;
}

function speed(): Speed {
  const old = oldModel();
  const lines = splitLines(longProgram(LINES));
  const ix = DocumentIndex.build(sourceOf(lines));
  const now: number[] = [];
  const label: number[] = [];
  const then: number[] = [];
  let items = 0;
  // Command lines without a label, spread over the document.
  const targets = Array.from({ length: 64 }, (_, i) => {
    let at = Math.floor(((i * 0.37 + 0.05) % 0.9) * lines.length);
    while (/[:.]/.test(lines[at])) at++;
    return at;
  });
  for (let round = 0; round < 5; round++) {
    for (let k = 0; k < 16; k++) {
      const at = targets[(round * 16 + k) % targets.length];
      const was = lines[at];
      // A one-line edit (the line retyped), then completion at its end.
      now.push(
        timeIt(() => {
          lines[at] = TYPED;
          ix.applyChanges([{ range: { start: { line: at }, end: { line: at } }, text: TYPED }], sourceOf(lines));
          items = completionsAt(TYPED, TYPED.length, ix.names(), ix.gen()).items.length;
        }),
      );
      lines[at] = was;
      ix.applyChanges([{ range: { start: { line: at }, end: { line: at } }, text: was }], sourceOf(lines));
      // The same with a new label on the line: the names completion offers change and are rebuilt.
      const labelled = `typed${k}: MI_STORE_DATA_IMM addr=`;
      label.push(
        timeIt(() => {
          lines[at] = labelled;
          ix.applyChanges([{ range: { start: { line: at }, end: { line: at } }, text: labelled }], sourceOf(lines));
          completionsAt(labelled, labelled.length, ix.names(), ix.gen());
        }),
      );
      lines[at] = was;
      ix.applyChanges([{ range: { start: { line: at }, end: { line: at } }, text: was }], sourceOf(lines));
    }
    if (old && round < 3) {
      const at = targets[round];
      const was = lines[at];
      lines[at] = TYPED;
      then.push(
        timeIt(() => {
          const text = lines.join('\n');
          const names = old.symbolNames(old.documentSymbols(text) as never);
          old.completionsAt(TYPED, TYPED.length, names, old.documentGen(text));
        }),
      );
      lines[at] = was;
    }
  }
  // The first round warms the JIT up.
  return {
    lines: lines.length,
    symbols: ix.names().length,
    items,
    completionMs: median(now.slice(16)),
    completionLabelMs: median(label.slice(16)),
    oldCompletionMs: old ? median(then) : null,
  };
}

interface Build {
  ms: number;
  retainedMB: number;
  peakRssMB: number;
  records: number;
}

/** Builds the index (or, `old`, parses the whole text as every completion did) once in a fresh process. */
function build(useOld: boolean): Build {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const lines = splitLines(longProgram(LINES));
  const old = useOld ? oldModel() : null;
  if (useOld && !old) return { ms: NaN, retainedMB: NaN, peakRssMB: NaN, records: 0 };
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  let kept: unknown;
  let records = 0;
  const ms = timeIt(() => {
    if (old) {
      const text = lines.join('\n');
      const names = old.symbolNames(old.documentSymbols(text) as never);
      kept = { names, gen: old.documentGen(text) };
      records = names.length;
    } else {
      const ix = DocumentIndex.build(sourceOf(lines));
      records = ix.recordCount;
      kept = ix;
    }
  });
  gc();
  const retainedMB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  if (!kept) throw new Error('nothing built');
  return { ms, retainedMB, peakRssMB, records };
}

function assembled(asm: typeof assembleSource, text: string): void {
  const r = asm(text, { file: 'long.vgpu' });
  if (!r.image) throw new Error(`the long program does not assemble: ${r.diagnostics[0]?.message}`);
}

/** Peak RSS assembling the program once in a fresh process (with `old`, on BASELINE's assembler). */
function assemblyPeak(useOld: boolean): number {
  const text = longProgram(LINES);
  const asm = useOld ? oldAssembler() : assembleSource;
  if (!asm) return NaN;
  assembled(asm, text);
  return process.resourceUsage().maxRSS / 1024;
}

/** Assembly time, today's and BASELINE's alternated (two rounds each). */
function assemblyTimes(): { ms: number; oldMs: number } {
  const text = longProgram(LINES);
  const old = oldAssembler();
  const now: number[] = [];
  const then: number[] = [];
  for (let round = 0; round < 2; round++) {
    now.push(timeIt(() => assembled(assembleSource, text)));
    if (old) then.push(timeIt(() => assembled(old, text)));
  }
  return { ms: median(now), oldMs: old ? median(then) : NaN };
}

export const section: Section = {
  name: 'language',
  goals: {
    'completion after a one-line edit, 1M lines (ms)': { max: 50, unit: 'ms' },
  },
  async run() {
    process.env[BASELINE_ENV] = buildBaseline();
    const s = measureInChild<Speed>(__filename, 'language:speed');
    const b = measureInChild<Build>(__filename, 'language:build');
    const o = measureInChild<Build>(__filename, 'language:build-old');
    const at = measureInChild<{ ms: number; oldMs: number }>(__filename, 'language:assemble-time');
    const peak = measureInChild<number>(__filename, 'language:assemble-peak');
    const oldPeak = measureInChild<number>(__filename, 'language:assemble-peak-old');
    const fixed = (x: number, d = 1) => (Number.isFinite(x) ? Number(x.toFixed(d)) : 'baseline not in history');
    return {
      'document lines': s.lines,
      'symbols offered': s.symbols,
      'completion items at addr=': s.items,
      'completion after a one-line edit, 1M lines (ms)': fixed(s.completionMs, 2),
      'completion after an edit adding a label (ms)': fixed(s.completionLabelMs, 2),
      'completion, full re-parse per request (baseline, ms)':
        s.oldCompletionMs === null ? 'baseline not in history' : Math.round(s.oldCompletionMs),
      'completion, full re-parse / kept index':
        s.oldCompletionMs === null ? 'n/a' : Math.round(s.oldCompletionMs / s.completionMs),
      'index build, 1M lines (ms)': Math.round(b.ms),
      'index heap kept (MB)': fixed(b.retainedMB),
      'index heap kept per line (bytes)': fixed((b.retainedMB * 2 ** 20) / s.lines),
      'lines the index keeps': b.records,
      'peak RSS, index build (MB)': Math.round(b.peakRssMB),
      'full re-parse, 1M lines (baseline, ms)': fixed(o.ms, 0),
      'peak RSS, full re-parse (baseline, MB)': fixed(o.peakRssMB, 0),
      'assembly for diagnostics, 1M lines (ms)': Math.round(at.ms),
      'assembly for diagnostics (baseline, ms)': fixed(at.oldMs, 0),
      'assembly time / baseline': fixed(at.ms / at.oldMs, 2),
      'peak RSS, assembly (MB)': Math.round(peak),
      'peak RSS, assembly (baseline, parsed lines kept, MB)': fixed(oldPeak, 0),
    };
  },
};

const mode = childMode();
if (mode === 'language:speed') reply(speed() satisfies Speed);
else if (mode === 'language:build') reply(build(false) satisfies Build);
else if (mode === 'language:build-old') reply(build(true) satisfies Build);
else if (mode === 'language:assemble-time') reply(assemblyTimes());
else if (mode === 'language:assemble-peak') reply(assemblyPeak(false));
else if (mode === 'language:assemble-peak-old') reply(assemblyPeak(true));
