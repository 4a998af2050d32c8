// The editor's per-document index, kept by edits: after every edit of random edit sequences (inserts, deletes,
// multi-line replacements, several changes in one event) on the examples and on generated programs, it answers
// completion, the outline and the generation exactly as an index built afresh from the edited text does.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitLines } from '../../emulator/lexer';
import { DocumentIndex, type LineSource, type TextChange } from '../../extension/documentIndex';
import { completionsAt, documentSymbols } from '../../extension/languageModel';
import { longProgram } from '../bench/workloads';
import { mulberry32 } from '../helpers/prng';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

const sourceOf = (lines: readonly string[]): LineSource => ({ lineCount: lines.length, lineAt: (i) => lines[i] });

/** Texts an edit inserts: pieces of the language that declare (labels, blocks, `.vm gen=`) and some that do not. */
const SNIPPETS = [
  '',
  'x',
  ':',
  '.',
  ' ',
  ';',
  '"',
  'lbl: ',
  'a: b: ',
  '.batch q, 0x100000\n',
  '.batch 1, 2',
  '.ring bcs0',
  '.data 0x10F000\nv: dword 1\n',
  '.surface s, 0x108000, 8, 4\n',
  '.vm gen=8\n',
  '.vm memory=64M gen=9',
  '\n',
  '\n\n',
  '\r\n',
  'MI_NOOP\n',
  '; .batch no\n',
  '€.batch b2, 0',
  '    MI_STORE_DATA_IMM addr=results, data=1\n',
];

/** One random change against `lines` (replaced in place), as VS Code reports it. */
function randomChange(lines: string[], corpus: readonly string[], rnd: () => number): TextChange {
  const pick = (n: number) => Math.floor(rnd() * n);
  const a = pick(lines.length);
  const b = Math.min(lines.length - 1, a + (rnd() < 0.6 ? 0 : pick(rnd() < 0.9 ? 4 : 60)));
  const ca = pick(lines[a].length + 1);
  const cb = b === a ? ca + pick(lines[a].length - ca + 1) : pick(lines[b].length + 1);
  const r = rnd();
  let text: string;
  if (r < 0.35) text = SNIPPETS[pick(SNIPPETS.length)];
  else if (r < 0.6) text = corpus[pick(corpus.length)];
  else if (r < 0.8) {
    const from = pick(corpus.length);
    text = corpus.slice(from, from + 1 + pick(30)).join('\n') + (rnd() < 0.5 ? '\n' : '');
  } else text = '';
  const replaced = splitLines(lines[a].slice(0, ca) + text + lines[b].slice(cb));
  lines.splice(a, b - a + 1, ...replaced);
  return { range: { start: { line: a, character: ca }, end: { line: b, character: cb } }, text } as TextChange;
}

/** Runs `edits` random events on `text`, checking the kept index against a fresh one after each. */
function checkEdits(text: string, edits: number, seed: number): void {
  const rnd = mulberry32(seed);
  const lines = splitLines(text);
  const corpus = lines.filter((l) => l.trim() !== '');
  const ix = DocumentIndex.build(sourceOf(lines));
  const values = new Map([
    ['MAIN', 0x100000],
    ['B0', 0x100000],
    ['FB0', 0x7000000],
  ]);
  for (let e = 0; e < edits; e++) {
    const changes: TextChange[] = [];
    const n = rnd() < 0.8 ? 1 : 2 + Math.floor(rnd() * 3);
    for (let c = 0; c < n; c++) changes.push(randomChange(lines, corpus, rnd));
    const src = sourceOf(lines);
    ix.applyChanges(changes, src);
    const fresh = DocumentIndex.build(src);
    const where = `seed ${seed}, edit ${e}`;
    assert.equal(ix.lineCount, lines.length, where);
    assert.equal(ix.gen(), fresh.gen(), where);
    assert.deepEqual(ix.names(), fresh.names(), where);
    assert.deepEqual(ix.symbols(src, values), fresh.symbols(src, values), where);
    const at = Math.floor(rnd() * lines.length);
    const ch = Math.floor(rnd() * (lines[at].length + 1));
    assert.deepEqual(
      completionsAt(lines[at], ch, ix.names(), ix.gen()),
      completionsAt(lines[at], ch, fresh.names(), fresh.gen()),
      where,
    );
  }
  assert.deepEqual(ix.symbols(sourceOf(lines)), documentSymbols(lines.join('\n')));
}

describe('document index: kept by edits', () => {
  it('answers as a fresh index after random edits of every example', () => {
    const files = fs
      .readdirSync(EXAMPLES)
      .filter((f) => f.endsWith('.vgpu'))
      .sort();
    assert.ok(files.length > 5);
    files.forEach((f, i) => checkEdits(fs.readFileSync(path.join(EXAMPLES, f), 'utf8'), 60, 1000 + i));
  });

  it('answers as a fresh index after random edits of generated programs', () => {
    checkEdits(longProgram(3000, 200), 150, 7);
    checkEdits(longProgram(600, 40), 300, 8);
  });

  it('keeps its state across edits that empty the document and fill it again', () => {
    const lines = ['.batch main, 0x100000', 'a: MI_NOOP'];
    const ix = DocumentIndex.build(sourceOf(lines));
    const all = (text: string): TextChange => ({
      range: { start: { line: 0 }, end: { line: lines.length - 1 } },
      text,
    });
    let change = all('');
    lines.splice(0, lines.length, '');
    ix.applyChanges([change], sourceOf(lines));
    assert.deepEqual(ix.names(), []);
    change = all('.vm gen=8\n.ring rcs0\nb: c: MI_NOOP');
    lines.splice(0, lines.length, '.vm gen=8', '.ring rcs0', 'b: c: MI_NOOP');
    ix.applyChanges([change], sourceOf(lines));
    assert.deepEqual(ix.names(), [
      { name: 'b', kind: 'label' },
      { name: 'c', kind: 'label' },
    ]);
    assert.equal(ix.gen(), 8);
    assert.deepEqual(
      ix.symbols(sourceOf(lines)).map((s) => [s.name, s.line, s.endLine]),
      [['rcs0 ring', 1, 2]],
    );
    // A block ends at its last content line: blank and comment lines before the next block are not its.
    const spaced = documentSymbols('.ring rcs0\n\n; next\n.batch b, 0\nMI_NOOP\n\n');
    assert.deepEqual(
      spaced.map((s) => [s.name, s.line, s.endLine]),
      [
        ['rcs0 ring', 0, 0],
        ['b', 3, 4],
      ],
    );
  });

  it('remembers only the lines that declare something, and keeps the names while an edit changes none', () => {
    const lines = splitLines(longProgram(20_000));
    const ix = DocumentIndex.build(sourceOf(lines));
    const declaring = lines.filter((l) => /^\s*\.(?:batch|ring|data|surface|vm)\b|^\s*\w+:/.test(l)).length;
    assert.equal(ix.recordCount, declaring);
    assert.ok(ix.recordCount < lines.length / 40, `${ix.recordCount} of ${lines.length}`);
    const names = ix.names();
    // Typing inside a labelled command line, and a new line of commands: the same list, not rebuilt.
    const at = lines.findIndex((l) => l.startsWith('l3_50: '));
    lines[at] += ', data=2';
    ix.applyChanges([{ range: { start: { line: at }, end: { line: at } }, text: ', data=2' }], sourceOf(lines));
    lines.splice(at + 1, 0, '    MI_NOOP');
    ix.applyChanges([{ range: { start: { line: at }, end: { line: at } }, text: '\n    MI_NOOP' }], sourceOf(lines));
    assert.equal(ix.names(), names);
    // Renaming the label changes the list.
    lines[at] = lines[at].replace('l3_50', 'renamed');
    ix.applyChanges([{ range: { start: { line: at }, end: { line: at } }, text: 'renamed' }], sourceOf(lines));
    assert.notEqual(ix.names(), names);
    assert.ok(ix.names().some((n) => n.name === 'renamed'));
  });

  it('starts again from the text when an edit it was told of does not match the document', () => {
    const lines = ['a: MI_NOOP', 'b: MI_NOOP'];
    const ix = DocumentIndex.build(sourceOf(lines));
    lines.push('c: MI_NOOP', 'd: MI_NOOP');
    ix.applyChanges([{ range: { start: { line: 1 }, end: { line: 1 } }, text: 'x' }], sourceOf(lines));
    assert.deepEqual(
      ix.names().map((n) => n.name),
      ['a', 'b', 'c', 'd'],
    );
  });
});
