// The "Compare Snapshots" page: registers with old and new values, a window of the changed pages with
// their changed bytes and ranges (links to the previous and next windows run a command), surfaces with
// their changed pixel counts and drawn side by side (PNG data URIs, one per snapshot). Static HTML (no
// script), theme-coloured.

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

/** The command a page link runs: arguments [token, start] (the extension shows that window of pages). */
export const DIFF_PAGE_COMMAND = 'vgpu.snapshotDiffPage';

/** Pictures are drawn at a whole zoom that makes small surfaces about this wide, pixels kept square. */
const PICTURE_SIZE = 256;

export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `0x10..0x1f`: one range [start, end) of a page where bytes changed (unchanged ones may lie between). */
export function rangeText([start, end]: [number, number]): string {
  return `0x${start.toString(16)}..0x${(end - 1).toString(16)}`;
}

function plural(n: number, what: string): string {
  return `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'}`;
}

/** A link that runs DIFF_PAGE_COMMAND for the window of pages from `start`. */
function pageLink(token: string, start: number, text: string): string {
  const args = encodeURIComponent(JSON.stringify([token, start]));
  return `<a href="command:${DIFF_PAGE_COMMAND}?${args}">${escapeHtml(text)}</a>`;
}

/** Which window of the changed pages the page shows, with links to its neighbours. */
function pager(diff: SnapshotDiff): string {
  if (diff.totalPages === 0 || (diff.start === 0 && diff.more === 0)) return '';
  const n = diff.pages.length;
  const links: string[] = [];
  if (diff.start > 0) links.push(pageLink(diff.token, Math.max(0, diff.start - Math.max(n, 1)), '← previous'));
  if (diff.more > 0)
    links.push(pageLink(diff.token, diff.start + n, `next ${Math.min(n, diff.more).toLocaleString('en-US')} →`));
  return `<p class="sub">pages ${(diff.start + 1).toLocaleString('en-US')}–${(diff.start + n).toLocaleString('en-US')} of ${diff.totalPages.toLocaleString('en-US')} ${links.join(' · ')}</p>`;
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
  return (
    `<figure><img src="${src}" width="${img.width * zoom}" height="${img.height * zoom}" alt="${escapeHtml(caption)}">` +
    `<figcaption>${escapeHtml(caption)} · ${img.width}×${img.height}</figcaption></figure>`
  );
}

/** Each surface at both snapshots, side by side, under its changed pixel count; or why it is not drawn. */
function pictures(
  diff: SnapshotDiff,
  from: SnapshotInfo,
  to: SnapshotInfo,
  pairs: readonly SurfacePair[] | string,
): string {
  if (typeof pairs === 'string') return `<p class="empty">${escapeHtml(`Surfaces cannot be drawn: ${pairs}`)}</p>`;
  const heading = (name: string) => {
    const n = diff.surfaces.find((s) => s.name === name)?.changedPixels;
    return `<h3>${escapeHtml(name)}${n === undefined ? '' : ` · ${n} changed pixel${n === 1 ? '' : 's'}`}</h3>`;
  };
  const drawn = pairs.map(
    (p) => `${heading(p.name)}<div class="pair">${picture(p.from, `#${from.id}`)}${picture(p.to, `#${to.id}`)}</div>`,
  );
  const undrawn = diff.surfaces
    .filter((s) => !pairs.some((p) => p.name === s.name))
    .map(
      (s) =>
        `${heading(s.name)}<p class="empty">${escapeHtml(`${s.width}×${s.height} is too large to draw on this page: the Surface panel shows it.`)}</p>`,
    );
  return [...drawn, ...undrawn].join('');
}

/**
 * The whole page. `pairs`: the surfaces to draw side by side (a string says why there are none); the
 * page's CSP lets images come only from data: URIs, as PNGs made here.
 */
export function diffHtml(
  diff: SnapshotDiff,
  from: SnapshotInfo,
  to: SnapshotInfo,
  nonce: string,
  pairs: readonly SurfacePair[] | string = [],
): string {
  const regs = table(
    ['Register', `Old (#${from.id})`, `New (#${to.id})`],
    diff.registers.map((r) => [
      escapeHtml(r.name),
      `<code class="old">${escapeHtml(r.old)}</code>`,
      `<code class="new">${escapeHtml(r.new)}</code>`,
    ]),
    'No register differs.',
  );
  const pages = table(
    ['Page (GPA)', 'Changed bytes', 'In'],
    diff.pages.map((p) => [
      `<code>${escapeHtml(p.gpa)}</code>`,
      String(p.bytes),
      p.ranges.map((r) => `<code>${rangeText(r)}</code>`).join('<br>'),
    ]),
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
  a { color: var(--vscode-textLink-foreground); }
</style></head>
<body>
<h1>Snapshot ${escapeHtml(snapshotLabel(from))} → ${escapeHtml(snapshotLabel(to))}</h1>
<p class="sub">old: ${escapeHtml(snapshotDescription(from))}<br>new: ${escapeHtml(snapshotDescription(to))}</p>
<h2>Registers (${diff.registers.length})</h2>${regs}
<h2>Pages (${diff.totalPages.toLocaleString('en-US')})</h2>
<p class="sub">${escapeHtml(plural(diff.changedBytes, 'byte'))} changed in ${escapeHtml(plural(diff.totalPages, 'page'))}</p>${pager(diff)}${pages}${pager(diff)}
<h2>Surfaces (${diff.surfaces.length})</h2>${surfaces}
${pictures(diff, from, to, pairs)}
</body></html>`;
}
