// A tree view in the debug container that reloads its nodes from the session at every stop and empties
// when the session ends: the Capability Registers and Pipeline State views are two of these.

import * as vscode from 'vscode';
import { NodeTree } from './treeProvider';
import type { VgpuSessions } from './sessions';

export class StopRefreshedView implements vscode.Disposable {
  private readonly tree: NodeTree;
  private readonly disposables: vscode.Disposable[];

  constructor(viewId: string, sessions: VgpuSessions, load: ConstructorParameters<typeof NodeTree>[0]) {
    this.tree = new NodeTree(load);
    this.disposables = [
      vscode.window.createTreeView(viewId, { treeDataProvider: this.tree, showCollapseAll: true }),
      sessions.onDidStop(() => void this.refresh()),
      sessions.onDidChangeSession((s) => (s ? void this.refresh() : this.tree.clear())),
    ];
  }

  refresh(): Promise<void> {
    return this.tree.refresh();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
