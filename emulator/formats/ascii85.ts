// The ascii85 variant of kernel GPU dumps (i915 error state, Xe devcoredump): one little-endian u32 per
// group, five characters '!'..'u' most significant digit first, and 'z' alone for a zero dword.

import { DumpFormatError } from './dump';

const BASE = 33;

/** Encodes dwords as one line of ascii85 groups (no prefix, no newline). */
export function encodeAscii85(dwords: ArrayLike<number>): string {
  const parts: string[] = [];
  const g = new Array<string>(5);
  for (let i = 0; i < dwords.length; i++) {
    let v = dwords[i] >>> 0;
    if (v === 0) {
      parts.push('z');
      continue;
    }
    for (let k = 4; k >= 0; k--) {
      g[k] = String.fromCharCode(BASE + (v % 85));
      v = Math.floor(v / 85);
    }
    parts.push(g.join(''));
  }
  return parts.join('');
}

/**
 * Decodes a run of ascii85 groups; `line` and `col` (1-based, of text[0]) place errors. Trailing
 * whitespace ends the data; any other character outside the alphabet is an error.
 */
export function decodeAscii85(text: string, line: number, col = 1): Uint32Array {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) <= 32) end--;
  const out = new Uint32Array(end); // upper bound: every group could be 'z'
  let n = 0;
  for (let i = 0; i < end;) {
    const c = text.charCodeAt(i);
    if (c === 0x7a) {
      out[n++] = 0;
      i++;
      continue;
    }
    if (i + 5 > end)
      throw new DumpFormatError(
        line,
        `ascii85 data ends inside a group (${end - i} of 5 characters at column ${col + i})`,
      );
    let v = 0;
    for (let k = 0; k < 5; k++) {
      const d = text.charCodeAt(i + k) - BASE;
      if (d < 0 || d > 84)
        throw new DumpFormatError(line, `bad ascii85 character '${text[i + k]}' at column ${col + i + k}`);
      v = v * 85 + d;
    }
    if (v > 0xffffffff)
      throw new DumpFormatError(line, `ascii85 group '${text.slice(i, i + 5)}' at column ${col + i} exceeds 32 bits`);
    out[n++] = v;
    i += 5;
  }
  return out.slice(0, n);
}
