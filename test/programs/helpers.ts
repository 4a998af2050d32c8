// Shared helpers for program-level tests: load an example into a VM, read labels, run with checks.

import * as path from 'node:path';
import { loadVm, LoadOptions } from '../../emulator/program';
import type { Vm } from '../../emulator/vm';

export const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

export function example(name: string, o: LoadOptions = {}): Vm {
  return loadVm(path.join(EXAMPLES, name), o);
}

/** The dword at a label (through rcs0's PPGTT). */
export function atLabel(vm: Vm, label: string, index = 0): number | undefined {
  const va = vm.image.symbols.get(label.toUpperCase());
  if (va === undefined) throw new Error(`no label ${label}`);
  return vm.readVa(va + 4 * index, 1)[0];
}

/** Runs with the write-set soundness check on; returns the violations found. */
export function runChecked(vm: Vm): string[] {
  const bad: string[] = [];
  vm.enableWriteCheck((pfn, engine, va, offset) =>
    bad.push(
      `${engine} command at 0x${va.toString(16)} wrote ${offset === undefined ? 'page' : `byte 0x${offset.toString(16)} of page`} 0x${pfn.toString(16)} outside its prediction`,
    ),
  );
  vm.run();
  return bad;
}

/** Deterministic PRNG. */
export { mulberry32 as prng } from '../helpers/prng';
