/**
 * The FXO line: the gateway's side of one analog loop-start line to the exchange, as a sans-I/O
 * state machine. The driver feeds it line events (ring voltage, polarity reversals, loop current)
 * and received audio; it drives the hook through a port and reports call events to the gateway.
 *
 *   idle ──ring / reversal──► ringing ──answer()──► connected ──far end gone──► disconnecting ─guard─► idle
 *     │                         ▲  └─ring stops (missed) / rings forever──► idle                ▲
 *     └──dial()──► seized ──dial tone / pause──► dialling ──answer supervision──► connected       │
 *                    │  └─ring (glare): outgoing fails over ──► ringing                            │
 *                    └──no dial tone, dead line, hangup()──────────────────────────────────────────┘
 *
 * Standards implemented:
 * - Ringing and caller ID timing: Bellcore GR-30-CORE (data between the first and second ring) and
 *   ETSI EN 300 659-1 (data after the first ring, or before it following a line reversal).
 * - Dialling: ITU-T Q.23 (DTMF frequencies) with Q.24 timing; decadic pulses at 10 pulses/s with a
 *   60/40 break/make ratio and a 700 ms inter-digit pause (ITU-T Q.24 annex, national practice).
 * - Supervision: answer by polarity reversal, far-end clear by polarity reversal, loop current
 *   interruption, or busy/congestion tone cadence (E.180 tone plans, `cadence.ts`).
 */
import type { Clock, TimerHandle, Timers } from '../../../base/clock.ts';
import { err, ok, type ParseError, type Result } from '../../../base/result.ts';
import type { ErrorCode } from '../../../base/error-codes.ts';
import type { TonePlan } from '../../../base/signal/tone-plan.ts';
import { CadenceDetector, disconnectProfiles, SteadyToneDetector, type CadenceProfile } from './cadence.ts';
import type { CallerIdInfo } from '../../../base/signal/caller-id.ts';
import { DtmfCallerIdDecoder } from '../../../base/signal/caller-id-dtmf.ts';
import { FskCallerIdDecoder } from '../../../base/signal/caller-id-fsk.ts';
import { dbm0ToPower, meanPower } from '../../../base/signal/line-audio.ts';

const FRAME_MS = 20;
/** How long a line-timed wait may outlast its delay when no audio arrives at all. */
const LINE_TIME_SLACK_MS = 2000;
/** A frame this recent means the card is delivering the line's audio. */
const AUDIO_FLOWING_MS = 5 * FRAME_MS;

export type FxoLineState = 'idle' | 'ringing' | 'seized' | 'dialling' | 'connected' | 'disconnecting';

/**
 * What the driver reports about the line. `atMs` is when the card saw it (same clock as the line's
 * `Clock.now()`); events are handed over in batches, so it can be earlier than their arrival.
 */
export type FxoLineInput = (
  { type: 'ring'; on: boolean } | { type: 'polarity-reversal' } | { type: 'loop-current'; present: boolean }
) & { atMs?: number };

/** What the line asks of the driver. */
export interface FxoLinePort {
  /** Close (true) or open (false) the loop: seize, answer, release, and each pulse of decadic dialling. */
  setHook(offHook: boolean): void;
  /**
   * Send one DTMF digit: `toneMs` of tone, then `gapMs` of silence, both timed by the card in
   * samples and queued behind any digit still playing, so the pause between two digits survives
   * however late the line hands the next one over.
   */
  sendDtmf(digit: string, toneMs: number, gapMs: number): void;
}

export type FarEndDisconnectReason =
  'polarity-reversal' | 'loop-current-drop' | 'busy-tone' | 'ringing-stopped';
export type OutgoingFailure = 'glare' | 'no-dial-tone' | 'dead-line' | 'busy' | 'congestion' | 'no-answer';
export type FaultReason = 'no-dial-tone' | 'dead-line' | 'stuck-line' | 'ringing-timeout';

export type FxoLineEvent =
  | { type: 'incoming'; callerId: CallerIdInfo | null; callerIdError: ParseError | null }
  | { type: 'answered'; supervision: 'local' | 'polarity-reversal' | 'assumed' }
  | { type: 'far-end-disconnect'; reason: FarEndDisconnectReason }
  | { type: 'outgoing-failed'; reason: OutgoingFailure }
  | { type: 'released' }
  | { type: 'fault'; reason: FaultReason };

export interface FxoLineOptions {
  tonePlan: TonePlan;
  /** Caller ID decoders to run while the line alerts. */
  callerId: { fsk: boolean; dtmf: boolean };
  /** Listen for caller ID on the idle line (DTMF CLIP sent before the first ring without a reversal). */
  idleCallerId: boolean;
  dialMode: 'dtmf' | 'pulse';
  /** Wait for dial tone after seizing; when false, wait `dialPauseMs` and dial blind. */
  waitForDialTone: boolean;
  dialToneTimeoutMs: number;
  dialPauseMs: number;
  /** How the exchange signals answer; 'none' assumes answer once the digits are out. */
  answerSupervision: 'polarity-reversal' | 'none';
  disconnectOn: { polarityReversal: boolean; loopCurrentDrop: boolean; busyTone: boolean };
  /** Shorter loop-current interruptions are glitches, not a clear. */
  loopDropMinMs: number;
  /** After release, the line stays on-hook this long before it may be seized again. */
  guardMs: number;
  /** Ring shorter than this is a glitch. */
  minRingMs: number;
  /** No ring for this long after the last one: the caller gave up. */
  ringStopMs: number;
  /** After a line reversal, the first ring must follow within this time. */
  preRingWindowMs: number;
  /** A line that rings this long without being answered is stuck. */
  ringingMaxMs: number;
  /** An outgoing call unanswered this long after dialling is given up. */
  noAnswerMs: number;
  /** A connected line with no audio above `activityLevelDbm0` and no event for this long is stuck. */
  stuckLineMs: number;
  activityLevelDbm0: number;
  dtmf: { toneMs: number; gapMs: number };
  pulse: { breakMs: number; makeMs: number; interDigitMs: number };
  /** A `,` in a dial string pauses this long. */
  commaPauseMs: number;
  /** This line's own busy tone (from the learning procedure), used in place of the plan's. */
  busyProfiles?: CadenceProfile[];
}

export function defaultFxoLineOptions(tonePlan: TonePlan): FxoLineOptions {
  return {
    tonePlan,
    callerId: { fsk: true, dtmf: true },
    idleCallerId: false,
    dialMode: 'dtmf',
    waitForDialTone: true,
    dialToneTimeoutMs: 3000,
    dialPauseMs: 2000,
    answerSupervision: 'polarity-reversal',
    disconnectOn: { polarityReversal: true, loopCurrentDrop: true, busyTone: true },
    loopDropMinMs: 350,
    guardMs: 500,
    minRingMs: 150,
    ringStopMs: 6000,
    preRingWindowMs: 5000,
    ringingMaxMs: 180_000,
    noAnswerMs: 120_000,
    stuckLineMs: 600_000,
    activityLevelDbm0: -50,
    // Q.24 / ETSI ES 201 235-2: ≥ 40 ms tone and ≥ 40 ms pause; 100/100 is what telephones send.
    dtmf: { toneMs: 100, gapMs: 100 },
    pulse: { breakMs: 60, makeMs: 40, interDigitMs: 700 },
    commaPauseMs: 1000,
  };
}

export const FxoLineErrors = {
  BUSY: 'EDGE_ERR_PSTN_LINE_BUSY',
  BAD_NUMBER: 'EDGE_ERR_PSTN_BAD_NUMBER',
  NOT_RINGING: 'EDGE_ERR_PSTN_NOT_RINGING',
} as const satisfies Record<string, ErrorCode>;

const EDGES: Readonly<Record<FxoLineState, readonly FxoLineState[]>> = {
  idle: ['ringing', 'seized'],
  ringing: ['idle', 'connected'],
  seized: ['dialling', 'ringing', 'disconnecting'],
  dialling: ['connected', 'disconnecting'],
  connected: ['disconnecting'],
  disconnecting: ['idle'],
};

type DialStep = { kind: 'dtmf'; digit: string } | { kind: 'pulse'; count: number } | { kind: 'pause' };

export interface FxoLineDump {
  state: FxoLineState;
  sinceMs: number;
  direction: 'incoming' | 'outgoing' | null;
  offHook: boolean;
  ringOn: boolean;
  validRings: number;
  announced: boolean;
  callerId: CallerIdInfo | null;
  dialled: string;
  timers: string[];
  stats: { calls: number; missed: number; faults: number; illegalTransitions: number; glitches: number };
}

export class FxoLine {
  private current: FxoLineState = 'idle';
  private sinceMs: number;
  private readonly o: FxoLineOptions;
  private readonly timers = new Map<string, TimerHandle>();
  private direction: 'incoming' | 'outgoing' | null = null;
  private offHook = false;
  /** When the loop was closed to answer an incoming call. */
  private answeredAtMs = 0;
  private closed = false;
  // Alerting.
  private ringOn = false;
  private ringOnAt = 0;
  private validRings = 0;
  private preRing = false;
  private announced = false;
  private callerId: CallerIdInfo | null = null;
  private callerIdError: ParseError | null = null;
  private ignoreRingUntilQuiet = false;
  private ringDuringGuard = false;
  private fsk: FskCallerIdDecoder | null = null;
  private dtmfCid: DtmfCallerIdDecoder | null = null;
  // Outgoing.
  private dialled = '';
  private postDial = '';
  private pendingDial: { number: string; postDial: string } | null = null;
  private steps: DialStep[] = [];
  private dialComplete = false;
  private pulsing = false;
  private readonly dialTone: SteadyToneDetector;
  // Supervision.
  private busy: CadenceDetector;
  private lastActivityMs = 0;
  private readonly activityPower: number;
  /** Frames received: the line's own time base (the card delivers a batch's events before its frames). */
  private framesHeard = 0;
  private lastFrameAtMs = -Infinity;
  private readonly stats = { calls: 0, missed: 0, faults: 0, illegalTransitions: 0, glitches: 0 };

  constructor(
    private readonly port: FxoLinePort,
    private readonly clock: Clock,
    private readonly timerPort: Timers,
    private readonly onEvent: (ev: FxoLineEvent) => void,
    options: Partial<FxoLineOptions> & { tonePlan: TonePlan },
  ) {
    this.o = { ...defaultFxoLineOptions(options.tonePlan), ...options };
    this.sinceMs = clock.now();
    this.dialTone = new SteadyToneDetector(this.o.tonePlan.tones.dial.frequenciesHz, 300);
    this.busy = new CadenceDetector(this.o.busyProfiles ?? disconnectProfiles(this.o.tonePlan));
    this.activityPower = dbm0ToPower(this.o.activityLevelDbm0);
    if (this.o.callerId.fsk) this.fsk = new FskCallerIdDecoder();
    if (this.o.callerId.dtmf) this.dtmfCid = new DtmfCallerIdDecoder();
  }

  get state(): FxoLineState {
    return this.current;
  }

  /** Free for a new outgoing call (idle, or releasing with the seizure deferred to after the guard). */
  get available(): boolean {
    return this.current === 'idle' || (this.current === 'disconnecting' && this.pendingDial === null);
  }

  // ---------------------------------------------------------------------------------------------
  // Commands from the gateway.

  /** Answer an alerting line (go off-hook). */
  answer(): Result<void> {
    if (this.current !== 'ringing')
      return err({ code: FxoLineErrors.NOT_RINGING, message: `line is ${this.current}` });
    this.announce();
    this.setHook(true);
    this.answeredAtMs = this.clock.now();
    this.transition('connected');
    this.onEvent({ type: 'answered', supervision: 'local' });
    return ok(undefined);
  }

  /**
   * Seize the line and dial `number` (digits, `*`, `#`, `A`–`D`; `,` pauses). `postDial` digits are
   * sent as DTMF once the call is answered. During the release guard the seizure waits for it.
   */
  dial(number: string, options: { postDial?: string } = {}): Result<void> {
    const postDial = options.postDial ?? '';
    const allowed = this.o.dialMode === 'pulse' ? /^[0-9,]+$/ : /^[0-9*#A-D,]+$/;
    if (!allowed.test(number) || !/^[0-9*#A-D,]*$/.test(postDial)) {
      return err({
        code: FxoLineErrors.BAD_NUMBER,
        message: `cannot dial ${JSON.stringify(number)} in ${this.o.dialMode} mode`,
        field: 'number',
      });
    }
    if (this.current === 'disconnecting' && this.pendingDial === null) {
      this.pendingDial = { number, postDial };
      return ok(undefined);
    }
    if (this.current !== 'idle') return err({ code: FxoLineErrors.BUSY, message: `line is ${this.current}` });
    this.startOutgoing(number, postDial);
    return ok(undefined);
  }

  /** Release the call from this side. */
  hangup(): Result<void> {
    switch (this.current) {
      case 'seized':
      case 'dialling':
      case 'connected':
        this.release();
        return ok(undefined);
      case 'disconnecting':
        this.pendingDial = null;
        return ok(undefined);
      case 'idle':
        return ok(undefined);
      case 'ringing':
        // A loop-start line cannot refuse a call; the exchange rings until the caller gives up.
        return err({
          code: FxoLineErrors.NOT_RINGING,
          message: 'an alerting FXO line cannot be rejected; leave it or answer it',
        });
      default: {
        const never: never = this.current;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  /** The gateway saw activity on the call (audio sent to the line) — not a stuck line. */
  noteActivity(): void {
    this.lastActivityMs = this.clock.now();
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs from the driver.

  input(ev: FxoLineInput): void {
    if (this.closed) return;
    this.lastActivityMs = this.clock.now();
    switch (ev.type) {
      case 'ring':
        if (ev.on) this.ringStarted();
        else this.ringStopped();
        return;
      case 'polarity-reversal':
        this.reversal(ev.atMs ?? this.clock.now());
        return;
      case 'loop-current':
        this.loopCurrent(ev.present);
        return;
      default: {
        const never: never = ev;
        throw new Error(`unknown line event ${JSON.stringify(never)}`);
      }
    }
  }

  /** One 20 ms frame received from the line. */
  audio(frame: Int16Array): void {
    if (this.closed) return;
    this.framesHeard++;
    this.lastFrameAtMs = this.clock.now();
    switch (this.current) {
      case 'idle':
        if (this.o.idleCallerId) this.callerIdAudio(frame);
        return;
      case 'ringing':
        // Caller ID comes in the silent intervals; during ring voltage the audio path is noise.
        if (!this.ringOn && !this.announced) this.callerIdAudio(frame);
        return;
      case 'seized':
        if (this.o.waitForDialTone && this.dialTone.push(frame)) {
          // Dial tone: the exchange is ready for digits.
          this.transition('dialling');
        }
        return;
      case 'dialling':
      case 'connected':
        if (meanPower(frame) >= this.activityPower) this.lastActivityMs = this.clock.now();
        if (this.o.disconnectOn.busyTone) {
          const match = this.busy.push(frame);
          if (match) this.busyHeard(match.kind);
        }
        return;
      case 'disconnecting':
        return;
      default: {
        const never: never = this.current;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  /**
   * Match these disconnect cadences from now on (a busy tone learned on this line). Called
   * between calls; a call in progress starts listening afresh.
   */
  setBusyProfiles(profiles: readonly CadenceProfile[]): void {
    this.busy.close();
    this.busy = new CadenceDetector(profiles);
  }

  close(): void {
    this.closed = true;
    this.stopAllTimers();
    this.fsk?.close();
    this.dtmfCid?.close();
    this.busy.close();
  }

  dump(): FxoLineDump {
    return {
      state: this.current,
      sinceMs: this.sinceMs,
      direction: this.direction,
      offHook: this.offHook,
      ringOn: this.ringOn,
      validRings: this.validRings,
      announced: this.announced,
      callerId: this.callerId,
      dialled: this.dialled,
      timers: [...this.timers.keys()],
      stats: { ...this.stats },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // The guarded transition.

  private transition(to: FxoLineState): boolean {
    if (!EDGES[this.current].includes(to)) {
      this.stats.illegalTransitions++;
      return false;
    }
    this.stopAllTimers();
    this.current = to;
    this.sinceMs = this.clock.now();
    switch (to) {
      case 'idle':
        this.direction = null;
        this.resetAlerting();
        if (this.ignoreRingUntilQuiet) this.armRingQuiet();
        return true;
      case 'ringing':
        this.direction = 'incoming';
        this.stats.calls++;
        // A line that alerts for minutes without anyone answering or the caller giving up is
        // stuck (a fault on the line or in the exchange): report it and stop offering it.
        this.startTimer('ringing-max', this.o.ringingMaxMs, () => this.ringingForever());
        return true;
      case 'seized':
        this.direction = 'outgoing';
        this.stats.calls++;
        this.dialTone.reset();
        if (this.o.waitForDialTone) {
          this.startLineTimer('dial-tone', this.o.dialToneTimeoutMs, () =>
            this.outgoingFailed('no-dial-tone', 'no-dial-tone'),
          );
        } else {
          // Lines without dial tone detection: a fixed pause stands in for it.
          this.startTimer('dial-pause', this.o.dialPauseMs, () => this.transition('dialling'));
        }
        return true;
      case 'dialling':
        this.busy.reset();
        this.lastActivityMs = this.clock.now();
        this.dialComplete = false;
        this.steps = dialSteps(this.dialled, this.o.dialMode);
        this.nextDialStep();
        return true;
      case 'connected':
        this.busy.reset();
        this.lastActivityMs = this.clock.now();
        this.armInactivity(this.o.stuckLineMs);
        if (this.direction === 'outgoing' && this.postDial) {
          this.steps = dialSteps(this.postDial, 'dtmf');
          this.postDial = '';
          this.nextDialStep();
        }
        return true;
      case 'disconnecting':
        this.setHook(false);
        this.onEvent({ type: 'released' });
        this.startTimer('guard', this.o.guardMs, () => this.guardOver());
        return true;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Alerting and caller ID.

  private ringStarted(): void {
    this.ringOn = true;
    this.ringOnAt = this.clock.now();
    switch (this.current) {
      case 'idle':
        if (this.ignoreRingUntilQuiet) {
          this.cancelTimer('ring-quiet');
          return;
        }
        this.transition('ringing');
        return;
      case 'ringing':
        this.cancelTimer('ring-stop');
        // GR-30-CORE §3.1.1: the data is sent "between the first and second power ring"; by the
        // second ring the caller ID has either arrived or will not. EN 300 659-1 §6.1.3: after a
        // line reversal the data precedes the first ring, so that ring closes the window.
        if (this.validRings >= 1 || this.preRing) this.announce();
        return;
      case 'seized':
        // Glare: on a loop-start line the exchange has no way to know the line was being seized;
        // a ring means it has committed the line to an incoming call. The incoming call wins; the
        // outgoing attempt is reported failed so the gateway can try another line.
        this.onEvent({ type: 'outgoing-failed', reason: 'glare' });
        this.setHook(false);
        this.transition('ringing');
        return;
      case 'disconnecting':
        this.ringDuringGuard = true;
        return;
      case 'dialling':
      case 'connected':
        // An off-hook line is not rung; ring reports here are induction noise.
        return;
      default: {
        const never: never = this.current;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  private ringStopped(): void {
    if (!this.ringOn) return;
    this.ringOn = false;
    this.ringDuringGuard = false;
    if (this.current === 'idle' && this.ignoreRingUntilQuiet) {
      this.armRingQuiet();
      return;
    }
    if (this.current !== 'ringing') return;
    if (this.clock.now() - this.ringOnAt >= this.o.minRingMs) this.validRings++;
    else this.stats.glitches++;
    // Ringing that stops mid-cadence for longer than the longest silent interval of any plan
    // (4 s) means the caller hung up before the call was answered.
    this.startTimer('ring-stop', this.o.ringStopMs, () => this.ringingStopped());
  }

  private reversal(atMs: number): void {
    switch (this.current) {
      case 'idle':
        // EN 300 659-1 §6.1.3 (data transmission prior to ringing): the exchange reverses the line
        // polarity, sends the alerting signal and the caller ID, then applies ringing.
        this.transition('ringing');
        this.preRing = true;
        this.startTimer('ring-stop', this.o.preRingWindowMs, () => this.ringingStopped());
        return;
      case 'dialling':
        // Answer supervision: the exchange reverses the loop when the called party answers.
        if (this.dialComplete && this.o.answerSupervision === 'polarity-reversal') {
          this.transition('connected');
          this.onEvent({ type: 'answered', supervision: 'polarity-reversal' });
        }
        return;
      case 'connected':
        if (this.direction === 'incoming' && atMs <= this.answeredAtMs) {
          // EN 300 659-1 §6.1.4: after data sent prior to ringing the exchange returns the line to
          // normal polarity before the first ring. Answered before that ring, the restoration can
          // cross the off-hook and arrive after it: a reversal the exchange made no later than the
          // loop closed belongs to the alerting, not to the call. Only a reversal relative to the
          // polarity at answer clears the call.
          this.stats.glitches++;
          return;
        }
        // The reversal back to normal polarity marks the far end's clear.
        if (this.o.disconnectOn.polarityReversal) this.farEndGone('polarity-reversal');
        return;
      case 'ringing':
      case 'seized':
      case 'disconnecting':
        return;
      default: {
        const never: never = this.current;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  private callerIdAudio(frame: Int16Array): void {
    const fsk = this.fsk?.push(frame);
    const dtmf = this.dtmfCid?.push(frame);
    for (const r of [fsk, dtmf]) {
      if (!r) continue;
      if (!r.ok) {
        // A message failing its checksum is dropped whole; the call is still offered.
        this.callerIdError = r.error;
        continue;
      }
      this.callerId = r.value;
      this.callerIdError = null;
      if (this.current === 'idle') {
        // DTMF caller ID before the first ring, without a reversal.
        this.transition('ringing');
        this.preRing = true;
        this.startTimer('ring-stop', this.o.preRingWindowMs, () => this.ringingStopped());
      }
      this.announce();
    }
  }

  private announce(): void {
    if (this.announced) return;
    this.announced = true;
    const dtmfEnd = this.dtmfCid?.end();
    if (dtmfEnd && !dtmfEnd.ok && !this.callerId) this.callerIdError = dtmfEnd.error;
    this.onEvent({ type: 'incoming', callerId: this.callerId, callerIdError: this.callerIdError });
  }

  private ringingStopped(): void {
    if (this.current !== 'ringing') return;
    if (this.validRings === 0 && !this.announced && !this.callerId) {
      // Only a glitch (or a reversal with nothing after it): nobody called.
      this.stats.glitches++;
      this.transition('idle');
      return;
    }
    this.stats.missed++;
    this.announce();
    this.onEvent({ type: 'far-end-disconnect', reason: 'ringing-stopped' });
    this.transition('idle');
    this.onEvent({ type: 'released' });
  }

  private ringingForever(): void {
    this.stats.faults++;
    this.announce();
    this.onEvent({ type: 'fault', reason: 'ringing-timeout' });
    // Rings keep coming: ignore them until the line has been quiet for a whole ring-stop period.
    this.ignoreRingUntilQuiet = true;
    this.transition('idle');
    this.onEvent({ type: 'released' });
  }

  private armRingQuiet(): void {
    this.startTimer('ring-quiet', this.o.ringStopMs, () => {
      this.ignoreRingUntilQuiet = false;
    });
  }

  private resetAlerting(): void {
    this.validRings = 0;
    this.preRing = false;
    this.announced = false;
    this.callerId = null;
    this.callerIdError = null;
    this.fsk?.reset();
    this.dtmfCid?.reset();
  }

  // ---------------------------------------------------------------------------------------------
  // Outgoing.

  private startOutgoing(number: string, postDial: string): void {
    this.dialled = number;
    this.postDial = postDial;
    this.setHook(true);
    this.transition('seized');
  }

  private nextDialStep(): void {
    const step = this.steps.shift();
    if (!step) {
      this.pulsing = false;
      if (this.current === 'dialling') this.digitsOut();
      return;
    }
    switch (step.kind) {
      case 'pause':
        this.startTimer('dial-pause', this.o.commaPauseMs, () => this.nextDialStep());
        return;
      case 'dtmf':
        // Q.24: each digit needs its pause after it, or two equal digits run together into one
        // (a late timer would otherwise hand the next digit over while the last still plays).
        this.port.sendDtmf(step.digit, this.o.dtmf.toneMs, this.o.dtmf.gapMs);
        this.startTimer('dtmf-digit', this.o.dtmf.toneMs + this.o.dtmf.gapMs, () => this.nextDialStep());
        return;
      case 'pulse':
        this.pulsing = true;
        this.pulse(step.count);
        return;
      default: {
        const never: never = step;
        throw new Error(`unknown dial step ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Decadic dialling: `count` loop breaks of 60 ms separated by 40 ms makes (10 pulses/s, 60/40),
   * then the 700 ms inter-digit pause with the loop made.
   */
  private pulse(count: number): void {
    this.setHook(false);
    this.startTimer('pulse-break', this.o.pulse.breakMs, () => {
      this.setHook(true);
      if (count > 1) this.startTimer('pulse-make', this.o.pulse.makeMs, () => this.pulse(count - 1));
      else if (this.steps.length > 0)
        this.startTimer('inter-digit', this.o.pulse.interDigitMs, () => this.nextDialStep());
      else this.nextDialStep();
    });
  }

  private digitsOut(): void {
    this.dialComplete = true;
    if (this.o.answerSupervision === 'none') {
      // No answer signal on this line: the call is taken as answered once the digits are out.
      this.transition('connected');
      this.onEvent({ type: 'answered', supervision: 'assumed' });
      return;
    }
    this.startTimer('no-answer', this.o.noAnswerMs, () => this.outgoingFailed('no-answer', null));
  }

  private outgoingFailed(reason: OutgoingFailure, fault: FaultReason | null): void {
    if (fault) {
      this.stats.faults++;
      this.onEvent({ type: 'fault', reason: fault });
    }
    this.onEvent({ type: 'outgoing-failed', reason });
    this.release();
  }

  // ---------------------------------------------------------------------------------------------
  // Supervision.

  private loopCurrent(present: boolean): void {
    if (present) {
      this.cancelTimer('loop-drop');
      return;
    }
    if (!this.offHook || this.pulsing || !this.o.disconnectOn.loopCurrentDrop) return;
    if (this.current !== 'seized' && this.current !== 'dialling' && this.current !== 'connected') return;
    // Interruptions shorter than the minimum are battery feed glitches (and the exchange's own
    // reversal transients); a longer one is the exchange clearing the call.
    this.startLineTimer('loop-drop', this.o.loopDropMinMs, () => {
      if (this.current === 'seized') this.outgoingFailed('dead-line', 'dead-line');
      else if (this.current === 'dialling' && this.direction === 'outgoing')
        this.outgoingFailed('congestion', null);
      else this.farEndGone('loop-current-drop');
    });
  }

  private busyHeard(kind: 'busy' | 'congestion'): void {
    if (this.current === 'dialling') this.outgoingFailed(kind, null);
    else this.farEndGone('busy-tone');
  }

  private farEndGone(reason: FarEndDisconnectReason): void {
    this.onEvent({ type: 'far-end-disconnect', reason });
    this.release();
  }

  private armInactivity(delayMs: number): void {
    this.startTimer('inactivity', delayMs, () => {
      const quietMs = this.clock.now() - this.lastActivityMs;
      if (quietMs < this.o.stuckLineMs) {
        this.armInactivity(this.o.stuckLineMs - quietMs);
        return;
      }
      // Seized with nothing heard and nothing happening: the far end left without any signal
      // the exchange could give. Release rather than hold the line forever.
      this.stats.faults++;
      this.onEvent({ type: 'fault', reason: 'stuck-line' });
      this.release();
    });
  }

  private release(): void {
    this.pulsing = false;
    this.steps = [];
    this.transition('disconnecting');
  }

  private guardOver(): void {
    this.transition('idle');
    if (this.ringOn || this.ringDuringGuard) {
      this.ringDuringGuard = false;
      if (this.pendingDial) {
        this.pendingDial = null;
        this.onEvent({ type: 'outgoing-failed', reason: 'glare' });
      }
      this.transition('ringing');
      return;
    }
    const pending = this.pendingDial;
    this.pendingDial = null;
    if (pending) this.startOutgoing(pending.number, pending.postDial);
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing.

  private setHook(offHook: boolean): void {
    if (this.offHook === offHook) return;
    this.offHook = offHook;
    this.port.setHook(offHook);
  }

  private startTimer(name: string, delayMs: number, fire: () => void): void {
    this.timers.get(name)?.cancel();
    const handle = this.timerPort.start(name, delayMs, () => {
      if (this.timers.get(name) !== handle) return;
      this.timers.delete(name);
      if (!this.closed) fire();
    });
    this.timers.set(name, handle);
  }

  /**
   * A wait measured on the line as well as on the clock. The card hands events and audio over in
   * batches, events first; after the process stalls, timers fire before the batches that cover the
   * stalled time are delivered, so "nothing came within `delayMs`" is only true once `delayMs` of
   * line audio has been heard too. A line whose audio was not flowing when the wait began is timed
   * by the clock alone, and a card that stops delivering is given up on `LINE_TIME_SLACK_MS` late.
   */
  private startLineTimer(name: string, delayMs: number, fire: () => void): void {
    const fromFrame = this.framesHeard;
    const fromMs = this.clock.now();
    const audioFlowing = fromMs - this.lastFrameAtMs <= AUDIO_FLOWING_MS;
    const check = (): void => {
      const heardMs = (this.framesHeard - fromFrame) * FRAME_MS;
      const waitedMs = this.clock.now() - fromMs;
      if (audioFlowing && heardMs < delayMs && waitedMs < delayMs + LINE_TIME_SLACK_MS) {
        this.startTimer(name, Math.max(FRAME_MS, delayMs - heardMs), check);
        return;
      }
      fire();
    };
    this.startTimer(name, delayMs, check);
  }

  private cancelTimer(name: string): void {
    this.timers.get(name)?.cancel();
    this.timers.delete(name);
  }

  private stopAllTimers(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }
}

/** Dial string to steps: each digit a DTMF burst or a pulse train (0 is ten pulses); `,` pauses. */
export function dialSteps(digits: string, mode: 'dtmf' | 'pulse'): DialStep[] {
  const steps: DialStep[] = [];
  for (const d of digits) {
    if (d === ',') steps.push({ kind: 'pause' });
    else if (mode === 'pulse') steps.push({ kind: 'pulse', count: d === '0' ? 10 : Number(d) });
    else steps.push({ kind: 'dtmf', digit: d });
  }
  return steps;
}
