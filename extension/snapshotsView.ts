// The Snapshots view and its commands: Take Snapshot, Roll Back to Snapshot... (with confirmation),
// Compare Snapshots (two selected in the view, or two picked from a list; surfaces drawn side by side).

import * as vscode from 'vscode';
import type { SnapshotInfo } from '../adapter/protocol';
import { diffHtml, makeNonce, type SurfacePair } from './diffHtml';
import { NodeTree } from './treeProvider';
import { reportError, type VgpuSessions } from './sessions';
import { ROLLBACK_COMMAND, snapshotDescription, snapshotLabel, snapshotNodes } from './snapshotNodes';
import { decodeSurface } from './surfaceImage';
import type { TreeNode } from './treeNode';

const VIEW_ID = 'vgpu.snapshots';

/** Commands get a SnapshotInfo (item click), a TreeNode (context menu) or nothing (palette). */
function asSnapshot(x: unknown): SnapshotInfo | undefined {
  const v = (x as TreeNode | undefined)?.data ?? x;
  return v && typeof v === 'object' && 'id' in v && 'step' in v ? (v as SnapshotInfo) : undefined;
}

export class SnapshotsView implements vscode.Disposable {
  private readonly tree: NodeTree;
  private readonly view: vscode.TreeView<TreeNode>;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly sessions: VgpuSessions) {
    this.tree = new NodeTree(async () => snapshotNodes(await sessions.request('vgpu/snapshots', {})));
    this.view = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this.tree, canSelectMany: true });
    this.disposables = [
      this.view,
      sessions.onDidStop(() => void this.refresh()),
      sessions.onDidChangeSession((s) => (s ? void this.refresh() : this.tree.clear())),
      vscode.commands.registerCommand('vgpu.takeSnapshot', () => this.takeSnapshot()),
      vscode.commands.registerCommand(ROLLBACK_COMMAND, (arg?: unknown) => this.rollback(arg)),
      vscode.commands.registerCommand('vgpu.compareSnapshots', (clicked?: unknown, selected?: unknown[]) => this.compare(clicked, selected)),
    ];
  }

  refresh(): Promise<void> {
    return this.tree.refresh();
  }

  private async list(): Promise<SnapshotInfo[]> {
    const r = await this.sessions.request('vgpu/snapshots', {});
    return [...r.snapshots].sort((a, b) => a.step - b.step || a.id - b.id);
  }

  private async pick(title: string, many: boolean): Promise<SnapshotInfo[] | undefined> {
    const items = (await this.list()).map((s) => ({ label: snapshotLabel(s), description: snapshotDescription(s), snapshot: s }));
    if (!items.length) {
      void vscode.window.showInformationMessage('No snapshots are kept yet.');
      return undefined;
    }
    if (many) {
      const chosen = await vscode.window.showQuickPick(items, { title, canPickMany: true, placeHolder: 'Pick two snapshots' });
      return chosen?.map((c) => c.snapshot);
    }
    const one = await vscode.window.showQuickPick(items, { title, placeHolder: 'Pick a snapshot' });
    return one && [one.snapshot];
  }

  private async takeSnapshot(): Promise<void> {
    try {
      const { snapshot } = await this.sessions.request('vgpu/snapshot', {});
      this.sessions.changed();
      vscode.window.setStatusBarMessage(`vGPU: took snapshot ${snapshotLabel(snapshot)} (${snapshotDescription(snapshot)})`, 5000);
    } catch (e) {
      reportError('Take Snapshot', e);
    }
  }

  private async rollback(arg?: unknown): Promise<void> {
    try {
      const target = asSnapshot(arg) ?? (await this.pick('Roll Back to Snapshot', false))?.[0];
      if (!target) return;
      const ok = await vscode.window.showWarningMessage(
        `Roll the VM back to snapshot ${snapshotLabel(target)}?`,
        { modal: true, detail: `${snapshotDescription(target)}. The VM's registers, memory and surfaces return to that point.` },
        'Roll Back',
      );
      if (ok !== 'Roll Back') return;
      const r = await this.sessions.request('vgpu/rollback', { id: target.id });
      this.sessions.changed();
      vscode.window.setStatusBarMessage(`vGPU: rolled back to ${r.commands} commands (step ${r.step})`, 5000);
    } catch (e) {
      reportError('Roll Back to Snapshot', e);
    }
  }

  private async compare(clicked?: unknown, selected?: unknown[]): Promise<void> {
    try {
      const snapshots = (xs: readonly unknown[]) => xs.map(asSnapshot).filter((s): s is SnapshotInfo => !!s);
      let chosen = snapshots(selected ?? []);
      if (chosen.length !== 2) chosen = snapshots(this.view.selection);
      if (chosen.length !== 2) {
        const c = asSnapshot(clicked);
        const picked = await this.pick('Compare Snapshots', true);
        if (!picked) return;
        chosen = picked.length === 1 && c && c.id !== picked[0].id ? [c, picked[0]] : picked;
      }
      if (chosen.length !== 2) {
        void vscode.window.showInformationMessage('Compare Snapshots needs exactly two snapshots.');
        return;
      }
      const [from, to] = [...chosen].sort((a, b) => a.step - b.step || a.id - b.id);
      const diff = await this.sessions.request('vgpu/diff', { from: from.id, to: to.id });
      const pairs = await this.surfacePairs(diff.surfaces.map((s) => s.name), from, to);
      const panel = vscode.window.createWebviewPanel('vgpu.snapshotDiff', `Snapshots #${from.id} → #${to.id}`, vscode.ViewColumn.Active, {
        enableScripts: false,
        localResourceRoots: [],
      });
      panel.webview.html = diffHtml(diff, from, to, makeNonce(), pairs);
    } catch (e) {
      reportError('Compare Snapshots', e);
    }
  }

  /** Each surface as it was at both snapshots; what went wrong instead, so the rest of the page still shows. */
  private async surfacePairs(names: readonly string[], from: SnapshotInfo, to: SnapshotInfo): Promise<SurfacePair[] | string> {
    const at = async (name: string, s: SnapshotInfo) => decodeSurface(await this.sessions.request('vgpu/surface', { name, snapshot: s.id }));
    try {
      return await Promise.all(names.map(async (name) => ({ name, from: await at(name, from), to: await at(name, to) })));
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
