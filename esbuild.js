// Bundles the CLI, the debug adapter and the extension into dist/ (one file each, no node_modules needed at run time).
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

const entries = [
  { in: 'emulator/cli.ts', out: 'cli', banner: '#!/usr/bin/env node' },
  { in: 'adapter/main.ts', out: 'adapter' },
  // The assembler of large programs, run in a worker thread by the adapter (adapter/assemble.ts).
  { in: 'adapter/loadWorker.ts', out: 'loadWorker' },
  { in: 'extension/extension.ts', out: 'extension' },
  { in: 'extension/assemblyWorker.ts', out: 'assemblyWorker' },
];

async function main() {
  const watch = process.argv.includes('--watch');
  const production = process.argv.includes('--production');
  const contexts = [];
  for (const e of entries) {
    if (!fs.existsSync(path.join(__dirname, e.in))) continue;
    const ctx = await esbuild.context({
      entryPoints: [e.in],
      outfile: `dist/${e.out}.js`,
      bundle: true,
      platform: 'node',
      target: 'node18',
      format: 'cjs',
      sourcemap: !production,
      minify: production,
      external: ['vscode'],
      banner: e.banner ? { js: e.banner } : undefined,
      logLevel: 'warning',
    });
    contexts.push(ctx);
  }
  if (watch) {
    await Promise.all(contexts.map((c) => c.watch()));
  } else {
    await Promise.all(contexts.map((c) => c.rebuild()));
    await Promise.all(contexts.map((c) => c.dispose()));
    if (fs.existsSync('dist/cli.js')) fs.chmodSync('dist/cli.js', 0o755);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
