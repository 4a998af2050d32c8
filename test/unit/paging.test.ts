// PPGTT walker against hand-built page tables: every page size, every fault cause, the step record and the isolation property.

import * as assert from 'node:assert/strict';
import { EPT_VIEW_FULL, EPT_VIEW_RESTRICTED, LEVEL_NAMES, WalkStep, indexAt } from '../../emulator/ept';
import { entryAddress, hex } from '../../emulator/memory';
import {
  ACCESS_FETCH,
  ACCESS_READ,
  ACCESS_WRITE,
  FaultInfo,
  PagingContext,
  WalkMemo,
  WalkOut,
  walk,
} from '../../emulator/paging';
import { Tlb } from '../../emulator/tlb';
import {
  GiB,
  MiB,
  PAGE_1G,
  PAGE_2M,
  PAGE_4K,
  PTE_NX_HI,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_US,
  TestVm,
  makeVm,
} from '../helpers/pagetables';
import { mulberry32 } from '../helpers/prng';

const RAM = 64 * MiB;
const RAM_HPA = 4 * GiB;
const MIRROR = 2 ** 39;

// One VA region per page size, each under its own PML4 entry so that patches never interfere.
const VA_4K = 0x0000_1000_0000;
const VA_2M = 0x0080_0000_0000 + 0x4000_0000; // PML4[1], PDPT[1]
const VA_1G = 0x0100_4000_0000; // PML4[2], PDPT[1]
const VA_TOP = 0xffff_ffff_f000; // PML4[511] .. PT[511]

const GPA_4K = 0x20_0000;
const GPA_2M = 0x40_0000;

function vm(o: Parameters<typeof makeVm>[0] = {}): TestVm {
  const v = makeVm({ ramBytes: RAM, ramHpa: RAM_HPA, ...o });
  v.pt.map(VA_4K, GPA_4K, 4 * PAGE_4K);
  v.pt.map(VA_2M, GPA_2M, PAGE_2M, { pageSize: PAGE_2M });
  v.pt.map(VA_1G, 0, PAGE_1G, { pageSize: PAGE_1G });
  v.pt.map(VA_TOP, 0x1000, PAGE_4K);
  return v;
}

interface Walked {
  hpa: number;
  fault: FaultInfo;
  out: WalkOut;
  steps: WalkStep[];
}

/** Walks twice, with and without a step record, and checks that both agree. */
function tr(ctx: PagingContext, va: number, access = ACCESS_READ): Walked {
  const fault = new FaultInfo();
  const out: WalkOut = { writable: false, nx: false, pageSize: 0, gpa: 0 };
  const steps: WalkStep[] = [];
  const hpa = walk(ctx, va, access, fault, out, steps);
  const fast = new FaultInfo();
  assert.equal(walk(ctx, va, access, fast, null), hpa, 'walk with and without steps agree');
  assert.equal(fast.reason, hpa < 0 ? fault.reason : '');
  return { hpa, fault, out, steps };
}

function assertFault(w: Walked, kind: string, level: number, reason: RegExp): void {
  assert.equal(w.hpa, -1);
  assert.equal(w.fault.kind, kind);
  assert.equal(w.fault.level, level);
  assert.match(w.fault.reason, reason);
  assert.equal(w.fault.steps, w.steps);
}

describe('paging: PPGTT walk', () => {
  describe('successful walks', () => {
    it('4 KiB page: four levels, then the data EPT walk', () => {
      const { ctx, pt } = vm();
      const w = tr(ctx, VA_4K + PAGE_4K + 0x123, ACCESS_WRITE);
      assert.equal(w.hpa, RAM_HPA + GPA_4K + PAGE_4K + 0x123);
      assert.deepEqual(w.out, { writable: true, nx: false, pageSize: PAGE_4K, gpa: GPA_4K + PAGE_4K + 0x123 });
      assert.deepEqual(
        w.steps.map((s) => s.level),
        ['PML4', 'PDPT', 'PD', 'PT', 'EPT'],
      );
      assert.equal(w.steps[0].table, pt.pml4);
      for (let l = 0; l < 4; l++) {
        const s = w.steps[l];
        assert.equal(s.index, indexAt(VA_4K + PAGE_4K, l));
        assert.equal(pt.entryGpa(VA_4K + PAGE_4K, l), s.table + s.index * 8);
        assert.ok(s.entryLo & PTE_P);
        if (l < 3)
          assert.equal(entryAddress(s.entryLo, s.entryHi), w.steps[l + 1].table, 'each entry points at the next table');
        // The EPT walk that found the table: 64 MiB of RAM is mapped with 2 MiB EPT pages.
        assert.deepEqual(
          s.ept!.map((e) => e.level),
          ['PML4', 'PDPT', 'PD'],
        );
        assert.match(s.ept![2].flags, /^RWX mt=6 large$/);
      }
      assert.equal(w.steps[3].flags, 'P RW US');
      assert.equal(w.steps[4].flags, `GPA ${hex(GPA_4K + PAGE_4K + 0x123)}`);
      assert.equal(w.steps[4].ept!.length, 3);
    });

    it('2 MiB page: the PD entry is the leaf', () => {
      const { ctx } = vm();
      const w = tr(ctx, VA_2M + 0x12_3456);
      assert.equal(w.hpa, RAM_HPA + GPA_2M + 0x12_3456);
      assert.equal(w.out.pageSize, PAGE_2M);
      assert.deepEqual(
        w.steps.map((s) => s.level),
        ['PML4', 'PDPT', 'PD', 'EPT'],
      );
      assert.equal(w.steps[2].flags, 'P RW US PS(2 MiB)');
    });

    it('1 GiB page: the PDPT entry is the leaf', () => {
      const { ctx } = vm();
      const w = tr(ctx, VA_1G + 0x345_6789, ACCESS_FETCH);
      assert.equal(w.hpa, RAM_HPA + 0x345_6789);
      assert.equal(w.out.pageSize, PAGE_1G);
      assert.deepEqual(
        w.steps.map((s) => s.level),
        ['PML4', 'PDPT', 'EPT'],
      );
      assert.equal(w.steps[1].flags, 'P RW US PS(1 GiB)');
    });

    it('the top of the 48-bit space (every index 511)', () => {
      const { ctx } = vm();
      const w = tr(ctx, VA_TOP + 0xffc);
      assert.equal(w.hpa, RAM_HPA + 0x1ffc);
      assert.deepEqual(
        w.steps.slice(0, 4).map((s) => s.index),
        [511, 511, 511, 511],
      );
    });

    it('bit 7 of a PT entry is PAT, not a page size', () => {
      const { ctx, pt } = vm();
      pt.patch(VA_4K, 3, 0, PTE_PS);
      assert.equal(tr(ctx, VA_4K).hpa, RAM_HPA + GPA_4K);
    });

    it('a successful walk leaves the FaultInfo alone', () => {
      const { ctx } = vm();
      const fault = new FaultInfo();
      assert.equal(walk(ctx, VA_4K, ACCESS_READ, fault, null), RAM_HPA + GPA_4K);
      assert.equal(fault.reason, '');
      assert.equal(fault.level, -1);
    });
  });

  describe('page faults', () => {
    for (let level = 0; level < 4; level++) {
      it(`not present at ${LEVEL_NAMES[level]}`, () => {
        const { ctx, pt } = vm();
        const va = VA_4K + 2 * PAGE_4K + 8;
        const entry = pt.entryGpa(va, level);
        pt.patch(va, level, PTE_P, 0);
        const w = tr(ctx, va, ACCESS_WRITE);
        assertFault(
          w,
          'page-fault',
          level,
          new RegExp(
            `^write at GPU VA ${hex(va)}: ${LEVEL_NAMES[level]}\\[${indexAt(va, level)}\\] at GPA ${hex(entry)} is not present \\(entry 0x[0-9a-f]{16}\\)$`,
          ),
        );
        assert.equal(w.fault.va, va);
        assert.equal(w.fault.access, ACCESS_WRITE);
        assert.equal(w.fault.gpa, undefined);
        assert.equal(w.steps.length, level + 1, 'the record stops at the entry that faulted');
        assert.equal(w.steps[level].entryLo & PTE_P, 0);
        assert.match(w.steps[level].flags, /^- /);
      });
    }

    it('an unmapped VA faults at the PML4', () => {
      const { ctx } = vm();
      assertFault(
        tr(ctx, 0x7000_0000_0000),
        'page-fault',
        0,
        /PML4\[224\] .* is not present \(entry 0x0000000000000000\)/,
      );
    });

    it('write to a read-only leaf', () => {
      const { ctx, pt } = vm();
      pt.patch(VA_4K, 3, PTE_RW, 0);
      const r = tr(ctx, VA_4K);
      assert.equal(r.hpa, RAM_HPA + GPA_4K, 'reads are allowed');
      assert.equal(r.out.writable, false);
      const w = tr(ctx, VA_4K + 4, ACCESS_WRITE);
      assertFault(
        w,
        'page-fault',
        3,
        new RegExp(
          `^write at GPU VA ${hex(VA_4K + 4)}: write to a read-only page: PT\\[0\\] at GPA ${hex(pt.entryGpa(VA_4K, 3))} has RW=0$`,
        ),
      );
      assert.equal(w.steps.length, 4, 'no data access was attempted');
    });

    it('write through a read-only upper-level entry names that entry', () => {
      const { ctx, pt } = vm();
      pt.patch(VA_4K, 1, PTE_RW, 0);
      assert.equal(tr(ctx, VA_4K).out.writable, false);
      const w = tr(ctx, VA_4K, ACCESS_WRITE);
      assertFault(
        w,
        'page-fault',
        1,
        new RegExp(`read-only page: PDPT\\[${indexAt(VA_4K, 1)}\\] at GPA ${hex(pt.entryGpa(VA_4K, 1))} has RW=0$`),
      );
      assert.equal(w.steps[3].flags, 'P RW US', 'the leaf itself is writable');
      // A read-only 2 MiB leaf under a read-only PML4 entry: the first RW=0 on the path is reported.
      pt.patch(VA_2M, 0, PTE_RW, 0);
      pt.patch(VA_2M, 2, PTE_RW, 0);
      assertFault(tr(ctx, VA_2M, ACCESS_WRITE), 'page-fault', 0, /PML4\[1\] .* has RW=0$/);
    });

    it('misaligned large pages (address bits below the page size are reserved)', () => {
      const { ctx, pt } = vm();
      pt.patch(VA_2M, 2, 0, 0x1000);
      assertFault(
        tr(ctx, VA_2M),
        'page-fault',
        2,
        new RegExp(`PD\\[0\\] at GPA ${hex(pt.entryGpa(VA_2M, 2))} maps a 2 MiB page at 0x401000, not 2 MiB aligned`),
      );
      pt.patch(VA_1G, 1, 0, PAGE_2M);
      assertFault(tr(ctx, VA_1G), 'page-fault', 1, /PDPT\[1\] .* maps a 1 GiB page at 0x200000, not 1 GiB aligned/);
    });

    it('PS in a PML4 entry is reserved', () => {
      const { ctx, pt } = vm();
      pt.patch(VA_4K, 0, 0, PTE_PS);
      const w = tr(ctx, VA_4K);
      assertFault(w, 'page-fault', 0, /PML4\[0\] at GPA 0x[0-9a-f]+ has PS set, which is reserved in a PML4 entry$/);
      assert.equal(w.steps.length, 1);
    });

    it('2 MiB and 1 GiB pages the exposed version lacks', () => {
      const { ctx } = vm();
      const gen1: PagingContext = { ...ctx, allow2M: false, allow1G: false };
      assertFault(
        tr(gen1, VA_2M),
        'page-fault',
        2,
        /PD\[0\] .* maps a 2 MiB page, but the exposed device version has no 2 MiB pages$/,
      );
      assertFault(
        tr(gen1, VA_1G),
        'page-fault',
        1,
        /PDPT\[1\] .* maps a 1 GiB page, but the exposed device version has no 1 GiB pages$/,
      );
      assert.equal(tr(gen1, VA_4K).hpa, RAM_HPA + GPA_4K, '4 KiB pages still work');
      const gen2: PagingContext = { ...ctx, allow2M: true, allow1G: false };
      assert.equal(tr(gen2, VA_2M).hpa, RAM_HPA + GPA_2M);
      assertFault(tr(gen2, VA_1G), 'page-fault', 1, /no 1 GiB pages/);
    });

    it('command fetch from a no-execute page, at the leaf and above', () => {
      const { ctx, pt } = vm();
      pt.patch(VA_4K, 3, 0, 0, 0, PTE_NX_HI);
      assert.equal(tr(ctx, VA_4K, ACCESS_WRITE).out.nx, true, 'data accesses are allowed');
      assertFault(
        tr(ctx, VA_4K, ACCESS_FETCH),
        'page-fault',
        3,
        /^fetch at GPU VA 0x10000000: command fetch from a no-execute page: PT\[0\] .* has NX=1$/,
      );
      assert.equal(tr(ctx, VA_4K + PAGE_4K, ACCESS_FETCH).hpa, RAM_HPA + GPA_4K + PAGE_4K);
      pt.patch(VA_2M, 1, 0, 0, 0, PTE_NX_HI);
      assertFault(tr(ctx, VA_2M, ACCESS_FETCH), 'page-fault', 1, /PDPT\[1\] .* has NX=1$/);
      assert.equal(tr(ctx, VA_4K, ACCESS_READ).steps[3].flags, 'P RW US NX');
    });

    for (const va of [2 ** 48, 2 ** 64, -4096, -1, 0.5, NaN]) {
      it(`rejects a VA that is not a 48-bit GPU VA: ${va}`, () => {
        const { ctx } = vm();
        const w = tr(ctx, va);
        assertFault(w, 'page-fault', -1, /is not a 48-bit GPU VA$/);
        assert.deepEqual(w.steps, []);
      });
    }
  });

  describe('EPT and isolation faults', () => {
    it('a table GPA outside guest RAM is an ept-violation, with the failed EPT walk as evidence', () => {
      const { ctx, pt } = vm();
      const bad = 0x1000_0000;
      pt.patch(VA_4K, 2, 0xfffff000, bad);
      const w = tr(ctx, VA_4K);
      assertFault(
        w,
        'ept-violation',
        -1,
        /^read at GPU VA 0x10000000: PT table at GPA 0x10000000: GPA 0x10000000 is outside range A \[0, 0x4000000\) or mirror B/,
      );
      assert.equal(w.fault.gpa, bad);
      assert.deepEqual(
        w.steps.map((s) => s.level),
        ['PML4', 'PDPT', 'PD', 'EPT'],
      );
      assert.equal(w.steps[3].flags, `GPA ${hex(bad)}`);
      const e = w.steps[3].ept!;
      assert.equal(e[e.length - 1].flags, '---', 'the EPT walk ends at a non-present entry');
    });

    it('a data GPA beyond guest RAM is an ept-violation', () => {
      const { ctx } = vm();
      const w = tr(ctx, VA_1G + RAM + 0x10, ACCESS_WRITE);
      assertFault(w, 'ept-violation', -1, /data at GPA 0x4000010: GPA 0x4000010 is outside range A/);
      assert.equal(w.fault.gpa, RAM + 0x10);
      assert.equal(tr(ctx, VA_1G + RAM - 4).hpa, RAM_HPA + RAM - 4, 'the last dword of RAM is fine');
    });

    it('a data GPA in the mirror range: same HPA under the full view, isolation-violation under the restricted view', () => {
      const { ctx, pt } = vm();
      const va = 0x2000_0000;
      pt.map(va, MIRROR + GPA_4K, PAGE_4K);
      assert.equal(tr(ctx, va + 8).hpa, RAM_HPA + GPA_4K + 8);
      assert.equal(tr(ctx, va + 8).hpa, tr(ctx, VA_4K + 8).hpa, 'range A and range B alias');
      const restricted: PagingContext = { ...ctx, view: EPT_VIEW_RESTRICTED };
      assert.equal(tr(restricted, VA_4K + 8).hpa, RAM_HPA + GPA_4K + 8, 'range A is fine under the restricted view');
      const w = tr(restricted, va + 8, ACCESS_WRITE);
      assertFault(
        w,
        'isolation-violation',
        -1,
        /data at GPA 0x8000200008: GPA 0x8000200008 is in the mirror range B \[0x8000000000, 0x8004000000\) and the engine runs under the restricted EPT view$/,
      );
      assert.equal(w.fault.gpa, MIRROR + GPA_4K + 8);
      assert.equal(w.steps[w.steps.length - 1].level, 'EPT');
    });

    it('a table in the mirror range under the restricted view is an isolation-violation', () => {
      const { ctx, pt } = vm();
      const pde = pt.entryGpa(VA_4K, 2);
      const ptGpa = entryAddress(...pt.readEntry(pde));
      pt.writeEntry(pde, ptGpa | PTE_P | PTE_RW | PTE_US, (MIRROR + ptGpa) / 2 ** 32);
      assert.equal(tr(ctx, VA_4K).hpa, RAM_HPA + GPA_4K);
      const w = tr({ ...ctx, view: EPT_VIEW_RESTRICTED }, VA_4K);
      assertFault(w, 'isolation-violation', -1, /PT table at GPA 0x80[0-9a-f]{8}: .* restricted EPT view$/);
      assert.equal(w.fault.gpa, MIRROR + ptGpa);
    });

    it('a mirror GPA beyond guest RAM is an ept-violation in both views', () => {
      const { ctx, pt } = vm();
      pt.map(0x2000_0000, MIRROR + RAM, PAGE_4K);
      assertFault(tr(ctx, 0x2000_0000), 'ept-violation', -1, /GPA 0x8004000000 is outside/);
      assertFault(
        tr({ ...ctx, view: EPT_VIEW_RESTRICTED }, 0x2000_0000),
        'ept-violation',
        -1,
        /GPA 0x8004000000 is outside/,
      );
    });

    it('without isolation the mirror range is not guest RAM', () => {
      const { ctx, pt } = vm({ isolation: false });
      pt.map(0x2000_0000, MIRROR + GPA_4K, PAGE_4K);
      assertFault(tr(ctx, 0x2000_0000), 'ept-violation', -1, /outside guest RAM \[0, 0x4000000\) \(EPT view full\)$/);
      assertFault(tr({ ...ctx, view: EPT_VIEW_RESTRICTED }, 0x2000_0000), 'ept-violation', -1, /outside guest RAM/);
    });
  });

  describe("walk memo (a command's many walks while the tables cannot change)", () => {
    it('resuming from the last path gives what full walks give: addresses, permissions, faults, in any order and view', () => {
      for (let seed = 1; seed <= 6; seed++) {
        const rnd = mulberry32(seed);
        const v = vm({ ramHpa: RAM_HPA + PAGE_4K }); // 4 KiB EPT leaves: data GPAs change EPT page often
        // Around the plain regions: read-only and no-execute pages and tables, holes, a not-present PT.
        v.pt.map(VA_4K + 16 * PAGE_4K, GPA_4K + 16 * PAGE_4K, 8 * PAGE_4K, { rw: false });
        v.pt.map(VA_4K + 32 * PAGE_4K, GPA_4K + 32 * PAGE_4K, 8 * PAGE_4K, { nx: true });
        v.pt.map(VA_4K + PAGE_2M, GPA_4K, 4 * PAGE_4K);
        v.pt.patch(VA_4K + PAGE_2M, 2, PTE_RW, 0); // its PD entry read-only: every page under it too
        v.pt.map(VA_2M + PAGE_2M, GPA_2M, PAGE_2M, { pageSize: PAGE_2M, rw: false });
        v.pt.map(VA_4K + 2 * PAGE_2M, GPA_4K, PAGE_4K);
        v.pt.patch(VA_4K + 2 * PAGE_2M, 2, PTE_P, 0);
        v.pt.map(0x7f_0000_0000, RAM - PAGE_4K, PAGE_4K); // the top of RAM
        v.pt.map(0x7f_0000_1000, RAM, PAGE_4K); // just past RAM: an EPT violation right after the last page
        const vas = [
          VA_4K,
          VA_4K + 16 * PAGE_4K,
          VA_4K + 32 * PAGE_4K,
          VA_4K + PAGE_2M,
          VA_4K + 2 * PAGE_2M,
          VA_2M,
          VA_2M + PAGE_2M,
          VA_1G,
          VA_TOP,
          0x7f_0000_0000,
          0x5000_0000_0000,
        ];
        const memo = new WalkMemo();
        const memoCtx: PagingContext = { ...v.ctx, memo };
        const check = (va: number, access: number) => {
          const full = new FaultInfo();
          const fast = new FaultInfo();
          const outFull: WalkOut = { writable: false, nx: false, pageSize: 0, gpa: 0 };
          const outFast: WalkOut = { writable: false, nx: false, pageSize: 0, gpa: 0 };
          const want = walk(v.ctx, va, access, full, outFull);
          assert.equal(walk(memoCtx, va, access, fast, outFast), want, `seed ${seed}: ${hex(va)} access ${access}`);
          if (want >= 0) assert.deepEqual(outFast, outFull, `seed ${seed}: ${hex(va)}`);
          else
            assert.deepEqual(
              [fast.kind, fast.level, fast.gpa, fast.reason],
              [full.kind, full.level, full.gpa, full.reason],
              `seed ${seed}: ${hex(va)}`,
            );
        };
        // Across edges: from the last page of RAM to just past it, out of a read-only 2 MiB page, into a hole.
        for (const va of [
          0x7f_0000_0000,
          0x7f_0000_1000,
          VA_2M + PAGE_2M - PAGE_4K,
          VA_2M + PAGE_2M,
          VA_2M + 2 * PAGE_2M,
          VA_4K + 2 * PAGE_2M,
        ])
          check(va, ACCESS_WRITE);
        // Sweeps over consecutive pages (as a blit's rows go), from anywhere in the regions.
        for (let i = 0, sweep = 0, va = 0; i < 1500; i++, sweep--, va += PAGE_4K) {
          if (rnd() < 0.05) memoCtx.view = v.ctx.view = rnd() < 0.5 ? EPT_VIEW_FULL : EPT_VIEW_RESTRICTED;
          if (sweep <= 0) {
            va = vas[Math.floor(rnd() * vas.length)] + Math.floor(rnd() * 48) * PAGE_4K + 4 * Math.floor(rnd() * 1024);
            sweep = 1 + Math.floor(rnd() * 8);
          }
          check(va, [ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH][Math.floor(rnd() * 3)]);
        }
        assert.ok(memo.depth > 0, 'walks resumed');
      }
    });
  });

  describe("property: random page tables never reach another VM's memory", () => {
    it("every successful translation lands in this VM's RAM (seeded, 8000 translations)", () => {
      const rand = mulberry32(0x5eed_1234);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
      const ram = 4 * MiB;
      const ramHpa = 4 * GiB;
      const { ctx, pt, ept, mem } = makeVm({ ramBytes: ram, ramHpa, tableHpa: 2 * GiB });
      // Another VM's RAM right after ours, and HPA 0 (where a GPA used as an HPA would land).
      for (const hpa of [0, ramHpa + ram, 2 * GiB + 64 * MiB]) mem.write32(hpa, 0xdeadbeef);
      const mirror = ept.mirrorBase;
      const ramPage = () => Math.floor(rand() * (ram / PAGE_4K)) * PAGE_4K;
      const targets: (() => number)[] = [
        ramPage,
        ramPage,
        ramPage,
        ramPage,
        ramPage,
        ramPage,
        ramPage,
        ramPage,
        () => mirror + ramPage(),
        () => pick([0, PAGE_2M, mirror, mirror + PAGE_2M]),
        () => ram + Math.floor(rand() * 1024) * PAGE_4K,
        () => mirror + ram + Math.floor(rand() * 1024) * PAGE_4K,
        () => Math.floor(rand() * 2 ** 40) * PAGE_4K,
        () => pick([ramHpa, ramHpa + ram, 2 * GiB]), // HPAs (ours, a neighbour's, the EPT's) used as GPAs
      ];
      const randomEntry = (): [number, number] => {
        const addr = pick(targets)();
        const flags =
          (rand() < 0.95 ? PTE_P : 0) |
          (rand() < 0.6 ? PTE_RW : 0) |
          PTE_US |
          (rand() < 0.15 ? PTE_PS : 0) |
          (Math.floor(rand() * 8) << 9);
        const ignored = rand() < 0.1 ? Math.floor(rand() * 0x7ff) << 20 : 0; // bits 62:52
        return [
          ((addr % 2 ** 32) | flags) >>> 0,
          (Math.floor(addr / 2 ** 32) | ignored | (rand() < 0.2 ? PTE_NX_HI : 0)) >>> 0,
        ];
      };
      // Every page of guest RAM is a page table full of random entries.
      for (let gpa = 0; gpa < ram; gpa += PAGE_4K) {
        const page = mem.pageForWrite(pt.hpa(gpa) / PAGE_4K);
        for (let i = 0; i < 1024; i += 2) [page[i], page[i + 1]] = randomEntry();
      }
      const tlb = new Tlb();
      const fault = new FaultInfo();
      const seen = new Set<string>();
      let reached = 0;
      for (let n = 0; n < 8000; n++) {
        if (n % 4 === 0) pt.writeEntry(ramPage() + Math.floor(rand() * 512) * 8, ...randomEntry());
        if (n % 64 === 0) tlb.invalidate();
        ctx.pml4 = pick([ramPage(), ramPage(), ramPage(), ramPage(), ramPage(), ramPage(), mirror + ramPage(), ram]);
        ctx.view = rand() < 0.5 ? EPT_VIEW_FULL : EPT_VIEW_RESTRICTED;
        const va = Math.floor(rand() * 2 ** 36) * 4096 + Math.floor(rand() * 4096);
        const access = pick([ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH]);
        const hpa = walk(ctx, va, access, fault, null);
        if (hpa >= 0) {
          reached++;
          assert.ok(ept.ownsHpa(hpa), `VA ${hex(va)} reached HPA ${hex(hpa)} outside the VM`);
        } else {
          seen.add(`${fault.kind} ${fault.level}`);
        }
        const t = tlb.translate(ctx, va, access, fault);
        if (t >= 0) assert.ok(ept.ownsHpa(t), `TLB: VA ${hex(va)} reached HPA ${hex(t)} outside the VM`);
      }
      assert.ok(reached > 200, `the random tables must let enough walks through (${reached})`);
      for (const k of [
        'page-fault 0',
        'page-fault 1',
        'page-fault 2',
        'page-fault 3',
        'ept-violation -1',
        'isolation-violation -1',
      ]) {
        assert.ok(seen.has(k), `the random tables exercise ${k}`);
      }
    });
  });
});
