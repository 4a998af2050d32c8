// The streamer under hostile input: random dword streams and mutated commands only ever produce GPU
// errors — never an exception, never a hang of the process. And grammar-aware mutants of the example
// programs, a few hundred (`npm run fuzz` runs thousands): only the project's own refusals, bounded.

import { strict as assert } from 'node:assert';
import { COMMANDS, validLengths } from '../../emulator/commands';
import { loadVm } from '../../emulator/program';
import { FAULT_KINDS } from '../../emulator/registers';
import { Mutator, corpus, runMutant, runOptions } from '../fuzz/program-mutation';
import { prng } from './helpers';

const EXECUTED = COMMANDS.filter((d) => d.execution === 'executed' && d.gens.includes(9));

function randomStream(rnd: () => number, n: number): number[] {
  const out: number[] = [];
  const word = () => Math.floor(rnd() * 2 ** 32) >>> 0;
  while (out.length < n) {
    const r = rnd();
    if (r < 0.5) {
      // A real header with a random body: exercises every handler with random fields.
      // Mostly commands with semantics; sometimes any command of the table (state, draws).
      const pool = rnd() < 0.8 ? EXECUTED : COMMANDS;
      const d = pool[Math.floor(rnd() * pool.length)];
      const lens = validLengths(d);
      const len = lens[Math.floor(rnd() * lens.length)];
      let h = d.header;
      if (d.lengthBits) h = ((h & ~((1 << d.lengthBits) - 1)) | (len - d.bias)) >>> 0;
      if (rnd() < 0.3) h = (h ^ (1 << Math.floor(rnd() * 22))) >>> 0; // a flipped flag or length bit
      out.push(h);
      const addrAt = new Set(d.fields.filter((f) => f.kind === 'addr').map((f) => f.dw));
      for (let i = 1; i < len; i++) {
        if (addrAt.has(i)) {
          // Mostly inside the mapped window, sometimes in the page mapped beyond guest RAM.
          out.push(
            (rnd() < 0.85 ? 0x100000 + Math.floor(rnd() * 0x20000) : 0x200000 + Math.floor(rnd() * 0x1000)) & ~3,
          );
        } else if (addrAt.has(i - 1)) out.push(rnd() < 0.95 ? 0 : word());
        else out.push(rnd() < 0.6 ? Math.floor(rnd() * 64) : word());
      }
    } else if (r < 0.6)
      out.push(0x05000000); // MI_BATCH_BUFFER_END
    else out.push(word());
  }
  return out;
}

function program(stream: number[], engine: 'rcs0' | 'bcs0'): string {
  const lines = [
    '.vm memory=16M',
    '.map 0x100000, 0x100000, 128K, rw',
    '.map 0x200000, 0x4000000, 4K, rw ; beyond guest RAM',
    `.batch b, 0x100000, ${engine}`,
  ];
  for (let i = 0; i < stream.length; i += 8)
    lines.push(
      '.dword ' +
        stream
          .slice(i, i + 8)
          .map((x) => '0x' + x.toString(16))
          .join(', '),
    );
  lines.push(
    '.dword 0x05000000',
    `.ring ${engine}`,
    'MI_BATCH_BUFFER_START addr=b',
    `.submit ${engine}`,
    `.wait ${engine}`,
  );
  lines.push('MI_BATCH_BUFFER_START addr=b', `.submit ${engine}`, '.wait all');
  return lines.join('\n') + '\n';
}

describe('streamer fuzz', () => {
  it('random dword streams end in GPU errors or completion, never an exception or a hang', function () {
    this.timeout(120000);
    const rnd = prng(0xf022);
    const kinds = new Set<string>();
    let completed = 0;
    for (let i = 0; i < 300; i++) {
      const engine = rnd() < 0.5 ? 'rcs0' : 'bcs0';
      const src = program(randomStream(rnd, 64), engine);
      const vm = loadVm(
        `fuzz-${i}.vgpu`,
        { watchdog: 20000, semaphoreTimeout: 2000, deviceVersion: 1 + Math.floor(rnd() * 3) },
        src,
      );
      const how = vm.run({ maxSteps: 2_000_000 });
      assert.notEqual(how, 'limit', `program ${i} did not finish`);
      for (const e of vm.errors) {
        assert.ok((FAULT_KINDS as readonly string[]).includes(e.kind), e.kind);
        assert.ok(e.message.length > 10);
        kinds.add(e.kind);
      }
      if (vm.errors.length === 0) completed++;
    }
    // The fuzzer reaches most error kinds and some programs run clean.
    assert.ok(kinds.size >= 4, `kinds seen: ${[...kinds].join(', ')}`);
    assert.ok(completed > 0);
  });
});

describe('program mutation fuzz (quick)', () => {
  it('300 grammar-aware mutants of the examples: diagnostics with places, runs bounded, no exception', function () {
    this.timeout(60000);
    const rnd = prng(0x1717);
    const programs = corpus();
    const m = new Mutator(rnd, programs);
    const ran = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const p = programs[i % programs.length];
      const x = m.mutate(p);
      const o = runOptions(rnd);
      try {
        ran.add(
          runMutant(`m${i}.vgpu`, x.bytes, { maxSteps: 50_000, maxOutput: 64 * 1024, maxBytes: 1 << 28 }, o).outcome,
        );
      } catch (e) {
        assert.fail(
          `mutant ${i} of ${p.name} (${x.done.join(', ')}, ${JSON.stringify(o)}): ${(e as Error).message}\n${x.bytes.toString('utf8').slice(0, 2000)}`,
        );
      }
    }
    assert.ok(ran.has('does not assemble') && ran.has('completed'), [...ran].join(', '));
  });
});
