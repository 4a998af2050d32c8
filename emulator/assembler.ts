// The `.vgpu` assembler (SPEC section 6): source text to a ProgramImage (guest RAM pages with PPGTT tables,
// data and batches, driver operations, surfaces, symbols, source map, listing), driven by the command table.
//
// Passes: (0) `.vm` options, (1) layout: every statement's address and size, labels and other symbols,
// (2) tables: `.map`, default ring pages and `.surface`, in program order, (3) emission of everything else
// with the complete symbol table, (4) overlap checks. Every error is collected with file, line and column;
// `assemble` throws one AssemblyError carrying all of them. Names (mnemonics, directives, fields, enum
// values, registers, labels, keywords) are case-insensitive; symbols are stored upper-cased.

import { LIMITS, hasFeature, type Feature, type Generation } from './capabilities';
import {
  COMMANDS,
  DEFAULT_GEN,
  EncodeError,
  GENS,
  commandByMnemonic,
  type Gen,
  encodeCommand,
  fieldByName,
  groupKey,
  maxEntries,
  minEntries,
  REG_OFFSET_MASK,
  type CmdField,
  type CommandDef,
} from './commands';
import {
  AssemblyError,
  type AssembleOptions,
  type Diagnostic,
  type DriverOp,
  type ListingLine,
  type MappingDef,
  type ProgramImage,
  type RingEntry,
  type SourceLoc,
  type SurfaceDef,
  type VmDirective,
} from './image';
import { IntervalMap } from './intervals';
import { leadingDirective, parseLine, splitLines, type Arg, type Expr, type ParsedLine, type Statement } from './lexer';
import { GGTT_PTE_PRESENT, PTE_BITS } from './paging';
import { ENGINES, regAt, regByName, type EngineName } from './registers';

const PAGE = 4096;
const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const VA_LIMIT = 2 ** 48;
/** PTE address bits 51:12. */
const GPA_LIMIT = 2 ** 52;
/** The global GTT spans 4 GiB on gen8/gen9 (2^20 4 KiB entries). */
const GGTT_LIMIT = 2 ** 32;
const BAR0_SIZE = 16 * MIB;
const MAX_REG_OFFSET = REG_OFFSET_MASK;

export const DEFAULT_MEMORY = 256 * MIB;
export const DEFAULT_PHYS_BITS = 39;
/** Where `.ring ENGINE` without a VA puts the ring (its pages come from the top-of-RAM allocator). */
export const DEFAULT_RING_VA: Readonly<Record<EngineName, number>> = { rcs0: 0xfff00000, bcs0: 0xfff80000 };
export const DEFAULT_RING_SIZE = 16 * KIB;
const MAX_RING_PAGES = Math.max(...Object.values(LIMITS).map((l) => l.maxRingPages));
/** Leaf PTEs one program may create (keeps a typo like `.map 0, 0, 64G` with 4K pages bounded). */
const MAX_LEAF_ENTRIES = 1 << 20;
/** Bytes of non-zero `.fill` one program may write (the image holds them as real pages). */
const MAX_FILL_BYTES = 256 * MIB;
/** One surface's bytes (a 4096x4096 surface) and all surfaces' together. */
const MAX_SURFACE_BYTES = 64 * MIB;
const MAX_SURFACES_BYTES = 256 * MIB;
/** Bytes `.incbin` and `.write` may take from files, per program (the image holds them as real pages). */
const MAX_INCBIN_BYTES = 256 * MIB;
/** The most entries a `.ggtt table=` may declare (4 GiB of 4 KiB pages). */
const MAX_GGTT_ENTRIES = GGTT_LIMIT / PAGE;

/** Page sizes of `.map page=` and the paging level whose entry maps them (x86-64 4-level). */
const PAGE_LEVEL = new Map<number, { level: number; feature?: Feature; label: string }>([
  [4 * KIB, { level: 3, label: '4K' }],
  [2 * MIB, { level: 2, feature: 'PAGE_2M', label: '2M' }],
  [1 * GIB, { level: 1, feature: 'PAGE_1G', label: '1G' }],
]);
const LEVEL_SHIFT = [39, 30, 21, 12];
const PTE_P = 1 << PTE_BITS.P;
const PTE_RW = 1 << PTE_BITS.RW;
const PTE_US = 1 << PTE_BITS.US;
const PTE_PS = 1 << PTE_BITS.PS;

const BIG = 1n << 128n;
const U32 = { min: -(2n ** 31n), max: 2n ** 32n - 1n };

interface DirectiveSpec {
  readonly usage: string;
  readonly min: number;
  readonly max: number;
  /**
   * The passes that act on it beyond checking it (the others skip its lines unparsed): `names` (it
   * declares a name the program may use before it), `tables` (page tables, global GTT, rings,
   * surfaces), `emit` (emitDirective).
   */
  readonly passes?: readonly ('names' | 'tables' | 'emit')[];
}

/** Directive syntax (SPEC section 6); the handlers below interpret the arguments. */
const DIRECTIVES: Readonly<Record<string, DirectiveSpec>> = {
  vm: {
    usage:
      '.vm memory=SIZE physBits=N isolation=on|off version=N pool=N,N gen=8|9 unmodelled=drop|refuse unmapped=fault|zero',
    min: 1,
    max: Infinity,
  },
  map: { usage: '.map VA, GPA, SIZE, rw|ro [, page=4K|2M|1G]', min: 4, max: 5, passes: ['tables'] },
  pml4: { usage: '.pml4 GPA', min: 1, max: 1, passes: ['tables'] },
  ggtt: { usage: '.ggtt GGTT_ADDRESS, GPA, SIZE | .ggtt table=GPA, entries=N', min: 2, max: 3, passes: ['tables'] },
  data: { usage: '.data ADDRESS [, ggtt|phys]', min: 1, max: 2 },
  incbin: { usage: '.incbin ADDRESS, "FILE", OFFSET, SIZE [, ggtt|phys]', min: 4, max: 5, passes: ['emit'] },
  fill: { usage: '.fill VA, SIZE, VALUE32', min: 3, max: 3, passes: ['emit'] },
  surface: { usage: '.surface NAME, VA, WIDTH, HEIGHT [, PITCH]', min: 4, max: 5, passes: ['names', 'tables'] },
  batch: { usage: '.batch NAME, ADDRESS [, ENGINE] [, ggtt|phys]', min: 2, max: 4, passes: ['names'] },
  ring: { usage: '.ring ENGINE [, VA [, SIZE]]', min: 1, max: 3, passes: ['tables'] },
  submit: { usage: '.submit ENGINE', min: 1, max: 1, passes: ['emit'] },
  wait: { usage: '.wait ENGINE|all', min: 1, max: 1, passes: ['emit'] },
  mmio: { usage: '.mmio REGISTER, VALUE', min: 2, max: 2, passes: ['emit'] },
  eptp: { usage: '.eptp full|restricted [, ENGINE]', min: 1, max: 2, passes: ['emit'] },
  write: {
    usage: '.write GPA, "FILE", OFFSET, SIZE | .write GPA, VALUE32, ...',
    min: 2,
    max: Infinity,
    passes: ['emit'],
  },
  context: {
    usage: '.context ENGINE, start=GGTT_ADDRESS, head=N, tail=N, ctl=N, pml4=GPA [, lrca=GGTT_ADDRESS]',
    min: 6,
    max: 7,
    passes: ['emit'],
  },
  dword: { usage: '.dword VALUE, ...', min: 1, max: Infinity, passes: ['emit'] },
};

/** Characters of a name or text a message quotes; the rest is cut (a line may hold megabytes of one name). */
const MAX_QUOTED = 60;
const MAX_MESSAGE = 1000;
const LONG_QUOTE = new RegExp(`'([^']{${MAX_QUOTED + 1},})'`, 'g');

/** A message with every quoted run cut to MAX_QUOTED characters, then the whole cut to MAX_MESSAGE. */
function boundedMessage(message: string): string {
  const m =
    message.length > 2 * MAX_QUOTED
      ? message.replace(LONG_QUOTE, (_, q: string) => `'${q.slice(0, MAX_QUOTED - 3)}...'`)
      : message;
  return m.length > MAX_MESSAGE ? `${m.slice(0, MAX_MESSAGE - 3)}...` : m;
}

/** The directives a pass acts on (DirectiveSpec.passes). */
const directivesOf = (pass: 'names' | 'tables' | 'emit'): ReadonlySet<string> =>
  new Set(Object.keys(DIRECTIVES).filter((d) => DIRECTIVES[d].passes?.includes(pass)));
/** Directives that name something the whole program may refer to before it (passLayout's first scan). */
const DECLARING = directivesOf('names');
/** Directives passTables builds from. */
const TABLE_DIRECTIVES = directivesOf('tables');
/** Directives passEmit emits (emitDirective's cases); the others are done in earlier passes. */
const EMIT_DIRECTIVES = directivesOf('emit');

/**
 * Whether a pass that acts only on the directives in `wanted` (and on whatever else a line holds: a
 * label, a command, data) can skip line `text` unparsed: it states, with no label, a directive not in
 * `wanted` (its text says so: leadingDirective).
 */
function skips(text: string, wanted: ReadonlySet<string>): boolean {
  const d = leadingDirective(text);
  return d !== null && !wanted.has(d);
}

function directiveSpec(name: string): DirectiveSpec | undefined {
  return Object.hasOwn(DIRECTIVES, name) ? DIRECTIVES[name] : undefined;
}

const DATA_SIZES = { dword: 4, qword: 8, byte: 1 } as const;
const DATA_RANGE = {
  dword: U32,
  qword: { min: -(2n ** 63n), max: 2n ** 64n - 1n },
  byte: { min: -128n, max: 255n },
} as const;

// ---------------------------------------------------------------------------------------------
// Public API.

/** Diagnostics kept per file; past it errors are only counted (one closing diagnostic says how many). */
export const MAX_KEPT_DIAGNOSTICS = 1000;

export interface AssembleResult {
  /** Present when there are no errors. */
  readonly image?: ProgramImage;
  /** Errors and warnings, by line and column. */
  readonly diagnostics: Diagnostic[];
}

/** The header's DWord Length, settable on commands whose length it alone chooses (MI_FLUSH_DW, MI_STORE_DATA_INDEX). */
const DWORD_LENGTH: CmdField = {
  name: 'dword_length',
  xml: 'DWord Length',
  dw: 0,
  lo: 0,
  hi: 7,
  kind: 'uint',
  desc: 'DWord Length: total dwords - 2',
};

/** Assembles a program; never throws. */

export function assembleSource(source: string, opts: AssembleOptions): AssembleResult {
  const asm = new Assembler(String(source ?? ''), opts);
  try {
    return asm.run();
  } catch (e) {
    // A bug in the assembler must still come back as a diagnostic, never as an exception.
    const message = `internal assembler error: ${e instanceof Error ? e.message : String(e)}`;
    return {
      diagnostics: [
        ...asm.diagnostics(),
        { file: String(opts?.file ?? '<input>'), line: 1, col: 1, severity: 'error', message },
      ],
    };
  }
}

/** Assembles a program; throws AssemblyError with every error found. */
export function assemble(source: string, opts: AssembleOptions): ProgramImage {
  const r = assembleSource(source, opts);
  if (!r.image) throw new AssemblyError(r.diagnostics);
  return r.image;
}

// ---------------------------------------------------------------------------------------------
// Internal records.

interface Segment {
  /** Offset in the region. */
  readonly offset: number;
  /** GPA in range A (guest RAM). */
  readonly gpa: number;
  readonly len: number;
}

interface Region {
  readonly kind: 'batch' | 'data' | 'fill';
  readonly what: string;
  readonly va: number;
  /** The address space of `va`: the PPGTT, the global GTT (`ggtt`), or guest physical (`phys`). */
  readonly ggtt?: boolean;
  readonly phys?: boolean;
  size: number;
  readonly loc: SourceLoc;
  segments: Segment[] | null;
}

interface Ring {
  readonly engine: EngineName;
  readonly va: number;
  readonly size: number;
  /** VA given in the program (the program maps it); otherwise the assembler allocates and maps it. */
  readonly explicit: boolean;
  readonly loc: SourceLoc;
  readonly lineIndex: number;
  /** Pass 1: bytes appended so far. */
  appended: number;
  gpa: number;
  ok: boolean;
  submitted: number;
  pending: number[];
  entries: RingEntry[];
}

type Stream =
  | { readonly kind: 'batch'; readonly engine: EngineName; readonly region: Region; readonly name: string }
  | { readonly kind: 'data'; readonly region: Region }
  | { readonly kind: 'ring'; readonly ring: Ring }
  /** After a stream-opening directive failed: swallows its statements silently (no cascades). */
  | { readonly kind: 'void' };

/** Where pass 1 placed an emitting statement. */
interface Placement {
  readonly stream: Stream;
  /** Byte offset in the region, or the unwrapped byte offset in the ring. */
  readonly offset: number;
  readonly size: number;
  readonly def?: CommandDef;
}

interface Scope {
  readonly engine: EngineName;
  /** Pass 1: names declared anywhere (upper-cased) -> line, to explain forward references. */
  readonly declared?: ReadonlyMap<string, number>;
}

interface Mapping extends MappingDef {
  /** The assembler made it for a ring placed by default (its GPA is in the allocated area on purpose). */
  readonly defaultRing: boolean;
}

type Range = { readonly min: bigint; readonly max: bigint };

// ---------------------------------------------------------------------------------------------

class Assembler {
  private readonly file: string;
  private readonly diags: Diagnostic[] = [];
  /** Errors past MAX_KEPT_DIAGNOSTICS: counted, not kept (a binary or foreign file has one a line). */
  private droppedErrors = 0;
  /**
   * The source's lines. Each pass parses again the lines it reads rather than keeping a million parsed
   * lines alive through all of them: short-lived parses cost less than the heap they would hold.
   */
  private texts: string[] = [];
  /** Lines (0-based) of `.vm` directives. */
  private vmLines: number[] = [];

  // `.vm` and the machine it targets.
  private readonly vm: VmDirective = {};
  private memory = DEFAULT_MEMORY;
  private physBits = DEFAULT_PHYS_BITS;
  private mirror = 2n ** BigInt(DEFAULT_PHYS_BITS);
  private version: Generation | undefined;

  // Pass 1.
  private readonly symbols = new Map<string, number>();
  private readonly symbolLine = new Map<string, number>();
  private readonly declared = new Map<string, number>();
  private readonly placements: (Placement | undefined)[] = [];
  private readonly opened: (Stream | undefined)[] = [];
  private readonly rings = new Map<EngineName, Ring>();
  private readonly regions: Region[] = [];

  // Pass 2.
  private readonly pages = new Map<number, Uint32Array>();
  private pml4 = 0;
  /** `.ggtt` ranges, and the table built for them (GPA and entry count), if any. */
  private readonly ggttMappings: Mapping[] = [];
  private ggtt: { base: number; entries: number } | undefined;
  /** `.ggtt table=GPA, entries=N`: where the global GTT's PTE table is (instead of the top of RAM). */
  private ggttTable: { base: number; entries: number; loc: SourceLoc } | undefined;
  /** Bytes read so far by `.incbin` and `.write`, and the files read. */
  private incbinBytes = 0;
  private readonly files = new Map<string, Uint8Array | string>();
  /** Line of the first `.context` (the program's rings are then fetched through the global GTT). */
  private contextLine = 0;
  /** `.pml4 GPA`: the PPGTT root is the program's own table there (page tables written as data). */
  private ownPml4: { gpa: number; line: number } | undefined;
  private allocTop = 0;
  private zeroFill: { page: number; tables: number[] } | undefined;
  private leafEntries = 0;
  private fillBytes = 0;
  private surfaceBytes = 0;
  private readonly mappings: Mapping[] = [];
  /** Accepted mappings by VA range (they never overlap), and each one's place in program order. */
  private readonly byVa = new IntervalMap<Mapping>();
  private readonly mappingOrder = new Map<Mapping, number>();
  private readonly surfaces: SurfaceDef[] = [];
  private readonly surfaceByName = new Map<string, SurfaceDef>();

  // Pass 3.
  private readonly driver: DriverOp[] = [];
  private readonly listing: ListingLine[] = [];
  private readonly sourceMap = new Map<number, SourceLoc>();
  private readonly announced = new Set<EngineName>();

  constructor(
    private readonly source: string,
    private readonly opts: AssembleOptions,
  ) {
    this.file = String(opts?.file ?? '<input>');
  }

  diagnostics(): Diagnostic[] {
    const all = [...this.diags].sort((a, b) => a.line - b.line || a.col - b.col);
    if (this.droppedErrors)
      all.push({
        file: this.file,
        line: all.at(-1)?.line ?? 1,
        col: 1,
        severity: 'error',
        message: `too many errors: ${this.droppedErrors} more not reported`,
        more: this.droppedErrors,
      });
    return all;
  }

  private get hasErrors(): boolean {
    return this.droppedErrors > 0 || this.diags.some((d) => d.severity === 'error');
  }

  run(): AssembleResult {
    this.texts = splitLines(this.source);
    for (let i = 0; i < this.texts.length; i++) {
      const { parsed, errors } = parseLine(this.texts[i], i + 1);
      for (const e of errors) this.report('error', i + 1, e.col, e.message, e.end);
      const s = parsed.stmt;
      if (s?.kind === 'directive' && s.name === 'vm') this.vmLines.push(i);
    }
    this.passVm();
    this.passLayout();
    this.passTables();
    this.passEmit();
    this.passChecks();
    if (this.hasErrors) return { diagnostics: this.diagnostics() };
    const warnings = this.diagnostics();
    const image: ProgramImage = {
      file: this.file,
      source: this.source,
      vm: this.vm,
      memory: this.memory,
      physBits: this.physBits,
      pages: this.pages,
      pml4: this.ownPml4?.gpa ?? this.pml4,
      ...(this.ggtt ? { ggtt: this.ggtt } : {}),
      ...(this.contextLine ? { ringSpace: 'ggtt' as const } : {}),
      ...(this.zeroFill ? { zeroFill: this.zeroFill } : {}),
      mappings: this.mappings.map(({ defaultRing: _ring, ...m }) => m),
      driver: this.driver,
      surfaces: this.surfaces,
      symbols: this.symbols,
      sourceMap: this.sourceMap,
      listing: this.listing,
      warnings,
    };
    return { image, diagnostics: warnings };
  }

  private parsed(i: number): ParsedLine {
    return parseLine(this.texts[i] ?? '', i + 1).parsed;
  }

  // -------------------------------------------------------------------------------------------
  // Diagnostics.

  private report(severity: 'error' | 'warning', line: number, col: number, message: string, endCol?: number): void {
    if (this.diags.length >= MAX_KEPT_DIAGNOSTICS) {
      if (severity === 'error') this.droppedErrors++;
      return;
    }
    const text = this.texts[line - 1] ?? '';
    const c = Math.max(1, Math.min(col, text.length + 1));
    const d: Diagnostic = { file: this.file, line, col: c, severity, message: boundedMessage(message) };
    const end = endCol === undefined ? undefined : Math.min(endCol, text.length + 1);
    this.diags.push(end !== undefined && end > c ? { ...d, endCol: end } : d);
  }

  private error(line: number, at: { col: number; end?: number }, message: string): void {
    this.report('error', line, at.col, message, at.end);
  }

  private warn(line: number, at: { col: number; end?: number }, message: string): void {
    this.report('warning', line, at.col, message, at.end);
  }

  private loc(line: number, col: number): SourceLoc {
    return { file: this.file, line, col };
  }

  // -------------------------------------------------------------------------------------------
  // Expressions.

  /** Evaluates an expression; reports and returns undefined on error. */
  private evaluate(e: Expr, line: number, scope: Scope): bigint | undefined {
    switch (e.kind) {
      case 'num':
        if (e.value >= BIG) return this.fail(line, e, 'number too large');
        return e.value;
      case 'str':
        return this.fail(line, e, 'a string is not a number');
      case 'name':
        return this.resolveName(e, line, scope);
      case 'unary': {
        const v = this.evaluate(e.arg, line, scope);
        if (v === undefined) return undefined;
        return e.op === '-' ? -v : e.op === '~' ? ~v : v;
      }
      case 'binary': {
        const l = this.evaluate(e.left, line, scope);
        const r = this.evaluate(e.right, line, scope);
        if (l === undefined || r === undefined) return undefined;
        const at = { col: e.opCol, end: e.opCol + e.op.length };
        let v: bigint;
        switch (e.op) {
          case '+':
            v = l + r;
            break;
          case '-':
            v = l - r;
            break;
          case '*':
            v = l * r;
            break;
          case '/':
          case '%':
            if (r === 0n) return this.fail(line, at, 'division by zero');
            v = e.op === '/' ? l / r : l % r;
            break;
          case '<<':
          case '>>':
            if (r < 0n || r > 127n) return this.fail(line, at, `shift count ${r} is outside 0..127`);
            v = e.op === '<<' ? l << r : l >> r;
            break;
          case '&':
            v = l & r;
            break;
          case '|':
            v = l | r;
            break;
          case '^':
            v = l ^ r;
            break;
        }
        if (v >= BIG || v <= -BIG)
          return this.fail(line, { col: e.col, end: e.end }, 'value too large (over 128 bits)');
        return v;
      }
    }
  }

  private resolveName(e: Expr & { kind: 'name' }, line: number, scope: Scope): bigint | undefined {
    const upper = e.name.toUpperCase();
    const sym = this.symbols.get(upper);
    if (sym !== undefined) return BigInt(sym);
    if (upper === 'MIRROR') return this.mirror;
    const reg = regByName(e.name, scope.engine);
    if (reg) return BigInt(reg.mmio);
    const later = scope.declared?.get(upper);
    if (later !== undefined)
      return this.fail(line, e, `'${e.name}' is defined later (line ${later}); this value must be known here`);
    return this.fail(line, e, `undefined name '${e.name}'`);
  }

  private fail(line: number, at: { col: number; end?: number }, message: string): undefined {
    this.error(line, at, message);
    return undefined;
  }

  /** An integer in [min, max] as a number (all VAs, GPAs and sizes fit a double exactly). */
  private evalNum(e: Expr, line: number, scope: Scope, what: string, range: Range): number | undefined {
    const v = this.evaluate(e, line, scope);
    if (v === undefined) return undefined;
    if (v < range.min || v > range.max)
      return this.fail(line, e, `${what} ${fmt(v)} is outside ${fmt(range.min)}..${fmt(range.max)}`);
    return Number(v);
  }

  /** A dword: [-2^31, 2^32), negative values in two's complement. */
  private evalU32(e: Expr, line: number, scope: Scope, what: string): number | undefined {
    const v = this.evalNum(e, line, scope, what, U32);
    return v === undefined ? undefined : v >>> 0;
  }

  private keyword<T extends string>(
    arg: Arg | undefined,
    line: number,
    allowed: readonly T[],
    what: string,
  ): T | undefined {
    if (!arg) return undefined;
    const e = arg.value;
    if (!arg.key && e.kind === 'name') {
      const k = allowed.find((a) => a.toLowerCase() === e.name.toLowerCase());
      if (k !== undefined) return k;
    }
    return this.fail(line, arg, `expected ${what}: ${allowed.join(', ')}`);
  }

  private engineArg(arg: Arg | undefined, line: number): EngineName | undefined {
    return this.keyword(arg, line, ENGINES, 'an engine');
  }

  /** A positional argument (no `key=`). */
  private positional(arg: Arg, line: number): Expr | undefined {
    if (arg.key) return this.fail(line, arg.key, "unexpected '=' here");
    return arg.value;
  }

  private scopeOf(stream: Stream | null): Scope {
    if (stream?.kind === 'batch') return { engine: stream.engine };
    if (stream?.kind === 'ring') return { engine: stream.ring.engine };
    return { engine: 'rcs0' };
  }

  // -------------------------------------------------------------------------------------------
  // Pass 0: `.vm` (evaluated first wherever it appears; it fixes MIRROR and the RAM layout).

  private passVm(): void {
    const seen = new Map<string, number>();
    const scope: Scope = { engine: 'rcs0' };
    for (const i of this.vmLines) {
      const pl = this.parsed(i);
      const s = pl.stmt as Statement & { kind: 'directive' };
      if (s.broken) continue;
      let current: string | undefined;
      for (const arg of s.args) {
        if (!arg.key) {
          if (current === 'pool') this.vmPool(arg.value, pl.line, scope);
          else this.error(pl.line, arg, `expected KEY=VALUE (${DIRECTIVES.vm.usage})`);
          continue;
        }
        const key = arg.key.kind === 'name' ? arg.key.name.toLowerCase() : '';
        current = key;
        if (seen.has(key)) {
          this.error(pl.line, arg.key, `.vm ${key} is already set on line ${seen.get(key)}`);
          current = undefined;
          continue;
        }
        seen.set(key, pl.line);
        this.vmOption(key, arg, pl.line, scope);
      }
    }
    if (
      this.vm.version !== undefined &&
      this.vm.isolation === true &&
      !hasFeature(this.vm.version as Generation, 'ISOLATION')
    ) {
      const l = seen.get('isolation')!;
      const arg = this.findVmArg(l, 'isolation');
      this.error(l, arg ?? { col: 1 }, `isolation=on needs device version 2 or later (version=${this.vm.version})`);
    }
    this.version =
      this.vm.version !== undefined
        ? (this.vm.version as Generation)
        : this.vm.pool?.length
          ? (Math.min(...this.vm.pool) as Generation)
          : undefined;

    // Effective machine: options override the program.
    const physBits = this.opts?.physBits ?? this.vm.physBits ?? DEFAULT_PHYS_BITS;
    const memory = this.opts?.memory ?? this.vm.memory ?? DEFAULT_MEMORY;
    const where = (key: string, fromOpts: boolean) => {
      const l = fromOpts ? undefined : seen.get(key);
      return l === undefined
        ? { line: 1, at: { col: 1 }, src: 'option' }
        : { line: l, at: this.findVmArg(l, key) ?? { col: 1 }, src: '.vm' };
    };
    if (!Number.isInteger(physBits) || physBits < 24 || physBits > 51) {
      const w = where('physbits', this.opts?.physBits !== undefined);
      this.error(w.line, w.at, `physBits ${physBits} (${w.src}) is outside 24..51`);
    } else {
      this.physBits = physBits;
      this.mirror = 2n ** BigInt(physBits);
    }
    if (!Number.isInteger(memory) || memory < 64 * KIB || memory % PAGE !== 0 || memory > 2 ** this.physBits) {
      const w = where('memory', this.opts?.memory !== undefined);
      this.error(
        w.line,
        w.at,
        `memory ${memory} (${w.src}) must be a multiple of 4K between 64K and 2^physBits (${fmt(2 ** this.physBits)})`,
      );
    } else this.memory = memory;
  }

  private findVmArg(line: number, key: string): Arg | undefined {
    const s = this.parsed(line - 1).stmt;
    return s?.args.find((a) => a.key?.kind === 'name' && a.key.name.toLowerCase() === key);
  }

  private vmOption(key: string, arg: Arg, line: number, scope: Scope): void {
    const vm = this.vm as { -readonly [K in keyof VmDirective]: VmDirective[K] };
    switch (key) {
      case 'memory':
        vm.memory = this.evalNum(arg.value, line, scope, 'memory', { min: 64n * 1024n, max: 2n ** 51n });
        break;
      case 'physbits':
        vm.physBits = this.evalNum(arg.value, line, scope, 'physBits', { min: 24n, max: 51n });
        break;
      case 'isolation': {
        const k = this.keyword(
          { value: arg.value, col: arg.value.col, end: arg.value.end },
          line,
          ['on', 'off'] as const,
          'isolation',
        );
        if (k) vm.isolation = k === 'on';
        break;
      }
      case 'version':
        vm.version = this.evalNum(arg.value, line, scope, 'version', { min: 1n, max: 3n });
        break;
      case 'pool':
        vm.pool = [];
        this.vmPool(arg.value, line, scope);
        break;
      case 'gen':
        // The hardware generation whose command layouts the program is written in (and the device decodes).
        vm.gen = this.evalNum(arg.value, line, scope, 'gen', {
          min: BigInt(Math.min(...GENS)),
          max: BigInt(Math.max(...GENS)),
        });
        break;
      case 'unmodelled': {
        const k = this.keyword(
          { value: arg.value, col: arg.value.col, end: arg.value.end },
          line,
          ['drop', 'refuse'] as const,
          'unmodelled',
        );
        if (k) vm.unmodelled = k;
        break;
      }
      case 'unmapped': {
        const k = this.keyword(
          { value: arg.value, col: arg.value.col, end: arg.value.end },
          line,
          ['fault', 'zero'] as const,
          'unmapped',
        );
        if (k) vm.unmapped = k;
        break;
      }
      default:
        this.error(
          line,
          arg.key!,
          `unknown .vm option '${arg.key!.kind === 'name' ? arg.key!.name : '?'}' (memory, physBits, isolation, version, pool, gen, unmodelled, unmapped)`,
        );
    }
  }

  private vmPool(e: Expr, line: number, scope: Scope): void {
    const v = this.evalNum(e, line, scope, 'pool generation', { min: 1n, max: 3n });
    if (v !== undefined && this.vm.pool) (this.vm.pool as number[]).push(v);
  }

  // -------------------------------------------------------------------------------------------
  // Pass 1: layout and symbols.

  private passLayout(): void {
    // Names declared anywhere, so that a forward reference where none is allowed says so.
    for (let i = 0; i < this.texts.length; i++) {
      // Labels need a ':', directives a '.'.
      if (!this.texts[i].includes(':') && !this.texts[i].includes('.')) continue;
      if (skips(this.texts[i], DECLARING)) continue;
      const pl = this.parsed(i);
      for (const l of pl.labels)
        if (!this.declared.has(l.name.toUpperCase())) this.declared.set(l.name.toUpperCase(), pl.line);
      const s = pl.stmt;
      const first = s?.args[0]?.value;
      if (s?.kind === 'directive' && (s.name === 'batch' || s.name === 'surface') && first?.kind === 'name') {
        if (!this.declared.has(first.name.toUpperCase())) this.declared.set(first.name.toUpperCase(), pl.line);
      }
    }
    let stream: Stream | null = null;
    this.texts.forEach((_, i) => {
      const pl = this.parsed(i);
      const s = pl.stmt;
      const opens = s?.kind === 'directive' && (s.name === 'batch' || s.name === 'data' || s.name === 'ring');
      if (s && opens) {
        stream = this.layoutOpen(s, pl, i, stream);
        this.opened[i] = stream;
      }
      this.defineLabels(pl, stream);
      if (!s || opens) return;
      if (s.kind === 'directive') {
        if (!this.checkDirective(s, pl.line)) return;
        if (s.name === 'surface' && !s.broken) this.layoutSurface(s, pl.line, stream);
        if (s.name === 'dword') this.place(i, s, pl.line, stream, 4 * s.args.length);
        return;
      }
      if (s.kind === 'data') {
        if (stream && stream.kind !== 'data' && stream.kind !== 'void') {
          this.error(pl.line, s, `'${s.type}' lines belong in a .data block (in a command stream, use .dword)`);
          return;
        }
        const size =
          s.type === 'ascii'
            ? s.args.reduce((n, a) => n + (a.value.kind === 'str' ? a.value.text.length : 0), 0)
            : DATA_SIZES[s.type] * s.args.length;
        if (!stream) this.error(pl.line, s, `'${s.type}' outside a .data block`);
        else this.place(i, s, pl.line, stream, size);
        return;
      }
      if (stream?.kind === 'data') {
        this.error(pl.line, s, `commands belong in a .batch or .ring, not in .data`);
        return;
      }
      if (!stream) {
        this.error(pl.line, s, `command outside any .ring or .batch`);
        return;
      }
      const gen = (this.vm.gen ?? DEFAULT_GEN) as Gen;
      const def = commandByMnemonic(s.mnemonic, gen);
      if (!def) {
        const other = GENS.find((g) => commandByMnemonic(s.mnemonic, g));
        this.error(
          pl.line,
          s,
          `unknown command '${s.mnemonic}'${other ? ` (a gen${other} command: .vm gen=${other})` : ''}`,
        );
        return;
      }
      if (s.broken || stream.kind === 'void') return;
      const len = this.commandLength(def, s, pl.line, this.scopeOf(stream));
      if (len !== undefined) this.place(i, s, pl.line, stream, 4 * len, def);
    });
  }

  private checkDirective(s: Statement & { kind: 'directive' }, line: number): boolean {
    const spec = directiveSpec(s.name);
    if (!spec) {
      this.error(
        line,
        s,
        `unknown directive '.${s.name}' (${Object.keys(DIRECTIVES)
          .map((d) => '.' + d)
          .join(' ')})`,
      );
      return false;
    }
    if (s.broken) return false;
    if (s.args.length < spec.min || s.args.length > spec.max) {
      this.error(
        line,
        s,
        `.${s.name} takes ${spec.min === spec.max ? spec.min : `${spec.min} to ${spec.max}`} argument${spec.max === 1 ? '' : 's'}: ${spec.usage}`,
      );
      return false;
    }
    return true;
  }

  /** Records where a statement lands in its stream and advances the stream. */
  private place(i: number, s: Statement, line: number, stream: Stream | null, size: number, def?: CommandDef): void {
    if (!stream) {
      this.error(line, s, `.${s.kind === 'directive' ? s.name : ''} outside any .ring or .batch`);
      return;
    }
    if (stream.kind === 'void' || s.broken) return;
    if (stream.kind === 'ring') {
      this.placements[i] = { stream, offset: stream.ring.appended, size, def };
      stream.ring.appended += size;
    } else {
      this.placements[i] = { stream, offset: stream.region.size, size, def };
      stream.region.size += size;
    }
  }

  /** The current address of a stream (what a label names). */
  private here(stream: Stream): number {
    switch (stream.kind) {
      case 'batch':
      case 'data':
        return stream.region.va + stream.region.size;
      case 'ring':
        return stream.ring.va + (stream.ring.appended % stream.ring.size);
      case 'void':
        return 0;
    }
  }

  private defineLabels(pl: ParsedLine, stream: Stream | null): void {
    for (const l of pl.labels) {
      if (!stream) {
        this.error(pl.line, l, `label '${l.name}' is outside any .batch, .ring or .data block`);
        this.defineSymbol(l.name, 0, pl.line, l, true);
      } else this.defineSymbol(l.name, this.here(stream), pl.line, l);
    }
  }

  private defineSymbol(
    name: string,
    value: number,
    line: number,
    at: { col: number; end?: number },
    quiet = false,
  ): void {
    const upper = name.toUpperCase();
    if (name.includes('.')) {
      this.error(line, at, `name '${name}' may not contain '.'`);
      return;
    }
    if (upper === 'MIRROR' || regByName(name)) {
      this.error(
        line,
        at,
        `'${name}' is a reserved name (${upper === 'MIRROR' ? 'MIRROR' : 'a register'}); choose another`,
      );
      return;
    }
    const prev = this.symbolLine.get(upper);
    if (prev !== undefined) {
      if (!quiet) this.error(line, at, `'${name}' is already defined on line ${prev}`);
      return;
    }
    this.symbols.set(upper, value);
    this.symbolLine.set(upper, line);
  }

  private layoutOpen(s: Statement & { kind: 'directive' }, pl: ParsedLine, i: number, prev: Stream | null): Stream {
    const line = pl.line;
    const VOID: Stream = { kind: 'void' };
    if (!this.checkDirective(s, line)) return VOID;
    const scope: Scope = { ...this.scopeOf(prev), declared: this.declared };
    if (s.name === 'data') {
      const e = this.positional(s.args[0], line);
      const va = e && this.evalNum(e, line, scope, 'VA', { min: 0n, max: BigInt(VA_LIMIT - 1) });
      const space = s.args[1]
        ? this.keyword(s.args[1], line, ['ggtt', 'phys'] as const, 'the address space')
        : undefined;
      if (va === undefined || (s.args[1] && space === undefined)) return VOID;
      const region: Region = {
        kind: 'data',
        what: `.data at line ${line}`,
        va,
        ggtt: space === 'ggtt',
        phys: space === 'phys',
        size: 0,
        loc: this.loc(line, s.col),
        segments: null,
      };
      this.regions.push(region);
      return { kind: 'data', region };
    }
    if (s.name === 'batch') {
      const nameExpr = this.positional(s.args[0], line);
      if (!nameExpr || nameExpr.kind !== 'name') {
        this.error(line, s.args[0], `expected a batch name: ${DIRECTIVES.batch.usage}`);
        return VOID;
      }
      const e = this.positional(s.args[1], line);
      const va = e && this.evalNum(e, line, scope, 'VA', { min: 0n, max: BigInt(VA_LIMIT - 1) });
      // `.batch NAME, VA, ggtt` or `.batch NAME, VA, ENGINE, ggtt`: a batch in the global GTT (a privileged batch).
      const spaceOf = (a: Arg | undefined) =>
        a !== undefined && !a.key && a.value.kind === 'name' && ['ggtt', 'phys'].includes(a.value.name.toLowerCase())
          ? a.value.name.toLowerCase()
          : undefined;
      const space = spaceOf(s.args[2]) ?? spaceOf(s.args[3]);
      const ggtt = space === 'ggtt';
      const engineArg = s.args[2] && !spaceOf(s.args[2]) ? s.args[2] : undefined;
      if (s.args[3] && !spaceOf(s.args[3]))
        this.error(line, s.args[3], `expected ggtt or phys: ${DIRECTIVES.batch.usage}`);
      const engine = engineArg ? this.engineArg(engineArg, line) : 'rcs0';
      if (va === undefined || engine === undefined) return VOID;
      if (va % 4 !== 0) {
        this.error(line, s.args[1], `batch VA ${fmt(va)} is not dword aligned`);
        return VOID;
      }
      this.defineSymbol(nameExpr.name, va, line, nameExpr);
      const region: Region = {
        kind: 'batch',
        what: `.batch ${nameExpr.name}`,
        va,
        ggtt,
        phys: space === 'phys',
        size: 0,
        loc: this.loc(line, s.col),
        segments: null,
      };
      this.regions.push(region);
      return { kind: 'batch', engine, region, name: nameExpr.name };
    }
    // .ring ENGINE [, VA [, SIZE]]
    const engine = this.engineArg(s.args[0], line);
    if (!engine) return VOID;
    let va: number | undefined = DEFAULT_RING_VA[engine];
    let size: number | undefined = DEFAULT_RING_SIZE;
    if (s.args[1]) {
      const e = this.positional(s.args[1], line);
      va = e && this.evalNum(e, line, scope, 'ring VA', { min: 0n, max: 2n ** 32n - 1n });
      if (va !== undefined && va % PAGE !== 0) va = this.fail(line, s.args[1], `ring VA ${fmt(va)} is not 4K aligned`);
    }
    if (s.args[2]) {
      const e = this.positional(s.args[2], line);
      size = e && this.evalNum(e, line, scope, 'ring size', { min: BigInt(PAGE), max: BigInt(MAX_RING_PAGES * PAGE) });
      if (size !== undefined && size % PAGE !== 0)
        size = this.fail(line, s.args[2], `ring size ${fmt(size)} is not a multiple of 4K`);
    }
    if (va !== undefined && size !== undefined && va + size > 2 ** 32) {
      this.error(
        line,
        s.args[1] ?? s,
        `ring [${fmt(va)}, ${fmt(va + size)}) must lie below 4 GiB (RING_START holds 32 bits)`,
      );
      va = undefined;
    }
    const existing = this.rings.get(engine);
    if (existing) {
      if (s.args.length > 1 && (va !== existing.va || size !== existing.size)) {
        this.error(
          line,
          s.args[1],
          `the ${engine} ring is already defined on line ${existing.loc.line} at ${fmt(existing.va)} (${fmt(existing.size)} bytes)`,
        );
      }
      return { kind: 'ring', ring: existing };
    }
    if (va === undefined || size === undefined) return VOID;
    if (this.version !== undefined && size / PAGE > LIMITS[this.version].maxRingPages) {
      this.warn(
        line,
        s.args[2] ?? s,
        `a ${size / PAGE}-page ring exceeds device version ${this.version}'s ${LIMITS[this.version].maxRingPages} pages`,
      );
    }
    const ring: Ring = {
      engine,
      va,
      size,
      explicit: s.args.length > 1,
      loc: this.loc(line, s.col),
      lineIndex: i,
      appended: 0,
      gpa: 0,
      ok: false,
      submitted: 0,
      pending: [],
      entries: [],
    };
    this.rings.set(engine, ring);
    return { kind: 'ring', ring };
  }

  private layoutSurface(s: Statement & { kind: 'directive' }, line: number, stream: Stream | null): void {
    const nameExpr = this.positional(s.args[0], line);
    if (!nameExpr || nameExpr.kind !== 'name') {
      this.error(line, s.args[0], `expected a surface name: ${DIRECTIVES.surface.usage}`);
      return;
    }
    const e = this.positional(s.args[1], line);
    const va =
      e &&
      this.evalNum(e, line, { ...this.scopeOf(stream), declared: this.declared }, 'VA', {
        min: 0n,
        max: BigInt(VA_LIMIT - 1),
      });
    if (va !== undefined) this.defineSymbol(nameExpr.name, va, line, nameExpr);
  }

  /** Command length in dwords, from the table's length rule and which fields the line gives. */
  private commandLength(
    def: CommandDef,
    s: Statement & { kind: 'command' },
    line: number,
    scope: Scope,
  ): number | undefined {
    const rule = def.length;
    if (rule.kind === 'fixed') return rule.dwords;
    if (rule.kind === 'pairs')
      return 1 + 2 * s.args.filter((a) => !(a.key?.kind === 'name' && fieldByName(def, a.key.name))).length;
    if (rule.kind === 'group') {
      // Entries are given as FIELD.i=value; the highest i says how many there are.
      let entries = minEntries(def);
      for (const a of s.args) {
        const g = a.key?.kind === 'name' ? groupKey(def, a.key.name) : undefined;
        if (g) entries = Math.max(entries, g.index + 1);
      }
      return Math.min(rule.base + rule.entry * entries, rule.base + rule.entry * maxEntries(def));
    }
    const keyOf = (a: Arg) => (a.key?.kind === 'name' ? fieldByName(def, a.key.name) : undefined);
    if (rule.kind === 'range') {
      const asked = s.args.find((a) => a.key?.kind === 'name' && a.key.name.toLowerCase() === 'dword_length');
      if (asked) {
        const v = this.evaluate(asked.value, line, { ...scope, declared: this.declared });
        if (v === undefined) return undefined;
        return Math.max(rule.min, Math.min(rule.max, Number(v) + def.bias));
      }
      if (rule.default === rule.max) return rule.max;
      return s.args.some((a) => (keyOf(a)?.dw ?? 0) >= rule.min) ? rule.max : rule.min;
    }
    let long = s.args.some((a) => {
      const f = keyOf(a);
      return f !== undefined && f.dw >= rule.off;
    });
    const flagArg = s.args.find((a) => keyOf(a)?.name === rule.field);
    if (flagArg) {
      const v = this.evaluate(flagArg.value, line, { ...scope, declared: this.declared });
      if (v === undefined) return undefined;
      if (v !== 0n) long = true;
    }
    return long ? rule.on : rule.off;
  }

  // -------------------------------------------------------------------------------------------
  // Pass 2: page tables, default rings, surfaces (program order, so allocation order is the program's).

  private passTables(): void {
    this.allocTop = this.memory;
    this.pml4 = this.allocTable()!;
    this.texts.forEach((text, i) => {
      if (!text.includes('.') || skips(text, TABLE_DIRECTIVES)) return; // a directive needs a '.'
      const pl = this.parsed(i);
      const s = pl.stmt;
      if (s?.kind !== 'directive' || s.broken || !directiveSpec(s.name)) return;
      if (s.name === 'map' && this.checkDirectiveQuiet(s)) this.doMap(s, pl.line);
      else if (s.name === 'ggtt' && this.checkDirectiveQuiet(s)) this.doGgtt(s, pl.line);
      else if (s.name === 'pml4' && this.checkDirectiveQuiet(s)) this.doPml4(s, pl.line);
      else if (s.name === 'surface' && this.checkDirectiveQuiet(s)) this.doSurface(s, pl.line);
      else if (s.name === 'ring') {
        const stream = this.opened[i];
        if (stream?.kind === 'ring' && stream.ring.lineIndex === i && !stream.ring.explicit)
          this.allocateRing(stream.ring);
      }
    });
    const userMap = this.mappings.find((m) => !m.defaultRing);
    if (this.ownPml4 && userMap)
      this.error(
        userMap.loc.line,
        { col: userMap.loc.col },
        `.map builds page tables under the assembler's PML4, but .pml4 (line ${this.ownPml4.line}) names the program's own: write the entries as data instead`,
      );
    for (const ring of this.rings.values()) if (ring.explicit) this.checkRing(ring);
    this.buildGgtt();
    if (this.vm.unmapped === 'zero') this.fillUnmapped();
  }

  /**
   * `.vm unmapped=zero`: every entry the mappings left not present points at one shared, read-only
   * subtree (a PDP, a PD and a PT whose entries all lead on down) ending at one zero page, so an
   * unmapped VA reads as zero and faults on write, at the cost of four pages whatever the VA space.
   */
  private fillUnmapped(): void {
    const zero = this.allocPages(1);
    const tables = [this.allocTable(), this.allocTable(), this.allocTable()]; // PDP, PD, PT
    if (zero === undefined || tables.some((t) => t === undefined)) {
      return this.error(
        (this.vmLines[0] ?? 0) + 1,
        { col: 1 },
        `guest RAM (${fmt(this.memory)}) is too small for the unmapped=zero tables`,
      );
    }
    const [pdp, pd, pt] = tables as number[];
    const RO = PTE_P | PTE_US;
    const below = [pdp, pd, pt, zero];
    for (let level = 1; level < 4; level++) {
      const page = this.pages.get(below[level - 1] / PAGE)!;
      for (let i = 0; i < 512; i++) writeEntry(page, 2 * i, below[level], RO);
    }
    const shared = new Set(tables as number[]);
    const fill = (table: number, level: number): void => {
      const page = this.pages.get(table / PAGE)!;
      for (let i = 0; i < 512; i++) {
        const lo = page[2 * i];
        if (!(lo & PTE_P)) writeEntry(page, 2 * i, below[level], RO);
        else if (level < 3 && !(lo & PTE_PS)) {
          const next = (page[2 * i + 1] & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
          if (!shared.has(next)) fill(next, level + 1);
        }
      }
    };
    fill(this.pml4, 0);
    this.zeroFill = { page: zero, tables: tables as number[] };
  }

  /** `.ggtt GGTT_ADDRESS, GPA, SIZE`: global GTT entries (4 KiB each) for a range. */
  private doGgtt(s: Statement & { kind: 'directive' }, line: number): void {
    const scope: Scope = { engine: 'rcs0' };
    if (s.args[0].key) return this.doGgttTable(s, line, scope);
    if (s.args.length !== 3)
      return this.error(
        line,
        s,
        `.ggtt takes GGTT_ADDRESS, GPA, SIZE or table=GPA, entries=N: ${DIRECTIVES.ggtt.usage}`,
      );
    const [aVa, aGpa, aSize] = s.args;
    const eVa = this.positional(aVa, line);
    const eGpa = this.positional(aGpa, line);
    const eSize = this.positional(aSize, line);
    const va = eVa && this.evalNum(eVa, line, scope, 'GGTT address', { min: 0n, max: BigInt(GGTT_LIMIT - 1) });
    const gpa = eGpa && this.evalNum(eGpa, line, scope, 'GPA', { min: 0n, max: BigInt(GPA_LIMIT - 1) });
    const size = eSize && this.evalNum(eSize, line, scope, 'SIZE', { min: 1n, max: BigInt(GGTT_LIMIT) });
    if (va === undefined || gpa === undefined || size === undefined) return;
    let ok = true;
    for (const [v, a, what] of [
      [va, aVa, 'GGTT address'],
      [gpa, aGpa, 'GPA'],
      [size, aSize, 'SIZE'],
    ] as const) {
      if (v % PAGE !== 0)
        ok = !!this.fail(line, a, `${what} ${fmt(v)} is not 4K aligned (the global GTT maps 4 KiB pages)`);
    }
    if (va + size > GGTT_LIMIT)
      ok = !!this.fail(line, aSize, `the range ends at ${fmt(va + size)}, beyond the 4 GiB global GTT`);
    const clash = this.ggttMappings.find((o) => va < o.va + o.size && o.va < va + size);
    if (clash)
      ok = !!this.fail(
        line,
        aVa,
        `GGTT range [${fmt(va)}, ${fmt(va + size)}) overlaps the one on line ${clash.loc.line}`,
      );
    if (!ok) return;
    this.ggttMappings.push({
      va,
      gpa,
      size,
      writable: true,
      pageSize: PAGE,
      loc: this.loc(line, s.col),
      defaultRing: false,
    });
  }

  /** `.pml4 GPA`: every engine's PDP0 points at the program's own PML4 (a capture's tables, kept as data). */
  private doPml4(s: Statement & { kind: 'directive' }, line: number): void {
    const e = this.positional(s.args[0], line);
    const gpa =
      e && this.evalNum(e, line, { engine: 'rcs0' }, 'PML4 GPA', { min: 0n, max: BigInt(this.memory - PAGE) });
    if (gpa === undefined) return;
    if (gpa % PAGE !== 0) return this.error(line, s.args[0], `PML4 GPA ${fmt(gpa)} is not 4K aligned`);
    if (this.ownPml4) return this.error(line, s, `.pml4 is already given on line ${this.ownPml4.line}`);
    this.ownPml4 = { gpa, line };
  }

  /** `.ggtt table=GPA, entries=N`: the PTE table's place and size (a capture's, kept where it was). */
  private doGgttTable(s: Statement & { kind: 'directive' }, line: number, scope: Scope): void {
    const got = new Map<string, number>();
    for (const a of s.args) {
      const key = a.key?.kind === 'name' ? a.key.name.toLowerCase() : '';
      if (key !== 'table' && key !== 'entries')
        return this.error(line, a.key ?? a, `expected table=GPA, entries=N: ${DIRECTIVES.ggtt.usage}`);
      if (got.has(key)) return this.error(line, a.key!, `${key}= is given twice`);
      const v =
        key === 'table'
          ? this.evalNum(a.value, line, scope, 'GGTT table GPA', { min: 0n, max: BigInt(this.memory - PAGE) })
          : this.evalNum(a.value, line, scope, 'GGTT entries', { min: 1n, max: BigInt(MAX_GGTT_ENTRIES) });
      if (v === undefined) return;
      if (key === 'table' && v % PAGE !== 0)
        return this.error(line, a.value, `GGTT table GPA ${fmt(v)} is not 4K aligned`);
      got.set(key, v);
    }
    const base = got.get('table');
    const entries = got.get('entries');
    if (base === undefined || entries === undefined)
      return this.error(line, s, `.ggtt needs both table=GPA and entries=N`);
    if (base + entries * 8 > this.memory)
      return this.error(
        line,
        s.args[1],
        `the GGTT table [${fmt(base)}, ${fmt(base + entries * 8)}) ends beyond guest RAM (${fmt(this.memory)})`,
      );
    if (this.ggttTable)
      return this.error(line, s, `the GGTT table is already placed on line ${this.ggttTable.loc.line}`);
    this.ggttTable = { base, entries, loc: this.loc(line, s.col) };
  }

  /**
   * The global GTT's PTE table, one 64-bit entry per 4 KiB: where `.ggtt table=` put it, else from the
   * top of guest RAM up to the highest mapped address.
   */
  private buildGgtt(): void {
    if (this.ggttMappings.length === 0 && !this.ggttTable) return;
    const needed = Math.max(0, ...this.ggttMappings.map((m) => (m.va + m.size) / PAGE));
    const t = this.ggttTable;
    if (t && needed > t.entries) {
      this.error(
        t.loc.line,
        { col: t.loc.col },
        `the GGTT table's ${t.entries} entries do not reach the .ggtt ranges (${needed} entries needed)`,
      );
      return;
    }
    const entries = t ? t.entries : needed;
    const pages = Math.ceil((entries * 8) / PAGE);
    const base = t ? t.base : this.allocPages(pages);
    if (base === undefined) {
      const m = this.ggttMappings[0];
      this.error(
        m.loc.line,
        { col: m.loc.col },
        `guest RAM (${fmt(this.memory)}) is too small for the global GTT's ${entries} entries`,
      );
      return;
    }
    for (let p = 0; p < pages; p++)
      if (!this.pages.has(base / PAGE + p)) this.pages.set(base / PAGE + p, new Uint32Array(PAGE / 4));
    for (const m of this.ggttMappings) {
      for (let off = 0; off < m.size; off += PAGE) {
        const at = base + ((m.va + off) / PAGE) * 8;
        writeEntry(this.pages.get(Math.floor(at / PAGE))!, (at % PAGE) / 4, m.gpa + off, GGTT_PTE_PRESENT);
      }
    }
    this.ggtt = { base, entries };
  }

  private checkDirectiveQuiet(s: Statement & { kind: 'directive' }): boolean {
    const spec = directiveSpec(s.name);
    return spec !== undefined && s.args.length >= spec.min && s.args.length <= spec.max;
  }

  /** One page from the top-of-RAM allocator, zeroed and in the image. */
  private allocTable(): number | undefined {
    const gpa = this.allocPages(1);
    if (gpa !== undefined) this.pages.set(gpa / PAGE, new Uint32Array(PAGE / 4));
    return gpa;
  }

  private allocPages(n: number): number | undefined {
    if (this.allocTop - n * PAGE < 0) return undefined;
    this.allocTop -= n * PAGE;
    return this.allocTop;
  }

  private doMap(s: Statement & { kind: 'directive' }, line: number): void {
    const scope: Scope = { engine: 'rcs0' };
    const [aVa, aGpa, aSize, aAccess, aPage] = s.args;
    const eVa = this.positional(aVa, line);
    const eGpa = this.positional(aGpa, line);
    const eSize = this.positional(aSize, line);
    const va = eVa && this.evalNum(eVa, line, scope, 'VA', { min: 0n, max: BigInt(VA_LIMIT - 1) });
    const gpa = eGpa && this.evalNum(eGpa, line, scope, 'GPA', { min: 0n, max: BigInt(GPA_LIMIT - 1) });
    const size = eSize && this.evalNum(eSize, line, scope, 'SIZE', { min: 1n, max: BigInt(VA_LIMIT) });
    const access = this.keyword(aAccess, line, ['rw', 'ro'] as const, 'the access');
    let pageSize: number | undefined = 4 * KIB;
    if (aPage) {
      if (aPage.key?.kind !== 'name' || aPage.key.name.toLowerCase() !== 'page') {
        pageSize = this.fail(line, aPage, 'expected page=4K|2M|1G');
      } else {
        pageSize = this.evalNum(aPage.value, line, scope, 'page size', { min: 0n, max: BigInt(GIB) });
        if (pageSize !== undefined && !PAGE_LEVEL.has(pageSize))
          pageSize = this.fail(line, aPage.value, `page size ${fmt(pageSize)} is not 4K, 2M or 1G`);
      }
    }
    if (va === undefined || gpa === undefined || size === undefined || access === undefined || pageSize === undefined)
      return;
    const label = PAGE_LEVEL.get(pageSize)!.label;
    let ok = true;
    for (const [v, a, what] of [
      [va, aVa, 'VA'],
      [gpa, aGpa, 'GPA'],
      [size, aSize, 'SIZE'],
    ] as const) {
      if (v % pageSize !== 0) {
        this.error(line, a, `${what} ${fmt(v)} is not aligned to the ${label} page size`);
        ok = false;
      }
    }
    if (va + size > VA_LIMIT)
      ok = !!this.fail(line, aSize, `the mapping ends at ${fmt(va + size)}, beyond the 48-bit GPU VA space`);
    if (gpa + size > GPA_LIMIT)
      ok = !!this.fail(
        line,
        aSize,
        `the mapping ends at GPA ${fmt(gpa + size)}, beyond the 52-bit physical address space`,
      );
    if (!ok) return;
    this.addMapping(
      { va, gpa, size, writable: access === 'rw', pageSize, loc: this.loc(line, s.col), defaultRing: false },
      line,
      aVa,
    );
    const feature = PAGE_LEVEL.get(pageSize)!.feature;
    if (feature && this.version !== undefined && !hasFeature(this.version, feature)) {
      this.warn(
        line,
        aPage,
        `device version ${this.version} has no ${label} pages: accesses through this mapping fault at run time`,
      );
    }
  }

  private addMapping(m: Mapping, line: number, at: { col: number; end?: number }): boolean {
    const clash = this.clashing(m);
    if (clash) {
      this.error(
        line,
        at,
        `VA range [${fmt(m.va)}, ${fmt(m.va + m.size)}) overlaps the mapping on line ${clash.loc.line} [${fmt(clash.va)}, ${fmt(clash.va + clash.size)})`,
      );
      return false;
    }
    const count = m.size / m.pageSize;
    if (this.leafEntries + count > MAX_LEAF_ENTRIES) {
      this.error(
        line,
        at,
        `too many page-table entries (over ${MAX_LEAF_ENTRIES}); map large ranges with page=2M or page=1G`,
      );
      return false;
    }
    this.leafEntries += count;
    const leafLevel = PAGE_LEVEL.get(m.pageSize)!.level;
    const leafFlags = PTE_P | PTE_US | (m.writable ? PTE_RW : 0) | (leafLevel < 3 ? PTE_PS : 0);
    for (let off = 0; off < m.size; off += m.pageSize) {
      if (!this.mapPage(m.va + off, m.gpa + off, leafLevel, leafFlags)) {
        this.error(line, at, `guest RAM (${fmt(this.memory)}) is too small for the page tables`);
        return false;
      }
    }
    this.mappingOrder.set(m, this.mappings.length);
    this.mappings.push(m);
    this.byVa.insert(m.va, m.va + m.size, m);
    return true;
  }

  /**
   * The earliest-declared mapping overlapping `m`'s VA range, from the interval map of accepted
   * mappings (a scan over all earlier ones made 100k `.map` directives quadratic; a sorted array's
   * inserts did too when they came in falling VA order).
   */
  private clashing(m: Mapping): Mapping | undefined {
    if (!this.byVa.overlaps(m.va, m.va + m.size)) return undefined; // the common case: one descent
    let best: Mapping | undefined;
    let bestOrder = Infinity;
    for (const other of this.byVa.overlapping(m.va, m.va + m.size)) {
      const order = this.mappingOrder.get(other)!;
      if (order < bestOrder) {
        best = other;
        bestOrder = order;
      }
    }
    return best;
  }

  /** Writes one leaf entry, creating the tables above it (intermediate entries P|RW|US). */
  private mapPage(va: number, gpa: number, leafLevel: number, flags: number): boolean {
    let table = this.pml4;
    for (let level = 0; level < leafLevel; level++) {
      const slot = this.entrySlot(table, va, level);
      let next: number;
      if (slot.page[slot.i] & PTE_P)
        next = (slot.page[slot.i + 1] & 0xfffff) * 2 ** 32 + ((slot.page[slot.i] & 0xfffff000) >>> 0);
      else {
        const t = this.allocTable();
        if (t === undefined) return false;
        writeEntry(slot.page, slot.i, t, PTE_P | PTE_RW | PTE_US);
        next = t;
      }
      table = next;
    }
    const leaf = this.entrySlot(table, va, leafLevel);
    writeEntry(leaf.page, leaf.i, gpa, flags);
    return true;
  }

  private entrySlot(table: number, va: number, level: number): { page: Uint32Array; i: number } {
    const index = Math.floor(va / 2 ** LEVEL_SHIFT[level]) % 512;
    return { page: this.pages.get(table / PAGE)!, i: index * 2 };
  }

  private allocateRing(ring: Ring): void {
    const line = ring.loc.line;
    const gpa = this.allocPages(ring.size / PAGE);
    if (gpa === undefined) {
      this.error(line, { col: ring.loc.col }, `guest RAM is too small for the ${ring.engine} ring`);
      return;
    }
    ring.gpa = gpa;
    const m: Mapping = {
      va: ring.va,
      gpa,
      size: ring.size,
      writable: true,
      pageSize: PAGE,
      loc: ring.loc,
      defaultRing: true,
    };
    ring.ok = this.addMapping(m, line, { col: ring.loc.col });
  }

  /** A ring whose VA the program gave: mapped, GPA-contiguous, in guest RAM. */
  private checkRing(ring: Ring): void {
    const line = ring.loc.line;
    const at = { col: ring.loc.col };
    let base = -1;
    for (let off = 0; off < ring.size; off += PAGE) {
      const t = this.translate(ring.va + off);
      if (typeof t === 'string') return this.error(line, at, `the ${ring.engine} ring at ${fmt(ring.va)}: ${t}`);
      if (off === 0) base = t;
      else if (t !== base + off) {
        return this.error(
          line,
          at,
          `the ${ring.engine} ring is not GPA-contiguous: VA ${fmt(ring.va + off)} maps to GPA ${fmt(t)}, expected ${fmt(base + off)}`,
        );
      }
    }
    ring.gpa = base;
    ring.ok = true;
  }

  private doSurface(s: Statement & { kind: 'directive' }, line: number): void {
    const nameExpr = s.args[0].value;
    if (nameExpr.kind !== 'name' || s.args[0].key) return; // reported in pass 1
    const va = this.symbols.get(nameExpr.name.toUpperCase());
    if (va === undefined || this.symbolLine.get(nameExpr.name.toUpperCase()) !== line) return;
    const scope: Scope = { engine: 'rcs0' };
    const dim = (a: Arg | undefined, what: string, max: bigint) => {
      const e = a && this.positional(a, line);
      return e && this.evalNum(e, line, scope, what, { min: 1n, max });
    };
    const width = dim(s.args[2], 'width', 65536n);
    const height = dim(s.args[3], 'height', 65536n);
    let pitch = s.args[4] ? dim(s.args[4], 'pitch', 2n ** 32n - 1n) : width !== undefined ? width * 4 : undefined;
    if (width === undefined || height === undefined || pitch === undefined) return;
    if (pitch < width * 4) pitch = this.fail(line, s.args[4], `pitch ${pitch} is less than WIDTH*4 = ${width * 4}`);
    if (pitch === undefined) return;
    // Surfaces are read whole (PNG, sha256 in every result, the debugger's view): bounded, as fills are.
    const bytes = pitch * (height - 1) + width * 4;
    if (bytes > MAX_SURFACE_BYTES)
      return this.error(
        line,
        s.args[3],
        `surface of ${fmt(bytes)} bytes is larger than ${fmt(MAX_SURFACE_BYTES)} (${width}x${height}, pitch ${pitch})`,
      );
    if ((this.surfaceBytes += bytes) > MAX_SURFACES_BYTES)
      return this.error(line, s.args[0], `surfaces total more than ${fmt(MAX_SURFACES_BYTES)} bytes`);
    const def: SurfaceDef = { name: nameExpr.name, va, width, height, pitch, loc: this.loc(line, s.col) };
    this.surfaces.push(def);
    this.surfaceByName.set(nameExpr.name.toUpperCase(), def);
  }

  /** VA -> GPA in guest RAM (range B folded onto A), or why not. */
  private translate(va: number): number | string {
    const m = this.findMapping(va);
    if (!m) return `VA ${fmt(va)} is not mapped (no .map covers it)`;
    const raw = m.gpa + (va - m.va);
    const g = this.inRam(raw);
    return g ?? `VA ${fmt(va)} maps to GPA ${fmt(raw)}, outside guest RAM (${fmt(this.memory)} bytes)`;
  }

  private translateGgtt(va: number): number | string {
    const m = this.findGgtt(va);
    if (!m) return `global GTT address ${fmt(va)} is not mapped (no .ggtt covers it)`;
    const raw = m.gpa + (va - m.va);
    const g = this.inRam(raw);
    return g ?? `global GTT address ${fmt(va)} maps to GPA ${fmt(raw)}, outside guest RAM (${fmt(this.memory)} bytes)`;
  }

  private findGgtt(va: number): Mapping | undefined {
    return this.ggttMappings.find((m) => va >= m.va && va < m.va + m.size);
  }

  private inRam(gpa: number): number | undefined {
    if (gpa < this.memory) return gpa;
    const mirror = Number(this.mirror);
    if (gpa >= mirror && gpa < mirror + this.memory) return gpa - mirror;
    return undefined;
  }

  private findMapping(va: number): Mapping | undefined {
    return this.byVa.find(va);
  }

  /** GPA segments of a region, or an error on its first unmapped/out-of-RAM byte. */
  private resolveRegion(r: Region): boolean {
    if (r.phys) {
      if (r.va + r.size > this.memory) {
        this.error(
          r.loc.line,
          { col: r.loc.col },
          `${r.what} [${fmt(r.va)}, ${fmt(r.va + r.size)}): GPA beyond guest RAM (${fmt(this.memory)} bytes)`,
        );
        return false;
      }
      r.segments = [{ offset: 0, gpa: r.va, len: r.size }];
      return true;
    }
    const segs: Segment[] = [];
    let off = 0;
    while (off < r.size) {
      const va = r.va + off;
      const m = r.ggtt ? this.findGgtt(va) : this.findMapping(va);
      const t = r.ggtt ? this.translateGgtt(va) : this.translate(va);
      if (typeof t === 'string' || !m) {
        this.error(r.loc.line, { col: r.loc.col }, `${r.what} [${fmt(r.va)}, ${fmt(r.va + r.size)}): ${t}`);
        return false;
      }
      // A chunk stays inside one mapping and one RAM range (A, or its mirror B); the rest is the next chunk's.
      const raw = m.gpa + (va - m.va);
      const rangeEnd = raw < this.memory ? this.memory : Number(this.mirror) + this.memory;
      const len = Math.min(m.va + m.size - va, r.size - off, rangeEnd - raw);
      const last = segs[segs.length - 1];
      if (last && last.gpa + last.len === t && last.offset + last.len === off)
        segs[segs.length - 1] = { ...last, len: last.len + len };
      else segs.push({ offset: off, gpa: t, len });
      off += len;
    }
    r.segments = segs;
    return true;
  }

  private regionGpa(r: Region, off: number): number {
    for (const s of r.segments!) if (off >= s.offset && off < s.offset + s.len) return s.gpa + (off - s.offset);
    throw new Error(`offset ${off} outside ${r.what}`);
  }

  private ramPage(gpa: number): Uint32Array {
    const pfn = Math.floor(gpa / PAGE);
    let p = this.pages.get(pfn);
    if (!p) {
      p = new Uint32Array(PAGE / 4);
      this.pages.set(pfn, p);
    }
    return p;
  }

  private writeBytes(r: Region, off: number, bytes: readonly number[]): void {
    if (!r.segments) return;
    for (let k = 0; k < bytes.length; k++) {
      const gpa = this.regionGpa(r, off + k);
      const p = this.ramPage(gpa);
      const i = (gpa % PAGE) >>> 2;
      const shift = (gpa % 4) * 8;
      p[i] = ((p[i] & ~(0xff << shift)) | ((bytes[k] & 0xff) << shift)) >>> 0;
    }
  }

  private writeDwords(r: Region, off: number, dwords: readonly number[]): void {
    if (!r.segments) return;
    if ((r.va + off) % 4 !== 0) return this.writeBytes(r, off, dwordsToBytes(dwords));
    for (let k = 0; k < dwords.length; k++) {
      const gpa = this.regionGpa(r, off + 4 * k);
      this.ramPage(gpa)[(gpa % PAGE) >>> 2] = dwords[k] >>> 0;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Pass 3: emission in program order.

  private passEmit(): void {
    let stream: Stream | null = null;
    this.texts.forEach((text, i) => {
      if (this.opened[i]) {
        stream = this.opened[i]!;
        this.emitOpen(stream, i);
        return;
      }
      if (skips(text, EMIT_DIRECTIVES)) return;
      const pl = this.parsed(i);
      const s = pl.stmt;
      if (!s || s.broken) return;
      const placed = this.placements[i];
      switch (s.kind) {
        case 'directive':
          if (!EMIT_DIRECTIVES.has(s.name) || !this.checkDirectiveQuiet(s)) return;
          this.emitDirective(s, pl, stream, placed);
          return;
        case 'data':
          if (placed) this.emitData(s, pl, placed);
          return;
        case 'command':
          if (placed) this.emitCommand(s, pl, placed);
          return;
      }
    });
    if (this.contextLine && this.rings.size > 0) {
      const ring = [...this.rings.values()][0];
      this.error(
        ring.loc.line,
        { col: ring.loc.col },
        `.ring and .context (line ${this.contextLine}) do not mix: with .context, rings are fetched through the global GTT`,
      );
    }
    for (const ring of this.rings.values()) {
      if (ring.pending.length > 0 && ring.entries.length > 0) {
        const first = ring.entries[0].loc;
        this.warn(
          first.line,
          { col: first.col },
          `${4 * ring.pending.length} bytes appended to the ${ring.engine} ring after its last .submit are never submitted`,
        );
      }
    }
  }

  private emitOpen(stream: Stream, i: number): void {
    if (stream.kind === 'batch' || stream.kind === 'data') {
      if (stream.region.size > 0) this.resolveRegion(stream.region);
      return;
    }
    if (stream.kind !== 'ring') return;
    const ring = stream.ring;
    if (ring.lineIndex !== i || this.announced.has(ring.engine)) return;
    this.announced.add(ring.engine);
    this.driver.push({ op: 'ring', engine: ring.engine, va: ring.va, gpa: ring.gpa, size: ring.size, loc: ring.loc });
  }

  private emitDirective(
    s: Statement & { kind: 'directive' },
    pl: ParsedLine,
    stream: Stream | null,
    placed: Placement | undefined,
  ): void {
    const line = pl.line;
    const loc = this.loc(line, s.col);
    const scope = this.scopeOf(stream);
    switch (s.name) {
      case 'fill':
        return this.emitFill(s, pl, scope);
      case 'incbin':
        return this.emitIncbin(s, pl, scope);
      case 'write':
        return this.emitWrite(s, pl, scope);
      case 'context':
        return this.emitContext(s, pl);
      case 'dword': {
        if (!placed) return;
        const values = s.args.map((a) => {
          const e = this.positional(a, line);
          return e && this.evalU32(e, line, scope, 'dword');
        });
        if (values.some((v) => v === undefined)) return;
        const locs = s.args.map((a) => this.loc(line, a.col));
        this.emitDwords(values as number[], placed, pl, loc, locs);
        return;
      }
      case 'submit': {
        const engine = this.engineArg(s.args[0], line);
        if (!engine) return;
        const ring = this.rings.get(engine);
        if (!ring || ring.lineIndex > pl.line - 1)
          return this.error(line, s.args[0], `.submit ${engine} before any .ring ${engine}`);
        const bytes = 4 * ring.pending.length;
        if (bytes >= ring.size) {
          return this.error(
            line,
            s,
            `${bytes} bytes pending do not fit the ${fmt(ring.size)}-byte ${engine} ring (at most ${ring.size - 4} per submit)`,
          );
        }
        const offset = ring.submitted % ring.size;
        this.driver.push({
          op: 'submit',
          engine,
          offset,
          dwords: ring.pending,
          tail: (offset + bytes) % ring.size,
          entries: ring.entries,
          loc,
        });
        ring.submitted += bytes;
        ring.pending = [];
        ring.entries = [];
        return;
      }
      case 'wait': {
        const which = this.keyword(s.args[0], line, [...ENGINES, 'all'] as const, 'an engine or all');
        if (which) this.driver.push({ op: 'wait', engines: which === 'all' ? [...ENGINES] : [which], loc });
        return;
      }
      case 'mmio': {
        const eReg = this.positional(s.args[0], line);
        const eVal = this.positional(s.args[1], line);
        const offset =
          eReg && this.evalNum(eReg, line, scope, 'register offset', { min: 0n, max: BigInt(BAR0_SIZE - 4) });
        const value = eVal && this.evalU32(eVal, line, scope, 'value');
        if (offset === undefined || value === undefined) return;
        if (offset % 4 !== 0) return this.error(line, s.args[0], `register offset ${fmt(offset)} is not dword aligned`);
        if (!regAt(offset)) this.warn(line, s.args[0], `no register at BAR0 offset ${fmt(offset)}`);
        this.driver.push({ op: 'mmio', offset, value, loc });
        return;
      }
      case 'eptp': {
        const view = this.keyword(s.args[0], line, ['full', 'restricted'] as const, 'an EPT view');
        const engine = s.args[1] ? this.engineArg(s.args[1], line) : undefined;
        if (!view || (s.args[1] && !engine)) return;
        if (this.version !== undefined && !hasFeature(this.version, 'ISOLATION')) {
          this.warn(line, s.args[0], `device version ${this.version} has no address-space isolation (EPT views)`);
        }
        this.driver.push({ op: 'eptp', view: view === 'full' ? 0 : 1, engines: engine ? [engine] : [...ENGINES], loc });
        return;
      }
      default:
        return; // not in EMIT_DIRECTIVES: done in earlier passes
    }
  }

  /** The bytes `"FILE", OFFSET, SIZE` name (a sidecar binary beside the program), or undefined after reporting why not. */
  private sidecar(line: number, aFile: Arg, aOff: Arg, aSize: Arg, scope: Scope): Uint8Array | undefined {
    const e = this.positional(aFile, line);
    if (!e) return undefined;
    if (e.kind !== 'str') return this.fail(line, e, 'expected a "file name" (a string, relative to the program)');
    const offset = this.evalNum(this.positional(aOff, line) ?? aOff.value, line, scope, 'OFFSET', {
      min: 0n,
      max: 2n ** 52n,
    });
    const size = this.evalNum(this.positional(aSize, line) ?? aSize.value, line, scope, 'SIZE', {
      min: 1n,
      max: BigInt(MAX_INCBIN_BYTES),
    });
    if (offset === undefined || size === undefined) return undefined;
    if (!this.opts?.readFile)
      return this.fail(
        line,
        e,
        `"${e.text}": this program has no directory to read files from (it is not a file on disk)`,
      );
    let data = this.files.get(e.text);
    if (data === undefined) {
      try {
        data = this.opts.readFile(e.text);
      } catch (err) {
        const x = err as NodeJS.ErrnoException;
        data = x.code === 'ENOENT' ? 'no such file' : x.code === 'EISDIR' ? 'is a directory' : x.message;
      }
      this.files.set(e.text, data);
    }
    if (typeof data === 'string') return this.fail(line, e, `cannot read "${e.text}": ${data}`);
    if (offset + size > data.length)
      return this.fail(
        line,
        aSize,
        `"${e.text}" has ${data.length} bytes: OFFSET ${fmt(offset)} + SIZE ${fmt(size)} runs past its end`,
      );
    if ((this.incbinBytes += size) > MAX_INCBIN_BYTES)
      return this.fail(line, aSize, `files included total more than ${fmt(MAX_INCBIN_BYTES)} bytes`);
    return data.subarray(offset, offset + size);
  }

  /** `.incbin ADDRESS, "FILE", OFFSET, SIZE [, ggtt|phys]`: initial memory from a sidecar binary. */
  private emitIncbin(s: Statement & { kind: 'directive' }, pl: ParsedLine, scope: Scope): void {
    const line = pl.line;
    const [aAddr, aFile, aOff, aSize, aSpace] = s.args;
    const eAddr = this.positional(aAddr, line);
    const addr = eAddr && this.evalNum(eAddr, line, scope, 'ADDRESS', { min: 0n, max: BigInt(VA_LIMIT - 1) });
    const space = aSpace ? this.keyword(aSpace, line, ['ggtt', 'phys'] as const, 'the address space') : undefined;
    const bytes = this.sidecar(line, aFile, aOff, aSize, scope);
    if (addr === undefined || bytes === undefined || (aSpace && space === undefined)) return;
    if (addr + bytes.length > VA_LIMIT) return this.error(line, aSize, 'the data ends beyond the 48-bit address space');
    const region: Region = {
      kind: 'data',
      what: `.incbin at line ${line}`,
      va: addr,
      ggtt: space === 'ggtt',
      phys: space === 'phys',
      size: bytes.length,
      loc: this.loc(line, s.col),
      segments: null,
    };
    this.regions.push(region);
    if (!this.resolveRegion(region)) return;
    for (const seg of region.segments!) {
      for (let done = 0; done < seg.len;) {
        const gpa = seg.gpa + done;
        const n = Math.min(PAGE - (gpa % PAGE), seg.len - done);
        const page = this.ramPage(gpa);
        new Uint8Array(page.buffer, page.byteOffset, PAGE).set(
          bytes.subarray(seg.offset + done, seg.offset + done + n),
          gpa % PAGE,
        );
        done += n;
      }
    }
    this.listing.push({ va: addr, dwords: [], line, text: pl.text.trim(), ring: null });
  }

  /** `.write GPA, "FILE", OFFSET, SIZE` or `.write GPA, VALUE32, ...`: the driver writes guest RAM here, in program order. */
  private emitWrite(s: Statement & { kind: 'directive' }, pl: ParsedLine, scope: Scope): void {
    const line = pl.line;
    const eGpa = this.positional(s.args[0], line);
    const gpa = eGpa && this.evalNum(eGpa, line, scope, 'GPA', { min: 0n, max: BigInt(this.memory - 4) });
    if (gpa === undefined) return;
    if (gpa % 4 !== 0) return this.error(line, s.args[0], `GPA ${fmt(gpa)} is not dword aligned`);
    let dwords: number[];
    if (s.args[1].value.kind === 'str' && !s.args[1].key) {
      if (s.args.length !== 4) return this.error(line, s, `.write GPA, "FILE", OFFSET, SIZE takes 4 arguments`);
      const bytes = this.sidecar(line, s.args[1], s.args[2], s.args[3], scope);
      if (bytes === undefined) return;
      if (bytes.length % 4 !== 0)
        return this.error(
          line,
          s.args[3],
          `SIZE ${fmt(bytes.length)} is not a multiple of 4 (the driver writes dwords)`,
        );
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      dwords = Array.from({ length: bytes.length / 4 }, (_, i) => v.getUint32(4 * i, true));
    } else {
      const values = s.args.slice(1).map((a) => {
        const e = this.positional(a, line);
        return e && this.evalU32(e, line, scope, 'value');
      });
      if (values.some((v) => v === undefined)) return;
      dwords = values as number[];
    }
    if (gpa + 4 * dwords.length > this.memory)
      return this.error(
        line,
        s,
        `the write [${fmt(gpa)}, ${fmt(gpa + 4 * dwords.length)}) ends beyond guest RAM (${fmt(this.memory)})`,
      );
    this.driver.push({ op: 'write', gpa, dwords, loc: this.loc(line, s.col) });
  }

  /**
   * `.context ENGINE, start=, head=, tail=, ctl=, pml4= [, lrca=]`: an execlist submission, as a capture
   * makes it: the engine loads its ring registers and PPGTT root from a context, then runs the ring
   * (fetched through the global GTT) from head to tail.
   */
  private emitContext(s: Statement & { kind: 'directive' }, pl: ParsedLine): void {
    const line = pl.line;
    const scope: Scope = { engine: 'rcs0' };
    const engine = this.engineArg(s.args[0], line);
    const ranges: Record<string, { range: Range; align?: number }> = {
      start: { range: { min: 0n, max: 2n ** 32n - 1n }, align: PAGE },
      head: { range: U32 },
      tail: { range: U32 },
      ctl: { range: U32 },
      pml4: { range: { min: 0n, max: BigInt(GPA_LIMIT - 1) }, align: PAGE },
      lrca: { range: { min: 0n, max: 2n ** 32n - 1n } },
    };
    const got = new Map<string, number>();
    let ok = engine !== undefined;
    for (const a of s.args.slice(1)) {
      const key = a.key?.kind === 'name' ? a.key.name.toLowerCase() : '';
      const spec = Object.hasOwn(ranges, key) ? ranges[key] : undefined;
      if (!spec) {
        ok = !!this.fail(
          line,
          a.key ?? a,
          `expected KEY=VALUE with KEY one of ${Object.keys(ranges).join(', ')}: ${DIRECTIVES.context.usage}`,
        );
        continue;
      }
      if (got.has(key)) {
        ok = !!this.fail(line, a.key!, `${key}= is given twice`);
        continue;
      }
      const v = this.evalNum(a.value, line, scope, key, spec.range);
      if (v === undefined) ok = false;
      else if (spec.align && v % spec.align !== 0)
        ok = !!this.fail(line, a.value, `${key}=${fmt(v)} is not 4K aligned`);
      else got.set(key, v);
    }
    const missing = ['start', 'head', 'tail', 'ctl', 'pml4'].filter((k) => !got.has(k));
    if (missing.length)
      return this.error(
        line,
        s,
        `.context needs ${missing.map((k) => k + '=').join(', ')}: ${DIRECTIVES.context.usage}`,
      );
    if (!ok || !engine) return;
    const u = (k: string) => got.get(k)! >>> 0;
    if (!this.contextLine) this.contextLine = line;
    this.driver.push({
      op: 'context',
      engine,
      lrca: got.get('lrca') ?? 0,
      ring: { start: u('start'), head: u('head'), tail: u('tail'), ctl: u('ctl') },
      pml4: got.get('pml4')!,
      loc: this.loc(line, s.col),
    });
  }

  private emitFill(s: Statement & { kind: 'directive' }, pl: ParsedLine, scope: Scope): void {
    const line = pl.line;
    const [eVa, eSize, eVal] = s.args.map((a) => this.positional(a, line));
    const va = eVa && this.evalNum(eVa, line, scope, 'VA', { min: 0n, max: BigInt(VA_LIMIT - 1) });
    const size = eSize && this.evalNum(eSize, line, scope, 'SIZE', { min: 1n, max: BigInt(this.memory) });
    const value = eVal && this.evalU32(eVal, line, scope, 'fill value');
    if (va === undefined || size === undefined || value === undefined) return;
    if (va % 4 !== 0) return this.error(line, s.args[0], `fill VA ${fmt(va)} is not dword aligned`);
    if (size % 4 !== 0) return this.error(line, s.args[1], `fill size ${fmt(size)} is not a multiple of 4`);
    if (va + size > VA_LIMIT) return this.error(line, s.args[1], 'the fill ends beyond the 48-bit GPU VA space');
    if (value !== 0 && (this.fillBytes += size) > MAX_FILL_BYTES) {
      return this.error(line, s.args[1], `non-zero fills total more than ${fmt(MAX_FILL_BYTES)} bytes`);
    }
    const region: Region = {
      kind: 'fill',
      what: `.fill at line ${line}`,
      va,
      size,
      loc: this.loc(line, s.col),
      segments: null,
    };
    this.regions.push(region);
    if (!this.resolveRegion(region)) return;
    if (value !== 0) {
      for (const seg of region.segments!) {
        for (let gpa = seg.gpa; gpa < seg.gpa + seg.len;) {
          const pageEnd = Math.min((Math.floor(gpa / PAGE) + 1) * PAGE, seg.gpa + seg.len);
          this.ramPage(gpa).fill(value, (gpa % PAGE) >>> 2, (((pageEnd - 1) % PAGE) >>> 2) + 1);
          gpa = pageEnd;
        }
      }
    }
    this.listing.push({ va, dwords: [value], line, text: pl.text.trim(), ring: null });
  }

  private emitData(s: Statement & { kind: 'data' }, pl: ParsedLine, placed: Placement): void {
    const line = pl.line;
    const bytes: number[] = [];
    let ok = true;
    for (const a of s.args) {
      const e = this.positional(a, line);
      if (!e) {
        ok = false;
        continue;
      }
      if (s.type === 'ascii') {
        if (e.kind !== 'str') {
          ok = !!this.fail(line, e, 'ascii takes "strings"');
          continue;
        }
        for (let k = 0; k < e.text.length; k++) {
          const c = e.text.charCodeAt(k);
          if (c > 0xff) ok = !!this.fail(line, e, `character '${e.text[k]}' is not a byte`);
          bytes.push(c & 0xff);
        }
        continue;
      }
      const v = this.evaluate(e, line, this.scopeOf(placed.stream));
      if (v === undefined) {
        ok = false;
        continue;
      }
      const range = DATA_RANGE[s.type];
      if (v < range.min || v > range.max) {
        ok = !!this.fail(line, e, `${s.type} ${fmt(v)} is outside ${fmt(range.min)}..${fmt(range.max)}`);
        continue;
      }
      const n = DATA_SIZES[s.type];
      const u = BigInt.asUintN(8 * n, v);
      for (let k = 0; k < n; k++) bytes.push(Number((u >> BigInt(8 * k)) & 0xffn));
    }
    if (!ok || placed.stream.kind !== 'data') return;
    const region = placed.stream.region;
    this.writeBytes(region, placed.offset, bytes);
    this.listing.push({
      va: region.va + placed.offset,
      dwords: bytesToDwords(bytes),
      line,
      text: pl.text.trim(),
      ring: null,
    });
  }

  private emitCommand(s: Statement & { kind: 'command' }, pl: ParsedLine, placed: Placement): void {
    const line = pl.line;
    const def = placed.def!;
    const scope = this.scopeOf(placed.stream);
    const dwords =
      def.length.kind === 'pairs' ? this.encodePairs(def, s, line, scope) : this.encodeFields(def, s, line, scope);
    if (!dwords) return;
    if (dwords.length * 4 !== placed.size) {
      return this.error(
        line,
        s,
        `${def.mnemonic} came out ${dwords.length} dwords long, but its layout expected ${placed.size / 4}`,
      );
    }
    if (def.requires && this.version !== undefined && !hasFeature(this.version, def.requires)) {
      this.warn(
        line,
        s,
        `${def.mnemonic} needs ${def.requires}, which device version ${this.version} lacks: it is rejected at run time (invalid-command)`,
      );
    }
    if (placed.stream.kind === 'ring' && !def.engines.includes(placed.stream.ring.engine)) {
      this.warn(
        line,
        s,
        `${def.mnemonic} runs on ${def.engines.join(', ')} only: ${placed.stream.ring.engine} rejects it at run time (invalid-command)`,
      );
    }
    this.emitDwords(dwords, placed, pl, this.loc(line, s.col));
  }

  /** Field-driven encoding: every key is a field of the command table entry. */
  private encodeFields(
    def: CommandDef,
    s: Statement & { kind: 'command' },
    line: number,
    scope: Scope,
  ): number[] | undefined {
    const given = new Map<string, bigint>();
    const argOf = new Map<string, Arg>();
    const pitches: [CmdField, SurfaceDef][] = [];
    let ok = true;
    const names = [...def.fields.map((f) => f.name), ...def.groupFields.map((f) => `${f.name}.N`)];
    const fieldList = () =>
      names.length
        ? `fields: ${names.length > 24 ? names.slice(0, 24).join(', ') + ', ...' : names.join(', ')}`
        : 'it takes no fields';
    for (const a of s.args) {
      if (!a.key || a.key.kind !== 'name') {
        ok = !!this.fail(line, a.key ?? a, `expected FIELD=value (${def.mnemonic} ${fieldList()})`);
        continue;
      }
      const g = groupKey(def, a.key.name);
      const f =
        fieldByName(def, a.key.name) ??
        g?.field ??
        (def.length.kind === 'range' && a.key.name.toLowerCase() === 'dword_length' ? DWORD_LENGTH : undefined);
      if (!f) {
        ok = !!this.fail(line, a.key, `${def.mnemonic} has no field '${a.key.name}' (${fieldList()})`);
        continue;
      }
      if (g && g.index >= maxEntries(def)) {
        ok = !!this.fail(line, a.key, `${def.mnemonic} has room for ${maxEntries(def)} entries (${a.key.name})`);
        continue;
      }
      const key = g ? `${g.field.name}.${g.index}` : f.name;
      if (given.has(key)) {
        ok = !!this.fail(line, a.key, `field '${key}' is given twice`);
        continue;
      }
      const v = this.fieldValue(def, f, a.value, line, scope, pitches);
      if (v === undefined) {
        ok = false;
        continue;
      }
      if (v < 0n) {
        ok = !!this.fail(line, a.value, `${f.name}=${v} is negative`);
        continue;
      }
      given.set(key, v);
      argOf.set(key, a);
    }
    for (const [f, surf] of pitches) {
      const pf = f.pitchField!;
      if (!given.has(pf) && fieldByName(def, pf)) {
        given.set(pf, BigInt(surf.pitch));
        argOf.set(pf, argOf.get(f.name)!);
      }
    }
    if (!ok) return undefined;
    try {
      return encodeCommand(def, given);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      // The encoder names the field it rejects; point at that field's value.
      const named = [...argOf.keys()].find((n) => new RegExp(`\\b${n}\\b`).test(e.message));
      const at = named ? argOf.get(named)!.value : s;
      return this.fail(line, at, e.message);
    }
  }

  private fieldValue(
    def: CommandDef,
    f: CmdField,
    e: Expr,
    line: number,
    scope: Scope,
    pitches: [CmdField, SurfaceDef][],
  ): bigint | undefined {
    if (e.kind === 'name') {
      const upper = e.name.toUpperCase();
      if (f.kind === 'enum' && f.values) {
        const k = Object.keys(f.values).find((n) => n.toUpperCase() === upper);
        if (k !== undefined) return BigInt(f.values[k]);
        if (!this.symbols.has(upper)) {
          return this.fail(
            line,
            e,
            `unknown ${f.name} '${e.name}' for ${def.mnemonic} (${Object.keys(f.values).join(', ')})`,
          );
        }
      }
      if (f.pitchField) {
        const surf = this.surfaceByName.get(upper);
        if (surf) pitches.push([f, surf]);
      }
      if (f.kind === 'reg' && !this.symbols.has(upper) && !regByName(e.name, scope.engine))
        return this.fail(line, e, `unknown register '${e.name}'`);
    }
    return this.evaluate(e, line, scope);
  }

  /** MI_LOAD_REGISTER_IMM-style commands: `REGISTER=value` pairs (register name or numeric offset). */
  private encodePairs(
    def: CommandDef,
    s: Statement & { kind: 'command' },
    line: number,
    scope: Scope,
  ): number[] | undefined {
    const pairs: [number, number][] = [];
    const fields = new Map<string, bigint>();
    let ok = true;
    for (const a of s.args) {
      if (!a.key) {
        ok = !!this.fail(line, a, `expected REGISTER=value`);
        continue;
      }
      // The command's own header fields (byte_write_disables) before the pairs.
      const own = a.key.kind === 'name' ? fieldByName(def, a.key.name) : undefined;
      if (own) {
        const v = this.evalNum(a.value, line, scope, own.name, {
          min: 0n,
          max: (1n << BigInt(own.hi - own.lo + 1)) - 1n,
        });
        if (v === undefined) ok = false;
        else fields.set(own.name, BigInt(v));
        continue;
      }
      let reg: number | undefined;
      if (
        a.key.kind === 'name' &&
        !this.symbols.has(a.key.name.toUpperCase()) &&
        !regByName(a.key.name, scope.engine)
      ) {
        reg = this.fail(line, a.key, `unknown register '${a.key.name}'`);
      } else reg = this.evalNum(a.key, line, scope, 'register offset', { min: 0n, max: BigInt(MAX_REG_OFFSET) });
      if (reg !== undefined && reg % 4 !== 0)
        reg = this.fail(line, a.key, `register offset ${fmt(reg)} is not dword aligned`);
      const value = this.evalU32(a.value, line, scope, 'value');
      if (reg === undefined || value === undefined) ok = false;
      else pairs.push([reg, value]);
    }
    if (!ok) return undefined;
    try {
      return encodeCommand(def, fields, pairs);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      return this.fail(line, s, e.message);
    }
  }

  /** Puts dwords where pass 1 placed them: batch memory (and the source map) or the ring's pending list. */
  private emitDwords(
    dwords: readonly number[],
    placed: Placement,
    pl: ParsedLine,
    loc: SourceLoc,
    perDword?: readonly SourceLoc[],
  ): void {
    const st = placed.stream;
    if (st.kind === 'ring') {
      const ring = st.ring;
      ring.pending.push(...dwords);
      if (perDword)
        perDword.forEach((l, k) => ring.entries.push({ offset: (placed.offset + 4 * k) % ring.size, loc: l }));
      else ring.entries.push({ offset: placed.offset % ring.size, loc });
      this.listing.push({
        va: ring.va + (placed.offset % ring.size),
        dwords,
        line: pl.line,
        text: pl.text.trim(),
        ring: ring.engine,
      });
      return;
    }
    if (st.kind !== 'batch' && st.kind !== 'data') return;
    const r = st.region;
    const va = r.va + placed.offset;
    this.writeDwords(r, placed.offset, dwords);
    if (st.kind === 'batch') {
      if (perDword) perDword.forEach((l, k) => this.sourceMap.set(va + 4 * k, l));
      else this.sourceMap.set(va, loc);
    }
    this.listing.push({ va, dwords, line: pl.line, text: pl.text.trim(), ring: null });
  }

  // -------------------------------------------------------------------------------------------
  // Pass 4: overlaps, with the final page-table area known.

  private passChecks(): void {
    const reserved = { start: this.allocTop, end: this.memory };
    // Written regions are already folded onto range A.
    const hitsReserved = (start: number, end: number) => overlaps(start, end, reserved.start, reserved.end);
    const reservedText = `the page tables and rings the assembler allocated at the top of guest RAM [${fmt(reserved.start)}, ${fmt(reserved.end)})`;
    // A `.map` is checked by its literal GPA range: reaching the tables through the mirror range B
    // (MIRROR + GPA, the same RAM) is the deliberate way to let the GPU write its own page tables.
    for (const m of this.mappings) {
      if (m.defaultRing) continue;
      if (overlaps(m.gpa, m.gpa + m.size, reserved.start, reserved.end)) {
        this.error(
          m.loc.line,
          { col: m.loc.col },
          `.map GPA range [${fmt(m.gpa)}, ${fmt(m.gpa + m.size)}) overlaps ${reservedText}`,
        );
      }
    }
    // Regions that land in guest RAM: against the reserved area, against each other by VA and by GPA.
    const written = this.regions.filter((r) => r.size > 0);
    for (const r of written) {
      if (r.segments?.some((s) => hitsReserved(s.gpa, s.gpa + s.len)))
        this.error(r.loc.line, { col: r.loc.col }, `${r.what} overlaps ${reservedText}`);
    }
    // Addresses of different spaces (PPGTT, global GTT, physical) are compared by GPA only.
    const spaceOf = (r: Region) => (r.phys ? 2 : r.ggtt ? 1 : 0);
    const vaPairs = [0, 1, 2].flatMap((sp) =>
      overlapPairs(
        written.filter((r) => spaceOf(r) === sp).map((r) => ({ start: r.va, end: r.va + r.size, owner: r })),
      ),
    );
    const vaClash = new Set<Region>();
    for (const [a, b] of vaPairs) {
      vaClash.add(a);
      this.error(
        a.loc.line,
        { col: a.loc.col },
        `${a.what} [${fmt(a.va)}, ${fmt(a.va + a.size)}) overlaps ${b.what} (line ${b.loc.line}) [${fmt(b.va)}, ${fmt(b.va + b.size)})`,
      );
    }
    type Owner = { what: string; loc: SourceLoc; region?: Region };
    const byGpa: { start: number; end: number; owner: Owner }[] = [];
    for (const r of written)
      for (const s of r.segments ?? [])
        byGpa.push({ start: s.gpa, end: s.gpa + s.len, owner: { what: r.what, loc: r.loc, region: r } });
    for (const ring of this.rings.values()) {
      if (ring.ok && ring.explicit)
        byGpa.push({
          start: ring.gpa,
          end: ring.gpa + ring.size,
          owner: { what: `the ${ring.engine} ring`, loc: ring.loc },
        });
    }
    for (const [a, b] of overlapPairs(byGpa)) {
      if ((a.region && vaClash.has(a.region)) || (b.region && vaClash.has(b.region))) continue;
      this.error(
        a.loc.line,
        { col: a.loc.col },
        `${a.what} shares guest RAM with ${b.what} (line ${b.loc.line}) through another mapping`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

function fmt(v: number | bigint): string {
  const b = BigInt(v);
  return b < 0n ? `-0x${(-b).toString(16)}` : `0x${b.toString(16)}`;
}

function writeEntry(page: Uint32Array, i: number, addr: number, flags: number): void {
  page[i] = (((addr % 2 ** 32) & 0xfffff000) | flags) >>> 0;
  page[i + 1] = Math.floor(addr / 2 ** 32) & 0xfffff;
}

function overlaps(a0: number, a1: number, b0: number, b1: number): boolean {
  return a0 < b1 && b0 < a1;
}

/** Pairs (later interval, an earlier one it overlaps), by start address: each interval reported once. */
function overlapPairs<T>(items: { start: number; end: number; owner: T }[]): [T, T][] {
  const sorted = [...items].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: [T, T][] = [];
  let maxEnd = -1;
  let maxOwner: T | undefined;
  for (const it of sorted) {
    if (maxOwner !== undefined && it.start < maxEnd && it.owner !== maxOwner) out.push([it.owner, maxOwner]);
    if (it.end > maxEnd) {
      maxEnd = it.end;
      maxOwner = it.owner;
    }
  }
  return out;
}

function dwordsToBytes(dwords: readonly number[]): number[] {
  const out: number[] = [];
  for (const d of dwords) for (let k = 0; k < 4; k++) out.push((d >>> (8 * k)) & 0xff);
  return out;
}

function bytesToDwords(bytes: readonly number[]): number[] {
  const out: number[] = [];
  for (let k = 0; k < bytes.length; k += 4) {
    let d = 0;
    for (let j = 0; j < 4 && k + j < bytes.length; j++) d |= bytes[k + j] << (8 * j);
    out.push(d >>> 0);
  }
  return out;
}

/** Mnemonics the language accepts (for the grammar and completion). */
export function mnemonics(): string[] {
  return COMMANDS.map((c) => c.mnemonic);
}

/** Directive names with their usage lines (for completion and hover). */
export function directiveUsage(): ReadonlyMap<string, string> {
  return new Map(Object.entries(DIRECTIVES).map(([k, v]) => [k, v.usage]));
}
