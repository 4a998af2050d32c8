// Benchmark driver (`npm run bench`): runs the section modules in order, prints a table and one JSON line of all figures.
//
// A section is a module under test/bench/ exporting `section: Section`; add it to SECTIONS below.
// Usage: tsx test/bench/run.ts [SECTION...] [--strict]   (--strict: exit 1 when a figure misses its goal)

export interface Goal {
  /** The figure passes when it is >= min and <= max. */
  readonly min?: number;
  readonly max?: number;
  readonly unit?: string;
}

export interface Section {
  name: string;
  /** Goals for some figures, by figure name; figures without one are printed as information. */
  goals?: Readonly<Record<string, Goal>>;
  run(): Promise<Record<string, number | string>>;
}

/** Section modules in the order they run. */
const SECTIONS: readonly (() => Promise<{ section: Section }>)[] = [
  () => import('./core'),
  () => import('./streamer'),
  () => import('./table'),
  () => import('./snapshots'),
  () => import('./history'),
  () => import('./adapter'),
  () => import('./migration'),
  () => import('./triage'),
  () => import('./captures'),
  () => import('./memory'),
  () => import('./reverse'),
  () => import('./assembler'),
  () => import('./language'),
  () => import('./diff'),
];

export function meets(value: number | string, goal: Goal): boolean {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  return (goal.min === undefined || value >= goal.min) && (goal.max === undefined || value <= goal.max);
}

export function goalText(goal: Goal): string {
  const unit = goal.unit ? ` ${goal.unit}` : '';
  const parts: string[] = [];
  if (goal.min !== undefined) parts.push(`>= ${formatValue(goal.min)}${unit}`);
  if (goal.max !== undefined) parts.push(`<= ${formatValue(goal.max)}${unit}`);
  return parts.join(', ');
}

function formatValue(v: number | string): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  if (Math.abs(v) < 0.01) return v.toPrecision(2);
  return v.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

async function main(argv: string[]): Promise<number> {
  const strict = argv.includes('--strict');
  const only = argv.filter((a) => !a.startsWith('--'));
  const rows: string[][] = [['section', 'figure', 'value', 'goal', '']];
  const all: Record<string, Record<string, number | string>> = {};
  const misses: string[] = [];
  for (const load of SECTIONS) {
    const { section } = await load();
    if (only.length && !only.includes(section.name)) continue;
    process.stderr.write(`bench: ${section.name}...\n`);
    const figures = await section.run();
    all[section.name] = figures;
    for (const [name, value] of Object.entries(figures)) {
      const goal = section.goals?.[name];
      const ok = goal ? meets(value, goal) : undefined;
      if (ok === false) misses.push(`${section.name}.${name}`);
      rows.push([
        section.name,
        name,
        formatValue(value),
        goal ? goalText(goal) : '',
        ok === undefined ? '' : ok ? 'PASS' : 'MISS',
      ]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows)
    process.stdout.write(
      r
        .map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd() + '\n',
    );
  process.stdout.write(JSON.stringify({ sections: all, misses }) + '\n');
  return strict && misses.length ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
