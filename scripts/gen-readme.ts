// Regenerates the README's command and register reference from the tables (`npm run gen:readme`).
// The sections between the `<!-- generated:NAME -->` markers are written here and never edited by hand.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { FEATURES } from '../emulator/capabilities';
import { COMMANDS, CommandDef } from '../emulator/commands';
import { CAP_BASE, CAP_REG_DEFS, DEVICE_REG_DEFS, ENGINE_BASE, ENGINE_REGS, RegDef } from '../emulator/registers';

const hex = (n: number, pad = 0) => '0x' + n.toString(16).toUpperCase().padStart(pad, '0');

function lengthText(d: CommandDef): string {
  const l = d.length;
  if (l.kind === 'fixed') return String(l.dwords);
  if (l.kind === 'flag') return `${l.off} / ${l.on} (${l.field}=1)`;
  return '1 + 2n';
}

function fieldsText(d: CommandDef): string {
  if (d.length.kind === 'pairs') return '`REGISTER=value`, ...';
  return d.fields
    .map((f) => {
      const opt = f.required ? '' : '?';
      const vals = f.values ? `=${Object.keys(f.values).join('\\|')}` : '';
      const where = f.kind === 'addr' || f.kind === 'u64' ? `DW${f.dw}-${f.dw + 1}` : `DW${f.dw}[${f.hi}:${f.lo}]`;
      return `\`${f.name}${vals}\`${opt} ${where}`;
    })
    .join(', ');
}

export function commandReference(): string {
  const rows = ['| command | header | dwords | engines | needs | fields (DW = dword, [hi:lo] bits) | cycles |', '|---|---|---|---|---|---|---|'];
  for (const d of COMMANDS) {
    const need = d.requires ? FEATURES.find((f) => f.name === d.requires)!.name : '';
    rows.push(`| \`${d.mnemonic}\` | \`${hex(d.header, 8)}\` | ${lengthText(d)} | ${d.engines.join(', ')} | ${need} | ${fieldsText(d) || '—'} | ${d.cycles}${d.writes?.some((w) => w.kind === 'rect') ? ' + pixels/64' : ''} |`);
  }
  return rows.join('\n');
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
      rows.push(`| engine + ${hex(0x600, 3)} + 8n (+4) | \`CS_GPRn\` / \`CS_GPRn_UDW\`, n = 0..15 | 32 | cmd | general purpose registers (the only ones commands may write) |`);
      continue;
    }
    rows.push(regRow(r, `engine + ${hex(r.offset, 3)}`));
  }
  for (const r of DEVICE_REG_DEFS) rows.push(regRow(r, hex(r.offset, 4)));
  for (const r of CAP_REG_DEFS) rows.push(regRow(r, `${hex(CAP_BASE)} + ${hex(r.offset, 2)}`));
  return rows.join('\n') + `\n\nEngine bases: ${Object.entries(ENGINE_BASE).map(([e, b]) => `${e} ${hex(b, 5)}`).join(', ')}. Access: ro read-only, rw driver-writable, cmd driver and the owning engine's commands, priv driver only (VMM-level control).`;
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
}
