// What a `.vgpu` document declares as a whole (its symbols and its `.vm gen=`), kept per document and updated
// from the edits the editor reports: only the lines an edit touched are parsed again, and only the lines that
// declare something are remembered (the text stays the editor's; nothing is kept for the other lines).

import { DEFAULT_GEN, GENS, parseLine, splitLines, type Arg, type Gen } from '../emulator';

export type SymbolKind = 'label' | 'batch' | 'ring' | 'surface' | 'data';

/** A name the document defines (from documentSymbols), offered as a value. */
export interface SymbolName {
  readonly name: string;
  readonly kind: SymbolKind;
}

export interface DocSymbol {
  readonly name: string;
  readonly kind: SymbolKind;
  readonly detail: string;
  /** 0-based line of the declaration and the span of its name. */
  readonly line: number;
  readonly start: number;
  readonly end: number;
  /** 0-based last line of the symbol's block (batches, rings and data blocks run to the next one). */
  endLine: number;
  readonly children: DocSymbol[];
}

/** The lines of a document as the editor holds them (0-based). */
export interface LineSource {
  readonly lineCount: number;
  lineAt(line: number): string;
}

/**
 * One edit as VS Code reports it (a TextDocumentContentChangeEvent): the text of `range` (0-based lines) was
 * replaced by `text`. The changes of one event apply in order, each to the text the ones before it left.
 */
export interface TextChange {
  readonly range: { readonly start: { readonly line: number }; readonly end: { readonly line: number } };
  readonly text: string;
}

export function linesOf(text: string): LineSource {
  const lines = splitLines(text);
  return { lineCount: lines.length, lineAt: (i) => lines[i] };
}

// ---------------------------------------------------------------------------------------------
// One line: what it declares.

/** A `.batch`, `.ring`, `.data` (containers: the labels after them are theirs) or `.surface` declaration. */
interface Decl {
  readonly kind: SymbolKind;
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly container: boolean;
  /** The detail, or its text before the address when `va` is given. */
  readonly detail: string;
  /** The address as written (batches and surfaces): an assembly's value of the name replaces it. */
  readonly va?: string;
}

interface LabelDecl {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/** What one line declares; lines that declare nothing have none. */
interface LineRecord {
  readonly gen?: Gen;
  readonly decl?: Decl;
  readonly labels: readonly LabelDecl[];
}

const CONTAINERS = new Set(['batch', 'ring', 'data']);
const NO_LABELS: readonly LabelDecl[] = [];
const VM_GEN = /^[^\S\n]*(?:[A-Za-z_][\w]*[^\S\n]*:[^\S\n]*)*\.vm\b([^;\n]*)/gim;

/** The generation a line's `.vm gen=N` names, if it is one the tables describe. */
function lineGen(text: string): Gen | undefined {
  for (const m of text.matchAll(VM_GEN)) {
    const g = /\bgen\s*=\s*(\d+)/i.exec(m[1]);
    if (g && (GENS as readonly number[]).includes(Number(g[1]))) return Number(g[1]) as Gen;
  }
  return undefined;
}

/** What a line declares, read by the assembler's line parser; undefined for the (many) lines that declare nothing. */
function scanLine(text: string): LineRecord | undefined {
  // A label needs a ':', a directive (and `.vm`) a '.': the other lines are not parsed at all.
  if (text.indexOf(':') < 0 && text.indexOf('.') < 0) return undefined;
  const gen = lineGen(text);
  const pl = parseLine(text, 1).parsed;
  const s = pl.stmt;
  const argText = (a: Arg | undefined) => (a ? text.slice(a.col - 1, a.end - 1) : '');
  let decl: Decl | undefined;
  if (s?.kind === 'directive' && CONTAINERS.has(s.name)) {
    const a0 = s.args[0];
    const end = a0 ? a0.end - 1 : s.end - 1;
    if (s.name === 'batch' && a0?.value.kind === 'name') {
      decl = {
        kind: 'batch',
        name: a0.value.name,
        start: a0.col - 1,
        end: a0.end - 1,
        container: true,
        detail: `batch on ${argText(s.args[2]) || 'rcs0'} at `,
        va: argText(s.args[1]),
      };
    } else if (s.name === 'ring') {
      decl = {
        kind: 'ring',
        name: `${argText(a0) || '?'} ring`,
        start: s.col - 1,
        end,
        container: true,
        detail: s.args.length > 1 ? `at ${argText(s.args[1])}` : '',
      };
    } else if (s.name === 'data') {
      decl = { kind: 'data', name: `.data ${argText(a0)}`.trim(), start: s.col - 1, end, container: true, detail: '' };
    } else {
      decl = {
        kind: s.name as SymbolKind,
        name: text.trim(),
        start: s.col - 1,
        end: s.end - 1,
        container: true,
        detail: '',
      };
    }
  } else if (s?.kind === 'directive' && s.name === 'surface' && s.args[0]?.value.kind === 'name') {
    const a = s.args;
    const name = (a[0].value as { name: string }).name;
    decl = {
      kind: 'surface',
      name,
      start: a[0].col - 1,
      end: a[0].end - 1,
      container: false,
      detail: `${argText(a[2])}×${argText(a[3])} at `,
      va: argText(a[1]),
    };
  }
  const labels = pl.labels.length
    ? pl.labels.map((l) => ({ name: l.name, start: l.col - 1, end: l.end - 1 }))
    : NO_LABELS;
  if (!decl && labels.length === 0 && gen === undefined) return undefined;
  return { gen, decl, labels };
}

/** The names a record offers, in order: a change elsewhere in the record leaves completion's list as it was. */
function namesKey(r: LineRecord): string {
  return `${r.decl ? `${r.decl.kind} ${r.decl.name}` : ''}\n${r.labels.map((l) => l.name).join('\n')}`;
}

/** A line counts as content for the extent of a block: not blank, not only a comment. */
function isContent(text: string): boolean {
  const t = text.trim();
  return t !== '' && !t.startsWith(';');
}

function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Line breaks in an edit's text (`\r\n`, `\n` or `\r`, as splitLines counts them). */
function lineBreaks(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13) {
      n++;
      if (text.charCodeAt(i + 1) === 10) i++;
    }
  }
  return n;
}

/** Replaces xs[from, to) by ys (large replacements without spreading them onto the stack). */
function replaceRange<T>(xs: T[], from: number, to: number, ys: readonly T[]): T[] {
  if (ys.length < 4096) {
    xs.splice(from, to - from, ...ys);
    return xs;
  }
  return xs.slice(0, from).concat(ys, xs.slice(to));
}

const hex = (n: number) => '0x' + (n >>> 0).toString(16).toUpperCase();

// ---------------------------------------------------------------------------------------------
// The document.

/** A document's declarations, line by line for the lines that have some, kept in step with its edits. */
export class DocumentIndex {
  /** Lines that declare something, ascending, and what each declares (parallel arrays). */
  private lines: number[] = [];
  private records: LineRecord[] = [];
  private count = 0;
  private namesCache: readonly SymbolName[] | undefined;
  private genCache: Gen | undefined;

  private constructor() {}

  static build(source: LineSource): DocumentIndex {
    const ix = new DocumentIndex();
    ix.scanAll(source);
    return ix;
  }

  get lineCount(): number {
    return this.count;
  }

  /** Lines remembered (those that declare something). */
  get recordCount(): number {
    return this.records.length;
  }

  private scanAll(source: LineSource): void {
    this.lines = [];
    this.records = [];
    this.count = source.lineCount;
    for (let l = 0; l < this.count; l++) {
      const r = scanLine(source.lineAt(l));
      if (r) {
        this.lines.push(l);
        this.records.push(r);
      }
    }
    this.namesCache = undefined;
    this.genCache = undefined;
  }

  /**
   * Applies one event's changes; `source` is the document after all of them. Lines are renumbered by the
   * line breaks each change removed and added, and only the lines the changes wrote are parsed again.
   */
  applyChanges(changes: readonly TextChange[], source: LineSource): void {
    /** Ranges of lines (inclusive, in the numbering after the changes so far) whose text a change wrote. */
    let dirty: [number, number][] = [];
    for (const c of changes) {
      const a = Math.max(0, c.range.start.line);
      const b = Math.max(a, c.range.end.line);
      const k = lineBreaks(c.text);
      const delta = k - (b - a);
      // Records of the replaced lines stay, at its first line, until that line is parsed again.
      for (let i = lowerBound(this.lines, a); i < this.lines.length; i++) {
        const l = this.lines[i];
        this.lines[i] = l > b ? l + delta : a;
      }
      let lo = a;
      let hi = a + k;
      const kept: [number, number][] = [];
      for (const [dl, dh] of dirty) {
        if (dh < a) kept.push([dl, dh]);
        else if (dl > b) kept.push([dl + delta, dh + delta]);
        else {
          lo = Math.min(lo, dl);
          if (dh > b) hi = Math.max(hi, dh + delta);
        }
      }
      kept.push([lo, hi]);
      dirty = kept;
      this.count += delta;
    }
    if (this.count !== source.lineCount) {
      // Out of step with the editor (an event missed): start again from its text.
      this.scanAll(source);
      return;
    }
    dirty.sort((x, y) => x[0] - y[0]);
    let i = 0;
    while (i < dirty.length) {
      const lo = dirty[i][0];
      let hi = dirty[i][1];
      for (i++; i < dirty.length && dirty[i][0] <= hi + 1; i++) hi = Math.max(hi, dirty[i][1]);
      this.rescan(lo, Math.min(hi, this.count - 1), source);
    }
  }

  /** Parses lines lo..hi again; forgets completion's names or the generation only when they may have changed. */
  private rescan(lo: number, hi: number, source: LineSource): void {
    const from = lowerBound(this.lines, lo);
    const to = lowerBound(this.lines, hi + 1);
    const lines: number[] = [];
    const records: LineRecord[] = [];
    for (let l = lo; l <= hi; l++) {
      const r = scanLine(source.lineAt(l));
      if (r) {
        lines.push(l);
        records.push(r);
      }
    }
    const old = this.records.slice(from, to);
    if (old.some((r) => r.gen !== undefined) || records.some((r) => r.gen !== undefined)) this.genCache = undefined;
    if (this.namesCache) {
      const before = old.filter((r) => r.decl || r.labels.length).map(namesKey);
      const after = records.filter((r) => r.decl || r.labels.length).map(namesKey);
      if (before.length !== after.length || before.some((k, j) => k !== after[j])) this.namesCache = undefined;
    }
    this.lines = replaceRange(this.lines, from, to, lines);
    this.records = replaceRange(this.records, from, to, records);
  }

  /** The generation the document's commands are laid out for: its first `.vm gen=` (the assembler's default without one). */
  gen(): Gen {
    if (this.genCache === undefined) this.genCache = this.records.find((r) => r.gen !== undefined)?.gen ?? DEFAULT_GEN;
    return this.genCache;
  }

  /** Every symbol name, in outline order (what completion offers as values); kept until an edit changes one. */
  names(): readonly SymbolName[] {
    this.namesCache ??= symbolNames(this.tree());
    return this.namesCache;
  }

  /**
   * The outline: labels, batches, rings, surfaces and data blocks; `values` (an image's symbols, upper-cased
   * names) adds addresses to the details. Block extents are read from `source` (the document as indexed).
   */
  symbols(source: LineSource, values?: ReadonlyMap<string, number>): DocSymbol[] {
    return this.tree(source, values);
  }

  private tree(source?: LineSource, values?: ReadonlyMap<string, number>): DocSymbol[] {
    const top: DocSymbol[] = [];
    let open: DocSymbol | undefined;
    const valueOf = (name: string) => {
      const v = values?.get(name.toUpperCase());
      return v === undefined ? undefined : hex(v);
    };
    // A block runs to its last content line before the next block (its own line at least).
    const close = (next: number) => {
      if (open && source) {
        let l = next - 1;
        while (l > open.line && !isContent(source.lineAt(l))) l--;
        open.endLine = Math.max(open.line, l);
      }
      open = undefined;
    };
    for (let i = 0; i < this.records.length; i++) {
      const ln = this.lines[i];
      const { decl, labels } = this.records[i];
      if (decl) {
        const detail = decl.va === undefined ? decl.detail : decl.detail + (valueOf(decl.name) ?? decl.va);
        const sym: DocSymbol = {
          name: decl.name,
          kind: decl.kind,
          detail,
          line: ln,
          start: decl.start,
          end: decl.end,
          endLine: ln,
          children: [],
        };
        if (decl.container) close(ln);
        top.push(sym);
        if (decl.container) open = sym;
      }
      for (const l of labels) {
        (open ? open.children : top).push({
          name: l.name,
          kind: 'label',
          detail: valueOf(l.name) ?? '',
          line: ln,
          start: l.start,
          end: l.end,
          endLine: ln,
          children: [],
        });
      }
    }
    close(this.count);
    return top;
  }
}

// ---------------------------------------------------------------------------------------------
// Whole texts (what the index gives, built from scratch).

/** The document's symbols; `values` (an image's symbols, upper-cased names) adds addresses to the details. */
export function documentSymbols(source: string, values?: ReadonlyMap<string, number>): DocSymbol[] {
  const lines = linesOf(source);
  return DocumentIndex.build(lines).symbols(lines, values);
}

/**
 * The hardware generation a document's commands are laid out for: its first `.vm gen=` (the assembler's
 * default, 9, without one). A light scan of `.vm` lines only, so it stays cheap on long documents.
 */
export function documentGen(source: string): Gen {
  for (const line of splitLines(source)) {
    const g = line.indexOf('.') < 0 ? undefined : lineGen(line);
    if (g !== undefined) return g;
  }
  return DEFAULT_GEN;
}

/** Every symbol name, flattened (for completion of values). */
export function symbolNames(symbols: readonly DocSymbol[]): SymbolName[] {
  const out: SymbolName[] = [];
  const walk = (list: readonly DocSymbol[]) => {
    for (const s of list) {
      if (s.kind === 'label' || s.kind === 'batch' || s.kind === 'surface') out.push({ name: s.name, kind: s.kind });
      walk(s.children);
    }
  };
  walk(symbols);
  return out;
}
