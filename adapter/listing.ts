// Generated listings of command streams that have no source text (AUB captures, kernel hang dumps): one
// read-only document per program image, one line per command (GPU VA, name, fields as the disassembler
// prints them for the VM's gen), served as a DAP source by reference. Frames, breakpoints, line steps
// and disassembly map commands to its lines as they map the lines of a .vgpu program.

import * as path from 'node:path';
import {
  disassembleOne,
  STEP_COMMAND,
  STEP_DONE,
  STEP_ERROR,
  STEP_POLL,
  STEP_STUCK,
  Vm,
  VmOptions,
  type DriverOp,
  type Engine,
  type EngineName,
  type ProgramImage,
  type SourceLoc,
} from '../emulator';
import { peekCommand } from './memory';

/**
 * How every listing starts: package.json's `vgpu-listing` language recognizes the document by this first
 * line (its name has no extension), and that language takes breakpoints in the editor's gutter.
 */
export const LISTING_MARK = '; vgpu-debug listing of';

/** The one listing of a session: its DAP sourceReference. */
export const LISTING_REFERENCE = 1;
/** Steps the listing's dry run may take (a capture that hangs polls its semaphore until the timeout). */
const MAX_DRY_STEPS = 4_000_000;
/** Commands decoded past the last one run (a hang dump: what the batch holds after the hung command). */
const TAIL_COMMANDS = 64;

interface Entry {
  readonly engine: EngineName;
  readonly va: number;
  readonly dwords: readonly number[];
  readonly level: number;
  line: number;
}

interface Block {
  readonly engine: EngineName;
  readonly level: number;
  readonly entries: Entry[];
  end: number;
}

export class Listing {
  /** Stands for the listing where the adapter expects a path (breakpoint keys, source locations). */
  readonly file: string;
  readonly name: string;
  readonly text: string;
  /** `engine:va` -> the commands listed there (a reused batch buffer can hold different commands over time). */
  private readonly at = new Map<string, Entry[]>();
  private readonly driverLines: number[];
  private readonly vaLines = new Map<number, Set<number>>();

  constructor(
    image: ProgramImage,
    header: readonly string[],
    blocks: readonly Block[],
    /** A hang dump's replay: memory the dump did not capture is unmapped (views say "not captured"). */
    readonly postmortem = false,
  ) {
    this.file = `${image.file}#listing`;
    this.name = `${path.basename(image.file)} (listing)`;
    const out: string[] = [...header, ''];
    out.push('; driver operations, in order');
    this.driverLines = image.driver.map((op, pc) => {
      out.push(`; #${pc} ${driverText(op)}`);
      return out.length;
    });
    for (const b of blocks) {
      out.push('');
      out.push(
        `; ${b.engine} ${b.level === 0 ? 'ring' : `batch level ${b.level}`} at 0x${b.entries[0].va.toString(16)}`,
      );
      for (const e of b.entries) {
        const text = disassembleOne(e.dwords, 0, e.engine, (image.capture?.gen ?? image.vm.gen ?? 9) as 8 | 9).text;
        out.push(`${'  '.repeat(e.level)}0x${e.va.toString(16).padStart(12, '0')}  ${text}`);
        e.line = out.length;
        let s = this.vaLines.get(e.line);
        if (!s) this.vaLines.set(e.line, (s = new Set()));
        s.add(e.va);
      }
    }
    this.text = out.join('\n') + '\n';
    for (const b of blocks) {
      for (const e of b.entries) {
        const k = `${e.engine}:${e.va}`;
        const l = this.at.get(k);
        if (l) l.push(e);
        else this.at.set(k, [e]);
      }
    }
  }

  /** Line of the command an engine has at a VA (when several were listed there, the one memory holds now). */
  locate(vm: Vm, engine: EngineName, va: number): SourceLoc | undefined {
    const l = this.at.get(`${engine}:${va}`);
    if (!l) return undefined;
    let e = l[0];
    if (l.length > 1) {
      const now = peekCommand(vm, vm.engine(engine), va);
      e = (now && l.find((x) => x.dwords.length === now.length && x.dwords.every((w, i) => w === now[i]))) ?? l[0];
    }
    return { file: this.file, line: e.line, col: 1 + 2 * e.level };
  }

  /** Line of a driver operation. */
  driverLoc(pc: number): SourceLoc | undefined {
    const line = this.driverLines[pc];
    return line === undefined ? undefined : { file: this.file, line, col: 1 };
  }

  /** Command lines and the GPU VAs each stands for. */
  commandLines(): ReadonlyMap<number, ReadonlySet<number>> {
    return this.vaLines;
  }

  /** Every line a breakpoint can stop at (commands and driver operations), ascending. */
  lines(): number[] {
    return [...this.driverLines, ...this.vaLines.keys()].sort((a, b) => a - b);
  }

  /** Command start VAs (disassembly walks back over them). */
  starts(): number[] {
    return [...new Set([...this.at.values()].flat().map((e) => e.va))].sort((a, b) => a - b);
  }
}

const listings = new WeakMap<ProgramImage, Listing>();

/** The listing of a VM's program, when it has one (captures and dumps; a .vgpu program has its source). */
export function listingOf(vm: Vm): Listing | undefined {
  return listings.get(vm.image);
}

/**
 * Builds the listing of a VM's program from a dry run of a second VM built from the same image (the
 * machine is deterministic: the commands it meets are the ones the session will meet). `until` ends
 * the run early (a hang dump: at the hung command); then the rest of that command's batch is decoded.
 */
export function buildListing(
  vm: Vm,
  options: VmOptions,
  header: readonly string[],
  until?: (dry: Vm) => boolean,
  postmortem = false,
): Listing {
  const run = dryRun(vm, options, header, until, postmortem);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
  }
}

/** Commands dry-run between two looks at the cancel flag when the listing is built in slices. */
const SLICE_STEPS = 20_000;

/**
 * buildListing in slices (a large capture's launch): between slices the event loop runs and progress
 * is reported; `slice` resolves true when the launch was cancelled, and then this throws ListingCancelled.
 */
export async function buildListingInSlices(
  vm: Vm,
  options: VmOptions,
  header: readonly string[],
  slice: (steps: number) => Promise<boolean>,
): Promise<Listing> {
  const run = dryRun(vm, options, header);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
    if (await slice(r.value)) throw new ListingCancelled();
  }
}

export class ListingCancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/** The dry run: yields the steps done every SLICE_STEPS, returns the listing. */
function* dryRun(
  vm: Vm,
  options: VmOptions,
  header: readonly string[],
  until?: (dry: Vm) => boolean,
  postmortem = false,
): Generator<number, Listing> {
  const dry = new Vm(vm.image, { ...options, snapshotEvery: 0, autoRollback: false });
  const blocks: Block[] = [];
  // Commands met, per engine and GPU VA: each content once (a buffer reused with other commands gets a line per content).
  const seen = new Map<string, (readonly number[])[]>();
  const sameAs = (a: readonly number[], b: ArrayLike<number>, n: number) =>
    a.length === n && a.every((x, i) => x === b[i]);
  const open = new Map<EngineName, Block>();
  const add = (e: Engine, va: number, words: ArrayLike<number>, n: number) => {
    const key = `${e.name}:${va}`;
    const known = seen.get(key);
    if (known?.some((d) => sameAs(d, words, n))) {
      open.delete(e.name);
      return;
    }
    const dwords = Array.from({ length: n }, (_, i) => words[i] >>> 0);
    if (known) known.push(dwords);
    else seen.set(key, [dwords]);
    const entry: Entry = { engine: e.name, va, dwords, level: e.depth, line: 0 };
    const b = open.get(e.name);
    if (b && b.level === e.depth && b.end === va) {
      b.entries.push(entry);
      b.end = va + 4 * dwords.length;
    } else {
      const nb: Block = { engine: e.name, level: e.depth, entries: [entry], end: va + 4 * dwords.length };
      blocks.push(nb);
      open.set(e.name, nb);
    }
  };
  let stopped: Engine | undefined;
  for (let i = 0; i < MAX_DRY_STEPS; i++) {
    if (i > 0 && i % SLICE_STEPS === 0) yield i;
    const a = dry.nextActor();
    if (until && until(dry)) {
      stopped = a && a !== 'driver' ? a : undefined;
      break;
    }
    const r = dry.stepOnce();
    // The command the engine just fetched and decoded (retired, or a semaphore still polling): as the engine read it.
    if (a && a !== 'driver' && (r === STEP_COMMAND || (r === STEP_POLL && a.semPolls === 1)))
      add(a, a.cmdVa, a.buf, a.cmdLen);
    if (r === STEP_ERROR) {
      stopped = dry.engine(dry.pending!.engine);
      break;
    }
    if (r === STEP_DONE || r === STEP_STUCK) break;
  }
  if (stopped) {
    // The command the run stopped at, and what follows it in its buffer.
    let va = stopped.nextVa();
    for (let k = 0; k < TAIL_COMMANDS; k++) {
      const dwords = peekCommand(dry, stopped, va);
      if (!dwords) break;
      const one = disassembleOne(dwords, 0, stopped.name, dry.gen);
      add(stopped, va, dwords, one.length);
      if (one.text.startsWith('MI_BATCH_BUFFER_END')) break;
      va += 4 * one.length;
    }
  }
  const listing = new Listing(vm.image, header, blocks, postmortem);
  listings.set(vm.image, listing);
  return listing;
}

function driverText(op: DriverOp): string {
  const h = (n: number) => `0x${n.toString(16)}`;
  switch (op.op) {
    case 'context':
      return `submit ${op.engine}: context ${h(op.lrca)}, ring ${h(op.ring.start)} head ${h(op.ring.head)} tail ${h(op.ring.tail)}, PML4 ${h(op.pml4)}`;
    case 'write':
      return `write ${op.dwords.length * 4} bytes at GPA ${h(op.gpa)}`;
    case 'wait':
      return `wait ${op.engines.join(', ')}`;
    case 'mmio':
      return `mmio ${Vm.regName(op.offset)} = ${h(op.value)}`;
    case 'ring':
      return `ring ${op.engine} at ${h(op.va)}, ${op.size} bytes`;
    case 'submit':
      return `submit ${op.engine}: ${op.dwords.length} dwords at ring offset ${h(op.offset)}, tail ${h(op.tail)}`;
    case 'eptp':
      return `eptp view ${op.view} on ${op.engines.join(', ')}`;
  }
}
