// The layers: emulator/ (the machine, no editor or adapter), adapter/ (DAP) and extension/ (VS Code).
// adapter/ and extension/ reach the emulator only through emulator/index.ts, its declared API.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

function sources(dir: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .flatMap((d) =>
      d.isDirectory() ? sources(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : [],
    );
}

/** Every module specifier a file imports or re-exports, with its line. */
function imports(file: string): { spec: string; line: number }[] {
  const out: { spec: string; line: number }[] = [];
  fs.readFileSync(path.join(ROOT, file), 'utf8')
    .split('\n')
    .forEach((l, i) => {
      const m = /^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/.exec(l) ?? /^\s*import\s+'([^']+)'/.exec(l);
      if (m) out.push({ spec: m[1], line: i + 1 });
    });
  return out;
}

describe('layering', () => {
  it('adapter/ and extension/ import the emulator only through emulator/index.ts', () => {
    const bad: string[] = [];
    for (const f of [...sources('adapter'), ...sources('extension')]) {
      for (const { spec, line } of imports(f)) if (/^\.\.\/emulator\/./.test(spec)) bad.push(`${f}:${line}: ${spec}`);
    }
    assert.deepEqual(bad, []);
  });

  it('emulator/ imports neither the adapter, the extension nor vscode', () => {
    const bad: string[] = [];
    for (const f of sources('emulator')) {
      for (const { spec, line } of imports(f))
        if (spec === 'vscode' || /(^|\/)(adapter|extension)(\/|$)/.test(spec)) bad.push(`${f}:${line}: ${spec}`);
    }
    assert.deepEqual(bad, []);
  });

  it('every name emulator/index.ts exports is used by the adapter or the extension', () => {
    const index = fs.readFileSync(path.join(ROOT, 'emulator', 'index.ts'), 'utf8');
    const exported = [...index.matchAll(/export \{([^}]*)\}/g)].flatMap((m) =>
      m[1]
        .split(',')
        .map((x) => x.trim().replace(/^type /, ''))
        .filter(Boolean),
    );
    const users = [...sources('adapter'), ...sources('extension')]
      .map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8'))
      .join('\n');
    const unused = exported.filter((n) => !new RegExp(`\\b${n}\\b`).test(users));
    assert.deepEqual(unused, []);
  });
});
