// Surfaces the engine's state describes: the pixel shader's binding table under STATE_BASE_ADDRESS, its
// RENDER_SURFACE_STATEs decoded at genxml's bits, pixels detiled (X and Y major) and converted to ARGB.

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadCaptureVm, loadVm } from '../../emulator/program';
import { readStateSurface, stateSurfaces, tiledOffset } from '../../emulator/surfaces';

const ROOT = path.resolve(__dirname, '../..');

/** A 128x64 surface at 0x200000 described by a binding table at base+0x40, its state at base+0x80 (base 0x180000). */
function program(dw0: number, pixels: [number, number][]): string {
  return [
    '.vm memory=16M gen=9',
    '.map 0x100000, 0x100000, 2M, rw',
    '.batch b, 0x100000',
    '    STATE_BASE_ADDRESS surface_state_base_address=0x180000, surface_state_base_address_modify_enable=1',
    '    3DSTATE_BINDING_TABLE_POINTERS_PS pointer_to_ps_binding_table=0x40',
    '    MI_BATCH_BUFFER_END',
    '.data 0x180040',
    '    dword 0x80',
    // RENDER_SURFACE_STATE: DW0 type/format/tiling, DW2 height-1 << 16 | width-1, DW3 pitch-1, DW8-9 base.
    '.data 0x180080',
    `    dword 0x${dw0.toString(16)}, 0, 0x003f007f, 0x1ff, 0, 0, 0, 0, 0x200000, 0`,
    ...pixels.flatMap(([off, v]) => [`.data 0x${(0x200000 + off).toString(16)}`, `    dword 0x${v.toString(16)}`]),
    '.ring rcs0',
    '    MI_BATCH_BUFFER_START addr=b',
    '.submit rcs0',
    '.wait rcs0',
    '',
  ].join('\n');
}

// DW0: SURFTYPE_2D (1) in bits 31:29, the format in 26:18, the Tile Mode in 13:12 (as aubinator decodes 0x331df03f).
const dw0 = (format: number, tile: number) => ((1 << 29) | (format << 18) | (tile << 12)) >>> 0;

describe('surfaces described by the engine state', () => {
  it('Y-major: 16-byte columns of 32 rows in 4 KiB tiles; X-major: 512-byte rows of 8; linear: rows', () => {
    assert.equal(tiledOffset('YMAJOR', 512, 16, 1), 512 + 16);
    assert.equal(tiledOffset('YMAJOR', 512, 160, 33), (1 * 4 + 1) * 4096 + 2 * 512 + 16);
    assert.equal(tiledOffset('XMAJOR', 1024, 0, 1), 512);
    assert.equal(tiledOffset('XMAJOR', 1024, 520, 9), (1 * 2 + 1) * 4096 + 512 + 8);
    assert.equal(tiledOffset('LINEAR', 512, 8, 3), 3 * 512 + 8);
  });

  it('reads a Y-tiled B8G8R8A8 render target through the binding table', () => {
    const vm = loadVm(
      '<surface>.vgpu',
      { autoRollback: false },
      program(dw0(192, 3), [
        [512 + 16, 0xff112233],
        [(1 * 4 + 1) * 4096 + 2 * 512 + 16, 0x80445566],
      ]),
    );
    vm.run();
    const [s] = stateSurfaces(vm);
    assert.deepEqual(
      {
        name: s.name,
        w: s.width,
        h: s.height,
        pitch: s.pitch,
        format: s.format,
        tiling: s.tiling,
        va: s.va,
        state: s.state,
      },
      {
        name: 'ps.bt[0]',
        w: 128,
        h: 64,
        pitch: 512,
        format: 'B8G8R8A8_UNORM',
        tiling: 'YMAJOR',
        va: 0x200000,
        state: 0x180080,
      },
    );
    const p = readStateSurface(vm, s);
    assert.equal(p.pixels[1 * 128 + 4], 0xff112233);
    assert.equal(p.pixels[33 * 128 + 40], 0x80445566);
    assert.equal(p.pixels.filter((x) => x !== 0).length, 2);
  });

  it('converts R8G8B8A8 (bytes R, G, B, A) to ARGB, and says why it cannot show a format it does not know', () => {
    const vm = loadVm('<surface>.vgpu', { autoRollback: false }, program(dw0(199, 0), [[0, 0x44332211]]));
    vm.run();
    const [s] = stateSurfaces(vm);
    assert.equal(readStateSurface(vm, s).pixels[0], 0x44112233);
    const odd = loadVm('<surface>.vgpu', { autoRollback: false }, program(dw0(0x1ff, 0), []));
    odd.run();
    const [u] = stateSurfaces(odd);
    assert.match(u.unsupported!, /surface format 511 is not one the view converts/);
    assert.throws(() => readStateSurface(odd, u), /ps\.bt\[0\] \(RENDER_SURFACE_STATE at 0x180080\) cannot be shown/);
  });

  it("a capture's render target: iris's 64x64 R8G8B8A8 Y-tiled surface, as aubinator decodes its RENDER_SURFACE_STATE", () => {
    const vm = loadCaptureVm(path.join(ROOT, 'test/captures/gltri-bdw.aub.gz'), { autoRollback: false })!;
    const e = vm.engine('rcs0');
    vm.run({ stopAt: () => (e.commandCounts().counts['3DPRIMITIVE'] ?? 0) >= 2 });
    const [s] = stateSurfaces(vm);
    assert.deepEqual(
      [s.width, s.height, s.pitch, s.format, s.tiling, s.state],
      [64, 64, 256, 'R8G8B8A8_UNORM', 'YMAJOR', 0x1ff7ef100],
    );
    assert.equal(readStateSurface(vm, s).pixels.length, 64 * 64);
  });
});
