// The command streamer of one engine (rcs0/bcs0): ring and batch fetch, decode through the command
// table (every gen8/gen9 command, at the length its header declares), the command parser's write set,
// and the command semantics as handlers keyed by mnemonic. Commands the table marks as state are retired
// into the engine's pipeline state; draws and dispatches retire without running shaders.

import {
  COMMANDS,
  CommandDef,
  LOOKUPS,
  MAX_COMMAND_DWORDS,
  REG_OFFSET_MASK,
  blitGeometry,
  commandLength,
  computedWriteBytes,
  entryValue,
  enumValues,
  fieldByName,
  fieldDword,
  fieldsOf,
  fieldValue,
  headerFieldValue,
  foreignLength,
  hasField,
  lengthError,
  writeRangesAt,
  singleStoreAt,
  singleStoreBytes,
  storeBytesByHeader,
  type CmdField,
  type Gen,
  type SingleStore,
} from './commands';
import { HostMemory, PAGE_DWORDS, PAGE_SIZE, hex } from './memory';
import { RegisterBank } from './mmio';
import {
  ACCESS_FETCH,
  ACCESS_READ,
  ACCESS_WRITE,
  FaultInfo,
  GgttContext,
  PagingContext,
  WalkMemo,
  walk,
  walkGgtt,
} from './paging';
import {
  ENGINE_BASE,
  ENGINE_WINDOW,
  EngineName,
  GpuErrorKind,
  REGISTERS,
  deviceSlot,
  engineSlot,
  regAt,
  regField,
  ringBytesOf,
} from './registers';
import { GGTT_WALK, SavedTlb, Tlb } from './tlb';
import type { Ept } from './ept';
import { arrayBytes, objectBytes } from './heapsize';
import { SavedTable, TableSaver } from './persistent';
import { SavedSubmissions, SubmissionQueue, SubmissionsView } from './submissions';
import { BLOCK_SHIFT, type PageGate } from './snapshots';

/** Results of one engine step. */
export const STEP_COMMAND = 1; // a command retired
export const STEP_POLL = 2; // MI_SEMAPHORE_WAIT polled and is still waiting
export const STEP_ERROR = 3; // a GPU error stopped the engine

/** What an engine needs from the machine around it. */
export interface EngineHost {
  readonly mem: HostMemory;
  readonly regs: RegisterBank;
  readonly ept: Ept;
  /** Per command index: 1 when the exposed version accepts the command. */
  readonly accepts: Uint8Array;
  readonly version: number;
  /** Hardware generation whose command layouts the device decodes (8: Broadwell, 9: Skylake). */
  readonly gen: Gen;
  readonly maxBatchDepth: number;
  readonly maxRingPages: number;
  readonly allow2M: boolean;
  readonly allow1G: boolean;
  readonly semaphoreTimeout: number;
  readonly watchdog: number;
  /** Address space rings are fetched through: SPACE_PPGTT (`.vgpu` programs) or SPACE_GGTT (captures, as hardware does). */
  readonly ringSpace: number;
  /**
   * A capture from a later generation (11, 12) decoded with `gen`'s layouts, else 0: then a 3D-pipeline
   * command `gen` lacks is skipped by its DWord Length and listed as not emulated, and a state command
   * longer than `gen`'s is read with `gen`'s fields.
   */
  readonly foreignGen: number;
  /**
   * Snapshot hook: the current command is about to write its segments (`count` of them: HPA and bytes,
   * each within one page, in write order); their before-images must be kept.
   */
  preserveSegments(hpa: Float64Array, bytes: Int32Array, count: number): void;
  /** The snapshot store's gate of page `pfn`, for stampKept; null when no epoch is open (SnapshotStore.gateOf). */
  gateOf(pfn: number): PageGate | null;
  /**
   * preserveSegments of one segment, bytes [off, off + bytes) of the gate's page, when the open epoch
   * has kept them already: true (the write's step, global step `step`, stamped); false, nothing done,
   * when it must run.
   */
  stampKept(gate: PageGate, off: number, bytes: number, step: number): boolean;
  /**
   * preserveSegments of one segment, bytes [off, off + bytes) of the gate's page `pfn`, present, its
   * memory `page`, by global step `step`, without a lookup (SnapshotStore.keepStore); false, nothing
   * done, when the preserve path must run.
   */
  keepStore(gate: PageGate, pfn: number, page: Uint32Array, off: number, bytes: number, step: number): boolean;
  /** The open epoch's log id while stampKept's shortcut holds, else -1 (SnapshotStore.stampEpoch). */
  stampEpoch(): number;
  /** Test mode: the parser's predicted page set for the current command (null when off). */
  predicted: Set<number> | null;
  userInterrupt(engine: Engine): void;
  /** MI_SEMAPHORE_SIGNAL: the engine named by the PRM's Target Engine Select (RCS 0, BCS 2), if present. */
  engineBySelect(select: number): Engine | undefined;
  /** Driver ops of submissions a GPU reset skips (guilty of an earlier error). */
  readonly guilty: ReadonlySet<number>;
}

/** A GPU error as the engine saw it; the VM adds source locations and rollback state. */
export interface EngineFault {
  readonly kind: GpuErrorKind;
  readonly engine: EngineName;
  readonly commandVa: number;
  readonly mnemonic: string | null;
  readonly message: string;
  readonly faultAddress?: number;
  readonly gpa?: number;
  readonly walk?: FaultInfo['steps'];
}

/** One submission the driver made to this engine: ring bytes up to `end` belong to driver op `op`. */
export type { PendingSubmission } from './submissions';

/** The latest value of one state command: its dwords, the value before it, and when it was set. */
export interface PipelineEntry {
  readonly dwords: readonly number[];
  readonly previous: readonly number[] | null;
  /** The engine's retired-command count when it was set. */
  readonly at: number;
  /** GPU VA of the command that set it. */
  readonly va: number;
}

/**
 * Byte offset in a 4 KiB page as a mask: `a & IN_PAGE` is exact for addresses below 2^53 (ToInt32 keeps
 * the low bits) and an integer op, where `a % PAGE_SIZE` on a double is a floating remainder.
 */
const IN_PAGE = PAGE_SIZE - 1;
const MAX_DEPTH = 8;
/** Entries of an engine's store cache (a power of two). */
const STORE_CACHE = 256;
/**
 * Kept tags of a store cache entry per epoch: one per block of a page (its number, below PAGE_SIZE
 * whatever the block size), and one for the whole page (no module-time use of BLOCK_SHIFT: snapshots.ts
 * imports this module).
 */
const KEPT_WHOLE = PAGE_SIZE;
const KEPT_TAGS = KEPT_WHOLE + 1;
/** Placeholders of the store cache's empty entries (never written: an entry's epoch and memory generation say so). */
const NO_STEPS = new Float64Array(1);
const NO_PAGE = new Uint32Array(1);
const SEG_MAX = 1 << 16;

/** Engine registers the streamer updates itself, resolved once from the register table. */
function slotsOf(e: EngineName) {
  return {
    tail: engineSlot(e, 'RING_TAIL'),
    head: engineSlot(e, 'RING_HEAD'),
    start: engineSlot(e, 'RING_START'),
    ctl: engineSlot(e, 'RING_CTL'),
    acthd: engineSlot(e, 'ACTHD'),
    acthdUdw: engineSlot(e, 'ACTHD_UDW'),
    bbAddr: engineSlot(e, 'BB_ADDR'),
    bbAddrUdw: engineSlot(e, 'BB_ADDR_UDW'),
    pdpLo: engineSlot(e, 'PDP0_LDW'),
    pdpHi: engineSlot(e, 'PDP0_UDW'),
    timestamp: engineSlot(e, 'TIMESTAMP'),
    view: engineSlot(e, 'EPT_VIEW'),
    gpr0: engineSlot(e, 'CS_GPR0'),
    hws: engineSlot(e, 'HWS_PGA'),
    predSrc0: engineSlot(e, 'MI_PREDICATE_SRC0'),
    predSrc1: engineSlot(e, 'MI_PREDICATE_SRC1'),
    predData: engineSlot(e, 'MI_PREDICATE_DATA'),
    predResult: engineSlot(e, 'MI_PREDICATE_RESULT'),
    predResult1: engineSlot(e, 'MI_PREDICATE_RESULT_1'),
    predResult2: engineSlot(e, 'MI_PREDICATE_RESULT_2'),
    ggttLo: deviceSlot('GGTT_BASE_LO'),
    ggttHi: deviceSlot('GGTT_BASE_HI'),
    ggttEntries: deviceSlot('GGTT_ENTRIES'),
  };
}

// Ring and context register fields, from the register table.
const RING_OFFSET = regField('RING_HEAD', 'OFFSET');
const RING_WRAPS = regField('RING_HEAD', 'WRAP_COUNT');
const RING_LENGTH = regField('RING_CTL', 'LENGTH');
const RING_ENABLE = regField('RING_CTL', 'ENABLE');
/** RING_CTL's ENABLE bit in place: the scheduler tests it before every step. */
const RING_ENABLE_BIT = RING_ENABLE.mask;
if (RING_ENABLE.mask !== 1 << RING_ENABLE.shift) throw new Error('RING_CTL.ENABLE is not one bit');
const PDP_LOW = regField('PDP0_LDW', 'ADDRESS');
const PDP_HIGH = regField('PDP0_UDW', 'ADDRESS');
const GGTT_LOW = regField('GGTT_BASE_LO', 'ADDRESS');
const GGTT_HIGH = regField('GGTT_BASE_HI', 'ADDRESS');
const VIEW = regField('EPT_VIEW', 'VIEW');
const HWS_ADDRESS = regField('HWS_PGA', 'ADDRESS');
const PRED_RESULT = regField('MI_PREDICATE_RESULT', 'RESULT');
const PRED_RESULT1 = regField('MI_PREDICATE_RESULT_1', 'RESULT');
const PRED_RESULT2 = regField('MI_PREDICATE_RESULT_2', 'RESULT');
/** Address spaces a command's address may be in. */
export const SPACE_PPGTT = 0;
export const SPACE_GGTT = 1;

/** Per command index: the fields that put one of its addresses in the global GTT (privileged batches only). */
const GGTT_FIELDS: (readonly CmdField[])[] = COMMANDS.map((d) => d.fields.filter((f) => /(^|_)ggtt$/.test(f.name)));
/** The same as bit masks of DW0 and DW1 (every such field is one bit there), for the hot path's test. */
const GGTT_DW0 = Int32Array.from(GGTT_FIELDS, (fs) => fs.reduce((m, f) => (f.dw === 0 ? m | (1 << f.lo) : m), 0));
const GGTT_DW1 = Int32Array.from(GGTT_FIELDS, (fs) => fs.reduce((m, f) => (f.dw === 1 ? m | (1 << f.lo) : m), 0));
if (GGTT_FIELDS.some((fs) => fs.some((f) => f.dw > 1 || f.lo !== f.hi)))
  throw new Error('a GGTT select bit outside DW0/DW1');
/** Per command index: its "Store Data Index" flag (the post-sync write goes to the status page), or null. */
const SDI_FIELD: (CmdField | null)[] = COMMANDS.map((d) =>
  d.mnemonic === 'MI_FLUSH_DW' || d.mnemonic === 'PIPE_CONTROL' ? (fieldByName(d, 'store_data_index') ?? null) : null,
);
/**
 * Per command index: its one store at an address field (commands.singleStoreAt), predicted without
 * running its plan; null for others, and for those with Store Data Index (the status page decides).
 */
const SINGLE_STORE: (SingleStore | null)[] = COMMANDS.map((_, i) => (SDI_FIELD[i] === null ? singleStoreAt(i) : null));
/**
 * Per command index: a single store runBatch makes inline, with no handler call (MI_STORE_DATA_IMM):
 * its values are the command's own dwords from `data` on (one, or two for a qword); its address an
 * in-place field over two dwords (FieldRead mode 3), read with its masks; its bytes set by its header.
 * Null for any other command, which its handler stores.
 */
interface InlineStore {
  readonly st: SingleStore;
  readonly addrDw: number;
  readonly lowMask: number;
  readonly highMask: number;
  readonly dataDw: number;
  /** The address-space bit in its header (set: global GTT), or 0. */
  readonly spaceBit: number;
}
const INLINE_STORE: (InlineStore | null)[] = COMMANDS.map((d, i) => {
  const st = SINGLE_STORE[i];
  if (d.mnemonic !== 'MI_STORE_DATA_IMM' || st === null || st.ifNonZero !== null || GGTT_DW1[i] !== 0) return null;
  if (!storeBytesByHeader(st)) return null;
  const read = st.addr.read;
  const space = st.space;
  if (read === undefined || read.mode !== 3 || (space !== null && (space.dw !== 0 || space.lo !== space.hi)))
    return null;
  const { data } = fieldsOf(d, ['data']);
  if (data.dw <= st.addr.dw + 1) return null;
  const spaceBit = space === null ? 0 : 1 << space.lo;
  return { st, addrDw: st.addr.dw, lowMask: read.lowMask, highMask: read.highMask, dataDw: data.dw, spaceBit };
});
/** Per command index: where in the status page a computed write goes (MI_STORE_DATA_INDEX's offset; absent: 0). */
const STATUS_OFFSET: CmdField[] = COMMANDS.map((d) => fieldsOf(d, [], ['offset']).offset);
/** Per command index: 1 when it writes a rectangle (the blits). */
const RECT_WRITE = Uint8Array.from(COMMANDS, (d) => (d.writes?.some((w) => w.kind === 'rect') ? 1 : 0));
/** Per command index: 1 when it writes at an address the engine computes (the hardware status page). */
const COMPUTED_WRITE = Uint8Array.from(COMMANDS, (d) =>
  d.writes?.some((w) => w.kind === 'mem' && w.addr === '') ? 1 : 0,
);
/** Commands MI_SET_PREDICATE never turns into no-ops: flow control and the predicate itself. */
const PREDICATE_EXEMPT = Uint8Array.from(COMMANDS, (d) =>
  [
    'MI_SET_PREDICATE',
    'MI_BATCH_BUFFER_START',
    'MI_BATCH_BUFFER_END',
    'MI_CONDITIONAL_BATCH_BUFFER_END',
    'MI_ARB_CHECK',
    'MI_ARB_ON_OFF',
    'MI_NOOP',
  ].includes(d.mnemonic)
    ? 1
    : 0,
);
/** Per command index: its Predicate Enable field (3DPRIMITIVE, GPGPU_WALKER, MI_BATCH_BUFFER_START, MI_STORE_REGISTER_MEM), or null. */
const PREDICATE_FIELD: (CmdField | null)[] = COMMANDS.map(
  (d) => fieldByName(d, 'predicate_enable') ?? fieldByName(d, 'predicate') ?? null,
);
/** MI_SET_PREDICATE's Predicate Enable values by genxml's names (gen8 and gen9 declare them alike). */
const SET_PREDICATE = (() => {
  const d = COMMANDS.find((c) => c.mnemonic === 'MI_SET_PREDICATE')!;
  return enumValues(d, fieldsOf(d, ['enable']).enable, [
    'NOOP_Never',
    'NOOP_On_Result2_Clear',
    'NOOP_On_Result2_Set',
    'NOOP_On_Result_Clear',
    'NOOP_On_Result_Set',
    'NOOP_Always',
  ]);
})();
/** Per generation: command name -> index (restoring counts saved by name). */
const INDEX_BY_NAME: Readonly<Record<Gen, Map<string, number>>> = { 8: new Map(), 9: new Map() };
COMMANDS.forEach((d, i) => d.gens.forEach((g) => INDEX_BY_NAME[g as Gen].set(d.mnemonic, i)));
/** State commands by name, numbered in table order: the keys of a saved pipeline state. */
const PIPELINE_NAMES: readonly string[] = [
  ...new Set(COMMANDS.filter((d) => d.execution === 'state').map((d) => d.mnemonic)),
];
const PIPELINE_KEY = new Map(PIPELINE_NAMES.map((n, k) => [n, k]));

/**
 * Saved retired-command counts, by position in the order commands were first retired: the commands
 * a program runs all the time share a leaf, so a save after an epoch copies one or two leaves.
 * `order` is each position's command (shared until a new command is retired). JSON: a record by
 * command name in that order (several table entries may share a name), as counts were always saved.
 */
export class SavedCounts {
  /** @internal */
  constructor(
    readonly order: readonly number[],
    readonly values: SavedTable<number>,
  ) {}

  toJSON(): Record<string, number> {
    const out: Record<string, number> = {};
    this.order.forEach((i, p) => {
      const n = COMMANDS[i].mnemonic;
      out[n] = (out[n] ?? 0) + this.values.get(p)!;
    });
    return out;
  }

  /** Heap bytes this version holds that `prev` (the one saved before it, or none) does not share. */
  bytesAgainst(prev: SavedCounts | undefined): number {
    if (prev === this) return 0;
    return (
      objectBytes(2) +
      (this.order !== prev?.order ? arrayBytes(this.order.length) : 0) +
      this.values.bytesAgainst(prev?.values)
    );
  }
}

function pipelineJson(t: SavedTable<PipelineEntry>): Record<string, PipelineEntry> {
  const out: Record<string, PipelineEntry> = {};
  for (const k of t.keys) out[PIPELINE_NAMES[k]] = t.get(k)!;
  return out;
}

/** Retired-command counts in a saved state: a shared version (in memory) or a record by name (parsed from a checkpoint). */
export type SavedCountsForm = SavedCounts | Readonly<Record<string, number>>;
/** The pipeline state in a saved state, likewise. */
export type SavedPipeline = SavedTable<PipelineEntry> | Readonly<Record<string, PipelineEntry>>;

/** The Hardware Status Page's dword MI_REPORT_HEAD writes (i915: dword 4 is the ring head report). */
export const HWS_HEAD_REPORT = 0x10;

export class Engine {
  readonly slots: ReturnType<typeof slotsOf>;
  readonly tlb = new Tlb();
  /** Translations through the global GTT, invalidated with the PPGTT's. */
  readonly ggttTlb = new Tlb(GGTT_WALK);
  readonly fault = new FaultInfo();
  /** The walk path blits' many translations share while nothing is written (PagingContext.memo). */
  private readonly walkMemo = new WalkMemo();
  readonly ctx: PagingContext;
  readonly gctx: GgttContext;
  /** Dwords of the command being executed. */
  readonly buf = new Uint32Array(MAX_COMMAND_DWORDS);
  /** Batch pointers per level (level k+1 at index k); depth 0 = executing from the ring. */
  readonly bb = new Float64Array(MAX_DEPTH);
  /** Per level: 1 when the batch is in the global GTT (a privileged batch), 0 for the PPGTT. */
  readonly bbSpace = new Uint8Array(MAX_DEPTH);
  depth = 0;
  cycles = 0;
  /** Set when a GPU error stopped the engine (until the VM recovers it). */
  halted = false;
  /** Polls spent in the current MI_SEMAPHORE_WAIT. */
  semPolls = 0;
  /** A MI_SEMAPHORE_SIGNAL arrived for this engine and no signal-mode wait has consumed it yet. */
  signalled = false;
  /**
   * Work done by the current submission, for the watchdog: one unit a command plus one per page
   * segment it writes or reads beyond its own dwords, so a loop of huge blits hangs as soon as a loop of
   * small commands would for the same work (the field keeps its saved name).
   */
  subCommands = 0;
  /** Source page segments the current command read (blit copies). */
  private readWork = 0;
  /** Driver op of the submission being executed (-1: none). */
  curSub = -1;
  readonly subs = new SubmissionQueue();
  /** MI_SET_PREDICATE's mode (0: never NOOP). */
  setPredicate = 0;
  /** MI_ARB_ON_OFF: arbitration points allowed (1) or not (0). */
  arbitration = 1;
  /** Commands this engine retired, in all. */
  retired = 0;
  /** Retired commands per command index; draws and dispatches that really ran (not predicated off) per index. */
  readonly counts: Float64Array = new Float64Array(COMMANDS.length);
  readonly notEmulated: Float64Array = new Float64Array(COMMANDS.length);
  /** Indices whose count is not zero, in the order they were first retired (saves walk only these). */
  private counted: number[] = [];
  /** Set when the command just retired was a draw or dispatch that was not emulated (the VM reads and clears it). */
  notEmulatedHit = false;
  /** The latest value of each state command, by name (entries are immutable: snapshots share them). */
  pipeline: Record<string, PipelineEntry> = {};
  /**
   * Saved forms cost what changed since the last save: counts and pipeline state as versions sharing
   * unchanged leaves, the not-emulated and foreign records (rare) copied only when they changed, and
   * the whole state shared when nothing changed (an idle engine).
   */
  private readonly countSaver = new TableSaver<number>(COMMANDS.length, () => null);
  private savedOrder: readonly number[] = [];
  private savedCounts: SavedCounts | null = null;
  readonly pipelineSaver = new TableSaver<PipelineEntry>(PIPELINE_NAMES.length, pipelineJson);
  /** Set when notEmulated or foreign changed since the last save. */
  notEmulatedChanged = false;
  private savedNotEmulated: Readonly<Record<string, number>> = {};
  private savedForeign: Readonly<Record<string, number>> | null = null;
  private lastSaved: EngineState | null = null;
  /** `retired` when the last draw or dispatch ran (not predicated off), -1 before any: "set since the last draw". */
  lastDraw = -1;
  /** VA of the command last fetched (the faulting one after an error). */
  cmdVa = 0;
  cmdIndex = -1;
  cmdLen = 0;
  lastFault: EngineFault | null = null;

  // Command parser output: translated destination segments (HPA, bytes) in write order.
  readonly segHpa = new Float64Array(SEG_MAX);
  readonly segBytes = new Int32Array(SEG_MAX);
  segCount = 0;
  private scratch = new Uint32Array(1024);

  /** The table's commands as this engine runs them, by command index (resolved once). */
  private readonly ops: readonly CommandOp[];
  /** Slot of each dword of this engine's window that commands may write, else -1. */
  readonly cmdSlot = new Int32Array(ENGINE_WINDOW / 4).fill(-1);
  readonly base: number;
  private readonly lookup: Int16Array;

  /** RING_CTL's slot (busy() reads it before every step). */
  private readonly ctlSlot: number;

  constructor(
    readonly name: EngineName,
    readonly index: number,
    private readonly host: EngineHost,
  ) {
    this.slots = slotsOf(name);
    this.ctlSlot = this.slots.ctl;
    this.r = host.regs.values;
    this.lookup = LOOKUPS[host.gen];
    this.ops = COMMANDS.map((d, i) =>
      resolveOp(d, i, host.accepts[i] === 0 ? REFUSED_VERSION : !d.engines.includes(name) ? REFUSED_ENGINE : 0),
    );
    this.base = ENGINE_BASE[name];
    for (const r of REGISTERS)
      if (r.engine === name && r.def.access === 'cmd') this.cmdSlot[(r.mmio - this.base) >>> 2] = r.slot;
    // PDP0, EPT_VIEW and the GGTT registers are read when a TLB misses (a hit needs none): same result
    // as reading them before every command, without the cost.
    this.ctx = {
      mem: host.mem,
      ept: host.ept,
      view: 0,
      pml4: 0,
      allow2M: host.allow2M,
      allow1G: host.allow1G,
      refresh: () => this.syncContext(),
      memo: null,
    };
    this.gctx = { mem: host.mem, ept: host.ept, view: 0, base: 0, entries: 0, refresh: () => this.syncContext() };
  }

  private readonly r: Uint32Array;

  /** The register bank's values (handlers read registers by slot). */
  hostRegs(): Uint32Array {
    return this.r;
  }

  ringSize(): number {
    return ringBytesOf(this.r[this.slots.ctl]);
  }

  ringEnabled(): boolean {
    return (this.r[this.ctlSlot] & RING_ENABLE_BIT) !== 0;
  }

  head(): number {
    return RING_OFFSET.place(this.r[this.slots.head]);
  }

  tail(): number {
    return RING_OFFSET.place(this.r[this.slots.tail]);
  }

  /** Has work and can run. */
  busy(): boolean {
    if (this.halted || !this.ringEnabled()) return false;
    return this.depth > 0 || this.head() !== this.tail() || this.semPolls > 0;
  }

  /** Idle from the driver's point of view (nothing queued, nothing running). */
  idle(): boolean {
    if (!this.ringEnabled()) return true;
    return this.depth === 0 && this.head() === this.tail() && this.semPolls === 0;
  }

  /**
   * Register slots the streamer updates at every step without the I/O tracker (ACTHD, TIMESTAMP; the
   * hot path stores them directly): an epoch's touched registers never name them.
   */
  untrackedSlots(): number[] {
    return [this.slots.acthd, this.slots.acthdUdw, this.slots.timestamp];
  }

  /** GPU VA of the next command this engine will fetch. */
  nextVa(): number {
    if (this.depth > 0) return this.bb[this.depth - 1];
    return this.r[this.slots.start] + this.head();
  }

  /** Address space of the next command: the current batch's, or the ring's. */
  nextSpace(): number {
    return this.depth > 0 ? this.bbSpace[this.depth - 1] : this.host.ringSpace;
  }

  /** The current level may use the global GTT: the ring, or a batch started in the GGTT from a privileged level. */
  privileged(): boolean {
    return this.depth === 0 || this.bbSpace[this.depth - 1] === SPACE_GGTT;
  }

  syncContext(): void {
    const r = this.r;
    this.ctx.pml4 = PDP_HIGH.get(r[this.slots.pdpHi]) * 0x100000000 + PDP_LOW.place(r[this.slots.pdpLo]);
    this.ctx.view = VIEW.get(r[this.slots.view]);
    this.gctx.base = GGTT_HIGH.get(r[this.slots.ggttHi]) * 0x100000000 + GGTT_LOW.place(r[this.slots.ggttLo]);
    this.gctx.entries = r[this.slots.ggttEntries] >>> 0;
    this.gctx.view = this.ctx.view;
  }

  /** Drops every cached translation (PPGTT and GGTT). */
  invalidateTlbs(): void {
    this.tlb.invalidate();
    this.ggttTlb.invalidate();
  }

  /** Is MI_SET_PREDICATE making commands no-ops right now? */
  private predicatedOff(): boolean {
    const r = this.r;
    const s = this.slots;
    switch (this.setPredicate) {
      case SET_PREDICATE.NOOP_On_Result2_Clear:
        return PRED_RESULT2.get(r[s.predResult2]) === 0;
      case SET_PREDICATE.NOOP_On_Result2_Set:
        return PRED_RESULT2.get(r[s.predResult2]) === 1;
      case SET_PREDICATE.NOOP_On_Result_Clear:
        return PRED_RESULT1.get(r[s.predResult1]) === 0;
      case SET_PREDICATE.NOOP_On_Result_Set:
        return PRED_RESULT1.get(r[s.predResult1]) === 1;
      case SET_PREDICATE.NOOP_Always:
        return true;
      default:
        return false; // NOOP Never; the slice counts: this device has every slice enabled
    }
  }

  /**
   * Would this draw or dispatch (index `idx`, its dwords `dw` as fetched) run if executed now, or is it
   * predicated off (MI_SET_PREDICATE, or its Predicate Enable with MI_PREDICATE_RESULT bit 0 clear)? For
   * the debugger's `not-emulated` stop, which must not stop on a draw that will not happen.
   */
  drawWouldRun(idx: number, dw: ArrayLike<number>): boolean {
    if (this.setPredicate !== 0 && PREDICATE_EXEMPT[idx] === 0 && this.predicatedOff()) return false;
    return !this.skipsByPredicate(idx, dw, dw.length);
  }

  /** The command's own Predicate Enable is set and MI_PREDICATE_RESULT bit 0 is clear: it retires without effect. */
  skipsByPredicate(idx: number, dw: ArrayLike<number>, len: number): boolean {
    const f = PREDICATE_FIELD[idx];
    return f !== null && (fieldValue(f, dw, len) & 1) === 1 && PRED_RESULT.get(this.r[this.slots.predResult]) === 0;
  }

  /** Executes (or polls) one command. Returns STEP_COMMAND, STEP_POLL or STEP_ERROR. */
  step(): number {
    const r = this.r;
    const s = this.slots;
    const inRing = this.depth === 0;
    let va: number;
    let space: number;
    if (inRing) {
      const head = this.retireSubmissions();
      const sub = this.subs.length > 0 ? this.subs.firstOp() : this.curSub;
      if (sub !== this.curSub) {
        this.curSub = sub;
        this.subCommands = 0;
      }
      const pages = RING_LENGTH.get(r[s.ctl]) + 1;
      va = r[s.start] + head;
      space = this.host.ringSpace;
      this.cmdVa = va;
      if (pages > this.host.maxRingPages) {
        this.fetched.add(Math.floor(va / PAGE_SIZE)); // the position was about to run it
        return this.raise(
          'invalid-command',
          null,
          `ring of ${pages} pages exceeds the ${this.host.maxRingPages}-page maximum of device version ${this.host.version}`,
        );
      }
    } else {
      va = this.bb[this.depth - 1];
      space = this.bbSpace[this.depth - 1];
      this.cmdVa = va;
    }
    this.cmdIndex = -1;
    // Fetch the header, from the cached fetch page when it is still valid; a batch command wholly in
    // that page is read from it (ring commands may wrap, so they go dword by dword).
    const vpn = Math.floor(va / PAGE_SIZE);
    const at = (va & IN_PAGE) >>> 2;
    let page = !inRing && this.fetchCached(vpn, space) ? this.fPage : null;
    let header: number;
    if (page !== null) header = page[at];
    else {
      header = this.fetchDword(va, 0, inRing, space);
      if (header < 0) return this.raiseFault(null);
      if (!inRing && this.fetchCached(vpn, space)) page = this.fPage;
    }
    const idx = this.lookup[header >>> 16];
    if (idx < 0) {
      const len =
        this.host.foreignGen !== 0 && header >>> 29 === CLIENT_GFXPIPE
          ? foreignLength(this.host.gen, header, this.host.foreignGen)
          : 0;
      if (len > 0) {
        return this.skipForeign(
          va,
          inRing,
          space,
          len,
          `${hex((header & 0xffff0000) >>> 0, 8)} (a gen${this.host.foreignGen} command gen${this.host.gen} lacks)`,
        );
      }
      return this.raise(
        'invalid-command',
        null,
        `unknown command header ${hex(header >>> 0, 8)} (client ${header >>> 29}: no gen${this.host.gen} command has this opcode)`,
      );
    }
    this.cmdIndex = idx;
    let len = commandLength(idx, header);
    if (len < 0) {
      // Malformed for this gen: an error, unless a later gen's longer form (its DWord Length is -len).
      const def = COMMANDS[idx];
      if (this.host.foreignGen === 0) return this.raise('invalid-command', def, lengthError(idx, header));
      if (def.execution === 'state')
        len = -len; // a later gen's longer state command: gen's fields of it
      else
        return this.skipForeign(
          va,
          inRing,
          space,
          -len,
          `${def.mnemonic} (gen${this.host.foreignGen}'s ${-len}-dword form: ${lengthError(idx, header)})`,
        );
    }
    const op = this.ops[idx];
    if (op.refusal !== 0) return this.refuse(op);
    const buf = this.buf;
    buf[0] = header;
    if (page !== null && at + len <= PAGE_DWORDS) {
      for (let i = 1; i < len; i++) buf[i] = page[at + i];
    } else {
      for (let i = 1; i < len; i++) {
        const d = this.fetchDword(va, i, inRing, space);
        if (d < 0) return this.raiseFault(COMMANDS[idx]);
        buf[i] = d;
      }
    }
    this.cmdLen = len;
    const def = op.def;
    // The command scanner: a global-GTT address only from a privileged level.
    if (((buf[0] & op.ggttDw0) | (len > 1 ? buf[1] & op.ggttDw1 : 0)) !== 0 && !this.privileged()) {
      const gf = GGTT_FIELDS[idx];
      for (let i = 0; i < gf.length; i++) {
        if (fieldValue(gf[i], buf, len) & 1) {
          return this.raise(
            'invalid-command',
            def,
            `${def.mnemonic} ${gf[i].name}=1 uses the global GTT from a non-privileged (PPGTT) batch; only the ring and privileged batches may`,
          );
        }
      }
    }
    // MI_SET_PREDICATE: the command retires as a no-op.
    const noop = this.setPredicate !== 0 && !op.predicateExempt && this.predicatedOff();
    // Command parser: translate and check every destination before anything is written.
    if (!noop && op.writes) {
      // A single store to a PPGTT page stored to lately: its translation from the store cache.
      const st = SINGLE_STORE[idx];
      if (st === null || !this.cachedStore(st, len)) {
        const err = this.predictWrites(def, len);
        if (err !== 0) return err;
        const host = this.host;
        host.preserveSegments(this.segHpa, this.segBytes, this.segCount);
        if (host.predicted !== null)
          for (let i = 0; i < this.segCount; i++) host.predicted.add(Math.floor(this.segHpa[i] / PAGE_SIZE));
        else if (st !== null) this.cacheStore(st, len);
      }
    } else {
      this.segCount = 0;
    }
    this.setActhd(va);
    this.readWork = 0;
    const result = noop ? ADVANCE : op.run(this, this.host, len);
    if (result !== ADVANCE && result !== JUMPED) return result === STEP_POLL ? this.poll(def) : result;
    this.semPolls = 0;
    if (result === ADVANCE) this.advance(len * 4);
    if (this.depth === 0) this.retireSubmissions();
    this.cycles += op.cycles + this.extraCycles;
    this.extraCycles = 0;
    r[s.timestamp] = this.cycles >>> 0;
    if (this.counts[idx]++ === 0) this.counted.push(idx);
    this.retired++;
    this.subCommands += 1 + this.segCount + this.readWork;
    this.readWork = 0;
    if (this.subCommands > this.host.watchdog) {
      return this.raise(
        'hang',
        def,
        `submission did more than ${this.host.watchdog} units of work (watchdog: a command is one unit, plus one per page segment it writes or reads)`,
      );
    }
    return STEP_COMMAND;
  }

  /**
   * The batch fast path: runs up to `limit` commands of the current batch while each is one it runs
   * the simple way (fetched from the cached fetch page, wholly in it; an effect-only handler, an
   * MI_LOAD_REGISTER_IMM to this engine's own registers, or a single aligned store), with step()'s
   * effects in step()'s order; runs of loads and immediate stores in a loop of their own (simpleRun). Stops before anything else (a page end, a jump, a refusal, a fault, the
   * watchdog's last units, MI_SET_PREDICATE's mode), which step() then runs. Returns the commands
   * retired; the host counts them as steps (each a command), `regs.step` kept current for the I/O
   * tracker's stamps.
   */
  runBatch(limit: number): number {
    const h = this.host;
    if (this.depth === 0 || this.setPredicate !== 0 || h.predicted !== null || h.mem.writeHook !== null) return 0;
    if (this.extraCycles !== 0 || this.readWork !== 0) return 0;
    const d = this.depth - 1;
    const start = this.bb[d];
    const space = this.bbSpace[d];
    const vpn = Math.floor(start / PAGE_SIZE);
    if (!this.fetchCached(vpn, space)) return 0;
    const page = this.fPage!;
    const r = this.r;
    const s = this.slots;
    const regs = h.regs;
    const buf = this.buf;
    const lookup = this.lookup;
    const ops = this.ops;
    const counts = this.counts;
    // The counters live in locals, written back before a handler runs (handlers may read them) and at
    // the end. MI_LOAD_REGISTER_IMM never writes ACTHD or TIMESTAMP (read-only registers: not in
    // cmdSlot), so those are set before a handler and at the end only.
    const room = Math.min(limit, Math.floor((h.watchdog - this.subCommands) / 2)); // a command adds at most 2 units
    const epoch = h.stampEpoch(); // no snapshot is taken, nor a watcher added, in the loop
    const vaBase = start - (start & IN_PAGE);
    let step = regs.step;
    let cycles = this.cycles;
    let units = this.subCommands;
    const retired0 = this.retired;
    let retired = retired0;
    let at = (start & IN_PAGE) >>> 2;
    let last = -1;
    let lastIdx = -1;
    let lastLen = 0;
    let lastKind = FAST_NONE;
    while (retired - retired0 < room) {
      const header = page[at];
      const idx = lookup[header >>> 16];
      if (idx < 0) break;
      const len = commandLength(idx, header);
      if (len <= 0 || at + len > PAGE_DWORDS) break;
      const op = ops[idx];
      const kind = op.fast;
      if (op.refusal !== 0 || kind === FAST_NONE) break;
      if (kind === FAST_LRI || kind === FAST_INLINE_STORE) {
        // A run of loads and stores, counted as the loop counts each command.
        const m = this.simpleRun(page, at, room - (retired - retired0), step, epoch);
        if (m !== 0) {
          units += this.runUnits;
          cycles += this.runCycles;
          retired += m;
          step += m;
          last = this.runLast;
          lastIdx = this.cmdIndex;
          lastLen = this.cmdLen;
          lastKind = this.runLastKind;
          at = this.runEnd;
          if (!this.fetchCached(vpn, space)) break;
          continue;
        }
        if (kind === FAST_LRI) break; // a load simpleRun does not make: step() does
      }
      if (((header & op.ggttDw0) | (len > 1 ? page[at + 1] & op.ggttDw1 : 0)) !== 0) break;
      buf[0] = header;
      for (let i = 1; i < len; i++) buf[i] = page[at + i];
      const va = vaBase + at * 4;
      this.cmdVa = va;
      this.cmdIndex = idx;
      this.cmdLen = len;
      regs.step = step;
      if (kind >= FAST_STORE) {
        if (!this.cachedStore(SINGLE_STORE[idx]!, len)) {
          if (!this.predictStore(SINGLE_STORE[idx]!, len)) break;
          h.preserveSegments(this.segHpa, this.segBytes, this.segCount);
          this.cacheStore(SINGLE_STORE[idx]!, len);
        }
      } else this.segCount = 0;
      this.cycles = cycles;
      this.subCommands = units;
      this.retired = retired;
      r[s.timestamp] = cycles >>> 0;
      this.setActhd(va);
      op.run(this, h, len);
      units += 1 + this.segCount;
      cycles += op.cycles;
      if (counts[idx]++ === 0) this.counted.push(idx);
      retired++;
      last = at;
      lastIdx = idx;
      lastLen = len;
      lastKind = kind;
      at += len;
      step++;
      // A handler may set a predicate mode; a store may have moved the fetched page.
      if (this.setPredicate !== 0 || !this.fetchCached(vpn, space)) break;
    }
    const n = retired - retired0;
    if (n === 0) return 0;
    // What step() leaves after the last command: its position in ACTHD, the clock in TIMESTAMP.
    const va = vaBase + last * 4;
    this.bb[d] = vaBase + at * 4;
    this.setActhd(va);
    this.cycles = cycles;
    r[s.timestamp] = cycles >>> 0;
    this.subCommands = units;
    this.retired = retired;
    this.semPolls = 0;
    this.cmdVa = va;
    this.cmdIndex = lastIdx;
    this.cmdLen = lastLen;
    // step() leaves the command's dwords in buf (an LRI and an inline store did not copy them), and
    // an LRI no write segments.
    for (let i = 0; i < lastLen; i++) buf[i] = page[last + i];
    if (lastKind === FAST_LRI) this.segCount = 0;
    regs.step = step;
    return n;
  }

  // simpleRun's reading of the last store header it decoded: its length, and its store's bytes when
  // simpleRun makes it (0: it does not; runBatch's other paths run it).
  private inlineHeader = -1;
  private inlineLen = 0;
  private inlineBytes = 0;
  // What simpleRun leaves runBatch: where it stopped (the dword after its last command), where its last
  // command starts and how (FAST_*), the cycles and watchdog units of its commands.
  private runEnd = 0;
  private runLast = 0;
  private runLastKind = FAST_NONE;
  private runCycles = 0;
  private runUnits = 0;

  /**
   * Runs the commands at page[at..] one after another, up to `max`, while each is a load or a store it
   * makes, as step() would run each: an MI_LOAD_REGISTER_IMM as lriHandler's own-register case (every
   * pair one of this engine's own registers, no byte disabled; each value set and its write stamped
   * with the command's step); an INLINE_STORE (MI_STORE_DATA_IMM) whose page is in the store cache, its
   * step stamped (through the entry's kept tag when the open epoch, `epoch`, keeps those bytes already;
   * else keepStore, stampKept or the preserve path), its values written, the last store's write segment
   * left as predictWrites leaves it. A streak of stores with one header, or of loads, runs in a loop of
   * its own, the command classified once (a stream of one kind, or alternating kinds, with no call or
   * dispatch per command). Counts the commands (counts, cycles, watchdog units) and returns how many
   * ran; stops before anything else (another command, a store to the global GTT, a size its
   * length does not hold, a misaligned address, a miss), which runBatch or step() then runs, and after
   * a store that moved memory's generation (the fetched page may have moved). A store changes neither
   * the TLB nor the fetched page object (it may write that page's dwords: each header is read as it
   * comes); a load writes no memory.
   */
  private simpleRun(page: Uint32Array, at: number, max: number, step: number, epoch: number): number {
    const lookup = this.lookup;
    const ops = this.ops;
    const regs = this.host.regs;
    const mem = this.host.mem;
    const memGen = mem.generation;
    this.syncStoreCache();
    this.syncKeptTags();
    const scVpn = this.scVpn;
    const scKept = this.scKept;
    const scSteps = this.scSteps;
    const scAt = this.scAt;
    const scPage = this.scPage;
    // The kept tags of this epoch start at tag0 (epoch * KEPT_TAGS; below any tag when no epoch is open,
    // as tags are never negative): tag0 + a block kept, or tag0 + KEPT_WHOLE.
    const tag0 = epoch < 0 ? -2 * KEPT_TAGS : epoch * KEPT_TAGS;
    // The last store header decoded (this.inlineHeader: kept from run to run) and its command's layout;
    // the last load header and its length. A header seen again needs no lookup.
    let storeHeader = -1;
    let storeIdx = -1;
    let storeLen = 0;
    let bytes = 0;
    let addrDw = 0;
    let lowMask = 0;
    let highMask = 0;
    let dataDw = 0;
    let lriHeader = -1;
    let lriIdx = -1;
    let lriLen = 0;
    // Commands of each kind (one command index each: a gen has one of each), counted at the end.
    let stores = 0;
    let loads = 0;
    let n = 0;
    let lastAt = at;
    let lastLen = 0;
    let lastKind = FAST_NONE;
    let lastI = 0;
    let lastOff = 0;
    let moved = false;
    run: while (n < max) {
      const header = page[at];
      let kind: number;
      let idx: number;
      if (header === storeHeader) {
        kind = FAST_INLINE_STORE;
        idx = storeIdx;
      } else if (header === lriHeader) {
        kind = FAST_LRI;
        idx = lriIdx;
      } else {
        idx = lookup[header >>> 16];
        if (idx < 0) break;
        const op = ops[idx];
        kind = op.refusal === 0 ? op.fast : FAST_NONE;
        if (kind === FAST_INLINE_STORE) {
          if (storeIdx >= 0 && idx !== storeIdx) break;
          const ins = INLINE_STORE[idx]!;
          if (header !== this.inlineHeader) this.decodeInline(header, ins);
          storeHeader = header;
          storeIdx = idx;
          storeLen = this.inlineLen;
          bytes = this.inlineBytes;
          addrDw = ins.addrDw;
          lowMask = ins.lowMask;
          highMask = ins.highMask;
          dataDw = ins.dataDw;
        } else if (kind === FAST_LRI) {
          if ((lriIdx >= 0 && idx !== lriIdx) || (header & LRI_BWD_BITS[idx]) !== 0) break;
          const len = commandLength(idx, header);
          if (len <= 0) break;
          lriHeader = header;
          lriIdx = idx;
          lriLen = len;
        } else break;
      }
      // A streak of commands with this header, in a loop of its own (a stream of one kind stays in it).
      if (kind === FAST_INLINE_STORE) {
        const len = storeLen;
        do {
          if (bytes === 0 || at + len > PAGE_DWORDS) break run;
          // The address below 2^48 as its page (hi * 2^20 + lo >>> 12) and offset: integers, no division.
          const lo = (page[at + addrDw] & lowMask) >>> 0;
          const hi = page[at + addrDw + 1] & highMask;
          const vpn = hi === 0 ? lo >>> 12 : hi * 0x100000 + (lo >>> 12);
          const i = (lo >>> 12) & (STORE_CACHE - 1);
          const off = lo & IN_PAGE;
          if (scVpn[i] !== vpn || (off & (bytes - 1)) !== 0) break run;
          // A kept tag of this epoch also says the entry's page object is current (syncKeptTags).
          const kept = scKept[i];
          let p: Uint32Array;
          if (kept === tag0 + (off >>> BLOCK_SHIFT) || kept === tag0 + KEPT_WHOLE) {
            scSteps[i][scAt[i]] = step;
            p = scPage[i];
          } else {
            p = this.storeOutsideKept(i, off, bytes, step, epoch);
            moved = mem.generation !== memGen;
          }
          const v = at + dataDw;
          p[off >>> 2] = page[v];
          if (bytes === 8) p[(off >>> 2) + 1] = page[v + 1];
          lastI = i;
          lastOff = off;
          lastAt = at;
          lastLen = len;
          lastKind = kind;
          at += len;
          step++;
          n++;
          stores++;
          if (moved) break run; // the fetched page may have moved with memory
        } while (n < max && page[at] === header);
      } else {
        // Loads of any length (a stream may alternate them), each checked as the first one was.
        const bwd = LRI_BWD_BITS[lriIdx];
        let h = header;
        do {
          const len = h === lriHeader ? lriLen : commandLength(lriIdx, h);
          if (len <= 0 || at + len > PAGE_DWORDS) break run;
          if (len === 3) {
            // One pair: its slot found once.
            const slot = this.ownSlot(page[at + 1]);
            if (slot < 0) break run;
            regs.step = step;
            regs.set(slot, page[at + 2]);
          } else {
            let own = true;
            for (let k = at + 1; k < at + len && own; k += 2) own = this.ownSlot(page[k]) >= 0;
            if (!own) break run;
            regs.step = step;
            for (let k = at + 1; k < at + len; k += 2) regs.set(this.ownSlot(page[k]), page[k + 1]);
          }
          lastAt = at;
          lastLen = len;
          lastKind = kind;
          at += len;
          step++;
          n++;
          loads++;
          h = page[at];
        } while (n < max && lookup[h >>> 16] === lriIdx && (h & bwd) === 0);
      }
    }
    if (n === 0) return 0;
    this.runCycles = 0;
    if (stores !== 0) this.countRun(storeIdx, stores);
    if (loads !== 0) this.countRun(lriIdx, loads);
    this.runUnits = 2 * stores + loads;
    if (lastKind === FAST_INLINE_STORE) {
      this.lastSpace = SPACE_PPGTT;
      this.segHpa[0] = this.scPfn[lastI] * PAGE_SIZE + lastOff;
      this.segBytes[0] = bytes;
      this.segCount = 1;
    }
    this.runEnd = at;
    this.runLast = lastAt;
    this.runLastKind = lastKind;
    this.cmdIndex = lastKind === FAST_INLINE_STORE ? storeIdx : lriIdx;
    this.cmdLen = lastLen;
    return n;
  }

  /** simpleRun's count of `m` commands of index idx: the engine's counts, and their cycles in runCycles. */
  private countRun(idx: number, m: number): void {
    if (this.counts[idx] === 0) this.counted.push(idx);
    this.counts[idx] += m;
    this.runCycles += this.ops[idx].cycles * m;
  }

  /** simpleRun's reading of a header of INLINE_STORE `ins`: its length, and the bytes of its store when simpleRun makes it, else 0. */
  private decodeInline(header: number, ins: InlineStore): void {
    const idx = this.lookup[header >>> 16];
    const len = commandLength(idx, header);
    let bytes = 0;
    if (len > 0 && (header & ins.spaceBit) === 0) {
      this.buf[0] = header;
      bytes = singleStoreBytes(ins.st, this.buf, len);
      if (len !== ins.dataDw + (bytes >>> 2) || (bytes !== 4 && bytes !== 8)) bytes = 0;
    }
    this.inlineHeader = header;
    this.inlineLen = len;
    this.inlineBytes = bytes;
  }

  /**
   * simpleRun's store through entry i when its kept tag does not cover the bytes: stampCached with the
   * entry's page object when current, then that object (found again when memory moved since); kept
   * tags are dropped when finding it moved memory on (a uniform page given memory of its own).
   */
  private storeOutsideKept(i: number, off: number, bytes: number, step: number, epoch: number): Uint32Array {
    const mem = this.host.mem;
    const current = this.scMemGen[i] === mem.generation;
    this.stampCached(i, off, bytes, step, epoch, current ? this.scPage[i] : null);
    if (current) return this.scPage[i];
    const p = (this.scPage[i] = this.pageForStore(this.scPfn[i]));
    this.scMemGen[i] = mem.generation;
    this.syncKeptTags();
    return p;
  }

  /**
   * Drops every kept tag when memory's generation moved since they were set: a tag then also says its
   * entry's page object is current (simpleRun takes it without checking).
   */
  private syncKeptTags(): void {
    const gen = this.host.mem.generation;
    if (this.scKeptMem === gen) return;
    this.scKept.fill(-1);
    this.scKeptMem = gen;
  }

  /**
   * A store of store cache entry i's page outside the entry's kept span: its segment set, then keepStore
   * with the entry's page object (`page`), or stampKept when memory moved since it was found (null);
   * the preserve path when that one cannot; then, in epoch `epoch` (not -1), the span kept now (the store's block, or the whole
   * page when every block is) and where the page's step is stamped, for the next stores.
   */
  private stampCached(
    i: number,
    off: number,
    bytes: number,
    step: number,
    epoch: number,
    page: Uint32Array | null,
  ): void {
    const h = this.host;
    const pfn = this.scPfn[i];
    this.lastSpace = SPACE_PPGTT;
    this.segHpa[0] = pfn * PAGE_SIZE + off;
    this.segBytes[0] = bytes;
    this.segCount = 1;
    const was = this.scGate[i];
    if (page !== null ? !h.keepStore(was, pfn, page, off, bytes, step) : !h.stampKept(was, off, bytes, step))
      this.preserveCached(i, step);
    if (epoch < 0 || Number.isNaN(this.scVpn[i])) return; // preserveCached dropped the entry
    const gate = this.scGate[i]; // preserveCached may have found the tracker's new entry
    if (gate.log !== epoch) return;
    this.scKept[i] = epoch * KEPT_TAGS + (gate.full ? KEPT_WHOLE : off >>> BLOCK_SHIFT);
    this.scSteps[i] = gate.steps;
    this.scAt[i] = gate.at;
  }

  /**
   * The preserve path of the write segment set for store cache entry i, by global step `step` (the
   * page's first write in the open epoch, or a block not kept yet), and the gate it leaves (the
   * tracker's entry may be new; none when no epoch is open: the entry is dropped).
   */
  private preserveCached(i: number, step: number): void {
    const h = this.host;
    h.regs.step = step;
    h.preserveSegments(this.segHpa, this.segBytes, 1);
    const gate = h.gateOf(this.scPfn[i]);
    if (gate === null) this.scVpn[i] = NaN;
    else this.scGate[i] = gate;
  }

  // The store cache: a PPGTT VA page stored to lately, its frame and the snapshot store's gate of it,
  // direct-mapped by page, all entries valid while the TLB is as it was when they were filled (scTlb).
  private readonly scVpn = new Float64Array(STORE_CACHE).fill(NaN);
  private readonly scPfn = new Float64Array(STORE_CACHE);
  /** The TLB generation the entries hold for (syncStoreCache empties them when the TLB moved on). */
  private scTlb = -1;
  private readonly scGate: PageGate[] = [];
  // For simpleRun, per entry: what the open epoch keeps of the page, as a tag (the epoch's log id times
  // KEPT_TAGS, plus the block kept or KEPT_WHOLE; -1: nothing known), set only with a current page
  // object, and where that epoch stamps the page's step (fixed for the epoch: PageGate); the page
  // object, valid while memory's generation is scMemGen's.
  private readonly scKept = new Float64Array(STORE_CACHE).fill(-1);
  /** The memory generation the kept tags hold for (syncKeptTags). */
  private scKeptMem = -1;
  private readonly scSteps: Float64Array[] = new Array<Float64Array>(STORE_CACHE).fill(NO_STEPS);
  private readonly scAt = new Int32Array(STORE_CACHE);
  private readonly scPage: Uint32Array[] = new Array<Uint32Array>(STORE_CACHE).fill(NO_PAGE);
  private readonly scMemGen = new Float64Array(STORE_CACHE).fill(-1);

  /**
   * predictWrites and preserveSegments of a single store (singleStoreAt) from the store cache, when it is
   * an unconditional PPGTT store within a page (4 or 8 bytes, aligned) to a cached page: its segment set
   * and, when the open epoch kept its bytes already, its step stamped, else the preserve path run. False
   * otherwise, nothing done (nor in test mode, whose write check wants every prediction made).
   */
  private cachedStore(st: SingleStore, len: number): boolean {
    if (st.ifNonZero !== null || this.host.predicted !== null) return false;
    const buf = this.buf;
    if (st.space !== null && (fieldValue(st.space, buf, len) & 1) !== SPACE_PPGTT) return false;
    const va = fieldValue(st.addr, buf, len);
    const vpn = Math.floor(va / PAGE_SIZE);
    const i = vpn & (STORE_CACHE - 1);
    this.syncStoreCache();
    if (this.scVpn[i] !== vpn) return false;
    const bytes = singleStoreBytes(st, buf, len);
    const off = va & IN_PAGE;
    if ((bytes !== 4 && bytes !== 8) || (off & (bytes - 1)) !== 0) return false;
    this.lastSpace = SPACE_PPGTT;
    this.segHpa[0] = this.scPfn[i] * PAGE_SIZE + off;
    this.segBytes[0] = bytes;
    this.segCount = 1;
    const step = this.host.regs.step;
    if (!this.host.stampKept(this.scGate[i], off, bytes, step)) this.preserveCached(i, step);
    return true;
  }

  /** Empties the store cache when the TLB changed since its entries were filled (a fill, a flush, a restore). */
  private syncStoreCache(): void {
    const gen = this.tlb.generation;
    if (this.scTlb === gen) return;
    this.scVpn.fill(NaN);
    this.scTlb = gen;
  }

  /** After predictWrites (or predictStore) and preserveSegments of a single PPGTT store: caches its page. */
  private cacheStore(st: SingleStore, len: number): void {
    if (this.segCount !== 1 || this.lastSpace !== SPACE_PPGTT) return;
    const pfn = Math.floor(this.segHpa[0] / PAGE_SIZE);
    const gate = this.host.gateOf(pfn);
    if (gate === null) return;
    const vpn = Math.floor(fieldValue(st.addr, this.buf, len) / PAGE_SIZE);
    const i = vpn & (STORE_CACHE - 1);
    this.syncStoreCache();
    this.scVpn[i] = vpn;
    this.scPfn[i] = pfn;
    this.scGate[i] = gate;
    this.scKept[i] = -1;
    this.scMemGen[i] = -1;
  }

  /** ACTHD (and its upper dword): the position of the command about to run. */
  private setActhd(va: number): void {
    this.r[this.slots.acthd] = va >>> 0; // ToUint32: the low 32 bits of an integer below 2^53, without a float modulo
    this.r[this.slots.acthdUdw] = va < 0x100000000 ? 0 : Math.floor(va / 0x100000000);
  }

  /**
   * The slot of the register an MI_LOAD_REGISTER_IMM pair's offset dword names, when it is one of this
   * engine's own registers commands may write (its window, cmdSlot); else -1.
   */
  ownSlot(reg: number): number {
    const off = (reg & REG_OFFSET_MASK) - this.base;
    return off >= 0 && off < ENGINE_WINDOW ? this.cmdSlot[off >>> 2] : -1;
  }

  extraCycles = 0;

  /** A MI_SEMAPHORE_WAIT that polled and still waits: a cycle passes; a hang when it has waited too long. */
  private poll(def: CommandDef): number {
    this.cycles += 1;
    this.r[this.slots.timestamp] = this.cycles >>> 0;
    if (++this.semPolls >= this.host.semaphoreTimeout) {
      this.semPolls = 0;
      return this.raise('hang', def, `MI_SEMAPHORE_WAIT unsatisfied for ${this.host.semaphoreTimeout} cycles`);
    }
    return STEP_POLL;
  }

  /** The GPU error for a command this engine does not run (its refusal is not 0). */
  private refuse(op: CommandOp): number {
    const def = op.def;
    if (op.refusal === REFUSED_VERSION) {
      return this.raise(
        'invalid-command',
        def,
        `${def.mnemonic} is not accepted by device version ${this.host.version} (it needs ${def.requires}); the VM's OPCAP registers do not list it`,
      );
    }
    return this.raise(
      'invalid-command',
      def,
      `${def.mnemonic} runs on ${def.engines.join('/')} only, not on ${this.name}`,
    );
  }

  /**
   * A later generation's command the decode gen cannot run: a 3D or media pipeline command it lacks
   * (measured by the length rule of this gen's commands with its header's top byte), or one whose form
   * there differs from gen's: fetched by its length, retired without effect, counted as not emulated
   * under `name`.
   */
  private skipForeign(va: number, inRing: boolean, space: number, len: number, name: string): number {
    if (len > this.buf.length)
      return this.raise('invalid-command', null, `a ${len}-dword command is longer than any this device decodes`);
    for (let i = 0; i < len; i++) {
      const d = this.fetchDword(va, i, inRing, space);
      if (d < 0) return this.raiseFault(null);
      this.buf[i] = d;
    }
    const r = this.r;
    const s = this.slots;
    this.setActhd(va);
    this.cmdLen = len;
    this.advance(len * 4);
    if (this.depth === 0) this.retireSubmissions();
    this.cycles += 1;
    r[s.timestamp] = this.cycles >>> 0;
    this.foreign.set(name, (this.foreign.get(name) ?? 0) + 1);
    this.notEmulatedHit = true;
    this.notEmulatedChanged = true;
    this.retired++;
    if (++this.subCommands > this.host.watchdog)
      return this.raise('hang', null, `submission did more than ${this.host.watchdog} units of work (watchdog)`);
    return STEP_COMMAND;
  }

  /** Later-generation commands skipped (skipForeign), by name. */
  foreign = new Map<string, number>();

  /**
   * Drops the submissions the ring head has passed, and skips a guilty one the head has reached (as a
   * GPU reset skips the guilty request and no other: submissions before it still run). Returns the head.
   */
  retireSubmissions(): number {
    let head = RING_OFFSET.place(this.r[this.slots.head]);
    for (;;) {
      while (this.subs.length > 0 && this.subs.firstEnd() === head) this.subs.shift();
      if (this.subs.length === 0 || !this.host.guilty.has(this.subs.firstOp())) return head;
      this.fetched.add(Math.floor((this.r[this.slots.start] + head) / PAGE_SIZE)); // nextVa() named it before the skip
      const size = this.ringSize();
      this.advance((this.subs.firstEnd() - head + size) % size);
      this.subs.shift(); // even when a forged end lies outside the ring: each pass retires one
      head = RING_OFFSET.place(this.r[this.slots.head]);
    }
  }

  advance(bytes: number): void {
    if (this.depth > 0) {
      this.bb[this.depth - 1] += bytes;
      return;
    }
    const r = this.r;
    const s = this.slots;
    const size = this.ringSize();
    const raw = r[s.head];
    let head = RING_OFFSET.place(raw) + bytes;
    let wraps = RING_WRAPS.get(raw);
    if (head >= size) {
      head -= size;
      wraps++; // RING_WRAPS.set keeps the field's width
    }
    this.host.regs.set(s.head, RING_WRAPS.set(head, wraps));
  }

  /**
   * VA pages of the commands fetched (or about to run) since the last takeFetched: a backward search
   * for a source line passes over epochs that fetched none of its pages. Recorded on fetch-cache
   * misses, so the cached page is always among them.
   */
  private readonly fetched = new Set<number>();

  /** Appends the pages fetched since the last call to `into` and starts over (at each snapshot). */
  takeFetched(into: number[]): void {
    for (const p of this.fetched) into.push(p);
    this.fetched.clear();
    this.fVpn = -1;
  }

  // Fetch cache: the page the last command came from. Valid while the TLBs and the memory's page
  // objects are unchanged (both count their invalidations); only allocated pages are cached.
  private fVpn = -1;
  private fSpace = -1;
  private fPage: Uint32Array | null = null;
  private fTlbGen = -1;
  private fGgttGen = -1;
  private fMemGen = -1;

  // Store cache: host pages handlers' stores went to, direct-mapped by frame. Only allocated pages
  // (pageForWrite's), valid while the memory's page objects are (its generation); not used while a
  // write hook watches every write.
  private readonly storeTags = new Float64Array(STORE_CACHE).fill(NaN);
  private readonly storePages: Uint32Array[] = [];
  private storeGen = -1;

  /** The host page `pfn` for a store (mem.pageForWrite, without a map lookup when it was stored to lately). */
  pageForStore(pfn: number): Uint32Array {
    const mem = this.host.mem;
    if (mem.writeHook !== null) return mem.pageForWrite(pfn);
    if (this.storeGen !== mem.generation) {
      this.storeTags.fill(NaN);
      this.storeGen = mem.generation;
    }
    const i = pfn & (STORE_CACHE - 1);
    if (this.storeTags[i] === pfn) return this.storePages[i];
    const page = mem.pageForWrite(pfn);
    this.storeTags[i] = pfn;
    this.storePages[i] = page;
    return page;
  }

  /** Is VA page `vpn` of `space` the cached fetch page, still valid? */
  private fetchCached(vpn: number, space: number): boolean {
    return (
      vpn === this.fVpn &&
      space === this.fSpace &&
      this.fTlbGen === this.tlb.generation &&
      this.fGgttGen === this.ggttTlb.generation &&
      this.fMemGen === this.host.mem.generation
    );
  }

  /** Dword i of the command at va (ring commands wrap at the ring end). -1 after a fetch fault. */
  private fetchDword(va: number, i: number, inRing: boolean, space: number): number {
    let a = va + i * 4;
    if (inRing) {
      const start = this.r[this.slots.start];
      const size = this.ringSize();
      a = start + ((va - start + i * 4) % size);
    }
    const vpn = Math.floor(a / PAGE_SIZE);
    const mem = this.host.mem;
    if (this.fetchCached(vpn, space)) return this.fPage![(a & IN_PAGE) >>> 2];
    this.fetched.add(vpn);
    this.lastSpace = space;
    const hpa =
      space === SPACE_GGTT
        ? this.ggttTlb.translate(this.gctx, a, ACCESS_FETCH, this.fault)
        : this.tlb.translate(this.ctx, a, ACCESS_FETCH, this.fault);
    if (hpa < 0) return -1;
    const pfn = Math.floor(hpa / PAGE_SIZE);
    const page = mem.pageForRead(pfn);
    if (mem.hasPage(pfn)) {
      this.fVpn = vpn;
      this.fSpace = space;
      this.fPage = page;
      this.fTlbGen = this.tlb.generation;
      this.fGgttGen = this.ggttTlb.generation;
      this.fMemGen = mem.generation;
    }
    return page[(hpa & IN_PAGE) >>> 2];
  }

  /** Translates a data access; -1 with the fault filled (misalignment is a page fault too). */
  translate(va: number, access: number, align: number, space = SPACE_PPGTT): number {
    if ((va & (align - 1)) !== 0) {
      // align is a power of two (4, 8, 16)
      const f = this.fault;
      f.kind = 'page-fault';
      f.va = va;
      f.gpa = undefined;
      f.access = access;
      f.level = -1;
      f.reason = `${access === ACCESS_WRITE ? 'write' : 'read'} at GPU VA ${hex(va)}: address is not ${align}-byte aligned`;
      f.steps = [];
      return -1;
    }
    this.lastSpace = space;
    return space === SPACE_GGTT
      ? this.ggttTlb.translate(this.gctx, va, access, this.fault)
      : this.tlb.translate(this.ctx, va, access, this.fault);
  }

  /** A dword of memory; -1 after a fault (stored dwords are unsigned). */
  readMem32(va: number, space = SPACE_PPGTT): number {
    const hpa = this.translate(va, ACCESS_READ, 4, space);
    if (hpa < 0) return -1;
    return this.host.mem.pageForRead(Math.floor(hpa / PAGE_SIZE))[(hpa & IN_PAGE) >>> 2];
  }

  /** GGTT address of the engine's hardware status page (HWS_PGA). */
  statusPage(): number {
    return HWS_ADDRESS.place(this.r[this.slots.hws]);
  }

  /**
   * The command parser: the table's write ranges of the current command (commands.writeRanges),
   * translated to HPA segments that never cross a page, plus writes to the status page whose address
   * the engine computes. Returns 0, or STEP_ERROR after a fault.
   */
  predictWrites(def: CommandDef, len: number): number {
    const st = SINGLE_STORE[this.cmdIndex];
    if (st !== null && this.predictStore(st, len)) return 0;
    this.segCount = 0;
    this.segDef = def;
    this.segError = 0;
    const sdi = SDI_FIELD[this.cmdIndex];
    this.segSdi = sdi !== null && fieldValue(sdi, this.buf, len) === 1;
    if (RECT_WRITE[this.cmdIndex] === 1) {
      // A rectangle's rows: nothing is written until they are all translated, so walks may share paths.
      this.ctx.memo = this.walkMemo;
      this.walkMemo.clear();
      writeRangesAt(this.cmdIndex, this.buf, len, this.addRange);
      this.ctx.memo = null;
    } else writeRangesAt(this.cmdIndex, this.buf, len, this.addRange);
    if (this.segError === 0 && COMPUTED_WRITE[this.cmdIndex] === 1) {
      const bytes = computedWriteBytes(def, this.buf, len);
      const off =
        def.mnemonic === 'MI_REPORT_HEAD' ? HWS_HEAD_REPORT : fieldValue(STATUS_OFFSET[this.cmdIndex], this.buf, len);
      this.segSdi = false;
      this.addRange(this.statusPage() + off, bytes, 4, SPACE_GGTT);
    }
    return this.segError;
  }

  /**
   * predictWrites for a command whose one write is a store at an address field (SINGLE_STORE): its
   * range from the fields directly, translated once, when it is aligned and within a page. False for
   * anything else (a page-crossing or misaligned store, a fault): the general way gives the segments.
   */
  private predictStore(st: SingleStore, len: number): boolean {
    const buf = this.buf;
    if (st.ifNonZero !== null && fieldValue(st.ifNonZero, buf, len) === 0) {
      this.segCount = 0;
      return true;
    }
    const va = fieldValue(st.addr, buf, len);
    const bytes = singleStoreBytes(st, buf, len);
    if (bytes >= 4 && (bytes & (bytes - 1)) === 0 && (va & (bytes - 1)) === 0 && (va & IN_PAGE) + bytes <= PAGE_SIZE) {
      const space = st.space === null ? SPACE_PPGTT : fieldValue(st.space, buf, len) & 1;
      this.lastSpace = space;
      const ok =
        space === SPACE_GGTT
          ? this.ggttTlb.translateTo(this.gctx, va, ACCESS_WRITE, this.fault, this.segHpa, 0)
          : this.tlb.translateTo(this.ctx, va, ACCESS_WRITE, this.fault, this.segHpa, 0);
      if (ok) {
        this.segBytes[0] = bytes;
        this.segCount = 1;
        return true;
      }
    }
    return false;
  }

  private segDef: CommandDef | null = null;
  private segError = 0;
  /** The current command's post-sync write goes to the status page (Store Data Index). */
  private segSdi = false;
  /** writeRanges' sink, made once: translate a range page by page into segments. */
  private readonly addRange = (va: number, bytes: number, align: number, space: number): boolean => {
    const def = this.segDef!;
    if (bytes <= 0) return true;
    if (this.segSdi) {
      // Store Data Index: the address field is an offset into the status page (GGTT).
      va = this.statusPage() + (va & 0xfff);
      space = SPACE_GGTT;
    }
    if ((va & (align - 1)) !== 0) {
      // align is a power of two (4, 8, 16)
      this.translate(va, ACCESS_WRITE, align, space);
      this.segError = this.raiseFault(def);
      return false;
    }
    let left = bytes;
    while (left > 0) {
      const inPage = Math.min(left, PAGE_SIZE - (va & IN_PAGE));
      const hpa = this.translate(va, ACCESS_WRITE, 4, space);
      if (hpa < 0) {
        this.segError = this.raiseFault(def);
        return false;
      }
      if (this.segCount >= SEG_MAX) {
        this.segError = this.raise('invalid-command', def, `${def.mnemonic} writes more than ${SEG_MAX} page segments`);
        return false;
      }
      this.segHpa[this.segCount] = hpa;
      this.segBytes[this.segCount++] = inPage;
      va += inPage;
      left -= inPage;
    }
    return true;
  };

  /** Host memory runs of a blit's source (srcRuns) and destination (dstRuns), in pixel order. */
  readonly srcRuns = new HostRuns();
  readonly dstRuns = new HostRuns();

  /**
   * Translates a w x h source rectangle into srcRuns (row-major, nothing copied yet); false after a
   * fault. Done before the command writes anything, so walks may share paths (see predictWrites).
   */
  readSource(src: number, pitch: number, sx: number, sy: number, w: number, h: number): boolean {
    this.ctx.memo = this.walkMemo;
    this.walkMemo.clear();
    const ok = this.sourceRows(src, pitch, sx, sy, w, h);
    this.ctx.memo = null;
    return ok;
  }

  private sourceRows(src: number, pitch: number, sx: number, sy: number, w: number, h: number): boolean {
    const runs = this.srcRuns;
    runs.clear();
    for (let y = 0; y < h; y++) {
      let va = src + (sy + y) * pitch + sx * 4;
      let left = w;
      while (left > 0) {
        const hpa = this.translate(va, ACCESS_READ, 4);
        if (hpa < 0) return false;
        const inPage = Math.min(left, (PAGE_SIZE - (va & IN_PAGE)) >>> 2);
        const page = this.host.mem.pageForRead(Math.floor(hpa / PAGE_SIZE));
        runs.add(page, page.byteOffset + (hpa & IN_PAGE), inPage);
        this.readWork++;
        va += inPage * 4;
        left -= inPage;
      }
    }
    return true;
  }

  /** Copies the source runs into scratch (row-major pixels), before anything is written. */
  gatherSource(): Uint32Array {
    const runs = this.srcRuns;
    let n = 0;
    for (let i = 0; i < runs.count; i++) n += runs.lens[i];
    if (this.scratch.length < n) this.scratch = new Uint32Array(Math.max(n, this.scratch.length * 2));
    for (let i = 0, k = 0; i < runs.count; k += runs.lens[i++]) this.scratch.set(runs.view(i, 0, runs.lens[i]), k);
    return this.scratch;
  }

  /** Records a GPU error from the last failed translation. */
  raiseFault(def: CommandDef | null): number {
    const f = this.fault;
    let steps = f.steps;
    if (steps.length === 0 && (f.level >= 0 || f.gpa !== undefined)) {
      // The hot path walks without a record; walk again (same state, same result) to keep the evidence.
      steps = [];
      this.syncContext();
      if (this.lastSpace === SPACE_GGTT) walkGgtt(this.gctx, f.va, f.access, new FaultInfo(), null, steps);
      else walk(this.ctx, f.va, f.access, new FaultInfo(), null, steps);
    }
    return this.raise(f.kind, def, f.reason, f.va, f.gpa, steps);
  }

  /** The address space of the last translation (a fault's evidence is walked again in it). */
  lastSpace = SPACE_PPGTT;

  raise(
    kind: GpuErrorKind,
    def: CommandDef | null,
    message: string,
    faultAddress?: number,
    gpa?: number,
    walk?: FaultInfo['steps'],
  ): number {
    this.halted = true;
    this.lastFault = {
      kind,
      engine: this.name,
      commandVa: this.cmdVa,
      mnemonic: def ? def.mnemonic : null,
      message,
      faultAddress,
      gpa,
      walk,
    };
    return STEP_ERROR;
  }

  /** Retired-command counts by command name (non-zero only), and the not-emulated ones. */
  commandCounts(): { counts: Record<string, number>; notEmulated: Record<string, number> } {
    const { counts, notEmulated } = this.tableCounts();
    for (const [n, v] of this.foreign) {
      counts[n] = v;
      notEmulated[n] = v;
    }
    return { counts, notEmulated };
  }

  /** commandCounts over the table's commands only (what saved state keeps by name; `foreign` keeps the rest). */
  private tableCounts(): { counts: Record<string, number>; notEmulated: Record<string, number> } {
    const counts: Record<string, number> = {};
    const notEmulated: Record<string, number> = {};
    for (const i of this.counted) {
      const n = COMMANDS[i].mnemonic;
      counts[n] = (counts[n] ?? 0) + this.counts[i];
      if (this.notEmulated[i] !== 0) notEmulated[n] = (notEmulated[n] ?? 0) + this.notEmulated[i];
    }
    return { counts, notEmulated };
  }

  /**
   * Engine state beyond the register bank, for snapshots and checkpoints. Saved states are immutable
   * and share with the previous save every part that did not change: the whole state when nothing did.
   */
  save(): EngineState {
    const prev = this.lastSaved;
    const bb = sameNumbers(prev?.bb, this.bb) ? prev!.bb : exactCopy(this.bb);
    const bbSpace = sameNumbers(prev?.bbSpace, this.bbSpace) ? prev!.bbSpace : exactCopy(this.bbSpace);
    const c = this.counted;
    for (let p = 0; p < c.length; p++)
      if (this.countSaver.current.get(p) !== this.counts[c[p]]) this.countSaver.mark(p);
    const values = this.countSaver.save(this.countAt);
    if (this.savedOrder.length !== c.length) this.savedOrder = c.slice(); // counted only grows between restores
    let counts = this.savedCounts;
    if (counts === null || counts.values !== values || counts.order !== this.savedOrder)
      counts = this.savedCounts = new SavedCounts(this.savedOrder, values);
    if (this.notEmulatedChanged) {
      this.notEmulatedChanged = false;
      this.savedNotEmulated = this.tableCounts().notEmulated;
      this.savedForeign = this.foreign.size > 0 ? Object.fromEntries(this.foreign) : null;
    }
    const subs = this.subs.save();
    const tlb = this.tlb.save();
    const ggttTlb = this.ggttTlb.save();
    const pipeline = this.pipelineSaver.save(this.pipelineAt);
    // Nothing changed (an idle engine, most of a busy one's parts): the last save, nothing allocated.
    // Every field of EngineState is compared (SAVE_COMPARES: a field added there fails to compile until listed).
    if (
      prev !== null &&
      prev.depth === this.depth &&
      prev.bb === bb &&
      prev.bbSpace === bbSpace &&
      prev.cycles === this.cycles &&
      prev.halted === this.halted &&
      prev.semPolls === this.semPolls &&
      prev.signalled === this.signalled &&
      prev.subCommands === this.subCommands &&
      prev.curSub === this.curSub &&
      prev.subs === subs &&
      prev.tlb === tlb &&
      prev.ggttTlb === ggttTlb &&
      prev.setPredicate === this.setPredicate &&
      prev.arbitration === this.arbitration &&
      prev.retired === this.retired &&
      prev.counts === counts &&
      prev.notEmulated === this.savedNotEmulated &&
      prev.pipeline === pipeline &&
      prev.foreign === (this.savedForeign ?? undefined) &&
      prev.lastDraw === (this.lastDraw >= 0 ? this.lastDraw : undefined)
    )
      return prev;
    const st: EngineState = {
      depth: this.depth,
      bb,
      bbSpace,
      cycles: this.cycles,
      halted: this.halted,
      semPolls: this.semPolls,
      signalled: this.signalled,
      subCommands: this.subCommands,
      curSub: this.curSub,
      subs,
      tlb,
      ggttTlb,
      setPredicate: this.setPredicate,
      arbitration: this.arbitration,
      retired: this.retired,
      counts,
      notEmulated: this.savedNotEmulated,
      pipeline,
    };
    // Present only when set, in this order (as saved states, and their digests, always had them).
    if (this.savedForeign !== null) st.foreign = this.savedForeign;
    // Only once a draw has run: saved states (and their digests) of draw-free programs stay as they were.
    if (this.lastDraw >= 0) st.lastDraw = this.lastDraw;
    this.lastSaved = st;
    return st;
  }

  /** The savers' value readers, made once (save runs at every snapshot). */
  private readonly countAt = (p: number): number => this.counts[this.counted[p]];
  private readonly pipelineAt = (k: number): PipelineEntry | undefined => this.pipeline[PIPELINE_NAMES[k]];

  restore(st: EngineState): void {
    this.depth = st.depth;
    this.bb.set(st.bb);
    this.bbSpace.set(st.bbSpace ?? []);
    this.cycles = st.cycles;
    this.halted = st.halted;
    this.semPolls = st.semPolls;
    this.signalled = st.signalled ?? false;
    this.subCommands = st.subCommands;
    this.curSub = st.curSub;
    this.subs.load(st.subs);
    this.tlb.restore(st.tlb);
    this.ggttTlb.restore(st.ggttTlb ?? []);
    this.setPredicate = st.setPredicate ?? 0;
    this.arbitration = st.arbitration ?? 1;
    this.retired = st.retired ?? 0;
    for (const i of this.counted) {
      this.counts[i] = 0;
      this.notEmulated[i] = 0;
    }
    this.counted = [];
    const idxOf = (n: string) => INDEX_BY_NAME[this.host.gen].get(n) ?? -1;
    const counts = st.counts ?? {};
    if (counts instanceof SavedCounts) {
      counts.order.forEach((i, p) => {
        this.counts[i] = counts.values.get(p)!;
        this.counted.push(i);
      });
      this.countSaver.adopt(counts.values);
      this.savedOrder = counts.order;
      this.savedCounts = counts;
    } else {
      for (const [n, v] of Object.entries(counts)) {
        const i = idxOf(n);
        if (i >= 0 && v !== 0) {
          this.counts[i] = v;
          this.counted.push(i);
        }
      }
      this.countSaver.reset(this.counted.map((_, p) => p));
      this.savedOrder = [];
      this.savedCounts = null;
    }
    const notEmulated = st.notEmulated ?? {};
    for (const [n, v] of Object.entries(notEmulated)) {
      const i = idxOf(n);
      if (i >= 0) this.notEmulated[i] = v;
    }
    const pipeline = st.pipeline ?? {};
    if (pipeline instanceof SavedTable) {
      this.pipeline = pipelineJson(pipeline);
      this.pipelineSaver.adopt(pipeline);
    } else {
      this.pipeline = { ...pipeline };
      this.pipelineSaver.reset(Object.keys(pipeline).map((n) => PIPELINE_KEY.get(n) ?? -1));
    }
    this.foreign = new Map(Object.entries(st.foreign ?? {}));
    this.savedNotEmulated = notEmulated;
    this.savedForeign = st.foreign ?? null;
    this.notEmulatedChanged = false;
    this.lastDraw = st.lastDraw ?? -1;
    this.notEmulatedHit = false;
    this.lastFault = null;
    // A state parsed from a checkpoint holds records, not versions: the next save makes its own.
    this.lastSaved = counts instanceof SavedCounts && pipeline instanceof SavedTable ? st : null;
  }

  /**
   * Heap bytes saved state `st` holds that `prev` (the state saved before it, or none) does not share
   * (the snapshot budget): each part is shared whole or not at all, in the same place.
   */
  static stateBytes(st: EngineState, prev: EngineState | undefined): number {
    if (st === prev) return 0;
    let n = objectBytes(fieldCount(st));
    if (st.bb !== prev?.bb) n += arrayBytes(st.bb.length);
    if (st.bbSpace !== prev?.bbSpace) n += arrayBytes(st.bbSpace.length);
    if (st.subs !== prev?.subs && st.subs instanceof SubmissionsView) n += objectBytes(3);
    n += tlbBytes(st.tlb, prev?.tlb);
    n += tlbBytes(st.ggttTlb, prev?.ggttTlb);
    if (st.counts instanceof SavedCounts)
      n += st.counts.bytesAgainst(prev?.counts instanceof SavedCounts ? prev.counts : undefined);
    if (st.notEmulated !== prev?.notEmulated) n += objectBytes(2 * fieldCount(st.notEmulated));
    if (st.pipeline instanceof SavedTable)
      n += st.pipeline.bytesAgainst(prev?.pipeline instanceof SavedTable ? prev.pipeline : undefined, entryBytes);
    if (st.foreign !== undefined && st.foreign !== prev?.foreign) n += objectBytes(2 * fieldCount(st.foreign));
    return n;
  }
}

function tlbBytes(t: SavedTlb | readonly number[], prev: SavedTlb | readonly number[] | undefined): number {
  if (t instanceof SavedTlb) return t.bytesAgainst(prev instanceof SavedTlb ? prev : undefined);
  return t === prev ? 0 : arrayBytes(t.length);
}

/** A pipeline entry's own bytes: its object and dwords, and its previous dwords unless the entry it replaced holds them. */
function entryBytes(e: PipelineEntry, old: PipelineEntry | undefined): number {
  const prev =
    e.previous !== null && e.previous !== old?.dwords && e.previous !== old?.previous
      ? arrayBytes(e.previous.length)
      : 0;
  return objectBytes(4) + arrayBytes(e.dwords.length) + prev;
}

/** Own enumerable fields of an object (no array allocated, as Object.keys would). */
function fieldCount(o: object): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

/** A plain array of a typed array's values, its backing store of the exact length (Array.from grows one as it goes). */
function exactCopy(a: ArrayLike<number>): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

/** Whether a saved list holds the live values (a saved list absent: no). */
function sameNumbers(saved: readonly number[] | undefined, live: ArrayLike<number>): boolean {
  if (saved === undefined || saved.length !== live.length) return false;
  for (let i = 0; i < live.length; i++) if (saved[i] !== live[i]) return false;
  return true;
}

/** Why an engine refuses a command (Engine.refusal). */
const REFUSED_VERSION = 1; // the exposed device version does not accept it
const REFUSED_ENGINE = 2; // it runs on another engine

/** Command type (bits 31:29) of the 3D and media pipelines' commands (GFXPIPE). */
const CLIENT_GFXPIPE = 3;

export interface EngineState {
  depth: number;
  bb: number[];
  bbSpace: number[];
  cycles: number;
  halted: boolean;
  semPolls: number;
  signalled: boolean;
  subCommands: number;
  curSub: number;
  /** Pending submissions: a view sharing the queue's storage (JSON: a plain array). */
  subs: SavedSubmissions;
  /** A version sharing unchanged leaves (in memory) or a plain list of triples (parsed from a checkpoint). */
  tlb: SavedTlb | readonly number[];
  ggttTlb: SavedTlb | readonly number[];
  setPredicate: number;
  arbitration: number;
  retired: number;
  counts: SavedCountsForm;
  notEmulated: Readonly<Record<string, number>>;
  pipeline: SavedPipeline;
  /** Absent: no draw or dispatch has run. */
  lastDraw?: number;
  /** Later-generation commands skipped, by name (absent when none). */
  foreign?: Record<string, number>;
}

/**
 * The fields Engine.save compares with its last save before reusing it: all of EngineState's (the
 * `satisfies` fails to compile when a field is added and not listed, so the comparison is extended too).
 */
const SAVE_COMPARES = {
  depth: true,
  bb: true,
  bbSpace: true,
  cycles: true,
  halted: true,
  semPolls: true,
  signalled: true,
  subCommands: true,
  curSub: true,
  subs: true,
  tlb: true,
  ggttTlb: true,
  setPredicate: true,
  arbitration: true,
  retired: true,
  counts: true,
  notEmulated: true,
  pipeline: true,
  lastDraw: true,
  foreign: true,
} as const satisfies Record<keyof EngineState, true>;
void SAVE_COMPARES;

/** ROP3 (PRM "BR13 raster operation"): bit (P<<2 | S<<1 | D) of rop gives the result bit. */
export function rop3(rop: number, p: number, s: number, d: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) {
    if (((rop >>> i) & 1) === 0) continue;
    r |= (i & 4 ? p : ~p) & (i & 2 ? s : ~s) & (i & 1 ? d : ~d);
  }
  return r >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Handlers keyed by mnemonic, each made per command entry (gen8 and gen9 layouts differ) with its fields
// resolved once. A handler returns ADVANCE (pointer moves past the command), JUMPED (the handler moved
// it), STEP_POLL or STEP_ERROR.

const ADVANCE = 10;
const JUMPED = 11;

type Handler = (e: Engine, h: EngineHost, len: number) => number;

function writeSeg32(e: Engine, hpa: number, value: number): void {
  e.pageForStore(Math.floor(hpa / PAGE_SIZE))[(hpa & IN_PAGE) >>> 2] = value;
}

function readPhys32(h: EngineHost, hpa: number): number {
  return h.mem.pageForRead(Math.floor(hpa / PAGE_SIZE))[(hpa & IN_PAGE) >>> 2];
}

/** The HPA of byte `off` of the command's predicted write (its segments are contiguous in GPU VA). */
function segAt(e: Engine, off: number): number {
  for (let i = 0; i < e.segCount; i++) {
    if (off < e.segBytes[i]) return e.segHpa[i] + off;
    off -= e.segBytes[i];
  }
  return -1;
}

/**
 * Writes dword k of the command's predicted write. The handler writes what the command writes whatever
 * the prediction says (past its segments, on from the first: the soundness check in test mode must see
 * a prediction that falls short).
 */
function storeAt(e: Engine, h: EngineHost, k: number, value: number): void {
  const hpa = k === 0 || e.segBytes[0] > 4 * k ? e.segHpa[0] + 4 * k : segAt(e, 4 * k);
  writeSeg32(e, hpa >= 0 ? hpa : e.segHpa[0] + 4 * k, value >>> 0);
}

/** Writes dwords at the start of the command's predicted write (storeAt for each). */
function store(e: Engine, h: EngineHost, values: ArrayLike<number>): void {
  for (let k = 0; k < values.length; k++) storeAt(e, h, k, values[k]);
}

function regName(offset: number): string {
  const r = regAt(offset);
  return r ? `${r.reg.name}${r.dword ? '+4' : ''} (${hex(offset)})` : `register ${hex(offset)}`;
}

function refused(e: Engine, def: CommandDef, mmio: number): number {
  return e.raise(
    'privileged-register',
    def,
    `${def.mnemonic} writes ${regName(mmio)}: outside the command scanner's allow-list (${e.name}'s CS_GPR and MI_PREDICATE registers, and the device registers batches may load)`,
  );
}

/** A 64-bit value from two register slots (lo at slot). */
function reg64(e: Engine, slot: number): bigint {
  const v = e.hostRegs();
  return BigInt(v[slot] >>> 0) | (BigInt(v[slot + 1] >>> 0) << 32n);
}

function setReg64(e: Engine, h: EngineHost, slot: number, value: bigint): void {
  h.regs.set(slot, Number(value & 0xffffffffn));
  h.regs.set(slot + 1, Number((value >> 32n) & 0xffffffffn));
}

function endBatch(e: Engine, def: CommandDef): number {
  if (e.depth === 0) return e.raise('invalid-command', def, `${def.mnemonic} outside a batch buffer`);
  e.depth--; // a second-level return resumes at bb[depth-1], already past its MI_BATCH_BUFFER_START
  return JUMPED;
}

/** MI_SEMAPHORE_WAIT's comparison (memory OP data), by the names commands.ts gives Compare Operation's values. */
const COMPARE_NAMES = ['GT', 'GTE', 'LT', 'LTE', 'EQ', 'NEQ'] as const;

const ALL_ONES = (1n << 64n) - 1n;

function mathHandler(d: CommandDef): Handler {
  const { alu_opcode, operand_1, operand_2 } = fieldsOf(d, ['alu_opcode', 'operand_1', 'operand_2']);
  // Operands REG0..15 (CS_GPR0..15), SRCA, SRCB, ACCU, ZF, CF and opcodes, from the table's genxml enums.
  const ALU = enumValues(d, operand_2, ['REG0', 'REG15', 'SRCA', 'SRCB', 'ACCU', 'ZF', 'CF']);
  const ALU_OPS = enumValues(d, alu_opcode, [
    'NOOP',
    'LOAD',
    'LOADINV',
    'LOAD0',
    'LOAD1',
    'ADD',
    'SUB',
    'AND',
    'OR',
    'XOR',
    'STORE',
    'STOREINV',
  ]);
  return (e, h, len) => {
    let srca = 0n;
    let srcb = 0n;
    let accu = 0n;
    let zf = 0n;
    let cf = 0n;
    const gpr = e.slots.gpr0;
    // A source operand: CS_GPR0..15, ACCU, ZF or CF (SRCA and SRCB are destinations only).
    const read = (operand: number): bigint | null => {
      if (operand >= ALU.REG0 && operand <= ALU.REG15) return reg64(e, gpr + 2 * (operand - ALU.REG0));
      switch (operand) {
        case ALU.ACCU:
          return accu;
        case ALU.ZF:
          return zf;
        case ALU.CF:
          return cf;
        default:
          return null;
      }
    };
    for (let i = 1; i < len; i++) {
      const op = entryValue(alu_opcode, e.buf, len, i);
      const op1 = entryValue(operand_1, e.buf, len, i);
      const op2 = entryValue(operand_2, e.buf, len, i);
      const bad = (why: string) =>
        e.raise('invalid-command', d, `MI_MATH instruction ${i} (${hex(e.buf[i] >>> 0, 8)}): ${why}`);
      switch (op) {
        case ALU_OPS.NOOP:
          break;
        case ALU_OPS.LOAD:
        case ALU_OPS.LOADINV: {
          const v = read(op2);
          if (v === null) return bad(`operand 2 ${hex(op2)} is not a register, ACCU, ZF or CF`);
          const x = op === ALU_OPS.LOADINV ? ~v & ALL_ONES : v;
          if (op1 === ALU.SRCA) srca = x;
          else if (op1 === ALU.SRCB) srcb = x;
          else return bad(`LOAD's destination ${hex(op1)} is not SRCA or SRCB`);
          break;
        }
        case ALU_OPS.LOAD0:
        case ALU_OPS.LOAD1: {
          const x = op === ALU_OPS.LOAD1 ? 1n : 0n;
          if (op1 === ALU.SRCA) srca = x;
          else if (op1 === ALU.SRCB) srcb = x;
          else return bad(`LOAD0/LOAD1's destination ${hex(op1)} is not SRCA or SRCB`);
          break;
        }
        case ALU_OPS.ADD: {
          const sum = srca + srcb;
          accu = sum & ALL_ONES;
          cf = sum > ALL_ONES ? 1n : 0n;
          zf = accu === 0n ? 1n : 0n;
          break;
        }
        case ALU_OPS.SUB: {
          accu = (srca - srcb) & ALL_ONES;
          cf = srca < srcb ? 1n : 0n; // borrow
          zf = accu === 0n ? 1n : 0n;
          break;
        }
        case ALU_OPS.AND:
        case ALU_OPS.OR:
        case ALU_OPS.XOR:
          accu = op === ALU_OPS.AND ? srca & srcb : op === ALU_OPS.OR ? srca | srcb : srca ^ srcb;
          zf = accu === 0n ? 1n : 0n;
          cf = 0n;
          break;
        case ALU_OPS.STORE:
        case ALU_OPS.STOREINV: {
          if (op1 < ALU.REG0 || op1 > ALU.REG15) return bad(`STORE's destination ${hex(op1)} is not a CS_GPR register`);
          let v = read(op2);
          if (v === null) return bad(`STORE's source ${hex(op2)} is not a register, ACCU, ZF or CF`);
          // ZF and CF store as all ones when set (as Mesa's mi_builder relies on).
          if ((op2 === ALU.ZF || op2 === ALU.CF) && v !== 0n) v = ALL_ONES;
          setReg64(e, h, gpr + 2 * (op1 - ALU.REG0), op === ALU_OPS.STOREINV ? ~v & ALL_ONES : v);
          break;
        }
        default:
          return bad(
            `ALU opcode ${hex(op)} is not one of gen8/9's (NOOP, LOAD, LOADINV, LOAD0, LOAD1, ADD, SUB, AND, OR, XOR, STORE, STOREINV)`,
          );
      }
    }
    return ADVANCE;
  };
}

function predicateHandler(d: CommandDef): Handler {
  const f = fieldsOf(d, ['compare', 'combine', 'load']);
  const COMPARE = enumValues(d, f.compare, ['TRUE', 'FALSE', 'SRCS_EQUAL', 'DELTAS_EQUAL']);
  const COMBINE = enumValues(d, f.combine, ['SET', 'AND', 'OR', 'XOR']);
  const LOAD = enumValues(d, f.load, ['KEEP', 'LOAD', 'LOADINV']);
  return (e, h, len) => {
    const s = e.slots;
    const src0 = reg64(e, s.predSrc0);
    const src1 = reg64(e, s.predSrc1);
    let result: boolean;
    switch (fieldValue(f.compare, e.buf, len)) {
      case COMPARE.TRUE:
        result = true;
        break;
      case COMPARE.FALSE:
        result = false;
        break;
      case COMPARE.SRCS_EQUAL:
        result = src0 === src1;
        break;
      default: {
        // DELTAS_EQUAL: the new delta SRC0 - SRC1 against the one kept from the last such compare.
        const delta = (src0 - src1) & ALL_ONES;
        result = delta === reg64(e, s.predData);
        setReg64(e, h, s.predData, delta);
      }
    }
    const current = PRED_RESULT.get(e.hostRegs()[s.predResult]) === 1;
    const load = fieldValue(f.load, e.buf, len);
    const loaded = load === LOAD.LOAD ? result : load === LOAD.LOADINV ? !result : current;
    const combine = fieldValue(f.combine, e.buf, len);
    const next =
      combine === COMBINE.SET
        ? loaded
        : combine === COMBINE.AND
          ? current && loaded
          : combine === COMBINE.OR
            ? current || loaded
            : current !== loaded;
    h.regs.set(s.predResult, PRED_RESULT.set(0, next ? 1 : 0));
    h.regs.set(s.predResult1, PRED_RESULT1.set(0, next ? 1 : 0));
    return ADVANCE;
  };
}

/** MI_ATOMIC's operations by their dword forms' names (genxml gen9's ATOMIC OPCODE enum): the 8B and 16B forms are the same on a qword, an octword. */
const ATOMIC_NAMES = [
  'AND',
  'OR',
  'XOR',
  'MOVE',
  'INC',
  'DEC',
  'ADD',
  'SUB',
  'RSUB',
  'IMAX',
  'IMIN',
  'UMAX',
  'UMIN',
  'CMP_WR',
  'PREDEC',
] as const;
export type AtomicOps = { readonly [K in (typeof ATOMIC_NAMES)[number]]: number };

/**
 * atomicOp on dwords in plain numbers, for the dword operations but compare-exchange (the common
 * case: no operand lists, no BigInt): `mem` and `a` unsigned; the result unsigned.
 */
export function atomic32(A: AtomicOps, op: number, mem: number, a: number): number {
  switch (op) {
    case A.AND:
      return (mem & a) >>> 0;
    case A.OR:
      return (mem | a) >>> 0;
    case A.XOR:
      return (mem ^ a) >>> 0;
    case A.MOVE:
      return a;
    case A.INC:
      return (mem + 1) >>> 0;
    case A.DEC:
    case A.PREDEC:
      return (mem - 1) >>> 0;
    case A.ADD:
      return (mem + a) >>> 0;
    case A.SUB:
      return (mem - a) >>> 0;
    case A.RSUB:
      return (a - mem) >>> 0;
    case A.IMAX:
      return (mem | 0) > (a | 0) ? mem : a;
    case A.IMIN:
      return (mem | 0) < (a | 0) ? mem : a;
    case A.UMAX:
      return mem > a ? mem : a;
    case A.UMIN:
      return mem < a ? mem : a;
    default:
      throw new Error(`atomic32: no dword operation ${op}`);
  }
}

/** MI_ATOMIC's operation `op` (a dword form's value) on n-bit values (n = 32 or 64); null for one it does not define. */
export function atomicOp(A: AtomicOps, op: number, mem: bigint, a: bigint, n: bigint): bigint | null {
  const mask = (1n << n) - 1n;
  const signed = (x: bigint) => BigInt.asIntN(Number(n), x);
  switch (op) {
    case A.AND:
      return mem & a;
    case A.OR:
      return mem | a;
    case A.XOR:
      return mem ^ a;
    case A.MOVE:
      return a;
    case A.INC:
      return (mem + 1n) & mask;
    case A.DEC:
      return (mem - 1n) & mask;
    case A.ADD:
      return (mem + a) & mask;
    case A.SUB:
      return (mem - a) & mask;
    case A.RSUB:
      return (a - mem) & mask;
    case A.IMAX:
      return signed(mem) > signed(a) ? mem : a;
    case A.IMIN:
      return signed(mem) < signed(a) ? mem : a;
    case A.UMAX:
      return mem > a ? mem : a;
    case A.UMIN:
      return mem < a ? mem : a;
    case A.PREDEC:
      return (mem - 1n) & mask; // PREDEC: decrement (the returned value is the one before)
    default:
      return null;
  }
}

/** MI_ATOMIC's dword operations by name, as command `d` (a gen's MI_ATOMIC) encodes them. */
export function atomicOpsOf(d: CommandDef): AtomicOps {
  return enumValues(d, fieldsOf(d, ['op']).op, ATOMIC_NAMES);
}

function atomicHandler(d: CommandDef): Handler {
  const f = fieldsOf(d, [
    'op',
    'size',
    'inline',
    'return_data',
    'data',
    'data2',
    'operand1_data_dword_1',
    'operand2_data_dword_1',
    'operand1_data_dword_2',
    'operand2_data_dword_2',
    'operand1_data_dword_3',
    'operand2_data_dword_3',
  ]);
  const A = atomicOpsOf(d);
  const SIZE = enumValues(d, f.size, ['DWORD', 'QWORD', 'OCTWORD']);
  const sizeName = (v: number) =>
    Object.keys(f.size.values!)
      .find((k) => f.size.values![k] === v)!
      .toLowerCase();
  // Per opcode value, resolved by name once: its dword form and the Data Size it needs (-1: not an atomic).
  const dwordForm = new Int16Array(256).fill(-1);
  const needs = new Int8Array(256).fill(-1);
  for (const [name, v] of Object.entries(f.op.values!)) {
    const m = /^(.*?)(8B|16B)?$/.exec(name)!;
    dwordForm[v] = f.op.values![m[1]];
    needs[v] = m[2] === '8B' ? SIZE.QWORD : m[2] === '16B' ? SIZE.OCTWORD : SIZE.DWORD;
  }
  // Inline operands, dword k of operand 1 and of operand 2.
  const inline = [
    [f.data, f.operand1_data_dword_1, f.operand1_data_dword_2, f.operand1_data_dword_3],
    [f.data2, f.operand2_data_dword_1, f.operand2_data_dword_2, f.operand2_data_dword_3],
  ];
  return (e, h, len) => {
    const op = fieldValue(f.op, e.buf, len);
    const size = fieldValue(f.size, e.buf, len);
    const opSize = needs[op];
    if (opSize < 0) return e.raise('invalid-command', d, `MI_ATOMIC operation ${hex(op)} is not a gen8/9 atomic`);
    if (opSize !== size)
      return e.raise(
        'invalid-command',
        d,
        `MI_ATOMIC operation ${hex(op)} is a ${sizeName(opSize)} atomic, but Data Size says ${sizeName(size)}`,
      );
    const dwords = size === SIZE.OCTWORD ? 4 : size === SIZE.QWORD ? 2 : 1;
    if (dwords === 1 && dwordForm[op] !== A.CMP_WR) {
      // A dword operation but compare-exchange (the common case) in plain numbers: no lists, no BigInt.
      const was = readPhys32(h, segAt(e, 0)) >>> 0;
      const a = (fieldValue(f.inline, e.buf, len) ? fieldValue(f.data, e.buf, len) : e.hostRegs()[e.slots.gpr0]) >>> 0;
      storeAt(e, h, 0, atomic32(A, dwordForm[op], was, a));
      if (fieldValue(f.return_data, e.buf, len))
        for (let k = 0; k < 4; k++) h.regs.set(e.slots.gpr0 + 8 + k, k === 0 ? was : 0);
      return ADVANCE;
    }
    // Operands: inline (in the command) or CS_GPR0/1 and CS_GPR2/3.
    const operand = (which: 0 | 1): number[] => {
      const out: number[] = [];
      for (let k = 0; k < dwords; k++)
        out.push(
          fieldValue(f.inline, e.buf, len)
            ? fieldValue(inline[which][k], e.buf, len)
            : e.hostRegs()[e.slots.gpr0 + 4 * which + k],
        );
      return out;
    };
    const old: number[] = [];
    for (let k = 0; k < dwords; k++) old.push(readPhys32(h, segAt(e, 4 * k)));
    let next: number[];
    if (dwordForm[op] === A.CMP_WR) {
      // CMP_WR: when memory equals operand 1, it becomes operand 2.
      const a = operand(0);
      next = old.every((x, k) => x >>> 0 === a[k] >>> 0) ? operand(1) : old;
    } else {
      const n = BigInt(32 * dwords);
      const join = (w: number[]) => w.reduce((acc, x, k) => acc | (BigInt(x >>> 0) << BigInt(32 * k)), 0n);
      const v = atomicOp(A, dwordForm[op], join(old), join(operand(0)), n)!;
      next = Array.from({ length: dwords }, (_, k) => Number((v >> BigInt(32 * k)) & 0xffffffffn));
    }
    store(e, h, next);
    if (fieldValue(f.return_data, e.buf, len)) {
      // Return Data Control: the memory's value before the operation, in CS_GPR4 (and CS_GPR5 for an octword).
      for (let k = 0; k < 4; k++) h.regs.set(e.slots.gpr0 + 8 + k, k < dwords ? old[k] >>> 0 : 0);
    }
    return ADVANCE;
  };
}

function semaphoreHandler(d: CommandDef): Handler {
  const { addr, op, poll, ggtt, data, addr_high } = fieldsOf(d, ['addr', 'op', 'poll', 'ggtt', 'data'], ['addr_high']);
  const OP = enumValues(d, op, COMPARE_NAMES);
  return (e, _h, len) => {
    const polling = fieldValue(poll, e.buf, len) === 1;
    // Signal mode: evaluated when parsed, then again only after a MI_SEMAPHORE_SIGNAL arrives.
    if (!polling && e.semPolls > 0) {
      if (!e.signalled) return STEP_POLL;
      e.signalled = false;
    }
    const va = fieldValue(addr, e.buf, len) + fieldValue(addr_high, e.buf, len) * 0x100000000;
    const v = e.readMem32(va, fieldValue(ggtt, e.buf, len));
    if (v < 0) return e.raiseFault(d);
    const cmp = fieldValue(op, e.buf, len);
    const value = fieldValue(data, e.buf, len);
    let ok: boolean;
    switch (cmp) {
      case OP.GT:
        ok = v > value;
        break;
      case OP.GTE:
        ok = v >= value;
        break;
      case OP.LT:
        ok = v < value;
        break;
      case OP.LTE:
        ok = v <= value;
        break;
      case OP.EQ:
        ok = v === value;
        break;
      case OP.NEQ:
        ok = v !== value;
        break;
      default:
        return e.raise('invalid-command', d, `MI_SEMAPHORE_WAIT compare operation ${cmp} is reserved`);
    }
    return ok ? ADVANCE : STEP_POLL;
  };
}

function postSyncHandler(d: CommandDef, pipe: boolean): Handler {
  // PIPE_CONTROL has an LRI post-sync; MI_FLUSH_DW has none (the view's absent field reads 0).
  const { post_sync, invalidate_tlb, data, addr, lri_post_sync_operation } = fieldsOf(
    d,
    ['post_sync', 'invalidate_tlb', 'data', 'addr'],
    ['lri_post_sync_operation'],
  );
  if (pipe && !hasField(lri_post_sync_operation)) throw new Error(`${d.mnemonic} has no LRI Post Sync Operation`);
  const POST = enumValues(d, post_sync, ['none', 'write', 'depth', 'timestamp']);
  return (e, h, len) => {
    if (fieldValue(invalidate_tlb, e.buf, len)) e.invalidateTlbs();
    if (fieldValue(lri_post_sync_operation, e.buf, len) === 1) {
      // LRI post-sync: Immediate Data goes to the register whose offset the Address field holds.
      const mmio = fieldValue(addr, e.buf, len) & REG_OFFSET_MASK;
      if (typeof h.regs.commandWrite(e.name, mmio, fieldDword(data, e.buf, len, 0)) === 'string')
        return refused(e, d, mmio);
      return ADVANCE;
    }
    const op = fieldValue(post_sync, e.buf, len);
    if (op === POST.none || e.segCount === 0) return ADVANCE;
    let lo = 0;
    let hi = 0;
    if (op === POST.write) {
      lo = fieldDword(data, e.buf, len, 0);
      hi = fieldDword(data, e.buf, len, 1);
    } else if (op === POST.timestamp) {
      lo = e.cycles % 0x100000000;
      hi = Math.floor(e.cycles / 0x100000000);
    } // op 2 (PS depth count): no pixel is drawn, so the count is 0
    // MI_FLUSH_DW's 4-dword form writes one dword; its 5-dword form and PIPE_CONTROL a qword.
    store(e, h, pipe || len === 5 ? [lo, hi] : [lo]);
    return ADVANCE;
  };
}

function bbStartHandler(d: CommandDef): Handler {
  const { addr, ppgtt, second_level, add_offset_enable } = fieldsOf(
    d,
    ['addr', 'ppgtt', 'second_level'],
    ['add_offset_enable'],
  );
  return (e, h, len) => {
    if (e.skipsByPredicate(e.cmdIndex, e.buf, len)) return ADVANCE; // predicated off
    if (fieldValue(add_offset_enable, e.buf, len))
      return e.raise('invalid-command', d, 'MI_BATCH_BUFFER_START Add Offset Enable (BB_OFFSET) is not modelled');
    const target = fieldValue(addr, e.buf, len);
    const space = fieldValue(ppgtt, e.buf, len) === 1 ? SPACE_PPGTT : SPACE_GGTT;
    if (space === SPACE_GGTT && !e.privileged()) {
      return e.raise(
        'invalid-command',
        d,
        'MI_BATCH_BUFFER_START from the global GTT (address space indicator = 0) inside a non-privileged batch: only the ring and privileged batches may start GGTT batches',
      );
    }
    const second = fieldValue(second_level, e.buf, len) === 1;
    if (e.depth === 0) {
      e.advance(len * 4); // the ring resumes after the start
      e.depth = 1;
      e.bb[0] = target;
      e.bbSpace[0] = space;
    } else if (second) {
      if (e.depth + 1 > h.maxBatchDepth) {
        return e.raise(
          'invalid-command',
          d,
          `batch nesting depth ${e.depth + 1} exceeds the maximum ${h.maxBatchDepth} of device version ${h.version}`,
        );
      }
      e.bb[e.depth - 1] += len * 4;
      e.bb[e.depth] = target;
      e.bbSpace[e.depth] = space;
      e.depth++;
    } else {
      e.bb[e.depth - 1] = target; // chained: replaces the current batch
      e.bbSpace[e.depth - 1] = space;
    }
    h.regs.set(e.slots.bbAddr, target % 0x100000000);
    h.regs.set(e.slots.bbAddrUdw, Math.floor(target / 0x100000000));
    return JUMPED;
  };
}

function condEndHandler(d: CommandDef): Handler {
  const { addr, data, compare_semaphore, ggtt, mask_mode } = fieldsOf(
    d,
    ['addr', 'data', 'compare_semaphore', 'ggtt'],
    ['mask_mode'],
  );
  return (e, _h, len) => {
    if (e.depth === 0) return e.raise('invalid-command', d, 'MI_CONDITIONAL_BATCH_BUFFER_END outside a batch buffer');
    if (fieldValue(compare_semaphore, e.buf, len) === 0) return ADVANCE; // no Compare Semaphore: no comparison, no effect
    const va = fieldValue(addr, e.buf, len);
    const space = fieldValue(ggtt, e.buf, len);
    let v = e.readMem32(va, space);
    if (v < 0) return e.raiseFault(d);
    if (fieldValue(mask_mode, e.buf, len)) {
      const m = e.readMem32(va + 4, space);
      if (m < 0) return e.raiseFault(d);
      v = (v & m) >>> 0;
    }
    if (v > fieldValue(data, e.buf, len)) return ADVANCE;
    e.depth = 0; // ends the batch; from a second-level batch, the first level too (gen8/9)
    return JUMPED;
  };
}

/** A state command: the latest value is kept per engine (the Pipeline State view). */
function stateHandler(d: CommandDef): Handler {
  const key = PIPELINE_KEY.get(d.mnemonic)!;
  return (e, _h, len) => {
    const old = e.pipeline[d.mnemonic];
    const dwords = new Array<number>(len);
    for (let i = 0; i < len; i++) dwords[i] = e.buf[i];
    e.pipeline[d.mnemonic] = { dwords, previous: old ? old.dwords : null, at: e.retired, va: e.cmdVa };
    e.pipelineSaver.mark(key);
    return ADVANCE;
  };
}

/** A draw or dispatch: no shader runs; it retires, counted as not emulated unless predicated off. */
function notEmulatedHandler(d: CommandDef): Handler {
  return (e, _h, len) => {
    if (e.skipsByPredicate(e.cmdIndex, e.buf, len)) return ADVANCE;
    e.notEmulated[e.cmdIndex]++;
    e.notEmulatedHit = true;
    e.notEmulatedChanged = true;
    e.lastDraw = e.retired;
    return ADVANCE;
  };
}

function lriHandler(d: CommandDef): Handler {
  const { byte_write_disables } = fieldsOf(d, ['byte_write_disables']);
  if (byte_write_disables.dw !== 0) throw new Error(`${d.mnemonic}: Byte Write Disables is not in the header dword`);
  return (e, h, len) => {
    // The scanner checks every pair before any write (a refused command changes nothing). The engine's
    // own allowed registers resolve through its slot table; device registers through the bank.
    const buf = e.buf;
    let slow = false;
    for (let i = 1; i < len; i += 2) {
      if (e.ownSlot(buf[i]) >= 0) continue;
      const mmio = buf[i] & REG_OFFSET_MASK;
      if (!h.regs.commandWritable(e.name, mmio)) return refused(e, d, mmio);
      slow = true;
    }
    const bwd = headerFieldValue(byte_write_disables, buf);
    if (!slow && bwd === 0) {
      for (let i = 1; i < len; i += 2) h.regs.set(e.ownSlot(buf[i]), buf[i + 1]);
      return ADVANCE;
    }
    let keep = 0;
    for (let b = 0; b < 4; b++) if (bwd & (1 << b)) keep |= 0xff << (8 * b);
    for (let i = 1; i < len; i += 2) {
      const mmio = buf[i] & REG_OFFSET_MASK;
      const v = keep === 0 ? buf[i + 1] : ((h.regs.read(mmio) & keep) | (buf[i + 1] & ~keep)) >>> 0;
      h.regs.commandWrite(e.name, mmio, v);
    }
    return ADVANCE;
  };
}

const MAKERS: Record<string, (d: CommandDef) => Handler> = {
  MI_NOOP: () => () => ADVANCE,
  MI_ARB_CHECK: () => () => ADVANCE,
  MI_ARB_ON_OFF: (d) => {
    const { enable } = fieldsOf(d, ['enable']);
    return (e, _h, len) => {
      e.arbitration = fieldValue(enable, e.buf, len);
      return ADVANCE;
    };
  },
  MI_USER_INTERRUPT: () => (e, h) => {
    h.userInterrupt(e);
    return ADVANCE;
  },
  MI_BATCH_BUFFER_END: (d) => (e) => endBatch(e, d),
  MI_CONDITIONAL_BATCH_BUFFER_END: condEndHandler,
  MI_SEMAPHORE_WAIT: semaphoreHandler,
  MI_SEMAPHORE_SIGNAL: (d) => {
    const { target } = fieldsOf(d, ['target']);
    return (e, h, len) => {
      const t = h.engineBySelect(fieldValue(target, e.buf, len));
      if (t) t.signalled = true;
      return ADVANCE;
    };
  },
  MI_STORE_DATA_IMM: (d) => {
    const { data } = fieldsOf(d, ['data']);
    return (e, h, len) => {
      storeAt(e, h, 0, fieldDword(data, e.buf, len, 0));
      if (len === 5) storeAt(e, h, 1, fieldDword(data, e.buf, len, 1));
      return ADVANCE;
    };
  },
  MI_STORE_DATA_INDEX: (d) => {
    const { data, data1 } = fieldsOf(d, ['data', 'data1']);
    return (e, h, len) => {
      const lo = fieldValue(data, e.buf, len);
      store(e, h, len === 4 ? [lo, fieldValue(data1, e.buf, len)] : [lo]);
      return ADVANCE;
    };
  },
  MI_REPORT_HEAD: () => (e, h) => {
    store(e, h, [e.hostRegs()[e.slots.head]]);
    return ADVANCE;
  },
  MI_LOAD_REGISTER_IMM: lriHandler,
  MI_STORE_REGISTER_MEM: (d) => {
    const { reg } = fieldsOf(d, ['reg']);
    return (e, h, len) => {
      if (e.skipsByPredicate(e.cmdIndex, e.buf, len)) return ADVANCE;
      storeAt(e, h, 0, h.regs.read(fieldValue(reg, e.buf, len)));
      return ADVANCE;
    };
  },
  MI_LOAD_REGISTER_MEM: (d) => {
    const { reg, addr, ggtt } = fieldsOf(d, ['reg', 'addr', 'ggtt']);
    return (e, h, len) => {
      const mmio = fieldValue(reg, e.buf, len);
      if (!h.regs.commandWritable(e.name, mmio)) return refused(e, d, mmio);
      const v = e.readMem32(fieldValue(addr, e.buf, len), fieldValue(ggtt, e.buf, len));
      if (v < 0) return e.raiseFault(d);
      h.regs.commandWrite(e.name, mmio, v);
      return ADVANCE;
    };
  },
  MI_LOAD_REGISTER_REG: (d) => {
    const { src, dst } = fieldsOf(d, ['src', 'dst']);
    return (e, h, len) => {
      const to = fieldValue(dst, e.buf, len);
      if (typeof h.regs.commandWrite(e.name, to, h.regs.read(fieldValue(src, e.buf, len))) === 'string')
        return refused(e, d, to);
      return ADVANCE;
    };
  },
  MI_FLUSH_DW: (d) => postSyncHandler(d, false),
  PIPE_CONTROL: (d) => postSyncHandler(d, true),
  MI_COPY_MEM_MEM: (d) => {
    const { src, src_ggtt } = fieldsOf(d, ['src', 'src_ggtt']);
    return (e, h, len) => {
      const v = e.readMem32(fieldValue(src, e.buf, len), fieldValue(src_ggtt, e.buf, len));
      if (v < 0) return e.raiseFault(d);
      store(e, h, [v]);
      return ADVANCE;
    };
  },
  MI_ATOMIC: atomicHandler,
  MI_BATCH_BUFFER_START: bbStartHandler,
  MI_MATH: mathHandler,
  MI_PREDICATE: predicateHandler,
  MI_SET_PREDICATE: (d) => {
    const { enable } = fieldsOf(d, ['enable']);
    return (e, _h, len) => {
      e.setPredicate = fieldValue(enable, e.buf, len);
      return ADVANCE;
    };
  },
  XY_COLOR_BLT: (d) => blitHandler(d, 'color'),
  XY_SRC_COPY_BLT: (d) => blitHandler(d, 'copy'),
  XY_FAST_COPY_BLT: (d) => blitHandler(d, 'fast'),
};

/** A blit's fields: the destination's (every blit), the ROP (not the fast copy's: it copies), the fill color or the source's. */
type BlitFields = ReturnType<typeof blitFields>;
const blitFields = (d: CommandDef) => fieldsOf(d, ['depth', 'dst'], ['rop', 'color', 'src', 'src_pitch', 'sx', 'sy']);

function blitHandler(d: CommandDef, kind: 'color' | 'copy' | 'fast'): Handler {
  const f = blitFields(d);
  return (e, h, len) => blit(e, h, d, f, len, kind);
}

function blit(
  e: Engine,
  h: EngineHost,
  def: CommandDef,
  f: BlitFields,
  len: number,
  kind: 'color' | 'copy' | 'fast',
): number {
  const depth = fieldValue(f.depth, e.buf, len);
  if (depth !== 3)
    return e.raise(
      'invalid-command',
      def,
      `${def.mnemonic} color depth ${depth}: this device implements 32 bpp (3) only`,
    );
  const g = blitGeometry(def, e.buf, len, f.dst);
  if (g.w <= 0 || g.h <= 0) return ADVANCE;
  // Rows may overlap (a small pitch), so the page-segment limit alone does not bound the rectangle.
  if (g.w * g.h > MAX_BLIT_PIXELS)
    return e.raise(
      'invalid-command',
      def,
      `${def.mnemonic} rectangle ${g.w}x${g.h} is more than ${MAX_BLIT_PIXELS} pixels (the largest surface)`,
    );
  const rop = kind === 'fast' ? 0xcc : fieldValue(f.rop, e.buf, len);
  const color = fieldValue(f.color, e.buf, len);
  if (
    kind !== 'color' &&
    !e.readSource(
      fieldValue(f.src, e.buf, len),
      fieldValue(f.src_pitch, e.buf, len),
      fieldValue(f.sx, e.buf, len),
      fieldValue(f.sy, e.buf, len),
      g.w,
      g.h,
    )
  ) {
    return e.raiseFault(def);
  }
  if (rop === 0xf0 && kind === 'color') fill(e, h, color);
  else if (rop === 0xcc && kind !== 'color') copy(e, h);
  else {
    const src = kind === 'color' ? null : e.gatherSource();
    let k = 0; // pixel index in row-major order over the destination rectangle
    for (let i = 0; i < e.segCount; i++) {
      const hpa = e.segHpa[i];
      const n = e.segBytes[i] >>> 2;
      const page = h.mem.pageForWrite(Math.floor(hpa / PAGE_SIZE));
      const at = (hpa & IN_PAGE) >>> 2;
      for (let j = 0; j < n; j++) page[at + j] = rop3(rop, color, src ? src[k + j] : 0, page[at + j]);
      k += n;
    }
  }
  e.extraCycles = Math.ceil((g.w * g.h) / 64);
  return ADVANCE;
}

/**
 * The command's segments as runs of host memory (dstRuns), in write order, their pages allocated.
 * Segments adjacent in host memory (one slab, each starting where the last ends: rows of a surface on
 * pages allocated in order) join; runs are disjoint and in order, so writing them run by run leaves
 * overlapping rows as writing segment by segment does.
 */
function destinationRuns(e: Engine, h: EngineHost, partialOnly = false): HostRuns {
  const runs = e.dstRuns;
  runs.clear();
  for (let i = 0; i < e.segCount; i++) {
    if (partialOnly && e.segBytes[i] === PAGE_SIZE) continue;
    const hpa = e.segHpa[i];
    const page = h.mem.pageForWrite(Math.floor(hpa / PAGE_SIZE));
    runs.add(page, page.byteOffset + (hpa & IN_PAGE), e.segBytes[i] >>> 2);
  }
  return runs;
}

/**
 * A fill with `color`: a call per run of the destination. Segments covering a whole page map it to the
 * uniform page of `color` (HostMemory.fillPage: no bytes written, nothing allocated) when memory
 * dedups; the others are filled run by run. Every segment gets one value, so the order does not matter.
 */
function fill(e: Engine, h: EngineHost, color: number): void {
  const mem = h.mem;
  if (mem.dedup) {
    let whole = 0;
    for (let i = 0; i < e.segCount; i++) {
      if (e.segBytes[i] === PAGE_SIZE) {
        mem.fillPage(Math.floor(e.segHpa[i] / PAGE_SIZE), color);
        whole++;
      }
    }
    if (whole === e.segCount) return;
  }
  const runs = destinationRuns(e, h, mem.dedup);
  for (let i = 0; i < runs.count; i++) runs.view(i, 0, runs.lens[i]).fill(color);
}

/**
 * A copy (ROP 0xCC) of the source runs over the destination's, in pixel order. When no source byte is
 * in the destination, run to run (one memory copy); else the source is gathered whole first, as a
 * blit reads its source before it writes.
 */
function copy(e: Engine, h: EngineHost): void {
  const src = e.srcRuns;
  if (h.mem.dedup) {
    // A source wholly on uniform pages of one value (or untouched) is that value everywhere: a fill.
    const v = uniformSource(h.mem, src);
    if (v !== undefined) return fill(e, h, v);
  }
  const dst = destinationRuns(e, h);
  if (src.overlaps(dst)) {
    const pixels = e.gatherSource();
    for (let i = 0, k = 0; i < dst.count; k += dst.lens[i++])
      dst.view(i, 0, dst.lens[i]).set(pixels.subarray(k, k + dst.lens[i]));
    return;
  }
  // Two cursors: run i of the source at dword a, run j of the destination at dword b.
  for (let i = 0, j = 0, a = 0, b = 0; i < src.count && j < dst.count;) {
    const n = Math.min(src.lens[i] - a, dst.lens[j] - b);
    dst.view(j, b, n).set(src.view(i, a, n));
    a += n;
    b += n;
    if (a === src.lens[i]) {
      i++;
      a = 0;
    }
    if (b === dst.lens[j]) {
      j++;
      b = 0;
    }
  }
}

/** The value every source pixel holds when all the source runs lie on shared uniform pages of one value; else undefined. */
function uniformSource(mem: HostMemory, src: HostRuns): number | undefined {
  if (src.count === 0) return undefined;
  const v = mem.uniformValueOf(src.buffer(0));
  if (v === undefined) return undefined;
  for (let i = 1; i < src.count; i++) if (mem.uniformValueOf(src.buffer(i)) !== v) return undefined;
  return v;
}

/**
 * Runs of host memory a blit reads or writes, in pixel order: a piece adjacent to the last in one
 * buffer joins it, so a surface on pages allocated in order is one run (or a few), copied or filled in
 * one call each rather than one per page.
 */
export class HostRuns {
  count = 0;
  private bufs: ArrayBufferLike[] = [];
  /** Byte offset of each run in its buffer. */
  private starts = new Float64Array(64);
  /** Dwords of each run. */
  lens = new Int32Array(64);

  clear(): void {
    this.count = 0;
  }

  /** Appends `n` dwords of `page` from byte `byteAt` of its buffer. */
  add(page: Uint32Array, byteAt: number, n: number): void {
    const c = this.count;
    if (c > 0 && this.bufs[c - 1] === page.buffer && this.starts[c - 1] + 4 * this.lens[c - 1] === byteAt) {
      this.lens[c - 1] += n;
      return;
    }
    if (c === this.lens.length) {
      const starts = new Float64Array(2 * c);
      const lens = new Int32Array(2 * c);
      starts.set(this.starts);
      lens.set(this.lens);
      this.starts = starts;
      this.lens = lens;
    }
    this.bufs[c] = page.buffer;
    this.starts[c] = byteAt;
    this.lens[c] = n;
    this.count = c + 1;
  }

  /** The buffer run i lies in. */
  buffer(i: number): ArrayBufferLike {
    return this.bufs[i];
  }

  /** Dwords [from, from + n) of run i. */
  view(i: number, from: number, n: number): Uint32Array {
    return new Uint32Array(this.bufs[i], this.starts[i] + 4 * from, n);
  }

  /** Whether a run of these shares a byte with a run of `other`; true as well when there are too many runs to check pair by pair. */
  overlaps(other: HostRuns): boolean {
    if (this.count * other.count > MAX_RUN_PAIRS) return true;
    for (let i = 0; i < this.count; i++) {
      for (let j = 0; j < other.count; j++) {
        if (this.bufs[i] !== other.bufs[j]) continue;
        if (this.starts[i] < other.starts[j] + 4 * other.lens[j] && other.starts[j] < this.starts[i] + 4 * this.lens[i])
          return true;
      }
    }
    return false;
  }
}

/** Run pairs a copy checks for overlap before it gathers its source instead. */
const MAX_RUN_PAIRS = 4096;

/** Pixels one blit may cover: a 64 MiB 32 bpp surface, the assembler's largest. */
const MAX_BLIT_PIXELS = (64 * 1024 * 1024) / 4;

const HANDLERS: Handler[] = COMMANDS.map((d) => {
  const make = MAKERS[d.mnemonic];
  if (make) return make(d);
  if (d.execution === 'state') return stateHandler(d);
  if (d.execution === 'not-emulated') return notEmulatedHandler(d);
  throw new Error(`no handler for ${d.mnemonic}`);
});

/**
 * A command of the table as an engine runs it, resolved once per engine: the step reads this record
 * alone, not the definition's lists and the tables beside it.
 */
interface CommandOp {
  readonly def: CommandDef;
  /** Why this engine refuses it (REFUSED_*), or 0. */
  readonly refusal: number;
  readonly run: Handler;
  /** The command parser predicts memory writes for it (the table lists some). */
  readonly writes: boolean;
  readonly cycles: number;
  /** Its global-GTT select bits in DW0 and DW1 (the scanner's test). */
  readonly ggttDw0: number;
  readonly ggttDw1: number;
  /** MI_SET_PREDICATE never makes it a no-op. */
  readonly predicateExempt: boolean;
  /** How runBatch runs it (FAST_*). */
  readonly fast: number;
}

function resolveOp(d: CommandDef, i: number, refusal: number): CommandOp {
  return {
    def: d,
    refusal,
    run: HANDLERS[i],
    writes: d.writes !== undefined,
    cycles: d.cycles,
    ggttDw0: GGTT_DW0[i],
    ggttDw1: GGTT_DW1[i],
    predicateExempt: PREDICATE_EXEMPT[i] === 1,
    fast: fastKind(d, i),
  };
}

// How Engine.runBatch runs a command: not at all (step() does), by its handler alone (one whose
// handler always advances and never raises, reads only the command and writes no memory), as an
// MI_LOAD_REGISTER_IMM to its own registers, or as a single store whose handler always advances.
const FAST_NONE = 0;
const FAST_CALL = 1;
const FAST_LRI = 2;
const FAST_STORE = 3;
/** A single store made inline (INLINE_STORE) when its page is in the store cache and kept; else as FAST_STORE. */
const FAST_INLINE_STORE = 4;
const FAST_CALLS = new Set(['MI_NOOP', 'MI_ARB_CHECK', 'MI_ARB_ON_OFF', 'MI_SET_PREDICATE']);
const FAST_STORES = new Set(['MI_STORE_DATA_IMM', 'MI_STORE_REGISTER_MEM']);

function fastKind(d: CommandDef, i: number): number {
  if (d.mnemonic === 'MI_LOAD_REGISTER_IMM') return FAST_LRI;
  if (INLINE_STORE[i] !== null) return FAST_INLINE_STORE;
  if (FAST_STORES.has(d.mnemonic)) return SINGLE_STORE[i] !== null ? FAST_STORE : FAST_NONE;
  if (d.writes !== undefined) return FAST_NONE;
  if (FAST_CALLS.has(d.mnemonic)) return FAST_CALL;
  const plain = MAKERS[d.mnemonic] === undefined && (d.execution === 'state' || d.execution === 'not-emulated');
  return plain ? FAST_CALL : FAST_NONE;
}

/** MI_LOAD_REGISTER_IMM's Byte Write Disables bits in its header, by command index (0 for other commands). */
const LRI_BWD_BITS = Int32Array.from(COMMANDS, (d) => {
  if (d.mnemonic !== 'MI_LOAD_REGISTER_IMM') return 0;
  const { byte_write_disables } = fieldsOf(d, ['byte_write_disables']);
  let bits = 0;
  for (let b = 0; b < 32; b++) if (headerFieldValue(byte_write_disables, [(1 << b) >>> 0]) !== 0) bits |= 1 << b;
  return bits;
});
