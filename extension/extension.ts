// The extension's entry: registers the `vgpu` debugger (configurations, inline or server adapter),
// the Snapshots, Capability Registers, Page Tables and Pipeline State views, the Surface panel and the vGPU commands,
// and the `.vgpu` language features.

import * as vscode from 'vscode';
import { registerAdapterFactory } from './adapterFactory';
import { CapabilityRegistersView } from './capsView';
import { registerConfigurationProviders } from './configurationProvider';
import { registerLanguageFeatures } from './language';
import { registerErrorStateCommand } from './errorState';
import { registerMigrateCommand } from './migration';
import { PageTablesView } from './pageTablesView';
import { PipelineStateView } from './pipelineView';
import { registerStepBackIntoCommand } from './reverseStep';
import { VgpuSessions } from './sessions';
import { SnapshotsView } from './snapshotsView';
import { SurfacePanel } from './surfacePanel';

export function activate(context: vscode.ExtensionContext): void {
  const sessions = new VgpuSessions();
  const views = [
    new SnapshotsView(sessions),
    new CapabilityRegistersView(sessions),
    new PageTablesView(sessions),
    new PipelineStateView(sessions),
  ];
  context.subscriptions.push(
    sessions,
    ...views,
    new SurfacePanel(sessions),
    registerAdapterFactory(),
    ...registerConfigurationProviders(),
    registerMigrateCommand(sessions),
    registerErrorStateCommand(sessions),
    registerStepBackIntoCommand(sessions),
    vscode.commands.registerCommand('vgpu.refreshViews', () => Promise.all(views.map((v) => v.refresh()))),
  );
  registerLanguageFeatures(context);
}

export function deactivate(): void {}
