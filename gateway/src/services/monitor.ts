/**
 * Supervisor monitoring (`services[]` of type monitor, ChanSpy-like): dialled as the service's
 * number followed by an extension (`*451002`) by an extension allowed to monitor (routing refuses
 * the others with 403). The supervisor is answered into the answered call the extension is in,
 * starting in the service's mode (listen, whisper to the extension, barge); digits 4, 5 and 6
 * switch the mode in the media (`mix-rooms.ts`), where the room's roles are.
 *
 * Refused before any answer: 404 without an extension or when the extension is in no answered
 * call, 486 when its call is monitored already, 503 with no media port. When the monitored call
 * ends first the supervisor is hung up (BYE): there is nothing left to listen to.
 *
 * An app on the Leg interface: it never sees the SIP dialog or the media engine.
 */
import type { Leg } from '../call/leg.ts';
import type { Logger } from '../core/log.ts';
import type { MonitorMode } from '../media/mix/mix-rooms.ts';
import { stayAnswered, type StayOutcome } from './media-services.ts';

/** A monitor service as configured. */
export interface MonitorConfig {
  number: string;
  mode?: MonitorMode;
}

export interface MonitorOptions {
  /** The monitor service configured at a number (live configuration). */
  config(number: string): MonitorConfig | undefined;
  logger: Logger;
}

export interface MonitorDump {
  running: Array<{ callKey: string; number: string; extension: string }>;
  totals: Record<StayOutcome | 'not-found', number>;
}

export class MonitorService {
  private readonly running = new Map<string, { number: string; extension: string }>();
  private readonly totals: MonitorDump['totals'] = { refused: 0, ended: 0, 'media-ended': 0, 'not-found': 0 };

  constructor(private readonly o: MonitorOptions) {}

  /** Monitor `extension`'s call through the service at `number`. */
  async run(leg: Leg, number: string, extension: string | undefined): Promise<void> {
    const cfg = this.o.config(number);
    if (!cfg || !extension) {
      this.totals['not-found']++;
      this.o.logger.info({ number, extension }, 'monitor: dial the monitor code followed by an extension');
      await leg.hangup('unallocated-number');
      return;
    }
    const key = leg.interactionId;
    this.running.set(key, { number, extension });
    let stayed: StayOutcome;
    try {
      stayed = await stayAnswered(leg, { kind: 'monitor', extension, mode: cfg.mode ?? 'listen' });
    } finally {
      this.running.delete(key);
    }
    this.totals[stayed]++;
    if (stayed !== 'media-ended') return;
    // The monitored call ended first: the supervisor gets BYE.
    this.o.logger.info({ callKey: key, extension }, 'monitor: the monitored call ended');
    await leg.hangup('normal-clearing');
  }

  dump(): MonitorDump {
    return {
      running: [...this.running.entries()].map(([callKey, r]) => ({ callKey, ...r })),
      totals: { ...this.totals },
    };
  }
}
