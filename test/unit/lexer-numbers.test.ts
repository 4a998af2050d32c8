// Number literals: parseNumber (a fast path for plain literals beside the general one) against a
// reference written here from the language's rule: `0x` hex, `0b` binary or decimal digits, `_`
// separators, an optional K/M/G suffix (x1024^n), any case.

import * as assert from 'node:assert/strict';
import { parseNumber } from '../../emulator/lexer';
import { mulberry32 } from '../helpers/prng';

function reference(text: string): bigint | null {
  const m = /^(0[xX][0-9a-fA-F_]*|0[bB][01_]*|[0-9][0-9_]*)([kKmMgG])?$/.exec(text);
  if (!m || text.length > 160) return null;
  const digits = m[1].replace(/_/g, '');
  if (/^0[xXbB]$/.test(digits)) return null;
  const shift = m[2] === undefined ? 0n : BigInt(10 * ('kmg'.indexOf(m[2].toLowerCase()) + 1));
  return BigInt(digits) << shift;
}

describe('number literals', () => {
  it('parseNumber agrees with the rule on edge cases and 50,000 random literals', () => {
    const edges = [
      '0',
      '00',
      '007',
      '0x',
      '0X',
      '0xk',
      '0b',
      '0b101',
      '0x1F',
      '0Xff',
      '4K',
      '4k',
      '2M',
      '1G',
      '0x10K',
      '999999999999999',
      '9999999999999999',
      '0x1fffffffffffff',
      '0x20000000000000',
      '0xfffffffffffff',
      '8388607G',
      '8388608G',
      '1_000',
      '0x_1',
      '12a',
      '0x1g',
      '0x1h',
      '3',
      '1KK',
      '',
    ];
    const rnd = mulberry32(0x5eed);
    const pick = (s: string) => s[Math.floor(rnd() * s.length)];
    const random: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      const kind = Math.floor(rnd() * 3);
      const n = 1 + Math.floor(rnd() * 18);
      let body = '';
      for (let k = 0; k < n; k++)
        body += pick(kind === 0 ? '0123456789abcdefABCDEF_' : kind === 1 ? '01_' : '0123456789_');
      const prefix = kind === 0 ? pick('xX') : kind === 1 ? pick('bB') : '';
      let text = prefix === '' ? body : `0${prefix}${body}`;
      if (rnd() < 0.3) text += pick('kKmMgGz');
      random.push(text);
    }
    for (const text of [...edges, ...random]) {
      const want = reference(text);
      const got = parseNumber(text);
      if (want === null) assert.equal(typeof got, 'string', `'${text}' is malformed, got ${got}`);
      else assert.equal(got, want, `'${text}'`);
    }
  });
});
