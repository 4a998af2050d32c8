// Capability table per GPU generation (SPEC section 1): the one source for GENCAP bits, limits and PCI capabilities.

export type Generation = 1 | 2 | 3;
export const GENERATIONS: readonly Generation[] = [1, 2, 3];

/** A boolean feature: GENCAP bit, the first generation that has it, and what it means. */
export interface FeatureDef {
  readonly name: Feature;
  readonly bit: number;
  readonly minGen: Generation;
  readonly desc: string;
}

export type Feature =
  'PPGTT_4K' | 'PAGE_2M' | 'PAGE_1G' | 'SEMAPHORE_WAIT' | 'FAST_COPY' | 'ATOMIC_COPY' | 'ISOLATION' | 'COND_BB_END';

export const FEATURES: readonly FeatureDef[] = [
  { name: 'PPGTT_4K', bit: 0, minGen: 1, desc: 'PPGTT 48-bit, 4 KiB pages' },
  { name: 'PAGE_2M', bit: 1, minGen: 2, desc: '2 MiB pages' },
  { name: 'PAGE_1G', bit: 2, minGen: 3, desc: '1 GiB pages' },
  { name: 'SEMAPHORE_WAIT', bit: 3, minGen: 2, desc: 'MI_SEMAPHORE_WAIT' },
  { name: 'FAST_COPY', bit: 4, minGen: 2, desc: 'XY_FAST_COPY_BLT' },
  { name: 'ATOMIC_COPY', bit: 5, minGen: 3, desc: 'MI_ATOMIC, MI_COPY_MEM_MEM' },
  { name: 'ISOLATION', bit: 6, minGen: 2, desc: 'address-space isolation (mirror range, EPT views)' },
  { name: 'COND_BB_END', bit: 7, minGen: 3, desc: 'MI_CONDITIONAL_BATCH_BUFFER_END' },
];

/** Numeric limits carried in GENCAP's upper bits. */
export interface GenLimits {
  readonly maxBatchDepth: number; // GENCAP 15:8
  readonly maxRingPages: number; // GENCAP 31:16
}

export const LIMITS: Readonly<Record<Generation, GenLimits>> = {
  1: { maxBatchDepth: 2, maxRingPages: 32 },
  2: { maxBatchDepth: 3, maxRingPages: 64 },
  3: { maxBatchDepth: 3, maxRingPages: 512 },
};

export const GENCAP_DEPTH = { lo: 8, hi: 15 } as const;
export const GENCAP_RING_PAGES = { lo: 16, hi: 31 } as const;

export function hasFeature(gen: Generation, f: Feature): boolean {
  const def = FEATURES.find((d) => d.name === f)!;
  return gen >= def.minGen;
}

/** GENCAP as a number (fits in 32 bits: the upper dword is reserved and zero). */
export function gencapValue(gen: Generation): number {
  let v = 0;
  for (const f of FEATURES) if (gen >= f.minGen) v |= 1 << f.bit;
  const l = LIMITS[gen];
  v |= l.maxBatchDepth << GENCAP_DEPTH.lo;
  v = (v | (l.maxRingPages << GENCAP_RING_PAGES.lo)) >>> 0;
  return v >>> 0;
}

export function isGeneration(n: number): n is Generation {
  return n === 1 || n === 2 || n === 3;
}

// ---------------------------------------------------------------------------------------------
// PCI capabilities (PCI Local Bus 3.0 section 6.7, PCIe Base section 7.6). Each capability has a
// fixed offset so that the physical and the virtualized config space share one layout; a
// capability the exposed version lacks is unlinked and its bytes read as zero.

export interface PciCapDef {
  readonly id: number;
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly minGen: Generation;
  /** Bytes after the 2-byte (standard) or 4-byte (extended) header. */
  body(version: Generation): number[];
}

export const PCI_CAPS: readonly PciCapDef[] = [
  // Power Management: PMC (version 3, D1/D2 unsupported), PMCSR (D0).
  {
    id: 0x01,
    name: 'Power Management',
    offset: 0x40,
    size: 8,
    minGen: 1,
    body: () => [0x03, 0x00, 0x00, 0x00, 0x00, 0x00],
  },
  // MSI: 64-bit capable, one vector, disabled.
  { id: 0x05, name: 'MSI', offset: 0x48, size: 14, minGen: 1, body: () => [0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
  // PCI Express: capability version 2, endpoint (device/port type 0 in bits 7:4 of byte 3).
  {
    id: 0x10,
    name: 'PCI Express',
    offset: 0x60,
    size: 0x3c,
    minGen: 1,
    body: () => [0x02, 0x00, ...new Array(0x3c - 4).fill(0)],
  },
  // Vendor-Specific: length, then 'V','G', then the exposed device version.
  { id: 0x09, name: 'Vendor-Specific', offset: 0xa0, size: 8, minGen: 1, body: (v) => [0x08, 0x56, 0x47, v, 0, 0] },
];

export const PCI_EXT_CAPS: readonly PciCapDef[] = [
  // ATS: capability register (invalidate queue depth 0), control (disabled).
  { id: 0x000f, name: 'ATS', offset: 0x100, size: 8, minGen: 2, body: () => [0x00, 0x00, 0x00, 0x00] },
  // PASID: execute and privileged mode supported, max PASID width 20.
  { id: 0x001b, name: 'PASID', offset: 0x108, size: 8, minGen: 3, body: () => [0x06, 0x14, 0x00, 0x00] },
  // PRI: control/status, outstanding page request capacity 32.
  {
    id: 0x0013,
    name: 'PRI',
    offset: 0x110,
    size: 16,
    minGen: 3,
    body: () => [0, 0, 0x00, 0x01, 0x20, 0, 0, 0, 0, 0, 0, 0],
  },
];

/** Fictional IDs (documented in the README): vendor 0x1EA7, device 0x0D00 + version. */
export const PCI_VENDOR_ID = 0x1ea7;
export const PCI_DEVICE_ID_BASE = 0x0d00;
export const PCI_CLASS_CODE = 0x038000;
export const BAR0_ADDRESS = 0xe0000000;
export const BAR0_SIZE = 16 * 1024 * 1024;
