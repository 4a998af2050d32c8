// The Snapshots view's model: the kept snapshots as a timeline (oldest first) with "now" placed
// where the VM is, each showing execution time, engine, pages and bytes.

import type { CustomBody, SnapshotInfo } from '../adapter/protocol';
import { bytes, type TreeNode } from './treeNode';

export const ROLLBACK_COMMAND = 'vgpu.rollbackToSnapshot';

export function snapshotLabel(s: SnapshotInfo): string {
  return `#${s.id} at ${s.commands} command${s.commands === 1 ? '' : 's'}`;
}

export function snapshotDescription(s: SnapshotInfo): string {
  return `${s.reason} · ${s.engine ?? 'driver'} · ${s.pages} page${s.pages === 1 ? '' : 's'} · ${bytes(s.bytes)}`;
}

/** Why a snapshot exists, as its tooltip says it (reasons from emulator/snapshots.ts). */
const WHY: Record<string, string> = {
  start: 'at the start of the recorded history',
  periodic: 'periodically (every snapshotEvery commands)',
  submission: 'before a submission',
  manual: 'on request (Take Snapshot)',
  edit: 'after an edit of registers or memory (going back before it undoes the edit)',
  reverse: 'by a backward move, so the next steps back replay little',
};

export function snapshotNodes(reply: CustomBody<'vgpu/snapshots'>): TreeNode[] {
  const sorted = [...reply.snapshots].sort((a, b) => a.step - b.step || a.id - b.id);
  const nodes: TreeNode[] = sorted.map((s) => ({
    label: snapshotLabel(s),
    description: snapshotDescription(s) + (s.current ? ' · current' : ''),
    tooltip:
      `Snapshot #${s.id}: step ${s.step}, ${s.commands} commands executed; taken ${WHY[s.reason] ?? `(${s.reason})`}` +
      `${s.engine ? ` on ${s.engine}` : ''}; keeps the before-images of ${s.pages} page${s.pages === 1 ? '' : 's'} written after it, ${s.bytes} bytes.\nClick to roll the VM back to it.`,
    icon: s.current ? 'pass-filled' : 'history',
    contextValue: 'snapshot',
    id: `snapshot-${s.id}`,
    data: s,
    command: { command: ROLLBACK_COMMAND, title: 'Roll Back to Snapshot', arguments: [s] },
  }));
  const now: TreeNode = {
    label: `now at ${reply.commands} command${reply.commands === 1 ? '' : 's'}`,
    description: `step ${reply.step}`,
    tooltip: 'Where the VM is paused.',
    icon: 'debug-stackframe',
    iconColor: 'debugIcon.pauseForeground',
    contextValue: 'now',
    id: 'snapshot-now',
  };
  const at = sorted.findIndex((s) => s.step > reply.step);
  nodes.splice(at < 0 ? nodes.length : at, 0, now);
  return nodes;
}
