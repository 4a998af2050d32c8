// Lockstep: after a debugger moved the VM to another host (`vgpu/migrate`: session mode), the VM runs
// there and the debugger keeps a replica of it, built from the same state for that host's generation
// (so its physical capability registers are that host's). A motion is found on the replica, where
// breakpoints, conditions and step goals are evaluated; the remote VM is then driven to the same step
// targets, repeating every rollback and every debugger edit on the way, and the two are compared at
// every stop. Sound because the VM is deterministic: same state and steps, same state.

import { parseSections, serializeVm, vmFromSections } from '../checkpoint';
import { Fingerprint } from '../fingerprint';
import { registerTable, registerTableDifference } from '../registers';
import type { DeviceCaps } from '../vdev';
import { type GpuError, STEP_ERROR, type Vm, type VmEdit } from '../vm';
import type { RemoteCapsView, RemoteVm } from './remote';
import { migrateVm, type MigrateOptions, type MigrationOutcome } from './source';

/** The remote VM is not where its replica is (a bug: it must never happen), or cannot get there. */
export class LockstepError extends Error {}

/** A rollback the replica made during a motion: stopped on the error of step `at`, back to step `to`. */
interface Recovery {
  readonly at: number;
  readonly to: number;
  readonly kind: string;
}

/** Where the replica stood after a motion, and the rollbacks it made to get there. */
interface Mark {
  readonly recoveries: readonly Recovery[];
  readonly step: number;
  readonly commands: number;
  readonly pending: boolean;
  readonly fingerprint: string;
}

/**
 * A copy of a VM for a host of generation `hostGen`, made through the state format a transfer carries
 * (so it holds what the target received: guest pages, state, the rollback snapshots). A VM stopped on
 * a GPU error is stopped on it again in the copy.
 */
export function rebuildFor(vm: Vm, hostGen: number, what: string): Vm {
  const copy = vmFromSections(parseSections(serializeVm(vm), what), what, hostGen);
  copy.snapshots.taken = vm.snapshots.taken;
  if (vm.pending) {
    // Loading a state clears the pending error but keeps it in `errors`: restore (which drops it) and meet it again.
    copy.restoreSnapshot(copy.snapshots.indexAtOrBefore(vm.step));
    copy.goToStep(vm.step);
    if (copy.stepOnce() !== STEP_ERROR)
      throw new LockstepError(`the copy of the VM ran step ${vm.step} without its GPU error`);
  }
  return copy;
}

function sameCaps(local: DeviceCaps, remote: RemoteCapsView): boolean {
  const names = Object.keys(remote.registers);
  return (
    names.length === local.registers.size &&
    names.every((n) => '0x' + (local.registers.get(n) ?? -1n).toString(16) === remote.registers[n]) &&
    Buffer.from(local.config).toString('base64') === remote.config
  );
}

export class Lockstep {
  private chain: Promise<unknown> = Promise.resolve();
  private recoveries: Recovery[] = [];
  /** Where the remote VM stands as far as this side knows; null after a request that did not complete. */
  private at: { step: number; pending: boolean } | null;
  /** Stops at which the two were compared and equal. */
  verified = 0;

  /** The replica's state, compared with the remote VM's at every stop at the cost of what changed. */
  private readonly fingerprint: Fingerprint;

  constructor(
    readonly remote: RemoteVm,
    readonly replica: Vm,
  ) {
    this.at = { step: replica.step, pending: replica.pending !== null };
    this.fingerprint = new Fingerprint(replica);
  }

  /** Where the VM runs, as the user reads it. */
  get host(): string {
    return `${this.remote.address}, generation ${this.remote.hostGen}`;
  }

  /** The target's device (physical and exposed) is the replica's. */
  async checkDevice(): Promise<void> {
    const c = await this.remote.caps();
    // Registers travel and are compared by name: the two tables must list the same ones (in any order).
    const table = Array.isArray(c.registerTable) ? c.registerTable : [];
    const differ = registerTableDifference(registerTable(), table, this.host);
    if (differ) throw new LockstepError(differ);
    if (
      c.hostGen !== this.replica.cfg.hostGen ||
      !sameCaps(this.replica.physical, c.physical) ||
      !sameCaps(this.replica.exposed, c.exposed)
    ) {
      throw new LockstepError(
        `the device on ${this.host} is not the one the replica was built with (host generation ${c.hostGen}, exposed version ${c.deviceVersion})`,
      );
    }
  }

  /** An edit that failed to reach the remote VM: the next comparison reports it. */
  private broken: unknown = null;

  /**
   * The debugger edited the replica (setVariable, setExpression, writeMemory): the remote VM, put
   * where the replica stands, makes the same edit. Queued with the motions; the next stop compares.
   */
  edit(e: VmEdit): void {
    const expected = e.kind === 'register' ? 1 : e.dwords.length; // what the replica wrote
    const r = this.replica;
    const at = { step: r.step, pending: r.pending !== null };
    const p = this.chain.then(async () => {
      await this.goTo(at.step, at.pending);
      const done = await this.remote.call('edit', e);
      if (done.applied !== expected)
        throw new LockstepError(`the edit (${e.kind}) wrote ${done.applied} on ${this.host}, ${expected} here`);
    });
    this.chain = p.catch((err: unknown) => {
      this.broken ??= err;
    });
  }

  /** Execution rolled back a GPU error on the replica. */
  recovered(err: GpuError, step: number): void {
    this.recoveries.push({ at: err.step, to: step, kind: err.kind });
  }

  /**
   * Drives the remote VM to where the replica stands now, then compares the two. Calls queue; each
   * takes the replica's position when it is made. Rejects with LockstepError, or with the session's
   * end (ChannelClosed) or a request the target refused (RemoteError).
   */
  follow(): Promise<void> {
    const r = this.replica;
    const mark: Mark = {
      recoveries: this.recoveries.splice(0),
      step: r.step,
      commands: r.commands,
      pending: r.pending !== null,
      fingerprint: this.fingerprint.digest(),
    };
    const p = this.chain.then(() => this.reach(mark));
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Ends the remote session (the target discards its VM); gives up waiting after `waitMs`. */
  close(waitMs = 2000): Promise<void> {
    this.fingerprint.dispose();
    return Promise.race([this.remote.close(), new Promise<void>((r) => setTimeout(r, waitMs).unref())]);
  }

  private async reach(m: Mark): Promise<void> {
    if (this.broken !== null) throw this.broken;
    for (const rec of m.recoveries) {
      await this.goTo(rec.at, true);
      this.at = null;
      const r = await this.remote.call('recover', {});
      if (!r.recovered)
        throw new LockstepError(`the ${rec.kind} of step ${rec.at} could not be rolled back on ${this.host}`);
      if (r.step !== rec.to)
        throw new LockstepError(
          `the ${rec.kind} of step ${rec.at} was rolled back to step ${r.step} on ${this.host}, to step ${rec.to} here`,
        );
      this.at = { step: r.step, pending: false };
    }
    await this.goTo(m.step, m.pending);
    const d = await this.remote.fingerprint();
    if (d.fingerprint !== m.fingerprint || d.step !== m.step || (d.pending !== null) !== m.pending) {
      throw new LockstepError(
        `the VM on ${this.host} (step ${d.step}, t=${d.commands}${d.pending ? `, stopped by ${d.pending}` : ''}, fingerprint ${d.fingerprint.slice(0, 16)}) ` +
          `and its replica here (step ${m.step}, t=${m.commands}${m.pending ? ', stopped by a GPU error' : ''}, fingerprint ${m.fingerprint.slice(0, 16)}) differ`,
      );
    }
    this.verified++;
  }

  /** Puts the remote VM at `step` of the current timeline; `pending`: stopped on that step's GPU error. */
  private async goTo(step: number, pending: boolean): Promise<void> {
    const at = this.at;
    if (at && at.step === step && at.pending === pending) return;
    this.at = null;
    if (!(at && at.step === step && !at.pending)) {
      // Forward from a clean position with `run` (the target serves it in slices, with no time limit);
      // anything else restores a snapshot and replays, as the replica did.
      const r =
        at && !at.pending && step > at.step
          ? await this.remote.run({ maxSteps: step })
          : await this.remote.call('goToStep', { step });
      if (r.step !== step)
        throw new LockstepError(
          `the VM on ${this.host} stopped at step ${r.step}${'how' in r ? ` (${r.how})` : ''}, not at step ${step} where its replica is`,
        );
    }
    if (pending) {
      const s = await this.remote.stepOnce();
      if (s.kind !== STEP_ERROR)
        throw new LockstepError(`the VM on ${this.host} ran step ${step} without the GPU error its replica stopped on`);
    }
    this.at = { step, pending };
  }
}

/** A move in lockstep: how the transfer went, and the replica kept in step with the target when the VM moved. */
export interface LockstepMove {
  readonly outcome: MigrationOutcome;
  readonly lockstep?: Lockstep;
}

/**
 * Moves `vm`, paused exactly where it stands, to a `vgpu host` that keeps it for a debugger (session
 * mode), and builds its replica for that host's generation, checked against the target's device.
 * Refused or failed, the VM stays here intact; a replica that cannot be built, a device that differs,
 * or `unwanted` giving a reason once the VM arrived (the debug session ended meanwhile) discards the VM
 * on the target, and the outcome is a failure that says why.
 */
export async function migrateInLockstep(
  vm: Vm,
  o: Pick<MigrateOptions, 'host' | 'port' | 'token' | 'cancelled' | 'onProgress'>,
  unwanted: () => string | undefined = () => undefined,
): Promise<LockstepMove> {
  const outcome = await migrateVm(vm, { ...o, mode: 'session', commandsPerChunk: 0 });
  const remote = outcome.remote;
  if (outcome.status !== 'completed' || !remote) return { outcome };
  let ls: Lockstep | undefined;
  try {
    ls = new Lockstep(remote, rebuildFor(vm, remote.hostGen, 'the replica'));
    await ls.checkDevice();
    const why = unwanted();
    if (why !== undefined) throw new Error(why);
    return { outcome, lockstep: ls };
  } catch (e) {
    void (ls ? ls.close() : remote.close());
    return {
      outcome: {
        ...outcome,
        status: 'failed',
        remote: undefined,
        reason: `${(e as Error).message}; the VM on the target is discarded`,
      },
    };
  }
}
