// Live migration, source side: handshake, pre-copy rounds of guest pages while the VM keeps running
// (dirty pages logged through HostMemory's write hook), then a short stop-and-copy of the rest of the
// state. On refusal or failure the VM is exactly as if it had only been running, and stays here.

import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { SEC, frameSection, guestPages, imageDoc, metaDoc, rollbackSnapshots, stateDoc } from '../checkpoint';
import { HostMemory, PAGE_SIZE } from '../memory';
import { GpuError, RAM_HPA, RunResult, Vm } from '../vm';
import { Channel, ChannelClosed } from './channel';
import { PageSender } from './pages';
import { RemoteVm } from './remote';
import {
  Challenge,
  Hello,
  MIG,
  Mode,
  PROTOCOL,
  ResultDoc,
  Resumed,
  RoundMark,
  StreamError,
  Verdict,
  jsonSection,
  parseJsonPayload,
  proofOf,
  streamHeader,
} from './stream';

export interface MigrationTarget {
  readonly host: string;
  readonly port: number;
  /** Shared secret of the target host, if it has one. */
  readonly token?: string;
}

export interface MigrateOptions extends MigrationTarget {
  /** 'finish' (default): the target runs the VM to the end and returns the result. 'session': the caller drives it. */
  mode?: Mode;
  /** Surfaces whose pixels come back with the result (mode 'finish'). */
  surfaces?: readonly string[];
  /** Guest pages per PAGE section (default 256: 1 MiB). */
  chunkPages?: number;
  /**
   * Commands the VM runs between two sections during pre-copy (default 16); halved each round the
   * dirty set does not shrink. 0: the VM stays paused (a debugger stopped on it moves it as it is).
   */
  commandsPerChunk?: number;
  /** Pre-copy rounds at most (default 8); the stop-and-copy follows. */
  maxRounds?: number;
  /** Dirty pages few enough to stop and copy (default 256). */
  stopPages?: number;
  /** Longest silence of the target while it should answer (default 30 s). Running the VM to the end has no limit. */
  timeoutMs?: number;
  /** Progress, for a debugger's status line or a log. */
  onProgress?: (p: MigrationProgress) => void;
  /**
   * Asked between sections until the stop-and-copy: true abandons the transfer (the target discards
   * what it got; the VM here is intact). From the stop-and-copy on, the VM is the target's: not asked.
   */
  cancelled?: () => boolean;
}

export interface MigrationProgress {
  readonly phase: 'accepted' | 'round' | 'stop-and-copy' | 'resumed';
  readonly round: number;
  readonly pages: number;
  /** The VM's command count at the source. */
  readonly commands: number;
}

export type MigrationStatus = 'completed' | 'refused' | 'failed';

export interface MigrationOutcome {
  readonly status: MigrationStatus;
  readonly reason?: string;
  /** Pre-copy rounds (the stop-and-copy is not one of them). */
  readonly rounds: number;
  readonly pagesSent: number;
  /** Wall time from stopping the VM here to the target saying it resumed (0 when it never stopped). */
  readonly downtimeMs: number;
  readonly bytesSent: number;
  /** The command count at which the VM stopped here and resumed on the target. */
  readonly switchedAtCommands?: number;
  readonly hostGen?: number;
  /** Mode 'finish': the result the target computed, its errors (with columns) and requested pixels. */
  readonly result?: RunResult;
  readonly errors?: GpuError[];
  readonly pixels?: ResultDoc['pixels'];
  /** Mode 'session': the VM on the target. */
  readonly remote?: RemoteVm;
}

/** The `migration` member of the result JSON (SPEC section 7). */
export function migrationSummary(o: MigrationOutcome): NonNullable<RunResult['migration']> {
  return {
    status: o.status,
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
    rounds: o.rounds,
    pagesSent: o.pagesSent,
    downtimeMs: Math.round(o.downtimeMs * 1000) / 1000,
  };
}

/** The target said no (token, version, busy, peer not allowed). */
class Refused extends Error {}
/** The VM itself stopped (an unrecovered GPU error) while pre-copy ran: it does not move. */
class VmStopped extends Error {}
/** The caller cancelled the transfer before the stop-and-copy. */
class CancelledHere extends Error {}

/**
 * Logs guest pages written since they were last sent. Writes come through HostMemory.writeHook;
 * rollback restores pages without it, through HostMemory.restoreHook. Nothing the VM does changes.
 */
export class DirtyLog {
  readonly pages = new Set<number>();
  private readonly prevHook: HostMemory['writeHook'];
  private readonly hook: (pfn: number) => void;
  private readonly prevRestore: HostMemory['restoreHook'];
  private readonly restore: (pfn: number) => void;
  private attached = true;

  constructor(private readonly vm: Vm) {
    const mem = vm.mem;
    const first = RAM_HPA / PAGE_SIZE;
    const end = first + vm.cfg.memory / PAGE_SIZE;
    const pages = this.pages;
    const log = (pfn: number): void => {
      if (pfn >= first && pfn < end) pages.add(pfn - first);
    };
    const prev = mem.writeHook;
    this.prevHook = prev;
    this.hook =
      prev === null
        ? log
        : (pfn: number) => {
            prev(pfn);
            log(pfn);
          };
    mem.writeHook = this.hook;
    this.prevRestore = mem.restoreHook;
    const prevRestore = this.prevRestore;
    this.restore =
      prevRestore === null
        ? log
        : (pfn: number) => {
            prevRestore(pfn);
            log(pfn);
          };
    mem.restoreHook = this.restore;
  }

  /** Still in place? (Someone replacing the write hook would make the log silently incomplete.) */
  get intact(): boolean {
    return this.attached && this.vm.mem.writeHook === this.hook && this.vm.mem.restoreHook === this.restore;
  }

  /** Takes the logged pages in GPA order and starts a new log. */
  drain(): number[] {
    const out = [...this.pages].sort((a, b) => a - b);
    this.pages.clear();
    return out;
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    const mem = this.vm.mem;
    if (mem.writeHook === this.hook) mem.writeHook = this.prevHook;
    if (mem.restoreHook === this.restore) mem.restoreHook = this.prevRestore;
  }
}

function openChannel(host: string, port: number, timeoutMs: number): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const ch = new Channel(socket, `stream from ${host}:${port}`);
    const timer = setTimeout(() => {
      const e = new ChannelClosed(`no connection to ${host}:${port} within ${(timeoutMs / 1000).toFixed(1)} s`);
      ch.close(e);
      reject(e);
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(ch);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(ch.closed ?? new ChannelClosed('the connection closed'));
    });
  });
}

async function expect<T>(ch: Channel, tag: string, timeoutMs: number, doing: string): Promise<T> {
  const f = await ch.next(timeoutMs, doing);
  if (f.tag !== tag) {
    const why = `expected section ${tag} while ${doing}, got ${f.tag}`;
    ch.fail(why);
    throw new ChannelClosed(why);
  }
  try {
    return parseJsonPayload<T>(f);
  } catch (e) {
    ch.fail((e as Error).message);
    throw new ChannelClosed((e as Error).message);
  }
}

/** Runs a slice of the VM during pre-copy; false once the program has ended. */
function runSlice(vm: Vm, commands: number): boolean {
  const how = vm.run({ untilCommands: vm.commands + commands, maxSteps: vm.step + 4 * commands + 16 });
  if (how === 'error' || how === 'stuck') {
    const e = vm.pending ?? vm.errors[vm.errors.length - 1];
    throw new VmStopped(
      `the VM stopped on a GPU error during pre-copy${e ? ` (${e.kind} on ${e.engine})` : ''}; it was not moved`,
    );
  }
  return how === 'limit';
}

/**
 * Moves a VM to a vgpu host: live pre-copy, stop-and-copy, resume there. Never throws for a refusal,
 * an unreachable or failing target or a broken stream: the outcome says what happened, and unless it
 * is 'completed' the VM here is intact and can simply go on running (`vm.run()`).
 */
export async function migrateVm(vm: Vm, o: MigrateOptions): Promise<MigrationOutcome> {
  const mode = o.mode ?? 'finish';
  const chunk = Math.max(1, o.chunkPages ?? 256);
  const paused = o.commandsPerChunk === 0;
  let perChunk = Math.max(1, o.commandsPerChunk ?? 16);
  const maxRounds = Math.max(1, o.maxRounds ?? 8);
  const stopPages = Math.max(0, o.stopPages ?? 256);
  const timeoutMs = o.timeoutMs ?? 30_000;
  const where = `${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
  let rounds = 0;
  let pagesSent = 0;
  let stoppedAt = -1;
  let ch: Channel | null = null;
  let log: DirtyLog | null = null;
  let stage = `connecting to ${where}`;
  let keepOpen = false;
  const progress = (phase: MigrationProgress['phase'], round: number, pages: number) =>
    o.onProgress?.({ phase, round, pages, commands: vm.commands });
  const outcome = (status: MigrationStatus, extra: Partial<MigrationOutcome> = {}): MigrationOutcome => ({
    status,
    rounds,
    pagesSent,
    downtimeMs: stoppedAt < 0 ? 0 : performance.now() - stoppedAt,
    bytesSent: ch?.bytesOut ?? 0,
    ...extra,
  });
  if (vm.pending)
    return outcome('failed', {
      reason: `the VM is stopped on a GPU error (${vm.pending.kind} on ${vm.pending.engine}); it was not moved`,
    });

  try {
    ch = await openChannel(o.host, o.port, timeoutMs);
    ch.stallMs = timeoutMs;
    stage = 'the handshake';
    await ch.send(streamHeader());
    const first = await ch.next(timeoutMs, 'waiting for the target host to greet');
    if (first.tag === MIG.VERDICT)
      throw new Refused(parseJsonPayload<Verdict>(first).reason ?? 'the target host refused the connection');
    if (first.tag !== MIG.CHALLENGE)
      throw new ChannelClosed(`the target greeted with section ${first.tag}, not ${MIG.CHALLENGE}`);
    const chal = parseJsonPayload<Challenge>(first);
    if (chal.protocol !== PROTOCOL)
      throw new Refused(`the target speaks transfer protocol ${chal.protocol}; this vgpu speaks ${PROTOCOL}`);
    const hello: Hello = {
      protocol: PROTOCOL,
      proof: o.token ? proofOf(o.token, chal.nonce) : null,
      exposedVersion: vm.cfg.version,
      mode,
      program: vm.image.file,
      memory: vm.cfg.memory,
      pages: guestPages(vm).length,
      surfaces: [...(o.surfaces ?? [])],
    };
    await ch.send(jsonSection(MIG.HELLO, hello));
    const verdict = await expect<Verdict>(ch, MIG.VERDICT, timeoutMs, "waiting for the target host's verdict");
    if (!verdict.accepted) throw new Refused(verdict.reason ?? 'the target host refused the VM');
    progress('accepted', 0, 0);
    if (o.cancelled?.())
      throw new CancelledHere(
        'cancelled before the stop-and-copy (once the target accepted, before any state was sent)',
      );

    // The VM's configuration first: the target builds it (and may still refuse) before any page.
    stage = 'sending the VM configuration';
    log = new DirtyLog(vm);
    await ch.send(jsonSection(SEC.META, { ...metaDoc(vm), snapshotsTaken: vm.snapshots.taken }));
    await ch.send(frameSection(SEC.IMAGE, Buffer.from(JSON.stringify(imageDoc(vm.image)))));
    await ch.send(jsonSection(SEC.STATE, stateDoc(vm)));

    const sender = new PageSender(ch, vm, chunk);
    let running = !paused && !vm.finished;
    // Each round ends when the target has applied it (the VM runs meanwhile): rounds are paced by
    // the target, and nothing of them is still queued when the VM stops.
    const endOfRound = async (round: number): Promise<boolean> => {
      const c = ch!;
      await c.send(jsonSection(MIG.ROUND, { round, pages: 0, final: false, sync: true } satisfies RoundMark));
      const since = performance.now();
      for (;;) {
        const f = c.poll();
        if (f) {
          if (f.tag !== MIG.ROUND || parseJsonPayload<RoundMark>(f).round !== round)
            throw new ChannelClosed(`the target answered the end of round ${round} with section ${f.tag}`);
          return running;
        }
        if (c.closed) throw c.closed;
        if (performance.now() - since > timeoutMs)
          throw new ChannelClosed(
            `the target did not confirm pre-copy round ${round} within ${(timeoutMs / 1000).toFixed(1)} s`,
          );
        if (running) running = runSlice(vm, perChunk);
        await new Promise((r) => (running ? setImmediate(r) : setTimeout(r, 1)));
      }
    };
    let toSend = guestPages(vm);
    for (let round = 1; ; round++) {
      stage = `pre-copy round ${round}`;
      const mark: RoundMark = { round, pages: toSend.length, final: false };
      await ch.send(jsonSection(MIG.ROUND, mark));
      progress('round', round, toSend.length);
      for (let i = 0; i < toSend.length || (i === 0 && running); i += chunk) {
        const part = toSend.slice(i, i + chunk);
        if (part.length) {
          for (const g of part) log.pages.delete(g); // sent as it is now; a later write logs it again
          await sender.send(part);
          pagesSent += part.length;
        }
        if (running) running = runSlice(vm, perChunk);
        if (o.cancelled?.())
          throw new CancelledHere(`cancelled before the stop-and-copy (during pre-copy round ${round})`);
        if (!log.intact)
          throw new ChannelClosed('the dirty-page log was replaced while pre-copy ran (HostMemory.writeHook changed)');
      }
      running = await endOfRound(round);
      rounds = round;
      if (o.cancelled?.())
        throw new CancelledHere(`cancelled before the stop-and-copy (after pre-copy round ${round})`);
      if (log.pages.size <= stopPages || round >= maxRounds) break;
      const sentBefore = toSend.length;
      toSend = log.drain();
      if (toSend.length >= sentBefore) perChunk = Math.max(1, perChunk >> 1); // not converging: slow the guest down
    }

    // Stop-and-copy: from here the VM does not run here any more.
    stage = 'the stop-and-copy';
    stoppedAt = performance.now();
    const switchedAtCommands = vm.commands;
    const last = log.drain();
    log.detach();
    progress('stop-and-copy', rounds + 1, last.length);
    await ch.send(jsonSection(MIG.ROUND, { round: rounds + 1, pages: last.length, final: true } satisfies RoundMark));
    for (let i = 0; i < last.length; i += chunk) {
      const part = last.slice(i, i + chunk);
      await sender.send(part);
      pagesSent += part.length;
    }
    await ch.send(jsonSection(SEC.META, { ...metaDoc(vm), snapshotsTaken: vm.snapshots.taken }));
    await ch.send(jsonSection(SEC.STATE, stateDoc(vm)));
    for (const b of rollbackSnapshots(vm)) await ch.send(frameSection(SEC.SNAPSHOT, b));
    await ch.send(frameSection(SEC.END, Buffer.alloc(0)));
    stage = 'waiting for the target to resume the VM';
    const resumed = await expect<Resumed>(ch, MIG.RESUMED, timeoutMs, stage);
    const downtimeMs = performance.now() - stoppedAt;
    progress('resumed', rounds + 1, last.length);

    if (mode === 'session') {
      keepOpen = true;
      return outcome('completed', {
        downtimeMs,
        switchedAtCommands,
        hostGen: resumed.hostGen,
        remote: new RemoteVm(ch, resumed.hostGen, where, timeoutMs),
      });
    }
    stage = 'the run on the target';
    const done = await expect<ResultDoc>(ch, MIG.RESULT, Infinity, 'waiting for the VM to finish on the target');
    return outcome('completed', {
      downtimeMs,
      switchedAtCommands,
      hostGen: done.hostGen,
      result: done.result,
      errors: done.errors,
      pixels: done.pixels,
    });
  } catch (e) {
    if (e instanceof Refused) return outcome('refused', { reason: e.message });
    if (e instanceof CancelledHere) {
      ch?.fail('the source cancelled the transfer');
      return outcome('failed', { reason: e.message });
    }
    if (e instanceof VmStopped) {
      ch?.fail('the source VM stopped on a GPU error; the transfer is cancelled');
      return outcome('failed', { reason: e.message });
    }
    if (e instanceof ChannelClosed || e instanceof StreamError) {
      const peer = e instanceof ChannelClosed && e.fromPeer;
      return outcome('failed', {
        reason: peer ? `the target dropped the transfer: ${e.message}` : `${e.message} (during ${stage})`,
      });
    }
    throw e;
  } finally {
    log?.detach();
    if (ch && !keepOpen) ch.close(ch.closed ?? new ChannelClosed('transfer over'));
  }
}
