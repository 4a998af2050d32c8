// Loading a `.vgpu` program into a VM: read, assemble with the configuration's overrides, build the VM.
// The CLI, the debug adapter, tests and migration all start a VM through here.

import * as fs from 'node:fs';
import { assemble } from './assembler';
import { isCapture, loadCapture } from './capture';
import type { ProgramImage } from './image';
import { Vm, VmOptions } from './vm';

export interface LoadOptions extends VmOptions {
  /** Guest RAM bytes (overrides `.vm memory=`). */
  memory?: number;
  physBits?: number;
}

/** Reads a program file; a missing or unreadable file is a one-line error naming it. */
export function readProgram(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ProgramFileError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
}

export class ProgramFileError extends Error {}

export function assembleProgram(file: string, source: string, o: LoadOptions = {}): ProgramImage {
  return assemble(source, { file, memory: o.memory, physBits: o.physBits });
}

/** Assembles and builds a VM; throws AssemblyError, ConfigError or ProgramFileError. */
export function loadVm(file: string, o: LoadOptions = {}, source = readProgram(file)): Vm {
  return new Vm(assembleProgram(file, source, o), o);
}

/**
 * Builds a VM from a real GPU capture (AUB, gzipped or not; recognized from the content), or returns
 * null when the file is not one. Throws ProgramFileError, AubFormatError, CaptureError or ConfigError.
 */
export function loadCaptureVm(file: string, o: LoadOptions = {}): Vm | null {
  let raw: Uint8Array;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ProgramFileError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  if (!isCapture(raw)) return null;
  return new Vm(loadCapture(file, raw), o);
}
