// Command semantics, one program each: ring wrap-around, every compare and atomic op, conditional
// batch end, post-sync writes, register copies, ROPs, the guest reading its capability registers.

import { strict as assert } from 'node:assert';
import { loadVm } from '../../emulator/program';
import type { Vm } from '../../emulator/vm';
import { atLabel } from './helpers';

const HEAD = '.vm memory=16M\n.map 0x100000, 0x100000, 64K, rw\n';

function run(body: string, o = {}): Vm {
  const vm = loadVm('t.vgpu', o, HEAD + body);
  vm.run();
  return vm;
}

describe('command streamer semantics', () => {
  it('a 4 KiB ring wraps around: the driver waits for space, every command runs once', () => {
    const subs: string[] = [];
    for (let i = 0; i < 50; i++) {
      subs.push(...Array.from({ length: 8 }, () => 'MI_ATOMIC op=INC, addr=count'), '.submit rcs0');
    }
    const vm = run(
      `.data 0x108000\ncount: dword 0\n.ring rcs0, 0x110000, 4K\n.map 0x110000, 0x200000, 4K, rw\n${subs.join('\n')}\n.wait rcs0\n`,
    );
    assert.equal(vm.errors.length, 0, vm.errors[0]?.message);
    assert.equal(atLabel(vm, 'count'), 400);
    // 400 commands of 12 bytes = 4800 bytes through a 4096-byte ring: the head wrapped once.
    assert.equal(vm.registerValue(0x2034) >>> 21, 1, 'RING_HEAD wrap count');
    assert.equal(vm.engine('rcs0').head(), 4800 - 4096);
  });

  it('MI_SEMAPHORE_WAIT compares with every operator', () => {
    const cases: [string, number, boolean][] = [
      ['GT', 4, true],
      ['GT', 5, false],
      ['GTE', 5, true],
      ['LT', 6, true],
      ['LT', 5, false],
      ['LTE', 5, true],
      ['EQ', 5, true],
      ['NEQ', 5, false],
    ];
    for (const [op, data, passes] of cases) {
      const vm = run(
        `.data 0x108000\nsem: dword 5\nout: dword 0\n.ring rcs0\nMI_SEMAPHORE_WAIT addr=sem, data=${data}, op=${op}\nMI_STORE_DATA_IMM addr=out, data=1\n.submit rcs0\n.wait rcs0\n`,
        { semaphoreTimeout: 50, autoRollback: false },
      );
      assert.equal(vm.errors.length === 0, passes, `${op} ${data}`);
      if (!passes) assert.equal(vm.errors[0].kind, 'hang');
      assert.equal(atLabel(vm, 'out'), passes ? 1 : 0, `${op} ${data}`);
    }
  });

  it('MI_ATOMIC: every dword operation, inline and from CS_GPR0', () => {
    const ops: [string, number][] = [
      ['ADD', 12 + 5],
      ['SUB', 12 - 5],
      ['AND', 12 & 5],
      ['OR', 12 | 5],
      ['XOR', 12 ^ 5],
      ['MOVE', 5],
      ['INC', 13],
      ['DEC', 11],
    ];
    for (const [op, want] of ops) {
      const vm = run(
        `.data 0x108000\nv: dword 12\nw: dword 12\n.ring rcs0\nMI_ATOMIC op=${op}, addr=v, data=5\nMI_LOAD_REGISTER_IMM CS_GPR0=5\nMI_ATOMIC op=${op}, addr=w\n.submit rcs0\n.wait rcs0\n`,
      );
      assert.equal(atLabel(vm, 'v'), want >>> 0, `${op} inline`);
      assert.equal(atLabel(vm, 'w'), want >>> 0, `${op} CS_GPR0`);
    }
  });

  it('MI_CONDITIONAL_BATCH_BUFFER_END ends the batch when mem <= data', () => {
    for (const [value, ends] of [
      [3, true],
      [4, true],
      [5, false],
    ] as const) {
      const vm = run(
        `.data 0x108000\nv: dword ${value}\nout: dword 0\n.batch b, 0x100000\nMI_CONDITIONAL_BATCH_BUFFER_END addr=v, data=4\nMI_STORE_DATA_IMM addr=out, data=1\nMI_BATCH_BUFFER_END\n.ring rcs0\nMI_BATCH_BUFFER_START addr=b\n.submit rcs0\n.wait rcs0\n`,
      );
      assert.equal(atLabel(vm, 'out'), ends ? 0 : 1, `value ${value}`);
      assert.equal(vm.engine('rcs0').depth, 0);
    }
  });

  it('post-sync writes: PIPE_CONTROL data and timestamp, MI_FLUSH_DW data', () => {
    const vm = run(
      `.data 0x108000\npc: qword 0\nts: qword 0\nfl: qword 0\n.ring rcs0\nMI_NOOP\nPIPE_CONTROL post_sync=write, addr=pc, data=0x1122334455667788\nPIPE_CONTROL post_sync=timestamp, addr=ts\n.submit rcs0\n.ring bcs0\nMI_FLUSH_DW addr=fl, data=0xABCD\n.submit bcs0\n.wait all\n`,
    );
    assert.equal(atLabel(vm, 'pc'), 0x55667788);
    assert.equal(atLabel(vm, 'pc', 1), 0x11223344);
    assert.equal(atLabel(vm, 'ts'), 1 + 4, 'the engine had run MI_NOOP (1) and a PIPE_CONTROL (4) cycles');
    assert.equal(atLabel(vm, 'fl'), 0xabcd);
    assert.equal(vm.registerValue(0x2358), 1 + 4 + 4, 'TIMESTAMP counts the engine cycles');
  });

  it('register copies, and the guest reads its exposed capability registers', () => {
    const vm = run(
      `.data 0x108000\nver: dword 0\ngcap: dword 0\ncopy: dword 0\n.ring rcs0\nMI_STORE_REGISTER_MEM reg=VERSION, addr=ver\nMI_STORE_REGISTER_MEM reg=GENCAP, addr=gcap\nMI_LOAD_REGISTER_IMM CS_GPR3=0x77\nMI_LOAD_REGISTER_REG src=CS_GPR3, dst=CS_GPR4\nMI_STORE_REGISTER_MEM reg=CS_GPR4, addr=copy\n.submit rcs0\n.wait rcs0\n`,
      { hostGen: 3, deviceVersion: 2 },
    );
    assert.equal(atLabel(vm, 'ver'), 2, 'the exposed version, not the host generation');
    assert.equal((atLabel(vm, 'gcap') ?? 0) & 0b100, 0, 'no 1 GiB pages on version 2');
    assert.equal(atLabel(vm, 'copy'), 0x77);
  });

  it('blit ROPs: a raster operation other than copy combines source and destination', () => {
    const vm = run(
      `.surface a, 0x10C000, 4, 1\n.surface b, 0x10D000, 4, 1\n.ring bcs0\nXY_COLOR_BLT dst=a, x1=0, y1=0, x2=4, y2=1, color=0x0F0F0F0F\nXY_COLOR_BLT dst=b, x1=0, y1=0, x2=4, y2=1, color=0x00FF00FF\nXY_SRC_COPY_BLT dst=b, x1=0, y1=0, x2=4, y2=1, src=a, sx=0, sy=0, rop=0x66\nXY_COLOR_BLT dst=a, x1=1, y1=0, x2=1, y2=1, color=0xFFFFFFFF\n.submit bcs0\n.wait bcs0\n`,
    );
    assert.deepEqual(
      [...vm.readSurface('b').pixels],
      Array(4).fill((0x0f0f0f0f ^ 0x00ff00ff) >>> 0),
      'ROP 0x66 is S xor D',
    );
    assert.deepEqual([...vm.readSurface('a').pixels], Array(4).fill(0x0f0f0f0f), 'an empty rectangle draws nothing');
  });

  it('a command on the wrong engine and an unknown opcode are invalid-command at the exact command', () => {
    const vm = run(
      `.ring rcs0\nMI_NOOP\nXY_COLOR_BLT dst=0x100000, pitch=64, x1=0, y1=0, x2=1, y2=1, color=1\n.submit rcs0\n.wait rcs0\n`,
      { autoRollback: false },
    );
    assert.equal(vm.pending!.kind, 'invalid-command');
    assert.equal(vm.pending!.line, 5);
    assert.match(vm.pending!.message, /runs on bcs0 only/);
    const vm2 = run(`.ring bcs0\n.dword 0xE0000000\n.submit bcs0\n.wait bcs0\n`, { autoRollback: false });
    assert.match(vm2.pending!.message, /unknown command header 0xe0000000/);
  });
});
