// Live migration, target side: a host with a physical GPU of one generation that takes VMs one after
// another, checks peer, token and device version before any memory arrives, rebuilds the VM from the
// checkpoint sections, resumes it and either runs it to the end or serves a remote session.

import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  CheckpointError,
  SEC,
  VmStateDoc,
  applyPageRecords,
  decodeSnapshots,
  loadStateDoc,
  vmFromSections,
} from '../checkpoint';
import { PAGE_SIZE } from '../memory';
import type { Snapshot } from '../snapshots';
import { StateCheckError, checkStateDoc, oldestLiveStep } from '../statecheck';
import { Generation } from '../capabilities';
import { RunResult, Vm } from '../vm';
import { Channel, ChannelClosed } from './channel';

import { serveSession } from './remote';
import {
  Challenge,
  Frame,
  Hello,
  MIG,
  PROTOCOL,
  ResultDoc,
  Resumed,
  RoundMark,
  StreamError,
  Verdict,
  jsonSection,
  newNonce,
  parseJsonPayload,
  proofMatches,
  streamHeader,
  versionRefusal,
} from './stream';

export interface HostOptions {
  readonly gen: Generation;
  /** Address to bind (default 127.0.0.1) and port (default 0: any free one). */
  readonly host?: string;
  readonly port?: number;
  /** Shared secret a source must prove it knows; none when empty. */
  readonly token?: string;
  /**
   * Peers allowed to connect: 'loopback' (the default), 'any', or IP addresses. Others are refused
   * before the handshake.
   */
  readonly allow?: readonly string[];
  /** Longest silence of a source in the middle of a transfer (default 30 s). */
  readonly idleTimeoutMs?: number;
  /**
   * Progress a source must keep up once accepted: the transfer is dropped when it has taken longer
   * than `idleTimeoutMs` plus one second per this many bytes received (default 1 MiB), so a peer
   * trickling small sections cannot hold the host's one transfer slot (slowloris).
   */
  readonly minBytesPerSecond?: number;
}

export interface TransferInfo {
  readonly peer: string;
  readonly program: string;
  readonly exposedVersion: number;
  readonly mode: Hello['mode'];
}

/** What a host reports; the CLI prints these, tests watch them. */
export interface HostEvents {
  refused: (peer: string, reason: string) => void;
  accepted: (t: TransferInfo) => void;
  resumed: (t: TransferInfo, vm: Vm, stats: { rounds: number; pages: number; commands: number }) => void;
  finished: (t: TransferInfo, result: RunResult) => void;
  dropped: (peer: string, reason: string) => void;
}

/** The host runs a VM in slices of about this long, looking at its sockets (and signals) in between. */
const SLICE_MS = 10;
const SLICE_STEPS = 500;
/** Largest section before the source is accepted: a hello (no unauthenticated peer makes the host buffer more). */
const HANDSHAKE_LIMIT = 64 * 1024;
/** Pre-copy rounds and round-trip marks a source may send (its own default is 8 rounds). */
const MAX_ROUNDS = 256;
const MAX_MARKS = 4096;
/** Times a guest's RAM a source may send in page records (each pre-copy round resends dirty pages). */
const MAX_PAGE_PASSES = 64;

export function isLoopback(addr: string): boolean {
  return /^127\./.test(addr) || addr === '::1';
}

/** `::ffff:127.0.0.1` -> `127.0.0.1`. */
export function normalizeAddress(addr: string | undefined): string {
  if (!addr) return '?';
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1] : addr;
}

class Dropped extends Error {}

export class VmHost {
  private server: net.Server | null = null;
  private active: { ch: Channel; done: Promise<void> } | null = null;
  private closing = false;
  private readonly sockets = new Set<net.Socket>();
  private readonly listeners: { [K in keyof HostEvents]: HostEvents[K][] } = {
    refused: [],
    accepted: [],
    resumed: [],
    finished: [],
    dropped: [],
  };

  constructor(readonly o: HostOptions) {}

  on<K extends keyof HostEvents>(event: K, fn: HostEvents[K]): this {
    this.listeners[event].push(fn);
    return this;
  }

  private emit<K extends keyof HostEvents>(event: K, ...args: Parameters<HostEvents[K]>): void {
    for (const fn of this.listeners[event]) (fn as (...a: unknown[]) => void)(...args);
  }

  /** Starts listening; resolves with the bound address (the port, when 0 was asked for). */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((s) => this.onConnection(s));
      this.server = server;
      server.once('error', reject);
      server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        const a = server.address() as net.AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  get address(): { host: string; port: number } | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  /** Stops taking VMs; a transfer or run in progress is dropped (its source finishes the VM itself). */
  async close(reason = 'the target host is shutting down'): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    const a = this.active;
    if (a) {
      a.ch.fail(reason);
      await Promise.race([a.done, new Promise((r) => setTimeout(r, 3000).unref())]);
    }
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private allowed(peer: string): boolean {
    const allow = this.o.allow ?? ['loopback'];
    return allow.some((a) => a === 'any' || (a === 'loopback' && isLoopback(peer)) || normalizeAddress(a) === peer);
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    const peer = normalizeAddress(socket.remoteAddress);
    const ch = new Channel(socket, `stream from ${peer}`);
    ch.post(streamHeader());
    const refuse = (reason: string): void => {
      ch.post(jsonSection(MIG.VERDICT, { accepted: false, reason, hostGen: this.o.gen } satisfies Verdict));
      socket.end();
      setTimeout(() => socket.destroy(), 2000).unref();
      this.emit('refused', peer, reason);
    };
    if (!this.allowed(peer))
      return refuse(
        `connections from ${peer} are not accepted by this host (allowed: ${(this.o.allow ?? ['loopback']).join(', ')})`,
      );
    if (this.closing) return refuse('the target host is shutting down');
    if (this.active) return refuse('the target host is busy with another VM; try again when it is done');
    const done = this.serve(ch, peer, refuse)
      .catch((e: unknown) => {
        // A bug here must not take the host (and the VMs it will serve next) down.
        this.emit('dropped', peer, `internal error: ${(e as Error)?.stack ?? String(e)}`);
        ch.close(new ChannelClosed('internal error'));
      })
      .finally(() => {
        if (this.active?.ch === ch) this.active = null;
      });
    this.active = { ch, done };
  }

  private async serve(ch: Channel, peer: string, refuse: (reason: string) => void): Promise<void> {
    const gen = this.o.gen;
    const idle = this.o.idleTimeoutMs ?? 30_000;
    const nonce = newNonce();
    const token = this.o.token ?? '';
    ch.post(
      jsonSection(MIG.CHALLENGE, {
        protocol: PROTOCOL,
        hostGen: gen,
        nonce,
        tokenRequired: token !== '',
      } satisfies Challenge),
    );
    let info: TransferInfo | null = null;
    ch.sectionLimit = HANDSHAKE_LIMIT;
    try {
      const hello = json<Hello>(await this.expect(ch, MIG.HELLO, idle, "waiting for the source's hello"));
      const why =
        hello.protocol !== PROTOCOL
          ? `this host speaks transfer protocol ${PROTOCOL}, not ${hello.protocol}`
          : token !== '' && hello.proof === null
            ? 'this host requires a token (--token or VGPU_HOST_TOKEN at the source)'
            : token !== '' && !proofMatches(token, nonce, hello.proof)
              ? 'wrong token'
              : (versionRefusal(hello.exposedVersion, gen) ??
                (hello.mode !== 'finish' && hello.mode !== 'session'
                  ? `unknown transfer mode '${String(hello.mode)}'`
                  : null));
      if (why) return refuse(why);
      ch.sectionLimit = Infinity;
      ch.post(jsonSection(MIG.VERDICT, { accepted: true, hostGen: gen } satisfies Verdict));
      // The slot is held while the source makes progress: the deadline moves with the bytes received.
      const rate = this.o.minBytesPerSecond ?? 1024 * 1024;
      const since = performance.now();
      const base = ch.bytesIn;
      const slow = (doing: string): Dropped =>
        new Dropped(
          `the source made too little progress: ${ch.bytesIn - base} bytes in ${((performance.now() - since) / 1000).toFixed(1)} s while ${doing} (at least ${rate} bytes a second after the first ${(idle / 1000).toFixed(0)} s)`,
        );
      const next = async (doing: string): Promise<Frame> => {
        const left = since + idle + ((ch.bytesIn - base) / rate) * 1000 - performance.now();
        if (left <= 0) throw slow(doing);
        if (left >= idle) return ch.next(idle, doing);
        try {
          return await ch.next(left, doing);
        } catch (e) {
          // Silence until the progress deadline (not the idle timeout) says so.
          if (e instanceof ChannelClosed && !e.fromPeer && ch.queueEmpty && /^no answer/.test(e.message))
            throw slow(doing);
          throw e;
        }
      };
      const expectNext = async (tag: string, doing: string): Promise<Frame> => {
        const f = await next(doing);
        if (f.tag !== tag) throw new Dropped(`expected section ${tag} while ${doing}, got ${f.tag}`);
        return f;
      };
      info = { peer, program: String(hello.program), exposedVersion: hello.exposedVersion, mode: hello.mode };
      this.emit('accepted', info);

      // The VM's configuration: build it now (it may still be refused), so pages land in place.
      const what = `VM from ${peer}`;
      const meta = await expectNext(SEC.META, 'waiting for the VM configuration');
      const image = await expectNext(SEC.IMAGE, 'waiting for the program image');
      const early = await expectNext(SEC.STATE, 'waiting for the VM state');
      if (json<{ exposedVersion: number }>(meta).exposedVersion !== hello.exposedVersion)
        throw new Dropped('META contradicts the hello (exposed version)');
      const vm = vmFromSections(
        new Map([
          [SEC.META, [meta.payload]],
          [SEC.IMAGE, [image.payload]],
          [SEC.STATE, [early.payload]],
        ]),
        what,
        gen,
        false,
      );

      let rounds = 0;
      let pages = 0;
      let final = false;
      let marks = 0;
      let f: Frame;
      for (;;) {
        f = await next(final ? 'receiving the stop-and-copy' : `receiving pre-copy round ${rounds}`);
        if (f.tag === MIG.ROUND) {
          const r = json<RoundMark>(f);
          if (final) throw new Dropped('a round after the stop-and-copy began');
          if (++marks > MAX_MARKS || rounds > MAX_ROUNDS)
            throw new Dropped(`more than ${MAX_ROUNDS} pre-copy rounds or ${MAX_MARKS} round marks`);
          if (r.final) final = true;
          else if (r.sync) ch.post(jsonSection(MIG.ROUND, r));
          else rounds = r.round;
        } else if (f.tag === SEC.PAGES) {
          pages += applyPageRecords(vm, f.parts, f.length);
          if (pages > MAX_PAGE_PASSES * (vm.cfg.memory / PAGE_SIZE))
            throw new Dropped(`more than ${MAX_PAGE_PASSES} times the guest's RAM in page records`);
        } else if (f.tag === SEC.META && final) {
          break;
        } else {
          throw new Dropped(`unexpected section ${f.tag} ${final ? 'in the stop-and-copy' : 'during pre-copy'}`);
        }
      }
      const state = await expectNext(SEC.STATE, 'receiving the stop-and-copy');
      const snaps: Buffer[] = [];
      for (;;) {
        const s = await next('receiving the stop-and-copy');
        if (s.tag === SEC.END) break;
        if (s.tag !== SEC.SNAPSHOT) throw new Dropped(`unexpected section ${s.tag} in the stop-and-copy`);
        snaps.push(s.payload);
      }

      // The final state goes into the VM that already holds the pages; the image was decoded once,
      // before the VM stopped, so the stop-and-copy costs what changed, not the program's size.
      const fmeta = json<{ exposedVersion: number; snapshotsTaken?: number }>(f);
      const refusal = versionRefusal(fmeta.exposedVersion, gen);
      if (refusal) throw new Dropped(refusal);
      if (fmeta.exposedVersion !== hello.exposedVersion)
        throw new Dropped('META contradicts the hello (exposed version)');
      const doc = json<VmStateDoc>(state);
      for (const [k, v] of Object.entries(doc.config ?? {})) {
        if (k !== 'hostGen' && JSON.stringify(v) !== JSON.stringify((vm.cfg as unknown as Record<string, unknown>)[k]))
          throw new Dropped(`the VM's configuration changed during the transfer (${k})`);
      }
      try {
        checkStateDoc(vm, doc, 'final STAT');
      } catch (e) {
        if (e instanceof StateCheckError) throw new Dropped(`${what}: ${e.message}`);
        throw e;
      }
      const rollback = snaps.length ? decodeRollbackSnapshots(snaps, what, vm) : null;
      const oldest = oldestLiveStep(doc);
      if (oldest !== undefined && (!rollback || rollback[0].state.step > oldest))
        throw new Dropped(
          `${what}: a submission from step ${oldest} is still executing, but no snapshot from before it came (its rollback would be lost)`,
        );
      loadStateDoc(vm, doc);
      if (rollback) vm.snapshots.load(rollback);
      if (typeof fmeta.snapshotsTaken === 'number') vm.snapshots.taken = fmeta.snapshotsTaken;
      ch.post(jsonSection(MIG.RESUMED, { commands: vm.commands, step: vm.step, hostGen: gen } satisfies Resumed));
      this.emit('resumed', info, vm, { rounds, pages, commands: vm.commands });

      if (hello.mode === 'session') {
        await serveSession(vm, ch);
        this.emit('finished', info, vm.result());
        return;
      }
      for (let how = 'limit'; how === 'limit' && !ch.closed;) {
        await new Promise((r) => setImmediate(r)); // sockets and signals get their turn between slices
        const until = performance.now() + SLICE_MS;
        do how = vm.run({ maxSteps: vm.step + SLICE_STEPS });
        while (how === 'limit' && performance.now() < until);
      }
      if (ch.closed) throw ch.closed;
      const result = vm.result();
      const pixels: ResultDoc['pixels'] = {};
      for (const name of hello.surfaces ?? []) {
        if (!vm.image.surfaces.some((s) => s.name.toUpperCase() === String(name).toUpperCase())) continue;
        const s = vm.readSurface(String(name));
        pixels[name] = {
          width: s.width,
          height: s.height,
          data: Buffer.from(s.pixels.buffer, s.pixels.byteOffset, s.pixels.byteLength).toString('base64'),
        };
      }
      ch.post(jsonSection(MIG.RESULT, { result, errors: vm.errors, hostGen: gen, pixels } satisfies ResultDoc));
      ch.socket.end();
      this.emit('finished', info, result);
    } catch (e) {
      if (e instanceof Dropped || e instanceof CheckpointError || e instanceof StreamError) {
        ch.fail(e.message);
        this.emit('dropped', peer, e.message);
        return;
      }
      if (e instanceof ChannelClosed) {
        ch.close(e);
        this.emit('dropped', peer, e.fromPeer ? `the source cancelled: ${e.message}` : e.message);
        return;
      }
      throw e;
    }
  }

  private async expect(ch: Channel, tag: string, timeoutMs: number, doing: string): Promise<Frame> {
    const f = await ch.next(timeoutMs, doing);
    if (f.tag !== tag) throw new Dropped(`expected section ${tag} while ${doing}, got ${f.tag}`);
    return f;
  }
}

function json<T>(f: Frame): T {
  return parseJsonPayload<T>(f);
}

/** The checkpoint's SNAP decoder, its complaints turned into a dropped transfer. */
function decodeRollbackSnapshots(payloads: readonly Buffer[], what: string, vm: Vm): Snapshot[] {
  try {
    return decodeSnapshots(payloads, what, vm);
  } catch (e) {
    if (e instanceof CheckpointError) throw new Dropped(e.message);
    throw e;
  }
}
