// Where the session's VM runs: on this host, or, after `vgpu/migrate`, on another host, driven in lockstep
// with a replica here that inspection reads (emulator/migration/lockstep.ts). The session asks where the
// VM runs and whether it may be inspected, moves it, has the remote VM repeat each motion before the stop
// is shown, and lets it go on restart or end. If the remote VM is lost or differs, the VM comes back here
// from the replica. What the user should see goes back through RelocationHost: console lines, the VM to
// adopt, stale views.

import {
  ChannelClosed,
  type GpuError,
  type Lockstep,
  LockstepError,
  migrateInLockstep,
  type MigrationOutcome,
  rebuildFor,
  RemoteError,
  type Vm,
  type VmEdit,
} from '../emulator';
import type { Operation } from './progress';

/** What the session does for its relocation. */
export interface RelocationHost {
  output(text: string, category?: 'console' | 'stderr'): void;
  /** Makes `vm` the session's VM (the replica after a move, the VM back here after the target is lost). */
  adopt(vm: Vm): void;
  /** The session's VM was replaced under the client's views. */
  invalidated(): void;
}

/** A transfer `move` made: its outcome, and (until `settle`) the replica kept in step with the target. */
export class Move {
  constructor(
    readonly outcome: MigrationOutcome,
    /** Where the VM ran before: another host, or here (undefined). */
    readonly from: Lockstep | undefined,
    readonly lockstep: Lockstep | undefined,
  ) {}

  /** The VM runs on the target now. */
  get moved(): boolean {
    return this.lockstep !== undefined;
  }
}

export class Relocation {
  /** The VM runs on another host; the session's VM is its replica here. */
  private lockstep: Lockstep | undefined;
  /** A VM transfer is under way: the VM belongs to it. */
  private migrating = false;
  /** Motions the remote VM has yet to repeat: until then the VM is still running there. */
  private following = 0;
  /** Generation of the host the session launched the VM on (where it comes back to if the target is lost). */
  private homeGen = 3;

  constructor(private readonly session: RelocationHost) {}

  /** Where the VM runs now, as the user reads it (`vm`: the session's VM, when it runs here). */
  where(vm: Vm | undefined): string {
    return this.lockstep
      ? this.lockstep.host
      : `local (this debug adapter), generation ${vm?.cfg.hostGen ?? this.homeGen}`;
  }

  /** A transfer is under way: the VM is the transfer's until it ends. */
  get moving(): boolean {
    return this.migrating;
  }

  /** The host where the VM still runs, repeating a motion its replica made (the VM counts as running); else undefined. */
  get catchingUp(): string | undefined {
    return this.following > 0 ? (this.lockstep?.host ?? 'another host') : undefined;
  }

  /** The debugger edited the session's VM: after a move, the VM on the other host makes the same edit. */
  edit(e: VmEdit): void {
    this.lockstep?.edit(e);
  }

  /** Execution rolled back a GPU error on the session's VM: after a move, the other host does it too. */
  recovered(err: GpuError, step: number): void {
    this.lockstep?.recovered(err, step);
  }

  /** The program starts again on this host (launch, restart): the VM on another host, if any, is discarded. */
  restart(): void {
    const ls = this.lockstep;
    if (!ls) return;
    this.lockstep = undefined;
    void ls.close();
    this.session.output(`the VM on ${ls.host} is discarded: the program starts again on this host\n`);
  }

  /**
   * The session goes away (disconnect, a dropped connection): the VM on another host, if any, is let go
   * now, and the returned function ends its remote session (the target discards it).
   */
  release(): (() => Promise<void>) | undefined {
    const ls = this.lockstep;
    this.lockstep = undefined;
    return ls && (() => ls.close());
  }

  /**
   * The session ends while the VM runs on another host: the console gets its result there (or where it
   * stands), then the target discards it. Undefined when the VM runs here.
   */
  leave(): Promise<void> | undefined {
    const ls = this.lockstep;
    this.lockstep = undefined;
    return ls && this.leaveHost(ls);
  }

  private async leaveHost(ls: Lockstep): Promise<void> {
    const out = this.session;
    try {
      if (ls.replica.finished) {
        const r = await ls.remote.result();
        out.output(
          `the program ended on ${ls.host}: ${r.status} after ${r.commands} commands, ${r.errors.length} GPU error${r.errors.length === 1 ? '' : 's'}, memorySha256 ${r.memorySha256}\n`,
        );
        for (const [name, x] of Object.entries(r.surfaces))
          out.output(`  surface ${name} ${x.width}x${x.height} sha256 ${x.sha256}\n`);
      } else {
        out.output(`the VM on ${ls.host} is discarded at t=${ls.replica.commands}\n`);
      }
    } catch (e) {
      out.output(`no result from ${ls.host}: ${(e as Error).message}\n`, 'stderr');
    }
    await ls.close();
  }

  /**
   * After the replica moved: the remote VM repeats the motion, then `then` shows the stop (if `wanted`
   * still: the session neither ended nor restarted meanwhile). Until it has, the VM counts as running.
   * If the remote is lost or differs, the VM comes back here from the replica. Here, `then` runs at once.
   */
  follow(then: () => void, wanted: () => boolean): void {
    const ls = this.lockstep;
    if (!ls) {
      then();
      return;
    }
    this.following++;
    void (async () => {
      try {
        await ls.follow();
      } catch (e) {
        this.lost(ls, e);
      } finally {
        this.following--;
      }
      if (wanted()) then();
    })();
  }

  /** The remote VM is gone or differs: the VM continues here, rebuilt for this host from the replica. */
  private lost(ls: Lockstep, e: unknown): void {
    if (this.lockstep !== ls) return; // closed on purpose meanwhile (restart, end, another move)
    this.lockstep = undefined;
    void ls.close();
    const why =
      e instanceof LockstepError
        ? `the VM on ${ls.host} and its replica here diverged: ${e.message}`
        : e instanceof ChannelClosed
          ? `the connection to ${ls.host} is lost: ${e.message}`
          : e instanceof RemoteError
            ? `${ls.host} failed a request: ${e.message}`
            : `internal error while following the VM on ${ls.host}: ${(e as Error)?.message ?? String(e)}`;
    let home: Vm;
    try {
      home = rebuildFor(ls.replica, this.homeGen, 'the VM');
    } catch (err) {
      this.session.output(
        `${why}; the VM could not be rebuilt for this host (${(err as Error).message}): the session goes on with the replica\n`,
        'stderr',
      );
      return;
    }
    this.session.adopt(home);
    this.session.output(
      `${why}; the VM continues on this host (generation ${this.homeGen}) from its replica, at t=${home.commands}\n`,
      'stderr',
    );
    this.session.invalidated();
  }

  /**
   * Moves `vm`, paused where it stands, to a `vgpu host` (SPEC section 9), reporting progress on `op`
   * and on the console; cancellable through `op` until the stop-and-copy (the VM then stays here,
   * intact). `unwanted`: why the moved VM is no longer wanted once it arrived (the session ended or
   * restarted meanwhile), or undefined. The session then ends `op` and calls `settle`.
   */
  async move(
    vm: Vm,
    target: { host: string; port: number; token?: string },
    op: Operation,
    unwanted: () => string | undefined,
  ): Promise<Move> {
    const from = this.lockstep;
    this.migrating = true;
    try {
      const { outcome, lockstep } = await migrateInLockstep(
        vm,
        {
          ...target,
          cancelled: () => op.cancelled,
          onProgress: (p) => {
            const late = p.phase === 'stop-and-copy' || p.phase === 'resumed' ? '; too late to cancel' : '';
            const text = `${p.phase}${p.round ? ` (round ${p.round}, ${p.pages} pages)` : ''} at t=${p.commands}${late}`;
            op.report(text);
            this.session.output(`migration: ${text}\n`);
          },
        },
        unwanted,
      );
      return new Move(outcome, from, lockstep);
    } finally {
      this.migrating = false;
    }
  }

  /**
   * After `move`: the console says how it went. Moved, the VM runs on the target (it left the host it
   * ran on before), and its replica becomes the session's VM; else the VM keeps running where it was.
   */
  settle(m: Move, vm: Vm): void {
    const out = m.outcome;
    const ls = m.lockstep;
    if (!ls) {
      this.session.output(
        `migration ${out.status}: ${out.reason ?? 'no reason given'}; the VM keeps running ${m.from ? `on ${m.from.host}` : 'here'} (t=${vm.commands})\n`,
        'stderr',
      );
      return;
    }
    if (m.from)
      void m.from.close(); // the VM has left that host
    else this.homeGen = vm.cfg.hostGen;
    this.lockstep = ls;
    this.session.adopt(ls.replica);
    this.session.output(
      `the VM moved to ${ls.host} at t=${out.switchedAtCommands} (${out.rounds} pre-copy rounds, ${out.pagesSent} pages, ${out.downtimeMs.toFixed(1)} ms downtime): ` +
        'it runs there now; this session drives it and reads a replica kept in step here, compared at every stop\n',
    );
  }
}
