// `vgpu run FILE --migrate-at N --to HOST:PORT`: placeholder until VM transfer lands (issue 7).

import type { Vm } from '../vm';
import { UsageError } from './args';

export async function migrateRun(_vm: Vm, _n: number, _to: string, _o: { json: boolean; token?: string; pngs: { surface: string; out: string }[] }): Promise<number> {
  throw new UsageError('VM transfer is not implemented yet');
}
