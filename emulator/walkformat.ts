// A translation's walk as text and as JSON, one way for every view: the CLI's `vgpu translate`, the
// debug console's `translate`, the exception details of a fault, and `vgpu/translate`.

import type { FaultInfo } from './paging';
import { EPT_VIEW_NAMES, type WalkStep } from './ept';
import { hex } from './memory';

/** A walk step as JSON (`vgpu translate --json`, `vgpu/translate`): addresses and entries as hex strings. */
export interface WalkStepJson {
  readonly level: string;
  readonly table: string;
  readonly index: number;
  readonly entry: string;
  readonly flags: string;
  readonly ept?: WalkStepJson[];
}

/** How addresses are written: `compact` as short as they are; `aligned` zero-padded to their width (48-bit VA, 40-bit GPA, 44-bit HPA), so columns line up. */
export type HexStyle = 'compact' | 'aligned';

function addr(v: number, bits: number, style: HexStyle): string {
  return style === 'aligned' ? hex(v, bits / 4) : hex(v);
}

function entryOf(s: WalkStep): string {
  return hex((BigInt(s.entryHi >>> 0) << 32n) | BigInt(s.entryLo >>> 0), 16);
}

export function walkStepJson(s: WalkStep): WalkStepJson {
  return {
    level: s.level,
    table: hex(s.table),
    index: s.index,
    entry: entryOf(s),
    flags: s.flags,
    ...(s.ept ? { ept: s.ept.map(walkStepJson) } : {}),
  };
}

/**
 * One PPGTT/GGTT step (the table, the index, the entry and its flags), then the EPT walk that found its
 * table (`tableEpt` false: only the final data GPA's EPT walk is shown, as a fault's summary does).
 */
export function walkStepLines(s: WalkStep, style: HexStyle, tableEpt = true, indent = '  '): string[] {
  const head =
    s.level === 'EPT'
      ? `${indent}${s.flags} -> EPT walk:`
      : `${indent}${s.level.padEnd(5)} table GPA ${addr(s.table, 40, style)} [${String(s.index).padStart(3)}] = ${entryOf(s)}  ${s.flags}`;
  const ept = s.level === 'EPT' || tableEpt ? (s.ept ?? []) : [];
  return [
    head,
    ...ept.map(
      (e) =>
        `${indent}    EPT ${e.level.padEnd(5)} table HPA ${addr(e.table, 44, style)} [${String(e.index).padStart(3)}] = ${entryOf(e)}  ${e.flags}`,
    ),
  ];
}

/** A whole translation: what was walked, each step, then the result or the fault. */
export function translationLines(
  t: { hpa: number; gpa?: number; fault?: FaultInfo; steps: readonly WalkStep[] },
  what: { va: number; view: number; engine: string; space: 'ppgtt' | 'ggtt' },
  style: HexStyle,
): string[] {
  const view = EPT_VIEW_NAMES[what.view];
  const out = [
    what.space === 'ggtt'
      ? `global GTT address ${addr(what.va, 48, style)} under the ${view} EPT view:`
      : `GPU VA ${addr(what.va, 48, style)} under the ${view} EPT view (PDP0 of ${what.engine}):`,
  ];
  for (const s of t.steps) out.push(...walkStepLines(s, style));
  out.push(
    t.fault
      ? `${t.fault.kind}: ${t.fault.reason}`
      : `=> GPA ${addr(t.gpa!, 40, style)} => HPA ${addr(t.hpa, 44, style)}`,
  );
  return out;
}
