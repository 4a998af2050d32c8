// `vgpu host --listen HOST:PORT --gen N [--token T] [--allow ADDR,...] [--json]`: a target host for
// VM transfers; serves one VM after another until SIGINT or SIGTERM.

import { parseHostPort } from '../migration/stream';
import { VmHost } from '../migration/target';
import { UsageError, parseArgs, parseGen } from './args';

export const HOST_FLAGS = {
  listen: { type: 'string' },
  gen: { type: 'string' },
  token: { type: 'string' },
  allow: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Default address when --listen is not given. */
export const DEFAULT_LISTEN = '127.0.0.1:7480';
export const TOKEN_ENV = 'VGPU_HOST_TOKEN';

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs(argv, HOST_FLAGS);
  if (positionals.length)
    throw new UsageError(
      `usage: vgpu host --listen HOST:PORT --gen N [--token T] [--allow ADDR,...] [--json] (unexpected '${positionals[0]}')`,
    );
  const listenText = (v.listen as string | undefined) ?? DEFAULT_LISTEN;
  const listen = parseHostPort(listenText);
  if (!listen)
    throw new UsageError(`--listen: '${listenText}' is not HOST:PORT (examples: 127.0.0.1:7480, [::1]:7480, :7480)`);
  const gen = parseGen(v.gen as string | undefined, '--gen') ?? 3;
  const token = (v.token as string | undefined) ?? process.env[TOKEN_ENV] ?? '';
  const allow =
    v.allow === undefined
      ? ['loopback']
      : String(v.allow)
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x);
  if (allow.length === 0) throw new UsageError('--allow: give loopback, any, or peer IP addresses separated by commas');
  // A VM transfer carries a whole VM and runs it here: beyond this machine, only with a shared secret.
  if (!token && !isLoopback(listen.host))
    throw new UsageError(
      `--listen ${listenText}: listening beyond loopback needs a token (--token T or ${TOKEN_ENV}); anyone who reaches the port could run a VM here`,
    );
  if (!token && allow.some((a) => a !== 'loopback' && !isLoopback(a)))
    throw new UsageError(
      `--allow ${allow.join(',')}: accepting peers beyond loopback needs a token (--token T or ${TOKEN_ENV})`,
    );
  const json = !!v.json;
  const say = (event: string, text: string, data: Record<string, unknown> = {}): void => {
    process.stdout.write(json ? JSON.stringify({ event, ...data }) + '\n' : `vgpu host: ${text}\n`);
  };

  const host = new VmHost({ gen, host: listen.host, port: listen.port, token, allow });
  host
    .on('refused', (peer, reason) => say('refused', `refused a VM from ${peer}: ${reason}`, { peer, reason }))
    .on('accepted', (t) =>
      say('accepted', `accepted ${t.program} (device version ${t.exposedVersion}) from ${t.peer}`, { ...t }),
    )
    .on('resumed', (t, _vm, s) =>
      say(
        'resumed',
        `resumed ${t.program} at ${s.commands} commands after ${s.rounds} pre-copy rounds, ${s.pages} pages`,
        { ...t, ...s },
      ),
    )
    .on('finished', (t, r) =>
      say('finished', `${t.program}: ${r.status} after ${r.commands} commands; result sent to ${t.peer}`, {
        ...t,
        status: r.status,
        commands: r.commands,
      }),
    )
    .on('dropped', (peer, reason) => say('dropped', `dropped the transfer from ${peer}: ${reason}`, { peer, reason }));
  let addr: { host: string; port: number };
  try {
    addr = await host.listen();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(
      `cannot listen on ${listenText}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : err.message}`,
    );
  }
  const shown = addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
  say(
    'listening',
    `generation ${gen} listening on ${shown}${token ? ' (token required)' : ''}; accepting ${allow.join(', ')}`,
    { host: addr.host, port: addr.port, gen, tokenRequired: !!token, allow },
  );

  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      say('stopping', `${signal}: shutting down`, { signal });
      host.close().then(() => {
        say('stopped', 'stopped', {});
        resolve(0);
      });
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}
