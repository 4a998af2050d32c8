// Loading a `.vgpu` program into a VM: read, assemble with the configuration's overrides, build the VM.
// The CLI, the debug adapter, tests and migration all start a VM through here.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { assemble } from './assembler';
import { CaptureError, MAX_CAPTURE_BYTES, isCapture, loadCapture } from './capture';
import { MAX_PROGRAM_BYTES, knownFormat, programText } from './filetype';
import type { ProgramImage } from './image';
import { Vm, VmOptions } from './vm';

export interface LoadOptions extends VmOptions {
  /** Guest RAM bytes (overrides `.vm memory=`). */
  memory?: number;
  physBits?: number;
}

/**
 * Reads a program file; a missing or unreadable file, anything but a regular file (a FIFO, a device,
 * a directory), a file past MAX_PROGRAM_BYTES and a binary file are each one line naming the file.
 */
export function readProgram(file: string): string {
  let bytes: Buffer;
  try {
    // stat before open: opening a FIFO blocks until a writer comes, reading /dev/zero never ends.
    const st = fs.statSync(file);
    if (!st.isFile()) throw new ProgramFileError(`${file}: not a regular file (${fileKind(st)})`);
    if (st.size > MAX_PROGRAM_BYTES) {
      const known = knownFormat(readHead(file, 512));
      throw new ProgramFileError(
        known
          ? `${file} is ${known}, not a .vgpu program`
          : `${file}: ${st.size} bytes is past the ${MAX_PROGRAM_BYTES / 1024 / 1024} MiB limit for a program file`,
      );
    }
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof ProgramFileError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new ProgramFileError(
      `${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message}`,
    );
  }
  // A file that grew between the stat and the read is still held to the limit.
  if (bytes.length > MAX_PROGRAM_BYTES)
    throw new ProgramFileError(`${file}: past the ${MAX_PROGRAM_BYTES / 1024 / 1024} MiB limit for a program file`);
  const r = programText(bytes);
  if ('refused' in r) throw new ProgramFileError(`${file} ${r.refused}`);
  return r.text;
}

function readHead(file: string, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, fs.readSync(fd, buf, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

export class ProgramFileError extends Error {}

/** A sidecar binary `.incbin` / `.write` names: a regular file, read whole. */
function readSidecar(file: string): Uint8Array {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new Error(`not a regular file`);
  return fs.readFileSync(file);
}

export function assembleProgram(file: string, source: string, o: LoadOptions = {}): ProgramImage {
  const dir = path.dirname(file);
  return assemble(source, {
    file,
    memory: o.memory,
    physBits: o.physBits,
    readFile: (name) => readSidecar(path.resolve(dir, name)),
  });
}

/** Assembles and builds a VM; throws AssemblyError, ConfigError or ProgramFileError. */
export function loadVm(file: string, o: LoadOptions = {}, source = readProgram(file)): Vm {
  return new Vm(assembleProgram(file, source, o), o);
}

/** Is FILE a capture (AUB, gzipped or not), judged from its first 64 KiB? A file that cannot be read is not. */
export function isCaptureFile(file: string): boolean {
  let fd: number | undefined;
  try {
    if (!fs.statSync(file).isFile()) return false;
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(1 << 16);
    return isCapture(head.subarray(0, fs.readSync(fd, head, 0, head.length, 0)));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Builds a VM from a real GPU capture (AUB, gzipped or not; recognized from the content), or returns
 * null when the file is not one. Only a regular file is opened (a FIFO would block, a device never
 * end). Throws ProgramFileError, AubFormatError, CaptureError or ConfigError.
 */
export function loadCaptureVm(file: string, o: LoadOptions = {}): Vm | null {
  let raw: Uint8Array;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return null; // the program path refuses it, naming what it is
    if (st.size > MAX_CAPTURE_BYTES) {
      // Too large to keep whole: a capture says so; anything else goes on to the program path's limits.
      if (!isCaptureFile(file)) return null;
      throw new CaptureError(`the file is ${st.size} bytes; captures of up to ${MAX_CAPTURE_BYTES} bytes open`, 0);
    }
    raw = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ProgramFileError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  if (!isCapture(raw)) return null;
  return new Vm(loadCapture(file, raw), o);
}
