/**
 * What a leg the gateway terminates needs of the media engine: one media-leg handle per leg (its
 * port pair and worker), on which prompts play and from which digits arrive, of the kind the app
 * answered it into (`AnswerMedia`: prompts, an echo, the milliwatt, a conference room, a
 * supervisor's place in a call). Call control states the need; the engine's adapter
 * (`services/local-media.ts`) fills it, so `call/` never reaches into workers or sockets.
 */
import type { PromptSource } from '../media/play/prompt-library.ts';
import type { AnswerMedia, DigitPress } from './leg.ts';

export interface HandlePlayEnded {
  outcome: 'finished' | 'interrupted' | 'stopped';
  positionMs: number;
  /** The digit that interrupted the play (barge-in). */
  digit?: string;
}

export interface LegMediaHandle {
  /** Starts playing; false when the leg has no media any more. `onEnded` is called once. */
  play(
    prompts: readonly PromptSource[],
    opts: { loop: boolean; bargeIn: boolean; onEnded: (e: HandlePlayEnded) => void },
  ): boolean;
  /** The far party's answer to our offer (a leg the gateway placed): false when not acceptable. */
  applyAnswer(sdp: Buffer): boolean;
  /** Stops what plays (its `onEnded` reports `stopped`). */
  stopPlay(): void;
  /**
   * Record what the party says (left) and hears (right) under `recordingId` until `stop` or the
   * handle's close; undefined when nothing records (no recorder, the leg gone, the id taken).
   */
  record(recordingId: string): HandleRecording | undefined;
  /** Frees the port pair; resolves once it is back in the pool. */
  close(): Promise<void>;
}

export interface HandleRecording {
  readonly path: string;
  /** Resolves once the file is complete (its error, if writing failed). */
  readonly closed: Promise<{ path: string; durationMs: number; error?: string }>;
  stop(): void;
}

/** `wired`: the media leg is wired to the caller's frame leg (`LegMediaWire`), `sdp` is empty. */
export type LocalMediaOpen =
  | { ok: true; sdp: Buffer; handle: LegMediaHandle; wired: boolean }
  | { ok: false; status: number; reason: string };

/**
 * The leg is a PSTN channel whose media is a frame leg of the engine (`key`). The app's media
 * leg is wired to it inside their worker — no port pair, no SDP — when the two can share one;
 * otherwise `offer` gives the frame leg its port pair and returns the SDP naming it (undefined:
 * none is free), and the two talk over RTP.
 */
export interface LegMediaWire {
  key: string;
  offer(): Buffer | undefined;
}

/** What a leg wants of its media beyond prompts and digits. */
export interface LocalMediaWant {
  /** The kind of media; `prompt` when not given. */
  media?: AnswerMedia;
  /** The media ended by itself, the leg still up (a monitored call released); called at most once. */
  onEnded?: (detail: string) => void;
  /**
   * Record the leg as the caller's side of interaction `recordingId` when calls are recorded
   * (`media.recording`): the party on the left, everything the leg says to them on the right,
   * from the answer to the end. An interaction already recorded (its line's port) stays as it is.
   */
  record?: { recordingId: string };
  /** The leg is a PSTN channel (see `LegMediaWire`). */
  wire?: LegMediaWire;
}

export interface LocalMediaPort {
  /**
   * A media leg answering `offer` (or offering, when the request had none: RFC 3261 §13.2.1,
   * the offer then goes in our 2xx). `onDigit` hears every key press on the leg, however sent.
   * A kind that cannot be had is refused (`ok: false`) with its status, no port kept.
   */
  open(
    callKey: string,
    offer: Buffer | undefined,
    onDigit: (press: DigitPress) => void,
    nearKey?: string,
    want?: LocalMediaWant,
  ): Promise<LocalMediaOpen>;
  /**
   * Join two open media legs (by their keys) so each party hears the other. `nearKey` at `open`
   * puts a leg in the worker of the one it will be bridged to; legs in two workers cannot be.
   */
  bridge(keyA: string, keyB: string): { unbridge(): void } | undefined;
  /** What a caller on hold hears (undefined: music on hold is off). */
  musicOnHold(): PromptSource | undefined;
}
