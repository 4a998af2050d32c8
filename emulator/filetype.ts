// Recognizing files that are not program text (GPU captures, compressed files, VM checkpoints, kernel
// GPU error dumps), so that a wrong FILE is refused in one line that says what it is.

/** Bytes a program file may have; a larger file is refused before it is read. */
export const MAX_PROGRAM_BYTES = 4 * 1024 * 1024;

interface Signature {
  readonly name: string;
  readonly test: (head: Buffer) => boolean;
}

const dword = (b: Buffer, at: number) => (b.length >= at + 4 ? b.readUInt32LE(at) : -1);
const startsWith = (b: Buffer, text: string) =>
  b.length >= text.length && b.toString('latin1', 0, text.length) === text;

/**
 * Binary formats by their first bytes. AUB files (Intel's GPU trace format) open with a header packet
 * of command type 7: the memtrace version packet (opcode 0x2e, sub-opcode 0x0e) in today's files, the
 * AUB header packet (opcode 0x01, sub-opcode 0x05) in older ones.
 */
const BINARY: readonly Signature[] = [
  {
    name: 'an AUB capture (Intel GPU trace)',
    test: (b) => (dword(b, 0) & 0xffff0000) >>> 0 === 0xf70e0000 || (dword(b, 0) & 0xffff0000) >>> 0 === 0xe0850000,
  },
  { name: 'a vgpu VM checkpoint (use `vgpu resume`)', test: (b) => startsWith(b, 'VGPUSTAT') },
  { name: 'a gzip-compressed file', test: (b) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b },
  { name: 'an ELF executable', test: (b) => startsWith(b, '\x7fELF') },
  { name: 'a PNG image', test: (b) => startsWith(b, '\x89PNG') },
  { name: 'a zip archive', test: (b) => startsWith(b, 'PK\x03\x04') },
  { name: 'an xz-compressed file', test: (b) => startsWith(b, '\xfd7zXZ') },
  { name: 'a zstd-compressed file', test: (b) => dword(b, 0) === 0xfd2fb528 },
];

/**
 * Text formats by their first lines: the i915 GPU error state (/sys/class/drm/cardN/error) opens with
 * the hang message, the kernel line and the capture time.
 */
const TEXT: readonly Signature[] = [
  {
    name: 'an i915 GPU error state',
    test: (b) => {
      const head = b.toString('latin1', 0, Math.min(b.length, 512)).split(/\r?\n/, 4);
      return (
        head.some((l) => /^(GPU HANG: ecode |No error state collected)/.test(l)) ||
        (head.some((l) => l.startsWith('Kernel: ')) && head.some((l) => l.startsWith('Time: ')))
      );
    },
  },
];

/** What a file is when it is a known non-program format, else undefined. */
export function knownFormat(bytes: Buffer): string | undefined {
  return BINARY.find((s) => s.test(bytes))?.name ?? TEXT.find((s) => s.test(bytes))?.name;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The program text of a file's bytes, or why they are not program text: a known format, NUL bytes
 * (binary), or bytes that are not UTF-8. A UTF-8 byte order mark is dropped.
 */
export function programText(bytes: Buffer): { text: string } | { refused: string } {
  const known = knownFormat(bytes);
  if (known) return { refused: `is ${known}, not a .vgpu program` };
  const nul = bytes.indexOf(0);
  if (nul >= 0) return { refused: `is a binary file (NUL byte at offset ${nul}), not a .vgpu program` };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { refused: 'is not UTF-8 text (a binary file?), not a .vgpu program' };
  }
  return { text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text };
}
