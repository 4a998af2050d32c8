// The Pipeline State view: the state each engine holds now, from `vgpu/pipelineState`, reloaded on every stop.

import { ENGINES } from '../emulator';
import { pipelineNodes } from './pipelineNodes';
import type { VgpuSessions } from './sessions';
import { StopRefreshedView } from './stopView';

export class PipelineStateView extends StopRefreshedView {
  constructor(sessions: VgpuSessions) {
    super('vgpu.pipelineState', sessions, async () =>
      pipelineNodes(await Promise.all(ENGINES.map((engine) => sessions.request('vgpu/pipelineState', { engine })))),
    );
  }
}
