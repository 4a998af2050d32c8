// The debug adapter's public surface: the session class (inline, stdio or TCP) and the protocol types.

export { VgpuDebugSession } from './session';
export * from './protocol';
