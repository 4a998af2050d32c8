// Unit tests of the disassembler: the syntax it prints, raw `.dword` fallbacks, and the round trip
// encode -> disassemble -> assemble that proves the assembler and disassembler agree with the command table.

import * as assert from 'node:assert/strict';
import { assemble } from '../../emulator/assembler';
import { UsageError } from '../../emulator/cli/args';
import { main as disasmMain } from '../../emulator/cli/disasm';
import {
  COMMANDS,
  DEFAULT_GEN,
  EncodeError,
  GENS,
  commandByMnemonic,
  commandsOf,
  encodeCommand,
  type CmdField,
  type CommandDef,
  type Gen,
} from '../../emulator/commands';
import { disassemble, disassembleOne } from '../../emulator/disassembler';
import { REGISTERS, type EngineName } from '../../emulator/registers';
import { mulberry32 } from '../helpers/prng';

/** The assembler speaks gen9 (the device default), gen8 after `.vm gen=8`. */
const GEN9 = commandsOf(9);

function enc(mnemonic: string, fields: Record<string, number | bigint> = {}, pairs: [number, number][] = []): number[] {
  const def = commandByMnemonic(mnemonic)!;
  return encodeCommand(def, new Map(Object.entries(fields).map(([k, v]) => [k, BigInt(v)])), pairs);
}

function text(dwords: number[], engine?: EngineName): string[] {
  return disassemble(dwords, { engine }).map((l) => l.text);
}

/** Assembles lines inside a `.batch` of `engine` (for `gen`'s layouts) and returns the dwords it emitted. */
function reassemble(lines: readonly string[], engine?: EngineName, gen?: Gen): number[] {
  const src = `${gen ? `.vm gen=${gen}\n` : ''}.map 0x100000, 0x100000, 1M, rw\n.batch b, 0x100000${engine ? `, ${engine}` : ''}\n${lines.join('\n')}\n`;
  const img = assemble(src, { file: 'roundtrip.vgpu' });
  const out = img.listing.flatMap((l) => l.dwords);
  // The batch really is in guest RAM, where the listing says.
  const page = img.pages.get(0x100);
  if (out.length) assert.deepEqual(Array.from(page!.slice(0, Math.min(out.length, 1024))), out.slice(0, 1024));
  return out;
}

const rand = (rnd: () => number, bits: number): bigint => {
  let v = 0n;
  for (let b = 0; b < bits; b += 16) v |= BigInt(Math.floor(rnd() * 0x10000)) << BigInt(b);
  return v & ((1n << BigInt(bits)) - 1n);
};

function randomValue(f: CmdField, rnd: () => number): bigint {
  switch (f.kind) {
    case 'enum':
      return rnd() < 0.8 && f.values
        ? BigInt(Object.values(f.values)[Math.floor(rnd() * Object.values(f.values).length)])
        : rand(rnd, f.hi - f.lo + 1);
    case 'reg':
      return rnd() < 0.6 ? BigInt(REGISTERS[Math.floor(rnd() * REGISTERS.length)].mmio) : rand(rnd, 23) & 0x7ffffcn;
    case 'addr':
      return (rnd() < 0.3 ? rand(rnd, 32) : rand(rnd, 48)) & ~((1n << BigInt(f.lo)) - 1n);
    case 'offset':
      return rand(rnd, f.hi - f.lo + 1) << BigInt(f.lo);
    default:
      return rnd() < 0.2 ? BigInt(f.default ?? 0) : rand(rnd, f.hi - f.lo + 1);
  }
}

/** A random valid encoding of a command (random fields, some omitted). */
function randomCommand(def: CommandDef, rnd: () => number): number[] {
  for (;;) {
    const fields = new Map<string, bigint>();
    for (const f of def.fields) if (f.required || rnd() < 0.5) fields.set(f.name, randomValue(f, rnd));
    const pairs: [number, number][] = [];
    if (def.length.kind === 'pairs') {
      const n = 1 + Math.floor(rnd() * 5);
      for (let i = 0; i < n; i++)
        pairs.push([
          Number(randomValue({ name: 'r', xml: '', dw: 0, lo: 2, hi: 22, kind: 'reg', desc: '' }, rnd)),
          Number(rand(rnd, 32)),
        ]);
    }
    try {
      return encodeCommand(def, fields, pairs);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
    }
  }
}

describe('disassembler', () => {
  describe('syntax', () => {
    it('prints one-dword commands by mnemonic', () => {
      assert.deepEqual(text([0, 0x01000000, 0x02800000, 0x05000000]), [
        'MI_NOOP',
        'MI_USER_INTERRUPT',
        'MI_ARB_CHECK',
        'MI_BATCH_BUFFER_END',
      ]);
    });

    it('prints required fields and fields off their default, addresses in hex', () => {
      assert.deepEqual(text(enc('MI_STORE_DATA_IMM', { addr: 0x1000, data: 42 })), [
        'MI_STORE_DATA_IMM addr=0x1000, data=42',
      ]);
      assert.deepEqual(text(enc('MI_STORE_DATA_IMM', { addr: 0x1000, data: 2n ** 40n, qword: 1 })), [
        'MI_STORE_DATA_IMM qword=1, addr=0x1000, data=0x10000000000',
      ]);
      assert.deepEqual(text(enc('MI_SEMAPHORE_WAIT', { addr: 0x2000, data: 1 })), [
        'MI_SEMAPHORE_WAIT data=1, addr=0x2000',
      ]);
      assert.deepEqual(text(enc('MI_SEMAPHORE_WAIT', { addr: 0x2000, data: 1, op: 1 })), [
        'MI_SEMAPHORE_WAIT op=GTE, data=1, addr=0x2000',
      ]);
      assert.deepEqual(text(enc('MI_BATCH_BUFFER_START', { addr: 0x100000, second_level: 1 })), [
        'MI_BATCH_BUFFER_START second_level=1, addr=0x100000',
      ]);
      assert.deepEqual(text(enc('PIPE_CONTROL', { post_sync: 3, addr: 0x3000 })), [
        'PIPE_CONTROL post_sync=timestamp, addr=0x3000',
      ]);
      assert.deepEqual(
        text(enc('XY_COLOR_BLT', { dst: 0x110000, pitch: 256, x1: 0, y1: 0, x2: 64, y2: 64, color: 0xff00ff00 })),
        ['XY_COLOR_BLT pitch=256, x1=0, y1=0, x2=64, y2=64, dst=0x110000, color=0xff00ff00'],
      );
    });

    it('prints implied and length-selecting fields only when they differ from what the assembler would infer', () => {
      assert.deepEqual(text(enc('MI_FLUSH_DW', { addr: 0x1000, data: 5 })), ['MI_FLUSH_DW addr=0x1000, data=5']);
      assert.deepEqual(text(enc('MI_FLUSH_DW', { addr: 0x1000, post_sync: 0 })), [
        'MI_FLUSH_DW post_sync=none, addr=0x1000',
      ]);
      assert.deepEqual(text(enc('MI_FLUSH_DW', { invalidate_tlb: 1 })), ['MI_FLUSH_DW invalidate_tlb=1']);
      assert.deepEqual(text(enc('MI_ATOMIC', { op: 7, addr: 0x1000, data: 5 })), [
        'MI_ATOMIC op=ADD, addr=0x1000, data=5',
      ]);
      assert.deepEqual(text(enc('MI_ATOMIC', { op: 7, addr: 0x1000, inline: 1 })), [
        'MI_ATOMIC op=ADD, inline=1, addr=0x1000',
      ]);
      assert.deepEqual(text(enc('MI_ATOMIC', { op: 5, addr: 0x1000 })), ['MI_ATOMIC op=INC, addr=0x1000']);
    });

    it('prints registers by name, prefixed unless they belong to the context engine', () => {
      const lri = enc('MI_LOAD_REGISTER_IMM', {}, [
        [0x22600, 1],
        [0x2604, 0x12345678],
        [0x4408, 0],
        [0x3000, 7],
      ]);
      assert.deepEqual(text(lri, 'bcs0'), [
        'MI_LOAD_REGISTER_IMM CS_GPR0=1, rcs0.CS_GPR0_UDW=0x12345678, FAULT_STATUS=0, 0x3000=7',
      ]);
      assert.deepEqual(text(lri), [
        'MI_LOAD_REGISTER_IMM bcs0.CS_GPR0=1, rcs0.CS_GPR0_UDW=0x12345678, FAULT_STATUS=0, 0x3000=7',
      ]);
      assert.deepEqual(text(enc('MI_LOAD_REGISTER_REG', { src: 0x2600, dst: 0x260c }), 'rcs0'), [
        'MI_LOAD_REGISTER_REG src=CS_GPR0, dst=CS_GPR1_UDW',
      ]);
      // The high dword of a 64-bit capability register has no name of its own.
      assert.deepEqual(text(enc('MI_STORE_REGISTER_MEM', { reg: 0x10000c, addr: 0 })), [
        'MI_STORE_REGISTER_MEM reg=0x10000c, addr=0x0',
      ]);
    });

    it('prints undecodable dwords as .dword with the reason', () => {
      assert.deepEqual(text([0xdeadbeef]), ['.dword 0xdeadbeef ; unknown command']);
      assert.deepEqual(text([0x10000007]), [
        '.dword 0x10000007 ; MI_STORE_DATA_IMM is 4 dwords, header DWord Length says 9',
      ]);
      assert.deepEqual(text([0x10000002, 0x1000]), [
        '.dword 0x10000002 ; MI_STORE_DATA_IMM needs 4 dwords, only 2 available',
        'MI_NOOP identification_number=0x1000',
      ]);
      assert.deepEqual(text([0x10000002, 0x1000, 0xffff0000, 42]), [
        '.dword 0x10000002, 0x00001000, 0xffff0000, 0x0000002a ; MI_STORE_DATA_IMM with reserved bits set',
      ]);
      assert.deepEqual(text([0x11000002]), [
        '.dword 0x11000002 ; MI_LOAD_REGISTER_IMM needs an odd length of at least 3 dwords, header says 4',
      ]);
      assert.deepEqual(text([0x11000001, 0x2601, 0]), [
        '.dword 0x11000001, 0x00002601, 0x00000000 ; MI_LOAD_REGISTER_IMM with reserved bits set',
      ]);
    });

    it('reports offsets, lengths and VAs', () => {
      const lines = disassemble([0, ...enc('MI_STORE_DATA_IMM', { addr: 4, data: 1 }), 0xdeadbeef], { va: 0x1000 });
      assert.deepEqual(
        lines.map((l) => [l.offset, l.length, l.va]),
        [
          [0, 1, 0x1000],
          [1, 4, 0x1004],
          [5, 1, 0x1014],
        ],
      );
      assert.deepEqual(disassembleOne([0x05000000, 0], 0), { length: 1, text: 'MI_BATCH_BUFFER_END' });
      assert.deepEqual(disassemble([]), []);
    });
  });

  describe('round trip', () => {
    const ROUNDS = 24;

    for (const gen of GENS) {
      it(`encode -> disassemble -> assemble gives the same dwords for every gen${gen} command (${ROUNDS} random encodings each)`, () => {
        const rnd = mulberry32(0xc0ffee + gen);
        let cases = 0;
        for (const def of commandsOf(gen)) {
          for (let r = 0; r < ROUNDS; r++, cases++) {
            const dwords = randomCommand(def, rnd);
            const engine = ([undefined, 'rcs0', 'bcs0'] as const)[r % 3];
            const lines = disassemble(dwords, { engine, gen });
            assert.equal(lines.length, 1, `${def.mnemonic}: ${lines.map((l) => l.text).join(' | ')}`);
            assert.ok(lines[0].text.startsWith(def.mnemonic), lines[0].text);
            assert.deepEqual(
              reassemble([lines[0].text], engine, gen === DEFAULT_GEN ? undefined : gen),
              dwords,
              lines[0].text,
            );
          }
        }
        assert.ok(cases >= 400);
      });
    }

    it('every command of both generations round-trips: all 188 table entries', () => {
      assert.equal(new Set(GENS.flatMap((g) => commandsOf(g))).size, COMMANDS.length);
    });

    it('random dword streams (valid, corrupted, truncated, random) survive disassemble -> assemble', () => {
      const rnd = mulberry32(0xbadc0de);
      for (let n = 0; n < 150; n++) {
        const stream: number[] = [];
        const parts = 1 + Math.floor(rnd() * 12);
        for (let p = 0; p < parts; p++) {
          const kind = rnd();
          const cmd = randomCommand(GEN9[Math.floor(rnd() * GEN9.length)], rnd);
          if (kind < 0.45) stream.push(...cmd);
          else if (kind < 0.7) {
            const i = Math.floor(rnd() * cmd.length);
            cmd[i] = (cmd[i] ^ (1 << Math.floor(rnd() * 32))) >>> 0;
            stream.push(...cmd);
          } else if (kind < 0.8) stream.push(...cmd.slice(0, Math.max(1, Math.floor(rnd() * cmd.length))));
          else stream.push(Number(rand(rnd, 32)));
        }
        const engine = ([undefined, 'rcs0', 'bcs0'] as const)[n % 3];
        const lines = disassemble(stream, { engine });
        assert.equal(
          lines.reduce((s, l) => s + l.length, 0),
          stream.length,
        );
        assert.deepEqual(
          reassemble(
            lines.map((l) => l.text),
            engine,
          ),
          stream,
          lines.map((l) => l.text).join('\n'),
        );
      }
    });
  });

  describe('vgpu disasm', () => {
    async function run(argv: string[]): Promise<{ code: number; out: string }> {
      const out: string[] = [];
      const ow = process.stdout.write;
      process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write;
      try {
        const code = await disasmMain(argv);
        return { code, out: out.join('') };
      } finally {
        process.stdout.write = ow;
      }
    }

    it('decodes hex dwords with or without 0x, one command a line', async () => {
      const r = await run(['0x10000002', '1000', '0', '2A', '05000000', '0xdeadbeef']);
      assert.equal(r.code, 0);
      assert.equal(
        r.out,
        'MI_STORE_DATA_IMM addr=0x1000, data=42\nMI_BATCH_BUFFER_END\n.dword 0xdeadbeef ; unknown command\n',
      );
    });

    it('takes an engine context', async () => {
      const r = await run(['--engine', 'bcs0', '11000001', '22600', '5']);
      assert.equal(r.out, 'MI_LOAD_REGISTER_IMM CS_GPR0=5\n');
    });

    it('rejects a non-hex argument as a usage error (exit 2)', async () => {
      await assert.rejects(
        () => run(['0x1', 'zz']),
        (e: unknown) => e instanceof UsageError && e.message.includes("'zz' is not a hex dword"),
      );
      await assert.rejects(() => run(['123456789']), UsageError);
      await assert.rejects(() => run([]), UsageError);
      await assert.rejects(() => run(['--engine', 'vcs0', '0']), UsageError);
    });
  });
});
