// `npm run fuzz`: the long checkpoint fuzz (issue 17): every example checkpointed mid-run, then
// truncated at and around every section boundary, bit-flipped, its sections dropped, duplicated and
// swapped, and its JSON fields forged with valid checksums. Zero crashes; nothing accepted reaches
// outside guest RAM. VGPU_FUZZ_SCALE multiplies the counts.

import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { Tally, damage, seedCheckpoints } from './checkpoint-damage';

const SCALE = Number(process.env.VGPU_FUZZ_SCALE ?? 1);

describe('checkpoint fuzz (long)', () => {
  it(`every example: ${200 * SCALE} bit flips and ${1000 * SCALE} forgeries per checkpoint, plus every boundary`, function () {
    this.timeout(0);
    const t: Tally = { cases: 0, refused: 0, ran: 0, placed: 0 };
    const t0 = performance.now();
    seedCheckpoints(path.join(__dirname, '..', '..', 'examples')).forEach((s, i) =>
      damage(s.name, s.buf, 0x17000 + i, 200 * SCALE, 1000 * SCALE, t),
    );
    console.log(
      `      ${t.cases} damaged checkpoints: ${t.refused} refused (${t.placed} with a byte offset), ${t.ran} loaded and ran inside guest RAM, 0 crashes, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    assert.ok(t.refused > 0);
  });
});
