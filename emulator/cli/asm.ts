// `vgpu asm FILE [--json]`: assembles a program and prints its listing (GPU VA, dwords, source line).

import { assembleSource } from '../assembler';
import type { ListingLine } from '../image';
import { ProgramFileError, readProgram } from '../program';
import { UsageError, parseArgs } from './args';
import { formatDiagnostics } from './diagnostics';

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError('usage: vgpu asm FILE [--json]');
  const file = positionals[0];
  let source: string;
  try {
    source = readProgram(file);
  } catch (e) {
    if (e instanceof ProgramFileError) throw new UsageError(e.message);
    throw e;
  }
  const result = assembleSource(source, { file });
  if (result.diagnostics.length) process.stderr.write(formatDiagnostics(result.diagnostics, source));
  if (!result.image) return 2;
  const listing = result.image.listing;
  if (values.json) {
    const rows = listing.map((l) => ({ va: l.va, dwords: [...l.dwords], line: l.line, text: l.text }));
    process.stdout.write(rows.length ? `[\n${rows.map((r) => '  ' + JSON.stringify(r)).join(',\n')}\n]\n` : '[]\n');
  } else process.stdout.write(formatListing(listing));
  return 0;
}

const PER_ROW = 4;

/** `VA  [ENGINE]  DWORDS  LINE: SOURCE`, four dwords a row (longer commands continue on the next rows). */
export function formatListing(listing: readonly ListingLine[]): string {
  const out: string[] = [];
  for (const l of listing) {
    const rows = Math.max(1, Math.ceil(l.dwords.length / PER_ROW));
    for (let r = 0; r < rows; r++) {
      const va = '0x' + (l.va + 16 * r).toString(16).padStart(12, '0');
      const words = l.dwords.slice(r * PER_ROW, (r + 1) * PER_ROW).map((d) => (d >>> 0).toString(16).padStart(8, '0'));
      const where = (l.ring ?? '').padEnd(4);
      const src = r === 0 ? `${String(l.line).padStart(5)}: ${l.text}` : '';
      out.push(`${va} ${where}  ${words.join(' ').padEnd(PER_ROW * 9 - 1)}  ${src}`.trimEnd());
    }
  }
  return out.join('\n') + (out.length ? '\n' : '');
}
