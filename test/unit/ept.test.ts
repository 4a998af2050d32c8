// EPT built by the VMM: full and restricted views, mirror aliasing, violations, large pages and table cost.

import * as assert from 'node:assert/strict';
import {
  EPT_VIEW_FULL,
  EPT_VIEW_RESTRICTED,
  EPT_VIOLATION,
  Ept,
  EptConfig,
  ISOLATION_VIOLATION,
  WalkStep,
} from '../../emulator/ept';
import { HostMemory, PAGE_SIZE } from '../../emulator/memory';
import { GiB, MiB } from '../helpers/pagetables';

const RAM_HPA = 4 * GiB;
const TABLE_HPA = MiB;

function build(cfg: Partial<EptConfig> = {}): { mem: HostMemory; ept: Ept } {
  const mem = new HostMemory();
  const ept = new Ept(mem, {
    ramBytes: 256 * MiB,
    ramHpa: RAM_HPA,
    physBits: 39,
    isolation: true,
    tableHpa: TABLE_HPA,
    ...cfg,
  });
  return { mem, ept };
}

/** Probe GPAs: the start, page and large-page boundaries, the last byte. */
function probes(ram: number): number[] {
  const out = [0, 1, 0xfff, 0x1000, 0x1fffff, 0x200000, 0x3ff_ffff, ram - 4096, ram - 1];
  return out.filter((g) => g < ram);
}

describe('ept: second-level translation', () => {
  describe('with isolation', () => {
    const { ept } = build();
    const mirror = 2 ** 39;
    const ram = 256 * MiB;

    it('has two roots, and range B starts at 2^physBits', () => {
      assert.notEqual(ept.roots[EPT_VIEW_FULL], ept.roots[EPT_VIEW_RESTRICTED]);
      assert.equal(ept.mirrorBase, mirror);
    });

    it('range A maps guest RAM linearly in both views', () => {
      for (const gpa of probes(ram)) {
        assert.equal(ept.translate(gpa, EPT_VIEW_FULL), RAM_HPA + gpa);
        assert.equal(ept.translate(gpa, EPT_VIEW_RESTRICTED), RAM_HPA + gpa);
      }
    });

    it('range B aliases range A under the full view (same HPA)', () => {
      for (const gpa of probes(ram))
        assert.equal(ept.translate(mirror + gpa, EPT_VIEW_FULL), ept.translate(gpa, EPT_VIEW_FULL));
    });

    it('range B is an isolation violation under the restricted view', () => {
      for (const gpa of probes(ram))
        assert.equal(ept.translate(mirror + gpa, EPT_VIEW_RESTRICTED), ISOLATION_VIOLATION);
      assert.match(
        ept.describeViolation(ISOLATION_VIOLATION, mirror + 0x1000, EPT_VIEW_RESTRICTED),
        /^GPA 0x8000001000 is in the mirror range B \[0x8000000000, 0x8010000000\) and the engine runs under the restricted EPT view$/,
      );
    });

    it('beyond guest RAM, in either range and either view, is an EPT violation', () => {
      for (const gpa of [
        ram,
        ram + 0x1000,
        GiB,
        mirror - 1,
        mirror + ram,
        2 * mirror,
        2 ** 47,
        2 ** 48,
        2 ** 52,
        -4096,
        -1,
        NaN,
      ]) {
        for (const view of [EPT_VIEW_FULL, EPT_VIEW_RESTRICTED])
          assert.equal(ept.translate(gpa, view), EPT_VIOLATION, `GPA 0x${gpa.toString(16)} view ${view}`);
      }
      assert.equal(
        ept.describeViolation(EPT_VIOLATION, ram, EPT_VIEW_FULL),
        'GPA 0x10000000 is outside range A [0, 0x10000000) or mirror B [0x8000000000, 0x8010000000) (EPT view full)',
      );
    });

    it('records each step of the walk, ending at a large-page leaf', () => {
      const steps: WalkStep[] = [];
      assert.equal(ept.translate(mirror + 0x20_1234, EPT_VIEW_FULL, steps), RAM_HPA + 0x20_1234);
      assert.deepEqual(
        steps.map((s) => s.level),
        ['PML4', 'PDPT', 'PD'],
      );
      assert.deepEqual(
        steps.map((s) => s.index),
        [1, 0, 1],
      );
      assert.equal(steps[0].table, ept.roots[EPT_VIEW_FULL]);
      assert.equal(steps[0].flags, 'RWX');
      assert.equal(steps[2].flags, 'RWX mt=6 large');
      const r: WalkStep[] = [];
      assert.equal(ept.translate(mirror, EPT_VIEW_RESTRICTED, r), ISOLATION_VIOLATION);
      assert.deepEqual(
        r.map((s) => s.flags),
        ['---'],
        'the restricted root has no entry for range B',
      );
    });

    it('owns exactly its guest RAM HPAs', () => {
      assert.ok(ept.ownsHpa(RAM_HPA));
      assert.ok(ept.ownsHpa(RAM_HPA + ram - 1));
      assert.ok(!ept.ownsHpa(RAM_HPA - 1));
      assert.ok(!ept.ownsHpa(RAM_HPA + ram));
      assert.ok(!ept.ownsHpa(TABLE_HPA), 'EPT tables belong to the VMM');
    });

    it('keeps its tables in host memory outside guest RAM', () => {
      for (const pfn of ept.tablePages) assert.ok(!ept.ownsHpa(pfn * PAGE_SIZE));
      assert.equal(ept.tablePages[0] * PAGE_SIZE, TABLE_HPA);
    });
  });

  describe('without isolation', () => {
    const { ept } = build({ isolation: false });

    it('has one root for both views and no mirror', () => {
      assert.equal(ept.roots[EPT_VIEW_FULL], ept.roots[EPT_VIEW_RESTRICTED]);
      for (const view of [EPT_VIEW_FULL, EPT_VIEW_RESTRICTED]) {
        assert.equal(ept.translate(0x1234, view), RAM_HPA + 0x1234);
        assert.equal(ept.translate(2 ** 39 + 0x1234, view), EPT_VIOLATION, 'range B is not mapped');
      }
      assert.equal(
        ept.describeViolation(EPT_VIOLATION, 2 ** 39, EPT_VIEW_RESTRICTED),
        'GPA 0x8000000000 is outside guest RAM [0, 0x10000000) (EPT view restricted)',
      );
    });
  });

  describe('page sizes and cost', () => {
    it('a 64 GiB guest needs only a handful of table pages (1 GiB leaves)', () => {
      for (const isolation of [true, false]) {
        const { mem, ept } = build({ ramBytes: 64 * GiB, isolation });
        assert.ok(ept.tablePages.length <= 8, `${ept.tablePages.length} table pages`);
        assert.equal(mem.allocatedPages, ept.tablePages.length, 'nothing else is allocated');
        const steps: WalkStep[] = [];
        assert.equal(ept.translate(63 * GiB + 5, EPT_VIEW_FULL, steps), RAM_HPA + 63 * GiB + 5);
        assert.deepEqual(
          steps.map((s) => s.level),
          ['PML4', 'PDPT'],
        );
        assert.equal(ept.translate(64 * GiB, EPT_VIEW_FULL), EPT_VIOLATION);
        if (isolation) assert.equal(ept.translate(2 ** 39 + 63 * GiB, EPT_VIEW_FULL), RAM_HPA + 63 * GiB);
      }
    });

    it('uses 2 MiB leaves when the host RAM is only 2 MiB aligned, and 4 KiB leaves for a ragged end', () => {
      const ram = GiB + 2 * MiB + 12 * 1024;
      const ramHpa = 6 * GiB + 2 * MiB;
      const { ept } = build({ ramBytes: ram, ramHpa, physBits: 36 });
      for (const gpa of [...probes(ram), GiB, GiB + 2 * MiB, GiB + 2 * MiB + 0x2fff]) {
        assert.equal(ept.translate(gpa, EPT_VIEW_FULL), ramHpa + gpa, `GPA 0x${gpa.toString(16)}`);
        assert.equal(ept.translate(2 ** 36 + gpa, EPT_VIEW_FULL), ramHpa + gpa);
      }
      assert.equal(ept.translate(ram, EPT_VIEW_FULL), EPT_VIOLATION);
      assert.equal(ept.translate(2 ** 36 + ram, EPT_VIEW_RESTRICTED), EPT_VIOLATION);
      const leaf = (gpa: number) => {
        const s: WalkStep[] = [];
        ept.translate(gpa, EPT_VIEW_FULL, s);
        return s.map((x) => x.level).join('/');
      };
      assert.equal(leaf(0), 'PML4/PDPT/PD', '2 MiB leaf: the HPA is not 1 GiB aligned');
      assert.equal(leaf(GiB + 2 * MiB), 'PML4/PDPT/PD/PT', '4 KiB leaf at the ragged end');
    });

    it("refuses a guest RAM size or base off the 4 KiB grid (a partial page would map past the VM's RAM)", () => {
      assert.throws(() => build({ ramBytes: 64 * MiB + 100 }), /guest RAM size 0x4000064 is not a multiple of 4 KiB/);
      assert.throws(() => build({ ramHpa: RAM_HPA + 0x800 }), /guest RAM HPA .* is not a multiple of 4 KiB/);
      assert.throws(() => build({ tableHpa: TABLE_HPA + 8 }), /EPT table HPA .* is not a multiple of 4 KiB/);
    });

    it('a small physBits puts the mirror right above 4 GiB', () => {
      const { ept } = build({ ramBytes: 8 * MiB, physBits: 32 });
      for (const gpa of probes(8 * MiB)) assert.equal(ept.translate(2 ** 32 + gpa, EPT_VIEW_FULL), RAM_HPA + gpa);
      assert.equal(ept.translate(2 ** 32 + 8 * MiB, EPT_VIEW_FULL), EPT_VIOLATION);
    });
  });
});
