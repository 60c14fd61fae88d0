/**
 * Answers the mixing services: conference rooms and supervisor monitoring. Like the echo and
 * milliwatt services (`service-answerer.ts`) the gateway answers the caller itself with a leg of
 * its own (our SDP, one port pair from the RTP range), but the leg goes into a room of the media
 * engine (`mix-rooms.ts`) instead of a tone or an echo.
 *
 * A caller beyond a room's `maxParties` is refused with 486 Busy Here before anything is answered:
 * no media port is spent on a call that cannot join, and the caller's own phone plays the busy
 * signal in its own tone plan. (Answering to play an announcement would need a prompt per
 * language for a case that ends the call anyway.)
 */
import type { Clock } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import type { MixJoin, MixLegHandle, MixRooms, MonitorMode } from '../media/mix/mix-rooms.ts';
import { answerServiceOffer, serviceOffer, type MediaPlan } from '../media/sdp/service-sdp.ts';
import type { ServiceAnswer } from './service-answerer.ts';

/** A mixing service as configured (`services[]` of type conference or monitor). */
export interface MixServiceConfig {
  number: string;
  type: string;
  maxParties?: number;
  mode?: MonitorMode;
}

export interface MixAnswererOptions {
  /** Address the SDP advertises. */
  host: string;
  rooms: Pick<MixRooms, 'joinConference' | 'startMonitor'>;
  /** The configured services (current revision). */
  services: () => readonly MixServiceConfig[];
  clock: Clock;
  logger: Logger;
  metrics?: MetricsRegistry;
}

export interface MixCallRequest {
  /** The service number (for monitor: the prefix). */
  number: string;
  /** `monitor`: the extension to monitor. */
  target?: string;
  /** The caller's interaction id: names the call in the engine. */
  callKey: string;
  offer: Buffer | undefined;
  /** Hang the caller up: the monitored call ended first. */
  hangup: () => void;
}

interface Running {
  callKey: string;
  service: string;
  number: string;
  target: string | undefined;
  leg: MixLegHandle;
  plan: MediaPlan;
  startedAtMs: number;
  closing: boolean;
}

/** A session with the counters of its leg (`ServiceLegHandle.dump`) spread in. */
export interface MixSessionDump extends ReturnType<MixLegHandle['dump']> {
  callKey: string;
  service: string;
  number: string;
  /** For monitor: the extension whose call is monitored. */
  monitoredExtension: string | null;
  closing: boolean;
  ageMs: number;
  plan: MediaPlan;
}

export interface MixAnswererDump {
  /** At most 200 listed. */
  sessions: MixSessionDump[];
}

export function isMixService(type: string): type is 'conference' | 'monitor' {
  return type === 'conference' || type === 'monitor';
}

export class MixAnswerer {
  private readonly sessions = new Map<string, Running>();
  private closed = false;
  private readonly answered;

  constructor(private readonly opts: MixAnswererOptions) {
    this.answered = opts.metrics?.counter(
      'edgeline_media_mix_answers_total',
      'Conference and monitoring calls answered or refused by the gateway, by service and outcome',
    );
  }

  async answer(req: MixCallRequest): Promise<ServiceAnswer> {
    const cfg = this.opts.services().find((s) => s.number === req.number);
    const service = cfg?.type ?? 'unknown';
    const refuse = (status: number, reason: string): ServiceAnswer => {
      this.answered?.inc({ service, outcome: String(status) });
      return { ok: false, status, reason };
    };
    if (this.closed) return refuse(503, 'Service Unavailable (shutting down)');
    if (!cfg || !isMixService(cfg.type)) return refuse(404, 'Not Found');
    let join: MixJoin;
    if (cfg.type === 'conference') {
      join = this.opts.rooms.joinConference(cfg.number, req.callKey, cfg.maxParties);
    } else {
      if (!req.target) return refuse(404, 'Not Found (dial the monitor code followed by an extension)');
      join = this.opts.rooms.startMonitor(req.callKey, req.target, cfg.mode ?? 'listen', req.hangup);
    }
    if (!join.ok) {
      this.opts.logger.info(
        { service, number: req.number, target: req.target, status: join.status },
        join.reason,
      );
      return refuse(join.status, join.reason);
    }
    const leg = join.handle;
    const local = { address: this.opts.host, rtpPort: leg.rtpPort };
    const lateOffer = req.offer === undefined || req.offer.length === 0;
    let negotiated;
    if (lateOffer || !req.offer) negotiated = serviceOffer(local);
    else {
      const r = answerServiceOffer(req.offer, local);
      if (!r.ok) {
        void leg.close();
        return refuse(r.error.status, r.error.reason);
      }
      negotiated = r.value;
    }
    const bound = await leg.opened();
    if (!bound || this.closed) {
      void leg.close();
      return refuse(503, 'Service Unavailable (media port)');
    }
    leg.start(negotiated.plan);
    const running: Running = {
      callKey: req.callKey,
      service,
      number: req.number,
      target: req.target,
      leg,
      plan: negotiated.plan,
      startedAtMs: this.opts.clock.now(),
      closing: false,
    };
    this.sessions.set(req.callKey, running);
    this.answered?.inc({ service, outcome: '200' });
    return { ok: true, sdp: negotiated.sdp, lateOffer, session: { close: () => void this.end(running) } };
  }

  private end(r: Running): Promise<void> {
    if (r.closing) return Promise.resolve();
    r.closing = true;
    return r.leg.close().then(() => {
      this.sessions.delete(r.callKey);
    });
  }

  dump(): MixAnswererDump {
    const now = this.opts.clock.now();
    return {
      sessions: [...this.sessions.values()].slice(0, 200).map((s) => ({
        callKey: s.callKey,
        service: s.service,
        number: s.number,
        monitoredExtension: s.target ?? null,
        closing: s.closing,
        ageMs: Math.round(now - s.startedAtMs),
        plan: s.plan,
        ...s.leg.dump(),
      })),
    };
  }

  /** Closes every session; resolves once their ports are back. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.all([...this.sessions.values()].map((s) => this.end(s))).then(() => undefined);
  }
}
