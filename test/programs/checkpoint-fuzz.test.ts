// Checkpoints under attack (issue 17), quick: damage and forgery classes on every example; the long
// run is `npm run fuzz` (test/fuzz/). Zero crashes, nothing accepted that reaches outside guest RAM.

import { strict as assert } from 'node:assert';
import { CheckpointError, parseSections, serializeVm, vmFromSections } from '../../emulator/checkpoint';
import { REGISTERS } from '../../emulator/registers';
import { RAM_HPA, type Vm } from '../../emulator/vm';
import { Tally, assemble, damage, frame, sectionsOf, seedCheckpoints, tryLoad } from '../fuzz/checkpoint-damage';
import { EXAMPLES, example } from './helpers';

/** Replaces one JSON field of a section, keeping its checksum valid. */
function forge(buf: Buffer, tag: string, edit: (doc: any) => void, index = 0): Buffer {
  const secs = sectionsOf(buf);
  const s = secs.filter((x) => x.tag === tag)[index];
  assert.ok(s, `no ${tag} section`);
  let payload: Buffer;
  if (tag === 'SNAP') {
    const n = s.payload.readUInt32LE(0);
    const doc = JSON.parse(s.payload.toString('utf8', 4, 4 + n));
    edit(doc);
    const j = Buffer.from(JSON.stringify(doc));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(j.length);
    payload = Buffer.concat([len, j, s.payload.subarray(4 + n)]);
  } else {
    const doc = JSON.parse(s.payload.toString('utf8'));
    edit(doc);
    payload = Buffer.from(JSON.stringify(doc));
  }
  return assemble(
    buf,
    secs.map((x) => (x === s ? { ...x, payload } : x)),
  );
}

function refused(buf: Buffer, why: RegExp): void {
  assert.throws(
    () => vmFromSections(parseSections(buf, 'ckpt'), 'ckpt'),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.match((e as Error).message, why);
      return true;
    },
  );
}

/** A checkpoint of page-fault.vgpu with a submission in flight (so it carries SNAP sections) and TLB entries. */
function inFlight(): Buffer {
  const vm = example('semaphore-handoff.vgpu');
  vm.run({ untilCommands: 5 });
  const buf = serializeVm(vm);
  assert.ok(
    sectionsOf(buf).some((s) => s.tag === 'SNAP'),
    'the seed carries snapshots',
  );
  return buf;
}

describe('checkpoint fuzz (quick)', () => {
  it('forged fields of issue 17 are refused with the section and its byte offset', () => {
    const buf = inFlight();
    refused(
      forge(buf, 'STAT', (d) => (d.config = null)),
      /STAT section at byte \d+: state\.config: null is not an object/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.regs = null)),
      /STAT section at byte \d+: .*regs: null is not an object of registers by name/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.engines = [])),
      /engines: 0 entries/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.driverPc = -1)),
      /driverPc: -1 is not an integer/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.engines[0].tlb = null)),
      /tlb: null/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.engines[1].subs = null)),
      /subs: null/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.errors = null)),
      /errors: null/,
    );
    refused(
      forge(buf, 'STAT', (d) => delete d.opStep),
      /opStep: absent/,
    );
    refused(
      forge(buf, 'IMGE', (d) => (d.surfaces = null)),
      /IMGE section at byte \d+: differs from what its program assembles to/,
    );
    refused(
      forge(buf, 'IMGE', (d) => (d.driver[0].gpa = 2 ** 40)),
      /IMGE section .*differs/,
    );
    refused(
      forge(buf, 'SNAP', (d) => (d.state = null)),
      /SNAP section at byte \d+: snapshot\.state: null/,
    );
    refused(
      forge(buf, 'META', (d) => (d.exposedVersion = 9)),
      /META section at byte \d+: meta\.exposedVersion/,
    );
  });

  it('state that points outside guest RAM is refused: TLB entries, ring positions, snapshot pages', () => {
    const buf = inFlight();
    const vm = vmFromSections(parseSections(buf, 'x'), 'x');
    const ept = vm.mem.allocatedIn(0, RAM_HPA / 4096)[0];
    assert.ok(ept !== undefined, 'the VMM keeps tables outside guest RAM');
    const withTlb = (base: number) =>
      forge(buf, 'STAT', (d) => {
        const e = d.state.engines.find((x: { tlb: number[] }) => x.tlb.length) ?? d.state.engines[0];
        if (e.tlb.length) e.tlb[1] = base;
        else e.tlb = [0x100, base, 1];
      });
    refused(withTlb(ept * 4096), /tlb\[0\]: host address 0x[0-9a-f]+ is outside this VM's guest RAM/);
    refused(withTlb(RAM_HPA + vm.cfg.memory), /outside this VM's guest RAM/);
    refused(withTlb(RAM_HPA + 12), /outside this VM's guest RAM/);
    refused(
      forge(buf, 'STAT', (d) => (d.state.ringGpa[0] = vm.cfg.memory - 4096 * 1 + 4096)),
      /ringGpa\[0\]: ring of \d+ bytes at GPA 0x[0-9a-f]+ reaches outside guest RAM/,
    );
    refused(
      forge(buf, 'SNAP', (d) => (d.absent = [vm.cfg.memory / 4096])),
      /snapshot\.absent\[0\]/,
    );
    refused(
      forge(buf, 'SNAP', (d) => (d.state.engines[0].tlb = [1, 0, 1])),
      /SNAP section at byte \d+: snapshot\.state\.engines\[0\]\.tlb\[0\]: host address 0x0/,
    );
    // The global GTT's TLB, the batch address spaces and the command-keyed records are checked alike.
    refused(
      forge(buf, 'STAT', (d) => (d.state.engines[0].ggttTlb = [0x10, ept * 4096, 1])),
      /ggttTlb\[0\]: host address 0x[0-9a-f]+ is outside this VM's guest RAM/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.engines[0].bbSpace = [2, 0, 0, 0, 0, 0, 0, 0])),
      /bbSpace\[0\]: 2 is not an integer in 0\.\.1/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.engines[0].counts = { NOT_A_COMMAND: 1 })),
      /counts\.NOT_A_COMMAND: is not a command of the table/,
    );
    refused(
      forge(
        buf,
        'STAT',
        (d) => (d.state.engines[0].pipeline = { MI_NOOP: { dwords: [0], previous: null, at: 0, va: 0 } }),
      ),
      /pipeline\.MI_NOOP: is not a command of the table/,
    );
    refused(
      forge(
        buf,
        'STAT',
        (d) => (d.state.engines[0].pipeline = { '3DSTATE_VS': { dwords: [-1], previous: null, at: 0, va: 0 } }),
      ),
      /pipeline\.3DSTATE_VS\.dwords\[0\]/,
    );
  });

  it('missing PAGE or SNAP sections, reordered or duplicated sections are refused', () => {
    const buf = inFlight();
    const secs = sectionsOf(buf);
    refused(
      assemble(
        buf,
        secs.filter((s) => s.tag !== 'PAGE'),
      ),
      /lacks its PAGE section|before the PAGE section it needs/,
    );
    refused(
      assemble(
        buf,
        secs.filter((s) => s.tag !== 'SNAP'),
      ),
      /no SNAP section holds a snapshot from before it/,
    );
    const [meta, imge, stat, ...rest] = secs;
    refused(assemble(buf, [imge, meta, stat, ...rest]), /section IMGE at byte 12 comes before the META section/);
    refused(assemble(buf, [meta, imge, stat, stat, ...rest]), /section STAT at byte \d+ appears twice/);
    const snaps = secs.filter((s) => s.tag === 'SNAP');
    if (snaps.length > 1)
      refused(
        assemble(buf, [meta, imge, stat, secs.find((s) => s.tag === 'PAGE')!, ...snaps.reverse(), secs.at(-1)!]),
        /out of order/,
      );
    // A PAGE record outside guest RAM, re-framed with a valid checksum.
    const page = secs.find((s) => s.tag === 'PAGE')!;
    const bad = Buffer.from(page.payload.length ? page.payload : Buffer.alloc(4104));
    bad.writeBigUInt64LE(1n << 40n, 0);
    refused(
      assemble(
        buf,
        secs.map((s) => (s === page ? { ...s, payload: bad } : s)),
      ),
      /PAGE section at byte \d+: the record at byte 0 is for GPA 0x[0-9a-f]+, outside guest RAM/,
    );
    assert.ok(frame('END.', Buffer.alloc(0)).length === 44);
  });

  it('every example: truncation at every section boundary, bit flips, dropped/duplicated/swapped sections, 40 forgeries each; zero crashes', function () {
    this.timeout(300000);
    const t: Tally = { cases: 0, refused: 0, ran: 0, placed: 0 };
    const seeds = seedCheckpoints(EXAMPLES);
    seeds.forEach((s, i) => damage(s.name, s.buf, 0x1700 + i, 20, 40, t));
    if (process.env.VGPU_FUZZ_VERBOSE) console.log(t);
    assert.ok(t.cases > 1000, `${t.cases} cases`);
    assert.ok(t.refused > t.cases * 0.8, `${t.refused} of ${t.cases} refused`);
    // The untouched seeds still load.
    for (const s of seeds) assert.equal(tryLoad(s.buf, s.name).outcome, 'ran');
  });
});

describe('checkpoint registers by name', () => {
  /** What a VM holds that a checkpoint must restore: registers and the result of running it to the end. */
  const finish = (vm: Vm) => {
    const regs = Array.from(vm.regs.values);
    vm.run();
    return { regs, result: vm.result() };
  };
  const load = (buf: Buffer) => vmFromSections(parseSections(buf, 'ckpt'), 'ckpt');

  it('saves every register under its table name, a 64-bit one as [low, high]; STAT and SNAP alike', () => {
    const buf = inFlight();
    const stat = JSON.parse(
      sectionsOf(buf)
        .find((s) => s.tag === 'STAT')!
        .payload.toString('utf8'),
    );
    assert.deepEqual(
      Object.keys(stat.state.regs),
      REGISTERS.map((r) => r.name),
    );
    assert.equal(typeof stat.state.regs['rcs0.RING_HEAD'], 'number');
    for (const r of REGISTERS) assert.equal(Array.isArray(stat.state.regs[r.name]) ? 64 : 32, r.def.width, r.name);
    const snap = sectionsOf(buf).find((s) => s.tag === 'SNAP')!.payload;
    const doc = JSON.parse(snap.toString('utf8', 4, 4 + snap.readUInt32LE(0)));
    assert.ok(
      doc.touchedRegs.every((n: string) => REGISTERS.some((r) => r.name === n)),
      doc.touchedRegs.join(),
    );
    assert.deepEqual(Object.keys(doc.state.regs).length, REGISTERS.length);
  });

  it('a register list in another order is restored by name: the same registers, the same run', () => {
    const buf = inFlight();
    const plain = finish(load(buf));
    const reversed = (regs: Record<string, unknown>) => Object.fromEntries(Object.entries(regs).reverse());
    const shuffled = forge(
      forge(buf, 'STAT', (d) => (d.state.regs = reversed(d.state.regs))),
      'SNAP',
      (d) => {
        d.state.regs = reversed(d.state.regs);
        d.touchedRegs.reverse();
      },
    );
    assert.ok(!shuffled.equals(buf));
    assert.deepEqual(finish(load(shuffled)), plain);
  });

  it('a register the checkpoint does not name (one added to the table since) keeps its reset value; the others their saved ones', () => {
    const vm = example('semaphore-handoff.vgpu');
    vm.run({ untilCommands: 5 });
    const gpr = vm.engine('rcs0').slots.gpr0;
    vm.editRegister(gpr, 0x1234);
    const buf = serializeVm(vm);
    const back = load(forge(buf, 'STAT', (d) => delete d.state.regs['rcs0.CS_GPR0']));
    assert.equal(back.regs.values[gpr], 0, 'CS_GPR0 at its reset value');
    const want = Array.from(vm.regs.values);
    want[gpr] = 0;
    assert.deepEqual(Array.from(back.regs.values), want);
  });

  it('an unknown register name is refused with the section, its byte offset and the name; in SNAP too', () => {
    const buf = inFlight();
    refused(
      forge(buf, 'STAT', (d) => (d.state.regs['rcs0.CS_GPR99'] = 1)),
      /STAT section at byte \d+: state\.state\.regs\.rcs0\.CS_GPR99: no register "rcs0\.CS_GPR99" in this vgpu's register table \(saved by another version\?\)/,
    );
    refused(
      forge(buf, 'STAT', (d) => Object.defineProperty(d.state.regs, '__proto__', { value: 1, enumerable: true })),
      /regs\.__proto__: no register "__proto__"/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.regs['rcs0.cs_gpr0'] = 1)),
      /no register "rcs0\.cs_gpr0"/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.regs.GENCAP = 5)),
      /regs\.GENCAP: 5 is not a list/,
    );
    refused(
      forge(buf, 'STAT', (d) => (d.state.regs['rcs0.RING_HEAD'] = [1, 2])),
      /regs\.rcs0\.RING_HEAD: an array is not an integer/,
    );
    refused(
      forge(buf, 'SNAP', (d) => (d.state.regs.NOPE = 0)),
      /SNAP section at byte \d+: snapshot\.state\.regs\.NOPE: no register "NOPE"/,
    );
    refused(
      forge(buf, 'SNAP', (d) => d.touchedRegs.push('bcs0.NOPE')),
      /SNAP section at byte \d+: snapshot\.touchedRegs\[\d+\]: no register "bcs0\.NOPE"/,
    );
  });

  it('a format-2 checkpoint (registers by position) is refused, naming its version', () => {
    const buf = Buffer.from(inFlight());
    buf.writeUInt32LE(2, 8);
    assert.throws(
      () => parseSections(buf, 'old.ckpt'),
      /^Error: old\.ckpt has format version 2, which saves registers by position in the register table of the vgpu that wrote it; this vgpu reads version 3 \(registers by name\)/,
    );
  });
});
