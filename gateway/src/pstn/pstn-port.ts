/**
 * One PSTN bearer as call control sees it, whatever the signalling behind it: an FXO line (the
 * `FxoLine` state machine on a card channel) or an E1 timeslot with the simulation's simple CAS.
 * Both present the same commands (dial, answer, hang up) and the same events, so the PSTN user
 * agent treats every port alike.
 */
import type { Channel, ChannelEvent } from '../../../drivers/api/types.ts';
import type { Clock, Timers } from '../../../base/clock.ts';
import { err, ok, type Result } from '../../../base/result.ts';
import type { TonePlan } from '../../../base/signal/tone-plan.ts';
import type { CadenceProfile } from './cadence.ts';
import type { CallerIdInfo } from '../../../base/signal/caller-id.ts';
import { FxoLine, type FxoLineDump, type FxoLineOptions } from './fxo-line.ts';

export type PortEvent =
  | { type: 'incoming'; callerNumber: string; callerName: string | null; did: string | null }
  | { type: 'answered'; supervision: string }
  | { type: 'outgoing-failed'; reason: string }
  | { type: 'far-end-disconnect'; reason: string }
  | { type: 'released' }
  | { type: 'fault'; reason: string };

/** The state shown by `GET /api/pstn/lines` and the `edgeline_pstn_line_state` gauge. */
export type PortState = 'idle' | 'ringing' | 'seized' | 'connected' | 'fault';
export const PORT_STATES: readonly PortState[] = ['idle', 'ringing', 'seized', 'connected', 'fault'];

/** An FXO port's dump: its line state machine's, tagged. */
export interface FxoPortDump extends FxoLineDump {
  kind: 'fxo';
}

export type PstnPortDump = FxoPortDump | E1PortDump;

export interface PstnPort {
  /** Hunt key: the line id (`fxo1`) or `span/timeslot` (`e1-1/5`). */
  readonly key: string;
  /** The configured line or span id. */
  readonly lineId: string;
  readonly channel: Channel;
  /** Free for a new outgoing call. */
  readonly available: boolean;
  readonly state: PortState;
  /** An outgoing call got past seizure: dial tone heard and digits sent, or seizure acknowledged. */
  readonly progressed: boolean;
  dial(number: string): Result<void>;
  answer(): Result<void>;
  hangup(): void;
  /** Received audio from the card, every 20 ms. */
  audio(frame: Int16Array): void;
  /** The call sent audio to the line (keeps stuck-line detection quiet). */
  noteActivity(): void;
  close(): void;
  dump(): PstnPortDump;
}

function callerNumberOf(cid: CallerIdInfo | null): { number: string; name: string | null } {
  if (!cid) return { number: '', name: null };
  return { number: cid.number ?? '', name: cid.name ?? null };
}

export interface FxoPortOptions {
  tonePlan: TonePlan;
  dialMode: 'dtmf' | 'pulse';
  waitForDialTone: boolean;
  dialPauseMs: number;
  callerId: 'auto' | 'bell202' | 'v23' | 'dtmf' | 'none';
  busyProfiles?: CadenceProfile[];
}

/** An FXO port: the line state machine wired to its channel as the driver README describes. */
export class FxoPort implements PstnPort {
  readonly line: FxoLine;
  private faulted = false;
  private readonly offs: Array<() => void> = [];

  constructor(
    readonly key: string,
    readonly lineId: string,
    readonly channel: Channel,
    clock: Clock,
    timers: Timers,
    private readonly onEvent: (ev: PortEvent) => void,
    options: FxoPortOptions,
  ) {
    const o: Partial<FxoLineOptions> & { tonePlan: TonePlan } = {
      tonePlan: options.tonePlan,
      dialMode: options.dialMode,
      waitForDialTone: options.waitForDialTone,
      dialPauseMs: options.dialPauseMs,
      callerId: {
        fsk: options.callerId !== 'none' && options.callerId !== 'dtmf',
        dtmf: options.callerId === 'auto' || options.callerId === 'dtmf',
      },
    };
    if (options.busyProfiles) o.busyProfiles = options.busyProfiles;
    this.line = new FxoLine(
      {
        setHook: (offHook) => void channel.setHook(offHook),
        sendDtmf: (digit, toneMs, gapMs) => void channel.dialDtmf(digit, { toneMs, gapMs }),
      },
      clock,
      timers,
      (ev) => {
        switch (ev.type) {
          case 'incoming': {
            const c = callerNumberOf(ev.callerId);
            this.onEvent({ type: 'incoming', callerNumber: c.number, callerName: c.name, did: null });
            return;
          }
          case 'answered':
            this.faulted = false;
            this.onEvent({ type: 'answered', supervision: ev.supervision });
            return;
          case 'outgoing-failed':
            this.onEvent({ type: 'outgoing-failed', reason: ev.reason });
            return;
          case 'far-end-disconnect':
            this.onEvent({ type: 'far-end-disconnect', reason: ev.reason });
            return;
          case 'released':
            this.onEvent({ type: 'released' });
            return;
          case 'fault':
            this.faulted = ev.reason === 'dead-line' || ev.reason === 'no-dial-tone';
            this.onEvent({ type: 'fault', reason: ev.reason });
            return;
          default: {
            const never: never = ev;
            throw new Error(`unknown line event ${JSON.stringify(never)}`);
          }
        }
      },
      o,
    );
    this.offs.push(
      channel.onEvent((ev: ChannelEvent) => {
        if (ev.type === 'ring-on' || ev.type === 'ring-off')
          this.line.input({ type: 'ring', on: ev.type === 'ring-on', atMs: ev.atMs });
        else if (ev.type === 'polarity-reversal')
          this.line.input({ type: 'polarity-reversal', atMs: ev.atMs });
        else if (ev.type === 'loop-current')
          this.line.input({ type: 'loop-current', present: ev.present, atMs: ev.atMs });
      }),
    );
  }

  get available(): boolean {
    return this.line.available;
  }

  get progressed(): boolean {
    return this.line.state === 'dialling' || this.line.state === 'connected';
  }

  get state(): PortState {
    const s = this.line.state;
    switch (s) {
      case 'idle':
        return this.faulted ? 'fault' : 'idle';
      case 'ringing':
        return 'ringing';
      case 'seized':
      case 'dialling':
      case 'disconnecting':
        return 'seized';
      case 'connected':
        return 'connected';
      default: {
        const never: never = s;
        return never;
      }
    }
  }

  dial(number: string): Result<void> {
    return this.line.dial(number);
  }

  answer(): Result<void> {
    return this.line.answer();
  }

  hangup(): void {
    // An alerting loop-start line cannot be refused: it rings until the caller gives up.
    void this.line.hangup();
  }

  audio(frame: Int16Array): void {
    this.line.audio(frame);
  }

  noteActivity(): void {
    this.line.noteActivity();
  }

  close(): void {
    for (const off of this.offs) off();
    this.line.close();
  }

  dump(): FxoPortDump {
    return { kind: 'fxo', ...this.line.dump() };
  }
}

export type E1State = 'idle' | 'incoming' | 'seizing' | 'proceeding' | 'connected' | 'clearing';

export interface E1PortDump {
  kind: 'e1';
  state: E1State;
  /** The timeslot's simple CAS state, as the channel reports it. */
  cas: string | null;
}

/**
 * An E1 bearer with the simulation's channel-associated signalling (ITU-T Q.421 a/b line signals):
 * seize → proceeding (seizure acknowledged) → digits as a list → answered; clear-back or
 * clear-forward ends the call. Until PRI and R2 replace it, each timeslot is a leg like an FXO port.
 */
export class E1Port implements PstnPort {
  private s: E1State = 'idle';
  private pending = '';
  private faulted = false;
  private readonly offs: Array<() => void> = [];
  private seizeTimer: { cancel(): void } | undefined;

  constructor(
    readonly key: string,
    readonly lineId: string,
    readonly channel: Channel,
    private readonly timers: Timers,
    private readonly onEvent: (ev: PortEvent) => void,
  ) {
    this.offs.push(channel.onEvent((ev) => this.input(ev)));
  }

  get available(): boolean {
    return this.s === 'idle' && channel(this.channel).alarms.length === 0;
  }

  get progressed(): boolean {
    return this.s === 'proceeding' || this.s === 'connected';
  }

  get state(): PortState {
    switch (this.s) {
      case 'idle':
        return this.faulted || channel(this.channel).alarms.length > 0 ? 'fault' : 'idle';
      case 'incoming':
        return 'ringing';
      case 'seizing':
      case 'proceeding':
      case 'clearing':
        return 'seized';
      case 'connected':
        return 'connected';
      default: {
        const never: never = this.s;
        return never;
      }
    }
  }

  private input(ev: ChannelEvent): void {
    switch (ev.type) {
      case 'incoming':
        if (this.s !== 'idle') return;
        this.s = 'incoming';
        this.onEvent({ type: 'incoming', callerNumber: ev.callerId ?? '', callerName: null, did: ev.digits });
        return;
      case 'proceeding':
        if (this.s !== 'seizing') return;
        this.seizeTimer?.cancel();
        this.s = 'proceeding';
        void this.channel.sendDigits(this.pending);
        return;
      case 'answered':
        if (this.s !== 'proceeding') return;
        this.s = 'connected';
        this.onEvent({ type: 'answered', supervision: 'cas' });
        return;
      case 'cleared': {
        const was = this.s;
        if (was === 'idle' || was === 'clearing') return;
        this.release();
        if (was === 'proceeding' || was === 'seizing')
          this.onEvent({ type: 'outgoing-failed', reason: 'busy' });
        else this.onEvent({ type: 'far-end-disconnect', reason: 'clear' });
        return;
      }
      case 'idle':
        if (this.s === 'clearing') {
          this.s = 'idle';
          this.onEvent({ type: 'released' });
        }
        return;
      case 'alarm':
      case 'cas':
      case 'dial-complete':
      case 'hook':
      case 'loop-current':
      case 'polarity-reversal':
      case 'ring-on':
      case 'ring-off':
        // Line-level signals of analog ports, or already summarised by the events above.
        return;
      default: {
        const never: never = ev;
        throw new Error(`unknown channel event ${JSON.stringify(never)}`);
      }
    }
  }

  private release(): void {
    this.seizeTimer?.cancel();
    this.s = 'clearing';
    void this.channel.release();
    // The far end may never confirm the clear on a broken span: the timeslot is idle again anyway.
    this.seizeTimer = this.timers.start('e1-clear', 2000, () => {
      if (this.s === 'clearing') {
        this.s = 'idle';
        this.onEvent({ type: 'released' });
      }
    });
  }

  dial(number: string): Result<void> {
    if (!this.available) return err({ code: 'EDGE_ERR_PSTN_LINE_BUSY', message: `timeslot is ${this.s}` });
    const r = this.channel.seize();
    if (!r.ok) return err({ code: r.error.code, message: r.error.message });
    this.pending = number;
    this.s = 'seizing';
    // Q.421: no seizure acknowledgement within the time limit is a fault on the timeslot.
    this.seizeTimer = this.timers.start('e1-seize-ack', 3000, () => {
      if (this.s !== 'seizing') return;
      this.faulted = true;
      this.release();
      this.onEvent({ type: 'fault', reason: 'no-seizure-ack' });
      this.onEvent({ type: 'outgoing-failed', reason: 'no-dial-tone' });
    });
    return ok(undefined);
  }

  answer(): Result<void> {
    if (this.s !== 'incoming')
      return err({ code: 'EDGE_ERR_PSTN_NOT_RINGING', message: `timeslot is ${this.s}` });
    const r = this.channel.answer();
    if (!r.ok) return err({ code: r.error.code, message: r.error.message });
    this.s = 'connected';
    return ok(undefined);
  }

  hangup(): void {
    if (this.s === 'idle' || this.s === 'clearing') return;
    this.release();
  }

  audio(): void {
    // Supervision is out of band on E1.
  }

  noteActivity(): void {}

  close(): void {
    this.seizeTimer?.cancel();
    for (const off of this.offs) off();
  }

  dump(): E1PortDump {
    return { kind: 'e1', state: this.s, cas: this.channel.status().cas };
  }
}

function channel(c: Channel): { alarms: readonly string[] } {
  return c.status();
}
