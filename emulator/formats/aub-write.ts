// Writer of AUB files (the memtrace flavour Mesa's intel_dump_gpu writes and aubinator reads): the
// version header, memory writes to the physical and GGTT-entry address spaces, register writes, the
// four ELSP writes of an execlist submission and the poll of the engine's execlist status after it.
// Knows the block layouts only; emulator/export.ts decides what to write.
//
// Layout facts (Mesa's src/intel/tools aub_write.c, IGT's lib/intel_aub.h): a block header is type 7
// (bits 31:29), opcode 0x2e (28:23), sub-opcode (22:16), dwords - 1 (15:0). VERSION_EXT: file version 1,
// the simulator's device code in bits 15:8, two zero version dwords, then "PCI-ID=0x.. NAME" padded to
// dwords. MEMORY_WRITE: address low, high, address space in bits 31:28 (0 GGTT, 2 physical, 4 GGTT
// entry), byte count, data padded to dwords. REGISTER_WRITE: offset, size dword | MMIO space, mask low
// (all ones), mask high, value. REGISTER_POLL: offset, size | space, mask low, mask high, value.

const HEADER = (sub: number) => ((7 << 29) | (0x2e << 23) | (sub << 16)) >>> 0;
const SUB_VERSION_EXT = 0x0e;
const SUB_REG_POLL = 0x02;
const SUB_REG_WRITE = 0x03;
const SUB_MEM_WRITE = 0x06;
const SUB_COMMENT = 0x08;
/** Register blocks: a dword-sized access (bits 19:16 = 2) to MMIO space (bits 31:28 = 0). */
const REG_SIZE_DWORD = 2 << 16;
export const AUB_SPACE = { ggtt: 0, physical: 2, 'ggtt-entry': 4 } as const;
/** Largest data one memory write block carries (its length field counts dwords in 16 bits). */
const MAX_WRITE_BYTES = 0xfff0 * 4;
/** Engine register offsets (from the engine's MMIO base) of the execlist submit port and status. */
export const EXECLIST_SUBMITPORT = 0x230;
export const EXECLIST_STATUS = 0x234;

export class AubWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  /** The version header; `device` is the simulator's device code (11 BDW, 12 SKL). */
  constructor(pciId: number, device: number, application: string) {
    this.block(
      SUB_VERSION_EXT,
      [1, (device & 0xff) << 8, 0, 0],
      paddedText(`PCI-ID=0x${pciId.toString(16)} ${application}`),
    );
  }

  private block(sub: number, dwords: readonly number[], data?: Uint8Array): void {
    const dataDwords = data ? Math.ceil(data.length / 4) : 0;
    const total = 1 + dwords.length + dataDwords;
    const out = new Uint8Array(total * 4);
    const v = new DataView(out.buffer);
    v.setUint32(0, (HEADER(sub) | (total - 1)) >>> 0, true);
    dwords.forEach((d, i) => v.setUint32(4 + 4 * i, d >>> 0, true));
    if (data) out.set(data, 4 + 4 * dwords.length);
    this.chunks.push(out);
    this.size += out.length;
  }

  /** Bytes at an address of a space, split into blocks the length field can describe. */
  memWrite(space: keyof typeof AUB_SPACE, address: number, data: Uint8Array): void {
    for (let off = 0; off < data.length; off += MAX_WRITE_BYTES) {
      const part = data.subarray(off, Math.min(data.length, off + MAX_WRITE_BYTES));
      const a = address + off;
      this.block(
        SUB_MEM_WRITE,
        [a % 2 ** 32, Math.floor(a / 2 ** 32), (AUB_SPACE[space] << 28) >>> 0, part.length],
        part,
      );
    }
  }

  regWrite(offset: number, value: number): void {
    this.block(SUB_REG_WRITE, [offset, REG_SIZE_DWORD, 0xffffffff, 0, value >>> 0]);
  }

  /** The writer waits until (register & mask) == value. */
  regPoll(offset: number, mask: number, value: number): void {
    this.block(SUB_REG_POLL, [offset, REG_SIZE_DWORD, mask >>> 0, 0, value >>> 0]);
  }

  /** A free-text block aubinator skips. */
  comment(text: string): void {
    this.block(SUB_COMMENT, [], paddedText(text));
  }

  /** A gen8-10 execlist submission: element 1 (zero), then element 0's upper and lower dwords (the trigger). */
  submitElsp(engineBase: number, descriptorLo: number, descriptorHi: number): void {
    const port = engineBase + EXECLIST_SUBMITPORT;
    this.regWrite(port, 0);
    this.regWrite(port, 0);
    this.regWrite(port, descriptorHi);
    this.regWrite(port, descriptorLo);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Latin-1 text, NUL-terminated and padded to whole dwords. */
function paddedText(text: string): Uint8Array {
  const out = new Uint8Array(Math.ceil((text.length + 1) / 4) * 4);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}
