/**
 * The media of the legs the gateway answers itself (`AnswerMedia`): takes the caller's offer, gets
 * a leg from the media engine (a port pair from the one RTP range, sockets in a relay worker, so
 * the signalling thread binds nothing and no second pool races the engine's), and returns our SDP
 * and the running session. The leg is what the app asked for: prompts, the `*43` echo, the `*44`
 * digital milliwatt, or a place in a mixing room of the engine (`mix-rooms.ts`) — a conference, or
 * a supervisor in an extension's call.
 *
 * A caller beyond a room's `maxParties` is refused with 486 Busy Here before anything is answered:
 * no media port is spent on a call that cannot join, and the caller's own phone plays the busy
 * signal in its own tone plan. (Answering to play an announcement would need a prompt per
 * language for a case that ends the call anyway.) Monitoring refuses the same way: 404 when the
 * extension is in no answered call, 486 when that call is monitored already.
 *
 * A caller on a PSTN channel (`ServiceWire`) needs no port pair at all: the service's leg is wired
 * to the channel's frame leg inside their worker, and packets pass between the two without a
 * socket. Only when the two cannot share a worker (a room already placed elsewhere) does the frame
 * leg get a port pair and the two talk over loopback RTP.
 *
 * Every session is closed by whoever ends the call; `close()` closes what is left on shutdown.
 */
import type { Clock } from '../../../base/clock.ts';
import type { AnswerMedia } from '../call/leg.ts';
import type { LegMediaWire } from '../call/leg-media.ts';
import type { Logger } from '../core/log.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import type { MediaEngineDump, ServiceLegHandle } from '../media/engine/engine.ts';
import type { MixJoin, MixRooms } from '../media/mix/mix-rooms.ts';
import {
  answerServiceOffer,
  remoteOfServiceAnswer,
  serviceOffer,
  type MediaPlan,
} from '../media/sdp/service-sdp.ts';

/** The kinds a worker plays or processes on a leg by itself. */
export type ServiceKind = 'echo' | 'milliwatt' | 'prompt';

/** What the answerer needs of the media engine. */
export interface ServiceMediaPort {
  /**
   * `nearKey`: open in the worker of that call's leg (a leg that will be bridged to it);
   * `wireKey`: wired to that frame leg in its worker when it can be (no port pair, no SDP).
   */
  openService(
    callKey: string,
    kind: ServiceKind,
    nearKey?: string,
    wireKey?: string,
  ): ServiceLegHandle | undefined;
  /** Conference rooms and supervisor monitoring. */
  readonly mix: Pick<MixRooms, 'joinConference' | 'startMonitor'>;
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

/**
 * `sdp` is empty for a leg wired to the caller's frame leg (`wired`): the two legs share their
 * worker and the service offer's codecs, nothing is negotiated.
 */
export type ServiceAnswer =
  | { ok: true; sdp: Buffer; session: ServiceSession; lateOffer: boolean; wired: boolean }
  | { ok: false; status: number; reason: string };

export interface ServiceAnswerOptions {
  /** Open in the worker of that call's leg (a leg that will be bridged to it). */
  nearKey?: string;
  /** The media ended by itself (the monitored call was released); called at most once. */
  onEnded?: (detail: string) => void;
  /** The caller is a PSTN channel: its frame leg (see `LegMediaWire`). */
  wire?: LegMediaWire;
}

interface Running {
  id: number;
  callKey: string;
  media: AnswerMedia;
  leg: ServiceLegHandle;
  plan: MediaPlan;
  startedAtMs: number;
  lateOffer: boolean;
  closing: boolean;
}

/** A session with the counters of its leg (`ServiceLegHandle.dump`) spread in. */
export interface ServiceSessionDump extends ReturnType<ServiceLegHandle['dump']> {
  id: number;
  callKey: string;
  service: AnswerMedia['kind'];
  lateOffer: boolean;
  closing: boolean;
  ageMs: number;
  plan: MediaPlan;
}

/** A conference or monitoring session: also the room, or the extension whose call is monitored. */
export interface MixSessionDump extends ServiceSessionDump {
  /** For a conference: its room (the service number). */
  number: string | null;
  /** For monitor: the extension whose call is monitored. */
  monitoredExtension: string | null;
}

export interface ServiceAnswererDump {
  ports: MediaEngineDump['ports'];
  /** Prompt, echo and milliwatt sessions, at most 200 listed. */
  sessions: ServiceSessionDump[];
  /** Conference and monitoring sessions, at most 200 listed. */
  mix: { sessions: MixSessionDump[] };
}

const LISTED = 200;

function isMix(media: AnswerMedia): boolean {
  return media.kind === 'conference' || media.kind === 'monitor';
}

export class ServiceAnswerer {
  private readonly sessions = new Map<number, Running>();
  private nextId = 1;
  private closed = false;
  private readonly answered;
  private readonly mixAnswered;

  constructor(private readonly opts: ServiceAnswererOptions) {
    this.answered = opts.metrics?.counter(
      'edgeline_media_service_answers_total',
      'Service calls answered by the gateway, by service and outcome',
    );
    this.mixAnswered = opts.metrics?.counter(
      'edgeline_media_mix_answers_total',
      'Conference and monitoring calls answered or refused by the gateway, by service and outcome',
    );
    opts.metrics
      ?.gauge('edgeline_media_sessions_active', 'Media sessions the gateway terminates')
      .collect(() => [{ value: this.sessions.size }]);
    opts.metrics
      ?.gauge('edgeline_media_ports_free', 'RTP port pairs free in the pool')
      .collect(() => [{ value: opts.engine.dump().ports.free }]);
  }

  /**
   * Answer a call into `media`. With an offer, the answer is returned; without one (`offerSdp`
   * undefined or empty) our offer is returned, to go in the 200 (see `serviceOffer`).
   * 503 when no RTP port is free, 488 when the offer has nothing we can use, and the room's
   * refusals (486, 404) before a port is taken. `callKey` (the interaction id) names the call in
   * the engine's digit events.
   */
  async answer(
    media: AnswerMedia,
    offerSdp: Buffer | undefined,
    callKey?: string,
    o: ServiceAnswerOptions = {},
  ): Promise<ServiceAnswer> {
    const service = media.kind;
    const count = (outcome: number) =>
      (isMix(media) ? this.mixAnswered : this.answered)?.inc({ service, outcome: String(outcome) });
    const refuse = (status: number, reason: string): ServiceAnswer => {
      count(status);
      return { ok: false, status, reason };
    };
    if (this.closed) return { ok: false, status: 503, reason: 'Service Unavailable (shutting down)' };
    const id = this.nextId++;
    const key = callKey ?? `service-${id}`;
    // Released while the leg was set up: refused as a call no longer there, not answered to end.
    const watch: { running: Running | undefined; endedEarly: string | undefined } = {
      running: undefined,
      endedEarly: undefined,
    };
    const ended = (detail: string) => {
      if (watch.running === undefined) watch.endedEarly = detail;
      else if (!watch.running.closing) o.onEnded?.(detail);
    };
    const join = this.open(media, key, o.nearKey, ended, o.wire?.key);
    if (!join.ok) {
      this.opts.logger.info({ service, callKey: key, status: join.status }, join.reason);
      return refuse(join.status, join.reason);
    }
    const leg = join.handle;
    const local = { address: this.opts.host, rtpPort: leg.rtpPort };
    let offer = offerSdp;
    if (!leg.wired && o.wire) {
      offer = o.wire.offer();
      if (offer === undefined) {
        void leg.close();
        return refuse(503, 'Service Unavailable (no media port)');
      }
    }
    const lateOffer = !leg.wired && (offer === undefined || offer.length === 0);
    let negotiated;
    // Wired: the frame leg sends what the service offer names (PCMU and telephone-event).
    if (leg.wired) negotiated = { sdp: Buffer.alloc(0), plan: serviceOffer(local).plan };
    else if (lateOffer) negotiated = serviceOffer(local);
    else {
      const r = answerServiceOffer(offer ?? Buffer.alloc(0), local);
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
    if (watch.endedEarly !== undefined) {
      void leg.close();
      return refuse(404, `Not Found (${watch.endedEarly})`);
    }
    leg.start(negotiated.plan);
    const r: Running = {
      id,
      callKey: key,
      media,
      leg,
      plan: negotiated.plan,
      startedAtMs: this.opts.clock.now(),
      lateOffer,
      closing: false,
    };
    watch.running = r;
    this.sessions.set(id, r);
    count(200);
    return {
      ok: true,
      sdp: negotiated.sdp,
      lateOffer,
      wired: leg.wired,
      session: {
        close: () => void this.end(r),
        applyAnswer: (sdp) => {
          const remote = remoteOfServiceAnswer(sdp);
          if (!remote.ok) return false;
          r.plan = { ...r.plan, remote: remote.value };
          leg.setRemote(remote.value);
          return true;
        },
      },
    };
  }

  /** The engine's leg for `media`: a worker-level kind, or a place in a room. */
  private open(
    media: AnswerMedia,
    callKey: string,
    nearKey: string | undefined,
    onEnded: (detail: string) => void,
    wireKey: string | undefined,
  ): MixJoin {
    switch (media.kind) {
      case 'prompt':
      case 'echo':
      case 'milliwatt': {
        const handle = this.opts.engine.openService(callKey, media.kind, nearKey, wireKey);
        if (handle) return { ok: true, handle };
        this.opts.logger.warn({ service: media.kind }, 'no RTP port for a service call');
        return { ok: false, status: 503, reason: 'Service Unavailable (no media port)' };
      }
      case 'conference':
        return this.opts.engine.mix.joinConference(media.room, callKey, media.maxParties, wireKey);
      case 'monitor':
        return this.opts.engine.mix.startMonitor(
          callKey,
          media.extension,
          media.mode,
          () => onEnded('the monitored call ended'),
          wireKey,
        );
      default: {
        const never: never = media;
        throw new Error(`unknown media ${JSON.stringify(never)}`);
      }
    }
  }

  /** The session stays listed until its port pair is back in the pool. */
  private end(r: Running): Promise<void> {
    if (r.closing) return Promise.resolve();
    r.closing = true;
    return r.leg.close().then(() => {
      this.sessions.delete(r.id);
    });
  }

  dump(): ServiceAnswererDump {
    const now = this.opts.clock.now();
    const all = [...this.sessions.values()];
    const one = (s: Running): ServiceSessionDump => ({
      id: s.id,
      callKey: s.callKey,
      service: s.media.kind,
      lateOffer: s.lateOffer,
      closing: s.closing,
      ageMs: Math.round(now - s.startedAtMs),
      plan: s.plan,
      ...s.leg.dump(),
    });
    return {
      ports: this.opts.engine.dump().ports,
      sessions: all
        .filter((s) => !isMix(s.media))
        .slice(0, LISTED)
        .map(one),
      mix: {
        sessions: all
          .filter((s) => isMix(s.media))
          .slice(0, LISTED)
          .map((s) => ({
            ...one(s),
            number: s.media.kind === 'conference' ? s.media.room : null,
            monitoredExtension: s.media.kind === 'monitor' ? s.media.extension : null,
          })),
      },
    };
  }

  /** Closes every session; resolves once their ports are back. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.all([...this.sessions.values()].map((s) => this.end(s))).then(() => undefined);
  }
}
