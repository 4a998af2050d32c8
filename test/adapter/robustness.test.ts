// Robustness: a seeded stream of 10,000 random and malformed requests (bad references, bad memory ranges,
// requests before launch, unknown commands, wrong argument types) each gets a response (an error or a
// valid answer), the adapter process stays alive, and `threads` still answers afterwards.

import * as assert from 'node:assert/strict';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { mulberry32 } from '../helpers/prng';
import { launch, program, clientPerTest } from './client';

const TOTAL = 10000;
const BEFORE_LAUNCH = 500;
const CONCURRENCY = 8;
const REPLY_MS = 5000;

const COMMANDS = [
  'threads', 'stackTrace', 'scopes', 'variables', 'setVariable', 'evaluate', 'completions', 'continue', 'next', 'stepIn', 'stepOut', 'stepBack',
  'reverseContinue', 'pause', 'setBreakpoints', 'setFunctionBreakpoints', 'setInstructionBreakpoints', 'setExceptionBreakpoints',
  'dataBreakpointInfo', 'setDataBreakpoints', 'breakpointLocations', 'exceptionInfo', 'readMemory', 'writeMemory', 'disassemble',
  'loadedSources', 'source', 'launch', 'attach', 'restart', 'configurationDone', 'cancel', 'goto', 'gotoTargets', 'stepInTargets',
  'setExpression', 'restartFrame', 'modules', 'terminateThreads', 'frobnicate', '', 'vgpu/snapshots', 'vgpu/snapshot', 'vgpu/rollback',
  'vgpu/diff', 'vgpu/surface', 'vgpu/caps', 'vgpu/translate', 'vgpu/migrate', 'vgpu/nope', '__proto__', 'constructor', 'toString',
];

const KEYS = [
  'threadId', 'frameId', 'variablesReference', 'memoryReference', 'offset', 'count', 'expression', 'context', 'name', 'value', 'source',
  'breakpoints', 'lines', 'filters', 'filterOptions', 'instructionReference', 'dataId', 'granularity', 'start', 'filter', 'format',
  'instructionCount', 'instructionOffset', 'id', 'from', 'to', 'va', 'view', 'engine', 'data', 'text', 'column', 'arguments', 'levels',
  'startFrame', 'line', 'endLine', 'allowPartial', 'bytes', 'accessType', 'program', 'stopOnEntry', 'hostGen', 'memory', 'targetId',
];

const STRINGS = [
  'va:0x140000', 'gpa:0x140000', 'va:0x1ffffc', 'gpa:0xffffffffffff', 'va:-1', '0x100000', '0xfff00000', 'garbage', '', ' ', '{_stack}', '{x}',
  'CS_GPR0', 'rcs0.RING_HEAD', 'value', 'value + 4', '[value]', '[0x700000]', 'x/8x value', 'x/100000x 0', 'translate value', 'translate 0x700000 restricted',
  'caps', 'snapshots', 'snapshot', 'rollback 0', 'rollback 999', 'goto 3', 'goto 0', 'diff 0', 'errors', 'help', 'digest', '1/0', '((((((((',
  'MIRROR', 'instruction', 'line', 'indexed', 'named', 'repl', 'hover', 'watch', 'full', 'restricted', 'rcs0', 'bcs0', 'reg:rcs0.CS_GPR0',
  'va:0x140000:4', 'gpa:0x140000:8', 'reg:nope', 'AAAA', 'not base64!', 'MI_NOOP', 'inner', 'page-fault', 'hang', 'write', 'read',
  '\u0000', '🙂', 'x'.repeat(5000),
];

describe('adapter: robustness', function () {
  this.timeout(120000);
  let dc: DebugClient;
  clientPerTest((c) => (dc = c));

  it(`answers ${TOTAL} random and malformed requests, then threads`, async () => {
    const rnd = mulberry32(Number(process.env.VGPU_FUZZ_SEED ?? 0x5eed));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const int = (): number => pick([0, 1, 2, 3, 4, 5, 7, 10, 64, 65, 128, 129, 130, 131, 192, 193, 511, 512, 513, 4096, -1, -64, 2 ** 31, 2 ** 53, 1e20, 0.5]);
    const value = (depth: number): unknown => {
      const r = rnd();
      if (r < 0.35) return int();
      if (r < 0.7) return pick(STRINGS);
      if (r < 0.78) return rnd() < 0.5;
      if (r < 0.84) return null;
      if (r < 0.92 && depth < 2) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
      if (depth < 2) return object(depth + 1);
      return undefined;
    };
    const object = (depth: number): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      const n = Math.floor(rnd() * 5);
      for (let i = 0; i < n; i++) o[pick(KEYS)] = value(depth);
      if (rnd() < 0.3) o.source = { path: rnd() < 0.7 ? program('nested.vgpu') : pick(STRINGS) };
      if (rnd() < 0.2) o.breakpoints = [{ line: int(), condition: rnd() < 0.5 ? pick(STRINGS) : undefined, hitCondition: rnd() < 0.3 ? pick(STRINGS) : undefined }];
      return o;
    };
    const args = (): unknown => {
      const r = rnd();
      if (r < 0.05) return pick([0, 'x', [1, 2], true]);
      if (r < 0.1) return undefined;
      return object(0);
    };

    let answered = 0;
    let errors = 0;
    const bad: string[] = [];
    const internal = new Set<string>();
    const sendOne = async (i: number) => {
      const command = pick(COMMANDS);
      const a = args();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), REPLY_MS);
      });
      const reply = dc.send(command, a).then(() => 'ok' as const, (e: Error) => {
        if (e.message.startsWith('internal error')) internal.add(`${command}: ${e.message}`);
        return e.message ? ('error' as const) : ('empty' as const);
      });
      const r = await Promise.race([reply, timeout]);
      clearTimeout(timer);
      if (r === 'timeout' || r === 'empty') bad.push(`#${i} ${command} ${JSON.stringify(a)?.slice(0, 200)}: ${r}`);
      else {
        answered++;
        if (r === 'error') errors++;
      }
    };
    const stream = async (from: number, to: number) => {
      for (let i = from; i < to; i += CONCURRENCY) {
        await Promise.all(Array.from({ length: Math.min(CONCURRENCY, to - i) }, (_, k) => sendOne(i + k)));
        if (bad.length) break;
      }
    };

    // Before launch (only initialize has been sent).
    await dc.initializeRequest();
    await stream(0, BEFORE_LAUNCH);
    assert.deepEqual(bad, []);
    // Launched and stopped on entry: the same stream against a live VM.
    await launch(dc, { program: program('nested.vgpu') }).catch(async () => {
      // A random `launch` may already have started the program: configure it instead.
      await dc.configurationDoneRequest().catch(() => undefined);
    });
    await stream(BEFORE_LAUNCH, TOTAL);
    assert.deepEqual(bad, []);
    assert.equal(answered, TOTAL);
    assert.deepEqual([...internal], [], 'no request reaches an internal error');
    assert.ok(errors > TOTAL / 4, `most malformed requests are refused (${errors} errors)`);
    if (process.env.VGPU_FUZZ_SEED) console.log(`answered ${answered}, errors ${errors}`);
    const t = await dc.threadsRequest();
    assert.deepEqual(t.body.threads.map((x: DebugProtocol.Thread) => x.name), ['driver', 'rcs0', 'bcs0']);
  });
});
