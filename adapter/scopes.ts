// The scopes of a frame and their trees: Command (decoded fields and the predicted write set),
// Registers (table names, fields as children, editable), Capability Registers (exposed next to
// physical, PCI lists), Pipeline State (see pipeline.ts), Page Tables and EPT (see pagetables.ts),
// Snapshots; Driver on the driver thread.

import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  CAP_REG_DEFS,
  capName,
  CmdField,
  decodeCommand,
  disassembleOne,
  EngineName,
  EPT_VIEW_FULL,
  FieldDef,
  fieldPlacement,
  GENXML_REG_DEFS,
  NOT_CAPTURED,
  opcapRows,
  regAt,
  regByName,
  RegDef,
  regDisplayName,
  RegInstance,
  registerAddress,
  REGISTERS,
  snapshotBytes,
  walkPciCaps,
  walkPciExtCaps,
  type Snapshot,
  type Vm,
} from '../emulator';
import { dataIdOfRegister } from './breakpoints';
import { commandFieldName, registerFieldName } from './descriptions';
import { ExpressionError, evaluateText, registerValue } from './expression';
import { formatRef, peekCommand } from './memory';
import { EptRoot, PageTableRoot } from './pagetables';
import { PipelineStateContainer, fieldText as commandFieldText } from './pipeline';
import type { Frame } from './stack';
import {
  Container,
  Format,
  IndexedList,
  ListContainer,
  Paging,
  SetError,
  VariableStore,
  hexPad,
  leaf,
  num,
} from './variables';
import { writeSet } from './writeset';

// ---------------------------------------------------------------------------------------------
// Scopes.

/** `host`: where the VM runs (it may have moved to another host; `vm` is then its replica here). */
export function scopesOf(vm: Vm, store: VariableStore, frame: Frame, host: string): DebugProtocol.Scope[] {
  const engine = frame.engine;
  const scopes: DebugProtocol.Scope[] = [];
  if (engine && frame.va !== undefined && !frame.idle) {
    scopes.push({
      name: 'Command',
      variablesReference: store.add(new CommandContainer(vm, engine, frame)),
      expensive: false,
      presentationHint: 'locals',
    });
  }
  if (engine) {
    scopes.push({
      name: 'Pipeline State',
      variablesReference: store.add(new PipelineStateContainer(vm, engine)),
      expensive: false,
    });
  } else if (!engine) {
    scopes.push({
      name: 'Driver',
      variablesReference: store.add(driverContainer(vm)),
      expensive: false,
      presentationHint: 'locals',
    });
  }
  scopes.push({
    name: 'Registers',
    variablesReference: store.add(new RegistersContainer(vm, engine)),
    expensive: false,
    presentationHint: 'registers',
  });
  scopes.push({
    name: 'Capability Registers',
    variablesReference: store.add(capsContainer(vm, host)),
    expensive: false,
  });
  scopes.push({
    name: 'Page Tables',
    variablesReference: store.add(new PageTableRoot(vm, engine ?? 'rcs0')),
    expensive: false,
  });
  scopes.push({ name: 'EPT', variablesReference: store.add(new EptRoot(vm)), expensive: false });
  const snapshots = snapshotsContainer(vm);
  scopes.push({
    name: 'Snapshots',
    variablesReference: store.add(snapshots),
    namedVariables: 2,
    indexedVariables: snapshots.length,
    expensive: false,
  });
  return scopes;
}

// ---------------------------------------------------------------------------------------------
// Registers: the engine's registers by table name, then the device's own, then (one group, "Device
// (genxml)", collapsed) the gen8/gen9 registers genxml describes; fields as children.

const GENXML_GROUP = 'Device (genxml)';
const isGenxml = (r: RegInstance) => GENXML_REG_DEFS.includes(r.def);

export class RegistersContainer implements Container {
  constructor(
    private readonly vm: Vm,
    private readonly engine: EngineName | null,
    private readonly only: 'top' | 'genxml' = 'top',
  ) {}

  private regs(): RegInstance[] {
    return REGISTERS.filter((r) => (r.engine !== null && r.engine === this.engine) || r.def.scope === 'device');
  }

  private find(name: string): RegInstance | undefined {
    const n = name.toUpperCase();
    return this.regs().find((r) => r.def.name === n || r.name.toUpperCase() === n);
  }

  variables(store: VariableStore, fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'indexed') return [];
    const shown = this.regs().filter((r) => isGenxml(r) === (this.only === 'genxml'));
    const out = shown.map((r) => registerVariable(this.vm, store, r, fmt, this.engine ?? undefined));
    if (this.only === 'top') {
      const group = new RegistersContainer(this.vm, this.engine, 'genxml');
      out.push({
        name: GENXML_GROUP,
        value: `${GENXML_REG_DEFS.length} registers`,
        type: "gen8/gen9 registers from Mesa's genxml",
        variablesReference: store.add(group),
        presentationHint: { kind: 'virtual', attributes: ['readOnly'] },
      });
    }
    return out;
  }

  set(name: string, value: string, fmt: Format): { value: string } {
    const r = this.find(name);
    if (!r) throw new SetError(`no register '${name}' in this scope`);
    const v = parseValue(this.vm, value, this.engine);
    writeRegister(this.vm, r, v);
    return { value: num(registerValue(this.vm, r), fmt, r.def.width) };
  }

  dataInfo(name: string): DebugProtocol.DataBreakpointInfoResponse['body'] {
    const r = this.find(name);
    if (!r) return { dataId: null, description: `no register '${name}'` };
    return { dataId: dataIdOfRegister(r), description: `write to ${r.name}`, accessTypes: ['write'], canPersist: true };
  }
}

/**
 * A register that holds an address (the table's `address`: SPEC section 2) carries a memory reference,
 * so the memory view opens on what it points at (a GPU VA or a GPA; global GTT addresses have no view).
 */
function addressOf(vm: Vm, r: RegInstance): string | undefined {
  const a = r.def.address;
  if (!a || a.space === 'ggtt') return undefined;
  return formatRef(a.space, registerAddress(vm.regs.values, r));
}

export function registerVariable(
  vm: Vm,
  store: VariableStore,
  r: RegInstance,
  fmt: Format,
  engine?: EngineName,
): DebugProtocol.Variable {
  const v = registerValue(vm, r);
  return {
    memoryReference: addressOf(vm, r),
    name: regDisplayName(r, engine),
    value: num(v, fmt, r.def.width),
    type: `${r.def.width}-bit ${r.def.access}: ${r.def.desc}`,
    evaluateName: r.name,
    variablesReference: r.def.fields.length ? store.add(new FieldsContainer(vm, r)) : 0,
    presentationHint: r.def.access === 'ro' || r.def.scope === 'cap' ? { attributes: ['readOnly'] } : undefined,
  };
}

function fieldText(f: FieldDef, v: number, fmt: Format): string {
  const name = f.values?.[v];
  const shown = f.lo === f.hi ? String(v) : num(v, fmt, Math.max(4, Math.ceil((f.hi - f.lo + 1) / 4) * 4));
  return name !== undefined ? `${shown} (${name})` : shown;
}

class FieldsContainer implements Container {
  constructor(
    private readonly vm: Vm,
    private readonly r: RegInstance,
  ) {}

  variables(_store: VariableStore, fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'indexed') return [];
    const v = registerValue(this.vm, this.r);
    return this.r.def.fields.map((f) =>
      leaf(f.name, fieldText(f, Number((v >> BigInt(f.lo)) & ((1n << BigInt(f.hi - f.lo + 1)) - 1n)), fmt), {
        type: `bits ${f.hi}:${f.lo}: ${f.desc}`,
        // Evaluated (a hover, a watch), it gives the field's meaning too (descriptions.ts); and it is assignable.
        evaluateName: registerFieldName(this.r, f),
        ...(this.r.def.access === 'ro' ? { presentationHint: { attributes: ['readOnly'] } } : {}),
      }),
    );
  }

  set(name: string, value: string, fmt: Format): { value: string } {
    const f = this.r.def.fields.find((x) => x.name === name.toUpperCase());
    if (!f) throw new SetError(`no field '${name}' in ${this.r.name}`);
    const v = parseValue(this.vm, value, this.r.engine);
    const width = BigInt(f.hi - f.lo + 1);
    if (v < 0n || v >= 1n << width) throw new SetError(`${f.name} is ${width} bits wide; ${value} does not fit`);
    const mask = ((1n << width) - 1n) << BigInt(f.lo);
    const old = registerValue(this.vm, this.r);
    writeRegister(this.vm, this.r, (old & ~mask) | (v << BigInt(f.lo)));
    return { value: fieldText(f, Number(v), fmt) };
  }
}

export function parseValue(vm: Vm, text: string, engine: EngineName | null): bigint {
  try {
    return evaluateText(String(text), { vm, engine: engine ?? 'rcs0' });
  } catch (e) {
    throw new SetError(e instanceof ExpressionError ? `cannot set to '${text}': ${e.message}` : String(e));
  }
}

export function writeRegister(vm: Vm, r: RegInstance, v: bigint): void {
  if (r.def.scope === 'cap')
    throw new SetError(`${r.name} is a capability register: the VMM fixes it for the VM's device version`);
  const max = 1n << BigInt(r.def.width);
  if (v < 0n || v >= max) throw new SetError(`${r.name} is ${r.def.width} bits wide`);
  const ok =
    vm.editRegister(r.slot, Number(v & 0xffffffffn)) &&
    (r.def.width === 32 || vm.editRegister(r.slot + 1, Number(v >> 32n)));
  if (!ok) throw new SetError(`${r.name} cannot be written`);
}

// ---------------------------------------------------------------------------------------------
// Capability registers: exposed (what the VM sees) and physical side by side, and the PCI lists.

function capsContainer(vm: Vm, host: string): Container {
  return new ListContainer((store, fmt) => {
    const out: DebugProtocol.Variable[] = [
      leaf('host', host, { type: "where the VM runs: its physical GPU is that host's" }),
      leaf('host generation', String(vm.cfg.hostGen), { type: 'the physical GPU' }),
      leaf('device version', String(vm.cfg.version), { type: 'exposed to the VM' }),
    ];
    for (const d of CAP_REG_DEFS) out.push(capRegisterVariable(vm, store, d, fmt));
    out.push({
      name: 'PCI capabilities',
      value: pciSummary(vm, false),
      variablesReference: store.add(pciContainer(vm, false)),
    });
    out.push({
      name: 'PCIe extended capabilities',
      value: pciSummary(vm, true),
      variablesReference: store.add(pciContainer(vm, true)),
    });
    return out;
  });
}

function capRegisterVariable(vm: Vm, store: VariableStore, d: RegDef, fmt: Format): DebugProtocol.Variable {
  const e = vm.exposed.registers.get(d.name) ?? 0n;
  const p = vm.physical.registers.get(d.name) ?? 0n;
  const value =
    e === p ? `${num(e, fmt, d.width)} (= physical)` : `${num(e, fmt, d.width)} (physical ${num(p, fmt, d.width)})`;
  const reg = regByName(d.name);
  const children = new ListContainer((_s, f) => {
    const rows: DebugProtocol.Variable[] = [leaf('exposed', num(e, f, d.width)), leaf('physical', num(p, f, d.width))];
    const bits = (v: bigint, lo: number, hi: number) => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
    for (const fd of d.fields) {
      const ev = bits(e, fd.lo, fd.hi);
      const pv = bits(p, fd.lo, fd.hi);
      rows.push(
        leaf(fd.name, `${ev}${ev !== pv ? ` (physical ${pv}: hidden from the VM)` : ''}`, {
          type: `bits ${fd.hi}:${fd.lo}: ${fd.desc}`,
          evaluateName: reg ? registerFieldName(reg, fd) : undefined,
          presentationHint: { attributes: ['readOnly'] },
        }),
      );
    }
    if (d.fields.length === 0) {
      for (const c of opcapRows(d.name, vm.gen)) {
        const ev = bits(e, c.bit, c.bit);
        const pv = bits(p, c.bit, c.bit);
        rows.push(
          leaf(
            c.label,
            `${ev ? 'accepted' : 'rejected'}${ev !== pv ? ' (the physical GPU accepts it: hidden from the VM)' : ''}`,
            { type: `bit ${c.bit}` },
          ),
        );
      }
    }
    return rows;
  });
  return {
    name: d.name,
    value,
    type: `${d.width}-bit capability register: ${d.desc}`,
    evaluateName: d.name,
    variablesReference: store.add(children),
    presentationHint: { attributes: ['readOnly'] },
  };
}

function pciSummary(vm: Vm, extended: boolean): string {
  const walkList = extended ? walkPciExtCaps : walkPciCaps;
  const e = walkList(vm.exposed.config).length;
  const p = walkList(vm.physical.config).length;
  return `${e} exposed of ${p} physical`;
}

function pciContainer(vm: Vm, extended: boolean): Container {
  return new ListContainer(() => {
    const walkList = extended ? walkPciExtCaps : walkPciCaps;
    const phys = walkList(vm.physical.config);
    const exp = walkList(vm.exposed.config);
    const ids = [...phys.map((c) => c.id), ...exp.map((c) => c.id).filter((id) => !phys.some((c) => c.id === id))];
    const at = (l: typeof phys, id: number) => l.find((c) => c.id === id);
    return ids.map((id) => {
      const e = at(exp, id);
      const p = at(phys, id);
      const idText = '0x' + id.toString(16).padStart(extended ? 4 : 2, '0');
      const where = (c: typeof e) => (c ? `at 0x${c.offset.toString(16)}` : 'absent');
      return leaf(
        `${idText} ${capName(id, extended)}`,
        e
          ? `exposed ${where(e)} (physical ${where(p)})`
          : `hidden from the VM (physical ${where(p)}; unlinked, reads 0)`,
      );
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Snapshots: time (commands), reason, pages and bytes kept.

/** Kept snapshots as indexed children (oldest first; a run keeps thousands), `now` and `kept` named. */
function snapshotsContainer(vm: Vm): IndexedList {
  const list = vm.snapshots.list;
  const entry = (store: VariableStore, s: Snapshot): DebugProtocol.Variable => {
    const current = s.state.step === vm.step;
    const children = new ListContainer(() => [
      leaf('id', String(s.id)),
      leaf('time', `t=${s.state.commands} commands`),
      leaf('step', String(s.state.step)),
      leaf('reason', s.reason + (s.engine ? ` (${s.engine})` : '')),
      leaf('pages', String(s.undo.pageCount), { type: 'pages first written after it (32-byte blocks of each kept)' }),
      leaf('blocks', String(s.undo.blockCount), { type: 'before-images of 32-byte blocks first written after it' }),
      leaf('bytes', String(snapshotBytes(s))),
      leaf(
        'registers touched before it',
        s.touchedRegs
          .map(
            (slot) => REGISTERS.find((r) => slot >= r.slot && slot < r.slot + r.def.width / 32)?.name ?? `slot ${slot}`,
          )
          .join(', ') || '-',
      ),
    ]);
    return {
      name: `#${s.id}`,
      value: `t=${s.state.commands} ${s.reason}${s.engine ? ' ' + s.engine : ''}: ${s.undo.pageCount} pages, ${snapshotBytes(s)} bytes${current ? ' (current)' : ''}`,
      variablesReference: store.add(children),
    };
  };
  return new IndexedList(
    list.length,
    (store, _fmt, start, count) => list.slice(start, start + count).map((s) => entry(store, s)),
    () => [
      leaf('now', `t=${vm.commands} commands, step ${vm.step}`),
      leaf('kept', `${list.length} snapshots, ${vm.snapshots.totalBytes()} bytes (${vm.snapshots.taken} taken)`),
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// The driver operation about to run.

function driverContainer(vm: Vm): Container {
  return new ListContainer(() => {
    const op = vm.image.driver[vm.driverPc];
    if (!op) return [leaf('driver', 'finished: no operations left')];
    const out = [leaf('operation', op.op), leaf('source', `${op.loc.file}:${op.loc.line}`)];
    for (const [k, v] of Object.entries(op)) {
      if (k === 'op' || k === 'loc' || k === 'entries' || k === 'dwords') continue;
      out.push(leaf(k, typeof v === 'number' ? hexPad(v, 32) : Array.isArray(v) ? v.join(', ') : String(v)));
    }
    if (op.op === 'mmio') out.push(leaf('register', regAt(op.offset)?.reg.name ?? 'none at this offset'));
    if (op.op === 'submit')
      out.push(leaf('dwords', `${op.dwords.length} dwords into the ring at offset 0x${op.offset.toString(16)}`));
    out.push(leaf('progress', `operation ${vm.driverPc + 1} of ${vm.image.driver.length}`));
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Command: the command a frame is at, decoded by the command table, and its predicted write set.

class CommandContainer implements Container {
  constructor(
    private readonly vm: Vm,
    private readonly engine: EngineName,
    private readonly frame: Frame,
  ) {}

  variables(store: VariableStore, fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'indexed') return [];
    const vm = this.vm;
    const e = vm.engine(this.engine);
    const va = this.frame.va!;
    const dwords = peekCommand(vm, e, va);
    const out: DebugProtocol.Variable[] = [
      leaf('va', hexPad(va, 48), { memoryReference: formatRef('va', va), type: 'GPU VA of the command' }),
    ];
    if (!dwords) return [...out, leaf('error', 'the command address is not mapped')];
    const d = decodeCommand(dwords, 0, dwords.length, vm.gen);
    out.unshift(leaf('command', disassembleOne(dwords, 0, this.engine, vm.gen).text));
    if (this.frame.loc) out.push(leaf('source', `${this.frame.loc.file}:${this.frame.loc.line}:${this.frame.loc.col}`));
    if (typeof d === 'string') return [...out, leaf('error', d), leaf('header', hexPad(dwords[0], 32))];
    out.push(leaf('description', d.def.desc), leaf('length', `${d.length} dwords`));
    for (const f of d.def.fields) {
      const v = d.fields.get(f.name);
      if (v !== undefined) out.push(notCaptured(vm, this.engine, f, v, fieldVariable(f, v, fmt, this.engine)));
    }
    for (const [r, v] of d.pairs) {
      const reg = regAt(r);
      out.push(
        leaf(reg ? regDisplayName(reg.reg, this.engine) : hexPad(r, 32), num(v, fmt), {
          type: `register write (offset ${hexPad(r, 32)})${reg ? `: ${reg.reg.def.desc}` : ''}`,
          presentationHint: { attributes: ['readOnly'] },
        }),
      );
    }
    out.push({
      name: 'dwords',
      value: dwords.map((x) => hexPad(x, 32)).join(' '),
      variablesReference: store.add(new ListContainer((_s, f) => dwords.map((x, i) => leaf(`[${i}]`, num(x, f))))),
      indexedVariables: dwords.length,
    });
    if (this.frame.index === 0) {
      const start = vm.regs.values[e.slots.start];
      const ws = writeSet(vm, e, d, dwords, e.depth === 0 && va >= start && va < start + e.ringSize());
      const pagesText =
        ws.pages.length === 0
          ? 'none'
          : `${ws.pages.length}${ws.truncated ? '+' : ''} page${ws.pages.length > 1 ? 's' : ''}`;
      out.push({
        name: 'writes pages',
        value: pagesText,
        type: 'guest pages the command parser predicts this command writes',
        variablesReference: ws.pages.length
          ? store.add(
              new ListContainer(() =>
                ws.pages.map((p) =>
                  leaf(hexPad(p.va, 48), p.fault ? p.fault : `GPA ${hexPad(p.gpa!, 40)}`, {
                    memoryReference: p.gpa !== undefined && !p.fault ? formatRef('gpa', p.gpa) : formatRef('va', p.va),
                  }),
                ),
              ),
            )
          : 0,
      });
      out.push(
        leaf('writes registers', [...ws.registers, ...ws.implicit.map((r) => `${r} (engine)`)].join(', '), {
          type: 'registers this command writes',
        }),
      );
    }
    return out;
  }
}

/** In a hang dump's replay, an address field whose memory the dump did not capture says so (it reads as zero). */
function notCaptured(
  vm: Vm,
  engine: EngineName,
  f: CmdField,
  v: bigint,
  variable: DebugProtocol.Variable,
): DebugProtocol.Variable {
  if (f.kind !== 'addr' || !vm.image.zeroFill || v >= 1n << 48n) return variable;
  const t = vm.translate(Number(v), EPT_VIEW_FULL, engine);
  if (t.gpa === undefined || !vm.uncaptured(t.gpa)) return variable;
  return { ...variable, value: `${variable.value} (${NOT_CAPTURED})` };
}

function fieldVariable(f: CmdField, v: bigint, fmt: Format, engine: EngineName): DebugProtocol.Variable {
  const type = `${fieldPlacement(f)}: ${f.desc}`;
  return leaf(f.name, commandFieldText(f, v, fmt, engine), {
    type,
    evaluateName: commandFieldName(f.name),
    presentationHint: { attributes: ['readOnly'] },
    ...(f.kind === 'addr' ? { memoryReference: formatRef('va', Number(v)) } : {}),
  });
}
