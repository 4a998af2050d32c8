// What a register field, a command field or a pipeline state field means, where clients show it: each
// such variable carries an `evaluateName` that evaluates to its value, with its meaning in the result's
// `type` and, for hovers (which most clients show alone, without `type`), after the value itself.
//
// The names: a register field is `(REG >> LO) & MASK` (also assignable, assign.ts); a field of the
// command a frame is at is `$command.FIELD`; a field of an engine's retired state is
// `$state.MNEMONIC.FIELD`.

import {
  decodeCommand,
  EngineName,
  fieldByName,
  FieldDef,
  fieldPlacement,
  groupKey,
  RegInstance,
  type Vm,
} from '../emulator';
import { Expr, parseExpression, resolveName } from './expression';
import { peekCommand } from './memory';
import { STATE_PREFIX, fieldText, pipelineState } from './pipeline';
import { Format } from './variables';

export interface Described {
  /** The value as the Variables view shows it (undefined: the expression's own value stands). */
  readonly value?: string;
  /** What it is and where its bits sit. */
  readonly description: string;
}

export const COMMAND_PREFIX = '$command.';

export const commandFieldName = (field: string): string => `${COMMAND_PREFIX}${field}`;
export const registerFieldName = (r: RegInstance, f: FieldDef): string =>
  `(${r.name} >> ${f.lo}) & 0x${((1n << BigInt(f.hi - f.lo + 1)) - 1n).toString(16)}`;

export const registerFieldDescription = (r: RegInstance, f: FieldDef): string =>
  `${r.name}.${f.name}, ${f.lo === f.hi ? `bit ${f.lo}` : `bits ${f.hi}:${f.lo}`}: ${f.desc}`;

/**
 * The meaning of `text` when it names a described field; undefined for anything else (which then
 * evaluates as an expression). `va`: the command the frame is at (for `$command.`).
 */
export function describe(
  vm: Vm,
  text: string,
  engine: EngineName,
  va: number | undefined,
  fmt: Format,
): Described | undefined {
  if (text.startsWith(COMMAND_PREFIX)) return commandField(vm, text.slice(COMMAND_PREFIX.length), engine, va, fmt);
  if (text.startsWith(STATE_PREFIX)) return stateField(vm, text.slice(STATE_PREFIX.length), engine);
  if (!text.includes('&')) return undefined;
  let e: Expr;
  try {
    e = parseExpression(text);
  } catch {
    return undefined;
  }
  const m = registerField(e);
  if (!m) return undefined;
  const n = resolveName(m.name, { vm, engine });
  if (n?.kind !== 'register') return undefined;
  const f = n.reg.def.fields.find((x) => BigInt(x.lo) === m.lo && (1n << BigInt(x.hi - x.lo + 1)) - 1n === m.mask);
  return f ? { description: registerFieldDescription(n.reg, f) } : undefined;
}

/** `(NAME >> LO) & MASK` or `NAME & MASK`. */
function registerField(e: Expr): { name: string; lo: bigint; mask: bigint } | undefined {
  if (e.kind !== 'binary' || e.op !== '&' || e.right.kind !== 'num') return undefined;
  if (e.left.kind === 'name') return { name: e.left.name, lo: 0n, mask: e.right.value };
  if (e.left.kind === 'binary' && e.left.op === '>>' && e.left.left.kind === 'name' && e.left.right.kind === 'num')
    return { name: e.left.left.name, lo: e.left.right.value, mask: e.right.value };
  return undefined;
}

function commandField(vm: Vm, key: string, engine: EngineName, va: number | undefined, fmt: Format): Described {
  if (va === undefined) throw new DescribeError(`${engine} is at no command`);
  const dwords = peekCommand(vm, vm.engine(engine), va);
  const d = dwords && decodeCommand(dwords, 0, dwords.length, vm.gen);
  if (!d || typeof d === 'string')
    throw new DescribeError(`the command at GPU VA 0x${va.toString(16)} cannot be decoded`);
  const f = fieldByName(d.def, key) ?? groupKey(d.def, key)?.field;
  const v = d.fields.get(key) ?? d.fields.get(key.toLowerCase());
  if (!f || v === undefined) throw new DescribeError(`${d.def.mnemonic} has no field '${key}'`);
  return {
    value: fieldText(f, v, fmt, engine),
    description: `${d.def.mnemonic}.${key}, ${fieldPlacement(f)}: ${f.desc}`,
  };
}

function stateField(vm: Vm, rest: string, engine: EngineName): Described {
  const dot = rest.indexOf('.');
  const mnemonic = (dot < 0 ? rest : rest.slice(0, dot)).toUpperCase();
  const key = dot < 0 ? '' : rest.slice(dot + 1);
  const c = pipelineState(vm, engine).commands.find((x) => x.mnemonic === mnemonic);
  if (!c) throw new DescribeError(`no ${mnemonic} has retired on ${engine}`);
  const f = c.fields?.find((x) => x.name === key || x.name === key.toLowerCase());
  if (!f) throw new DescribeError(`${mnemonic} has no field '${key}'`);
  const where = f.gpa !== undefined ? (f.gpa ? ` (GPA ${f.gpa})` : ' (not mapped)') : '';
  return {
    value: f.value + where,
    description: `${mnemonic}.${f.name}, ${f.placement}: ${f.description}${f.walk ? `; ${f.walk}` : ''}`,
  };
}

export class DescribeError extends Error {}
