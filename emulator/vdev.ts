// VDEV: the device's capability registers and PCI config space, physical (per host generation) and
// virtualized (the VMM's masked copy for the exposed device version), built from the capability table.

import {
  BAR0_ADDRESS,
  FEATURES,
  Generation,
  LIMITS,
  PCI_CAPS,
  PCI_CLASS_CODE,
  PCI_DEVICE_ID_BASE,
  PCI_EXT_CAPS,
  PCI_VENDOR_ID,
  PciCapDef,
  gencapValue,
  isGeneration,
  GENCAP_DEPTH,
  GENCAP_RING_PAGES,
  hasFeature,
} from './capabilities';
import { CommandDef, opcodeMask } from './commands';
import { CAP_REG_DEFS } from './registers';

export const CONFIG_SPACE_SIZE = 4096;
const CAP_POINTER = 0x34;
const EXT_CAP_START = 0x100;

/** A device's capability registers (by table name, 64-bit values) and config space. */
export interface DeviceCaps {
  readonly version: Generation;
  readonly registers: ReadonlyMap<string, bigint>;
  readonly config: Uint8Array;
}

/** Does a device of this version accept this command? (OPCAP and run-time rejection both use it.) */
export function versionAccepts(version: Generation, d: CommandDef): boolean {
  return d.requires === undefined || hasFeature(version, d.requires);
}

/** The physical device of a host generation, as the hardware would report it. */
export function physicalCaps(gen: Generation): DeviceCaps {
  const regs = new Map<string, bigint>();
  const accepts = (d: CommandDef) => versionAccepts(gen, d);
  const values: Record<string, bigint> = {
    VERSION: BigInt(gen),
    GENCAP: BigInt(gencapValue(gen)),
    ENGCAP: 0b11n,
    OPCAP_MI: opcodeMask('MI', accepts),
    OPCAP_2D_LO: opcodeMask('2D', accepts) & 0xffffffffffffffffn,
    OPCAP_2D_HI: opcodeMask('2D', accepts) >> 64n,
    OPCAP_3D: opcodeMask('3D', accepts),
  };
  for (const d of CAP_REG_DEFS) regs.set(d.name, values[d.name] ?? 0n);
  return { version: gen, registers: regs, config: buildConfig(gen, gen, PCI_CAPS, PCI_EXT_CAPS) };
}

/**
 * The VMM's virtual copy for an exposed version: starts from the physical registers and config
 * space and masks away what the version lacks (features, limits, opcodes, PCI capabilities).
 */
export function virtualizeCaps(phys: DeviceCaps, version: Generation): DeviceCaps {
  if (version > phys.version) throw new RangeError(versionError(version, phys.version));
  const regs = new Map(phys.registers);
  regs.set('VERSION', BigInt(version));
  let gencap = phys.registers.get('GENCAP')!;
  for (const f of FEATURES) if (!hasFeature(version, f.name)) gencap &= ~(1n << BigInt(f.bit));
  gencap = setBits(
    gencap,
    GENCAP_DEPTH,
    Math.min(Number(getBits(gencap, GENCAP_DEPTH)), LIMITS[version].maxBatchDepth),
  );
  gencap = setBits(
    gencap,
    GENCAP_RING_PAGES,
    Math.min(Number(getBits(gencap, GENCAP_RING_PAGES)), LIMITS[version].maxRingPages),
  );
  regs.set('GENCAP', gencap);
  const accepts = (d: CommandDef) => versionAccepts(version, d);
  const mi = opcodeMask('MI', accepts);
  const twoD = opcodeMask('2D', accepts);
  regs.set('OPCAP_MI', phys.registers.get('OPCAP_MI')! & mi);
  regs.set('OPCAP_2D_LO', phys.registers.get('OPCAP_2D_LO')! & twoD & 0xffffffffffffffffn);
  regs.set('OPCAP_2D_HI', phys.registers.get('OPCAP_2D_HI')! & (twoD >> 64n));
  regs.set('OPCAP_3D', phys.registers.get('OPCAP_3D')! & opcodeMask('3D', accepts));

  const config = new Uint8Array(phys.config);
  config[0x08] = version; // revision ID
  writeU16(config, 0x02, PCI_DEVICE_ID_BASE + version);
  const keep = (c: PciCapDef) => version >= c.minGen;
  for (const c of [...PCI_CAPS, ...PCI_EXT_CAPS]) if (!keep(c)) config.fill(0, c.offset, c.offset + c.size);
  linkStandard(config, PCI_CAPS.filter(keep), version);
  linkExtended(config, PCI_EXT_CAPS.filter(keep), version);
  return { version, registers: regs, config };
}

export function versionError(version: number, hostGen: number): string {
  return `device version ${version} is newer than this host's GPU (generation ${hostGen}); a VM can only expose a version <= the host generation`;
}

/** SPEC section 1: explicit deviceVersion, else the oldest host in the migration pool, else the host generation. */
export function selectVersion(hostGen: Generation, deviceVersion?: number, pool?: readonly number[]): Generation {
  let v: number;
  if (deviceVersion !== undefined) v = deviceVersion;
  else if (pool && pool.length > 0) v = Math.min(...pool);
  else v = hostGen;
  if (!isGeneration(v)) throw new RangeError(`device version ${v} does not exist (versions are 1, 2 and 3)`);
  if (v > hostGen) throw new RangeError(versionError(v, hostGen));
  return v;
}

function buildConfig(
  gen: Generation,
  version: Generation,
  caps: readonly PciCapDef[],
  ext: readonly PciCapDef[],
): Uint8Array {
  const c = new Uint8Array(CONFIG_SPACE_SIZE);
  writeU16(c, 0x00, PCI_VENDOR_ID);
  writeU16(c, 0x02, PCI_DEVICE_ID_BASE + version);
  writeU16(c, 0x04, 0x0006); // command: memory space, bus master
  writeU16(c, 0x06, 0x0010); // status: capability list
  c[0x08] = version;
  c[0x09] = PCI_CLASS_CODE & 0xff;
  c[0x0a] = (PCI_CLASS_CODE >> 8) & 0xff;
  c[0x0b] = (PCI_CLASS_CODE >> 16) & 0xff;
  c[0x0e] = 0x00; // header type 0
  writeU32(c, 0x10, (BAR0_ADDRESS | 0x4) >>> 0); // BAR0: 64-bit memory
  writeU32(c, 0x14, 0);
  const present = caps.filter((d) => gen >= d.minGen);
  for (const d of present) c.set([d.id, 0, ...d.body(version)].slice(0, d.size), d.offset);
  linkStandard(c, present, version);
  const presentExt = ext.filter((d) => gen >= d.minGen);
  for (const d of presentExt) c.set([0, 0, 0, 0, ...d.body(version)].slice(0, d.size), d.offset);
  linkExtended(c, presentExt, version);
  return c;
}

function linkStandard(c: Uint8Array, caps: readonly PciCapDef[], version: Generation): void {
  c[CAP_POINTER] = caps.length ? caps[0].offset : 0;
  caps.forEach((d, i) => {
    c[d.offset] = d.id;
    c[d.offset + 1] = i + 1 < caps.length ? caps[i + 1].offset : 0;
    if (d.id === 0x09) c[d.offset + 5] = version; // vendor-specific carries the exposed version
  });
}

function linkExtended(c: Uint8Array, caps: readonly PciCapDef[], _version: Generation): void {
  if (caps.length === 0 || caps[0].offset !== EXT_CAP_START) writeU32(c, EXT_CAP_START, 0);
  caps.forEach((d, i) => {
    const next = i + 1 < caps.length ? caps[i + 1].offset : 0;
    writeU32(c, d.offset, (d.id | (1 << 16) | (next << 20)) >>> 0);
  });
}

export interface PciCapEntry {
  readonly id: number;
  readonly offset: number;
}

/** Walks the standard capability list from 0x34, as a guest would. */
export function walkPciCaps(c: Uint8Array): PciCapEntry[] {
  const out: PciCapEntry[] = [];
  if (!(c[0x06] & 0x10)) return out;
  let off = c[CAP_POINTER] & 0xfc;
  const seen = new Set<number>();
  while (off && !seen.has(off) && off < 0x100) {
    seen.add(off);
    out.push({ id: c[off], offset: off });
    off = c[off + 1] & 0xfc;
  }
  return out;
}

/** Walks the PCIe extended capability list from 0x100. */
export function walkPciExtCaps(c: Uint8Array): PciCapEntry[] {
  const out: PciCapEntry[] = [];
  let off = EXT_CAP_START;
  const seen = new Set<number>();
  while (off >= EXT_CAP_START && off < CONFIG_SPACE_SIZE && !seen.has(off)) {
    seen.add(off);
    const h = readU32(c, off);
    if (h === 0) break;
    out.push({ id: h & 0xffff, offset: off });
    off = (h >>> 20) & 0xffc;
  }
  return out;
}

export function capName(id: number, extended: boolean): string {
  return (extended ? PCI_EXT_CAPS : PCI_CAPS).find((d) => d.id === id)?.name ?? `0x${id.toString(16)}`;
}

function getBits(v: bigint, r: { lo: number; hi: number }): bigint {
  return (v >> BigInt(r.lo)) & ((1n << BigInt(r.hi - r.lo + 1)) - 1n);
}
function setBits(v: bigint, r: { lo: number; hi: number }, x: number): bigint {
  const mask = ((1n << BigInt(r.hi - r.lo + 1)) - 1n) << BigInt(r.lo);
  return (v & ~mask) | ((BigInt(x) << BigInt(r.lo)) & mask);
}
function writeU16(c: Uint8Array, off: number, v: number): void {
  c[off] = v & 0xff;
  c[off + 1] = (v >> 8) & 0xff;
}
function writeU32(c: Uint8Array, off: number, v: number): void {
  for (let i = 0; i < 4; i++) c[off + i] = (v >>> (8 * i)) & 0xff;
}
export function readU32(c: Uint8Array, off: number): number {
  return (c[off] | (c[off + 1] << 8) | (c[off + 2] << 16) | (c[off + 3] << 24)) >>> 0;
}

/** The JSON VIEW of a device (SPEC section 7 `vgpu caps --json`): capability registers as hex strings in table order, PCI lists in link order. */
/** SPEC section 7's VIEW of a device: capability registers (hex, table order) and PCI lists in link order. */
export interface CapsView {
  registers: Record<string, string>;
  pci: { capabilities: PciCapEntry[]; extended: PciCapEntry[] };
}

export function capsView(d: DeviceCaps): CapsView {
  const registers: Record<string, string> = {};
  for (const r of CAP_REG_DEFS) registers[r.name] = '0x' + (d.registers.get(r.name) ?? 0n).toString(16);
  return { registers, pci: { capabilities: walkPciCaps(d.config), extended: walkPciExtCaps(d.config) } };
}
