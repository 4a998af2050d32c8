// Debugger expressions: the language's arithmetic (numbers, labels, surfaces, registers, MIRROR) plus
// comparisons, logic and `[ADDR]` memory reads, for the debug console, watches and breakpoint conditions.
// They extend the language: its lexer (emulator/lexer.ts, in the EXPRESSIONS dialect) reads the tokens,
// so a number or a name means the same in a watch as in a `.vgpu` line, and its expression parser reads
// them with GRAMMAR, the language's arithmetic levels at the bottom of BINARY_LEVELS, into the language's
// expression trees (GrammarExpr: the language's Expr with these operators and `mem` reads).
//
// Precedence, lowest first: `||`, `&&`, `!`, comparisons, `|`, `^`, `&`, shifts, `+ -`, `* / %`, unary
// `- ~`. Comparisons bind looser than bit operations, so `CS_GPR0 & 0xff == 5` means what it reads.

import {
  ARITHMETIC_LEVELS,
  Dialect,
  EngineName,
  type Grammar,
  type GrammarExpr,
  parseExpressionTokens,
  regByName,
  RegInstance,
  type Token,
  tokenizeLine,
  UNARY_OPERATORS,
  type Vm,
} from '../emulator';
import { readDwords } from './memory';

export class ExpressionError extends Error {}

/** A parsed expression: the language's tree (columns are 1-based in the expression's text). */
export type Expr = GrammarExpr;

export interface EvalContext {
  readonly vm: Vm;
  /** Engine that unprefixed register names mean (the frame's engine). */
  readonly engine: EngineName;
}

const MAX_LENGTH = 4096;
const U64 = (1n << 64n) - 1n;

/** The language's arithmetic (emulator/lexer.ts), under logic and comparisons. */
const BINARY_LEVELS: readonly (readonly string[])[] = [
  ['||'],
  ['&&'],
  ['==', '!=', '<', '<=', '>', '>='],
  ...ARITHMETIC_LEVELS,
];

/** The language's expression grammar extended: logic and comparisons, `!` (tight, or over a comparison), `[ADDR]`. */
const GRAMMAR: Grammar = {
  levels: BINARY_LEVELS,
  unary: [...UNARY_OPERATORS, '!'],
  prefix: { op: '!', level: 2 }, // `!` sits between `&&` and the comparisons
  memory: { open: '[', close: ']' },
  maxOperators: Infinity, // MAX_LENGTH bounds them
  messages: {
    end: 'expression ends too early',
    value: (found) => `unexpected '${found}'`,
    unclosed: (_open, close, found) =>
      found === undefined ? `missing '${close}'` : `expected '${close}', found '${found}'`,
  },
};

/**
 * The language's tokens (numbers and names lex as in a `.vgpu` line) with this grammar's operators, `$`
 * in names (`$commands`), any white space, and no comments, strings or directives.
 */
export const EXPRESSIONS = Dialect.LANGUAGE.with({
  operators: [...BINARY_LEVELS.flat(), ...UNARY_OPERATORS, '!', '(', ')', '[', ']'],
  source: false,
  dollarNames: true,
  anySpace: true,
});

function tokenize(text: string): Token[] {
  if (text.length > MAX_LENGTH) throw new ExpressionError('expression too long');
  const { tokens, errors } = tokenizeLine(text, EXPRESSIONS);
  if (errors.length > 0) throw new ExpressionError(`${errors[0].message} at column ${errors[0].col}`);
  return tokens;
}

/** Whether `text` is exactly one name of the expressions (a register, label, surface or `$` variable). */
export function isName(text: string): boolean {
  if (text.length > MAX_LENGTH) return false;
  const { tokens, errors } = tokenizeLine(text, EXPRESSIONS);
  return (
    errors.length === 0 &&
    tokens.length === 1 &&
    tokens[0].kind === 'name' &&
    tokens[0].col === 1 &&
    tokens[0].end === text.length + 1
  );
}

export function parseExpression(text: string): Expr {
  const line = String(text);
  const toks = tokenize(line);
  if (toks.length === 0) throw new ExpressionError('empty expression');
  const r = parseExpressionTokens(toks, line.length, GRAMMAR);
  if ('error' in r) throw new ExpressionError(r.error.message);
  if (r.next < toks.length) throw new ExpressionError(`unexpected '${toks[r.next].text}'`);
  return r.expr;
}

/** A register's full value (64-bit registers span two slots). */
export function registerValue(vm: Vm, r: RegInstance): bigint {
  const lo = BigInt(vm.regs.values[r.slot] >>> 0);
  return r.def.width === 64 ? lo | (BigInt(vm.regs.values[r.slot + 1] >>> 0) << 32n) : lo;
}

export type NameValue =
  | { readonly kind: 'register'; readonly reg: RegInstance; readonly value: bigint }
  | { readonly kind: 'symbol'; readonly name: string; readonly value: bigint; readonly surface: boolean }
  | { readonly kind: 'constant'; readonly name: string; readonly value: bigint };

/** What a name means: a register (of the context engine unless prefixed), a label or surface, MIRROR. */
export function resolveName(name: string, ctx: EvalContext): NameValue | undefined {
  const up = name.toUpperCase();
  const vm = ctx.vm;
  const sym = vm.image.symbols.get(up);
  if (sym !== undefined) {
    return {
      kind: 'symbol',
      name: up,
      value: BigInt(sym),
      surface: vm.image.surfaces.some((s) => s.name.toUpperCase() === up),
    };
  }
  const reg = regByName(up, ctx.engine);
  if (reg) return { kind: 'register', reg, value: registerValue(vm, reg) };
  if (up === 'MIRROR') return { kind: 'constant', name: up, value: 1n << BigInt(vm.cfg.physBits) };
  if (up === '$COMMANDS' || up === '$T') return { kind: 'constant', name: up, value: BigInt(vm.commands) };
  if (up === '$STEP') return { kind: 'constant', name: up, value: BigInt(vm.step) };
  return undefined;
}

export function evaluate(e: Expr, ctx: EvalContext): bigint {
  switch (e.kind) {
    case 'num':
      return e.value;
    case 'str':
      throw new ExpressionError(`"${e.text}" is not a number`); // the expressions have no strings
    case 'name': {
      const v = resolveName(e.name, ctx);
      if (!v) throw new ExpressionError(`unknown name '${e.name}' (not a register, label, surface or MIRROR)`);
      return v.value;
    }
    case 'mem': {
      const addr = evaluate(e.addr, ctx);
      if (addr < 0n || addr >= 1n << 48n) throw new ExpressionError(`[0x${addr.toString(16)}] is not a GPU VA`);
      const [v] = readDwords(ctx.vm, { space: 'va', addr: Number(addr) }, 1, ctx.engine);
      if (v === undefined) throw new ExpressionError(`GPU VA 0x${addr.toString(16)} is not mapped`);
      return BigInt(v >>> 0);
    }
    case 'unary': {
      const a = evaluate(e.arg, ctx);
      switch (e.op) {
        case '-':
          return -a;
        case '+':
          return a;
        case '~':
          return ~a & U64;
        default:
          return a === 0n ? 1n : 0n;
      }
    }
    case 'binary': {
      if (e.op === '&&') return evaluate(e.left, ctx) !== 0n && evaluate(e.right, ctx) !== 0n ? 1n : 0n;
      if (e.op === '||') return evaluate(e.left, ctx) !== 0n || evaluate(e.right, ctx) !== 0n ? 1n : 0n;
      const a = evaluate(e.left, ctx);
      const b = evaluate(e.right, ctx);
      switch (e.op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '/':
        case '%':
          if (b === 0n) throw new ExpressionError('division by zero');
          return e.op === '/' ? a / b : a % b;
        case '<<':
        case '>>':
          if (b < 0n || b > 127n) throw new ExpressionError(`shift by ${b} is out of range`);
          return e.op === '<<' ? (a << b) & ((1n << 128n) - 1n) : a >> b;
        case '&':
          return a & b;
        case '|':
          return a | b;
        case '^':
          return a ^ b;
        case '==':
          return a === b ? 1n : 0n;
        case '!=':
          return a !== b ? 1n : 0n;
        case '<':
          return a < b ? 1n : 0n;
        case '<=':
          return a <= b ? 1n : 0n;
        case '>':
          return a > b ? 1n : 0n;
        default:
          return a >= b ? 1n : 0n;
      }
    }
  }
}

export function evaluateText(text: string, ctx: EvalContext): bigint {
  return evaluate(parseExpression(text), ctx);
}

/** Hex for display: negative values as two's complement 64-bit. */
export function formatValue(v: bigint, hex = true): string {
  if (!hex) return v.toString(10);
  const u = v < 0n ? v & U64 : v;
  return '0x' + u.toString(16);
}
