/**
 * The Leg: one party of a call, whatever the technology behind it — a SIP dialog, an FXO line,
 * an E1 timeslot, or the gateway itself. Apps (services, IVR, queues, transfer) act on legs only
 * through this interface and never see SIP messages or line signalling.
 *
 * A leg's life is a guarded state machine (`leg-state.ts`):
 *
 *                 ┌──────────► alerting ◄──┐
 *     offered ────┤                        │ (180 after 183, or 183 after 180)
 *                 ├──────────► early ◄─────┘
 *                 │               │
 *                 └──► answered ◄─┘
 *     any state except ended ──► ended
 *
 * `offered`: an inbound leg not yet answered or rung, or an outbound leg whose setup is under way
 * (INVITE sent, line seized). `alerting`: the far party is being rung (SIP 180, a PSTN ring
 * cadence). `early`: media flows before answer (SIP 183 with SDP, RFC 3960). `answered`: the
 * 2xx/ACK exchange or off-hook answer is done. `ended`: final, with its `LegEnd`.
 */
import type { RegisteredCode } from '../../../base/error-codes.ts';
import type { DtmfDigit } from '../../../base/signal/dtmf-digits.ts';
import type { Result } from '../../../base/result.ts';
import type { TypedEmitter } from '../core/typed-emitter.ts';
import type { MonitorMode } from '../media/mix/mix-rooms.ts';
import type { HangupCause } from './hangup-cause.ts';

export type LegTechnology = 'sip' | 'fxo' | 'e1' | 'local';
export type LegDirection = 'inbound' | 'outbound';
export type LegState = 'offered' | 'alerting' | 'early' | 'answered' | 'ended';

/** Who is behind a leg, as CDRs and routing name them. */
export interface LegParty {
  kind: 'extension' | 'trunk' | 'line' | 'span' | 'service';
  /** Extension number, trunk id, port id (`fxo-1`), span id or service name. */
  id: string;
  /** The party's number as presented (caller ID, or the number dialled for an outbound leg). */
  number: string;
  displayName?: string;
}

/** How a leg ended. `by`: who hung up — the far party, this gateway's logic, or a failure. */
export interface LegEnd {
  cause: HangupCause;
  by: 'remote' | 'local' | 'system';
  /** The SIP status the leg ended with (the final response, or 200 for a BYE after answer). */
  sipStatus: number;
  /** Wall time (ms since the epoch). */
  atMs: number;
  /** Free text for logs (a Reason header, a line fault). */
  detail?: string;
}

/** A key press on a leg, reported once whichever way it came. */
export interface DigitPress {
  digit: DtmfDigit;
  durationMs: number;
  source: 'rfc4733' | 'inband' | 'info' | 'line';
  /** Wall time (ms since the epoch). */
  atMs: number;
}

export type LegEvents = {
  /** Every accepted transition, with the state it left. */
  state: [to: LegState, from: LegState];
  digit: [DigitPress];
  ended: [LegEnd];
  /**
   * The media the leg was answered into ended by itself while the leg is up (the call a monitoring
   * leg listened to was released). The leg stays up: what follows is the app's to decide.
   */
  mediaEnded: [detail: string];
};

/** Why an operation on a leg or call failed: a stable code, the SIP status it maps to, a cause. */
export interface CallFailure {
  code: CallFailureCode;
  sipStatus: number;
  cause: HangupCause;
  message: string;
}

/** Checked against the one registry (`base/error-codes.ts`): an unregistered code does not compile. */
export type CallFailureCode = RegisteredCode<
  | 'EDGE_ERR_CALL_LEG_STATE'
  | 'EDGE_ERR_CALL_LEG_ENDED'
  | 'EDGE_ERR_CALL_NO_ROUTE'
  | 'EDGE_ERR_CALL_ORIGINATE_FAILED'
  | 'EDGE_ERR_CALL_BRIDGE'
  | 'EDGE_ERR_CALL_MEDIA'
  | 'EDGE_ERR_CALL_CANCELLED'
>;

/** A prompt to play: decoded audio (the prompt library's), silence, or a call-progress tone. */
export type PromptRef =
  { kind: 'audio'; id: string; samples: Int16Array } | { kind: 'silence'; durationMs: number };

export interface PlayOptions {
  /** A digit on the leg stops the play (the digit is then the outcome's). Default true. */
  bargeIn?: boolean;
  /** Start again at the end until stopped (hold music, a ringback). */
  loop?: boolean;
  /** Aborting stops the play; the outcome is `stopped`. */
  signal?: AbortSignal;
}

export type PlayOutcome =
  | { outcome: 'finished'; positionMs: number }
  | { outcome: 'interrupted'; positionMs: number; digit: DtmfDigit }
  | { outcome: 'stopped'; positionMs: number }
  /** The leg ended (or was closed) while playing. */
  | { outcome: 'ended'; positionMs: number }
  /** Nothing played: the leg cannot play now (not answered yet, no media). */
  | { outcome: 'failed'; positionMs: 0; failure: CallFailure };

export interface CollectOptions {
  /** Digits at most; collection ends at once on the max-th digit. */
  max: number;
  /** Digits that end collection early and are not part of the result (`#`). */
  terminators?: string;
  /** Time allowed for the first digit. */
  firstDigitTimeoutMs: number;
  /** Time allowed between two digits. */
  interDigitTimeoutMs: number;
  signal?: AbortSignal;
}

export type CollectOutcome = 'max' | 'terminator' | 'timeout' | 'stopped' | 'ended';

export interface DigitResult {
  digits: string;
  outcome: CollectOutcome;
  /** The terminator pressed, when `outcome` is `terminator`. */
  terminator?: DtmfDigit;
}

export interface RecordOptions {
  /** Stop after this long (voicemail). */
  maxDurationMs?: number;
  signal?: AbortSignal;
}

export interface RecordingHandle {
  readonly recordingId: string;
  /** Resolves with the file and its length once the recording is closed. */
  readonly done: Promise<{ path: string; durationMs: number }>;
  stop(): void;
}

/**
 * What the gateway connects a leg it answers itself to, whatever carries the leg: `prompt` (the
 * default) plays prompts and hears digits; `echo` returns what it hears; `milliwatt` sends the
 * digital milliwatt (a 1004 Hz tone at 0 dBm0); `conference` joins a mixing room (named by
 * the app, at most `maxParties`); `monitor` joins the answered call `extension` is in, as a
 * supervisor starting in `mode`. A kind that cannot be had refuses the answer with the status of
 * its reason — a full room 486, a call not found 404, no media port 503 — before anything is
 * answered.
 */
export type AnswerMedia =
  | { kind: 'prompt' }
  | { kind: 'echo' }
  | { kind: 'milliwatt' }
  | { kind: 'conference'; room: string; maxParties?: number }
  | { kind: 'monitor'; extension: string; mode: MonitorMode };

export interface AnswerOptions {
  /** The media the leg is answered into; `prompt` when not given. */
  media?: AnswerMedia;
}

/** The plain-data picture of a leg: for the admin UI, the tests and the CDR. */
export interface LegDump {
  id: string;
  interactionId: string;
  technology: LegTechnology;
  direction: LegDirection;
  party: LegParty;
  state: LegState;
  /** Wall times (ms since the epoch). */
  createdAtMs: number;
  answeredAtMs: number | null;
  end: LegEnd | null;
  /** The call bridged to this leg, if any. */
  bridgedTo: string | null;
  /** Technology-specific facts: the SIP dialog, the line's port, the media counters. */
  detail: LegDetail;
}

export type LegDetail =
  | { technology: 'sip'; callId: string; remoteTarget: string | null; trunkMember: string | null }
  | { technology: 'fxo' | 'e1'; portId: string; lineId: string; channel: string }
  | { technology: 'local'; service: string };

export interface Leg {
  readonly id: string;
  readonly interactionId: string;
  readonly technology: LegTechnology;
  readonly direction: LegDirection;
  readonly party: LegParty;
  readonly state: LegState;
  readonly events: TypedEmitter<LegEvents>;
  /** The end, once `state` is `ended`. */
  readonly end: LegEnd | undefined;

  /** Inbound: tell the caller it rings (180 / ringback). Refused after answer. */
  ring(): Promise<Result<void, CallFailure>>;
  /**
   * Inbound: answer (200 OK / off-hook) into the media asked for. Idempotent once answered (or
   * while answering): the media of the first call is the leg's.
   */
  answer(opts?: AnswerOptions): Promise<Result<void, CallFailure>>;
  /** End the leg with a cause: CANCEL, a final error, BYE or on-hook as its state requires. */
  hangup(cause: HangupCause): Promise<void>;

  play(prompts: readonly PromptRef[], opts?: PlayOptions): Promise<PlayOutcome>;
  collectDigits(opts: CollectOptions): Promise<DigitResult>;
  record(opts?: RecordOptions): Result<RecordingHandle, CallFailure>;
  hold(): Promise<Result<void, CallFailure>>;
  unhold(): Promise<Result<void, CallFailure>>;

  dump(): LegDump;
  /** Frees every port and timer the leg holds; hangs up first with `normal-clearing` if it is not ended. */
  close(): void;
}
