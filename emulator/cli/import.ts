// `vgpu import FILE.aub[.gz] -o OUT.vgpu`: a capture as an editable program (emulator/import.ts) and its
// sidecar binary OUT.bin beside it, which runs to the capture's result.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureError, captureBytes, captureImage } from '../capture';
import { AubFormatError, parseAub } from '../formats/aub';
import { importCapture } from '../import';
import { OutputFileError, checkOutputPath, writeOutputFile } from '../outputfile';
import { UsageError, parseArgs } from './args';

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs(argv, {
    output: { type: 'string', short: 'o' },
    raw: { type: 'boolean' },
  });
  if (positionals.length !== 1 || v.output === undefined)
    throw new UsageError('usage: vgpu import FILE.aub[.gz] -o OUT.vgpu [--raw]');
  const file = positionals[0];
  const out = String(v.output);
  const bin = out.replace(/\.vgpu$/i, '') + '.bin';
  let raw: Uint8Array;
  try {
    checkOutputPath(out, '-o');
    checkOutputPath(bin, 'sidecar');
    if (!fs.statSync(file).isFile()) throw new UsageError(`${file}: not a regular file`);
    raw = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof OutputFileError) throw new UsageError(e.message);
    const err = e as NodeJS.ErrnoException;
    if (err.code) throw new UsageError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    throw e;
  }
  let result;
  try {
    const image = captureImage(file, parseAub(captureBytes(raw)));
    result = importCapture(image, path.basename(bin), { raw: !!v.raw });
  } catch (e) {
    if (e instanceof AubFormatError || e instanceof CaptureError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
  try {
    writeOutputFile(bin, result.sidecar, 'sidecar');
    writeOutputFile(out, new TextEncoder().encode(result.program), '-o');
  } catch (e) {
    if (e instanceof OutputFileError) throw new UsageError(e.message);
    throw e;
  }
  const s = result.stats;
  process.stderr.write(
    `${out}: ${s.batches} batch/ring block(s), ${s.commands} command(s) disassembled, ${s.dataBytes} data bytes (${result.sidecar.length} in ${path.basename(bin)})${s.rawFallback ? ', written as data' : ''}\n`,
  );
  return 0;
}
