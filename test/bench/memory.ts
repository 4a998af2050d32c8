// Benchmark section "memory": touching guest memory (a page allocated and filled, as a first write
// does) at 256 MiB and at 4 GiB, side by side, and hashing it (memorySha256, a fingerprint from
// scratch) against SHA-256 over one contiguous buffer of as many bytes (the floor: with SHA
// extensions it runs at memcpy class) and a plain Buffer copy. Each size measures in its own process.
// The same touch over plain 256 MiB ArrayBuffers (no page table, no views) measures in a process of
// its own too: the rate the system gives fresh memory, which in a VM itself varies from run to run
// (the host backs fresh guest pages), so the touch's user CPU time per GB (ours, not the kernel's
// page faults) is given beside its rate. Each touch runs twice, sizes alternated; the best counts.

import { createHash } from 'node:crypto';
import { Fingerprint } from '../../emulator/fingerprint';
import { PAGE_SIZE } from '../../emulator/memory';
import { loadVm } from '../../emulator/program';
import { RAM_HPA } from '../../emulator/vm';
import { childMode, measureInChild, reply } from './child';
import type { Section } from './run';
import { timeIt } from './workloads';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Touches `bytes` of fresh plain buffers page by page: the floor for HostMemory's touch. */
function measureRaw(bytes: number): number {
  const chunk = Math.min(bytes, 256 * MiB);
  const held: Uint32Array[] = [];
  const ms = timeIt(() => {
    for (let done = 0, k = 0; done < bytes; done += chunk) {
      const b = new Uint32Array(chunk / 4);
      held.push(b);
      for (let at = 0; at < chunk / 4; at += PAGE_SIZE / 4) b.fill(++k, at, at + PAGE_SIZE / 4);
    }
  });
  return bytes / 1e9 / (ms / 1000);
}

/** User CPU time of fn, in ms: unlike wall time, not stretched by other processes, page faults or the host backing fresh pages. */
function userMs(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  return process.cpuUsage(c0).user / 1000;
}

interface Report {
  touchGBps: number;
  touchUserMsPerGB: number;
  sha256GBps: number;
  fingerprintGBps: number;
  copyGBps: number;
  rawSha256GBps: number;
}

const program = (bytes: number) => `.vm memory=${bytes / MiB}M
.map 0x100000, 0x100000, 64K, rw
.batch b, 0x100000
    MI_NOOP
    MI_BATCH_BUFFER_END
.ring rcs0
    MI_BATCH_BUFFER_START addr=b
.submit rcs0
.wait all
`;

function measure(bytes: number, hashing: boolean): Report {
  const vm = loadVm('touch.vgpu', { snapshotEvery: 0 }, program(bytes));
  const first = RAM_HPA / PAGE_SIZE;
  const pages = bytes / PAGE_SIZE;
  let touchMs = 0;
  const touchUser = userMs(() => {
    touchMs = timeIt(() => {
      for (let i = 0; i < pages; i++) vm.mem.pageForWrite(first + i).fill(i + 1);
    });
  });
  const gbps = (ms: number) => bytes / 1e9 / (ms / 1000);
  const touch = { touchGBps: gbps(touchMs), touchUserMsPerGB: touchUser / (bytes / 1e9) };
  if (!hashing) return { ...touch, sha256GBps: NaN, fingerprintGBps: NaN, copyGBps: NaN, rawSha256GBps: NaN };
  const shaMs = timeIt(() => vm.memorySha256());
  let fp: Fingerprint | undefined;
  const fpMs = timeIt(() => {
    fp = new Fingerprint(vm);
  });
  fp!.dispose();
  // The memcpy-class reference: one copy of as many bytes (256 MiB at a time, into a warm buffer).
  const chunk = Math.min(bytes, 256 * MiB);
  const src = Buffer.alloc(chunk, 1);
  const dst = Buffer.alloc(chunk);
  src.copy(dst);
  const copyMs = timeIt(() => {
    for (let done = 0; done < bytes; done += chunk) src.copy(dst);
  });
  const rawMs = timeIt(() => {
    const h = createHash('sha256');
    for (let done = 0; done < bytes; done += chunk) h.update(src);
    h.digest();
  });
  return {
    ...touch,
    sha256GBps: gbps(shaMs),
    fingerprintGBps: gbps(fpMs),
    copyGBps: gbps(copyMs),
    rawSha256GBps: gbps(rawMs),
  };
}

const r3 = (x: number) => Number(x.toFixed(3));

export const section: Section = {
  name: 'memory',
  goals: {
    'touch GB/s 256 MiB / 4 GiB': { max: 1.3 },
    'sha256 of one buffer / memorySha256 (4 GiB)': { max: 1.5 },
  },
  async run() {
    const raw = [0, 0];
    const touch = [
      { touchGBps: 0, touchUserMsPerGB: Infinity },
      { touchGBps: 0, touchUserMsPerGB: Infinity },
    ];
    let big: Report | undefined;
    for (let round = 0; round < 2; round++) {
      [256 * MiB, 4 * GiB].forEach((bytes, k) => {
        raw[k] = Math.max(raw[k], measureInChild<number>(__filename, `raw:${bytes}`, []));
        const r = measureInChild<Report>(__filename, `memory:${bytes}:${round === 1 && k === 1 ? 'hash' : 'touch'}`, [
          '--max-old-space-size=8192',
        ]);
        touch[k] = {
          touchGBps: Math.max(touch[k].touchGBps, r.touchGBps),
          touchUserMsPerGB: Math.min(touch[k].touchUserMsPerGB, r.touchUserMsPerGB),
        };
        if (round === 1 && k === 1) big = r;
      });
    }
    const [small, large] = touch;
    const [smallRaw, bigRaw] = raw;
    big = big!;
    return {
      'touch 256 MiB (GB/s)': r3(small.touchGBps),
      'touch 4 GiB (GB/s)': r3(large.touchGBps),
      'touch GB/s 256 MiB / 4 GiB': r3(small.touchGBps / large.touchGBps),
      'touch user CPU ms per GB 256 MiB / 4 GiB': `${small.touchUserMsPerGB.toFixed(0)} / ${large.touchUserMsPerGB.toFixed(0)}`,
      'touch user CPU ms per GB 4 GiB / 256 MiB': r3(large.touchUserMsPerGB / small.touchUserMsPerGB),
      'touch of plain buffers 256 MiB / 4 GiB (GB/s: system floor)': `${r3(smallRaw)} / ${r3(bigRaw)}`,
      'touch of plain buffers GB/s 256 MiB / 4 GiB': r3(smallRaw / bigRaw),
      'memorySha256 4 GiB (GB/s)': r3(big.sha256GBps),
      'fingerprint from scratch 4 GiB (GB/s)': r3(big.fingerprintGBps),
      'memcpy 4 GiB (GB/s)': r3(big.copyGBps),
      'sha256 of one buffer 4 GiB (GB/s)': r3(big.rawSha256GBps),
      'sha256 of one buffer / memorySha256 (4 GiB)': r3(big.rawSha256GBps / big.sha256GBps),
      'memcpy / memorySha256 (4 GiB)': r3(big.copyGBps / big.sha256GBps),
    };
  },
};

const mode = childMode();
if (mode?.startsWith('memory:')) {
  const [, bytes, what] = mode.split(':');
  reply(measure(Number(bytes), what === 'hash'));
}
if (mode?.startsWith('raw:')) reply(measureRaw(Number(mode.slice('raw:'.length))));
