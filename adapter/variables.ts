// The Variables view's machinery: a store of lazily expanded containers behind variablesReference
// handles (valid until the VM moves), list containers and value formatting (hex unless asked otherwise).

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Vm } from '../emulator/vm';

export interface Format {
  readonly hex: boolean;
}

export interface Paging {
  readonly filter?: 'indexed' | 'named';
  readonly start?: number;
  readonly count?: number;
}

/** A node of the Variables tree whose children are computed when asked for. */
export interface Container {
  variables(store: VariableStore, fmt: Format, paging: Paging): DebugProtocol.Variable[];
  /** setVariable on a child; returns the new value as shown. Throws a SetError when it cannot. */
  set?(name: string, value: string, fmt: Format): { value: string };
  /** dataBreakpointInfo on a child. */
  dataInfo?(name: string): DebugProtocol.DataBreakpointInfoResponse['body'];
}

export class SetError extends Error {}

export class VariableStore {
  private items: Container[] = [];

  constructor(readonly vm: Vm) {}

  add(c: Container): number {
    this.items.push(c);
    return this.items.length;
  }

  get(ref: unknown): Container | undefined {
    return typeof ref === 'number' && Number.isInteger(ref) && ref >= 1 ? this.items[ref - 1] : undefined;
  }

  /** Handles are valid only while the VM stands still. */
  clear(): void {
    this.items = [];
  }
}

export function hexPad(v: number | bigint, bits: number): string {
  return '0x' + BigInt(v).toString(16).padStart(bits / 4, '0');
}

export function num(v: number | bigint, fmt: Format, bits = 32): string {
  return fmt.hex ? hexPad(v, bits) : BigInt(v).toString(10);
}

export function leaf(name: string, value: string, extra: Partial<DebugProtocol.Variable> = {}): DebugProtocol.Variable {
  return { name, value, variablesReference: 0, ...extra };
}

/** A fixed list of variables (each child container added lazily by a thunk). */
export class ListContainer implements Container {
  constructor(private readonly build: (store: VariableStore, fmt: Format) => DebugProtocol.Variable[]) {}

  variables(store: VariableStore, fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'indexed') return [];
    const all = this.build(store, fmt);
    const start = paging.start ?? 0;
    return paging.count ? all.slice(start, start + paging.count) : all.slice(start);
  }
}

