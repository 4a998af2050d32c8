// VDEV: for every (host generation, device version) pair the guest sees exactly a physical device of that version.

import * as assert from 'node:assert/strict';
import {
  FEATURES,
  GENCAP_DEPTH,
  GENCAP_RING_PAGES,
  GENERATIONS,
  Generation,
  LIMITS,
  PCI_CAPS,
  PCI_CLASS_CODE,
  PCI_DEVICE_ID_BASE,
  PCI_EXT_CAPS,
  PCI_VENDOR_ID,
  gencapValue,
} from '../../emulator/capabilities';
import { CAP_REG_DEFS } from '../../emulator/registers';
import {
  CONFIG_SPACE_SIZE,
  DeviceCaps,
  capName,
  physicalCaps,
  readU32,
  selectVersion,
  virtualizeCaps,
  walkPciCaps,
  walkPciExtCaps,
} from '../../emulator/vdev';

const u16 = (c: Uint8Array, off: number) => c[off] | (c[off + 1] << 8);
const bits = (v: bigint, lo: number, hi: number) => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));

/** What a guest expects of a version-v device, straight from the capability table. */
function expectedStandard(): { id: number; offset: number }[] {
  return PCI_CAPS.map((c) => ({ id: c.id, offset: c.offset }));
}
function expectedExtended(v: Generation): { id: number; offset: number }[] {
  return PCI_EXT_CAPS.filter((c) => v >= c.minGen).map((c) => ({ id: c.id, offset: c.offset }));
}

function checkLooksLikeVersion(d: DeviceCaps, v: Generation): void {
  assert.equal(d.version, v);
  assert.deepEqual(
    [...d.registers.keys()],
    CAP_REG_DEFS.map((r) => r.name),
    'every capability register, in table order',
  );
  assert.equal(d.registers.get('VERSION'), BigInt(v));
  const gencap = d.registers.get('GENCAP')!;
  assert.equal(gencap, BigInt(gencapValue(v)));
  for (const f of FEATURES) assert.equal(bits(gencap, f.bit, f.bit), v >= f.minGen ? 1 : 0, `GENCAP.${f.name}`);
  assert.equal(bits(gencap, GENCAP_DEPTH.lo, GENCAP_DEPTH.hi), LIMITS[v].maxBatchDepth);
  assert.equal(bits(gencap, GENCAP_RING_PAGES.lo, GENCAP_RING_PAGES.hi), LIMITS[v].maxRingPages);
  assert.equal(gencap >> 32n, 0n, 'the upper dword is reserved');
  const c = d.config;
  assert.equal(c.length, CONFIG_SPACE_SIZE);
  assert.equal(u16(c, 0x00), PCI_VENDOR_ID);
  assert.equal(u16(c, 0x02), PCI_DEVICE_ID_BASE + v);
  assert.equal(c[0x08], v, 'revision ID = version');
  assert.equal(c[0x09] | (c[0x0a] << 8) | (c[0x0b] << 16), PCI_CLASS_CODE);
  assert.equal(readU32(c, 0x10) & 0x7, 0x4, 'BAR0 is a 64-bit memory BAR');
  assert.deepEqual(walkPciCaps(c), expectedStandard());
  assert.deepEqual(walkPciExtCaps(c), expectedExtended(v));
  const vsec = PCI_CAPS.find((x) => x.id === 0x09)!;
  assert.equal(c[vsec.offset + 5], v, 'the vendor-specific capability carries the version');
  for (const cap of [...PCI_CAPS, ...PCI_EXT_CAPS]) {
    if (v >= cap.minGen) continue;
    assert.ok(
      c.subarray(cap.offset, cap.offset + cap.size).every((b) => b === 0),
      `${cap.name} is masked and reads as zero`,
    );
  }
}

describe('vdev: capability virtualization', () => {
  for (const g of GENERATIONS) {
    it(`physical gen${g} device reports gen${g}`, () => checkLooksLikeVersion(physicalCaps(g), g));
  }

  for (const g of GENERATIONS) {
    for (const v of GENERATIONS) {
      if (v <= g) {
        it(`host gen${g}, version ${v}: the guest sees exactly a physical version-${v} device`, () => {
          const phys = physicalCaps(g);
          const before = new Uint8Array(phys.config);
          const exposed = virtualizeCaps(phys, v);
          const ref = physicalCaps(v);
          assert.deepEqual(exposed.registers, ref.registers);
          assert.deepEqual(exposed.config, ref.config, 'config space, byte for byte');
          checkLooksLikeVersion(exposed, v);
          assert.deepEqual(phys.config, before, 'the physical copy is untouched');
          assert.equal(phys.registers.get('VERSION'), BigInt(g));
        });
      } else {
        it(`host gen${g}, version ${v}: refused`, () => {
          assert.throws(
            () => virtualizeCaps(physicalCaps(g), v),
            (e: Error) => {
              assert.ok(e instanceof RangeError);
              assert.equal(
                e.message,
                `device version ${v} is newer than this host's GPU (generation ${g}); a VM can only expose a version <= the host generation`,
              );
              return true;
            },
          );
        });
      }
    }
  }

  it('lists walk in link order from 0x34 and from 0x100', () => {
    const c = physicalCaps(3).config;
    assert.equal(c[0x34], 0x40);
    assert.deepEqual(
      walkPciCaps(c).map((x) => capName(x.id, false)),
      ['Power Management', 'MSI', 'PCI Express', 'Vendor-Specific'],
    );
    assert.deepEqual(
      walkPciExtCaps(c).map((x) => capName(x.id, true)),
      ['ATS', 'PASID', 'PRI'],
    );
    assert.deepEqual(
      walkPciExtCaps(c).map((x) => x.id),
      [0x000f, 0x001b, 0x0013],
    );
    assert.equal((readU32(c, 0x100) >>> 16) & 0xf, 1, 'extended capability version 1');
    assert.equal(readU32(physicalCaps(1).config, 0x100), 0, 'gen1: an empty extended list');
    assert.equal(capName(0x77, false), '0x77');
  });

  it('list walks stop on loops and without the capability-list status bit', () => {
    const c = new Uint8Array(physicalCaps(3).config);
    c[0xa0 + 1] = 0x40; // Vendor-Specific -> Power Management: a loop
    assert.equal(walkPciCaps(c).length, 4);
    c[0x06] = 0;
    assert.deepEqual(walkPciCaps(c), []);
    c[0x110 + 3] = 0x10; // PRI -> ATS: a loop
    assert.equal(walkPciExtCaps(c).length, 3);
  });

  describe('selectVersion', () => {
    it('an explicit device version wins over the pool and the host', () => {
      assert.equal(selectVersion(3, 1, [2, 3]), 1);
      assert.equal(selectVersion(3, 3, [2]), 3);
    });
    it('else the oldest generation of the migration pool', () => {
      assert.equal(selectVersion(3, undefined, [3, 2, 3]), 2);
      assert.equal(selectVersion(2, undefined, [1, 3]), 1);
    });
    it('else the host generation', () => {
      for (const g of GENERATIONS) assert.equal(selectVersion(g), g);
      assert.equal(selectVersion(2, undefined, []), 2);
    });
    it('refuses a version above the host or one that does not exist', () => {
      assert.throws(() => selectVersion(2, 3), /device version 3 is newer than this host's GPU \(generation 2\)/);
      assert.throws(
        () => selectVersion(1, undefined, [2, 3]),
        /device version 2 is newer than this host's GPU \(generation 1\)/,
      );
      assert.throws(() => selectVersion(3, 0), /device version 0 does not exist \(versions are 1, 2 and 3\)/);
      assert.throws(() => selectVersion(3, 4), /device version 4 does not exist/);
      assert.throws(() => selectVersion(3, 1.5), /does not exist/);
    });
  });
});
