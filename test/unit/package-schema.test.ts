// package.json's `vgpu` debugger contribution is generated from LAUNCH_ATTRIBUTES: it must be current,
// and every command, view and menu it names must exist.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { LAUNCH_ATTRIBUTES } from '../../adapter/protocol';
import { PACKAGE_JSON, generatedDebuggerKeys, isCurrent } from '../../scripts/gen-package-schema';

const pkg = JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8'));
const dbg = pkg.contributes.debuggers.find((d: { type: string }) => d.type === 'vgpu');

describe('package.json debugger contribution', () => {
  it('is generated from LAUNCH_ATTRIBUTES and current (npm run gen:package-schema)', () => {
    assert.ok(dbg, 'a debugger of type vgpu');
    assert.deepEqual(
      {
        configurationAttributes: dbg.configurationAttributes,
        initialConfigurations: dbg.initialConfigurations,
        configurationSnippets: dbg.configurationSnippets,
      },
      generatedDebuggerKeys(),
    );
    assert.ok(isCurrent(pkg));
  });

  it('describes every launch attribute, with defaults and enums where the adapter has them', () => {
    const props = dbg.configurationAttributes.launch.properties;
    assert.deepEqual(Object.keys(props), Object.keys(LAUNCH_ATTRIBUTES));
    for (const [name, spec] of Object.entries(LAUNCH_ATTRIBUTES)) {
      assert.ok(props[name].description.length > 10, `${name} has a description`);
      assert.equal(props[name].type, spec.type);
      if ('default' in spec) assert.deepEqual(props[name].default, spec.default, `${name} default`);
      if ('enum' in spec) assert.deepEqual(props[name].enum, spec.enum, `${name} enum`);
    }
    assert.deepEqual(dbg.configurationAttributes.launch.required, ['program']);
  });

  it('names only declared commands in menus and welcome views, and only its own views', () => {
    const commands = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
    for (const [menu, items] of Object.entries(pkg.contributes.menus) as [string, { command?: string }[]][]) {
      for (const item of items)
        if (item.command?.startsWith('vgpu.')) assert.ok(commands.has(item.command), `${menu}: ${item.command}`);
    }
    const views = new Set(pkg.contributes.views.debug.map((v: { id: string }) => v.id));
    assert.deepEqual(
      [...views],
      ['vgpu.snapshots', 'vgpu.capabilityRegisters', 'vgpu.pageTables', 'vgpu.pipelineState'],
    );
    for (const w of pkg.contributes.viewsWelcome) {
      assert.ok(views.has(w.view), w.view);
      for (const m of w.contents.matchAll(/command:([\w.]+)/g)) assert.ok(commands.has(m[1]), m[1]);
    }
    for (const v of views) assert.ok(pkg.activationEvents.includes(`onView:${v}`), `activation on ${v}`);
  });

  it('targets VS Code 1.99 (no newer than 1.100, so code-server 4.100 runs it)', () => {
    assert.equal(pkg.engines.vscode, '^1.99.0');
    assert.ok(!('vsce' in (pkg.dependencies ?? {})) && !('code-server' in (pkg.devDependencies ?? {})));
  });
});
