// `npm run fuzz`: the migration fuzz (issue 17, test/helpers/migration-fuzz.ts): one `vgpu host` with a
// token takes seeded hostile peers (garbage, huge section lengths, mutated, replayed and foreign token
// proofs, damaged streams after the handshake), each closed within 5 s, with real moves between them.
// VGPU_FUZZ_SEED reproduces a run (it is printed); VGPU_FUZZ_SCALE multiplies the count.

import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { fuzzHost } from '../helpers/migration-fuzz';

const SCALE = Number(process.env.VGPU_FUZZ_SCALE ?? 1);
const SEED = Number(process.env.VGPU_FUZZ_SEED ?? 0x316);
const PEERS = 2000 * SCALE;

describe('migration fuzz (long)', () => {
  it(`${PEERS} hostile peers against one vgpu host: each closed within 5 s, no proof but the right one accepted, real VMs moved between them`, async function () {
    this.timeout(0);
    execFileSync('node', ['esbuild.js'], { cwd: path.resolve(__dirname, '../..'), stdio: 'ignore' });
    console.log(`      seed ${SEED} (VGPU_FUZZ_SEED=${SEED} reproduces it)`);
    console.log(`      ${await fuzzHost(PEERS, SEED)}`);
  });
});
