// The vgpu debug session: translates DAP requests into emulator calls and emulator outcomes into DAP
// events. One class serves inline (extension host), stdio (`node dist/adapter.js`) and TCP
// (`--server=PORT`). Every request gets exactly one response; a malformed one gets an error response.

import {
  CAP_REG_DEFS,
  capsView,
  describeStateSurface,
  EngineName,
  ENGINES,
  EPT_VIEW_NAMES,
  errorStateText,
  formatDiagnostics,
  isCaptureFile,
  migrationSummary,
  OutputFileError,
  parseHostPort,
  readStateSurface,
  regField,
  stateSurfaces,
  surfaceAt,
  walkStepJson,
  walkStepLines,
  writeOutputFile,
  type Vm,
} from '../emulator';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duplex, PassThrough, Writable } from 'node:stream';
import {
  ContinuedEvent,
  DebugSession,
  InitializedEvent,
  InvalidatedEvent,
  MemoryEvent,
  OutputEvent,
  ProgressEndEvent,
  ProgressStartEvent,
  ProgressUpdateEvent,
  Response,
  StoppedEvent,
  TerminatedEvent,
  ExitedEvent,
  BreakpointEvent,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { Breakpoints, EXCEPTION_FILTERS, NOT_EMULATED_FILTER, dataIdOfMemory, dataIdOfRegister } from './breakpoints';
import { Disassembly } from './disassembly';
import { ConsoleError, ConsoleHost, completions, evaluateRequest } from './evaluate';
import { assign } from './assign';
import { Execution, Granularity, MotionError, OutputFlow, Stop, StepKind } from './execution';
import { ExpressionError, evaluateText, isName, resolveName } from './expression';
import { Comparison, diffSteps, snapshotIndex, snapshotInfo, snapshotWindow } from './history';
import {
  CUSTOM_REQUEST_ARGS,
  LAUNCH_ATTRIBUTES,
  LaunchArguments,
  CustomArgs,
  CustomBody,
  CustomRequestName,
  WalkStepInfo,
  checkArguments,
} from './protocol';
import {
  Assembled,
  HangStop,
  LaunchError,
  Launched,
  buildLaunch,
  isProgramFile,
  launchFailure,
  loadOptions,
  openCapture,
  programPath,
  validateLaunch,
} from './launch';
import { AssemblyCancelled, assembleOffThread } from './assemble';
import { LISTING_REFERENCE, Listing, ListingCancelled, buildListingInSlices, listingOf } from './listing';
import { MAX_TRANSFER, parseRef, readBytes, spaceLimit, writeBytes, formatRef } from './memory';
import { pipelineState } from './pipeline';
import { scopesOf } from './scopes';
import {
  DRIVER_THREAD,
  Frame,
  THREADS,
  engineOfThread,
  framesOf,
  isThread,
  parseFrameId,
  threadOfEngine,
} from './stack';
import { Format, SetError, VariableStore } from './variables';
import { type Move, Relocation } from './relocation';
import { Operation, ProgressSink } from './progress';
import { FrameReader, MAX_NESTING, ProtocolError, nestsDeeperThan, quote } from './framing';

/** Program files from this size on show progress while they load (about 0.3 s of assembly here; 4 MiB, the limit, 2.3 s). */
const LARGE_PROGRAM_BYTES = 512 * 1024;
/** Capture files from this size on (gzipped or not) load with progress, their listing built in slices. */
const LARGE_CAPTURE_BYTES = 256 * 1024;

/** Comparisons kept for paging (each a few bytes per changed page). */
const KEPT_COMPARISONS = 4;

/** Unsent bytes to a peer past which its requests wait (a 1 MiB readMemory answer is 1.4 MB). */
const MAX_BACKLOG = 16 * 1024 * 1024;

/**
 * Unsent output past which a motion waits for the client to read (logpoints hit at every step): events
 * are never dropped, so the motion is what pauses.
 */
const MAX_OUTPUT_BACKLOG = 1024 * 1024;

/** Error messages are cut to this many characters (they may quote a request's arguments). */
const MAX_MESSAGE = 2000;

/** An error the user should read as is (bad arguments, wrong state). */
class UserError extends Error {}

/** The request was cancelled (DAP: its response fails with the message 'cancelled'). */
class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/** A handler's result: the response body, and work to do once the response is sent. */
class Reply {
  constructor(
    readonly body: unknown,
    readonly after?: () => void,
  ) {}
}

type Handler = (args: Record<string, unknown>, request: DebugProtocol.Request) => unknown;

export class VgpuDebugSession extends DebugSession {
  private vm: Vm | undefined;
  private launchArgs: LaunchArguments | undefined;
  private exec: Execution | undefined;
  private store: VariableStore | undefined;
  private disasm: Disassembly | undefined;
  private readonly bps = new Breakpoints((text) => this.output(text));
  private configured = false;
  /** A launch is loading its program. */
  private launching = false;
  private started = false;
  private ended = false;
  /** `disconnect` was received: every later request is refused (the session is over). */
  private disconnected = false;
  /** Requests whose handler answers later (a promise): answered at the end if they are still waiting. */
  private readonly waiting = new Set<DebugProtocol.Response>();
  /** Responses sent: a request is answered once, even when its handler finishes after the session ended. */
  private readonly answered = new WeakSet<DebugProtocol.Response>();
  private finished = false;
  /** Compare Snapshots under way: they read the kept snapshots, which must not change. */
  private comparing = 0;
  /** Where the VM runs: here, or on another host after a move, `vm` being its replica (relocation.ts). */
  private readonly relocation = new Relocation({
    output: (text, category) => this.output(text, category),
    adopt: (vm) => this.adopt(vm),
    invalidated: () => this.invalidated(['all']),
  });
  /** Counts launches and restarts: a stop found before one is not shown after it. */
  private loads = 0;
  private readonly handlers: Record<string, Handler>;
  /** What the client said it understands (initialize): optional events go only to clients that accept them. */
  private client: DebugProtocol.InitializeRequestArguments = { adapterID: '' };
  /** The stop the client was last told of: repeated to make a client without `invalidated` refetch its views. */
  private lastStop: Stop | undefined;
  /** Comparisons of snapshots the client may still page through (vgpu/diff's token), newest last. */
  private readonly comparisons = new Map<string, Comparison>();
  private nextComparison = 1;
  /** Long operations under way, which `cancel` may name by progress id or request. */
  private readonly ops = new Set<Operation>();
  /** A hang dump's session: its first stop (the hung command), which exceptionInfo describes. */
  private hang: HangStop | undefined;

  constructor() {
    super();
    this.bps.sourceOf = (file) => this.source(file);
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
    this.handlers = {
      launch: (a, r) => this.launch(a, r),
      attach: () => {
        throw new UserError('attach is not supported: launch a .vgpu program');
      },
      restart: (a) => this.restart(a),
      configurationDone: () => this.configurationDone(),
      disconnect: () => this.disconnect(),
      terminate: () => this.terminate(),
      threads: () => ({ threads: THREADS.map((t) => ({ ...t })) }),
      stackTrace: (a) => this.stackTrace(a),
      scopes: (a) => this.scopes(a),
      variables: (a) => this.variables(a),
      setVariable: (a) => this.setVariable(a),
      setExpression: (a) => this.setExpression(a),
      evaluate: (a, r) => this.evaluate(a, r),
      completions: (a) => this.completions(a),
      continue: (a, r) => this.motion(a, 'continue', r),
      next: (a, r) => this.motion(a, 'over', r),
      stepIn: (a, r) => this.motion(a, 'in', r),
      stepOut: (a, r) => this.motion(a, 'out', r),
      stepBack: (a, r) => this.reverse(a, 'step', r),
      gotoTargets: (a) => this.gotoTargets(a),
      goto: (a, r) => this.goto(a, r),
      reverseContinue: (a, r) => this.reverse(a, 'continue', r),
      pause: (a) => this.pause(a),
      setBreakpoints: (a) => this.setBreakpoints(a),
      setFunctionBreakpoints: (a) => ({
        breakpoints: this.bps.setFunctions(
          objects<DebugProtocol.FunctionBreakpoint>(a.breakpoints, 'breakpoints'),
          this.vm,
        ),
      }),
      setInstructionBreakpoints: (a) => ({
        breakpoints: this.bps.setInstructions(
          objects<DebugProtocol.InstructionBreakpoint>(a.breakpoints, 'breakpoints'),
          this.vm,
        ),
      }),
      setExceptionBreakpoints: (a) => this.setExceptionBreakpoints(a),
      dataBreakpointInfo: (a) => this.dataBreakpointInfo(a),
      setDataBreakpoints: (a) => ({
        breakpoints: this.bps.setData(objects<DebugProtocol.DataBreakpoint>(a.breakpoints, 'breakpoints'), this.vm),
      }),
      breakpointLocations: (a) => this.breakpointLocations(a),
      exceptionInfo: (a) => this.exceptionInfo(a),
      readMemory: (a) => this.readMemory(a),
      writeMemory: (a) => this.writeMemory(a),
      disassemble: (a) => this.disassemble(a),
      loadedSources: () => ({ sources: this.vm ? [this.source(this.listing()?.file ?? this.vm.image.file)] : [] }),
      source: (a) => this.sourceContent(a),
      cancel: (a) => this.cancel(a),
      'vgpu/snapshots': (a) => this.customSnapshots(a),
      'vgpu/snapshot': () => this.customSnapshot(),
      'vgpu/rollback': (a) => this.customRollback(a),
      'vgpu/diff': (a, r) => this.customDiff(a, r),
      'vgpu/surface': (a) => this.customSurface(a),
      'vgpu/caps': () => this.customCaps(),
      'vgpu/translate': (a) => this.customTranslate(a),
      'vgpu/pipelineState': (a) => this.customPipelineState(a),
      'vgpu/errorState': (a) => this.customErrorState(a),
      'vgpu/migrate': (a, r) => this.customMigrate(a, r),
      'vgpu/stepBackInto': (a, r) => this.reverse(a, 'into', r),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // The wire (stdio, TCP): frames read with limits (framing.ts); garbage closes the connection, saying why.

  /** The connection broke the protocol: nothing more is read from it. */
  private wireBroken = false;
  private closeWire: (() => void) | undefined;
  /** The client's reading, as motions see it (execution.ts OutputFlow). */
  private outputFlow: OutputFlow | undefined;

  override start(inStream: NodeJS.ReadableStream, outStream: NodeJS.WritableStream): void {
    // The library reads `inStream` itself, without limits: it gets a stream that stays silent and
    // closes (or fails) when the real one does; frames come through the FrameReader.
    const quiet = new PassThrough();
    super.start(quiet, outStream);
    // A peer that sends requests but does not read the answers would have them pile up here: past
    // MAX_BACKLOG unsent bytes, requests wait (in the socket, then in the peer) until the backlog drains.
    const out = outStream as Writable;
    // Output events (logpoints during a long continue) are bounded the other way: the motion waits.
    let drained: Promise<void> | undefined;
    this.outputFlow = {
      over: () => out.writableLength > MAX_OUTPUT_BACKLOG && !out.destroyed,
      drained: () =>
        (drained ??= new Promise<void>((resolve) => {
          const done = () => {
            out.off('drain', done);
            out.off('close', done);
            out.off('error', done);
            drained = undefined;
            resolve();
          };
          out.on('drain', done);
          out.on('close', done);
          out.on('error', done);
        })),
    };
    let waiting = false;
    const throttle = () => {
      if (waiting || !(out.writableLength > MAX_BACKLOG)) return;
      waiting = true;
      reader.hold();
      inStream.pause();
      out.once('drain', () => {
        waiting = false;
        inStream.resume();
        reader.release();
      });
    };
    const reader = new FrameReader(
      (m) => {
        this.handleMessage(m);
        throttle();
      },
      (e) => this.protocolError(e),
    );
    inStream.on('data', (d: Buffer | string) => reader.push(typeof d === 'string' ? Buffer.from(d) : d));
    inStream.on('close', () => quiet.destroy());
    inStream.on('end', () => quiet.destroy());
    inStream.on('error', (e: Error) => quiet.destroy(e));
    this.closeWire = () => {
      reader.stop();
      if (!this._isServer) {
        quiet.destroy(); // the library's shutdown: the process ends (exit status 1, see shutdown)
        return;
      }
      const socket = inStream as unknown as Duplex;
      const gone = () => socket.destroy();
      // A peer that does not read keeps the farewell from flushing: it is cut off anyway.
      setTimeout(gone, 2000).unref();
      outStream.end(gone);
    };
  }

  private protocolError(e: ProtocolError): void {
    if (this.wireBroken) return;
    this.wireBroken = true;
    this.exec?.cancel();
    const line = `vgpu debug adapter: protocol error at ${e.message}; closing the connection`;
    this.output(`${line}\n`, 'stderr');
    process.stderr.write(`${line}\n`);
    this.closeWire?.();
  }

  override shutdown(): void {
    // The process is about to end (stdio): requests still waiting for their handlers are answered now.
    if (!this._isServer) {
      for (const r of this.waiting) this.fail(r, `${clip(r.command)}: the debug session has ended`);
      this.waiting.clear();
    }
    if (this.wireBroken && !this._isServer && !this._isRunningInline()) {
      setTimeout(() => process.exit(1), 100);
      return;
    }
    super.shutdown();
  }

  // ---------------------------------------------------------------------------------------------
  // Dispatch: one response per request, errors as error responses, never an exception out of here.

  protected override dispatchRequest(request: DebugProtocol.Request): void {
    const response = new Response(request);
    try {
      this.dispatch(request, response);
    } catch (e) {
      // Nothing a request carries may end the session: an exception past the handlers (a response that
      // cannot be encoded, say) still gets its request an answer, if none went out.
      if (response.seq === 0) this.failWith(response, e);
      else
        this.output(
          `vgpu debug adapter: internal error after answering ${clip(String(request.command))}: ${(e as Error)?.message ?? String(e)}\n`,
          'stderr',
        );
    }
  }

  private dispatch(request: DebugProtocol.Request, response: DebugProtocol.Response): void {
    if (typeof request.command !== 'string') {
      this.fail(
        response,
        `request ${request.seq}: command must be a string (got ${request.command === null ? 'null' : typeof request.command})`,
      );
      return;
    }
    // Lua's JSON encoders (nvim-dap's `session:request(cmd, {})`) cannot tell an empty object from an
    // empty array, and some clients send null: both mean no arguments.
    const given = request.arguments as unknown;
    const raw = given === null || (Array.isArray(given) && given.length === 0) ? undefined : given;
    if (raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
      this.fail(response, `${clip(request.command)}: arguments must be an object`);
      return;
    }
    if (nestsDeeperThan(raw, MAX_NESTING)) {
      this.fail(response, `${clip(request.command)}: arguments nest deeper than ${MAX_NESTING} levels`);
      return;
    }
    if (this.disconnected) {
      // Requests that reach the adapter after disconnect (in the same chunk, or before the process exits).
      this.fail(response, `${clip(request.command)}: the debug session has ended (disconnect)`);
      return;
    }
    if (request.command === 'initialize') {
      // pathFormat is optional and defaults to 'path' (DAP specification); the base class wants it spelt out.
      const args = (raw ?? {}) as DebugProtocol.InitializeRequestArguments;
      if (args.pathFormat !== undefined && args.pathFormat !== 'path') {
        this.fail(response, `initialize: pathFormat ${quote(String(args.pathFormat))} is not supported (only 'path')`);
        return;
      }
      super.dispatchRequest({ ...request, arguments: { ...args, pathFormat: 'path' } });
      return;
    }
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, request.command)
      ? this.handlers[request.command]
      : undefined;
    if (!handler) {
      this.fail(response, `unrecognized request '${clip(request.command)}'`);
      return;
    }
    // A custom request's arguments are checked against their declaration before its handler runs.
    const declared = Object.prototype.hasOwnProperty.call(CUSTOM_REQUEST_ARGS, request.command)
      ? CUSTOM_REQUEST_ARGS[request.command as CustomRequestName]
      : undefined;
    const problems = declared ? checkArguments(request.command, (raw ?? {}) as Record<string, unknown>, declared) : [];
    if (problems.length) {
      this.fail(response, problems.join('\n'));
      return;
    }
    let result: unknown;
    try {
      result = handler((raw ?? {}) as Record<string, unknown>, request);
    } catch (e) {
      this.failWith(response, e);
      return;
    }
    if (result instanceof Promise) {
      this.waiting.add(response);
      result
        .then(
          (r) => this.succeed(response, r),
          (e) => this.failWith(response, e),
        )
        .catch((e) => this.unanswerable(response, e))
        .finally(() => this.waiting.delete(response));
    } else this.succeed(response, result);
  }

  /** A response that failed to go out (its body cannot be encoded): an error response in its place. */
  private unanswerable(response: DebugProtocol.Response, e: unknown): void {
    if (response.seq !== 0) return;
    try {
      this.fail(response, `internal error: ${(e as Error)?.message ?? String(e)}`);
    } catch {
      // the connection itself is gone
    }
  }

  private succeed(response: DebugProtocol.Response, result: unknown): void {
    if (this.answered.has(response)) return;
    const reply = result instanceof Reply ? result : new Reply(result);
    if (reply.body !== undefined) response.body = reply.body;
    this.respond(response);
    if (reply.after) {
      try {
        reply.after();
      } catch (e) {
        this.output(`vgpu debug adapter: ${(e as Error).message}\n`, 'stderr');
      }
    }
  }

  private failWith(response: DebugProtocol.Response, e: unknown): void {
    const known =
      e instanceof UserError ||
      e instanceof Cancelled ||
      e instanceof MotionError ||
      e instanceof LaunchError ||
      e instanceof ConsoleError ||
      e instanceof ExpressionError ||
      e instanceof SetError;
    this.fail(response, known ? (e as Error).message : `internal error: ${(e as Error)?.message ?? String(e)}`);
  }

  private fail(response: DebugProtocol.Response, message: string): void {
    if (this.answered.has(response)) return;
    // Messages may quote what a request carried: a few lines at most, whatever it carried.
    const text =
      message.length > MAX_MESSAGE
        ? `${message.slice(0, MAX_MESSAGE)}... (${message.length - MAX_MESSAGE} more characters)`
        : message;
    response.success = false;
    response.message = text;
    response.body = { error: { id: 1, format: text.replace(/[{}]/g, ''), showUser: true } };
    this.respond(response);
  }

  /** Sends a response; one whose body cannot be encoded goes out as an error response instead. */
  private respond(response: DebugProtocol.Response): void {
    if (this.answered.has(response)) return;
    this.answered.add(response);
    try {
      this.sendResponse(response);
    } catch (e) {
      // The library numbers a message before it encodes it: unnumber it to send the error in its place.
      response.seq = 0;
      response.success = false;
      response.message = `internal error: the answer could not be encoded (${(e as Error)?.message ?? String(e)})`;
      response.body = { error: { id: 1, format: response.message, showUser: true } };
      this.sendResponse(response);
    }
  }

  protected override initializeRequest(
    response: DebugProtocol.InitializeResponse,
    args: DebugProtocol.InitializeRequestArguments,
  ): void {
    this.client = { ...args };
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsStepBack: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsFunctionBreakpoints: true,
      supportsDataBreakpoints: true,
      supportsInstructionBreakpoints: true,
      supportsExceptionInfoRequest: true,
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
      supportsSetVariable: true,
      supportsSetExpression: true,
      supportsEvaluateForHovers: true,
      supportsCompletionsRequest: true,
      completionTriggerCharacters: ['.'],
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: true,
      supportsDisassembleRequest: true,
      supportsSteppingGranularity: true,
      supportsRestartRequest: true,
      supportsTerminateRequest: true,
      supportsLoadedSourcesRequest: true,
      supportsValueFormattingOptions: true,
      supportsBreakpointLocationsRequest: true,
      supportsGotoTargetsRequest: true,
      supportsCancelRequest: true,
      supportsDelayedStackTraceLoading: false,
    };
    this.respond(response);
  }

  // ---------------------------------------------------------------------------------------------
  // Life cycle.

  private async launch(a: Record<string, unknown>, request: DebugProtocol.Request): Promise<Reply> {
    if (this.vm || this.launching) throw new UserError('already launched: use restart to load the program again');
    const args = validateLaunch(a);
    // A large program takes seconds to assemble: progress shows before it starts, and the assembly runs
    // in a worker thread (adapter/assemble.ts), so that a `cancel` stops it and the launch fails, cancelled.
    let size = 0;
    const file = programPath(args);
    try {
      size = fs.statSync(file).size;
    } catch {
      // buildVm says what is wrong with the file
    }
    // A capture's listing is a dry run of the whole capture: built in slices, it shows progress once it
    // runs long (at once for a large file) and can be cancelled.
    const capture = isCaptureFile(file);
    const large = size >= LARGE_PROGRAM_BYTES && isProgramFile(file);
    const op = large || capture ? this.operation(`Loading ${path.basename(args.program)}`, request, true) : undefined;
    this.launching = true;
    let outcome = 'failed';
    try {
      let pre: Assembled | Launched | undefined;
      if (op && capture) {
        // A large capture: parsed at once, then its listing's dry run in slices (progress, cancel).
        if (size >= LARGE_CAPTURE_BYTES) {
          op.showNow(`reading ${Math.round(size / 1024)} KiB`);
          await new Promise((resolve) => setImmediate(resolve));
        }
        const opened = openCapture(args)!;
        try {
          const listing = await buildListingInSlices(opened.vm, loadOptions(args), opened.header, (steps) =>
            op.yield(`listing: ${steps} steps run`),
          );
          pre = { vm: opened.vm, listing };
        } catch (e) {
          if (e instanceof ListingCancelled) {
            outcome = 'cancelled';
            throw new UserError('cancelled');
          }
          throw e;
        }
      } else if (op) {
        op.showNow(`assembling ${Math.round(size / 1024)} KiB`);
        try {
          pre = await assembleOffThread(file, loadOptions(args), () => op.cancelled);
        } catch (e) {
          if (e instanceof AssemblyCancelled) {
            outcome = 'cancelled';
            throw new UserError('cancelled');
          }
          const failure = launchFailure(e, file);
          if (failure instanceof LaunchError) this.reportDiagnostics(failure);
          throw failure;
        }
      }
      this.load(args, pre);
      outcome = 'loaded';
    } finally {
      this.launching = false;
      if (op) this.finishOperation(op, outcome);
    }
    return new Reply(undefined, () => this.sendEvent(new InitializedEvent()));
  }

  private load(args: LaunchArguments, pre?: Assembled | Launched): void {
    let vm: Vm;
    try {
      const launched = pre && 'vm' in pre ? pre : buildLaunch(args, pre);
      vm = launched.vm;
      this.hang = launched.hang;
    } catch (e) {
      if (e instanceof LaunchError) this.reportDiagnostics(e);
      throw e;
    }
    this.relocation.restart();
    this.launchArgs = args;
    this.loads++;
    this.adopt(vm);
    this.finished = false;
    this.ended = false;
  }

  /** Makes `vm` the session's VM (a launch, a replica after a move, the VM back home). */
  private adopt(vm: Vm): void {
    vm.on('output', (text) => this.output(text));
    // After a move the VM runs elsewhere too: an edit of the replica is repeated there (relocation.ts).
    vm.on('edit', (e) => {
      if (this.vm === vm) this.relocation.edit(e);
    });
    this.exec?.cancel();
    if (this.vm !== vm) this.comparisons.clear();
    this.vm = vm;
    this.exec = new Execution(
      vm,
      this.bps,
      (t) => this.output(t),
      () => this.invalidated(['variables', 'stacks'], false),
      (e, step) => this.relocation.recovered(e, step),
      this.outputFlow,
    );
    this.store = new VariableStore(vm);
    this.disasm = new Disassembly(vm, (file) => this.source(file));
    for (const bp of this.bps.index(vm)) this.sendEvent(new BreakpointEvent('changed', bp as never));
  }

  /** The program's diagnostics as `vgpu run` prints them: at most 50, each source line cut around its caret. */
  private reportDiagnostics(e: LaunchError): void {
    if (!e.diagnostics.length || e.source === undefined) return;
    this.output(formatDiagnostics(e.diagnostics, e.source, '  '), 'stderr');
  }

  private configurationDone(): Reply {
    this.configured = true;
    return new Reply(undefined, () => this.begin());
  }

  private begin(): void {
    if (!this.vm || !this.configured || this.started) return;
    this.started = true;
    const stopOnEntry = this.launchArgs?.stopOnEntry ?? LAUNCH_ATTRIBUTES.stopOnEntry.default;
    // A hang dump opens where the GPU hung (or where its replay went another way), whatever stopOnEntry says.
    const hang = this.hang;
    if (hang)
      this.stopped({
        reason: 'exception',
        threadId: threadOfEngine(hang.engine),
        description: hang.description,
        text: hang.text,
      });
    else if (stopOnEntry) this.stopped({ reason: 'entry', threadId: DRIVER_THREAD, description: 'Paused on entry' });
    else this.run(DRIVER_THREAD, 'continue');
  }

  private restart(a: Record<string, unknown>): Reply {
    const args = validateLaunch(a.arguments ?? this.launchArgs ?? {});
    this.load(args);
    this.started = false;
    // The client did not ask for the stop that follows (on entry, or wherever the run ends): announce the
    // VM moves first, or a client following another thread resumes it (nvim-dap's auto-continue).
    return new Reply(undefined, () => {
      this.continued();
      this.invalidated(['all'], false);
      this.begin();
    });
  }

  private disconnect(): Reply {
    this.exec?.cancel();
    this.ended = true;
    this.disconnected = true;
    const close = this.relocation.release();
    return new Reply(undefined, () => {
      if (close) void close().then(() => this.shutdown());
      else this.shutdown();
    });
  }

  override dispose(): void {
    // The connection is gone (a TCP client hung up): a motion under way stops with it.
    this.exec?.cancel();
    void this.relocation.release()?.();
    super.dispose();
  }

  private terminate(): Reply {
    this.exec?.cancel();
    return new Reply(undefined, () => this.end());
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    const vm = this.vm;
    const done = () => {
      if (vm) this.sendEvent(new ExitedEvent(vm.errors.some((e) => !e.rolledBack) ? 1 : 0));
      this.sendEvent(new TerminatedEvent());
    };
    const leaving = this.relocation.leave();
    if (leaving) void leaving.then(done);
    else done();
  }

  // ---------------------------------------------------------------------------------------------
  // State guards.

  private requireVm(): Vm {
    if (!this.vm) throw new UserError('no program is running: launch one first');
    return this.vm;
  }

  /** Inspection and edits need a VM standing still. */
  private stoppedVm(): Vm {
    const vm = this.requireVm();
    if (this.exec?.running) throw new UserError('the VM is running: pause it first');
    if (this.relocation.moving) throw new UserError('the VM is being moved to another host');
    if (this.comparing > 0) throw new UserError('Compare Snapshots is under way: wait for it or cancel it');
    const away = this.relocation.catchingUp;
    if (away !== undefined) throw new UserError(`the VM is running on ${away}: wait for it to stop`);
    return vm;
  }

  /** Where the VM runs now. */
  private hostText(): string {
    return this.relocation.where(this.vm);
  }

  /** After the replica moved, the VM on the other host repeats the motion before `then` shows the stop (relocation.ts). */
  private afterFollow(then: () => void): void {
    const loads = this.loads;
    this.relocation.follow(then, () => !this.ended && this.loads === loads);
  }

  private output(text: string, category: 'console' | 'stderr' | 'stdout' = 'console'): void {
    this.sendEvent(new OutputEvent(text, category));
  }

  /**
   * The VM moves though the client did not ask it to (a stop it did not request follows). The event names
   * the thread of the stop the client was last shown: some clients (Emacs dap-mode) read only `threadId`,
   * not `allThreadsContinued`, and keep showing that thread's stale frame unless it is the one named.
   */
  private continued(threadId = this.lastStop?.threadId ?? DRIVER_THREAD): void {
    // Every engine and the driver move together: a VM never runs one thread alone.
    this.sendEvent(new ContinuedEvent(threadId, true));
  }

  /**
   * Views show stale state. A client that accepts `invalidated` gets it; any other learns it from the
   * stop it was shown, told again (with `refetch`, unless a stop follows anyway), which makes it
   * refetch threads, stack and variables.
   */
  private invalidated(areas: DebugProtocol.InvalidatedAreas[], refetch = true): void {
    if (this.client.supportsInvalidatedEvent) {
      this.sendEvent(new InvalidatedEvent(areas));
      return;
    }
    const last = this.lastStop;
    if (!refetch || !last || this.exec?.running || this.ended) return;
    this.continued(last.threadId);
    this.stopped({
      reason: last.reason,
      threadId: last.threadId,
      description: last.description,
      text: 'Views refreshed: the VM state was changed',
      finished: last.finished,
    });
  }

  private stopped(s: Stop): void {
    this.lastStop = s;
    this.store?.clear();
    this.finished = !!s.finished;
    const ev = new StoppedEvent(s.reason, s.threadId) as DebugProtocol.StoppedEvent;
    ev.body.allThreadsStopped = true;
    if (s.description) ev.body.description = s.description;
    if (s.text) ev.body.text = s.text;
    if (s.hitBreakpointIds) ev.body.hitBreakpointIds = s.hitBreakpointIds;
    this.sendEvent(ev);
  }

  // ---------------------------------------------------------------------------------------------
  // Execution.

  private threadOf(a: Record<string, unknown>): number {
    if (!isThread(a.threadId))
      throw new UserError(
        `no thread ${JSON.stringify(a.threadId)} (threads: ${THREADS.map((t) => `${t.id} ${t.name}`).join(', ')})`,
      );
    return a.threadId;
  }

  private granularity(a: Record<string, unknown>): Granularity {
    return a.granularity === 'instruction' ? 'instruction' : 'line';
  }

  private motion(a: Record<string, unknown>, kind: 'continue' | StepKind, request: DebugProtocol.Request): Reply {
    const threadId = kind === 'continue' && a.threadId === undefined ? DRIVER_THREAD : this.threadOf(a);
    this.stoppedVm();
    if (this.ended) throw new UserError('the session has ended');
    if (!this.started) throw new UserError('the debuggee has not started: send configurationDone first');
    const vm = this.vm!;
    if (vm.pending && !(vm.cfg.autoRollback && vm.canRecover())) {
      throw new UserError(
        vm.cfg.autoRollback
          ? `the GPU error (${vm.pending.kind}) cannot be rolled back: no snapshot before its submission; step back or restart`
          : `the VM is stopped by a GPU error (${vm.pending.kind}) and autoRollback is off: step back, reverse-continue or roll back to a snapshot first`,
      );
    }
    const body = kind === 'continue' ? { allThreadsContinued: true } : undefined;
    if (this.finished && this.vm!.finished) return new Reply(body, () => this.end());
    return new Reply(body, () => this.run(threadId, kind, this.granularity(a), request));
  }

  private run(
    threadId: number,
    kind: 'continue' | StepKind,
    granularity: Granularity = 'line',
    request?: DebugProtocol.Request,
  ): void {
    this.store?.clear();
    const op = this.operation(kind === 'continue' ? 'Continue' : 'Step', request);
    this.stopWhenDone(threadId, this.exec!.forward(threadId, kind, granularity, undefined, op), op);
  }

  /** A motion running in slices: its stop (none when the session dropped the VM), or its failure as a pause. */
  private stopWhenDone(threadId: number, motion: Promise<Stop | null>, op: Operation): void {
    motion.then(
      (s) => {
        this.finishOperation(op, s?.description ?? 'done');
        if (s) this.afterFollow(() => this.stopped(s));
      },
      (e) => {
        this.finishOperation(op, 'failed');
        this.output(`${(e as Error).message}\n`, 'stderr');
        this.afterFollow(() => this.stopped({ reason: 'pause', threadId, description: (e as Error).message }));
      },
    );
  }

  /** A long operation: progress events when the client accepts them (after it has run a while), cancellable. */
  private operation(title: string, request?: DebugProtocol.Request, cancellable = true): Operation {
    const sink: ProgressSink | undefined = this.client.supportsProgressReporting
      ? {
          start: (id, t, requestId, message, percentage, cancellable) => {
            const ev = new ProgressStartEvent(id, t, message) as DebugProtocol.ProgressStartEvent;
            ev.body.cancellable = cancellable;
            if (requestId !== undefined) ev.body.requestId = requestId;
            if (percentage !== undefined) ev.body.percentage = percentage;
            this.sendEvent(ev);
          },
          update: (id, message, percentage) => {
            const ev = new ProgressUpdateEvent(id, message) as DebugProtocol.ProgressUpdateEvent;
            if (percentage !== undefined) ev.body.percentage = percentage;
            this.sendEvent(ev);
          },
          end: (id, message) => this.sendEvent(new ProgressEndEvent(id, message)),
        }
      : undefined;
    const op = new Operation(title, sink, request?.seq, cancellable);
    this.ops.add(op);
    return op;
  }

  private finishOperation(op: Operation, message: string): void {
    this.ops.delete(op);
    op.end(message);
  }

  /** `cancel` of a long operation, named by its progress id or by the request that started it. */
  private cancel(a: Record<string, unknown>): undefined {
    for (const op of this.ops) {
      if (
        (a.progressId !== undefined && a.progressId === op.progressId) ||
        (a.requestId !== undefined && a.requestId === op.requestId)
      )
        op.cancelled = true;
    }
    return undefined;
  }

  private reverse(
    a: Record<string, unknown>,
    kind: 'step' | 'into' | 'continue',
    request: DebugProtocol.Request,
  ): Reply {
    const threadId = kind === 'continue' && a.threadId === undefined ? DRIVER_THREAD : this.threadOf(a);
    this.stoppedVm();
    if (this.ended) throw new UserError('the session has ended');
    if (!this.started) throw new UserError('the debuggee has not started: send configurationDone first');
    const exec = this.exec!;
    const granularity = this.granularity(a);
    return new Reply(undefined, () => {
      if (kind === 'continue') {
        this.store?.clear();
        const op = this.operation('Reverse continue', request);
        this.stopWhenDone(threadId, exec.reverseContinue(threadId, op), op);
        return;
      }
      const s = exec.stepBack(threadId, granularity, kind === 'into');
      this.afterFollow(() => this.stopped(s));
    });
  }

  /**
   * Jump to Cursor, in time: two targets for a line that runs (a command or driver operation on it):
   * back to its latest earlier run, forward to its next. Target ids are line * 2 + (1 forward).
   */
  private gotoTargets(a: Record<string, unknown>): DebugProtocol.GotoTargetsResponse['body'] {
    const vm = this.stoppedVm();
    const src = a.source as DebugProtocol.Source | undefined;
    const key = this.sourceKey(src);
    if (key === undefined) throw new UserError('gotoTargets needs source.path');
    if (typeof a.line !== 'number' || !Number.isInteger(a.line))
      throw new UserError('gotoTargets needs a line (integer)');
    const line = this.convertClientLineToDebugger(a.line);
    if (!this.bps.isProgram(vm, key) || !this.bps.breakableLines(vm).includes(line)) return { targets: [] };
    const at = { line: a.line };
    return {
      targets: [
        { id: line * 2, label: `Back in time to the latest run of line ${line}`, ...at },
        { id: line * 2 + 1, label: `Forward in time to the next run of line ${line}`, ...at },
      ],
    };
  }

  private goto(a: Record<string, unknown>, request: DebugProtocol.Request): Reply {
    const threadId = this.threadOf(a);
    const vm = this.stoppedVm();
    if (this.ended) throw new UserError('the session has ended');
    if (!this.started) throw new UserError('the debuggee has not started: send configurationDone first');
    if (typeof a.targetId !== 'number' || !Number.isInteger(a.targetId) || a.targetId < 2)
      throw new UserError(`goto needs a targetId from gotoTargets, got ${JSON.stringify(a.targetId)}`);
    const line = Math.floor(a.targetId / 2);
    if (!this.bps.breakableLines(vm).includes(line))
      throw new UserError(`goto target ${a.targetId}: line ${line} runs nothing`);
    const direction = a.targetId % 2 === 1 ? 'forward' : 'back';
    if (direction === 'forward' && vm.pending && !(vm.cfg.autoRollback && vm.canRecover()))
      throw new UserError(
        `the VM is stopped by a GPU error (${vm.pending.kind}) that cannot be rolled back: travel back instead`,
      );
    const exec = this.exec!;
    return new Reply(undefined, () => {
      this.store?.clear();
      const op = this.operation(`Jump to line ${line} (${direction === 'back' ? 'back in time' : 'forward'})`, request);
      this.stopWhenDone(threadId, exec.travel(line, direction, threadId, op), op);
    });
  }

  private pause(a: Record<string, unknown>): undefined {
    if (a.threadId !== undefined) this.threadOf(a);
    this.exec?.pause();
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Stack, scopes, variables.

  private fmt(a: Record<string, unknown>): Format {
    const f = a.format as DebugProtocol.ValueFormat | undefined;
    return { hex: !(f && typeof f === 'object' && f.hex === false) };
  }

  private source(file: string): DebugProtocol.Source {
    const listing = this.listing();
    if (listing && file === listing.file)
      return {
        name: listing.name,
        sourceReference: LISTING_REFERENCE,
        origin: 'generated listing (read-only)',
        presentationHint: 'emphasize',
      };
    return { name: path.basename(file), path: file };
  }

  private listing(): Listing | undefined {
    return this.vm ? listingOf(this.vm) : undefined;
  }

  /**
   * The key breakpoints and locations use for a request's source: the listing's when it names the
   * listing (by reference), else its path; undefined when it has neither.
   */
  private sourceKey(src: DebugProtocol.Source | undefined): string | undefined {
    if (!src || typeof src !== 'object') return undefined;
    const listing = this.listing();
    if (listing && src.sourceReference === LISTING_REFERENCE) return listing.file;
    return typeof src.path === 'string' && src.path !== '' ? src.path : undefined;
  }

  private stackTrace(a: Record<string, unknown>): DebugProtocol.StackTraceResponse['body'] {
    const threadId = this.threadOf(a);
    const vm = this.stoppedVm();
    const frames = framesOf(vm, threadId);
    const start = nonNegative(a.startFrame, 'startFrame') ?? 0;
    const levels = nonNegative(a.levels, 'levels') || frames.length;
    return {
      // A frame without a source (an engine with no ring yet or idle, the driver done) is a label: clients
      // then show its name instead of looking for a file ("Source missing").
      stackFrames: frames.slice(start, start + levels).map((f) => ({
        id: f.id,
        name: f.loc ? f.name : labelName(vm, f),
        source: f.loc ? this.source(f.loc.file) : undefined,
        line: f.loc ? this.convertDebuggerLineToClient(f.loc.line) : 0,
        column: f.loc ? this.convertDebuggerColumnToClient(f.loc.col) : 0,
        instructionPointerReference: f.va !== undefined ? '0x' + f.va.toString(16) : undefined,
        presentationHint: !f.loc ? 'label' : f.idle ? 'subtle' : 'normal',
      })),
      totalFrames: frames.length,
    };
  }

  private frameOf(frameId: unknown) {
    const vm = this.stoppedVm();
    const p = parseFrameId(frameId);
    const frame = p ? framesOf(vm, p.threadId)[p.index] : undefined;
    if (!frame) throw new UserError(`no frame ${JSON.stringify(frameId)}`);
    return frame;
  }

  /** Engine of a frame (rcs0 for the driver or no frame). */
  private engineOfFrame(frameId: unknown): EngineName {
    if (frameId === undefined) return 'rcs0';
    return this.frameOf(frameId).engine ?? 'rcs0';
  }

  private scopes(a: Record<string, unknown>): DebugProtocol.ScopesResponse['body'] {
    const frame = this.frameOf(a.frameId);
    return { scopes: scopesOf(this.vm!, this.store!, frame, this.hostText()) };
  }

  private variables(a: Record<string, unknown>): DebugProtocol.VariablesResponse['body'] {
    this.stoppedVm();
    const c = this.store!.get(a.variablesReference);
    if (!c)
      throw new UserError(
        `no variables container ${JSON.stringify(a.variablesReference)} (references are valid while the VM stands still)`,
      );
    const filter = a.filter === 'indexed' || a.filter === 'named' ? a.filter : undefined;
    if (a.filter !== undefined && filter === undefined) throw new UserError(`filter must be 'indexed' or 'named'`);
    return {
      variables: c.variables(this.store!, this.fmt(a), {
        filter,
        start: nonNegative(a.start, 'start'),
        count: nonNegative(a.count, 'count'),
      }),
    };
  }

  private setVariable(a: Record<string, unknown>): Reply {
    this.stoppedVm();
    const c = this.store!.get(a.variablesReference);
    if (!c) throw new UserError(`no variables container ${JSON.stringify(a.variablesReference)}`);
    if (!c.set) throw new UserError('these values cannot be edited');
    if (typeof a.name !== 'string' || typeof a.value !== 'string')
      throw new UserError('setVariable needs a name and a value (strings)');
    const r = c.set(a.name, a.value, this.fmt(a));
    return new Reply(r, () => this.invalidated(['variables']));
  }

  /** A watch or variable set by its expression (assign.ts): a register, a register field, or [ADDR]. */
  private setExpression(a: Record<string, unknown>): Reply {
    const vm = this.stoppedVm();
    if (typeof a.expression !== 'string' || typeof a.value !== 'string')
      throw new UserError('setExpression needs an expression and a value (strings)');
    const engine = this.engineOfFrame(a.frameId);
    const value = assign(vm, engine, a.expression, a.value, this.fmt(a).hex);
    return new Reply({ value }, () => this.invalidated(['variables']));
  }

  // ---------------------------------------------------------------------------------------------
  // Evaluate, completions.

  /** `request`: the evaluate request a console command came in (a long one's progress names it, and `cancel` may). */
  private consoleHost(request?: DebugProtocol.Request): ConsoleHost {
    const vm = this.vm!;
    return {
      vm,
      store: this.store!,
      host: this.hostText(),
      snapshot: () => {
        const s = vm.takeSnapshot('manual');
        return `snapshot #${s.id} at t=${s.state.commands} (step ${s.state.step})`;
      },
      rollback: (id) => {
        this.rollbackTo(id);
        return `rolled back to snapshot #${id}: t=${vm.commands}, step ${vm.step}`;
      },
      compare: (a, b) => this.compare(a, b, request),
      goto: async (t) => {
        const op = this.operation(`Go to t=${t}`, request);
        let r: Awaited<ReturnType<Execution['toTime']>>;
        try {
          r = await this.exec!.toTime(t, op);
        } finally {
          this.finishOperation(op, op.cancelled ? 'cancelled' : 'done');
        }
        if (r === null || this.vm !== vm) throw new UserError('the program was restarted meanwhile');
        const at = `t=${vm.commands} (step ${vm.step})`;
        this.afterJump(r.cancelled ? 'Cancelled' : `Time ${vm.commands}`, r.cancelled ? 'pause' : 'goto');
        if (r.cancelled) return `goto ${t} cancelled at ${at}: the VM stands there`;
        return r.arrived ? `at ${at}` : `stopped at ${at}: ${r.why}`;
      },
    };
  }

  private rollbackTo(id: number): void {
    const vm = this.vm!;
    const i = snapshotIndex(vm, id);
    if (i < 0) throw new UserError(`no kept snapshot #${id} (see vgpu/snapshots or the console command 'snapshots')`);
    vm.restoreSnapshot(i);
    this.afterJump(`Rolled back to snapshot #${id}`);
  }

  /**
   * The VM jumped in time while stopped: views refresh from a new stop, announced by a `continued` (the
   * client did not request it: without one, a client following another thread would resume the VM).
   * The stop is on the thread the client was shown if that thread has a source line at the new time:
   * nvim-dap before 0.9.0 (Neovim 0.7.2 runs 0.6.0 at most) ignores `continued` and resumes a stop on
   * any thread but the one it follows. Else on the driver, whose line says where the program is.
   */
  private afterJump(description: string, reason = 'goto'): void {
    this.finished = false;
    this.afterFollow(() =>
      setImmediate(() => {
        if (this.ended) return;
        const vm = this.vm!;
        const shown = this.lastStop?.threadId ?? DRIVER_THREAD;
        const threadId = framesOf(vm, shown)[0]?.loc ? shown : DRIVER_THREAD;
        this.continued();
        this.invalidated(['all'], false);
        this.stopped({ reason, threadId, description, text: `t=${vm.commands}, step ${vm.step}` });
      }),
    );
  }

  private evaluate(
    a: Record<string, unknown>,
    request: DebugProtocol.Request,
  ): DebugProtocol.EvaluateResponse['body'] | Promise<DebugProtocol.EvaluateResponse['body']> {
    this.stoppedVm();
    if (typeof a.expression !== 'string') throw new UserError('evaluate needs an expression (string)');
    const engine = this.engineOfFrame(a.frameId);
    const frame = a.frameId !== undefined ? this.frameOf(a.frameId) : framesOf(this.vm!, threadOfEngine(engine))[0];
    return evaluateRequest(
      this.consoleHost(request),
      a as unknown as DebugProtocol.EvaluateArguments,
      engine,
      this.fmt(a),
      frame?.engine ? frame.va : undefined,
    );
  }

  private completions(a: Record<string, unknown>): DebugProtocol.CompletionsResponse['body'] {
    if (typeof a.text !== 'string') throw new UserError('completions needs text (string)');
    const col =
      typeof a.column === 'number' && Number.isInteger(a.column)
        ? this.convertClientColumnToDebugger(a.column) - 1
        : a.text.length;
    const c = completions(this.exec?.running ? undefined : this.vm, a.text, col);
    const start = this.convertDebuggerColumnToClient(c.start + 1);
    return { targets: c.items.map((i) => ({ ...i, start, length: c.length })) };
  }

  // ---------------------------------------------------------------------------------------------
  // Breakpoints.

  private setBreakpoints(a: Record<string, unknown>): DebugProtocol.SetBreakpointsResponse['body'] {
    const src = a.source as DebugProtocol.Source | undefined;
    const key = this.sourceKey(src);
    if (key === undefined) throw new UserError('setBreakpoints needs source.path');
    let bps: DebugProtocol.SourceBreakpoint[];
    if (a.breakpoints !== undefined) bps = objects<DebugProtocol.SourceBreakpoint>(a.breakpoints, 'breakpoints');
    else bps = list<number>(a.lines ?? [], 'lines').map((line) => ({ line }));
    for (const b of bps) {
      if (!b || typeof b !== 'object' || typeof b.line !== 'number' || !Number.isInteger(b.line))
        throw new UserError('every breakpoint needs an integer line');
    }
    const converted = bps.map((b) => ({ ...b, line: this.convertClientLineToDebugger(b.line) }));
    const out = this.bps.setLines(key, converted, this.vm);
    return {
      breakpoints: out.map((b) => ({
        ...b,
        line: b.line !== undefined ? this.convertDebuggerLineToClient(b.line) : undefined,
      })),
    };
  }

  private setExceptionBreakpoints(a: Record<string, unknown>): DebugProtocol.SetExceptionBreakpointsResponse['body'] {
    const filters = list<string>(a.filters ?? [], 'filters').filter((f) => typeof f === 'string');
    const options = objects<DebugProtocol.ExceptionFilterOptions>(a.filterOptions ?? [], 'filterOptions')
      .filter((o) => o && typeof o.filterId === 'string')
      .map((o) => o.filterId);
    return { breakpoints: this.bps.setExceptionFilters([...filters, ...options]) };
  }

  private breakpointLocations(a: Record<string, unknown>): DebugProtocol.BreakpointLocationsResponse['body'] {
    const vm = this.requireVm();
    const src = a.source as DebugProtocol.Source | undefined;
    if (typeof a.line !== 'number') throw new UserError('breakpointLocations needs a line');
    const key = this.sourceKey(src);
    if (key === undefined || !this.bps.isProgram(vm, key)) return { breakpoints: [] };
    const from = this.convertClientLineToDebugger(a.line);
    const to = typeof a.endLine === 'number' ? this.convertClientLineToDebugger(a.endLine) : from;
    return {
      breakpoints: this.bps
        .breakableLines(vm)
        .filter((l) => l >= from && l <= to)
        .map((l) => ({ line: this.convertDebuggerLineToClient(l) })),
    };
  }

  private dataBreakpointInfo(a: Record<string, unknown>): DebugProtocol.DataBreakpointInfoResponse['body'] {
    const vm = this.stoppedVm();
    if (typeof a.name !== 'string') throw new UserError('dataBreakpointInfo needs a name');
    if (a.variablesReference !== undefined) {
      const c = this.store!.get(a.variablesReference);
      if (!c) throw new UserError(`no variables container ${JSON.stringify(a.variablesReference)}`);
      if (c.dataInfo) return c.dataInfo(a.name);
      // Any variable with a memory reference (a command's address field, a page-table entry) watches what it points at.
      const v = c.variables(this.store!, { hex: true }, {}).find((x) => x.name === a.name);
      const at = v?.memoryReference ? parseRef(v.memoryReference) : undefined;
      if (at)
        return {
          dataId: dataIdOfMemory(at.space, at.addr, 4),
          description: `write to 4 bytes at ${formatRef(at.space, at.addr)}`,
          accessTypes: ['write'],
          canPersist: true,
        };
    }
    // An expression: a register, or an address (`va:`/`gpa:` reference, label, number).
    const engine = this.engineOfFrame(a.frameId);
    const bytes =
      typeof a.bytes === 'number' && Number.isInteger(a.bytes) && a.bytes > 0 && a.bytes <= 4096 ? a.bytes : 4;
    const ref = parseRef(a.name);
    if (ref)
      return {
        dataId: dataIdOfMemory(ref.space, ref.addr, bytes),
        description: `write to ${bytes} bytes at ${formatRef(ref.space, ref.addr)}`,
        accessTypes: ['write'],
        canPersist: true,
      };
    const n = isName(a.name) ? resolveName(a.name, { vm, engine }) : undefined;
    if (n?.kind === 'register')
      return {
        dataId: dataIdOfRegister(n.reg),
        description: `write to ${n.reg.name}`,
        accessTypes: ['write'],
        canPersist: true,
      };
    try {
      const v = evaluateText(a.name, { vm, engine });
      if (v < 0n || v >= 1n << 48n) throw new ExpressionError('not a GPU VA');
      return {
        dataId: dataIdOfMemory('va', Number(v), bytes),
        description: `write to ${bytes} bytes at GPU VA 0x${v.toString(16)}`,
        accessTypes: ['write'],
        canPersist: true,
      };
    } catch (e) {
      return { dataId: null, description: `'${a.name}' is neither a register nor an address: ${(e as Error).message}` };
    }
  }

  private exceptionInfo(a: Record<string, unknown>): DebugProtocol.ExceptionInfoResponse['body'] {
    const threadId = this.threadOf(a);
    const vm = this.stoppedVm();
    const engine = engineOfThread(threadId);
    const ne = this.lastStop?.notEmulated;
    if (ne && !vm.pending && this.lastStop?.threadId === threadId) {
      return {
        exceptionId: NOT_EMULATED_FILTER,
        description: `${ne.mnemonic} is not emulated: its shaders are not run`,
        breakMode: 'always',
        details: {
          message: `${ne.mnemonic} at GPU VA 0x${ne.va.toString(16)} retires with no memory effect (a draw or dispatch: the emulator runs no shaders)`,
          typeName: NOT_EMULATED_FILTER,
          fullTypeName: `${ne.mnemonic} on ${engine} at GPU VA 0x${ne.va.toString(16)} (exception filter ${NOT_EMULATED_FILTER})`,
        },
      };
    }
    const hang = this.hang;
    if (hang && !vm.pending && vm.step === hang.step && engine === hang.engine) {
      const r = hang.report;
      return {
        exceptionId: r.kind ?? 'hang',
        description: hang.reason,
        breakMode: 'always',
        details: {
          message: hang.reason,
          typeName: r.format,
          fullTypeName: `${r.format} hang dump: ${r.engine} at ACTHD ${r.acthd}${r.ipehr ? ` (IPEHR ${r.ipehr})` : ''}`,
          stackTrace: [
            r.reached
              ? `at ${r.command?.mnemonic ?? 'unknown command'} ${r.acthd} (${r.engine}), replayed from ${r.replayFrom.ring ? 'the ring at' : 'the batch at'} ${r.replayFrom.va}`
              : `the replay diverged at ${r.divergence?.at}: ${r.divergence?.reason}`,
            ...r.notes.map((n) => `note: ${n}`),
          ].join('\n'),
        },
      };
    }
    const err =
      vm.pending && (engine === undefined || vm.pending.engine === engine)
        ? vm.pending
        : [...vm.errors].reverse().find((e) => e.engine === engine);
    if (!err) throw new UserError(`no GPU error on thread ${threadId}`);
    const walk = (err.walk ?? []).flatMap((s) => walkStepLines(s, 'compact', false));
    return {
      exceptionId: err.kind,
      description: err.message,
      breakMode: this.bps.exceptions.has(err.kind) ? 'always' : 'never',
      details: {
        message: err.message,
        typeName: err.kind,
        fullTypeName: `GPU error ${err.kind} on ${err.engine}${err.mnemonic ? ` in ${err.mnemonic}` : ''} at GPU VA 0x${err.commandVa.toString(16)}`,
        evaluateName: err.faultAddress !== undefined ? `0x${err.faultAddress.toString(16)}` : undefined,
        stackTrace: [
          `at ${err.file}:${err.line}:${err.col} (${err.engine}, GPU VA 0x${err.commandVa.toString(16)}, t=${err.commands})`,
          ...(err.faultAddress !== undefined ? [`fault address: GPU VA 0x${err.faultAddress.toString(16)}`] : []),
          ...(err.gpa !== undefined ? [`GPA: 0x${err.gpa.toString(16)}`] : []),
          ...(walk.length ? ['walk:', ...walk] : []),
          err.rolledBack
            ? 'rolled back'
            : vm.cfg.autoRollback
              ? 'continue rolls the VM back to before the guilty submission and skips it'
              : 'autoRollback is off',
        ].join('\n'),
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Memory and disassembly.

  private memoryRef(a: Record<string, unknown>) {
    const ref = parseRef(a.memoryReference);
    if (!ref)
      throw new UserError(`bad memoryReference ${JSON.stringify(a.memoryReference)} (use va:0x... or gpa:0x...)`);
    const off = a.offset === undefined ? 0 : a.offset;
    if (typeof off !== 'number' || !Number.isSafeInteger(off)) throw new UserError('offset must be an integer');
    const addr = ref.addr + off;
    const limit = spaceLimit(this.vm!, ref.space);
    if (addr < 0 || addr >= limit)
      throw new UserError(
        `address 0x${addr.toString(16)} is outside the ${ref.space === 'va' ? 'GPU VA' : 'guest physical'} space`,
      );
    return { space: ref.space, addr };
  }

  private readMemory(a: Record<string, unknown>): DebugProtocol.ReadMemoryResponse['body'] {
    this.stoppedVm();
    const ref = this.memoryRef(a);
    const count = a.count;
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0)
      throw new UserError('count must be a non-negative integer');
    const r = readBytes(this.vm!, ref, Math.min(count, MAX_TRANSFER));
    return {
      address: '0x' + ref.addr.toString(16),
      data: Buffer.from(r.data).toString('base64'),
      unreadableBytes: count - r.data.length || undefined,
    };
  }

  private writeMemory(a: Record<string, unknown>): Reply {
    const vm = this.stoppedVm();
    const ref = this.memoryRef(a);
    if (typeof a.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(a.data))
      throw new UserError('data must be base64');
    const bytes = Buffer.from(a.data, 'base64');
    if (bytes.length > MAX_TRANSFER) throw new UserError(`at most ${MAX_TRANSFER} bytes per write`);
    const readable = readBytes(vm, ref, bytes.length).data.length;
    if (readable < bytes.length && a.allowPartial !== true)
      throw new UserError(
        `only ${readable} of ${bytes.length} bytes at ${formatRef(ref.space, ref.addr)} are mapped; nothing written`,
      );
    const n = writeBytes(vm, ref, new Uint8Array(bytes.subarray(0, readable)));
    return new Reply({ bytesWritten: n }, () => {
      if (n > 0) {
        if (this.client.supportsMemoryEvent)
          this.sendEvent(new MemoryEvent(String(a.memoryReference), Number(a.offset ?? 0), n));
        this.invalidated(['variables']);
      }
    });
  }

  private disassemble(a: Record<string, unknown>): DebugProtocol.DisassembleResponse['body'] {
    this.stoppedVm();
    // VS Code asks with an empty reference for a frame without an instruction pointer (the driver's):
    // there is nothing to disassemble, which is an answer, not an error.
    if (a.memoryReference === '') return { instructions: [] };
    const ref = this.memoryRef(a);
    if (ref.space !== 'va') throw new UserError('disassembly reads command streams at GPU VAs (va:0x...)');
    const count = a.instructionCount;
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0)
      throw new UserError('instructionCount must be a non-negative integer');
    const io = a.instructionOffset ?? 0;
    if (typeof io !== 'number' || !Number.isSafeInteger(io) || Math.abs(io) > 100000)
      throw new UserError('instructionOffset must be an integer (at most 100000 away)');
    return { instructions: this.disasm!.instructions(ref, 0, io, count) };
  }

  private sourceContent(a: Record<string, unknown>): DebugProtocol.SourceResponse['body'] {
    const vm = this.requireVm();
    const src = a.source as DebugProtocol.Source | undefined;
    const listing = this.listing();
    const ref = a.sourceReference ?? src?.sourceReference;
    if (listing && ref === LISTING_REFERENCE) return { content: listing.text, mimeType: 'text/x-vgpu-listing' };
    const p = src && typeof src.path === 'string' ? src.path : undefined;
    if (listing || !p || path.resolve(p) !== path.resolve(vm.image.file))
      throw new UserError("only the program's source is available");
    return { content: vm.image.source, mimeType: 'text/x-vgpu' };
  }

  // ---------------------------------------------------------------------------------------------
  // Custom requests for the extension's views (adapter/protocol.ts).

  private customSnapshots(a: Record<string, unknown>): CustomBody<'vgpu/snapshots'> {
    return snapshotWindow(this.stoppedVm(), a as CustomArgs<'vgpu/snapshots'>);
  }

  private customSnapshot(): CustomBody<'vgpu/snapshot'> {
    const vm = this.stoppedVm();
    return { snapshot: snapshotInfo(vm, vm.takeSnapshot('manual')) };
  }

  private customRollback(a: Record<string, unknown>): CustomBody<'vgpu/rollback'> {
    const vm = this.stoppedVm();
    this.rollbackTo(a.id as number);
    return { step: vm.step, commands: vm.commands };
  }

  /**
   * Compare Snapshots: computed once (in slices, with progress; cancelled, it answers 'cancelled' and the
   * VM never moved) and kept under a token, of which later requests take other windows of pages.
   */
  private async customDiff(
    a: Record<string, unknown>,
    request: DebugProtocol.Request,
  ): Promise<CustomBody<'vgpu/diff'>> {
    if (a.token !== undefined) {
      this.requireVm();
      const kept = typeof a.token === 'string' ? this.comparisons.get(a.token) : undefined;
      if (!kept)
        throw new UserError(
          `vgpu/diff: comparison ${JSON.stringify(a.token)} is no longer kept: compare the snapshots again`,
        );
      return kept.window(a.token as string, a.start, a.count);
    }
    const vm = this.stoppedVm();
    const from = snapshotIndex(vm, a.from);
    const to = a.to === undefined || a.to === -1 ? vm.snapshots.list.length : snapshotIndex(vm, a.to);
    if (from < 0 || to < 0)
      throw new UserError(
        `vgpu/diff needs ids of kept snapshots (from ${JSON.stringify(a.from)}, to ${JSON.stringify(a.to)})`,
      );
    const c = await this.compare(from, to, request);
    const token = `diff-${this.nextComparison++}`;
    this.comparisons.set(token, c);
    for (const old of this.comparisons.keys())
      if (this.comparisons.size > KEPT_COMPARISONS) this.comparisons.delete(old);
    return c.window(token, a.start, a.count);
  }

  /** Compares kept snapshots (indices; list length: now) in slices with progress; throws Cancelled. */
  private async compare(from: number, to: number, request?: DebugProtocol.Request): Promise<Comparison> {
    const vm = this.stoppedVm();
    const list = vm.snapshots.list;
    const op = this.operation(
      `Compare snapshots #${list[from].id} and ${to === list.length ? 'now' : `#${list[to].id}`}`,
      request,
    );
    // The snapshots must stay as they are meanwhile: the VM counts as busy (stoppedVm).
    this.comparing++;
    try {
      const steps = diffSteps(vm, from, to);
      for (;;) {
        const r = steps.next();
        if (r.done) return r.value;
        if (op.sliceOver() && (await op.yield(`${Math.round(r.value * 100)} %`, r.value))) throw new Cancelled();
        if (this.vm !== vm) throw new UserError('the program was restarted meanwhile');
      }
    } finally {
      this.comparing--;
      this.finishOperation(op, op.cancelled ? 'cancelled' : 'done');
    }
  }

  private customSurface(a: Record<string, unknown>): CustomBody<'vgpu/surface'> {
    const vm = this.stoppedVm();
    // The program's `.surface`s, then those the engine's state describes (a capture's render targets).
    const described = stateSurfaces(vm);
    const shown = described.filter((x) => !x.unsupported);
    const names = [...vm.image.surfaces.map((s) => s.name), ...shown.map((x) => x.name)];
    if (names.length === 0) {
      throw new UserError(
        described.length
          ? `no surface to show: ${described.map(describeStateSurface).join('; ')}`
          : "the program declares no .surface, and no binding table in the engine's state describes one yet",
      );
    }
    if (a.name !== undefined && typeof a.name !== 'string') throw new UserError('name must be a string');
    const name =
      a.name === undefined ? names[0] : names.find((n) => n.toUpperCase() === (a.name as string).toUpperCase());
    if (!name) throw new UserError(`no surface '${a.name}' (surfaces: ${names.join(', ')})`);
    let s: { width: number; height: number; pixels: Uint32Array };
    const fromState = shown.find((x) => x.name === name);
    if (fromState) {
      if (a.snapshot !== undefined)
        throw new UserError(
          `${name} is described by the engine's state at this stop; only .surface surfaces are read at a snapshot`,
        );
      s = readStateSurface(vm, fromState);
    } else if (a.snapshot === undefined) {
      s = vm.readSurface(name);
    } else {
      const i = snapshotIndex(vm, a.snapshot);
      if (i < 0) throw new UserError(`no kept snapshot #${JSON.stringify(a.snapshot)} (see vgpu/snapshots)`);
      s = surfaceAt(vm, i, name);
    }
    return {
      surfaces: names,
      name,
      width: s.width,
      height: s.height,
      pixels: Buffer.from(s.pixels.buffer, s.pixels.byteOffset, s.pixels.byteLength).toString('base64'),
    };
  }

  private customCaps(): CustomBody<'vgpu/caps'> {
    const vm = this.requireVm();
    const fields: CustomBody<'vgpu/caps'>['fields'] = [];
    for (const d of CAP_REG_DEFS) {
      const e = vm.exposed.registers.get(d.name) ?? 0n;
      const p = vm.physical.registers.get(d.name) ?? 0n;
      for (const f of d.fields) {
        const get = (v: bigint) => Number((v >> BigInt(f.lo)) & ((1n << BigInt(f.hi - f.lo + 1)) - 1n));
        fields.push({
          register: d.name,
          field: f.name,
          bits: f.lo === f.hi ? `${f.lo}` : `${f.hi}:${f.lo}`,
          physical: get(p),
          exposed: get(e),
          hidden: get(p) !== get(e),
        });
      }
    }
    return {
      hostGen: vm.cfg.hostGen,
      deviceVersion: vm.cfg.version,
      host: this.hostText(),
      physical: capsView(vm.physical),
      exposed: capsView(vm.exposed),
      fields,
    };
  }

  /**
   * Moves the VM, paused where it stands, to a `vgpu host` (SPEC section 9) and goes on debugging it
   * there: the target runs it, and this session keeps a replica for that host's generation in lockstep
   * (relocation.ts), which inspection reads. Refused or failed, the VM keeps running where it was, with
   * nothing lost. Moving it again sends the replica's state (equal to the remote one at every stop).
   */
  private async customMigrate(a: Record<string, unknown>, request: DebugProtocol.Request): Promise<Reply> {
    const vm = this.stoppedVm();
    if (!this.started || this.ended) throw new UserError('vgpu/migrate needs a started, running debug session');
    const to = a.to ?? this.launchArgs?.migrationHosts?.[0];
    if (to === undefined)
      throw new UserError(
        'vgpu/migrate needs to: "HOST:PORT" (none given, and the launch configuration lists no migrationHosts)',
      );
    const target = typeof to === 'string' ? parseHostPort(to) : null;
    if (!target) throw new UserError(`vgpu/migrate needs to: "HOST:PORT" (got ${JSON.stringify(to)})`);
    if (a.token !== undefined && typeof a.token !== 'string') throw new UserError('token must be a string');
    // Cancellable until the stop-and-copy (the VM then stays here, intact); from there on the VM is the
    // target's, and a cancel is too late: the progress message says so.
    const op = this.operation(`Migrating the VM to ${to}`, request);
    let m: Move | undefined;
    try {
      m = await this.relocation.move(vm, { ...target, token: (a.token as string | undefined) || undefined }, op, () =>
        this.ended || this.vm !== vm ? 'the session ended or restarted during the move' : undefined,
      );
    } finally {
      this.finishOperation(op, op.cancelled && !m?.moved ? 'cancelled' : 'done');
    }
    const out = m.outcome;
    const body: CustomBody<'vgpu/migrate'> = {
      ...migrationSummary(out),
      ...(out.hostGen !== undefined ? { hostGen: out.hostGen } : {}),
    };
    this.relocation.settle(m, vm);
    const host = this.hostText();
    const what = m.moved ? `Migrated to ${host}` : op.cancelled ? 'Migration cancelled' : `Migration ${out.status}`;
    return new Reply({ ...body, host }, () => this.afterJump(what, 'pause'));
  }

  /** The i915 error state of the GPU error the VM stands at (or its newest unrecovered one), written where asked. */
  private customErrorState(raw: Record<string, unknown>): CustomBody<'vgpu/errorState'> {
    const a = raw as CustomArgs<'vgpu/errorState'>;
    const vm = this.stoppedVm();
    if (a.path === '') throw new UserError('vgpu/errorState needs path (the file to write)');
    const err = vm.pending ?? [...vm.errors].reverse().find((e) => !e.rolledBack);
    if (!err)
      throw new UserError('no GPU error here to write: stop on one (the exception breakpoints) or travel to it first');
    const text = errorStateText(vm, err, a.compress !== false);
    try {
      writeOutputFile(a.path, Buffer.from(text, 'latin1'), 'the error state');
    } catch (e) {
      if (e instanceof OutputFileError) throw new UserError(e.message);
      throw e;
    }
    return {
      path: a.path,
      bytes: text.length,
      kind: err.kind,
      engine: err.engine,
      commandVa: '0x' + err.commandVa.toString(16),
    };
  }

  private customPipelineState(a: Record<string, unknown>): CustomBody<'vgpu/pipelineState'> {
    const vm = this.stoppedVm();
    const engine = a.engine === undefined ? 'rcs0' : a.engine;
    if (typeof engine !== 'string' || !(ENGINES as readonly string[]).includes(engine))
      throw new UserError(`engine must be one of ${ENGINES.join(', ')}`);
    return pipelineState(vm, engine as EngineName);
  }

  /** Arguments checked against CUSTOM_REQUEST_ARGS before this runs. */
  private customTranslate(raw: Record<string, unknown>): CustomBody<'vgpu/translate'> {
    const a = raw as CustomArgs<'vgpu/translate'>;
    const vm = this.stoppedVm();
    const engine = a.engine ?? 'rcs0';
    const e = vm.engine(engine);
    const view =
      a.view === undefined
        ? regField('EPT_VIEW', 'VIEW').get(vm.regs.values[e.slots.view])
        : EPT_VIEW_NAMES.indexOf(a.view);
    const va = typeof a.va === 'number' ? a.va : Number(evaluateText(a.va, { vm, engine }));
    if (!Number.isSafeInteger(va) || va < 0 || va >= 2 ** 48) throw new UserError(`${a.va} is not a 48-bit GPU VA`);
    const t = vm.translate(va, view, engine, a.space ?? 'ppgtt');
    return {
      ok: t.hpa >= 0,
      ...(t.gpa !== undefined ? { gpa: '0x' + t.gpa.toString(16) } : {}),
      ...(t.hpa >= 0 ? { hpa: '0x' + t.hpa.toString(16) } : {}),
      ...(t.fault ? { fault: { kind: t.fault.kind, reason: t.fault.reason } } : {}),
      ...(t.gpa !== undefined && vm.uncaptured(t.gpa) ? { notCaptured: true } : {}),
      steps: t.steps.map(walkStepJson),
    };
  }
}

/** Name of a frame with no source: what the thread's state is, the start of history and the end said as such. */
function labelName(vm: Vm, f: Frame): string {
  const oldest = vm.snapshots.list[0]?.state.step;
  const when = vm.finished ? ' (program finished)' : vm.step === oldest ? ' (start of the recorded history)' : '';
  if (f.engine === null)
    return vm.finished ? 'Program finished: step back to inspect' : `driver: all operations done${when}`;
  return `${f.name}${when}`;
}

/** A request's command as messages quote it: the first 60 characters. */
function clip(command: string): string {
  return command.length > 60 ? `${command.slice(0, 60)}...` : command;
}

function list<T>(v: unknown, what: string): T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new UserError(`${what} must be an array`);
  if (v.length > 100000) throw new UserError(`too many ${what}`);
  return v as T[];
}

/** An array of objects (breakpoint descriptions). */
function objects<T>(v: unknown, what: string): T[] {
  const l = list<unknown>(v, what);
  l.forEach((x, i) => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new UserError(`${what}[${i}] must be an object`);
  });
  return l as T[];
}

function nonNegative(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new UserError(`${what} must be a non-negative integer`);
  return v;
}
