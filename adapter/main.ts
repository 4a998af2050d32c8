// Entry of dist/adapter.js: the vgpu debug session over stdio, or with `--server=PORT` a TCP server on
// 127.0.0.1:PORT that serves each connection with a new session (for nvim-dap, Emacs dape, or VS Code's
// `debugServer`).

import * as net from 'node:net';
import { VgpuDebugSession } from './session';

function serverPort(argv: readonly string[]): number | undefined {
  for (const a of argv) {
    const m = /^--server=(\d+)$/.exec(a);
    if (m) return Number(m[1]);
  }
  return undefined;
}

function main(argv: readonly string[]): void {
  const port = serverPort(argv);
  if (port === undefined) {
    if (argv.some((a) => a.startsWith('--server'))) {
      process.stderr.write('usage: node dist/adapter.js [--server=PORT]\n');
      process.exit(2);
    }
    const session = new VgpuDebugSession();
    session.start(process.stdin, process.stdout);
    return;
  }
  const server = net.createServer((socket) => {
    const session = new VgpuDebugSession();
    session.setRunAsServer(true);
    session.start(socket, socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => session.dispose());
  });
  server.on('error', (e) => {
    process.stderr.write(`vgpu debug adapter: cannot listen on 127.0.0.1:${port}: ${e.message}\n`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    const addr = server.address() as net.AddressInfo;
    process.stderr.write(`vgpu debug adapter listening on 127.0.0.1:${addr.port}\n`);
  });
}

main(process.argv.slice(2));
