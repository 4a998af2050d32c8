// The Capability Registers view's model: every capability register with its physical and exposed
// value, each field showing what the host has, what the VM sees, and whether the version hides it.

import type { CapsView, CustomBody } from '../adapter/protocol';
import { hex, type TreeNode } from './treeNode';

type Caps = CustomBody<'vgpu/caps'>;

/** A field the version clears (a feature the VM does not get) versus one it lowers (a limit, a version number). */
function fieldState(f: Caps['fields'][number]): 'hidden' | 'lowered' | 'same' {
  if (f.physical === f.exposed && !f.hidden) return 'same';
  return f.exposed === 0 ? 'hidden' : 'lowered';
}

function fieldNode(f: Caps['fields'][number], version: number): TreeNode {
  const state = fieldState(f);
  const note =
    state === 'hidden'
      ? ` · hidden by version ${version}`
      : state === 'lowered'
        ? ` · lowered for version ${version}`
        : '';
  return {
    label: `${f.field} [${f.bits}]`,
    description: `physical ${hex(f.physical)} · exposed ${hex(f.exposed)}${note}`,
    tooltip:
      `${f.register}.${f.field}, bits ${f.bits}\nphysical (host): ${hex(f.physical)}\nexposed (VM): ${hex(f.exposed)}` +
      (state === 'hidden'
        ? `\nHidden: device version ${version} does not have it.`
        : state === 'lowered'
          ? `\nLowered to what device version ${version} offers.`
          : ''),
    icon: state === 'hidden' ? 'eye-closed' : state === 'lowered' ? 'diff-modified' : 'eye',
    iconColor: state === 'hidden' ? 'disabledForeground' : undefined,
    contextValue: `capField.${state}`,
  };
}

function pciNodes(
  kind: string,
  physical: CapsView['pci']['capabilities'],
  exposed: CapsView['pci']['capabilities'],
): TreeNode {
  const shown = new Set(exposed.map((c) => `${c.id}@${c.offset}`));
  const children: TreeNode[] = physical.map((c) => {
    const kept = shown.has(`${c.id}@${c.offset}`);
    return {
      label: `ID ${hex(c.id)} at ${hex(c.offset)}`,
      description: kept ? 'physical · exposed' : 'physical · hidden',
      icon: kept ? 'eye' : 'eye-closed',
    };
  });
  for (const c of exposed) {
    if (!physical.some((p) => p.id === c.id && p.offset === c.offset)) {
      children.push({ label: `ID ${hex(c.id)} at ${hex(c.offset)}`, description: 'exposed only', icon: 'diff-added' });
    }
  }
  return {
    label: kind,
    description: `${exposed.length} of ${physical.length} exposed`,
    icon: 'list-tree',
    children,
    id: `pci-${kind}`,
  };
}

export function capsNodes(caps: Caps): TreeNode[] {
  // `host` (where the VM runs, e.g. after Migrate VM...) is optional in the reply.
  const host = (caps as { host?: string }).host;
  const header: TreeNode = {
    label: `Host generation ${caps.hostGen}`,
    description: `device version ${caps.deviceVersion} exposed to the VM${host ? ` · ${host}` : ''}`,
    icon: 'chip',
    id: 'caps-header',
  };
  const names = [...new Set([...Object.keys(caps.physical.registers), ...caps.fields.map((f) => f.register)])];
  const registers = names.map((name): TreeNode => {
    const fields = caps.fields.filter((f) => f.register === name);
    const phys = caps.physical.registers[name] ?? '-';
    const exp = caps.exposed.registers[name] ?? '-';
    const hidden = fields.filter((f) => fieldState(f) === 'hidden').length;
    return {
      label: name,
      description: `physical ${phys} · exposed ${exp}${hidden ? ` · ${hidden} hidden` : ''}`,
      tooltip: `${name}\nphysical: ${phys}\nexposed: ${exp}`,
      icon: phys === exp ? 'symbol-variable' : 'diff-modified',
      children: fields.map((f) => fieldNode(f, caps.deviceVersion)),
      expanded: phys !== exp,
      id: `cap-${name}`,
    };
  });
  return [
    header,
    ...registers,
    pciNodes('PCI capabilities', caps.physical.pci.capabilities, caps.exposed.pci.capabilities),
    pciNodes('PCIe extended capabilities', caps.physical.pci.extended, caps.exposed.pci.extended),
  ];
}
