// Launch: validates the arguments against LAUNCH_ATTRIBUTES (the one declaration the package.json schema
// is generated from) and builds the VM; a bad option or program becomes one message naming the cause
// (for a program: FILE:LINE:COL: error: MESSAGE for every error the assembler found).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { AssemblyError, AubFormatError, CaptureError, CaptureReport, ConfigError, Diagnostic, DumpFormatError, formatDiagnostic, isCaptureFile, isHangDumpFile, loadCaptureVm, LoadOptions, loadVm, openHangDump, parseHangDump, parseNumber, ProgramFileError, readProgram, Vm, type EngineName, type ProgramImage } from '../emulator';
import { LISTING_MARK, Listing, buildListing } from './listing';
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

/** A post-mortem session's first stop: the hung command of a kernel hang dump, or where the replay diverged. */
export interface HangStop {
  readonly engine: EngineName;
  /** The kernel's reason, as the dump states it. */
  readonly reason: string;
  readonly description: string;
  readonly text: string;
  readonly report: CaptureReport;
  /** VM step of the stop (exceptionInfo answers for it while the VM stands there). */
  readonly step: number;
}

/** What a launch builds: the VM; for a capture or dump, its generated listing; for a dump, the hang stop. */
export interface Launched {
  readonly vm: Vm;
  readonly listing?: Listing;
  readonly hang?: HangStop;
}

/** The text of a kernel hang dump (recognized as `vgpu run` does), else undefined. */
function hangDumpText(file: string): string | undefined {
  return isHangDumpFile(file) ? fs.readFileSync(file, 'latin1') : undefined;
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A launch failure of a capture or dump, as one message naming the file (and line or byte). */
function refusal(e: unknown, file: string): Error {
  if (e instanceof ProgramFileError) return new LaunchError(`launch: ${e.message}`);
  if (e instanceof AubFormatError || e instanceof CaptureError || e instanceof ConfigError) return new LaunchError(`launch: ${file}: ${e.message}`);
  if (e instanceof DumpFormatError) return new LaunchError(`launch: ${file}:${e.line}: ${e.reason}`);
  return e as Error;
}

/**
 * An AUB capture's VM and its listing's header, or undefined when the program is not a capture (its
 * listing is built by the caller: at once, or in slices for a large one).
 */
export function openCapture(a: LaunchArguments): { vm: Vm; header: string[] } | undefined {
  const file = programPath(a);
  try {
    const vm = loadCaptureVm(file, loadOptions(a));
    if (!vm) return undefined;
    const c = vm.image.capture!;
    const header = [`${LISTING_MARK} ${path.basename(file)}: AUB capture of ${JSON.stringify(c.application)} on ${c.platform} (PCI ID ${c.pciId}, gen${c.gen}), ${c.submissions} submission${c.submissions === 1 ? '' : 's'}`,
      ...(c.note ? [`; note: ${c.note}`] : []),
      '; generated by vgpu-debug, read-only: one line per command the capture runs (GPU VA, command, fields)'];
    return { vm, header };
  } catch (e) {
    throw refusal(e, file);
  }
}

/**
 * Builds what a launch debugs: an AUB capture or a hang dump (recognized from the content) with its
 * listing, else a .vgpu program. Every failure is a LaunchError with a one-look message.
 */
export function buildLaunch(a: LaunchArguments, pre?: Assembled): Launched {
  if (pre) return { vm: buildVm(a, pre) };
  const file = programPath(a);
  const o = loadOptions(a);
  const refused = (e: unknown): never => {
    throw refusal(e, file);
  };
  const capture = openCapture(a);
  if (capture) return { vm: capture.vm, listing: buildListing(capture.vm, o, capture.header) };
  const dumpText = hangDumpText(file);
  if (dumpText !== undefined) {
    try {
      const dump = parseHangDump(dumpText, file);
      if (dump) return openDump(file, dump, definedOnly(o));
    } catch (e) {
      refused(e);
    }
  }
  return { vm: buildVm(a) };
}

function openDump(file: string, dump: NonNullable<ReturnType<typeof parseHangDump>>, o: LoadOptions): Launched {
  const { vm, report } = openHangDump(dump, o);
  const acthd = Number(report.acthd);
  const engine = report.replayEngine;
  const header = [`${LISTING_MARK} ${path.basename(file)}: ${dump.format === 'i915-error' ? 'i915 error state' : 'Xe devcoredump'}${report.platform ? ` (${report.platform}${report.pciId ? `, PCI ID ${report.pciId}` : ''})` : ''}`,
    `; reason: ${report.reason}`,
    `; hung engine ${report.engine}, ACTHD ${report.acthd}${report.ipehr ? `, IPEHR ${report.ipehr}` : ''}; replayed from ${report.replayFrom.ring ? 'the ring at' : 'the batch at'} ${report.replayFrom.va}`,
    ...report.notes.map((n) => `; note: ${n}`),
    '; generated by vgpu-debug, read-only: one line per command of the replay (GPU VA, command, fields), then the rest of the hung batch'];
  const listing = buildListing(vm, { ...o, autoRollback: false }, header, (dry) => {
    const e = dry.engine(engine);
    return e.busy() && dry.nextActor() === e && e.nextVa() === acthd;
  }, true);
  const description = report.reached
    ? `Hung: ${report.reason}`
    : `Replay diverged at ${report.divergence?.at}: ${report.divergence?.reason}`;
  const text = report.reached
    ? `the dump's hung command ${report.command?.mnemonic ?? 'unknown command'} at ${report.acthd} (ACTHD)${report.headerMatchesIpehr === false ? `; its header ${report.command?.header} is not IPEHR ${report.ipehr}` : ''}`
    : `the replay from ${report.replayFrom.va} did not reach ACTHD ${report.acthd}: ${report.divergence?.reason}`;
  const stopEngine = report.reached ? engine : (vm.pending?.engine ?? engine);
  return { vm, listing, hang: { engine: stopEngine, reason: report.reason, description, text, report, step: vm.step } };
}

/** A program's image assembled elsewhere (adapter/assemble.ts, off the event loop), with its source. */
export interface Assembled {
  readonly image: ProgramImage;
  readonly source: string;
}

/**
 * Builds the VM of a .vgpu program (from `pre` when it was assembled already); every failure is a
 * LaunchError with a one-look message.
 */
export function buildVm(a: LaunchArguments, pre?: Assembled): Vm {
  const file = programPath(a);
  const o = loadOptions(a);
  let source = pre?.source;
  try {
    source ??= readProgram(file);
  } catch (e) {
    throw launchFailure(e, file);
  }
  try {
    return pre ? new Vm(pre.image, o) : loadVm(file, o, source);
  } catch (e) {
    throw launchFailure(e, file, source);
  }
}

/** What a failed program load tells the user: the first assembler errors (FILE:LINE:COL), or the cause. */
export function launchFailure(e: unknown, file: string, source?: string): Error {
  if (e instanceof ProgramFileError) return new LaunchError(`launch: ${e.message}`);
  if (e instanceof AssemblyError) {
    const errors = e.diagnostics.filter((d) => d.severity === 'error');
    const shown = errors.slice(0, 5).map(formatDiagnostic);
    if (errors.length > shown.length) shown.push(`... and ${errors.length - shown.length} more errors`);
    return new LaunchError(shown.join('\n'), e.diagnostics, source ?? (e as AssemblyError & { source?: string }).source);
  }
  if (e instanceof ConfigError) return new LaunchError(`${file}: configuration error: ${e.message}`);
  if (e instanceof RangeError) return new LaunchError(`${file}: ${e.message}`);
  if (source === undefined && e instanceof Error) return new LaunchError(`launch: ${file}: ${e.message}`);
  return e as Error;
}

/** Is FILE a program (not a capture or a hang dump, which their own loaders open)? */
export function isProgramFile(file: string): boolean {
  return !isHangDumpFile(file) && !isCaptureFile(file);
}
