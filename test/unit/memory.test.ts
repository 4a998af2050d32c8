// Host memory in pooled slabs: untouched pages read zero and cost nothing, pages are distinct 4 KiB
// views, removed pages come back zeroed, and a sparse guest holds slab space only for what it wrote.

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { HostMemory, PAGE_DWORDS, PAGE_SIZE, isZero } from '../../emulator/memory';

describe('host memory slabs', () => {
  it('reads untouched pages as zero without allocating', () => {
    const m = new HostMemory();
    assert.equal(m.read32(0x1234_5678_000), 0);
    assert.equal(m.hasPage(0x1234_5678), false);
    assert.equal(m.allocatedPages, 0);
    assert.equal(m.slabBytes, 0);
  });

  it('gives each page its own 4 KiB view, in pages spread over a huge address space', () => {
    const m = new HostMemory();
    const pfns = Array.from({ length: 1000 }, (_, i) => 0x1000_0000 + i * 0x4_0001);
    pfns.forEach((pfn, i) => m.pageForWrite(pfn).fill(i + 1));
    pfns.forEach((pfn, i) => {
      const p = m.pageForRead(pfn);
      assert.equal(p.length, PAGE_DWORDS);
      assert.equal(p.byteLength, PAGE_SIZE);
      assert.ok(
        p.every((v) => v === i + 1),
        `page ${i}`,
      );
    });
    assert.deepEqual(
      m.allocatedIn(0, 2 ** 40),
      [...pfns].sort((a, b) => a - b),
    );
    // Sparse: slab space follows the pages written, not the addresses spanned.
    assert.ok(m.slabBytes < 2 * 1000 * PAGE_SIZE, `${m.slabBytes} bytes of slabs for 1000 pages`);
  });

  it('reuses a removed page zeroed, and counts the removal', () => {
    const m = new HostMemory();
    m.pageForWrite(5).fill(7);
    const g = m.generation;
    m.restorePage(5, null);
    assert.equal(m.hasPage(5), false);
    assert.equal(m.generation, g + 1);
    const before = m.slabBytes;
    const q = m.pageForWrite(9);
    assert.ok(isZero(q));
    assert.equal(m.slabBytes, before);
    m.restorePage(
      9,
      Uint32Array.from({ length: PAGE_DWORDS }, (_, i) => i),
    );
    assert.equal(m.read32(9 * PAGE_SIZE + 8), 2);
    assert.ok(isZero(m.pageForRead(5)));
  });

  it('hashes the non-zero pages of a range in order, each as its offset and its bytes', () => {
    const m = new HostMemory();
    const first = 0x10_0000;
    // More pages than one staging buffer holds, offsets past 4 GiB, an allocated zero page, pages outside the range.
    const pfns = Array.from({ length: 700 }, (_, i) => first + ((i * 7919) % 5000) * 300);
    pfns.forEach((pfn, i) => {
      const p = m.pageForWrite(pfn);
      p[(i * 13) % PAGE_DWORDS] = i + 1;
    });
    m.pageForWrite(first + 17);
    m.pageForWrite(first - 1).fill(3);
    m.pageForWrite(first + 2_000_000).fill(3);
    const want = createHash('sha256');
    const off = Buffer.alloc(8);
    for (const pfn of [...new Set(pfns)].sort((a, b) => a - b)) {
      off.writeBigUInt64LE(BigInt((pfn - first) * PAGE_SIZE));
      want.update(off).update(new Uint8Array(m.pageForRead(pfn).buffer, m.pageForRead(pfn).byteOffset, PAGE_SIZE));
    }
    const got = createHash('sha256');
    m.hashPages(got, first, first + 2_000_000);
    assert.equal(got.digest('hex'), want.digest('hex'));
  });
});
