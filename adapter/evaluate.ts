// The debug console and hovers: console commands (`translate`, `x/Nx`, `caps`, `snapshots`, `snapshot`,
// `rollback N`, `goto T`, `diff A [B]`, `errors`, `help`), expressions over registers, labels and
// memory, hovers on registers, labels and mnemonics, and completions.

import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  CAP_REG_DEFS,
  capName,
  commandByMnemonic,
  COMMANDS,
  DEVICE_REG_DEFS,
  ENGINE_REGS,
  EngineName,
  ENGINES,
  EPT_VIEW_NAMES,
  NOT_CAPTURED,
  regField,
  translationLines,
  walkPciCaps,
  walkPciExtCaps,
  type Vm,
} from '../emulator';
import { Expr, evaluate, formatValue, isName, parseExpression, resolveName } from './expression';
import { DescribeError, Described, describe } from './descriptions';
import { Comparison, snapshotIndex, snapshotWindow } from './history';
import type { CustomBody } from './protocol';
import { AddressSpace, formatRef, readDwords } from './memory';
import { registerVariable } from './scopes';
import { Format, VariableStore, hexPad } from './variables';

/** What console commands need from the session (commands that move the VM go through it). */
export interface ConsoleHost {
  readonly vm: Vm;
  readonly store: VariableStore;
  /** Where the VM runs (`vm` is its replica here when it has moved). */
  readonly host: string;
  snapshot(): string;
  rollback(id: number): string;
  /** Time travel (slices, progress, cancel): what the console prints once it is over. */
  goto(commands: number): Promise<string>;
  /** Compare Snapshots of kept snapshot indices (list length: now), in slices with progress and cancel. */
  compare(a: number, b: number): Promise<Comparison>;
}

export class ConsoleError extends Error {}

const MAX_DUMP_DWORDS = 4096;

const COMMAND_HELP: readonly [string, string][] = [
  [
    'REGISTER | LABEL | EXPR',
    "value of a register (of the frame's engine unless prefixed: bcs0.CS_GPR0), label, surface or expression; [ADDR] reads a dword at a GPU VA",
  ],
  [
    'translate [ggtt] VA [full|restricted]',
    "every step of the PPGTT (or global GTT) and EPT walks of a GPU VA (the frame engine's PDP0)",
  ],
  ['x/Nx ADDR', 'N dwords at a GPU VA (x/Nd decimal; ADDR may be gpa:EXPR for guest physical)'],
  ['caps', 'capability registers and PCI capability lists, exposed next to physical'],
  [
    'snapshots [@N]',
    'the kept snapshots: id, time (commands), reason, pages, bytes; the newest 64 (@N: from the N-th)',
  ],
  ['snapshot', 'take a snapshot now'],
  ['rollback N', 'restore snapshot N (its id)'],
  ['goto T', 'travel to time T: right after the T-th command retired (forward or backward)'],
  [
    'diff A [B] [@N]',
    'what changed from snapshot A to snapshot B (default: now): registers, surfaces and the changed pages, 32 at a time (@N: from the N-th)',
  ],
  ['errors', 'the GPU errors so far'],
  ['digest', 'sha256 of the whole VM state (registers, engines, driver, guest memory): equal digests, equal states'],
];

const CONSOLE_WORDS = [
  'help',
  'translate',
  'x/',
  'caps',
  'snapshots',
  'snapshot',
  'rollback',
  'goto',
  'diff',
  'errors',
  'digest',
];

/** Changed pages, and kept snapshots, the console lists at a time. */
const CONSOLE_PAGES = 32;
const CONSOLE_SNAPSHOTS = 64;

/** A window of kept snapshots, one a line, and how to list the others. */
function snapshotsText(w: CustomBody<'vgpu/snapshots'>): string {
  const lines = w.snapshots.map(
    (s) =>
      `#${String(s.id).padEnd(5)} t=${String(s.commands).padEnd(9)} step ${String(s.step).padEnd(9)} ${(s.reason + (s.engine ? ' ' + s.engine : '')).padEnd(17)} ${String(s.pages).padStart(5)} pages ${String(s.bytes).padStart(9)} bytes${s.current ? '  <- now' : ''}`,
  );
  const end = w.start + w.snapshots.length;
  if (w.start > 0 || end < w.total) {
    const more = [
      w.start > 0 ? `'snapshots @${Math.max(0, w.start - CONSOLE_SNAPSHOTS)}' lists older ones` : '',
      end < w.total ? `'snapshots @${end}' newer ones` : '',
    ].filter((x) => x);
    lines.push(`snapshots ${w.start}..${end - 1} of ${w.total} kept: ${more.join(', ')}`);
  }
  return lines.join('\n') || 'no snapshots kept';
}

/** A comparison as the console prints it: registers, changed pages [from, from + CONSOLE_PAGES) and how to see more, surfaces. */
function diffText(c: Comparison, from: number, again: string): string {
  const w = c.window('', from, CONSOLE_PAGES);
  const hexr = ([s, e]: [number, number]) => `0x${s.toString(16)}-0x${(e - 1).toString(16)}`;
  const lines = [
    ...w.registers.map((r) => `${r.name.padEnd(24)} ${r.old} -> ${r.new}`),
    ...w.pages.map(
      (p) => `GPA ${p.gpa}: ${p.bytes} byte${p.bytes === 1 ? '' : 's'} in ${p.ranges.map(hexr).join(', ')}`,
    ),
  ];
  if (w.totalPages > 0 && (w.start > 0 || w.more > 0)) {
    lines.push(
      `pages ${w.start}..${w.start + w.pages.length - 1} of ${w.totalPages} changed (${w.changedBytes} bytes)${w.more > 0 ? `: '${again} @${w.start + w.pages.length}' lists the next` : ''}`,
    );
  }
  lines.push(
    ...w.surfaces.filter((s) => s.changedPixels > 0).map((s) => `surface ${s.name}: ${s.changedPixels} pixels changed`),
  );
  return lines.join('\n') || 'no differences';
}

/** `va`: the command the request's frame is at (what `$command.FIELD` reads). */
export function evaluateRequest(
  host: ConsoleHost,
  args: DebugProtocol.EvaluateArguments,
  engine: EngineName,
  fmt: Format,
  va?: number,
): DebugProtocol.EvaluateResponse['body'] | Promise<DebugProtocol.EvaluateResponse['body']> {
  const text = String(args.expression ?? '').trim();
  if (text === '') throw new ConsoleError('nothing to evaluate');
  let described: Described | undefined;
  try {
    described = describe(host.vm, text, engine, va, fmt);
  } catch (e) {
    if (e instanceof DescribeError) throw new ConsoleError(e.message);
    throw e;
  }
  if (described) {
    // A field's evaluateName: its meaning in `type`, and after the value in a hover, where most clients show nothing else.
    const base =
      described.value !== undefined
        ? { result: described.value, variablesReference: 0 }
        : expressionResult(host, text, engine, fmt);
    return {
      ...base,
      result: args.context === 'hover' ? `${base.result}  ${described.description}` : base.result,
      type: described.description,
    };
  }
  if (args.context === 'hover') return hover(host, text, engine, fmt);
  if (args.context === 'repl' || args.context === undefined) {
    const r = consoleCommand(host, text, engine, fmt);
    if (r instanceof Promise) return r.then((result) => ({ result, variablesReference: 0 }));
    if (r !== undefined) return { result: r, variablesReference: 0 };
  }
  return expressionResult(host, text, engine, fmt);
}

function expressionResult(
  host: ConsoleHost,
  text: string,
  engine: EngineName,
  fmt: Format,
): DebugProtocol.EvaluateResponse['body'] {
  const vm = host.vm;
  let e: Expr;
  try {
    e = parseExpression(text);
  } catch (err) {
    throw new ConsoleError(`${(err as Error).message} (type 'help' for the console commands)`);
  }
  if (e.kind === 'name') {
    const n = resolveName(e.name, { vm, engine });
    if (n?.kind === 'register') {
      const v = registerVariable(vm, host.store, n.reg, fmt, engine);
      return { result: v.value, type: v.type, variablesReference: v.variablesReference };
    }
    if (n?.kind === 'symbol') {
      const va = Number(n.value);
      const [d] = readDwords(vm, { space: 'va', addr: va }, 1, engine);
      const content = d === undefined ? 'unmapped' : `[${hexPad(d, 32)}]`;
      return {
        result: `${formatValue(n.value, fmt.hex)} ${content}`,
        type: n.surface ? 'surface' : 'label',
        variablesReference: 0,
        memoryReference: formatRef('va', va),
      };
    }
  }
  let v: bigint;
  try {
    v = evaluate(e, { vm, engine });
  } catch (err) {
    throw new ConsoleError((err as Error).message);
  }
  return { result: fmt.hex ? `${formatValue(v)} (${v})` : v.toString(), variablesReference: 0 };
}

function hover(
  host: ConsoleHost,
  text: string,
  engine: EngineName,
  fmt: Format,
): DebugProtocol.EvaluateResponse['body'] {
  const def = commandByMnemonic(text);
  if (def) return { result: `${def.mnemonic}: ${def.desc} (${def.engines.join('/')})`, variablesReference: 0 };
  const n = isName(text) ? resolveName(text, { vm: host.vm, engine }) : undefined;
  if (!n || n.kind === 'constant') {
    if (n) return { result: formatValue(n.value, fmt.hex), variablesReference: 0 };
    throw new ConsoleError(`'${text}' is not a register, label or mnemonic`);
  }
  // Most clients show a hover's result and nothing else (not its type): the register's meaning goes there.
  if (n.kind === 'register') {
    const r = expressionResult(host, text, engine, fmt);
    const d = n.reg.def;
    return { ...r, result: `${r.result}  ${n.reg.name} (${d.width}-bit ${d.access}): ${d.desc}` };
  }
  return expressionResult(host, text, engine, fmt);
}

/** A console command's output, or undefined when the text is not a console command. */
function consoleCommand(
  host: ConsoleHost,
  text: string,
  engine: EngineName,
  fmt: Format,
): string | Promise<string> | undefined {
  const vm = host.vm;
  const [word, ...rest] = text.split(/\s+/);
  const arg = rest.join(' ');
  const lower = word.toLowerCase();
  const value = (t: string) => {
    try {
      return evaluate(parseExpression(t), { vm, engine });
    } catch (e) {
      throw new ConsoleError(`${word}: ${(e as Error).message}`);
    }
  };
  const integer = (t: string, what: string) => {
    if (t === '') throw new ConsoleError(`${word} needs ${what}`);
    const v = value(t);
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConsoleError(`${word}: ${what} out of range`);
    return Number(v);
  };
  switch (lower) {
    case 'help':
    case '?':
      return COMMAND_HELP.map(([c, d]) => `${c.padEnd(32)} ${d}`).join('\n');
    case 'translate': {
      const m = /^(ggtt\s+)?(.*?)(?:\s+(full|restricted))?$/i.exec(arg)!;
      const va = integer(m[2].trim(), 'a GPU VA');
      if (va >= 2 ** 48) throw new ConsoleError(`translate: ${hexPad(va, 48)} is not a 48-bit GPU VA`);
      const view = m[3]
        ? EPT_VIEW_NAMES.indexOf(m[3].toLowerCase() as 'full')
        : regField('EPT_VIEW', 'VIEW').get(vm.regs.values[vm.engine(engine).slots.view]);
      return formatWalk(vm, va, view, engine, m[1] ? 'ggtt' : 'ppgtt');
    }
    case 'caps':
      return `host: ${host.host}\n${formatCaps(vm)}`;
    case 'snapshots': {
      const at = arg.startsWith('@') ? integer(arg.slice(1), 'a position after @') : undefined;
      if (arg !== '' && at === undefined)
        throw new ConsoleError('snapshots takes no argument, or @N: the kept snapshots from the N-th');
      return snapshotsText(snapshotWindow(vm, { start: at, count: CONSOLE_SNAPSHOTS }));
    }
    case 'snapshot':
      return host.snapshot();
    case 'rollback':
      return host.rollback(integer(arg, 'a snapshot id'));
    case 'goto':
      return host.goto(integer(arg, 'a time (commands retired)'));
    case 'diff': {
      const words = rest.filter((x) => x !== '');
      const at = words.find((x) => x.startsWith('@'));
      const ids = words.filter((x) => x !== at);
      if (ids.length < 1 || ids.length > 2)
        throw new ConsoleError('diff takes one or two snapshot ids (and @N: the changed pages from the N-th)');
      const a = snapshotIndex(vm, integer(ids[0], 'a snapshot id'));
      const b = ids[1] === undefined ? vm.snapshots.list.length : snapshotIndex(vm, integer(ids[1], 'a snapshot id'));
      if (a < 0 || b < 0) throw new ConsoleError('diff: no kept snapshot with that id (see `snapshots`)');
      const from = at === undefined ? 0 : integer(at.slice(1), 'a page number after @');
      return host.compare(a, b).then((c) => diffText(c, from, `diff ${ids.join(' ')}`));
    }
    case 'digest':
      return `${vm.digest()} (t=${vm.commands}, step ${vm.step})`;
    case 'errors':
      return (
        vm.errors
          .map(
            (e) =>
              `${e.kind} on ${e.engine} at ${e.file}:${e.line}:${e.col}, t=${e.commands}${e.rolledBack ? ' (rolled back)' : ''}: ${e.message}`,
          )
          .join('\n') || 'no GPU errors'
      );
  }
  const x = /^x(?:\/(\d*)([xdu])?)?$/i.exec(word);
  if (x) {
    const n = Math.min(x[1] ? Number(x[1]) : 1, MAX_DUMP_DWORDS);
    const gpa = /^gpa\s*:/i.exec(arg);
    const space: AddressSpace = gpa ? 'gpa' : 'va';
    const addr = integer(gpa ? arg.slice(gpa[0].length).trim() : arg, 'an address');
    return dump(vm, space, addr, n, (x[2] ?? 'x').toLowerCase(), engine, fmt);
  }
  return undefined;
}

function dump(
  vm: Vm,
  space: AddressSpace,
  addr: number,
  n: number,
  how: string,
  engine: EngineName,
  fmt: Format,
): string {
  if (addr % 4 !== 0) throw new ConsoleError(`x: ${hexPad(addr, 32)} is not dword aligned`);
  const words = readDwords(vm, { space, addr }, n, engine);
  const lines: string[] = [];
  for (let i = 0; i < words.length; i += 4) {
    const cells = words
      .slice(i, i + 4)
      .map((w) =>
        w === undefined
          ? '??????????'
          : how === 'x' && fmt.hex
            ? hexPad(w, 32)
            : how === 'd'
              ? String(w | 0)
              : String(w >>> 0),
      );
    lines.push(`${space}:${hexPad(addr + 4 * i, space === 'va' ? 48 : 40)}  ${cells.join(' ')}`);
  }
  return lines.join('\n');
}

function formatWalk(vm: Vm, va: number, view: number, engine: EngineName, space: 'ppgtt' | 'ggtt'): string {
  const t = vm.translate(va, view, engine, space);
  const out = translationLines(t, { va, view, engine, space }, 'aligned');
  if (!t.fault && vm.uncaptured(t.gpa!)) out[out.length - 1] += `  ${NOT_CAPTURED}`;
  return out.join('\n');
}

function formatCaps(vm: Vm): string {
  const rows: string[][] = [['register', `exposed (version ${vm.cfg.version})`, `physical (gen${vm.cfg.hostGen})`]];
  for (const d of CAP_REG_DEFS) {
    const e = vm.exposed.registers.get(d.name) ?? 0n;
    const p = vm.physical.registers.get(d.name) ?? 0n;
    rows.push([d.name, hexPad(e, d.width), hexPad(p, d.width) + (e !== p ? '  <- virtualized' : '')]);
  }
  const list = (ext: boolean) => {
    const walkList = ext ? walkPciExtCaps : walkPciCaps;
    const e = walkList(vm.exposed.config);
    const p = walkList(vm.physical.config);
    return p.map((c) => [
      `${ext ? 'ext ' : ''}cap ${capName(c.id, ext)}`,
      e.some((x) => x.id === c.id) ? `at 0x${c.offset.toString(16)}` : 'hidden',
      `at 0x${c.offset.toString(16)}`,
    ]);
  };
  rows.push(...list(false), ...list(true));
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(w[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Completions.

export function completions(
  vm: Vm | undefined,
  text: string,
  column: number,
): { items: DebugProtocol.CompletionItem[]; start: number; length: number } {
  const before = text.slice(0, Math.max(0, Math.min(text.length, column)));
  const m = /[a-z_$][a-z0-9_$.]*$|x\/?$/i.exec(before);
  const word = m ? m[0] : '';
  const start = before.length - word.length;
  const lw = word.toLowerCase();
  const items: DebugProtocol.CompletionItem[] = [];
  const add = (label: string, type: DebugProtocol.CompletionItemType, detail?: string) => {
    if (label.toLowerCase().startsWith(lw) && !items.some((i) => i.label === label))
      items.push({ label, type, detail });
  };
  if (before.slice(0, start).trim() === '') for (const w of CONSOLE_WORDS) add(w, 'keyword');
  for (const d of ENGINE_REGS) add(d.name, 'variable', d.desc);
  for (const e of ENGINES) for (const d of ENGINE_REGS) if (lw.includes('.')) add(`${e}.${d.name}`, 'variable', d.desc);
  for (const e of ENGINES) add(`${e}.`, 'module');
  for (const d of DEVICE_REG_DEFS) add(d.name, 'variable', d.desc);
  for (const d of CAP_REG_DEFS) add(d.name, 'variable', d.desc);
  add('MIRROR', 'value', 'start of the mirror range B (2^physBits)');
  if (vm) {
    for (const [name, value] of vm.image.symbols)
      add(
        name.toLowerCase(),
        vm.image.surfaces.some((s) => s.name.toUpperCase() === name) ? 'reference' : 'value',
        hexPad(value, 48),
      );
  }
  for (const c of COMMANDS) if (lw.length >= 3) add(c.mnemonic, 'function', c.desc);
  return { items: items.slice(0, 500), start, length: word.length };
}
