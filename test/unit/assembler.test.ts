// Unit tests of the `.vgpu` assembler: numbers and expressions, every directive, page tables, rings, errors, fuzz.

import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assemble, assembleSource } from '../../emulator/assembler';
import { main as asmMain } from '../../emulator/cli/asm';
import { UsageError } from '../../emulator/cli/args';
import { AssemblyError, type Diagnostic, type DriverOp, type ProgramImage } from '../../emulator/image';
import { splitLines } from '../../emulator/lexer';
import { mulberry32 } from '../helpers/prng';
import { commandByMnemonic, encodeCommand } from '../../emulator/commands';
import { Vm } from '../../emulator/vm';

const FILE = 'test.vgpu';
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Every statement below is a line; the common prologue maps 1 MiB at VA = GPA = 1 MiB. */
const MAP = '.map 0x100000, 0x100000, 1M, rw\n';

function build(src: string, opts: { memory?: number; physBits?: number } = {}): ProgramImage {
  return assemble(src, { file: FILE, ...opts });
}

function diags(src: string): Diagnostic[] {
  return assembleSource(src, { file: FILE }).diagnostics;
}

function errors(src: string): Diagnostic[] {
  return diags(src).filter((d) => d.severity === 'error');
}

/** The one error of a program, as `LINE:COL: MESSAGE`. */
function oneError(src: string): string {
  const e = errors(src);
  assert.equal(e.length, 1, `expected one error, got:\n${e.map((d) => `${d.line}:${d.col}: ${d.message}`).join('\n')}`);
  return `${e[0].line}:${e[0].col}: ${e[0].message}`;
}

function read32(img: ProgramImage, gpa: number): number {
  const p = img.pages.get(Math.floor(gpa / 4096));
  return p ? p[(gpa % 4096) / 4] : 0;
}

/** Reads a PPGTT entry (lo, hi) straight out of the image's pages. */
function entry(img: ProgramImage, table: number, index: number): { lo: number; hi: number; addr: number } {
  const lo = read32(img, table + 8 * index);
  const hi = read32(img, table + 8 * index + 4);
  return { lo, hi, addr: (hi & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0) };
}

interface Walk {
  gpa: number;
  pageSize: number;
  leafFlags: number;
  path: number[];
}

/** Walks the PPGTT by hand (x86-64 4-level: P=0 RW=1 US=2 PS=7). */
function walk(img: ProgramImage, va: number): Walk | undefined {
  const shifts = [39, 30, 21, 12];
  let table = img.pml4;
  const path: number[] = [];
  for (let level = 0; level < 4; level++) {
    const e = entry(img, table, Math.floor(va / 2 ** shifts[level]) % 512);
    path.push(e.lo & 0xfff);
    if (!(e.lo & 1)) return undefined;
    if (level === 3 || (level > 0 && e.lo & 0x80)) {
      const size = 2 ** shifts[level];
      return { gpa: e.addr + (va % size), pageSize: size, leafFlags: e.lo & 0xfff, path };
    }
    table = e.addr;
  }
  return undefined;
}

function readVa(img: ProgramImage, va: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const w = walk(img, va + 4 * i);
    assert.ok(w, `VA 0x${(va + 4 * i).toString(16)} is not mapped`);
    return read32(img, w.gpa % 2 ** img.physBits);
  });
}

function ops<K extends DriverOp['op']>(img: ProgramImage, op: K): Extract<DriverOp, { op: K }>[] {
  return img.driver.filter((d): d is Extract<DriverOp, { op: K }> => d.op === op);
}

describe('assembler', () => {
  describe('numbers and expressions', () => {
    it('reads decimal, hex, binary, separators and size suffixes', () => {
      const img = build(
        `${MAP}.data 0x100000\n dword 42, 0x2A, 0b101010, 1_000_000, 0xdead_beef, 4K, 2M, 1G, 3k, 0x10K`,
      );
      assert.deepEqual(readVa(img, 0x100000, 10), [42, 42, 42, 1000000, 0xdeadbeef, 4096, 2 * MiB, GiB, 3072, 0x4000]);
    });

    it('evaluates operators with C precedence in BigInt', () => {
      const exprs = [
        '1 + 2 * 3',
        '(1 + 2) * 3',
        '1 << 2 + 1',
        '0x100 >> 4',
        '7 / 2',
        '-7 / 2',
        '7 % 4',
        '6 & 3',
        '6 | 3',
        '6 ^ 3',
        '~0 & 0xff',
        '-(2 + 3) + 10',
        '1 | 2 ^ 3 & 4',
        '--5',
        '1 << 40 >> 38',
      ];
      const expected = [7, 9, 8, 16, 3, -3, 3, 2, 7, 5, 255, 5, 3, 5, 4];
      const img = build(`${MAP}.data 0x100000\n${exprs.map((e) => ` qword ${e}`).join('\n')}`);
      expected.forEach((v, i) => {
        const [lo, hi] = readVa(img, 0x100000 + 8 * i, 2);
        assert.equal(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)), BigInt(v), exprs[i]);
      });
    });

    it('knows MIRROR, register names (engine context) and labels, case-insensitively', () => {
      const src = `.vm physBits=36\n${MAP}.data 0x100000\nTop: qword MIRROR, cs_gpr0, bcs0.CS_GPR0, RING_TAIL, top, TOP + 8, FAULT_STATUS, gencap
.batch b, 0x100800, bcs0\n .dword CS_GPR0, rcs0.cs_gpr1\n`;
      const img = build(src);
      const q = (i: number) => readVa(img, 0x100000 + 8 * i, 2);
      assert.deepEqual(q(0), [0, 16]); // 2^36
      assert.deepEqual(q(1), [0x2600, 0]);
      assert.deepEqual(q(2), [0x22600, 0]);
      assert.deepEqual(q(3), [0x2030, 0]);
      assert.deepEqual(q(4), [0x100000, 0]);
      assert.deepEqual(q(5), [0x100008, 0]);
      assert.deepEqual(q(6), [0x4408, 0]);
      assert.deepEqual(q(7), [0x100008, 0]);
      assert.deepEqual(readVa(img, 0x100800, 2), [0x22600, 0x2608]);
      assert.equal(img.symbols.get('TOP'), 0x100000);
    });

    it('resolves forward references to labels, batches and surfaces', () => {
      const img = build(`${MAP}.batch first, 0x100000
  MI_BATCH_BUFFER_START addr=second, second_level=1
  MI_STORE_DATA_IMM addr=result, data=end - first
end: MI_BATCH_BUFFER_END
.batch second, 0x100400
  XY_COLOR_BLT dst=fb, x1=0, y1=0, x2=4, y2=4, color=1
  MI_BATCH_BUFFER_END
.surface fb, 0x108000, 16, 16
.data 0x100800
result: dword 0`);
      assert.deepEqual(readVa(img, 0x100000, 3), [0x18c00101, 0x100400, 0]);
      assert.deepEqual(readVa(img, 0x10000c, 4), [0x10000002, 0x100800, 0, 0x1c]);
      assert.equal(readVa(img, 0x100400 + 16, 1)[0], 0x108000);
      assert.equal(readVa(img, 0x100404, 1)[0] & 0xffff, 64); // pitch from the surface
    });
  });

  describe('directives', () => {
    it('.vm fills image.vm; options override memory and physBits', () => {
      const src = `.vm memory=64M physBits=36 isolation=off version=2 pool=2,3\n${MAP}`;
      const a = build(src);
      assert.deepEqual(a.vm, { memory: 64 * MiB, physBits: 36, isolation: false, version: 2, pool: [2, 3] });
      assert.equal(a.memory, 64 * MiB);
      assert.equal(a.physBits, 36);
      assert.equal(a.pml4, 64 * MiB - 4096);
      const b = build(src, { memory: 128 * MiB, physBits: 40 });
      assert.equal(b.memory, 128 * MiB);
      assert.equal(b.physBits, 40);
      assert.equal(b.pml4, 128 * MiB - 4096);
      const c = build(MAP);
      assert.deepEqual(c.vm, {});
      assert.equal(c.memory, 256 * MiB);
      assert.equal(c.physBits, 39);
    });

    it('.vm gen=8|9 picks the generation whose layouts commands are encoded with; the image records it and the VM decodes with it', () => {
      const body = `${MAP}.data 0x108000\nout: dword 0\n.ring rcs0\nMI_URB_CLEAR urb_address=0x40, urb_clear_length=2\nMI_STORE_DATA_IMM addr=out, data=7\n.submit rcs0\n.wait rcs0\n`;
      const a = build(`.vm gen=8\n${body}`);
      assert.deepEqual(a.vm, { gen: 8 });
      const urb = commandByMnemonic('MI_URB_CLEAR', 8)!;
      const submit = a.driver.find((d) => d.op === 'submit') as Extract<DriverOp, { op: 'submit' }>;
      assert.deepEqual(
        submit.dwords.slice(0, 2),
        encodeCommand(
          urb,
          new Map([
            ['urb_address', 0x40n],
            ['urb_clear_length', 2n],
          ]),
        ),
      );
      // MI_URB_CLEAR is gen8's: a gen9 program does not know it and says where it lives.
      assert.equal(oneError(`.vm gen=9\n${body}`), "6:1: unknown command 'MI_URB_CLEAR' (a gen8 command: .vm gen=8)");
      assert.equal(oneError(body), "5:1: unknown command 'MI_URB_CLEAR' (a gen8 command: .vm gen=8)");
      assert.match(oneError(`.vm gen=7\n${MAP}`), /gen/);
      // The VM decodes with the image's generation unless its options say otherwise.
      const vm = new Vm(a, {});
      assert.equal(vm.cfg.gen, 8);
      vm.run();
      assert.deepEqual(
        vm.errors.map((e) => e.kind),
        [],
      );
      assert.equal(vm.readVa(a.symbols.get('OUT')!, 1)[0], 7);
      const as9 = new Vm(a, { gen: 9 });
      as9.run();
      assert.equal(as9.errors[0]?.kind, 'invalid-command');
    });

    it('.map builds 4K tables downwards from the top of RAM with the right flags', () => {
      const img = build(`.map 0x200000, 0x300000, 8K, rw\n.map 0x7f0000001000, 0x5000, 4K, ro`);
      const top = 256 * MiB;
      assert.equal(img.pml4, top - 4096);
      const pml4e = entry(img, img.pml4, 0);
      assert.equal(pml4e.addr, top - 2 * 4096);
      assert.equal(pml4e.lo & 0xfff, 0b111); // P|RW|US
      const pdpte = entry(img, pml4e.addr, 0);
      assert.equal(pdpte.addr, top - 3 * 4096);
      const pde = entry(img, pdpte.addr, 1);
      assert.equal(pde.addr, top - 4 * 4096);
      const pte = entry(img, pde.addr, 0);
      assert.equal(pte.addr, 0x300000);
      assert.equal(pte.lo & 0xfff, 0b111);
      assert.deepEqual(walk(img, 0x201234), { gpa: 0x301234, pageSize: 4096, leafFlags: 0b111, path: [7, 7, 7, 7] });
      assert.equal(walk(img, 0x202000), undefined);
      const ro = walk(img, 0x7f0000001008)!;
      assert.equal(ro.gpa, 0x5008);
      assert.equal(ro.leafFlags, 0b101); // P|US, no RW
      assert.deepEqual(ro.path.slice(0, 3), [7, 7, 7]);
      // Second mapping: new PDPT, PD and PT, allocated after the first mapping's tables.
      assert.equal(entry(img, img.pml4, 0xfe).addr, top - 5 * 4096);
      assert.equal(img.mappings.length, 2);
      assert.deepEqual(
        img.mappings.map((m) => [m.va, m.gpa, m.size, m.writable, m.pageSize, m.loc.line]),
        [
          [0x200000, 0x300000, 8192, true, 4096, 1],
          [0x7f0000001000, 0x5000, 4096, false, 4096, 2],
        ],
      );
    });

    it('.map page=2M and page=1G write PS leaves at the PD and PDPT', () => {
      const img = build(
        `.vm memory=4G\n.map 0x40000000, 0x200000, 4M, rw, page=2M\n.map 0x8000000000, 0x40000000, 1G, ro, page=1G`,
      );
      const w2 = walk(img, 0x40212345)!;
      assert.equal(w2.pageSize, 2 * MiB);
      assert.equal(w2.gpa, 0x412345);
      assert.equal(w2.leafFlags, 0x87); // PS|US|RW|P
      assert.equal(w2.path.length, 3);
      const w1 = walk(img, 0x8012345678)!;
      assert.equal(w1.pageSize, GiB);
      assert.equal(w1.gpa, 0x40000000 + 0x12345678);
      assert.equal(w1.leafFlags, 0x85);
      assert.equal(w1.path.length, 2);
      // PML4, PDPT, PD for the 2M mapping; a new PDPT for the 1G one.
      assert.deepEqual(
        [...img.pages.keys()].sort((a, b) => a - b),
        [0xffffc, 0xffffd, 0xffffe, 0xfffff],
      );
    });

    it('.map accepts GPAs beyond RAM and in the mirror range; .data through a mirror GPA lands in RAM', () => {
      const img = build(
        `.vm physBits=39\n.map 0x100000, MIRROR + 0x200000, 4K, rw\n.map 0x300000, 0x7000000000, 4K, rw\n.data 0x100010\n dword 0x1234`,
      );
      assert.equal(walk(img, 0x100000)!.gpa, 2 ** 39 + 0x200000);
      assert.equal(walk(img, 0x300000)!.gpa, 0x7000000000);
      assert.equal(read32(img, 0x200010), 0x1234);
    });

    it('.data writes dword, qword, byte and ascii lines at consecutive addresses; labels name them', () => {
      const img = build(
        `${MAP}.data 0x100000\na: dword 1, -1\nb: qword 0x1122334455667788\nc: byte 1, 2, 255, -1\nd: ascii "Hi\\n\\x41", "!"\ne: dword 7`,
      );
      assert.deepEqual(readVa(img, 0x100000, 4), [1, 0xffffffff, 0x55667788, 0x11223344]);
      assert.deepEqual(readVa(img, 0x100010, 3), [0xffff0201, 0x410a6948, 0x00000721]);
      assert.deepEqual(
        ['A', 'B', 'C', 'D', 'E'].map((n) => img.symbols.get(n)),
        [0x100000, 0x100008, 0x100010, 0x100014, 0x100019],
      );
      const lines = img.listing.map((l) => [l.va, l.line, l.text]);
      assert.deepEqual(lines[3], [0x100014, 6, 'd: ascii "Hi\\n\\x41", "!"']);
      assert.equal(img.listing[0].ring, null);
    });

    it('.fill writes a 32-bit pattern over a range', () => {
      const img = build(`${MAP}.fill 0x100ff8, 0x10, 0xabcd0123`);
      assert.deepEqual(readVa(img, 0x100ff4, 6), [0, 0xabcd0123, 0xabcd0123, 0xabcd0123, 0xabcd0123, 0]);
    });

    it('.surface defines a symbol, defaults the pitch, and supplies pitch/src_pitch to blits', () => {
      const img = build(`${MAP}.surface Src, 0x140000, 32, 8\n.surface dst, 0x180000, 16, 16, 256
.batch b, 0x100000, bcs0
  XY_SRC_COPY_BLT dst=DST, x1=0, y1=0, x2=8, y2=8, src=src, sx=1, sy=2
  XY_COLOR_BLT dst=dst, pitch=512, x1=0, y1=0, x2=1, y2=1, color=0
  XY_COLOR_BLT dst=src + 4, pitch=128, x1=0, y1=0, x2=1, y2=1, color=0`);
      assert.deepEqual(
        img.surfaces.map((s) => [s.name, s.va, s.width, s.height, s.pitch]),
        [
          ['Src', 0x140000, 32, 8, 128],
          ['dst', 0x180000, 16, 16, 256],
        ],
      );
      assert.equal(img.symbols.get('SRC'), 0x140000);
      const blit = readVa(img, 0x100000, 10);
      assert.equal(blit[1] & 0xffff, 256);
      assert.equal(blit[4], 0x180000);
      assert.equal(blit[6], (2 << 16) | 1);
      assert.equal(blit[7], 128);
      assert.equal(blit[8], 0x140000);
      assert.equal(readVa(img, 0x100028 + 4, 1)[0] & 0xffff, 512); // explicit pitch wins
      assert.equal(readVa(img, 0x100044 + 16, 1)[0], 0x140004);
    });

    it('.batch emits commands at consecutive VAs with a source map and listing', () => {
      const img = build(
        `${MAP}.batch main, 0x100100\n  MI_NOOP\nx: MI_STORE_DATA_IMM addr=0x100000, data=5\n  .dword 0, 0x05000000`,
      );
      assert.equal(img.symbols.get('MAIN'), 0x100100);
      assert.equal(img.symbols.get('X'), 0x100104);
      assert.deepEqual(readVa(img, 0x100100, 7), [0, 0x10000002, 0x100000, 0, 5, 0, 0x05000000]);
      assert.deepEqual(img.sourceMap.get(0x100104), { file: FILE, line: 4, col: 4 });
      assert.deepEqual(img.sourceMap.get(0x100118), { file: FILE, line: 5, col: 13 });
      assert.deepEqual(
        img.listing.map((l) => [l.va, l.dwords.length, l.line]),
        [
          [0x100100, 1, 3],
          [0x100104, 4, 4],
          [0x100114, 2, 5],
        ],
      );
      assert.equal(img.listing[1].text, 'x: MI_STORE_DATA_IMM addr=0x100000, data=5');
    });

    it('.batch ENGINE is the context of unprefixed registers in commands', () => {
      const img = build(
        `${MAP}.batch b, 0x100000, bcs0\n MI_LOAD_REGISTER_IMM CS_GPR0=1, rcs0.CS_GPR0=2, 0x2600=3\n MI_STORE_REGISTER_MEM reg=CS_GPR1, addr=0x100800`,
      );
      assert.deepEqual(
        readVa(img, 0x100000, 11),
        [0x11000005, 0x22600, 1, 0x2600, 2, 0x2600, 3, 0x12000002, 0x22608, 0x100800, 0],
      );
    });

    it('.ring without a VA gets 16K of RAM from the allocator, mapped rw at the default VA', () => {
      const img = build(`${MAP}.ring rcs0\nstart: MI_NOOP\n MI_NOOP\n.submit rcs0\n.ring bcs0\n MI_NOOP\n.submit bcs0`);
      const top = 256 * MiB;
      // PML4, PDPT, PD, PT of the .map, then 4 ring pages, then the ring's PD and PT.
      const ringGpa = top - 4 * 4096 - 4 * 4096;
      const [r0, r1] = ops(img, 'ring');
      assert.deepEqual([r0.engine, r0.va, r0.gpa, r0.size], ['rcs0', 0xfff00000, ringGpa, 16384]);
      assert.deepEqual([r1.engine, r1.va, r1.size], ['bcs0', 0xfff80000, 16384]);
      assert.equal(r1.gpa, ringGpa - 2 * 4096 - 4 * 4096);
      assert.equal(walk(img, 0xfff00000)!.gpa, ringGpa);
      assert.equal(walk(img, 0xfff03ffc)!.gpa, ringGpa + 0x3ffc);
      assert.equal(walk(img, 0xfff80000)!.gpa, r1.gpa);
      assert.equal(walk(img, 0xfff00000)!.leafFlags, 7);
      assert.equal(img.symbols.get('START'), 0xfff00000);
      // Ring contents are not in the image: the driver writes them at .submit.
      assert.equal(img.pages.has(ringGpa / 4096), false);
      assert.deepEqual(
        img.listing.map((l) => [l.va, l.ring]),
        [
          [0xfff00000, 'rcs0'],
          [0xfff00004, 'rcs0'],
          [0xfff80000, 'bcs0'],
        ],
      );
      assert.deepEqual(
        img.driver.map((d) => d.op),
        ['ring', 'submit', 'ring', 'submit'],
      );
    });

    it('.ring with a VA uses the program mapping and checks it', () => {
      const img = build(`.map 0x10000, 0x40000, 8K, rw\n.ring bcs0, 0x10000, 8K\n MI_NOOP\n.submit bcs0`);
      assert.deepEqual(ops(img, 'ring')[0], {
        op: 'ring',
        engine: 'bcs0',
        va: 0x10000,
        gpa: 0x40000,
        size: 8192,
        loc: { file: FILE, line: 2, col: 1 },
      });
    });

    it('.submit carries the dwords since the last submit, the offset, the tail and the entries', () => {
      const img = build(
        `${MAP}.ring rcs0\n MI_NOOP\n MI_STORE_DATA_IMM addr=0x100000, data=1\n.submit rcs0\n .dword 1, 2\n.submit rcs0`,
      );
      const [s1, s2] = ops(img, 'submit');
      assert.deepEqual([s1.offset, s1.tail, s1.dwords], [0, 20, [0, 0x10000002, 0x100000, 0, 1]]);
      assert.deepEqual(s1.entries, [
        { offset: 0, loc: { file: FILE, line: 3, col: 2 } },
        { offset: 4, loc: { file: FILE, line: 4, col: 2 } },
      ]);
      assert.deepEqual([s2.offset, s2.tail, s2.dwords], [20, 28, [1, 2]]);
      assert.deepEqual(
        s2.entries.map((e) => [e.offset, e.loc.col]),
        [
          [20, 9],
          [24, 12],
        ],
      );
      assert.deepEqual(s1.loc, { file: FILE, line: 5, col: 1 });
    });

    it('ring offsets, tails, entries and labels wrap at the ring size', () => {
      const big = Array.from({ length: 1000 }, () => '0').join(', ');
      const img = build(
        `.map 0x10000, 0x40000, 4K, rw\n.ring rcs0, 0x10000, 4K\n .dword ${big}\n.submit rcs0\nw: MI_NOOP\n .dword ${Array(199).fill('7').join(', ')}\nafter: MI_NOOP\n.submit rcs0`,
      );
      const [s1, s2] = ops(img, 'submit');
      assert.deepEqual([s1.offset, s1.tail], [0, 4000]);
      assert.deepEqual([s2.offset, s2.tail, s2.dwords.length], [4000, (4000 + 201 * 4) % 4096, 201]);
      assert.equal(s2.entries[0].offset, 4000);
      assert.equal(s2.entries[s2.entries.length - 1].offset, (4000 + 200 * 4) % 4096);
      assert.ok(s2.entries.every((e) => e.offset < 4096));
      assert.equal(img.symbols.get('W'), 0x10000 + 4000);
      assert.equal(img.symbols.get('AFTER'), 0x10000 + ((4000 + 800) % 4096));
      assert.equal(img.listing[img.listing.length - 1].va, 0x10000 + 704);
    });

    it('.wait, .mmio and .eptp become driver operations in program order', () => {
      const img = build(
        `${MAP}.ring bcs0\n MI_NOOP\n.mmio CS_GPR0, 5\n.submit bcs0\n.wait bcs0\n.mmio 0x4408, -1\n.eptp restricted, rcs0\n.eptp full\n.wait all`,
      );
      const strip = img.driver.map(({ loc: _loc, ...rest }) => rest);
      assert.deepEqual(
        strip.filter((d) => d.op !== 'ring' && d.op !== 'submit'),
        [
          { op: 'mmio', offset: 0x22600, value: 5 },
          { op: 'wait', engines: ['bcs0'] },
          { op: 'mmio', offset: 0x4408, value: 0xffffffff },
          { op: 'eptp', view: 1, engines: ['rcs0'] },
          { op: 'eptp', view: 0, engines: ['rcs0', 'bcs0'] },
          { op: 'wait', engines: ['rcs0', 'bcs0'] },
        ],
      );
      assert.deepEqual(
        img.driver.map((d) => d.op),
        ['ring', 'mmio', 'submit', 'wait', 'mmio', 'eptp', 'eptp', 'wait'],
      );
    });

    it('encodes enums by name or number and LRI pairs by name or offset', () => {
      const img = build(`${MAP}.batch b, 0x100000
 MI_SEMAPHORE_WAIT addr=0x100800, data=1, op=gte
 MI_SEMAPHORE_WAIT addr=0x100800, data=1, op=5
 PIPE_CONTROL post_sync=TIMESTAMP, addr=0x100800
 MI_ATOMIC op=inc, addr=0x100800
 mi_flush_dw ADDR=0x100800, data=0x1_0000_0002
 MI_LOAD_REGISTER_IMM 0x2604=0xffffffff`);
      const d = readVa(img, 0x100000, 4 + 4 + 6 + 3 + 5 + 3);
      assert.equal(d[0], 0x0e009002);
      assert.equal(d[4], 0x0e00d002);
      assert.equal(d[9], 3 << 14);
      assert.equal(d[14], 0x17800501);
      assert.deepEqual(d.slice(17, 22), [0x13004003, 0x100800, 0, 2, 1]);
      assert.deepEqual(d.slice(22), [0x11000001, 0x2604, 0xffffffff]);
    });

    it('warns (not errors) about commands the exposed version or the ring engine cannot run', () => {
      const r = assembleSource(
        `.vm version=1\n${MAP}.ring rcs0\n MI_ATOMIC op=ADD, addr=0x100000\n XY_COLOR_BLT dst=0, pitch=4, x1=0, y1=0, x2=1, y2=1, color=0\n.submit rcs0\n.map 0x40000000, 0, 2M, rw, page=2M`,
        { file: FILE },
      );
      assert.ok(r.image);
      assert.deepEqual(
        r.diagnostics.map((d) => [d.severity, d.line]),
        [
          ['warning', 4],
          ['warning', 5],
          ['warning', 7],
        ],
      );
      assert.deepEqual(r.image.warnings, r.diagnostics);
    });
  });

  describe('errors', () => {
    it('a message quotes at most 60 characters of a name, the rest of it kept (the program fuzz found a 5,762-character one)', () => {
      const r = assembleSource(
        `${MAP}.batch b, 0x100000\n  MI_SEMAPHORE_WAIT addr=0, data=1, op=${'A'.repeat(100_000)}`,
        { file: 'f.vgpu' },
      );
      assert.equal(r.diagnostics.length, 1);
      assert.equal(
        r.diagnostics[0].message,
        `unknown op '${'A'.repeat(57)}...' for MI_SEMAPHORE_WAIT (GT, GTE, LT, LTE, EQ, NEQ)`,
      );
      assert.ok(
        assembleSource(`${MAP}${'MI_'.repeat(3000)}X`, { file: 'f.vgpu' }).diagnostics.every(
          (d) => d.message.length <= 1000,
        ),
      );
    });

    const cases: [string, string, string][] = [
      ['unknown command', `${MAP}.batch b, 0x100000\n  MI_BOGUS`, "3:3: unknown command 'MI_BOGUS'"],
      [
        'unknown field',
        `${MAP}.batch b, 0x100000\n  MI_STORE_DATA_IMM addr=0, data=1, dat=2`,
        "3:37: MI_STORE_DATA_IMM has no field 'dat' (fields: qword, ggtt, core_mode_enable, addr, data)",
      ],
      [
        'missing field',
        `${MAP}.batch b, 0x100000\n  MI_STORE_REGISTER_MEM addr=0`,
        '3:3: MI_STORE_REGISTER_MEM needs reg=',
      ],
      [
        'value too wide',
        `${MAP}.batch b, 0x100000\n  MI_STORE_DATA_IMM addr=1 << 48, data=1`,
        '3:26: MI_STORE_DATA_IMM addr=0x1000000000000 does not fit a 48-bit address',
      ],
      ['negative field', `${MAP}.batch b, 0x100000\n  MI_STORE_DATA_IMM addr=0, data=-1`, '3:34: data=-1 is negative'],
      [
        'duplicate field',
        `${MAP}.batch b, 0x100000\n  MI_STORE_DATA_IMM addr=0, addr=4, data=1`,
        "3:29: field 'addr' is given twice",
      ],
      [
        'bad enum',
        `${MAP}.batch b, 0x100000\n  MI_SEMAPHORE_WAIT addr=0, data=1, op=SOON`,
        "3:40: unknown op 'SOON' for MI_SEMAPHORE_WAIT (GT, GTE, LT, LTE, EQ, NEQ)",
      ],
      [
        'unknown register',
        `${MAP}.batch b, 0x100000\n  MI_LOAD_REGISTER_IMM CS_GPR16=1`,
        "3:24: unknown register 'CS_GPR16'",
      ],
      [
        'misaligned register',
        `${MAP}.batch b, 0x100000\n  MI_LOAD_REGISTER_IMM 0x2602=1`,
        '3:24: register offset 0x2602 is not dword aligned',
      ],
      [
        'LRI without pairs',
        `${MAP}.batch b, 0x100000\n  MI_LOAD_REGISTER_IMM`,
        '3:3: MI_LOAD_REGISTER_IMM needs at least one REGISTER=value pair',
      ],
      [
        'undefined name',
        `${MAP}.batch b, 0x100000\n  MI_BATCH_BUFFER_START addr=nowhere`,
        "3:30: undefined name 'nowhere'",
      ],
      ['division by zero', `${MAP}.data 0x100000\n dword 1 / (2 - 2)`, '3:10: division by zero'],
      ['bad shift', `${MAP}.data 0x100000\n dword 1 << 200`, '3:10: shift count 200 is outside 0..127'],
      ['out of range data', `${MAP}.data 0x100000\n byte 256`, '3:7: byte 0x100 is outside -0x80..0xff'],
      ['malformed number', `${MAP}.data 0x100000\n dword 12ab`, "3:8: malformed number '12ab'"],
      ['unexpected character', `${MAP}.data 0x100000\n dword 1 # 2`, "3:10: unexpected character '#'"],
      ['unterminated string', `${MAP}.data 0x100000\n ascii "abc`, '3:8: unterminated string'],
      ['unclosed paren', `${MAP}.data 0x100000\n dword (1 + 2`, "3:14: expected ')' to close the '(' at column 8"],
      ['trailing junk', `${MAP}.data 0x100000\n dword 1 2`, "3:10: expected ',' or the end of the line, found '2'"],
      ['command outside a stream', `${MAP}MI_NOOP`, '2:1: command outside any .ring or .batch'],
      ['data outside .data', `${MAP}dword 1`, "2:1: 'dword' outside a .data block"],
      ['command in .data', `${MAP}.data 0x100000\n MI_NOOP`, '3:2: commands belong in a .batch or .ring, not in .data'],
      ['label outside', `${MAP}here: .wait all`, "2:1: label 'here' is outside any .batch, .ring or .data block"],
      ['duplicate label', `${MAP}.batch b, 0x100000\nx: MI_NOOP\nX: MI_NOOP`, "4:1: 'X' is already defined on line 3"],
      [
        'reserved label',
        `${MAP}.batch b, 0x100000\nmirror: MI_NOOP`,
        "3:1: 'mirror' is a reserved name (MIRROR); choose another",
      ],
      [
        'register label',
        `${MAP}.batch b, 0x100000\ncs_gpr3: MI_NOOP`,
        "3:1: 'cs_gpr3' is a reserved name (a register); choose another",
      ],
      [
        'unknown directive',
        `.mapp 0, 0, 4K, rw`,
        "1:1: unknown directive '.mapp' (.vm .map .pml4 .ggtt .data .incbin .fill .surface .batch .ring .submit .wait .mmio .eptp .write .context .dword)",
      ],
      [
        'directive named like an Object property',
        `.constructor 1`,
        "1:1: unknown directive '.constructor' (.vm .map .pml4 .ggtt .data .incbin .fill .surface .batch .ring .submit .wait .mmio .eptp .write .context .dword)",
      ],
      [
        'wrong argument count',
        `.map 0, 0, 4K`,
        '1:1: .map takes 4 to 5 arguments: .map VA, GPA, SIZE, rw|ro [, page=4K|2M|1G]',
      ],
      ['bad access', `.map 0, 0, 4K, rwx`, '1:16: expected the access: rw, ro'],
      ['bad page size', `.map 0, 0, 4K, rw, page=8K`, '1:25: page size 0x2000 is not 4K, 2M or 1G'],
      ['misaligned map', `.map 0x1000, 0, 2M, rw, page=2M`, '1:6: VA 0x1000 is not aligned to the 2M page size'],
      [
        'overlapping maps',
        `.map 0, 0, 8K, rw\n.map 0x1000, 0x10000, 4K, rw`,
        '2:6: VA range [0x1000, 0x2000) overlaps the mapping on line 1 [0x0, 0x2000)',
      ],
      [
        'map over the page tables',
        `.map 0, 0xfffe000, 8K, rw`,
        '1:1: .map GPA range [0xfffe000, 0x10000000) overlaps the page tables and rings the assembler allocated at the top of guest RAM [0xfffc000, 0x10000000)',
      ],
      [
        'data over the page tables (through the mirror)',
        `.map 0, MIRROR + 0xff00000, 1M, rw\n.data 0xff000\n dword 1`,
        '2:1: .data at line 2 overlaps the page tables and rings the assembler allocated at the top of guest RAM [0xfffc000, 0x10000000)',
      ],
      [
        'unmapped batch',
        `.batch b, 0x5000\n MI_NOOP`,
        '1:1: .batch b [0x5000, 0x5004): VA 0x5000 is not mapped (no .map covers it)',
      ],
      [
        'batch beyond RAM',
        `.map 0, 0x20000000, 4K, rw\n.batch b, 0\n MI_NOOP`,
        '2:1: .batch b [0x0, 0x4): VA 0x0 maps to GPA 0x20000000, outside guest RAM (0x10000000 bytes)',
      ],
      [
        'overlapping batches',
        `${MAP}.batch a, 0x100000\n MI_NOOP\n MI_NOOP\n.batch b, 0x100004\n MI_NOOP`,
        '5:1: .batch b [0x100004, 0x100008) overlaps .batch a (line 2) [0x100000, 0x100008)',
      ],
      [
        'aliased data',
        `${MAP}.map 0x400000, 0x100000, 4K, rw\n.data 0x100000\n dword 1\n.data 0x400000\n dword 2`,
        '5:1: .data at line 5 shares guest RAM with .data at line 3 (line 3) through another mapping',
      ],
      [
        'unmapped ring',
        `.ring rcs0, 0x10000, 4K\n MI_NOOP\n.submit rcs0`,
        '1:1: the rcs0 ring at 0x10000: VA 0x10000 is not mapped (no .map covers it)',
      ],
      [
        'ring not contiguous',
        `.map 0x10000, 0x40000, 4K, rw\n.map 0x11000, 0x80000, 4K, rw\n.ring rcs0, 0x10000, 8K`,
        '3:1: the rcs0 ring is not GPA-contiguous: VA 0x11000 maps to GPA 0x80000, expected 0x41000',
      ],
      ['ring above 4 GiB', `.ring rcs0, 0x100000000, 4K`, '1:13: ring VA 0x100000000 is outside 0x0..0xffffffff'],
      ['ring size', `.ring rcs0, 0x10000, 6K`, '1:22: ring size 0x1800 is not a multiple of 4K'],
      ['ring too big', `.ring rcs0, 0x10000, 4M`, '1:22: ring size 0x400000 is outside 0x1000..0x200000'],
      [
        'ring redefined',
        `${MAP}.ring rcs0\n.ring rcs0, 0x100000, 4K`,
        '3:13: the rcs0 ring is already defined on line 2 at 0xfff00000 (0x4000 bytes)',
      ],
      [
        'ring overflow',
        `.map 0x10000, 0x40000, 4K, rw\n.ring rcs0, 0x10000, 4K\n .dword ${Array(1024).fill('0').join(',')}\n.submit rcs0`,
        '4:1: 4096 bytes pending do not fit the 0x1000-byte rcs0 ring (at most 4092 per submit)',
      ],
      ['submit without ring', `.submit bcs0`, '1:9: .submit bcs0 before any .ring bcs0'],
      ['bad engine', `.wait rcs1`, '1:7: expected an engine or all: rcs0, bcs0, all'],
      ['bad view', `.eptp partial`, '1:7: expected an EPT view: full, restricted'],
      ['misaligned mmio', `.mmio 0x2602, 1`, '1:7: register offset 0x2602 is not dword aligned'],
      [
        'vm option',
        `.vm memroy=1G`,
        "1:5: unknown .vm option 'memroy' (memory, physBits, isolation, version, pool, gen, unmodelled, unmapped)",
      ],
      ['vm duplicate', `.vm version=2\n.vm version=3`, '2:5: .vm version is already set on line 1'],
      ['vm version', `.vm version=4`, '1:13: version 0x4 is outside 0x1..0x3'],
      [
        'isolation without the version',
        `.vm version=1 isolation=on`,
        '1:15: isolation=on needs device version 2 or later (version=1)',
      ],
      [
        'memory beyond physBits',
        `.vm memory=64G physBits=32`,
        '1:5: memory 68719476736 (.vm) must be a multiple of 4K between 64K and 2^physBits (0x100000000)',
      ],
      [
        'forward reference in layout',
        `${MAP}.batch b, later\n MI_NOOP\n.data 0x100800\nlater: dword 0`,
        "2:11: 'later' is defined later (line 5); this value must be known here",
      ],
      ['surface pitch', `.surface s, 0, 16, 16, 32`, '1:24: pitch 32 is less than WIDTH*4 = 64'],
      ['fill misaligned', `${MAP}.fill 0x100001, 8, 0`, '2:7: fill VA 0x100001 is not dword aligned'],
      ['ascii of a number', `${MAP}.data 0x100000\n ascii 5`, '3:8: ascii takes "strings"'],
      ['dotted label', `${MAP}.batch b, 0x100000\na.b: MI_NOOP`, "3:1: label 'a.b' may not contain '.'"],
      ['key where a value is expected', `${MAP}.data x=0x100000`, "2:7: unexpected '=' here"],
    ];
    for (const [what, src, expected] of cases) {
      it(`reports ${what}`, () => assert.equal(oneError(src), expected));
    }

    it('reports every error of a program, with file, line and column, sorted', () => {
      const src = `${MAP}.batch b, 0x100000\n  MI_FOO\n  MI_STORE_DATA_IMM addr=x, data=1\n  dword 1\n.wait nobody\n.bogus`;
      const r = assembleSource(src, { file: 'prog.vgpu' });
      assert.equal(r.image, undefined);
      assert.deepEqual(
        r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}`),
        ['prog.vgpu:3:3', 'prog.vgpu:4:26', 'prog.vgpu:5:3', 'prog.vgpu:6:7', 'prog.vgpu:7:1'],
      );
      assert.throws(
        () => assemble(src, { file: 'prog.vgpu' }),
        (e: unknown) =>
          e instanceof AssemblyError &&
          e.diagnostics.length === 5 &&
          e.message.split('\n')[0] === "prog.vgpu:3:3: error: unknown command 'MI_FOO'",
      );
    });

    it('does not cascade errors after a broken .batch line', () => {
      const e = errors(
        `${MAP}.batch b, 0x100000 +\n  MI_NOOP\nl: MI_NOOP\n.batch c, 0x100100\n  MI_BATCH_BUFFER_START addr=l`,
      );
      assert.deepEqual(
        e.map((d) => d.line),
        [2],
      );
    });

    it('gives an end column for token-sized errors', () => {
      const [d] = errors(`${MAP}.batch b, 0x100000\n  MI_STORE_DATA_IMM addr=nowhere, data=1`);
      assert.deepEqual([d.col, d.endCol], [26, 33]);
    });
  });

  describe('fuzz', () => {
    const SAMPLES = [
      `.vm memory=64M physBits=39 isolation=on version=3
.map 0x100000, 0x100000, 256K, rw
.map 0x200000, MIRROR + 0x140000, 16K, ro
.surface fb, 0x120000, 16, 16
.data 0x110000
counter: dword 0, 1, 0xffff_ffff
msg: ascii "hello\\n"
     qword (1 << 40) | 5, -2
.fill 0x130000, 64, 0xdeadbeef
.batch main, 0x100000
  MI_STORE_DATA_IMM addr=counter, data=42
  MI_LOAD_REGISTER_IMM CS_GPR0=1, bcs0.CS_GPR1=2, 0x2608=3
  MI_ATOMIC op=ADD, addr=counter + 4, data=5
  MI_SEMAPHORE_WAIT addr=counter, data=42, op=GTE
  MI_BATCH_BUFFER_START addr=sub, second_level=1
done: MI_BATCH_BUFFER_END
.batch sub, 0x100800, bcs0
  XY_COLOR_BLT dst=fb, x1=0, y1=0, x2=16, y2=16, color=0xff00ff00
  MI_FLUSH_DW invalidate_tlb=1, addr=counter, data=7
  MI_BATCH_BUFFER_END
.ring rcs0
  MI_BATCH_BUFFER_START addr=main
  PIPE_CONTROL post_sync=write, addr=counter, data=1
.submit rcs0
.wait all
.mmio CS_GPR2, 0x55
.eptp restricted, bcs0
`,
      `.map 0x10000, 0x40000, 8K, rw
.ring bcs0, 0x10000, 8K   ; explicit ring
start: MI_NOOP
  XY_SRC_COPY_BLT dst=0x20000, pitch=64, x1=0, y1=0, x2=4, y2=4, src=0x30000, src_pitch=64, sx=0, sy=0
  .dword 0x05000000, -1, 3 * (4 + 5)
.submit bcs0
.wait bcs0
`,
    ];

    const CHARS = ' ,=:;.()+-*/%<>&|^~"\\\n\t0123456789abcdefxKMGzZ_$#';

    function mutate(src: string, rnd: () => number): string {
      const pick = (n: number) => Math.floor(rnd() * n);
      let s = src;
      const edits = 1 + pick(4);
      for (let k = 0; k < edits; k++) {
        const tokens = s.split(/(\s+|[,=:()])/);
        const i = pick(Math.max(1, s.length));
        switch (pick(8)) {
          case 0:
            s = s.slice(0, i) + s.slice(i + 1);
            break;
          case 1:
            s = s.slice(0, i) + s[i] + s.slice(i);
            break;
          case 2:
            s = s.slice(0, i) + (s[i + 1] ?? '') + (s[i] ?? '') + s.slice(i + 2);
            break;
          case 3:
            s = s.slice(0, i) + CHARS[pick(CHARS.length)] + s.slice(i);
            break;
          case 4:
            tokens.splice(pick(tokens.length), 1);
            s = tokens.join('');
            break;
          case 5: {
            const t = pick(tokens.length);
            tokens.splice(t, 0, tokens[t]);
            s = tokens.join('');
            break;
          }
          case 6: {
            const a = pick(tokens.length);
            const b = pick(tokens.length);
            [tokens[a], tokens[b]] = [tokens[b], tokens[a]];
            s = tokens.join('');
            break;
          }
          default: {
            const lines = s.split('\n');
            const a = pick(lines.length);
            lines.splice(pick(lines.length), 0, lines[a]);
            s = lines.join('\n');
          }
        }
      }
      return s;
    }

    it('the samples assemble cleanly', () => {
      for (const s of SAMPLES) assert.deepEqual(errors(s), []);
    });

    it('assembleSource never throws and keeps every diagnostic inside the file', function () {
      this.timeout(20000);
      const rnd = mulberry32(0x5eed);
      const deadline = Date.now() + 4000;
      let runs = 0;
      for (; runs < 3000 && Date.now() < deadline; runs++) {
        const src = mutate(SAMPLES[runs % SAMPLES.length], rnd);
        const lines = splitLines(src);
        let r;
        try {
          r = assembleSource(src, { file: 'fuzz.vgpu' });
        } catch (e) {
          assert.fail(`assembleSource threw ${String(e)} on:\n${src}`);
        }
        for (const d of r.diagnostics) {
          assert.ok(!d.message.startsWith('internal'), `${d.message} on:\n${src}`);
          assert.ok(d.line >= 1 && d.line <= lines.length, `line ${d.line} outside the file: ${d.message}`);
          const len = lines[d.line - 1].length;
          assert.ok(d.col >= 1 && d.col <= len + 1, `col ${d.col} outside line ${d.line} (${len} chars): ${d.message}`);
          if (d.endCol !== undefined)
            assert.ok(
              d.endCol > d.col && d.endCol <= len + 1,
              `endCol ${d.endCol} col ${d.col} line ${d.line} (${len} chars): ${d.message}\n${src}`,
            );
        }
        assert.equal(
          r.image === undefined,
          r.diagnostics.some((d) => d.severity === 'error'),
        );
      }
      assert.ok(runs >= 200, `only ${runs} fuzz runs`);
    });

    it('survives hostile input', () => {
      const hostile = [
        '('.repeat(10000) + '1',
        '-'.repeat(100000) + '1',
        '9'.repeat(5000),
        '"' + 'a'.repeat(1000),
        '\u0000\uffff\ud800',
        '.batch',
        ':',
        'a:b:c:',
        '1+'.repeat(50000) + '1',
        '(1+'.repeat(60) + '1' + ')'.repeat(60),
      ];
      for (const h of hostile) {
        for (const src of [h, `${MAP}.data 0x100000\n dword ${h}`]) {
          const r = assembleSource(src, { file: 'h.vgpu' });
          assert.ok(r.diagnostics.every((d) => !d.message.startsWith('internal')));
        }
      }
    });
  });

  describe('vgpu asm', () => {
    function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
      const out: string[] = [];
      const err: string[] = [];
      const ow = process.stdout.write;
      const ew = process.stderr.write;
      process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write;
      process.stderr.write = ((s: string) => err.push(s) > 0) as typeof process.stderr.write;
      return fn().then(
        (code) => {
          process.stdout.write = ow;
          process.stderr.write = ew;
          return { code, out: out.join(''), err: err.join('') };
        },
        (e) => {
          process.stdout.write = ow;
          process.stderr.write = ew;
          throw e;
        },
      );
    }
    const dir = mkdtempSync(join(tmpdir(), 'vgpu-asm-'));
    const good = join(dir, 'good.vgpu');
    const bad = join(dir, 'bad.vgpu');
    writeFileSync(
      good,
      `${MAP}.batch b, 0x100000\n  MI_STORE_DATA_IMM addr=0x100800, data=7\n.ring rcs0\n  MI_BATCH_BUFFER_START addr=b\n.submit rcs0\n`,
    );
    writeFileSync(bad, `${MAP}.batch b, 0x100000\n\tMI_STORE_DATA_IMM addr=nowhere, data=7\n  MI_NOP\n`);

    it('prints a listing', async () => {
      const r = await capture(() => asmMain([good]));
      assert.equal(r.code, 0);
      assert.equal(
        r.out,
        [
          '0x000000100000       10000002 00100800 00000000 00000007      3: MI_STORE_DATA_IMM addr=0x100800, data=7',
          '0x0000fff00000 rcs0  18800101 00100000 00000000               5: MI_BATCH_BUFFER_START addr=b',
          '',
        ].join('\n'),
      );
    });

    it('prints JSON with --json', async () => {
      const r = await capture(() => asmMain([good, '--json']));
      assert.deepEqual(JSON.parse(r.out), [
        {
          va: 0x100000,
          dwords: [0x10000002, 0x100800, 0, 7],
          line: 3,
          text: 'MI_STORE_DATA_IMM addr=0x100800, data=7',
        },
        { va: 0xfff00000, dwords: [0x18800101, 0x100000, 0], line: 5, text: 'MI_BATCH_BUFFER_START addr=b' },
      ]);
    });

    it('prints every error with its source line and a caret, exit 2', async () => {
      const r = await capture(() => asmMain([bad]));
      assert.equal(r.code, 2);
      assert.equal(r.out, '');
      assert.equal(
        r.err,
        [
          `${bad}:3:25: error: undefined name 'nowhere'`,
          '\tMI_STORE_DATA_IMM addr=nowhere, data=7',
          '\t                       ^~~~~~~',
          `${bad}:4:3: error: unknown command 'MI_NOP'`,
          '  MI_NOP',
          '  ^~~~~~',
          '',
        ].join('\n'),
      );
    });

    it('a missing file is a usage error', async () => {
      await assert.rejects(
        () => asmMain([join(dir, 'missing.vgpu')]),
        (e: unknown) => e instanceof UsageError && /missing\.vgpu: no such file/.test(e.message),
      );
    });
  });
});
