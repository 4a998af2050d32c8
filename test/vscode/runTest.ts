// `npm run test:vscode`: downloads VS Code 1.100 with @vscode/test-electron and runs the suite in its
// extension host, with this folder's extension and examples/ open. Needs a machine that can download
// VS Code (this project's own machines cannot: they use test/e2e, code-server, instead).

import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '../../..');
  try {
    await runTests({
      version: process.env.VSCODE_TEST_VERSION ?? '1.100.3',
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(__dirname, 'suite', 'index.js'),
      launchArgs: [path.join(root, 'examples'), '--disable-extensions', '--disable-workspace-trust'],
    });
  } catch (e) {
    console.error('extension-host tests failed:', e);
    process.exit(1);
  }
}

void main();
