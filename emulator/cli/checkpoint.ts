// `vgpu run FILE --checkpoint-at N --save OUT.ckpt`: run N commands, then save the whole VM atomically.

import { writeCheckpoint } from '../checkpoint';
import { OutputFileError } from '../outputfile';
import type { Vm } from '../vm';
import { UsageError } from './args';

export function saveCheckpointAt(vm: Vm, n: number, file: string, json: boolean): number {
  if (file.trim() === '') throw new UsageError('--save: no file name given');
  const how = vm.run({ untilCommands: n });
  let bytes: number;
  try {
    bytes = writeCheckpoint(vm, file, '--save');
  } catch (e) {
    if (e instanceof OutputFileError) throw new UsageError(e.message);
    throw e;
  }
  const info = {
    checkpoint: file,
    commands: vm.commands,
    step: vm.step,
    bytes,
    stoppedBy: how === 'limit' ? 'checkpoint' : how,
  };
  if (json) process.stdout.write(JSON.stringify(info) + '\n');
  else
    process.stdout.write(
      `saved ${file}: ${bytes} bytes at ${vm.commands} commands (step ${vm.step})${how !== 'limit' ? ` — the run ended first (${how})` : ''}\n`,
    );
  return how === 'error' ? 1 : 0;
}
