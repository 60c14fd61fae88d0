/**
 * Prompts on a leg the gateway answered itself, whatever carries the leg (a SIP dialog, a PSTN
 * line): one play at a time on the leg's media handle, barge-in, loop, cancel by signal, and hold
 * music that only `unhold` stops. The leg checks its own state first; this keeps the plays.
 */
import type { Clock } from '../../../base/clock.ts';
import { FRAME_SAMPLES } from '../../../base/signal/pcm-frame.ts';
import type { PromptSource } from '../media/play/prompt-library.ts';
import type { PlayOptions, PlayOutcome, PromptRef } from './leg.ts';
import type { HandlePlayEnded, LegMediaHandle } from './leg-media.ts';
import { isDigit } from './leg-base.ts';

interface ActivePlay {
  resolve: (o: PlayOutcome) => void;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
  startedAtMs: number;
  /** Music on hold: stopped by `unhold`, not by a new play's caller. */
  hold: boolean;
}

export class LocalPlayback {
  private playing: ActivePlay | undefined;

  constructor(private readonly clock: Clock) {}

  play(handle: LegMediaHandle, prompts: readonly PromptRef[], opts: PlayOptions = {}): Promise<PlayOutcome> {
    return this.start(
      handle,
      prompts.map(toSource),
      opts.loop ?? false,
      opts.bargeIn ?? true,
      opts.signal,
      false,
    );
  }

  /** Hold music in a loop (none: silence), until `unhold`. */
  hold(handle: LegMediaHandle, music: PromptSource | undefined): void {
    if (this.playing?.hold) return;
    if (music) void this.start(handle, [music], true, false, undefined, true);
    else if (this.playing) handle.stopPlay();
  }

  unhold(handle: LegMediaHandle | undefined): void {
    if (this.playing?.hold) handle?.stopPlay();
  }

  /** Stop what plays, hold music included (a bridge takes over the outgoing stream). */
  stop(handle: LegMediaHandle | undefined): void {
    if (this.playing) handle?.stopPlay();
  }

  /** The leg ended: a play still running resolves `ended`. */
  ended(): void {
    const p = this.playing;
    if (p)
      this.finish(p, {
        outcome: 'ended',
        positionMs: Math.max(0, Math.round(this.clock.now() - p.startedAtMs)),
      });
  }

  private start(
    handle: LegMediaHandle,
    sources: PromptSource[],
    loop: boolean,
    bargeIn: boolean,
    signal: AbortSignal | undefined,
    hold: boolean,
  ): Promise<PlayOutcome> {
    if (signal?.aborted) return Promise.resolve({ outcome: 'stopped', positionMs: 0 });
    // One play at a time per leg: a new one stops what plays (its caller sees `stopped`).
    if (this.playing) handle.stopPlay();
    return new Promise<PlayOutcome>((resolve) => {
      const p: ActivePlay = { resolve, onAbort: undefined, signal, startedAtMs: this.clock.now(), hold };
      this.playing = p;
      if (signal) {
        p.onAbort = () => {
          if (this.playing === p) handle.stopPlay();
        };
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      const started = handle.play(sources, { loop, bargeIn, onEnded: (e) => this.playEnded(p, e) });
      if (!started) this.finish(p, { outcome: 'ended', positionMs: 0 });
    });
  }

  private playEnded(p: ActivePlay, e: HandlePlayEnded): void {
    if (e.outcome === 'interrupted' && e.digit && isDigit(e.digit)) {
      this.finish(p, { outcome: 'interrupted', positionMs: e.positionMs, digit: e.digit });
      return;
    }
    this.finish(p, {
      outcome: e.outcome === 'interrupted' ? 'stopped' : e.outcome,
      positionMs: e.positionMs,
    });
  }

  private finish(p: ActivePlay, outcome: PlayOutcome): void {
    if (this.playing === p) this.playing = undefined;
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    p.resolve(outcome);
  }
}

/** A prompt reference as the engine plays it: audio as it is, silence as whole frames of zeros. */
function toSource(p: PromptRef): PromptSource {
  if (p.kind === 'audio') return { id: p.id, samples: p.samples };
  const frames = Math.max(1, Math.ceil(p.durationMs / 20));
  return { id: `silence:${frames}`, samples: new Int16Array(frames * FRAME_SAMPLES) };
}
