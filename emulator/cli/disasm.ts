// `vgpu disasm HEX_DWORD... [--engine E]`: decodes command dwords, one command a line in the language's syntax.

import { disassemble } from '../disassembler';
import { ENGINES, type EngineName } from '../registers';
import { UsageError, parseArgs } from './args';

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, { engine: { type: 'string' } });
  if (positionals.length === 0) throw new UsageError('usage: vgpu disasm HEX_DWORD... [--engine rcs0|bcs0]');
  const engine = values.engine as string | undefined;
  if (engine !== undefined && !(ENGINES as readonly string[]).includes(engine)) {
    throw new UsageError(`--engine: '${engine}' is not an engine (${ENGINES.join(', ')})`);
  }
  const dwords = positionals.map(parseDword);
  for (const l of disassemble(dwords, { engine: engine as EngineName | undefined }))
    process.stdout.write(l.text + '\n');
  return 0;
}

/** `0x10000002`, `10000002` or `1000_0002` -> a dword. */
export function parseDword(text: string): number {
  const m = /^(?:0x)?([0-9a-f_]{1,16})$/i.exec(text);
  const digits = m?.[1].replace(/_/g, '') ?? '';
  if (!m || digits.length === 0 || digits.length > 8)
    throw new UsageError(`'${text}' is not a hex dword (examples: 0x10000002, 5000000)`);
  return parseInt(digits, 16) >>> 0;
}
