// Triage of many hang dumps: each dump's signature (platform, engine, hung command and its offset in its
// batch, IPEHR, fault kind), read from the dump alone (no replay), and dumps grouped by it.

import { decodeCommand } from './commands';
import { DumpBuffer, DumpFormatError, HangDump, hungEngine } from './formats/dump';
import { hex } from './memory';
import { parseHangDump } from './postmortem';

export interface Signature {
  platform: string;
  engine: string;
  /** Mnemonic of the command at ACTHD, from the captured buffer holding it (null: not captured or unknown). */
  command: string | null;
  /** `batch+0x1c`, `ring+0x40`, or `0x...` when ACTHD lies in no captured buffer. */
  offset: string;
  ipehr: string;
  kind: string;
}

export interface TriageGroup {
  key: string;
  signature: Signature;
  count: number;
  example: string;
}

export interface TriageResult {
  dumps: number;
  groups: TriageGroup[];
  unreadable: { file: string; line: number; error: string }[];
}

const FAULT_VALID = 1;

function holding(bufs: readonly DumpBuffer[], va: number): DumpBuffer | undefined {
  return bufs.find((b) => va >= b.va && va < b.va + b.dwords.length * 4);
}

export function signatureOf(d: HangDump): Signature {
  const e = hungEngine(d)!;
  const acthd = e.regs.get('ACTHD') ?? 0;
  const bufs = [...e.buffers, ...d.globalBuffers].filter((b) => !/context|status/i.test(b.name));
  // Prefer the batch, then the ring, then any buffer holding ACTHD.
  const b =
    holding(
      bufs.filter((x) => x.name === 'batch'),
      acthd,
    ) ??
    holding(
      bufs.filter((x) => x.name === 'ring'),
      acthd,
    ) ??
    holding(bufs, acthd);
  let command: string | null = null;
  if (b) {
    const i = (acthd - b.va) >>> 2;
    const dc = decodeCommand(b.dwords, i, b.dwords.length - i);
    command = typeof dc === 'string' ? null : dc.def.mnemonic;
  }
  const faultReg = e.regs.get('FAULT_REG') ?? 0;
  const kind = d.kind ?? (faultReg & FAULT_VALID ? 'page-fault' : 'hang');
  return {
    platform: d.platform ?? (d.pciId !== undefined ? `pci-${hex(d.pciId, 4)}` : 'unknown'),
    engine: e.name,
    command,
    offset: b ? `${b.name}+${hex(acthd - b.va)}` : hex(acthd),
    ipehr: hex(e.regs.get('IPEHR') ?? 0, 8),
    kind,
  };
}

export function signatureKey(s: Signature): string {
  return `${s.platform} ${s.engine} ${s.command ?? '?'} ${s.offset} IPEHR ${s.ipehr} ${s.kind}`;
}

/** Groups dumps (file name, text) by signature; unreadable dumps are listed, never fatal. */
export function triage(inputs: Iterable<{ file: string; text: string }>): TriageResult {
  const groups = new Map<string, TriageGroup>();
  const unreadable: TriageResult['unreadable'] = [];
  let dumps = 0;
  for (const { file, text } of inputs) {
    dumps++;
    let d: HangDump | undefined;
    try {
      d = parseHangDump(text, file);
      if (!d) throw new DumpFormatError(0, 'not an i915 error state or Xe devcoredump');
    } catch (e) {
      if (!(e instanceof DumpFormatError)) throw e;
      unreadable.push({ file, line: e.line, error: e.reason });
      continue;
    }
    const s = signatureOf(d);
    const key = signatureKey(s);
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { key, signature: s, count: 1, example: file });
  }
  const sorted = [...groups.values()].sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { dumps, groups: sorted, unreadable };
}
