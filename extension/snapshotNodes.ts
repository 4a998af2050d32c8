// The Snapshots view's model: the kept snapshots as a timeline (oldest first) with "now" placed
// where the VM is, each showing execution time, engine, pages and bytes. The view asks for the newest
// few; older ones sit in groups that fetch their window when expanded.

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

/** Snapshots the view shows at once (the newest; the view asks for this many) and per group of older ones. */
export const SHOWN_SNAPSHOTS = 100;
export const SNAPSHOT_GROUP = 256;

/** Fetches kept snapshots [start, start + count) (a `vgpu/snapshots` window). */
export type SnapshotLoader = (start: number, count: number) => Promise<CustomBody<'vgpu/snapshots'>>;

function snapshotNode(s: SnapshotInfo): TreeNode {
  return {
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
  };
}

/**
 * Kept snapshots [lo, hi) (list indices) as nodes that fetch on expand: the snapshots themselves when
 * they fit in a group, else at most SNAPSHOT_GROUP groups of them (one level more per 256x).
 */
export function olderGroups(lo: number, hi: number, load: SnapshotLoader): TreeNode[] {
  let size = SNAPSHOT_GROUP;
  while ((hi - lo) / size > SNAPSHOT_GROUP) size *= SNAPSHOT_GROUP;
  const out: TreeNode[] = [];
  for (let a = lo; a < hi; a += size) {
    const b = Math.min(hi, a + size);
    out.push({
      label: `snapshots ${a + 1}–${b}`,
      description: `${b - a} older`,
      tooltip: `Kept snapshots ${a + 1} to ${b} of the list, oldest first: fetched when expanded.`,
      icon: 'history',
      id: `snapshots-${a}-${b}`,
      loadChildren:
        b - a <= SNAPSHOT_GROUP
          ? async () => (await load(a, b - a)).snapshots.map(snapshotNode)
          : async () => olderGroups(a, b, load),
    });
  }
  return out;
}

/**
 * A `vgpu/snapshots` window (the newest ones) as the timeline; `load` fetches older snapshots, shown
 * under one node that opens into groups when the window does not start at the oldest.
 */
export function snapshotNodes(reply: CustomBody<'vgpu/snapshots'>, load?: SnapshotLoader): TreeNode[] {
  const sorted = [...reply.snapshots].sort((a, b) => a.step - b.step || a.id - b.id);
  const nodes: TreeNode[] = sorted.map(snapshotNode);
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
  const older = reply.start ?? 0;
  if (older > 0 && load) {
    nodes.unshift({
      label: `${older} older snapshot${older === 1 ? '' : 's'}`,
      description: `of ${reply.total} kept`,
      tooltip: 'Fetched when expanded, a group at a time.',
      icon: 'history',
      id: 'snapshots-older',
      loadChildren: async () =>
        older <= SNAPSHOT_GROUP ? (await load(0, older)).snapshots.map(snapshotNode) : olderGroups(0, older, load),
    });
  }
  return nodes;
}
