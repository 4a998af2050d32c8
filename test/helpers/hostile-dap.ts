// Hostile DAP requests from a seeded PRNG, shared by the robustness test (`npm test`) and the DAP fuzz
// (`npm run fuzz`): every command the adapter knows and some it does not, with arguments of the wrong
// type, out of range, huge, deep, missing, or real references harvested from earlier answers.

export const CUSTOM_REQUESTS = [
  'vgpu/snapshots',
  'vgpu/snapshot',
  'vgpu/rollback',
  'vgpu/diff',
  'vgpu/surface',
  'vgpu/caps',
  'vgpu/translate',
  'vgpu/pipelineState',
  'vgpu/errorState',
  'vgpu/migrate',
  'vgpu/stepBackInto',
] as const;

export const COMMANDS = [
  'threads',
  'stackTrace',
  'scopes',
  'variables',
  'setVariable',
  'evaluate',
  'completions',
  'continue',
  'next',
  'stepIn',
  'stepOut',
  'stepBack',
  'reverseContinue',
  'pause',
  'setBreakpoints',
  'setFunctionBreakpoints',
  'setInstructionBreakpoints',
  'setExceptionBreakpoints',
  'dataBreakpointInfo',
  'setDataBreakpoints',
  'breakpointLocations',
  'exceptionInfo',
  'readMemory',
  'writeMemory',
  'disassemble',
  'loadedSources',
  'source',
  'launch',
  'attach',
  'restart',
  'configurationDone',
  'cancel',
  'goto',
  'gotoTargets',
  'stepInTargets',
  'setExpression',
  'restartFrame',
  'modules',
  'terminateThreads',
  'frobnicate',
  '',
  ...CUSTOM_REQUESTS,
  'vgpu/nope',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'initialize',
];

export const KEYS = [
  'threadId',
  'frameId',
  'variablesReference',
  'memoryReference',
  'offset',
  'count',
  'expression',
  'context',
  'name',
  'value',
  'source',
  'breakpoints',
  'lines',
  'filters',
  'filterOptions',
  'instructionReference',
  'dataId',
  'granularity',
  'start',
  'filter',
  'format',
  'instructionCount',
  'instructionOffset',
  'id',
  'from',
  'to',
  'va',
  'view',
  'engine',
  'data',
  'text',
  'column',
  'arguments',
  'levels',
  'startFrame',
  'line',
  'endLine',
  'allowPartial',
  'bytes',
  'accessType',
  'program',
  'stopOnEntry',
  'hostGen',
  'memory',
  'targetId',
  'snapshot',
  'space',
  'path',
  'compress',
  'token',
  'sourceReference',
  'progressId',
  'requestId',
  'resolveSymbols',
  'deviceVersion',
  'migrationPool',
  'isolation',
  'snapshotEvery',
  'watchdog',
  'autoRollback',
  'migrationHosts',
  'restart',
  'terminateDebuggee',
  '__proto__',
];

export const STRINGS = [
  'va:0x140000',
  'gpa:0x140000',
  'va:0x1ffffc',
  'gpa:0xffffffffffff',
  'va:-1',
  '0x100000',
  '0xfff00000',
  'garbage',
  '',
  ' ',
  '{_stack}',
  '{x}',
  'CS_GPR0',
  'rcs0.RING_HEAD',
  'value',
  'value + 4',
  '[value]',
  '[0x700000]',
  'x/8x value',
  'x/100000x 0',
  'translate value',
  'translate 0x700000 restricted',
  'caps',
  'snapshots',
  'snapshot',
  'rollback 0',
  'rollback 999',
  'goto 3',
  'goto 0',
  'diff 0',
  'errors',
  'help',
  'digest',
  '1/0',
  '((((((((',
  'MIRROR',
  'instruction',
  'line',
  'indexed',
  'named',
  'repl',
  'hover',
  'watch',
  'full',
  'restricted',
  'rcs0',
  'bcs0',
  'reg:rcs0.CS_GPR0',
  'va:0x140000:4',
  'gpa:0x140000:8',
  'reg:nope',
  'AAAA',
  'not base64!',
  'MI_NOOP',
  'inner',
  'page-fault',
  'hang',
  'write',
  'read',
  '\u0000',
  '🙂',
  '\ud800',
  'x'.repeat(5000),
  'NaN',
  'Infinity',
  '-Infinity',
  '1e999',
  '-0',
  '0x',
  '0x1_0000_0000_0000_0000',
  '9007199254740993',
  'ggtt',
  'ppgtt',
  '127.0.0.1:1',
  'localhost:0',
  ':',
  'host:99999',
  '256M',
  '64G',
  '0',
  '-1',
  '/',
  '/nonexistent/dir/file',
  '.',
  '..',
  'CS_GPR0 = 5',
  '[va:0x140000] = 1',
  '$command.addr',
  '2**64',
  '1 << 70',
  '-(1<<63)',
];

/** Numbers at and around every boundary a handler might check. */
export const NUMBERS = [
  0,
  1,
  2,
  3,
  4,
  5,
  7,
  10,
  64,
  65,
  128,
  129,
  130,
  131,
  192,
  193,
  511,
  512,
  513,
  4096,
  -1,
  -64,
  2 ** 31,
  2 ** 31 - 1,
  2 ** 32,
  2 ** 32 - 1,
  2 ** 48,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e20,
  1e308,
  -1e308,
  0.5,
  -0.5,
  5e-324,
  1000000,
  999999999,
];

export type Rnd = () => number;

/** References seen in answers (frame ids, variable containers, memory references, snapshot ids, ...). */
export class Harvest {
  readonly numbers = new Set<number>();
  readonly refs = new Set<string>();

  /** Walks an answer body (bounded) for reference-like fields. */
  take(body: unknown, budget = 2000): void {
    const stack: unknown[] = [body];
    while (stack.length && budget-- > 0) {
      const x = stack.pop();
      if (x === null || typeof x !== 'object') continue;
      for (const [k, v] of Object.entries(x)) {
        if (
          typeof v === 'number' &&
          /^(id|frameId|variablesReference|sourceReference|threadId|line|from|to|targetId)$/.test(k) &&
          this.numbers.size < 500
        )
          this.numbers.add(v);
        else if (
          typeof v === 'string' &&
          /^(memoryReference|instructionPointerReference|dataId|evaluateName)$/.test(k) &&
          this.refs.size < 500
        )
          this.refs.add(v);
        else if (v && typeof v === 'object') stack.push(v);
      }
    }
  }
}

export interface HostileOptions {
  /** Programs a `launch` or `source` may name. */
  readonly programs: readonly string[];
  /** Add rare blow-ups: strings of 100k-1M characters, nesting hundreds deep, arrays of 100k entries. */
  readonly extremes?: boolean;
  readonly harvest?: Harvest;
}

export class HostileRequests {
  constructor(
    private readonly rnd: Rnd,
    private readonly o: HostileOptions,
  ) {}

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)];
  }

  int(): number {
    const h = this.o.harvest;
    if (h && h.numbers.size && this.rnd() < 0.3) return this.pick([...h.numbers]);
    return this.pick(NUMBERS);
  }

  string(): string {
    const h = this.o.harvest;
    if (h && h.refs.size && this.rnd() < 0.2) return this.pick([...h.refs]);
    return this.pick(STRINGS);
  }

  value(depth: number): unknown {
    const r = this.rnd();
    if (this.o.extremes && r < 0.004) return this.extreme();
    if (r < 0.35) return this.int();
    if (r < 0.7) return this.string();
    if (r < 0.78) return this.rnd() < 0.5;
    if (r < 0.84) return null;
    if (r < 0.92 && depth < 2) return Array.from({ length: Math.floor(this.rnd() * 4) }, () => this.value(depth + 1));
    if (depth < 2) return this.object(depth + 1);
    return undefined;
  }

  /** Rare blow-ups: a huge string, a deep nest, a wide array. */
  extreme(): unknown {
    const r = this.rnd();
    if (r < 0.3) return 'A'.repeat(100_000 + Math.floor(this.rnd() * 900_000));
    if (r < 0.6) {
      let v: unknown = 1;
      const depth = 20 + Math.floor(this.rnd() * 2000);
      for (let i = 0; i < depth; i++) v = this.rnd() < 0.5 ? [v] : { a: v };
      return v;
    }
    return Array.from({ length: 100_000 }, (_, i) => i);
  }

  object(depth: number): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    const n = Math.floor(this.rnd() * 5);
    for (let i = 0; i < n; i++) o[this.pick(KEYS)] = this.value(depth);
    if (this.rnd() < 0.3)
      o.source = {
        path: this.rnd() < 0.7 ? this.pick(this.o.programs) : this.string(),
        ...(this.rnd() < 0.2 ? { sourceReference: this.int() } : {}),
      };
    if (this.rnd() < 0.2)
      o.breakpoints = [
        {
          line: this.int(),
          condition: this.rnd() < 0.5 ? this.string() : undefined,
          hitCondition: this.rnd() < 0.3 ? this.string() : undefined,
        },
      ];
    if (this.rnd() < 0.05) o.program = this.pick(this.o.programs);
    return o;
  }

  args(): unknown {
    const r = this.rnd();
    if (r < 0.05) return this.pick([0, 'x', [1, 2], true, null]);
    if (r < 0.1) return undefined;
    return this.object(0);
  }

  command(): string {
    return this.pick(COMMANDS);
  }
}
