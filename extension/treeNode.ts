// The plain tree the vGPU views render: models build it from `vgpu/...` replies without `vscode`,
// so unit tests check what a view shows; nodeTree.ts turns it into TreeItems.

export interface TreeNode {
  readonly label: string;
  readonly description?: string;
  readonly tooltip?: string;
  /** A codicon id (`history`, `warning`, ...). */
  readonly icon?: string;
  /** Theme colour id for the icon (`charts.red`, ...). */
  readonly iconColor?: string;
  readonly children?: readonly TreeNode[];
  /** Children fetched when the node is first expanded (a long list asked for a window at a time). */
  readonly loadChildren?: () => Promise<readonly TreeNode[]>;
  readonly expanded?: boolean;
  /** `viewItem` in package.json menus. */
  readonly contextValue?: string;
  /** Stable id: keeps expansion and selection across refreshes. */
  readonly id?: string;
  readonly command?: { readonly command: string; readonly title: string; readonly arguments?: readonly unknown[] };
  /** The reply object this node stands for (a snapshot, a walk step), for commands run on it. */
  readonly data?: unknown;
}

/** Hex the way the adapter prints it (`0x1f`); small numbers stay decimal-looking only below 10. */
export function hex(n: number): string {
  return n < 10 ? String(n) : `0x${n.toString(16)}`;
}

/** `1.5 KiB`, `12 MiB`: snapshot and page sizes. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
