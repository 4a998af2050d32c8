// A moved VM driven from the source (transfer mode 'session'): requests declared once, served by the
// target host against its VM, called by `RemoteVm` on the source (the debug adapter's handle on it).

import { performance } from 'node:perf_hooks';
import type { EngineState } from '../engine';
import type { WalkStep } from '../ept';
import { Fingerprint } from '../fingerprint';
import {
  type EngineName,
  type RegisterTableEntry,
  type SavedRegisters,
  registerTable,
  saveRegisters,
} from '../registers';
import { SnapshotSummary, summarize } from '../snapshots';
import type { DeviceCaps } from '../vdev';
import type { GpuError, RunResult, Vm, VmEdit } from '../vm';
import { Channel, ChannelClosed } from './channel';
import { MIG, jsonSection, parseJsonPayload } from './stream';

export interface RemoteCapsView {
  /** Register values as hex strings, by table name. */
  readonly registers: Record<string, string>;
  /** The 4 KiB PCI config space, base64. */
  readonly config: string;
}

export interface RemoteState {
  readonly step: number;
  readonly commands: number;
  readonly driverPc: number;
  readonly finished: boolean;
  /** The GPU error an engine stopped on and that is not recovered yet. */
  readonly pending: GpuError | null;
  /** By name (registers.ts): the two hosts' register tables need not list them in the same order. */
  readonly regs: SavedRegisters;
  readonly engines: readonly EngineState[];
  readonly errors: GpuError[];
}

export type RemoteSnapshotInfo = SnapshotSummary;

/** Every request of a session: name -> [arguments, reply]. */
export interface RemoteApi {
  /** `Vm.run` (automatic rollback as configured); the target stays responsive while it runs. */
  run: [
    { untilCommands?: number; maxSteps?: number },
    { how: 'done' | 'error' | 'limit' | 'stuck' | 'stopped'; step: number; commands: number; finished: boolean },
  ];
  /** `Vm.stepOnce`: one driver op or one engine command; `kind` is a STEP_* code. */
  stepOnce: [Record<string, never>, { kind: number; step: number; commands: number }];
  /** `Vm.goToStep` (reverse execution: restore and replay). */
  goToStep: [{ step: number }, { step: number; commands: number }];
  /** `Vm.applyEdit`: a debugger edit the source's replica made, repeated here (same state, same result). */
  edit: [VmEdit, { applied: number; step: number; commands: number }];
  /** `Vm.recover` after a GPU error (roll back, skip the guilty submission). */
  recover: [Record<string, never>, { recovered: boolean; step: number; commands: number }];
  state: [Record<string, never>, RemoteState];
  /** `Vm.portableDigest` where the VM stands (sha256 over all its state, registers by name). */
  digest: [Record<string, never>, { digest: string; step: number; commands: number; pending: string | null }];
  /**
   * The VM's incremental fingerprint (fingerprint.ts) where it stands: a debugger keeping a replica in
   * step compares it with its own at every stop, at the cost of what changed since the last one.
   */
  fingerprint: [Record<string, never>, { fingerprint: string; step: number; commands: number; pending: string | null }];
  /** The target host's physical device beside the exposed one (unchanged by the move). */
  caps: [
    Record<string, never>,
    {
      hostGen: number;
      deviceVersion: number;
      physical: RemoteCapsView;
      exposed: RemoteCapsView;
      /**
       * The target's register table (names and widths, in name order): states and fingerprints carry
       * registers by name, so the two tables may order them differently but must list the same ones.
       */
      registerTable: RegisterTableEntry[];
    },
  ];
  readVa: [{ va: number; count: number; engine?: EngineName }, (number | null)[]];
  readGpa: [{ gpa: number }, number | null];
  translate: [
    { va: number; view: number; engine?: EngineName },
    {
      hpa: number;
      gpa?: number;
      fault?: { kind: string; reason: string; va: number; gpa?: number };
      steps: WalkStep[];
    },
  ];
  /** Pixels as base64 of width*height little-endian ARGB dwords. */
  readSurface: [{ name: string }, { width: number; height: number; pixels: string }];
  snapshots: [Record<string, never>, RemoteSnapshotInfo[]];
  result: [Record<string, never>, RunResult];
  /** Ends the session; the target discards the VM. */
  close: [Record<string, never>, Record<string, never>];
}

export type RemoteMethod = keyof RemoteApi;

interface Request {
  id: number;
  method: string;
  args: unknown;
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

function capsView(c: DeviceCaps): RemoteCapsView {
  const registers: Record<string, string> = {};
  for (const [k, v] of c.registers) registers[k] = '0x' + v.toString(16);
  return { registers, config: Buffer.from(c.config).toString('base64') };
}

/** One fingerprint per VM served, made at its first request and kept up to date from then on. */
const fingerprints = new WeakMap<Vm, Fingerprint>();

function fingerprintOf(vm: Vm): Fingerprint {
  let f = fingerprints.get(vm);
  if (!f) fingerprints.set(vm, (f = new Fingerprint(vm)));
  return f;
}

type Handlers = { [K in RemoteMethod]: (vm: Vm, args: RemoteApi[K][0]) => RemoteApi[K][1] | Promise<RemoteApi[K][1]> };

/** The target runs in slices of about this long, looking at its sockets in between. */
const SLICE_MS = 10;
const SLICE_STEPS = 500;

const HANDLERS: Handlers = {
  async run(vm, a) {
    const untilCommands = a.untilCommands ?? Infinity;
    const maxSteps = a.maxSteps ?? Infinity;
    for (;;) {
      const until = performance.now() + SLICE_MS;
      let how;
      do how = vm.run({ untilCommands, maxSteps: Math.min(maxSteps, vm.step + SLICE_STEPS) });
      while (how === 'limit' && vm.step < maxSteps && vm.commands < untilCommands && performance.now() < until);
      if (how !== 'limit' || vm.step >= maxSteps || vm.commands >= untilCommands) {
        return { how, step: vm.step, commands: vm.commands, finished: vm.finished };
      }
      await new Promise((r) => setImmediate(r));
    }
  },
  stepOnce: (vm) => ({ kind: vm.stepOnce(), step: vm.step, commands: vm.commands }),
  goToStep: (vm, a) => ({ step: vm.goToStep(a.step), commands: vm.commands }),
  recover: (vm) => ({ recovered: vm.recover(), step: vm.step, commands: vm.commands }),
  edit: (vm, a) => ({ applied: vm.applyEdit(a), step: vm.step, commands: vm.commands }),
  state: (vm) => {
    const st = vm.machineState();
    return {
      step: st.step,
      commands: st.commands,
      driverPc: st.driverPc,
      finished: vm.finished,
      pending: vm.pending,
      regs: saveRegisters(st.regs),
      engines: st.engines,
      errors: vm.errors,
    };
  },
  digest: (vm) => ({
    digest: vm.portableDigest(),
    step: vm.step,
    commands: vm.commands,
    pending: vm.pending?.kind ?? null,
  }),
  fingerprint: (vm) => ({
    fingerprint: fingerprintOf(vm).digest(),
    step: vm.step,
    commands: vm.commands,
    pending: vm.pending?.kind ?? null,
  }),
  caps: (vm) => ({
    hostGen: vm.cfg.hostGen,
    deviceVersion: vm.cfg.version,
    physical: capsView(vm.physical),
    exposed: capsView(vm.exposed),
    registerTable: registerTable(),
  }),
  readVa: (vm, a) => vm.readVa(a.va, Math.min(a.count, 1 << 20), a.engine).map((x) => x ?? null),
  readGpa: (vm, a) => vm.readGpa(a.gpa) ?? null,
  translate: (vm, a) => {
    const t = vm.translate(a.va, a.view, a.engine);
    return {
      hpa: t.hpa,
      gpa: t.gpa,
      steps: t.steps,
      fault: t.fault ? { kind: t.fault.kind, reason: t.fault.reason, va: t.fault.va, gpa: t.fault.gpa } : undefined,
    };
  },
  readSurface: (vm, a) => {
    const s = vm.readSurface(a.name);
    return {
      width: s.width,
      height: s.height,
      pixels: Buffer.from(s.pixels.buffer, s.pixels.byteOffset, s.pixels.byteLength).toString('base64'),
    };
  },
  snapshots: (vm) => vm.snapshots.list.map(summarize),
  result: (vm) => vm.result(),
  close: () => ({}),
};

/** Target side: answers requests until the source closes the session (or goes away). */
export async function serveSession(vm: Vm, ch: Channel): Promise<void> {
  for (;;) {
    const f = await ch.next(Infinity, 'waiting for session requests');
    if (f.tag !== MIG.REQUEST) {
      ch.fail(`expected a session request (RQST), got section ${f.tag}`);
      return;
    }
    const req = parseJsonPayload<Request>(f);
    const h = (HANDLERS as Record<string, ((vm: Vm, a: unknown) => unknown) | undefined>)[req.method];
    let reply: Reply;
    try {
      if (!h || !Object.prototype.hasOwnProperty.call(HANDLERS, req.method))
        throw new Error(`no session request named '${req.method}'`);
      reply = { id: req.id, ok: true, value: await h(vm, req.args ?? {}) };
    } catch (e) {
      reply = { id: req.id, ok: false, error: (e as Error).message };
    }
    ch.post(jsonSection(MIG.REPLY, reply));
    if (req.method === 'close') {
      ch.socket.end();
      return;
    }
  }
}

/** A request the target answered with an error (bad arguments, unknown surface...). */
export class RemoteError extends Error {}

/**
 * Source side: the VM now running on the target host. One request at a time, in order; a closed
 * connection rejects every call with ChannelClosed (the VM on the target is gone with it).
 */
export class RemoteVm {
  private nextId = 1;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ch: Channel,
    readonly hostGen: number,
    readonly address: string,
    private readonly timeoutMs: number,
  ) {}

  /** Why the session ended, or null while it is open. */
  get closed(): string | null {
    return this.ch.closed?.message ?? null;
  }

  call<K extends RemoteMethod>(method: K, args: RemoteApi[K][0]): Promise<RemoteApi[K][1]> {
    const run = async (): Promise<RemoteApi[K][1]> => {
      const id = this.nextId++;
      await this.ch.send(jsonSection(MIG.REQUEST, { id, method, args }));
      // `run` may take as long as the program does; everything else answers at once.
      const f = await this.ch.next(method === 'run' ? Infinity : this.timeoutMs, `waiting for the reply to ${method}`);
      if (f.tag !== MIG.REPLY)
        throw new ChannelClosed(`the target sent section ${f.tag} instead of a reply to ${method}`);
      const r = parseJsonPayload<Reply>(f);
      if (r.id !== id) throw new ChannelClosed(`reply ${r.id} does not answer request ${id} (${method})`);
      if (!r.ok) throw new RemoteError(r.error ?? `${method} failed on the target`);
      return r.value as RemoteApi[K][1];
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  run(o: RemoteApi['run'][0] = {}) {
    return this.call('run', o);
  }

  stepOnce() {
    return this.call('stepOnce', {});
  }

  state() {
    return this.call('state', {});
  }

  caps() {
    return this.call('caps', {});
  }

  digest() {
    return this.call('digest', {});
  }

  fingerprint() {
    return this.call('fingerprint', {});
  }

  result() {
    return this.call('result', {});
  }

  async readSurface(name: string): Promise<{ width: number; height: number; pixels: Uint32Array }> {
    const s = await this.call('readSurface', { name });
    const b = Buffer.from(s.pixels, 'base64');
    const pixels = new Uint32Array(s.width * s.height);
    Buffer.from(pixels.buffer).set(b.subarray(0, pixels.byteLength));
    return { width: s.width, height: s.height, pixels };
  }

  /** Ends the session (the target discards the VM) and closes the connection. */
  async close(): Promise<void> {
    if (!this.ch.closed) {
      try {
        await this.call('close', {});
      } catch {
        // already gone: nothing to discard
      }
    }
    this.ch.close(new ChannelClosed('session closed'));
  }
}
