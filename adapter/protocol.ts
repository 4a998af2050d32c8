// The debug adapter's contract with its clients: launch attributes (declared once; package.json's schema
// is generated from them) and the typed `vgpu/...` custom requests shared by adapter and extension.

import type { CapsView, SnapshotSummary, WalkStepJson } from '../emulator';

export type { CapsView };

export interface AttributeSpec {
  readonly type: 'string' | 'boolean' | 'integer' | 'array';
  readonly description: string;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly items?: { readonly type: string; readonly enum?: readonly unknown[] };
  readonly pattern?: string;
}

/** Every `launch` attribute of debug type `vgpu` (SPEC section 8, plus documented extras). */
export const LAUNCH_ATTRIBUTES = {
  program: { type: 'string', description: 'The .vgpu program to run in the VM, or a GPU capture (Mesa AUB, .aub or .aub.gz) or kernel hang dump (i915 error state, Xe devcoredump) to debug: recognized from the content.', default: '${file}' },
  stopOnEntry: { type: 'boolean', description: 'Pause before the first driver operation.', default: true },
  hostGen: { type: 'integer', description: 'Generation of the host\'s physical GPU.', enum: [1, 2, 3], default: 3 },
  deviceVersion: { type: 'integer', description: 'Device version exposed to the VM (at most hostGen). Default: the oldest generation in migrationPool, else hostGen.', enum: [1, 2, 3] },
  migrationPool: { type: 'array', description: 'Generations of the hosts this VM may move to; the exposed version is their minimum.', items: { type: 'integer', enum: [1, 2, 3] } },
  memory: { type: 'string', description: 'Guest RAM size (e.g. 256M, 64G). Overrides the program\'s .vm memory=.', pattern: '^(0x[0-9a-fA-F_]+|[0-9_]+)[KMG]?$' },
  isolation: { type: 'boolean', description: 'Address-space isolation (mirror range and two EPT views). Default: on where the exposed version has it.' },
  snapshotEvery: { type: 'integer', description: 'Commands between periodic snapshots (0: only at submissions). Reverse steps replay at most this many commands.', default: 1000, minimum: 0 },
  watchdog: { type: 'integer', description: 'Commands one submission may run before it is a hang.', default: 1000000, minimum: 1 },
  autoRollback: { type: 'boolean', description: 'After stopping on a GPU error, continuing rolls the VM back to before the guilty submission and skips it.', default: true },
  migrationHosts: { type: 'array', description: 'vgpu hosts (HOST:PORT) offered by "Migrate VM..."; vgpu/migrate without a target uses the first.', items: { type: 'string' } },
  debugServer: { type: 'integer', description: 'Connect to a running `node dist/adapter.js --server=PORT` instead of running the adapter inline.', minimum: 1 },
} as const satisfies Record<string, AttributeSpec>;

export type LaunchArguments = {
  program: string;
  stopOnEntry?: boolean;
  hostGen?: number;
  deviceVersion?: number;
  migrationPool?: number[];
  memory?: string;
  isolation?: boolean;
  snapshotEvery?: number;
  watchdog?: number;
  autoRollback?: boolean;
  migrationHosts?: string[];
  debugServer?: number;
};

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

/** Custom requests: name -> [arguments, response body]. */
export interface CustomRequests {
  /**
   * Kept snapshots [start, start + count) in list order, oldest first (count: 256 when not given, at most
   * 4096; without `start`: the newest `count`). `total`: how many are kept; `step`, `commands`: where the VM is.
   */
  'vgpu/snapshots': [{ start?: number; count?: number }, { snapshots: SnapshotInfo[]; start: number; total: number; step: number; commands: number }];
  'vgpu/snapshot': [Record<string, never>, { snapshot: SnapshotInfo }];
  'vgpu/rollback': [{ id: number }, { step: number; commands: number }];
  /**
   * Compare Snapshots `from` -> `to` (-1 or absent: now), computed once (a long operation: progress,
   * cancel); its answer names it by `token`, and a request with the token alone gets another window of
   * its changed pages without computing again. Pages come in GPA order, [start, start + count) of
   * `totalPages` (count: 256 when not given, at most 4096), `more` after them; each page's changed bytes
   * (`bytes`) are coalesced into at most 8 ranges [start, end), which may hold unchanged bytes between.
   */
  'vgpu/diff': [{ from?: number; to?: number; token?: string; start?: number; count?: number }, {
    registers: { name: string; old: string; new: string }[];
    pages: { gpa: string; ranges: [number, number][]; bytes: number }[];
    surfaces: { name: string; changedPixels: number; width: number; height: number }[];
    start: number;
    totalPages: number;
    more: number;
    /** Bytes that differ over all pages. */
    changedBytes: number;
    token: string;
  }];
  /** With `snapshot` (a kept snapshot's id): the pixels as they were then, read without moving the VM. */
  'vgpu/surface': [{ name?: string; snapshot?: number }, { surfaces: string[]; name: string; width: number; height: number; pixels: string /* base64 of width*height little-endian ARGB dwords */ }];
  'vgpu/caps': [Record<string, never>, { hostGen: number; deviceVersion: number; /** Where the VM runs: `local (...)` or `HOST:PORT, generation N`. */ host?: string; physical: CapsView; exposed: CapsView; fields: { register: string; field: string; bits: string; physical: number; exposed: number; hidden: boolean }[] }];
  'vgpu/translate': [{ va: string | number; view?: 'full' | 'restricted'; engine?: 'rcs0' | 'bcs0'; space?: 'ppgtt' | 'ggtt' }, { ok: boolean; gpa?: string; hpa?: string; fault?: { kind: string; reason: string }; steps: WalkStepInfo[] }];
  /** Step Back Into (the reverse of Step Into): the thread's previous command at any batch depth; a stopped event follows. */
  'vgpu/stepBackInto': [{ threadId: number }, Record<string, never>];
  /** The pipeline state an engine holds now (the Pipeline State scope's data); `engine` defaults to rcs0. */
  /** Writes the i915 error state (as `vgpu run --error-state` does) of the GPU error the VM stands at, or of its newest unrecovered one. */
  'vgpu/errorState': [{ path: string; compress?: boolean }, { path: string; bytes: number; kind: string; engine: string; commandVa: string }];
  'vgpu/pipelineState': [{ engine?: 'rcs0' | 'bcs0' }, PipelineStateInfo];
  /** Without `to`: the launch configuration's first `migrationHosts` entry. */
  'vgpu/migrate': [{ to?: string; token?: string }, { status: 'completed' | 'refused' | 'failed'; reason?: string; rounds: number; pagesSent: number; downtimeMs: number; hostGen?: number; /** Where the VM runs after the request. */ host?: string }];
}

export type CustomRequestName = keyof CustomRequests;
export type CustomArgs<K extends CustomRequestName> = CustomRequests[K][0];
export type CustomBody<K extends CustomRequestName> = CustomRequests[K][1];
