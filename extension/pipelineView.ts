// The Pipeline State view: the state each engine holds now, from `vgpu/pipelineState`, reloaded on every stop.

import * as vscode from 'vscode';
import { ENGINES } from '../emulator/registers';
import { NodeTree } from './nodeTree';
import { pipelineNodes } from './pipelineNodes';
import type { VgpuSessions } from './sessions';

export class PipelineStateView implements vscode.Disposable {
  private readonly tree: NodeTree;
  private readonly disposables: vscode.Disposable[];

  constructor(sessions: VgpuSessions) {
    this.tree = new NodeTree(async () => pipelineNodes(await Promise.all(ENGINES.map((engine) => sessions.request('vgpu/pipelineState', { engine })))));
    this.disposables = [
      vscode.window.createTreeView('vgpu.pipelineState', { treeDataProvider: this.tree, showCollapseAll: true }),
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
