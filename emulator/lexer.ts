// Lexer and line parser of the `.vgpu` language (SPEC section 6): one source line to tokens, then to a
// statement (labels, directive, data line or command) whose expressions are trees with 1-based columns.
//
// Case: mnemonics, directives, data keywords, field names, register names, labels and keywords are all
// case-insensitive; the parser keeps the source spelling and the assembler compares upper-cased names.

export type TokenKind = 'num' | 'name' | 'directive' | 'string' | 'punct';

export interface Token {
  readonly kind: TokenKind;
  /** Source text of the token (for `directive`, without the leading dot; for `string`, the contents). */
  readonly text: string;
  /** 1-based column of the first character. */
  readonly col: number;
  /** 1-based column just past the last character. */
  readonly end: number;
  /** Value of a `num` token. */
  readonly value?: bigint;
}

/** A syntax error on one line: columns are 1-based, `end` is exclusive. */
export interface SyntaxError {
  readonly col: number;
  readonly end: number;
  readonly message: string;
}

/** Longest number literal accepted (keeps BigInt parsing cheap on hostile input). */
const MAX_NUMBER_CHARS = 160;
/** Deepest expression nesting accepted (keeps recursion bounded on hostile input). */
const MAX_DEPTH = 64;
/** Most operators on one line (a long `a+b+c...` chain is a deep tree for the evaluator). */
const MAX_OPERATORS = 1000;

/** Splits source text into lines the way editors count them (`\r\n`, `\n` or `\r`). */
export function splitLines(source: string): string[] {
  return source.split(/\r\n|\n|\r/);
}

const isDigit = (c: string) => c >= '0' && c <= '9';
const isNameStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
/** A UTF-16 code unit of a name: a letter, `_` or a digit (the tokenizer's loops read codes: no one-character strings). */
const isNameCode = (k: number) => (k >= 97 && k <= 122) || (k >= 65 && k <= 90) || k === 95 || (k >= 48 && k <= 57);
/** The end of the run of name characters in `line` from `i`. */
function nameEnd(line: string, i: number): number {
  while (i < line.length && isNameCode(line.charCodeAt(i))) i++;
  return i;
}

/**
 * The language's binary operators by increasing precedence (C order): the one arithmetic grammar, which
 * the debugger's expressions (adapter/expression.ts) extend with logic and comparisons below it.
 */
export const ARITHMETIC_LEVELS: readonly (readonly string[])[] = [
  ['|'],
  ['^'],
  ['&'],
  ['<<', '>>'],
  ['+', '-'],
  ['*', '/', '%'],
];
/** The language's unary operators. */
export const UNARY_OPERATORS: readonly string[] = ['-', '+', '~'] satisfies readonly UnaryOp[];

/** What a dialect changes of the language's tokens (Dialect.with). */
export interface DialectChanges {
  /** Every operator and bracket of the dialect, one or two characters each (punct tokens). */
  readonly operators?: readonly string[];
  /** `;` comments, `"strings"` and `.directives`, which only source lines have. */
  readonly source?: boolean;
  /** `$` is a name character (the debugger's `$commands`, `$step`). */
  readonly dollarNames?: boolean;
  /** Any white space (line breaks and Unicode spaces too) separates tokens, not only spaces, tabs and feeds. */
  readonly anySpace?: boolean;
}

/**
 * The tokens of a dialect of the language: numbers and names lex the same in every dialect (the debugger's
 * expressions are one, Dialect.LANGUAGE.with(...)); the operators, the source-only tokens and the spaces may differ.
 */
export class Dialect {
  /** Every operator and bracket, once each. */
  readonly operators: readonly string[];
  /** The one-character operators, as one string. */
  readonly one: string;
  /** The two-character operators. */
  readonly two: readonly string[];
  /** Their first characters, as one string (a character not in it starts none of them). */
  readonly twoFirst: string;
  private constructor(
    operators: readonly string[],
    readonly source: boolean,
    readonly dollarNames: boolean,
    readonly anySpace: boolean,
  ) {
    for (const op of operators)
      if (op.length < 1 || op.length > 2 || /[\s\w$;".]/.test(op)) throw new Error(`'${op}' cannot be an operator`);
    this.operators = [...new Set(operators)];
    this.one = this.operators.filter((op) => op.length === 1).join('');
    this.two = this.operators.filter((op) => op.length === 2);
    this.twoFirst = [...new Set(this.two.map((op) => op[0]))].join('');
  }

  /** The `.vgpu` language: its arithmetic, `,` between arguments, `:` after labels, `=` in `key=value`. */
  static readonly LANGUAGE = new Dialect(
    [...ARITHMETIC_LEVELS.flat(), ...UNARY_OPERATORS, '(', ')', ',', ':', '='],
    true,
    false,
    false,
  );

  /** This dialect with some of its lexical choices changed. */
  with(c: DialectChanges): Dialect {
    return new Dialect(
      c.operators ?? this.operators,
      c.source ?? this.source,
      c.dollarNames ?? this.dollarNames,
      c.anySpace ?? this.anySpace,
    );
  }
}

/**
 * Value of a number literal: decimal, `0x` hex or `0b` binary, `_` separators, optional size suffix
 * `K`/`M`/`G` (x1024^n). Returns a message for a malformed literal.
 */
export function parseNumber(text: string): bigint | string {
  const plain = plainNumber(text);
  if (plain >= 0) return BigInt(plain);
  const m = /^(0x[0-9a-f_]*|0b[01_]*|[0-9][0-9_]*)([kmg])?$/i.exec(text);
  const digits = m ? m[1].replace(/_/g, '') : '';
  if (!m || digits === '0x' || digits === '0b' || digits === '0X' || digits === '0B')
    return `malformed number '${text}'`;
  if (text.length > MAX_NUMBER_CHARS) return `number '${text.slice(0, 20)}...' is too long`;
  const base = BigInt(digits);
  const suffix = m[2] ? 'KMG'.indexOf(m[2].toUpperCase()) + 1 : 0;
  return base << BigInt(10 * suffix);
}

/**
 * parseNumber's common case without a regular expression or a string-to-BigInt conversion: `0x` and up
 * to 13 hex digits or up to 15 decimal digits, no `_`, and a `K`/`M`/`G` suffix only on a value that
 * stays below 2^53. -1 for anything else.
 */
function plainNumber(text: string): number {
  const last = text.charCodeAt(text.length - 1) | 0x20;
  const unit = last === 107 ? 1024 : last === 109 ? 1024 ** 2 : last === 103 ? 1024 ** 3 : 1;
  if (unit === 1) return plainDigits(text, text.length);
  const v = plainDigits(text, text.length - 1);
  return v >= 0 && v * unit <= Number.MAX_SAFE_INTEGER ? v * unit : -1;
}

/** plainNumber of the first n characters, without a suffix. */
function plainDigits(text: string, n: number): number {
  if (n === 0 || n > 15) return -1;
  let v = 0;
  if (n > 2 && text.charCodeAt(0) === 48 && (text.charCodeAt(1) | 0x20) === 120) {
    for (let i = 2; i < n; i++) {
      const c = text.charCodeAt(i);
      const l = c | 0x20;
      const d = c >= 48 && c <= 57 ? c - 48 : l >= 97 && l <= 102 ? l - 87 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }
  for (let i = 0; i < n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  r: '\r',
  t: '\t',
  '0': '\0',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

/** A word that starts with a digit but is a name: `3D` (any case, as mnemonics are) then a letter or underscore (no number has that shape). */
const DIGIT_NAME = /^3D[A-Za-z_]/i;

/** Lexical errors kept for one line. */
export const MAX_LINE_ERRORS = 8;

/** Tokens of one line (of `dialect`, the language unless told); a `;` comment ends a source line. Never throws. */
export function tokenizeLine(
  line: string,
  dialect: Dialect = Dialect.LANGUAGE,
): { tokens: Token[]; errors: SyntaxError[] } {
  const tokens: Token[] = [];
  const errors: SyntaxError[] = [];
  const { source, dollarNames: dollar, one, two: pairs, twoFirst } = dialect;
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ';' && source) break;
    if (c === ' ' || c === '\t' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    const start = i;
    if (isDigit(c)) {
      i = nameEnd(line, i);
      const text = line.slice(start, i);
      if (c === '3' && (text[1] === 'D' || text[1] === 'd') && DIGIT_NAME.test(text)) {
        // genxml's 3D command names start with a digit (3DPRIMITIVE, 3DSTATE_VS): names, not numbers.
        tokens.push({ kind: 'name', text, col: start + 1, end: i + 1 });
        continue;
      }
      const v = parseNumber(text);
      if (typeof v === 'string') errors.push({ col: start + 1, end: i + 1, message: v });
      else tokens.push({ kind: 'num', text, col: start + 1, end: i + 1, value: v });
      continue;
    }
    if (isNameStart(c) || (dollar && c === '$')) {
      // Dotted names are engine-prefixed registers (`bcs0.CS_GPR0`).
      for (;;) {
        i = nameEnd(line, i);
        const k = line.charCodeAt(i); // NaN past the end
        if (k === 46 && i + 1 < line.length && isNameCode(line.charCodeAt(i + 1)))
          i++; // '.'
        else if (dollar && k === 36)
          i++; // '$'
        else break;
      }
      tokens.push({ kind: 'name', text: line.slice(start, i), col: start + 1, end: i + 1 });
      continue;
    }
    if (c === '.' && source && i + 1 < line.length && isNameStart(line[i + 1])) {
      i = nameEnd(line, i + 1);
      tokens.push({ kind: 'directive', text: line.slice(start + 1, i), col: start + 1, end: i + 1 });
      continue;
    }
    if (c === '"' && source) {
      const s = lexString(line, i, errors);
      i = s.next;
      if (s.text !== undefined) tokens.push({ kind: 'string', text: s.text, col: start + 1, end: i + 1 });
      continue;
    }
    const two = twoFirst.includes(c) ? line.slice(i, i + 2) : '';
    if (two !== '' && pairs.includes(two)) {
      tokens.push({ kind: 'punct', text: two, col: start + 1, end: start + 3 });
      i += 2;
      continue;
    }
    if (one.includes(c)) {
      tokens.push({ kind: 'punct', text: c, col: start + 1, end: start + 2 });
      i++;
      continue;
    }
    if (dialect.anySpace && /\s/.test(c)) {
      i++;
      continue;
    }
    const cp = line.codePointAt(i) ?? 0;
    const width = cp > 0xffff ? 2 : 1;
    // A binary or foreign line has an error per character: the first few say enough.
    if (errors.length < MAX_LINE_ERRORS)
      errors.push({
        col: start + 1,
        end: start + 1 + width,
        message: `unexpected character '${String.fromCodePoint(cp)}'`,
      });
    i += width;
  }
  return { tokens, errors };
}

function lexString(line: string, start: number, errors: SyntaxError[]): { text?: string; next: number } {
  let out = '';
  let i = start + 1;
  while (i < line.length && line[i] !== '"') {
    if (line[i] !== '\\') {
      out += line[i++];
      continue;
    }
    const e = line[i + 1];
    if (e === undefined) break;
    if (e === 'x' && /^[0-9a-f]{2}$/i.test(line.slice(i + 2, i + 4))) {
      out += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
      i += 4;
    } else if (ESCAPES[e] !== undefined) {
      out += ESCAPES[e];
      i += 2;
    } else {
      if (errors.length < MAX_LINE_ERRORS)
        errors.push({
          col: i + 1,
          end: i + 3,
          message: `unknown escape '\\${e}' (use \\n \\r \\t \\0 \\\\ \\" or \\xHH)`,
        });
      i += 2;
    }
  }
  if (i >= line.length) {
    errors.push({ col: start + 1, end: line.length + 1, message: 'unterminated string' });
    return { next: line.length };
  }
  return { text: out, next: i + 1 };
}

// ---------------------------------------------------------------------------------------------
// Expressions and statements.

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '<<' | '>>' | '&' | '|' | '^';
export type UnaryOp = '-' | '+' | '~';

/** Every node spans columns [col, end) of its line. */
export type Expr =
  | { readonly kind: 'num'; readonly value: bigint; readonly col: number; readonly end: number }
  | { readonly kind: 'name'; readonly name: string; readonly col: number; readonly end: number }
  | { readonly kind: 'str'; readonly text: string; readonly col: number; readonly end: number }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly arg: Expr; readonly col: number; readonly end: number }
  | {
      readonly kind: 'binary';
      readonly op: BinaryOp;
      readonly left: Expr;
      readonly right: Expr;
      readonly opCol: number;
      readonly col: number;
      readonly end: number;
    };

/**
 * A tree of any expression grammar (Grammar): the language's nodes with that grammar's operators, and
 * `mem` for its bracketed reads (`[ADDR]`). A tree of the language's grammar is an Expr.
 */
export type GrammarExpr =
  | Exclude<Expr, { kind: 'unary' | 'binary' }>
  | {
      readonly kind: 'unary';
      readonly op: string;
      readonly arg: GrammarExpr;
      readonly col: number;
      readonly end: number;
    }
  | {
      readonly kind: 'binary';
      readonly op: string;
      readonly left: GrammarExpr;
      readonly right: GrammarExpr;
      readonly opCol: number;
      readonly col: number;
      readonly end: number;
    }
  | { readonly kind: 'mem'; readonly addr: GrammarExpr; readonly col: number; readonly end: number };

/** What a grammar says when an expression does not parse. */
export interface GrammarMessages {
  /** The tokens end where a value is due. */
  readonly end: string;
  /** Token `found` stands where a value is due. */
  readonly value: (found: string) => string;
  /** The bracket `open` is not closed by `close`: `found` stands there instead, or the tokens end. */
  readonly unclosed: (open: Token, close: string, found: string | undefined) => string;
}

/**
 * An expression grammar over the language's tokens: the language's own (LANGUAGE_GRAMMAR), or one that
 * extends it (the debugger's, adapter/expression.ts). One parser (LineParser) reads them all.
 */
export interface Grammar {
  /** Binary operators by increasing precedence; each level is left-associative. */
  readonly levels: readonly (readonly string[])[];
  /** Prefix operators, binding tighter than any binary operator. */
  readonly unary: readonly string[];
  /** A prefix operator that also takes a whole operand of one level (`!a == b` is `!(a == b)`). */
  readonly prefix?: { readonly op: string; readonly level: number };
  /** Brackets around an address, read as a `mem` node (`[ADDR]`). */
  readonly memory?: { readonly open: string; readonly close: string };
  /** Most binary operators in one parse. */
  readonly maxOperators: number;
  readonly messages: GrammarMessages;
}

/** The `.vgpu` language's expressions: its arithmetic, unary `- + ~`, parentheses, numbers, names, strings. */
export const LANGUAGE_GRAMMAR: Grammar = {
  levels: ARITHMETIC_LEVELS,
  unary: UNARY_OPERATORS,
  maxOperators: MAX_OPERATORS,
  messages: {
    end: 'expected a value',
    value: (found) => `expected a value, found '${found}'`,
    unclosed: (open, close) => `expected '${close}' to close the '${open.text}' at column ${open.col}`,
  },
};

/** `value` or `key=value` (field, register pair, directive option). */
export interface Arg {
  readonly key?: Expr;
  readonly value: Expr;
  readonly col: number;
  readonly end: number;
}

export interface Label {
  readonly name: string;
  readonly col: number;
  readonly end: number;
}

export const DATA_KEYWORDS = ['dword', 'qword', 'byte', 'ascii'] as const;
export type DataKeyword = (typeof DATA_KEYWORDS)[number];

export type Statement =
  /** `.name args`: `name` is lower-cased. `broken` when the arguments did not parse. */
  | {
      readonly kind: 'directive';
      readonly name: string;
      readonly col: number;
      readonly end: number;
      readonly args: readonly Arg[];
      readonly broken: boolean;
    }
  | {
      readonly kind: 'data';
      readonly type: DataKeyword;
      readonly col: number;
      readonly end: number;
      readonly args: readonly Arg[];
      readonly broken: boolean;
    }
  | {
      readonly kind: 'command';
      readonly mnemonic: string;
      readonly col: number;
      readonly end: number;
      readonly args: readonly Arg[];
      readonly broken: boolean;
    };

export interface ParsedLine {
  /** 1-based line number. */
  readonly line: number;
  readonly text: string;
  readonly labels: readonly Label[];
  readonly stmt?: Statement;
}

/** Directives whose arguments may be written `key=value key=value` without commas (`.vm`). */
const SPACE_SEPARATED = new Set(['vm']);

/**
 * The parser of one line's tokens: expressions of any Grammar by precedence climbing (the debugger's
 * through parseExpressionTokens), and the language's statements (parseLine, with LANGUAGE_GRAMMAR). Depth
 * (unary operators, brackets) is bounded by MAX_DEPTH, binary operators by the grammar's maxOperators;
 * a failure throws ParseFailure. One class, not a subclass per use: a derived class costs V8 ~15 ns per
 * construction, and parseLine makes one per line.
 */
/** Every binary operator of a grammar, by grammar (made once each). */
const BINARY_OPERATORS = new WeakMap<Grammar, ReadonlySet<string>>();

function binaryOperators(g: Grammar): ReadonlySet<string> {
  let ops = BINARY_OPERATORS.get(g);
  if (ops === undefined) BINARY_OPERATORS.set(g, (ops = new Set(g.levels.flat())));
  return ops;
}

class LineParser {
  private pos = 0;
  private depth = 0;
  private operators = 0;
  /** Statement errors (parseLine) that do not stop the line. */
  readonly errors: SyntaxError[] = [];
  constructor(
    private readonly toks: readonly Token[],
    private readonly lineLength: number,
    private readonly grammar: Grammar,
  ) {}

  /** Index of the next token. */
  get position(): number {
    return this.pos;
  }

  private peek(offset = 0): Token | undefined {
    return this.toks[this.pos + offset];
  }

  private isPunct(t: Token | undefined, p: string): boolean {
    return t !== undefined && t.kind === 'punct' && t.text === p;
  }

  private fail(message: string, t = this.peek()): never {
    const col = t ? t.col : this.lineLength + 1;
    throw new ParseFailure({ col, end: t ? t.end : col + 1, message });
  }

  parseExpr(): GrammarExpr {
    return this.parseBinary(0);
  }

  private parseBinary(level: number): GrammarExpr {
    const { levels, prefix } = this.grammar;
    if (level >= levels.length) return this.parseUnary();
    // A lone value (most operands are one: a number, a name, a string, then no binary operator) is
    // what the descent through every level would return.
    const t0 = this.peek();
    if (t0 !== undefined && (t0.kind === 'num' || t0.kind === 'name' || t0.kind === 'string')) {
      const next = this.peek(1);
      if (next === undefined || next.kind !== 'punct' || !binaryOperators(this.grammar).has(next.text))
        return this.parseUnary();
    }
    if (prefix !== undefined && level === prefix.level && this.isPunct(this.peek(), prefix.op))
      return this.parsePrefix(level);
    let left = this.parseBinary(level + 1);
    for (;;) {
      const t = this.peek();
      if (!t || t.kind !== 'punct' || !levels[level].includes(t.text)) return left;
      if (++this.operators > this.grammar.maxOperators)
        this.fail(`more than ${this.grammar.maxOperators} operators on one line`, t);
      this.pos++;
      const right = this.parseBinary(level + 1);
      left = { kind: 'binary', op: t.text, left, right, opCol: t.col, col: left.col, end: right.end };
    }
  }

  /** The grammar's prefix operator over a whole operand of `level`. */
  private parsePrefix(level: number): GrammarExpr {
    const t = this.peek()!;
    if (++this.depth > MAX_DEPTH) this.fail('expression nested too deeply', t);
    try {
      this.pos++;
      const arg = this.parseBinary(level);
      return { kind: 'unary', op: t.text, arg, col: t.col, end: arg.end };
    } finally {
      this.depth--;
    }
  }

  private parseUnary(): GrammarExpr {
    const t = this.peek();
    if (!t) this.fail(this.grammar.messages.end);
    // A value first (most operands are one), at the depth where an operator or a bracket would nest.
    if (t.kind === 'num' || t.kind === 'name' || t.kind === 'string') {
      if (this.depth >= MAX_DEPTH) this.fail('expression nested too deeply', t);
      this.pos++;
      if (t.kind === 'num') return { kind: 'num', value: t.value!, col: t.col, end: t.end };
      if (t.kind === 'name') return { kind: 'name', name: t.text, col: t.col, end: t.end };
      return { kind: 'str', text: t.text, col: t.col, end: t.end };
    }
    if (++this.depth > MAX_DEPTH) this.fail('expression nested too deeply', t);
    try {
      if (t.kind === 'punct' && this.grammar.unary.includes(t.text)) {
        this.pos++;
        const arg = this.parseUnary();
        return { kind: 'unary', op: t.text, arg, col: t.col, end: arg.end };
      }
      if (this.isPunct(t, '(')) {
        const inner = this.parseBracketed(t, ')');
        return { ...inner, col: t.col, end: this.toks[this.pos - 1].end };
      }
      const memory = this.grammar.memory;
      if (memory !== undefined && this.isPunct(t, memory.open)) {
        const addr = this.parseBracketed(t, memory.close);
        return { kind: 'mem', addr, col: t.col, end: this.toks[this.pos - 1].end };
      }
      return this.fail(this.grammar.messages.value(tokenText(t)), t);
    } finally {
      this.depth--;
    }
  }

  /** The expression after the bracket `open` (the next token), up to and past `close`. */
  private parseBracketed(open: Token, close: string): GrammarExpr {
    this.pos++;
    const inner = this.parseExpr();
    const t = this.peek();
    if (!this.isPunct(t, close)) this.fail(this.grammar.messages.unclosed(open, close, t && tokenText(t)), t);
    this.pos++;
    return inner;
  }

  parseLine(lineNo: number, text: string): ParsedLine {
    const labels: Label[] = [];
    while (this.peek()?.kind === 'name' && this.isPunct(this.peek(1), ':')) {
      const t = this.peek()!;
      if (t.text.includes('.'))
        this.errors.push({ col: t.col, end: t.end, message: `label '${t.text}' may not contain '.'` });
      else labels.push({ name: t.text, col: t.col, end: t.end });
      this.pos += 2;
    }
    const head = this.peek();
    if (!head) return { line: lineNo, text, labels };
    if (head.kind !== 'directive' && head.kind !== 'name') {
      this.errors.push({
        col: head.col,
        end: head.end,
        message: `expected a directive, a command or a label, found '${tokenText(head)}'`,
      });
      return { line: lineNo, text, labels };
    }
    this.pos++;
    let args: Arg[] = [];
    let broken = false;
    try {
      args = this.parseArgs(head.kind === 'directive' && SPACE_SEPARATED.has(head.text.toLowerCase()));
    } catch (e) {
      if (!(e instanceof ParseFailure)) throw e;
      this.errors.push(e.error);
      broken = true;
    }
    const base = { col: head.col, end: head.end, args, broken };
    if (head.kind === 'directive')
      return { line: lineNo, text, labels, stmt: { kind: 'directive', name: head.text.toLowerCase(), ...base } };
    const lower = head.text.toLowerCase();
    if ((DATA_KEYWORDS as readonly string[]).includes(lower))
      return { line: lineNo, text, labels, stmt: { kind: 'data', type: lower as DataKeyword, ...base } };
    return { line: lineNo, text, labels, stmt: { kind: 'command', mnemonic: head.text, ...base } };
  }

  /** item (',' item)* where item = expr ['=' expr]; with `spaced`, a new `name=` item may also follow without a comma. */
  private parseArgs(spaced: boolean): Arg[] {
    const args: Arg[] = [];
    if (!this.peek()) return args;
    for (;;) {
      args.push(this.parseArg());
      const t = this.peek();
      if (!t) return args;
      if (this.isPunct(t, ',')) {
        this.pos++;
        if (!this.peek()) this.fail("expected a value after ','");
        continue;
      }
      if (spaced && t.kind === 'name' && this.isPunct(this.peek(1), '=')) continue;
      this.fail(`expected ',' or the end of the line, found '${tokenText(t)}'`);
    }
  }

  private parseArg(): Arg {
    const first = this.parseLanguageExpr();
    if (this.isPunct(this.peek(), '=')) {
      this.pos++;
      if (!this.peek()) this.fail(`expected a value after '='`);
      const value = this.parseLanguageExpr();
      return { key: first, value, col: first.col, end: value.end };
    }
    return { value: first, col: first.col, end: first.end };
  }

  /** An expression of LANGUAGE_GRAMMAR, which makes only the language's nodes and operators. */
  private parseLanguageExpr(): Expr {
    return this.parseExpr() as Expr;
  }
}

/**
 * Parses `tokens` (of one line `lineLength` characters long) as one expression of `grammar`, from the
 * first token; `next` is the index of the first token after it. Never throws.
 */
export function parseExpressionTokens(
  tokens: readonly Token[],
  lineLength: number,
  grammar: Grammar,
): { expr: GrammarExpr; next: number } | { error: SyntaxError } {
  const parser = new LineParser(tokens, lineLength, grammar);
  try {
    const expr = parser.parseExpr();
    return { expr, next: parser.position };
  } catch (e) {
    if (!(e instanceof ParseFailure)) throw e;
    return { error: e.error };
  }
}

class ParseFailure {
  constructor(readonly error: SyntaxError) {}
}

function tokenText(t: Token): string {
  if (t.kind === 'directive') return '.' + t.text;
  if (t.kind === 'string') return '"' + t.text + '"';
  return t.text;
}

/** Lexes and parses one line (1-based `lineNo`). Never throws; errors come back with columns. */
/**
 * The directive a source line states, read without tokenizing, when the line has no label: its name
 * lowercased, as parseLine's statement names it. Null when the line holds a ':' (it may have labels:
 * parse it) or does not start with a directive.
 */
export function leadingDirective(text: string): string | null {
  if (text.includes(':')) return null;
  let i = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\f' || text[i] === '\v')) i++;
  if (text[i] !== '.' || i + 1 >= text.length || !isNameStart(text[i + 1])) return null;
  return text.slice(i + 1, nameEnd(text, i + 1)).toLowerCase();
}

export function parseLine(text: string, lineNo: number): { parsed: ParsedLine; errors: SyntaxError[] } {
  const { tokens, errors } = tokenizeLine(text);
  const parser = new LineParser(tokens, text.length, LANGUAGE_GRAMMAR);
  const parsed = parser.parseLine(lineNo, text);
  const parseErrors = parser.errors;
  if (errors.length === 0) return { parsed, errors: parseErrors };
  // After a lexical error only the lexer's messages are trusted (the parser's would be cascades); the
  // statement is kept, marked broken, so that a broken `.batch` still opens a (void) stream.
  let first = Infinity;
  for (const e of errors) first = Math.min(first, e.col);
  const labels = parsed.labels.filter((l) => l.end <= first);
  const stmt = parsed.stmt && { ...parsed.stmt, broken: true };
  return { parsed: { line: lineNo, text, labels, stmt }, errors };
}
