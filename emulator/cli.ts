// `vgpu`: the command-line front end (SPEC section 7). Each subcommand lives in cli/<name>.ts.

import { UsageError } from './cli/args';

type Main = (argv: string[]) => Promise<number>;

const SUBCOMMANDS: Record<string, { main: () => Promise<Main>; usage: string }> = {
  run: {
    main: async () => (await import('./cli/run')).main,
    usage:
      'run FILE [--host-gen N] [--device-version N | --pool N,N] [--memory SIZE] [--no-isolation] [--snapshot-every N] [--no-auto-rollback] [--watchdog N] [--png SURFACE=OUT.png] [--json] [--checkpoint-at N --save OUT.ckpt] [--migrate-at N --to HOST:PORT] [--error-state OUT [--error-state-raw]]; FILE may be an i915 error state or Xe devcoredump (replayed to the hung command)',
  },
  resume: {
    main: async () => (await import('./cli/resume')).main,
    usage: 'resume FILE.ckpt [--json] [--png SURFACE=OUT.png]',
  },
  translate: {
    main: async () => (await import('./cli/translate')).main,
    usage: 'translate FILE VA [--view full|restricted] [--json]',
  },
  caps: {
    main: async () => (await import('./cli/caps')).main,
    usage:
      'caps [--host-gen N] [--device-version N | --pool N,N...] [--json]   physical vs exposed capability registers and PCI capability lists, side by side',
  },
  asm: {
    main: async () => (await import('./cli/asm')).main,
    usage: 'asm FILE [--json]   assemble a program and print its listing (GPU VA, dwords, source line)',
  },
  disasm: {
    main: async () => (await import('./cli/disasm')).main,
    usage: 'disasm HEX_DWORD... [--engine rcs0|bcs0]   decode command dwords, one command a line',
  },
  import: {
    main: async () => (await import('./cli/import')).main,
    usage:
      'import FILE.aub[.gz] -o OUT.vgpu   a capture as an editable program (its data in OUT.bin beside it) that runs to the same result',
  },
  export: {
    main: async () => (await import('./cli/export')).main,
    usage:
      "export FILE.vgpu -o OUT.aub [--application NAME]   a program as an AUB capture (Mesa's aubinator decodes it; vgpu run reads it)",
  },
  triage: {
    main: async () => (await import('./cli/triage')).main,
    usage:
      'triage DUMP... [--json]   group i915 error states / Xe devcoredumps (files or directories) by signature: platform, engine, hung command and batch offset, IPEHR, fault kind',
  },
  host: {
    main: async () => (await import('./cli/host')).main,
    usage:
      'host [--listen HOST:PORT] [--gen N] [--token T] [--allow loopback|any|ADDR,...] [--json]   serve VM transfers (live migration targets) until SIGINT/SIGTERM',
  },
};

function usage(): string {
  return ['usage: vgpu <command> [options]', '', ...Object.values(SUBCOMMANDS).map((s) => '  ' + s.usage)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) throw new UsageError(`unknown command '${name}' (commands: ${Object.keys(SUBCOMMANDS).join(', ')})`);
  return (await sub.main())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'UsageError')) {
      process.stderr.write(`vgpu: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`vgpu: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    }
  },
);
