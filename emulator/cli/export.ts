// `vgpu export FILE.vgpu -o OUT.aub`: the program as an AUB capture (emulator/export.ts) that Mesa's
// aubinator decodes and `vgpu run` / `vgpu import` read back.

import * as path from 'node:path';
import { ExportError, exportAub } from '../export';
import { AssemblyError } from '../image';
import { OutputFileError, checkOutputPath, writeOutputFile } from '../outputfile';
import { ProgramFileError, assembleProgram, readProgram } from '../program';
import { UsageError, parseArgs } from './args';
import { printDiagnostics } from './diagnostics';

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs(argv, {
    output: { type: 'string', short: 'o' },
    application: { type: 'string' },
  });
  if (positionals.length !== 1 || v.output === undefined)
    throw new UsageError('usage: vgpu export FILE.vgpu -o OUT.aub [--application NAME]');
  const file = positionals[0];
  const out = String(v.output);
  let source: string;
  try {
    checkOutputPath(out, '-o');
    source = readProgram(file);
  } catch (e) {
    if (e instanceof ProgramFileError || e instanceof OutputFileError) throw new UsageError(e.message);
    throw e;
  }
  let bytes: Uint8Array;
  try {
    const image = assembleProgram(file, source);
    bytes = exportAub(image, {
      application: (v.application as string | undefined) ?? path.basename(file).replace(/\.vgpu$/, ''),
    });
  } catch (e) {
    if (e instanceof AssemblyError) {
      printDiagnostics(e.diagnostics, source);
      return 2;
    }
    if (e instanceof ExportError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
  try {
    writeOutputFile(out, bytes, '-o');
  } catch (e) {
    if (e instanceof OutputFileError) throw new UsageError(e.message);
    throw e;
  }
  return 0;
}
