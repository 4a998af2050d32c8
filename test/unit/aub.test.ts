// The AUB reader on real captures and on hostile bytes: every truncation and random corruption is
// refused with an offset and a reason (AubFormatError), never a crash.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { AubFormatError, looksLikeAub, parseAub } from '../../emulator/formats/aub';
import { mulberry32 } from '../helpers/prng';

const CAPTURES = path.join(__dirname, '..', 'captures');
const load = (name: string) => new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(CAPTURES, name))));

/** Byte offsets of every block, walked from the headers independently of the reader. */
function blockOffsets(b: Uint8Array): number[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  for (let p = 0; p < b.length;) {
    out.push(p);
    const h = v.getUint32(p, true);
    p += 4 * ((h & 0xffff) + (((h >>> 23) & 0x3f) === 0x2e ? 1 : 2));
  }
  return out;
}

/** Parses, or checks the refusal is an AubFormatError with a place inside the file. */
function parseOrRefuse(b: Uint8Array): AubFormatError | null {
  try {
    parseAub(b);
    return null;
  } catch (e) {
    assert.ok(e instanceof AubFormatError, `not a format error: ${(e as Error).stack}`);
    assert.ok(e.offset >= 0 && e.offset <= b.length, `offset ${e.offset} outside the file`);
    assert.ok(e.reason.length > 0);
    return e;
  }
}

describe('AUB reader', () => {
  it('reads the version header, memory writes, register writes and ELSP submissions of the captures', () => {
    const tri = parseAub(load('gltri-bdw.aub.gz'));
    assert.equal(tri.pciId, 0x162e);
    assert.equal(tri.application, 'gltri');
    assert.equal(tri.flavor, 'memtrace');
    const subs = tri.records.filter((r) => r.kind === 'submit');
    assert.equal(subs.length, 2);
    for (const s of subs) {
      assert.equal(s.kind === 'submit' && s.engine, 'render');
      assert.equal(s.kind === 'submit' && s.descriptorLo & 0xfffff000, 0x2000); // LRCA in the GGTT
    }
    const spaces = new Set(tri.records.flatMap((r) => (r.kind === 'mem-write' ? [r.space] : [])));
    assert.deepEqual([...spaces].sort(), ['ggtt', 'ggtt-entry', 'physical']);
    assert.equal(tri.blockCounts.REG_POLL, 2);
    // ELSP writes become submissions, not register writes
    assert.ok(!tri.records.some((r) => r.kind === 'reg-write' && (r.register & 0xfff) === 0x230));

    const pic = parseAub(load('picture-blt-skl.aub.gz'));
    assert.equal(pic.pciId, 0x1912);
    assert.equal(pic.application, 'submit');
    const ps = pic.records.filter((r) => r.kind === 'submit');
    assert.deepEqual(
      ps.map((s) => s.kind === 'submit' && s.engine),
      ['blitter'],
    );
  });

  it('recognizes AUB content and refuses what is not', () => {
    assert.ok(looksLikeAub(load('hang-skl.aub.gz')));
    assert.ok(!looksLikeAub(Buffer.from('.vm memory=1M\n')));
    assert.match(parseOrRefuse(Buffer.from('MI_NOOP\n'))!.reason, /not an AUB file/);
    assert.match(parseOrRefuse(new Uint8Array(0))!.reason, /empty/);
  });

  it('truncation at every block boundary parses a prefix or is refused; inside a block it is refused at that block', () => {
    for (const name of ['hang-skl.aub.gz', 'picture-blt-skl.aub.gz']) {
      const b = load(name);
      const offs = blockOffsets(b);
      assert.equal(
        offs.length,
        Object.values(parseAub(b).blockCounts).reduce((a, c) => a + c, 0),
      );
      for (let i = 1; i < offs.length; i++) {
        const cut = offs[i];
        const e = parseOrRefuse(b.subarray(0, cut));
        if (e) assert.match(e.reason, /incomplete execlist submission/); // cut between two ELSP writes
        for (const into of [2, 4, 12]) {
          if (cut + into >= (offs[i + 1] ?? b.length)) continue;
          const t = parseOrRefuse(b.subarray(0, cut + into));
          assert.ok(t, `cut at ${cut + into} accepted`);
          assert.equal(t.offset, cut, `cut at ${cut + into}: ${t.message}`);
          assert.match(t.reason, /truncated/);
        }
      }
    }
  });

  it('random byte flips are parsed or refused with an offset, never a crash', () => {
    const base = load('hang-skl.aub.gz');
    const offs = blockOffsets(base);
    const rnd = mulberry32(12);
    let refused = 0;
    for (let n = 0; n < 1500; n++) {
      const b = new Uint8Array(base);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) {
        // half the flips hit block headers, where corruption matters most
        const at =
          rnd() < 0.5 ? offs[Math.floor(rnd() * offs.length)] + Math.floor(rnd() * 24) : Math.floor(rnd() * b.length);
        if (at < b.length) b[at] ^= 1 << Math.floor(rnd() * 8);
      }
      if (parseOrRefuse(b)) refused++;
    }
    assert.ok(refused > 100, `only ${refused} corruptions refused`);
  });
});
