/**
 * Services the gateway answers itself (`*43` echo test, `*44` digital milliwatt): takes the
 * caller's offer, gets a leg from the media engine (a port pair from the one RTP range, sockets in
 * a relay worker, so the signalling thread binds nothing and no second pool races the engine's),
 * and returns our SDP and the running session. Every session is closed by whoever ends the call;
 * `close()` closes what is left on shutdown.
 */
import type { Clock } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import type { MediaEngineDump, ServiceLegHandle } from '../media/engine/engine.ts';
import {
  answerServiceOffer,
  remoteOfServiceAnswer,
  serviceOffer,
  type MediaPlan,
} from '../media/sdp/service-sdp.ts';

/** `prompt`: a leg the gateway plays prompts on (announcements, see `announcement.ts`). */
export type ServiceKind = 'echo' | 'milliwatt' | 'prompt';

/** What the answerer needs of the media engine. */
export interface ServiceMediaPort {
  /** `nearKey`: open in the worker of that call's leg (a leg that will be bridged to it). */
  openService(callKey: string, kind: ServiceKind, nearKey?: string): ServiceLegHandle | undefined;
  dump(): Pick<MediaEngineDump, 'ports'>;
}

export interface ServiceAnswererOptions {
  /** Address the SDP advertises. */
  host: string;
  engine: ServiceMediaPort;
  clock: Clock;
  logger: Logger;
  metrics?: MetricsRegistry;
}

export interface ServiceSession {
  close(): void;
  /** The answer to our offer (a leg the gateway placed): false when it is not acceptable. */
  applyAnswer?(sdp: Buffer): boolean;
}

export type ServiceAnswer =
  | { ok: true; sdp: Buffer; session: ServiceSession; lateOffer: boolean }
  | { ok: false; status: number; reason: string };

interface Running {
  id: number;
  callKey: string;
  service: ServiceKind;
  leg: ServiceLegHandle;
  plan: MediaPlan;
  startedAtMs: number;
  lateOffer: boolean;
  closing: boolean;
}

export class ServiceAnswerer {
  private readonly sessions = new Map<number, Running>();
  private nextId = 1;
  private closed = false;
  private readonly answered;

  constructor(private readonly opts: ServiceAnswererOptions) {
    this.answered = opts.metrics?.counter(
      'edgeline_media_service_answers_total',
      'Service calls answered by the gateway, by service and outcome',
    );
    opts.metrics
      ?.gauge('edgeline_media_sessions_active', 'Media sessions the gateway terminates')
      .collect(() => [{ value: this.sessions.size }]);
    opts.metrics
      ?.gauge('edgeline_media_ports_free', 'RTP port pairs free in the pool')
      .collect(() => [{ value: opts.engine.dump().ports.free }]);
  }

  /**
   * Answer a service call. With an offer, the answer is returned; without one (`offerSdp`
   * undefined or empty) our offer is returned, to go in the 200 (see `serviceOffer`).
   * 503 when no RTP port is free, 488 when the offer has nothing we can use. `callKey` (the
   * interaction id) names the call in the engine's digit events.
   */
  async answer(
    service: ServiceKind,
    offerSdp: Buffer | undefined,
    callKey?: string,
    nearKey?: string,
  ): Promise<ServiceAnswer> {
    if (this.closed) return { ok: false, status: 503, reason: 'Service Unavailable (shutting down)' };
    const id = this.nextId++;
    const key = callKey ?? `service-${id}`;
    const leg = this.opts.engine.openService(key, service, nearKey);
    if (!leg) {
      this.answered?.inc({ service, outcome: '503' });
      this.opts.logger.warn({ service }, 'no RTP port for a service call');
      return { ok: false, status: 503, reason: 'Service Unavailable (no media port)' };
    }
    const local = { address: this.opts.host, rtpPort: leg.rtpPort };
    const lateOffer = offerSdp === undefined || offerSdp.length === 0;
    let negotiated;
    if (lateOffer) negotiated = serviceOffer(local);
    else {
      const r = answerServiceOffer(offerSdp, local);
      if (!r.ok) {
        void leg.close();
        this.answered?.inc({ service, outcome: String(r.error.status) });
        return { ok: false, status: r.error.status, reason: r.error.reason };
      }
      negotiated = r.value;
    }
    const bound = await leg.opened();
    if (!bound || this.closed) {
      void leg.close();
      this.answered?.inc({ service, outcome: '503' });
      return { ok: false, status: 503, reason: 'Service Unavailable (media port)' };
    }
    leg.start(negotiated.plan);
    const running: Running = {
      id,
      callKey: key,
      service,
      leg,
      plan: negotiated.plan,
      startedAtMs: this.opts.clock.now(),
      lateOffer,
      closing: false,
    };
    this.sessions.set(id, running);
    this.answered?.inc({ service, outcome: '200' });
    return {
      ok: true,
      sdp: negotiated.sdp,
      lateOffer,
      session: {
        close: () => void this.end(running),
        applyAnswer: (sdp) => {
          const remote = remoteOfServiceAnswer(sdp);
          if (!remote.ok) return false;
          running.plan = { ...running.plan, remote: remote.value };
          leg.setRemote(remote.value);
          return true;
        },
      },
    };
  }

  /** The session stays listed until its port pair is back in the pool. */
  private end(r: Running): Promise<void> {
    if (r.closing) return Promise.resolve();
    r.closing = true;
    return r.leg.close().then(() => {
      this.sessions.delete(r.id);
    });
  }

  dump(): { ports: MediaEngineDump['ports']; sessions: Array<Record<string, unknown>> } {
    const now = this.opts.clock.now();
    return {
      ports: this.opts.engine.dump().ports,
      sessions: [...this.sessions.values()].slice(0, 200).map((s) => ({
        id: s.id,
        callKey: s.callKey,
        service: s.service,
        lateOffer: s.lateOffer,
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
