// Debug configurations of type `vgpu`: F5 with no launch.json debugs the open .vgpu file, a new
// launch.json starts with the initial configuration, and the Run view offers one entry per program.

import * as path from 'node:path';
import * as vscode from 'vscode';
import { DEBUG_TYPE, initialConfiguration, resolveLaunch } from './launchConfig';

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
    const doc = vscode.window.activeTextEditor?.document;
    const r = resolveLaunch(config, doc && { languageId: doc.languageId, fileName: doc.fileName });
    if ('error' in r) {
      await vscode.window.showInformationMessage(r.error);
      return undefined;
    }
    return r.config;
  }
}

/** "Run and Debug → vGPU..." lists every .vgpu program of the workspace. */
export class VgpuDynamicConfigurationProvider implements vscode.DebugConfigurationProvider {
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    const pattern = folder ? new vscode.RelativePattern(folder, '**/*.vgpu') : '**/*.vgpu';
    const files = await vscode.workspace.findFiles(pattern, '**/node_modules/**', MAX_DYNAMIC);
    return files
      .sort((a, b) => a.fsPath.localeCompare(b.fsPath))
      .map((uri) => ({ ...initialConfiguration(), name: `Debug ${path.basename(uri.fsPath)}`, program: uri.fsPath }));
  }
}

export function registerConfigurationProviders(): vscode.Disposable[] {
  return [
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new VgpuConfigurationProvider()),
    vscode.debug.registerDebugConfigurationProvider(
      DEBUG_TYPE,
      new VgpuDynamicConfigurationProvider(),
      vscode.DebugConfigurationProviderTriggerKind.Dynamic,
    ),
  ];
}
