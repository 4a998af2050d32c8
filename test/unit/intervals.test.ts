// The interval map behind the assembler's `.map` clash checks and VA lookups, against a plain list:
// random disjoint intervals inserted in random order, then point lookups and overlap queries.

import { strict as assert } from 'node:assert';
import { IntervalMap } from '../../emulator/intervals';
import { mulberry32 } from '../helpers/prng';

describe('interval map', () => {
  it('finds the interval holding a point, every interval overlapping a range and whether any does, as a scan does', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = mulberry32(seed);
      const int = (n: number) => Math.floor(rnd() * n);
      // Disjoint intervals over [0, 100000), some touching, inserted in random order.
      const list: { start: number; end: number; id: number }[] = [];
      for (let at = int(50); at < 100000 && list.length < 400;) {
        const len = 1 + int(300);
        list.push({ start: at, end: at + len, id: list.length });
        at += len + (rnd() < 0.3 ? 0 : int(400));
      }
      const order = list.map((x) => x);
      for (let i = order.length - 1; i > 0; i--) {
        const j = int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const map = new IntervalMap<number>();
      for (const x of order) map.insert(x.start, x.end, x.id);
      assert.equal(map.size, list.length);
      for (let q = 0; q < 300; q++) {
        const p = int(101000);
        assert.equal(map.find(p), list.find((x) => x.start <= p && p < x.end)?.id, `seed ${seed}: point ${p}`);
        const a = int(101000);
        const b = a + int(q % 2 ? 50 : 5000);
        const expected = list.filter((x) => x.end > a && x.start < b).map((x) => x.id);
        assert.deepEqual(map.overlapping(a, b), expected, `seed ${seed}: [${a}, ${b})`);
        assert.equal(map.overlaps(a, b), expected.length > 0, `seed ${seed}: overlaps [${a}, ${b})`);
      }
    }
  });

  it('stays shallow when intervals come in rising or falling order (100k lookups after 100k inserts)', () => {
    for (const falling of [false, true]) {
      const map = new IntervalMap<number>();
      const n = 100_000;
      for (let i = 0; i < n; i++) {
        const k = falling ? n - 1 - i : i;
        map.insert(2 * k, 2 * k + 1, k);
      }
      for (let k = 0; k < n; k++) assert.equal(map.find(2 * k), k);
      assert.equal(map.find(2 * 500 + 1), undefined, 'the gap between two intervals');
      assert.deepEqual(map.overlapping(10, 16), [5, 6, 7]);
    }
  });
});
