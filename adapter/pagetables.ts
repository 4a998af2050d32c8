// The Page Tables and EPT scopes: the PPGTT from an engine's PDP0 and both EPT views as lazily expanded
// trees, 512 entries per table served in pages (indexedVariables), each entry decoded (SDM vol. 3A 4.5
// for PPGTT entries, vol. 3C 29.3.2 for EPT entries); EPT entries are marked range A or mirror B.

import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  addressRegister,
  entryAddress,
  EPT_BITS,
  EPT_VIEW_FULL,
  EPT_VIEW_NAMES,
  eptFlags,
  GGTT_PTE_PRESENT,
  LEVEL_NAMES,
  NOT_CAPTURED,
  PAGE_SIZE,
  PTE_BITS,
  pteFlags,
  regField,
  registerAddress,
  type EngineName,
  type Vm,
} from '../emulator';

const EPT_VIEW_FIELD = regField('EPT_VIEW', 'VIEW');
import { formatRef } from './memory';
import { Container, Format, IndexedList, ListContainer, Paging, VariableStore, hexPad, leaf } from './variables';

export const ENTRIES = 512;
/** Entries per named chunk for clients that do not page indexed variables themselves. */
const CHUNK = 64;
const PAGE_LABEL = ['512 GiB', '1 GiB', '2 MiB', '4 KiB'];

function span(level: number): number {
  return 2 ** (39 - 9 * level);
}

function entryHex(lo: number, hi: number): string {
  return '0x' + ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16).padStart(16, '0');
}

/** A 512-entry table whose entries come from one 4 KiB page of host memory. */
abstract class Table implements Container {
  constructor(
    protected readonly vm: Vm,
    readonly level: number,
    readonly base: number,
  ) {}

  /** The page holding the table, or undefined when it cannot be reached. */
  protected abstract page(): Uint32Array | undefined;
  protected abstract entry(
    store: VariableStore,
    fmt: Format,
    i: number,
    lo: number,
    hi: number,
  ): DebugProtocol.Variable;
  abstract describe(): string;

  variables(store: VariableStore, fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'named') return [];
    if (paging.filter === 'indexed' || paging.start !== undefined || paging.count !== undefined) {
      const start = Math.max(0, Math.min(ENTRIES, paging.start ?? 0));
      const count = Math.max(0, Math.min(ENTRIES - start, paging.count || ENTRIES));
      return this.entries(store, fmt, start, count);
    }
    return chunks(store, fmt, this);
  }

  entries(store: VariableStore, fmt: Format, start: number, count: number): DebugProtocol.Variable[] {
    const page = this.page();
    if (!page) return [leaf('error', `${this.describe()} cannot be read`)];
    const out: DebugProtocol.Variable[] = new Array(count);
    for (let k = 0; k < count; k++) {
      const i = start + k;
      out[k] = this.entry(store, fmt, i, page[2 * i], page[2 * i + 1]);
    }
    return out;
  }

  present(): number {
    const page = this.page();
    let n = 0;
    if (page) for (let i = 0; i < ENTRIES; i++) if (this.isPresent(page[2 * i], page[2 * i + 1])) n++;
    return n;
  }

  protected abstract isPresent(lo: number, hi: number): boolean;
}

/** Named chunks `[0..63]`, ... for clients that ignore indexedVariables. */
function chunks(store: VariableStore, fmt: Format, t: Table): DebugProtocol.Variable[] {
  const out: DebugProtocol.Variable[] = [];
  for (let s = 0; s < ENTRIES; s += CHUNK) {
    out.push({
      name: `[${s}..${s + CHUNK - 1}]`,
      value: '',
      variablesReference: store.add(new ListContainer((st, f) => t.entries(st, f, s, CHUNK))),
      indexedVariables: CHUNK,
    });
  }
  void fmt;
  return out;
}

/** An entry that points at a lower table: its decoded fields (named) and the lower table (indexed). */
class EntryWithTable implements Container {
  constructor(
    private readonly fields: Container,
    private readonly table: Table,
  ) {}

  variables(store: VariableStore, fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'named') return this.fields.variables(store, fmt, {});
    if (paging.filter === 'indexed') return this.table.variables(store, fmt, paging);
    return [...this.fields.variables(store, fmt, {}), ...this.table.variables(store, fmt, paging)];
  }
}

// ---------------------------------------------------------------------------------------------
// PPGTT.

export class PageTableRoot implements Container {
  constructor(
    private readonly vm: Vm,
    private readonly engine: EngineName,
  ) {}

  variables(store: VariableStore, _fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'indexed') return [];
    const vm = this.vm;
    const e = vm.engine(this.engine);
    const r = vm.regs.values;
    const pml4 = registerAddress(r, addressRegister('PDP0_LDW', this.engine));
    const view = EPT_VIEW_FIELD.get(r[e.slots.view]);
    const root = new PpgttTable(vm, 0, pml4, 0);
    return [
      leaf('PDP0', `GPA ${hexPad(pml4, 40)}`, {
        memoryReference: formatRef('gpa', pml4),
        type: `${this.engine} PPGTT root (PML4)`,
        evaluateName: `${this.engine}.PDP0_LDW`,
      }),
      leaf('EPT view', `${EPT_VIEW_NAMES[view]} (${view})`, { evaluateName: `${this.engine}.EPT_VIEW` }),
      { name: 'PML4', value: root.describe(), variablesReference: store.add(root), indexedVariables: ENTRIES },
      ggttNode(vm, store),
      mappingsNode(vm, store),
    ];
  }
}

/** The program's `.map` directives in program order, served a window at a time (a program may have 100k). */
function mappingsNode(vm: Vm, store: VariableStore): DebugProtocol.Variable {
  const mappings = vm.image.mappings;
  const items = new IndexedList(mappings.length, (_st, _f, start, count) =>
    mappings
      .slice(start, start + count)
      .map((m) =>
        leaf(
          `VA ${hexPad(m.va, 48)}`,
          `→ GPA ${hexPad(m.gpa, 40)}, ${m.size} bytes, ${m.writable ? 'rw' : 'ro'}, ${PAGE_LABEL[[2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12].indexOf(m.pageSize)] ?? m.pageSize} pages`,
          { memoryReference: formatRef('va', m.va), type: `${m.loc.file}:${m.loc.line}` },
        ),
      ),
  );
  return {
    name: 'mappings',
    value: `${mappings.length} .map directives`,
    variablesReference: store.add(items),
    indexedVariables: mappings.length,
  };
}

// ---------------------------------------------------------------------------------------------
// The global GTT: one flat table of 64-bit PTEs (bit 0 present, bits 47:12 the GPA), 512 per 4 KiB page
// of the table, shown a table page at a time.

function ggttNode(vm: Vm, store: VariableStore): DebugProtocol.Variable {
  const r = vm.regs.values;
  const e = vm.engines[0];
  const base = registerAddress(r, addressRegister('GGTT_BASE_LO'));
  const entries = r[e.slots.ggttEntries] >>> 0;
  if (entries === 0) return leaf('GGTT', 'none (GGTT_ENTRIES = 0)', { evaluateName: 'GGTT_ENTRIES' });
  const pages = Math.ceil(entries / ENTRIES);
  return {
    name: 'GGTT',
    value: `${entries} entries at GPA ${hexPad(base, 40)} (${entries * 4} KiB of global GTT)`,
    memoryReference: formatRef('gpa', base),
    evaluateName: 'GGTT_BASE_LO',
    variablesReference: store.add(
      new ListContainer((st) =>
        Array.from({ length: Math.min(pages, 4096) }, (_, p) => {
          const t = new GgttTable(vm, base + p * PAGE_SIZE, p * ENTRIES, Math.min(ENTRIES, entries - p * ENTRIES));
          return {
            name: `[${p * ENTRIES}..${p * ENTRIES + t.count - 1}]`,
            value: t.describe(),
            variablesReference: st.add(t),
            indexedVariables: t.count,
          };
        }),
      ),
    ),
    namedVariables: Math.min(pages, 4096),
  };
}

class GgttTable extends Table {
  constructor(
    vm: Vm,
    private readonly gpa: number,
    private readonly first: number,
    readonly count: number,
  ) {
    super(vm, 3, gpa);
  }

  protected page(): Uint32Array | undefined {
    const hpa = this.vm.ept.translate(this.gpa, EPT_VIEW_FULL);
    return hpa < 0 ? undefined : this.vm.mem.pageForRead(Math.floor(hpa / PAGE_SIZE));
  }

  describe(): string {
    return `GGTT entries ${this.first}..${this.first + this.count - 1} at GPA ${hexPad(this.gpa, 40)}: ${this.present()} present`;
  }

  protected isPresent(lo: number): boolean {
    return (lo & GGTT_PTE_PRESENT) !== 0;
  }

  protected entry(store: VariableStore, _fmt: Format, i: number, lo: number, hi: number): DebugProtocol.Variable {
    const n = this.first + i;
    const addr = n * PAGE_SIZE;
    if (i >= this.count) return leaf(`[${n}]`, 'beyond GGTT_ENTRIES');
    if (!this.isPresent(lo))
      return leaf(
        `[${n}]`,
        lo === 0 && hi === 0
          ? `not present (GGTT ${hexPad(addr, 32)})`
          : `${entryHex(lo, hi)} not present (GGTT ${hexPad(addr, 32)})`,
      );
    const gpa = entryAddress(lo, hi);
    void store;
    return leaf(`[${n}]`, `${entryHex(lo, hi)} P → 4 KiB page at GPA ${hexPad(gpa, 40)} (GGTT ${hexPad(addr, 32)})`, {
      memoryReference: formatRef('gpa', gpa),
      type: `GGTT[${n}] at GPA ${hexPad(this.gpa + 8 * i, 40)}`,
    });
  }
}

class PpgttTable extends Table {
  constructor(
    vm: Vm,
    level: number,
    private readonly gpa: number,
    private readonly vaBase: number,
  ) {
    super(vm, level, gpa);
  }

  protected page(): Uint32Array | undefined {
    const hpa = this.vm.ept.translate(this.gpa, EPT_VIEW_FULL);
    return hpa < 0 ? undefined : this.vm.mem.pageForRead(Math.floor(hpa / PAGE_SIZE));
  }

  describe(): string {
    return `${LEVEL_NAMES[this.level]} at GPA ${hexPad(this.gpa, 40)}, VA ${hexPad(this.vaBase, 48)}: ${this.present()} present`;
  }

  /** Present entries; in a hang dump's replay, those leading to memory the dump captured. */
  protected isPresent(lo: number, hi: number): boolean {
    return (lo & (1 << PTE_BITS.P)) !== 0 && !this.vm.uncaptured(entryAddress(lo, hi));
  }

  protected entry(store: VariableStore, _fmt: Format, i: number, lo: number, hi: number): DebugProtocol.Variable {
    const name = `[${i}]`;
    const va = this.vaBase + i * span(this.level);
    if ((lo & (1 << PTE_BITS.P)) === 0)
      return leaf(
        name,
        lo === 0 && hi === 0
          ? `not present (VA ${hexPad(va, 48)})`
          : `${entryHex(lo, hi)} not present (VA ${hexPad(va, 48)})`,
      );
    const level = this.level;
    const isLeaf = level === 3 || (level > 0 && (lo & (1 << PTE_BITS.PS)) !== 0);
    const addr = entryAddress(lo, hi);
    if (this.vm.uncaptured(addr))
      return leaf(name, `${NOT_CAPTURED} (VA ${hexPad(va, 48)} - ${hexPad(va + span(level) - 1, 48)})`, {
        type: `${LEVEL_NAMES[level]}[${i}] = ${entryHex(lo, hi)}`,
      });
    const flags = pteFlags(lo, hi, level);
    const fields = new ListContainer(() => {
      const bit = (b: number) => (b >= 32 ? (hi >>> (b - 32)) & 1 : (lo >>> b) & 1);
      const rows: DebugProtocol.Variable[] = [
        leaf('entry', entryHex(lo, hi), {
          type: `${LEVEL_NAMES[level]}[${i}] at GPA ${hexPad(this.gpa + 8 * i, 40)}`,
          memoryReference: formatRef('gpa', this.gpa + 8 * i),
        }),
        leaf('VA range', `${hexPad(va, 48)} - ${hexPad(va + span(level) - 1, 48)}`),
        leaf('address', `GPA ${hexPad(addr, 40)}`, { type: 'bits 51:12', memoryReference: formatRef('gpa', addr) }),
      ];
      for (const [k, b] of Object.entries(PTE_BITS)) {
        if (k === 'PS' && (level === 0 || level === 3)) continue;
        rows.push(leaf(k, String(bit(b)), { type: `bit ${b}` }));
      }
      return rows;
    });
    if (isLeaf) {
      return {
        name,
        value: `${entryHex(lo, hi)} ${flags} → ${PAGE_LABEL[level]} page at GPA ${hexPad(addr, 40)} (VA ${hexPad(va, 48)})`,
        variablesReference: store.add(fields),
        memoryReference: formatRef('va', va),
      };
    }
    const next = new PpgttTable(this.vm, level + 1, addr, va);
    return {
      name,
      value: `${entryHex(lo, hi)} ${flags} → ${LEVEL_NAMES[level + 1]} at GPA ${hexPad(addr, 40)} (VA ${hexPad(va, 48)})`,
      variablesReference: store.add(new EntryWithTable(fields, next)),
      namedVariables: 13,
      indexedVariables: ENTRIES,
      memoryReference: formatRef('gpa', addr),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// EPT: both views, entries tagged with the GPA range they cover.

export class EptRoot implements Container {
  constructor(private readonly vm: Vm) {}

  variables(store: VariableStore, _fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'indexed') return [];
    const vm = this.vm;
    const mem = vm.cfg.memory;
    const mb = vm.ept.mirrorBase;
    const iso = vm.cfg.isolation;
    const out: DebugProtocol.Variable[] = [
      leaf('range A', `[${hexPad(0, 40)}, ${hexPad(mem, 40)}) guest RAM, ${mem / 2 ** 20} MiB`, {
        memoryReference: formatRef('gpa', 0),
      }),
      leaf(
        'mirror B',
        iso
          ? `[${hexPad(mb, 40)}, ${hexPad(mb + mem, 40)}) mirrors range A (same HPAs); full view only`
          : 'none (isolation off)',
        iso ? { memoryReference: formatRef('gpa', mb) } : {},
      ),
    ];
    for (let v = 0; v < 2; v++) {
      const root = new EptTable(vm, 0, vm.ept.roots[v], 0);
      const what = !iso
        ? v === 0
          ? 'maps range A'
          : 'the same tables as full (isolation off)'
        : v === 0
          ? 'maps range A and mirror B'
          : 'maps range A only';
      out.push({
        name: `${EPT_VIEW_NAMES[v]} (view ${v})`,
        value: `root HPA ${hexPad(vm.ept.roots[v], 40)}: ${what}`,
        variablesReference: store.add(root),
        indexedVariables: ENTRIES,
      });
    }
    for (const e of vm.engines) {
      const view = EPT_VIEW_FIELD.get(vm.regs.values[e.slots.view]);
      out.push(
        leaf(`${e.name} runs under`, `${EPT_VIEW_NAMES[view]} (EPT_VIEW = ${view})`, {
          evaluateName: `${e.name}.EPT_VIEW`,
        }),
      );
    }
    return out;
  }
}

class EptTable extends Table {
  constructor(
    vm: Vm,
    level: number,
    private readonly hpa: number,
    private readonly gpaBase: number,
  ) {
    super(vm, level, hpa);
  }

  protected page(): Uint32Array {
    return this.vm.mem.pageForRead(Math.floor(this.hpa / PAGE_SIZE));
  }

  describe(): string {
    return `EPT ${LEVEL_NAMES[this.level]} at HPA ${hexPad(this.hpa, 40)}, GPA ${hexPad(this.gpaBase, 40)}: ${this.present()} present`;
  }

  protected isPresent(lo: number): boolean {
    return (lo & 7) !== 0;
  }

  private region(gpa: number, size: number): string {
    const mem = this.vm.cfg.memory;
    const mb = this.vm.ept.mirrorBase;
    const inA = gpa < mem;
    const inB = this.vm.cfg.isolation && gpa + size > mb && gpa < mb + mem;
    return inA && inB ? 'range A and mirror B' : inA ? 'range A' : inB ? 'mirror B' : 'outside guest RAM';
  }

  protected entry(store: VariableStore, _fmt: Format, i: number, lo: number, hi: number): DebugProtocol.Variable {
    const name = `[${i}]`;
    const level = this.level;
    const gpa = this.gpaBase + i * span(level);
    if (!this.isPresent(lo)) return leaf(name, `not present (GPA ${hexPad(gpa, 40)})`);
    const isLeaf = level === 3 || (level > 0 && (lo & (1 << EPT_BITS.LARGE)) !== 0);
    const addr = entryAddress(lo, hi);
    const region = this.region(gpa, span(level));
    const fields = new ListContainer(() => {
      const rows: DebugProtocol.Variable[] = [
        leaf('entry', entryHex(lo, hi), {
          type: `EPT ${LEVEL_NAMES[level]}[${i}] at HPA ${hexPad(this.hpa + 8 * i, 40)}`,
        }),
        leaf('GPA range', `${hexPad(gpa, 40)} - ${hexPad(gpa + span(level) - 1, 40)} (${region})`),
        leaf('address', `HPA ${hexPad(addr, 44)}`, { type: 'bits 51:12' }),
        leaf('R', String(lo & 1), { type: 'bit 0' }),
        leaf('W', String((lo >>> 1) & 1), { type: 'bit 1' }),
        leaf('X', String((lo >>> 2) & 1), { type: 'bit 2' }),
      ];
      if (isLeaf)
        rows.push(
          leaf('memory type', String((lo >>> EPT_BITS.MEMTYPE_LO) & 7), { type: 'bits 5:3 (6 = write-back)' }),
          leaf('ignore PAT', String((lo >>> EPT_BITS.IGNORE_PAT) & 1), { type: 'bit 6' }),
        );
      if (level === 1 || level === 2)
        rows.push(leaf('large page', String((lo >>> EPT_BITS.LARGE) & 1), { type: 'bit 7' }));
      return rows;
    });
    if (isLeaf) {
      return {
        name,
        value: `${entryHex(lo, hi)} ${eptFlags(lo, true)} → ${PAGE_LABEL[level]} at HPA ${hexPad(addr, 44)} (GPA ${hexPad(gpa, 40)}, ${region})`,
        variablesReference: store.add(fields),
        memoryReference: formatRef('gpa', gpa),
      };
    }
    const next = new EptTable(this.vm, level + 1, addr, gpa);
    return {
      name,
      value: `${entryHex(lo, hi)} ${eptFlags(lo, false)} → EPT ${LEVEL_NAMES[level + 1]} at HPA ${hexPad(addr, 44)} (GPA ${hexPad(gpa, 40)}, ${region})`,
      variablesReference: store.add(new EntryWithTable(fields, next)),
      namedVariables: 6,
      indexedVariables: ENTRIES,
    };
  }
}
