/**
 * The media engine's players, on the signalling thread: prompts shipped to each relay worker once
 * (cached there by id), plays started and stopped on legs, their outcomes reported, and music on
 * hold decided from the SDP that crosses the B2BUA (see `hold-music.ts`).
 */
import type { Logger } from '../../core/log.ts';
import { withDirection, type SdpSession } from '../sdp/sdp.ts';
import {
  answerDirectionToHeld,
  answerDirectionToHolder,
  heldSide,
  holds,
  offerDirectionToHeld,
  type HoldStream,
} from '../sdp/hold-music.ts';
import type { PromptSource } from '../play/prompt-library.ts';
import type { FromWorker, PlayOutcome, ToWorker } from '../worker/worker-protocol.ts';

export type PlaySide = 'a' | 'b';

/** The engine's view of a leg, as players need it. */
export interface PlayLeg {
  legId: number;
  worker: number;
  callKey: string;
  side: PlaySide;
}

export interface PlayEndedEvent {
  callKey: string;
  side: PlaySide;
  outcome: PlayOutcome;
  positionMs: number;
  /** The digit that interrupted the play (barge-in). */
  digit?: string;
  /** The prompts that were playing. */
  promptIds: string[];
  /** Music on hold rather than an application's prompt. */
  musicOnHold: boolean;
}

export interface LegPlayOptions {
  /** Loop until stopped (music on hold). */
  loop?: boolean;
  /** A digit on the leg stops the play; default true. */
  bargeIn?: boolean;
  /** Consume what the bridged leg forwards to this one while playing. */
  muteBridge?: boolean;
  onEnded?: (e: PlayEndedEvent) => void;
}

export interface EnginePlayersOptions {
  post(worker: number, m: ToWorker): void;
  /** The music on hold to play now (undefined: off). */
  musicOnHold?: () => PromptSource | undefined;
  onPlayEnded?: (e: PlayEndedEvent) => void;
  logger: () => Logger;
}

export interface EnginePlayersDump {
  /** The plays running (at most 200 listed). */
  playing: Array<{ callKey: string; side: PlaySide; promptIds: string[]; musicOnHold: boolean }>;
  /** Calls with a party held to music. */
  onHold: number;
  totals: {
    plays: number;
    finished: number;
    interrupted: number;
    stopped: number;
    promptsShipped: number;
    holds: number;
    resumes: number;
  };
  /** Prompts cached in each relay worker (index = worker). */
  promptsPerWorker: number[];
}

interface ActivePlay {
  playId: number;
  leg: PlayLeg;
  promptIds: string[];
  bargeIn: boolean;
  musicOnHold: boolean;
  onEnded: ((e: PlayEndedEvent) => void) | undefined;
}

interface HoldState {
  /** An offer/answer exchange completed: later offers are re-offers (hold, resume). */
  established: boolean;
  /** Direction the holder offered, when the pending offer was rewritten for the held party. */
  rewroteOffer: HoldStream | undefined;
  /** The side music on hold plays to. */
  held: PlaySide | undefined;
}

export class EnginePlayers {
  /** Prompt ids each worker has (index = worker). */
  private readonly shipped: Array<Set<string>> = [];
  private readonly active = new Map<number, ActivePlay>();
  private readonly holdStates = new Map<string, HoldState>();
  private nextPlayId = 1;
  private readonly totals = {
    plays: 0,
    finished: 0,
    interrupted: 0,
    stopped: 0,
    promptsShipped: 0,
    holds: 0,
    resumes: 0,
  };

  constructor(private readonly opts: EnginePlayersOptions) {}

  /** Play `prompts` on a leg's own stream; replaces what played there. */
  play(leg: PlayLeg, prompts: readonly PromptSource[], o: LegPlayOptions = {}): boolean {
    if (prompts.length === 0) return false;
    let have = this.shipped[leg.worker];
    if (!have) this.shipped[leg.worker] = have = new Set();
    for (const p of prompts) {
      if (have.has(p.id)) continue;
      // Once per worker and prompt: the worker keeps it for every later play.
      this.opts.post(leg.worker, { t: 'prompt', promptId: p.id, samples: p.samples });
      have.add(p.id);
      this.totals.promptsShipped++;
    }
    const promptIds = prompts.map((p) => p.id);
    const bargeIn = o.bargeIn ?? true;
    const playId = this.nextPlayId++;
    this.active.set(leg.legId, {
      playId,
      leg,
      promptIds,
      bargeIn,
      musicOnHold: false,
      onEnded: o.onEnded,
    });
    this.totals.plays++;
    this.opts.post(leg.worker, {
      t: 'play',
      legId: leg.legId,
      play: { playId, promptIds, loop: o.loop ?? false, bargeIn, muteBridge: o.muteBridge ?? false },
    });
    return true;
  }

  stop(leg: PlayLeg): void {
    if (this.active.has(leg.legId)) this.opts.post(leg.worker, { t: 'play-stop', legId: leg.legId });
  }

  /** A digit signalled in SIP (INFO) on a leg: barge-in like digits in RTP. */
  digit(leg: PlayLeg, digit: string): void {
    if (this.active.get(leg.legId)?.bargeIn)
      this.opts.post(leg.worker, { t: 'play-stop', legId: leg.legId, digit });
  }

  /** The worker's report that a leg's play ended. */
  ended(m: Extract<FromWorker, { t: 'play-ended' }>): void {
    const a = this.active.get(m.legId);
    // A play replaced on its leg ends after its successor started: not this one.
    if (!a || a.playId !== m.playId) return;
    this.active.delete(m.legId);
    this.totals[m.outcome]++;
    const e: PlayEndedEvent = {
      callKey: a.leg.callKey,
      side: a.leg.side,
      outcome: m.outcome,
      positionMs: m.positionMs,
      promptIds: a.promptIds,
      musicOnHold: a.musicOnHold,
      ...(m.digit !== undefined ? { digit: m.digit } : {}),
    };
    this.opts.logger().info({ ...e }, 'play ended');
    a.onEnded?.(e);
    this.opts.onPlayEnded?.(e);
  }

  /**
   * An offer is relayed to the far leg (`out`, already rewritten for it). On an established call
   * an inactive hold offer is turned into sendonly for the held party, when music will play.
   */
  holdOffer(callKey: string, offer: HoldStream, out: SdpSession, mediaIndex: number): SdpSession {
    const st = this.stateOf(callKey);
    st.rewroteOffer = undefined;
    if (!st.established || !this.opts.musicOnHold?.() || !holds(offer)) return out;
    const dir = offerDirectionToHeld(offer);
    if (dir === undefined) return out;
    st.rewroteOffer = offer;
    return withDirection(out, dir, mediaIndex);
  }

  /**
   * An offer/answer exchange completes (`out` is the answer rewritten for the offerer): start or
   * stop music on hold, and fix the answer's direction where the offer was rewritten.
   */
  holdAnswer(
    legs: Record<PlaySide, PlayLeg>,
    offerFrom: PlaySide,
    offer: HoldStream,
    answer: HoldStream,
    out: SdpSession,
    mediaIndex: number,
  ): SdpSession {
    const st = this.stateOf(legs.a.callKey);
    const wasEstablished = st.established;
    st.established = true;
    const rewrote = st.rewroteOffer;
    st.rewroteOffer = undefined;
    const moh = this.opts.musicOnHold?.();
    const held = wasEstablished && moh ? heldSide(offerFrom, offer, answer) : undefined;
    if (held !== st.held) {
      if (st.held !== undefined) {
        this.totals.resumes++;
        this.stop(legs[st.held]);
      }
      st.held = held;
      if (held !== undefined && moh) {
        this.totals.holds++;
        this.play(legs[held], [moh], { loop: true, bargeIn: false, muteBridge: true });
        const a = this.active.get(legs[held].legId);
        if (a) a.musicOnHold = true;
      }
    }
    let dir = rewrote ? answerDirectionToHolder(rewrote) : undefined;
    // The held party offered and the holder keeps holding with inactive: the held party is
    // answered sendonly so it takes the music.
    if (dir === undefined && held !== undefined && held === offerFrom)
      dir = answerDirectionToHeld(offer, answer);
    return dir === undefined ? out : withDirection(out, dir, mediaIndex);
  }

  /**
   * The party that held the other is gone (a blind transfer replaced it): the music stops and
   * nobody is held; later offers are still re-offers.
   */
  clearHold(legs: Record<PlaySide, PlayLeg>): void {
    const st = this.holdStates.get(legs.a.callKey);
    if (!st) return;
    st.rewroteOffer = undefined;
    if (st.held === undefined) return;
    this.totals.resumes++;
    this.stop(legs[st.held]);
    st.held = undefined;
  }

  /** The side music on hold plays to, if any. */
  heldOf(callKey: string): PlaySide | undefined {
    return this.holdStates.get(callKey)?.held;
  }

  /** The call ended: its legs close in the workers (which end their players). */
  release(callKey: string, legIds: readonly number[]): void {
    this.holdStates.delete(callKey);
    for (const id of legIds) this.active.delete(id);
  }

  dump(): EnginePlayersDump {
    return {
      playing: [...this.active.values()].slice(0, 200).map((a) => ({
        callKey: a.leg.callKey,
        side: a.leg.side,
        promptIds: a.promptIds,
        musicOnHold: a.musicOnHold,
      })),
      onHold: [...this.holdStates].filter(([, s]) => s.held !== undefined).length,
      totals: { ...this.totals },
      promptsPerWorker: this.shipped.map((s) => s.size),
    };
  }

  private stateOf(callKey: string): HoldState {
    let st = this.holdStates.get(callKey);
    if (!st)
      this.holdStates.set(callKey, (st = { established: false, rewroteOffer: undefined, held: undefined }));
    return st;
  }
}
