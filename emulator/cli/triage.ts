// `vgpu triage DUMP... [--json]`: group many hang dumps by signature, one line per group.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { triage } from '../triage';
import { UsageError, parseArgs } from './args';

function* inputs(paths: string[]): Generator<{ file: string; text: string }> {
  for (const p of paths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new UsageError(`${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      for (const f of fs.readdirSync(p).sort()) {
        const full = path.join(p, f);
        if (fs.statSync(full).isFile()) yield { file: full, text: fs.readFileSync(full, 'latin1') };
      }
    } else yield { file: p, text: fs.readFileSync(p, 'latin1') };
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs(argv, { json: { type: 'boolean' } });
  if (positionals.length === 0)
    throw new UsageError(
      'usage: vgpu triage DUMP... [--json] (files or directories of i915 error states / Xe devcoredumps)',
    );
  const r = triage(inputs(positionals));
  if (v.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    const out: string[] = [
      `${r.dumps} dumps, ${r.groups.length} signatures${r.unreadable.length ? `, ${r.unreadable.length} unreadable` : ''}`,
    ];
    const w = Math.max(1, ...r.groups.map((g) => String(g.count).length));
    for (const g of r.groups) out.push(`${String(g.count).padStart(w)}  ${g.key}  e.g. ${g.example}`);
    for (const u of r.unreadable) out.push(`unreadable: ${u.file}${u.line ? `:${u.line}` : ''}: ${u.error}`);
    process.stdout.write(out.join('\n') + '\n');
  }
  return r.groups.length > 0 ? 0 : 2;
}
