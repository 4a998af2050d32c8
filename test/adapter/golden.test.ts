// Whole debug sessions compared with golden transcripts (test/adapter/golden/*.dap): a change to any
// reply, event or their order shows up as a diff to review, as vscode-js-debug's tests do.

import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { EXAMPLES, build } from './client';
import { Transcript } from './transcript';

async function start(t: Transcript, program: string, extra: Record<string, unknown> = {}): Promise<void> {
  await t.request('initialize', {
    clientID: 'golden',
    adapterID: 'vgpu',
    linesStartAt1: true,
    columnsStartAt1: true,
    pathFormat: 'path',
    supportsMemoryReferences: true,
  });
  await t.request('launch', { program: path.join(EXAMPLES, program), stopOnEntry: true, ...extra });
  await t.event('initialized');
}

/** Launches `program` stopped on entry, runs `script` against it, closes, and compares with golden/NAME.dap. */
async function golden(name: string, program: string, script: (t: Transcript) => Promise<void>): Promise<void> {
  const t = new Transcript();
  try {
    await start(t, program);
    await script(t);
    await t.request('disconnect', {});
  } finally {
    t.close();
  }
  compare(t, name);
}

function compare(t: Transcript, name: string): void {
  const { file, want, got } = t.check(name);
  assert.ok(want !== null, `${file} is missing: run VGPU_UPDATE_GOLDEN=1 npm test and review it`);
  assert.equal(
    got,
    want,
    `the session differs from ${path.relative(process.cwd(), file)} (VGPU_UPDATE_GOLDEN=1 npm test rewrites it)`,
  );
}

describe('golden DAP transcripts', function () {
  this.timeout(30000);
  before(build);

  it('picture.vgpu: a breakpoint in the batch, the stack, the Command scope with its write set, step over, step back, console goto', async () => {
    await golden('picture', 'picture.vgpu', async (t) => {
      await t.request('setBreakpoints', {
        source: { path: path.join(EXAMPLES, 'picture.vgpu') },
        breakpoints: [{ line: 21 }],
      });
      await t.request('configurationDone', undefined, 'stopped');
      const threads = (await t.request('threads')).response.body as { threads: { id: number; name: string }[] };
      const bcs = threads.threads.find((x) => x.name === 'bcs0')!.id;
      const { event } = await t.request('continue', { threadId: bcs }, 'stopped');
      assert.equal((event!.body as { reason: string }).reason, 'breakpoint');
      const st = (await t.request('stackTrace', { threadId: bcs })).response.body as { stackFrames: { id: number }[] };
      const scopes = (await t.request('scopes', { frameId: st.stackFrames[0].id })).response.body as {
        scopes: { name: string; variablesReference: number }[];
      };
      await t.request('variables', {
        variablesReference: scopes.scopes.find((s) => s.name === 'Command')!.variablesReference,
      });
      await t.request('next', { threadId: bcs }, 'stopped');
      await t.request('evaluate', { expression: 'digest', context: 'repl' });
      await t.request('stepBack', { threadId: bcs }, 'stopped');
      await t.request('evaluate', { expression: 'digest', context: 'repl' });
      // A stop the client did not request comes after a continued event.
      await t.request('evaluate', { expression: 'goto 3', context: 'repl' }, 'stopped');
    });
  });

  it('page-fault.vgpu: exception filter, continue to the fault, exceptionInfo, reverse continue', async () => {
    await golden('page-fault', 'page-fault.vgpu', async (t) => {
      await t.request('setExceptionBreakpoints', { filters: ['page-fault'] });
      await t.request('configurationDone', undefined, 'stopped');
      const threads = (await t.request('threads')).response.body as { threads: { id: number; name: string }[] };
      const { event } = await t.request('continue', { threadId: threads.threads[0].id }, 'stopped');
      const threadId = (event!.body as { threadId: number }).threadId;
      await t.request('exceptionInfo', { threadId });
      await t.request('stackTrace', { threadId });
      await t.request('reverseContinue', { threadId }, 'stopped');
    });
  });

  it('nested-batches.vgpu: a data breakpoint on CS_GPR0, reverse continue to its writer, Jump to Cursor forward, setExpression', async () => {
    const file = path.join(EXAMPLES, 'nested-batches.vgpu');
    await golden('nested-batches', 'nested-batches.vgpu', async (t) => {
      await t.request('setBreakpoints', { source: { path: file }, breakpoints: [{ line: 27 }] });
      await t.request('configurationDone', undefined, 'stopped');
      await t.request('continue', { threadId: 1 }, 'stopped');
      const info = (await t.request('dataBreakpointInfo', { name: 'rcs0.CS_GPR0' })).response.body as {
        dataId: string;
      };
      await t.request('setDataBreakpoints', { breakpoints: [{ dataId: info.dataId }] });
      await t.request('reverseContinue', { threadId: 2 }, 'stopped');
      await t.request('evaluate', { expression: 'CS_GPR0', context: 'watch' });
      await t.request('setDataBreakpoints', { breakpoints: [] });
      const targets = (await t.request('gotoTargets', { source: { path: file }, line: 23 })).response.body as {
        targets: { id: number }[];
      };
      await t.request('goto', { threadId: 2, targetId: targets.targets[1].id }, 'stopped');
      await t.request('setExpression', { expression: '(CS_GPR1 >> 4) & 0xf', value: '0xa' });
      await t.request('evaluate', { expression: 'CS_GPR1', context: 'watch' });
    });
  });
});
