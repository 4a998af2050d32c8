// Launch configurations of debug type `vgpu` as VS Code sees them: the JSON schema, the initial
// configuration and the snippets, all derived from LAUNCH_ATTRIBUTES (adapter/protocol.ts), and the
// resolution of F5 without a launch.json. No `vscode` import: the package.json generator and unit tests use it.

import { LAUNCH_ATTRIBUTES, type AttributeSpec, type LaunchArguments } from '../adapter/protocol';
import { LANGUAGE_ID } from './languageModel';

export const DEBUG_TYPE = 'vgpu';
/**
 * Language id package.json gives `*.aub` and `*.aub.gz` (Mesa AUB captures). They are binary: VS Code
 * opens them in its binary-file editor, with no text model, so F5 finds them by the active tab's file
 * name (see `isDebuggable`) rather than by language; the id lets the `vgpu` debugger claim the type.
 */
export const CAPTURE_LANGUAGE_ID = 'vgpu-capture';
/** File names the debugger opens without asking: programs and AUB captures (dumps have no fixed name). */
const DEBUGGABLE_FILE = /\.(vgpu|aub|aub\.gz)$/i;

/** The shape of `contributes.debuggers[0].configurationAttributes.launch` in package.json. */
export interface LaunchSchema {
  readonly required: readonly string[];
  readonly properties: Record<string, Record<string, unknown>>;
}

export function launchSchema(): LaunchSchema {
  const properties: Record<string, Record<string, unknown>> = {};
  for (const [name, spec] of Object.entries(LAUNCH_ATTRIBUTES) as [string, AttributeSpec][]) {
    const p: Record<string, unknown> = { type: spec.type, description: spec.description };
    if (spec.enum) p.enum = [...spec.enum];
    if (spec.items) p.items = { ...spec.items, ...(spec.items.enum ? { enum: [...spec.items.enum] } : {}) };
    if (spec.minimum !== undefined) p.minimum = spec.minimum;
    if (spec.pattern !== undefined) p.pattern = spec.pattern;
    if (spec.default !== undefined) p.default = spec.default;
    properties[name] = p;
  }
  return {
    required: Object.entries(LAUNCH_ATTRIBUTES as Record<string, AttributeSpec>)
      .filter(([, x]) => x.required)
      .map(([n]) => n),
    properties,
  };
}

export interface VgpuDebugConfiguration extends Partial<LaunchArguments> {
  type: string;
  request: string;
  name: string;
  [key: string]: unknown;
}

const CURRENT_FILE = LAUNCH_ATTRIBUTES.program.default;

/** What launch.json starts with, and what F5 runs when there is none. */
export function initialConfiguration(): VgpuDebugConfiguration {
  return {
    type: DEBUG_TYPE,
    request: 'launch',
    name: 'Debug .vgpu program',
    program: CURRENT_FILE,
    stopOnEntry: LAUNCH_ATTRIBUTES.stopOnEntry.default,
  };
}

export interface ConfigurationSnippet {
  readonly label: string;
  readonly description: string;
  readonly body: Record<string, unknown>;
}

export function configurationSnippets(): ConfigurationSnippet[] {
  return [
    {
      label: 'vGPU: Debug a .vgpu program',
      description: 'Run a .vgpu program in the VM and pause on entry.',
      body: {
        type: DEBUG_TYPE,
        request: 'launch',
        name: 'Debug .vgpu program',
        program: '^"\\${file}"',
        stopOnEntry: true,
      },
    },
    {
      label: 'vGPU: Debug for a migration pool',
      description: 'Expose the device version every host of the pool supports.',
      body: {
        type: DEBUG_TYPE,
        request: 'launch',
        name: 'Debug for a migration pool',
        program: '^"\\${file}"',
        hostGen: 3,
        migrationPool: [2, 3],
      },
    },
    {
      label: 'vGPU: Debug through an adapter server',
      description: 'Connect to `node dist/adapter.js --server=4711` instead of running the adapter inline.',
      body: {
        type: DEBUG_TYPE,
        request: 'launch',
        name: 'Debug through adapter server',
        program: '^"\\${file}"',
        debugServer: 4711,
      },
    },
  ];
}

function isVgpuEditor(
  e: { languageId: string; fileName: string } | undefined,
): e is { languageId: string; fileName: string } {
  return (
    !!e && (e.languageId === LANGUAGE_ID || e.languageId === CAPTURE_LANGUAGE_ID || DEBUGGABLE_FILE.test(e.fileName))
  );
}

/** A configuration that debugs one file (a program, an AUB capture or a hang dump), paused where it opens. */
export function fileConfiguration(fileName: string): VgpuDebugConfiguration {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  return { ...initialConfiguration(), name: `Debug ${base}`, program: fileName };
}

/**
 * F5 with no launch.json hands an empty configuration: debug the active `.vgpu` editor (or the active
 * tab's AUB capture, which has no text editor). Returns the
 * configuration to start, or a message saying why there is nothing to debug.
 */
export function resolveLaunch(
  config: Record<string, unknown>,
  activeEditor: { languageId: string; fileName: string } | undefined,
): { config: VgpuDebugConfiguration } | { error: string } {
  let c = config as VgpuDebugConfiguration;
  if (!c.type && !c.request && !c.name) {
    if (!isVgpuEditor(activeEditor)) {
      return { error: 'Open a .vgpu program to debug it, or add a "vgpu" configuration to launch.json.' };
    }
    c = { ...initialConfiguration(), program: activeEditor.fileName };
  }
  if (!c.program) {
    if (!isVgpuEditor(activeEditor))
      return { error: 'The launch configuration has no "program": set it to a .vgpu file.' };
    c = { ...c, program: activeEditor.fileName };
  }
  return { config: c };
}
