// The VM state format: versioned, sectioned and checksummed; used for checkpoint files and, section by
// section, for the VM transfer stream. A truncated or corrupted input is refused before anything runs.

import { loadCapture } from './capture';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { assembleSource } from './assembler';
import type { EngineState } from './engine';
import type { ProgramImage, SourceLoc } from './image';
import { PAGE_SIZE } from './memory';
import { writeOutputFile } from './outputfile';
import {
  BLOCK_BYTES,
  BLOCK_DWORDS,
  MASK_WORDS,
  MachineState,
  PAGE_RECORD_BYTES,
  Snapshot,
  SnapshotReason,
  UndoLog,
  maskBlocks,
} from './snapshots';
import {
  IMAGE_HEAD,
  META,
  StateCheckError,
  array,
  checkSnapshotDoc,
  checkStateDoc,
  int,
  object,
  oldestLiveStep,
  oneOf,
} from './statecheck';
import {
  type SavedRegisters,
  registerNamesOfSlots,
  restoreRegisters,
  saveRegisters,
  slotsOfRegisterNames,
} from './registers';
import { PendingSubmission, SubmissionQueue } from './submissions';
import { GpuError, RAM_HPA, ResolvedConfig, Vm, VmOptions } from './vm';

export const MAGIC = Buffer.from('VGPUSTAT', 'ascii');
/** 3: registers by name (2 saved them by slot position, which a change of the register table silently shifts). */
export const FORMAT_VERSION = 3;

/** Section tags. */
export const SEC = {
  META: 'META',
  IMAGE: 'IMGE',
  STATE: 'STAT',
  PAGES: 'PAGE',
  SNAPSHOT: 'SNAP',
  END: 'END.',
} as const;

export class CheckpointError extends Error {}

/** An engine's saved state as a document holds it: pending submissions as a plain array. */
export type SavedEngine = Omit<EngineState, 'subs'> & { subs: PendingSubmission[] };

/** Everything of a VM but its guest pages, as JSON-able data. */
export interface VmStateDoc {
  readonly config: ResolvedConfig;
  readonly state: Omit<MachineState, 'regs' | 'engines'> & { regs: SavedRegisters; engines: SavedEngine[] };
  readonly guilty: number[];
  readonly errors: GpuError[];
  readonly opStep: number[];
}

export function imageDoc(image: ProgramImage): object {
  return {
    file: image.file,
    source: image.source,
    vm: image.vm,
    memory: image.memory,
    physBits: image.physBits,
    pml4: image.pml4,
    ggtt: image.ggtt,
    mappings: image.mappings,
    driver: image.driver,
    surfaces: image.surfaces,
    symbols: [...image.symbols],
    sourceMap: [...image.sourceMap],
    listing: image.listing,
    warnings: image.warnings,
    ...(image.captureFile ? { capture: Buffer.from(image.captureFile).toString('base64') } : {}),
  };
}

export function imageFromDoc(d: ReturnType<typeof JSON.parse>): ProgramImage {
  return {
    file: d.file,
    source: d.source,
    vm: d.vm,
    memory: d.memory,
    physBits: d.physBits,
    pml4: d.pml4,
    ...(d.ggtt ? { ggtt: d.ggtt } : {}),
    mappings: d.mappings,
    driver: d.driver,
    surfaces: d.surfaces,
    symbols: new Map(d.symbols),
    sourceMap: new Map<number, SourceLoc>(d.sourceMap),
    listing: d.listing,
    warnings: d.warnings,
    pages: new Map(),
  };
}

export function stateDoc(vm: Vm): VmStateDoc {
  const st = vm.machineState();
  return {
    config: vm.cfg,
    state: {
      ...st,
      regs: saveRegisters(st.regs),
      engines: st.engines.map((e) => ({ ...e, subs: SubmissionQueue.toArray(e.subs) })),
    },
    guilty: [...vm.guilty].sort((a, b) => a - b),
    errors: vm.errors.map((e) => ({ ...e })),
    opStep: Array.from(vm.opStep),
  };
}

/** Guest pages to carry: every allocated page of guest RAM, by GPA page number. */
export function guestPages(vm: Vm): number[] {
  const first = RAM_HPA / PAGE_SIZE;
  return vm.mem.allocatedIn(first, first + vm.cfg.memory / PAGE_SIZE).map((p) => p - first);
}

export const RECORD_BYTES = 8 + PAGE_SIZE;
const RECORD_DWORDS = RECORD_BYTES / 4;
const FIRST_PFN = RAM_HPA / PAGE_SIZE;

/** Encodes guest pages into `buf` ([u64 GPA page number, 4096 bytes] records); returns the bytes used. */
export function encodePagesInto(vm: Vm, gpfns: readonly number[], buf: Buffer): number {
  const u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  const mem = vm.mem;
  for (let i = 0; i < gpfns.length; i++) {
    const g = gpfns[i];
    const at = i * RECORD_DWORDS;
    u32[at] = g % 0x100000000;
    u32[at + 1] = Math.floor(g / 0x100000000);
    u32.set(mem.pageForRead(FIRST_PFN + g), at + 2);
  }
  return gpfns.length * RECORD_BYTES;
}

/** Encodes guest pages as [u64 GPA page number, 4096 bytes] records. */
export function encodePages(vm: Vm, gpfns: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(gpfns.length * RECORD_BYTES);
  encodePagesInto(vm, gpfns, buf);
  return buf;
}

/**
 * Writes received page records into guest RAM (whole records only, nothing outside guest RAM). Records may straddle the pieces a section arrived in; each is copied
 * into one aligned scratch record and from there into its page.
 */
export function applyPageRecords(vm: Vm, parts: readonly Buffer[], length: number): number {
  if (length % RECORD_BYTES !== 0)
    throw new CheckpointError(`page section of ${length} bytes is not whole 4 KiB page records`);
  const rec = new Uint32Array(RECORD_DWORDS);
  const bytes = new Uint8Array(rec.buffer);
  const page = rec.subarray(2);
  const pages = vm.cfg.memory / PAGE_SIZE;
  const mem = vm.mem;
  let part = 0;
  let at = 0;
  const n = length / RECORD_BYTES;
  for (let i = 0; i < n; i++) {
    for (let got = 0; got < RECORD_BYTES;) {
      const p = parts[part];
      const k = Math.min(RECORD_BYTES - got, p.length - at);
      bytes.set(p.subarray(at, at + k), got);
      got += k;
      at += k;
      if (at === p.length) {
        part++;
        at = 0;
      }
    }
    const g = rec[0] + rec[1] * 0x100000000;
    if (g >= pages) throw new CheckpointError(`page at GPA 0x${(g * PAGE_SIZE).toString(16)} is outside guest RAM`);
    mem.restorePage(FIRST_PFN + g, page);
  }
  return n;
}

/** Writes a section of page records into a VM's guest RAM. */
export function applyPages(vm: Vm, payload: Buffer): number {
  return applyPageRecords(vm, [payload], payload.length);
}

/** Section framing: tag (4 bytes), u64 length, payload, sha256 of tag+payload (32 bytes). */
export function frameSection(tag: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.write(tag, 0, 4, 'ascii');
  head.writeBigUInt64LE(BigInt(payload.length), 4);
  const sum = createHash('sha256').update(head.subarray(0, 4)).update(payload).digest();
  return Buffer.concat([head, payload, sum]);
}

export function header(): Buffer {
  const h = Buffer.alloc(12);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(FORMAT_VERSION, 8);
  return h;
}

export function checkHeader(buf: Buffer, what: string): void {
  if (buf.length < 12) throw new CheckpointError(`${what} is truncated: ${buf.length} bytes, not even a header`);
  if (!buf.subarray(0, 8).equals(MAGIC)) throw new CheckpointError(`${what} is not a vgpu VM state (bad magic)`);
  const v = buf.readUInt32LE(8);
  if (v === 2)
    throw new CheckpointError(
      `${what} has format version 2, which saves registers by position in the register table of the vgpu that wrote it; this vgpu reads version ${FORMAT_VERSION} (registers by name): resume it with the vgpu that saved it`,
    );
  if (v !== FORMAT_VERSION)
    throw new CheckpointError(`${what} has format version ${v}; this vgpu reads version ${FORMAT_VERSION}`);
}

/** Where each section's payload began in its file (for messages); absent for sections off a stream. */
const sectionOffsets = new WeakMap<Buffer, number>();

/** `TAG section at byte N` for messages: where a bad section is. */
export function sectionPlace(tag: string, payload: Buffer | undefined): string {
  const at = payload && sectionOffsets.get(payload);
  return at === undefined ? `${tag} section` : `${tag} section at byte ${at}`;
}

/** Sections of a checkpoint file, in this order; all but SNAP exactly once (SNAP: zero or more). */
const FILE_ORDER: readonly string[] = [SEC.META, SEC.IMAGE, SEC.STATE, SEC.PAGES, SEC.SNAPSHOT];

/** Parses all sections of a complete buffer (after the header), verifying each checksum, order and count. */
export function parseSections(buf: Buffer, what: string): Map<string, Buffer[]> {
  checkHeader(buf, what);
  const out = new Map<string, Buffer[]>();
  let o = 12;
  let rank = 0;
  for (;;) {
    if (o + 12 > buf.length) throw new CheckpointError(`${what} is truncated at byte ${o} (no end marker)`);
    const tag = buf.toString('ascii', o, o + 4);
    const len = Number(buf.readBigUInt64LE(o + 4));
    if (!Object.values(SEC).includes(tag as never))
      throw new CheckpointError(`${what}: unknown section '${tag.replace(/[^ -~]/g, '?')}' at byte ${o} (corrupted?)`);
    if (o + 12 + len + 32 > buf.length)
      throw new CheckpointError(`${what} is truncated: section ${tag} at byte ${o} needs ${len} bytes`);
    const payload = buf.subarray(o + 12, o + 12 + len);
    const sum = buf.subarray(o + 12 + len, o + 12 + len + 32);
    const want = createHash('sha256')
      .update(buf.subarray(o, o + 4))
      .update(payload)
      .digest();
    if (!sum.equals(want))
      throw new CheckpointError(`${what}: section ${tag} at byte ${o} fails its checksum (corrupted)`);
    if (tag !== SEC.END) {
      const r = FILE_ORDER.indexOf(tag);
      if (r < rank)
        throw new CheckpointError(
          `${what}: section ${tag} at byte ${o} is out of order (expected ${FILE_ORDER.slice(rank).join(', ')} or END.)`,
        );
      if (r === rank && out.has(tag) && tag !== SEC.SNAPSHOT)
        throw new CheckpointError(`${what}: section ${tag} at byte ${o} appears twice`);
      if (r > rank && FILE_ORDER.slice(rank, r).some((t) => t !== SEC.SNAPSHOT && !out.has(t))) {
        throw new CheckpointError(
          `${what}: section ${tag} at byte ${o} comes before the ${FILE_ORDER.slice(rank, r).find((t) => !out.has(t))} section it needs`,
        );
      }
      rank = r;
    }
    sectionOffsets.set(payload, o);
    o += 12 + len + 32;
    if (tag === SEC.END) break;
    const list = out.get(tag) ?? [];
    list.push(payload);
    out.set(tag, list);
  }
  if (o !== buf.length) throw new CheckpointError(`${what} has ${buf.length - o} stray bytes after the end marker`);
  for (const need of [SEC.META, SEC.IMAGE, SEC.STATE, SEC.PAGES])
    if (!out.has(need))
      throw new CheckpointError(
        `${what} lacks its ${need} section (truncated or damaged: its guest RAM would be lost)`,
      );
  return out;
}

export function metaDoc(vm: Vm): object {
  return {
    format: FORMAT_VERSION,
    exposedVersion: vm.cfg.version,
    hostGen: vm.cfg.hostGen,
    step: vm.step,
    commands: vm.commands,
  };
}

/** The whole VM as one buffer. */
export function serializeVm(vm: Vm): Buffer {
  return Buffer.concat([
    header(),
    frameSection(SEC.META, Buffer.from(JSON.stringify(metaDoc(vm)))),
    frameSection(SEC.IMAGE, Buffer.from(JSON.stringify(imageDoc(vm.image)))),
    frameSection(SEC.STATE, Buffer.from(JSON.stringify(stateDoc(vm)))),
    frameSection(SEC.PAGES, encodePages(vm, guestPages(vm))),
    ...rollbackSnapshots(vm).map((b) => frameSection(SEC.SNAPSHOT, b)),
    frameSection(SEC.END, Buffer.alloc(0)),
  ]);
}

/**
 * The snapshots a moved or resumed VM still needs: from the newest one at or before the oldest
 * submission an engine is still executing, so a GPU error after the move rolls back exactly as it
 * would have at home. Each: u32 JSON length, JSON (state, metadata, pages that were unallocated),
 * then one block record per page: u64 GPA page number, u32 x MASK_WORDS mask of the 32-byte
 * blocks kept (bit b of word b >> 5: block b), and those blocks' before-images, ascending.
 */
export function rollbackSnapshots(vm: Vm): Buffer[] {
  let oldest = Infinity;
  for (const e of vm.engines) {
    for (const op of [e.curSub, ...e.subs.ops()])
      if (op >= 0 && vm.opStep[op] >= 0) oldest = Math.min(oldest, vm.opStep[op]);
  }
  if (oldest === Infinity) return [];
  const from = vm.snapshots.indexAtOrBefore(oldest);
  if (from < 0) return [];
  const first = RAM_HPA / PAGE_SIZE;
  const scratch = new Uint32Array(PAGE_SIZE / 4);
  return vm.snapshots.list.slice(from).map((s) => {
    const absent: number[] = [];
    const records: Buffer[] = [];
    for (const r of s.undo.records()) {
      if (r.absent) {
        absent.push(r.pfn - first);
        continue;
      }
      const blocks = maskBlocks(r.mask);
      const rec = Buffer.alloc(PAGE_RECORD_BYTES + blocks.length * BLOCK_BYTES);
      rec.writeBigUInt64LE(BigInt(r.pfn - first), 0);
      for (let w = 0; w < MASK_WORDS; w++) rec.writeUInt32LE(r.mask[w], 8 + 4 * w);
      s.undo.applyTo(r.pfn, scratch);
      blocks.forEach((b, i) =>
        Buffer.from(scratch.buffer, b * BLOCK_BYTES, BLOCK_BYTES).copy(rec, PAGE_RECORD_BYTES + i * BLOCK_BYTES),
      );
      records.push(rec);
    }
    const json = Buffer.from(
      JSON.stringify({
        id: s.id,
        reason: s.reason,
        op: s.op,
        engine: s.engine,
        touchedRegs: registerNamesOfSlots(s.touchedRegs),
        barrier: s.barrier,
        state: { ...s.state, regs: saveRegisters(s.state.regs) },
        absent,
      }),
    );
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    return Buffer.concat([len, json, ...records]);
  });
}

/** Runs a state check, its refusal turned into a CheckpointError naming the section and its byte offset. */
function checked<T>(what: string, tag: string, payload: Buffer | undefined, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof StateCheckError || e instanceof CheckpointError)
      throw new CheckpointError(`${what}: ${sectionPlace(tag, payload)}: ${e.message}`);
    throw e;
  }
}

/**
 * Reads SNAP sections as rollbackSnapshots writes them, for `vm` (the VM they will be loaded into, not
 * yet changed); each is checked whole (fields, machine state, page numbers inside guest RAM, steps in
 * order) before any is used. Throws CheckpointError on a malformed or forged one.
 */
export function decodeSnapshots(payloads: readonly Buffer[], what: string, vm: Vm): Snapshot[] {
  const first = RAM_HPA / PAGE_SIZE;
  const pages = vm.cfg.memory / PAGE_SIZE;
  let lastStep = -1;
  let lastId = -1;
  return payloads.map((b) =>
    checked(what, SEC.SNAPSHOT, b, () => {
      if (b.length < 4 || b.readUInt32LE(0) > b.length - 4) throw new CheckpointError('truncated');
      const n = b.readUInt32LE(0);
      const d = parseJson<{
        id: number;
        reason: SnapshotReason;
        op: number;
        engine: string | null;
        touchedRegs: string[];
        barrier: boolean;
        state: Omit<MachineState, 'regs'> & { regs: SavedRegisters };
        absent: number[];
      }>(b.subarray(4, 4 + n), 'JSON');
      checkSnapshotDoc(vm, d, 'snapshot');
      if (d.id <= lastId || d.state.step < lastStep)
        throw new CheckpointError(
          `snapshot ${d.id} at step ${d.state.step} is out of order (after snapshot ${lastId} at step ${lastStep})`,
        );
      lastId = d.id;
      lastStep = d.state.step;
      const undo = new UndoLog(vm.snapshots.pool);
      try {
        const seen = new Set<number>();
        const once = (g: number, at: string) => {
          if (seen.has(g))
            throw new CheckpointError(`snapshot ${d.id} lists GPA page 0x${g.toString(16)} twice (${at})`);
          seen.add(g);
        };
        for (const g of d.absent) {
          once(g, 'absent');
          undo.addRecord(first + g, true);
        }
        const body = b.subarray(4 + n);
        const img = new Uint32Array(PAGE_SIZE / 4);
        const mask = new Uint32Array(MASK_WORDS);
        for (let o = 0; o < body.length;) {
          const at = 4 + n + o;
          if (o + PAGE_RECORD_BYTES > body.length)
            throw new CheckpointError(`snapshot ${d.id} has a truncated block record at byte ${at} of the section`);
          const g = Number(body.readBigUInt64LE(o));
          if (g >= pages)
            throw new CheckpointError(
              `snapshot ${d.id} block record at byte ${at} of the section is for GPA page 0x${g.toString(16)}, outside guest RAM`,
            );
          for (let w = 0; w < MASK_WORDS; w++) mask[w] = body.readUInt32LE(o + 8 + 4 * w);
          const blocks = maskBlocks(mask);
          const bytes = blocks.length * BLOCK_BYTES;
          if (blocks.length === 0 || o + PAGE_RECORD_BYTES + bytes > body.length)
            throw new CheckpointError(
              `snapshot ${d.id} block record at byte ${at} of the section ${blocks.length ? 'is truncated' : 'keeps no blocks'}`,
            );
          new Uint8Array(img.buffer).set(body.subarray(o + PAGE_RECORD_BYTES, o + PAGE_RECORD_BYTES + bytes));
          once(g, `block record at byte ${at} of the section`);
          undo.addImages(undo.addRecord(first + g, false), blocks, img.subarray(0, blocks.length * BLOCK_DWORDS));
          o += PAGE_RECORD_BYTES + bytes;
        }
      } catch (e) {
        undo.release();
        throw e;
      }
      // The format keeps which registers an epoch wrote, not when, nor which command pages it fetched: a
      // reverse search replays a resumed VM's epochs whole where they may hold a hit.
      const snap: Snapshot = {
        id: d.id,
        reason: d.reason,
        op: d.op,
        engine: d.engine,
        touchedRegs: slotsOfRegisterNames(d.touchedRegs),
        touchedAt: null,
        fetched: null,
        barrier: d.barrier,
        undo,
        state: { ...d.state, regs: restoreRegisters(d.state.regs, vm.regs.values) },
        stateBytes: 0,
      };
      return snap;
    }),
  );
}

function parseJson<T>(b: Buffer, what: string): T {
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch (e) {
    throw new CheckpointError(`${what}: ${(e as Error).message}`);
  }
}

/** Checks a PAGE section's records without applying them: whole records, each page inside guest RAM, once. */
export function checkPageRecords(payload: Buffer, pages: number, seen: Set<number>): void {
  if (payload.length % RECORD_BYTES !== 0)
    throw new CheckpointError(`${payload.length} bytes is not whole 4 KiB page records`);
  for (let o = 0; o < payload.length; o += RECORD_BYTES) {
    const g = Number(payload.readBigUInt64LE(o));
    if (g >= pages)
      throw new CheckpointError(
        `the record at byte ${o} is for GPA 0x${(g * PAGE_SIZE).toString(16)}, outside guest RAM`,
      );
    if (seen.has(g)) throw new CheckpointError(`the record at byte ${o} repeats GPA page 0x${g.toString(16)}`);
    seen.add(g);
  }
}

/**
 * The image a checkpoint carries, rebuilt from its source: what runs is what the assembler makes of
 * the program, never forged derived fields; an IMGE section that differs from its rebuild is refused.
 */
function imageFromSection(payload: Buffer, what: string): ProgramImage {
  return checked(what, SEC.IMAGE, payload, () => {
    const d = parseJson<{ file: string; source: string; memory: number; physBits: number; capture?: string }>(
      payload,
      'JSON',
    );
    IMAGE_HEAD(d, 'image');
    if (d.capture !== undefined) {
      // A capture's image, rebuilt from the capture file it carries, as the source rebuilds a program's.
      let image: ProgramImage;
      try {
        image = loadCapture(d.file, Buffer.from(d.capture, 'base64'));
      } catch (e) {
        throw new CheckpointError(`its capture does not load (${(e as Error).message})`);
      }
      if (!Buffer.from(JSON.stringify(imageDoc(image))).equals(payload))
        throw new CheckpointError('differs from what its capture loads as (forged, or saved by another vgpu version)');
      return { ...image, pages: new Map() };
    }
    const r = assembleSource(d.source, { file: d.file, memory: d.memory, physBits: d.physBits });
    if (!r.image)
      throw new CheckpointError(`its program does not assemble (${r.diagnostics[0]?.message ?? 'no image'})`);
    if (!Buffer.from(JSON.stringify(imageDoc(r.image))).equals(payload))
      throw new CheckpointError(
        'differs from what its program assembles to (forged, or saved by another vgpu version)',
      );
    return { ...r.image, pages: new Map() };
  });
}

/**
 * Builds a VM from state sections on a host of generation `hostGen` (default: the one it was saved
 * on). The exposed version is kept; a host older than it refuses with a reason. Every section is
 * checked before any state is applied. `complete`: the sections are a whole VM (a checkpoint), so the
 * snapshots a submission still executing needs must be there; a transfer sends them later.
 */
export function vmFromSections(sections: Map<string, Buffer[]>, what: string, hostGen?: number, complete = true): Vm {
  const metaBuf = sections.get(SEC.META)![0];
  const meta = checked(what, SEC.META, metaBuf, () => {
    const m = parseJson<{ exposedVersion: number; hostGen: number }>(metaBuf, 'JSON');
    META(m, 'meta');
    return m;
  });
  const image = imageFromSection(sections.get(SEC.IMAGE)![0], what);
  const stateBuf = sections.get(SEC.STATE)![0];
  const doc = checked(what, SEC.STATE, stateBuf, () => parseJson<VmStateDoc>(stateBuf, 'JSON'));
  const gen = hostGen ?? meta.hostGen;
  if (meta.exposedVersion > gen)
    throw new CheckpointError(`VM exposes device version ${meta.exposedVersion}; this host is generation ${gen}`);
  checked(what, SEC.STATE, stateBuf, () =>
    object({ config: object({ version: oneOf([meta.exposedVersion]), migrationPool: array(int(1, 3), 3) }) })(
      doc,
      'state',
    ),
  );
  const c = doc.config;
  const opts: VmOptions = {
    hostGen: gen,
    deviceVersion: c.version,
    migrationPool: c.migrationPool.length ? [...c.migrationPool] : undefined,
    isolation: c.isolation,
    snapshotEvery: c.snapshotEvery,
    autoRollback: c.autoRollback,
    watchdog: c.watchdog,
    semaphoreTimeout: c.semaphoreTimeout,
    snapshotBudget: c.snapshotBudget,
  };
  let vm: Vm;
  try {
    vm = new Vm(image, opts);
  } catch (e) {
    throw new CheckpointError(`${what}: ${sectionPlace(SEC.STATE, stateBuf)}: ${(e as Error).message}`);
  }
  // Nothing below changes the VM until every section has passed.
  checked(what, SEC.STATE, stateBuf, () => checkStateDoc(vm, doc, 'state'));
  const pageBufs = sections.get(SEC.PAGES) ?? [];
  const seen = new Set<number>();
  for (const p of pageBufs) checked(what, SEC.PAGES, p, () => checkPageRecords(p, vm.cfg.memory / PAGE_SIZE, seen));
  const snapBufs = sections.get(SEC.SNAPSHOT) ?? [];
  const snaps = decodeSnapshots(snapBufs, what, vm);
  if (complete) {
    const oldest = oldestLiveStep(doc);
    if (oldest !== undefined && (snaps.length === 0 || snaps[0].state.step > oldest)) {
      snaps.forEach((x) => x.undo.release());
      throw new CheckpointError(
        `${what}: ${sectionPlace(SEC.STATE, stateBuf)}: a submission from step ${oldest} is still executing, but no SNAP section holds a snapshot from before it (its rollback would be lost)`,
      );
    }
  }
  if (snaps.length && snaps[snaps.length - 1].state.step > doc.state.step) {
    snaps.forEach((x) => x.undo.release());
    throw new CheckpointError(
      `${what}: ${sectionPlace(SEC.SNAPSHOT, snapBufs[snapBufs.length - 1])}: a snapshot at step ${snaps[snaps.length - 1].state.step} is later than the state (step ${doc.state.step})`,
    );
  }
  // Guest RAM comes from the state, not the image.
  const first = RAM_HPA / PAGE_SIZE;
  for (const pfn of vm.mem.allocatedIn(first, first + vm.cfg.memory / PAGE_SIZE)) vm.mem.restorePage(pfn, null);
  for (const p of pageBufs) applyPages(vm, p);
  loadStateDoc(vm, doc);
  if (snaps.length) vm.snapshots.load(snaps);
  return vm;
}

export function loadStateDoc(vm: Vm, doc: VmStateDoc): void {
  vm.loadMachineState({ ...doc.state, regs: restoreRegisters(doc.state.regs, vm.regs.values) });
  vm.errors.splice(0, vm.errors.length, ...doc.errors);
  vm.guilty.clear();
  for (const g of doc.guilty) vm.guilty.add(g);
  vm.opStep.set(doc.opStep);
  vm.snapshots.clear();
  vm.takeSnapshot('start');
}

/** Writes atomically (emulator/outputfile.ts); a failure is an OutputFileError and leaves no file behind. */
export function writeCheckpoint(vm: Vm, file: string, what = 'checkpoint'): number {
  const buf = serializeVm(vm);
  writeOutputFile(file, buf, what);
  return buf.length;
}

export function readCheckpoint(file: string): Vm {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new CheckpointError(
      `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  return vmFromSections(parseSections(buf, file), file);
}
