// The Snapshots view and its commands: Take Snapshot, Roll Back to Snapshot... (with confirmation),
// Compare Snapshots (two selected in the view, or two picked from a list; surfaces drawn side by side,
// changed pages a window at a time). The view fetches the newest snapshots and older ones on demand.

import * as vscode from 'vscode';
import type { SnapshotInfo } from '../adapter/protocol';
import { DIFF_PAGE_COMMAND, diffHtml, makeNonce, type SnapshotDiff, type SurfacePair } from './diffHtml';
import { NodeTree } from './treeProvider';
import { reportError, type VgpuSessions } from './sessions';
import {
  ROLLBACK_COMMAND,
  SHOWN_SNAPSHOTS,
  snapshotDescription,
  snapshotLabel,
  snapshotNodes,
  type SnapshotLoader,
} from './snapshotNodes';
import { decodeSurface } from './surfaceImage';
import type { TreeNode } from './treeNode';

const VIEW_ID = 'vgpu.snapshots';
/** Snapshots offered by the pickers (the newest; older ones are selected in the view). */
const PICKED_SNAPSHOTS = 500;
/** Changed pages on one Compare Snapshots page (its links fetch the next or previous window). */
const DIFF_ROWS = 500;
/** Surfaces larger than this are not drawn on the page (each would travel whole, twice, as base64). */
const MAX_DRAWN_PIXELS = 1 << 20;

/** An open Compare Snapshots page: what it compares, and what its page links re-render. */
interface DiffPanel {
  readonly panel: vscode.WebviewPanel;
  readonly from: SnapshotInfo;
  readonly to: SnapshotInfo;
  readonly pairs: readonly SurfacePair[] | string;
}

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
    const load: SnapshotLoader = (start, count) => sessions.request('vgpu/snapshots', { start, count });
    this.tree = new NodeTree(async () =>
      snapshotNodes(await sessions.request('vgpu/snapshots', { count: SHOWN_SNAPSHOTS }), load),
    );
    this.view = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this.tree, canSelectMany: true });
    this.disposables = [
      this.view,
      sessions.onDidStop(() => void this.refresh()),
      sessions.onDidChangeSession((s) => (s ? void this.refresh() : this.tree.clear())),
      vscode.commands.registerCommand('vgpu.takeSnapshot', () => this.takeSnapshot()),
      vscode.commands.registerCommand(ROLLBACK_COMMAND, (arg?: unknown) => this.rollback(arg)),
      vscode.commands.registerCommand('vgpu.compareSnapshots', (clicked?: unknown, selected?: unknown[]) =>
        this.compare(clicked, selected),
      ),
      vscode.commands.registerCommand(DIFF_PAGE_COMMAND, (token?: unknown, start?: unknown) =>
        this.showPages(token, start),
      ),
    ];
  }

  refresh(): Promise<void> {
    return this.tree.refresh();
  }

  /** The newest PICKED_SNAPSHOTS kept snapshots, oldest first, and how many older ones there are. */
  private async list(): Promise<{ snapshots: SnapshotInfo[]; older: number }> {
    const r = await this.sessions.request('vgpu/snapshots', { count: PICKED_SNAPSHOTS });
    return { snapshots: [...r.snapshots].sort((a, b) => a.step - b.step || a.id - b.id), older: r.start };
  }

  private async pick(title: string, many: boolean): Promise<SnapshotInfo[] | undefined> {
    const { snapshots, older } = await this.list();
    const items = snapshots.map((s) => ({ label: snapshotLabel(s), description: snapshotDescription(s), snapshot: s }));
    if (!items.length) {
      void vscode.window.showInformationMessage('No snapshots are kept yet.');
      return undefined;
    }
    const more = older > 0 ? ` (the newest ${items.length}; ${older} older ones are in the Snapshots view)` : '';
    if (many) {
      const chosen = await vscode.window.showQuickPick(items, {
        title,
        canPickMany: true,
        placeHolder: `Pick two snapshots${more}`,
      });
      return chosen?.map((c) => c.snapshot);
    }
    const one = await vscode.window.showQuickPick(items, { title, placeHolder: `Pick a snapshot${more}` });
    return one && [one.snapshot];
  }

  private async takeSnapshot(): Promise<void> {
    try {
      const { snapshot } = await this.sessions.request('vgpu/snapshot', {});
      this.sessions.changed();
      vscode.window.setStatusBarMessage(
        `vGPU: took snapshot ${snapshotLabel(snapshot)} (${snapshotDescription(snapshot)})`,
        5000,
      );
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
        {
          modal: true,
          detail: `${snapshotDescription(target)}. The VM's registers, memory and surfaces return to that point.`,
        },
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
      const diff = await this.sessions.request('vgpu/diff', { from: from.id, to: to.id, count: DIFF_ROWS });
      const pairs = await this.surfacePairs(diff, from, to);
      const panel = vscode.window.createWebviewPanel(
        'vgpu.snapshotDiff',
        `Snapshots #${from.id} → #${to.id}`,
        vscode.ViewColumn.Active,
        {
          enableScripts: false,
          enableCommandUris: [DIFF_PAGE_COMMAND],
          localResourceRoots: [],
        },
      );
      const page: DiffPanel = { panel, from, to, pairs };
      this.panels.set(diff.token, page);
      panel.onDidDispose(() => this.panels.delete(diff.token));
      this.render(page, diff);
    } catch (e) {
      reportError('Compare Snapshots', e);
    }
  }

  /** Open Compare Snapshots pages by their comparison's token. */
  private readonly panels = new Map<string, DiffPanel>();

  private render(page: DiffPanel, diff: SnapshotDiff): void {
    page.panel.webview.html = diffHtml(diff, page.from, page.to, makeNonce(), page.pairs);
  }

  /** A page link: another window of the comparison's changed pages, on the same page. */
  private async showPages(token: unknown, start: unknown): Promise<void> {
    const page = typeof token === 'string' ? this.panels.get(token) : undefined;
    if (!page || typeof start !== 'number') return;
    try {
      this.render(page, await this.sessions.request('vgpu/diff', { token: token as string, start, count: DIFF_ROWS }));
    } catch (e) {
      reportError('Compare Snapshots', e);
    }
  }

  /** Each surface as it was at both snapshots; what went wrong instead, so the rest of the page still shows. */
  private async surfacePairs(
    diff: SnapshotDiff,
    from: SnapshotInfo,
    to: SnapshotInfo,
  ): Promise<SurfacePair[] | string> {
    const at = async (name: string, s: SnapshotInfo) =>
      decodeSurface(await this.sessions.request('vgpu/surface', { name, snapshot: s.id }));
    try {
      // Larger ones would travel whole, twice, as base64: the page says where to see them instead.
      const drawn = diff.surfaces.filter((s) => s.width * s.height <= MAX_DRAWN_PIXELS);
      return await Promise.all(
        drawn.map(async ({ name }) => ({ name, from: await at(name, from), to: await at(name, to) })),
      );
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
