// The editor's language model: token roles, hover text, completions, document symbols and diagnostic ranges,
// checked against the command and register tables and the assembler.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assembleSource } from '../../emulator/assembler';
import { FEATURES } from '../../emulator/capabilities';
import {
  COMMANDS,
  GENS,
  commandByMnemonic,
  commandsOf,
  fieldByName,
  fieldPlacement,
  type Gen,
} from '../../emulator/commands';
import { CAP_BASE, CAP_REG_DEFS, DEVICE_REG_DEFS, ENGINES, ENGINE_BASE, ENGINE_REGS } from '../../emulator/registers';
import {
  DIRECTIVES,
  FIELD_ROWS,
  classifyLine,
  commandSyntax,
  completionsAt,
  diagnosticRange,
  documentGen,
  documentSymbols,
  fieldRank,
  hoverAt,
  orderedFields,
  parseUsage,
  symbolNames,
  wordAt,
} from '../../extension/languageModel';

const hex = (n: number) => '0x' + n.toString(16).toUpperCase();
const roles = (text: string) => classifyLine(text).tokens.map((t) => `${t.role}:${t.text}`);
const labels = (
  text: string,
  ch = text.length,
  symbols = [] as { name: string; kind: 'label' | 'surface' }[],
  gen?: Gen,
) => completionsAt(text, ch, symbols, gen).items.map((i) => i.label);
const hover = (text: string, needle: string, symbols?: ReadonlyMap<string, number>, gen?: Gen) => {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `${needle} not in ${text}`);
  return hoverAt(text, at + 1, symbols, gen)?.markdown;
};

describe('language model: token roles', () => {
  it('reads labels, mnemonics, fields, enum values, registers and numbers the way the assembler does', () => {
    assert.deepEqual(roles('loop: MI_SEMAPHORE_WAIT addr=flag + 4, data=1, op=gte ; wait'), [
      'label:loop',
      'punctuation::',
      'mnemonic:MI_SEMAPHORE_WAIT',
      'field:addr',
      'operator:=',
      'symbol:flag',
      'operator:+',
      'number:4',
      'punctuation:,',
      'field:data',
      'operator:=',
      'number:1',
      'punctuation:,',
      'field:op',
      'operator:=',
      'enum:gte',
    ]);
    assert.equal(classifyLine('MI_NOOP ; a "string" ; here').commentStart, 8);
    assert.equal(classifyLine('ascii "a;b" ; c').commentStart, 12);
    assert.deepEqual(roles('MI_LOAD_REGISTER_IMM CS_GPR0=1, bcs0.cs_gpr1=MIRROR'), [
      'mnemonic:MI_LOAD_REGISTER_IMM',
      'register:CS_GPR0',
      'operator:=',
      'number:1',
      'punctuation:,',
      'register:bcs0.cs_gpr1',
      'operator:=',
      'mirror:MIRROR',
    ]);
    const prefixed = classifyLine('.mmio bcs0.EPT_VIEW, 1').tokens[1];
    assert.equal(prefixed.register?.engine, 'bcs0');
    assert.equal(prefixed.register?.prefixLength, 5);
    assert.equal(prefixed.register?.def.name, 'EPT_VIEW');
  });

  it('knows directive options and keywords from the usage lines, and flags what it does not know', () => {
    assert.deepEqual(roles('.vm version=2 isolation=off'), [
      'directive:.vm',
      'option:version',
      'operator:=',
      'number:2',
      'option:isolation',
      'operator:=',
      'keyword:off',
    ]);
    assert.deepEqual(roles('.eptp restricted, rcs0'), [
      'directive:.eptp',
      'keyword:restricted',
      'punctuation:,',
      'engine:rcs0',
    ]);
    assert.deepEqual(roles('.bogus 1'), ['unknown:.bogus', 'number:1']);
    assert.deepEqual(roles('MI_BOGUS x=1'), ['unknown:MI_BOGUS', 'symbol:x', 'operator:=', 'number:1']);
    assert.deepEqual(roles('MI_ATOMIC op=EQ'), ['mnemonic:MI_ATOMIC', 'field:op', 'operator:=', 'symbol:EQ']);
    assert.deepEqual(roles('qword 1'), ['data:qword', 'number:1']);
    assert.deepEqual(roles('3dstate_vertex_elements VALID.0=1, component_0_control.1=store_1_fp, bogus.0=1'), [
      'mnemonic:3dstate_vertex_elements',
      'field:VALID.0',
      'operator:=',
      'number:1',
      'punctuation:,',
      'field:component_0_control.1',
      'operator:=',
      'enum:store_1_fp',
      'punctuation:,',
      'symbol:bogus.0',
      'operator:=',
      'number:1',
    ]);
    assert.equal(classifyLine('3DSTATE_VERTEX_ELEMENTS valid.7=1').tokens[1].entry, 7);
    assert.deepEqual(roles('MI_FLUSH_DW dword_length=2'), [
      'mnemonic:MI_FLUSH_DW',
      'field:dword_length',
      'operator:=',
      'number:2',
    ]);
    assert.deepEqual(
      roles('MI_NOOP dword_length=2').slice(0, 2),
      ['mnemonic:MI_NOOP', 'symbol:dword_length'],
      'MI_NOOP has a fixed length',
    );
    assert.deepEqual(roles('MI_STORE_DATA_IMM address=1').slice(0, 2), ['mnemonic:MI_STORE_DATA_IMM', 'field:address']);
    // Per generation: MI_URB_CLEAR is gen8's.
    assert.deepEqual(roles('MI_URB_CLEAR urb_address=1').slice(0, 2), ['unknown:MI_URB_CLEAR', 'symbol:urb_address']);
    assert.deepEqual(
      classifyLine('MI_URB_CLEAR urb_address=1', 8)
        .tokens.slice(0, 2)
        .map((t) => t.role),
      ['mnemonic', 'field'],
    );
    assert.equal(classifyLine('dword 0x12q').lexError, true);
  });

  it('reads the generation of a document from its .vm line', () => {
    assert.equal(documentGen('MI_NOOP'), 9);
    assert.equal(documentGen('; c\n.vm memory=1M gen=8 ; gen=9\nMI_NOOP'), 8);
    assert.equal(documentGen('start: .VM GEN = 8'), 8);
    assert.equal(documentGen('.vm gen=7'), 9, 'not described: the default');
    assert.equal(documentGen('; .vm gen=8'), 9);
    assert.equal(documentGen('.map 0, 0, 4K, rw ; gen=8'), 9);
  });

  it('parses every directive usage line of the assembler', () => {
    assert.deepEqual([...DIRECTIVES.keys()].sort(), [
      'batch',
      'context',
      'data',
      'dword',
      'eptp',
      'fill',
      'ggtt',
      'incbin',
      'map',
      'mmio',
      'pml4',
      'ring',
      'submit',
      'surface',
      'vm',
      'wait',
      'write',
    ]);
    const map = DIRECTIVES.get('map')!;
    assert.deepEqual(map.keywords, ['rw', 'ro']);
    assert.deepEqual([...map.options], [['page', ['4K', '2M', '1G']]]);
    assert.deepEqual([...map.positional], ['VA', 'GPA', 'SIZE']);
    const vm = DIRECTIVES.get('vm')!;
    assert.deepEqual(
      [...vm.options.keys()],
      ['memory', 'physBits', 'isolation', 'version', 'pool', 'gen', 'unmodelled', 'unmapped'],
    );
    assert.deepEqual(vm.options.get('isolation'), ['on', 'off']);
    assert.deepEqual(vm.options.get('gen'), ['8', '9']);
    assert.equal(vm.positional.size, 0);
    assert.deepEqual(parseUsage('wait', '.wait ENGINE|all').keywords, ['all']);
  });
});

describe('language model: hover', () => {
  const EXECUTION: Record<string, RegExp> = {
    executed: /\| Execution \| executed: /,
    state: /\| Execution \| retired as state: /,
    'not-emulated': /\| Execution \| not emulated: a draw or dispatch/,
  };

  it('describes every command of both generations from the table: header fields, length, engines, execution, generations, fields', () => {
    for (const gen of GENS) {
      for (const c of commandsOf(gen)) {
        const md = hover(`    ${c.mnemonic} `, c.mnemonic, undefined, gen)!;
        assert.ok(md.includes(`**${c.mnemonic}** — ${c.desc}`), c.mnemonic);
        assert.ok(md.includes(hex(c.header).replace('0x', '')), `${c.mnemonic} header`);
        for (const h of c.headerFields.filter((x) => x.role === 'identity'))
          assert.ok(md.includes(`${h.xml} ${hex(h.default!)} (bits `), `${c.mnemonic} ${h.xml}`);
        if (c.lengthBits) assert.ok(md.includes(`= total − ${c.bias} |`), `${c.mnemonic} bias`);
        assert.ok(md.includes(`| Engines | ${c.engines.join(', ')} |`), `${c.mnemonic} engines`);
        assert.match(md, EXECUTION[c.execution], c.mnemonic);
        assert.match(md, new RegExp(`\\| Generations \\| ${c.gens.map((g) => `gen${g}`).join(', ')}`), c.mnemonic);
        // Fields in writing order, placement and genxml name; long lists capped, the rest named after the table.
        const fields = orderedFields(c);
        for (const f of fields.slice(0, FIELD_ROWS)) {
          assert.ok(md.includes(`| \`${f.name}\` | ${fieldPlacement(f)} | `), `${c.mnemonic}.${f.name}`);
          if (f.xml) assert.ok(md.includes(` | ${f.xml}`), `${c.mnemonic}.${f.name} genxml`);
        }
        if (fields.length > FIELD_ROWS)
          assert.ok(md.includes(`… ${fields.length - FIELD_ROWS} more: \`${fields[FIELD_ROWS].name}\``), c.mnemonic);
        for (const f of c.groupFields.slice(0, FIELD_ROWS))
          assert.ok(md.includes(`| \`${f.name}\` | ${fieldPlacement(f)} | `), `${c.mnemonic} group ${f.name}`);
        assert.ok(md.split('\n').length <= 60, `${c.mnemonic}: ${md.split('\n').length} lines`);
        if (c.requires) {
          const f = FEATURES.find((x) => x.name === c.requires)!;
          assert.ok(
            md.includes(`GENCAP bit ${f.bit} \`${f.name}\``) && md.includes(`device version ${f.minGen} or later`),
            `${c.mnemonic} requires`,
          );
        }
      }
    }
    const sdi = hover('MI_STORE_DATA_IMM addr=1, data=2', 'MI_STORE')!;
    assert.match(
      sdi,
      /Header \| `0x10000002`: MI; Command Type 0x0 \(bits 31:29\), MI Command Opcode 0x20 \(bits 28:23\)/,
    );
    assert.match(sdi, /Length \| 4 dwords, 5 with `qword=1`; DWord Length \(bits 9:0\) = total − 2/);
    assert.match(sdi, /\| `addr` \| DW1-2 bits 47:2 \| GPU VA \| Address \(address\) \| GPU VA written; required \|/);
    assert.match(sdi, /\| `core_mode_enable` \| DW1 bit 0 \| number \| Core Mode Enable \(uint\) \|/);
    assert.match(hover('MI_LOAD_REGISTER_IMM CS_GPR0=1', 'MI_LOAD')!, /1 \+ 2n dwords/);
    assert.match(hover('MI_NOOP', 'MI_NOOP')!, /1 dword; no length field/);
    const vs = hover('3DSTATE_VS', '3DSTATE')!;
    assert.match(
      vs,
      /`0x78100007`: 3D; Command Type 0x3 \(bits 31:29\), Command SubType 0x3 \(bits 28:27\), 3D Command Opcode 0x0 \(bits 26:24\), 3D Command Sub Opcode 0x10 \(bits 23:16\)/,
    );
    assert.match(
      vs,
      /\| `kernel_start_pointer` \| DW1-2 bits 63:6 \| offset \(kept in place\) \| Kernel Start Pointer \(offset\) \|/,
    );
    assert.match(vs, /\| Generations \| gen8, gen9 \|/);
    assert.doesNotMatch(vs, /\| Cost \|/);
    const prim = hover('3DPRIMITIVE', '3DPRIMITIVE')!;
    assert.match(prim, /\| Predicated \| by `predicate_enable`/);
    assert.match(hover('3dprimitive', '3dprim')!, /^\*\*3DPRIMITIVE\*\*/);
    assert.match(
      hover('3DSTATE_VERTEX_ELEMENTS', '3D')!,
      /\*\*Group entry\*\* \(2 dwords each from DW1; entry N's fields are `field\.N=`\)/,
    );
    assert.match(
      hover('3DSTATE_SBE_SWIZ', '3D')!,
      /\*\*Fields\*\* \(144\)[^]*… 124 more: `component_override_x_2`, [^]*, … \(hover one for its bits\)/,
    );
    assert.match(
      hover('MI_FLUSH_DW', 'MI_')!,
      /Length \| 4 to 5 dwords, as `dword_length` says \(default 5\); DWord Length \(bits 5:0\) = total − 2/,
    );
    // A command gen8 lays out differently says so, and a gen8 program hovers gen8's layout.
    assert.match(
      hover('3DSTATE_PS', '3D')!,
      /\| Generations \| gen9 \(gen8 lays it out differently: `\.vm gen=8`\) \|/,
    );
    assert.match(
      hover('3DSTATE_PS', '3D', undefined, 8)!,
      /\| Generations \| gen8 \(gen9 lays it out differently: `\.vm gen=9`\) \|/,
    );
    assert.equal(hover('MI_URB_CLEAR', 'MI_'), undefined, 'gen8 only');
    assert.match(hover('MI_URB_CLEAR', 'MI_', undefined, 8)!, /\| Generations \| gen8 \|/);
  });

  it('describes a field with its description, placement, genxml name and enum values; an enum value with its number', () => {
    for (const gen of GENS) {
      for (const c of commandsOf(gen)) {
        for (const f of c.fields) {
          const md = hover(`${c.mnemonic} ${f.name}=1`, ` ${f.name}=`.slice(1), undefined, gen)!;
          assert.ok(md.startsWith(`**${f.name}** (${c.mnemonic} field) — `), `${c.mnemonic}.${f.name}: ${md}`);
          assert.ok(md.includes(`\n${fieldPlacement(f)}: `), `${c.mnemonic}.${f.name} placement`);
          if (f.xml) assert.ok(md.includes(`genxml: \`${f.xml}\``), `${c.mnemonic}.${f.name} genxml`);
          if (f.values)
            for (const v of Object.keys(f.values).slice(0, 10))
              assert.ok(md.includes(`\`${v}\` ${f.values[v]}`), `${c.mnemonic}.${f.name} ${v}`);
        }
        if (c.length.kind !== 'group') continue;
        for (const f of c.groupFields) {
          const md = hover(`${c.mnemonic} ${f.name}.2=1`, `${f.name}.2`, undefined, gen)!;
          assert.ok(md.startsWith(`**${f.name}.2** (${c.mnemonic} field) — `), `${c.mnemonic}.${f.name}.2: ${md}`);
          assert.ok(
            md.includes(`group entry 2: DW${c.length.base + 2 * c.length.entry}`),
            `${c.mnemonic}.${f.name}.2 entry`,
          );
        }
      }
    }
    assert.match(hover('MI_FLUSH_DW invalidate_tlb=1', 'invalidate')!, /^DW0 bit 18: flag/m);
    assert.match(
      hover('MI_STORE_DATA_IMM addr=1', 'addr')!,
      /^\*\*addr\*\* \(MI_STORE_DATA_IMM field\) — GPU VA written\n\nDW1-2 bits 47:2: GPU VA \(a GPU VA, 4-byte aligned \(bits 1:0 are not stored\): bits 31:2 in DW1, bits 47:32 in DW2\)/,
    );
    assert.match(
      hover('MI_STORE_DATA_IMM address=1', 'address')!,
      /genxml: `Address` \(address\), also written `address=`/,
    );
    assert.match(
      hover('3DSTATE_VS kernel_start_pointer=0', 'kernel')!,
      /^\*\*kernel_start_pointer\*\* \(3DSTATE_VS field\) — Kernel Start Pointer\n\nDW1-2 bits 63:6: offset \(kept in place\) \(64-byte aligned/,
    );
    assert.match(hover('MI_FLUSH_DW dword_length=1', 'dword')!, /DW0 bits 5:0: number[^]*Length: 4 to 5 dwords/);
    const op = hover('MI_SEMAPHORE_WAIT addr=0, data=1, op=NEQ', 'NEQ')!;
    assert.match(op, /^`NEQ` = 5/);
    assert.match(op, /compare operation/);
    const cc = hover('3DSTATE_VERTEX_ELEMENTS component_0_control.1=store_1_fp', 'store_1')!;
    assert.match(cc, /^`STORE_1_FP` = 3\n\n\*\*component_0_control\.1\*\*/);
    assert.match(cc, /group entry 1: DW3–4 of the command/);
    assert.match(hover('XY_COLOR_BLT dst=fb', 'dst')!, /accepts a surface name \(then also sets `pitch`\)/);
  });

  it('describes every register with its offset per engine, access and fields', () => {
    for (const r of ENGINE_REGS) {
      const md = hover(`.mmio ${r.name}, 0`, r.name)!;
      assert.ok(md.includes(r.desc), r.name);
      for (const e of ENGINES)
        assert.ok(
          md.includes(`${e} \`${hex(ENGINE_BASE[e] + r.offset).replace('0X', '0x')}`) ||
            md.includes(`${e} \`0x${(ENGINE_BASE[e] + r.offset).toString(16).toUpperCase().padStart(5, '0')}\``),
          `${r.name} on ${e}: ${md}`,
        );
      for (const f of r.fields) assert.ok(md.includes(`| ${f.name} |`), `${r.name}.${f.name}`);
    }
    const one = hover('.mmio bcs0.CS_GPR3, 0', 'CS_GPR3')!;
    assert.match(one, /\*\*bcs0\.CS_GPR3\*\*/);
    assert.match(one, /bcs0 `0x22618` \(engine base \+ `0x618`\)/);
    assert.doesNotMatch(one, /rcs0 `/);
    assert.match(hover('.mmio EPT_VIEW, 0', 'EPT')!, /VIEW \| 0 \| EPT view \(0 full, 1 restricted\)/);
    for (const r of CAP_REG_DEFS)
      assert.ok(hover(`.dword ${r.name}`, r.name)!.includes(hex(CAP_BASE + r.offset)), r.name);
    for (const r of DEVICE_REG_DEFS)
      assert.ok(hover(`.dword ${r.name}`, r.name)!.includes(`\`${hex(r.offset)}\``), r.name);
    assert.match(hover('.mmio FAULT_STATUS, 0', 'FAULT')!, /Access \| rw: /);
  });

  it('describes directives, engines, numbers and symbols; nothing in comments', () => {
    assert.match(hover('.map 0, 0, 4K, rw', '.map')!, /\.map VA, GPA, SIZE, rw\|ro \[, page=4K\|2M\|1G\]/);
    assert.match(hover('.map 0, 0, 4K, rw', 'rw')!, /\.map VA/);
    assert.match(hover('.wait bcs0', 'bcs0')!, /blitter engine, registers at BAR0 `0x22000`/);
    assert.equal(hover('.dword 1_0K', '1_0K'), '`1_0K` = 10240 = `0x2800`');
    assert.equal(
      hover('MI_BATCH_BUFFER_START addr=main', 'main', new Map([['MAIN', 0x100000]])),
      '**main** = `0x100000`',
    );
    assert.equal(hover('MI_BATCH_BUFFER_START addr=main', 'main'), undefined);
    assert.equal(hoverAt('MI_NOOP ; MI_NOOP', 12), undefined);
    assert.ok(hover('.dword MIRROR', 'MIRROR')!.includes('2^physBits'));
  });

  it('has a hover for every command, field and register in the examples, and never throws on any column', () => {
    const dir = path.join(__dirname, '..', '..', 'examples');
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).filter((x) => x.endsWith('.vgpu')) : []) {
      for (const text of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        for (let ch = 0; ch <= text.length; ch++) hoverAt(text, ch);
        for (const t of classifyLine(text).tokens) {
          if (['mnemonic', 'field', 'register', 'enum', 'directive'].includes(t.role))
            assert.ok(hoverAt(text, t.start), `${f}: ${t.text}`);
        }
      }
    }
  });
});

describe('language model: completion', () => {
  it('offers mnemonics, data keywords and directives at the start of a statement', () => {
    // Every command of the program's generation (all 188 entries over the two), and only those.
    for (const gen of GENS) {
      const all = labels('', 0, [], gen);
      const names = commandsOf(gen).map((c) => c.mnemonic);
      for (const m of names) assert.ok(all.includes(m), m);
      for (const c of COMMANDS)
        if (!names.includes(c.mnemonic)) assert.ok(!all.includes(c.mnemonic), `gen${gen}: ${c.mnemonic}`);
    }
    const all = labels('');
    assert.ok(all.includes('3DSTATE_VS') && all.includes('3DPRIMITIVE') && !all.includes('MI_URB_CLEAR'));
    assert.ok(labels('', 0, [], 8).includes('MI_URB_CLEAR'));
    for (const d of DIRECTIVES.keys()) assert.ok(all.includes(`.${d}`), d);
    assert.ok(all.includes('dword'));
    assert.deepEqual(
      labels('.'),
      [...DIRECTIVES.keys()].map((d) => `.${d}`),
    );
    assert.deepEqual(labels('  .ma'), labels('.'));
    assert.ok(labels('loop:  MI_S').includes('MI_SEMAPHORE_WAIT'));
    const r = completionsAt('    MI_STO', 8);
    assert.deepEqual([r.start, r.end], [4, 10]);
    const sdi = r.items.find((i) => i.label === 'MI_STORE_DATA_IMM')!;
    assert.equal(sdi.insertText, 'MI_STORE_DATA_IMM ');
    assert.equal(sdi.retrigger, true);
  });

  it("offers the fields of the command (with =), not those already given: required, then named, then genxml's", () => {
    const r = completionsAt('MI_STORE_DATA_IMM addr=x, ', 26);
    assert.deepEqual(
      r.items.map((i) => i.label),
      ['data', 'qword', 'ggtt', 'core_mode_enable'],
    );
    assert.deepEqual(
      r.items.map((i) => i.insertText),
      ['data=', 'qword=', 'ggtt=', 'core_mode_enable='],
    );
    assert.deepEqual(
      [...r.items].sort((a, b) => a.sortText!.localeCompare(b.sortText!)),
      r.items,
      'sortText keeps the order',
    );
    assert.equal(r.items[0].detail, 'DW3-4 bits 63:0, required');
    // A field given by genxml's name is given.
    assert.ok(!labels('MI_STORE_DATA_IMM address=x, ').includes('addr'));
    // A surface fills in the pitch: the edges and the surface come first.
    const sorted = [...completionsAt('XY_COLOR_BLT ', 13).items].sort((a, b) => a.sortText!.localeCompare(b.sortText!));
    assert.deepEqual(
      sorted.slice(0, 3).map((i) => i.label),
      ['x1', 'y1', 'x2'],
    );
    for (const gen of GENS) {
      for (const c of commandsOf(gen)) {
        const offered = completionsAt(`${c.mnemonic} `, c.mnemonic.length + 1, [], gen).items.filter((i) =>
          c.fields.some((f) => f.name === i.label),
        );
        assert.deepEqual(
          offered.map((i) => i.label),
          orderedFields(c).map((f) => f.name),
          c.mnemonic,
        );
        const ranks = offered.map((i) => fieldRank(c, fieldByName(c, i.label)!));
        assert.deepEqual(ranks, [...ranks].sort(), `${c.mnemonic}: required, named, then the rest`);
        for (const f of c.fields.filter((x) => x.required && !c.fields.some((y) => y.pitchField === x.name)))
          assert.equal(fieldRank(c, f), 0);
      }
    }
  });

  it('offers group entry keys (the entry being written, then the next) and dword_length where it chooses the length', () => {
    const ve = labels('3DSTATE_VERTEX_ELEMENTS ');
    assert.ok(ve.includes('valid.0') && ve.includes('component_0_control.0'), ve.join());
    const next = labels('3DSTATE_VERTEX_ELEMENTS valid.0=1, ');
    assert.ok(
      next.includes('valid.1') && next.includes('component_0_control.0') && !next.includes('valid.0'),
      next.join(),
    );
    assert.equal(
      completionsAt('3DSTATE_VERTEX_ELEMENTS ', 24).items.find((i) => i.label === 'valid.0')!.insertText,
      'valid.0=',
    );
    assert.deepEqual(labels('3DSTATE_VERTEX_ELEMENTS valid.0=1, component_0_control.0='), [
      'NOSTORE',
      'STORE_SRC',
      'STORE_0',
      'STORE_1_FP',
      'STORE_1_INT',
      'STORE_PID',
    ]);
    for (const gen of GENS) {
      for (const c of commandsOf(gen)) {
        if (!c.groupFields.length) continue;
        const l = labels(`${c.mnemonic} `, undefined, [], gen);
        for (const f of c.groupFields) assert.ok(l.includes(`${f.name}.0`), `${c.mnemonic} ${f.name}.0`);
      }
    }
    assert.ok(labels('MI_FLUSH_DW ').includes('dword_length'));
    assert.ok(!labels('MI_FLUSH_DW dword_length=2, ').includes('dword_length'));
    assert.ok(!labels('MI_STORE_DATA_IMM ').includes('dword_length'));
  });

  it("offers enum values of that command's field, and registers the field may name", () => {
    assert.deepEqual(labels('MI_ATOMIC op=').slice(0, 8), ['AND', 'OR', 'XOR', 'MOVE', 'INC', 'DEC', 'ADD', 'SUB']);
    assert.ok(labels('MI_ATOMIC op=').includes('CMP_WR16B'), 'every genxml atomic');
    assert.deepEqual(labels('MI_SEMAPHORE_WAIT addr=0, op=G'), ['GT', 'GTE', 'LT', 'LTE', 'EQ', 'NEQ']);
    assert.deepEqual(
      labels('PIPE_CONTROL post_sync='),
      Object.keys(fieldByName(commandByMnemonic('PIPE_CONTROL')!, 'post_sync')!.values!),
    );
    assert.deepEqual(labels('3DSTATE_SBE_SWIZ swizzle_select_0='), [
      'INPUTATTR',
      'INPUTATTR_FACING',
      'INPUTATTR_W',
      'INPUTATTR_FACING_W',
    ]);
    // A field without values takes values: symbols and MIRROR, no crash.
    assert.deepEqual(labels('3DSTATE_VS kernel_start_pointer=', undefined, [{ name: 'k', kind: 'label' }]), [
      'k',
      'MIRROR',
    ]);
    assert.deepEqual(labels('MI_URB_CLEAR urb_address=', undefined, [], 8), ['MIRROR']);
    assert.ok(labels('MI_URB_CLEAR ', undefined, [], 8).includes('urb_clear_length'));
    // The command scanner's allow-list: engine registers, then device registers batches may load.
    const writable = [...ENGINE_REGS, ...DEVICE_REG_DEFS].filter((r) => r.access === 'cmd').map((r) => r.name);
    const sorted = (xs: string[]) => [...new Set(xs)].sort();
    assert.deepEqual(sorted(labels('MI_LOAD_REGISTER_IMM ')), sorted([...writable, 'byte_write_disables']));
    assert.ok(labels('MI_LOAD_REGISTER_IMM ').includes('CACHE_MODE_1'));
    assert.equal(
      completionsAt('MI_LOAD_REGISTER_IMM CS_GPR0=1, ', 32).items.find((i) => i.label === 'CS_GPR0')!.insertText,
      'CS_GPR0=',
    );
    assert.deepEqual(sorted(labels('MI_LOAD_REGISTER_IMM byte_write_disables=1, ')), sorted(writable));
    assert.deepEqual(sorted(labels('MI_LOAD_REGISTER_MEM reg=')), sorted(writable));
    const readable = labels('MI_STORE_REGISTER_MEM reg=');
    assert.ok(readable.includes('TIMESTAMP') && readable.includes('FAULT_STATUS') && readable.includes('GENCAP'));
    assert.deepEqual(
      labels('MI_LOAD_REGISTER_REG src=bcs0.CS'),
      ENGINE_REGS.map((r) => `bcs0.${r.name}`),
    );
  });

  it('offers directive keywords, options, option values, engines and document symbols', () => {
    assert.deepEqual(labels('.wait '), ['all', 'rcs0', 'bcs0']);
    assert.deepEqual(labels('.vm '), [
      'memory',
      'physBits',
      'isolation',
      'version',
      'pool',
      'gen',
      'unmodelled',
      'unmapped',
    ]);
    assert.deepEqual(labels('.vm memory=64M '), [
      'physBits',
      'isolation',
      'version',
      'pool',
      'gen',
      'unmodelled',
      'unmapped',
    ]);
    assert.deepEqual(labels('.vm gen='), ['8', '9']);
    assert.deepEqual(labels('.vm isolation='), ['on', 'off']);
    assert.deepEqual(labels('.map 0, 0, 4K, rw, page='), ['4K', '2M', '1G']);
    assert.ok(labels('.map 0, 0, 4K, ').includes('rw'));
    assert.deepEqual(labels('.eptp '), ['full', 'restricted', 'rcs0', 'bcs0']);
    assert.ok(labels('.mmio ').includes('RING_TAIL'));
    assert.deepEqual(labels('XY_COLOR_BLT dst=', 17, [{ name: 'fb', kind: 'surface' }]), ['fb', 'MIRROR']);
    assert.ok(labels('MI_STORE_DATA_IMM addr=x + ', 27, [{ name: 'flag', kind: 'label' }]).includes('flag'));
  });

  it('offers nothing in comments and strings', () => {
    assert.deepEqual(labels('MI_NOOP ; MI_'), []);
    assert.deepEqual(labels('ascii "MI_'), []);
  });

  it('replaces the whole word under the cursor, dots included', () => {
    assert.deepEqual(wordAt('.mmio bcs0.CS_GPR0, 1', 12), { start: 6, end: 18 });
    assert.deepEqual(wordAt('.mmio x', 2), { start: 0, end: 5 });
  });
});

describe('language model: document symbols and diagnostics', () => {
  const program = [
    '.map 0x100000, 0x100000, 64K, rw',
    '.surface fb, 0x108000, 8, 4',
    '.data 0x10F000',
    'flag: dword 0',
    '',
    '.batch main, 0x100000, bcs0',
    '    XY_COLOR_BLT dst=fb, x1=0, y1=0, x2=8, y2=4, color=1',
    'again:',
    '    MI_BATCH_BUFFER_END',
    '; trailing comment',
    '.ring bcs0',
    '    MI_BATCH_BUFFER_START addr=main',
    '.submit bcs0',
  ].join('\n');

  it('lists surfaces, data blocks, batches and rings with the labels they hold', () => {
    const syms = documentSymbols(program);
    assert.deepEqual(
      syms.map((s) => [s.kind, s.name, s.line, s.endLine]),
      [
        ['surface', 'fb', 1, 1],
        ['data', '.data 0x10F000', 2, 3],
        ['batch', 'main', 5, 8],
        ['ring', 'bcs0 ring', 10, 12],
      ],
    );
    assert.deepEqual(
      syms[1].children.map((c) => c.name),
      ['flag'],
    );
    assert.deepEqual(
      syms[2].children.map((c) => [c.name, c.line, c.start, c.end]),
      [['again', 7, 0, 5]],
    );
    assert.equal(syms[2].detail, 'batch on bcs0 at 0x100000');
    assert.deepEqual([syms[2].start, syms[2].end], [7, 11]);
    assert.equal(syms[0].detail, '8×4 at 0x108000');
    assert.deepEqual(symbolNames(syms), [
      { name: 'fb', kind: 'surface' },
      { name: 'flag', kind: 'label' },
      { name: 'main', kind: 'batch' },
      { name: 'again', kind: 'label' },
    ]);
  });

  it('adds the assembled addresses when the program assembles', () => {
    const r = assembleSource(program, { file: 'p.vgpu' });
    assert.ok(r.image, JSON.stringify(r.diagnostics));
    const syms = documentSymbols(program, r.image.symbols);
    assert.equal(syms[1].children[0].detail, '0x10F000');
    assert.equal(syms[2].children[0].detail, '0x10001C', 'after the 7-dword XY_COLOR_BLT');
  });

  it('survives broken lines', () => {
    assert.doesNotThrow(() => documentSymbols('.batch\n.batch 1, 2\n.ring\nx: y: "unterminated\n.surface\n.data'));
  });

  it('places assembler diagnostics on their token', () => {
    const lines = [
      '.map 0x100000, 0x100000, 64K, rw',
      '.batch b, 0x100000',
      '    MI_BOGUS addr=1',
      '    MI_STORE_DATA_IMM addr=1, colour=2',
      'dword 0x12q',
    ];
    const { diagnostics } = assembleSource(lines.join('\n'), { file: 't.vgpu' });
    const ranges = diagnostics.map((d) => {
      const r = diagnosticRange(d, lines[d.line - 1]);
      return lines[r.line].slice(r.start, r.end);
    });
    assert.ok(ranges.includes('MI_BOGUS'), ranges.join());
    assert.ok(ranges.includes('colour'), ranges.join());
    assert.ok(ranges.includes('0x12q'), ranges.join());
    const line = 'MI_NOOP x';
    assert.deepEqual(diagnosticRange({ file: 'f', line: 1, col: 9, severity: 'error', message: 'm' }, line), {
      line: 0,
      start: 8,
      end: 9,
    });
    assert.deepEqual(diagnosticRange({ file: 'f', line: 1, col: 1, severity: 'error', message: 'm' }, line), {
      line: 0,
      start: 0,
      end: 7,
    });
    assert.deepEqual(diagnosticRange({ file: 'f', line: 1, col: 40, severity: 'warning', message: 'm' }, line), {
      line: 0,
      start: 0,
      end: 9,
    });
  });

  it('shows the syntax line with required fields first (a surface supplies the pitch)', () => {
    assert.equal(
      commandSyntax(commandByMnemonic('MI_STORE_DATA_IMM')!),
      'MI_STORE_DATA_IMM addr=…, data=… [, qword=…, ggtt=…, core_mode_enable=…]',
    );
    // genxml gives MI_NOOP its Identification Number fields.
    assert.equal(
      commandSyntax(commandByMnemonic('MI_NOOP')!),
      'MI_NOOP [identification_number=…, identification_number_register_write_enable=…]',
    );
    assert.equal(commandSyntax(commandByMnemonic('MI_BATCH_BUFFER_END')!), 'MI_BATCH_BUFFER_END');
    assert.equal(
      commandSyntax(commandByMnemonic('MI_STORE_DATA_INDEX')!),
      'MI_STORE_DATA_INDEX offset=…, data=… [, per_process=…, data1=…, dword_length=…]',
    );
    assert.match(
      commandSyntax(commandByMnemonic('3DSTATE_VERTEX_ELEMENTS')!),
      /^3DSTATE_VERTEX_ELEMENTS \[source_element_offset\.N=…, .*valid\.N=…/,
    );
    assert.match(commandSyntax(commandByMnemonic('3DSTATE_SBE_SWIZ')!), /^3DSTATE_SBE_SWIZ \[(\w+=…, ){8}…\]$/);
    assert.match(
      commandSyntax(commandByMnemonic('XY_COLOR_BLT')!),
      /^XY_COLOR_BLT x1=…, y1=…, x2=…, y2=…, dst=…, color=… \[, write_enable=…, pitch=…/,
    );
  });
});
