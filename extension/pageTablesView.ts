// The Page Tables view and "Translate Address...": the typed address is walked through the PPGTT and
// then EPT by `vgpu/translate`; the last few addresses stay listed and are walked again on every stop.

import * as vscode from 'vscode';
import { NodeTree } from './treeProvider';
import { reportError, type VgpuSessions } from './sessions';
import { parseTranslateInput, translationNode, type TranslateInput, type Translation } from './walkNodes';

/** How many translated addresses the view keeps (newest first). */
const KEEP = 4;

export class PageTablesView implements vscode.Disposable {
  private readonly tree: NodeTree;
  private readonly disposables: vscode.Disposable[];
  private inputs: TranslateInput[] = [];

  constructor(private readonly sessions: VgpuSessions) {
    this.tree = new NodeTree(async () => {
      const out = [];
      for (const i of this.inputs) out.push(translationNode(await this.translate(i)));
      return out;
    });
    this.disposables = [
      vscode.window.createTreeView('vgpu.pageTables', { treeDataProvider: this.tree, showCollapseAll: true }),
      sessions.onDidStop(() => void this.refresh()),
      sessions.onDidChangeSession((s) => (s ? void this.refresh() : this.tree.clear())),
      vscode.commands.registerCommand('vgpu.translateAddress', (va?: string) => this.ask(va)),
    ];
  }

  refresh(): Promise<void> {
    return this.inputs.length ? this.tree.refresh() : Promise.resolve();
  }

  private async translate(i: TranslateInput): Promise<Translation> {
    const reply = await this.sessions.request('vgpu/translate', {
      va: i.va.replace(/_/g, ''),
      view: i.view,
      engine: i.engine,
      ...(i.space === 'ggtt' ? { space: 'ggtt' as const } : {}),
    });
    return { ...i, reply };
  }

  /** Asks for an address (unless given), walks it, and shows the walk at the top of the view. */
  private async ask(given?: string): Promise<void> {
    const text =
      typeof given === 'string'
        ? given
        : await vscode.window.showInputBox({
            title: 'Translate Address',
            prompt:
              'GPU virtual address, then optionally the EPT view (full, restricted), the engine (rcs0, bcs0) and the address space (ppgtt, ggtt)',
            placeHolder: '0x1000000 [full|restricted] [rcs0|bcs0] [ggtt]',
            value: this.inputs[0]?.va,
            validateInput: (v) => {
              const r = parseTranslateInput(v);
              return typeof r === 'string' ? r : undefined;
            },
          });
    if (text === undefined) return;
    const input = parseTranslateInput(text);
    if (typeof input === 'string') {
      void vscode.window.showErrorMessage(input);
      return;
    }
    try {
      await this.translate(input); // fails here, as a notification, if the session cannot walk it
      this.inputs = [
        input,
        ...this.inputs.filter(
          (x) => x.va !== input.va || x.view !== input.view || x.engine !== input.engine || x.space !== input.space,
        ),
      ].slice(0, KEEP);
      await this.tree.refresh();
      await vscode.commands.executeCommand('vgpu.pageTables.focus');
    } catch (e) {
      reportError('Translate Address', e);
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
