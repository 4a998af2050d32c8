// Real GPU captures (Mesa AUB) run as VMs, refereed by Mesa's own decoder: every command aubinator
// lists in a capture's ring and batches is retired with the same name and count. aubinator's output
// was saved beside each fixture (test/captures/*.aubinator.txt) by make-capture-tools.sh's build, so
// no Mesa tool is needed at test time.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { assemble } from '../../emulator/assembler';
import { CaptureError, loadCapture } from '../../emulator/capture';
import { parseSections, serializeVm, vmFromSections } from '../../emulator/checkpoint';
import { AubFormatError } from '../../emulator/formats/aub';
import { Vm } from '../../emulator/vm';
import { example, prng, runChecked } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const CAPTURES = path.join(ROOT, 'test', 'captures');
const raw = (name: string) => new Uint8Array(fs.readFileSync(path.join(CAPTURES, `${name}.aub.gz`)));
const open = (name: string, o: ConstructorParameters<typeof Vm>[1] = {}) =>
  new Vm(loadCapture(`${name}.aub.gz`, raw(name)), o);

/** aubinator's command lines (`VA:  DW0:  NAME`), in its decode order, and whether it lost a batch. */
function aubinator(name: string): { names: string[]; lost: string[] } {
  const text = fs.readFileSync(path.join(CAPTURES, `${name}.aubinator.txt`), 'utf8');
  const names: string[] = [];
  const lost: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^0x[0-9a-f]+:\s+0x[0-9a-f]+:\s+(\S+)$/.exec(line);
    if (m) names.push(m[1]);
    const c = /^count (\d+) (\S+)$/.exec(line); // a long capture's fixture keeps names with counts
    if (c) for (let i = 0; i < Number(c[1]); i++) names.push(c[2]);
    const u = /^Secondary batch at (0x[0-9a-f]+) unavailable$/.exec(line);
    if (u) lost.push(u[1]);
  }
  return { names, lost };
}

/** Opens a fixture and runs it under the write-set check: it completes, retiring exactly what aubinator lists. */
function runsAsAubinatorDecodes(name: string): { vm: Vm; r: ReturnType<Vm['result']>; ref: string[] } {
  const ref = aubinator(name);
  assert.equal(ref.lost.length, 0, `aubinator lost no batch of ${name}`);
  const vm = open(name);
  assert.deepEqual(runChecked(vm), []);
  const r = vm.result();
  assert.equal(r.status, 'completed');
  assert.equal(r.commands, ref.names.length);
  assert.deepEqual(r.commandCounts, counts(ref.names));
  return { vm, r, ref: ref.names };
}

function counts(names: readonly string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of names) c[n] = (c[n] ?? 0) + 1;
  return Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe('captures (Mesa AUB)', () => {
  it('gltri-bdw: iris drawing a triangle retires exactly what aubinator decodes (136 commands, 2 draws)', () => {
    const ref = aubinator('gltri-bdw');
    assert.equal(ref.lost.length, 0);
    assert.equal(ref.names.length, 136);
    const vm = open('gltri-bdw');
    assert.equal(vm.gen, 8);
    assert.deepEqual(runChecked(vm), []);
    const r = vm.result();
    assert.equal(r.status, 'completed');
    assert.deepEqual(r.commandCounts, counts(ref.names));
    assert.equal(r.commands, 136);
    assert.deepEqual(r.notEmulated, { '3DPRIMITIVE': 2 });
    assert.deepEqual(r.capture, {
      format: 'aub',
      platform: 'BDW',
      pciId: '0x162e',
      application: 'gltri',
      submissions: 2,
    });
    // the pipeline state iris left is retired into the engine, e.g. its 3DPRIMITIVE's topology
    assert.ok(vm.engine('rcs0').pipeline['3DSTATE_VF_TOPOLOGY']);
  });

  it('gldraws-skl: three GLES draws on SKL (made here with gldraws.c) retire exactly what aubinator decodes', () => {
    const { vm, r, ref } = runsAsAubinatorDecodes('gldraws-skl');
    assert.equal(vm.gen, 9);
    assert.equal(r.notEmulated['3DPRIMITIVE'], ref.filter((n) => n === '3DPRIMITIVE').length);
    assert.deepEqual(r.capture, {
      format: 'aub',
      platform: 'SKL',
      pciId: '0x1912',
      application: 'gldraws',
      submissions: 2,
    });
  });

  it('glcompute-skl: a GLES 3.1 compute dispatch (made here with glcompute.c) retires exactly what aubinator decodes, GPGPU_WALKER not emulated', () => {
    const { vm, r } = runsAsAubinatorDecodes('glcompute-skl');
    assert.deepEqual(r.notEmulated, { GPGPU_WALKER: 1 });
    // the dispatch's state is retired into the engine: MEDIA_VFE_STATE and the interface descriptor
    for (const k of ['MEDIA_VFE_STATE', 'MEDIA_INTERFACE_DESCRIPTOR_LOAD', 'MEDIA_CURBE_LOAD'])
      assert.ok(vm.engine('rcs0').pipeline[k], k);
  });

  it("vkfill-skl: a Vulkan program through Debian's anv (vkfill.c: fill, copy, clear) retires exactly what aubinator decodes", () => {
    const { r } = runsAsAubinatorDecodes('vkfill-skl');
    assert.equal(r.capture!.application, 'vkfill');
    // anv's own MI work executes: its MI_COPY_MEM_MEM and MI_STORE_DATA_IMM (query and fence writes)
    assert.ok(r.commandCounts.MI_COPY_MEM_MEM > 0 && r.commandCounts.MI_STORE_DATA_IMM > 0);
    assert.equal(r.notEmulated.MI_COPY_MEM_MEM, undefined);
  });

  it('mi-stream-skl: 16003 MI commands submitted raw retire as aubinator counts them, and store what mi-stream.vgpu stores', () => {
    const ref = aubinator('mi-stream-skl');
    const vm = open('mi-stream-skl');
    assert.deepEqual(runChecked(vm), []);
    const r = vm.result();
    assert.equal(r.commands, 16003);
    assert.deepEqual(r.commandCounts, counts(ref.names));
    const prog = new Vm(
      assemble(fs.readFileSync(path.join(CAPTURES, 'mi-stream.vgpu'), 'utf8'), { file: 'mi-stream.vgpu' }),
    );
    prog.run();
    assert.deepEqual(vm.readVa(0x200000, 4096), prog.readVa(0x200000, 4096));
    assert.equal(vm.readVa(0x200000 + ((4 * 7999) % 16384), 1)[0], 7999);
  });

  it("picture-blt-skl: the blitter batch aubinator cannot reach is retired too, and is picture.vgpu's batch", () => {
    // aubinator reads a context's PML4 at the render context's fixed positions, so on the blitter
    // context it loses the batch ("Secondary batch ... unavailable") and lists only the ring. The test:
    // every command it lists is retired with the same count, and what is retired beyond that is exactly
    // the batch at the address it lost, command by command as the assembler made it from picture.vgpu.
    const ref = aubinator('picture-blt-skl');
    assert.deepEqual(ref.lost, ['0x00100000']);
    const vm = open('picture-blt-skl');
    assert.equal(vm.gen, 9);
    assert.deepEqual(runChecked(vm), []);
    const r = vm.result();
    assert.equal(r.status, 'completed');
    const prog = example('picture.vgpu');
    const batch = prog.image.listing
      .filter((l) => l.ring === null && l.va >= 0x100000 && l.va < 0x110000)
      .map((l) => l.text.split(/\s+/)[0].toUpperCase());
    assert.equal(batch.length, 10);
    assert.deepEqual(r.commandCounts, counts([...ref.names, ...batch]));
  });

  it("picture-blt-skl: its surfaces are byte-identical to picture.vgpu's", () => {
    const vm = open('picture-blt-skl');
    vm.run();
    const prog = example('picture.vgpu');
    prog.run();
    for (const s of prog.image.surfaces) {
      const want = prog.readSurface(s.name).pixels;
      for (let y = 0; y < s.height; y++) {
        const row = vm.readVa(s.va + y * s.pitch, s.width, 'bcs0');
        assert.deepEqual(row, Array.from(want.subarray(y * s.width, (y + 1) * s.width)), `${s.name} row ${y}`);
      }
    }
  });

  it("hang-skl: hangs at its MI_SEMAPHORE_WAIT (0x100000); what retired before is aubinator's prefix", () => {
    const ref = aubinator('hang-skl');
    const vm = open('hang-skl', { autoRollback: false });
    assert.equal(vm.run(), 'error');
    const e = vm.errors[0];
    assert.equal(e.kind, 'hang');
    assert.equal(e.mnemonic, 'MI_SEMAPHORE_WAIT');
    assert.equal(e.commandVa, 0x100000);
    const at = ref.names.indexOf('MI_SEMAPHORE_WAIT');
    assert.ok(at > 0);
    // retired before the hang = aubinator's commands before the wait; after it (batch end, the ring's
    // MI_NOOP) nothing runs
    assert.deepEqual(vm.result().commandCounts, counts(ref.names.slice(0, at)));
    assert.deepEqual(ref.names.slice(at + 1), ['MI_BATCH_BUFFER_END', 'MI_NOOP']);
    // outside a debugger the hang is rolled back and its submission skipped, as a GPU reset would
    const rb = open('hang-skl');
    rb.run();
    assert.equal(rb.result().status, 'completed');
    assert.equal(rb.errors[0].rolledBack, true);
  });

  it("rings are fetched through the GGTT, batches through the context's PPGTT", () => {
    const vm = open('hang-skl', { autoRollback: false });
    vm.run({ untilCommands: 1 });
    const e = vm.engine('rcs0');
    assert.equal(e.depth, 1); // inside the batch its ring started
    // the ring's GGTT address 0x1000 is not mapped in the PPGTT: only the GGTT path can have fetched it
    assert.equal(vm.translate(0x1000, 0).hpa < 0, true);
    assert.equal(vm.readVa(0x100000, 1)[0], 0x0e00c002);
  });

  for (const [name, gen, platform] of [
    ['gltri-icl', 11, 'ICL'],
    ['gltri-tgl', 12, 'TGL'],
  ] as const) {
    it(`${name}: a gen${gen} capture runs decoded as gen9; what gen9 lacks or words differently is skipped and named, the rest retires as aubinator decodes it`, () => {
      const ref = counts(aubinator(name).names);
      const vm = open(name);
      assert.equal(vm.gen, 9);
      assert.deepEqual(runChecked(vm), []);
      const r = vm.result();
      assert.equal(r.status, 'completed');
      assert.equal(r.capture!.platform, platform);
      assert.match(r.capture!.note!, new RegExp(`^a gen${gen} capture, decoded with gen9's command layouts`));
      const total = Object.values(ref).reduce((a, b) => a + b, 0);
      assert.equal(r.commands, total, 'every command aubinator lists is retired');
      const skipped = Object.keys(r.commandCounts).filter((n) =>
        / \(a gen\d+ command gen9 lacks\)$| \(gen\d+'s \d+-dword form: /.test(n),
      );
      assert.ok(skipped.length > 0);
      for (const n of skipped) assert.equal(r.notEmulated[n], r.commandCounts[n], `${n} is listed as not emulated`);
      // Every command gen9 has retires under its name, as often as aubinator lists it.
      const named = Object.keys(r.commandCounts).filter((n) => !skipped.includes(n));
      for (const n of named) assert.equal(r.commandCounts[n], ref[n], n);
      const rest = Object.entries(ref)
        .filter(([n]) => !named.includes(n))
        .reduce((a, [, c]) => a + c, 0);
      assert.equal(
        skipped.reduce((a, n) => a + r.commandCounts[n], 0),
        rest,
        "the skipped ones are the rest of aubinator's",
      );
      if (gen === 12)
        assert.equal(
          r.notEmulated['0x786d0000 (a gen12 command gen9 lacks)'],
          ref['3DSTATE_CONSTANT_ALL'],
          'aubinator names 0x786d 3DSTATE_CONSTANT_ALL',
        );
      else
        assert.equal(
          r.notEmulated["MI_ATOMIC (gen11's 7-dword form: MI_ATOMIC is 11 dwords, header DWord Length says 7)"],
          ref.MI_ATOMIC,
        );
    });
  }

  it('gltri-tgl: the skipped gen12 commands are machine state: a checkpoint and a step back keep their counts exact', () => {
    const straight = open('gltri-tgl');
    straight.run();
    const whole = straight.result();
    const vm = open('gltri-tgl');
    vm.run({ untilCommands: 120 });
    const half = vm.engine('rcs0').commandCounts();
    const copy = vmFromSections(parseSections(serializeVm(vm), 'test'), 'test');
    assert.deepEqual(copy.engine('rcs0').commandCounts(), half, 'restored from a checkpoint');
    copy.run();
    assert.deepEqual(copy.result().commandCounts, whole.commandCounts);
    vm.run();
    vm.goToStep(60);
    vm.run();
    assert.deepEqual(vm.result().commandCounts, whole.commandCounts, 'after going back to t=60 and on again');
  });

  it('refuses a platform it does not know, and damaged files with an offset', () => {
    const bytes = Buffer.from(zlib.gunzipSync(raw('hang-skl')));
    const odd = Buffer.from(bytes);
    odd.write('PCI-ID=0x0BAD', 20, 'latin1');
    assert.throws(
      () => loadCapture('odd.aub', odd),
      (e: Error) => e instanceof CaptureError && /unknown PCI ID 0x0bad/.test(e.message),
    );
    assert.throws(
      () => loadCapture('cut.aub', bytes.subarray(0, 5000)),
      (e: Error) => e instanceof AubFormatError && e.offset === 4404 && /truncated/.test(e.reason),
    );
    assert.throws(
      () => loadCapture('cut.aub.gz', raw('hang-skl').subarray(0, 300)),
      (e: Error) => e instanceof AubFormatError && /gzip/.test(e.reason),
    );
  });

  it('hostile captures: every truncation and random corruption opens and runs, or is refused; never a crash', function () {
    this.timeout(120000);
    const bytes = new Uint8Array(zlib.gunzipSync(raw('hang-skl')));
    const tryOpen = (b: Uint8Array) => {
      try {
        const vm = new Vm(loadCapture('x.aub', b), { semaphoreTimeout: 100, watchdog: 1000 });
        vm.run({ maxSteps: 3000 });
        vm.result();
        return true;
      } catch (e) {
        assert.ok(e instanceof AubFormatError || e instanceof CaptureError, (e as Error).stack);
        return false;
      }
    };
    let opened = 0;
    for (let cut = 4; cut <= bytes.length; cut += 4) if (tryOpen(bytes.subarray(0, cut))) opened++;
    assert.ok(opened > 0);
    const rnd = prng(7);
    for (let n = 0; n < 400; n++) {
      const b = new Uint8Array(bytes);
      for (let k = 0; k < 3; k++) {
        const at = Math.floor(rnd() * b.length);
        b[at] ^= 1 << Math.floor(rnd() * 8);
      }
      tryOpen(b);
    }
  });

  describe('vgpu run FILE.aub', () => {
    const CLI = path.join(ROOT, 'dist', 'cli.js');
    const vgpu = (...args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    before(function () {
      this.timeout(120000);
      const b = spawnSync(process.execPath, [path.join(ROOT, 'esbuild.js')], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(b.status, 0, b.stderr);
    });

    it('prints the run result plus "capture"; the format comes from the content, gzipped or not', () => {
      const r = vgpu('run', path.join(CAPTURES, 'gltri-bdw.aub.gz'), '--json');
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out);
      assert.deepEqual(Object.keys(j), [
        'status',
        'commands',
        'cycles',
        'errors',
        'snapshots',
        'surfaces',
        'memorySha256',
        'commandCounts',
        'notEmulated',
        'capture',
      ]);
      assert.deepEqual(j.capture, {
        format: 'aub',
        platform: 'BDW',
        pciId: '0x162e',
        application: 'gltri',
        submissions: 2,
      });
      assert.equal(j.commandCounts['3DPRIMITIVE'], 2);
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-aub-'));
      const plain = path.join(tmp, 'hang.bin');
      fs.writeFileSync(plain, zlib.gunzipSync(fs.readFileSync(path.join(CAPTURES, 'hang-skl.aub.gz'))));
      const h = vgpu('run', plain, '--json', '--no-auto-rollback');
      assert.equal(h.code, 1);
      const hj = JSON.parse(h.out);
      assert.equal(hj.errors[0].kind, 'hang');
      assert.equal(hj.errors[0].commandVa, 0x100000);
      assert.equal(hj.capture.platform, 'SKL');
      const t = vgpu('run', plain);
      assert.equal(t.code, 0);
      assert.match(t.out, /capture: aub, SKL \(PCI ID 0x1912\), application 'submit', 1 submission/);
      const cut = path.join(tmp, 'cut.aub');
      fs.writeFileSync(cut, fs.readFileSync(plain).subarray(0, 5000));
      const c = vgpu('run', cut, '--json');
      assert.equal(c.code, 2);
      assert.match(c.err, /^vgpu: .*cut\.aub: byte 4404: truncated: MEM_WRITE block/);
      assert.equal(c.err.trim().split('\n').length, 1);
    });
  });
});
