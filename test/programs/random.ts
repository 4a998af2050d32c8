// Seeded random .vgpu programs for property tests: two engines, stores, registers, atomics of every size,
// MI_MATH, predicates, 3D state and draws, blits.

import { prng } from './helpers';

export interface RandomProgramOptions {
  commands?: number;
  submissions?: number;
  /** Include commands that fault (for rollback tests). */
  faults?: boolean;
}

export function randomProgram(seed: number, o: RandomProgramOptions = {}): string {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const n = o.commands ?? 40;
  const subs = o.submissions ?? 2;
  const buf = (i = int(64)) => `buf + ${4 * i}`;
  const hex = () => '0x' + int(0xffffffff).toString(16);
  const lines: string[] = [
    '.vm memory=16M',
    '.map 0x100000, 0x100000, 256K, rw',
    '.surface s, 0x130000, 64, 32',
    '.data 0x120000',
    'buf: ' + 'dword ' + Array.from({ length: 64 }, () => int(100)).join(', '),
  ];
  const reg = () => pick(['REG0', 'REG1', 'REG2', 'REG3', 'REG7', 'REG15']);
  const math = (): string => {
    const ins: string[] = [];
    const n = 1 + int(5);
    for (let i = 0; i < n; i++) {
      const op = pick([
        'LOAD',
        'LOADINV',
        'LOAD0',
        'LOAD1',
        'ADD',
        'SUB',
        'AND',
        'OR',
        'XOR',
        'STORE',
        'STOREINV',
        'NOOP',
      ]);
      if (op.startsWith('LOAD'))
        ins.push(
          `alu_opcode.${i}=${op}, operand_1.${i}=${pick(['SRCA', 'SRCB'])}${op === 'LOAD' || op === 'LOADINV' ? `, operand_2.${i}=${reg()}` : ''}`,
        );
      else if (op.startsWith('STORE'))
        ins.push(
          `alu_opcode.${i}=${op}, operand_1.${i}=${reg()}, operand_2.${i}=${pick(['ACCU', 'ZF', 'CF', 'REG4'])}`,
        );
      else ins.push(`alu_opcode.${i}=${op}`);
    }
    return `MI_MATH ${ins.join(', ')}`;
  };
  const mi = (engine: string): string => {
    const r = int(16);
    const gpr = `CS_GPR${int(16)}`;
    switch (r) {
      case 9:
        return math();
      case 10:
        return `MI_ATOMIC op=${pick(['ADD8B', 'SUB8B', 'CMP_WR8B', 'UMAX8B', 'MOVE8B'])}, size=QWORD, addr=${buf(int(32) * 2)}, return_data=${int(2)}${rnd() < 0.5 ? `, inline=1, data=${int(1000)}, data2=${int(9)}` : ''}`;
      case 11:
        return `MI_ATOMIC op=${pick(['RSUB', 'IMAX', 'IMIN', 'UMAX', 'UMIN', 'CMP_WR', 'PREDEC'])}, addr=${buf()}, return_data=1, inline=1, data=${int(1000)}, data2=${int(50)}`;
      case 12:
        return `MI_ATOMIC op=CMP_WR16B, size=OCTWORD, addr=${buf(int(16) * 4)}, return_data=${int(2)}`;
      case 13:
        return engine === 'rcs0'
          ? `PIPE_CONTROL post_sync=depth, addr=${buf(int(32) * 2)}, cs_stall=1`
          : `MI_FLUSH_DW addr=${buf(int(32) * 2)}, data=${int(99)}, dword_length=2`;
      case 14:
        return `MI_LOAD_REGISTER_IMM MI_PREDICATE_SRC0=${int(3)}, MI_PREDICATE_SRC1=${int(3)}`;
      case 15:
        return engine === 'rcs0' && rnd() < 0.5
          ? pick([
              '3DSTATE_VF_TOPOLOGY primitive_topology_type=TRILIST',
              `3DSTATE_VS kernel_start_pointer=${64 * int(100)}, enable=1`,
              `3DPRIMITIVE predicate_enable=${int(2)}, vertex_count_per_instance=${int(99)}`,
            ])
          : `MI_PREDICATE load=${pick(['KEEP', 'LOAD', 'LOADINV'])}, combine=${pick(['SET', 'AND', 'OR', 'XOR'])}, compare=${pick(['TRUE', 'FALSE', 'SRCS_EQUAL', 'DELTAS_EQUAL'])}`;
      case 0:
        return `MI_STORE_DATA_IMM addr=${buf()}, data=${hex()}`;
      case 1:
        return `MI_LOAD_REGISTER_IMM ${gpr}=${hex()}, CS_GPR${int(16)}=${int(1000)}`;
      case 2:
        return `MI_STORE_REGISTER_MEM reg=${gpr}, addr=${buf()}`;
      case 3:
        return `MI_LOAD_REGISTER_MEM reg=${gpr}, addr=${buf()}`;
      case 4:
        return `MI_ATOMIC op=${pick(['ADD', 'SUB', 'INC', 'DEC', 'AND', 'OR', 'XOR', 'MOVE'])}, addr=${buf()}, data=${int(1000)}`;
      case 5:
        return `MI_COPY_MEM_MEM dst=${buf()}, src=${buf()}`;
      case 6:
        return `MI_STORE_DATA_IMM addr=${buf(int(32) * 2)}, data=${hex()}, qword=1`;
      case 7:
        return engine === 'rcs0'
          ? `PIPE_CONTROL post_sync=${pick(['write', 'timestamp'])}, addr=${buf(int(32) * 2)}, data=${int(99)}`
          : `MI_FLUSH_DW addr=${buf(int(32) * 2)}, data=${int(99)}`;
      default:
        return `MI_LOAD_REGISTER_REG src=${gpr}, dst=CS_GPR${int(16)}`;
    }
  };
  const blit = (): string => {
    const x1 = int(60),
      y1 = int(30);
    const w = 1 + int(64 - x1),
      h = 1 + int(32 - y1);
    if (rnd() < 0.5) return `XY_COLOR_BLT dst=s, x1=${x1}, y1=${y1}, x2=${x1 + w}, y2=${y1 + h}, color=${hex()}`;
    const sx = int(64 - w + 1),
      sy = int(32 - h + 1);
    return `${pick(['XY_SRC_COPY_BLT', 'XY_FAST_COPY_BLT'])} dst=s, x1=${x1}, y1=${y1}, x2=${x1 + w}, y2=${y1 + h}, src=s, sx=${sx}, sy=${sy}`;
  };
  for (let k = 0; k < subs; k++) {
    for (const [engine, base] of [
      ['rcs0', 0x100000],
      ['bcs0', 0x110000],
    ] as const) {
      lines.push(`.batch ${engine}_${k}, 0x${(base + k * 0x2000).toString(16)}, ${engine}`);
      for (let i = 0; i < n / subs / 2; i++) {
        if (o.faults && rnd() < 0.02) lines.push(`MI_STORE_DATA_IMM addr=0x900000, data=1`);
        lines.push(engine === 'bcs0' && rnd() < 0.4 ? blit() : mi(engine));
      }
      lines.push('MI_BATCH_BUFFER_END');
    }
  }
  for (let k = 0; k < subs; k++) {
    for (const engine of ['rcs0', 'bcs0']) {
      lines.push(`.ring ${engine}`, `MI_BATCH_BUFFER_START addr=${engine}_${k}`, `.submit ${engine}`);
    }
    if (rnd() < 0.5) lines.push('.wait all');
  }
  lines.push('.wait all');
  return lines.join('\n') + '\n';
}
