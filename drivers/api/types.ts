/**
 * The driver API: what the gateway sees of a telephony card. It follows the DAHDI channel model
 * so real cards fit behind it unchanged:
 *
 * - a **card** (DAHDI "device") holds **spans**; an analog card has one span of FXO ports, a
 *   digital card one span per E1 trunk;
 * - a **span** carries **channels** and its own alarms (an E1 span: 30 bearer channels, timeslots
 *   1–15 and 17–31, timeslot 16 carrying the signalling);
 * - a **channel** is one line or timeslot: signalling events up (`DAHDI_EVENT_RINGBEGIN`,
 *   `POLARITY`, `BITSCHANGED`, `ALARM`…), commands down (`DAHDI_HOOK`, `DAHDI_DIAL`,
 *   `DAHDI_SETTXBITS`…), and audio both ways as 20 ms frames of 8 kHz 16-bit linear samples.
 *
 * Drivers do the I/O; the line signalling state machines (`gateway/pstn`) decide what the events
 * mean. Bad commands (dialling on an idle line, pulse dialling on an E1 timeslot) are answered
 * with a typed error, never a throw.
 */
import type { Result } from '../../base/result.ts';
import type { ErrorCode } from '../../base/error-codes.ts';

export const FRAME_SAMPLES = 160;
export const FRAME_MS = 20;
export const SAMPLE_RATE_HZ = 8000;

export type DriverFamily = 'sim' | 'dahdi' | 'serial';
export type SpanKind = 'analog' | 'e1';
export type ChannelKind = 'fxo' | 'e1';

/** Alarms as DAHDI names them (`DAHDI_ALARM_RED`…) plus the analog loss of battery. */
export type AlarmName = 'red' | 'yellow' | 'blue' | 'loopback' | 'no-battery';

/** Stable codes of command failures (`EDGE_ERR_DRIVER_<WHAT>`). */
export const DriverErrors = {
  ON_HOOK: 'EDGE_ERR_DRIVER_ON_HOOK',
  OFF_HOOK: 'EDGE_ERR_DRIVER_OFF_HOOK',
  UNSUPPORTED: 'EDGE_ERR_DRIVER_UNSUPPORTED',
  BAD_DIGITS: 'EDGE_ERR_DRIVER_BAD_DIGITS',
  BAD_FRAME: 'EDGE_ERR_DRIVER_BAD_FRAME',
  STATE: 'EDGE_ERR_DRIVER_STATE',
  BUSY_DIALLING: 'EDGE_ERR_DRIVER_BUSY_DIALLING',
  CLOSED: 'EDGE_ERR_DRIVER_CLOSED',
  ALARM: 'EDGE_ERR_DRIVER_ALARM',
  BAD_CONFIG: 'EDGE_ERR_DRIVER_BAD_CONFIG',
  UNKNOWN_FAMILY: 'EDGE_ERR_DRIVER_UNKNOWN_FAMILY',
} as const satisfies Record<string, ErrorCode>;

export type DriverErrorCode = (typeof DriverErrors)[keyof typeof DriverErrors];

export interface DriverError {
  code: DriverErrorCode;
  message: string;
  field?: string;
}

/**
 * Channel-associated signalling bits of an E1 timeslot (ITU-T G.704 §5.1.3: "four bits a, b, c,
 * d per channel" in timeslot 16 of the multiframe). Only a and b carry line signals (Q.421).
 */
export interface CasBits {
  a: 0 | 1;
  b: 0 | 1;
}

export type ChannelEvent =
  // Analog (FXO) line: ring voltage begins and ends (DAHDI_EVENT_RINGERON/RINGEROFF).
  | { type: 'ring-on'; atMs: number }
  | { type: 'ring-off'; atMs: number }
  // The loop's polarity flipped (DAHDI_EVENT_POLARITY).
  | { type: 'polarity-reversal'; atMs: number }
  /** Loop current through the closed loop (off hook); none on hook or on a dead line. */
  | { type: 'loop-current'; present: boolean; atMs: number }
  /** This channel's own hook state changed (by a command, or each pulse of decadic dialling). */
  | { type: 'hook'; offHook: boolean; atMs: number }
  /** The set of alarms raised on the channel or its span; empty when all cleared. */
  | { type: 'alarm'; alarms: AlarmName[]; atMs: number }
  /** Dialling started by `dialDtmf`/`dialPulse` has finished (DAHDI_EVENT_DIALCOMPLETE). */
  | { type: 'dial-complete'; atMs: number }
  // E1 timeslot: received a/b bits changed (DAHDI_EVENT_BITSCHANGED), then what they mean.
  | { type: 'cas'; bits: CasBits; atMs: number }
  /** E1: the far end seized the timeslot; `digits`/`callerId` when sent as a digit list. */
  | { type: 'incoming'; digits: string | null; callerId: string | null; atMs: number }
  /** E1: the far end acknowledged our seizure: digits may now be sent. */
  | { type: 'proceeding'; atMs: number }
  /** E1: the far end answered the call we placed. */
  | { type: 'answered'; atMs: number }
  /** E1: the far end cleared (clear-back on our call, clear-forward on theirs). */
  | { type: 'cleared'; atMs: number }
  /** E1: the timeslot is back to idle on both sides. */
  | { type: 'idle'; atMs: number };

export type ChannelEventType = ChannelEvent['type'];

export interface ChannelStatus {
  id: string;
  kind: ChannelKind;
  offHook: boolean;
  /** FXO: ring voltage present now. */
  ringing: boolean;
  /** FXO: loop polarity, 'reversed' after an odd number of reversals. */
  polarity: 'normal' | 'reversed';
  loopCurrent: boolean;
  alarms: AlarmName[];
  /** E1 only: the simple CAS state; null on FXO. */
  cas: string | null;
  dialling: boolean;
}

export interface ChannelDump extends ChannelStatus {
  stats: {
    framesIn: number;
    framesOut: number;
    /** Frames dropped because the gateway queued more than the transmit buffer holds. */
    txOverruns: number;
    /** Ticks with no frame queued by the gateway (silence sent instead). */
    txUnderruns: number;
    events: number;
  };
}

export type AudioListener = (frame: Int16Array) => void;
export type EventListener = (ev: ChannelEvent) => void;

export interface DialOptions {
  /** DTMF tone duration (Q.24: ≥ 40 ms; telephones send about 100 ms). */
  toneMs?: number;
  /** Pause after each DTMF tone. */
  gapMs?: number;
  /** Level of each of the two tones, dBm0. */
  levelDbm0?: number;
}

/**
 * One port or timeslot. Every command returns a Result; events and audio are delivered to
 * listeners in time order. A received frame passed to an audio listener is only valid during the
 * call (the driver reuses its buffer): copy it to keep it.
 */
export interface Channel {
  readonly id: string;
  readonly kind: ChannelKind;
  /** 1-based position on the span (FXO port number, or E1 bearer channel 1–30). */
  readonly index: number;
  readonly spanId: string;

  /** Take the line: FXO off hook; E1 send a seizure. */
  seize(): Result<void, DriverError>;
  /** Give the line back: FXO on hook; E1 send clear-forward or clear-back. */
  release(): Result<void, DriverError>;
  /** Answer an incoming call: on FXO the same as `seize()`; on E1 send the answer signal. */
  answer(): Result<void, DriverError>;
  /** Raw hook control (FXO only), for signalling cores that time pulses and flashes themselves. */
  setHook(offHook: boolean): Result<void, DriverError>;
  /** Dial DTMF in band; the line must be off hook (or the timeslot seized). */
  dialDtmf(digits: string, options?: DialOptions): Result<void, DriverError>;
  /** Dial decadic pulses (FXO only): 60 ms break / 40 ms make, 700 ms between digits. */
  dialPulse(digits: string): Result<void, DriverError>;
  /** E1 only: send digits out of band as a digit list (stands in for register signalling). */
  sendDigits(digits: string): Result<void, DriverError>;
  /** Queue one 20 ms frame (Int16Array(160)) to the line. */
  sendAudio(frame: Int16Array): Result<void, DriverError>;
  onAudio(listener: AudioListener): () => void;
  onEvent(listener: EventListener): () => void;
  status(): ChannelStatus;
  dump(): ChannelDump;
}

export interface Span {
  readonly id: string;
  readonly kind: SpanKind;
  /** 1-based position on the card. */
  readonly index: number;
  readonly channels: readonly Channel[];
  alarms(): AlarmName[];
  dump(): { id: string; kind: SpanKind; alarms: AlarmName[]; channels: ChannelDump[] };
}

export interface CardDump {
  id: string;
  family: DriverFamily;
  model: string;
  spans: ReturnType<Span['dump']>[];
  stats: Record<string, number>;
}

export interface Card {
  readonly id: string;
  readonly family: DriverFamily;
  readonly model: string;
  readonly spans: readonly Span[];
  /** Every channel of every span, in span order. */
  channels(): Channel[];
  channel(id: string): Channel | undefined;
  close(): void;
  dump(): CardDump;
}
