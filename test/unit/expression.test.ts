// The debugger's expressions (adapter/expression.ts) lex with the language's tokenizer (emulator/lexer.ts):
// numbers, names and operators lex the same in a watch as in a `.vgpu` line; the expressions add logic,
// comparisons, `!`, `[ADDR]` and `$` names, and have no comments, strings or directives.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXPRESSIONS, ExpressionError, isName, parseExpression } from '../../adapter/expression';
import {
  Dialect,
  LANGUAGE_GRAMMAR,
  parseExpressionTokens,
  parseLine,
  splitLines,
  tokenizeLine,
} from '../../emulator/lexer';

const EXAMPLES = path.resolve(__dirname, '../../examples');

const failure = (text: string): string => {
  try {
    parseExpression(text);
  } catch (e) {
    assert.ok(e instanceof ExpressionError, String(e));
    return e.message;
  }
  assert.fail(`'${text}' parsed`);
};

describe('debugger expressions on the language tokenizer', () => {
  it("lex every number, name and arithmetic operator of the examples as the language's lexer does", () => {
    let checked = 0;
    for (const file of fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.vgpu'))) {
      for (const line of splitLines(fs.readFileSync(path.join(EXAMPLES, file), 'utf8'))) {
        for (const t of tokenizeLine(line).tokens) {
          if (t.kind !== 'num' && t.kind !== 'name' && !EXPRESSIONS.operators.includes(t.text)) continue;
          const e = tokenizeLine(t.text, EXPRESSIONS);
          assert.deepEqual(e, { tokens: [{ ...t, col: 1, end: t.text.length + 1 }], errors: [] }, `${file}: ${t.text}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 500, `${checked} tokens`);
  });

  it('lex random arithmetic as a .vgpu line does: the same tokens, values, columns and errors', () => {
    const pieces = ['0', '1', '9', 'x', 'b', 'k', 'G', 'a', 'Z', '_', '.', ' ', '\t', '3D', '0x', '0b', '1_0'].concat([
      '+',
      '-',
      '*',
      '/',
      '%',
      '&',
      '|',
      '^',
      '~',
      '(',
      ')',
      '<<',
      '>>',
      'rcs0.CS_GPR0',
      '#',
      '\u00e9',
    ]);
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    let compared = 0;
    for (let i = 0; i < 20000; i++) {
      let s = '';
      for (let k = 1 + rnd(10); k > 0; k--) s += pieces[rnd(pieces.length)];
      const asLine = tokenizeLine(s);
      // Only the language has directives; `&&` and `||` are one operator in expressions, two in a line.
      if (asLine.tokens.some((t) => t.kind === 'directive') || /&&|\|\|/.test(s)) continue;
      assert.deepEqual(tokenizeLine(s, EXPRESSIONS), asLine, JSON.stringify(s));
      compared++;
    }
    assert.ok(compared > 10000, `${compared} compared`);
  });

  it("the language's operators are its grammar's; a dialect's operators are one or two punctuation characters", () => {
    assert.deepEqual(
      [...Dialect.LANGUAGE.operators].sort(),
      ['%', '&', '(', ')', '*', '+', ',', '-', '/', ':', '<<', '=', '>>', '^', '|', '~'].sort(),
    );
    for (const op of ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '[', ']'])
      assert.ok(EXPRESSIONS.operators.includes(op) && !Dialect.LANGUAGE.operators.includes(op), op);
    assert.throws(() => Dialect.LANGUAGE.with({ operators: ['and'] }), /'and' cannot be an operator/);
    assert.throws(() => Dialect.LANGUAGE.with({ operators: [';'] }), /cannot be an operator/);
  });

  it('parse what the debugger reads: registers, $ names, memory, logic under comparisons under bit operations', () => {
    assert.deepEqual(parseExpression('bcs0.CS_GPR0'), { kind: 'name', name: 'bcs0.CS_GPR0', col: 1, end: 13 });
    assert.deepEqual(parseExpression('$commands'), { kind: 'name', name: '$commands', col: 1, end: 10 });
    assert.deepEqual(parseExpression(' 64K '), { kind: 'num', value: 65536n, col: 2, end: 5 });
    assert.deepEqual(parseExpression('0x1_0g'), { kind: 'num', value: 0x10n << 30n, col: 1, end: 7 });
    assert.deepEqual(parseExpression('CS_GPR0 & 0xff == 5'), {
      kind: 'binary',
      op: '==',
      left: {
        kind: 'binary',
        op: '&',
        left: { kind: 'name', name: 'CS_GPR0', col: 1, end: 8 },
        right: { kind: 'num', value: 0xffn, col: 11, end: 15 },
        opCol: 9,
        col: 1,
        end: 15,
      },
      right: { kind: 'num', value: 5n, col: 19, end: 20 },
      opCol: 16,
      col: 1,
      end: 20,
    });
    assert.deepEqual(parseExpression('![a]||b'), {
      kind: 'binary',
      op: '||',
      left: {
        kind: 'unary',
        op: '!',
        arg: { kind: 'mem', addr: { kind: 'name', name: 'a', col: 3, end: 4 }, col: 2, end: 5 },
        col: 1,
        end: 5,
      },
      right: { kind: 'name', name: 'b', col: 7, end: 8 },
      opCol: 5,
      col: 1,
      end: 8,
    });
    assert.deepEqual(parseExpression('a <= b'), parseExpression('a\n<=\u00a0b'), 'any white space separates');
    assert.deepEqual(parseExpression('-~1'), {
      kind: 'unary',
      op: '-',
      arg: { kind: 'unary', op: '~', arg: { kind: 'num', value: 1n, col: 3, end: 4 }, col: 2, end: 4 },
      col: 1,
      end: 4,
    });
  });

  it("parse arithmetic with the language's own parser: the same trees, columns and depth bound", () => {
    const ops = ['*', '/', '%', '+', '-', '<<', '>>', '&', '^', '|'];
    let seed = 3;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const gen = (d: number): string => {
      const r = rnd(d > 4 ? 2 : 5);
      if (r === 0) return rnd(2) ? 'CS_GPR1' : String(rnd(1000));
      if (r === 1) return ['-', '~', '+'][rnd(3)] + gen(d + 1);
      if (r === 2) return '(' + gen(d + 1) + ')';
      return gen(d + 1) + ' '.repeat(rnd(2)) + ops[rnd(ops.length)] + ' ' + gen(d + 1);
    };
    for (let i = 0; i < 2000; i++) {
      const s = gen(0);
      const { tokens } = tokenizeLine(s);
      assert.deepEqual(parseExpressionTokens(tokens, s.length, LANGUAGE_GRAMMAR), {
        expr: parseExpression(s),
        next: tokens.length,
      });
    }
    // 63 nested brackets or unary operators are accepted, 64 are not, in a watch as in a `.vgpu` line.
    for (const [open, close] of [
      ['(', ')'],
      ['-', ''],
    ]) {
      const nested = (n: number) => open.repeat(n) + '1' + close.repeat(n);
      assert.equal(parseExpression(nested(63)).end, nested(63).length + 1);
      assert.equal(failure(nested(64)), 'expression nested too deeply');
      assert.deepEqual(parseLine(`dword ${nested(63)}`, 1).errors, []);
      assert.equal(parseLine(`dword ${nested(64)}`, 1).errors[0].message, 'expression nested too deeply');
    }
    assert.equal(failure('['.repeat(64) + '1' + ']'.repeat(64)), 'expression nested too deeply');
    assert.equal(failure('!'.repeat(64) + '1'), 'expression nested too deeply');
  });

  it('read `!` over a comparison at the start of an operand of logic, tight after an arithmetic operator', () => {
    const shape = (e: ReturnType<typeof parseExpression>): string =>
      e.kind === 'binary'
        ? `(${shape(e.left)} ${e.op} ${shape(e.right)})`
        : e.kind === 'unary'
          ? `${e.op}${shape(e.arg)}`
          : e.kind === 'mem'
            ? `[${shape(e.addr)}]`
            : e.kind === 'num'
              ? String(e.value)
              : e.kind === 'name'
                ? e.name
                : e.text;
    assert.equal(shape(parseExpression('!a == b && c')), '(!(a == b) && c)');
    assert.equal(shape(parseExpression('1 + !a == b')), '((1 + !a) == b)');
    assert.equal(shape(parseExpression('!!a || -[b + 4] < 3')), '(!!a || (-[(b + 4)] < 3))');
  });

  it('say what is wrong, and where when the lexer finds it', () => {
    assert.equal(failure('1 # 2'), "unexpected character '#' at column 3");
    assert.equal(failure('1 ; 2'), "unexpected character ';' at column 3", 'no comments');
    assert.equal(failure('a = 1'), "unexpected character '=' at column 3");
    assert.equal(failure('"s"'), `unexpected character '"' at column 1`, 'no strings');
    assert.equal(failure('.vm'), "unexpected character '.' at column 1", 'no directives');
    assert.equal(failure('x + 12abc'), "malformed number '12abc' at column 5");
    assert.equal(failure('0x'), "malformed number '0x' at column 1");
    assert.match(failure('9'.repeat(200)), /^number '9{20}\.\.\.' is too long at column 1$/);
    assert.equal(failure('1 2'), "unexpected '2'");
    assert.equal(failure('(1'), "missing ')'");
    assert.equal(failure('[1)'), "expected ']', found ')'");
    assert.equal(failure('(1 +'), 'expression ends too early');
    assert.equal(failure('  '), 'empty expression');
    assert.equal(failure('1+'.repeat(2100) + '1'), 'expression too long');
    assert.equal(failure('('.repeat(100) + '1' + ')'.repeat(100)), 'expression nested too deeply');
    assert.equal(failure('-'.repeat(100) + '1'), 'expression nested too deeply');
  });

  it('isName: exactly one name', () => {
    for (const s of ['CS_GPR0', 'rcs0.RING_HEAD', '$step', 'fb']) assert.ok(isName(s), s);
    for (const s of ['', ' CS_GPR0', 'a b', '1', 'a+b', 'MI_NOOP;', 'a.']) assert.ok(!isName(s), s);
  });
});
