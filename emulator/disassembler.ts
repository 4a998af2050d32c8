// Disassembler: command dwords back to `.vgpu` command lines, derived from the command table. Whatever the
// assembler could not reproduce bit for bit (unknown opcode, bad length, truncation, reserved bits) prints as
// `.dword`, so assembling the output inside a `.batch` of the same engine gives back exactly the same dwords.

import {
  DEFAULT_GEN,
  decodeCommand,
  encodeCommand,
  minEntries,
  type CmdField,
  type CommandDef,
  type DecodedCommand,
  type Gen,
} from './commands';
import { regAt, regDisplayName, type EngineName } from './registers';

export interface DisasmOptions {
  /** Engine context: its registers print without the engine prefix (as in a `.batch` of that engine). */
  readonly engine?: EngineName;
  /** GPU VA of the first dword; lines then carry their own `va`. */
  readonly va?: number;
  /** Hardware generation whose layouts decode the dwords (default 9). */
  readonly gen?: Gen;
}

export interface DisasmLine {
  /** Index of the command's first dword in the input. */
  readonly offset: number;
  /** Dwords the line covers. */
  readonly length: number;
  readonly text: string;
  /** GPU VA of the line, when `opts.va` is given. */
  readonly va?: number;
}

/** Disassembles a dword stream, one line per command (or per undecodable dword). Never throws. */
export function disassemble(dwords: ArrayLike<number>, opts: DisasmOptions = {}): DisasmLine[] {
  const out: DisasmLine[] = [];
  for (let i = 0; i < dwords.length;) {
    const one = disassembleOne(dwords, i, opts.engine, opts.gen);
    out.push(opts.va === undefined ? { offset: i, ...one } : { offset: i, ...one, va: opts.va + 4 * i });
    i += one.length;
  }
  return out;
}

/** The command starting at dwords[base] (at least one dword is consumed). */
export function disassembleOne(
  dwords: ArrayLike<number>,
  base = 0,
  engine?: EngineName,
  gen: Gen = DEFAULT_GEN,
): { length: number; text: string } {
  if (base >= dwords.length) return { length: 1, text: '; end of input' };
  const d = decodeCommand(dwords, base, dwords.length - base, gen);
  if (typeof d === 'string')
    return { length: 1, text: rawLine([dwords[base]], d.startsWith('unknown') ? 'unknown command' : d) };
  const words = Array.from({ length: d.length }, (_, k) => dwords[base + k] >>> 0);
  const text = formatDecoded(d, words, engine);
  return { length: d.length, text: text ?? rawLine(words, `${d.def.mnemonic} with reserved bits set`) };
}

/**
 * A decoded command in the language's syntax, or undefined when no field assignment re-encodes to
 * exactly `words`. Fields print when required or when they differ from the value the assembler would use.
 */
export function formatDecoded(d: DecodedCommand, words: readonly number[], engine?: EngineName): string | undefined {
  const def = d.def;
  if (def.length.kind === 'pairs') {
    // Header fields (Byte Write Disables) off their default come first, then the REGISTER=value pairs.
    const head = new Map(
      [...d.fields].filter(([k, v]) => v !== BigInt(def.fields.find((f) => f.name === k)?.default ?? 0)),
    );
    if (!sameWords(tryEncode(def, head, d.pairs), words)) return undefined;
    const args = [
      ...[...head].map(([k, v]) => `${k}=${numText(v, 32)}`),
      ...d.pairs.map(([r, v]) => `${regText(r, engine)}=${numText(BigInt(v), 32)}`),
    ];
    return `${def.mnemonic} ${args.join(', ')}`;
  }
  for (const chosen of [minimalFields(def, d), new Map([...d.fields, ...lengthKey(d)])]) {
    if (!sameWords(tryEncode(def, chosen, []), words)) continue;
    const args = def.fields
      .filter((f) => chosen.has(f.name))
      .map((f) => `${f.name}=${valueText(f, chosen.get(f.name)!, engine)}`);
    for (let k = 0; k < d.entries; k++) {
      for (const f of def.groupFields) {
        const key = `${f.name}.${k}`;
        if (chosen.has(key)) args.push(`${key}=${valueText(f, chosen.get(key)!, engine)}`);
      }
    }
    if (chosen.has('dword_length')) args.push(`dword_length=${chosen.get('dword_length')}`);
    return args.length ? `${def.mnemonic} ${args.join(', ')}` : def.mnemonic;
  }
  return undefined;
}

/** For commands whose length DWord Length alone chooses: `dword_length` when the length is not the one the fields imply. */
function lengthKey(d: DecodedCommand): [string, bigint][] {
  return d.def.length.kind === 'range' ? [['dword_length', BigInt(d.length - d.def.bias)]] : [];
}

/** The fields the assembler needs to reproduce the command: required ones and those off their default. */
function minimalFields(def: CommandDef, d: DecodedCommand): Map<string, bigint> {
  const present = d.fields;
  const out = new Map<string, bigint>();
  const rule = def.length;
  const lengthFlag = rule.kind === 'flag' ? rule.field : undefined;
  for (const f of def.fields) {
    const v = present.get(f.name);
    if (v === undefined || f.impliedBy || f.name === lengthFlag) continue;
    if (f.required || v !== BigInt(f.default ?? 0)) out.set(f.name, v);
  }
  // A field implied by another takes the implied value when that one is given (MI_FLUSH_DW post-sync).
  for (const f of def.fields) {
    const v = present.get(f.name);
    if (v === undefined || !f.impliedBy) continue;
    const usual = BigInt(out.has(f.impliedBy.field) ? f.impliedBy.value : (f.default ?? 0));
    if (f.required || v !== usual) out.set(f.name, v);
  }
  // A length-selecting flag is set by the assembler when a long-form field is given.
  if (rule.kind === 'flag') {
    const v = present.get(rule.field);
    const usual = def.fields.some((f) => f.dw >= rule.off && out.has(f.name) && out.get(f.name) !== 0n) ? 1n : 0n;
    if (v !== undefined && v !== usual) out.set(rule.field, v);
  }
  // Group entries: fields off their default; the last entry names one field even at its default, so the count survives.
  for (let k = 0; k < d.entries; k++) {
    let any = false;
    for (const f of def.groupFields) {
      const v = present.get(`${f.name}.${k}`)!;
      if (v !== BigInt(f.default ?? 0)) {
        out.set(`${f.name}.${k}`, v);
        any = true;
      }
    }
    if (!any && k === d.entries - 1 && k >= minEntries(def) && def.groupFields.length)
      out.set(`${def.groupFields[0].name}.${k}`, present.get(`${def.groupFields[0].name}.${k}`)!);
  }
  // The length DWord Length alone chooses, when the assembler would choose another.
  if (rule.kind === 'range') {
    const implied =
      rule.default === rule.max || def.fields.some((f) => f.dw >= rule.min && out.has(f.name)) ? rule.max : rule.min;
    if (d.length !== implied) out.set('dword_length', BigInt(d.length - def.bias));
  }
  return out;
}

function tryEncode(
  def: CommandDef,
  fields: ReadonlyMap<string, bigint>,
  pairs: readonly (readonly [number, number])[],
): number[] | undefined {
  try {
    return encodeCommand(def, fields, pairs);
  } catch {
    return undefined;
  }
}

function sameWords(a: readonly number[] | undefined, b: readonly number[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x >>> 0 === b[i] >>> 0);
}

function valueText(f: CmdField, v: bigint, engine?: EngineName): string {
  switch (f.kind) {
    case 'enum': {
      const name = f.values && Object.keys(f.values).find((k) => BigInt(f.values![k]) === v);
      return name ?? v.toString();
    }
    case 'reg':
      return regText(Number(v), engine);
    case 'addr':
      return hex(v);
    case 'flag':
      return v.toString();
    default:
      return numText(v, f.hi - f.lo + 1);
  }
}

/** A register operand: its name (engine-prefixed unless it is the context engine's) or a hex offset. */
function regText(offset: number, engine?: EngineName): string {
  const r = regAt(offset);
  return r && r.dword === 0 ? regDisplayName(r.reg, engine) : hex(BigInt(offset));
}

/** Narrow fields (coordinates, pitches) in decimal; wide values in hex unless small. */
function numText(v: bigint, bits: number): string {
  return bits <= 16 || v < 1024n ? v.toString() : hex(v);
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

function rawLine(words: readonly number[], why: string): string {
  return `.dword ${words.map((w) => '0x' + (w >>> 0).toString(16).padStart(8, '0')).join(', ')} ; ${why}`;
}
