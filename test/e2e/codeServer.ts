// A throw-away code-server (VS Code 1.100 in the browser, with a real extension host) for one test
// run: its own config, user data and extensions folders, the .vsix installed, a workspace folder open.

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

const BIN = path.join(__dirname, 'node_modules', '.bin', 'code-server');

export interface CodeServer {
  readonly url: string;
  readonly log: string;
  stop(): Promise<void>;
}

/** User settings for a quiet, reproducible workbench (no tips, no startup page, no trust prompt). */
const SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.colorTheme': 'Default Dark Modern',
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'editor.minimap.enabled': false,
  'workbench.editor.enablePreview': false,
  'chat.commandCenter.enabled': false,
  'window.commandCenter': false,
  'git.openRepositoryInParentFolders': 'never',
  'debug.internalConsoleOptions': 'neverOpen',
  'remote.autoForwardPorts': false,
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startCodeServer(opts: { work: string; vsix: string; folder: string }): Promise<CodeServer> {
  fs.rmSync(opts.work, { recursive: true, force: true });
  const ext = path.join(opts.work, 'extensions');
  const data = path.join(opts.work, 'user-data');
  const config = path.join(opts.work, 'config.yaml');
  fs.mkdirSync(path.join(data, 'User'), { recursive: true });
  fs.mkdirSync(ext, { recursive: true });
  fs.writeFileSync(config, ''); // never ~/.config/code-server/config.yaml
  fs.writeFileSync(path.join(data, 'User', 'settings.json'), JSON.stringify(SETTINGS, null, 2));
  const common = ['--config', config, '--extensions-dir', ext, '--user-data-dir', data];
  execFileSync(BIN, [...common, '--install-extension', opts.vsix], { stdio: 'pipe', timeout: 60_000 });

  const port = await freePort();
  const log = path.join(opts.work, 'code-server.log');
  const out = fs.openSync(log, 'w');
  const child = spawn(
    BIN,
    [
      ...common,
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      opts.folder,
    ],
    { detached: true, stdio: ['ignore', out, out] }, // its own process group: ended as a whole
  );
  fs.closeSync(out);
  let exited = false;
  child.on('exit', () => (exited = true));
  const stop = async () => {
    if (child.pid === undefined) return;
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      try {
        process.kill(-child.pid, sig);
      } catch {
        return; // the group is gone
      }
      for (let i = 0; i < 30 && !exited; i++) await new Promise((r) => setTimeout(r, 100));
    }
  };
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`code-server exited at start:\n${fs.readFileSync(log, 'utf8')}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (i > 150) {
      await stop();
      throw new Error(`code-server did not answer /healthz in 30 s:\n${fs.readFileSync(log, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url: `${base}/?folder=${encodeURIComponent(opts.folder)}`, log, stop };
}
