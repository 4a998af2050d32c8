// setExpression: the expressions that can be assigned to — a register (the frame's engine unless
// prefixed), a register's bit field written `(REG >> LO) & MASK` (the evaluateName the Registers scope
// gives each field, so VS Code's Set Value works there too), or the dword `[ADDR]` at a GPU VA.

import { RAM_HPA, Vm, type EngineName } from '../emulator';
import {
  Expr,
  ExpressionError,
  evaluate,
  formatValue,
  parseExpression,
  registerValue,
  resolveName,
} from './expression';
import { pagingContext, vaToHpa } from './memory';
import { parseValue, writeRegister } from './scopes';
import { SetError } from './variables';

/** Assigns `valueText` (an expression) to `target`; returns the new value of the target as shown. */
export function assign(vm: Vm, engine: EngineName, target: string, valueText: string, hex: boolean): string {
  let e: Expr;
  try {
    e = parseExpression(target);
  } catch (err) {
    throw new SetError(`cannot assign to '${target}': ${(err as ExpressionError).message}`);
  }
  const ctx = { vm, engine };
  const v = parseValue(vm, valueText, engine);
  if (e.kind === 'name') {
    const n = resolveName(e.name, ctx);
    if (!n || n.kind !== 'register')
      throw new SetError(`cannot assign to '${target}': only a register, a register field or [ADDR] can be set`);
    writeRegister(vm, n.reg, v);
    return formatValue(registerValue(vm, n.reg), hex);
  }
  const field = fieldOf(e);
  if (field) {
    const n = resolveName(field.name, ctx);
    if (!n || n.kind !== 'register')
      throw new SetError(`cannot assign to '${target}': ${field.name} is not a register`);
    if (v < 0n || v > field.mask)
      throw new SetError(`the field is ${field.mask.toString(2).length} bits wide; ${valueText} does not fit`);
    const old = registerValue(vm, n.reg);
    writeRegister(vm, n.reg, (old & ~(field.mask << field.lo)) | (v << field.lo));
    return formatValue((registerValue(vm, n.reg) >> field.lo) & field.mask, hex);
  }
  if (e.kind === 'mem') {
    const addr = evaluate(e.addr, ctx);
    if (addr < 0n || addr >= 1n << 48n || addr % 4n !== 0n)
      throw new SetError(`[0x${addr.toString(16)}] is not a dword-aligned GPU VA`);
    if (v < -(1n << 31n) || v >= 1n << 32n) throw new SetError(`${valueText} does not fit in a dword`);
    const hpa = vaToHpa(pagingContext(vm, engine), Number(addr));
    if (hpa < 0) throw new SetError(`GPU VA 0x${addr.toString(16)} is not mapped for ${engine}`);
    if (vm.editMemory('gpa', hpa - RAM_HPA, [Number(v & 0xffffffffn)]) !== 1)
      throw new SetError(`GPU VA 0x${addr.toString(16)} cannot be written`);
    return formatValue(BigInt(vm.readGpa(hpa - RAM_HPA)! >>> 0), hex);
  }
  throw new SetError(
    `cannot assign to '${target}': only a register, a register field (REG >> LO) & MASK or [ADDR] can be set`,
  );
}

/** `(NAME >> LO) & MASK` with MASK = 2^k - 1 (or `NAME & MASK`): a bit field. */
function fieldOf(e: Expr): { name: string; lo: bigint; mask: bigint } | null {
  if (e.kind !== 'binary' || e.op !== '&' || e.right.kind !== 'num') return null;
  const mask = e.right.value;
  if (mask <= 0n || (mask & (mask + 1n)) !== 0n) return null;
  if (e.left.kind === 'name') return { name: e.left.name, lo: 0n, mask };
  if (
    e.left.kind === 'binary' &&
    e.left.op === '>>' &&
    e.left.left.kind === 'name' &&
    e.left.right.kind === 'num' &&
    e.left.right.value < 64n
  )
    return { name: e.left.left.name, lo: e.left.right.value, mask };
  return null;
}
