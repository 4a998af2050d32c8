// The machine's API: the one module adapter/ and extension/ import (test/unit/layering.test.ts checks it).
// Everything the debugger and the editor use of the emulator is named here, so the emulator's internals
// can change behind it; a name is added here when a front end needs it, not before.

export { formatDiagnostics } from './cli/diagnostics';
export { assembleSource, directiveUsage } from './assembler';
export { FEATURES } from './capabilities';
export { CaptureError } from './capture';
export {
  CmdField,
  commandByMnemonic,
  CommandDef,
  commandIndex,
  commandLength,
  COMMANDS,
  commandsOf,
  decodeCommand,
  DecodedCommand,
  DEFAULT_GEN,
  fieldByName,
  fieldPlacement,
  type Gen,
  GENS,
  groupKey,
  opcapRows,
  snakeName,
  STREAMER_REGISTERS,
  writeRanges,
  type WriteSpec,
} from './commands';
export { disassembleOne } from './disassembler';
export { type Engine, type PipelineEntry, STEP_COMMAND, STEP_POLL } from './engine';
export { EPT_BITS, EPT_VIEW_FULL, EPT_VIEW_NAMES, eptFlags, LEVEL_NAMES, type WalkStep } from './ept';
export { AubFormatError } from './formats/aub';
export { DumpFormatError } from './formats/dump';
export { MAX_RANGES_PER_PAGE, snapshotDiffSteps, type SnapshotDiff, surfaceAt } from './history';
export { AssemblyError, Diagnostic, type DriverOp, formatDiagnostic, type ProgramImage, type SourceLoc } from './image';
export {
  type Arg,
  ARITHMETIC_LEVELS,
  DATA_KEYWORDS,
  Dialect,
  type Grammar,
  type GrammarExpr,
  parseExpressionTokens,
  parseLine,
  parseNumber,
  splitLines,
  type Token,
  tokenizeLine,
  UNARY_OPERATORS,
} from './lexer';
export { entryAddress, PAGE_SIZE } from './memory';
export {
  ChannelClosed,
  type Lockstep,
  LockstepError,
  migrateInLockstep,
  MigrationOutcome,
  migrationSummary,
  parseHostPort,
  rebuildFor,
  RemoteError,
} from './migration';
export { OutputFileError, writeOutputFile } from './outputfile';
export {
  ACCESS_READ,
  ACCESS_WRITE,
  FaultInfo,
  GGTT_PTE_PRESENT,
  PagingContext,
  PTE_BITS,
  pteFlags,
  walk,
  walkGgtt,
  WalkOut,
} from './paging';
export { surfacePng } from './png';
export { CaptureReport, errorStateText, isHangDumpFile, openHangDump, parseHangDump } from './postmortem';
export {
  assembleProgram,
  isCaptureFile,
  loadCaptureVm,
  LoadOptions,
  loadVm,
  ProgramFileError,
  readProgram,
} from './program';
export {
  type Access,
  addressRegister,
  CAP_BASE,
  CAP_REG_DEFS,
  DEVICE_REG_DEFS,
  ENGINE_BASE,
  ENGINE_REGS,
  EngineName,
  ENGINES,
  FAULT_KINDS,
  FieldDef,
  GENXML_REG_DEFS,
  GpuErrorKind,
  regAt,
  regByName,
  RegDef,
  regDisplayName,
  regField,
  RegInstance,
  registerAddress,
  REGISTERS,
} from './registers';
export { BackwardSearch, type EpochFilter, rewindFor, searchBackward } from './reverse';
export { type Snapshot, snapshotBytes, type SnapshotSummary, summarize } from './snapshots';
export { describeStateSurface, readStateSurface, stateSurfaces } from './surfaces';
export { capName, type CapsView, capsView, walkPciCaps, walkPciExtCaps } from './vdev';
export {
  ConfigError,
  GpuError,
  NOT_CAPTURED,
  RAM_HPA,
  STEP_DONE,
  STEP_DRIVER,
  STEP_ERROR,
  STEP_STUCK,
  Vm,
  VM_DEFAULTS,
  VM_MINIMUMS,
  VmEdit,
  VmOptions,
} from './vm';
export { translationLines, type WalkStepJson, walkStepJson, walkStepLines } from './walkformat';
