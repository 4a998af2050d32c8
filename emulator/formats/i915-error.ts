// The i915 error state (/sys/class/drm/card0/error), read and written: header lines, one register block
// per engine (`rcs0 command stream:`), buffers as `<engine> --- <name> = 0x<hi> <lo>` followed by one
// line of ascii85 (`:` zlib-compressed, `~` raw) or, in pre-2016 kernels, `offset : value` hex lines.
// The layout follows what drivers/gpu/drm/i915/i915_gpu_error.c prints for gen8/gen9.

import * as zlib from 'node:zlib';
import { decodeAscii85, encodeAscii85 } from './ascii85';
import { DumpBuffer, DumpEngine, DumpFormatError, HangDump, contextRegisters, newEngine } from './dump';

/** Does this text look like an i915 error state (decided from the content, not the file name)? */
export function isI915ErrorState(text: string): boolean {
  const head = text.slice(0, 1 << 16);
  return (
    /^GPU HANG: ecode /m.test(head) ||
    /^\S+ command stream:\s*$/m.test(head) ||
    /^\S+ --- (ring|ringbuffer|batch|gtt_offset)\b.* = 0x/m.test(head)
  );
}

const BUFFER_HEADER = /^(\S.*?) --- (.+?) = 0x([0-9a-fA-F]{1,16})(?: ([0-9a-fA-F]{1,8}))?\s*$/;
const HEX_LINE = /^([0-9a-fA-F]{8}) :\s+([0-9a-fA-F]{8})\s*$/;
const ENGINE_HEADER = /^(\S.*?) command stream:\s*$/;
const KEY_VALUE = /^(\s*)([A-Za-z][^:]{0,63}?):\s*(.*)$/;

/** `0x1234`, `0x00000001 00002000`, `0x00000001_00002000`: a 64-bit value as a number (< 2^53). */
function hexValue(v: string): number | undefined {
  const m = /^0x([0-9a-fA-F]{1,16})(?:[ _]([0-9a-fA-F]{8}))?\b/.exec(v.trim());
  if (!m) return undefined;
  const a = parseInt(m[1], 16);
  return m[2] === undefined ? a : a * 0x100000000 + parseInt(m[2], 16);
}

/** Engine block keys the reader knows, mapped to the dump model's register names. */
const ENGINE_KEYS: Record<string, string> = {
  START: 'START',
  HEAD: 'HEAD',
  TAIL: 'TAIL',
  CTL: 'CTL',
  HWS: 'HWS',
  ACTHD: 'ACTHD',
  IPEIR: 'IPEIR',
  IPEHR: 'IPEHR',
  ESR: 'ESR',
  INSTDONE: 'INSTDONE',
  BBADDR: 'BBADDR',
  FAULT_REG: 'FAULT_REG',
  PDP0: 'PDP0',
  PDP1: 'PDP1',
  PDP2: 'PDP2',
  PDP3: 'PDP3',
  FADDR: 'FADDR',
  MODE: 'MODE',
  CCID: 'CCID',
};

function bytesToDwords(b: Buffer): Uint32Array {
  const n = Math.floor(b.length / 4);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = b.readUInt32LE(4 * i);
  return out;
}

function dwordsToBytes(d: ArrayLike<number>): Buffer {
  const b = Buffer.alloc(d.length * 4);
  for (let i = 0; i < d.length; i++) b.writeUInt32LE(d[i] >>> 0, 4 * i);
  return b;
}

/** Reads an i915 error state. Malformed data throws DumpFormatError naming the line; unknown lines are kept. */
export function parseI915ErrorState(text: string, file = '<dump>'): HangDump {
  const lines = text.split('\n');
  const dump: HangDump = {
    format: 'i915-error',
    file,
    reason: '',
    engines: [],
    batchAddrs: [],
    globalBuffers: [],
    unknown: [],
  };
  const engines = new Map<string, DumpEngine>();
  const engineNamed = (name: string, line: number) => {
    let e = engines.get(name);
    if (!e) {
      e = newEngine(name, line);
      engines.set(name, e);
      dump.engines.push(e);
    }
    return e;
  };
  let block: DumpEngine | null = null;
  let pending: { owner: string; name: string; va: number; line: number; hex: number[] | null } | null = null;

  const finish = (buf: Omit<DumpBuffer, 'name' | 'va' | 'line'>) => {
    const p = pending!;
    const b: DumpBuffer = { name: p.name, va: p.va, line: p.line, ...buf };
    if (p.owner === 'global') dump.globalBuffers.push(b);
    else engineNamed(p.owner, p.line).buffers.push(b);
    pending = null;
  };
  const closePending = (at: number) => {
    if (!pending) return;
    if (pending.hex && pending.hex.length > 0) finish({ dwords: Uint32Array.from(pending.hex), encoding: 'hex' });
    else
      throw new DumpFormatError(
        pending.line,
        `buffer '${pending.name}' of ${pending.owner} has no data (expected an ascii85 line starting with ':' or '~' before line ${at})`,
      );
  };

  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '') continue;

    const c = line[0];
    if ((c === ':' || c === '~') && pending) {
      let dwords = decodeAscii85(line.slice(1), n, 2);
      if (c === ':') {
        try {
          dwords = bytesToDwords(zlib.inflateSync(dwordsToBytes(dwords)));
        } catch (e) {
          throw new DumpFormatError(
            n,
            `zlib data of buffer '${pending.name}' (${pending.owner}) is truncated or corrupt: ${(e as Error).message}`,
          );
        }
      }
      finish({ dwords, encoding: c === ':' ? 'zlib' : 'ascii85' });
      continue;
    }
    const hx = HEX_LINE.exec(line);
    if (hx && pending) {
      (pending.hex ??= []).push(parseInt(hx[2], 16) >>> 0);
      continue;
    }
    const bh = BUFFER_HEADER.exec(line);
    if (bh) {
      closePending(n);
      const hi = parseInt(bh[3], 16);
      const va = bh[4] === undefined ? hi : hi * 0x100000000 + parseInt(bh[4], 16);
      // Pre-2016 names: `ringbuffer` for the ring, `gtt_offset` for the batch.
      const raw = bh[2].trim();
      const name = /^ringbuffer$/i.test(raw) ? 'ring' : /^gtt_offset$/i.test(raw) ? 'batch' : raw;
      pending = { owner: bh[1], name, va, line: n, hex: null };
      block = null;
      continue;
    }
    if (/^gtt_page_sizes = /.test(line) && pending) continue;
    const eh = ENGINE_HEADER.exec(line);
    if (eh) {
      closePending(n);
      block = engineNamed(eh[1].trim(), n);
      continue;
    }
    const kv = KEY_VALUE.exec(line);
    if (kv && kv[1].length > 0 && block) {
      closePending(n);
      const key = kv[2].trim();
      const value = kv[3];
      if (key === 'hung') {
        block.hung = /^\s*[1-9]/.test(value) || /yes|true/i.test(value);
        continue;
      }
      const name = ENGINE_KEYS[key];
      if (!name) continue; // INSTPM, SAMPLER_INSTDONE[..], ELSP, Active context...: printed by the kernel, not needed
      const v = hexValue(value);
      if (v === undefined)
        throw new DumpFormatError(n, `${block.name} ${key}: expected a hex value (0x...), got '${value.trim()}'`);
      block.regs.set(name, v);
      if (name === 'HEAD') {
        const rq = /\[0x([0-9a-fA-F]+)/.exec(value);
        if (rq) block.regs.set('RQ_HEAD', parseInt(rq[1], 16));
      }
      continue;
    }
    if (kv && kv[1].length === 0) {
      closePending(n);
      block = null;
      const key = kv[2].trim();
      const value = kv[3].trim();
      if (dump.reason === '' && /^GPU HANG$/.test(key)) dump.reason = line.trim();
      else if (key === 'Platform') dump.platform = value;
      else if (key === 'PCI ID') dump.pciId = hexValue(value);
      else if (key === 'PCI Revision') dump.pciRevision = hexValue(value);
      else if (key === 'FAULT_TLB_DATA') {
        const m = /^0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)/.exec(value);
        if (!m) throw new DumpFormatError(n, `FAULT_TLB_DATA: expected two hex values, got '${value}'`);
        // gen8+: data0 is address bits 43:12, data1 bits 3:0 are address bits 47:44.
        const data1 = parseInt(m[1], 16);
        const data0 = parseInt(m[2], 16);
        const addr = data0 * 4096 + (data1 & 0xf) * 2 ** 44;
        if (addr !== 0) dump.faultAddress = addr;
      }
      continue;
    }
    if (kv && block) continue; // an engine-block key without indentation: tolerated
    dump.unknown.push({ line: n, text: line.length > 80 ? line.slice(0, 77) + '...' : line });
    if (c === ':' || c === '~')
      dump.unknown[dump.unknown.length - 1].text = `${c}... (ascii85 data with no buffer header before it)`;
  }
  closePending(lines.length);

  if (dump.engines.length === 0)
    throw new DumpFormatError(
      lines.length,
      'missing section: no "<engine> command stream:" block (not an i915 error state, or truncated)',
    );
  for (const e of dump.engines) {
    if (e.regs.size === 0 && e.buffers.length > 0) continue; // buffers only (a `global` owner or a truncated block)
    if (e.hung && !e.regs.has('ACTHD'))
      throw new DumpFormatError(e.line, `missing register: ${e.name} is marked hung but has no ACTHD line`);
    const ctx = e.buffers.find((b) => /^HW context$/i.test(b.name));
    if (ctx) {
      // The LRC register state starts after the per-process status page (page 0).
      for (const [reg, v] of contextRegisters(ctx.dwords.subarray(1024))) e.contextRegs.set(reg, v);
    }
  }
  const m = /reason: ([A-Za-z-]+) on /.exec(dump.reason);
  if (m) dump.kind = m[1].toLowerCase();
  if (dump.pciId !== undefined) dump.gen = 9;
  return dump;
}

// ---------------------------------------------------------------------------------------------------
// Writing.

const hex8 = (v: number) => '0x' + (v >>> 0).toString(16).padStart(8, '0');
const hi32 = (v: number) => Math.floor(v / 0x100000000) >>> 0;
const lo32 = (v: number) => (v % 0x100000000) >>> 0;
const pair = (v: number, sep: string) => `${hex8(hi32(v))}${sep}${lo32(v).toString(16).padStart(8, '0')}`;

/** One buffer's two lines, compressed (`:`) or raw (`~`). */
export function formatBuffer(
  owner: string,
  b: { name: string; va: number; dwords: ArrayLike<number> },
  compress: boolean,
): string {
  let data: string;
  if (compress) {
    const z = zlib.deflateSync(dwordsToBytes(b.dwords));
    const padded = Buffer.alloc(Math.ceil(z.length / 4) * 4);
    z.copy(padded);
    data = ':' + encodeAscii85(bytesToDwords(padded));
  } else data = '~' + encodeAscii85(b.dwords);
  return `${owner} --- ${b.name} = ${pair(b.va, ' ')}\n${data}\n`;
}

/** gen9 engine class bit for the ecode line: render 0, copy 1 (uabi classes). */
const ENGINE_CLASS: Record<string, number> = { rcs0: 0, bcs0: 1 };

/**
 * Prints a dump in the i915 error state format, as a gen9 kernel would: header, GT registers, then per
 * engine its register block and buffers. Values not modelled print as 0.
 */
export function formatI915ErrorState(d: HangDump, opts: { compress: boolean }): string {
  const out: string[] = [];
  const hung = d.engines.find((e) => e.hung) ?? d.engines[0];
  const r = (e: DumpEngine, k: string) => e.regs.get(k) ?? 0;
  const classes = d.engines.filter((e) => e.hung).reduce((m, e) => m | (1 << (ENGINE_CLASS[e.name] ?? 0)), 0);
  const ecode = hung ? (r(hung, 'IPEHR') ^ r(hung, 'INSTDONE')) >>> 0 : 0;
  out.push(
    `GPU HANG: ecode 9:${classes.toString(16)}:${ecode.toString(16).padStart(8, '0')}, in vgpu [1]${d.reason ? `, reason: ${d.reason}` : ''}, action: reset`,
  );
  out.push(
    'Kernel: vgpu-debug x86_64',
    'Driver: vgpu-debug',
    'Time: 0 s 0 us',
    'Boottime: 0 s 0 us',
    'Uptime: 0 s 0 us',
    'Capture: 0 jiffies; 0 ms ago',
  );
  for (const e of d.engines) out.push(`Active process (on ring ${e.name}): vgpu [1]`);
  out.push('Reset count: 0', 'Suspend count: 0');
  out.push(`Platform: ${d.platform ?? 'skylake'}`, 'Subplatform: 0x0');
  out.push(`PCI ID: 0x${(d.pciId ?? 0x1912).toString(16).padStart(4, '0')}`);
  out.push(`PCI Revision: 0x${(d.pciRevision ?? 0).toString(16).padStart(2, '0')}`);
  out.push('PCI Subsystem: 0000:0000', 'IOMMU enabled?: 0', 'RPM wakelock: yes', 'PM suspended: no');
  out.push('GT awake: yes', 'EIR: 0x00000000', 'IER: 0x00000000');
  for (let i = 0; i < 4; i++) out.push(`GTIER[${i}]: 0x00000000`);
  out.push(
    'PGTBL_ER: 0x00000000',
    'FORCEWAKE: 0x00000000',
    'DERRMR: 0x00000000',
    'ERROR: 0x00000000',
    'DONE_REG: 0x00000000',
  );
  const fa = d.faultAddress ?? 0;
  out.push(`FAULT_TLB_DATA: ${hex8(Math.floor(fa / 2 ** 44) & 0xf)} ${hex8(Math.floor(fa / 4096) % 0x100000000)}`);
  out.push('GTT_CACHE_EN: 0x00000000');
  let text = out.join('\n') + '\n';
  for (const e of d.engines) {
    const b: string[] = [];
    b.push(`${e.name} command stream:`);
    b.push(`  CCID:  ${hex8(r(e, 'CCID'))}`);
    b.push(`  START: ${hex8(r(e, 'START'))}`);
    b.push(`  HEAD:  ${hex8(r(e, 'HEAD'))} [${hex8(e.regs.get('RQ_HEAD') ?? r(e, 'HEAD'))}]`);
    b.push(`  TAIL:  ${hex8(r(e, 'TAIL'))} [${hex8(r(e, 'TAIL'))}, ${hex8(r(e, 'TAIL'))}]`);
    b.push(`  CTL:   ${hex8(r(e, 'CTL'))}`);
    b.push(`  MODE:  ${hex8(r(e, 'MODE'))}`);
    b.push(`  HWS:   ${hex8(r(e, 'HWS'))}`);
    b.push(`  ACTHD: ${pair(r(e, 'ACTHD'), ' ')}`);
    b.push(`  IPEIR: ${hex8(r(e, 'IPEIR'))}`);
    b.push(`  IPEHR: ${hex8(r(e, 'IPEHR'))}`);
    b.push(`  ESR:   ${hex8(r(e, 'ESR'))}`);
    b.push(`  INSTDONE: ${hex8(r(e, 'INSTDONE'))}`);
    const batch = e.buffers.find((x) => x.name === 'batch');
    if (batch) b.push(`  batch: [${pair(batch.va, '_')}, ${pair(batch.va + batch.dwords.length * 4, '_')}]`);
    b.push(`  BBADDR: ${pair(r(e, 'BBADDR'), '_')}`);
    b.push('  BB_STATE: 0x00000000', '  INSTPS: 0x00000000', '  INSTPM: 0x00000000');
    b.push(`  FADDR: ${pair(r(e, 'FADDR'), ' ')}`);
    b.push('  RC PSMI: 0x00000000');
    b.push(`  FAULT_REG: ${hex8(r(e, 'FAULT_REG'))}`);
    b.push('  GFX_MODE: 0x00000000');
    for (let i = 0; i < 4; i++) b.push(`  PDP${i}: 0x${r(e, `PDP${i}`).toString(16).padStart(16, '0')}`);
    b.push(`  hung: ${e.hung ? 1 : 0}`, '  engine reset count: 0');
    b.push(`  Active context: vgpu[1] prio 0, guilty ${e.hung ? 1 : 0} active 0, runtime total 0ns, avg 0ns`);
    text += b.join('\n') + '\n';
    for (const buf of e.buffers) text += formatBuffer(e.name, buf, opts.compress);
  }
  for (const buf of d.globalBuffers) text += formatBuffer('global', buf, opts.compress);
  return text;
}
