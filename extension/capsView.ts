// The Capability Registers view: physical, exposed and hidden-by-version values of every capability
// register field, from `vgpu/caps`, reloaded on every stop (a migration can change the host).

import * as vscode from 'vscode';
import { capsNodes } from './capsNodes';
import { NodeTree } from './nodeTree';
import type { VgpuSessions } from './sessions';

export class CapabilityRegistersView implements vscode.Disposable {
  private readonly tree: NodeTree;
  private readonly disposables: vscode.Disposable[];

  constructor(sessions: VgpuSessions) {
    this.tree = new NodeTree(async () => capsNodes(await sessions.request('vgpu/caps', {})));
    this.disposables = [
      vscode.window.createTreeView('vgpu.capabilityRegisters', { treeDataProvider: this.tree, showCollapseAll: true }),
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
