// `vgpu caps`: the physical device of a host generation next to the VDEV a VM sees (registers and PCI capability lists).

import { Generation, isGeneration } from '../capabilities';
import { opcapRows } from '../commands';
import { CAP_BASE, CAP_REG_DEFS, RegDef } from '../registers';
import {
  CapsView,
  DeviceCaps,
  PciCapEntry,
  capName,
  capsView,
  physicalCaps,
  selectVersion,
  virtualizeCaps,
  walkPciCaps,
  walkPciExtCaps,
} from '../vdev';
import { UsageError, parseArgs, parseGen, parseIntFlag } from './args';

export const USAGE = 'caps [--host-gen N] [--device-version N | --pool N,N...] [--json]';

export interface CapsReport {
  hostGen: number;
  deviceVersion: number;
  physical: CapsView;
  exposed: CapsView;
}

export interface CapsChoice {
  readonly hostGen: Generation;
  readonly deviceVersion?: number;
  readonly pool?: readonly number[];
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, {
    'host-gen': { type: 'string' },
    'device-version': { type: 'string' },
    pool: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(`usage: vgpu ${USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0)
    throw new UsageError(`caps takes no arguments, got '${positionals[0]}' (usage: vgpu ${USAGE})`);
  const choice = parseChoice(
    values['host-gen'] as string | undefined,
    values['device-version'] as string | undefined,
    values.pool as string | undefined,
  );
  const { version, physical, exposed } = devices(choice);
  if (values.json) {
    const report: CapsReport = {
      hostGen: choice.hostGen,
      deviceVersion: version,
      physical: capsView(physical),
      exposed: capsView(exposed),
    };
    process.stdout.write(JSON.stringify(report) + '\n');
  } else {
    process.stdout.write(formatText(choice, physical, exposed));
  }
  return 0;
}

function parseChoice(hostText?: string, versionText?: string, poolText?: string): CapsChoice {
  const hostGen = parseGen(hostText, '--host-gen') ?? 3;
  if (versionText !== undefined && poolText !== undefined) {
    throw new UsageError(
      '--device-version and --pool are exclusive: give the version, or the pool whose oldest generation sets it',
    );
  }
  const deviceVersion = parseIntFlag(versionText, '--device-version');
  let pool: number[] | undefined;
  if (poolText !== undefined) {
    pool = poolText.split(',').map((t) => {
      if (t.trim() === '') throw new UsageError(`--pool: '${poolText}' has an empty entry (example: --pool 2,3)`);
      const n = parseIntFlag(t.trim(), '--pool');
      if (n === undefined || !isGeneration(n))
        throw new UsageError(`--pool: '${t}' is not a GPU generation (1, 2 or 3)`);
      return n;
    });
  }
  return { hostGen, deviceVersion, pool };
}

/** The physical device of the host and the VDEV for the version the VMM selects; a bad choice is a UsageError. */
export function devices(c: CapsChoice): { version: Generation; physical: DeviceCaps; exposed: DeviceCaps } {
  let version: Generation;
  try {
    version = selectVersion(c.hostGen, c.deviceVersion, c.pool);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const physical = physicalCaps(c.hostGen);
  return { version, physical, exposed: virtualizeCaps(physical, version) };
}

// ---------------------------------------------------------------------------------------------
// Text mode: one table, physical and exposed side by side.

function formatText(c: CapsChoice, phys: DeviceCaps, exp: DeviceCaps): string {
  const source =
    c.deviceVersion !== undefined
      ? '--device-version'
      : c.pool
        ? `oldest generation of --pool ${c.pool.join(',')}`
        : 'the host generation';
  const rows: string[][] = [];
  // Header rows carry a fourth cell so that they are never marked.
  const head = (title: string) =>
    rows.push([title, `physical (gen${phys.version})`, `exposed (version ${exp.version})`, '']);

  head(`Capability registers (BAR0 + 0x${CAP_BASE.toString(16)})`);
  for (const r of CAP_REG_DEFS) {
    const p = phys.registers.get(r.name) ?? 0n;
    const e = exp.registers.get(r.name) ?? 0n;
    rows.push([`  0x${r.offset.toString(16).padStart(2, '0')} ${r.name}`, regHex(p, r), regHex(e, r)]);
    for (const f of r.fields) {
      const bits = f.lo === f.hi ? `bit ${f.lo}` : `${f.hi}:${f.lo}`;
      rows.push([`         ${f.name} (${bits})`, fieldText(p, f.lo, f.hi), fieldText(e, f.lo, f.hi)]);
    }
    // OPCAP registers without named fields: one row per command they report on.
    if (r.fields.length === 0)
      for (const c of opcapRows(r.name)) {
        rows.push([
          `         ${c.label}`,
          yesNo(((p >> BigInt(c.bit)) & 1n) === 1n),
          yesNo(((e >> BigInt(c.bit)) & 1n) === 1n),
        ]);
      }
  }
  rows.push([]);
  head('PCI capabilities (list from 0x34)');
  pciRows(rows, walkPciCaps(phys.config), walkPciCaps(exp.config), false);
  rows.push([]);
  head('PCIe extended capabilities (list from 0x100)');
  pciRows(rows, walkPciExtCaps(phys.config), walkPciExtCaps(exp.config), true);

  const w0 = Math.max(...rows.map((r) => (r[0] ?? '').length));
  const w1 = Math.max(...rows.map((r) => (r[1] ?? '').length));
  const w2 = Math.max(...rows.map((r) => (r[2] ?? '').length));
  // Rows where the VMM changed what the guest sees are marked, so the masking stands out.
  const mark = (r: string[]) => (r.length === 3 && r[1] !== r[2] ? '  <- virtualized' : '');
  const lines = rows.map((r) =>
    r.length ? `${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2].padEnd(w2)}${mark(r)}`.trimEnd() : '',
  );
  return [
    `host GPU generation ${c.hostGen}; device version ${exp.version} exposed to the VM (${source})`,
    '',
    ...lines,
    '',
  ].join('\n');
}

function pciRows(rows: string[][], phys: PciCapEntry[], exp: PciCapEntry[], extended: boolean): void {
  const idHex = (id: number) => '0x' + id.toString(16).padStart(extended ? 4 : 2, '0');
  const at = (e: PciCapEntry | undefined) => (e ? `at 0x${e.offset.toString(16)}` : '- (unlinked, reads 0)');
  const ids = [...phys.map((e) => e.id), ...exp.map((e) => e.id).filter((id) => !phys.some((p) => p.id === id))];
  if (ids.length === 0) rows.push(['  (none)', '', '']);
  for (const id of ids) {
    rows.push([
      `  ${idHex(id)} ${capName(id, extended)}`,
      at(phys.find((e) => e.id === id)),
      at(exp.find((e) => e.id === id)),
    ]);
  }
}

function regHex(v: bigint, r: RegDef): string {
  return '0x' + v.toString(16).padStart(r.width / 4, '0');
}

function fieldText(v: bigint, lo: number, hi: number): string {
  const x = (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
  return lo === hi ? yesNo(x === 1n) : x.toString();
}

function yesNo(b: boolean): string {
  return b ? 'yes' : '-';
}
