// Regenerates the README's command and register reference from the tables (`npm run gen:readme`).
// The sections between the `<!-- generated:NAME -->` markers are written here and never edited by hand.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { FEATURES } from '../emulator/capabilities';
import { COMMANDS, CmdField, CommandDef, commandsOf, fieldPlacement } from '../emulator/commands';
import { CAP_BASE, CAP_REG_DEFS, DEVICE_REG_DEFS, ENGINE_BASE, ENGINE_REGS, RegDef } from '../emulator/registers';

const hex = (n: number, pad = 0) => '0x' + n.toString(16).toUpperCase().padStart(pad, '0');

function lengthText(d: CommandDef): string {
  const l = d.length;
  if (l.kind === 'fixed') return String(l.dwords);
  if (l.kind === 'flag') return `${l.off} / ${l.on} (${l.field}=1)`;
  if (l.kind === 'range') return `${l.min}..${l.max} (dword_length)`;
  if (l.kind === 'group') return `${l.base} + ${l.entry}n`;
  return '1 + 2n';
}

function fieldsText(d: CommandDef): string {
  if (d.length.kind === 'pairs') return '`REGISTER=value`, ...';
  return d.fields
    .map((f) => {
      const opt = f.required ? '' : '?';
      const vals = f.values ? `=${Object.keys(f.values).join('\\|')}` : '';
      const where = f.hi > 31 ? `DW${f.dw}-${f.dw + 1}[${f.hi}:${f.lo}]` : `DW${f.dw}[${f.hi}:${f.lo}]`;
      return `\`${f.name}${vals}\`${opt} ${where}`;
    })
    .join(', ');
}

export function commandReference(): string {
  const rows = [
    '| command | header | dwords | engines | needs | fields (DW = dword, [hi:lo] bits) | cycles |',
    '|---|---|---|---|---|---|---|',
  ];
  const gen9 = commandsOf(9);
  for (const d of gen9.filter((x) => x.execution === 'executed')) {
    const need = d.requires ? FEATURES.find((f) => f.name === d.requires)!.name : '';
    rows.push(
      `| \`${d.mnemonic}\` | \`${hex(d.header, 8)}\` | ${lengthText(d)} | ${d.engines.join(', ')} | ${need} | ${fieldsText(d) || '—'} | ${d.cycles}${d.writes?.some((w) => w.kind === 'rect') ? ' + pixels/64' : ''} |`,
    );
  }
  const names = (kind: string) =>
    gen9
      .filter((x) => x.execution === kind)
      .map((x) => `\`${x.mnemonic}\``)
      .join(', ');
  rows.push(
    '',
    `Retired as pipeline state (${gen9.filter((x) => x.execution === 'state').length} commands, the latest of each kept per engine): ${names('state')}.`,
    '',
    `Retired without running shaders (counted in \`notEmulated\`): ${names('not-emulated')}.`,
    '',
    `Every field of every gen8 and gen9 command, with its bits and enum values: [docs/commands.md](docs/commands.md).`,
  );
  return rows.join('\n');
}

/** docs/commands.md: every command of both generations, every field (genxml's name, placement, type, values). */
export function commandDocument(): string {
  const out = [
    '# Commands (generated from the command table by `npm run gen:readme`; do not edit)',
    '',
    "Every gen8 and gen9 command of the render and blitter engines, as Mesa's genxml describes it (plus the XY_* blits, which",
    'genxml leaves out for gen8+). Field names are what the `.vgpu` language takes (`name=value`); group entries are',
    "`name.N=value`. Bits count from the command's first dword (DW0 bit 0).",
    '',
  ];
  for (const d of [...COMMANDS].sort((a, b) =>
    a.mnemonic < b.mnemonic ? -1 : a.mnemonic > b.mnemonic ? 1 : a.gens[0] - b.gens[0],
  )) {
    out.push(`## ${d.mnemonic} (gen${d.gens.join(', gen')})`, '');
    out.push(
      `${d.desc}. Header \`${hex(d.header, 8)}\`; ${lengthText(d)} dwords; engines ${d.engines.join(', ')}; ${d.execution}.`,
      '',
    );
    const rows = ['| field | genxml | where | kind | values |', '|---|---|---|---|---|'];
    const row = (f: CmdField, prefix = '') => {
      const vals = f.values
        ? Object.entries(f.values)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')
        : f.default !== undefined
          ? `default ${f.default}`
          : '';
      rows.push(
        `| \`${prefix}${f.name}\` | ${f.xml || '—'} | ${fieldPlacement(f)} | ${f.kind} | ${vals.replace(/\|/g, '\\|')} |`,
      );
    };
    for (const f of d.headerFields) row(f);
    for (const f of d.fields) row(f);
    for (const f of d.groupFields) row(f, 'N: ');
    out.push(...rows, '');
  }
  return out.join('\n');
}

function regRow(r: RegDef, where: string): string {
  const fields = r.fields.map((f) => `${f.name} ${f.hi === f.lo ? f.lo : `${f.hi}:${f.lo}`}`).join(', ');
  return `| ${where} | \`${r.name}\` | ${r.width} | ${r.access} | ${r.desc}${fields ? ` (${fields})` : ''} |`;
}

export function registerReference(): string {
  const rows = ['| offset | register | bits | access | meaning |', '|---|---|---|---|---|'];
  const gprs = ENGINE_REGS.filter((r) => r.name.startsWith('CS_GPR'));
  for (const r of ENGINE_REGS) {
    if (r.name.startsWith('CS_GPR') && r !== gprs[0]) continue;
    if (r === gprs[0]) {
      rows.push(
        `| engine + ${hex(0x600, 3)} + 8n (+4) | \`CS_GPRn\` / \`CS_GPRn_UDW\`, n = 0..15 | 32 | cmd | general purpose registers (the only ones commands may write) |`,
      );
      continue;
    }
    rows.push(regRow(r, `engine + ${hex(r.offset, 3)}`));
  }
  for (const r of DEVICE_REG_DEFS) rows.push(regRow(r, hex(r.offset, 4)));
  for (const r of CAP_REG_DEFS) rows.push(regRow(r, `${hex(CAP_BASE)} + ${hex(r.offset, 2)}`));
  return (
    rows.join('\n') +
    `\n\nEngine bases: ${Object.entries(ENGINE_BASE)
      .map(([e, b]) => `${e} ${hex(b, 5)}`)
      .join(
        ', ',
      )}. Access: ro read-only, rw driver-writable, cmd driver and the owning engine's commands, priv driver only (VMM-level control).`
  );
}

export function renderReadme(text: string): string {
  const sections: Record<string, () => string> = { commands: commandReference, registers: registerReference };
  let out = text;
  for (const [name, gen] of Object.entries(sections)) {
    const re = new RegExp(`(<!-- generated:${name} -->\\n)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!re.test(out)) throw new Error(`README lacks the generated:${name} markers`);
    out = out.replace(re, (_m, a: string, b: string) => `${a}${gen()}\n${b}`);
  }
  return out;
}

if (require.main === module) {
  const file = path.join(__dirname, '..', 'README.md');
  fs.writeFileSync(file, renderReadme(fs.readFileSync(file, 'utf8')));
  fs.writeFileSync(path.join(__dirname, '..', 'docs', 'commands.md'), commandDocument());
}
