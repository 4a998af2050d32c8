// vgpu export / vgpu import (issue 12): every example exported to AUB, read back as a capture, imported
// as a program and run gives the same result; every capture fixture imported runs to `vgpu run`'s
// result on the capture; an exported AUB decodes in Mesa's aubinator (live when the tool is built,
// against its saved output otherwise).

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assembleSource } from '../../emulator/assembler';
import { captureBytes, captureImage } from '../../emulator/capture';
import { exportAub } from '../../emulator/export';
import { parseAub } from '../../emulator/formats/aub';
import type { ProgramImage } from '../../emulator/image';
import { importCapture } from '../../emulator/import';
import { assembleProgram, readProgram } from '../../emulator/program';
import { RunResult, Vm } from '../../emulator/vm';

const ROOT = path.join(__dirname, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const CAPTURES = path.join(ROOT, 'test', 'captures');

function run(image: ProgramImage): { vm: Vm; r: RunResult } {
  const vm = new Vm(image);
  vm.run();
  return { vm, r: vm.result() };
}

/** What must agree: status, errors (kind, engine, command, rolled back), surfaces, commands by name. */
function outcome(r: RunResult) {
  return {
    status: r.status,
    commands: r.commands,
    errors: r.errors.map((e) => ({ kind: e.kind, engine: e.engine, commandVa: e.commandVa, rolledBack: e.rolledBack })),
    surfaces: r.surfaces,
    commandCounts: r.commandCounts,
  };
}

function imported(image: ProgramImage): ProgramImage {
  const imp = importCapture(image, 'side.bin');
  const a = assembleSource(imp.program, {
    file: 'imported.vgpu',
    readFile: (name) => {
      assert.equal(name, 'side.bin');
      return imp.sidecar;
    },
  });
  assert.ok(a.image, a.diagnostics.map((d) => `${d.line}: ${d.message}`).join('\n'));
  return a.image!;
}

function findAubinator(): string | undefined {
  const candidates = [process.env.AUBINATOR, '/tmp/mesa-capture-tools/src/intel/tools/aubinator'];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  const which = spawnSync('sh', ['-c', 'command -v aubinator'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/** aubinator's `--headers` command lines: GPU VA, first dword, name. */
function commandLines(text: string): { va: number; dw0: number; name: string }[] {
  return text.split('\n').flatMap((l) => {
    const m = /^(0x[0-9a-f]+):\s+(0x[0-9a-f]+):\s+(\S+)\s*$/.exec(l);
    return m ? [{ va: Number(m[1]), dw0: Number(m[2]), name: m[3] }] : [];
  });
}

describe('vgpu export / import', () => {
  for (const file of fs
    .readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.vgpu'))
    .sort()) {
    it(`${file}: exported, read back, imported: the same run`, () => {
      const p = path.join(EXAMPLES, file);
      const original = assembleProgram(p, readProgram(p));
      const r0 = run(original).r;
      const aub = exportAub(original, { application: file });
      const capture = captureImage(`${file}.aub`, parseAub(aub));
      const r1 = run(capture).r;
      const r2 = run(imported(capture)).r;
      // the capture runs as the program did: same commands, errors at the same commands, same pictures
      assert.deepEqual(outcome(r1), outcome(r0));
      // the imported program is the capture, page for page
      assert.deepEqual(outcome(r2), outcome(r1));
      assert.equal(r2.memorySha256, r1.memorySha256);
      if (original.surfaces.length) assert.ok(Object.keys(r2.surfaces).length === original.surfaces.length);
    });
  }

  it('the capture of an example holds every page the program ended with (context images and the GGTT table added)', () => {
    const p = path.join(EXAMPLES, 'picture.vgpu');
    const original = assembleProgram(p, readProgram(p));
    const { vm: v0 } = run(original);
    const { vm: v1 } = run(captureImage('picture.aub', parseAub(exportAub(original))));
    let pages = 0;
    for (let gpa = 0; gpa < original.memory; gpa += 4096) {
      let nonZero = false;
      for (let k = 0; k < 4096; k += 4) {
        const a = v0.readGpa(gpa + k);
        if (a !== 0) nonZero = true;
        if (a !== v1.readGpa(gpa + k))
          assert.fail(`GPA 0x${(gpa + k).toString(16)}: ${a} in the program, ${v1.readGpa(gpa + k)} in its capture`);
      }
      if (nonZero) pages++;
    }
    assert.ok(pages > 10);
  });

  for (const name of ['picture-blt-skl', 'hang-skl', 'mi-stream-skl', 'gltri-bdw', 'gldraws-skl']) {
    it(`${name}: imported, runs to the capture's result`, () => {
      const capture = captureImage(
        `${name}.aub.gz`,
        parseAub(captureBytes(fs.readFileSync(path.join(CAPTURES, `${name}.aub.gz`)))),
      );
      const r1 = run(capture).r;
      const imp = importCapture(capture, 'side.bin');
      assert.equal(imp.stats.rawFallback, false);
      assert.ok(imp.stats.commands > 0, 'the ring and first batch are disassembled');
      const r2 = run(imported(capture)).r;
      assert.deepEqual(outcome(r2), outcome(r1));
      assert.equal(r2.memorySha256, r1.memorySha256);
    });
  }

  it('an exported AUB decodes in aubinator: ring, batch and every command where the program put it', function () {
    const p = path.join(EXAMPLES, 'pipeline-3d.vgpu');
    const original = assembleProgram(p, readProgram(p));
    const aub = exportAub(original, { application: 'pipeline-3d' });
    const saved = fs.readFileSync(path.join(CAPTURES, 'export-pipeline-3d.aubinator.txt'), 'utf8');
    const tool = findAubinator();
    let text = saved;
    if (tool) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-export-'));
      try {
        fs.writeFileSync(path.join(dir, 'p.aub'), aub);
        const r = spawnSync(tool, ['--no-pager', '--color=never', '--headers', path.join(dir, 'p.aub')], {
          encoding: 'utf8',
          timeout: 30000,
        });
        assert.equal(r.status, 0, r.stderr);
        text = r.stdout;
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      assert.deepEqual(
        commandLines(text),
        commandLines(saved),
        'aubinator decodes the export as it did when the fixture was saved',
      );
    } else {
      console.log(
        '      (aubinator not built: checking against its saved output, test/captures/export-pipeline-3d.aubinator.txt)',
      );
    }
    assert.match(text, /PCI ID:\s+0x1912/);
    const lines = commandLines(text);
    // the ring's MI_BATCH_BUFFER_START, then the batch's 11 commands, each at its VA with its header
    const batchVas = [...original.sourceMap.keys()].sort((x, y) => x - y);
    assert.equal(lines[0].name, 'MI_BATCH_BUFFER_START');
    assert.deepEqual(
      lines.slice(1).map((l) => l.va),
      batchVas,
    );
    const vm = new Vm(captureImage('p.aub', parseAub(aub)));
    for (const l of lines.slice(1)) assert.equal(vm.readVa(l.va, 1)[0], l.dw0);
  });

  it('.incbin and .write read the sidecar where the program says, and refuse what is not there', () => {
    const file = new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]);
    const asm = (src: string, readFile?: (n: string) => Uint8Array) =>
      assembleSource(src, { file: 't.vgpu', readFile });
    const ok = asm('.vm memory=1M\n.incbin 0x1000, "d.bin", 4, 8, phys\n.write 0x2000, "d.bin", 0, 4\n', () => file);
    assert.ok(ok.image, ok.diagnostics.map((d) => d.message).join('; '));
    assert.deepEqual([...ok.image!.pages.get(1)!.subarray(0, 3)], [2, 3, 0]);
    assert.deepEqual(
      ok.image!.driver.map((o) => o.op === 'write' && [o.gpa, ...o.dwords]),
      [[0x2000, 1]],
    );
    const msg = (src: string, readFile?: (n: string) => Uint8Array) =>
      asm(src, readFile)
        .diagnostics.filter((d) => d.severity === 'error')
        .map((d) => `${d.line}:${d.col}: ${d.message}`);
    const missing = () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    assert.deepEqual(msg('.vm memory=1M\n.incbin 0x1000, "x.bin", 0, 4, phys\n', missing), [
      '2:17: cannot read "x.bin": no such file',
    ]);
    assert.deepEqual(
      msg('.vm memory=1M\n.incbin 0x1000, "d.bin", 12, 8, phys\n', () => file),
      ['2:30: "d.bin" has 16 bytes: OFFSET 0xc + SIZE 0x8 runs past its end'],
    );
    assert.match(msg('.incbin 0x1000, "d.bin", 0, 4, phys\n')[0], /no directory to read files from/);
    assert.match(
      msg('.vm memory=1M\n.incbin 0x1000, "d.bin", 0, 0x20000000, phys\n', () => file)[0],
      /SIZE 0x20000000 is outside/,
    );
    const edge = msg(
      '.vm memory=1M\n.incbin 0xff000, "d.bin", 0, 16, phys\n.incbin 0x100000, "d.bin", 0, 4, phys\n',
      () => file,
    );
    assert.match(edge[0], /2:1: .* overlaps the page tables .* at the top of guest RAM/);
    assert.match(edge[1], /3:1: .* GPA beyond guest RAM/);
    assert.match(
      msg('.ring rcs0\n.context rcs0, start=0x1000, head=0, tail=8, ctl=1, pml4=0\n')[0],
      /\.ring and \.context .* do not mix/,
    );
    assert.match(msg('.context rcs0, start=0x1000, head=0, tail=8, ctl=1, lrca=0\n')[0], /\.context needs pml4=/);
  });
});
