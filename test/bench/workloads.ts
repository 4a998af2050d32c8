// Benchmark workloads as .vgpu sources: long command streams built from a batch called many times.

/** A batch of `perBatch` copies of `body` lines, started `calls` times from the rcs0 (or bcs0) ring. */
export function repeatedBatch(
  body: readonly string[],
  perBatch: number,
  calls: number,
  o: { engine?: 'rcs0' | 'bcs0'; memory?: string; extraMaps?: string[]; data?: string[] } = {},
): string {
  const engine = o.engine ?? 'rcs0';
  const lines = [
    `.vm memory=${o.memory ?? '256M'}`,
    '.map 0x100000, 0x100000, 4M, rw',
    ...(o.extraMaps ?? []),
    ...(o.data ?? []),
    `.batch work, 0x100000, ${engine}`,
  ];
  for (let i = 0; i < perBatch; i++) lines.push(body[i % body.length]);
  lines.push('MI_BATCH_BUFFER_END');
  // The ring holds at most a few thousand starts per submission; submit in chunks.
  const perSubmit = 500;
  lines.push(`.ring ${engine}, 0xF000000, 64K`);
  lines[1] += '\n.map 0xF000000, 0x800000, 64K, rw';
  for (let c = 0; c < calls; c += perSubmit) {
    for (let k = c; k < Math.min(calls, c + perSubmit); k++) lines.push('MI_BATCH_BUFFER_START addr=work');
    lines.push(`.submit ${engine}`, `.wait ${engine}`);
  }
  return lines.join('\n') + '\n';
}

/** A mixed workload that writes memory: stores spread over 64 pages, register loads, atomics. */
export function mixedWorkload(calls: number, perBatch = 1000): string {
  const body: string[] = [];
  for (let i = 0; i < 64; i++) {
    body.push(`MI_STORE_DATA_IMM addr=0x${(0x200000 + i * 4096 + (i % 16) * 4).toString(16)}, data=${i}`);
    body.push(`MI_LOAD_REGISTER_IMM CS_GPR${i % 16}=${i}`);
    body.push(`MI_ATOMIC op=ADD, addr=0x${(0x200000 + ((i * 7) % 64) * 4096).toString(16)}, data=1`);
  }
  return repeatedBatch(body, perBatch, calls);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function timeIt(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * A long editable program of about `lines` source lines that assembles: batches of `perBatch` lines (a label
 * every 50 lines, a comment every 25, stores, register loads, no-ops) after surfaces, called from one ring.
 */
export function longProgram(lines: number, perBatch = 1000): string {
  const batches = Math.max(1, Math.floor(lines / (perBatch + 4)));
  const out = [
    '; a long program for the editor',
    '.vm memory=512M gen=9',
    '.map 0x100000, 0x100000, 128M, rw',
    '.data 0x7F00000',
    'flag: dword 0',
    '',
  ];
  for (let b = 0; b < batches; b++) {
    if (b % 10 === 0) out.push(`.surface fb${b}, 0x${(0x7000000 + b * 0x1000).toString(16)}, 16, 16`);
    out.push(`.batch b${b}, 0x${(0x100000 + b * 0x10000).toString(16)}`);
    for (let i = 0; i < perBatch - 2; i++) {
      if (i % 25 === 24) {
        out.push(`    ; step ${b}.${i}: the flag holds ${i - 24} here`);
        continue;
      }
      const label = i % 50 === 0 ? `l${b}_${i}: ` : '    ';
      const k = i % 3;
      out.push(
        label +
          (k === 0
            ? `MI_STORE_DATA_IMM addr=flag, data=${i}`
            : k === 1
              ? `MI_LOAD_REGISTER_IMM CS_GPR${i % 16}=${i}`
              : 'MI_NOOP'),
      );
    }
    out.push('    MI_BATCH_BUFFER_END', '');
  }
  out.push('.ring rcs0');
  for (let b = 0; b < batches; b++) out.push(`    MI_BATCH_BUFFER_START addr=b${b}`);
  out.push('.submit rcs0', '.wait rcs0');
  return out.join('\n') + '\n';
}

/**
 * Milliseconds of this process's CPU time (user + system) that fn takes: on a machine shared with other
 * work, time the process spent waiting for a core does not count (its helper threads' time, GC's, does).
 */
export function cpuTimeIt(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1000;
}
