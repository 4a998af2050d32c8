// The Surface webview (one panel): draws a surface from `vgpu/surface` and redraws it on every stop,
// so forward and reverse steps both show up; "Save Surface as PNG..." writes one with pngjs.

import * as vscode from 'vscode';
import { makeNonce } from './diffHtml';
import { reportError, type VgpuSessions } from './sessions';
import { surfaceHtml } from './surfaceHtml';
import { decodeSurface, encodePng } from './surfaceImage';
import type { FromSurfaceWebview, ToSurfaceWebview } from './surfaceWebview';

export class SurfacePanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private name: string | undefined;
  private ready = false;
  /** Counts updates: a surface that arrives after a newer update started is not drawn. */
  private generation = 0;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly sessions: VgpuSessions) {
    this.disposables = [
      sessions.onDidStop(() => void this.update()),
      sessions.onDidChangeSession((s) =>
        s ? void this.update() : this.post({ type: 'message', text: 'The vGPU debug session has ended.' }),
      ),
      vscode.commands.registerCommand('vgpu.showSurface', (name?: unknown) =>
        this.show(typeof name === 'string' ? name : undefined),
      ),
      vscode.commands.registerCommand('vgpu.saveSurfacePng', (name?: unknown) =>
        this.save(typeof name === 'string' ? name : undefined),
      ),
    ];
  }

  async show(name?: string): Promise<void> {
    if (name) this.name = name;
    if (this.panel) {
      this.panel.reveal(undefined, true);
    } else {
      const panel = vscode.window.createWebviewPanel(
        'vgpu.surface',
        'Surface',
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        {
          enableScripts: true,
          retainContextWhenHidden: true,
          localResourceRoots: [],
        },
      );
      this.panel = panel;
      this.ready = false;
      panel.webview.html = surfaceHtml(panel.webview.cspSource, makeNonce());
      panel.webview.onDidReceiveMessage((m: FromSurfaceWebview) => this.onMessage(m));
      panel.onDidDispose(() => {
        if (this.panel === panel) this.panel = undefined;
      });
    }
    await this.update();
  }

  private onMessage(m: FromSurfaceWebview): void {
    if (m.type === 'ready') {
      this.ready = true;
      void this.update();
    } else if (m.type === 'select') {
      this.name = m.name;
      void this.update();
    } else if (m.type === 'save') {
      void this.save(m.name);
    }
  }

  private post(m: ToSurfaceWebview): void {
    if (this.panel && this.ready) void this.panel.webview.postMessage(m);
  }

  /** Redraws the panel from the active session (no-op while the panel is closed). */
  async update(): Promise<void> {
    if (!this.panel || !this.ready) return;
    if (!this.sessions.active) {
      this.post({ type: 'message', text: 'Start debugging a .vgpu program to see its surfaces.' });
      return;
    }
    const generation = ++this.generation;
    try {
      // The surface shown last, or (another session, which has no surface of that name) its first one.
      const s = await this.sessions
        .request('vgpu/surface', this.name ? { name: this.name } : {})
        .catch((e: unknown) => (this.name ? this.sessions.request('vgpu/surface', {}) : Promise.reject(e)));
      const t = await this.sessions.request('vgpu/snapshots', { count: 0 });
      if (generation !== this.generation || !this.panel) return;
      this.name = s.name;
      this.panel.title = `Surface: ${s.name}`;
      this.post({
        type: 'surface',
        name: s.name,
        surfaces: s.surfaces,
        width: s.width,
        height: s.height,
        pixels: s.pixels,
        where: `after ${t.commands} commands`,
      });
    } catch (e) {
      if (generation === this.generation)
        this.post({ type: 'message', text: e instanceof Error ? e.message : String(e) });
    }
  }

  async save(name?: string): Promise<void> {
    try {
      let target = name ?? this.name;
      if (!target) {
        const { surfaces } = await this.sessions.request('vgpu/surface', {});
        target =
          surfaces.length > 1
            ? await vscode.window.showQuickPick(surfaces, { title: 'Save Surface as PNG' })
            : surfaces[0];
        if (!target) return;
      }
      const img = decodeSurface(await this.sessions.request('vgpu/surface', { name: target }));
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const uri = await vscode.window.showSaveDialog({
        title: `Save surface ${img.name} as PNG`,
        defaultUri: folder ? vscode.Uri.joinPath(folder, `${img.name}.png`) : undefined,
        filters: { 'PNG image': ['png'] },
      });
      if (!uri) return;
      await vscode.workspace.fs.writeFile(uri, encodePng(img));
      vscode.window.setStatusBarMessage(`vGPU: saved ${img.name} (${img.width}x${img.height}) to ${uri.fsPath}`, 5000);
    } catch (e) {
      reportError('Save Surface as PNG', e);
    }
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
