// The Capability Registers view: physical, exposed and hidden-by-version values of every capability
// register field, from `vgpu/caps`, reloaded on every stop (a migration can change the host).

import { capsNodes } from './capsNodes';
import type { VgpuSessions } from './sessions';
import { StopRefreshedView } from './stopView';

export class CapabilityRegistersView extends StopRefreshedView {
  constructor(sessions: VgpuSessions) {
    super('vgpu.capabilityRegisters', sessions, async () => capsNodes(await sessions.request('vgpu/caps', {})));
  }
}
