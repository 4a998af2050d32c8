// `npm run fuzz`: the grammar-aware program fuzz (issue 17): 4,000 mutants of the examples and the
// adapter tests' programs (program-mutation.ts) taken the way `vgpu run` takes a file, in-process with a
// step watchdog, under random `vgpu run` flags. Only the project's own refusals come out (diagnostics with a line and column in the
// file, configuration errors), never an exception or an internal error; every report, time and memory
// per mutant bounded. VGPU_FUZZ_SEED reproduces a run (printed); VGPU_FUZZ_SCALE multiplies the count.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mulberry32 } from '../helpers/prng';
import { MUTATIONS, Mutator, Outcome, corpus, runMutant, runOptions } from './program-mutation';

const SEED = Number(process.env.VGPU_FUZZ_SEED ?? 0x9a017);
const SCALE = Number(process.env.VGPU_FUZZ_SCALE ?? 1);
const MUTANTS = 4000 * SCALE;
// Output: 50 diagnostics (MAX_DIAGNOSTICS), each a message of at most 400 characters and a 100-character window of its line.
const LIMITS = { maxSteps: 100_000, maxOutput: 64 * 1024, maxBytes: 256 * 1024 * 1024 };
/** Wall-clock time one mutant may take (assembly, run to the watchdog, report), on a busy machine. */
const MAX_MS = 5000;
/** This process's RSS may not pass it. */
const RSS_BOUND_MIB = 1024;

describe('program fuzz (long)', () => {
  it(`${MUTANTS} grammar-aware mutants through assembly and the run path: no crash, bounded`, function () {
    this.timeout(0);
    console.log(`      seed ${SEED} (VGPU_FUZZ_SEED=${SEED} reproduces it)`);
    const programs = corpus();
    const rnd = mulberry32(SEED);
    const mutator = new Mutator(rnd, programs);
    const outcomes = new Map<Outcome, number>();
    let slowest = 0;
    let largest = 0;
    let heaviest = 0;
    let rss = 0;
    const t0 = performance.now();
    for (let i = 0; i < MUTANTS; i++) {
      const p = programs[i % programs.length];
      const m = mutator.mutate(p);
      const options = runOptions(rnd);
      const start = performance.now();
      let r;
      try {
        r = runMutant(`mutant-${i}.vgpu`, m.bytes, LIMITS, options);
      } catch (e) {
        const keep = path.join(os.tmpdir(), `vgpu-mutant-${SEED}-${i}.vgpu`);
        fs.writeFileSync(keep, m.bytes);
        throw new Error(
          `mutant ${i} of ${p.name} (${m.done.join(', ')}; options ${JSON.stringify(options)}; kept as ${keep}, seed ${SEED}): ${(e as Error)?.stack ?? String(e)}`,
        );
      }
      const ms = performance.now() - start;
      assert.ok(ms < MAX_MS, `mutant ${i} of ${p.name} (${m.done.join(', ')}) took ${ms.toFixed(0)} ms`);
      slowest = Math.max(slowest, ms);
      largest = Math.max(largest, r.output);
      heaviest = Math.max(heaviest, r.bytes);
      outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
      if (i % 50 === 0) rss = Math.max(rss, process.memoryUsage().rss);
    }
    rss = Math.max(rss, process.memoryUsage().rss);
    const s = (performance.now() - t0) / 1000;
    console.log(
      `      ${MUTANTS} mutants of ${programs.length} programs in ${s.toFixed(1)} s: ${[...outcomes].map(([k, v]) => `${v} ${k}`).join(', ')}; 0 crashes`,
    );
    console.log(
      `      slowest ${slowest.toFixed(0)} ms, largest report ${largest} bytes, most memory ${(heaviest / 1048576).toFixed(1)} MiB, process RSS peak ${(rss / 1048576).toFixed(0)} MiB`,
    );
    assert.ok(rss < RSS_BOUND_MIB * 1048576, `RSS ${(rss / 1048576).toFixed(0)} MiB`);
    for (const k of MUTATIONS) assert.ok((mutator.counts.get(k) ?? 0) > 0, `mutation '${k}' never ran`);
    assert.ok(
      (outcomes.get('completed') ?? 0) + (outcomes.get('error') ?? 0) > MUTANTS / 10,
      'a fair share of mutants assemble and run',
    );
  });
});
