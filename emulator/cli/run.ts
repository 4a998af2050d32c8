// `vgpu run FILE ...`: assemble, run to the end (rolling back GPU errors unless told not to), report.

import { OutputFileError, checkOutputPath, writeOutputFile } from '../outputfile';
import { surfacePng } from '../png';
import { AssemblyError } from '../image';
import { hex } from '../memory';
import { ProgramFileError, loadCaptureVm, loadVm, readProgram, LoadOptions } from '../program';
import { CaptureError } from '../capture';
import { AubFormatError } from '../formats/aub';
import { ConfigError, RunResult, Vm } from '../vm';
import { UsageError, parseArgs, parseGen, parseIntFlag, parseSize } from './args';
import { MAX_DIAGNOSTICS, SourceLines, excerpt, printDiagnostics } from './diagnostics';

export const RUN_FLAGS = {
  'host-gen': { type: 'string' },
  'device-version': { type: 'string' },
  pool: { type: 'string' },
  memory: { type: 'string' },
  'no-isolation': { type: 'boolean' },
  'snapshot-every': { type: 'string' },
  'no-auto-rollback': { type: 'boolean' },
  watchdog: { type: 'string' },
  png: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  'checkpoint-at': { type: 'string' },
  save: { type: 'string' },
  'migrate-at': { type: 'string' },
  to: { type: 'string' },
  token: { type: 'string' },
  'error-state': { type: 'string' },
  'error-state-raw': { type: 'boolean' },
  'show-program': { type: 'boolean' },
} as const;

export function loadOptionsFrom(v: Record<string, string | boolean | string[] | undefined>): LoadOptions {
  const pool =
    v.pool === undefined
      ? undefined
      : String(v.pool)
          .split(',')
          .map((x) => {
            const g = parseGen(x.trim(), '--pool');
            return g!;
          });
  if (v['device-version'] !== undefined && pool) throw new UsageError('give --device-version or --pool, not both');
  return {
    hostGen: parseGen(v['host-gen'] as string | undefined, '--host-gen'),
    deviceVersion: parseGen(v['device-version'] as string | undefined, '--device-version'),
    migrationPool: pool,
    memory: v.memory === undefined ? undefined : parseSize(String(v.memory), '--memory'),
    isolation: v['no-isolation'] ? false : undefined,
    snapshotEvery: parseIntFlag(v['snapshot-every'] as string | undefined, '--snapshot-every'),
    autoRollback: v['no-auto-rollback'] ? false : undefined,
    watchdog: parseIntFlag(v.watchdog as string | undefined, '--watchdog', 1),
  };
}

/** Builds the VM or reports why not (assembly errors with carets, configuration errors): exit 2. */
export function buildVm(file: string, o: LoadOptions): Vm | number {
  try {
    const capture = loadCaptureVm(file, o);
    if (capture) return capture;
  } catch (e) {
    if (e instanceof ProgramFileError) throw new UsageError(e.message);
    if (e instanceof AubFormatError || e instanceof CaptureError || e instanceof ConfigError)
      throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
  let source: string;
  try {
    source = readProgram(file);
  } catch (e) {
    if (e instanceof ProgramFileError) throw new UsageError(e.message);
    throw e;
  }
  try {
    return loadVm(file, o, source);
  } catch (e) {
    if (e instanceof AssemblyError) {
      printDiagnostics(e.diagnostics, source);
      return 2;
    }
    if (e instanceof ConfigError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

export function parsePngArgs(list: string[] | undefined): { surface: string; out: string }[] {
  return (list ?? []).map((p) => {
    const m = /^([^=]+)=(.+)$/.exec(p);
    if (!m) throw new UsageError(`--png takes SURFACE=OUT.png, got '${p}'`);
    return { surface: m[1], out: m[2] };
  });
}

/** Writes a surface as a PNG (emulator/png.ts: opaque RGB). */
export function writeSurfacePng(vm: Vm, surface: string, out: string): void {
  let s;
  try {
    s = vm.readSurface(surface);
  } catch {
    throw new UsageError(
      `--png: no surface named '${surface}' (surfaces: ${vm.image.surfaces.map((x) => x.name).join(', ') || 'none'})`,
    );
  }
  try {
    writeOutputFile(out, surfacePng(s), '--png');
  } catch (e) {
    if (e instanceof OutputFileError) throw new UsageError(e.message);
    throw e;
  }
}

/** Prints a result as `run` does (JSON or text) and returns the exit code. */
export function report(vm: Vm, result: RunResult, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(formatResult(vm, result));
  return result.status === 'completed' ? 0 : 1;
}

export function formatResult(vm: Vm, r: RunResult): string {
  const lines: string[] = [];
  lines.push(
    `${vm.image.file}: ${r.status} after ${r.commands} commands, ${r.cycles} cycles (host gen ${vm.cfg.hostGen}, device version ${vm.cfg.version}, isolation ${vm.cfg.isolation ? 'on' : 'off'})`,
  );
  if (r.capture)
    lines.push(
      `capture: ${r.capture.format}, ${r.capture.platform} (PCI ID ${r.capture.pciId}), application '${r.capture.application}', ${r.capture.submissions} submission(s)`,
    );
  if (r.capture?.note) lines.push(`note: ${r.capture.note}`);
  const source = new SourceLines(vm.image.source);
  for (const e of r.errors.slice(0, MAX_DIAGNOSTICS)) {
    lines.push('');
    // Line 0: the command has no source line (data run as commands, a batch run off its end).
    lines.push(
      `${e.file}${e.line > 0 ? `:${e.line}` : ''}: ${e.kind} on ${e.engine} at GPU VA ${hex(e.commandVa)}${e.line > 0 ? '' : ' (no source line)'}${e.rolledBack ? ' (rolled back, submission skipped)' : ''}`,
    );
    lines.push(`  ${e.message}`);
    const src = source.line(e.line);
    if (src !== undefined) {
      const col = vm.errors.find((x) => x.line === e.line && x.commandVa === e.commandVa)?.col ?? 1;
      const x = excerpt(src, col);
      lines.push(`  ${x.text}`);
      lines.push(`  ${x.caret}`);
    }
  }
  if (r.errors.length > MAX_DIAGNOSTICS)
    lines.push('', `${r.errors.length - MAX_DIAGNOSTICS} more GPU errors not shown (--json lists them all)`);
  if (r.migration) {
    const m = r.migration;
    lines.push('');
    lines.push(
      `migration: ${m.status}${m.reason ? ` (${m.reason})` : ''}, ${m.rounds} rounds, ${m.pagesSent} pages sent, downtime ${m.downtimeMs.toFixed(2)} ms`,
    );
  }
  lines.push('');
  lines.push(`snapshots: ${r.snapshots.taken} taken, ${r.snapshots.bytes} bytes kept`);
  for (const [name, s] of Object.entries(r.surfaces))
    lines.push(`surface ${name}: ${s.width}x${s.height} sha256 ${s.sha256}`);
  lines.push(`memory sha256: ${r.memorySha256}`);
  return lines.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs(argv, RUN_FLAGS);
  if (positionals.length !== 1) throw new UsageError('usage: vgpu run FILE [options] (one program file)');
  const file = positionals[0];
  const dumps = await import('./dump');
  if (dumps.isDumpFile(file)) return dumps.runDump(file, v);
  const o = loadOptionsFrom(v);
  const pngs = parsePngArgs(v.png as string[] | undefined);
  const checkpointAt = parseIntFlag(v['checkpoint-at'] as string | undefined, '--checkpoint-at');
  if ((checkpointAt === undefined) !== (v.save === undefined))
    throw new UsageError('--checkpoint-at N and --save OUT.ckpt go together');
  const migrateAt = parseIntFlag(v['migrate-at'] as string | undefined, '--migrate-at');
  if ((migrateAt === undefined) !== (v.to === undefined))
    throw new UsageError('--migrate-at N and --to HOST:PORT go together');
  try {
    for (const p of pngs) checkOutputPath(p.out, '--png');
    if (v.save !== undefined) checkOutputPath(String(v.save), '--save');
  } catch (e) {
    if (e instanceof OutputFileError) throw new UsageError(e.message);
    throw e;
  }
  const vm = buildVm(file, o);
  if (typeof vm === 'number') return vm;
  for (const p of pngs)
    if (!vm.image.surfaces.some((s) => s.name.toUpperCase() === p.surface.toUpperCase())) {
      throw new UsageError(`--png: no surface named '${p.surface}' in ${file}`);
    }
  if (checkpointAt !== undefined) {
    const { saveCheckpointAt } = await import('./checkpoint');
    return saveCheckpointAt(vm, checkpointAt, String(v.save), !!v.json);
  }
  if (migrateAt !== undefined) {
    const { migrateRun } = await import('./migrate');
    return migrateRun(vm, migrateAt, String(v.to), { json: !!v.json, token: v.token as string | undefined, pngs });
  }
  vm.run();
  for (const p of pngs) writeSurfacePng(vm, p.surface, p.out);
  if (v['error-state'] !== undefined) dumps.writeErrorState(vm, String(v['error-state']), !v['error-state-raw']);
  return report(vm, vm.result(), !!v.json);
}
