/**
 * Services that are nothing but the media the gateway answers with: `*43` echo (every packet
 * back), `*44` digital milliwatt (1004 Hz at 0 dBm0), and conference rooms (`services[]` of type
 * conference, up to `maxParties`). Each answers the caller into its media and keeps the leg until
 * the caller leaves; the engine's workers do the rest. Apps on the Leg interface: they never see
 * the SIP dialog or the media engine.
 *
 * Refusals happen before any answer: a full room refuses with 486 Busy Here, no free media port
 * with 503 (the answer fails with that status and the caller hears it); a number with no such
 * service any more (the configuration changed since routing) gets 404.
 */
import type { AnswerMedia, Leg } from '../call/leg.ts';
import type { Logger } from '../core/log.ts';

/** A conference service as configured. */
export interface ConferenceConfig {
  number: string;
  maxParties?: number;
}

export interface MediaServicesOptions {
  /** The conference service configured at a number (live configuration). */
  conference(number: string): ConferenceConfig | undefined;
  logger: Logger;
}

/** How an answered stay ended: refused (no answer), the leg ended, or its media ended by itself. */
export type StayOutcome = 'refused' | 'ended' | 'media-ended';

/**
 * Answer `leg` into `media` and keep it there until the leg ends or its media ends by itself
 * (`mediaEnded`: the call a monitoring leg listened to was released).
 */
export async function stayAnswered(leg: Leg, media: AnswerMedia): Promise<StayOutcome> {
  const offs: Array<() => void> = [];
  // Listened to before the answer: media that ends while the leg answers is reported after it.
  const mediaEnded = new Promise<StayOutcome>((resolve) =>
    offs.push(leg.events.once('mediaEnded', () => resolve('media-ended'))),
  );
  const ended = new Promise<StayOutcome>((resolve) =>
    offs.push(leg.events.once('ended', () => resolve('ended'))),
  );
  try {
    if (!(await leg.answer({ media })).ok) return 'refused';
    if (leg.state === 'ended') return 'ended';
    return await Promise.race([mediaEnded, ended]);
  } finally {
    for (const off of offs) off();
  }
}

export class MediaServices {
  constructor(private readonly o: MediaServicesOptions) {}

  /** `*43` / `*44`: the echo or the milliwatt until the caller hangs up. */
  async lineTest(leg: Leg, kind: 'echo' | 'milliwatt'): Promise<void> {
    await stayAnswered(leg, { kind });
  }

  /** A conference room: the caller joins it until it hangs up. */
  async conference(leg: Leg, number: string): Promise<void> {
    const cfg = this.o.conference(number);
    if (!cfg) {
      this.o.logger.warn({ number }, 'no conference at this number');
      await leg.hangup('unallocated-number');
      return;
    }
    const stayed = await stayAnswered(leg, {
      kind: 'conference',
      room: cfg.number,
      maxParties: cfg.maxParties,
    });
    this.o.logger.debug({ number, callKey: leg.interactionId, stayed }, 'conference call ended');
  }
}
