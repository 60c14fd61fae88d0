/**
 * The office side of each subscriber port: an analog loop (`FxoLoop`) or an E1 timeslot
 * (`E1Slot`). A port is a party to calls: it originates them from the digits it collects and is
 * offered calls by the office, and it tells the card side what a real exchange would — ring
 * voltage, caller ID, line reversals, loop current, CAS bits, tones.
 *
 *   idle ──off hook / seizure──► dial-tone ──digit──► collecting ──number──► calling ──answer──► connected
 *     │                              └─────────(timeout, bad number, busy)──► clearing ◄──far end clears─┘
 *     └──call offered──► alerting ──answered──► connected
 *   any state ──on hook / clear-forward──► idle;  E1 clears it started wait in releasing
 */
import type { TimerHandle } from '../../base/clock.ts';
import { DtmfDetector } from '../../base/signal/dtmf-detector.ts';
import { ToneGenerator } from '../../base/signal/tone-generator.ts';
import type { ToneName } from '../../base/signal/tone-plan.ts';
import type { CallerIdDate, CallerIdInfo } from '../../base/signal/caller-id.ts';
import { DTMF_CALLER_ID_TIMING, encodeDtmfCallerId } from '../../base/signal/caller-id-dtmf.ts';
import { encodeFskCallerId } from '../../base/signal/caller-id-fsk.ts';
import { FRAME_SAMPLES, type AlarmName, type CasBits, type ChannelKind } from '../api/types.ts';
import type {
  CidMode,
  CidTiming,
  ClearCause,
  CoCallLike,
  DisconnectMode,
  E1DigitMode,
  LineFault,
  LineOptions,
  LineSignal,
  OfferOptions,
  OfficeContext,
  Party,
  PortLink,
} from './co-types.ts';
import { NoiseSource, SampleQueue, synthesizeDtmf } from './signals.ts';
import type { DtmfCallerIdVariant } from '../../base/signal/caller-id-dtmf.ts';

export type PortState =
  'idle' | 'alerting' | 'dial-tone' | 'collecting' | 'calling' | 'connected' | 'clearing' | 'releasing';

const EDGES: Readonly<Record<PortState, readonly PortState[]>> = {
  idle: ['alerting', 'dial-tone', 'collecting'],
  alerting: ['connected', 'idle', 'releasing'],
  'dial-tone': ['collecting', 'clearing', 'idle'],
  collecting: ['calling', 'clearing', 'idle'],
  calling: ['connected', 'clearing', 'idle', 'releasing'],
  connected: ['clearing', 'idle', 'releasing'],
  clearing: ['idle', 'releasing'],
  releasing: ['idle'],
};

export interface PortSummary {
  id: string;
  kind: ChannelKind;
  number: string;
  state: PortState;
  offHook: boolean;
  callId: string | null;
  dialled: string;
  faults: LineFault[];
  options: LineOptions;
}

export interface PortDump extends PortSummary {
  sinceMs: number;
  timers: string[];
  tone: ToneName | null;
  polarity: 'normal' | 'reversed';
  alarms: AlarmName[];
  stats: { calls: number; digits: number; illegalTransitions: number };
}

/** Garbage audio on a faulty line: white noise this loud, on top of everything else. */
const GARBAGE_LEVEL_DBM0 = -20;

function dateOf(wallMs: number): CallerIdDate {
  const d = new Date(wallMs);
  return {
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
  };
}

/** The audio of one caller ID delivery in the given mode. */
export function callerIdAudio(
  info: CallerIdInfo,
  mode: CidMode,
  variant: DtmfCallerIdVariant,
  wallMs: number,
): Int16Array {
  const withDate: CallerIdInfo = { date: dateOf(wallMs), ...info };
  switch (mode) {
    case 'fsk-bell202':
      return encodeFskCallerId(withDate, { standard: 'bell202', format: 'mdmf' });
    case 'fsk-v23':
      return encodeFskCallerId(withDate, { standard: 'v23', format: 'mdmf' });
    case 'dtmf':
      return synthesizeDtmf(encodeDtmfCallerId(info, variant), {
        toneMs: DTMF_CALLER_ID_TIMING.toneMs,
        gapMs: DTMF_CALLER_ID_TIMING.gapMs,
        levelDbm0: -8,
      });
    default: {
      const never: never = mode;
      throw new Error(`unknown caller ID mode ${String(never)}`);
    }
  }
}

export abstract class CoPort implements Party {
  abstract readonly kind: ChannelKind;
  protected current: PortState = 'idle';
  protected sinceMs: number;
  protected call: CoCallLike | null = null;
  protected role: 'caller' | 'called' | null = null;
  protected link: PortLink | null = null;
  protected dialled = '';
  protected readonly faults = new Set<LineFault>();
  protected readonly queue = new SampleQueue();
  protected tone: ToneGenerator | null = null;
  protected toneName: ToneName | null = null;
  protected detector: DtmfDetector | null = null;
  protected alarms: AlarmName[] = [];
  private readonly timers = new Map<string, TimerHandle>();
  private readonly rx = new Int16Array(FRAME_SAMPLES);
  private readonly tx = new Int16Array(FRAME_SAMPLES);
  private heard = false;
  private noise: NoiseSource | null = null;
  protected readonly stats = { calls: 0, digits: 0, illegalTransitions: 0 };

  constructor(
    readonly id: string,
    readonly number: string,
    protected readonly ctx: OfficeContext,
    public options: LineOptions,
  ) {
    this.sinceMs = ctx.clock.now();
  }

  get label(): string {
    return `${this.id} (${this.number})`;
  }

  get state(): PortState {
    return this.current;
  }

  get callId(): string | null {
    return this.call?.id ?? null;
  }

  attach(link: PortLink): void {
    this.link = link;
  }

  setFaults(faults: readonly LineFault[]): void {
    this.faults.clear();
    for (const f of faults) this.faults.add(f);
    this.noise = this.faults.has('garbage-audio')
      ? new NoiseSource(GARBAGE_LEVEL_DBM0, this.number.length)
      : null;
    this.faultsChanged();
  }

  setAlarms(alarms: AlarmName[]): void {
    this.alarms = [...alarms];
    this.emit({ type: 'alarm', alarms: this.alarms });
  }

  // ---------------------------------------------------------------------------------------------
  // Per-tick audio.

  /** Take this tick's frame from the card and listen to it for digits. */
  pullTx(): void {
    const frame = this.link?.transmit();
    if (frame && frame.length === FRAME_SAMPLES) this.tx.set(frame);
    else this.tx.fill(0);
    this.detector?.process(this.tx);
  }

  talk(): Int16Array {
    return this.tx;
  }

  hear(frame: Int16Array): void {
    this.rx.set(frame);
    this.heard = true;
  }

  /** Send this tick's frame to the card: the far party, or the office's own tones and data. */
  pushRx(): void {
    const rx = this.rx;
    if (this.faults.has('dead-line')) rx.fill(0);
    else if (!this.heard) {
      if (!this.queue.empty) this.queue.fill(rx);
      else if (this.tone) this.tone.fill(rx);
      else rx.fill(0);
    }
    this.heard = false;
    if (this.noise && !this.faults.has('dead-line')) {
      const n = this.noise;
      for (let i = 0; i < rx.length; i++) {
        const v = (rx[i] ?? 0) + n.sample();
        rx[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    }
    this.link?.receive(rx);
  }

  // ---------------------------------------------------------------------------------------------
  // Party: the office reports on the call this port is in.

  alerting(): void {
    if (this.current === 'calling') this.playTone('ringback');
  }

  answered(): void {
    if (this.current !== 'calling') return;
    this.transition('connected');
    this.answerSignal();
  }

  rejected(cause: 'busy' | 'congestion'): void {
    this.call = null;
    if (this.current === 'calling' || this.current === 'collecting') {
      this.transition('clearing');
      this.playTone(cause);
    }
  }

  cleared(cause: ClearCause, disconnect?: DisconnectMode): void {
    this.call = null;
    if (this.current === 'alerting') {
      this.abandoned(cause);
      return;
    }
    if (this.current === 'calling') {
      // Cleared before answer (the called line stopped ringing): no line signal can say so
      // before answer supervision, only a tone.
      this.transition('clearing');
      this.playTone('busy');
      return;
    }
    if (this.current === 'connected') this.farEndCleared(disconnect);
  }

  /** Offer an incoming call; false when the port cannot take it (busy). */
  abstract offer(call: CoCallLike, callerId: CallerIdInfo | null, options?: OfferOptions): boolean;

  // ---------------------------------------------------------------------------------------------
  // Digit collection and call origination.

  protected digit(d: string): void {
    if (this.current === 'dial-tone') this.transition('collecting');
    if (this.current !== 'collecting') return;
    this.stats.digits++;
    this.dialled += d;
    const status = this.ctx.numberStatus(this.dialled);
    if (status === 'incomplete') {
      this.startTimer('inter-digit', this.ctx.timing.interDigitMs, () => this.placeCall());
      return;
    }
    this.placeCall();
  }

  protected startDetector(): void {
    this.detector = new DtmfDetector((ev) => {
      if (ev.type === 'begin') this.digit(ev.digit);
    });
  }

  private placeCall(): void {
    if (this.current !== 'collecting') return;
    this.transition('calling');
    this.role = 'caller';
    this.stats.calls++;
    const call = this.ctx.route(this, this.dialled, this.ctx.callerIdFor(this.number));
    // The office may already have refused the call (busy, unknown number) while routing it.
    this.call = call.state === 'ended' ? null : call;
  }

  /** The card side gave up the call (on hook, clear-forward): the far party is told. */
  protected localClear(): void {
    const call = this.call;
    this.call = null;
    call?.clear(this, 'normal');
  }

  // ---------------------------------------------------------------------------------------------
  // Per-kind signalling.

  protected abstract answerSignal(): void;
  protected abstract farEndCleared(disconnect?: DisconnectMode): void;
  protected abstract abandoned(cause: ClearCause): void;
  protected abstract faultsChanged(): void;

  // ---------------------------------------------------------------------------------------------
  // Plumbing.

  protected emit(ev: LineSignal): void {
    if (this.faults.has('dead-line') && ev.type !== 'alarm') return;
    this.link?.signal(ev, this.ctx.clock.now());
  }

  protected playTone(name: ToneName | null): void {
    this.toneName = name;
    this.tone = name ? new ToneGenerator(this.ctx.tonePlan.tones[name]) : null;
  }

  protected transition(to: PortState): boolean {
    if (!EDGES[this.current].includes(to)) {
      this.stats.illegalTransitions++;
      return false;
    }
    this.stopAllTimers();
    this.current = to;
    this.sinceMs = this.ctx.clock.now();
    switch (to) {
      case 'idle':
        this.playTone(null);
        this.queue.clear();
        this.detector = null;
        this.dialled = '';
        this.call = null;
        this.role = null;
        return true;
      case 'alerting':
        this.role = 'called';
        this.stats.calls++;
        this.playTone(null);
        return true;
      case 'dial-tone':
        // A line with no dial tone is one the exchange does not serve: no tone, no digits taken.
        if (!this.faults.has('no-dial-tone')) {
          this.playTone('dial');
          this.startDetector();
        }
        this.startTimer('first-digit', this.ctx.timing.firstDigitMs, () => {
          this.transition('clearing');
          this.playTone('congestion');
        });
        return true;
      case 'collecting':
        // Dial tone stops at the first digit (ITU-T Q.35 §2).
        this.playTone(null);
        if (!this.detector) this.startDetector();
        return true;
      case 'calling':
        this.detector = null;
        this.playTone(null);
        return true;
      case 'connected':
        this.playTone(null);
        this.queue.clear();
        return true;
      case 'clearing':
        this.detector = null;
        this.playTone(null);
        return true;
      case 'releasing':
        this.playTone(null);
        this.queue.clear();
        return true;
      default: {
        const never: never = to;
        throw new Error(`unknown port state ${String(never)}`);
      }
    }
  }

  protected startTimer(name: string, delayMs: number, fire: () => void): void {
    this.timers.get(name)?.cancel();
    const handle = this.ctx.timers.start(name, delayMs, () => {
      if (this.timers.get(name) !== handle) return;
      this.timers.delete(name);
      fire();
    });
    this.timers.set(name, handle);
  }

  protected cancelTimer(name: string): void {
    this.timers.get(name)?.cancel();
    this.timers.delete(name);
  }

  private stopAllTimers(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  abstract get offHook(): boolean;
  protected abstract polarityNow(): 'normal' | 'reversed';

  summary(): PortSummary {
    return {
      id: this.id,
      kind: this.kind,
      number: this.number,
      state: this.current,
      offHook: this.offHook,
      callId: this.call?.id ?? null,
      dialled: this.dialled,
      faults: [...this.faults],
      options: { ...this.options },
    };
  }

  dump(): PortDump {
    return {
      ...this.summary(),
      sinceMs: this.sinceMs,
      timers: [...this.timers.keys()],
      tone: this.toneName,
      polarity: this.polarityNow(),
      alarms: [...this.alarms],
      stats: { ...this.stats },
    };
  }

  close(): void {
    this.stopAllTimers();
    this.detector = null;
    this.link = null;
  }
}

/**
 * An analog loop-start line as the exchange's line card drives it: battery and loop current,
 * ring voltage in the country's cadence, caller ID in the silent interval or before the first
 * ring, line reversals for answer and clear, tones.
 */
export class FxoLoop extends CoPort {
  readonly kind = 'fxo' as const;
  private hookOff = false;
  private onHookAtMs = 0;
  private pulses = 0;
  private reversed = false;
  private ringOn = false;
  private rings = 0;
  private loopDropping = false;
  private pendingCid: Int16Array | null = null;
  private inBreak = false;
  private hangupTimer: TimerHandle | null = null;
  private pulseTimer: TimerHandle | null = null;

  get offHook(): boolean {
    return this.hookOff;
  }

  /**
   * Whether current flows through a closed loop now: the card measures it itself the moment it
   * goes off hook; the office signals only the changes it makes while the loop is closed.
   */
  get loopCurrentFlows(): boolean {
    return !this.faults.has('dead-line') && !this.loopDropping;
  }

  protected polarityNow(): 'normal' | 'reversed' {
    return this.reversed ? 'reversed' : 'normal';
  }

  /** The card opened or closed the loop. */
  hook(offHook: boolean): void {
    if (offHook === this.hookOff) return;
    this.hookOff = offHook;
    if (this.faults.has('dead-line')) return;
    const now = this.ctx.clock.now();
    if (!offHook) {
      this.onHookAtMs = now;
      this.inBreak = true;
      this.pulseTimer?.cancel();
      // Hook timing runs across state changes, so it is kept apart from the state's timers.
      this.hangupTimer?.cancel();
      this.hangupTimer = this.ctx.timers.start('hangup', this.ctx.timing.hangupMs, () => {
        this.hangupTimer = null;
        this.hungUp();
      });
      return;
    }
    const wasBreak = this.inBreak;
    this.inBreak = false;
    this.hangupTimer?.cancel();
    this.hangupTimer = null;
    const breakMs = now - this.onHookAtMs;
    if (this.current === 'dial-tone' || this.current === 'collecting') {
      if (wasBreak && breakMs <= this.ctx.timing.pulseMaxBreakMs) {
        // Decadic dialling: each short break is one pulse; a long enough make ends the digit.
        this.pulses++;
        this.pulseTimer = this.ctx.timers.start('pulse-digit', this.ctx.timing.pulseDigitGapMs, () => {
          this.pulseTimer = null;
          const n = this.pulses;
          this.pulses = 0;
          if (!this.faults.has('no-dial-tone') && n >= 1 && n <= 10) this.digit(String(n % 10));
        });
      }
      return;
    }
    switch (this.current) {
      case 'idle':
        this.pulses = 0;
        this.transition('dial-tone');
        return;
      case 'alerting':
        this.answerIncoming();
        return;
      case 'calling':
      case 'connected':
      case 'clearing':
      case 'releasing':
        // A break shorter than a hangup in a call (a flash) changes nothing here.
        return;
      default: {
        const never: never = this.current;
        throw new Error(`unknown port state ${String(never)}`);
      }
    }
  }

  offer(call: CoCallLike, callerId: CallerIdInfo | null, options: OfferOptions = {}): boolean {
    if (this.current !== 'idle' || this.hookOff) return false;
    this.call = call;
    call.setCalled(this);
    this.transition('alerting');
    const cid = this.faults.has('no-caller-id') ? null : callerId;
    const mode = options.cidMode ?? this.options.cidMode;
    const timing: CidTiming = options.cidTiming ?? this.options.cidTiming;
    const variant = options.dtmfCidVariant ?? this.options.dtmfCidVariant;
    const samples = cid ? callerIdAudio(cid, mode, variant, this.ctx.clock.wallNow()) : null;
    this.rings = 0;
    call.alerting();
    if (samples && timing === 'before-ring') {
      const t = this.ctx.timing;
      // EN 300 659-1 §6.1.4 (data transmission prior to ringing): a line reversal, then the data,
      // then ringing. The office returns the loop to normal polarity before the first ring, so a
      // later reversal in the call has one meaning only (answer or clear).
      this.reverse();
      this.startTimer('cid', t.cidAfterReversalMs, () => {
        this.queue.push(samples);
        const durationMs = Math.ceil((samples.length * 1000) / 8000);
        this.startTimer('cid-end', durationMs, () => {
          this.reverse();
          this.startTimer('ring-on', t.ringAfterCidMs, () => this.ringStart());
        });
      });
      return true;
    }
    // GR-30-CORE §3.1.1 / EN 300 659-1 §6.1.3: the data follows the first ring.
    this.pendingCid = samples;
    this.ringStart();
    return true;
  }

  private ringStart(): void {
    const [onMs, offMs] = this.ctx.timing.ringCadenceMs;
    this.ringOn = true;
    this.rings++;
    this.emit({ type: 'ring', on: true });
    if (this.faults.has('ring-stops') && this.rings === 2) {
      // The fault: ringing breaks off in the middle of a burst and never comes back.
      this.startTimer('ring-break', Math.floor(onMs / 2), () => this.ringBreaksOff());
      return;
    }
    this.startTimer('ring-off', onMs, () => {
      this.ringOn = false;
      this.emit({ type: 'ring', on: false });
      const cid = this.pendingCid;
      this.pendingCid = null;
      if (cid && this.rings === 1)
        this.startTimer('cid', this.ctx.timing.cidAfterRingMs, () => this.queue.push(cid));
      this.startTimer('ring-on', offMs, () => this.ringStart());
    });
  }

  private ringBreaksOff(): void {
    this.ringOn = false;
    this.emit({ type: 'ring', on: false });
    const call = this.call;
    this.transition('idle');
    call?.clear(this, 'ringing-stopped');
  }

  private answerIncoming(): void {
    // Ring trip: the exchange removes ring voltage the moment the loop closes.
    if (this.ringOn) {
      this.ringOn = false;
      this.emit({ type: 'ring', on: false });
    }
    // EN 300 659-1 §6.1.4 returns the line to normal polarity after the data and before the first
    // ring. Answered before that (during or right after the data), the office leaves the polarity
    // as it is: a reversal after answer would tell the terminal the call was cleared. The clear
    // later reverses relative to the polarity at answer, and release restores normal polarity.
    this.pendingCid = null;
    this.transition('connected');
    this.call?.answer();
  }

  protected answerSignal(): void {
    // Answer supervision: the loop reverses when the called party answers.
    if (this.options.answerSupervision) this.reverse();
  }

  protected farEndCleared(disconnect: DisconnectMode = this.options.disconnect): void {
    this.transition('clearing');
    switch (disconnect) {
      case 'loop-drop':
        // Open-loop disconnect: battery removed for a moment, then busy tone.
        this.loopDropping = true;
        if (this.hookOff) this.emit({ type: 'loop-current', present: false });
        this.startTimer('loop-drop', this.ctx.timing.loopDropMs, () => {
          this.loopDropping = false;
          if (this.hookOff) this.emit({ type: 'loop-current', present: true });
          this.playTone('busy');
        });
        return;
      case 'polarity-reversal':
        this.reverse();
        this.playTone('busy');
        return;
      case 'busy-tone':
        this.playTone('busy');
        return;
      default: {
        const never: never = disconnect;
        throw new Error(`unknown disconnect mode ${String(never)}`);
      }
    }
  }

  protected abandoned(): void {
    if (this.ringOn) {
      this.ringOn = false;
      this.emit({ type: 'ring', on: false });
    }
    if (this.reversed) this.reverse();
    this.transition('idle');
  }

  protected faultsChanged(): void {
    this.setAlarms(this.faults.has('dead-line') ? ['no-battery'] : []);
  }

  override close(): void {
    this.hangupTimer?.cancel();
    this.pulseTimer?.cancel();
    super.close();
  }

  private hungUp(): void {
    this.loopDropping = false;
    this.pulses = 0;
    // The line is restored to normal polarity when the call is released.
    if (this.reversed) this.reverse();
    this.localClear();
    if (this.current !== 'idle') this.transition('idle');
  }

  private reverse(): void {
    this.reversed = !this.reversed;
    this.emit({ type: 'polarity-reversal' });
  }
}

const IDLE: CasBits = { a: 1, b: 0 };
const SEIZE: CasBits = { a: 0, b: 0 };
const ACK: CasBits = { a: 1, b: 1 };
const ANSWER: CasBits = { a: 0, b: 1 };
const CLEAR_BACK: CasBits = { a: 1, b: 1 };

export function casEquals(x: CasBits, y: CasBits): boolean {
  return x.a === y.a && x.b === y.b;
}

/**
 * An E1 bearer channel with a simple channel-associated signalling: the a/b line signals of
 * ITU-T Q.421 (Table 1, digital line signalling) without the R2 register signalling; digits go as
 * a digit list or as DTMF in band.
 *
 *   state             forward af bf   backward ab bb
 *   idle              1 0             1 0
 *   seized            0 0             1 0
 *   seizure ack'd     0 0             1 1
 *   answered          0 0             0 1
 *   clear-back        0 0             1 1
 *   clear-forward     1 0             (0 1 or 1 1), then 1 0 when released
 */
export class E1Slot extends CoPort {
  readonly kind = 'e1' as const;
  private txBits: CasBits = IDLE;
  private rxBits: CasBits = IDLE;
  /** The office seized this call (it sends forward signals). */
  private forward = false;
  private acked = false;
  private outgoing: { digits: string; callerId: string | null } | null = null;

  constructor(
    id: string,
    number: string,
    ctx: OfficeContext,
    options: LineOptions,
    readonly span: number,
    readonly channel: number,
    private readonly digitMode: E1DigitMode,
  ) {
    super(id, number, ctx, options);
  }

  get offHook(): boolean {
    return !casEquals(this.rxBits, IDLE);
  }

  protected polarityNow(): 'normal' | 'reversed' {
    return 'normal';
  }

  /** Bits the office sends now (for the card's first look). */
  get bits(): CasBits {
    return this.txBits;
  }

  /** The card changed the bits it sends. */
  cas(bits: CasBits): void {
    if (casEquals(bits, this.rxBits)) return;
    this.rxBits = bits;
    if (this.alarms.length > 0) return;
    if (casEquals(bits, IDLE)) {
      this.farSideIdle();
      return;
    }
    if (this.current === 'idle' && casEquals(bits, SEIZE)) {
      // Seizure from the gateway: acknowledge at once and take digits.
      this.forward = false;
      this.setBits(ACK);
      this.transition('collecting');
      return;
    }
    if (!this.forward) return;
    if (this.current === 'alerting' && casEquals(bits, ACK) && !this.acked) {
      this.acked = true;
      this.sendCalledNumber();
      return;
    }
    if (this.current === 'alerting' && casEquals(bits, ANSWER)) {
      this.transition('connected');
      this.call?.answer();
      return;
    }
    if (this.current === 'connected' && casEquals(bits, CLEAR_BACK)) {
      // Clear-back: the gateway hung up; the office clears forward and waits for idle.
      this.localClear();
      this.setBits(IDLE);
      this.transition('releasing');
    }
  }

  /** A digit list from the card (out-of-band digits). */
  digits(list: string): void {
    for (const d of list) this.digit(d);
  }

  offer(call: CoCallLike, callerId: CallerIdInfo | null, options: OfferOptions = {}): boolean {
    if (this.current !== 'idle' || this.offHook || this.alarms.length > 0) return false;
    this.call = call;
    call.setCalled(this);
    this.forward = true;
    this.acked = false;
    this.outgoing = {
      digits: options.calledNumber ?? this.number,
      callerId: this.faults.has('no-caller-id') ? null : (callerId?.number ?? null),
    };
    this.transition('alerting');
    this.setBits(SEIZE);
    call.alerting();
    return true;
  }

  private sendCalledNumber(): void {
    const out = this.outgoing;
    if (!out) return;
    if (this.digitMode === 'list') this.emit({ type: 'digits', digits: out.digits, callerId: out.callerId });
    else this.queue.push(synthesizeDtmf(out.digits));
  }

  private farSideIdle(): void {
    switch (this.current) {
      case 'idle':
        return;
      case 'releasing':
        this.transition('idle');
        return;
      case 'alerting':
      case 'dial-tone':
      case 'collecting':
      case 'calling':
      case 'connected':
      case 'clearing':
        // Clear-forward from the gateway (its call), or the gateway gave up ours.
        this.localClear();
        this.setBits(IDLE);
        this.transition('idle');
        return;
      default: {
        const never: never = this.current;
        throw new Error(`unknown port state ${String(never)}`);
      }
    }
  }

  protected answerSignal(): void {
    this.setBits(ANSWER);
  }

  protected farEndCleared(): void {
    if (this.forward) {
      this.setBits(IDLE);
      this.transition('releasing');
      return;
    }
    this.setBits(CLEAR_BACK);
    this.transition('clearing');
  }

  protected abandoned(): void {
    // The caller gave up while the gateway was being offered the call: clear-forward.
    this.setBits(IDLE);
    this.transition('releasing');
  }

  protected faultsChanged(): void {
    // E1 timeslots have no analog faults; span alarms stand in for a dead trunk.
  }

  override setAlarms(alarms: AlarmName[]): void {
    super.setAlarms(alarms);
    if (alarms.length > 0 && this.current !== 'idle') {
      // Loss of the span clears every call on it.
      this.localClear();
      this.txBits = IDLE;
      this.transition('idle');
    }
  }

  private setBits(bits: CasBits): void {
    if (casEquals(bits, this.txBits)) return;
    this.txBits = bits;
    this.emit({ type: 'cas', bits });
  }

  override dump(): PortDump & { cas: { tx: CasBits; rx: CasBits; forward: boolean } } {
    return {
      ...super.dump(),
      cas: { tx: { ...this.txBits }, rx: { ...this.rxBits }, forward: this.forward },
    };
  }
}
