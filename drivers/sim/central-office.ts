/**
 * The simulated central office (CO): the exchange at the far end of every simulated line and
 * trunk. It numbers the lines, collects their digits (DTMF by Goertzel detection of the line's
 * audio, decadic pulses from the loop breaks), routes calls between its lines, to its test numbers
 * and from simulated callers, and runs every speech path 20 ms at a time with real samples.
 *
 * Numbering: analog lines `5550001`, `5550002`, …; E1 span s, bearer channel c: `556` + two digits
 * of s + two digits of c (`5560101` is span 1 channel 1); test numbers `95000`–`95004`.
 */
import type { Clock, TimerHandle, Timers } from '../../base/clock.ts';
import { err, ok, type Result } from '../../base/result.ts';
import type { ErrorCode } from '../../base/error-codes.ts';
import { CHINA_TONE_PLAN, type TonePlan } from '../../base/signal/tone-plan.ts';
import type { CallerIdInfo } from '../../base/signal/caller-id.ts';
import { FRAME_MS, type AlarmName } from '../api/types.ts';
import { CoCall } from './co-call.ts';
import type { CoPort } from './co-ports.ts';
import { E1Slot, FxoLoop, type PortDump, type PortSummary } from './co-ports.ts';
import {
  DEFAULT_LINE_OPTIONS,
  DEFAULT_TIMING,
  LINE_FAULTS,
  type CidMode,
  type CidTiming,
  type CoCallLike,
  type E1DigitMode,
  type LineFault,
  type LineOptions,
  type OfficeContext,
  type OfficeTiming,
  type Party,
} from './co-types.ts';
import { SimulatedCall, type CallerIdentity, type SimulatedCallSummary } from './simulated-caller.ts';
import { TEST_NUMBERS, TestService } from './test-numbers.ts';
import type { DtmfCallerIdVariant } from '../../base/signal/caller-id-dtmf.ts';

export interface CentralOfficeOptions {
  clock: Clock;
  timers: Timers;
  tonePlan?: TonePlan;
  timing?: Partial<OfficeTiming>;
  /** Defaults for every line added. */
  lineDefaults?: Partial<LineOptions>;
  e1DigitMode?: E1DigitMode;
  /** First analog line number; the next lines count up from it. */
  firstLineNumber?: number;
  /** A late frame timer catches up at most this many frames; older ones count as overruns. */
  maxCatchUpFrames?: number;
}

export interface OriginateOptions {
  /** Analog line by 1-based number, or any port by id (`fxo-2`, `e1-1-5`) or PSTN number. */
  line: number | string;
  callerId: CallerIdentity;
  cidMode?: CidMode;
  cidTiming?: CidTiming;
  dtmfCidVariant?: DtmfCallerIdVariant;
  /** E1: the called number sent with the seizure (default: the channel's own number). */
  calledNumber?: string;
  /** Keep what the caller hears for download (default); false: only its level and digits. */
  record?: boolean;
}

export const OfficeErrors = {
  NO_SUCH_LINE: 'EDGE_ERR_SIM_NO_SUCH_LINE',
  LINE_BUSY: 'EDGE_ERR_SIM_LINE_BUSY',
  BAD_REQUEST: 'EDGE_ERR_SIM_BAD_REQUEST',
} as const satisfies Record<string, ErrorCode>;

export interface OfficeDump {
  tonePlan: string;
  timing: OfficeTiming;
  ports: PortDump[];
  calls: ReturnType<CoCall['dump']>[];
  callers: SimulatedCallSummary[];
  stats: { ticks: number; overruns: number; calls: number; callsRejected: number };
}

/** Ended simulated calls kept for inspection; only the newest few keep their audio. */
const KEEP_ENDED_CALLERS = 100;
const KEEP_ENDED_RECORDINGS = 10;

export class CentralOffice implements OfficeContext {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly tonePlan: TonePlan;
  readonly timing: OfficeTiming;
  private readonly lineDefaults: LineOptions;
  readonly e1DigitMode: E1DigitMode;
  private readonly ports: CoPort[] = [];
  private readonly fxo: FxoLoop[] = [];
  private readonly byNumber = new Map<string, CoPort>();
  private readonly byId = new Map<string, CoPort>();
  private readonly active = new Set<CoCall>();
  private readonly callers = new Map<string, SimulatedCall>();
  private readonly services = new Set<TestService>();
  private e1Spans = 0;
  private nextLineNumber: number;
  private callSeq = 0;
  private ticker: TimerHandle | null = null;
  private nextTickMs: number;
  private readonly maxCatchUp: number;
  private closed = false;
  private readonly stats = { ticks: 0, overruns: 0, calls: 0, callsRejected: 0 };
  private readonly tickHooks = new Set<() => void>();

  constructor(options: CentralOfficeOptions) {
    this.clock = options.clock;
    this.timers = options.timers;
    this.tonePlan = options.tonePlan ?? CHINA_TONE_PLAN;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.lineDefaults = { ...DEFAULT_LINE_OPTIONS, ...options.lineDefaults };
    this.e1DigitMode = options.e1DigitMode ?? 'list';
    this.nextLineNumber = options.firstLineNumber ?? 5550001;
    this.maxCatchUp = options.maxCatchUpFrames ?? 5;
    this.nextTickMs = this.clock.now() + FRAME_MS;
    this.armTicker();
  }

  // ---------------------------------------------------------------------------------------------
  // Building the plant.

  addFxoLine(options: Partial<LineOptions> & { number?: string } = {}): FxoLoop {
    const index = this.fxo.length + 1;
    const number = options.number ?? String(this.nextLineNumber++);
    const { number: _n, ...rest } = options;
    const loop = new FxoLoop(`fxo-${index}`, number, this, { ...this.lineDefaults, ...rest });
    this.fxo.push(loop);
    this.addPort(loop);
    return loop;
  }

  /** One E1 span: 30 bearer channels (timeslots 1–15 and 17–31). */
  addE1Span(): E1Slot[] {
    const span = ++this.e1Spans;
    const slots: E1Slot[] = [];
    for (let c = 1; c <= 30; c++) {
      const number = `556${String(span).padStart(2, '0')}${String(c).padStart(2, '0')}`;
      const slot = new E1Slot(
        `e1-${span}-${c}`,
        number,
        this,
        { ...this.lineDefaults },
        span,
        c,
        this.e1DigitMode,
      );
      slots.push(slot);
      this.addPort(slot);
    }
    return slots;
  }

  private addPort(port: CoPort): void {
    this.ports.push(port);
    this.byNumber.set(port.number, port);
    this.byId.set(port.id, port);
  }

  port(ref: number | string): CoPort | undefined {
    if (typeof ref === 'number') return this.fxo[ref - 1];
    const id = ref.includes('/') ? ref.slice(ref.lastIndexOf('/') + 1) : ref;
    return this.byId.get(id) ?? this.byNumber.get(ref);
  }

  lines(): PortSummary[] {
    return this.ports.map((p) => p.summary());
  }

  setFaults(ref: number | string, faults: readonly string[]): Result<void> {
    const port = this.port(ref);
    if (!port)
      return err({ code: OfficeErrors.NO_SUCH_LINE, message: `no line ${String(ref)}`, field: 'line' });
    const bad = faults.find((f) => !LINE_FAULTS.includes(f as LineFault));
    if (bad !== undefined) {
      return err({
        code: OfficeErrors.BAD_REQUEST,
        message: `unknown fault ${JSON.stringify(bad)}`,
        field: 'faults',
      });
    }
    port.setFaults(faults as LineFault[]);
    return ok(undefined);
  }

  setLineOptions(ref: number | string, options: Partial<LineOptions>): Result<void> {
    const port = this.port(ref);
    if (!port)
      return err({ code: OfficeErrors.NO_SUCH_LINE, message: `no line ${String(ref)}`, field: 'line' });
    port.options = { ...port.options, ...options };
    return ok(undefined);
  }

  /** Raise (or clear, with []) alarms on every channel of E1 span `span` (1-based). */
  setSpanAlarms(span: number, alarms: AlarmName[]): Result<void> {
    const slots = this.ports.filter((p): p is E1Slot => p instanceof E1Slot && p.span === span);
    if (slots.length === 0)
      return err({ code: OfficeErrors.NO_SUCH_LINE, message: `no E1 span ${span}`, field: 'span' });
    for (const s of slots) s.setAlarms(alarms);
    return ok(undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // Simulated callers.

  originate(options: OriginateOptions): Result<SimulatedCall> {
    const port = this.port(options.line);
    if (!port) {
      return err({
        code: OfficeErrors.NO_SUCH_LINE,
        message: `no line ${String(options.line)}`,
        field: 'line',
      });
    }
    const cid = options.callerId;
    if (cid.number !== undefined && !/^[0-9*#+]{1,20}$/.test(cid.number)) {
      return err({
        code: OfficeErrors.BAD_REQUEST,
        message: 'caller number must be 1–20 digits',
        field: 'callerId/number',
      });
    }
    if (cid.name !== undefined && !/^[\x20-\x7e]{0,15}$/.test(cid.name)) {
      return err({
        code: OfficeErrors.BAD_REQUEST,
        message: 'caller name must be ≤ 15 printable ASCII characters',
        field: 'callerId/name',
      });
    }
    const id = `sim-${++this.callSeq}`;
    const caller = new SimulatedCall(id, port.id, cid, this.clock, undefined, options.record ?? true);
    const call = this.newCall(caller);
    caller.bind(call);
    const info: CallerIdInfo = {};
    if (cid.number !== undefined) info.number = cid.number;
    else info.reason = cid.withheld ?? 'out-of-area';
    if (cid.name !== undefined) info.name = cid.name;
    const offered = port.offer(call, info, {
      ...(options.cidMode ? { cidMode: options.cidMode } : {}),
      ...(options.cidTiming ? { cidTiming: options.cidTiming } : {}),
      ...(options.dtmfCidVariant ? { dtmfCidVariant: options.dtmfCidVariant } : {}),
      ...(options.calledNumber ? { calledNumber: options.calledNumber } : {}),
    });
    if (!offered) {
      this.active.delete(call);
      return err({
        code: OfficeErrors.LINE_BUSY,
        message: `line ${port.id} is ${port.state}`,
        field: 'line',
      });
    }
    this.callers.set(id, caller);
    this.trimCallers();
    return ok(caller);
  }

  caller(id: string): SimulatedCall | undefined {
    return this.callers.get(id);
  }

  simulatedCalls(): SimulatedCallSummary[] {
    return [...this.callers.values()].map((c) => c.summary());
  }

  // ---------------------------------------------------------------------------------------------
  // OfficeContext: what the ports ask of the exchange.

  numberStatus(digits: string): 'complete' | 'incomplete' | 'invalid' {
    let exact = false;
    let longer = false;
    const check = (n: string): void => {
      if (n === digits) exact = true;
      else if (n.startsWith(digits)) longer = true;
    };
    for (const n of Object.keys(TEST_NUMBERS)) check(n);
    for (const n of this.byNumber.keys()) check(n);
    if (exact && !longer) return 'complete';
    if (exact || longer) return 'incomplete';
    return 'invalid';
  }

  route(caller: Party, digits: string, callerId: CallerIdInfo | null): CoCallLike {
    const call = this.newCall(caller);
    const test = TEST_NUMBERS[digits];
    if (test) {
      const service = new TestService(test, digits, this);
      this.services.add(service);
      service.offer(call);
      return call;
    }
    const target = this.byNumber.get(digits);
    if (!target) {
      // Number unobtainable: congestion (E.180 uses it for "no route to destination" too).
      this.stats.callsRejected++;
      call.reject('congestion');
      return call;
    }
    if (target === caller || !target.offer(call, callerId)) {
      this.stats.callsRejected++;
      call.reject('busy');
    }
    return call;
  }

  callerIdFor(number: string): CallerIdInfo {
    return { number };
  }

  // ---------------------------------------------------------------------------------------------
  // The frame clock.

  /** Run something once per frame, after the speech paths (the sim card flushes its events here). */
  onTick(hook: () => void): () => void {
    this.tickHooks.add(hook);
    return () => this.tickHooks.delete(hook);
  }

  /**
   * One 20 ms frame for the whole exchange: take every port's transmitted frame (and listen to it
   * for digits), carry each connected call's audio across, then send every port its frame.
   */
  tick(): void {
    this.stats.ticks++;
    for (const p of this.ports) p.pullTx();
    for (const c of this.active) c.exchange();
    for (const p of this.ports) p.pushRx();
    for (const h of this.tickHooks) h();
  }

  private armTicker(): void {
    if (this.closed) return;
    const delay = Math.max(0, this.nextTickMs - this.clock.now());
    this.ticker = this.timers.start('sim-frame', delay, () => {
      const now = this.clock.now();
      let run = 0;
      while (this.nextTickMs <= now && !this.closed) {
        if (run >= this.maxCatchUp) {
          // Too far behind to catch up: those frames are lost, as on a real card's overrun.
          const lost = Math.floor((now - this.nextTickMs) / FRAME_MS) + 1;
          this.stats.overruns += lost;
          this.nextTickMs += lost * FRAME_MS;
          break;
        }
        this.tick();
        this.nextTickMs += FRAME_MS;
        run++;
      }
      this.armTicker();
    });
  }

  private newCall(caller: Party): CoCall {
    const call = new CoCall(`co-${++this.callSeq}`, caller, (c) => {
      this.active.delete(c);
      const called = c.calledParty;
      if (called instanceof TestService) {
        called.close();
        this.services.delete(called);
      }
    });
    this.active.add(call);
    this.stats.calls++;
    return call;
  }

  private trimCallers(): void {
    // Oldest first: the audio of all but the newest ended calls goes (a load run's worth of
    // recordings would otherwise stay until the calls themselves are dropped).
    const ended = [...this.callers.values()].filter((c) => c.state === 'ended');
    for (const c of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED_RECORDINGS))) c.dropRecording();
    if (this.callers.size <= KEEP_ENDED_CALLERS) return;
    for (const [id, c] of this.callers) {
      if (this.callers.size <= KEEP_ENDED_CALLERS) break;
      if (c.state === 'ended') this.callers.delete(id);
    }
  }

  close(): void {
    this.closed = true;
    this.ticker?.cancel();
    this.ticker = null;
    for (const c of this.callers.values()) c.close();
    for (const s of this.services) s.close();
    for (const p of this.ports) p.close();
    this.active.clear();
    this.tickHooks.clear();
  }

  dump(): OfficeDump {
    return {
      tonePlan: this.tonePlan.id,
      timing: { ...this.timing },
      ports: this.ports.map((p) => p.dump()),
      calls: [...this.active].map((c) => c.dump()),
      callers: this.simulatedCalls(),
      stats: { ...this.stats },
    };
  }
}
