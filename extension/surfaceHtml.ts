// The Surface webview's page: toolbar, canvas and status line, styled from the theme's CSS variables,
// under a Content-Security-Policy that allows only its own nonce'd style and script.

import { surfaceWebviewMain } from './surfaceWebview';

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

export function surfaceHtml(cspSource: string, nonce: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(cspSource, nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Surface</title>
<style nonce="${nonce}">
  html, body { height: 100%; margin: 0; padding: 0; }
  body { display: flex; flex-direction: column; color: var(--vscode-foreground); background: var(--vscode-editor-background);
         font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }
  #toolbar { display: flex; gap: 6px; align-items: center; padding: 6px 8px; border-bottom: 1px solid var(--vscode-panel-border); flex-wrap: wrap; }
  #toolbar select { background: var(--vscode-dropdown-background); color: var(--vscode-dropdown-foreground);
                    border: 1px solid var(--vscode-dropdown-border); padding: 2px 4px; }
  #toolbar button { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground);
                    border: none; padding: 3px 8px; cursor: pointer; min-width: 28px; }
  #toolbar button:hover { background: var(--vscode-button-secondaryHoverBackground); }
  #toolbar button.primary { background: var(--vscode-button-background); color: var(--vscode-button-foreground); }
  #toolbar button.primary:hover { background: var(--vscode-button-hoverBackground); }
  #zoom { min-width: 64px; text-align: center; font-variant-numeric: tabular-nums; }
  #info { color: var(--vscode-descriptionForeground); }
  #view { flex: 1; overflow: auto; padding: 8px; }
  #canvas { image-rendering: pixelated; display: block; outline: 1px solid var(--vscode-panel-border); cursor: crosshair; }
  #status { padding: 4px 8px; border-top: 1px solid var(--vscode-panel-border); font-family: var(--vscode-editor-font-family);
            min-height: 1.4em; font-variant-numeric: tabular-nums; }
  #message { padding: 16px; color: var(--vscode-descriptionForeground); }
</style>
</head>
<body>
<div id="toolbar">
  <label for="surface">Surface</label> <select id="surface"></select>
  <button id="zoomOut" title="Zoom out (Ctrl+wheel)">−</button>
  <span id="zoom"></span>
  <button id="zoomIn" title="Zoom in (Ctrl+wheel)">+</button>
  <button id="zoomFit" title="Fit to the panel">Fit</button>
  <button id="zoom1" title="Actual size">1:1</button>
  <button id="save" class="primary" title="Save Surface as PNG">Save PNG…</button>
  <span id="info"></span>
</div>
<div id="message" hidden></div>
<div id="view"><canvas id="canvas" width="1" height="1"></canvas></div>
<div id="status"><span id="pixel"></span></div>
<script nonce="${nonce}">(${surfaceWebviewMain.toString()})();</script>
</body>
</html>`;
}
