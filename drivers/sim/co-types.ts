/**
 * Shared vocabulary of the simulated central office: calls between parties, the options of a
 * line, and the link between an office port and the card channel wired to it.
 */
import type { Clock, Timers } from '../../base/clock.ts';
import type { TonePlan } from '../../base/signal/tone-plan.ts';
import type { CallerIdInfo } from '../../base/signal/caller-id.ts';
import type { DtmfCallerIdVariant } from '../../base/signal/caller-id-dtmf.ts';
import type { AlarmName, CasBits } from '../api/types.ts';

export type CidMode = 'fsk-bell202' | 'fsk-v23' | 'dtmf';
export type CidTiming = 'before-ring' | 'after-first-ring';
/** How the office tells a line that the far end has cleared. */
export type DisconnectMode = 'loop-drop' | 'polarity-reversal' | 'busy-tone';
export type LineFault = 'no-dial-tone' | 'dead-line' | 'no-caller-id' | 'ring-stops' | 'garbage-audio';
export const LINE_FAULTS: readonly LineFault[] = [
  'no-dial-tone',
  'dead-line',
  'no-caller-id',
  'ring-stops',
  'garbage-audio',
];

/** Per-line behaviour of the exchange (what the subscriber's contract and the line card give). */
export interface LineOptions {
  cidMode: CidMode;
  cidTiming: CidTiming;
  dtmfCidVariant: DtmfCallerIdVariant;
  /** Reverse the loop when the called party answers (answer supervision). */
  answerSupervision: boolean;
  disconnect: DisconnectMode;
}

export const DEFAULT_LINE_OPTIONS: LineOptions = {
  cidMode: 'fsk-bell202',
  cidTiming: 'after-first-ring',
  dtmfCidVariant: 'A-C',
  answerSupervision: true,
  disconnect: 'polarity-reversal',
};

/** E1 trunk digits: a digit list (standing in for register signalling) or DTMF in band. */
export type E1DigitMode = 'list' | 'dtmf';

export interface OfficeTiming {
  /** Ring cadence: on, off (China and ETSI 1 s / 4 s; North America 2 s / 4 s). */
  ringCadenceMs: [number, number];
  /** No digit this long after the last one: the number is taken as complete. */
  interDigitMs: number;
  /** Off hook with no digit this long: the line gets congestion tone. */
  firstDigitMs: number;
  /** On-hook breaks up to this long are dial pulses (a pulse break is 60 ms nominally). */
  pulseMaxBreakMs: number;
  /** A make this long after pulses ends the digit (the inter-digit pause is 700 ms nominally). */
  pulseDigitGapMs: number;
  /** On hook this long is a hangup (shorter, above a pulse, is a flash and ignored). */
  hangupMs: number;
  /** Loop current interruption sent for a far-end clear in `loop-drop` mode. */
  loopDropMs: number;
  /** GR-30-CORE §3.1.1: data begins no sooner than 500 ms after the end of the first ring. */
  cidAfterRingMs: number;
  /** After a line reversal, the data follows at least 100 ms later (EN 300 659-1 §6.1.4). */
  cidAfterReversalMs: number;
  /** After the data, the first ring follows at least 200 ms later. */
  ringAfterCidMs: number;
  /** Test numbers answer after this much ringback. */
  testAnswerMs: number;
}

export const DEFAULT_TIMING: OfficeTiming = {
  ringCadenceMs: [1000, 4000],
  interDigitMs: 4000,
  firstDigitMs: 15_000,
  pulseMaxBreakMs: 120,
  pulseDigitGapMs: 300,
  hangupMs: 300,
  loopDropMs: 800,
  cidAfterRingMs: 500,
  cidAfterReversalMs: 300,
  ringAfterCidMs: 500,
  testAnswerMs: 1000,
};

/** Signals from the office to the card side of a port. */
export type LineSignal =
  | { type: 'ring'; on: boolean }
  | { type: 'polarity-reversal' }
  | { type: 'loop-current'; present: boolean }
  | { type: 'alarm'; alarms: AlarmName[] }
  | { type: 'cas'; bits: CasBits }
  | { type: 'digits'; digits: string; callerId: string | null };

/**
 * The card side of an office port. The office calls `signal` when it happens, `transmit` once per
 * tick for the audio the card sends (a frame it may keep until the next tick) and `receive` once
 * per tick with the audio for the card (valid during the call).
 */
export interface PortLink {
  signal(ev: LineSignal, atMs: number): void;
  transmit(): Int16Array;
  receive(frame: Int16Array): void;
}

export type ClearCause = 'normal' | 'busy' | 'congestion' | 'no-answer' | 'ringing-stopped';

/**
 * One party of a call through the office: a subscriber port, a test service or a simulated
 * caller. Audio flows only while the call is connected.
 */
export interface Party {
  readonly label: string;
  /** As the calling party: the called party is being alerted. */
  alerting(): void;
  /** As the calling party: the called party answered. */
  answered(): void;
  /** As the calling party: the call could not be put through. */
  rejected(cause: 'busy' | 'congestion'): void;
  /** The other party cleared; `disconnect` overrides how a line is told. */
  cleared(cause: ClearCause, disconnect?: DisconnectMode): void;
  /** This tick's audio from this party into the call (kept valid until the next tick). */
  talk(): Int16Array;
  /** This tick's audio heard by this party. */
  hear(frame: Int16Array): void;
}

/** A party that can be offered a call (a subscriber port or a test service). */
export interface Callable {
  offer(call: CoCallLike, callerId: CallerIdInfo | null, options?: OfferOptions): boolean;
}

export interface OfferOptions {
  cidMode?: CidMode;
  cidTiming?: CidTiming;
  dtmfCidVariant?: DtmfCallerIdVariant;
  /** E1: the called number to send (default: the port's own number). */
  calledNumber?: string;
}

export type CallState = 'alerting' | 'connected' | 'ended';

export interface CoCallLike {
  readonly id: string;
  readonly state: CallState;
  alerting(): void;
  answer(): void;
  reject(cause: 'busy' | 'congestion'): void;
  clear(by: Party, cause?: ClearCause, disconnect?: DisconnectMode): void;
  setCalled(party: Party): void;
}

/** What ports and services need from the office. */
export interface OfficeContext {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly tonePlan: TonePlan;
  readonly timing: OfficeTiming;
  /** Whether `digits` is a complete number, the start of one, or nothing the office knows. */
  numberStatus(digits: string): 'complete' | 'incomplete' | 'invalid';
  /** Place a call from `caller` to `digits`; the caller is told the outcome through its Party. */
  route(caller: Party, digits: string, callerId: CallerIdInfo | null): CoCallLike;
  /** The caller ID the office sends for calls from a port. */
  callerIdFor(number: string): CallerIdInfo;
}
