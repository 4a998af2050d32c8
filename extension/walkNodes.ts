// The Page Tables view's model: one translated address with every PPGTT step (each with the EPT
// walk that found its table in host memory) and then the EPT walk of the resulting GPA.

import type { CustomBody, WalkStepInfo } from '../adapter/protocol';
import type { TreeNode } from './treeNode';

export interface TranslateInput {
  readonly va: string;
  readonly view: 'full' | 'restricted';
  readonly engine: 'rcs0' | 'bcs0';
  /** The address space walked: the engine's PPGTT, or the global GTT. */
  readonly space?: 'ppgtt' | 'ggtt';
}

/** `0x1000000`, `1M`, `0x30_0000 restricted bcs0`, `0x10000 ggtt`: an address, then optional EPT view, engine and address space. */
export function parseTranslateInput(text: string): TranslateInput | string {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (!words.length) return 'Type a GPU virtual address, e.g. 0x1000000';
  const [addr, ...rest] = words;
  if (!/^(0x[0-9a-f_]+|0b[01_]+|[0-9_]+[kmg]?)$/i.test(addr))
    return `'${addr}' is not an address (0x..., decimal, or with K/M/G)`;
  let view: TranslateInput['view'] = 'full';
  let engine: TranslateInput['engine'] = 'rcs0';
  let space: TranslateInput['space'] = 'ppgtt';
  for (const w of rest.map((x) => x.toLowerCase())) {
    if (w === 'full' || w === 'restricted') view = w;
    else if (w === 'rcs0' || w === 'bcs0') engine = w;
    else if (w === 'ggtt' || w === 'ppgtt') space = w;
    else
      return `'${w}' is neither an EPT view (full, restricted), an engine (rcs0, bcs0) nor an address space (ppgtt, ggtt)`;
  }
  return space === 'ggtt' ? { va: addr, view, engine, space } : { va: addr, view, engine };
}

export interface Translation extends TranslateInput {
  readonly reply: CustomBody<'vgpu/translate'>;
}

const isEpt = (s: WalkStepInfo) => /^EPT\b/i.test(s.level);
/** Steps inside an `ept` list name plain levels (`PML4`): say which tables they are. */
const eptLabel = (level: string) => (/^EPT\b/i.test(level) ? level : `EPT ${level}`);

function stepNode(s: WalkStepInfo, path: string, label = s.level): TreeNode {
  const nested = s.ept ?? [];
  return {
    label: `${label} [${s.index}]`,
    description: `${s.entry} ${s.flags}`.trim(),
    tooltip: `${label} table ${s.table}, entry ${s.index} = ${s.entry}\nflags: ${s.flags || '(none: not present)'}`,
    icon: isEpt(s) || label !== s.level ? 'server' : 'symbol-array',
    children: nested.length
      ? [
          {
            label: 'EPT walk of this table',
            description: `${nested.length} step${nested.length === 1 ? '' : 's'}`,
            icon: 'server',
            children: nested.map((e, i) => stepNode(e, `${path}.${i}`, eptLabel(e.level))),
            id: `${path}.ept`,
          },
        ]
      : undefined,
    id: path,
  };
}

/**
 * The EPT walk of the final GPA: the adapter sends it as one `EPT` step (flags `GPA ...`) whose `ept`
 * list holds the levels; top-level `EPT <level>` steps are taken as they are.
 */
function finalEptSteps(steps: readonly WalkStepInfo[]): WalkStepInfo[] {
  return steps.filter(isEpt).flatMap((s) => (s.level.toUpperCase() === 'EPT' ? (s.ept ?? []) : [s]));
}

export function translationNode(t: Translation): TreeNode {
  const r = t.reply;
  const id = `walk-${t.engine}-${t.view}-${t.va}`;
  const ppgtt = r.steps.filter((s) => !isEpt(s));
  const ept = finalEptSteps(r.steps);
  const children: TreeNode[] = [];
  children.push({
    label: 'PPGTT',
    description: `${ppgtt.length} step${ppgtt.length === 1 ? '' : 's'} · ${t.engine}`,
    icon: 'type-hierarchy',
    children: ppgtt.map((s, i) => stepNode(s, `${id}.p${i}`)),
    expanded: true,
    id: `${id}.ppgtt`,
  });
  if (ept.length) {
    children.push({
      label: `EPT (${t.view} view)`,
      description: r.gpa ? `GPA ${r.gpa}` : undefined,
      icon: 'server',
      children: ept.map((s, i) => stepNode(s, `${id}.e${i}`, eptLabel(s.level))),
      expanded: true,
      id: `${id}.ept`,
    });
  }
  if (r.fault)
    children.push({
      label: r.fault.kind,
      description: r.fault.reason,
      icon: 'error',
      iconColor: 'errorForeground',
      id: `${id}.fault`,
    });
  else if (r.hpa)
    children.push({
      label: `HPA ${r.hpa}`,
      description: r.gpa ? `from GPA ${r.gpa}` : undefined,
      icon: 'pass',
      id: `${id}.hpa`,
    });
  return {
    label: `VA ${t.va}`,
    description: r.ok ? `→ GPA ${r.gpa} → HPA ${r.hpa}` : `${r.fault?.kind ?? 'fault'}: ${r.fault?.reason ?? ''}`,
    tooltip: `${t.va} on ${t.engine}, ${t.view} EPT view`,
    icon: r.ok ? 'arrow-right' : 'error',
    iconColor: r.ok ? undefined : 'errorForeground',
    children,
    expanded: true,
    contextValue: 'translation',
    id,
    data: t,
  };
}
