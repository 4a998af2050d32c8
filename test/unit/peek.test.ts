// The debugger's peek at a command (adapter/memory.ts peekCommand): the dwords the engine would fetch,
// one translation a page, for a command that crosses into a page mapped elsewhere and for a ring wrap.

import * as assert from 'node:assert/strict';
import { peekCommand, peekDword } from '../../adapter/memory';
import { loadVm } from '../../emulator/program';

const PAIRS = Array.from({ length: 12 }, (_, k) => `CS_GPR${k % 8}=${k + 1}`).join(', ');

const SRC = `.vm memory=64M
.map 0x100000, 0x100000, 4K, rw
.map 0x101000, 0x300000, 4K, rw
.batch b, 0x100fe0
    MI_LOAD_REGISTER_IMM ${PAIRS}
    MI_BATCH_BUFFER_END
.ring rcs0
    MI_BATCH_BUFFER_START addr=b
.submit rcs0
.wait rcs0
`;

describe('peekCommand', () => {
  it('reads a command across a page boundary into a page mapped at another GPA, as the engine fetches it', () => {
    const vm = loadVm('peek.vgpu', {}, SRC);
    const e = vm.engine('rcs0');
    const got = peekCommand(vm, e, 0x100fe0)!;
    assert.equal(got.length, 25, 'MI_LOAD_REGISTER_IMM with 12 pairs');
    assert.deepEqual(got, vm.readVa(0x100fe0, 25));
    // The dwords past the boundary come from GPA 0x300000, not from the GPA after 0x100fff.
    assert.equal(got[8], vm.readGpa(0x300000));
    assert.notEqual(vm.readGpa(0x300000), vm.readGpa(0x101000));
    assert.equal(peekDword(vm, e, 0x101000), got[8]);
    const end = 0x100fe0 + 4 * 25;
    assert.deepEqual(peekCommand(vm, e, end), vm.readVa(end, 1));
    assert.equal(peekCommand(vm, e, 0x200000), undefined, 'unmapped');
    vm.run();
    assert.deepEqual(vm.errors, []);
  });
});
