// The Pipeline State view's model: per engine, its state commands grouped (3D pipeline, compute/media,
// common), each with its decoded fields; changed fields and commands set since the last draw get a
// coloured dot, addresses their GPA (or "not mapped").

import type { PipelineCommandInfo, PipelineFieldInfo, PipelineGroup, PipelineStateInfo } from '../adapter/protocol';
import type { TreeNode } from './treeNode';

const GROUPS: readonly PipelineGroup[] = ['3D pipeline', 'compute/media', 'common'];
/** Colour of the dot on what changed (a theme colour id, so it follows the theme). */
const CHANGED_COLOR = 'charts.orange';

function fieldNode(engine: string, c: PipelineCommandInfo, f: PipelineFieldInfo): TreeNode {
  const where = f.va === undefined ? '' : f.gpa ? ` → GPA ${f.gpa}` : ' → not mapped';
  return {
    label: f.name,
    description: `${f.value}${where}${f.changed ? ` · was ${f.previous}` : ''}`,
    tooltip: [
      `${c.mnemonic}.${f.name}: ${f.placement}`,
      f.description,
      f.changed ? `Changed from ${f.previous} by the command at ${c.va}.` : '',
      f.walk ?? '',
    ]
      .filter((x) => x)
      .join('\n'),
    icon: f.changed ? 'circle-filled' : f.va !== undefined ? 'symbol-reference' : 'symbol-field',
    iconColor: f.changed ? CHANGED_COLOR : undefined,
    contextValue: f.changed ? 'pipelineField.changed' : 'pipelineField',
    id: `pipeline-${engine}-${c.mnemonic}-${f.name}`,
  };
}

function commandNode(engine: string, c: PipelineCommandInfo): TreeNode {
  const what = c.first ? 'first set' : c.changed === 0 ? 'set again, unchanged' : `${c.changed} changed`;
  return {
    label: c.mnemonic,
    description: `${what} · t=${c.at}${c.sinceDraw ? ' · since the last draw' : ''}`,
    tooltip:
      `${c.mnemonic}, set at t=${c.at} by the command at GPU VA ${c.va}` +
      (c.first
        ? '\nNo earlier value: no field is marked.'
        : `\n${c.changed} field${c.changed === 1 ? '' : 's'} differ from its previous value (dotted).`) +
      (c.sinceDraw ? "\nSet since the engine's last draw or dispatch." : ''),
    icon: c.sinceDraw ? 'circle-filled' : 'symbol-struct',
    iconColor: c.sinceDraw ? CHANGED_COLOR : undefined,
    children: (c.fields ?? []).map((f) => fieldNode(engine, c, f)),
    id: `pipeline-${engine}-${c.mnemonic}`,
  };
}

function groupNodes(s: PipelineStateInfo): TreeNode[] {
  return GROUPS.flatMap((g) => {
    const list = s.commands.filter((c) => c.group === g);
    if (list.length === 0) return [];
    const fresh = list.filter((c) => c.sinceDraw).length;
    return [
      {
        label: g,
        description: `${list.length} command${list.length === 1 ? '' : 's'}${fresh ? ` · ${fresh} since the last draw` : ''}`,
        icon: 'layers',
        expanded: true,
        children: list.map((c) => commandNode(s.engine, c)),
        id: `pipeline-${s.engine}-${g}`,
      },
    ];
  });
}

/** One node per engine that has state (its groups below it); a note when none has any. */
export function pipelineNodes(states: readonly PipelineStateInfo[]): TreeNode[] {
  const withState = states.filter((s) => s.commands.length > 0);
  if (withState.length === 0)
    return [{ label: 'No pipeline state yet', description: 'no state command has retired', icon: 'info' }];
  return withState.map((s) => ({
    label: s.engine,
    description: `${s.commands.length} state command${s.commands.length === 1 ? '' : 's'} · ${s.lastDraw === null ? 'no draw yet' : `last draw at t=${s.lastDraw}`}`,
    tooltip: `The state ${s.engine} holds after ${s.retired} retired commands: the latest value of each state command.`,
    icon: 'server-process',
    expanded: true,
    children: groupNodes(s),
    id: `pipeline-${s.engine}`,
  }));
}
