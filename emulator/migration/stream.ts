// The VM transfer stream: the checkpoint format's header and checksummed sections carried over TCP,
// plus the few sections only a live transfer needs (handshake, round markers, replies).

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CheckpointError, SEC, checkHeader, frameSection, header } from '../checkpoint';
import type { GpuError, RunResult } from '../vm';

/** Revision of the conversation below; the state sections keep the checkpoint's FORMAT_VERSION. */
export const PROTOCOL = 1;

/**
 * Sections a transfer adds to the checkpoint's (META, IMGE, STAT, PAGE, SNAP, END.). Each direction
 * starts with the checkpoint header (magic, format version); then, in order:
 *
 *   target  CHAL{protocol, hostGen, nonce, tokenRequired}, or VERD{accepted: false}: peer not allowed, busy
 *   source  HELO{protocol, proof, exposedVersion, mode, ...}
 *   target  VERD{accepted, reason?, hostGen}               nothing of the VM has been sent yet
 *   source  META IMGE STAT                                 the target builds the VM, still without pages
 *   source  RND.{round} PAGE... RND.{sync}                 a pre-copy round; the VM runs on at the source
 *   target  RND.{sync}                                     the round is applied (rounds are paced by it)
 *           ... more rounds ...
 *   source  RND.{final} PAGE... META STAT SNAP... END.     stop-and-copy: the VM is stopped at the source
 *   target  RSMD{commands, step, hostGen}                  the VM runs on the target from here
 *   target  RSLT{result, errors, pixels}                   mode 'finish': the result, then close
 *   source  RQST{id, method, args} / target RPLY{id, ...}  mode 'session': the source drives the VM
 *   either  ERR.{reason}                                   the transfer is dropped; the source VM goes on
 */
export const MIG = {
  CHALLENGE: 'CHAL',
  HELLO: 'HELO',
  VERDICT: 'VERD',
  ROUND: 'RND.',
  RESUMED: 'RSMD',
  RESULT: 'RSLT',
  REQUEST: 'RQST',
  REPLY: 'RPLY',
  ERROR: 'ERR.',
} as const;

const KNOWN = new Set<string>([...Object.values(SEC), ...Object.values(MIG)]);
const KIB = 1024;
const MIB = 1024 * KIB;
/** Upper bounds per section: a corrupted length must not make the reader wait for or buffer gigabytes. */
const MAX_LENGTH: Readonly<Record<string, number>> = {
  [MIG.CHALLENGE]: 64 * KIB,
  [MIG.HELLO]: 64 * KIB,
  [MIG.VERDICT]: 64 * KIB,
  [MIG.ROUND]: 64 * KIB,
  [MIG.RESUMED]: 64 * KIB,
  [SEC.END]: 0,
  [SEC.PAGES]: 256 * MIB,
};
const MAX_OTHER = 2048 * MIB;

export type Mode = 'finish' | 'session';

export interface Challenge {
  protocol: number;
  hostGen: number;
  nonce: string;
  tokenRequired: boolean;
}

export interface Hello {
  protocol: number;
  /** HMAC-SHA256(token, nonce) in hex, or null without a token: the secret itself never travels. */
  proof: string | null;
  exposedVersion: number;
  mode: Mode;
  program: string;
  memory: number;
  /** Guest pages the first round will carry (informational). */
  pages: number;
  /** Surfaces whose pixels the source wants back with the result (`--png`). */
  surfaces: string[];
}

export interface Verdict {
  accepted: boolean;
  reason?: string;
  hostGen: number;
}

export interface RoundMark {
  round: number;
  pages: number;
  /** The stop-and-copy: the VM is stopped at the source. */
  final: boolean;
  /** The end of a pre-copy round: the target echoes the mark once it has applied everything before it. */
  sync?: boolean;
}

export interface Resumed {
  commands: number;
  step: number;
  hostGen: number;
}

export interface ResultDoc {
  result: RunResult;
  /** The errors with their columns (the text report points at them). */
  errors: GpuError[];
  hostGen: number;
  /** Requested surfaces: base64 of width*height little-endian ARGB dwords. */
  pixels: Record<string, { width: number; height: number; data: string }>;
}

/** A stream that breaks its format: the receiver drops it. */
export class StreamError extends Error {}

export function proofOf(token: string, nonce: string): string {
  return createHmac('sha256', token).update(nonce, 'hex').digest('hex');
}

export function newNonce(): string {
  return randomBytes(32).toString('hex');
}

/** Constant-time comparison of a proof against the expected one. */
export function proofMatches(token: string, nonce: string, proof: unknown): boolean {
  if (typeof proof !== 'string' || !/^[0-9a-f]{64}$/.test(proof)) return false;
  return timingSafeEqual(Buffer.from(proofOf(token, nonce), 'hex'), Buffer.from(proof, 'hex'));
}

/** The refusal a person reads when a VM's device version is newer than the host (same words as a checkpoint). */
export function versionRefusal(exposedVersion: number, hostGen: number): string | null {
  return exposedVersion > hostGen
    ? `VM exposes device version ${exposedVersion}; this host is generation ${hostGen}`
    : null;
}

export function jsonSection(tag: string, doc: unknown): Buffer {
  return frameSection(tag, Buffer.from(JSON.stringify(doc)));
}

export { header as streamHeader };

/**
 * One verified section. Large payloads stay in the pieces they arrived in (views of the socket's
 * reads): joining a gigabyte of pages into fresh buffers costs more than hashing it.
 */
export class Frame {
  private joined: Buffer | null;

  constructor(
    readonly tag: string,
    readonly parts: readonly Buffer[],
    readonly length: number,
  ) {
    this.joined = parts.length === 1 ? parts[0] : null;
  }

  /** The payload in one buffer (joined on first use). */
  get payload(): Buffer {
    if (this.joined === null) this.joined = Buffer.concat(this.parts as Buffer[], this.length);
    return this.joined;
  }
}

export function parseJsonPayload<T>(f: Frame): T {
  try {
    return JSON.parse(f.payload.toString('utf8')) as T;
  } catch (e) {
    throw new StreamError(`section ${f.tag} is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Incremental reader of one direction of a stream: the 12-byte header, then framed sections
 * (tag, u64 length, payload, sha256 of tag and payload), each verified before it is handed out.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private first = 0; // bytes of chunks[0] already consumed
  private buffered = 0;
  private sawHeader = false;
  /** Largest section accepted whatever its tag (a host lowers it until the peer is authenticated). */
  limit = Infinity;

  constructor(private readonly what: string) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Bytes received but not yet part of a whole section. */
  get pending(): number {
    return this.buffered;
  }

  /** The next whole section, or null until more bytes arrive; throws StreamError on a bad stream. */
  next(): Frame | null {
    if (!this.sawHeader) {
      if (this.buffered < 12) return null;
      try {
        checkHeader(this.take(12), this.what);
      } catch (e) {
        throw new StreamError((e as CheckpointError).message);
      }
      this.sawHeader = true;
    }
    if (this.buffered < 12) return null;
    const head = this.peek(12);
    const tag = head.toString('latin1', 0, 4);
    if (!KNOWN.has(tag)) throw new StreamError(`${this.what}: unknown section '${printable(tag)}' (corrupted?)`);
    const claimed = head.readBigUInt64LE(4);
    const len = Number(claimed);
    const max = Math.min(MAX_LENGTH[tag] ?? MAX_OTHER, this.limit);
    if (len > max)
      throw new StreamError(
        `${this.what}: section ${tag} claims ${claimed} bytes (at most ${max}${max === this.limit ? ' before the handshake' : '; corrupted?'})`,
      );
    if (this.buffered < 12 + len + 32) return null;
    const h = createHash('sha256').update(this.take(12).subarray(0, 4));
    const parts = this.takeParts(len);
    for (const p of parts) h.update(p);
    if (!h.digest().equals(this.take(32)))
      throw new StreamError(`${this.what}: section ${tag} fails its checksum (corrupted)`);
    return new Frame(tag, parts, len);
  }

  /** Consumes n bytes as views of the chunks they sit in (no copy). */
  private takeParts(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[0];
      const k = Math.min(left, c.length - this.first);
      out.push(c.subarray(this.first, this.first + k));
      left -= k;
      this.first += k;
      if (this.first === c.length) {
        this.chunks.shift();
        this.first = 0;
      }
    }
    this.buffered -= n;
    return out;
  }

  private peek(n: number): Buffer {
    const c = this.chunks[0];
    if (c.length - this.first >= n) return c.subarray(this.first, this.first + n);
    return this.gather(n, false);
  }

  /** Consumes n bytes: a view when they sit in one chunk, else one copy. */
  private take(n: number): Buffer {
    const c = this.chunks[0];
    let out: Buffer;
    if (c.length - this.first >= n) {
      out = c.subarray(this.first, this.first + n);
      this.first += n;
      if (this.first === c.length) {
        this.chunks.shift();
        this.first = 0;
      }
    } else {
      out = this.gather(n, true);
    }
    this.buffered -= n;
    return out;
  }

  private gather(n: number, consume: boolean): Buffer {
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    let i = 0;
    let first = this.first;
    while (o < n) {
      const c = this.chunks[i];
      const k = Math.min(n - o, c.length - first);
      c.copy(out, o, first, first + k);
      o += k;
      if (first + k === c.length) {
        i++;
        first = 0;
      } else first += k;
    }
    if (consume) {
      this.chunks.splice(0, i);
      this.first = first;
    }
    return out;
  }
}

function printable(tag: string): string {
  return tag.replace(/[^\x20-\x7e]/g, '?');
}

/** `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT` (the host defaults to loopback); null when malformed. */
export function parseHostPort(text: string, defaultHost = '127.0.0.1'): { host: string; port: number } | null {
  const t = text.trim();
  let host = defaultHost;
  let portText = t;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(t);
  if (v6) {
    host = v6[1];
    portText = v6[2];
  } else if (t.includes(':')) {
    const at = t.lastIndexOf(':');
    if (t.indexOf(':') !== at) return null; // a bare IPv6 address needs brackets
    if (at > 0) host = t.slice(0, at);
    portText = t.slice(at + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  return port <= 65535 ? { host, port } : null;
}
