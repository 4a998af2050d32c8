// Uniform pages (HostMemory.dedup): pages a fill or copy writes whole with one repeated dword share a
// read-only page per value. Every reader sees the bytes a page of its own would hold: programs of
// random fills, copies and stores give the same memory, hashes, fingerprints, checkpoints, moves and
// steps back with dedup on and off; a partial write copies; a large clear holds almost no memory.

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodePages, guestPages, parseSections, serializeVm, vmFromSections } from '../../emulator/checkpoint';
import { Fingerprint } from '../../emulator/fingerprint';
import { HostMemory, PAGE_DWORDS, PAGE_SIZE, SHARED_MAX } from '../../emulator/memory';
import { VmHost, migrateVm } from '../../emulator/migration';
import { loadVm } from '../../emulator/program';
import { runToCommands, stepBack } from '../../emulator/reverse';
import type { Vm } from '../../emulator/vm';
import { prng, runChecked } from './helpers';

const MiB = 2 ** 20;

/** Surfaces of 1 page a row (b), 4 pages a row (c), 2 rows a page (a), and one nothing writes (z). */
const SURFACES = [
  { name: 'a', va: 0x200000, w: 512, h: 64 },
  { name: 'b', va: 0x220000, w: 1024, h: 32 },
  { name: 'c', va: 0x240000, w: 4096, h: 8 },
  { name: 'z', va: 0x260000, w: 4096, h: 8 },
];

/** A program of random fills (whole surfaces, whole rows, parts), copies (from uniform, zero and mixed sources) and dword stores. */
function randomProgram(seed: number): string {
  const rnd = prng(1400 + seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const colors = [0, 0xffffffff, 0x80000000, 0x12345678];
  const lines = [
    '.vm memory=16M',
    '.map 0x100000, 0x100000, 64K, rw',
    '.map 0x200000, 0x200000, 512K, rw',
    ...SURFACES.map((x) => `.surface ${x.name}, 0x${x.va.toString(16)}, ${x.w}, ${x.h}`),
    '.batch draw, 0x100000, bcs0',
  ];
  const writable = SURFACES.slice(0, 3);
  for (let i = 0; i < 60; i++) {
    const d = writable[int(3)];
    const r = rnd();
    const whole = rnd() < 0.5;
    const x1 = whole ? 0 : int(d.w);
    const y1 = whole ? 0 : int(d.h);
    const w = whole ? d.w : 1 + int(d.w - x1);
    const h = whole ? d.h : 1 + int(d.h - y1);
    if (r < 0.45) {
      const color = rnd() < 0.8 ? colors[int(colors.length)] : int(0xffffffff) >>> 0;
      lines.push(
        `XY_COLOR_BLT dst=${d.name}, x1=${x1}, y1=${y1}, x2=${x1 + w}, y2=${y1 + h}, color=0x${color.toString(16)}`,
      );
    } else if (r < 0.8) {
      const fits = SURFACES.filter((x) => x.w >= w && x.h >= h);
      const s = fits[int(fits.length)];
      lines.push(
        `XY_SRC_COPY_BLT dst=${d.name}, x1=${x1}, y1=${y1}, x2=${x1 + w}, y2=${y1 + h}, src=${s.name}, sx=${int(s.w - w + 1)}, sy=${int(s.h - h + 1)}`,
      );
    } else {
      const at = d.va + 4 * int(d.w * d.h);
      lines.push(`MI_STORE_DATA_IMM addr=0x${at.toString(16)}, data=0x${(int(0xffffffff) >>> 0).toString(16)}`);
    }
  }
  lines.push('MI_BATCH_BUFFER_END', '.ring bcs0', 'MI_BATCH_BUFFER_START addr=draw', '.submit bcs0', '.wait all');
  return lines.join('\n') + '\n';
}

function load(src: string, dedup: boolean, snapshotEvery = 4): Vm {
  const vm = loadVm('uniform.vgpu', { snapshotEvery }, src);
  vm.mem.dedup = dedup;
  return vm;
}

/** Every byte of guest RAM the program touches (the mapped range), page by page. */
function ramBytes(vm: Vm): Buffer {
  const parts: Buffer[] = [];
  for (let va = 0x200000; va < 0x280000; va += PAGE_SIZE) {
    const dw = vm.readVa(va, PAGE_DWORDS).map((x) => x ?? 0xdeadbeef);
    parts.push(Buffer.from(Uint32Array.from(dw).buffer));
  }
  return Buffer.concat(parts);
}

describe('uniform pages', () => {
  it('read back byte-identical: a page of one value is shared, a partial write after it copies', () => {
    const m = new HostMemory();
    m.fillPage(10, 0xa5a5a5a5);
    m.fillPage(11, 0xa5a5a5a5);
    m.fillPage(12, 0);
    assert.equal(m.ownedPages, 0);
    assert.equal(m.uniformPages, 3);
    assert.equal(m.slabBytes, 0, 'no page memory');
    assert.equal(m.pageForRead(10), m.pageForRead(11), 'one shared page per value');
    assert.ok(m.pageForRead(10).every((v) => v === 0xa5a5a5a5));
    assert.deepEqual(m.allocatedIn(0, 100), [10, 11, 12], 'present, as written pages are');
    assert.ok(m.hasPage(12), 'a page cleared whole is present, as one written with zeros');
    const g = m.generation;
    m.write32(11 * PAGE_SIZE + 8, 7);
    assert.equal(m.generation, g + 1, 'the copy counts as a removal of the shared page');
    assert.equal(m.ownedPages, 1);
    assert.equal(m.read32(11 * PAGE_SIZE + 8), 7);
    assert.equal(m.read32(11 * PAGE_SIZE + 4), 0xa5a5a5a5);
    assert.ok(
      m.pageForRead(10).every((v) => v === 0xa5a5a5a5),
      'the shared page is not written',
    );
    // A fill over an owned page frees it; a restore of a uniform image maps it uniform, of zeros removes it.
    m.fillPage(11, 3);
    assert.equal(m.ownedPages, 0);
    m.restorePage(20, new Uint32Array(PAGE_DWORDS).fill(9));
    assert.equal(m.ownedPages, 0);
    assert.equal(m.read32(20 * PAGE_SIZE + 4092), 9);
    m.restorePage(20, null);
    assert.equal(m.hasPage(20), false);
    // With dedup off every page has memory of its own.
    const off = new HostMemory();
    off.dedup = false;
    off.fillPage(10, 0xa5a5a5a5);
    assert.equal(off.ownedPages, 1);
    assert.equal(off.uniformPages, 0);
  });

  it('keeps a shared page per value in use only, and at most SHARED_MAX: pages of further values are written', () => {
    const m = new HostMemory();
    for (let v = 1; v <= 10_000; v++) m.fillPage(v % 8, v);
    assert.equal(m.uniformPages, 8);
    assert.equal(m.sharedPages, 8, 'the values no page holds any more are dropped');
    for (let p = 0; p < 8; p++) assert.equal(m.read32(p * PAGE_SIZE + 40), 10_000 - ((10_000 - p) % 8));
    // A distinct value for every page: shared pages up to the bound, the rest written.
    const n = SHARED_MAX + 100;
    for (let p = 0; p < n; p++) m.fillPage(100 + p, 0x1000 + p);
    assert.equal(m.sharedPages, SHARED_MAX);
    assert.equal(m.ownedPages, n - (SHARED_MAX - 8));
    for (let p = 0; p < n; p++) assert.equal(m.read32((100 + p) * PAGE_SIZE + 4 * (p % PAGE_DWORDS)), 0x1000 + p);
    // Values free up as their pages go: zeros remove, a write copies.
    for (let p = 0; p < 200; p++) m.restorePage(100 + p, null);
    m.write32(101 * PAGE_SIZE, 5);
    m.fillPage(5000, 0xabcdef01);
    assert.equal(m.sharedPages, SHARED_MAX - 200 + 1);
    assert.equal(m.uniformPages, 8 + SHARED_MAX - 8 - 200 + 1);
  });

  it('hash uniform and owned pages mixed, written in any order, as owned pages alone', () => {
    const rnd = prng(1401);
    const on = new HostMemory();
    const off = new HostMemory();
    off.dedup = false;
    const order = Array.from({ length: 3000 }, (_, i) => i).sort(() => rnd() - 0.5);
    for (const i of order) {
      const pfn = 0x10_0000 + i * 3;
      for (const m of [on, off]) {
        if (i % 3 === 0) m.pageForWrite(pfn)[i % PAGE_DWORDS] = i + 1;
        else m.fillPage(pfn, i % 5 === 0 ? 0 : 0x01010101 * (i % 7));
      }
    }
    assert.ok(on.uniformPages > 1500 && off.uniformPages === 0);
    const digest = (m: HostMemory) => {
      const h = createHash('sha256');
      m.hashPages(h, 0x10_0000, 0x10_0000 + 9000);
      return h.digest('hex');
    };
    assert.equal(digest(on), digest(off));
    assert.deepEqual(on.allocatedIn(0, 2 ** 40), off.allocatedIn(0, 2 ** 40));
  });

  it('hashes, fingerprints and checkpoints are those of the layout without uniform pages, at every few commands', () => {
    for (let seed = 1; seed <= 4; seed++) {
      const src = randomProgram(seed);
      const on = load(src, true);
      const off = load(src, false);
      assert.deepEqual(runChecked(load(src, true)), [], `seed ${seed}: write predictions hold`);
      let uniform = 0;
      for (let t = 0; ; t += 5) {
        on.run({ untilCommands: t });
        off.run({ untilCommands: t });
        uniform = Math.max(uniform, on.mem.uniformPages);
        assert.equal(off.mem.uniformPages, 0);
        assert.equal(on.memorySha256(), off.memorySha256(), `seed ${seed} t=${t}: memorySha256`);
        assert.ok(ramBytes(on).equals(ramBytes(off)), `seed ${seed} t=${t}: bytes`);
        assert.deepEqual(on.mem.allocatedIn(0, 2 ** 40), off.mem.allocatedIn(0, 2 ** 40), `seed ${seed} t=${t}: pages`);
        const fa = new Fingerprint(on);
        const fb = new Fingerprint(off);
        assert.equal(fa.digest(), fb.digest(), `seed ${seed} t=${t}: fingerprint`);
        fa.dispose();
        fb.dispose();
        const ca = serializeVm(on);
        assert.ok(ca.equals(serializeVm(off)), `seed ${seed} t=${t}: checkpoint bytes`);
        // A checkpoint read back (its uniform images map uniform) is the same VM.
        const back = vmFromSections(parseSections(ca, 'checkpoint'), 'checkpoint');
        assert.equal(back.memorySha256(), off.memorySha256(), `seed ${seed} t=${t}: checkpoint read back`);
        // (A checkpoint drops zero pages when read back, with or without uniform pages.)
        const backOff = vmFromSections(parseSections(serializeVm(off), 'checkpoint'), 'checkpoint');
        assert.ok(
          encodePages(back, guestPages(back)).equals(encodePages(backOff, guestPages(backOff))),
          `seed ${seed} t=${t}: pages read back and written again`,
        );
        if (on.commands < t) break;
      }
      assert.equal(on.digest(), off.digest(), `seed ${seed}: the same end`);
      assert.ok(uniform > 0, `seed ${seed}: some pages were uniform`);
    }
  });

  it('steps back across uniform fills restore the exact bytes', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const src = randomProgram(seed);
      const rnd = prng(1500 + seed);
      const fwd = load(src, true, 5);
      fwd.run();
      const end = fwd.commands;
      for (let t = end - 1; t >= 0; t -= 1 + Math.floor(rnd() * 7)) {
        const fresh = load(src, false, 5);
        fresh.run({ untilCommands: t });
        assert.ok(runToCommands(fwd, t), `seed ${seed}: back to ${t}`);
        assert.equal(fwd.digest(), fresh.digest(), `seed ${seed}: t=${t}`);
        assert.ok(ramBytes(fwd).equals(ramBytes(fresh)), `seed ${seed}: t=${t} bytes`);
      }
      // Single steps back from the end, each against a forward run to the same step.
      const back = load(src, true, 3);
      back.run();
      for (let k = 0; k < 12 && back.step > 0; k++) {
        assert.ok(stepBack(back), `seed ${seed}: step back ${k}`);
        const fresh = load(src, false, 3);
        fresh.run({ maxSteps: back.step });
        assert.equal(back.digest(), fresh.digest(), `seed ${seed}: step ${back.step}`);
      }
    }
  });

  it('a moved VM with uniform pages ends as the plain run does', async () => {
    const src = randomProgram(2);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-uniform-'));
    const file = path.join(dir, 'uniform.vgpu');
    fs.writeFileSync(file, src);
    const host = new VmHost({ gen: 3, idleTimeoutMs: 10_000 });
    try {
      const { port } = await host.listen();
      const plain = loadVm(file, {});
      plain.mem.dedup = false;
      plain.run();
      const vm = loadVm(file, {});
      vm.run({ untilCommands: 30 });
      assert.ok(vm.mem.uniformPages > 0, 'uniform pages before the move');
      const out = await migrateVm(vm, { host: '127.0.0.1', port, timeoutMs: 10_000 });
      assert.equal(out.status, 'completed', JSON.stringify(out));
      assert.equal(out.result!.memorySha256, plain.result().memorySha256);
    } finally {
      await host.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a 256 MiB clear and a 256 MiB fill hold less than 8 MiB of page memory, and read back', () => {
    const fills = (color: number) =>
      Array.from(
        { length: 4 },
        (_, k) =>
          `    XY_COLOR_BLT dst=0x${(0x10000000 + k * 64 * MiB).toString(16)}, pitch=16384, x1=0, y1=0, x2=4096, y2=4096, color=0x${color.toString(16)}`,
      );
    const src = [
      '.vm memory=1G',
      '.map 0x100000, 0x100000, 64K, rw',
      '.map 0x10000000, 0x10000000, 256M, rw, page=2M',
      '.batch fills, 0x100000, bcs0',
      ...fills(0),
      ...fills(0x80000001),
      '    MI_BATCH_BUFFER_END',
      '.ring bcs0',
      '    MI_BATCH_BUFFER_START addr=fills',
      '.submit bcs0',
      '.wait all',
      '',
    ].join('\n');
    const vm = loadVm('clear.vgpu', { snapshotEvery: 0 }, src);
    vm.run({ untilCommands: 5 }); // the ring start and the four clears
    assert.equal(vm.mem.uniformPages, (256 * MiB) / PAGE_SIZE + 0, 'every cleared page uniform');
    assert.ok(vm.mem.ownedPages * PAGE_SIZE < 8 * MiB, `${vm.mem.ownedPages} pages of memory after the clear`);
    assert.equal(vm.readVa(0x10000000 + 200 * MiB + 12, 1)[0], 0);
    assert.equal(vm.run(), 'done');
    assert.ok(vm.mem.ownedPages * PAGE_SIZE < 8 * MiB, `${vm.mem.ownedPages} pages of memory after the fill`);
    assert.ok(vm.mem.slabBytes < 8 * MiB, `${vm.mem.slabBytes} bytes of slabs`);
    // The fill's before-images of the cleared pages are uniform records, not 256 MiB of copies (the
    // records themselves, ~110 bytes a page, remain).
    assert.ok(vm.snapshots.heldBytes() < 24 * MiB, `${vm.snapshots.heldBytes()} bytes of snapshots`);
    assert.deepEqual(vm.readVa(0x10000000 + 255 * MiB + 4092, 2), [0x80000001, 0x80000001]);
    vm.restoreSnapshot(0);
    assert.equal(vm.mem.uniformPages, 0, 'back to the start: nothing written');
  });
});
