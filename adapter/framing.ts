// DAP's base protocol on a byte stream (stdio, TCP): `Content-Length: N` header lines, a blank line,
// then N bytes of JSON, read with limits. Anything else is a ProtocolError naming the byte offset and the
// cause, after which nothing more is read: the session closes the connection and says why. (The
// library's own reader buffers a header that never ends without bound and ends the session silently on
// a body that is not JSON.)

import type { DebugProtocol } from '@vscode/debugprotocol';

/** A header is a line or two (`Content-Length`, maybe `Content-Type`); more than this is not DAP. */
export const MAX_HEADER_BYTES = 4096;
/** The largest request body: a 1 MiB writeMemory in base64, or 100,000 breakpoints, fit well below it. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

export class ProtocolError extends Error {
  constructor(
    /** Offset in the stream of the frame (or header line) at fault. */
    readonly offset: number,
    readonly why: string,
  ) {
    super(`byte ${offset}: ${why}`);
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A short, printable quote of untrusted text for a message. */
export function quote(text: string, max = 40): string {
  const cut = text.length > max ? text.slice(0, max) + '...' : text;
  return JSON.stringify(cut);
}

/** Index of the first byte in `b[0, end)` that no header holds (printable ASCII, tab, CR, LF); -1 if none. */
function firstNonText(b: Buffer, end: number): number {
  for (let i = 0; i < end; i++) {
    const c = b[i];
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c > 0x7e) return i;
  }
  return -1;
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Checks a decoded body is a DAP request or response a session can act on. A request with a bad
 * `command` is still answerable (the session refuses it by its seq); one without a usable `seq` is not.
 */
export function checkEnvelope(msg: unknown): string | undefined {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg))
    return `the body is ${kindOf(msg)}, not a DAP message (a JSON object)`;
  const m = msg as Record<string, unknown>;
  if (m.type !== 'request' && m.type !== 'response') {
    return m.type === undefined
      ? 'the message has no type (request or response)'
      : `a message of type ${typeof m.type === 'string' ? quote(m.type) : kindOf(m.type)} (a client sends requests and responses)`;
  }
  if (typeof m.seq !== 'number' || !Number.isSafeInteger(m.seq) || m.seq < 0) {
    return `the ${m.type} has no usable seq (${m.seq === undefined ? 'absent' : typeof m.seq === 'number' ? String(m.seq) : kindOf(m.seq)}): it cannot be answered`;
  }
  return undefined;
}

/**
 * Splits a byte stream into DAP messages. Chunks are kept as they arrive and joined once a frame is
 * complete, so a large body costs its size once, not once per chunk.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Stream offset of the first buffered byte. */
  private offset = 0;
  /** Length of the body being waited for; -1 while reading a header. */
  private body = -1;
  /** Stream offset of the frame being read (its header's first byte). */
  private frameAt = 0;
  private broken = false;
  /** Held: buffered frames wait (the peer is not reading what we send). */
  private held = false;

  constructor(
    private readonly onMessage: (msg: DebugProtocol.ProtocolMessage) => void,
    private readonly onError: (e: ProtocolError) => void,
  ) {}

  /** Stops reading (the connection is closing): later data is dropped. */
  stop(): void {
    this.broken = true;
    this.chunks = [];
    this.buffered = 0;
  }

  /** Handles no more messages until `release`, even ones already buffered. */
  hold(): void {
    this.held = true;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.drain();
  }

  push(data: Buffer): void {
    if (this.broken || data.length === 0) return;
    this.chunks.push(data);
    this.buffered += data.length;
    this.drain();
  }

  private drain(): void {
    try {
      while (!this.broken && !this.held && this.next());
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.stop();
      this.onError(e);
    }
  }

  /** Takes the first `n` buffered bytes off as one buffer. */
  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    this.offset += n;
    return out;
  }

  /** Handles one header or body if it is complete; false when more bytes are needed. */
  private next(): boolean {
    if (this.body < 0) {
      // The header's end may straddle chunks: look in the first MAX_HEADER_BYTES + 4 bytes only.
      const head = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      this.chunks = head.length ? [head] : [];
      const end = head.subarray(0, MAX_HEADER_BYTES + CRLF2.length).indexOf(CRLF2);
      // Binary data is refused at its first byte, not after a header's worth of it has arrived.
      const bad = firstNonText(head, end < 0 ? Math.min(head.length, MAX_HEADER_BYTES + CRLF2.length) : end);
      if (bad >= 0)
        throw new ProtocolError(
          this.offset + bad,
          `a 0x${head[bad].toString(16).padStart(2, '0')} byte in a header (binary data, not DAP)`,
        );
      if (end < 0) {
        if (head.length > MAX_HEADER_BYTES + CRLF2.length)
          throw new ProtocolError(
            this.offset,
            `a header longer than ${MAX_HEADER_BYTES} bytes (no blank line ending it; starts ${quote(head.toString('latin1', 0, 40))})`,
          );
        return false;
      }
      this.frameAt = this.offset;
      this.body = this.parseHeader(head.toString('latin1', 0, end));
      this.take(end + CRLF2.length);
      return true;
    }
    if (this.buffered < this.body) return false;
    const bytes = this.take(this.body);
    const at = this.frameAt;
    this.body = -1;
    let json: string;
    try {
      json = UTF8.decode(bytes);
    } catch {
      throw new ProtocolError(at, 'the body is not UTF-8 text');
    }
    let msg: unknown;
    try {
      msg = JSON.parse(json);
    } catch (e) {
      throw new ProtocolError(
        at,
        `the body is not JSON (${(e as Error).message.slice(0, 100)}; starts ${quote(json)})`,
      );
    }
    const bad = checkEnvelope(msg);
    if (bad) throw new ProtocolError(at, bad);
    this.onMessage(msg as DebugProtocol.ProtocolMessage);
    return true;
  }

  /** The body length a header announces. */
  private parseHeader(header: string): number {
    let length: number | undefined;
    let at = this.offset;
    for (const line of header.split('\r\n')) {
      const m = /^([A-Za-z0-9-]+):[ \t]*(.*)$/.exec(line);
      if (!m) throw new ProtocolError(at, `a header line ${quote(line)} is not 'Name: value'`);
      if (m[1].toLowerCase() === 'content-length') {
        if (length !== undefined) throw new ProtocolError(at, 'Content-Length given twice');
        const v = m[2].trimEnd();
        if (!/^\d{1,15}$/.test(v)) throw new ProtocolError(at, `Content-Length ${quote(v)} is not a byte count`);
        length = Number(v);
        if (length === 0) throw new ProtocolError(at, 'Content-Length 0: an empty body is not a message');
        if (length > MAX_BODY_BYTES)
          throw new ProtocolError(at, `Content-Length ${length} is past the ${MAX_BODY_BYTES}-byte limit of a message`);
      }
      at += line.length + 2;
    }
    if (length === undefined)
      throw new ProtocolError(this.offset, `a header without Content-Length (${quote(header)})`);
    return length;
  }
}

/** Requests' arguments nest at most this deep: DAP's go four or five levels; handlers and JSON.stringify recurse. */
export const MAX_NESTING = 32;

/** Whether `v` nests objects or arrays more than `limit` levels deep; iterative, so any depth is safe to ask about. */
export function nestsDeeperThan(v: unknown, limit: number): boolean {
  const stack: { x: unknown; depth: number }[] = [{ x: v, depth: 0 }];
  while (stack.length) {
    const { x, depth } = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (depth >= limit) return true;
    for (const y of Object.values(x)) if (y !== null && typeof y === 'object') stack.push({ x: y, depth: depth + 1 });
  }
  return false;
}
