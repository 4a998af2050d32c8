// A surface as the extension host holds it: `vgpu/surface` pixels (base64 of little-endian ARGB dwords)
// decoded, and encoded as PNG for "Save Surface as PNG". Pixels are xRGB: alpha is not shown, as in `vgpu run --png`.

import { surfacePng } from '../emulator';

export interface SurfaceImage {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** width*height pixels, row-major, 0xAARRGGBB. */
  readonly pixels: Uint32Array;
}

export function decodeSurface(reply: { name: string; width: number; height: number; pixels: string }): SurfaceImage {
  const raw = Buffer.from(reply.pixels, 'base64');
  const count = reply.width * reply.height;
  if (raw.length !== count * 4) {
    throw new Error(
      `surface ${reply.name}: ${raw.length} bytes of pixels for ${reply.width}x${reply.height} (expected ${count * 4})`,
    );
  }
  const pixels = new Uint32Array(count);
  for (let i = 0; i < count; i++) pixels[i] = raw.readUInt32LE(i * 4);
  return { name: reply.name, width: reply.width, height: reply.height, pixels };
}

/** PNG bytes of a surface, as `vgpu run --png` writes them. */
export function encodePng(img: SurfaceImage): Buffer {
  return surfacePng(img);
}
