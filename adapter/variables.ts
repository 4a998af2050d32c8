// The Variables view's machinery: a store of lazily expanded containers behind variablesReference
// handles (valid until the VM moves), list containers and value formatting (hex unless asked otherwise).

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Vm } from '../emulator';

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
  return (
    '0x' +
    BigInt(v)
      .toString(16)
      .padStart(bits / 4, '0')
  );
}

export function num(v: number | bigint, fmt: Format, bits = 32): string {
  return fmt.hex ? hexPad(v, bits) : BigInt(v).toString(10);
}

export function leaf(name: string, value: string, extra: Partial<DebugProtocol.Variable> = {}): DebugProtocol.Variable {
  return { name, value, variablesReference: 0, ...extra };
}

/** Items one group holds, for clients that ask a long indexed list for everything. */
export const INDEX_GROUP = 100;

type Items = (store: VariableStore, fmt: Format, start: number, count: number) => DebugProtocol.Variable[];

/**
 * A long list served by index: its variable says `indexedVariables` and clients ask for windows
 * (filter 'indexed', start, count), so an answer's size follows the window, never the list. A client
 * that asks for everything gets the items when they are few, else named groups `[a..b]` of at most
 * INDEX_GROUP (nested as needed). `named`: children shown by name beside the items.
 */
export class IndexedList implements Container {
  constructor(
    readonly length: number,
    private readonly items: Items,
    private readonly named: (store: VariableStore, fmt: Format) => DebugProtocol.Variable[] = () => [],
  ) {}

  variables(store: VariableStore, fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'named') return this.named(store, fmt);
    if (paging.filter === 'indexed' || paging.start !== undefined || paging.count !== undefined) {
      const start = Math.max(0, Math.min(this.length, paging.start ?? 0));
      const count = Math.max(0, Math.min(this.length - start, paging.count || this.length));
      return this.items(store, fmt, start, count);
    }
    return [...this.named(store, fmt), ...groups(store, fmt, this.length, this.items)];
  }
}

function groups(store: VariableStore, fmt: Format, length: number, items: Items): DebugProtocol.Variable[] {
  if (length <= INDEX_GROUP) return items(store, fmt, 0, length);
  let size = INDEX_GROUP;
  while (length / size > INDEX_GROUP) size *= INDEX_GROUP;
  const out: DebugProtocol.Variable[] = [];
  for (let a = 0; a < length; a += size) {
    const n = Math.min(length - a, size);
    const sub = new IndexedList(n, (st, f, start, count) => items(st, f, a + start, count));
    out.push({ name: `[${a}..${a + n - 1}]`, value: '', variablesReference: store.add(sub), indexedVariables: n });
  }
  return out;
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
