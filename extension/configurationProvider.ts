// Debug configurations of type `vgpu`: F5 with no launch.json debugs the open .vgpu file, a new
// launch.json starts with the initial configuration, and the Run view offers one entry per program.

import * as vscode from 'vscode';
import { DEBUG_TYPE, fileConfiguration, initialConfiguration, resolveLaunch } from './launchConfig';

/** At most this many programs are offered as dynamic configurations. */
const MAX_DYNAMIC = 50;

export class VgpuConfigurationProvider implements vscode.DebugConfigurationProvider {
  provideDebugConfigurations(): vscode.DebugConfiguration[] {
    return [initialConfiguration()];
  }

  async resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const r = resolveLaunch(config, activeFile());
    if ('error' in r) {
      await vscode.window.showInformationMessage(r.error);
      return undefined;
    }
    return r.config;
  }
}

/**
 * The file of the active editor tab: a text editor's document, or a binary file's tab (an AUB capture
 * opens in VS Code's binary editor, which has no text editor).
 */
function activeFile(): { languageId: string; fileName: string } | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  if (doc) return { languageId: doc.languageId, fileName: doc.fileName };
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const uri = input && typeof input === 'object' && 'uri' in input ? (input as { uri: unknown }).uri : undefined;
  return uri instanceof vscode.Uri && uri.scheme === 'file' ? { languageId: '', fileName: uri.fsPath } : undefined;
}

/**
 * "Run and Debug → vGPU..." lists the active file first (a program, capture or dump: the adapter
 * recognizes captures and dumps from their content), then every .vgpu program and AUB capture of the workspace.
 */
export class VgpuDynamicConfigurationProvider implements vscode.DebugConfigurationProvider {
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    const glob = '**/*.{vgpu,aub,aub.gz}';
    const pattern = folder ? new vscode.RelativePattern(folder, glob) : glob;
    const files = await vscode.workspace.findFiles(pattern, '**/node_modules/**', MAX_DYNAMIC);
    const active = activeFile()?.fileName;
    const listed = files
      .map((uri) => uri.fsPath)
      .filter((f) => f !== active)
      .sort((a, b) => a.localeCompare(b));
    return [...(active ? [active] : []), ...listed].map((f) => fileConfiguration(f));
  }
}

/** Explorer and editor-title command: debug this file (a program, an AUB capture, or a hang dump). */
export function registerDebugFileCommand(): vscode.Disposable {
  return vscode.commands.registerCommand('vgpu.debugFile', async (uri?: vscode.Uri) => {
    const file = uri instanceof vscode.Uri ? uri.fsPath : activeFile()?.fileName;
    if (!file) {
      await vscode.window.showInformationMessage('Select a .vgpu program, an AUB capture or a GPU hang dump to debug.');
      return;
    }
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file));
    await vscode.debug.startDebugging(folder, fileConfiguration(file));
  });
}

export function registerConfigurationProviders(): vscode.Disposable[] {
  return [
    registerDebugFileCommand(),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new VgpuConfigurationProvider()),
    vscode.debug.registerDebugConfigurationProvider(
      DEBUG_TYPE,
      new VgpuDynamicConfigurationProvider(),
      vscode.DebugConfigurationProviderTriggerKind.Dynamic,
    ),
  ];
}
