// The adapter as clients other than VS Code drive it: an `initialize` with only what the DAP
// specification requires, no optional events accepted, and nvim-dap's thread following (a stop on a
// thread other than the one it follows is resumed unless a `continued` event came before it).

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { DRIVER, EXAMPLES, clientPerTest } from './client';

const PICTURE = path.join(EXAMPLES, 'picture.vgpu');

/** What a plain client announces: no pathFormat (default 'path'), no invalidated/memory/progress events. */
const PLAIN_INITIALIZE = { adapterID: 'vgpu', clientID: 'plain', linesStartAt1: true, columnsStartAt1: true } as DebugProtocol.InitializeRequestArguments;

describe('adapter: clients other than VS Code', function () {
  this.timeout(30000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it('accepts an initialize without pathFormat (its default is path)', async () => {
    const caps = (await dc.initializeRequest(PLAIN_INITIALIZE)).body!;
    assert.equal(caps.supportsStepBack, true);
    await Promise.all([dc.waitForEvent('initialized'), dc.launchRequest({ program: PICTURE, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments)]);
    await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
    const st = await dc.stackTraceRequest({ threadId: DRIVER });
    assert.equal(st.body.stackFrames[0].source?.path, PICTURE, 'paths are native paths');
  });
});
