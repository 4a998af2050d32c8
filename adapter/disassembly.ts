// The Disassembly view: command streams at GPU VAs decoded by the emulator's disassembler (the language's
// own syntax), with source locations and labels. Commands have variable length, so going backwards uses
// the command boundaries the program's source map and ring submissions know, else single dwords.

import type { DebugProtocol } from '@vscode/debugprotocol';
import * as path from 'node:path';
import { disassembleOne, EngineName, ENGINES, type SourceLoc, type Vm } from '../emulator';
import { listingOf } from './listing';
import { MemoryRef, peekCommand } from './memory';
import { commandLoc } from './stack';

export const MAX_INSTRUCTIONS = 10000;
const MAX_COMMAND_DWORDS = 256;
const VA_LIMIT = 2 ** 48;

export class Disassembly {
  /** Known command start VAs (batches and ring submissions), ascending. */
  private readonly starts: number[];
  /** Label at a VA (the first declared wins). */
  private readonly labels = new Map<number, string>();

  constructor(
    private readonly vm: Vm,
    /** The DAP source of a location's file (a capture's listing is served by reference). */
    private readonly sourceOf: (file: string) => DebugProtocol.Source = (file) => ({
      name: path.basename(file),
      path: file,
    }),
  ) {
    const s = new Set<number>([...vm.image.sourceMap.keys(), ...(listingOf(vm)?.starts() ?? [])]);
    const ringVa = new Map<string, number>();
    for (const op of vm.image.driver) {
      if (op.op === 'ring') ringVa.set(op.engine, op.va);
      if (op.op === 'submit') for (const e of op.entries) s.add((ringVa.get(op.engine) ?? 0) + e.offset);
    }
    this.starts = [...s].sort((a, b) => a - b);
    for (const [name, value] of vm.image.symbols)
      if (!this.labels.has(value)) this.labels.set(value, name.toLowerCase());
  }

  instructions(
    ref: MemoryRef,
    offset: number,
    instructionOffset: number,
    count: number,
  ): DebugProtocol.DisassembledInstruction[] {
    const n = Math.max(0, Math.min(count, MAX_INSTRUCTIONS));
    let va = ref.addr + offset;
    if (instructionOffset < 0) for (let k = 0; k < -instructionOffset && va > 0; k++) va = this.previous(va);
    else for (let k = 0; k < instructionOffset && va < VA_LIMIT; k++) va += 4 * this.decode(va).length;
    const out: DebugProtocol.DisassembledInstruction[] = [];
    let lastLoc: SourceLoc | undefined;
    for (let k = 0; k < n; k++) {
      if (va < 0 || va >= VA_LIMIT) {
        out.push({ address: hexVa(Math.max(0, va)), instruction: '??', presentationHint: 'invalid' });
        va += 4;
        continue;
      }
      const d = this.decode(va);
      const loc = this.locate(va);
      const symbol = this.symbolAt(va);
      const ins: DebugProtocol.DisassembledInstruction = {
        address: hexVa(va),
        instruction: d.text,
        instructionBytes: d.words ? d.words.map((w) => w.toString(16).padStart(8, '0')).join(' ') : undefined,
        symbol,
        presentationHint: d.words ? undefined : 'invalid',
      };
      if (loc && (lastLoc === undefined || loc.line !== lastLoc.line || loc.file !== lastLoc.file)) {
        ins.location = this.sourceOf(loc.file);
        ins.line = loc.line;
        ins.column = loc.col;
      }
      lastLoc = loc;
      out.push(ins);
      va += 4 * d.length;
    }
    return out;
  }

  /** The engine whose ring holds a VA (its page tables and wrap apply), else rcs0. */
  private engineOf(va: number): EngineName {
    for (const name of ENGINES) {
      const e = this.vm.engine(name);
      const start = this.vm.regs.values[e.slots.start];
      if (e.ringEnabled() && va >= start && va < start + e.ringSize()) return name;
    }
    return 'rcs0';
  }

  private decode(va: number): { text: string; length: number; words?: number[] } {
    const name = this.engineOf(va);
    const words = peekCommand(this.vm, this.vm.engine(name), va);
    if (!words) return { text: '?? (unmapped)', length: 1 };
    const one = disassembleOne(words, 0, name, this.vm.gen);
    return { ...one, words: words.slice(0, one.length) };
  }

  /** The start of the command before `va`: a known boundary whose command ends at `va`, else one dword back. */
  private previous(va: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let k = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid] < va) {
        k = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (k >= 0) {
      const s = this.starts[k];
      if (va - s <= 4 * MAX_COMMAND_DWORDS && s + 4 * this.decode(s).length === va) return s;
    }
    return va - 4;
  }

  private locate(va: number): SourceLoc | undefined {
    return commandLoc(this.vm, this.engineOf(va), va);
  }

  private symbolAt(va: number): string | undefined {
    return this.labels.get(va);
  }
}

function hexVa(va: number): string {
  return '0x' + va.toString(16).padStart(12, '0');
}
