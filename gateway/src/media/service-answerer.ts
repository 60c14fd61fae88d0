/**
 * Services the gateway answers itself (`*43` echo test, `*44` digital milliwatt): takes the
 * caller's offer, binds an RTP port pair, and returns our SDP and the running media session.
 * Every session is closed by whoever ends the call; `close()` closes what is left on shutdown.
 */
import type { Clock, Timers } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import { EchoSession } from './echo-service.ts';
import { MilliwattSession } from './milliwatt-service.ts';
import { RtpPortPool, type RtpPortPoolDump } from './rtp-port-pool.ts';
import { answerServiceOffer, serviceOffer } from './service-sdp.ts';

export type ServiceKind = 'echo' | 'milliwatt';

export interface ServiceAnswererOptions {
  /** Address the media sockets bind to and the SDP advertises. */
  host: string;
  rtpPorts: { lo: number; hi: number };
  clock: Clock;
  timers: Timers;
  logger: Logger;
  metrics?: MetricsRegistry;
}

export interface ServiceSession {
  close(): void;
}

export type ServiceAnswer =
  | { ok: true; sdp: Buffer; session: ServiceSession; lateOffer: boolean }
  | { ok: false; status: number; reason: string };

interface Running {
  id: number;
  service: ServiceKind;
  session: EchoSession | MilliwattSession;
  startedAtMs: number;
  lateOffer: boolean;
}

export class ServiceAnswerer {
  private readonly pool: RtpPortPool;
  private readonly sessions = new Map<number, Running>();
  private nextId = 1;
  private closed = false;
  private readonly answered;

  constructor(private readonly opts: ServiceAnswererOptions) {
    this.pool = new RtpPortPool({
      host: opts.host,
      lo: opts.rtpPorts.lo,
      hi: opts.rtpPorts.hi,
      logger: opts.logger,
    });
    this.answered = opts.metrics?.counter(
      'edgeline_media_service_answers_total',
      'Service calls answered by the gateway, by service and outcome',
    );
    opts.metrics
      ?.gauge('edgeline_media_sessions_active', 'Media sessions the gateway terminates')
      .collect(() => [{ value: this.sessions.size }]);
    opts.metrics
      ?.gauge('edgeline_media_ports_free', 'RTP port pairs free in the pool')
      .collect(() => [{ value: this.pool.available }]);
  }

  /**
   * Answer a service call. With an offer, the answer is returned; without one (`offerSdp`
   * undefined or empty) our offer is returned, to go in the 200 (see `serviceOffer`).
   * 503 when no RTP port is free, 488 when the offer has nothing we can use.
   */
  async answer(service: ServiceKind, offerSdp: Buffer | undefined): Promise<ServiceAnswer> {
    if (this.closed) return { ok: false, status: 503, reason: 'Service Unavailable (shutting down)' };
    const pair = await this.pool.allocate();
    if (!pair.ok) {
      this.answered?.inc({ service, outcome: '503' });
      this.opts.logger.warn({ service, error: pair.error.message }, 'no RTP port for a service call');
      return { ok: false, status: 503, reason: 'Service Unavailable (no media port)' };
    }
    const local = { address: this.opts.host, rtpPort: pair.value.rtpPort };
    const lateOffer = offerSdp === undefined || offerSdp.length === 0;
    let negotiated;
    if (lateOffer) negotiated = serviceOffer(local);
    else {
      const r = answerServiceOffer(offerSdp, local);
      if (!r.ok) {
        pair.value.release();
        this.answered?.inc({ service, outcome: String(r.error.status) });
        return { ok: false, status: r.error.status, reason: r.error.reason };
      }
      negotiated = r.value;
    }
    if (this.closed) {
      pair.value.release();
      return { ok: false, status: 503, reason: 'Service Unavailable (shutting down)' };
    }
    const deps = { clock: this.opts.clock, timers: this.opts.timers, logger: this.opts.logger };
    const session =
      service === 'echo'
        ? new EchoSession(pair.value, negotiated.plan, deps)
        : new MilliwattSession(pair.value, negotiated.plan, deps);
    const id = this.nextId++;
    this.sessions.set(id, { id, service, session, startedAtMs: this.opts.clock.now(), lateOffer });
    this.answered?.inc({ service, outcome: '200' });
    let open = true;
    return {
      ok: true,
      sdp: negotiated.sdp,
      lateOffer,
      session: {
        close: () => {
          if (!open) return;
          open = false;
          session.close();
          this.sessions.delete(id);
        },
      },
    };
  }

  dump(): { ports: RtpPortPoolDump; sessions: Array<Record<string, unknown>> } {
    const now = this.opts.clock.now();
    return {
      ports: this.pool.dump(),
      sessions: [...this.sessions.values()].slice(0, 200).map((s) => ({
        id: s.id,
        service: s.service,
        lateOffer: s.lateOffer,
        ageMs: Math.round(now - s.startedAtMs),
        ...s.session.dump(),
      })),
    };
  }

  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.session.close();
    this.sessions.clear();
    this.pool.close();
  }
}
