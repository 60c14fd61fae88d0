/**
 * Announcement numbers (`services: [{ type: 'announcement', file, bargeIn, loops }]`): the gateway
 * answers, plays the prompt on the caller's leg, and hangs up (BYE) shortly after it ends — at
 * its end, or at once when a DTMF digit interrupts it (barge-in, RFC 4733, INFO or in-band). The
 * digit still reaches the application through the engine's digit path; the outcome (finished, or
 * interrupted and where) is logged and kept in the dump.
 */
import type { Timers, TimerHandle } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Result } from '../../../base/result.ts';
import type { LegPlayOptions, PlayEndedEvent } from '../media/engine/engine-players.ts';
import type { PromptSource } from '../media/play/prompt-library.ts';
import type { ServiceAnswer } from './service-answerer.ts';

/** The call the gateway answers itself (a `SipCall`). */
export interface LocalCall {
  readonly interactionId: string;
  readonly currentState: string;
  reject(status: number, reason?: string): void;
  answerLocally(sdp: Buffer, onEnd: () => void): boolean;
  hangup(cause: string): void;
}

export interface AnnouncementConfig {
  number: string;
  file?: string;
  bargeIn?: boolean;
  loops?: number;
}

export interface AnnouncementOptions {
  /** The announcement service configured for a number (live configuration). */
  config(number: string): AnnouncementConfig | undefined;
  prompts: { load(file: string): Promise<Result<PromptSource>> };
  answerer: {
    answer(kind: 'prompt', offer: Buffer | undefined, callKey: string): Promise<ServiceAnswer>;
  };
  engine: {
    play(callKey: string, side: 'a', prompts: readonly PromptSource[], opts?: LegPlayOptions): boolean;
    stopPlay(callKey: string, side: 'a'): void;
  };
  timers: Timers;
  logger: Logger;
  /** Pause between the end of the prompt and the BYE. */
  hangupDelayMs?: number;
  /** Pause between the 200 OK and the first frame, so the caller's ACK and media set-up come first. */
  startDelayMs?: number;
}

interface Running {
  number: string;
  call: LocalCall;
  timer: TimerHandle | undefined;
  outcome: PlayEndedEvent | undefined;
}

const RECENT = 50;

export class AnnouncementService {
  private readonly running = new Map<string, Running>();
  private readonly recent: Array<Record<string, unknown>> = [];
  private readonly totals = { answered: 0, finished: 0, interrupted: 0, stopped: 0, refused: 0 };

  constructor(private readonly opts: AnnouncementOptions) {}

  /** Answer a call to an announcement number; every failure is a final response to the caller. */
  answerCall(call: LocalCall, number: string, offer: Buffer | undefined): void {
    this.start(call, number, offer).catch((e: unknown) => {
      this.opts.logger.error({ err: e, number }, 'announcement failed');
      if (call.currentState === 'routing') call.reject(500, 'Server Internal Error');
    });
  }

  private async start(call: LocalCall, number: string, offer: Buffer | undefined): Promise<void> {
    const cfg = this.opts.config(number);
    if (!cfg?.file) return this.refuse(call, number, 'no file configured');
    const prompt = await this.opts.prompts.load(cfg.file);
    if (!prompt.ok) return this.refuse(call, number, `${prompt.error.code}: ${prompt.error.message}`);
    const key = call.interactionId;
    const r = await this.opts.answerer.answer('prompt', offer, key);
    if (!r.ok) {
      if (call.currentState === 'routing') call.reject(r.status, r.reason);
      return;
    }
    const run: Running = { number, call, timer: undefined, outcome: undefined };
    const answered = call.answerLocally(r.sdp, () => {
      run.timer?.cancel();
      this.running.delete(key);
      r.session.close();
    });
    // Cancelled while the media was set up: nothing to answer, the ports go back.
    if (!answered) return r.session.close();
    this.running.set(key, run);
    this.totals.answered++;
    const loops = cfg.loops ?? 1;
    const playlist = Array.from({ length: loops }, () => prompt.value);
    run.timer = this.opts.timers.start('announcement-start', this.opts.startDelayMs ?? 200, () => {
      run.timer = undefined;
      const ok = this.opts.engine.play(key, 'a', playlist, {
        bargeIn: cfg.bargeIn ?? true,
        onEnded: (e) => this.onEnded(key, run, e),
      });
      if (!ok) this.hangupSoon(run, 'announcement not playable');
    });
  }

  private refuse(call: LocalCall, number: string, why: string): void {
    this.totals.refused++;
    this.opts.logger.warn({ number, why }, 'announcement refused');
    if (call.currentState === 'routing') call.reject(503, 'Service Unavailable (announcement)');
  }

  private onEnded(key: string, run: Running, e: PlayEndedEvent): void {
    run.outcome = e;
    this.totals[e.outcome]++;
    this.recent.push({
      callKey: key,
      number: run.number,
      outcome: e.outcome,
      positionMs: e.positionMs,
      digit: e.digit ?? null,
    });
    if (this.recent.length > RECENT) this.recent.shift();
    this.opts.logger.info(
      { callKey: key, number: run.number, outcome: e.outcome, positionMs: e.positionMs, digit: e.digit },
      e.outcome === 'interrupted' ? 'announcement interrupted' : 'announcement ended',
    );
    if (e.outcome !== 'stopped') this.hangupSoon(run, `announcement ${e.outcome}`);
  }

  private hangupSoon(run: Running, cause: string): void {
    run.timer?.cancel();
    run.timer = this.opts.timers.start('announcement-bye', this.opts.hangupDelayMs ?? 500, () => {
      run.timer = undefined;
      run.call.hangup(cause);
    });
  }

  dump(): Record<string, unknown> {
    return {
      running: [...this.running.entries()].map(([callKey, r]) => ({ callKey, number: r.number })),
      totals: { ...this.totals },
      recent: [...this.recent],
    };
  }

  /** Hang up every announcement still playing (shutdown). */
  close(): void {
    for (const [key, r] of [...this.running]) {
      r.timer?.cancel();
      this.opts.engine.stopPlay(key, 'a');
      r.call.hangup('shutdown');
    }
    this.running.clear();
  }
}
