// Surfaces the captured state describes: the pixel shader's binding table (3DSTATE_BINDING_TABLE_POINTERS_PS,
// an offset from STATE_BASE_ADDRESS's Surface State Base Address) lists RENDER_SURFACE_STATEs (each an
// offset from the same base); each gives a 2D surface's address, size, pitch, format and tiling. The
// structures' layouts are genxml's (commands.ts stateStruct); pixels are read through the engine's PPGTT,
// detiled and converted to ARGB for the Surface view.

import { COMMANDS, fieldNum, fieldValue, stateStruct, type CommandDef, type Gen } from './commands';
import { PAGE_SIZE, hex } from './memory';
import type { EngineName } from './registers';
import type { Vm } from './vm';

/** A surface format the view can draw: its bytes per pixel and its conversion of one texel to 0xAARRGGBB. */
interface SurfaceFormat {
  readonly name: string;
  readonly bytes: 1 | 2 | 4;
  readonly argb: (texel: number) => number;
}

const swapRb = (d: number) => ((d & 0xff00ff00) | ((d & 0xff) << 16) | ((d >>> 16) & 0xff)) >>> 0;
const gray = (v: number) => (0xff000000 | (v * 0x010101)) >>> 0;
const ten = (v: number) => Math.round(((v & 0x3ff) * 255) / 1023);
const FIVE = (v: number) => Math.round(((v & 0x1f) * 255) / 31);
const SIX = (v: number) => Math.round(((v & 0x3f) * 255) / 63);
const rgba = (r: number, g: number, b: number, a: number) => ((a << 24) | (r << 16) | (g << 8) | b) >>> 0;

/** Surface formats by their hardware number (the PRM's SURFACE_FORMAT table, as Mesa's isl.h numbers it). */
const FORMATS: ReadonlyMap<number, SurfaceFormat> = new Map<number, SurfaceFormat>([
  [192, { name: 'B8G8R8A8_UNORM', bytes: 4, argb: (d) => d >>> 0 }],
  [193, { name: 'B8G8R8A8_UNORM_SRGB', bytes: 4, argb: (d) => d >>> 0 }],
  [
    194,
    {
      name: 'R10G10B10A2_UNORM',
      bytes: 4,
      argb: (d) => rgba(ten(d), ten(d >>> 10), ten(d >>> 20), Math.round(((d >>> 30) * 255) / 3)),
    },
  ],
  [199, { name: 'R8G8B8A8_UNORM', bytes: 4, argb: swapRb }],
  [200, { name: 'R8G8B8A8_UNORM_SRGB', bytes: 4, argb: swapRb }],
  [203, { name: 'R8G8B8A8_UINT', bytes: 4, argb: swapRb }],
  [
    209,
    {
      name: 'B10G10R10A2_UNORM',
      bytes: 4,
      argb: (d) => rgba(ten(d >>> 20), ten(d >>> 10), ten(d), Math.round(((d >>> 30) * 255) / 3)),
    },
  ],
  [233, { name: 'B8G8R8X8_UNORM', bytes: 4, argb: (d) => (d | 0xff000000) >>> 0 }],
  [234, { name: 'B8G8R8X8_UNORM_SRGB', bytes: 4, argb: (d) => (d | 0xff000000) >>> 0 }],
  [235, { name: 'R8G8B8X8_UNORM', bytes: 4, argb: (d) => (swapRb(d) | 0xff000000) >>> 0 }],
  [256, { name: 'B5G6R5_UNORM', bytes: 2, argb: (v) => rgba(FIVE(v >>> 11), SIX(v >>> 5), FIVE(v), 255) }],
  [262, { name: 'R8G8_UNORM', bytes: 2, argb: (v) => rgba(v & 0xff, (v >>> 8) & 0xff, 0, 255) }],
  [320, { name: 'R8_UNORM', bytes: 1, argb: gray }],
  [324, { name: 'A8_UNORM', bytes: 1, argb: gray }],
]);

/** Tile geometry (bytes wide, rows high) of each Tile Mode the view detiles; every tile is 4 KiB. */
const TILES: Readonly<Record<string, { readonly w: number; readonly h: number }>> = {
  LINEAR: { w: 0, h: 0 },
  XMAJOR: { w: 512, h: 8 },
  YMAJOR: { w: 128, h: 32 },
};

/** Largest surface drawn (pixels): the view's bound, as the blitter's. */
export const MAX_STATE_SURFACE_PIXELS = 1 << 24;
/** Binding table entries examined (the hardware allows up to 256; a render target is among the first). */
const MAX_ENTRIES = 64;

export interface StateSurface {
  /** `ps.bt[N]`: the pixel shader's binding table entry N. */
  readonly name: string;
  readonly engine: EngineName;
  /** GPU VA of its RENDER_SURFACE_STATE. */
  readonly state: number;
  readonly type: string;
  readonly va: number;
  readonly width: number;
  readonly height: number;
  readonly pitch: number;
  readonly format: string;
  readonly tiling: string;
  /** Why the view cannot draw it (a format, tiling or type it does not convert), if so. */
  readonly unsupported?: string;
}

function command(mnemonic: string, gen: Gen): CommandDef {
  return COMMANDS.find((c) => c.mnemonic === mnemonic && c.gens.includes(gen))!;
}

function stateField(vm: Vm, engine: EngineName, mnemonic: string, field: string): number | undefined {
  const p = vm.engine(engine).pipeline[mnemonic];
  if (!p) return undefined;
  return fieldNum(command(mnemonic, vm.gen), p.dwords, p.dwords.length, field);
}

/**
 * The surfaces of the pixel shader's binding table as the engine's state stands: up to the count
 * 3DSTATE_PS declares (or the first empty entry), each decoded from its RENDER_SURFACE_STATE.
 */
export function stateSurfaces(vm: Vm, engine: EngineName = 'rcs0'): StateSurface[] {
  const base = stateField(vm, engine, 'STATE_BASE_ADDRESS', 'surface_state_base_address');
  const table = stateField(vm, engine, '3DSTATE_BINDING_TABLE_POINTERS_PS', 'pointer_to_ps_binding_table');
  if (base === undefined || table === undefined) return [];
  const gen = vm.gen;
  const bts = stateStruct('BINDING_TABLE_STATE', gen);
  const rss = stateStruct('RENDER_SURFACE_STATE', gen);
  const f = (n: string) => rss.field(n);
  const [fType, fFormat, fTile, fWidth, fHeight, fPitch, fBase] = [
    'surface_type',
    'surface_format',
    'tile_mode',
    'width',
    'height',
    'surface_pitch',
    'surface_base_address',
  ].map(f);
  const declared = stateField(vm, engine, '3DSTATE_PS', 'binding_table_entry_count') || MAX_ENTRIES;
  const entries = vm.readVa(base + table, Math.min(declared, MAX_ENTRIES), engine);
  const out: StateSurface[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e === undefined || e === 0) break;
    const state = base + fieldValue(bts.fields[0], [e], 1);
    const dw = vm.readVa(state, rss.length, engine);
    if (dw.some((x) => x === undefined)) continue;
    const words = dw as number[];
    const v = (fl: typeof fType) => fieldValue(fl, words, rss.length);
    const type = fType.values
      ? (Object.entries(fType.values).find(([, n]) => n === v(fType))?.[0] ?? String(v(fType)))
      : String(v(fType));
    const tiling = fTile.values
      ? (Object.entries(fTile.values).find(([, n]) => n === v(fTile))?.[0] ?? String(v(fTile)))
      : String(v(fTile));
    const format = FORMATS.get(v(fFormat));
    const s: StateSurface = {
      name: `ps.bt[${i}]`,
      engine,
      state,
      type,
      va: v(fBase),
      width: v(fWidth) + 1,
      height: v(fHeight) + 1,
      pitch: v(fPitch) + 1,
      format: format?.name ?? `format ${v(fFormat)}`,
      tiling,
    };
    const why =
      type !== 'SURFTYPE_2D'
        ? `a ${type} surface`
        : !format
          ? `surface format ${v(fFormat)} is not one the view converts`
          : !(tiling in TILES)
            ? `${tiling} tiling is not one the view detiles`
            : s.width * s.height > MAX_STATE_SURFACE_PIXELS
              ? `${s.width}x${s.height} is over ${MAX_STATE_SURFACE_PIXELS} pixels`
              : undefined;
    out.push(why ? { ...s, unsupported: why } : s);
  }
  return out;
}

/** Byte offset of pixel byte `xb` of row `y` in a surface of `pitch` bytes under a tiling (tiles row-major, 4 KiB each). */
export function tiledOffset(tiling: string, pitch: number, xb: number, y: number): number {
  if (tiling === 'XMAJOR')
    return (Math.floor(y / 8) * (pitch / 512) + Math.floor(xb / 512)) * PAGE_SIZE + (y % 8) * 512 + (xb % 512);
  if (tiling === 'YMAJOR') {
    // Within a Y tile, 16-byte columns of 32 rows follow each other.
    return (
      (Math.floor(y / 32) * (pitch / 128) + Math.floor(xb / 128)) * PAGE_SIZE +
      Math.floor((xb % 128) / 16) * 512 +
      (y % 32) * 16 +
      (xb % 16)
    );
  }
  return y * pitch + xb;
}

/** A state surface's pixels as ARGB (unmapped memory reads 0), detiled and converted from its format. */
export function readStateSurface(vm: Vm, s: StateSurface): { width: number; height: number; pixels: Uint32Array } {
  if (s.unsupported)
    throw new RangeError(`${s.name} (RENDER_SURFACE_STATE at ${hex(s.state)}) cannot be shown: ${s.unsupported}`);
  const fmt = [...FORMATS.values()].find((f) => f.name === s.format)!;
  const pages = new Map<number, (number | undefined)[]>();
  const dword = (off: number) => {
    const va = s.va + off;
    const page = va - (va % PAGE_SIZE);
    let p = pages.get(page);
    if (!p) pages.set(page, (p = vm.readVa(page, PAGE_SIZE / 4, s.engine)));
    return p[(va % PAGE_SIZE) >>> 2] ?? 0;
  };
  const pixels = new Uint32Array(s.width * s.height);
  for (let y = 0; y < s.height; y++) {
    for (let x = 0; x < s.width; x++) {
      const off = tiledOffset(s.tiling, s.pitch, x * fmt.bytes, y);
      const d = dword(off - (off % 4));
      const texel =
        fmt.bytes === 4 ? d : fmt.bytes === 2 ? (d >>> (8 * (off % 4))) & 0xffff : (d >>> (8 * (off % 4))) & 0xff;
      pixels[y * s.width + x] = fmt.argb(texel);
    }
  }
  return { width: s.width, height: s.height, pixels };
}

/** One line per state surface: what the Surface view lists and the CLI prints. */
export function describeStateSurface(s: StateSurface): string {
  return `${s.name}: ${s.width}x${s.height} ${s.format} ${s.tiling}, pitch ${s.pitch}, at ${hex(s.va)} (RENDER_SURFACE_STATE at ${hex(s.state)})${s.unsupported ? `: not shown, ${s.unsupported}` : ''}`;
}
