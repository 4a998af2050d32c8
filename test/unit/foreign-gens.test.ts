// The later-generation skip rule against the facts of Mesa's gen11 and gen12 genxml (src/intel/genxml/
// gen11.xml, gen12.xml; ../shared/genxml stops at gen9): every GFXPIPE command (command type 3) of the
// render engine (or of every engine) whose header identity gen9 lacks, with its DWord Length field (bits
// 0..bits-1) and bias, as genxml declares them. foreignLength must measure each header exactly so,
// including DWord Length values with bit 8 set. Video-engine-only commands (HCP_VP9_PAK_OBJECT,
// VDENC_*, VD_CONTROL_STATE) are left out: the render and blitter command streamers never parse them.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { instructions, loadGenxml, runsOnRenderOrBlitter, xmlNumber } from '../../scripts/genxml';
import { commandIndex, foreignLength, type Gen } from '../../emulator/commands';

interface ForeignCommand {
  readonly gen: 11 | 12;
  readonly name: string;
  /** Header bits 31:16: command type, subtype, 3D opcode, sub-opcode. */
  readonly top16: number;
  /** DWord Length's width: genxml's bits (bits-1):0. */
  readonly bits: number;
  readonly bias: number;
}

const FOREIGN: readonly ForeignCommand[] = [
  { gen: 11, name: '3DSTATE_3D_MODE', top16: 0x791e, bits: 8, bias: 2 },
  { gen: 11, name: '3DSTATE_CPS', top16: 0x7822, bits: 8, bias: 2 },
  { gen: 11, name: '3DSTATE_SLICE_TABLE_STATE_POINTERS', top16: 0x7920, bits: 8, bias: 2 },
  { gen: 11, name: '3DSTATE_VF_SGVS_2', top16: 0x7856, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_3D_MODE', top16: 0x791e, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_CONSTANT_ALL', top16: 0x786d, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_CPS_POINTERS', top16: 0x7822, bits: 16, bias: 2 },
  // genxml names this one's field "Length" (bits 7:0), not "DWord Length".
  { gen: 12, name: '3DSTATE_DEPTH_BOUNDS', top16: 0x7871, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_PRIMITIVE_REPLICATION', top16: 0x786c, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_SLICE_TABLE_STATE_POINTERS', top16: 0x7920, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_SO_BUFFER_INDEX_0', top16: 0x7860, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_SO_BUFFER_INDEX_1', top16: 0x7861, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_SO_BUFFER_INDEX_2', top16: 0x7862, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_SO_BUFFER_INDEX_3', top16: 0x7863, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_SUBSLICE_HASH_TABLE', top16: 0x791f, bits: 8, bias: 2 },
  { gen: 12, name: '3DSTATE_VF_SGVS_2', top16: 0x7856, bits: 8, bias: 2 },
];

const HOSTS: Gen[] = [8, 9];

describe("later generations' GFXPIPE commands against Mesa's gen11/gen12 genxml", () => {
  it('the list: 4 gen11 and 12 gen12 render commands, each a GFXPIPE header gen8 and gen9 lack', () => {
    assert.equal(FOREIGN.filter((c) => c.gen === 11).length, 4);
    assert.equal(FOREIGN.filter((c) => c.gen === 12).length, 12);
    for (const c of FOREIGN) {
      assert.equal(c.top16 >>> 13, 3, `${c.name}: command type 3`);
      for (const host of HOSTS) assert.equal(commandIndex(c.top16 << 16, host), -1, `gen${host} lacks ${c.name}`);
    }
  });

  for (const host of HOSTS) {
    it(`gen${host}: foreignLength measures each one's DWord Length as genxml declares it (bit 8 too)`, () => {
      let checked = 0;
      for (const c of FOREIGN) {
        const max = 2 ** c.bits - 1;
        // In-field values (bit 8 set where the field is wider than 8 bits), and values whose bits above the
        // field are set (another field of DW0, or must-be-zero): genxml's length ignores those.
        const lengths = [0, 1, 0x7f, 0xff, max, 0x100, 0x1ff, 0x8ff];
        for (const dwordLength of lengths) {
          const header = ((c.top16 << 16) | dwordLength) >>> 0;
          const want = (dwordLength & max) + c.bias;
          assert.equal(
            foreignLength(host, header, c.gen),
            want,
            `gen${c.gen} ${c.name} on gen${host}: header 0x${header.toString(16)} is ${want} dwords`,
          );
          checked++;
        }
      }
      assert.equal(checked, 16 * 8);
    });
  }

  // The list re-derived from a Mesa checkout's genxml when MESA_GENXML_DIR names its src/intel/genxml.
  it('the list is what MESA_GENXML_DIR/gen11.xml and gen12.xml hold (skipped without it)', function () {
    const dir = process.env.MESA_GENXML_DIR;
    if (!dir || !fs.existsSync(path.join(dir, 'gen12.xml'))) this.skip();
    for (const gen of [11, 12] as const) {
      const found: ForeignCommand[] = [];
      for (const el of instructions(loadGenxml(dir!, `gen${gen}.xml`))) {
        if (!runsOnRenderOrBlitter(el)) continue;
        const dw0 = el.children.filter((f) => f.tag === 'field' && Number(f.attrs.end) < 32);
        let top16 = 0;
        for (const f of dw0)
          if (Number(f.attrs.start) >= 16) top16 |= (xmlNumber(f.attrs.default) ?? 0) << (Number(f.attrs.start) - 16);
        if (top16 >>> 13 !== 3 || commandIndex(top16 << 16, 9) !== -1) continue;
        const len = dw0.find((f) => /^(DWord )?Length$/.test(f.attrs.name) && f.attrs.start === '0');
        const bits = len ? Number(len.attrs.end) + 1 : 0;
        found.push({ gen, name: el.attrs.name, top16, bits, bias: xmlNumber(el.attrs.bias) ?? 2 });
      }
      const key = (c: ForeignCommand) => `${c.name} 0x${c.top16.toString(16)} ${c.bits}:${c.bias}`;
      assert.deepEqual(
        found.map(key).sort(),
        FOREIGN.filter((c) => c.gen === gen)
          .map(key)
          .sort(),
        `gen${gen}`,
      );
    }
  });

  it("gen12's 16-bit 3DSTATE_CPS_POINTERS is the one the top-byte rule alone misreads", () => {
    const wide = FOREIGN.filter((c) => c.bits > 8).map((c) => `gen${c.gen} ${c.name}`);
    assert.deepEqual(wide, ['gen12 3DSTATE_CPS_POINTERS']);
    // Without the generation, 0x78's rule (gen9's 8-bit majority) applies; gen11's 3DSTATE_CPS agrees with it.
    assert.equal(foreignLength(9, 0x78220100), 2);
    assert.equal(foreignLength(9, 0x78220100, 11), 2);
    assert.equal(foreignLength(9, 0x78220100, 12), 0x100 + 2);
  });
});
