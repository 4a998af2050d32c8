// Adapter test helpers: build dist/adapter.js once, drive it as a separate process with DebugClient,
// and a few shorthands for launching to the entry stop and for requests that end in a stop.

import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';

export const ROOT = path.resolve(__dirname, '..', '..');
export const ADAPTER = path.join(ROOT, 'dist', 'adapter.js');
export const PROGRAMS = path.join(__dirname, 'programs');
export const EXAMPLES = path.join(ROOT, 'examples');

export function program(name: string): string {
  return path.join(PROGRAMS, name);
}

let built = false;

/** `node esbuild.js` once per test process. */
export function build(): void {
  if (built) return;
  const r = spawnSync(process.execPath, ['esbuild.js'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`esbuild failed: ${r.stderr}`);
  built = true;
}

export async function client(): Promise<DebugClient> {
  const dc = new DebugClient('node', ADAPTER, 'vgpu', { cwd: ROOT }, true);
  dc.defaultTimeout = 10000;
  await dc.start();
  return dc;
}

/** initialize + launch + (breakpoints) + configurationDone; resolves at the entry stop (or at the first stop). */
/** Mocha hooks for a suite: build the adapter once, a fresh DebugClient before each test (handed to `use`), stopped after. */
export function clientPerTest(use: (dc: DebugClient) => void): void {
  let current: DebugClient | undefined;
  before(build);
  beforeEach(async () => {
    current = await client();
    use(current);
  });
  afterEach(async () => {
    await current?.stop();
  });
}

export async function launch(
  dc: DebugClient,
  args: Record<string, unknown>,
  setup?: (dc: DebugClient) => Promise<unknown>,
): Promise<DebugProtocol.StoppedEvent> {
  await dc.initializeRequest({
    adapterID: 'vgpu',
    linesStartAt1: true,
    columnsStartAt1: true,
    pathFormat: 'path',
    supportsInvalidatedEvent: true,
    supportsMemoryEvent: true,
    supportsMemoryReferences: true,
  } as DebugProtocol.InitializeRequestArguments);
  await Promise.all([
    dc.waitForEvent('initialized'),
    dc.launchRequest({ stopOnEntry: true, ...args } as DebugProtocol.LaunchRequestArguments),
  ]);
  if (setup) await setup(dc);
  const [stop] = await Promise.all([dc.waitForEvent('stopped'), dc.configurationDoneRequest()]);
  return stop as DebugProtocol.StoppedEvent;
}

/** Sends a request that resumes the VM and resolves with the next stopped event. */
export async function untilStop(dc: DebugClient, req: Promise<unknown>): Promise<DebugProtocol.StoppedEvent['body']> {
  const [stop] = await Promise.all([dc.waitForEvent('stopped'), req]);
  return (stop as DebugProtocol.StoppedEvent).body;
}

export async function top(dc: DebugClient, threadId: number): Promise<DebugProtocol.StackFrame> {
  const st = await dc.stackTraceRequest({ threadId });
  return st.body.stackFrames[0];
}

export async function frames(dc: DebugClient, threadId: number): Promise<DebugProtocol.StackFrame[]> {
  return (await dc.stackTraceRequest({ threadId })).body.stackFrames;
}

export async function repl(dc: DebugClient, expression: string, frameId?: number): Promise<string> {
  return (await dc.evaluateRequest({ expression, context: 'repl', frameId })).body.result;
}

export async function digest(dc: DebugClient): Promise<string> {
  return (await repl(dc, 'digest')).split(' ')[0];
}

/** Variables of a scope of a frame, by scope name. */
export async function scope(dc: DebugClient, frameId: number, name: string): Promise<DebugProtocol.Variable[]> {
  const sc = await dc.scopesRequest({ frameId });
  const s = sc.body.scopes.find((x) => x.name === name);
  if (!s) throw new Error(`no scope ${name}`);
  return (await dc.variablesRequest({ variablesReference: s.variablesReference })).body.variables;
}

export async function children(
  dc: DebugClient,
  v: DebugProtocol.Variable,
  extra: Partial<DebugProtocol.VariablesArguments> = {},
): Promise<DebugProtocol.Variable[]> {
  return (await dc.variablesRequest({ variablesReference: v.variablesReference, ...extra })).body.variables;
}

export function named(vars: DebugProtocol.Variable[], name: string): DebugProtocol.Variable {
  const v = vars.find((x) => x.name === name);
  if (!v) throw new Error(`no variable ${name} among ${vars.map((x) => x.name).join(', ')}`);
  return v;
}

/** The error message of a request expected to fail. */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the request succeeded');
}

export const DRIVER = 1;
export const RCS0 = 2;
export const BCS0 = 3;

export interface AdapterServer {
  readonly port: number;
  readonly pid: number;
  /** What the server has written to stderr so far (its first 64 KiB). */
  stderr(): string;
  /** Whether the server process is still running. */
  alive(): boolean;
  stop(): void;
}

/** `node dist/adapter.js --server=0` (built first) in `cwd`: the port it listens on, and a way to end it. */
export async function startAdapterServer(cwd = ROOT): Promise<AdapterServer> {
  build();
  const server = spawn(process.execPath, [ADAPTER, '--server=0'], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  let exited = false;
  server.on('exit', () => (exited = true));
  const port = await new Promise<number>((resolve, reject) => {
    server.stderr!.on('data', (d: Buffer) => {
      if (err.length < 65536) err += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    server.on('exit', () => reject(new Error(`server exited: ${err}`)));
  });
  return { port, pid: server.pid!, stderr: () => err, alive: () => !exited, stop: () => server.kill() };
}
