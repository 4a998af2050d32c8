// The Pipeline State scope and `vgpu/pipelineState`: the state commands an engine has retired (its latest
// value of each, grouped 3D / compute-media / common), decoded by the command table, with the fields that
// changed from the command's previous value and the commands set since the engine's last draw marked, and
// address fields resolved through the engine's PPGTT. Also how a decoded command field reads as text.

import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  CmdField,
  commandIndex,
  COMMANDS,
  decodeCommand,
  EngineName,
  fieldByName,
  fieldPlacement,
  groupKey,
  NOT_CAPTURED,
  regAt,
  regDisplayName,
  regField,
  type PipelineEntry,
  type Vm,
} from '../emulator';
import { formatRef } from './memory';
import type { PipelineCommandInfo, PipelineFieldInfo, PipelineGroup, PipelineStateInfo } from './protocol';
import { Container, Format, ListContainer, Paging, VariableStore, hexPad, leaf, num } from './variables';

/**
 * Put before a value that changed: a field that differs from the command's previous value, a command
 * set since the engine's last draw or dispatch. Plain text, so every client (and VS Code's Variables
 * view, which has no presentation hint for "changed since another point in time") shows it.
 */
export const CHANGED_MARK = '• ';

export const PIPELINE_GROUPS: readonly PipelineGroup[] = ['3D pipeline', 'compute/media', 'common'];

export function pipelineGroupOf(mnemonic: string): PipelineGroup {
  if (mnemonic.startsWith('3DSTATE_')) return '3D pipeline';
  if (mnemonic.startsWith('MEDIA_') || mnemonic.startsWith('GPGPU_')) return 'compute/media';
  return 'common';
}

/** A decoded field's value as the Command and Pipeline State scopes show it (addresses without their walk). */
export function fieldText(f: CmdField, v: bigint, fmt: Format, engine: EngineName): string {
  switch (f.kind) {
    case 'addr':
      return hexPad(v, 48);
    case 'reg': {
      const r = regAt(Number(v));
      return r ? `${regDisplayName(r.reg, engine)} (${hexPad(v, 32)})` : `${hexPad(v, 32)} (no register)`;
    }
    case 'enum': {
      const name = Object.entries(f.values ?? {}).find(([, x]) => BigInt(x) === v)?.[0];
      return name ? `${name} (${v})` : `${v} (reserved)`;
    }
    case 'flag':
      return String(v);
    default:
      return num(v, fmt, f.hi - f.lo + 1 > 32 ? 64 : 32);
  }
}

/** One retired state command, decoded now and before (cheap: no page walks). */
interface Decoded {
  readonly mnemonic: string;
  readonly entry: PipelineEntry;
  readonly fields: ReadonlyMap<string, bigint> | string;
  readonly previous: ReadonlyMap<string, bigint> | null;
  readonly changed: number;
  readonly sinceDraw: boolean;
}

function decodeEntry(vm: Vm, lastDraw: number, mnemonic: string, entry: PipelineEntry): Decoded {
  const now = decodeCommand(entry.dwords, 0, entry.dwords.length, vm.gen);
  const before = entry.previous ? decodeCommand(entry.previous, 0, entry.previous.length, vm.gen) : null;
  const fields = typeof now === 'string' ? now : now.fields;
  const previous = before && typeof before !== 'string' ? before.fields : null;
  let changed = 0;
  if (typeof fields !== 'string' && previous) for (const [k, v] of fields) if (previous.get(k) !== v) changed++;
  return { mnemonic, entry, fields, previous, changed, sinceDraw: entry.at > lastDraw };
}

function decodedEntries(vm: Vm, engine: EngineName): Decoded[] {
  const e = vm.engine(engine);
  return Object.keys(e.pipeline)
    .sort()
    .map((m) => decodeEntry(vm, e.lastDraw, m, e.pipeline[m]));
}

/** The command table's field for a decoded key (`name` or a group entry's `name.N`). */
function fieldOfKey(mnemonic: string, entry: PipelineEntry, vm: Vm, key: string): CmdField | undefined {
  const idx = commandIndex(entry.dwords[0], vm.gen);
  const def = idx >= 0 ? COMMANDS[idx] : undefined;
  if (!def || def.mnemonic !== mnemonic) return undefined;
  return fieldByName(def, key) ?? groupKey(def, key)?.field;
}

/** The fields of one entry, with changed marks and address fields walked through the engine's PPGTT. */
function fieldsOf(vm: Vm, engine: EngineName, d: Decoded, fmt: Format): PipelineFieldInfo[] {
  if (typeof d.fields === 'string')
    return [
      {
        name: 'error',
        value: d.fields,
        placement: '',
        description: 'the command table cannot decode the retired dwords',
        changed: false,
      },
    ];
  const view = regField('EPT_VIEW', 'VIEW').get(vm.regs.values[vm.engine(engine).slots.view]);
  const out: PipelineFieldInfo[] = [];
  for (const [key, v] of d.fields) {
    const f = fieldOfKey(d.mnemonic, d.entry, vm, key);
    if (!f) continue;
    const old = d.previous?.get(key);
    const changed = d.previous !== null && old !== v;
    const info: PipelineFieldInfo = {
      name: key,
      value: fieldText(f, v, fmt, engine),
      placement: fieldPlacement(f),
      description: f.desc,
      changed,
      ...(changed ? { previous: old === undefined ? 'absent' : fieldText(f, old, fmt, engine) } : {}),
    };
    if (f.kind === 'addr') {
      const t = vm.translate(Number(v), view, engine);
      const walk = t.fault ? t.fault.reason : t.gpa !== undefined && vm.uncaptured(t.gpa) ? NOT_CAPTURED : undefined;
      out.push({
        ...info,
        va: hexPad(v, 48),
        gpa: t.gpa !== undefined && t.hpa >= 0 ? hexPad(t.gpa, 40) : null,
        ...(walk ? { walk } : {}),
      });
    } else {
      out.push(info);
    }
  }
  return out;
}

function commandInfo(d: Decoded, fields?: PipelineFieldInfo[]): PipelineCommandInfo {
  return {
    mnemonic: d.mnemonic,
    group: pipelineGroupOf(d.mnemonic),
    va: hexPad(d.entry.va, 48),
    at: d.entry.at,
    first: d.entry.previous === null,
    sinceDraw: d.sinceDraw,
    changed: d.changed,
    ...(fields ? { fields } : {}),
  };
}

/** The `vgpu/pipelineState` reply: every entry with all its fields. */
export function pipelineState(vm: Vm, engine: EngineName): PipelineStateInfo {
  const e = vm.engine(engine);
  const fmt = { hex: true };
  return {
    engine,
    retired: e.retired,
    lastDraw: e.lastDraw < 0 ? null : e.lastDraw,
    commands: decodedEntries(vm, engine).map((d) => commandInfo(d, fieldsOf(vm, engine, d, fmt))),
  };
}

function summary(c: PipelineCommandInfo): string {
  const what = c.first
    ? 'first set'
    : c.changed === 0
      ? 'set again, no field changed'
      : `${c.changed} field${c.changed > 1 ? 's' : ''} changed`;
  return `${c.sinceDraw ? CHANGED_MARK : ''}${what}, at t=${c.at} (${c.va})${c.sinceDraw ? ', since the last draw' : ''}`;
}

/** The evaluateName of a retired state command's field (evaluated in descriptions.ts). */
export const STATE_PREFIX = '$state.';
export const stateFieldName = (mnemonic: string, field: string): string => `${STATE_PREFIX}${mnemonic}.${field}`;

/** A field as a Variables-view row: value marked when changed, with what it was. */
export function fieldVariable(f: PipelineFieldInfo, mnemonic?: string): DebugProtocol.Variable {
  let value = f.value;
  if (f.va !== undefined) value += f.gpa ? ` (GPA ${f.gpa})` : ' (not mapped)';
  if (f.changed) value = `${CHANGED_MARK}${value} (was ${f.previous})`;
  return leaf(f.name, value, {
    type: f.placement ? `${f.placement}: ${f.description}${f.walk ? `; ${f.walk}` : ''}` : f.description,
    // Evaluated (a hover, a watch), it gives the field's meaning too (descriptions.ts).
    ...(mnemonic && f.placement ? { evaluateName: stateFieldName(mnemonic, f.name) } : {}),
    presentationHint: { attributes: ['readOnly'] },
    ...(f.va !== undefined ? { memoryReference: formatRef('va', Number(f.va)) } : {}),
  });
}

/** The Pipeline State scope: groups, then commands (summaries), then fields, each built when expanded. */
export class PipelineStateContainer implements Container {
  constructor(
    private readonly vm: Vm,
    private readonly engine: EngineName,
  ) {}

  variables(store: VariableStore, _fmt: Format, paging: Paging): DebugProtocol.Variable[] {
    if (paging.filter === 'indexed') return [];
    const vm = this.vm;
    const engine = this.engine;
    const e = vm.engine(engine);
    const entries = decodedEntries(vm, engine);
    const lastDraw = leaf('last draw', e.lastDraw < 0 ? 'none yet' : `t=${e.lastDraw}`, {
      type: `the engine's retired-command count when its last draw or dispatch ran (commands marked ${CHANGED_MARK.trim()} were set after it)`,
    });
    if (entries.length === 0) return [lastDraw, leaf('state', `none yet: no state command has retired on ${engine}`)];
    const out = [lastDraw];
    for (const g of PIPELINE_GROUPS) {
      const list = entries.filter((d) => pipelineGroupOf(d.mnemonic) === g);
      if (list.length === 0) continue;
      const fresh = list.filter((d) => d.sinceDraw).length;
      out.push({
        name: g,
        value: `${list.length} command${list.length > 1 ? 's' : ''}${fresh ? `, ${fresh} set since the last draw` : ''}`,
        variablesReference: store.add(
          new ListContainer((s) =>
            list.map((d) => {
              const c = commandInfo(d);
              return {
                name: d.mnemonic,
                value: summary(c),
                type: `${COMMANDS.find((x) => x.mnemonic === d.mnemonic)?.desc ?? ''}`,
                memoryReference: formatRef('va', d.entry.va),
                variablesReference: s.add(
                  new ListContainer((_s, f) => fieldsOf(vm, engine, d, f).map((x) => fieldVariable(x, d.mnemonic))),
                ),
              };
            }),
          ),
        ),
      });
    }
    return out;
  }
}
