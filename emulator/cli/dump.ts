// `vgpu run DUMP` (a kernel hang dump, recognized from its content) and `vgpu run FILE --error-state OUT`.

import * as fs from 'node:fs';
import { DumpFormatError } from '../formats/dump';
import { hex } from '../memory';
import { CaptureReport, errorStateText, isHangDumpFile, openHangDump, parseHangDump } from '../postmortem';
import type { Vm } from '../vm';
import { UsageError } from './args';

/** Is FILE a hang dump rather than a program? */
export const isDumpFile = isHangDumpFile;

/** Reads and parses a dump; a malformed one is a usage error naming the file and line (exit 2). */
export function readDump(file: string) {
  const text = fs.readFileSync(file, 'latin1');
  try {
    const d = parseHangDump(text, file);
    if (!d) throw new UsageError(`${file}: not an i915 error state or Xe devcoredump`);
    return d;
  } catch (e) {
    if (e instanceof DumpFormatError) throw new UsageError(`${file}:${e.line}: ${e.reason}`);
    throw e;
  }
}

export function runDump(file: string, v: Record<string, unknown>): number {
  const dump = readDump(file);
  let opened;
  try {
    opened = openHangDump(dump);
  } catch (e) {
    if (e instanceof DumpFormatError) throw new UsageError(`${file}:${e.line}: ${e.reason}`);
    throw e;
  }
  const { vm, report } = opened;
  if (v['show-program']) process.stdout.write(opened.program);
  if (v.json) process.stdout.write(JSON.stringify({ ...vm.result('error'), capture: report }) + '\n');
  else process.stdout.write(formatCapture(file, report));
  return 1;
}

export function formatCapture(file: string, r: CaptureReport): string {
  const out: string[] = [];
  out.push(`${file}: ${r.format}${r.platform ? ` (${r.platform}${r.pciId ? `, PCI ID ${r.pciId}` : ''})` : ''}`);
  if (r.reason) out.push(`  reason: ${r.reason}`);
  out.push(
    `  hung engine: ${r.engine}${r.replayEngine !== r.engine ? ` (replayed on ${r.replayEngine})` : ''}, ACTHD ${r.acthd}${r.ipehr ? `, IPEHR ${r.ipehr}` : ''}`,
  );
  out.push(`  replay from ${r.replayFrom.ring ? 'the ring at' : 'the batch at'} ${r.replayFrom.va}`);
  if (r.reached && r.command) {
    out.push(
      `  reached the hung command at ${r.command.va}: ${r.command.mnemonic ?? 'unknown command'} (header ${r.command.header})${r.headerMatchesIpehr === false ? ' -- NOT the IPEHR' : r.headerMatchesIpehr ? ', = IPEHR' : ''}`,
    );
  } else if (r.divergence) out.push(`  replay diverged at ${r.divergence.at}: ${r.divergence.reason}`);
  for (const b of r.buffers)
    out.push(`  buffer ${b.name} at ${b.va}, ${b.bytes} bytes (${b.encoding})${b.mapped ? '' : ', not mapped'}`);
  for (const n of r.notes) out.push(`  note: ${n}`);
  for (const u of r.unknown) out.push(`  unknown line ${u.line}: ${u.text}`);
  return out.join('\n') + '\n';
}

/** Writes the error state of the first unrecovered GPU error; false when there is none. */
export function writeErrorState(vm: Vm, out: string, compress: boolean): boolean {
  const err = vm.errors.find((e) => !e.rolledBack);
  if (!err) {
    process.stderr.write(`vgpu: no unrecovered GPU error: no error state written to ${out}\n`);
    return false;
  }
  fs.writeFileSync(out, errorStateText(vm, err, compress));
  process.stderr.write(
    `vgpu: error state of the ${err.kind} on ${err.engine} at ${hex(err.commandVa)} written to ${out}\n`,
  );
  return true;
}
