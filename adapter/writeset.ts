// The command parser's write set of a command, computed for display without side effects: the guest
// pages its memory writes land in (from the command table's write specs, walked uncached) and the
// registers it writes (explicitly, and the engine state registers every command updates).

import {
  ACCESS_WRITE,
  CommandDef,
  DecodedCommand,
  FaultInfo,
  fieldByName,
  PAGE_SIZE,
  regAt,
  regDisplayName,
  STREAMER_REGISTERS,
  walk,
  walkGgtt,
  WalkOut,
  writeRanges,
  type Engine,
  type Vm,
} from '../emulator';
import { pagingContext } from './memory';

export interface WritePage {
  readonly va: number;
  readonly gpa: number | undefined;
  /** Why the write would fault, when it would. */
  readonly fault?: string;
}

export interface WriteSet {
  readonly pages: WritePage[];
  /** More pages than listed. */
  readonly truncated: boolean;
  readonly registers: string[];
  /** Engine registers the streamer itself updates for this command. */
  readonly implicit: string[];
}

const MAX_PAGES = 1024;

export function writeSet(vm: Vm, e: Engine, d: DecodedCommand, dwords: readonly number[], inRing: boolean): WriteSet {
  const def = d.def;
  const ctx = pagingContext(vm, e.name);
  // Page VA -> 1 when the write is through the global GTT, 0 through the PPGTT.
  const pageVas = new Map<number, number>();
  let truncated = false;
  const addRange = (va: number, bytes: number, ggtt: number) => {
    for (let p = va - (va % PAGE_SIZE); p < va + bytes; p += PAGE_SIZE) {
      if (pageVas.size >= MAX_PAGES) {
        truncated = true;
        return;
      }
      pageVas.set(p, ggtt);
    }
  };
  writeRanges(def, dwords, d.length, (va, bytes, _align, ggtt) => {
    addRange(va, bytes, ggtt);
    return !truncated;
  });
  const fault = new FaultInfo();
  const out: WalkOut = { writable: false, nx: false, pageSize: 0, gpa: 0 };
  e.syncContext();
  const pages: WritePage[] = [...pageVas].map(([va, ggtt]) => {
    const hpa = ggtt
      ? walkGgtt({ ...e.gctx, view: ctx.view }, va, ACCESS_WRITE, fault, out)
      : walk(ctx, va, ACCESS_WRITE, fault, out);
    return hpa < 0 ? { va, gpa: fault.gpa, fault: `${fault.kind}: ${fault.reason}` } : { va, gpa: out.gpa };
  });
  return { pages, truncated, registers: explicitRegisters(def, d, e), implicit: implicitRegisters(def, inRing) };
}

function explicitRegisters(def: CommandDef, d: DecodedCommand, e: Engine): string[] {
  const offsets: number[] = [];
  if (def.regWrites === 'pairs') for (const [r] of d.pairs) offsets.push(r);
  else if (def.regWrites !== undefined && fieldByName(def, def.regWrites))
    offsets.push(Number(d.fields.get(def.regWrites) ?? 0n));
  return offsets.map((off) => {
    const r = regAt(off);
    return r ? regDisplayName(r.reg, e.name) + (r.dword ? '+4' : '') : `0x${off.toString(16)} (no register)`;
  });
}

function implicitRegisters(def: CommandDef, inRing: boolean): string[] {
  return [...STREAMER_REGISTERS, ...(inRing ? ['RING_HEAD'] : []), ...(def.implicitRegs ?? [])];
}
