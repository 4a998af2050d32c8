// Generates the launch-configuration parts of package.json's `vgpu` debugger (schema, initial
// configuration, snippets) from LAUNCH_ATTRIBUTES in adapter/protocol.ts. Run after changing a launch
// attribute: `npm run gen:package-schema`; `--check` only reports whether package.json is current.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEBUG_TYPE, configurationSnippets, initialConfiguration, launchSchema } from '../extension/launchConfig';

export const PACKAGE_JSON = path.resolve(__dirname, '..', 'package.json');

/** The keys of `contributes.debuggers[type=vgpu]` this script owns. */
export function generatedDebuggerKeys(): Record<string, unknown> {
  return {
    configurationAttributes: { launch: launchSchema() },
    initialConfigurations: [initialConfiguration()],
    configurationSnippets: configurationSnippets(),
  };
}

function vgpuDebugger(pkg: any): Record<string, unknown> | undefined {
  return pkg.contributes?.debuggers?.find((d: { type?: string }) => d.type === DEBUG_TYPE);
}

/** Whether package.json's generated keys equal what LAUNCH_ATTRIBUTES gives (key order included). */
export function isCurrent(pkg: any): boolean {
  const dbg = vgpuDebugger(pkg);
  if (!dbg) return false;
  return Object.entries(generatedDebuggerKeys()).every(([k, v]) => JSON.stringify(dbg[k]) === JSON.stringify(v));
}

function main(): void {
  const check = process.argv.includes('--check');
  // Read-modify-write in one go: other tools edit other keys of package.json.
  const pkg = JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8'));
  if (check) {
    if (!isCurrent(pkg)) {
      console.error('package.json launch schema is out of date: run npm run gen:package-schema');
      process.exit(1);
    }
    return;
  }
  const dbg = vgpuDebugger(pkg);
  if (!dbg) {
    console.error(`package.json has no contributes.debuggers entry of type "${DEBUG_TYPE}"`);
    process.exit(2);
  }
  Object.assign(dbg, generatedDebuggerKeys());
  fs.writeFileSync(PACKAGE_JSON, JSON.stringify(pkg, null, 2) + '\n');
}

if (require.main === module) main();
