// Where the debug adapter runs: inside the extension host (the default), or in a separate
// `node dist/adapter.js --server=PORT` when the launch configuration sets `debugServer`.

import * as vscode from 'vscode';
import { VgpuDebugSession } from '../adapter/session';
import { DEBUG_TYPE } from './launchConfig';

export class VgpuAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.DebugAdapterDescriptor {
    const port = session.configuration.debugServer;
    if (typeof port === 'number' && Number.isInteger(port) && port > 0)
      return new vscode.DebugAdapterServer(port, '127.0.0.1');
    return new vscode.DebugAdapterInlineImplementation(new VgpuDebugSession());
  }
}

export function registerAdapterFactory(): vscode.Disposable {
  return vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new VgpuAdapterFactory());
}
