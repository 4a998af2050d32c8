// The debug adapter's contract with its clients: launch attributes (declared once; package.json's schema
// is generated from them) and the typed `vgpu/...` custom requests shared by adapter and extension.

import { type CapsView, type SnapshotSummary, VM_DEFAULTS, VM_MINIMUMS, type WalkStepJson } from '../emulator';

export type { CapsView };

export type AttributeType = 'string' | 'boolean' | 'integer' | 'array';

/**
 * One argument of a request (a launch attribute, a `vgpu/*` argument), declared once: the TypeScript
 * type (ArgsOf), the package.json schema (launch), the adapter's validation (checkArguments) and the
 * extension's typed client all derive from it.
 */
export interface AttributeSpec {
  /** A type, or several a value may have (`va`: a number or an expression). */
  readonly type: AttributeType | readonly AttributeType[];
  readonly description: string;
  readonly required?: true;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly items?: { readonly type: string; readonly enum?: readonly unknown[] };
  readonly pattern?: string;
}

type ScalarOf<T> = T extends 'string'
  ? string
  : T extends 'boolean'
    ? boolean
    : T extends 'integer'
      ? number
      : T extends 'array'
        ? unknown[]
        : never;
type ItemOf<S> = S extends { readonly items: { readonly enum: readonly (infer E)[] } }
  ? E
  : S extends { readonly items: { readonly type: infer T } }
    ? ScalarOf<T>
    : unknown;
/** The TypeScript type of one declared argument. */
export type ValueOf<S extends AttributeSpec> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S['type'] extends 'array'
    ? ItemOf<S>[]
    : S['type'] extends readonly (infer T)[]
      ? ScalarOf<T>
      : ScalarOf<S['type']>;
/** The arguments object a declaration describes: required ones required, the rest optional. */
export type ArgsOf<A extends Record<string, AttributeSpec>> = {
  -readonly [K in keyof A as A[K] extends { readonly required: true } ? K : never]: ValueOf<A[K]>;
} & { -readonly [K in keyof A as A[K] extends { readonly required: true } ? never : K]?: ValueOf<A[K]> };

/** What is wrong with `args` against a declaration (`what` names the request in each message); [] when nothing. */
export function checkArguments(
  what: string,
  args: Record<string, unknown>,
  specs: Readonly<Record<string, AttributeSpec>>,
): string[] {
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    const v = args[name];
    if (v === undefined || v === null) {
      if (spec.required) problems.push(`${what}: '${name}' is required`);
      continue;
    }
    const p = checkValue(what, name, v, spec);
    if (p) problems.push(p);
  }
  return problems;
}

function checkValue(what: string, name: string, v: unknown, spec: AttributeSpec): string | undefined {
  const bad = (why: string) => `${what}: '${name}' ${why} (got ${JSON.stringify(v)?.slice(0, 200)})`;
  const types = typeof spec.type === 'string' ? [spec.type] : spec.type;
  const is = (t: AttributeType) =>
    t === 'string'
      ? typeof v === 'string'
      : t === 'boolean'
        ? typeof v === 'boolean'
        : t === 'integer'
          ? typeof v === 'number' && Number.isSafeInteger(v)
          : Array.isArray(v);
  const t = types.find(is);
  if (!t)
    return bad(
      `must be ${types.map((x) => (x === 'integer' ? 'an integer' : x === 'array' ? 'an array' : x === 'boolean' ? 'true or false' : 'a string')).join(' or ')}`,
    );
  if (t === 'string' && spec.pattern && !new RegExp(spec.pattern).test(v as string))
    return bad(`must match ${spec.pattern}`);
  if (t === 'integer' && spec.minimum !== undefined && (v as number) < spec.minimum)
    return bad(`must be at least ${spec.minimum}`);
  if (t === 'integer' && spec.maximum !== undefined && (v as number) > spec.maximum)
    return bad(`must be at most ${spec.maximum}`);
  if (t === 'array') {
    for (const item of v as unknown[]) {
      if (spec.items?.type === 'integer' && !(typeof item === 'number' && Number.isSafeInteger(item)))
        return bad('must hold integers');
      if (spec.items?.type === 'string' && typeof item !== 'string') return bad('must hold strings');
      if (spec.items?.enum && !spec.items.enum.includes(item))
        return bad(`entries must be one of ${spec.items.enum.join(', ')}`);
    }
    return undefined;
  }
  if (spec.enum && !spec.enum.includes(v)) return bad(`must be one of ${spec.enum.join(', ')}`);
  return undefined;
}

/**
 * Every `launch` attribute of debug type `vgpu` (SPEC section 8, plus documented extras). The VM's
 * defaults and least values are the emulator's (VM_DEFAULTS, VM_MINIMUMS), not restated here.
 */
export const LAUNCH_ATTRIBUTES = {
  program: {
    type: 'string',
    required: true,
    description:
      'The .vgpu program to run in the VM, or a GPU capture (Mesa AUB, .aub or .aub.gz) or kernel hang dump (i915 error state, Xe devcoredump) to debug: recognized from the content.',
    default: '${file}',
  },
  stopOnEntry: { type: 'boolean', description: 'Pause before the first driver operation.', default: true },
  hostGen: {
    type: 'integer',
    description: "Generation of the host's physical GPU.",
    enum: [1, 2, 3],
    default: VM_DEFAULTS.hostGen,
  },
  deviceVersion: {
    type: 'integer',
    description:
      'Device version exposed to the VM (at most hostGen). Default: the oldest generation in migrationPool, else hostGen.',
    enum: [1, 2, 3],
  },
  migrationPool: {
    type: 'array',
    description: 'Generations of the hosts this VM may move to; the exposed version is their minimum.',
    items: { type: 'integer', enum: [1, 2, 3] },
  },
  memory: {
    type: 'string',
    description: "Guest RAM size (e.g. 256M, 64G). Overrides the program's .vm memory=.",
    pattern: '^(0x[0-9a-fA-F_]+|[0-9_]+)[KMG]?$',
  },
  isolation: {
    type: 'boolean',
    description:
      'Address-space isolation (mirror range and two EPT views). Default: on where the exposed version has it.',
  },
  snapshotEvery: {
    type: 'integer',
    description:
      'Commands between periodic snapshots (0: only at submissions). Reverse steps replay at most this many commands.',
    default: VM_DEFAULTS.snapshotEvery,
    minimum: VM_MINIMUMS.snapshotEvery,
  },
  watchdog: {
    type: 'integer',
    description: 'Commands one submission may run before it is a hang.',
    default: VM_DEFAULTS.watchdog,
    minimum: VM_MINIMUMS.watchdog,
  },
  autoRollback: {
    type: 'boolean',
    description:
      'After stopping on a GPU error, continuing rolls the VM back to before the guilty submission and skips it.',
    default: VM_DEFAULTS.autoRollback,
  },
  migrationHosts: {
    type: 'array',
    description: 'vgpu hosts (HOST:PORT) offered by "Migrate VM..."; vgpu/migrate without a target uses the first.',
    items: { type: 'string' },
  },
  debugServer: {
    type: 'integer',
    description: 'Connect to a running `node dist/adapter.js --server=PORT` instead of running the adapter inline.',
    minimum: 1,
  },
} as const satisfies Record<string, AttributeSpec>;

export type LaunchArguments = ArgsOf<typeof LAUNCH_ATTRIBUTES>;

/** One kept snapshot as the Snapshots view shows it. */
export interface SnapshotInfo extends SnapshotSummary {
  readonly current: boolean;
}

/** A walk step as `vgpu/translate` sends it (emulator/walkformat.ts). */
export type WalkStepInfo = WalkStepJson;

export type PipelineGroup = '3D pipeline' | 'compute/media' | 'common';

/** One decoded field of a state command (group entries as `name.N`, the language's spelling). */
export interface PipelineFieldInfo {
  readonly name: string;
  readonly value: string;
  /** `DW1 bits 47:12`. */
  readonly placement: string;
  readonly description: string;
  /** Differs from the command's previous value (never set when there was none). */
  readonly changed: boolean;
  /** The previous value, when changed (`absent`: the previous command had no such group entry). */
  readonly previous?: string;
  /** Address fields: the GPU VA, and its GPA through the engine's PPGTT (null: not mapped, `walk` says why). */
  readonly va?: string;
  readonly gpa?: string | null;
  readonly walk?: string;
}

/** The latest value of one state command on an engine. */
export interface PipelineCommandInfo {
  readonly mnemonic: string;
  readonly group: PipelineGroup;
  /** GPU VA of the command that set it. */
  readonly va: string;
  /** The engine's retired-command count when it was set. */
  readonly at: number;
  /** No earlier value (so no field is marked changed). */
  readonly first: boolean;
  /** Set after the engine's last draw or dispatch (or before any). */
  readonly sinceDraw: boolean;
  /** How many fields differ from the previous value. */
  readonly changed: number;
  readonly fields?: PipelineFieldInfo[];
}

export interface PipelineStateInfo {
  readonly engine: string;
  /** Commands the engine has retired. */
  readonly retired: number;
  /** Retired count when its last draw or dispatch ran; null before any. */
  readonly lastDraw: number | null;
  /** By mnemonic, each with its fields. */
  readonly commands: PipelineCommandInfo[];
}

/** Custom requests' response bodies, by name (their arguments: CUSTOM_REQUEST_ARGS). */
export interface CustomBodies {
  /**
   * Kept snapshots [start, start + count) in list order, oldest first (count: 256 when not given, at most
   * 4096; without `start`: the newest `count`). `total`: how many are kept; `step`, `commands`: where the VM is.
   */
  'vgpu/snapshots': { snapshots: SnapshotInfo[]; start: number; total: number; step: number; commands: number };
  'vgpu/snapshot': { snapshot: SnapshotInfo };
  'vgpu/rollback': { step: number; commands: number };
  /**
   * Compare Snapshots `from` -> `to` (-1 or absent: now), computed once (a long operation: progress,
   * cancel); its answer names it by `token`, and a request with the token alone gets another window of
   * its changed pages without computing again. Pages come in GPA order, [start, start + count) of
   * `totalPages` (count: 256 when not given, at most 4096), `more` after them; each page's changed bytes
   * (`bytes`) are coalesced into at most 8 ranges [start, end), which may hold unchanged bytes between.
   */
  'vgpu/diff': {
    registers: { name: string; old: string; new: string }[];
    pages: { gpa: string; ranges: [number, number][]; bytes: number }[];
    surfaces: { name: string; changedPixels: number; width: number; height: number }[];
    start: number;
    totalPages: number;
    more: number;
    /** Bytes that differ over all pages. */
    changedBytes: number;
    token: string;
  };
  /** With `snapshot` (a kept snapshot's id): the pixels as they were then, read without moving the VM. */
  'vgpu/surface': {
    surfaces: string[];
    name: string;
    width: number;
    height: number;
    pixels: string; /* base64 of width*height little-endian ARGB dwords */
  };
  'vgpu/caps': {
    hostGen: number;
    deviceVersion: number;
    /** Where the VM runs: `local (...)` or `HOST:PORT, generation N`. */ host?: string;
    physical: CapsView;
    exposed: CapsView;
    fields: { register: string; field: string; bits: string; physical: number; exposed: number; hidden: boolean }[];
  };
  'vgpu/translate': {
    ok: boolean;
    gpa?: string;
    hpa?: string;
    fault?: { kind: string; reason: string };
    steps: WalkStepInfo[];
  };
  /** Step Back Into (the reverse of Step Into): the thread's previous command at any batch depth; a stopped event follows. */
  'vgpu/stepBackInto': Record<string, never>;
  /** The pipeline state an engine holds now (the Pipeline State scope's data); `engine` defaults to rcs0. */
  /** Writes the i915 error state (as `vgpu run --error-state` does) of the GPU error the VM stands at, or of its newest unrecovered one. */
  'vgpu/errorState': { path: string; bytes: number; kind: string; engine: string; commandVa: string };
  'vgpu/pipelineState': PipelineStateInfo;
  /** Without `to`: the launch configuration's first `migrationHosts` entry. */
  'vgpu/migrate': {
    status: 'completed' | 'refused' | 'failed';
    reason?: string;
    rounds: number;
    pagesSent: number;
    downtimeMs: number;
    hostGen?: number;
    /** Where the VM runs after the request. */ host?: string;
  };
}

/** An integer argument (`more`: required, minimum, maximum ...). */
function int<const M extends Omit<Partial<AttributeSpec>, 'type' | 'description'>>(
  description: string,
  more?: M,
): M & { readonly type: 'integer'; readonly description: string } {
  return { ...(more as M), type: 'integer', description };
}
const ENGINE_ARG = { type: 'string', enum: ['rcs0', 'bcs0'], description: 'engine (default rcs0)' } as const;

/**
 * Custom requests' arguments, declared once: the adapter validates every request against this before
 * its handler runs (checkArguments), and the extension's client is typed from it (CustomArgs).
 */
export const CUSTOM_REQUEST_ARGS = {
  'vgpu/snapshots': {
    start: int('first kept snapshot of the window, in list order (oldest first); absent: the newest `count`', {
      minimum: 0,
    }),
    count: int('snapshots in the window (default 256, at most 4096)', { minimum: 0 }),
  },
  'vgpu/snapshot': {},
  'vgpu/rollback': { id: int('id of the kept snapshot to roll back to', { required: true }) },
  'vgpu/diff': {
    from: int('id of the older kept snapshot'),
    to: int('id of the newer kept snapshot (-1 or absent: now)', { minimum: -1 }),
    token: {
      type: 'string',
      description: 'a comparison already computed (from an earlier answer): another window of its pages',
    },
    start: int('first changed page of the window', { minimum: 0 }),
    count: int('pages in the window (default 256, at most 4096)', { minimum: 0 }),
  },
  'vgpu/surface': {
    name: { type: 'string', description: 'surface name (default: the first)' },
    snapshot: int('id of a kept snapshot: the pixels as they were then'),
  },
  'vgpu/caps': {},
  'vgpu/translate': {
    va: { type: ['integer', 'string'], required: true, description: 'GPU VA: a number or an expression' },
    view: { type: 'string', enum: ['full', 'restricted'], description: "EPT view (default: the engine's)" },
    engine: ENGINE_ARG,
    space: { type: 'string', enum: ['ppgtt', 'ggtt'], description: 'address space (default ppgtt)' },
  },
  'vgpu/stepBackInto': { threadId: int('thread to step back', { required: true }) },
  'vgpu/errorState': {
    path: { type: 'string', required: true, description: 'the file to write' },
    compress: { type: 'boolean', description: 'zlib-compressed buffers (default true)' },
  },
  'vgpu/pipelineState': { engine: ENGINE_ARG },
  'vgpu/migrate': {
    to: { type: 'string', description: 'HOST:PORT of the vgpu host (default: the first migrationHosts entry)' },
    token: { type: 'string', description: "the host's token" },
  },
} as const satisfies Record<keyof CustomBodies, Record<string, AttributeSpec>>;

export type CustomRequestName = keyof CustomBodies;
export type CustomArgs<K extends CustomRequestName> = ArgsOf<(typeof CUSTOM_REQUEST_ARGS)[K]>;
export type CustomBody<K extends CustomRequestName> = CustomBodies[K];
