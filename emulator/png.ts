// A surface as a PNG: the 32 bpp pixels are xRGB, written as opaque RGB (alpha is not shown).

import { PNG } from 'pngjs';

export interface SurfacePixels {
  readonly width: number;
  readonly height: number;
  /** width*height pixels, row-major, 0xAARRGGBB. */
  readonly pixels: Uint32Array;
}

export function surfacePng(s: SurfacePixels): Buffer {
  const png = new PNG({ width: s.width, height: s.height });
  for (let i = 0; i < s.pixels.length; i++) {
    const p = s.pixels[i];
    png.data[i * 4] = (p >>> 16) & 0xff;
    png.data[i * 4 + 1] = (p >>> 8) & 0xff;
    png.data[i * 4 + 2] = p & 0xff;
    png.data[i * 4 + 3] = 0xff;
  }
  return PNG.sync.write(png);
}
