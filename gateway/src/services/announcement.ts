/**
 * Announcement numbers (`services: [{ type: 'announcement', file, bargeIn, loops }]`): the gateway
 * answers, plays the prompt on the caller's leg, and hangs up (BYE) shortly after it ends — at
 * its end, or at once when a DTMF digit interrupts it (barge-in, RFC 4733, INFO or in-band). The
 * outcome (finished, or interrupted and where) is logged and kept in the dump. An app on the Leg
 * interface: it never sees the SIP dialog or the media engine.
 */
import type { Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Result } from '../../../base/result.ts';
import type { Leg, PlayOutcome } from '../call/leg.ts';
import { waitOnLeg } from '../call/leg-app.ts';
import type { PromptSource } from '../media/play/prompt-library.ts';

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
  timers: Timers;
  logger: Logger;
  /** Pause between the end of the prompt and the BYE. */
  hangupDelayMs?: number;
  /** Pause between the 200 OK and the first frame, so the caller's ACK and media set-up come first. */
  startDelayMs?: number;
}

export interface AnnouncementOutcome {
  callKey: string;
  number: string;
  outcome: PlayOutcome['outcome'];
  positionMs: number;
  digit: string | null;
}

export interface AnnouncementDump {
  running: Array<{ callKey: string; number: string }>;
  totals: Record<
    'answered' | 'finished' | 'interrupted' | 'stopped' | 'ended' | 'failed' | 'refused',
    number
  >;
  recent: AnnouncementOutcome[];
}

const RECENT = 50;

export class AnnouncementService {
  private readonly running = new Map<string, { number: string; leg: Leg }>();
  private readonly recent: AnnouncementOutcome[] = [];
  private readonly totals: AnnouncementDump['totals'] = {
    answered: 0,
    finished: 0,
    interrupted: 0,
    stopped: 0,
    ended: 0,
    failed: 0,
    refused: 0,
  };

  constructor(private readonly opts: AnnouncementOptions) {}

  /**
   * The announcement of `number` on a leg offered to the gateway: answer, play, hang up. A number
   * with no playable file is refused with 503 before anything is answered.
   */
  async run(leg: Leg, number: string): Promise<void> {
    const cfg = this.opts.config(number);
    if (!cfg?.file) return this.refuse(leg, number, 'no file configured');
    const prompt = await this.opts.prompts.load(cfg.file);
    if (!prompt.ok) return this.refuse(leg, number, `${prompt.error.code}: ${prompt.error.message}`);
    if (!(await leg.answer()).ok) return;
    const key = leg.interactionId;
    this.running.set(key, { number, leg });
    this.totals.answered++;
    try {
      if (
        (await waitOnLeg(leg, this.opts.timers, 'announcement-start', this.opts.startDelayMs ?? 200)) ===
        'ended'
      ) {
        return;
      }
      const loops = cfg.loops ?? 1;
      const playlist = Array.from({ length: loops }, () => ({ kind: 'audio' as const, ...prompt.value }));
      const played = await leg.play(playlist, { bargeIn: cfg.bargeIn ?? true });
      this.noteOutcome(key, number, played);
      if (played.outcome === 'ended') return;
      await waitOnLeg(leg, this.opts.timers, 'announcement-bye', this.opts.hangupDelayMs ?? 500);
      await leg.hangup('normal-clearing');
    } finally {
      this.running.delete(key);
    }
  }

  private async refuse(leg: Leg, number: string, why: string): Promise<void> {
    this.totals.refused++;
    this.opts.logger.warn({ number, why }, 'announcement refused');
    await leg.hangup('service-unavailable');
  }

  private noteOutcome(key: string, number: string, e: PlayOutcome): void {
    this.totals[e.outcome]++;
    const digit = e.outcome === 'interrupted' ? e.digit : null;
    this.recent.push({ callKey: key, number, outcome: e.outcome, positionMs: e.positionMs, digit });
    if (this.recent.length > RECENT) this.recent.shift();
    this.opts.logger.info(
      { callKey: key, number, outcome: e.outcome, positionMs: e.positionMs, digit },
      e.outcome === 'interrupted' ? 'announcement interrupted' : 'announcement ended',
    );
  }

  dump(): AnnouncementDump {
    return {
      running: [...this.running.entries()].map(([callKey, r]) => ({ callKey, number: r.number })),
      totals: { ...this.totals },
      recent: [...this.recent],
    };
  }

  /** Hang up every announcement still playing (shutdown). */
  close(): void {
    for (const r of [...this.running.values()]) void r.leg.hangup('normal-clearing');
    this.running.clear();
  }
}
