// `vgpu translate FILE VA [--view full|restricted] [--engine E] [--ggtt] [--json]`: every step of the PPGTT
// (or, with --ggtt, the global GTT) and EPT walks.

import { EPT_VIEW_NAMES } from '../ept';
import { hex } from '../memory';
import { translationLines, walkStepJson } from '../walkformat';
import { UsageError, parseArgs } from './args';
import { buildVm } from './run';

export function parseVa(text: string): number {
  const t = text.replace(/_/g, '');
  const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t.slice(2), 16) : /^[0-9]+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 48)
    throw new UsageError(`'${text}' is not a 48-bit GPU VA (example: 0x100000)`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs(argv, {
    view: { type: 'string' },
    json: { type: 'boolean' },
    engine: { type: 'string' },
    ggtt: { type: 'boolean' },
  });
  if (positionals.length !== 2)
    throw new UsageError(
      'usage: vgpu translate FILE VA [--view full|restricted] [--engine rcs0|bcs0] [--ggtt] [--json]',
    );
  const space = v.ggtt ? 'ggtt' : 'ppgtt';
  const va = parseVa(positionals[1]);
  const viewName = (v.view as string | undefined) ?? 'full';
  const view = EPT_VIEW_NAMES.indexOf(viewName as 'full');
  if (view < 0) throw new UsageError(`--view must be full or restricted, got '${viewName}'`);
  const engine = ((v.engine as string | undefined) ?? 'rcs0') as 'rcs0' | 'bcs0';
  if (engine !== 'rcs0' && engine !== 'bcs0') throw new UsageError(`--engine must be rcs0 or bcs0`);
  const vm = buildVm(positionals[0], {});
  if (typeof vm === 'number') return vm;
  const t = vm.translate(va, view, engine, space);
  if (v.json) {
    process.stdout.write(
      JSON.stringify({
        va: hex(va),
        view: viewName,
        ...(space === 'ggtt' ? { space } : {}),
        ok: t.hpa >= 0,
        ...(t.gpa !== undefined ? { gpa: hex(t.gpa) } : {}),
        ...(t.hpa >= 0 ? { hpa: hex(t.hpa) } : {}),
        ...(t.fault
          ? {
              fault: {
                kind: t.fault.kind,
                level: t.fault.level,
                reason: t.fault.reason,
                ...(t.fault.gpa !== undefined ? { gpa: hex(t.fault.gpa) } : {}),
              },
            }
          : {}),
        steps: t.steps.map(walkStepJson),
      }) + '\n',
    );
    return t.hpa >= 0 ? 0 : 1;
  }
  process.stdout.write(translationLines(t, { va, view, engine, space }, 'compact').join('\n') + '\n');
  return t.hpa >= 0 ? 0 : 1;
}
