// A TreeDataProvider over TreeNode models: each view supplies `load()`, called on every refresh.

import * as vscode from 'vscode';
import type { TreeNode } from './treeNode';

export class NodeTree implements vscode.TreeDataProvider<TreeNode> {
  private readonly emitter = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private roots: readonly TreeNode[] = [];
  /** Counts refreshes: a reply that arrives after a newer refresh started is dropped. */
  private generation = 0;

  constructor(private readonly load: () => Promise<readonly TreeNode[]>) {}

  /** Reloads the roots from the session (errors become one node saying so). */
  async refresh(): Promise<void> {
    const generation = ++this.generation;
    let roots: readonly TreeNode[];
    try {
      roots = await this.load();
    } catch (e) {
      roots = [{ label: 'Not available', description: e instanceof Error ? e.message : String(e), icon: 'info' }];
    }
    if (generation !== this.generation) return;
    this.roots = roots;
    this.emitter.fire(undefined);
  }

  clear(): void {
    this.generation++;
    this.roots = [];
    this.emitter.fire(undefined);
  }

  get nodes(): readonly TreeNode[] {
    return this.roots;
  }

  getChildren(node?: TreeNode): TreeNode[] | Promise<TreeNode[]> {
    if (node?.loadChildren) {
      return node.loadChildren().then(
        (c) => [...c],
        (e: unknown) => [
          { label: 'Not available', description: e instanceof Error ? e.message : String(e), icon: 'info' },
        ],
      );
    }
    return [...(node ? (node.children ?? []) : this.roots)];
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const state =
      !node.children?.length && !node.loadChildren
        ? vscode.TreeItemCollapsibleState.None
        : node.expanded
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.Collapsed;
    const item = new vscode.TreeItem(node.label, state);
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = node.contextValue;
    item.id = node.id;
    if (node.icon)
      item.iconPath = new vscode.ThemeIcon(
        node.icon,
        node.iconColor ? new vscode.ThemeColor(node.iconColor) : undefined,
      );
    if (node.command)
      item.command = { ...node.command, arguments: node.command.arguments ? [...node.command.arguments] : undefined };
    return item;
  }
}
