// Which vgpu debug session the views talk to, its typed `vgpu/...` requests, and one coalesced
// "the VM paused somewhere new" event (stopped, invalidated, a rollback) that every view refreshes on.

import * as vscode from 'vscode';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CustomArgs, CustomBody, CustomRequestName } from '../adapter/protocol';
import { DEBUG_TYPE } from './launchConfig';

/** Events after which what the views show may have changed. */
const REFRESH_EVENTS = new Set(['stopped', 'invalidated']);
/** A stop usually comes with an `invalidated` right after it: refresh once for both. */
const COALESCE_MS = 40;

export class NoSessionError extends Error {
  constructor() {
    super('No vGPU debug session is active.');
  }
}

export class VgpuSessions implements vscode.Disposable {
  private readonly stopEmitter = new vscode.EventEmitter<vscode.DebugSession>();
  private readonly changeEmitter = new vscode.EventEmitter<vscode.DebugSession | undefined>();
  /** Fires (coalesced) when a vgpu session paused, was invalidated, or its VM was rolled back. */
  readonly onDidStop = this.stopEmitter.event;
  /** Fires when the session the views follow changes (started, focused, ended). */
  readonly onDidChangeSession = this.changeEmitter.event;
  private readonly paused = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [];
  private current: vscode.DebugSession | undefined;
  private pending: ReturnType<typeof setTimeout> | undefined;
  private pendingSession: vscode.DebugSession | undefined;

  constructor() {
    this.disposables.push(
      vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, {
        createDebugAdapterTracker: (session) => ({
          onDidSendMessage: (m: DebugProtocol.ProtocolMessage) => this.onAdapterMessage(session, m),
          onExit: () => this.paused.delete(session.id),
        }),
      }),
      vscode.debug.onDidStartDebugSession((s) => this.follow(s)),
      vscode.debug.onDidChangeActiveDebugSession((s) => this.follow(s)),
      vscode.debug.onDidTerminateDebugSession((s) => {
        this.paused.delete(s.id);
        if (this.current?.id === s.id) {
          this.current = undefined;
          this.changeEmitter.fire(undefined);
        }
      }),
      this.stopEmitter,
      this.changeEmitter,
    );
    this.follow(vscode.debug.activeDebugSession);
  }

  /** The vgpu session the views show: the focused one, else the last one focused. */
  get active(): vscode.DebugSession | undefined {
    return this.current;
  }

  isPaused(session = this.current): boolean {
    return !!session && this.paused.has(session.id);
  }

  /** A typed custom request to the active session (or the given one). */
  async request<K extends CustomRequestName>(
    name: K,
    args: CustomArgs<K>,
    session = this.current,
  ): Promise<CustomBody<K>> {
    if (!session) throw new NoSessionError();
    return (await session.customRequest(name, args)) as CustomBody<K>;
  }

  /** After the extension itself changed the VM (rollback, migration): refresh as after a stop. */
  changed(session = this.current): void {
    if (session) this.schedule(session);
  }

  private follow(s: vscode.DebugSession | undefined): void {
    if (!s || s.type !== DEBUG_TYPE || s.id === this.current?.id) return;
    this.current = s;
    this.changeEmitter.fire(s);
  }

  private onAdapterMessage(session: vscode.DebugSession, m: DebugProtocol.ProtocolMessage): void {
    if (m.type !== 'event') return;
    const event = (m as DebugProtocol.Event).event;
    if (event === 'stopped') this.paused.add(session.id);
    else if (event === 'continued') this.paused.delete(session.id);
    if (REFRESH_EVENTS.has(event)) this.schedule(session);
  }

  private schedule(session: vscode.DebugSession): void {
    this.pendingSession = session;
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      const s = this.pendingSession!;
      this.follow(s);
      this.stopEmitter.fire(s);
    }, COALESCE_MS);
  }

  dispose(): void {
    if (this.pending) clearTimeout(this.pending);
    for (const d of this.disposables) d.dispose();
  }
}

/** Shows an error from a command or view as a notification, naming what was being done. */
export function reportError(what: string, e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  void vscode.window.showErrorMessage(`${what}: ${msg}`);
}
