// "Step Back Into": the reverse of Step Into, which the debug toolbar lacks. Back to the focused
// thread's previous command at any batch depth (vgpu/stepBackInto), from the palette or a Call Stack
// row.

import * as vscode from 'vscode';
import { DRIVER_THREAD } from '../adapter/stack';
import { reportError, type VgpuSessions } from './sessions';

export function registerStepBackIntoCommand(sessions: VgpuSessions): vscode.Disposable {
  return vscode.commands.registerCommand('vgpu.stepBackInto', async (row?: unknown) => {
    try {
      // Nothing focused: the driver thread, as the adapter's own default.
      const threadId = threadOf(row) ?? threadOf(vscode.debug.activeStackItem) ?? DRIVER_THREAD;
      await sessions.request('vgpu/stepBackInto', { threadId });
    } catch (e) {
      reportError('Step Back Into', e);
    }
  });
}

/** The thread of a Call Stack row or the focused stack item, if it names one. */
function threadOf(item: unknown): number | undefined {
  const id = (item as { threadId?: unknown } | undefined)?.threadId;
  return typeof id === 'number' && Number.isInteger(id) ? id : undefined;
}
