// The snapshot store's block undo logs against a plain model: random byte-range writes across many
// epochs, random thinning, rewinds and reads of the past give exactly the recorded memory, and each
// kept epoch knows the step of its last write to every page.

import { strict as assert } from 'node:assert';
import { HostMemory, PAGE_SIZE } from '../../emulator/memory';
import {
  BLOCK_BYTES,
  PAGE_RECORD_BYTES,
  SnapshotStore,
  type EpochTrace,
  type MachineState,
} from '../../emulator/snapshots';
import { mulberry32 } from '../helpers/prng';

const BASE = 0x10000000; // a page frame number
const PAGES = 6;
const ZERO = Buffer.alloc(PAGE_SIZE).toString('hex');

const TRACE: EpochTrace = { touchedRegs: [], touchedAt: [], fetched: [] };

function state(step: number): MachineState {
  return {
    step,
    commands: step,
    regs: new Uint32Array(1),
    engines: [],
    driverPc: 0,
    ringGpa: [],
    rr: 0,
    interrupts: 0,
  };
}

/** A page's bytes (pages are views into shared slabs). */
function bytesOf(p: Uint32Array): Buffer {
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

function dump(mem: HostMemory): string {
  const parts: string[] = [];
  for (let p = 0; p < PAGES; p++)
    parts.push(mem.hasPage(BASE + p) ? bytesOf(mem.pageForRead(BASE + p)).toString('hex') : '-');
  return parts.join('|');
}

/** Writes random bytes over [off, off + len) of a page at `step`, keeping the before-image first. */
function write(
  mem: HostMemory,
  store: SnapshotStore,
  rnd: () => number,
  page: number,
  off: number,
  len: number,
  step = 0,
): void {
  store.preserve((BASE + page) * PAGE_SIZE + off, len, step);
  const p = bytesOf(mem.pageForWrite(BASE + page));
  for (let i = 0; i < len; i++) p[off + i] = Math.floor(rnd() * 256);
}

describe('snapshot undo logs', () => {
  it('rewinding to any snapshot, with or without thinning, gives the memory it had; pageAt reads it without moving', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rnd = mulberry32(seed);
      const mem = new HostMemory();
      const store = new SnapshotStore(mem, seed % 2 === 0 ? 1 << 30 : 20 * 1024);
      const seen = new Map<number, string>();
      const writes: { page: number; step: number }[] = [];
      let step = 0;
      for (let epoch = 0; epoch < 60; epoch++) {
        store.add('periodic', state(step), TRACE);
        seen.set(step, dump(mem));
        const n = Math.floor(rnd() * 12);
        for (let w = 0; w < n; w++) {
          const page = Math.floor(rnd() * PAGES);
          const big = rnd() < 0.15;
          const off = big ? 0 : Math.floor((rnd() * PAGE_SIZE) / 4) * 4;
          const len = big ? PAGE_SIZE : Math.min(PAGE_SIZE - off, 4 * (1 + Math.floor(rnd() * 40)));
          write(mem, store, rnd, page, off, len, step);
          writes.push({ page, step });
          step++;
        }
      }
      if (seed % 2 === 1)
        assert.ok(store.list.length < 60, `seed ${seed}: the small budget thinned (${store.list.length} kept)`);
      const now = dump(mem);
      // The past, read without moving.
      for (let i = 0; i < store.list.length; i++) {
        const want = seen.get(store.list[i].state.step)!.split('|');
        for (let p = 0; p < PAGES; p++) {
          const got = bytesOf(store.pageAt(i, BASE + p)).toString('hex');
          assert.equal(got, want[p] === '-' ? ZERO : want[p], `seed ${seed}: page ${p} at snapshot ${i}`);
        }
      }
      assert.equal(dump(mem), now, 'reading the past moved nothing');
      // Each kept epoch (merged ones too) knows its last write to each page.
      for (let i = 0; i < store.list.length; i++) {
        const from = store.list[i].state.step;
        const to = i + 1 < store.list.length ? store.list[i + 1].state.step : Infinity;
        for (let p = 0; p < PAGES; p++) {
          const last = writes
            .filter((w) => w.page === p && w.step >= from && w.step < to)
            .reduce((m, w) => Math.max(m, w.step), -1);
          assert.equal(
            store.list[i].undo.lastWrite(BASE + p),
            last,
            `seed ${seed}: page ${p}'s last write in epoch ${i}`,
          );
        }
      }
      // Rewinds, newest to oldest, in random jumps.
      let i = store.list.length - 1;
      while (i >= 0) {
        store.rewind(i);
        assert.equal(dump(mem), seen.get(store.list[i].state.step), `seed ${seed}: rewind to snapshot ${i}`);
        i -= 1 + Math.floor(rnd() * 5);
      }
    }
  });

  it("a command's segments: pages covered whole are kept whole (adjacent ones in one copy), through merges, rewinds and reads of the past", () => {
    const WIDE = 24;
    const dumpAll = (mem: HostMemory) =>
      Array.from({ length: WIDE }, (_, p) =>
        mem.hasPage(BASE + p) ? bytesOf(mem.pageForRead(BASE + p)).toString('hex') : '-',
      );
    for (let seed = 1; seed <= 10; seed++) {
      const rnd = mulberry32(100 + seed);
      const mem = new HostMemory();
      // Most pages allocated in order (adjacent in their slab), a few left absent until written.
      for (let p = 0; p < WIDE; p++) if (rnd() < 0.8) bytesOf(mem.pageForWrite(BASE + p)).fill(p + 1);
      const store = new SnapshotStore(mem, seed % 2 === 0 ? 1 << 30 : 96 * 1024);
      const seen = new Map<number, string[]>();
      let step = 0;
      let wholeWrites = 0;
      for (let epoch = 0; epoch < 40; epoch++) {
        store.add('periodic', state(step), TRACE);
        seen.set(step, dumpAll(mem));
        for (let c = Math.floor(rnd() * 4); c > 0; c--) {
          // A command's segments, in write order: rows of `row` bytes over `pages` pages from `first`,
          // sometimes starting or ending inside a page; each segment within one page.
          const first = Math.floor(rnd() * (WIDE - 6));
          const pages = 1 + Math.floor(rnd() * 6);
          const row = [256, 1024, 4096][Math.floor(rnd() * 3)];
          const from = rnd() < 0.7 ? 0 : row * Math.floor(rnd() * 3);
          const to = pages * PAGE_SIZE - (rnd() < 0.7 ? 0 : row);
          const hpa: number[] = [];
          const bytes: number[] = [];
          for (let o = from; o < to; o += row) {
            hpa.push((BASE + first) * PAGE_SIZE + o);
            bytes.push(row);
          }
          if (from === 0 && to === pages * PAGE_SIZE) wholeWrites++;
          store.preserveSegments(Float64Array.from(hpa), Int32Array.from(bytes), hpa.length, step);
          hpa.forEach((h, i) => {
            const p = bytesOf(mem.pageForWrite(Math.floor(h / PAGE_SIZE)));
            for (let b = 0; b < bytes[i]; b++) p[(h % PAGE_SIZE) + b] = Math.floor(rnd() * 256);
          });
          step++;
        }
        if (rnd() < 0.3) write(mem, store, rnd, Math.floor(rnd() * 6), 4 * Math.floor(rnd() * 1000), 4, step++);
      }
      assert.ok(wholeWrites > 10, `seed ${seed}: ${wholeWrites} commands covered whole pages`);
      if (seed % 2 === 1)
        assert.ok(store.list.length < 40, `seed ${seed}: the small budget thinned (${store.list.length} kept)`);
      const now = dumpAll(mem);
      for (let i = 0; i < store.list.length; i++) {
        const want = seen.get(store.list[i].state.step)!;
        for (let p = 0; p < WIDE; p++) {
          assert.equal(
            bytesOf(store.pageAt(i, BASE + p)).toString('hex'),
            want[p] === '-' ? ZERO : want[p],
            `seed ${seed}: page ${p} at snapshot ${i}`,
          );
        }
      }
      assert.deepEqual(dumpAll(mem), now, 'reading the past moved nothing');
      for (let i = store.list.length - 1; i >= 0; i -= 1 + Math.floor(rnd() * 4)) {
        store.rewind(i);
        assert.deepEqual(dumpAll(mem), seen.get(store.list[i].state.step), `seed ${seed}: rewind to snapshot ${i}`);
      }
      store.clear();
      assert.equal(store.pool.heldBytes, 0, 'every segment and page unit given back');
    }
  });

  it('a 4-byte store keeps one 32-byte block; a page-wide write keeps the page; a repeated write keeps nothing more', () => {
    const mem = new HostMemory();
    const store = new SnapshotStore(mem, 1 << 30);
    mem.write32(BASE * PAGE_SIZE, 1);
    const s = store.add('manual', state(0), TRACE);
    store.preserve(BASE * PAGE_SIZE + 100, 4, 0);
    assert.equal(s.undo.blockCount, 1);
    assert.equal(s.undo.bytes, BLOCK_BYTES + PAGE_RECORD_BYTES);
    store.preserve(BASE * PAGE_SIZE + 96, 8, 0);
    assert.equal(s.undo.blockCount, 1, 'same block');
    store.preserve(BASE * PAGE_SIZE, PAGE_SIZE, 0);
    assert.equal(s.undo.blockCount, PAGE_SIZE / BLOCK_BYTES);
    store.preserve((BASE + 1) * PAGE_SIZE + 8, 4, 0); // an unallocated page: a record, no blocks
    assert.deepEqual([s.undo.pageCount, s.undo.blockCount], [2, PAGE_SIZE / BLOCK_BYTES]);
  });

  it('the budget holds against what the segments really take: thousands of tiny epochs stay within it', () => {
    const mem = new HostMemory();
    const budget = 256 * 1024;
    const store = new SnapshotStore(mem, budget);
    const rnd = mulberry32(3);
    let passes = 0;
    for (let e = 0; e < 3000; e++) {
      const before = store.list.length;
      store.add('periodic', state(e), TRACE);
      if (store.list.length <= before) passes++;
      write(mem, store, rnd, Math.floor(rnd() * PAGES), 4 * Math.floor(rnd() * 1024), 4);
    }
    // Each epoch holds three 1 KiB segments (records, runs, images) however little it keeps; the
    // newest 16 are never thinned.
    assert.ok(store.heldBytes() <= budget + 17 * 4 * 1024, `held ${store.heldBytes()} bytes`);
    assert.ok(store.list.length < 3000 / 4, `thinned to ${store.list.length} snapshots`);
    // A pass goes well below the budget: most snapshots are added without one (thinning at every
    // add scanned all kept snapshots each time).
    assert.ok(passes > 10 && passes < 3000 / 4, `${passes} thinning passes for 3000 snapshots`);
  });
});
