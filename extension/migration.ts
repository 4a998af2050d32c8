// "Migrate VM...": moves the debugged VM to a `vgpu host` (from the configuration's migrationHosts or
// typed), through `vgpu/migrate`, and reports how it went.

import * as vscode from 'vscode';
import { reportError, type VgpuSessions } from './sessions';

const HOST_PORT = /^[\w.-]+:\d{1,5}$|^\[[0-9a-f:]+\]:\d{1,5}$/i;

export function registerMigrateCommand(sessions: VgpuSessions): vscode.Disposable {
  return vscode.commands.registerCommand('vgpu.migrateVm', async (to?: unknown) => {
    try {
      const session = sessions.active;
      const hosts: string[] = Array.isArray(session?.configuration.migrationHosts)
        ? session!.configuration.migrationHosts
        : [];
      let target = typeof to === 'string' ? to : undefined;
      if (!target && hosts.length) {
        const other = 'Another host...';
        const choice = await vscode.window.showQuickPick([...hosts, other], {
          title: 'Migrate VM to',
          placeHolder: 'a vgpu host (HOST:PORT)',
        });
        if (!choice) return;
        if (choice !== other) target = choice;
      }
      target ??= await vscode.window.showInputBox({
        title: 'Migrate VM to',
        prompt: 'Address of a running `vgpu host --listen HOST:PORT`',
        placeHolder: '127.0.0.1:7700',
        validateInput: (v) => (HOST_PORT.test(v.trim()) ? undefined : 'HOST:PORT'),
      });
      if (!target) return;
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Migrating the VM to ${target}...` },
        () => sessions.request('vgpu/migrate', { to: target!.trim() }),
      );
      sessions.changed();
      const figures = `${r.rounds} pre-copy round${r.rounds === 1 ? '' : 's'}, ${r.pagesSent} pages sent, ${r.downtimeMs.toFixed(1)} ms downtime`;
      if (r.status === 'completed') {
        void vscode.window.showInformationMessage(
          `VM migrated to ${target}${r.hostGen ? ` (host generation ${r.hostGen})` : ''}: ${figures}.`,
        );
      } else {
        void vscode.window.showWarningMessage(
          `Migration ${r.status}: ${r.reason ?? 'no reason given'}. The VM keeps running here (${figures}).`,
        );
      }
    } catch (e) {
      reportError('Migrate VM', e);
    }
  });
}
