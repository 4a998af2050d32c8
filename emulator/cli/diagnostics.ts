// Printing assembler diagnostics as `FILE:LINE:COL: error: MESSAGE` with the source line and a caret.

import { Diagnostic, formatDiagnostic } from '../image';

export function sourceLine(source: string, line: number): string | undefined {
  if (line < 1) return undefined;
  return source.split(/\r?\n/)[line - 1];
}

export function printDiagnostics(diags: readonly Diagnostic[], source: string, out: NodeJS.WritableStream = process.stderr): void {
  for (const d of diags) {
    out.write(formatDiagnostic(d) + '\n');
    const text = sourceLine(source, d.line);
    if (text !== undefined) {
      out.write(`  ${text}\n`);
      out.write(`  ${' '.repeat(Math.max(0, d.col - 1))}^\n`);
    }
  }
}
