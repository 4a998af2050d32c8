// The Xe devcoredump (/sys/class/drm/card0/device/devcoredump/data), read: `**** Topic ****` sections;
// the Job's batch_addr[], the HW Engines' registers (ACTHD, RING_HEAD, IPEHR... as `NAME: 0x...`), the
// Contexts' LRC `[HWCTX]`, and the VM state `[va].length / .properties / .data` (ascii85, uncompressed).
// There is no ring in it: the replay starts at the batch address.

import { decodeAscii85 } from './ascii85';
import { DumpEngine, DumpFormatError, HangDump, contextRegisters, newEngine } from './dump';

export function isXeDevcoredump(text: string): boolean {
  return /^\*\*\*\* Xe Device Coredump \*\*\*\*\s*$/m.test(text.slice(0, 4096));
}

const TOPIC = /^\*\*\*\* (.+?) \*\*\*\*\s*$/;
const KEY_VALUE = /^\s*([A-Za-z][A-Za-z0-9_ ]*?(?:\[\d+\])?):\s*(.*?)\s*$/;
const BINARY = /^\s*\[([0-9A-Za-z]+)\]\.(length|properties|data|error):\s?(.*?)\s*$/;
/** An engine line in HW Engines: `rcs0 (physical), logical instance=0`. */
const ENGINE_LINE = /^\s*([a-z]+\d+) \((physical|logical)\)/;

/** HW Engines register names -> the dump model's names. */
const XE_REGS: Record<string, string> = {
  ACTHD: 'ACTHD',
  RING_HEAD: 'HEAD',
  RING_TAIL: 'TAIL',
  RING_START: 'START',
  RING_CTL: 'CTL',
  IPEHR: 'IPEHR',
  IPEIR: 'IPEIR',
  RING_BBADDR: 'BBADDR',
  BBADDR: 'BBADDR',
  RING_INSTDONE: 'INSTDONE',
  INSTDONE: 'INSTDONE',
  RING_ESR: 'ESR',
  RING_HWS_PGA: 'HWS',
  FAULT_REG: 'FAULT_REG',
};

function hexNum(v: string, line: number, what: string): number {
  const m = /^0x([0-9a-fA-F]{1,16})$/.exec(v.trim()) ?? /^([0-9]+)$/.exec(v.trim());
  if (!m) throw new DumpFormatError(line, `${what}: expected a number, got '${v.trim()}'`);
  return v.trim().startsWith('0x') ? parseInt(m[1], 16) : parseInt(m[1], 10);
}

export function parseXeDevcoredump(text: string, file = '<dump>'): HangDump {
  const lines = text.split('\n');
  const dump: HangDump = {
    format: 'xe-devcoredump',
    file,
    reason: '',
    engines: [],
    batchAddrs: [],
    globalBuffers: [],
    unknown: [],
  };
  const seen = new Set<string>();
  let topic = '';
  let engine: DumpEngine | null = null;
  let ctxLength: number | undefined;
  let hwctx: Uint32Array | null = null;
  const vmLen = new Map<string, { length: number; line: number }>();

  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '') continue;
    const t = TOPIC.exec(line);
    if (t) {
      topic = t[1];
      seen.add(topic);
      continue;
    }
    const bin = BINARY.exec(line);
    if (bin && (topic === 'VM state' || topic === 'Contexts' || topic === 'GuC CT')) {
      const [, key, field, value] = bin;
      if (key === 'HWCTX' && topic !== 'VM state') {
        if (field === 'length') ctxLength = hexNum(value, n, '[HWCTX].length');
        else if (field === 'data') hwctx = decodeAscii85(value, n, line.indexOf(value) + 1);
        continue;
      }
      if (topic !== 'VM state') continue; // other binary blobs of a context (HWSP, LRC head...)
      if (!/^[0-9a-fA-F]+$/.test(key)) throw new DumpFormatError(n, `VM state: '[${key}]' is not a hex GPU address`);
      if (field === 'length') vmLen.set(key, { length: hexNum(value, n, `[${key}].length`), line: n });
      else if (field === 'data') {
        const len = vmLen.get(key);
        if (!len) throw new DumpFormatError(n, `VM state: [${key}].data before its [${key}].length line`);
        const dwords = decodeAscii85(value, n, line.indexOf(value) + 1);
        if (dwords.length * 4 < len.length) {
          throw new DumpFormatError(
            n,
            `VM state: [${key}].data holds ${dwords.length * 4} bytes, its length line ${len.line} says ${len.length}`,
          );
        }
        dump.globalBuffers.push({
          name: 'user',
          va: parseInt(key, 16),
          dwords: dwords.subarray(0, Math.ceil(len.length / 4)),
          encoding: 'ascii85',
          line: len.line,
        });
      } else if (field === 'error') dump.unknown.push({ line: n, text: `VMA 0x${key} not captured: ${value}` });
      continue;
    }
    if (topic === 'HW Engines') {
      const en = ENGINE_LINE.exec(line);
      if (en) {
        engine = newEngine(en[1], n);
        dump.engines.push(engine);
        continue;
      }
    }
    const kv = KEY_VALUE.exec(line);
    if (kv) {
      const [, key, value] = kv;
      if (topic === 'Xe Device Coredump') {
        if (key === 'Reason') dump.reason = value;
        else if (key === 'PCI ID') dump.pciId = hexNum(value, n, 'PCI ID');
        else if (/^PCI revision$/i.test(key)) dump.pciRevision = hexNum(value, n, 'PCI revision');
        else if (key === 'Platform' || key === 'platform') dump.platform = value;
      } else if (topic === 'Job' && /^batch_addr\[\d+\]$/.test(key)) {
        dump.batchAddrs.push(hexNum(value, n, key));
      } else if (topic === 'HW Engines' && engine) {
        const name = XE_REGS[key];
        if (name) engine.regs.set(name, hexNum(value, n, `${engine.name} ${key}`));
      }
      continue;
    }
    if (/^\s/.test(line)) continue; // indented free text of a known topic (GuC log lines, queue dumps)
    dump.unknown.push({ line: n, text: line.length > 80 ? line.slice(0, 77) + '...' : line });
  }

  for (const need of ['Job', 'HW Engines']) {
    if (!seen.has(need)) throw new DumpFormatError(lines.length, `missing section: no '**** ${need} ****' section`);
  }
  if (dump.batchAddrs.length === 0)
    throw new DumpFormatError(lines.length, 'missing section: the Job section has no batch_addr[] line');
  if (dump.engines.length === 0) throw new DumpFormatError(lines.length, 'missing section: HW Engines lists no engine');
  // The hung engine is the one whose ACTHD lies in the job's batch (else the first with an ACTHD).
  const inBatch = (e: DumpEngine) => {
    const a = e.regs.get('ACTHD');
    return (
      a !== undefined &&
      dump.globalBuffers.some(
        (b) =>
          a >= b.va &&
          a < b.va + b.dwords.length * 4 &&
          dump.batchAddrs.some((x) => x >= b.va && x < b.va + b.dwords.length * 4),
      )
    );
  };
  const hung = dump.engines.find(inBatch) ?? dump.engines.find((e) => e.regs.has('ACTHD'));
  if (!hung) throw new DumpFormatError(lines.length, 'missing register: no engine in HW Engines has an ACTHD');
  hung.hung = true;
  if (hwctx) {
    if (ctxLength !== undefined && hwctx.length * 4 < ctxLength)
      throw new DumpFormatError(0, `[HWCTX].data holds ${hwctx.length * 4} bytes, its length says ${ctxLength}`);
    hung.buffers.push({ name: 'HW context', va: 0, dwords: hwctx, encoding: 'ascii85', line: 0 });
    for (const [reg, v] of contextRegisters(hwctx.subarray(Math.min(1024, hwctx.length)))) hung.contextRegs.set(reg, v);
  }
  // Name the buffer holding the batch `batch` (the VM state does not say which VMA is which).
  for (let k = 0; k < dump.globalBuffers.length; k++) {
    const b = dump.globalBuffers[k];
    if (dump.batchAddrs.some((x) => x >= b.va && x < b.va + b.dwords.length * 4))
      dump.globalBuffers[k] = { ...b, name: 'batch' };
  }
  return dump;
}
