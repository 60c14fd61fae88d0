/**
 * Players on legs, in a relay worker: one `Player` per leg, ticked by the worker's 20 ms frame
 * clock, each frame encoded with the leg's own law and sent on the leg's own stream
 * (`RelayLeg.sendFrame`). Prompts arrive decoded from the signalling thread once per worker and
 * are cached here by id; a play names them, so no audio crosses threads per call.
 *
 * Music on hold also mutes the bridge towards the held leg: what the holding party still sends
 * (RFC 3264 §8.4 lets a sendonly holder keep sending) is consumed instead of being mixed into the
 * music. The leg's own processing (digits, recording feed) still sees those packets.
 */
import { FRAME_MS, FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import { Player, type Prompt, type PlayerDump, type PlayerEvent } from './player.ts';
import type { PacketHook } from '../rtp/relay-leg.ts';
import type { LegPlayRequest, PlayOutcome } from '../worker/worker-protocol.ts';

/** What a player needs of a leg (a `RelayLeg`). */
export interface PlayerLeg {
  sendFrame(frame: Int16Array): boolean;
  readonly peer: { onPacket: PacketHook | undefined } | undefined;
}

/** A block ticked once per 20 ms frame by the worker's clock. */
export interface FrameTicker {
  tick(): void;
}

export interface PlayEnded {
  legId: number;
  playId: number;
  outcome: PlayOutcome;
  /** Audio handed out since the play started, across prompts and loops. */
  positionMs: number;
  digit?: string;
}

export interface LegPlayersOptions {
  leg(legId: number): PlayerLeg | undefined;
  addTicker(t: FrameTicker): void;
  removeTicker(t: FrameTicker): void;
  onEnded(e: PlayEnded): void;
}

export interface LegPlayingDump extends PlayerDump {
  legId: number;
  framesSent: number;
  /** Frames the leg could not send. */
  framesSkipped: number;
}

export interface LegPlayersDump {
  /** The prompts cached in this worker. */
  prompts: Array<{ id: string; frames: number }>;
  playing: LegPlayingDump[];
  totals: { plays: number; finished: number; interrupted: number; stopped: number; refused: number };
}

interface Playing {
  player: Player;
  ticker: FrameTicker;
  request: LegPlayRequest;
  framesSent: number;
  framesSkipped: number;
  unmute: (() => void) | undefined;
}

export class LegPlayers {
  private readonly prompts = new Map<string, readonly Int16Array[]>();
  private readonly playing = new Map<number, Playing>();
  private readonly totals = { plays: 0, finished: 0, interrupted: 0, stopped: 0, refused: 0 };

  constructor(private readonly opts: LegPlayersOptions) {}

  /**
   * Keep a prompt under `promptId`. Frames are views over `samples` (no copy); a last partial
   * frame is padded with silence.
   */
  store(promptId: string, samples: Int16Array): void {
    const frames: Int16Array[] = [];
    for (let at = 0; at < samples.length; at += FRAME_SAMPLES) {
      if (at + FRAME_SAMPLES <= samples.length) frames.push(samples.subarray(at, at + FRAME_SAMPLES));
      else {
        const last = new Int16Array(FRAME_SAMPLES);
        last.set(samples.subarray(at));
        frames.push(last);
      }
    }
    this.prompts.set(promptId, frames);
  }

  has(promptId: string): boolean {
    return this.prompts.has(promptId);
  }

  /**
   * Start playing on a leg, replacing what played there (reported as stopped). False, with an
   * immediate `finished` at 0 ms, when the leg is unknown or a prompt is not cached.
   */
  play(legId: number, request: LegPlayRequest): boolean {
    this.end(legId);
    const leg = this.opts.leg(legId);
    const playlist: Prompt[] = [];
    for (const id of request.promptIds) {
      const frames = this.prompts.get(id);
      if (frames) playlist.push({ id, frames, interruptible: request.bargeIn });
    }
    if (!leg || playlist.length === 0 || playlist.length !== request.promptIds.length) {
      this.totals.refused++;
      this.opts.onEnded({ legId, playId: request.playId, outcome: 'finished', positionMs: 0 });
      return false;
    }
    // The player's events and the ticker reach the play through `ref`, set once it exists.
    const ref: { p?: Playing } = {};
    const player = new Player((e) => this.onPlayerEvent(legId, ref.p, e));
    const ticker: FrameTicker = {
      tick: () => {
        const frame = player.next();
        const p = ref.p;
        if (!frame || !p) return;
        if (leg.sendFrame(frame)) p.framesSent++;
        else p.framesSkipped++;
      },
    };
    const p: Playing = { player, ticker, request, framesSent: 0, framesSkipped: 0, unmute: undefined };
    ref.p = p;
    if (request.muteBridge) p.unmute = muteBridge(leg);
    this.playing.set(legId, p);
    this.totals.plays++;
    player.play(playlist, { loop: request.loop });
    this.opts.addTicker(ticker);
    return true;
  }

  /** Stop by the application; a `digit` (signalled in SIP) barges in when the play allows it. */
  stop(legId: number, digit?: string): void {
    const p = this.playing.get(legId);
    if (!p) return;
    if (digit !== undefined) {
      this.onDigit(legId, digit);
      return;
    }
    p.player.stop();
  }

  /** A digit heard on the leg: barge-in when the prompt playing is interruptible. */
  onDigit(legId: number, digit: string): boolean {
    const p = this.playing.get(legId);
    return p?.player.onDigit(digit) !== undefined;
  }

  /** The leg closes: its player ends (reported as stopped). */
  close(legId: number): void {
    this.end(legId);
  }

  dump(): LegPlayersDump {
    return {
      prompts: [...this.prompts].map(([id, frames]) => ({ id, frames: frames.length })),
      playing: [...this.playing].map(([legId, p]) => ({
        legId,
        framesSent: p.framesSent,
        framesSkipped: p.framesSkipped,
        ...p.player.dump(),
      })),
      totals: { ...this.totals },
    };
  }

  private end(legId: number): void {
    const p = this.playing.get(legId);
    if (p?.player.state === 'playing') p.player.stop();
  }

  private onPlayerEvent(legId: number, p: Playing | undefined, e: PlayerEvent): void {
    if (!p || e.type === 'prompt-started') return;
    if (this.playing.get(legId) !== p) return;
    this.playing.delete(legId);
    this.opts.removeTicker(p.ticker);
    p.unmute?.();
    p.player.close();
    const playId = p.request.playId;
    switch (e.type) {
      case 'finished':
        this.totals.finished++;
        this.opts.onEnded({ legId, playId, outcome: 'finished', positionMs: e.totalFrames * FRAME_MS });
        return;
      case 'interrupted':
        this.totals.interrupted++;
        this.opts.onEnded({
          legId,
          playId,
          outcome: 'interrupted',
          positionMs: e.at.totalFrames * FRAME_MS,
          digit: e.digit,
        });
        return;
      case 'stopped':
        this.totals.stopped++;
        this.opts.onEnded({ legId, playId, outcome: 'stopped', positionMs: e.at.totalFrames * FRAME_MS });
        return;
      default: {
        const never: never = e;
        throw new Error(`unknown player event ${JSON.stringify(never)}`);
      }
    }
  }
}

/**
 * Consume what the bridged leg would forward to `leg` while it plays; returns the undo. The
 * bridged leg's own hook still runs first (its digits and recording feed are unaffected).
 */
function muteBridge(leg: PlayerLeg): (() => void) | undefined {
  const peer = leg.peer;
  if (!peer) return undefined;
  const before = peer.onPacket;
  const hook: PacketHook = (l, datagram, view) => {
    before?.(l, datagram, view);
    return false;
  };
  peer.onPacket = hook;
  return () => {
    if (peer.onPacket === hook) peer.onPacket = before;
  };
}
