// VM transfer between hosts (SPEC section 9): live pre-copy migration over TCP in the checkpoint's
// state format. The pieces live in migration/; this is what the CLI, the adapter and tests import.

export { migrateVm, migrationSummary, DirtyLog } from './migration/source';
export type {
  MigrateOptions,
  MigrationOutcome,
  MigrationProgress,
  MigrationStatus,
  MigrationTarget,
} from './migration/source';
export { VmHost, isLoopback } from './migration/target';
export type { HostEvents, HostOptions, TransferInfo } from './migration/target';
export { RemoteVm, RemoteError } from './migration/remote';
export { Lockstep, LockstepError, migrateInLockstep, rebuildFor } from './migration/lockstep';
export type { LockstepMove } from './migration/lockstep';
export type { RemoteApi, RemoteCapsView, RemoteMethod, RemoteSnapshotInfo, RemoteState } from './migration/remote';
export { ChannelClosed } from './migration/channel';
export { MIG, PROTOCOL, parseHostPort, versionRefusal } from './migration/stream';
