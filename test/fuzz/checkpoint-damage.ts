// Damaged and forged checkpoints, shared by the quick suite in `npm test` and `npm run fuzz`: every
// case must be refused with a CheckpointError, or load and run with nothing written outside guest RAM.

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, parseSections, serializeVm, vmFromSections } from '../../emulator/checkpoint';
import { PAGE_SIZE } from '../../emulator/memory';
import { loadVm } from '../../emulator/program';
import { RAM_HPA, Vm } from '../../emulator/vm';
import { mulberry32 } from '../helpers/prng';

export interface Section {
  readonly tag: string;
  readonly payload: Buffer;
  /** Byte offset of the section's tag in the file. */
  readonly at: number;
}

/** The sections of a well-formed checkpoint, with offsets (END included). */
export function sectionsOf(buf: Buffer): Section[] {
  const out: Section[] = [];
  for (let o = 12; o < buf.length;) {
    const tag = buf.toString('ascii', o, o + 4);
    const len = Number(buf.readBigUInt64LE(o + 4));
    out.push({ tag, payload: buf.subarray(o + 12, o + 12 + len), at: o });
    o += 12 + len + 32;
  }
  return out;
}

export function frame(tag: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.write(tag, 0, 4, 'ascii');
  head.writeBigUInt64LE(BigInt(payload.length), 4);
  return Buffer.concat([head, payload, createHash('sha256').update(head.subarray(0, 4)).update(payload).digest()]);
}

export function assemble(buf: Buffer, sections: readonly Section[]): Buffer {
  return Buffer.concat([buf.subarray(0, 12), ...sections.map((s) => frame(s.tag, s.payload))]);
}

/** Checkpoints with rings, TLB entries and rollback snapshots in them: examples stopped mid-run. */
export function seedCheckpoints(examples: string): { name: string; buf: Buffer }[] {
  const out: { name: string; buf: Buffer }[] = [];
  for (const f of fs
    .readdirSync(examples)
    .filter((x) => x.endsWith('.vgpu'))
    .sort()) {
    for (const n of [2, 5]) {
      const vm = loadVm(path.join(examples, f), {}, fs.readFileSync(path.join(examples, f), 'utf8'));
      vm.run({ untilCommands: n });
      out.push({ name: `${f}@${n}`, buf: serializeVm(vm) });
    }
  }
  return out;
}

/** Digest of host memory outside guest RAM (the VMM's EPT tables live there). */
function outsideRam(vm: Vm): string {
  const h = createHash('sha256');
  const first = RAM_HPA / PAGE_SIZE;
  const last = first + vm.cfg.memory / PAGE_SIZE;
  for (const pfn of vm.mem.allocatedIn(0, Number.MAX_SAFE_INTEGER)) {
    if (pfn >= first && pfn < last) continue;
    h.update(String(pfn));
    h.update(vm.mem.pageForRead(pfn));
  }
  return h.digest('hex');
}

export type Outcome = 'refused' | 'ran';

/** Loads a damaged checkpoint: a CheckpointError, or a VM that runs (bounded) touching only guest RAM. */
export function tryLoad(buf: Buffer, label: string): { outcome: Outcome; message?: string } {
  let vm: Vm;
  try {
    vm = vmFromSections(parseSections(buf, 'ckpt'), 'ckpt');
  } catch (e) {
    if (e instanceof CheckpointError) {
      assert.ok(e.message.length < 2000, `${label}: a ${e.message.length}-character message`);
      return { outcome: 'refused', message: e.message };
    }
    throw new Error(`${label}: crashed: ${(e as Error)?.stack ?? String(e)}`);
  }
  const before = outsideRam(vm);
  try {
    vm.run({ maxSteps: 200_000 });
    vm.result();
  } catch (e) {
    throw new Error(`${label}: loaded, then crashed while running: ${(e as Error)?.stack ?? String(e)}`);
  }
  assert.equal(outsideRam(vm), before, `${label}: host memory outside guest RAM changed`);
  return { outcome: 'ran' };
}

const NASTY: readonly unknown[] = [
  null,
  undefined,
  -1,
  0,
  1,
  2 ** 32,
  2 ** 53,
  1e300,
  -0.5,
  'x',
  [],
  {},
  true,
  2 ** 40,
  2 ** 40 - 4096,
  0x7fff_ffff_f000,
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Every path into a JSON document (objects and arrays), capped so that big lists stay cheap and do not
 * crowd out the rest: the first 6 entries of an array, 16 keys spread over a large object (the 162
 * registers by name).
 */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.slice(0, 6).forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    const every = Math.ceil(keys.length / 16);
    keys.filter((_, i) => i % every === 0).forEach((k) => paths(v[k], [...at, k], out));
  }
  return out;
}

function setAt(doc: Json, p: (string | number)[], value: unknown): Json {
  if (p.length === 0) return value as Json;
  const copy = structuredClone(doc) as Record<string | number, Json>;
  let o = copy;
  for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, Json>;
  if (value === undefined) {
    if (Array.isArray(o)) o.splice(Number(p[p.length - 1]), 1);
    else delete o[p[p.length - 1]];
  } else o[p[p.length - 1]] = value as Json;
  return copy;
}

/** A JSON section's document and, for SNAP, the bytes after it. */
function splitJson(s: Section): { doc: Json; tail: Buffer; lenPrefix: boolean } | undefined {
  if (s.tag === 'SNAP') {
    const n = s.payload.readUInt32LE(0);
    return { doc: JSON.parse(s.payload.toString('utf8', 4, 4 + n)), tail: s.payload.subarray(4 + n), lenPrefix: true };
  }
  if (s.tag === 'META' || s.tag === 'STAT' || s.tag === 'IMGE')
    return { doc: JSON.parse(s.payload.toString('utf8')), tail: Buffer.alloc(0), lenPrefix: false };
  return undefined;
}

function joinJson(doc: Json, tail: Buffer, lenPrefix: boolean): Buffer {
  const j = Buffer.from(JSON.stringify(doc) ?? 'null');
  if (!lenPrefix) return j;
  const len = Buffer.alloc(4);
  len.writeUInt32LE(j.length);
  return Buffer.concat([len, j, tail]);
}

export interface Tally {
  cases: number;
  refused: number;
  ran: number;
  /** Refusals that named a byte offset. */
  placed: number;
}

function count(t: Tally, r: { outcome: Outcome; message?: string }): void {
  t.cases++;
  t[r.outcome]++;
  if (r.message && /byte \d+/.test(r.message)) t.placed++;
}

/**
 * The damage classes of issue 17 on one checkpoint: truncation at and around every section boundary,
 * `flips` random bit flips (checksums then fail), sections dropped, duplicated and swapped (checksums
 * valid), and `forgeries` forged JSON fields re-framed with valid checksums.
 */
export function damage(name: string, buf: Buffer, seed: number, flips: number, forgeries: number, t: Tally): void {
  const rnd = mulberry32(seed);
  const secs = sectionsOf(buf);
  for (const s of secs) {
    for (const cut of [
      s.at - 1,
      s.at,
      s.at + 4,
      s.at + 12,
      s.at + 12 + (s.payload.length >> 1),
      s.at + 12 + s.payload.length + 31,
    ]) {
      if (cut <= 0 || cut >= buf.length) continue;
      const r = tryLoad(buf.subarray(0, cut), `${name} cut at ${cut}`);
      assert.equal(r.outcome, 'refused', `${name}: truncation at byte ${cut} was accepted`);
      count(t, r);
    }
  }
  for (let i = 0; i < flips; i++) {
    const b = Buffer.from(buf);
    const bit = Math.floor(rnd() * b.length * 8);
    b[bit >> 3] ^= 1 << (bit & 7);
    count(t, tryLoad(b, `${name} bit ${bit} flipped`));
  }
  const body = secs.filter((s) => s.tag !== 'END.');
  const end = secs.filter((s) => s.tag === 'END.');
  for (let i = 0; i < body.length; i++) {
    const dropped = [...body.slice(0, i), ...body.slice(i + 1), ...end];
    const r = tryLoad(assemble(buf, dropped), `${name} without ${body[i].tag} #${i}`);
    if (body[i].tag !== 'SNAP')
      assert.equal(r.outcome, 'refused', `${name}: a checkpoint without its ${body[i].tag} section was accepted`);
    count(t, r);
    const twice = [...body.slice(0, i + 1), body[i], ...body.slice(i + 1), ...end];
    count(t, tryLoad(assemble(buf, twice), `${name} with ${body[i].tag} #${i} twice`));
    if (i + 1 < body.length && body[i].tag !== body[i + 1].tag) {
      const swapped = [...body.slice(0, i), body[i + 1], body[i], ...body.slice(i + 2), ...end];
      const s = tryLoad(assemble(buf, swapped), `${name} with ${body[i].tag} and ${body[i + 1].tag} swapped`);
      assert.equal(s.outcome, 'refused', `${name}: ${body[i].tag} and ${body[i + 1].tag} swapped was accepted`);
      count(t, s);
    }
  }
  const forgeable = body.map((s, i) => ({ s, i, j: splitJson(s) })).filter((x) => x.j !== undefined);
  for (let k = 0; k < forgeries; k++) {
    const { s, i, j } = forgeable[Math.floor(rnd() * forgeable.length)];
    const all = paths(j!.doc);
    const p = all[Math.floor(rnd() * all.length)];
    const value = NASTY[Math.floor(rnd() * NASTY.length)];
    const forged = { ...s, payload: joinJson(setAt(j!.doc, p, value), j!.tail, j!.lenPrefix) };
    const list = [...body.slice(0, i), forged, ...body.slice(i + 1), ...end];
    count(t, tryLoad(assemble(buf, list), `${name}: ${s.tag} ${p.join('.')} = ${JSON.stringify(value)}`));
  }
}
