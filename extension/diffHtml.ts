// The "Compare Snapshots" page: registers with old and new values, pages with their changed byte
// ranges, surfaces with their changed pixel counts and drawn side by side (PNG data URIs, one per
// snapshot). Static HTML (no script), theme-coloured.

import { randomBytes } from 'node:crypto';
import type { CustomBody, SnapshotInfo } from '../adapter/protocol';
import { snapshotDescription, snapshotLabel } from './snapshotNodes';
import { encodePng, type SurfaceImage } from './surfaceImage';

export type SnapshotDiff = CustomBody<'vgpu/diff'>;

/** A surface at the two compared snapshots (`vgpu/surface` with `snapshot`). */
export interface SurfacePair {
  readonly name: string;
  readonly from: SurfaceImage;
  readonly to: SurfaceImage;
}

/** Pictures are drawn at a whole zoom that makes small surfaces about this wide, pixels kept square. */
const PICTURE_SIZE = 256;

export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `0x10..0x1f (16 bytes)`: one changed byte range of a page, [start, end) offsets. */
export function rangeText([start, end]: [number, number]): string {
  const n = end - start;
  return `0x${start.toString(16)}..0x${(end - 1).toString(16)} (${n} byte${n === 1 ? '' : 's'})`;
}

function table(head: string[], rows: string[][], empty: string): string {
  if (!rows.length) return `<p class="empty">${escapeHtml(empty)}</p>`;
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function picture(img: SurfaceImage, caption: string): string {
  const zoom = Math.max(1, Math.floor(PICTURE_SIZE / Math.max(img.width, img.height, 1)));
  const src = `data:image/png;base64,${encodePng(img).toString('base64')}`;
  return `<figure><img src="${src}" width="${img.width * zoom}" height="${img.height * zoom}" alt="${escapeHtml(caption)}">`
    + `<figcaption>${escapeHtml(caption)} · ${img.width}×${img.height}</figcaption></figure>`;
}

/** Each surface at both snapshots, side by side, under its changed pixel count; or why they are missing. */
function pictures(diff: SnapshotDiff, from: SnapshotInfo, to: SnapshotInfo, pairs: readonly SurfacePair[] | string): string {
  if (typeof pairs === 'string') return `<p class="empty">${escapeHtml(`Surfaces cannot be drawn: ${pairs}`)}</p>`;
  return pairs.map((p) => {
    const n = diff.surfaces.find((s) => s.name === p.name)?.changedPixels;
    const count = n === undefined ? '' : ` · ${n} changed pixel${n === 1 ? '' : 's'}`;
    return `<h3>${escapeHtml(p.name)}${count}</h3><div class="pair">${picture(p.from, `#${from.id}`)}${picture(p.to, `#${to.id}`)}</div>`;
  }).join('');
}

/**
 * The whole page. `pairs`: the surfaces to draw side by side (a string says why there are none); the
 * page's CSP lets images come only from data: URIs, as PNGs made here.
 */
export function diffHtml(diff: SnapshotDiff, from: SnapshotInfo, to: SnapshotInfo, nonce: string, pairs: readonly SurfacePair[] | string = []): string {
  const regs = table(
    ['Register', `Old (#${from.id})`, `New (#${to.id})`],
    diff.registers.map((r) => [escapeHtml(r.name), `<code class="old">${escapeHtml(r.old)}</code>`, `<code class="new">${escapeHtml(r.new)}</code>`]),
    'No register differs.',
  );
  const pages = table(
    ['Page (GPA)', 'Changed bytes'],
    diff.pages.map((p) => [`<code>${escapeHtml(p.gpa)}</code>`, p.ranges.map((r) => `<code>${rangeText(r)}</code>`).join('<br>')]),
    'No guest page differs.',
  );
  const surfaces = table(
    ['Surface', 'Changed pixels'],
    diff.surfaces.map((s) => [escapeHtml(s.name), String(s.changedPixels)]),
    'No surface differs.',
  );
  const csp = `default-src 'none'; img-src data:; style-src 'nonce-${nonce}'`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>Snapshot #${from.id} → #${to.id}</title>
<style nonce="${nonce}">
  body { color: var(--vscode-foreground); background: var(--vscode-editor-background); font-family: var(--vscode-font-family);
         font-size: var(--vscode-font-size); padding: 8px 16px; }
  h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.4em; border-bottom: 1px solid var(--vscode-panel-border); }
  .sub { color: var(--vscode-descriptionForeground); }
  table { border-collapse: collapse; } th, td { text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }
  th { color: var(--vscode-descriptionForeground); font-weight: normal; }
  code { font-family: var(--vscode-editor-font-family); }
  .old { color: var(--vscode-gitDecoration-deletedResourceForeground); }
  .new { color: var(--vscode-gitDecoration-addedResourceForeground); }
  .empty { color: var(--vscode-descriptionForeground); font-style: italic; }
  h3 { font-size: 1em; font-weight: normal; margin: 1.2em 0 0.4em; }
  .pair { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
  figure { margin: 0; } figcaption { color: var(--vscode-descriptionForeground); }
  img { image-rendering: pixelated; display: block; outline: 1px solid var(--vscode-panel-border); }
</style></head>
<body>
<h1>Snapshot ${escapeHtml(snapshotLabel(from))} → ${escapeHtml(snapshotLabel(to))}</h1>
<p class="sub">old: ${escapeHtml(snapshotDescription(from))}<br>new: ${escapeHtml(snapshotDescription(to))}</p>
<h2>Registers (${diff.registers.length})</h2>${regs}
<h2>Pages (${diff.pages.length})</h2>${pages}
<h2>Surfaces (${diff.surfaces.length})</h2>${surfaces}
${pictures(diff, from, to, pairs)}
</body></html>`;
}
