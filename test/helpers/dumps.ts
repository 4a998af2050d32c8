// Generated hang dumps for triage tests and the bench: the error states of the examples that end in an
// unrecovered GPU error, on four gen9 platforms, with every `corruptEvery`-th dump's zlib data cut short.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { HangDump } from '../../emulator/formats/dump';
import { formatI915ErrorState } from '../../emulator/formats/i915-error';
import { captureHangDump } from '../../emulator/postmortem';
import { loadVm } from '../../emulator/program';

const ROOT = path.resolve(__dirname, '../..');
export const FAILING_EXAMPLES = [
  'hang.vgpu',
  'page-fault.vgpu',
  'isolation-violation.vgpu',
  'privileged-register.vgpu',
  'version-rejected.vgpu',
];
export const PLATFORMS: readonly [string, number][] = [
  ['skylake', 0x1912],
  ['kabylake', 0x5912],
  ['broxton', 0x5a84],
  ['coffeelake', 0x3e92],
];

export function baseDumps(): HangDump[] {
  return FAILING_EXAMPLES.map((f) => {
    const vm = loadVm(path.join(ROOT, 'examples', f), { autoRollback: false });
    vm.run();
    return captureHangDump(
      vm,
      vm.errors.find((e) => !e.rolledBack)!,
    );
  });
}

/** Writes n dumps into dir (dump-00000.err ...); returns how many were corrupted. */
export function generateDumps(dir: string, n: number, corruptEvery = 0): number {
  const bases = baseDumps();
  const texts = new Map<string, string>();
  let corrupted = 0;
  for (let i = 0; i < n; i++) {
    const b = i % bases.length;
    const p = Math.floor(i / bases.length) % PLATFORMS.length;
    const key = `${b}/${p}`;
    let text = texts.get(key);
    if (text === undefined) {
      const [platform, pciId] = PLATFORMS[p];
      text = formatI915ErrorState({ ...bases[b], platform, pciId }, { compress: true });
      texts.set(key, text);
    }
    if (corruptEvery > 0 && i % corruptEvery === corruptEvery - 1) {
      text = text.replace(/\n:([^\n]{10})[^\n]*/, '\n:$1');
      corrupted++;
    }
    fs.writeFileSync(path.join(dir, `dump-${String(i).padStart(5, '0')}.err`), text);
  }
  return corrupted;
}
