// "Save GPU Error State...": at a GPU error stop, writes what the i915 kernel driver would have printed for
// that hang or fault (an error state Intel's intel_error_decode reads, and `vgpu run` opens back), through
// `vgpu/errorState`.

import * as vscode from 'vscode';
import { reportError, type VgpuSessions } from './sessions';

export function registerErrorStateCommand(sessions: VgpuSessions): vscode.Disposable {
  return vscode.commands.registerCommand('vgpu.saveErrorState', async (target?: unknown) => {
    try {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const uri =
        typeof target === 'string'
          ? vscode.Uri.file(target)
          : await vscode.window.showSaveDialog({
              title: 'Save GPU Error State',
              defaultUri: folder ? vscode.Uri.joinPath(folder, 'error-state.txt') : undefined,
              filters: { 'i915 error state': ['txt'], 'All files': ['*'] },
            });
      if (!uri) return;
      const r = await sessions.request('vgpu/errorState', { path: uri.fsPath });
      void vscode.window.showInformationMessage(
        `Error state of the ${r.kind} on ${r.engine} at ${r.commandVa} written to ${r.path} (${r.bytes} bytes): open it with \`vgpu run\` or intel_error_decode.`,
      );
    } catch (e) {
      reportError('Save GPU Error State', e);
    }
  });
}
