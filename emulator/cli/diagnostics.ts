// Printing assembler diagnostics as `FILE:LINE:COL: error: MESSAGE` with the source line and a caret,
// bounded whatever the input: at most MAX_DIAGNOSTICS a file, each line cut to a window around the
// caret with control and invisible characters escaped.

import { Diagnostic, formatDiagnostic } from '../image';

/** Diagnostics printed for one file before a final "too many errors" line (as compilers' error limits). */
export const MAX_DIAGNOSTICS = 50;
/** Characters of a source line shown around the caret. */
export const LINE_WINDOW = 100;

/** A source text's lines (`\n`, `\r\n` and `\r` each end a line, as the lexer counts them), split once. */
export class SourceLines {
  private readonly starts: number[] = [0];

  constructor(private readonly source: string) {
    for (let i = 0; i < source.length; i++) {
      const c = source.charCodeAt(i);
      if (c === 10) this.starts.push(i + 1);
      else if (c === 13) {
        if (source.charCodeAt(i + 1) === 10) i++;
        this.starts.push(i + 1);
      }
    }
  }

  get count(): number {
    return this.starts.length;
  }

  /** Line `n` (1-based) without its line ending. */
  line(n: number): string | undefined {
    if (!Number.isInteger(n) || n < 1 || n > this.starts.length) return undefined;
    let end = n < this.starts.length ? this.starts[n] - 1 : this.source.length;
    if (n < this.starts.length && this.source.charCodeAt(end) === 10 && this.source.charCodeAt(end - 1) === 13) end--;
    return this.source.slice(this.starts[n - 1], end);
  }
}

/** Line `line` (1-based) of a source text. */
export function sourceLine(source: string, line: number): string | undefined {
  return new SourceLines(source).line(line);
}

/** How a character is shown: itself, or an escape for controls, invisible and bidirectional ones. */
function shown(ch: string): string {
  const c = ch.codePointAt(0)!;
  if (ch === '\t' || (c >= 0x20 && c < 0x7f)) return ch;
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return '\\x' + c.toString(16).padStart(2, '0');
  if (
    (c >= 0xd800 && c <= 0xdfff) ||
    (c >= 0x200b && c <= 0x200f) ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069) ||
    c === 0xfeff ||
    c === 0xfffd
  ) {
    return `\\u{${c.toString(16)}}`;
  }
  return ch;
}

/**
 * The part of a source line shown under a diagnostic and the caret line under it: at most LINE_WINDOW
 * characters around column `col` (1-based), `...` where cut, each character escaped as needed; the
 * caret sits under the escaped character and `~` underlines up to `endCol`.
 */
export function excerpt(text: string, col: number, endCol?: number): { text: string; caret: string } {
  const at = Math.max(0, Math.min(col - 1, text.length));
  const from = Math.max(0, Math.min(at - (LINE_WINDOW >> 1), text.length - LINE_WINDOW));
  const to = Math.min(text.length, from + LINE_WINDOW);
  let out = from > 0 ? '...' : '';
  let lead = from > 0 ? '   ' : '';
  let under = 0;
  for (let i = from; i < to;) {
    const cp = text.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    const s = shown(ch);
    const w = ch.length;
    if (i < at) lead += s === '\t' ? '\t' : ' '.repeat(s.length);
    else if (endCol !== undefined && i < endCol - 1) under += s === '\t' ? 1 : s.length;
    out += s;
    i += w;
  }
  if (to < text.length) out += '...';
  return { text: out, caret: lead + '^' + '~'.repeat(Math.max(0, under - 1)) };
}

/**
 * Every diagnostic as `FILE:LINE:COL: severity: MESSAGE`, the source line and a caret, each line
 * prefixed by `indent`; after MAX_DIAGNOSTICS errors, one line counting the rest.
 */
export function formatDiagnostics(
  diags: readonly Diagnostic[],
  source: string,
  indent = '',
  limit = MAX_DIAGNOSTICS,
): string {
  const lines = new SourceLines(source);
  const out: string[] = [];
  let shownCount = 0;
  for (const d of diags) {
    if (shownCount === limit) break;
    shownCount++;
    out.push(formatDiagnostic({ ...d, message: escapeText(d.message) }));
    const text = lines.line(d.line);
    if (text !== undefined) {
      const x = excerpt(text, d.col, d.endCol);
      out.push(indent + x.text, indent + x.caret);
    }
  }
  if (shownCount < diags.length) {
    let errors = 0;
    let warnings = 0;
    for (const d of diags.slice(shownCount)) {
      if (d.more !== undefined) errors += d.more;
      else if (d.severity === 'error') errors++;
      else warnings++;
    }
    out.push(
      `${diags[0].file}: too many errors: ${errors} more errors${warnings ? ` and ${warnings} warnings` : ''} not shown`,
    );
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** A message quoting source text, escaped and cut like a source line. */
export function escapeText(message: string, max = 4 * LINE_WINDOW): string {
  let out = '';
  for (const ch of message.length > max ? message.slice(0, max) : message) out += shown(ch);
  return message.length > max ? out + '...' : out;
}

export function printDiagnostics(
  diags: readonly Diagnostic[],
  source: string,
  out: NodeJS.WritableStream = process.stderr,
): void {
  out.write(formatDiagnostics(diags, source, '  '));
}
