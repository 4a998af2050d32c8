// `vgpu resume OUT.ckpt [--json] [--png SURFACE=OUT.png]`: load a checkpoint and finish the run.

import { CheckpointError, readCheckpoint } from '../checkpoint';
import { OutputFileError, checkOutputPath } from '../outputfile';
import { UsageError, parseArgs } from './args';
import { parsePngArgs, report, writeSurfacePng } from './run';

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs(argv, {
    json: { type: 'boolean' },
    png: { type: 'string', multiple: true },
  });
  if (positionals.length !== 1) throw new UsageError('usage: vgpu resume FILE.ckpt [--json] [--png SURFACE=OUT.png]');
  const pngs = parsePngArgs(v.png as string[] | undefined);
  try {
    for (const p of pngs) checkOutputPath(p.out, '--png');
  } catch (e) {
    if (e instanceof OutputFileError) throw new UsageError(e.message);
    throw e;
  }
  let vm;
  try {
    vm = readCheckpoint(positionals[0]);
  } catch (e) {
    if (e instanceof CheckpointError) throw new UsageError(e.message);
    throw e;
  }
  vm.run();
  for (const p of pngs) writeSurfacePng(vm, p.surface, p.out);
  return report(vm, vm.result(), !!v.json);
}
