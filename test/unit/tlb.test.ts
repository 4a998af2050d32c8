// TLB: hits, staleness until invalidation (as on hardware), permission re-checks, save/restore of entries.

import * as assert from 'node:assert/strict';
import { EPT_VIEW_RESTRICTED } from '../../emulator/ept';
import { ACCESS_FETCH, ACCESS_READ, ACCESS_WRITE, FaultInfo } from '../../emulator/paging';
import { Tlb } from '../../emulator/tlb';
import { GiB, MiB, PAGE_2M, PAGE_4K, PTE_NX_HI, PTE_RW, makeVm } from '../helpers/pagetables';

const RAM_HPA = 4 * GiB;
const VA = 0x4000_0000;

function setup() {
  const v = makeVm({ ramBytes: 16 * MiB, ramHpa: RAM_HPA });
  v.pt.map(VA, 0x10_0000, 4 * PAGE_4K);
  return { ...v, tlb: new Tlb(), fault: new FaultInfo() };
}

describe('tlb: translation cache', () => {
  it('caches a walk and hits afterwards, per 4 KiB page', () => {
    const { ctx, tlb, fault } = setup();
    assert.equal(tlb.peek(VA), undefined);
    assert.equal(tlb.translate(ctx, VA + 0x10, ACCESS_READ, fault), RAM_HPA + 0x10_0010);
    assert.equal(tlb.peek(VA + 0xffc), RAM_HPA + 0x10_0ffc);
    assert.equal(tlb.peek(VA + PAGE_4K), undefined, 'the next page is not cached yet');
    assert.equal(tlb.translate(ctx, VA + 0xabc, ACCESS_WRITE, fault), RAM_HPA + 0x10_0abc);
  });

  it('returns the stale translation after a PTE change until it is invalidated', () => {
    const { ctx, pt, tlb, fault } = setup();
    assert.equal(tlb.translate(ctx, VA + 8, ACCESS_READ, fault), RAM_HPA + 0x10_0008);
    pt.map(VA, 0x80_0000, PAGE_4K); // the guest rewrites the PTE
    assert.equal(tlb.translate(ctx, VA + 8, ACCESS_READ, fault), RAM_HPA + 0x10_0008, 'stale, as on hardware');
    tlb.invalidate();
    assert.equal(tlb.peek(VA), undefined);
    assert.equal(tlb.translate(ctx, VA + 8, ACCESS_READ, fault), RAM_HPA + 0x80_0008);
  });

  it('keeps a stale translation of a page that is no longer present', () => {
    const { ctx, pt, tlb, fault } = setup();
    tlb.translate(ctx, VA, ACCESS_READ, fault);
    pt.patch(VA, 3, 1, 0);
    assert.equal(tlb.translate(ctx, VA, ACCESS_READ, fault), RAM_HPA + 0x10_0000);
    tlb.invalidate();
    assert.equal(tlb.translate(ctx, VA, ACCESS_READ, fault), -1);
    assert.equal(fault.kind, 'page-fault');
    assert.equal(fault.level, 3);
  });

  it('re-walks a cached read-only page on a write, and a cached NX page on a fetch', () => {
    const { ctx, pt, tlb, fault } = setup();
    pt.patch(VA, 3, PTE_RW, 0);
    pt.patch(VA + PAGE_4K, 3, 0, 0, 0, PTE_NX_HI);
    assert.equal(tlb.translate(ctx, VA, ACCESS_READ, fault), RAM_HPA + 0x10_0000);
    assert.equal(tlb.translate(ctx, VA, ACCESS_WRITE, fault), -1);
    assert.match(fault.reason, /read-only page: PT\[0\] .* has RW=0/);
    assert.equal(tlb.translate(ctx, VA + PAGE_4K, ACCESS_WRITE, fault), RAM_HPA + 0x10_1000);
    assert.equal(tlb.translate(ctx, VA + PAGE_4K, ACCESS_FETCH, fault), -1);
    assert.match(fault.reason, /no-execute/);
    // The guest makes the page writable: the permission miss walks again and sees it at once.
    pt.patch(VA, 3, 0, PTE_RW);
    assert.equal(tlb.translate(ctx, VA, ACCESS_WRITE, fault), RAM_HPA + 0x10_0000);
  });

  it('a failed walk does not fill an entry', () => {
    const { ctx, tlb, fault } = setup();
    assert.equal(tlb.translate(ctx, 0x7000_0000_0000, ACCESS_READ, fault), -1);
    assert.equal(tlb.peek(0x7000_0000_0000), undefined);
    assert.deepEqual(tlb.save().entries(), []);
  });

  it('never hits on an address that is not a 48-bit VA, even with empty slots', () => {
    const { ctx, tlb, fault } = setup();
    for (const va of [-1, -4096, -4097, 2 ** 48, 2 ** 48 + 0x1000]) {
      assert.equal(tlb.translate(ctx, va, ACCESS_READ, fault), -1, `VA ${va}`);
      assert.match(fault.reason, /not a 48-bit GPU VA/);
    }
    tlb.invalidate();
    assert.equal(tlb.translate(ctx, -1, ACCESS_READ, fault), -1);
  });

  it('caches large pages per 4 KiB page', () => {
    const { ctx, pt, tlb, fault } = setup();
    pt.map(0x8000_0000, 2 * MiB, PAGE_2M, { pageSize: PAGE_2M });
    assert.equal(tlb.translate(ctx, 0x8000_0000 + 0x1_2345, ACCESS_READ, fault), RAM_HPA + 2 * MiB + 0x1_2345);
    assert.equal(tlb.peek(0x8000_0000 + 0x1_2000), RAM_HPA + 2 * MiB + 0x1_2000);
    assert.equal(tlb.peek(0x8000_0000), undefined);
    assert.equal(tlb.translate(ctx, 0x8000_0000 + PAGE_2M - 4, ACCESS_READ, fault), RAM_HPA + 4 * MiB - 4);
  });

  it('does not know about EPT views: a view switch must invalidate it', () => {
    const { ctx, pt, tlb, fault } = setup();
    pt.map(0x5000_0000, 2 ** 39 + 0x10_0000, PAGE_4K);
    assert.equal(tlb.translate(ctx, 0x5000_0000, ACCESS_READ, fault), RAM_HPA + 0x10_0000);
    ctx.view = EPT_VIEW_RESTRICTED;
    assert.equal(tlb.translate(ctx, 0x5000_0000, ACCESS_READ, fault), RAM_HPA + 0x10_0000, 'stale until invalidated');
    tlb.invalidate();
    assert.equal(tlb.translate(ctx, 0x5000_0000, ACCESS_READ, fault), -1);
    assert.equal(fault.kind, 'isolation-violation');
  });

  it('save/restore round-trips its entries, including stale ones', () => {
    const { ctx, pt, tlb, fault } = setup();
    pt.patch(VA + PAGE_4K, 3, PTE_RW, 0);
    pt.patch(VA + 2 * PAGE_4K, 3, 0, 0, 0, PTE_NX_HI);
    for (let i = 0; i < 3; i++) tlb.translate(ctx, VA + i * PAGE_4K, ACCESS_READ, fault);
    const saved = tlb.save();
    assert.equal(saved.entries().length, 9, 'three [vpn, base, perms] triples');
    pt.map(VA, 0xc0_0000, PAGE_4K);
    const copy = new Tlb();
    copy.restore(saved);
    assert.deepEqual(copy.save().entries(), saved.entries());
    assert.equal(
      copy.translate(ctx, VA + 4, ACCESS_WRITE, fault),
      RAM_HPA + 0x10_0004,
      'the restored entry is used, stale PTE or not',
    );
    assert.equal(copy.translate(ctx, VA + PAGE_4K, ACCESS_WRITE, fault), -1, 'permissions are restored too');
    assert.equal(copy.translate(ctx, VA + 2 * PAGE_4K, ACCESS_FETCH, fault), -1);
    // Restoring replaces everything that was there.
    tlb.translate(ctx, VA + 3 * PAGE_4K, ACCESS_READ, fault);
    tlb.restore(saved);
    assert.equal(tlb.peek(VA + 3 * PAGE_4K), undefined);
    assert.deepEqual(tlb.save().entries(), saved.entries());
    tlb.restore([]);
    assert.deepEqual(tlb.save().entries(), []);
    // A checkpoint's plain list restores the same entries.
    copy.restore(JSON.parse(JSON.stringify(saved)));
    assert.deepEqual(copy.save().entries(), saved.entries());
  });

  it('a save after a few fills copies the leaves they changed, not the whole cache', () => {
    const { ctx, pt, tlb, fault } = setup();
    for (let i = 1; i < 1024; i++) pt.map(VA + i * PAGE_4K, 0x10_0000 + i * PAGE_4K, PAGE_4K);
    for (let i = 0; i < 1024; i++) tlb.translate(ctx, VA + i * PAGE_4K, ACCESS_READ, fault);
    const full = tlb.save();
    assert.equal(tlb.save(), full, 'nothing changed: the same save');
    pt.map(VA + 1024 * PAGE_4K, 0x10_0000, PAGE_4K);
    tlb.translate(ctx, VA + 1024 * PAGE_4K, ACCESS_READ, fault);
    const next = tlb.save();
    assert.equal(next.entries().length, full.entries().length + 3);
    assert.equal(next.leaves.filter((l, i) => l !== full.leaves[i]).length, 1, 'one leaf copied');
    assert.ok(
      next.bytesAgainst(full) * 10 < full.bytesAgainst(undefined),
      `${next.bytesAgainst(full)} bytes against ${full.bytesAgainst(undefined)} for the whole`,
    );
    tlb.invalidate();
    assert.deepEqual(tlb.save().entries(), []);
  });
});
