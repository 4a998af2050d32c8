// The MI commands real drivers emit, executed with their gen8/gen9 semantics: MI_MATH's ALU, MI_PREDICATE
// and MI_SET_PREDICATE with predicated draws, every MI_ATOMIC operation and size, the hardware status page
// (MI_STORE_DATA_INDEX, MI_REPORT_HEAD), MI_SEMAPHORE_SIGNAL with signal-mode waits, the two MI_FLUSH_DW
// forms, MI_CONDITIONAL_BATCH_BUFFER_END's compare and two-level end, PIPE_CONTROL's post-sync forms, the
// global GTT and its privilege rule, Byte Write Disables; each also under the write-set soundness check.

import * as assert from 'node:assert/strict';
import { COMMANDS } from '../../emulator/commands';
import { atomic32, atomicOp, atomicOpsOf } from '../../emulator/engine';
import { loadVm } from '../../emulator/program';
import type { Vm } from '../../emulator/vm';
import { prng, runChecked } from './helpers';

const MAP = ['.vm memory=64M', '.map 0x100000, 0x100000, 1M, rw', '.map 0x200000, 0x200000, 64K, rw'];

/** A program: `setup` lines (data, batches), then `ring` lines on rcs0, submitted and waited for. */
function program(ring: string[], setup: string[] = [], engine = 'rcs0'): string {
  return [...MAP, ...setup, `.ring ${engine}`, ...ring, `.submit ${engine}`, `.wait ${engine}`].join('\n') + '\n';
}

function run(src: string, o: { deviceVersion?: number } = {}): Vm {
  const vm = loadVm('cmd.vgpu', { autoRollback: false, ...o }, src);
  vm.run();
  return vm;
}

/** The same program under the soundness check: every byte written was predicted. */
function sound(src: string): void {
  assert.deepEqual(runChecked(loadVm('cmd.vgpu', { autoRollback: false }, src)), []);
}

const dword = (vm: Vm, va: number) => vm.readVa(va, 1)[0]!;
const qword = (vm: Vm, va: number) => BigInt(dword(vm, va)) | (BigInt(dword(vm, va + 4)) << 32n);
const gpr = (vm: Vm, n: number, engine: 'rcs0' | 'bcs0' = 'rcs0') => {
  const e = vm.engine(engine);
  const v = vm.regs.values;
  return BigInt(v[e.slots.gpr0 + 2 * n]) | (BigInt(v[e.slots.gpr0 + 2 * n + 1]) << 32n);
};

/** MI_MATH's instruction list in the language's group-entry syntax. */
function math(...ins: [string, string?, string?][]): string {
  return (
    'MI_MATH ' +
    ins
      .map(([op, a, b], i) =>
        [`alu_opcode.${i}=${op}`, a && `operand_1.${i}=${a}`, b && `operand_2.${i}=${b}`].filter(Boolean).join(', '),
      )
      .join(', ')
  );
}

describe('gen8/gen9 MI command semantics', () => {
  it('MI_MATH: LOAD, ADD, SUB with borrow, AND/OR/XOR, LOADINV, STOREINV, ZF and CF as all ones', () => {
    const ring = [
      'MI_LOAD_REGISTER_IMM CS_GPR0=5, CS_GPR0_UDW=1, CS_GPR1=7',
      math(
        ['LOAD', 'SRCA', 'REG0'],
        ['LOAD', 'SRCB', 'REG1'],
        ['ADD'],
        ['STORE', 'REG2', 'ACCU'],
        ['STORE', 'REG3', 'CF'],
      ),
      math(
        ['LOAD', 'SRCA', 'REG1'],
        ['LOAD', 'SRCB', 'REG0'],
        ['SUB'],
        ['STORE', 'REG4', 'ACCU'],
        ['STORE', 'REG5', 'CF'],
        ['STORE', 'REG6', 'ZF'],
      ),
      math(
        ['LOAD', 'SRCA', 'REG0'],
        ['LOAD', 'SRCB', 'REG0'],
        ['XOR'],
        ['STORE', 'REG7', 'ZF'],
        ['STOREINV', 'REG8', 'ACCU'],
      ),
      math(
        ['LOADINV', 'SRCA', 'REG1'],
        ['LOAD1', 'SRCB'],
        ['AND'],
        ['STORE', 'REG9', 'ACCU'],
        ['LOAD0', 'SRCA'],
        ['LOAD', 'SRCB', 'REG1'],
        ['OR'],
        ['STORE', 'REG10', 'ACCU'],
      ),
    ];
    const vm = run(program(ring));
    assert.deepEqual(vm.errors, []);
    const ones = (1n << 64n) - 1n;
    assert.equal(gpr(vm, 2), 0x1_0000_000cn, 'GPR0 + GPR1');
    assert.equal(gpr(vm, 3), 0n, 'no carry');
    assert.equal(gpr(vm, 4), (7n - 0x1_0000_0005n) & ones, 'GPR1 - GPR0 wraps');
    assert.equal(gpr(vm, 5), ones, 'borrow stores as all ones');
    assert.equal(gpr(vm, 6), 0n, 'not zero');
    assert.equal(gpr(vm, 7), ones, 'x ^ x is zero: ZF all ones');
    assert.equal(gpr(vm, 8), ones, 'STOREINV of 0');
    assert.equal(gpr(vm, 9), 0n, '~7 & 1');
    assert.equal(gpr(vm, 10), 7n, '0 | 7');
    sound(program(ring));
  });

  it('MI_MATH refuses an operand that is not a register, and the disassembler prints it back', () => {
    const vm = run(program([math(['LOAD', 'SRCA', 'SRCB'])]));
    assert.equal(vm.errors[0]?.kind, 'invalid-command');
    assert.match(vm.errors[0].message, /MI_MATH instruction 1 .*operand 2 0x21 is not a register/);
  });

  it('MI_PREDICATE from a memory value: a predicated 3DPRIMITIVE runs only when the predicate holds', () => {
    const draw = '3DPRIMITIVE predicate_enable=1, vertex_count_per_instance=3, instance_count=1';
    const prog = (value: number) =>
      program(
        [
          `MI_LOAD_REGISTER_MEM reg=MI_PREDICATE_SRC0, addr=flag`,
          'MI_LOAD_REGISTER_IMM MI_PREDICATE_SRC0_UDW=0, MI_PREDICATE_SRC1=0, MI_PREDICATE_SRC1_UDW=0',
          // predicate = !(SRC0 == SRC1): draw when the flag is non-zero (Mesa's conditional rendering)
          'MI_PREDICATE load=LOADINV, combine=SET, compare=SRCS_EQUAL',
          draw,
          '3DPRIMITIVE vertex_count_per_instance=3, instance_count=1',
        ],
        ['.data 0x200000', `flag: dword ${value}`],
      );
    const on = run(prog(1)).result();
    assert.deepEqual(on.notEmulated, { '3DPRIMITIVE': 2 });
    assert.equal(on.commandCounts['3DPRIMITIVE'], 2);
    const off = run(prog(0)).result();
    assert.deepEqual(off.notEmulated, { '3DPRIMITIVE': 1 }, 'the predicated draw retires without running');
    assert.equal(off.commandCounts['3DPRIMITIVE'], 2);
    const vm = run(prog(0));
    assert.equal(vm.regs.read(0x2418), 0, 'MI_PREDICATE_RESULT');
  });

  it('MI_PREDICATE combines: AND, OR, XOR with the previous result; DELTAS_EQUAL keeps the delta', () => {
    const prog = [
      'MI_LOAD_REGISTER_IMM MI_PREDICATE_SRC0=3, MI_PREDICATE_SRC1=3',
      'MI_PREDICATE load=LOAD, combine=SET, compare=SRCS_EQUAL', // 1
      'MI_PREDICATE load=LOAD, combine=AND, compare=FALSE', // 1 & 0 = 0
      'MI_STORE_REGISTER_MEM reg=MI_PREDICATE_RESULT, addr=0x200000',
      'MI_PREDICATE load=LOAD, combine=OR, compare=TRUE', // 0 | 1 = 1
      'MI_STORE_REGISTER_MEM reg=MI_PREDICATE_RESULT, addr=0x200004',
      'MI_PREDICATE load=LOAD, combine=XOR, compare=TRUE', // 1 ^ 1 = 0
      'MI_STORE_REGISTER_MEM reg=MI_PREDICATE_RESULT, addr=0x200008',
      'MI_LOAD_REGISTER_IMM MI_PREDICATE_SRC0=10, MI_PREDICATE_SRC1=4',
      'MI_PREDICATE load=LOAD, combine=SET, compare=DELTAS_EQUAL', // delta 6 vs 0: false, keeps 6
      'MI_STORE_REGISTER_MEM reg=MI_PREDICATE_RESULT, addr=0x20000c',
      'MI_LOAD_REGISTER_IMM MI_PREDICATE_SRC0=16, MI_PREDICATE_SRC1=10',
      'MI_PREDICATE load=LOAD, combine=SET, compare=DELTAS_EQUAL', // delta 6 again: true
      'MI_STORE_REGISTER_MEM reg=MI_PREDICATE_RESULT, addr=0x200010',
      'MI_STORE_REGISTER_MEM reg=MI_PREDICATE_DATA, addr=0x200014',
    ];
    const vm = run(program(prog));
    assert.deepEqual(vm.errors, []);
    assert.deepEqual(
      [0, 4, 8, 12, 16, 20].map((o) => dword(vm, 0x200000 + o)),
      [0, 1, 0, 0, 1, 6],
    );
  });

  it('MI_SET_PREDICATE makes the following commands no-ops while its condition holds', () => {
    const prog = [
      'MI_LOAD_REGISTER_IMM MI_PREDICATE_RESULT_1=0',
      'MI_SET_PREDICATE enable=NOOP_On_Result_Clear',
      'MI_STORE_DATA_IMM addr=0x200000, data=1', // NOOPed: result 1 is clear
      'MI_SET_PREDICATE enable=NOOP_Never',
      'MI_STORE_DATA_IMM addr=0x200004, data=2',
      'MI_SET_PREDICATE enable=NOOP_Always',
      'MI_STORE_DATA_IMM addr=0x200008, data=3',
      'MI_SET_PREDICATE enable=NOOP_Never',
    ];
    const vm = run(program(prog));
    assert.deepEqual(vm.errors, []);
    assert.deepEqual(
      [0, 4, 8].map((o) => dword(vm, 0x200000 + o)),
      [0, 2, 0],
    );
    sound(program(prog));
  });

  it('MI_ATOMIC: every dword operation, inline or from CS_GPR0, with Return Data Control into CS_GPR4', () => {
    const cases: [string, number, number, number][] = [
      // op, memory before, operand, memory after
      ['AND', 0b1100, 0b1010, 0b1000],
      ['OR', 0b1100, 0b1010, 0b1110],
      ['XOR', 0b1100, 0b1010, 0b0110],
      ['MOVE', 5, 9, 9],
      ['INC', 5, 0, 6],
      ['DEC', 0, 0, 0xffffffff],
      ['ADD', 0xffffffff, 2, 1],
      ['SUB', 5, 7, 0xfffffffe],
      ['RSUB', 5, 7, 2],
      ['IMAX', 0xffffffff, 1, 1],
      ['IMIN', 0xffffffff, 1, 0xffffffff],
      ['UMAX', 0xffffffff, 1, 0xffffffff],
      ['UMIN', 0xffffffff, 1, 1],
      ['PREDEC', 3, 0, 2],
    ];
    for (const inline of [true, false]) {
      const ring = cases.flatMap(([op, , operand], i) => [
        ...(inline ? [] : [`MI_LOAD_REGISTER_IMM CS_GPR0=${operand}`]),
        `MI_ATOMIC op=${op}, addr=${0x200000 + 4 * i}, return_data=1${inline ? `, inline=1, data=${operand}` : ''}`,
        `MI_STORE_REGISTER_MEM reg=CS_GPR4, addr=${0x201000 + 4 * i}`,
      ]);
      const setup = ['.data 0x200000', `dword ${cases.map((c) => c[1]).join(', ')}`];
      const vm = run(program(ring, setup), { deviceVersion: 3 });
      assert.deepEqual(vm.errors, []);
      cases.forEach(([op, before, , after], i) => {
        assert.equal(dword(vm, 0x200000 + 4 * i), after >>> 0, `${op} (${inline ? 'inline' : 'CS_GPR0'})`);
        assert.equal(dword(vm, 0x201000 + 4 * i), before >>> 0, `${op} returns the old value`);
      });
      sound(program(ring, setup));
    }
  });

  it('MI_ATOMIC: the dword operations in plain numbers equal their 32-bit BigInt definition', () => {
    const rnd = prng(32);
    const edges = [0, 1, 2, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff];
    const values = [...edges, ...Array.from({ length: 40 }, () => Math.floor(rnd() * 2 ** 32))];
    for (const def of COMMANDS.filter((d) => d.mnemonic === 'MI_ATOMIC')) {
      const A = atomicOpsOf(def);
      for (const [name, op] of Object.entries(A))
        if (name !== 'CMP_WR')
          for (const mem of values)
            for (const a of values.slice(0, 16)) {
              const want = Number(atomicOp(A, op, BigInt(mem), BigInt(a), 32n));
              assert.equal(atomic32(A, op, mem, a), want, `${name} (${op}), ${mem}, ${a}`);
            }
    }
  });

  it('MI_ATOMIC: qword operations, compare-exchange of a dword, a qword and an octword', () => {
    const ring = [
      'MI_ATOMIC op=ADD8B, size=QWORD, addr=0x200000, inline=1, data=1',
      'MI_ATOMIC op=CMP_WR, addr=0x200010, inline=1, data=7, data2=9', // 7 == 7: becomes 9
      'MI_ATOMIC op=CMP_WR, addr=0x200014, inline=1, data=7, data2=9', // 8 != 7: unchanged
      'MI_LOAD_REGISTER_IMM CS_GPR0=1, CS_GPR0_UDW=2, CS_GPR1=3, CS_GPR1_UDW=4, CS_GPR2=10, CS_GPR2_UDW=20, CS_GPR3=30, CS_GPR3_UDW=40',
      'MI_ATOMIC op=CMP_WR16B, size=OCTWORD, addr=0x200020, return_data=1',
      'MI_ATOMIC op=CMP_WR8B, size=QWORD, addr=0x200040, return_data=1',
    ];
    const setup = [
      '.data 0x200000',
      'qword 0xffffffff',
      '.data 0x200010',
      'dword 7, 8',
      '.data 0x200020',
      'dword 1, 2, 3, 4',
      '.data 0x200040',
      'qword 0x0000000200000001',
    ];
    const vm = run(program(ring, setup), { deviceVersion: 3 });
    assert.deepEqual(vm.errors, []);
    assert.equal(qword(vm, 0x200000), 0x1_0000_0000n, 'a qword ADD carries into the high dword');
    assert.deepEqual([dword(vm, 0x200010), dword(vm, 0x200014)], [9, 8]);
    assert.deepEqual(
      [0, 4, 8, 12].map((o) => dword(vm, 0x200020 + o)),
      [10, 20, 30, 40],
      'octword compare-exchange',
    );
    assert.equal(
      qword(vm, 0x200040),
      (20n << 32n) | 10n,
      'qword compare-exchange: memory equalled CS_GPR0, became CS_GPR2',
    );
    assert.equal(gpr(vm, 4), 0x0000000200000001n, 'return data: the old qword');
    sound(program(ring, setup));
  });

  it('MI_ATOMIC refuses an operation whose size disagrees with Data Size, and a misaligned qword', () => {
    let vm = run(program(['MI_ATOMIC op=ADD8B, addr=0x200000, inline=1']), { deviceVersion: 3 });
    assert.match(vm.errors[0]?.message ?? '', /qword atomic, but Data Size says dword/);
    vm = run(program(['MI_ATOMIC op=ADD8B, size=QWORD, addr=0x200004, inline=1']), { deviceVersion: 3 });
    assert.equal(vm.errors[0]?.kind, 'page-fault');
    assert.match(vm.errors[0].message, /not 8-byte aligned/);
  });

  it('the hardware status page: MI_STORE_DATA_INDEX (one dword or two) and MI_REPORT_HEAD, through the global GTT', () => {
    const setup = ['.ggtt 0x10000, 0x300000, 4K'];
    const ring = [
      'MI_STORE_DATA_INDEX offset=0x40, data=0xabc',
      'MI_STORE_DATA_INDEX offset=0x48, data=1, data1=2',
      'MI_REPORT_HEAD',
    ];
    const src = program(ring, setup).replace('.ring rcs0', '.mmio rcs0.HWS_PGA, 0x10000\n.ring rcs0');
    const vm = run(src);
    assert.deepEqual(vm.errors, []);
    assert.equal(vm.readGpa(0x300040), 0xabc);
    assert.deepEqual([vm.readGpa(0x300048), vm.readGpa(0x30004c)], [1, 2]);
    assert.equal(
      vm.readGpa(0x300010),
      12 + 16,
      'RING_HEAD at MI_REPORT_HEAD: its own offset, past the 3- and 4-dword MI_STORE_DATA_INDEX',
    );
    sound(src);
  });

  it('MI_STORE_DATA_INDEX without a global GTT page-faults, naming it', () => {
    const vm = run(program(['MI_STORE_DATA_INDEX offset=0, data=1']));
    assert.equal(vm.errors[0]?.kind, 'page-fault');
    assert.match(vm.errors[0].message, /no global GTT/);
  });

  it('MI_SEMAPHORE_SIGNAL wakes a signal-mode MI_SEMAPHORE_WAIT; without it the wait hangs', () => {
    const src = (signal: boolean) =>
      [
        ...MAP,
        '.data 0x200000',
        'sem: dword 0',
        '.ring bcs0',
        'MI_SEMAPHORE_WAIT addr=sem, data=1, op=EQ, poll=0',
        'MI_STORE_DATA_IMM addr=0x200004, data=0x600d',
        // rcs0 writes the semaphore only after bcs0's wait has evaluated it once (engines alternate one command each).
        '.ring rcs0',
        'MI_NOOP',
        'MI_NOOP',
        'MI_NOOP',
        'MI_STORE_DATA_IMM addr=sem, data=1',
        ...(signal ? ['MI_SEMAPHORE_SIGNAL target=BCS'] : []),
        '.submit bcs0',
        '.submit rcs0',
        '.wait all',
      ].join('\n') + '\n';
    const ok = loadVm('sig.vgpu', { autoRollback: false, deviceVersion: 3, semaphoreTimeout: 500 }, src(true));
    ok.run();
    assert.deepEqual(ok.errors, []);
    assert.equal(dword(ok, 0x200004), 0x600d);
    const stuck = loadVm('sig.vgpu', { autoRollback: false, deviceVersion: 3, semaphoreTimeout: 500 }, src(false));
    stuck.run();
    assert.equal(stuck.errors[0]?.kind, 'hang', 'memory is right, but no signal re-evaluates the wait');
  });

  it('MI_FLUSH_DW: DWord Length 5:0; the 4-dword form writes one dword, the 5-dword form a qword', () => {
    const ring = [
      'MI_FLUSH_DW addr=0x200000, data=0x1111111122222222',
      'MI_FLUSH_DW addr=0x200010, data=0x33333333, dword_length=2',
      'MI_FLUSH_DW post_sync=timestamp, addr=0x200020',
    ];
    const setup = ['.fill 0x200000, 0x40, 0xeeeeeeee'];
    const vm = run(program(ring, setup, 'bcs0'));
    assert.deepEqual(vm.errors, []);
    assert.equal(qword(vm, 0x200000), 0x1111111122222222n);
    assert.deepEqual([dword(vm, 0x200010), dword(vm, 0x200014)], [0x33333333, 0xeeeeeeee], 'one dword only');
    assert.ok(qword(vm, 0x200020) > 0n && qword(vm, 0x200020) < 100n, 'a timestamp');
    sound(program(ring, setup, 'bcs0'));
    // Bit 7 is Video Pipeline Cache Invalidate, not part of DWord Length.
    const img = loadVm('f.vgpu', {}, program(['MI_FLUSH_DW video_pipeline_cache_invalidate=1'], [], 'bcs0')).image;
    assert.equal(img.listing.find((l) => l.text.startsWith('MI_FLUSH_DW'))!.dwords[0], 0x13000083);
  });

  it('MI_CONDITIONAL_BATCH_BUFFER_END: compares only with Compare Semaphore; from a second-level batch it ends the first level too', () => {
    const src = (compare: number) =>
      [
        ...MAP,
        '.data 0x200000',
        'v: dword 5',
        '.batch inner, 0x101000',
        `  MI_CONDITIONAL_BATCH_BUFFER_END addr=v, data=5, compare_semaphore=${compare}`,
        '  MI_STORE_DATA_IMM addr=0x200010, data=1',
        '  MI_BATCH_BUFFER_END',
        '.batch outer, 0x100000',
        '  MI_BATCH_BUFFER_START addr=inner, second_level=1',
        '  MI_STORE_DATA_IMM addr=0x200014, data=2',
        '  MI_BATCH_BUFFER_END',
        '.ring rcs0',
        'MI_BATCH_BUFFER_START addr=outer',
        'MI_STORE_DATA_IMM addr=0x200018, data=3',
        '.submit rcs0',
        '.wait rcs0',
      ].join('\n') + '\n';
    const ended = run(src(1));
    assert.deepEqual(ended.errors, []);
    assert.deepEqual(
      [0x10, 0x14, 0x18].map((o) => dword(ended, 0x200000 + o)),
      [0, 0, 3],
      'mem <= data: both levels end, the ring goes on',
    );
    const ignored = run(src(0));
    assert.deepEqual(
      [0x10, 0x14, 0x18].map((o) => dword(ignored, 0x200000 + o)),
      [1, 2, 3],
      'no Compare Semaphore: no effect',
    );
  });

  it('PIPE_CONTROL: write, timestamp and PS depth count post-syncs; TLB invalidate; Store Data Index to the status page', () => {
    const setup = ['.ggtt 0x20000, 0x310000, 4K', '.fill 0x200000, 0x40, 0xeeeeeeee'];
    const ring = [
      'PIPE_CONTROL post_sync=write, addr=0x200000, data=0x0123456789abcdef, cs_stall=1',
      'PIPE_CONTROL post_sync=depth, addr=0x200008',
      'PIPE_CONTROL post_sync=timestamp, addr=0x200010, invalidate_tlb=1',
      'PIPE_CONTROL post_sync=write, store_data_index=1, addr=0x80, data=0x77',
    ];
    const src = program(ring, setup).replace('.ring rcs0', '.mmio rcs0.HWS_PGA, 0x20000\n.ring rcs0');
    const vm = run(src);
    assert.deepEqual(vm.errors, []);
    assert.equal(qword(vm, 0x200000), 0x0123456789abcdefn);
    assert.equal(qword(vm, 0x200008), 0n, 'no pixel is drawn: depth count 0');
    assert.ok(qword(vm, 0x200010) > 0n);
    assert.equal(vm.readGpa(0x310080), 0x77);
    sound(src);
  });

  it('the global GTT: the ring and privileged (GGTT) batches may use it; a PPGTT batch may not', () => {
    const base = [
      ...MAP,
      '.ggtt 0x40000, 0x320000, 8K',
      '.batch priv, 0x40000, ggtt',
      '  MI_STORE_DATA_IMM ggtt=1, addr=0x41000, data=0x5a',
      '  MI_BATCH_BUFFER_END',
    ];
    const ok = run(
      [
        ...base,
        '.ring rcs0',
        'MI_STORE_DATA_IMM ggtt=1, addr=0x41004, data=0x6b',
        'MI_BATCH_BUFFER_START addr=priv, ppgtt=0',
        '.submit rcs0',
        '.wait rcs0',
      ].join('\n') + '\n',
    );
    assert.deepEqual(ok.errors, []);
    assert.deepEqual([ok.readGpa(0x321000), ok.readGpa(0x321004)], [0x5a, 0x6b]);
    const bad = run(
      [
        ...base,
        '.batch user, 0x100000',
        '  MI_STORE_DATA_IMM ggtt=1, addr=0x41000, data=1',
        '  MI_BATCH_BUFFER_END',
        '.ring rcs0',
        'MI_BATCH_BUFFER_START addr=user',
        '.submit rcs0',
        '.wait rcs0',
      ].join('\n') + '\n',
    );
    assert.equal(bad.errors[0]?.kind, 'invalid-command');
    assert.match(bad.errors[0].message, /global GTT from a non-privileged \(PPGTT\) batch/);
    const nested = run(
      [
        ...base,
        '.batch user, 0x100000',
        '  MI_BATCH_BUFFER_START addr=priv, ppgtt=0, second_level=1',
        '  MI_BATCH_BUFFER_END',
        '.ring rcs0',
        'MI_BATCH_BUFFER_START addr=user',
        '.submit rcs0',
        '.wait rcs0',
      ].join('\n') + '\n',
    );
    assert.equal(nested.errors[0]?.kind, 'invalid-command', 'a PPGTT batch cannot start a GGTT one');
  });

  it('translate walks the global GTT: its PTE, the EPT walks of the table and the data, or a fault naming the entry', () => {
    const vm = loadVm(
      'g.vgpu',
      {},
      program(['MI_NOOP'], ['.ggtt 0x40000, 0x320000, 8K', '.ggtt 0x50000, 0x330000, 4K']),
    );
    const t = vm.translate(0x41234, 0, 'rcs0', 'ggtt');
    assert.equal(t.gpa, 0x321234);
    assert.deepEqual(
      t.steps.map((s) => s.level),
      ['GGTT', 'EPT'],
    );
    assert.equal(t.steps[0].index, 0x41);
    const miss = vm.translate(0x42000, 0, 'rcs0', 'ggtt');
    assert.equal(miss.fault?.kind, 'page-fault');
    assert.match(miss.fault!.reason, /GGTT\[66\] at GPA 0x[0-9a-f]+ is not present/);
    assert.match(vm.translate(0x51000, 0, 'rcs0', 'ggtt').fault!.reason, /beyond the 81-entry global GTT/);
    const none = loadVm('n.vgpu', {}, program(['MI_NOOP'])).translate(0x1000, 0, 'rcs0', 'ggtt');
    assert.match(none.fault!.reason, /no global GTT/);
  });

  it('addresses are canonical: a sign-extended high address assembles to the same 48-bit VA', () => {
    const img = loadVm('c.vgpu', {}, program(['MI_STORE_DATA_IMM addr=0xffff800000001000, data=1'], [])).image;
    const dw = img.listing.find((l) => l.text.startsWith('MI_STORE_DATA_IMM'))!.dwords;
    assert.deepEqual([dw[1], dw[2] & 0xffff], [0x1000, 0x8000]);
  });

  it('MI_LOAD_REGISTER_IMM Byte Write Disables keep the disabled bytes', () => {
    const vm = run(
      program([
        'MI_LOAD_REGISTER_IMM CS_GPR0=0x11223344',
        'MI_LOAD_REGISTER_IMM byte_write_disables=0b0101, CS_GPR0=0xaabbccdd',
      ]),
    );
    assert.deepEqual(vm.errors, []);
    assert.equal(Number(gpr(vm, 0) & 0xffffffffn), 0xaa22cc44);
  });

  it('state commands retire into the pipeline state; unknown opcodes stay invalid-command', () => {
    const vm = run(
      program([
        'PIPELINE_SELECT pipeline_selection=_3D',
        '3DSTATE_VF_STATISTICS statistics_enable=1',
        'STATE_BASE_ADDRESS general_state_base_address=0x100000, general_state_base_address_modify_enable=1',
        '.dword 0x7fff0000',
      ]),
    );
    assert.equal(vm.errors[0]?.kind, 'invalid-command');
    assert.match(vm.errors[0].message, /unknown command header 0x7fff0000/);
    const p = vm.engine('rcs0').pipeline;
    assert.deepEqual(Object.keys(p).sort(), ['3DSTATE_VF_STATISTICS', 'PIPELINE_SELECT', 'STATE_BASE_ADDRESS']);
    assert.equal(p.STATE_BASE_ADDRESS.dwords.length, 19);
    assert.deepEqual(vm.result().commandCounts, {
      '3DSTATE_VF_STATISTICS': 1,
      PIPELINE_SELECT: 1,
      STATE_BASE_ADDRESS: 1,
    });
  });
});
