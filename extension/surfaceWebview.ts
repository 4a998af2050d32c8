// The Surface webview's script. It runs inside the webview, not in the extension host: surfaceHtml.ts
// inlines this function's source under the page's nonce, so it must use nothing but browser globals.

/* eslint-disable */
declare function acquireVsCodeApi(): { postMessage(m: unknown): void; getState(): any; setState(s: unknown): void };

/** Messages from the extension host. */
export type ToSurfaceWebview =
  | { type: 'surface'; name: string; surfaces: string[]; width: number; height: number; pixels: string; where: string }
  | { type: 'message'; text: string };

/** Messages to the extension host. */
export type FromSurfaceWebview = { type: 'ready' } | { type: 'select'; name: string } | { type: 'save'; name: string };

export function surfaceWebviewMain(): void {
  const api = acquireVsCodeApi();
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const canvas = $<HTMLCanvasElement>('canvas');
  const ctx = canvas.getContext('2d')!;
  const select = $<HTMLSelectElement>('surface');
  const zoomLabel = $<HTMLSpanElement>('zoom');
  const pixelLabel = $<HTMLSpanElement>('pixel');
  const info = $<HTMLSpanElement>('info');
  const message = $<HTMLDivElement>('message');
  const ZOOMS = [0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32];
  const saved = api.getState() || {};
  let zoom: number = saved.zoom || 0;
  let width = 0;
  let height = 0;
  let name = '';
  let pixels = new Uint32Array(0);

  const hex8 = (v: number) => '0x' + (v >>> 0).toString(16).toUpperCase().padStart(8, '0');
  /** The largest zoom that shows the whole surface (whole steps above 2x keep pixels square). */
  function fitZoom(): number {
    const box = $<HTMLDivElement>('view');
    const fit = Math.min((box.clientWidth - 16) / Math.max(width, 1), (box.clientHeight - 16) / Math.max(height, 1));
    if (fit >= 2) return Math.floor(fit);
    return Math.max(ZOOMS[0], Math.floor(fit * 4) / 4);
  }
  function applyZoom(): void {
    const z = zoom || fitZoom();
    canvas.style.width = width * z + 'px';
    canvas.style.height = height * z + 'px';
    zoomLabel.textContent = (zoom ? '' : 'fit ') + Math.round(z * 100) + '%';
    api.setState({ zoom, name });
  }
  function stepZoom(dir: number): void {
    const z = zoom || fitZoom();
    const i = ZOOMS.indexOf(z);
    const next = dir > 0 ? ZOOMS.find((x) => x > z) : [...ZOOMS].reverse().find((x) => x < z);
    zoom = next ?? ZOOMS[i < 0 ? 2 : i];
    applyZoom();
  }
  function draw(b64: string): void {
    const bin = atob(b64);
    pixels = new Uint32Array(width * height);
    const img = ctx.createImageData(width, height);
    for (let i = 0, j = 0; i < pixels.length; i++, j += 4) {
      const b = bin.charCodeAt(j),
        g = bin.charCodeAt(j + 1),
        r = bin.charCodeAt(j + 2),
        a = bin.charCodeAt(j + 3);
      pixels[i] = ((a << 24) | (r << 16) | (g << 8) | b) >>> 0;
      img.data[j] = r;
      img.data[j + 1] = g;
      img.data[j + 2] = b;
      img.data[j + 3] = 255; // xRGB: alpha is not shown
    }
    ctx.putImageData(img, 0, 0);
  }

  window.addEventListener('message', (ev: MessageEvent) => {
    const m = ev.data as ToSurfaceWebview;
    if (m.type === 'message') {
      message.textContent = m.text;
      message.hidden = false;
      return;
    }
    message.hidden = true;
    select.replaceChildren(
      ...m.surfaces.map((s) => {
        const o = document.createElement('option');
        o.value = s;
        o.textContent = s;
        o.selected = s.toUpperCase() === m.name.toUpperCase();
        return o;
      }),
    );
    name = m.name;
    width = m.width;
    height = m.height;
    canvas.width = width;
    canvas.height = height;
    canvas.dataset.surface = m.name;
    info.textContent = `${width}×${height} · ${m.where}`;
    draw(m.pixels);
    applyZoom();
    document.body.dataset.ready = 'true';
  });
  canvas.addEventListener('mousemove', (ev: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    const x = Math.floor(((ev.clientX - r.left) / r.width) * width);
    const y = Math.floor(((ev.clientY - r.top) / r.height) * height);
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    pixelLabel.textContent = `(${x}, ${y}) = ${hex8(pixels[y * width + x])}`;
  });
  canvas.addEventListener('mouseleave', () => (pixelLabel.textContent = ''));
  $('view').addEventListener(
    'wheel',
    (ev: WheelEvent) => {
      if (!ev.ctrlKey) return;
      ev.preventDefault();
      stepZoom(ev.deltaY < 0 ? 1 : -1);
    },
    { passive: false },
  );
  $('zoomIn').addEventListener('click', () => stepZoom(1));
  $('zoomOut').addEventListener('click', () => stepZoom(-1));
  $('zoomFit').addEventListener('click', () => {
    zoom = 0;
    applyZoom();
  });
  $('zoom1').addEventListener('click', () => {
    zoom = 1;
    applyZoom();
  });
  $('save').addEventListener('click', () => api.postMessage({ type: 'save', name } satisfies FromSurfaceWebview));
  select.addEventListener('change', () =>
    api.postMessage({ type: 'select', name: select.value } satisfies FromSurfaceWebview),
  );
  window.addEventListener('resize', () => {
    if (!zoom) applyZoom();
  });
  api.postMessage({ type: 'ready' } satisfies FromSurfaceWebview);
}
