/**
 * The media engine on the signalling thread: the B2BUA's media hook. Every SDP that crosses the
 * B2BUA is rewritten so that both legs send RTP to the gateway (anchoring), and the relay
 * workers are told which ports to open, where each peer receives, which payload types each leg
 * negotiated and which legs to bridge. Port numbers are accounted here, synchronously, so the
 * rewritten SDP can be returned at once; the sockets are bound in the worker that owns the call.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { MediaHook } from '../call/ports.ts';
import type { Logger } from '../core/log.ts';
import { parseSdp, serializeSdp, type SdpCodec } from '../sip/sdp/sdp.ts';
import type { RtpAddress } from './rtp-latch.ts';
import {
  audioStream,
  codecsForFarOffer,
  codecsForOffererAnswer,
  legPayloadTypes,
  rewriteForFarLeg,
  type LegPayloadTypes,
  type StreamInfo,
} from './sdp-anchor.ts';
import type { MediaWorkerData } from './media-worker.ts';
import type { FromWorker, RelayLegStats, ToWorker } from './worker-protocol.ts';

export type LegSide = 'a' | 'b';

export interface MediaEngineOptions {
  /** Address the media sockets bind to. */
  host: string;
  /** Address written into SDP (c=, o=); defaults to `host`. */
  advertiseAddress?: string;
  /** Inclusive port range (`--rtp-ports`): RTP on even ports, RTCP on the odd one above. */
  rtpPorts: { lo: number; hi: number };
  /** Codec names offered and accepted, in preference order, unless `policy` says otherwise per leg. */
  codecs: readonly string[];
  /** A leg silent this long (after it once sent) ends the call; 0 turns the check off. */
  deadMediaTimeoutS: number;
  /** Codec list per call leg (trunk or extension policy); defaults to `codecs`. */
  policy?: (callKey: string, side: LegSide) => readonly string[];
  /** Ports held by someone else in the same range (the service numbers' pool): skipped. */
  isPortBusy?: (port: number) => boolean;
  /** A leg's media stopped: the call should end (BYE both, cause 'dead media'). */
  onDeadMedia?: (callKey: string, side: LegSide) => void;
  /** Relay workers; default min(2, available parallelism). */
  workers?: number;
  /** Dead-media accounting and stats refresh period. */
  sweepMs?: number;
  /** Connect each RTP socket to its latched peer (kernel filtering; foreign packets go uncounted). */
  connectAfterLatch?: boolean;
  logger: Logger;
}

interface EngineLeg {
  legId: number;
  callKey: string;
  side: LegSide;
  rtpPort: number;
  worker: number;
  remote: RtpAddress | undefined;
  codecs: SdpCodec[];
  payloadTypes: LegPayloadTypes | undefined;
  latched: RtpAddress | undefined;
  bindError: string | undefined;
  opened: boolean;
}

interface PendingOffer {
  from: LegSide;
  /** The offerer's codecs we accept. */
  near: SdpCodec[];
  /** What we offered the answerer. */
  far: SdpCodec[];
  stream: StreamInfo;
}

interface CallMedia {
  key: string;
  a: EngineLeg;
  b: EngineLeg;
  offer: PendingOffer | undefined;
  answered: { by: LegSide; sessId: string; origin: string } | undefined;
  deadReported: boolean;
}

export interface MediaLegDump extends Partial<RelayLegStats> {
  side: LegSide;
  rtpPort: number;
  worker: number;
  remote: RtpAddress | null;
  latched: RtpAddress | null;
  codec: string | null;
  bindError: string | null;
}

export interface MediaEngineDump {
  address: string;
  ports: {
    range: { lo: number; hi: number };
    capacity: number;
    free: number;
    inUse: number[];
    closing: number;
  };
  workers: Array<{ index: number; legs: number }>;
  counters: {
    calls: number;
    rejected488: number;
    rejected503: number;
    bindFailures: number;
    deadMedia: number;
  };
  calls: Array<{ callKey: string; a: MediaLegDump; b: MediaLegDump }>;
}

const other = (s: LegSide): LegSide => (s === 'a' ? 'b' : 'a');

export class MediaEngine implements MediaHook {
  private readonly free: number[] = [];
  private readonly capacity: number;
  private readonly inUse = new Set<number>();
  private closingPorts = 0;
  private readonly calls = new Map<string, CallMedia>();
  private readonly legs = new Map<number, EngineLeg>();
  private readonly stats = new Map<number, RelayLegStats>();
  private readonly workers: Worker[] = [];
  private readonly workerLegs: number[] = [];
  private readonly closeWaiters = new Map<number, () => void>();
  private readonly statsWaiters = new Map<number, { pending: number; done: () => void }>();
  private nextLegId = 1;
  private nextRequestId = 1;
  private closed = false;
  private readonly address: string;
  private readonly counters = { calls: 0, rejected488: 0, rejected503: 0, bindFailures: 0, deadMedia: 0 };

  private constructor(private readonly opts: MediaEngineOptions) {
    this.address = opts.advertiseAddress ?? opts.host;
    const first = opts.rtpPorts.lo % 2 === 0 ? opts.rtpPorts.lo : opts.rtpPorts.lo + 1;
    // From the top of the range down: the service numbers' pool takes ports from the bottom up.
    for (let p = first; p + 1 <= opts.rtpPorts.hi; p += 2) this.free.unshift(p);
    this.capacity = this.free.length;
  }

  /** Start the relay workers; resolves when every one is ready. */
  static async start(opts: MediaEngineOptions): Promise<MediaEngine> {
    const engine = new MediaEngine(opts);
    const n = Math.max(1, opts.workers ?? Math.min(2, availableParallelism()));
    await Promise.all(Array.from({ length: n }, (_, i) => engine.spawn(i)));
    return engine;
  }

  private spawn(index: number): Promise<void> {
    const data: MediaWorkerData = {
      sweepMs: this.opts.sweepMs ?? 1000,
      connectAfterLatch: this.opts.connectAfterLatch ?? false,
    };
    const script = new URL('./media-worker.ts', import.meta.url);
    // Sources run through tsx: a worker thread does not inherit the loader, so it registers it first.
    const worker = script.pathname.endsWith('.ts')
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
            `.then((m) => { m.register(); return import(${JSON.stringify(script.href)}); });`,
          { eval: true, workerData: data },
        )
      : new Worker(script, { workerData: data });
    this.workers[index] = worker;
    this.workerLegs[index] = 0;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          ready = true;
          resolve();
        } else this.onWorkerMessage(m);
      });
      worker.on('error', (e) => {
        this.opts.logger.error({ err: e, worker: index }, 'media worker failed');
        if (!ready) reject(e);
      });
      worker.on('exit', (code) => {
        if (!this.closed) this.opts.logger.error({ worker: index, code }, 'media worker exited');
        if (!ready) reject(new Error(`media worker exited with ${code}`));
      });
    });
  }

  private post(worker: number, m: ToWorker): void {
    this.workers[worker]?.postMessage(m);
  }

  private onWorkerMessage(m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        return;
      case 'opened': {
        const opened = this.legs.get(m.legId);
        if (opened) opened.opened = m.ok;
        if (m.ok) return;
        this.counters.bindFailures++;
        const leg = this.legs.get(m.legId);
        if (leg) leg.bindError = m.error;
        this.opts.logger.warn(
          { legId: m.legId, port: leg?.rtpPort, error: m.error },
          'media port bind failed',
        );
        return;
      }
      case 'latched': {
        const leg = this.legs.get(m.legId);
        if (leg && m.kind === 'rtp') leg.latched = { address: m.address, port: m.port };
        return;
      }
      case 'dead': {
        const leg = this.legs.get(m.legId);
        const call = leg ? this.calls.get(leg.callKey) : undefined;
        if (!leg || !call || call.deadReported) return;
        call.deadReported = true;
        this.counters.deadMedia++;
        this.opts.logger.info({ callKey: leg.callKey, side: leg.side, silentMs: m.silentMs }, 'dead media');
        this.opts.onDeadMedia?.(leg.callKey, leg.side);
        return;
      }
      case 'closed': {
        this.stats.delete(m.legId);
        this.closeWaiters.get(m.legId)?.();
        return;
      }
      case 'stats': {
        for (const s of m.legs) if (this.legs.has(s.legId)) this.stats.set(s.legId, s);
        const w = this.statsWaiters.get(m.requestId);
        if (w && --w.pending === 0) {
          this.statsWaiters.delete(m.requestId);
          w.done();
        }
        return;
      }
      default: {
        const never: never = m;
        throw new Error(`unknown media worker message ${JSON.stringify(never)}`);
      }
    }
  }

  private allocatePort(): number | undefined {
    for (let tries = this.free.length; tries > 0; tries--) {
      const p = this.free.shift();
      if (p === undefined) return undefined;
      if (this.opts.isPortBusy?.(p) || this.opts.isPortBusy?.(p + 1)) {
        this.free.push(p);
        continue;
      }
      this.inUse.add(p);
      return p;
    }
    return undefined;
  }

  private openCall(key: string): CallMedia | undefined {
    const pa = this.allocatePort();
    const pb = pa === undefined ? undefined : this.allocatePort();
    if (pa === undefined || pb === undefined) {
      if (pa !== undefined) {
        this.inUse.delete(pa);
        this.free.unshift(pa);
      }
      return undefined;
    }
    // Both legs of a call live in one worker: forwarding is a direct call between their sockets.
    let worker = 0;
    for (let i = 1; i < this.workers.length; i++)
      if ((this.workerLegs[i] ?? 0) < (this.workerLegs[worker] ?? 0)) worker = i;
    this.workerLegs[worker] = (this.workerLegs[worker] ?? 0) + 2;
    const leg = (side: LegSide, port: number): EngineLeg => {
      const l: EngineLeg = {
        legId: this.nextLegId++,
        callKey: key,
        side,
        rtpPort: port,
        worker,
        remote: undefined,
        codecs: [],
        payloadTypes: undefined,
        latched: undefined,
        bindError: undefined,
        opened: false,
      };
      this.legs.set(l.legId, l);
      this.post(worker, { t: 'open', legId: l.legId, host: this.opts.host, port });
      return l;
    };
    const call: CallMedia = {
      key,
      a: leg('a', pa),
      b: leg('b', pb),
      offer: undefined,
      answered: undefined,
      deadReported: false,
    };
    this.post(worker, { t: 'bridge', a: call.a.legId, b: call.b.legId });
    this.calls.set(key, call);
    this.counters.calls++;
    return call;
  }

  private policyOf(key: string, side: LegSide): readonly string[] {
    return this.opts.policy?.(key, side) ?? this.opts.codecs;
  }

  /**
   * Offer or answer? The hook is not told, so the engine follows RFC 3264: an SDP from the side
   * that did not make the outstanding offer answers it — a repeat of the same answer (183 then
   * 200) or another fork's answer (another origin session) included — while a description from
   * the answerer with a new version of the same origin is a new offer (RFC 3264 §8: "the version
   * in the origin field MUST increment").
   */
  private isAnswer(call: CallMedia | undefined, from: LegSide, stream: StreamInfo, sessId: string): boolean {
    if (!call?.offer || call.offer.from === from) return false;
    const done = call.answered;
    if (!done || done.by !== from) return true;
    return done.sessId !== sessId || done.origin === stream.origin;
  }

  relay(callKey: string, fromLeg: LegSide, sdp: Buffer): Buffer | { rejectStatus: number } {
    if (this.closed) return { rejectStatus: 503 };
    const parsed = parseSdp(sdp);
    let call = this.calls.get(callKey);
    const stream = parsed.ok ? audioStream(parsed.value) : undefined;
    if (!parsed.ok || !stream) {
      this.counters.rejected488++;
      return { rejectStatus: 488 };
    }
    const session = parsed.value;
    if (this.isAnswer(call, fromLeg, stream, session.origin.sessId) && call?.offer) {
      return this.onAnswer(call, call.offer, fromLeg, stream, session);
    }
    const near = this.policyOf(callKey, fromLeg);
    const far = this.policyOf(callKey, other(fromLeg));
    const codecs = codecsForFarOffer(stream.codecs, near, far);
    if (!codecs.ok) {
      this.counters.rejected488++;
      return { rejectStatus: codecs.error.status };
    }
    if (!call) {
      call = this.openCall(callKey);
      if (!call) {
        this.counters.rejected503++;
        this.opts.logger.warn({ callKey }, 'no free RTP port pair for the call');
        return { rejectStatus: 503 };
      }
    }
    const nearLeg = call[fromLeg];
    const farLeg = call[other(fromLeg)];
    this.setRemote(nearLeg, stream);
    call.offer = { from: fromLeg, near: codecs.value.near, far: codecs.value.far, stream };
    call.answered = undefined;
    const out = rewriteForFarLeg(
      session,
      stream,
      { address: this.address, rtpPort: farLeg.rtpPort },
      codecs.value.far,
    );
    return Buffer.from(serializeSdp(out));
  }

  private onAnswer(
    call: CallMedia,
    offer: PendingOffer,
    from: LegSide,
    stream: StreamInfo,
    session: Parameters<typeof rewriteForFarLeg>[0],
  ): Buffer | { rejectStatus: number } {
    const forOfferer = codecsForOffererAnswer(offer.near, stream.codecs);
    if (!forOfferer.ok) {
      this.counters.rejected488++;
      return { rejectStatus: forOfferer.error.status };
    }
    const answerer = call[from];
    const offerer = call[offer.from];
    // The answerer may use what it answered from what we offered (RFC 3264 §6.1).
    const offeredPts = new Set(offer.far.map((c) => c.payloadType));
    this.setCodecs(
      answerer,
      stream.codecs.filter((c) => offeredPts.has(c.payloadType)),
    );
    this.setCodecs(offerer, forOfferer.value);
    this.setRemote(answerer, stream);
    // Silence is expected while either side holds (RFC 3264 §8.4); only a two-way stream is watched.
    const twoWay =
      offer.stream.direction === 'sendrecv' &&
      stream.direction === 'sendrecv' &&
      offer.stream.remote !== undefined &&
      stream.remote !== undefined;
    const deadMediaMs = twoWay ? this.opts.deadMediaTimeoutS * 1000 : 0;
    for (const leg of [answerer, offerer])
      this.post(leg.worker, { t: 'watch', legId: leg.legId, deadMediaMs });
    call.answered = { by: from, sessId: session.origin.sessId, origin: stream.origin };
    const out = rewriteForFarLeg(
      session,
      stream,
      { address: this.address, rtpPort: offerer.rtpPort },
      forOfferer.value,
    );
    return Buffer.from(serializeSdp(out));
  }

  private setRemote(leg: EngineLeg, stream: StreamInfo): void {
    leg.remote = stream.remote;
    this.post(leg.worker, {
      t: 'remote',
      legId: leg.legId,
      rtp: stream.remote ?? null,
      rtcp: stream.remoteRtcp ?? null,
    });
  }

  private setCodecs(leg: EngineLeg, codecs: SdpCodec[]): void {
    leg.codecs = codecs;
    const pts = legPayloadTypes(codecs);
    leg.payloadTypes = pts;
    this.post(leg.worker, { t: 'codecs', legId: leg.legId, ...pts });
  }

  release(callKey: string): void {
    const call = this.calls.get(callKey);
    if (!call) return;
    this.calls.delete(callKey);
    for (const leg of [call.a, call.b]) {
      this.legs.delete(leg.legId);
      this.workerLegs[leg.worker] = Math.max(0, (this.workerLegs[leg.worker] ?? 0) - 1);
      this.closingPorts++;
      // The port goes back to the pool only once the worker has closed its sockets.
      this.closeWaiters.set(leg.legId, () => {
        this.closeWaiters.delete(leg.legId);
        this.closingPorts--;
        this.inUse.delete(leg.rtpPort);
        if (!this.closed) this.free.push(leg.rtpPort);
      });
      this.post(leg.worker, { t: 'close', legId: leg.legId });
    }
  }

  /** Resolves when every released leg's sockets are closed and its port is back in the pool. */
  async settled(timeoutMs = 2000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.closingPorts > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.closingPorts === 0;
  }

  /** Resolves true once both legs of the call have their sockets bound (false: failed or timed out). */
  async opened(callKey: string, timeoutMs = 2000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const call = this.calls.get(callKey);
      if (!call || call.a.bindError || call.b.bindError) return false;
      if (call.a.opened && call.b.opened) return true;
      if (performance.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Fresh per-leg statistics from every worker, then the dump. */
  async refresh(): Promise<MediaEngineDump> {
    const requestId = this.nextRequestId++;
    await new Promise<void>((resolve) => {
      this.statsWaiters.set(requestId, { pending: this.workers.length, done: resolve });
      for (let i = 0; i < this.workers.length; i++) this.post(i, { t: 'stats', requestId });
    });
    return this.dump();
  }

  /** Engine-level view for `GET /api/status`; per-leg counters as of the last refresh. */
  dump(): MediaEngineDump {
    const legDump = (l: EngineLeg): MediaLegDump => {
      const s = this.stats.get(l.legId);
      const pts = l.payloadTypes;
      return {
        ...s,
        side: l.side,
        rtpPort: l.rtpPort,
        worker: l.worker,
        remote: l.remote ?? null,
        latched: l.latched ?? s?.latched ?? null,
        codec: l.codecs.find((c) => c.name.toLowerCase() !== 'telephone-event')?.name ?? pts?.sendLaw ?? null,
        bindError: l.bindError ?? null,
      };
    };
    return {
      address: this.address,
      ports: {
        range: { ...this.opts.rtpPorts },
        capacity: this.capacity,
        free: this.free.length,
        inUse: [...this.inUse].sort((x, y) => x - y),
        closing: this.closingPorts,
      },
      workers: this.workers.map((_, index) => ({ index, legs: this.workerLegs[index] ?? 0 })),
      counters: { ...this.counters },
      calls: [...this.calls.values()]
        .slice(0, 200)
        .map((c) => ({ callKey: c.key, a: legDump(c.a), b: legDump(c.b) })),
    };
  }

  /** Release every call and stop the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const key of [...this.calls.keys()]) this.release(key);
    await this.settled(1000);
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
