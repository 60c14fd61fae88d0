/**
 * The media engine on the signalling thread: the B2BUA's media hook. Every SDP that crosses the
 * B2BUA is rewritten so that both legs send RTP to the gateway (anchoring), and the relay
 * workers are told which ports to open, where each peer receives, which payload types each leg
 * negotiated and which legs to bridge. Port numbers are accounted here, synchronously, so the
 * rewritten SDP can be returned at once; the sockets are bound in the worker that owns the call.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { MessagePort, Worker } from 'node:worker_threads';
import { systemClock, type Clock } from '../../../../base/clock.ts';
import { startWorker } from '../../core/worker.ts';
import type { CallMediaQuality, LegMediaFacts, MediaHook, MediaParty } from '../../call/ports.ts';
import type { Logger } from '../../core/log.ts';
import type { Counter, MetricsRegistry } from '../../core/metrics.ts';
import {
  addJitter,
  emptyJitterTotals,
  JITTER_COUNTERS,
  type FrameJitterTotals,
} from '../jitter/frame-jitter-totals.ts';
import { AckWaiters } from './ack-waiters.ts';
import { FramePlayout, type FramePlayoutDump } from '../jitter/frame-playout.ts';
import type { G711Law } from '../../../../base/signal/g711.ts';
import type { RecordingSummary } from '../record/recording-writer.ts';
import type { TapSide } from '../record/recorder.ts';
import { parseSdp, serializeSdp, type SdpCodec } from '../sdp/sdp.ts';
import type { RtpAddress } from '../rtp/rtp-latch.ts';
import { generateKeySalt } from '../srtp/sdes.ts';
import {
  answerTransport,
  audioStream,
  codecsForFarOffer,
  codecsForOffererAnswer,
  isDirectMedia,
  keyOfAnswer,
  legPayloadTypes,
  offerTransport,
  rewriteForFarLeg,
  securityOfOffer,
  type EndpointMediaPolicy,
  type LegPayloadTypes,
  type LegTransport,
  type OfferSecurity,
  type StreamInfo,
} from '../sdp/sdp-anchor.ts';
import type { SrtpDropReason, SrtpSuite } from '../srtp/srtp.ts';
import type { MediaWorkerData } from '../worker/media-worker.ts';
import type { FromWorker, LegQuality, RelayLegStats, ToWorker } from '../worker/worker-protocol.ts';
import { EnginePlayers, type LegPlayOptions, type PlayEndedEvent } from './engine-players.ts';
import type { PromptSource } from '../play/prompt-library.ts';
import { MixRooms, type MixRoomsDump } from '../mix/mix-rooms.ts';
import { EngineTransfers } from './engine-transfers.ts';

export type LegSide = 'a' | 'b';

/** A key press that reached the application: once per digit, whichever way it came. */
export interface DigitEvent {
  callKey: string;
  side: LegSide;
  digit: string;
  durationMs: number;
  source: 'rfc4733' | 'inband' | 'info';
  /** Wall time it was reported (ms since the epoch). */
  atMs: number;
}

/**
 * Where recordings are written: the recorder thread (`RecorderClient`), behind a port so the
 * engine never touches a file. `pathOf` names the file before it is closed (for the CDR).
 */
export interface RecordingPort {
  open(recordingId: string): void;
  write(recordingId: string, stereoFrames: Int16Array): void;
  close(recordingId: string): Promise<RecordingSummary>;
  pathOf(recordingId: string): string;
  /**
   * A port straight to the recorder, one per relay worker: the worker's frames then never cross
   * the signalling thread (`write` is for recorders without one).
   */
  channel?(): MessagePort;
}

/** What a service number negotiated (from `service-sdp.ts`'s media plan). */
export interface ServiceLegPlan {
  remote: RtpAddress | undefined;
  law: G711Law;
  audioPayloadType: number;
  telephoneEventPayloadType: number | undefined;
}

/**
 * A leg the gateway answers itself (`*43`, `*44`): one port pair in the engine's range, or none
 * when it is wired to a frame leg of its worker (`wired`: the app's media on a PSTN channel).
 */
export interface ServiceLegHandle {
  /** 0 while the leg has no port pair. */
  readonly rtpPort: number;
  /** Its peer is a leg of the same worker, without sockets: no SDP, no port pair. */
  readonly wired: boolean;
  /** Resolves true once the leg is open in its worker (with its sockets bound, if it has any). */
  opened(timeoutMs?: number): Promise<boolean>;
  start(plan: ServiceLegPlan): void;
  /** Where the peer receives, learnt after `start` (the answer to our offer). */
  setRemote(remote: RtpAddress | undefined): void;
  /** Resolves once the sockets are closed and the port pair is back in the pool. */
  close(): Promise<void>;
  /** Latching and counters as of the last statistics from the worker. */
  dump(): {
    localPort: number;
    latched: boolean;
    target: RtpAddress | null;
    counters: Record<string, number>;
  };
}

/**
 * A leg whose far side is a stream of 20 ms frames on this thread (a PSTN channel), in a relay
 * worker, frames crossing in one batch per tick for all such legs. It opens without sockets: an
 * app's media leg is wired to it in its worker (`openService` with `wireKey`), and a second PSTN
 * channel's frame leg too (`wireFrameLegs`) — no port pair for either. Only a party on the network
 * (a SIP phone or trunk) needs its address: `bind` gives it its port pair then.
 */
export interface FrameLegHandle extends ServiceLegHandle {
  /** The leg's port pair, bound once (`opened` then waits for it); undefined when none is free. */
  bind(): number | undefined;
  /** Queue one frame (copied) for the next `flushFrames`. */
  send(frame: Int16Array): void;
  /** Where the peer receives, once its SDP is known (latching corrects it). */
  setRemote(remote: RtpAddress | undefined): void;
  /**
   * One tick of the consumer's frame clock (a card's): the next received frame to play (a view
   * valid until the next call), or undefined for silence. Only for a sink without `onFrame`:
   * received frames then wait in the leg's playout buffer (`FramePlayout`) for these ticks.
   */
  pull(): Int16Array | undefined;
  /** The playout buffer's counters (null for a sink with `onFrame`). */
  playout(): FramePlayoutDump | null;
}

/**
 * What a frame leg delivers: received frames and RFC 4733 digits. With `onFrame`, each frame as it
 * arrives from the worker (valid during the call only), unpaced: batches follow the worker's
 * timing. Without it, frames are paced out by the owner's clock through `FrameLegHandle.pull`.
 */
export interface FrameLegSink {
  onFrame?(frame: Int16Array): void;
  onDigit?(digit: string, durationMs: number): void;
}

type PlayoutCounter = 'framesIn' | 'framesOut' | 'underruns' | 'overruns' | 'drained' | 'prefillTicks';

/** Frame legs' counters, summed over the open ones, for the dump. */
export interface FrameLegsDump {
  legs: number;
  /** Worker side: frames decoded from RTP, shipped to this thread, dropped (decoder queue full). */
  decoded: number;
  shipped: number;
  decoderDropped: number;
  /** Worker side: the jitter buffers between the leg's RTP and its frames. */
  jitter: FrameJitterTotals;
  /** This side: the playout buffers. */
  playout: Omit<FramePlayoutDump, 'queued' | 'targetFrames' | 'playing'> & { maxTargetFrames: number };
}

/** Digits kept per call in the dump, and recent ones engine-wide. */
const DIGITS_PER_CALL = 64;
const RECENT_DIGITS = 100;

export interface MediaEngineOptions {
  /** Wall time of reported events (DTMF digits); the system clock unless a test injects one. */
  clock?: Clock;
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
  /** Codec list per call leg; defaults to `codecs`. `endpointPolicy` takes precedence when it names codecs. */
  policy?: (callKey: string, side: LegSide) => readonly string[];
  /** The media policy of the trunk or extension behind a leg (see `describe`); unset fields default. */
  endpointPolicy?: (party: MediaParty) => Partial<EndpointMediaPolicy> | undefined;
  /** Something of the gateway's needs the call's audio (recording, ...): never direct media. */
  needsMedia?: (callKey: string) => boolean;
  /** RFC 3550 §6.2 RTCP interval of every leg; 5 s by default. */
  rtcpIntervalMs?: number;
  /** Ports held by someone else in the same range (the service numbers' pool): skipped. */
  isPortBusy?: (port: number) => boolean;
  /** A leg's media stopped: the call should end (BYE both, cause 'dead media'). */
  onDeadMedia?: (callKey: string, side: LegSide) => void;
  /** Relay workers; default min(2, available parallelism). */
  workers?: number;
  /** Dead-media accounting and stats refresh period. */
  sweepMs?: number;
  /**
   * Send each leg's RTP through a socket connected to its latched peer (default true): cheaper per
   * packet; foreign sources are still received and counted (relay-leg.ts).
   */
  connectAfterLatch?: boolean;
  /** A digit reached the application (RFC 4733, in-band or SIP INFO), once per key press. */
  onDigit?: (e: DigitEvent) => void;
  /** The music on hold played to a held party (undefined: none); see `engine-players.ts`. */
  musicOnHold?: () => PromptSource | undefined;
  /** A play on a leg ended (finished, interrupted by a digit, stopped). */
  onPlayEnded?: (e: PlayEndedEvent) => void;
  /** Where recordings go; without it nothing is recorded. */
  recorder?: RecordingPort;
  /** Whether a new call is recorded (configuration `media.recording`). */
  shouldRecord?: (callKey: string) => boolean;
  /** A recording's file is complete (the call ended). */
  onRecordingClosed?: (callKey: string, summary: RecordingSummary) => void;
  /** In-band DTMF detection on a leg: true, false, or undefined = when it has no telephone-event. */
  detectInband?: (callKey: string, side: LegSide) => boolean | undefined;
  metrics?: MetricsRegistry;
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
  /** A leg opened without sockets was given its port pair (`bind`): only that binding opens it. */
  binding?: boolean;
  /** The leg of its worker it is wired to (no sockets between them). */
  wiredTo?: number;
  /** Our SRTP master key || salt on this leg: made once, kept across re-INVITEs. */
  localKey?: Buffer;
  /** SRTP as negotiated on the leg; undefined while plain RTP. */
  srtp?: { suite: SrtpSuite; localKey: Buffer; remoteKey: Buffer };
  /** The transport of the leg's last SDP from us (what the dump shows). */
  proto?: string;
}

interface PendingOffer {
  from: LegSide;
  /** The offerer's codecs we accept. */
  near: SdpCodec[];
  /** What we offered the answerer. */
  far: SdpCodec[];
  stream: StreamInfo;
  /** How the offerer's security will be answered. */
  nearSecurity: OfferSecurity;
  /** The crypto we offered the answerer, when we offered RTP/SAVP. */
  farOffered: { tag: number; suite: SrtpSuite } | undefined;
}

interface CallMedia {
  key: string;
  a: EngineLeg;
  b: EngineLeg;
  offer: PendingOffer | undefined;
  answered: { by: LegSide; sessId: string; origin: string } | undefined;
  deadReported: boolean;
  /** Dead-media timeout of the last answer (0 while a side holds). */
  deadMediaMs?: number;
  /** The call is answered (`answered` hook): legs that never sent are watched too. */
  callAnswered?: boolean;
  /** The recording's file, while it is being written. */
  recording: string | undefined;
}

export interface MediaLegDump extends Partial<RelayLegStats> {
  side: LegSide;
  rtpPort: number;
  worker: number;
  remote: RtpAddress | null;
  latched: RtpAddress | null;
  codec: string | null;
  bindError: string | null;
  party: MediaParty | null;
  /** The leg's transport and, when SRTP, short fingerprints of the keys (never the keys). */
  transport: {
    proto: string | null;
    srtp: { suite: SrtpSuite; localKeyId: string; remoteKeyId: string } | null;
  };
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
    directMedia: number;
    srtpCalls: number;
    srtpDropped: Record<SrtpDropReason, number>;
  };
  /** Calls whose media passes end to end. */
  direct: string[];
  calls: Array<{
    callKey: string;
    a: MediaLegDump;
    b: MediaLegDump;
    digits: DigitEvent[];
    recording: string | null;
  }>;
  dtmf: { digits: number; bySource: Record<DigitEvent['source'], number>; recent: DigitEvent[] };
  recordings: { active: number; started: number; closed: number; failed: number };
  services: number;
  /** Bridges between legs the gateway terminates (an app joined its caller to a party it called). */
  bridges: number;
  /** Legs whose far side is a stream of frames here (PSTN channels). */
  frames: FrameLegsDump;
  /** Conference rooms and monitoring sessions (`mix-rooms.ts`). */
  mix?: MixRoomsDump;
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
  /** `opened` and `settled` waiting on the workers' acknowledgements (topics: leg, call, settled). */
  private readonly acks = new AckWaiters();
  private readonly statsWaiters = new Map<number, { pending: number; done: () => void }>();
  private nextLegId = 1;
  private nextRequestId = 1;
  private closed = false;
  private readonly address: string;
  private readonly counters = {
    calls: 0,
    rejected488: 0,
    rejected503: 0,
    bindFailures: 0,
    deadMedia: 0,
    directMedia: 0,
    srtpCalls: 0,
    srtpDropped: { truncated: 0, auth: 0, replay: 0, 'replay-old': 0, 'not-rtp': 0 } as Record<
      SrtpDropReason,
      number
    >,
  };
  /** Who each leg of a call belongs to, told by `describe` (possibly before the call has media). */
  private readonly parties = new Map<string, { a?: MediaParty; b?: MediaParty }>();
  /** Calls whose media passes end to end. */
  private readonly direct = new Set<string>();
  private readonly srtpDropCounter: Counter | undefined;
  private readonly digitLog = new Map<string, DigitEvent[]>();
  private readonly recentDigits: DigitEvent[] = [];
  private readonly digitCounts: Record<DigitEvent['source'], number> = { rfc4733: 0, inband: 0, info: 0 };
  private readonly digitsTotal;
  private readonly recordingStats = { started: 0, closed: 0, failed: 0 };
  /** Recordings whose tap was stopped, by id, until the recorder has closed the file. */
  private readonly recordingPaths = new Map<string, string>();
  /** Legs recorded on their own (`recordOwnLeg`): leg id → its recordings. */
  private readonly legRecordings = new Map<number, Set<string>>();
  /** `recordingClosed` waiters by recording id. */
  private readonly closedWaiters = new Map<string, Array<(summary: RecordingSummary) => void>>();
  private readonly serviceLegs = new Map<number, EngineLeg>();
  /** Bridges between service legs (`bridgeService`): room id → worker. */
  private readonly bridges = new Map<string, number>();
  private readonly frameSinks = new Map<number, FrameLegSink>();
  private readonly playouts = new Map<number, FramePlayout>();
  /** Open frame legs by RTP port: how an anchored leg's SDP is recognised as naming one. */
  /** Counters of legs already closed, kept in the totals. */
  private readonly frameTotalsClosed = { decoded: 0, shipped: 0, decoderDropped: 0 };
  private readonly jitterClosed = emptyJitterTotals();
  private readonly playoutClosed = {
    framesIn: 0,
    framesOut: 0,
    underruns: 0,
    overruns: 0,
    drained: 0,
    prefillTicks: 0,
  };
  /** Frames queued (copied) for `frames` legs since the last flush, per worker. */
  private readonly frameOut = new Map<number, { legIds: number[]; samples: Int16Array }>();
  /** Prompts and music on hold on legs (`play`, `stopPlay`). */
  private readonly players = new EnginePlayers({
    post: (w, m) => this.post(w, m),
    musicOnHold: () => this.opts.musicOnHold?.(),
    onPlayEnded: (e) => this.opts.onPlayEnded?.(e),
    logger: () => this.opts.logger,
  });
  /** Blind transfers: a call's leg traded for a new party's (`engine-transfers.ts`). */
  private readonly transfers = new EngineTransfers({
    call: (key) => this.calls.get(key),
    isDirect: (key) => this.direct.has(key),
    relay: (key, side, sdp) => this.relay(key, side, sdp),
    post: (worker, m) => this.post(worker, m),
    closeLeg: (leg) => {
      const own = this.legs.get(leg.legId);
      if (!own) return;
      this.closeLeg(own);
    },
    dropCall: (key) => {
      this.calls.delete(key);
      this.parties.delete(key);
      this.digitLog.delete(key);
    },
    copyParty: (from, to) => {
      const party = this.parties.get(from.key)?.[from.side];
      if (party) this.describe(to.key, to.side, party);
    },
    address: () => this.address,
    setRemote: (key, side, stream) => {
      const leg = this.calls.get(key)?.[side];
      if (leg) this.setRemote(leg, stream);
      return leg !== undefined;
    },
  });
  /** Conferences and supervisor monitoring: legs mixed in their worker (`mix-rooms.ts`). */
  readonly mix: MixRooms = new MixRooms({
    post: (worker, m) => this.post(worker, m),
    openLeg: (callKey, preferWorker, wireKey) =>
      this.openServiceLeg(callKey, 'mix', preferWorker, this.wireable(wireKey, preferWorker)),
    callOf: (extension) => {
      for (const call of this.calls.values()) {
        const p = this.parties.get(call.key);
        const side: LegSide | undefined =
          p?.a?.kind === 'extension' && p.a.id === extension
            ? 'a'
            : p?.b?.kind === 'extension' && p.b.id === extension
              ? 'b'
              : undefined;
        if (!side || !call.answered) continue;
        const agent = call[side];
        return {
          callKey: call.key,
          worker: agent.worker,
          agentLegId: agent.legId,
          otherLegId: call[other(side)].legId,
        };
      }
      return undefined;
    },
  });

  private constructor(private readonly opts: MediaEngineOptions) {
    this.address = opts.advertiseAddress ?? opts.host;
    const first = opts.rtpPorts.lo % 2 === 0 ? opts.rtpPorts.lo : opts.rtpPorts.lo + 1;
    // From the top of the range down: the service numbers' pool takes ports from the bottom up.
    for (let p = first; p + 1 <= opts.rtpPorts.hi; p += 2) this.free.unshift(p);
    this.capacity = this.free.length;
    this.srtpDropCounter = opts.metrics?.counter(
      'edgeline_media_srtp_dropped_total',
      'SRTP/SRTCP packets refused, by reason (RFC 3711: auth, replay, replay-old, truncated, not-rtp)',
    );
    opts.metrics
      ?.gauge('edgeline_media_calls_direct', 'Calls whose media passes end to end')
      .collect(() => [{ value: this.direct.size }]);
    this.digitsTotal = opts.metrics?.counter(
      'edgeline_media_dtmf_digits_total',
      'DTMF digits reported to the application, by source (rfc4733, inband, info)',
    );
    opts.metrics
      ?.gauge('edgeline_media_recordings_active', 'Calls being recorded')
      .collect(() => [{ value: [...this.calls.values()].filter((c) => c.recording).length }]);
    opts.metrics
      ?.gauge(
        'edgeline_media_frame_jitter_frames',
        'Frame legs (PSTN channels): jitter buffer frames late, lost, concealed, duplicate, shed; resets',
      )
      .collect(() => {
        const j = this.frameLegsDump().jitter;
        return JITTER_COUNTERS.map((kind) => ({ labels: { kind }, value: j[kind] }));
      });
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
      connectAfterLatch: this.opts.connectAfterLatch ?? true,
      rtcpIntervalMs: this.opts.rtcpIntervalMs,
      cname: `edgeline@${this.address}`,
    };
    const recorderPort = this.opts.recorder?.channel?.();
    if (recorderPort) data.recorderPort = recorderPort;
    const worker = startWorker(new URL('../worker/media-worker.ts', import.meta.url), data, {
      transferList: recorderPort ? [recorderPort] : [],
    });
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
        // The socketless open of a leg whose port pair is being bound: the binding answers.
        if (opened?.binding && !m.sockets) return;
        if (opened) opened.opened = m.ok;
        if (!m.ok && opened) opened.bindError = m.error;
        this.acks.notify(`leg:${m.legId}`);
        if (opened) this.acks.notify(`call:${opened.callKey}`);
        if (m.ok) return;
        this.counters.bindFailures++;
        const leg = this.legs.get(m.legId);
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
        this.acks.notify('settled');
        return;
      }
      case 'frames-up': {
        for (let i = 0; i < m.legIds.length; i++) {
          const legId = m.legIds[i] ?? 0;
          const frame = m.samples.subarray(i * 160, (i + 1) * 160);
          const playout = this.playouts.get(legId);
          if (playout) playout.push(frame);
          else this.frameSinks.get(legId)?.onFrame?.(frame);
        }
        return;
      }
      case 'digit': {
        this.frameSinks.get(m.legId)?.onDigit?.(m.digit, m.durationMs);
        const leg = this.legs.get(m.legId);
        if (leg) this.onDigit(leg.callKey, leg.side, m.digit, m.durationMs, m.source);
        this.mix.onDigit(m.legId, m.digit);
        return;
      }
      case 'play-ended':
        this.players.ended(m);
        return;
      case 'recording':
        this.opts.recorder?.write(m.recordingId, m.samples);
        return;
      case 'recording-stopped': {
        const recorder = this.opts.recorder;
        if (!recorder) return;
        void recorder.close(m.recordingId).then((summary) => {
          this.recordingPaths.delete(m.recordingId);
          if (summary.error) this.recordingStats.failed++;
          else this.recordingStats.closed++;
          this.opts.logger.info({ callKey: m.recordingId, ...summary }, 'recording closed');
          this.opts.onRecordingClosed?.(m.recordingId, summary);
          const waiters = this.closedWaiters.get(m.recordingId) ?? [];
          this.closedWaiters.delete(m.recordingId);
          for (const w of waiters) w(summary);
        });
        return;
      }
      case 'stats': {
        for (const s of m.legs) {
          if (!this.legs.has(s.legId)) continue;
          this.countSrtpDrops(this.stats.get(s.legId), s);
          this.stats.set(s.legId, s);
        }
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

  private openCall(key: string, preferWorker?: number): CallMedia | undefined {
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
    if (preferWorker !== undefined && this.workers[preferWorker]) worker = preferWorker;
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
      this.post(worker, { t: 'process', legId: l.legId, detectInband: this.opts.detectInband?.(key, side) });
      return l;
    };
    const call: CallMedia = {
      key,
      a: leg('a', pa),
      b: leg('b', pb),
      offer: undefined,
      answered: undefined,
      deadReported: false,
      recording: undefined,
    };
    this.post(worker, { t: 'bridge', a: call.a.legId, b: call.b.legId });
    const recorder = this.opts.recorder;
    if (recorder && !this.transfers.isProvisional(key) && this.opts.shouldRecord?.(key)) {
      // One file per interaction: the caller (leg a) on the left, the other party on the right.
      call.recording = recorder.pathOf(key);
      this.recordingPaths.set(key, call.recording);
      recorder.open(key);
      this.recordingStats.started++;
      this.post(worker, { t: 'record', recordingId: key, caller: call.a.legId, other: call.b.legId });
    }
    this.calls.set(key, call);
    this.counters.calls++;
    return call;
  }

  /** The media policy of the endpoint behind a leg: its own settings over the engine's defaults. */
  policyOf(key: string, side: LegSide): EndpointMediaPolicy {
    const party = this.parties.get(key)?.[side];
    const own = party ? this.opts.endpointPolicy?.(party) : undefined;
    return {
      codecs: own?.codecs ?? this.opts.policy?.(key, side) ?? this.opts.codecs,
      srtp: own?.srtp ?? 'optional',
      directMedia: own?.directMedia ?? false,
    };
  }

  describe(callKey: string, side: LegSide, party: MediaParty): void {
    const p = this.parties.get(callKey) ?? {};
    p[side] = { ...party };
    this.parties.set(callKey, p);
  }

  /** Dead-media supervision from answer on: a peer that never sends is caught too. */
  answered(callKey: string): void {
    const call = this.calls.get(callKey);
    if (!call || call.callAnswered) return;
    call.callAnswered = true;
    for (const leg of [call.a, call.b])
      this.post(leg.worker, {
        t: 'watch',
        legId: leg.legId,
        deadMediaMs: call.deadMediaMs ?? 0,
        answered: true,
      });
  }

  private keyOf(leg: EngineLeg): Buffer {
    // Both allowed suites take a 16-byte key and a 14-byte salt: one key serves either.
    leg.localKey ??= generateKeySalt('AES_CM_128_HMAC_SHA1_80');
    return leg.localKey;
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
    if (this.direct.has(callKey)) return sdp;
    if (this.isAnswer(call, fromLeg, stream, session.origin.sessId) && call?.offer) {
      return this.onAnswer(call, call.offer, fromLeg, stream, session);
    }
    const near = this.policyOf(callKey, fromLeg);
    const far = this.policyOf(callKey, other(fromLeg));
    if (!call && isDirectMedia(near, far, this.opts.needsMedia?.(callKey) ?? false)) {
      // Nothing of ours touches the media: the description crosses unchanged, end to end.
      this.direct.add(callKey);
      this.counters.directMedia++;
      return sdp;
    }
    const codecs = codecsForFarOffer(stream.codecs, near.codecs, far.codecs);
    if (!codecs.ok) {
      this.counters.rejected488++;
      return { rejectStatus: codecs.error.status };
    }
    const nearSecurity = securityOfOffer(near.srtp, stream);
    if (!nearSecurity.ok) {
      this.counters.rejected488++;
      this.opts.logger.info(
        { callKey, side: fromLeg, reason: nearSecurity.error.reason },
        'SRTP offer refused',
      );
      return { rejectStatus: nearSecurity.error.status };
    }
    if (!call) {
      call = this.openCall(callKey, this.transfers.workerFor(callKey));
      if (!call) {
        this.counters.rejected503++;
        this.opts.logger.warn({ callKey }, 'no free RTP port pair for the call');
        return { rejectStatus: 503 };
      }
    }
    const nearLeg = call[fromLeg];
    const farLeg = call[other(fromLeg)];
    this.setRemote(nearLeg, stream);
    const farTransport = offerTransport(far.srtp, this.keyOf(farLeg));
    call.offer = {
      from: fromLeg,
      near: codecs.value.near,
      far: codecs.value.far,
      stream,
      nearSecurity: nearSecurity.value,
      farOffered: farTransport.crypto.length > 0 ? { tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80' } : undefined,
    };
    call.answered = undefined;
    farLeg.proto = farTransport.proto;
    const out = rewriteForFarLeg(
      session,
      stream,
      { address: this.address, rtpPort: farLeg.rtpPort },
      codecs.value.far,
      farTransport,
    );
    return Buffer.from(serializeSdp(this.players.holdOffer(callKey, stream, out, stream.index)));
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
    // RFC 4568 §7.1.3: when we offered RTP/SAVP the answer carries the answerer's key.
    let answererKey: Buffer | undefined;
    if (offer.farOffered) {
      const k = keyOfAnswer(offer.farOffered, stream);
      if (!k.ok) {
        this.counters.rejected488++;
        this.opts.logger.info(
          { callKey: call.key, side: from, reason: k.error.reason },
          'SRTP answer refused',
        );
        return { rejectStatus: k.error.status };
      }
      answererKey = k.value;
    }
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
    call.deadMediaMs = deadMediaMs;
    for (const leg of [answerer, offerer])
      this.post(leg.worker, {
        t: 'watch',
        legId: leg.legId,
        deadMediaMs,
        answered: call.callAnswered === true,
      });
    const ns = offer.nearSecurity;
    this.setSrtp(
      answerer,
      offer.farOffered && answererKey ? { suite: offer.farOffered.suite, remoteKey: answererKey } : undefined,
    );
    this.setSrtp(offerer, ns.secure ? { suite: ns.suite, remoteKey: ns.remoteKey } : undefined);
    const offererTransport: LegTransport = answerTransport(offer.stream, ns, this.keyOf(offerer));
    offerer.proto = offererTransport.proto;
    call.answered = { by: from, sessId: session.origin.sessId, origin: stream.origin };
    const out = rewriteForFarLeg(
      session,
      stream,
      { address: this.address, rtpPort: offerer.rtpPort },
      forOfferer.value,
      offererTransport,
    );
    return Buffer.from(
      serializeSdp(this.players.holdAnswer(call, offer.from, offer.stream, stream, out, stream.index)),
    );
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

  private setSrtp(leg: EngineLeg, s: { suite: SrtpSuite; remoteKey: Buffer } | undefined): void {
    if (s === undefined) {
      leg.srtp = undefined;
      this.post(leg.worker, { t: 'srtp', legId: leg.legId, keys: null });
      return;
    }
    const localKey = this.keyOf(leg);
    leg.srtp = { suite: s.suite, localKey, remoteKey: s.remoteKey };
    this.post(leg.worker, {
      t: 'srtp',
      legId: leg.legId,
      keys: {
        suite: s.suite,
        localKey: localKey.toString('base64'),
        remoteKey: s.remoteKey.toString('base64'),
      },
    });
  }

  /** Fold a leg's SRTP drop counts since its previous statistics into the totals and metrics. */
  private countSrtpDrops(before: RelayLegStats | undefined, now: RelayLegStats): void {
    const d = now.srtp?.dropped;
    if (!d) return;
    for (const reason of Object.keys(d) as SrtpDropReason[]) {
      const delta = d[reason] - (before?.srtp?.dropped[reason] ?? 0);
      if (delta <= 0) continue;
      this.counters.srtpDropped[reason] += delta;
      this.srtpDropCounter?.inc({ reason }, delta);
    }
  }

  /**
   * Per-leg media facts of a call as of the workers' last statistics (at most one sweep old):
   * packets, loss, jitter, RTT, MOS, SRTP. For the CDR, asked just before `release`.
   */
  quality(callKey: string): CallMediaQuality | undefined {
    const call = this.calls.get(callKey);
    if (!call) return this.direct.has(callKey) ? { a: { direct: true }, b: { direct: true } } : undefined;
    const one = (leg: EngineLeg): LegMediaFacts | null => {
      const s = this.stats.get(leg.legId);
      if (!s) return null;
      const q: LegQuality = s.quality;
      return {
        codec: leg.codecs.find((c) => c.name.toLowerCase() !== 'telephone-event')?.name ?? null,
        srtp: leg.srtp ? leg.srtp.suite : null,
        rx: s.rx,
        tx: s.tx,
        ...q,
        ...(s.srtp ? { srtpDropped: s.srtp.dropped } : {}),
      };
    };
    return { a: one(call.a), b: one(call.b) };
  }

  private setCodecs(leg: EngineLeg, codecs: SdpCodec[]): void {
    leg.codecs = codecs;
    const pts = legPayloadTypes(codecs);
    leg.payloadTypes = pts;
    this.post(leg.worker, { t: 'codecs', legId: leg.legId, ...pts });
  }

  /**
   * Blind transfer, step 1: the offer for the transfer target, on a provisional call `newKey`
   * whose far leg opens in the worker of `callKey`'s `keepSide` leg (`engine-transfers.ts`).
   * The target's answer is relayed on `newKey` from side b as usual; `release(newKey)` abandons it.
   */
  transferOffer(
    callKey: string,
    keepSide: LegSide,
    newKey: string,
    sdp: Buffer,
  ): Buffer | { rejectStatus: number } {
    return this.transfers.offer(callKey, keepSide, newKey, sdp);
  }

  /** Blind transfer, step 2: the target answered, its leg replaces the other side of `callKey`. */
  completeTransfer(callKey: string, keepSide: LegSide, newKey: string): boolean {
    if (!this.transfers.complete(callKey, keepSide, newKey)) return false;
    // Whoever held the transferee is gone: its music on hold ends as the target is bridged.
    const call = this.calls.get(callKey);
    if (call) this.players.clearHold(call);
    this.players.release(newKey, []);
    return true;
  }

  /** Blind transfer, step 3: our re-offer resuming a transferee left on hold (`engine-transfers.ts`). */
  resumeOffer(callKey: string, side: LegSide, previous: Buffer): Buffer | undefined {
    return this.transfers.resumeOffer(callKey, side, previous);
  }

  /** The transferee's answer to `resumeOffer`. */
  resumeAnswer(callKey: string, side: LegSide, answer: Buffer): boolean {
    return this.transfers.resumeAnswer(callKey, side, answer);
  }

  release(callKey: string): void {
    this.transfers.forget(callKey);
    this.parties.delete(callKey);
    this.direct.delete(callKey);
    const call = this.calls.get(callKey);
    if (!call) return;
    this.mix.onCallReleased(callKey);
    this.calls.delete(callKey);
    this.acks.notify(`call:${callKey}`);
    this.players.release(callKey, [call.a.legId, call.b.legId]);
    if (call.a.srtp || call.b.srtp) this.counters.srtpCalls++;
    this.digitLog.delete(callKey);
    // Before the legs close: the tap's last frames leave the worker ahead of `recording-stopped`.
    if (call.recording) this.post(call.a.worker, { t: 'record-stop', recordingId: callKey });
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

  /** The recording file of a call (while it runs and until its file is closed), if it is recorded. */
  recordingOf(callKey: string): string | undefined {
    return this.calls.get(callKey)?.recording ?? this.recordingPaths.get(callKey);
  }

  /**
   * Play prompts on a leg's own stream (a call's leg, or the leg of a service call by its key):
   * each prompt reaches the leg's worker once and stays cached there. False when no such leg.
   */
  play(callKey: string, side: LegSide, prompts: readonly PromptSource[], opts?: LegPlayOptions): boolean {
    const leg = this.playLeg(callKey, side);
    return leg ? this.players.play(leg, prompts, opts) : false;
  }

  /** Stop what plays on a leg (reported as `stopped` with its position). */
  stopPlay(callKey: string, side: LegSide): void {
    const leg = this.playLeg(callKey, side);
    if (leg) this.players.stop(leg);
  }

  private playLeg(callKey: string, side: LegSide): EngineLeg | undefined {
    const call = this.calls.get(callKey);
    if (call) return call[side];
    return this.serviceLegOf(callKey);
  }

  /** A digit received in signalling (SIP INFO, RFC 6086) on one leg of a call: same path as RTP digits. */
  digit(callKey: string, fromLeg: LegSide, digit: string, durationMs: number): void {
    const leg = this.playLeg(callKey, fromLeg);
    if (leg) this.players.digit(leg, digit);
    this.onDigit(callKey, fromLeg, digit, durationMs, 'info');
  }

  private onDigit(
    callKey: string,
    side: LegSide,
    digit: string,
    durationMs: number,
    source: DigitEvent['source'],
  ): void {
    const e: DigitEvent = {
      callKey,
      side,
      digit,
      durationMs: Math.round(durationMs),
      source,
      atMs: (this.opts.clock ?? systemClock).wallNow(),
    };
    this.digitCounts[source]++;
    this.digitsTotal?.inc({ source });
    let log = this.digitLog.get(callKey);
    if (!log) this.digitLog.set(callKey, (log = []));
    if (log.length < DIGITS_PER_CALL) log.push(e);
    this.recentDigits.push(e);
    if (this.recentDigits.length > RECENT_DIGITS) this.recentDigits.shift();
    this.opts.logger.debug(e, 'digit');
    this.opts.onDigit?.(e);
  }

  /**
   * A leg for a service number the gateway answers itself: a port pair from the same range as
   * the calls (one pool, no race between two), sockets in a relay worker. Undefined when no port
   * pair is free.
   */
  openService(
    callKey: string,
    kind: 'echo' | 'milliwatt' | 'frames' | 'prompt',
    nearKey?: string,
    wireKey?: string,
  ): ServiceLegHandle | undefined {
    // A leg that will be bridged to another (`bridgeService`) must live in that leg's worker.
    const near = nearKey === undefined ? undefined : this.serviceLegOf(nearKey);
    return this.openServiceLeg(callKey, kind, near?.worker, this.wireable(wireKey, near?.worker))?.handle;
  }

  /**
   * The frame leg of `wireKey` when a new leg can be wired to it: still without sockets, wired to
   * nothing, and in `worker` when one is required (a room's). Otherwise the new leg takes a port
   * pair and the two talk over RTP.
   */
  private wireable(wireKey: string | undefined, worker: number | undefined): EngineLeg | undefined {
    if (wireKey === undefined) return undefined;
    const leg = this.serviceLegOf(wireKey);
    if (!leg || !this.frameSinks.has(leg.legId) || leg.rtpPort !== 0 || leg.wiredTo !== undefined)
      return undefined;
    return worker === undefined || worker === leg.worker ? leg : undefined;
  }

  /**
   * Wire two frame legs (two PSTN channels in one call): each hears the other inside their worker,
   * no port pair for either. False when they cannot be (one has sockets, or they sit in two
   * workers): the caller then binds one and the two talk over RTP.
   */
  wireFrameLegs(keyA: string, keyB: string): boolean {
    const b = this.serviceLegOf(keyB);
    const a = this.wireable(keyA, b?.worker);
    if (!a || !b || a === b || !this.wireable(keyB, a.worker)) return false;
    this.wireLegs(a, b);
    return true;
  }

  private wireLegs(a: EngineLeg, b: EngineLeg): void {
    a.wiredTo = b.legId;
    b.wiredTo = a.legId;
    this.post(a.worker, { t: 'wire', a: a.legId, b: b.legId });
  }

  /** An open service leg by its call key. */
  private serviceLegOf(callKey: string): EngineLeg | undefined {
    for (const l of this.serviceLegs.values()) if (l.callKey === callKey && this.legs.has(l.legId)) return l;
    return undefined;
  }

  /**
   * Bridge two legs the gateway terminates (an app's caller and the party it called): both join a
   * two-party room of their worker, so each hears the other, decoded and re-encoded in the law each
   * negotiated, and each outgoing stream (SSRC, sequence, timestamp) goes on from the last frame a
   * prompt left on it. What plays on either leg must be stopped first: a room member's outgoing
   * frames are the room's. Returns the bridge id for `unbridgeService`, or undefined when either
   * leg is gone or the two sit in different workers.
   */
  bridgeService(keyA: string, keyB: string): string | undefined {
    const a = this.serviceLegOf(keyA);
    const b = this.serviceLegOf(keyB);
    if (!a || !b || a === b || a.worker !== b.worker) return undefined;
    const roomId = `bridge:${a.legId}:${b.legId}`;
    for (const leg of [a, b]) {
      this.post(a.worker, {
        t: 'mix',
        cmd: { op: 'join', roomId, legId: leg.legId, role: 'party', maxMembers: 2 },
      });
    }
    this.bridges.set(roomId, a.worker);
    return roomId;
  }

  /** Undo a bridge: both legs leave the room and go back to what they did before (their own stream). */
  unbridgeService(bridgeId: string): void {
    const worker = this.bridges.get(bridgeId);
    if (worker === undefined) return;
    this.bridges.delete(bridgeId);
    this.post(worker, { t: 'mix', cmd: { op: 'close', roomId: bridgeId } });
  }

  /**
   * Record the service leg of `callKey` (a caller the gateway answered) when calls are recorded:
   * what its party sends on the `received` channel, everything the leg sends them (prompts, music
   * on hold, whoever an app bridged in) on the other. One recording per interaction: a
   * `recordingId` already recorded is left as it is. Returns the file, if recorded.
   */
  recordLeg(callKey: string, recordingId: string, received: TapSide): string | undefined {
    const leg = this.serviceLegOf(callKey);
    if (leg && this.opts.shouldRecord?.(recordingId)) this.recordOwnLeg(leg, recordingId, received);
    return this.recordingPaths.get(recordingId);
  }

  /**
   * A recording an app asked for on the service leg of `callKey` (a voicemail message), whatever
   * `media.recording` says: as `recordLeg`, until `stopRecording` or the leg's close. Undefined
   * when the leg is gone, nothing records, or `recordingId` is taken.
   */
  startRecording(callKey: string, recordingId: string, received: TapSide): string | undefined {
    const leg = this.serviceLegOf(callKey);
    if (!leg || this.recordingPaths.has(recordingId)) return undefined;
    return this.recordOwnLeg(leg, recordingId, received) ? this.recordingPaths.get(recordingId) : undefined;
  }

  /** Ends a recording `startRecording` began; `recordingClosed` tells when its file is complete. */
  stopRecording(recordingId: string): void {
    for (const [legId, ids] of this.legRecordings) {
      if (!ids.delete(recordingId)) continue;
      if (ids.size === 0) this.legRecordings.delete(legId);
      const leg = this.legs.get(legId);
      if (leg) this.post(leg.worker, { t: 'record-stop', recordingId });
    }
  }

  /** Resolves with the file's summary once the recording `recordingId` is closed. */
  recordingClosed(recordingId: string): Promise<RecordingSummary> {
    return new Promise((resolve) => {
      const list = this.closedWaiters.get(recordingId) ?? [];
      list.push(resolve);
      this.closedWaiters.set(recordingId, list);
    });
  }

  /**
   * One recording of one leg from now to its close (`record-leg`): the caller on the left, as
   * for every recording, `received` naming which party the leg's far end is. False when nothing
   * records or `recordingId` is recorded already.
   */
  private recordOwnLeg(leg: EngineLeg, recordingId: string, received: TapSide): boolean {
    const recorder = this.opts.recorder;
    if (!recorder || this.recordingPaths.has(recordingId)) return false;
    this.recordingPaths.set(recordingId, recorder.pathOf(recordingId));
    recorder.open(recordingId);
    this.recordingStats.started++;
    const ids = this.legRecordings.get(leg.legId) ?? new Set<string>();
    ids.add(recordingId);
    this.legRecordings.set(leg.legId, ids);
    this.post(leg.worker, { t: 'record-leg', recordingId, legId: leg.legId, received });
    return true;
  }

  /**
   * A frame leg for a PSTN channel (see `FrameLegHandle`): the PSTN leg's media, whose RTP face is
   * the far party's media (a SIP phone or trunk) or an app's media leg. Undefined when no port
   * pair is free.
   */
  openFrameLeg(
    callKey: string,
    sink: FrameLegSink,
    opts: { recordingId?: string; line?: 'caller' | 'callee'; near?: string } = {},
  ): FrameLegHandle | undefined {
    // A second channel of the same call opens beside the first, so the two can be wired.
    const near = opts.near === undefined ? undefined : this.serviceLegOf(opts.near);
    const opened = this.openServiceLeg(callKey, 'frames', near?.worker, undefined, true);
    if (!opened) return undefined;
    const { leg, handle } = opened;
    // The line is the caller unless `line` says it is the callee (a call placed on a port): what
    // the frame leg receives over RTP is the other party, what it sends is the line.
    const recordingId = opts.recordingId ?? callKey;
    if (this.opts.shouldRecord?.(recordingId))
      this.recordOwnLeg(leg, recordingId, opts.line === 'callee' ? 'caller' : 'other');
    this.frameSinks.set(leg.legId, sink);
    const playout = sink.onFrame ? undefined : new FramePlayout();
    if (playout) this.playouts.set(leg.legId, playout);
    return {
      ...handle,
      get rtpPort() {
        return leg.rtpPort;
      },
      bind: () => {
        if (leg.rtpPort !== 0) return leg.rtpPort;
        if (!this.legs.has(leg.legId) || leg.wiredTo !== undefined) return undefined;
        const port = this.allocatePort();
        if (port === undefined) return undefined;
        leg.rtpPort = port;
        leg.binding = true;
        leg.opened = false;
        this.post(leg.worker, { t: 'bind', legId: leg.legId, host: this.opts.host, port });
        return port;
      },
      close: () => {
        if (this.frameSinks.delete(leg.legId)) this.forgetFrameLeg(leg);
        return handle.close();
      },
      pull: () => playout?.pull(),
      playout: () => playout?.dump() ?? null,
      send: (frame) => {
        if (!this.legs.has(leg.legId)) return;
        let q = this.frameOut.get(leg.worker);
        if (!q) this.frameOut.set(leg.worker, (q = { legIds: [], samples: new Int16Array(160 * 8) }));
        const at = q.legIds.length * 160;
        if (at + 160 > q.samples.length) {
          const grown = new Int16Array(q.samples.length * 2);
          grown.set(q.samples);
          q.samples = grown;
        }
        // The driver reuses its frame buffer: the frame is copied into the batch at once.
        q.samples.set(frame.subarray(0, 160), at);
        q.legIds.push(leg.legId);
      },
      setRemote: (remote) => {
        if (!this.legs.has(leg.legId) || !remote) return;
        leg.remote = remote;
        this.post(leg.worker, { t: 'remote', legId: leg.legId, rtp: remote, rtcp: null });
      },
    };
  }

  /** A frame leg closes: its counters go into the totals. */
  private forgetFrameLeg(leg: EngineLeg): void {
    const f = this.stats.get(leg.legId)?.frames;
    if (f) {
      this.frameTotalsClosed.decoded += f.framesIn;
      this.frameTotalsClosed.shipped += f.framesTaken;
      this.frameTotalsClosed.decoderDropped += f.dropped;
      addJitter(this.jitterClosed, f.jitter, false);
    }
    const p = this.playouts.get(leg.legId)?.dump();
    if (p) for (const k of Object.keys(this.playoutClosed) as PlayoutCounter[]) this.playoutClosed[k] += p[k];
    this.playouts.delete(leg.legId);
  }

  /** Frame legs' counters: open legs as of the workers' last statistics, plus the closed ones. */
  private frameLegsDump(): FrameLegsDump {
    const t = { ...this.frameTotalsClosed };
    const j = { ...this.jitterClosed };
    const p = { ...this.playoutClosed, maxTargetFrames: 0 };
    for (const legId of this.frameSinks.keys()) {
      const st = this.stats.get(legId);
      if (st?.frames) {
        t.decoded += st.frames.framesIn;
        t.shipped += st.frames.framesTaken;
        t.decoderDropped += st.frames.dropped;
      }
      addJitter(j, st?.frames?.jitter, true);
      const d = this.playouts.get(legId)?.dump();
      if (!d) continue;
      for (const k of Object.keys(this.playoutClosed) as PlayoutCounter[]) p[k] += d[k];
      p.maxTargetFrames = Math.max(p.maxTargetFrames, d.targetFrames);
    }
    return { legs: this.frameSinks.size, ...t, jitter: j, playout: p };
  }

  /** Ship the frames queued since the last flush: one message per worker, buffers transferred. */
  flushFrames(): void {
    for (const [worker, q] of this.frameOut) {
      const n = q.legIds.length;
      if (n === 0) continue;
      const legIds = Int32Array.from(q.legIds);
      const samples = q.samples.subarray(0, n * 160);
      // The batch buffer is handed over; the next tick fills a fresh one of the same size.
      q.samples = new Int16Array(q.samples.length);
      q.legIds.length = 0;
      this.workers[worker]?.postMessage({ t: 'frames-down', legIds, samples } satisfies ToWorker, [
        legIds.buffer,
        samples.buffer as ArrayBuffer,
      ]);
    }
  }

  /**
   * `wireTo`: a frame leg without sockets the new leg is wired to, in its worker, with no port
   * pair of its own; `socketless`: a frame leg, opened without sockets until `bind`.
   */
  private openServiceLeg(
    callKey: string,
    kind: 'echo' | 'milliwatt' | 'frames' | 'mix' | 'prompt',
    preferWorker?: number,
    wireTo?: EngineLeg,
    socketless = false,
  ): { leg: EngineLeg; handle: ServiceLegHandle } | undefined {
    if (this.closed) return undefined;
    const port = wireTo || socketless ? 0 : this.allocatePort();
    if (port === undefined) return undefined;
    let worker = 0;
    for (let i = 1; i < this.workers.length; i++)
      if ((this.workerLegs[i] ?? 0) < (this.workerLegs[worker] ?? 0)) worker = i;
    if (preferWorker !== undefined && this.workers[preferWorker]) worker = preferWorker;
    if (wireTo) worker = wireTo.worker;
    this.workerLegs[worker] = (this.workerLegs[worker] ?? 0) + 1;
    const leg: EngineLeg = {
      legId: this.nextLegId++,
      callKey,
      side: 'a',
      rtpPort: port,
      worker,
      remote: undefined,
      codecs: [],
      payloadTypes: undefined,
      latched: undefined,
      bindError: undefined,
      opened: false,
    };
    this.legs.set(leg.legId, leg);
    this.serviceLegs.set(leg.legId, leg);
    this.post(worker, { t: 'open', legId: leg.legId, host: this.opts.host, port });
    this.post(worker, { t: 'process', legId: leg.legId });
    if (wireTo) this.wireLegs(leg, wireTo);
    let closed: Promise<void> | undefined;
    const handle: ServiceLegHandle = {
      rtpPort: port,
      wired: wireTo !== undefined,
      opened: (timeoutMs = 2000) =>
        this.acks.until(
          `leg:${leg.legId}`,
          () => (leg.opened ? true : leg.bindError !== undefined ? false : undefined),
          timeoutMs,
        ),
      start: (plan) => {
        if (closed) return;
        leg.remote = plan.remote;
        this.post(worker, { t: 'remote', legId: leg.legId, rtp: plan.remote ?? null, rtcp: null });
        const pts = {
          pcmu: plan.law === 'pcmu' ? plan.audioPayloadType : -1,
          pcma: plan.law === 'pcma' ? plan.audioPayloadType : -1,
          telephoneEvent: plan.telephoneEventPayloadType ?? -1,
          sendLaw: plan.law,
        };
        leg.payloadTypes = pts;
        // A frame leg's decoder exists from `service` on: it must hear the codecs after it.
        if (kind === 'frames') this.post(worker, { t: 'service', legId: leg.legId, kind });
        this.post(worker, { t: 'codecs', legId: leg.legId, ...pts });
        if (kind !== 'frames') this.post(worker, { t: 'service', legId: leg.legId, kind });
      },
      setRemote: (remote) => {
        if (closed || !this.legs.has(leg.legId)) return;
        leg.remote = remote;
        this.post(worker, { t: 'remote', legId: leg.legId, rtp: remote ?? null, rtcp: null });
      },
      close: () => {
        closed ??= new Promise<void>((resolve) => {
          this.digitLog.delete(callKey);
          if (!this.legs.has(leg.legId)) return resolve();
          this.closeLeg(leg, () => {
            this.serviceLegs.delete(leg.legId);
            resolve();
          });
        });
        return closed;
      },
      dump: () => {
        const st = this.stats.get(leg.legId);
        const latched = leg.latched ?? st?.latched ?? null;
        return {
          localPort: leg.rtpPort,
          latched: latched !== null,
          target: latched ?? leg.remote ?? null,
          counters: {
            received: st?.rx ?? 0,
            sent: st?.tx ?? 0,
            foreignSource: st?.dropped.foreignSource ?? 0,
            notRtp: (st?.dropped.notRtp ?? 0) + (st?.dropped.truncated ?? 0),
          },
        };
      },
    };
    return { leg, handle };
  }

  /** Close one leg's sockets in its worker; the port returns to the pool once they are. */
  private closeLeg(leg: EngineLeg, after?: () => void): void {
    // The leg's own recording ends with it: its last frames, then the file closes.
    for (const recordingId of this.legRecordings.get(leg.legId) ?? [])
      this.post(leg.worker, { t: 'record-stop', recordingId });
    this.legRecordings.delete(leg.legId);
    this.legs.delete(leg.legId);
    this.workerLegs[leg.worker] = Math.max(0, (this.workerLegs[leg.worker] ?? 0) - 1);
    this.closingPorts++;
    // Its wired peer loses it (the worker undoes both sides).
    const wired = leg.wiredTo === undefined ? undefined : this.legs.get(leg.wiredTo);
    if (wired?.wiredTo === leg.legId) wired.wiredTo = undefined;
    this.closeWaiters.set(leg.legId, () => {
      this.closeWaiters.delete(leg.legId);
      this.closingPorts--;
      if (leg.rtpPort !== 0) {
        this.inUse.delete(leg.rtpPort);
        if (!this.closed) this.free.push(leg.rtpPort);
      }
      after?.();
    });
    this.post(leg.worker, { t: 'close', legId: leg.legId });
  }

  /** Resolves when every released leg's sockets are closed and its port is back in the pool. */
  settled(timeoutMs = 2000): Promise<boolean> {
    return this.acks.until('settled', () => (this.closingPorts === 0 ? true : undefined), timeoutMs);
  }

  /** Resolves true once both legs of the call have their sockets bound (false: failed or timed out). */
  opened(callKey: string, timeoutMs = 2000): Promise<boolean> {
    return this.acks.until(
      `call:${callKey}`,
      () => {
        const call = this.calls.get(callKey);
        if (!call || call.a.bindError || call.b.bindError) return false;
        return call.a.opened && call.b.opened ? true : undefined;
      },
      timeoutMs,
    );
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
        party: this.parties.get(l.callKey)?.[l.side] ?? null,
        transport: {
          proto: l.proto ?? null,
          srtp: l.srtp
            ? {
                suite: l.srtp.suite,
                localKeyId: keyId(l.srtp.localKey),
                remoteKeyId: keyId(l.srtp.remoteKey),
              }
            : null,
        },
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
      counters: { ...this.counters, srtpDropped: { ...this.counters.srtpDropped } },
      direct: [...this.direct].slice(0, 200),
      calls: [...this.calls.values()].slice(0, 200).map((c) => ({
        callKey: c.key,
        a: legDump(c.a),
        b: legDump(c.b),
        digits: [...(this.digitLog.get(c.key) ?? [])],
        recording: c.recording ?? null,
      })),
      dtmf: {
        digits: this.digitCounts.rfc4733 + this.digitCounts.inband + this.digitCounts.info,
        bySource: { ...this.digitCounts },
        recent: [...this.recentDigits],
      },
      recordings: {
        active: [...this.calls.values()].filter((c) => c.recording).length,
        ...this.recordingStats,
      },
      services: this.serviceLegs.size,
      bridges: this.bridges.size,
      frames: this.frameLegsDump(),
      mix: this.mix.dump(),
    };
  }

  /** Release every call and stop the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const key of [...this.calls.keys()]) this.release(key);
    for (const leg of [...this.serviceLegs.values()])
      this.closeLeg(leg, () => this.serviceLegs.delete(leg.legId));
    await this.settled(1000);
    this.closed = true;
    this.acks.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** A short, one-way identifier of a key for dumps: tells keys apart without revealing them. */
function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}
