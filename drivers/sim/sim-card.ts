/**
 * The simulated telephony card: FXO ports and E1 spans whose far ends are the simulated central
 * office. It behaves as a DAHDI card does toward the gateway — events read in time order, audio
 * every 20 ms both ways, DTMF and pulse dialling done by the card — so the gateway cannot tell it
 * from hardware except by its model name.
 *
 * Events raised by a command or by the office are queued and delivered with the next frame (a
 * real card reports them on its next interrupt); a command never calls back into its caller.
 */
import type { TimerHandle } from '../../base/clock.ts';
import { err, ok, type Result } from '../../base/result.ts';
import {
  DriverErrors,
  FRAME_SAMPLES,
  type AlarmName,
  type AudioListener,
  type Card,
  type CardDump,
  type CasBits,
  type Channel,
  type ChannelDump,
  type ChannelEvent,
  type ChannelKind,
  type ChannelStatus,
  type DialOptions,
  type DriverError,
  type EventListener,
  type Span,
  type SpanKind,
} from '../api/types.ts';
import { CentralOffice, type CentralOfficeOptions } from './central-office.ts';
import { casEquals, type E1Slot, type FxoLoop } from './co-ports.ts';
import type { E1DigitMode, LineOptions, LineSignal, PortLink } from './co-types.ts';
import { DEFAULT_DTMF_TIMING, DTMF_DIGITS, SampleQueue, synthesizeDtmf } from './signals.ts';

/** Frames the gateway may queue ahead of the line (a 160 ms transmit buffer). */
const TX_BUFFER_FRAMES = 8;

type Fail = { ok: false; error: DriverError };

function fail(code: DriverError['code'], message: string, field?: string): Fail {
  return err(field === undefined ? { code, message } : { code, message, field });
}

abstract class SimChannel implements Channel, PortLink {
  abstract readonly kind: ChannelKind;
  protected readonly pending: ChannelEvent[] = [];
  private readonly audioListeners = new Set<AudioListener>();
  private readonly eventListeners = new Set<EventListener>();
  private readonly ring: Int16Array[] = Array.from(
    { length: TX_BUFFER_FRAMES },
    () => new Int16Array(FRAME_SAMPLES),
  );
  private head = 0;
  private count = 0;
  private readonly txOut = new Int16Array(FRAME_SAMPLES);
  protected readonly dialQueue = new SampleQueue();
  protected dialling = false;
  protected alarms: AlarmName[] = [];
  protected closed = false;
  protected readonly stats = { framesIn: 0, framesOut: 0, txOverruns: 0, txUnderruns: 0, events: 0 };

  constructor(
    readonly id: string,
    readonly index: number,
    readonly spanId: string,
    protected readonly office: CentralOffice,
  ) {}

  // PortLink: the office's side.

  abstract signal(ev: LineSignal, atMs: number): void;

  transmit(): Int16Array {
    const out = this.txOut;
    const queued = this.count > 0 ? this.ring[this.head] : undefined;
    if (queued) {
      this.head = (this.head + 1) % TX_BUFFER_FRAMES;
      this.count--;
    } else if (this.active()) this.stats.txUnderruns++;
    if (!this.dialQueue.empty) {
      // While the card dials, its digit generator owns the transmit path (as DAHDI_DIAL does).
      this.dialQueue.fill(out);
      if (this.dialQueue.empty && this.dialling) {
        this.dialling = false;
        this.queue({ type: 'dial-complete', atMs: this.office.clock.now() });
      }
    } else if (queued) out.set(queued);
    else out.fill(0);
    this.stats.framesOut++;
    return out;
  }

  receive(frame: Int16Array): void {
    this.flush();
    this.stats.framesIn++;
    for (const l of this.audioListeners) l(frame);
  }

  // Channel: the gateway's side.

  abstract seize(): Result<void, DriverError>;
  abstract release(): Result<void, DriverError>;
  abstract answer(): Result<void, DriverError>;
  abstract setHook(offHook: boolean): Result<void, DriverError>;
  abstract dialPulse(digits: string): Result<void, DriverError>;
  abstract sendDigits(digits: string): Result<void, DriverError>;
  protected abstract canDial(): Result<void, DriverError>;
  protected abstract active(): boolean;
  abstract status(): ChannelStatus;

  dialDtmf(digits: string, options: DialOptions = {}): Result<void, DriverError> {
    if (digits.length === 0 || !DTMF_DIGITS.test(digits.toUpperCase())) {
      return fail(DriverErrors.BAD_DIGITS, `not DTMF digits: ${JSON.stringify(digits)}`, 'digits');
    }
    const can = this.canDial();
    if (!can.ok) return can;
    this.dialQueue.push(
      synthesizeDtmf(digits.toUpperCase(), {
        toneMs: options.toneMs ?? DEFAULT_DTMF_TIMING.toneMs,
        gapMs: options.gapMs ?? DEFAULT_DTMF_TIMING.gapMs,
        levelDbm0: options.levelDbm0 ?? DEFAULT_DTMF_TIMING.levelDbm0,
      }),
    );
    this.dialling = true;
    return ok(undefined);
  }

  sendAudio(frame: Int16Array): Result<void, DriverError> {
    if (this.closed) return fail(DriverErrors.CLOSED, 'channel closed');
    if (frame.length !== FRAME_SAMPLES) {
      return fail(
        DriverErrors.BAD_FRAME,
        `a frame is ${FRAME_SAMPLES} samples, got ${frame.length}`,
        'frame',
      );
    }
    if (this.count === TX_BUFFER_FRAMES) {
      // Full: drop the oldest frame so latency stays bounded.
      this.head = (this.head + 1) % TX_BUFFER_FRAMES;
      this.count--;
      this.stats.txOverruns++;
    }
    const slot = this.ring[(this.head + this.count) % TX_BUFFER_FRAMES];
    slot?.set(frame);
    this.count++;
    return ok(undefined);
  }

  onAudio(listener: AudioListener): () => void {
    this.audioListeners.add(listener);
    return () => this.audioListeners.delete(listener);
  }

  onEvent(listener: EventListener): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  dump(): ChannelDump {
    return { ...this.status(), stats: { ...this.stats } };
  }

  close(): void {
    this.closed = true;
    this.audioListeners.clear();
    this.eventListeners.clear();
    this.pending.length = 0;
  }

  protected queue(ev: ChannelEvent): void {
    this.pending.push(ev);
  }

  protected setAlarms(alarms: AlarmName[], atMs: number): void {
    this.alarms = [...alarms];
    this.queue({ type: 'alarm', alarms: [...alarms], atMs });
  }

  private flush(): void {
    while (this.pending.length > 0) {
      const ev = this.pending.shift();
      if (!ev) break;
      this.stats.events++;
      for (const l of this.eventListeners) l(ev);
    }
  }
}

/** Decadic dialling as the card times it: 60 ms break, 40 ms make, 700 ms between digits. */
const PULSE = { breakMs: 60, makeMs: 40, interDigitMs: 700 } as const;

export class SimFxoChannel extends SimChannel {
  readonly kind = 'fxo' as const;
  private offHook = false;
  private ringing = false;
  private reversed = false;
  private loopCurrent = false;
  private pulseTimer: TimerHandle | null = null;

  constructor(
    id: string,
    index: number,
    spanId: string,
    office: CentralOffice,
    private readonly loop: FxoLoop,
  ) {
    super(id, index, spanId, office);
    loop.attach(this);
  }

  signal(ev: LineSignal, atMs: number): void {
    switch (ev.type) {
      case 'ring':
        this.ringing = ev.on;
        this.queue(ev.on ? { type: 'ring-on', atMs } : { type: 'ring-off', atMs });
        return;
      case 'polarity-reversal':
        this.reversed = !this.reversed;
        this.queue({ type: 'polarity-reversal', atMs });
        return;
      case 'loop-current':
        this.setLoopCurrent(ev.present, atMs);
        return;
      case 'alarm':
        this.setAlarms(ev.alarms, atMs);
        return;
      case 'cas':
      case 'digits':
        return;
      default: {
        const never: never = ev;
        throw new Error(`unknown line signal ${JSON.stringify(never)}`);
      }
    }
  }

  seize(): Result<void, DriverError> {
    if (this.offHook) return fail(DriverErrors.OFF_HOOK, `${this.id} is already off hook`);
    return this.setHook(true);
  }

  answer(): Result<void, DriverError> {
    return this.seize();
  }

  release(): Result<void, DriverError> {
    this.stopDialling();
    return this.setHook(false);
  }

  setHook(offHook: boolean): Result<void, DriverError> {
    if (this.closed) return fail(DriverErrors.CLOSED, 'channel closed');
    this.hook(offHook);
    return ok(undefined);
  }

  protected canDial(): Result<void, DriverError> {
    if (this.closed) return fail(DriverErrors.CLOSED, 'channel closed');
    if (!this.offHook) return fail(DriverErrors.ON_HOOK, `${this.id} is on hook: seize it before dialling`);
    if (this.pulseTimer) return fail(DriverErrors.BUSY_DIALLING, `${this.id} is pulse dialling`);
    return ok(undefined);
  }

  dialPulse(digits: string): Result<void, DriverError> {
    if (digits.length === 0 || !/^[0-9]+$/.test(digits)) {
      return fail(
        DriverErrors.BAD_DIGITS,
        `pulse dialling takes 0–9 only, got ${JSON.stringify(digits)}`,
        'digits',
      );
    }
    const can = this.canDial();
    if (!can.ok) return can;
    if (this.dialling) return fail(DriverErrors.BUSY_DIALLING, `${this.id} is dialling DTMF`);
    const steps: Array<{ hook: boolean; ms: number }> = [];
    [...digits].forEach((d, k) => {
      const n = d === '0' ? 10 : Number(d);
      for (let i = 0; i < n; i++) {
        steps.push({ hook: false, ms: PULSE.breakMs });
        steps.push({
          hook: true,
          ms: i === n - 1 ? (k === digits.length - 1 ? 0 : PULSE.interDigitMs) : PULSE.makeMs,
        });
      }
    });
    this.dialling = true;
    const next = (): void => {
      const step = steps.shift();
      if (!step) {
        this.pulseTimer = null;
        this.dialling = false;
        this.queue({ type: 'dial-complete', atMs: this.office.clock.now() });
        return;
      }
      this.hook(step.hook);
      this.pulseTimer = this.office.timers.start('pulse', step.ms, next);
    };
    next();
    return ok(undefined);
  }

  sendDigits(): Result<void, DriverError> {
    return fail(
      DriverErrors.UNSUPPORTED,
      'an analog line has no out-of-band digits: use dialDtmf or dialPulse',
    );
  }

  protected active(): boolean {
    return this.offHook;
  }

  status(): ChannelStatus {
    return {
      id: this.id,
      kind: this.kind,
      offHook: this.offHook,
      ringing: this.ringing,
      polarity: this.reversed ? 'reversed' : 'normal',
      loopCurrent: this.loopCurrent,
      alarms: [...this.alarms],
      cas: null,
      dialling: this.dialling,
    };
  }

  override close(): void {
    this.stopDialling();
    super.close();
  }

  private hook(offHook: boolean): void {
    if (offHook === this.offHook) return;
    this.offHook = offHook;
    const now = this.office.clock.now();
    this.queue({ type: 'hook', offHook, atMs: now });
    this.loop.hook(offHook);
    // The card measures loop current itself: present once the loop closes on a live line.
    this.setLoopCurrent(offHook && this.loop.loopCurrentFlows, now, offHook);
  }

  private setLoopCurrent(present: boolean, atMs: number, force = false): void {
    if (present === this.loopCurrent && !force) return;
    this.loopCurrent = present;
    this.queue({ type: 'loop-current', present, atMs });
  }

  private stopDialling(): void {
    this.pulseTimer?.cancel();
    this.pulseTimer = null;
    this.dialQueue.clear();
    this.dialling = false;
  }
}

const IDLE: CasBits = { a: 1, b: 0 };
const SEIZE: CasBits = { a: 0, b: 0 };
const ACK: CasBits = { a: 1, b: 1 };
const ANSWER: CasBits = { a: 0, b: 1 };
const CLEAR_BACK: CasBits = { a: 1, b: 1 };

type CasState =
  | 'idle'
  | 'out-seizing'
  | 'out-proceeding'
  | 'out-answered'
  | 'in-seized'
  | 'in-answered'
  | 'clear-sent'
  | 'far-cleared';

/**
 * An E1 bearer channel with the simple CAS of `E1Slot` (ITU-T Q.421 a/b line signals): the card
 * acknowledges a seizure by itself and reports what the bits mean as well as the bits.
 */
export class SimE1Channel extends SimChannel {
  readonly kind = 'e1' as const;
  private cas: CasState = 'idle';
  private tx: CasBits = IDLE;
  private rx: CasBits = IDLE;

  constructor(
    id: string,
    index: number,
    spanId: string,
    office: CentralOffice,
    private readonly slot: E1Slot,
    private readonly digitMode: E1DigitMode,
  ) {
    super(id, index, spanId, office);
    slot.attach(this);
    this.rx = { ...slot.bits };
  }

  signal(ev: LineSignal, atMs: number): void {
    switch (ev.type) {
      case 'cas':
        this.received(ev.bits, atMs);
        return;
      case 'digits':
        if (this.cas === 'in-seized')
          this.queue({ type: 'incoming', digits: ev.digits, callerId: ev.callerId, atMs });
        return;
      case 'alarm':
        this.setAlarms(ev.alarms, atMs);
        if (ev.alarms.length > 0 && this.cas !== 'idle') {
          this.cas = 'idle';
          this.tx = IDLE;
          this.rx = IDLE;
          this.dialQueue.clear();
          this.queue({ type: 'cleared', atMs });
          this.queue({ type: 'idle', atMs });
        }
        return;
      case 'ring':
      case 'polarity-reversal':
      case 'loop-current':
        return;
      default: {
        const never: never = ev;
        throw new Error(`unknown line signal ${JSON.stringify(never)}`);
      }
    }
  }

  seize(): Result<void, DriverError> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    if (this.cas !== 'idle') return fail(DriverErrors.STATE, `${this.id} is ${this.cas}`);
    this.cas = 'out-seizing';
    this.send(SEIZE);
    return ok(undefined);
  }

  answer(): Result<void, DriverError> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    if (this.cas !== 'in-seized')
      return fail(DriverErrors.STATE, `${this.id} has no incoming call to answer (${this.cas})`);
    this.cas = 'in-answered';
    this.send(ANSWER);
    return ok(undefined);
  }

  release(): Result<void, DriverError> {
    if (this.closed) return fail(DriverErrors.CLOSED, 'channel closed');
    this.dialQueue.clear();
    this.dialling = false;
    switch (this.cas) {
      case 'idle':
      case 'clear-sent':
        return ok(undefined);
      case 'out-seizing':
      case 'out-proceeding':
      case 'out-answered':
      case 'far-cleared':
        // Clear-forward (or the release after the far end's clear).
        this.cas = 'clear-sent';
        this.send(IDLE);
        // The far end may already be idle (or have answered the clear-forward at once).
        if (this.cas === 'clear-sent' && casEquals(this.rx, IDLE)) this.becomeIdle(this.office.clock.now());
        return ok(undefined);
      case 'in-seized':
      case 'in-answered':
        // Clear-back: the office answers with clear-forward, then both return to idle.
        this.cas = 'clear-sent';
        this.send(CLEAR_BACK);
        return ok(undefined);
      default: {
        const never: never = this.cas;
        throw new Error(`unknown CAS state ${String(never)}`);
      }
    }
  }

  setHook(): Result<void, DriverError> {
    return fail(DriverErrors.UNSUPPORTED, 'an E1 timeslot has no hook: use seize/answer/release');
  }

  dialPulse(): Result<void, DriverError> {
    return fail(DriverErrors.UNSUPPORTED, 'an E1 timeslot cannot pulse dial');
  }

  sendDigits(digits: string): Result<void, DriverError> {
    if (digits.length === 0 || !/^[0-9*#]+$/.test(digits)) {
      return fail(DriverErrors.BAD_DIGITS, `not a digit list: ${JSON.stringify(digits)}`, 'digits');
    }
    const usable = this.usable();
    if (!usable.ok) return usable;
    if (this.cas !== 'out-proceeding' && this.cas !== 'out-answered') {
      return fail(
        DriverErrors.STATE,
        `${this.id} has no acknowledged seizure to send digits on (${this.cas})`,
      );
    }
    this.slot.digits(digits);
    return ok(undefined);
  }

  protected canDial(): Result<void, DriverError> {
    const usable = this.usable();
    if (!usable.ok) return usable;
    if (this.cas === 'idle' || this.cas === 'out-seizing' || this.cas === 'clear-sent') {
      return fail(DriverErrors.ON_HOOK, `${this.id} is not seized (${this.cas})`);
    }
    return ok(undefined);
  }

  protected active(): boolean {
    return this.cas !== 'idle';
  }

  status(): ChannelStatus {
    return {
      id: this.id,
      kind: this.kind,
      offHook: this.cas !== 'idle',
      ringing: false,
      polarity: 'normal',
      loopCurrent: false,
      alarms: [...this.alarms],
      cas: this.cas,
      dialling: this.dialling,
    };
  }

  private usable(): Result<void, DriverError> {
    if (this.closed) return fail(DriverErrors.CLOSED, 'channel closed');
    if (this.alarms.length > 0) return fail(DriverErrors.ALARM, `span in alarm: ${this.alarms.join(', ')}`);
    return ok(undefined);
  }

  private send(bits: CasBits): void {
    this.tx = bits;
    this.slot.cas(bits);
  }

  private received(bits: CasBits, atMs: number): void {
    this.rx = bits;
    this.queue({ type: 'cas', bits: { ...bits }, atMs });
    const is = (b: CasBits): boolean => casEquals(bits, b);
    switch (this.cas) {
      case 'idle':
        if (is(SEIZE)) {
          // Q.421: the seizure is acknowledged at once; the digits follow.
          this.cas = 'in-seized';
          this.send(ACK);
          if (this.digitMode === 'dtmf') this.queue({ type: 'incoming', digits: null, callerId: null, atMs });
        }
        return;
      case 'out-seizing':
        if (is(ACK)) {
          this.cas = 'out-proceeding';
          this.queue({ type: 'proceeding', atMs });
        } else if (is(IDLE)) this.farCleared(atMs);
        return;
      case 'out-proceeding':
        if (is(ANSWER)) {
          this.cas = 'out-answered';
          this.queue({ type: 'answered', atMs });
        } else if (is(IDLE)) this.farCleared(atMs);
        return;
      case 'out-answered':
        if (is(CLEAR_BACK) || is(IDLE)) this.farCleared(atMs);
        return;
      case 'in-seized':
      case 'in-answered':
        if (is(IDLE)) this.farCleared(atMs);
        return;
      case 'clear-sent':
        if (is(IDLE)) {
          this.send(IDLE);
          this.becomeIdle(atMs);
        }
        return;
      case 'far-cleared':
        return;
      default: {
        const never: never = this.cas;
        throw new Error(`unknown CAS state ${String(never)}`);
      }
    }
  }

  private farCleared(atMs: number): void {
    this.cas = 'far-cleared';
    this.queue({ type: 'cleared', atMs });
  }

  private becomeIdle(atMs: number): void {
    this.cas = 'idle';
    this.queue({ type: 'idle', atMs });
  }
}

class SimSpan implements Span {
  constructor(
    readonly id: string,
    readonly kind: SpanKind,
    readonly index: number,
    readonly channels: SimChannel[],
  ) {}

  alarms(): AlarmName[] {
    const set = new Set<AlarmName>();
    for (const c of this.channels) for (const a of c.status().alarms) set.add(a);
    return [...set];
  }

  dump(): { id: string; kind: SpanKind; alarms: AlarmName[]; channels: ChannelDump[] } {
    return {
      id: this.id,
      kind: this.kind,
      alarms: this.alarms(),
      channels: this.channels.map((c) => c.dump()),
    };
  }
}

export interface SimCardOptions {
  /** Card id, the prefix of its channel ids (`sim0/fxo-1`). */
  id?: string;
  /** Analog FXO ports (default 4). */
  fxo?: number;
  /** E1 spans of 30 bearer channels each (default 1). */
  e1Spans?: number;
  /** Per-port line options, by 1-based FXO port. */
  lines?: Record<number, Partial<LineOptions> & { number?: string }>;
}

export class SimCard implements Card {
  readonly family = 'sim' as const;
  readonly model: string;
  readonly spans: SimSpan[] = [];
  private readonly all: SimChannel[] = [];

  constructor(
    readonly office: CentralOffice,
    options: SimCardOptions = {},
  ) {
    this.id = options.id ?? 'sim0';
    const fxo = options.fxo ?? 4;
    const e1 = options.e1Spans ?? 1;
    this.model = `edgeline simulated card (${fxo} FXO, ${e1} E1)`;
    if (fxo > 0) {
      const spanId = `${this.id}/analog`;
      const channels: SimChannel[] = [];
      for (let i = 1; i <= fxo; i++) {
        const loop = office.addFxoLine(options.lines?.[i] ?? {});
        channels.push(new SimFxoChannel(`${this.id}/${loop.id}`, i, spanId, office, loop));
      }
      this.spans.push(new SimSpan(spanId, 'analog', this.spans.length + 1, channels));
    }
    for (let s = 1; s <= e1; s++) {
      const slots = office.addE1Span();
      const spanId = `${this.id}/e1-${slots[0]?.span ?? s}`;
      const channels = slots.map(
        (slot) =>
          new SimE1Channel(`${this.id}/${slot.id}`, slot.channel, spanId, office, slot, office.e1DigitMode),
      );
      this.spans.push(new SimSpan(spanId, 'e1', this.spans.length + 1, channels));
    }
    for (const span of this.spans) this.all.push(...span.channels);
  }

  readonly id: string;

  channels(): Channel[] {
    return [...this.all];
  }

  channel(id: string): Channel | undefined {
    return this.all.find((c) => c.id === id);
  }

  close(): void {
    for (const c of this.all) c.close();
  }

  dump(): CardDump {
    const stats = { framesIn: 0, framesOut: 0, txOverruns: 0, txUnderruns: 0, events: 0 };
    for (const c of this.all) {
      const s = c.dump().stats;
      stats.framesIn += s.framesIn;
      stats.framesOut += s.framesOut;
      stats.txOverruns += s.txOverruns;
      stats.txUnderruns += s.txUnderruns;
      stats.events += s.events;
    }
    return {
      id: this.id,
      family: this.family,
      model: this.model,
      spans: this.spans.map((s) => s.dump()),
      stats,
    };
  }
}

export interface Simulation {
  office: CentralOffice;
  card: SimCard;
  close(): void;
}

/** A central office and one card wired to it, on the given clock. */
export function createSimulation(
  options: SimCardOptions & { office?: Omit<CentralOfficeOptions, 'clock' | 'timers'> },
  deps: Pick<CentralOfficeOptions, 'clock' | 'timers'>,
): Simulation {
  const office = new CentralOffice({ ...options.office, ...deps });
  const card = new SimCard(office, options);
  return {
    office,
    card,
    close: () => {
      card.close();
      office.close();
    },
  };
}
