// Reader of AUB files (the format Mesa's intel_dump_gpu writes and aubinator reads): a sequence of
// dword blocks, each with a type/opcode/sub-opcode/length header, turned into typed records in file
// order. Knows the format only; emulator/capture.ts makes a VM of it.
//
// Layout facts (from Mesa's src/intel/tools aub_read.c / aub_write.c and IGT's lib/intel_aub.h):
// header bits 31:29 type (7 = AUB), 28:23 opcode, 22:16 sub-opcode, 15:0 length. Opcode 0x2e is the
// "memtrace" family (length = dwords - 1); opcode 0x01 the classic family (length = dwords - 2, and a
// trace block is followed by its data, DW4 bytes). Memtrace address spaces (DW3 bits 31:28 of a memory
// write): 0 GGTT, 1 local, 2 physical, 4 GGTT entry. Execlist submission: four writes to an engine's
// ELSP (base + 0x230; the third is the descriptor's upper dword, the fourth its lower and the trigger)
// on gen8-10; on gen11+ the submit queue (base + 0x510 lower, + 0x514 upper) and a write to the
// execlist control register (base + 0x550) that loads it.

/** A file this reader refuses: where (byte offset into the uncompressed file) and why. */
export class AubFormatError extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`byte ${offset}: ${reason}`);
    this.name = 'AubFormatError';
  }
}

export type AubSpace = 'ggtt' | 'local' | 'physical' | 'ggtt-entry';
/** Engines by class, as the capture names them (the MMIO base decides). */
export type AubEngine = 'render' | 'blitter' | 'video' | 'video-enhance';

export type AubRecord =
  | {
      readonly kind: 'mem-write';
      readonly offset: number;
      readonly space: AubSpace;
      readonly address: number;
      readonly data: Uint8Array;
    }
  | { readonly kind: 'reg-write'; readonly offset: number; readonly register: number; readonly value: number }
  /** The writer waits until (register & mask) == value: the previous submission is done. */
  | {
      readonly kind: 'reg-poll';
      readonly offset: number;
      readonly register: number;
      readonly mask: number;
      readonly value: number;
    }
  | { readonly kind: 'mem-poll'; readonly offset: number }
  /** An execlist submission: the context descriptor written to the engine's ELSP or submit queue. */
  | {
      readonly kind: 'submit';
      readonly offset: number;
      readonly engine: AubEngine;
      readonly port: 'elsp' | 'queue';
      readonly descriptorLo: number;
      readonly descriptorHi: number;
    }
  /** Classic (pre-execlist) ring write: commands written into an engine's ring. */
  | {
      readonly kind: 'ring-write';
      readonly offset: number;
      readonly engine: AubEngine;
      readonly address: number;
      readonly data: Uint8Array;
    }
  | { readonly kind: 'comment'; readonly offset: number; readonly text: string };

export interface AubFile {
  /** PCI device ID from the version header's "PCI-ID=" tag, or null when the header has none. */
  readonly pciId: number | null;
  readonly application: string;
  /** 'memtrace' (execlists, gen8+) or 'classic' (trace blocks, what Mesa writes for gen4-7). */
  readonly flavor: 'memtrace' | 'classic';
  readonly records: readonly AubRecord[];
  /** Blocks read, by header name (VERSION_EXT, MEM_WRITE, REG_WRITE, REG_POLL, ...). */
  readonly blockCounts: Readonly<Record<string, number>>;
}

const TYPE_AUB = 7;
const OPCODE_CLASSIC = 0x01;
const OPCODE_MEMTRACE = 0x2e;

/** Memtrace sub-opcodes: name and the fewest dwords (header included) such a block can have. */
const MEMTRACE: Readonly<Record<number, { name: string; min: number }>> = {
  0x00: { name: 'VERSION', min: 1 },
  0x01: { name: 'REG_CMP', min: 1 },
  0x02: { name: 'REG_POLL', min: 6 },
  0x03: { name: 'REG_WRITE', min: 6 },
  0x04: { name: 'MEM_CMP', min: 1 },
  0x05: { name: 'MEM_POLL', min: 1 },
  0x06: { name: 'MEM_WRITE', min: 5 },
  0x07: { name: 'FRAME_BEGIN', min: 1 },
  0x08: { name: 'COMMENT', min: 1 },
  0x09: { name: 'TRACE_DELAY', min: 1 },
  0x0a: { name: 'MEM_DUMP', min: 1 },
  0x0b: { name: 'MEM_WRITE_DISCONT', min: 2 + 63 * 3 },
  0x0c: { name: 'TEST_PHASE_MARKER', min: 1 },
  0x0d: { name: 'MEM_CONT_REGION', min: 1 },
  0x0e: { name: 'VERSION_EXT', min: 5 },
  0x0f: { name: 'PREDICATE', min: 1 },
  0x10: { name: 'DUMP_COMPRESS', min: 1 },
};
const CLASSIC: Readonly<Record<number, { name: string; min: number }>> = {
  0x05: { name: 'HEADER', min: 13 },
  0x41: { name: 'TRACE_BLOCK', min: 5 },
  0x1e: { name: 'DUMP_BMP', min: 1 },
};

/** Memtrace address space codes (memory write DW3 bits 31:28). */
const SPACES: Readonly<Record<number, AubSpace>> = { 0: 'ggtt', 1: 'local', 2: 'physical', 4: 'ggtt-entry' };
/** Classic trace block DW1 bits 23:16 use the same numbering (GTT, local, non-local, PCI, GTT entry). */
const CLASSIC_SPACES: Readonly<Record<number, AubSpace>> = { 0: 'ggtt', 1: 'local', 2: 'physical', 4: 'ggtt-entry' };
/** Classic command writes name the ring by type (DW1 bits 15:8): PRB0 render, PRB1 video, PRB2 blitter. */
const CLASSIC_RINGS: Readonly<Record<number, AubEngine>> = { 2: 'render', 3: 'video', 4: 'blitter' };

/** Engine MMIO bases (gen8-10; gen11+ moved the video engines, which no model here runs). */
const ENGINE_BASES: readonly { base: number; engine: AubEngine }[] = [
  { base: 0x02000, engine: 'render' },
  { base: 0x22000, engine: 'blitter' },
  { base: 0x12000, engine: 'video' },
  { base: 0x1c000, engine: 'video' },
  { base: 0x1a000, engine: 'video-enhance' },
  { base: 0x1c0000, engine: 'video' },
  { base: 0x1c8000, engine: 'video-enhance' },
];
const ELSP = 0x230;
const SQ_CONTENTS = 0x510;
const EXECLIST_CONTROL = 0x550;

/** The 48-bit address of two dwords (bits 63:48 are a sign extension or garbage the hardware ignores). */
function addr48(lo: number, hi: number): number {
  return (hi & 0xffff) * 0x100000000 + (lo >>> 0);
}

/** Does this look like an AUB file (its first dword a version header)? */
export function looksLikeAub(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const h = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
  const type = h >>> 29;
  const opcode = (h >>> 23) & 0x3f;
  const sub = (h >>> 16) & 0x7f;
  return (
    type === TYPE_AUB && ((opcode === OPCODE_MEMTRACE && sub === 0x0e) || (opcode === OPCODE_CLASSIC && sub === 0x05))
  );
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length && bytes[i] !== 0; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** `PCI-ID=0x1912 name` (memtrace) or `PCI-ID=0x1912` (classic comment): the ID and the rest. */
function pciTag(text: string): { pciId: number | null; rest: string } {
  const m = /^PCI-ID=(0x[0-9a-fA-F]+|[0-9]+)\s*/.exec(text);
  if (!m) return { pciId: null, rest: text };
  return { pciId: Number(m[1]), rest: text.slice(m[0].length) };
}

/** Parses a whole (uncompressed) AUB file; throws AubFormatError with the offending block's byte offset. */
export function parseAub(bytes: Uint8Array): AubFile {
  if (bytes.length === 0) throw new AubFormatError(0, 'empty file');
  if (!looksLikeAub(bytes))
    throw new AubFormatError(
      0,
      'not an AUB file: the first dword is not an AUB version header (type 7, memtrace VERSION_EXT or classic HEADER)',
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const total = bytes.length;
  const dw = (at: number) => view.getUint32(at, true);
  const records: AubRecord[] = [];
  const blockCounts: Record<string, number> = {};
  let pciId: number | null = null;
  let application = '';
  let flavor: AubFile['flavor'] = 'memtrace';
  // ELSP writes pending per engine (four make a submission); submit queue contents per engine.
  const elsp = new Map<AubEngine, number[]>();
  const queue = new Map<AubEngine, { lo: number; hi: number }>();

  let p = 0;
  while (p < total) {
    if (total - p < 4)
      throw new AubFormatError(p, `truncated: ${total - p} trailing byte(s), not a whole block header`);
    const h = dw(p);
    const type = h >>> 29;
    const opcode = (h >>> 23) & 0x3f;
    const sub = (h >>> 16) & 0x7f;
    const length = h & 0xffff;
    if (type !== TYPE_AUB)
      throw new AubFormatError(
        p,
        `block header 0x${h.toString(16).padStart(8, '0')} is not an AUB block (type ${type}, expected 7)`,
      );
    const family = opcode === OPCODE_MEMTRACE ? MEMTRACE : opcode === OPCODE_CLASSIC ? CLASSIC : null;
    if (family === null)
      throw new AubFormatError(
        p,
        `unknown AUB opcode 0x${opcode.toString(16)} in header 0x${h.toString(16).padStart(8, '0')}`,
      );
    const info = family[sub];
    if (info === undefined)
      throw new AubFormatError(
        p,
        `unknown ${opcode === OPCODE_MEMTRACE ? 'memtrace' : 'classic'} block sub-opcode 0x${sub.toString(16)}`,
      );
    let dwords = length + (opcode === OPCODE_MEMTRACE ? 1 : 2);
    if (dwords < info.min)
      throw new AubFormatError(
        p,
        `${info.name} block of ${dwords} dword(s) is shorter than its ${info.min}-dword minimum`,
      );
    if (p + dwords * 4 > total)
      throw new AubFormatError(
        p,
        `truncated: ${info.name} block of ${dwords * 4} bytes runs past the end of the file (${total - p} bytes left)`,
      );
    let dataBytes = 0;
    if (opcode === OPCODE_CLASSIC && info.name === 'TRACE_BLOCK') {
      dataBytes = dw(p + 16);
      if (p + dwords * 4 + Math.ceil(dataBytes / 4) * 4 > total) {
        throw new AubFormatError(
          p,
          `truncated: trace block data of ${dataBytes} bytes runs past the end of the file (${total - p - dwords * 4} bytes left)`,
        );
      }
    }
    if (p === 0 && info.name !== 'VERSION_EXT' && info.name !== 'HEADER')
      throw new AubFormatError(0, 'the first block is not a version header');
    if (p > 0 && (info.name === 'VERSION_EXT' || info.name === 'HEADER'))
      throw new AubFormatError(p, 'a second version header (two captures concatenated?)');
    blockCounts[info.name] = (blockCounts[info.name] ?? 0) + 1;
    const at = (i: number) => dw(p + 4 * i);
    switch (info.name) {
      case 'VERSION_EXT': {
        // DW1 file version, DW2 device, DW3-4 version; then "PCI-ID=0x.... application".
        const tag = pciTag(latin1(bytes.subarray(p + 20, p + dwords * 4)));
        pciId = tag.pciId;
        application = tag.rest.trim();
        break;
      }
      case 'HEADER': {
        flavor = 'classic';
        // DW1 version; DW2-9 application name (32 bytes); DW10-11 timestamp; DW12 comment length; comment.
        application = latin1(bytes.subarray(p + 8, p + 40)).trim();
        const clen = at(12);
        if (clen > 0 && 13 * 4 + clen <= dwords * 4)
          pciId = pciTag(latin1(bytes.subarray(p + 52, p + 52 + clen))).pciId;
        break;
      }
      case 'MEM_WRITE': {
        const address = addr48(at(1), at(2));
        const spaceCode = at(3) >>> 28;
        const space = SPACES[spaceCode];
        const size = at(4);
        if (space === undefined) throw new AubFormatError(p, `memory write to unknown address space ${spaceCode}`);
        if (size > (dwords - 5) * 4)
          throw new AubFormatError(p, `memory write of ${size} bytes does not fit its ${dwords}-dword block`);
        records.push({ kind: 'mem-write', offset: p, space, address, data: bytes.subarray(p + 20, p + 20 + size) });
        break;
      }
      case 'MEM_WRITE_DISCONT': {
        // DW1 bits 31:28 space; 63 (address qword, size dword) entries; then the data of each, in order.
        const spaceCode = at(1) >>> 28;
        const space = SPACES[spaceCode];
        if (space === undefined) throw new AubFormatError(p, `memory write to unknown address space ${spaceCode}`);
        let data = p + (2 + 63 * 3) * 4;
        const end = p + dwords * 4;
        for (let i = 0; i < 63; i++) {
          const e = 2 + 3 * i;
          const size = at(e + 2);
          if (size === 0) break;
          if (data + size > end)
            throw new AubFormatError(p, `discontiguous write entry ${i} of ${size} bytes runs past its block`);
          records.push({
            kind: 'mem-write',
            offset: p,
            space,
            address: addr48(at(e), at(e + 1)),
            data: bytes.subarray(data, data + size),
          });
          data += (size + 3) & ~3;
        }
        break;
      }
      case 'REG_WRITE': {
        // DW1 offset, DW2 size/space, DW3-4 mask, DW5 value.
        const register = at(1);
        const value = at(5);
        const eng = ENGINE_BASES.find((b) => register >= b.base && register < b.base + 0x1000);
        const local = eng ? register - eng.base : -1;
        if (eng && local === ELSP) {
          const q = elsp.get(eng.engine) ?? [];
          q.push(value);
          if (q.length === 4) {
            // Element 1 first (upper, lower), then element 0 (upper, lower): the last write submits.
            records.push({
              kind: 'submit',
              offset: p,
              engine: eng.engine,
              port: 'elsp',
              descriptorHi: q[2],
              descriptorLo: q[3],
            });
            elsp.delete(eng.engine);
          } else {
            elsp.set(eng.engine, q);
          }
        } else if (eng && (local === SQ_CONTENTS || local === SQ_CONTENTS + 4)) {
          const q = queue.get(eng.engine) ?? { lo: 0, hi: 0 };
          if (local === SQ_CONTENTS) q.lo = value;
          else q.hi = value;
          queue.set(eng.engine, q);
        } else if (eng && local === EXECLIST_CONTROL) {
          const q = queue.get(eng.engine);
          if (!q)
            throw new AubFormatError(
              p,
              `execlist control write on the ${eng.engine} engine with an empty submit queue`,
            );
          records.push({
            kind: 'submit',
            offset: p,
            engine: eng.engine,
            port: 'queue',
            descriptorHi: q.hi,
            descriptorLo: q.lo,
          });
        } else {
          records.push({ kind: 'reg-write', offset: p, register, value });
        }
        break;
      }
      case 'REG_POLL':
        records.push({ kind: 'reg-poll', offset: p, register: at(1), mask: at(3), value: at(4) });
        break;
      case 'MEM_POLL':
        records.push({ kind: 'mem-poll', offset: p });
        break;
      case 'COMMENT':
        records.push({ kind: 'comment', offset: p, text: latin1(bytes.subarray(p + 4, p + dwords * 4)) });
        break;
      case 'TRACE_BLOCK': {
        // DW1: operation 7:0, type 15:8, address space 23:16; DW3 address, DW4 size, DW5 upper address (gen8+).
        const op = at(1) & 0xff;
        const tp = (at(1) >>> 8) & 0xff;
        const spaceCode = (at(1) >>> 16) & 0xff;
        const address = addr48(at(3), dwords >= 6 ? at(5) : 0);
        const data = bytes.subarray(p + dwords * 4, p + dwords * 4 + dataBytes);
        if (op === 1) {
          const space = CLASSIC_SPACES[spaceCode];
          if (space === undefined)
            throw new AubFormatError(p, `trace block write to unknown address space ${spaceCode}`);
          records.push({ kind: 'mem-write', offset: p, space, address, data });
        } else if (op === 2) {
          const engine = CLASSIC_RINGS[tp];
          if (engine === undefined) throw new AubFormatError(p, `command write to unknown ring type ${tp}`);
          records.push({ kind: 'ring-write', offset: p, engine, address, data });
        } else if (op !== 0 && op !== 3) {
          throw new AubFormatError(p, `trace block with unknown operation ${op}`);
        }
        dwords += Math.ceil(dataBytes / 4);
        break;
      }
      default:
        break; // inert blocks (frame markers, delays, compares, dumps): nothing to replay
    }
    p += dwords * 4;
  }
  for (const [engine, q] of elsp) {
    throw new AubFormatError(
      total,
      `incomplete execlist submission on the ${engine} engine: ${q.length} of 4 ELSP writes`,
    );
  }
  return { pciId, application, flavor, records, blockCounts };
}
