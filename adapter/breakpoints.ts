// Breakpoints of every kind (source lines, functions = mnemonics or labels, instructions = GPU VAs, data =
// guest memory or register writes, exceptions = GPU error kinds) and the checks the stepping loops make:
// `before` a step (is the next actor about to run a breakpointed command?) and `after` it (did it write?).

import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  ACCESS_WRITE,
  commandByMnemonic,
  commandIndex,
  COMMANDS,
  FAULT_KINDS,
  GpuErrorKind,
  PAGE_SIZE,
  regByName,
  RegInstance,
  REGISTERS,
  STEP_COMMAND,
  Vm,
  type Engine,
} from '../emulator';
import { EvalContext, Expr, evaluate, formatValue, parseExpression } from './expression';
import {
  AddressSpace,
  formatRef,
  gpaToHpa,
  pagingContext,
  parseRef,
  peekCommand,
  peekDword,
  peekMnemonic,
  vaToHpa,
} from './memory';
import { listingOf } from './listing';
import { DRIVER_THREAD, commandLoc, driverLoc, threadOfEngine } from './stack';

export type StopKind =
  'breakpoint' | 'function breakpoint' | 'instruction breakpoint' | 'data breakpoint' | 'exception';

export interface Hit {
  readonly reason: StopKind;
  readonly threadId: number;
  readonly ids: number[];
  readonly description: string;
  readonly text?: string;
  /** A `not-emulated` stop: the draw or dispatch about to retire. */
  readonly notEmulated?: { readonly mnemonic: string; readonly va: number };
}

/** What every breakpoint kind shares: condition, hit count, log message. */
interface Common {
  readonly id: number;
  verified: boolean;
  message?: string;
  condition?: Expr;
  hitCondition?: { op: string; n: number };
  logMessage?: string;
  hits: number;
}

interface LineBp extends Common {
  readonly requestedLine: number;
  line: number;
}

interface FunctionBp extends Common {
  readonly name: string;
  mnemonic?: string;
  va?: number;
}

interface InstructionBp extends Common {
  readonly va: number;
}

/** What a data breakpoint watches: a register, or bytes of an address space. */
export interface DataWatch {
  readonly reg?: RegInstance;
  readonly space?: AddressSpace;
  readonly addr?: number;
  readonly bytes?: number;
}

interface DataBp extends Common {
  readonly dataId: string;
  readonly reg?: RegInstance;
  readonly space?: AddressSpace;
  readonly addr?: number;
  readonly bytes?: number;
}

/** Not a GPU error: stops before a draw or dispatch that will run (the engine retires it without running shaders). */
export const NOT_EMULATED_FILTER = 'not-emulated';

export const EXCEPTION_FILTERS: DebugProtocol.ExceptionBreakpointsFilter[] = [
  ...FAULT_KINDS.map((kind) => ({
    filter: kind,
    label: kind,
    description: `Stop when a GPU command raises ${kind} (SPEC section 5)`,
    default: true,
  })),
  {
    filter: NOT_EMULATED_FILTER,
    label: 'not-emulated (draws and dispatches)',
    description:
      'Stop before a draw or dispatch that will run (3DPRIMITIVE, GPGPU_WALKER, MEDIA_OBJECT*; not when predicated off): its shaders are not run, it retires with no memory effect',
    default: false,
  },
];

const HIT_CONDITION = /^\s*(>=|<=|==|>|<|%)?\s*(\d+)\s*$/;
const MAX_WATCH_BYTES = 4096;

/** Describes a data breakpoint target: `va:0x..:N`, `gpa:0x..:N` or `reg:rcs0.CS_GPR0`. */
export function dataIdOfMemory(space: AddressSpace, addr: number, bytes: number): string {
  return `${formatRef(space, addr)}:${bytes}`;
}

export function dataIdOfRegister(r: RegInstance): string {
  return `reg:${r.name}`;
}

export class Breakpoints {
  /** Messages logpoints have written (a motion looks at its client's unread output when this moves). */
  logged = 0;
  private nextId = 1;
  private program: string | undefined;
  private readonly lines = new Map<string, LineBp[]>();
  private functions: FunctionBp[] = [];
  private instructions: InstructionBp[] = [];
  private data: DataBp[] = [];
  readonly exceptions = new Set<GpuErrorKind>(FAULT_KINDS);
  /** The `not-emulated` filter is on. */
  notEmulated = false;

  // Indexes rebuilt by `index()`.
  private codeLines = new Map<number, Set<number>>();
  private driverLines = new Set<number>();
  private byVa = new Map<number, (LineBp | FunctionBp | InstructionBp)[]>();
  private byDriverLine = new Map<number, LineBp[]>();
  private mnemonics = new Map<string, FunctionBp[]>();
  private anyBefore = false;
  /** The VA pages of byVa's addresses. */
  private vaPages = new Set<number>();

  // Data breakpoint bookkeeping between `arm` and `after`.
  private watchedHpa: { bp: DataBp; hpa: number; bytes: number }[] = [];
  private regPrev: { bp: DataBp; last: number[]; value: number[] }[] = [];

  constructor(private readonly output: (text: string) => void) {}

  /** The DAP source a breakpoint's file key stands for (the session serves a listing by reference). */
  sourceOf: (file: string) => DebugProtocol.Source = (file) => ({ name: path.basename(file), path: file });

  // ---------------------------------------------------------------------------------------------
  // Setting breakpoints (each `set` replaces that kind's list, as DAP does).

  setLines(
    sourcePath: string,
    requested: readonly DebugProtocol.SourceBreakpoint[],
    vm: Vm | undefined,
  ): DebugProtocol.Breakpoint[] {
    const key = normalize(sourcePath);
    const list: LineBp[] = requested.map((b) =>
      this.common<LineBp>(b, { requestedLine: b.line, line: b.line } as LineBp),
    );
    this.lines.set(key, list);
    if (vm) this.index(vm);
    else
      for (const b of list)
        if (b.verified) Object.assign(b, { verified: false, message: 'resolved when the program is launched' });
    return list.map((b) => this.toDap(b, sourcePath));
  }

  setFunctions(requested: readonly DebugProtocol.FunctionBreakpoint[], vm: Vm | undefined): DebugProtocol.Breakpoint[] {
    this.functions = requested.map((b) =>
      this.common<FunctionBp>(b, { name: String(b.name ?? '').trim() } as FunctionBp),
    );
    if (vm) this.index(vm);
    return this.functions.map((b) => this.toDap(b));
  }

  setInstructions(
    requested: readonly DebugProtocol.InstructionBreakpoint[],
    vm: Vm | undefined,
  ): DebugProtocol.Breakpoint[] {
    this.instructions = requested.map((b) => {
      const ref = parseRef(b.instructionReference);
      const off = typeof b.offset === 'number' && Number.isInteger(b.offset) ? b.offset : 0;
      const va = ref && ref.space === 'va' ? ref.addr + off : -1;
      const bp = this.common<InstructionBp>(b, { va } as InstructionBp);
      if (va < 0 || va >= 2 ** 48)
        Object.assign(bp, { verified: false, message: `'${b.instructionReference}' is not a GPU VA` });
      return bp;
    });
    if (vm) this.index(vm);
    return this.instructions.map((b) => this.toDap(b, undefined, b.va >= 0 ? `0x${b.va.toString(16)}` : undefined));
  }

  setData(requested: readonly DebugProtocol.DataBreakpoint[], vm: Vm | undefined): DebugProtocol.Breakpoint[] {
    this.data = requested.map((b) => {
      const parsed = parseDataId(b.dataId);
      const bp = this.common<DataBp>(b, { dataId: String(b.dataId), ...parsed } as DataBp);
      if (!parsed)
        Object.assign(bp, { verified: false, message: `'${b.dataId}' is not a data breakpoint id of this debugger` });
      else if (b.accessType !== undefined && b.accessType !== 'write')
        Object.assign(bp, { verified: false, message: 'only write access can be watched' });
      return bp;
    });
    if (vm) this.index(vm);
    return this.data.map((b) => this.toDap(b));
  }

  setExceptionFilters(filters: readonly string[]): DebugProtocol.Breakpoint[] {
    this.exceptions.clear();
    this.notEmulated = filters.includes(NOT_EMULATED_FILTER);
    const known = (f: string) => f === NOT_EMULATED_FILTER || (FAULT_KINDS as readonly string[]).includes(f);
    for (const f of filters) if ((FAULT_KINDS as readonly string[]).includes(f)) this.exceptions.add(f as GpuErrorKind);
    return filters.map((f) => ({ verified: known(f), message: known(f) ? undefined : `no GPU error kind '${f}'` }));
  }

  /** Is this path the program being debugged? */
  isProgram(vm: Vm, sourcePath: string): boolean {
    return normalize(sourcePath) === programKey(vm);
  }

  /** Lines of the program where a breakpoint can stop (commands and driver operations). */
  breakableLines(vm: Vm): number[] {
    if (this.program !== programKey(vm)) this.index(vm);
    return [...new Set([...this.codeLines.keys(), ...this.driverLines])].sort((a, b) => a - b);
  }

  /** After a (re)launch: resolve every breakpoint against the program; returns the line breakpoints for `breakpoint` events. */
  index(vm: Vm): DebugProtocol.Breakpoint[] {
    const image = vm.image;
    this.program = programKey(vm);
    const listing = listingOf(vm);
    this.codeLines = new Map();
    this.driverLines = new Set();
    const addCode = (line: number, va: number) => {
      let s = this.codeLines.get(line);
      if (!s) this.codeLines.set(line, (s = new Set()));
      s.add(va);
    };
    if (listing) {
      for (const [line, vas] of listing.commandLines()) for (const va of vas) addCode(line, va);
      for (let pc = 0; pc < image.driver.length; pc++) this.driverLines.add(listing.driverLoc(pc)!.line);
    } else {
      for (const [va, loc] of image.sourceMap) addCode(loc.line, va);
      const ringVa = new Map<string, number>();
      for (const op of image.driver) {
        this.driverLines.add(op.loc.line);
        if (op.op === 'ring') ringVa.set(op.engine, op.va);
        if (op.op === 'submit')
          for (const e of op.entries) addCode(e.loc.line, (ringVa.get(op.engine) ?? 0) + e.offset);
      }
    }
    const all = [...new Set([...this.codeLines.keys(), ...this.driverLines])].sort((a, b) => a - b);

    this.byVa = new Map();
    this.byDriverLine = new Map();
    this.mnemonics = new Map();
    const atVa = (va: number, bp: LineBp | FunctionBp | InstructionBp) => {
      const l = this.byVa.get(va);
      if (l) l.push(bp);
      else this.byVa.set(va, [bp]);
    };
    const changed: DebugProtocol.Breakpoint[] = [];
    for (const [file, list] of this.lines) {
      for (const bp of list) {
        const ok = file === this.program;
        const line = ok ? all.find((l) => l >= bp.requestedLine) : undefined;
        bp.line = line ?? bp.requestedLine;
        const wasBad = bp.message;
        if (line === undefined) {
          bp.verified = false;
          bp.message = ok
            ? 'no command or driver operation at or after this line'
            : 'this file is not the program being debugged';
        } else if (!bp.message || !bp.message.startsWith('bad ')) {
          bp.verified = true;
          bp.message = undefined;
          for (const va of this.codeLines.get(line) ?? []) atVa(va, bp);
          if (this.driverLines.has(line)) {
            const l = this.byDriverLine.get(line);
            if (l) l.push(bp);
            else this.byDriverLine.set(line, [bp]);
          }
        }
        if (wasBad !== bp.message || bp.line !== bp.requestedLine) changed.push(this.toDap(bp, file));
      }
    }
    for (const bp of this.functions) {
      if (bp.message?.startsWith('bad ')) continue;
      const def = commandByMnemonic(bp.name);
      const sym = image.symbols.get(bp.name.toUpperCase());
      bp.mnemonic = undefined;
      bp.va = undefined;
      if (def) {
        bp.mnemonic = def.mnemonic;
        const l = this.mnemonics.get(def.mnemonic);
        if (l) l.push(bp);
        else this.mnemonics.set(def.mnemonic, [bp]);
      } else if (sym !== undefined) {
        bp.va = sym;
        atVa(sym, bp);
      }
      bp.verified = !!def || sym !== undefined;
      bp.message = bp.verified ? undefined : `'${bp.name}' is neither a command mnemonic nor a label of the program`;
    }
    for (const bp of this.instructions) if (bp.va >= 0 && bp.verified) atVa(bp.va, bp);
    for (const bp of this.data) {
      if (
        bp.reg === undefined &&
        bp.space !== undefined &&
        bp.addr !== undefined &&
        bp.addr >= (bp.space === 'va' ? 2 ** 48 : 2 ** (vm.cfg.physBits + 1))
      ) {
        bp.verified = false;
        bp.message = `${bp.dataId} is outside the ${bp.space === 'va' ? 'GPU VA' : 'guest physical'} space`;
      }
    }
    this.anyBefore = this.byVa.size > 0 || this.byDriverLine.size > 0 || this.mnemonics.size > 0;
    this.vaPages = new Set([...this.byVa.keys()].map((va) => Math.floor(va / PAGE_SIZE)));
    return changed;
  }

  /**
   * May engine `e` run on in its current batch page without a check before each command (Vm.runAhead)?
   * Yes when no check could stop it there: no code breakpoint in the page, and no function (mnemonic),
   * not-emulated or data breakpoints at all. Driver breakpoints cannot matter: the driver is blocked.
   */
  pageClear(e: Engine): boolean {
    if (this.notEmulated || this.mnemonics.size > 0 || this.hasData) return false;
    return !this.vaPages.has(Math.floor(e.nextVa() / PAGE_SIZE));
  }

  get hasData(): boolean {
    return this.data.some((b) => b.verified);
  }

  /** The verified data breakpoints, when they are all a reverse continue can stop at (no line, instruction, function or not-emulated stops). */
  get onlyData(): readonly DataWatch[] | null {
    return this.anyBefore || this.notEmulated || !this.hasData ? null : this.data.filter((b) => b.verified);
  }

  get hasAny(): boolean {
    return this.anyBefore || this.hasData;
  }

  // ---------------------------------------------------------------------------------------------
  // Checks made by the stepping loops.

  /**
   * Before a step: does the next actor stand on a breakpoint whose condition holds? In reverse mode,
   * hit counts are not counted and log points never stop.
   */
  before(vm: Vm, reverse = false): Hit | null {
    if (!this.anyBefore && !this.notEmulated) return null;
    const a = vm.nextActor();
    if (a === null) return null;
    const hit = this.anyBefore ? this.breakpointBefore(vm, a, reverse) : null;
    return hit ?? (this.notEmulated && a !== 'driver' ? notEmulatedBefore(vm, a) : null);
  }

  private breakpointBefore(vm: Vm, a: Engine | 'driver', reverse: boolean): Hit | null {
    if (a === 'driver') {
      const list = this.byDriverLine.get(driverLoc(vm, vm.driverPc)!.line);
      if (!list) return null;
      const ids = list.filter((bp) => this.shouldStop(bp, vm, 'rcs0', reverse)).map((b) => b.id);
      return ids.length ? { reason: 'breakpoint', threadId: DRIVER_THREAD, ids, description: 'Breakpoint' } : null;
    }
    if (a.semPolls > 0) return null; // a waiting semaphore is one position, not one per poll
    const va = a.nextVa();
    const list = this.byVa.get(va);
    let hit: Hit | null = null;
    if (list) {
      let line: number | undefined | null = null;
      for (const bp of list) {
        if ('requestedLine' in bp) {
          if (line === null) line = commandLoc(vm, a.name, va)?.line;
          if (line !== bp.line) continue;
        }
        if (this.shouldStop(bp, vm, a.name, reverse)) hit = addHit(hit, bp, a, kindOf(bp));
      }
    }
    if (this.mnemonics.size > 0) {
      const m = peekMnemonic(vm, a, va);
      const fl = m === undefined ? undefined : this.mnemonics.get(m);
      if (fl)
        for (const bp of fl)
          if (this.shouldStop(bp, vm, a.name, reverse)) hit = addHit(hit, bp, a, 'function breakpoint');
    }
    return hit;
  }

  /** Before a step, when data breakpoints exist: where the watched bytes live now, and register write stamps. */
  arm(vm: Vm): void {
    this.watchedHpa.length = 0;
    this.regPrev.length = 0;
    const a = vm.nextActor();
    for (const bp of this.data) {
      if (!bp.verified) continue;
      if (bp.reg) {
        const slots = bp.reg.def.width / 32;
        const last: number[] = [];
        const value: number[] = [];
        for (let i = 0; i < slots; i++) {
          last.push(vm.regs.lastWrite[bp.reg.slot + i]);
          value.push(vm.regs.values[bp.reg.slot + i]);
        }
        this.regPrev.push({ bp, last, value });
      } else if (a !== null && a !== 'driver') {
        const ctx = bp.space === 'va' ? pagingContext(vm, a.name) : null;
        for (let off = 0; off < bp.bytes!;) {
          const at = bp.addr! + off;
          const inPage = Math.min(bp.bytes! - off, PAGE_SIZE - (at % PAGE_SIZE));
          const hpa = ctx ? vaToHpa(ctx, at, ACCESS_WRITE) : gpaToHpa(vm, at);
          const hpaAny = hpa >= 0 || !ctx ? hpa : vaToHpa(ctx, at);
          if (hpaAny >= 0) this.watchedHpa.push({ bp, hpa: hpaAny, bytes: inPage });
          off += inPage;
        }
      }
    }
  }

  /** After a step armed with `arm`: did it write a watched location? */
  after(vm: Vm, actor: Engine | 'driver' | null, result: number, stepBefore: number, reverse = false): Hit | null {
    let hit: Hit | null = null;
    const threadId = actor === null || actor === 'driver' ? DRIVER_THREAD : threadOfEngine(actor.name);
    const engine = actor && actor !== 'driver' ? actor.name : 'rcs0';
    const seen = new Set<DataBp>();
    for (const r of this.regPrev) {
      const slots = r.last.length;
      let written = false;
      for (let i = 0; i < slots; i++) {
        const s = r.bp.reg!.slot + i;
        if ((vm.regs.lastWrite[s] === stepBefore && r.last[i] !== stepBefore) || vm.regs.values[s] !== r.value[i])
          written = true;
      }
      if (written && !seen.has(r.bp)) {
        seen.add(r.bp);
        if (this.shouldStop(r.bp, vm, engine, reverse)) hit = addDataHit(hit, r.bp, threadId);
      }
    }
    if (this.watchedHpa.length > 0 && result === STEP_COMMAND && actor && actor !== 'driver') {
      for (let i = 0; i < actor.segCount; i++) {
        const s0 = actor.segHpa[i];
        const s1 = s0 + actor.segBytes[i];
        for (const w of this.watchedHpa) {
          if (seen.has(w.bp) || s1 <= w.hpa || s0 >= w.hpa + w.bytes) continue;
          seen.add(w.bp);
          if (this.shouldStop(w.bp, vm, engine, reverse)) hit = addDataHit(hit, w.bp, threadId);
        }
      }
    }
    return hit;
  }

  // ---------------------------------------------------------------------------------------------

  private shouldStop(bp: Common, vm: Vm, engine: EvalContext['engine'], reverse: boolean): boolean {
    const ctx: EvalContext = { vm, engine };
    if (bp.condition) {
      try {
        if (evaluate(bp.condition, ctx) === 0n) return false;
      } catch (e) {
        if (!reverse) this.output(`breakpoint ${bp.id}: condition failed (${(e as Error).message}); stopping\n`);
        return true;
      }
    }
    if (reverse) return bp.logMessage === undefined;
    bp.hits++;
    if (bp.hitCondition && !hitConditionHolds(bp.hitCondition, bp.hits)) return false;
    if (bp.logMessage !== undefined) {
      this.output(interpolate(bp.logMessage, ctx) + '\n');
      this.logged++;
      return false;
    }
    return true;
  }

  private common<T extends Common>(b: { condition?: string; hitCondition?: string; logMessage?: string }, rest: T): T {
    const bp = { ...rest, id: this.nextId++, verified: true, hits: 0 } as T;
    const problems: string[] = [];
    if (typeof b.condition === 'string' && b.condition.trim() !== '') {
      try {
        bp.condition = parseExpression(b.condition);
      } catch (e) {
        problems.push(`bad condition: ${(e as Error).message}`);
      }
    }
    if (typeof b.hitCondition === 'string' && b.hitCondition.trim() !== '') {
      const m = HIT_CONDITION.exec(b.hitCondition);
      if (m) bp.hitCondition = { op: m[1] ?? '>=', n: Number(m[2]) };
      else problems.push(`bad hit count '${b.hitCondition}' (use N, >N, >=N, <N, <=N, ==N or %N)`);
    }
    if (typeof b.logMessage === 'string') bp.logMessage = b.logMessage;
    if (problems.length) {
      bp.verified = false;
      bp.message = problems.join('; ');
    }
    return bp;
  }

  private toDap(
    bp: Common & { line?: number },
    sourcePath?: string,
    instructionReference?: string,
  ): DebugProtocol.Breakpoint {
    return {
      id: bp.id,
      verified: bp.verified,
      message: bp.message,
      ...(sourcePath !== undefined ? { source: this.sourceOf(sourcePath), line: bp.line } : {}),
      ...(instructionReference ? { instructionReference } : {}),
    };
  }
}

/** The key of what breakpoint lines refer to: the program file, or the listing of a capture or dump. */
function programKey(vm: Vm): string {
  return normalize(listingOf(vm)?.file ?? vm.image.file);
}

function normalize(p: string): string {
  const r = path.resolve(p);
  return process.platform === 'win32' ? r.toLowerCase() : r;
}

function kindOf(bp: LineBp | FunctionBp | InstructionBp): StopKind {
  return 'requestedLine' in bp ? 'breakpoint' : 'name' in bp ? 'function breakpoint' : 'instruction breakpoint';
}

function addHit(h: Hit | null, bp: Common, e: Engine, reason: StopKind): Hit {
  if (h) {
    h.ids.push(bp.id);
    return h;
  }
  return {
    reason,
    threadId: threadOfEngine(e.name),
    ids: [bp.id],
    description: reason[0].toUpperCase() + reason.slice(1),
  };
}

function addDataHit(h: Hit | null, bp: DataBp, threadId: number): Hit {
  if (h) {
    h.ids.push(bp.id);
    return h;
  }
  return { reason: 'data breakpoint', threadId, ids: [bp.id], description: `Data breakpoint: ${bp.dataId} written` };
}

/** The `not-emulated` stop: the engine's next command is a draw or dispatch that will run (not predicated off). */
function notEmulatedBefore(vm: Vm, e: Engine): Hit | null {
  if (e.semPolls > 0 || !e.busy()) return null;
  const va = e.nextVa();
  const header = peekDword(vm, e, va);
  if (header === undefined) return null;
  const idx = commandIndex(header, vm.gen);
  if (idx < 0 || COMMANDS[idx].execution !== 'not-emulated') return null;
  const dwords = peekCommand(vm, e, va);
  if (!dwords || !e.drawWouldRun(idx, dwords)) return null;
  const m = COMMANDS[idx].mnemonic;
  return {
    reason: 'exception',
    threadId: threadOfEngine(e.name),
    ids: [],
    description: `Not emulated: ${m}`,
    text: `${m} at GPU VA 0x${va.toString(16)} is about to retire without running its shaders (no memory effect); continue goes on past it`,
    notEmulated: { mnemonic: m, va },
  };
}

function hitConditionHolds(c: { op: string; n: number }, hits: number): boolean {
  switch (c.op) {
    case '>':
      return hits > c.n;
    case '>=':
      return hits >= c.n;
    case '<':
      return hits < c.n;
    case '<=':
      return hits <= c.n;
    case '==':
      return hits === c.n;
    default:
      return c.n > 0 && hits % c.n === 0;
  }
}

/** `{expr}` in a log message is replaced by the expression's value. */
export function interpolate(message: string, ctx: EvalContext): string {
  return message.replace(/\{([^{}]*)\}/g, (_m, expr: string) => {
    try {
      return formatValue(evaluate(parseExpression(expr), ctx));
    } catch (e) {
      return `<${(e as Error).message}>`;
    }
  });
}

function parseDataId(id: unknown): Pick<DataBp, 'reg' | 'space' | 'addr' | 'bytes'> | undefined {
  if (typeof id !== 'string') return undefined;
  const reg = /^reg:(.+)$/i.exec(id);
  if (reg) {
    const r = regByName(reg[1]);
    return r && REGISTERS.includes(r) ? { reg: r } : undefined;
  }
  const m = /^((?:va|gpa):0x[0-9a-f]+)(?::(\d+))?$/i.exec(id);
  if (!m) return undefined;
  const ref = parseRef(m[1]);
  const bytes = m[2] === undefined ? 4 : Number(m[2]);
  if (!ref || !(bytes >= 1 && bytes <= MAX_WATCH_BYTES)) return undefined;
  return { space: ref.space, addr: ref.addr, bytes };
}
