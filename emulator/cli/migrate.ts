// `vgpu run FILE --migrate-at N --to HOST:PORT [--token T]`: run N commands here, move the VM live to a
// `vgpu host`, print the result it computed there; refused or failed, finish here with nothing lost.

import { MigrationOutcome, migrateVm, migrationSummary } from '../migration/source';
import { parseHostPort } from '../migration/stream';
import type { RunResult, Vm } from '../vm';
import { UsageError } from './args';
import { TOKEN_ENV } from './host';
import { report, writeSurfacePng } from './run';

export async function migrateRun(
  vm: Vm,
  n: number,
  to: string,
  o: { json: boolean; token?: string; pngs: { surface: string; out: string }[] },
): Promise<number> {
  const target = parseHostPort(to);
  if (!target) throw new UsageError(`--to: '${to}' is not HOST:PORT (example: 127.0.0.1:7480)`);
  const token = o.token ?? process.env[TOKEN_ENV] ?? undefined;
  vm.run({ untilCommands: n });
  const out = await migrateVm(vm, { ...target, token: token || undefined, surfaces: o.pngs.map((p) => p.surface) });
  let result: RunResult;
  let shown: Vm = vm;
  if (out.status === 'completed' && out.result) {
    result = out.result;
    shown = asFinishedOnTarget(vm, out);
    for (const p of o.pngs) writeSurfacePng(shown, p.surface, p.out);
  } else {
    vm.run();
    result = vm.result();
    for (const p of o.pngs) writeSurfacePng(vm, p.surface, p.out);
  }
  result.migration = migrationSummary(out);
  return report(shown, result, o.json);
}

/**
 * The VM as the report shows it after the move: the target's generation, errors (with columns) and
 * surface pixels; the program and its source are the same as here.
 */
function asFinishedOnTarget(vm: Vm, out: MigrationOutcome): Vm {
  const view = Object.create(vm) as Vm;
  Object.defineProperty(view, 'cfg', { value: { ...vm.cfg, hostGen: out.hostGen ?? vm.cfg.hostGen } });
  Object.defineProperty(view, 'errors', { value: out.errors ?? [] });
  Object.defineProperty(view, 'readSurface', {
    value(name: string): ReturnType<Vm['readSurface']> {
      const key = Object.keys(out.pixels ?? {}).find((k) => k.toUpperCase() === name.toUpperCase());
      if (key === undefined) throw new RangeError(`the target did not return surface ${name}`);
      const s = out.pixels![key];
      const pixels = new Uint32Array(s.width * s.height);
      Buffer.from(pixels.buffer).set(Buffer.from(s.data, 'base64').subarray(0, pixels.byteLength));
      return { width: s.width, height: s.height, pixels };
    },
  });
  return view;
}
