// The extension inside a real VS Code extension host: F5 on an example, the custom requests behind the
// views, step back, the page-fault stop, the commands it contributes.

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CustomBody } from '../../../adapter/protocol';

const folder = () => vscode.workspace.workspaceFolders![0].uri.fsPath;
const example = (name: string) => path.join(folder(), name);

/** Every stopped event of vgpu sessions, in order. */
const stops: { reason: string; threadId: number; text?: string }[] = [];
vscode.debug.registerDebugAdapterTrackerFactory('vgpu', {
  createDebugAdapterTracker: () => ({
    onDidSendMessage: (m: any) => {
      if (m.type === 'event' && m.event === 'stopped')
        stops.push({ reason: m.body.reason, threadId: m.body.threadId, text: m.body.text });
    },
  }),
});

async function waitFor<T>(what: string, read: () => T | undefined, timeout = 20_000): Promise<T> {
  const end = Date.now() + timeout;
  for (;;) {
    const v = read();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(file: string, extra: Record<string, unknown> = {}): Promise<vscode.DebugSession> {
  stops.length = 0;
  const doc = await vscode.workspace.openTextDocument(example(file));
  await vscode.window.showTextDocument(doc);
  // An empty configuration is what F5 without launch.json hands the configuration provider.
  const ok = await vscode.debug.startDebugging(
    vscode.workspace.workspaceFolders![0],
    Object.keys(extra).length
      ? { type: 'vgpu', request: 'launch', name: 'test', program: example(file), ...extra }
      : ({} as vscode.DebugConfiguration),
  );
  assert.ok(ok, 'debugging started');
  const session = await waitFor('a vgpu session', () =>
    vscode.debug.activeDebugSession?.type === 'vgpu' ? vscode.debug.activeDebugSession : undefined,
  );
  await waitFor('a stop', () => stops[0]);
  return session;
}

async function stop(): Promise<void> {
  await vscode.debug.stopDebugging();
  await waitFor('no session', () => (vscode.debug.activeDebugSession ? undefined : true));
}

async function topFrame(
  session: vscode.DebugSession,
  threadId: number,
): Promise<{ name: string; line: number; source?: { path?: string } }> {
  const r = await session.customRequest('stackTrace', { threadId, startFrame: 0, levels: 20 });
  return r.stackFrames[0];
}

describe('vgpu-debug in the extension host', function () {
  this.timeout(60_000);
  afterEach(async () => {
    if (vscode.debug.activeDebugSession) await stop();
  });

  it('contributes its commands', async () => {
    const all = await vscode.commands.getCommands(true);
    for (const c of [
      'vgpu.takeSnapshot',
      'vgpu.rollbackToSnapshot',
      'vgpu.compareSnapshots',
      'vgpu.showSurface',
      'vgpu.saveSurfacePng',
      'vgpu.translateAddress',
      'vgpu.migrateVm',
    ]) {
      assert.ok(all.includes(c), c);
    }
  });

  it('F5 on picture.vgpu without launch.json pauses on entry', async () => {
    const session = await start('picture.vgpu');
    assert.equal(session.configuration.program, example('picture.vgpu'));
    assert.equal(stops[0].reason, 'entry');
    const frame = await topFrame(session, stops[0].threadId);
    assert.equal(path.basename(frame.source!.path!), 'picture.vgpu');
  });

  it('answers the custom requests the views use', async () => {
    const session = await start('picture.vgpu');
    const caps = (await session.customRequest('vgpu/caps', {})) as CustomBody<'vgpu/caps'>;
    assert.equal(caps.hostGen, 3);
    assert.ok(caps.fields.length > 0);
    const walk = (await session.customRequest('vgpu/translate', { va: '0x1000000' })) as CustomBody<'vgpu/translate'>;
    assert.ok(walk.ok && walk.steps.length >= 4, 'a full PPGTT walk');
    const surface = (await session.customRequest('vgpu/surface', { name: 'canvas' })) as CustomBody<'vgpu/surface'>;
    assert.deepEqual([surface.width, surface.height], [256, 128]);
    const snaps = (await session.customRequest('vgpu/snapshots', {})) as CustomBody<'vgpu/snapshots'>;
    assert.ok(snaps.snapshots.length >= 1);
  });

  it('steps back to the command before', async () => {
    const session = await start('picture.vgpu');
    const threadId = stops[0].threadId;
    await session.customRequest('next', { threadId });
    await waitFor('second stop', () => stops[1]);
    const after = await topFrame(session, stops[1].threadId);
    await session.customRequest('stepBack', { threadId: stops[1].threadId });
    await waitFor('third stop', () => stops[2]);
    const back = await topFrame(session, stops[2].threadId);
    assert.ok(back.line !== after.line || back.name !== after.name, 'moved back');
  });

  it('stops on the page fault in page-fault.vgpu with the exception', async () => {
    const session = await start('page-fault.vgpu');
    await session.customRequest('continue', { threadId: stops[0].threadId });
    const fault = await waitFor('an exception stop', () => stops.find((s) => s.reason === 'exception'));
    const info = await session.customRequest('exceptionInfo', { threadId: fault.threadId });
    assert.equal(info.exceptionId, 'page-fault');
  });

  it('opens the Surface panel and the views without errors', async () => {
    await start('picture.vgpu');
    await vscode.commands.executeCommand('vgpu.showSurface', 'canvas');
    await vscode.commands.executeCommand('vgpu.translateAddress', '0x1000000');
    await vscode.commands.executeCommand('vgpu.refreshViews');
  });
});
