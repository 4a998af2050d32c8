// Launch: validates the arguments against LAUNCH_ATTRIBUTES (the one declaration the package.json schema
// is generated from) and builds the VM; a bad option or program becomes one message naming the cause
// (for a program: FILE:LINE:COL: error: MESSAGE for every error the assembler found).

import * as path from 'node:path';
import { formatDiagnostic, AssemblyError, Diagnostic } from '../emulator/image';
import { parseNumber } from '../emulator/lexer';
import { ProgramFileError, loadVm, readProgram, LoadOptions } from '../emulator/program';
import { ConfigError, Vm } from '../emulator/vm';
import { AttributeSpec, LAUNCH_ATTRIBUTES, LaunchArguments } from './protocol';

export class LaunchError extends Error {
  constructor(message: string, readonly diagnostics: readonly Diagnostic[] = [], readonly source?: string) {
    super(message);
  }
}

/** Checks every known attribute (unknown ones, like VS Code's `type`/`name`, are ignored). */
export function validateLaunch(raw: unknown): LaunchArguments {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new LaunchError('launch: the arguments must be an object');
  const args = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(LAUNCH_ATTRIBUTES) as [string, AttributeSpec][]) {
    const v = args[name];
    if (v === undefined || v === null) continue;
    const p = checkValue(name, v, spec);
    if (p) problems.push(p);
  }
  if (typeof args.program !== 'string' || args.program.trim() === '') problems.unshift("launch: 'program' must name a .vgpu file");
  if (problems.length) throw new LaunchError(problems.join('\n'));
  return args as unknown as LaunchArguments;
}

function checkValue(name: string, v: unknown, spec: AttributeSpec): string | undefined {
  const bad = (what: string) => `launch: '${name}' ${what} (got ${JSON.stringify(v)})`;
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') return bad('must be a string');
      if (spec.pattern && !new RegExp(spec.pattern).test(v)) return bad(`must match ${spec.pattern}`);
      break;
    case 'boolean':
      if (typeof v !== 'boolean') return bad('must be true or false');
      break;
    case 'integer':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return bad('must be an integer');
      if (spec.minimum !== undefined && v < spec.minimum) return bad(`must be at least ${spec.minimum}`);
      break;
    case 'array':
      if (!Array.isArray(v)) return bad('must be an array');
      for (const item of v) {
        if (spec.items?.type === 'integer' && !(typeof item === 'number' && Number.isSafeInteger(item))) return bad('must hold integers');
        if (spec.items?.type === 'string' && typeof item !== 'string') return bad('must hold strings');
        if (spec.items?.enum && !spec.items.enum.includes(item)) return bad(`entries must be one of ${spec.items.enum.join(', ')}`);
      }
      return undefined;
  }
  if (spec.enum && !spec.enum.includes(v)) return bad(`must be one of ${spec.enum.join(', ')}`);
  return undefined;
}

/** The VM options of validated launch arguments. */
export function loadOptions(a: LaunchArguments): LoadOptions {
  let memory: number | undefined;
  if (a.memory !== undefined) {
    const m = parseNumber(a.memory);
    if (typeof m === 'string' || m <= 0n || m > 1n << 52n) throw new LaunchError(`launch: 'memory' ${typeof m === 'string' ? m : 'is out of range'} (got "${a.memory}")`);
    memory = Number(m);
  }
  return {
    hostGen: a.hostGen, deviceVersion: a.deviceVersion, migrationPool: a.migrationPool, memory, isolation: a.isolation,
    snapshotEvery: a.snapshotEvery, watchdog: a.watchdog, autoRollback: a.autoRollback,
  };
}

export function programPath(a: LaunchArguments, cwd = process.cwd()): string {
  return path.resolve(cwd, a.program);
}

/** Builds the VM of a launch; every failure is a LaunchError with a one-look message. */
export function buildVm(a: LaunchArguments): Vm {
  const file = programPath(a);
  const o = loadOptions(a);
  let source: string;
  try {
    source = readProgram(file);
  } catch (e) {
    throw new LaunchError(e instanceof ProgramFileError ? `launch: ${e.message}` : `launch: ${file}: ${(e as Error).message}`);
  }
  try {
    return loadVm(file, o, source);
  } catch (e) {
    if (e instanceof AssemblyError) {
      const errors = e.diagnostics.filter((d) => d.severity === 'error');
      const shown = errors.slice(0, 5).map(formatDiagnostic);
      if (errors.length > shown.length) shown.push(`... and ${errors.length - shown.length} more errors`);
      throw new LaunchError(shown.join('\n'), e.diagnostics, source);
    }
    if (e instanceof ConfigError) throw new LaunchError(`${file}: configuration error: ${e.message}`);
    if (e instanceof RangeError) throw new LaunchError(`${file}: ${e.message}`);
    throw e;
  }
}
