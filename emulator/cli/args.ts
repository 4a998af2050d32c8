// Command-line parsing shared by the `vgpu` subcommands: flags, sizes, one-line usage errors (exit 2).

import { parseArgs as nodeParseArgs } from 'node:util';

/** A bad command line or input: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends Error {}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

export function parseArgs(
  argv: string[],
  flags: FlagSpec,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = nodeParseArgs({ args: argv, options: flags, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}

/** `256M`, `64G`, `0x1000`, `4096`, `64K` -> bytes. */
export function parseSize(text: string, what: string): number {
  const m = /^(0x[0-9a-f_]+|[0-9_]+)([KMG])?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what}: '${text}' is not a size (examples: 256M, 64G, 0x100000)`);
  const base = Number(m[1].replace(/_/g, ''));
  const mult = m[2] ? 1024 ** ('KMG'.indexOf(m[2].toUpperCase()) + 1) : 1;
  return base * mult;
}

export function parseIntFlag(text: string | undefined, what: string, min = 0): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${what}: '${text}' is not an integer >= ${min}`);
  return n;
}

export function parseGen(text: string | undefined, what: string): 1 | 2 | 3 | undefined {
  const n = parseIntFlag(text, what, 1);
  if (n === undefined) return undefined;
  if (n > 3) throw new UsageError(`${what}: generation ${n} does not exist (1, 2 or 3)`);
  return n as 1 | 2 | 3;
}
