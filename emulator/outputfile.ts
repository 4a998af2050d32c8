// Writing an output file (checkpoint, PNG) atomically: a temporary file beside it, then a rename, so an
// existing file is never half-overwritten; any failure is one OutputFileError line and no temporary
// file is left behind.

import * as fs from 'node:fs';
import * as path from 'node:path';

export class OutputFileError extends Error {}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large (past the file-size limit)',
  ENAMETOOLONG: 'file name too long',
};

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.code && REASONS[err.code]) ?? err.code ?? String(err.message ?? e);
}

/**
 * Checks that `file` can be created or replaced (a name, not a directory, in an existing directory),
 * so that a command can refuse before it runs; returns its absolute path.
 */
export function checkOutputPath(file: string, what: string): string {
  if (typeof file !== 'string' || file.trim() === '') throw new OutputFileError(`${what}: no file name given`);
  const full = path.resolve(file);
  const dir = path.dirname(full);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(full);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory() || /[/\\]$/.test(file))
    throw new OutputFileError(`${what}: ${file} is a directory; give a file name`);
  if (st && !st.isFile()) throw new OutputFileError(`${what}: ${file} exists and is not a regular file`);
  try {
    if (!fs.statSync(dir).isDirectory())
      throw new OutputFileError(`${what}: cannot write ${file}: ${dir} is not a directory`);
  } catch (e) {
    if (e instanceof OutputFileError) throw e;
    throw new OutputFileError(`${what}: cannot write ${file}: ${reason(e)} (${dir})`);
  }
  return full;
}

/** Writes `data` to `file` atomically; `what` names the option in messages (`--save`, `--png`). */
export function writeOutputFile(file: string, data: Uint8Array, what: string): void {
  const full = checkOutputPath(file, what);
  const dir = path.dirname(full);
  const tmp = path.join(dir, `.${path.basename(full)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, full);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // Never created, or already gone.
    }
    throw new OutputFileError(`${what}: cannot write ${file}: ${reason(e)}`);
  }
}
