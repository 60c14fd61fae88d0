/**
 * A relay worker thread: owns the sockets of the legs the engine assigns to it and runs their
 * forwarding hot path, off the signalling thread. Control arrives by `postMessage`
 * (worker-protocol.ts); events (latched, dead media, stats) go back the same way.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { workerInput } from '../../core/worker.ts';
import { systemClock, systemTimers } from '../../../../base/clock.ts';
import { FrameDtmfRelay } from '../dtmf/frame-dtmf.ts';
import { allocBatch, FrameEndpoint } from './frame-endpoint.ts';
import { LegPlayers } from '../play/leg-player.ts';
import { LegProcessor } from './leg-processor.ts';
import { FrameClock, LegRecorderFeed } from '../record/leg-recorder.ts';
import { EchoSsrc, MilliwattPackets } from './leg-service.ts';
import { RelayLeg, type RelayLegEvents } from '../rtp/relay-leg.ts';
import type { FromWorker, RelayLegStats, ToWorker } from './worker-protocol.ts';
import { WorkerRecordings } from '../record/worker-recordings.ts';
import type { RecorderTap, TapSide } from '../record/recorder.ts';
import { WorkerRooms } from '../mix/worker-rooms.ts';

export interface MediaWorkerData {
  /** How often silence is accounted for dead-media detection. */
  sweepMs: number;
  connectAfterLatch: boolean;
  /** This worker's port to the recorder thread: recordings' frames go there directly. */
  recorderPort?: MessagePort;
  /** RFC 3550 §6.2 RTCP report interval of every leg (5 s when absent). */
  rtcpIntervalMs?: number;
  /** §6.5.1 CNAME of the gateway's reports. */
  cname?: string;
}

const port = parentPort;
if (!port) throw new Error('media-worker.ts runs only as a worker thread');
const data = workerInput<MediaWorkerData>();
const legs = new Map<number, RelayLeg>();
const post = (m: FromWorker): void => port.postMessage(m);

// Per-leg processing (DTMF, recording feed, services). Configured by messages that may arrive
// before the leg's sockets are bound: kept by leg id and plugged in once the leg exists.
const procs = new Map<number, LegProcessor>();
const services = new Map<number, Extract<ToWorker, { t: 'service' }>['kind']>();
/** Legs whose other side is a stream of frames on the signalling thread (PSTN channels). */
const frameLegs = new Map<number, FrameEndpoint>();
/** Digits heard on those channels, re-sent as RFC 4733 events on the leg's own stream. */
const frameDtmf = new Map<number, FrameDtmfRelay>();
/** The negotiated telephone-event payload type of each leg (-1: none). */
const telephoneEventPt = new Map<number, number>();

function frameDtmfOf(legId: number): FrameDtmfRelay {
  let r = frameDtmf.get(legId);
  if (!r) {
    r = new FrameDtmfRelay({
      timestamp: () => legs.get(legId)?.ownTimestamp ?? 0,
      send: (pt, marker, ts, payload) => legs.get(legId)?.sendOwnPacket(pt, marker, ts, payload) ?? false,
    });
    r.setPayloadType(telephoneEventPt.get(legId) ?? -1);
    frameDtmf.set(legId, r);
  }
  return r;
}
const milliwatts = new Map<number, MilliwattPackets>();
/** Where a service leg's peer receives: the SDP's address until latching, then the latched source. */
const serviceRemotes = new Map<number, { address: string; port: number } | null>();
const serviceCodecs = new Map<number, { law: 'pcmu' | 'pcma'; payloadType: number }>();
const recordings = new WorkerRecordings({
  recorderPort: data.recorderPort,
  post: (m, transfer) => port.postMessage(m, transfer ?? []),
});
/** Latched RTP sources of service legs. */
const serviceTargets = new Map<number, { address: string; port: number }>();

function procOf(legId: number, detectInband?: boolean): LegProcessor {
  let p = procs.get(legId);
  if (!p) {
    p = new LegProcessor({
      timers: systemTimers,
      detectInband,
      onDigit: (d) => {
        // Barge-in first: the digit still reaches the application below.
        players.onDigit(legId, d.digit);
        post({
          t: 'digit',
          legId,
          digit: d.digit,
          durationMs: d.durationMs,
          source: d.source === 'inband' ? 'inband' : 'rfc4733',
        });
      },
    });
    procs.set(legId, p);
  }
  return p;
}

function plugIn(legId: number): void {
  const leg = legs.get(legId);
  const p = procs.get(legId);
  if (!leg || !p) return;
  leg.onPacket = (_leg, datagram, view) => p.onPacket(datagram, view);
  const frames = frameLegs.get(legId);
  if (frames) {
    // Terminated here: decoded into frames for the channel, never forwarded.
    leg.onPacket = (_leg, datagram, view) => {
      p.onPacket(datagram, view);
      frames.onPacket(datagram, view);
      return false;
    };
    startClock();
  }
  const service = services.get(legId);
  if (service === 'echo') {
    // Each packet goes back where it came from: after latching only the latched source gets here.
    const onSent = (e: Error | null): void => {
      if (e) leg.sendErrors++;
    };
    p.setEcho(new EchoSsrc(), (datagram) => {
      const to = serviceTargets.get(legId);
      leg.sendDatagram(datagram, datagram.length, to, onSent);
    });
  } else if (service === 'milliwatt' && !milliwatts.has(legId)) {
    const c = serviceCodecs.get(legId) ?? { law: 'pcmu', payloadType: 0 };
    milliwatts.set(legId, new MilliwattPackets(c.law, c.payloadType));
    startClock();
  }
  // A leg in a mixing room keeps feeding its room whatever hook was just set.
  rooms.plug(legId);
}

/**
 * Blocks that produce or consume audio on the frame clock (players, mixers): each is ticked once per
 * 20 ms frame while registered. Register with `addTicker`, which starts the clock.
 */
interface FrameTicker {
  tick(): void;
}
const tickers = new Set<FrameTicker>();
function addTicker(t: FrameTicker): void {
  tickers.add(t);
  startClock();
}
function removeTicker(t: FrameTicker): void {
  tickers.delete(t);
}

/** Conference and monitoring rooms: member legs mixed on the frame clock instead of relayed. */
const rooms = new WorkerRooms({
  clock: systemClock,
  legOf: (legId) => legs.get(legId),
  payloadMapOf: (legId) => {
    const c = legs.get(legId)?.stats().codecs;
    return { pcmu: c?.pcmu ?? -1, pcma: c?.pcma ?? -1, telephoneEvent: c?.telephoneEvent ?? -1 };
  },
  addTicker,
  removeTicker,
});

/** Prompt players on legs (announcements, music on hold), ticked on the frame clock. */
const players = new LegPlayers({
  leg: (id) => legs.get(id),
  addTicker,
  removeTicker,
  onEnded: (e) => post({ t: 'play-ended', ...e }),
});

// The worker's 20 ms frame clock: recorder taps and tone sources tick on it, anchored to its start.
let clock: FrameClock | undefined;
function startClock(): void {
  if (clock) return;
  clock = new FrameClock(performance.now());
  setTimeout(onClock, clock.untilNext(performance.now()));
}
function onClock(): void {
  const c = clock;
  if (!c) return;
  const skippedBefore = c.skipped;
  const n = c.due(performance.now());
  // Ticks beyond the clock's catch-up are still owed to the cards: frame legs pull them too (as
  // many as their ship queues hold), so a stalled worker delays line audio instead of losing it.
  const owed = Math.min(c.skipped - skippedBefore, FRAME_LEG_CATCH_UP);
  for (let i = 0; i < owed; i++) for (const fe of frameLegs.values()) fe.tick();
  for (let i = 0; i < n; i++) {
    for (const [legId, tone] of milliwatts) {
      const leg = legs.get(legId);
      const to = serviceTargets.get(legId) ?? serviceRemotes.get(legId);
      if (leg && (to || leg.wire))
        tone.emit((buf, len, done) => leg.sendDatagram(buf, len, to ?? undefined, done));
      else tone.skip();
    }
    recordings.tick();
    // Each frame leg's jitter buffer gives up one frame per tick, shipped below.
    for (const fe of frameLegs.values()) fe.tick();
    for (const t of tickers) t.tick();
  }
  // Once per wake-up, whatever number of ticks were due: a late wake-up ships every frame pulled
  // meanwhile (pacing is the consumer's job, on the card's clock).
  if (frameLegs.size > 0) shipFrames();
  if (milliwatts.size === 0 && recordings.size === 0 && frameLegs.size === 0 && tickers.size === 0) {
    clock = undefined;
    return;
  }
  setTimeout(onClock, c.untilNext(performance.now()));
}

/** Frames a frame leg's ship queue takes beyond the clock's own catch-up (16 − 5). */
const FRAME_LEG_CATCH_UP = 11;

/** One batch per wake-up: every frame every `frames` leg pulled since, buffers handed over. */
function shipFrames(): void {
  let queued = 0;
  for (const fe of frameLegs.values()) queued += fe.queued;
  if (queued === 0) return;
  const batch = allocBatch(queued);
  let n = 0;
  for (const [legId, fe] of frameLegs) {
    while (n < queued && fe.take(batch.samples, n * 160)) batch.legIds[n++] = legId;
  }
  if (n === 0) return;
  const legIds = batch.legIds.subarray(0, n);
  const samples = batch.samples.subarray(0, n * 160);
  port?.postMessage({ t: 'frames-up', legIds, samples } satisfies FromWorker, [
    batch.legIds.buffer as ArrayBuffer,
    batch.samples.buffer as ArrayBuffer,
  ]);
}

function startRecording(recordingId: string, caller: number, other: number): void {
  const tap = recordings.start(recordingId, [caller, other]);
  if (!tap) return;
  procOf(caller).addRecorder(new LegRecorderFeed(tap, String(caller), 'caller'));
  procOf(other).addRecorder(new LegRecorderFeed(tap, String(other), 'other'));
  startClock();
}

/**
 * Legs recorded on their own (`record-leg`): the frames each sends go to these taps (by key). A
 * leg may be in two at once: its interaction's recording and one its app asked for (voicemail).
 */
const ownFrameTaps = new Map<number, Map<RecorderTap, string>>();

function startLegRecording(recordingId: string, legId: number, received: TapSide): void {
  const leg = legs.get(legId);
  const tap = recordings.start(recordingId, [legId]);
  if (!tap) return;
  // The leg closed before its recording began: an empty file, closed as every other.
  if (!leg) return stopRecording(recordingId);
  procOf(legId).addRecorder(new LegRecorderFeed(tap, String(legId), received));
  // Stamped with the leg's own RTP timestamps: the tap keeps the stream's timeline.
  const key = `${legId}:sent`;
  tap.attach(key, received === 'caller' ? 'other' : 'caller');
  let taps = ownFrameTaps.get(legId);
  if (!taps) {
    const mine = new Map<RecorderTap, string>();
    ownFrameTaps.set(legId, (taps = mine));
    leg.onOwnFrame = (frame, timestamp) => {
      for (const [t, k] of mine) t.put(k, frame, timestamp);
    };
  }
  taps.set(tap, key);
  startClock();
}

function stopOwnFrames(legId: number, tap?: RecorderTap): void {
  const taps = ownFrameTaps.get(legId);
  if (!taps) return;
  if (tap) taps.delete(tap);
  if (tap && taps.size > 0) return;
  ownFrameTaps.delete(legId);
  const leg = legs.get(legId);
  if (leg) leg.onOwnFrame = undefined;
}

/** The tap's last frames leave, then `recording-stopped` (see `WorkerRecordings.stop`). */
function stopRecording(recordingId: string): void {
  const r = recordings.stop(recordingId);
  if (!r) return;
  for (const [legId, taps] of ownFrameTaps) if (taps.has(r.tap)) stopOwnFrames(legId, r.tap);
  for (const legId of r.legs) {
    const p = procs.get(legId);
    p?.dropRecorder(r.tap);
  }
}

/** Wires asked for before both legs' sockets were bound: applied by `open`. */
const pendingWires = new Map<number, number>();

function setWire(a: number, b: number): void {
  const la = legs.get(a);
  if (b < 0) {
    pendingWires.delete(a);
    if (la?.wire) {
      pendingWires.delete(la.wire.legId);
      la.wire.wire = undefined;
      la.wire = undefined;
    }
    return;
  }
  const lb = legs.get(b);
  if (!la || !lb) {
    pendingWires.set(a, b);
    pendingWires.set(b, a);
    return;
  }
  pendingWires.delete(a);
  pendingWires.delete(b);
  la.wire = lb;
  lb.wire = la;
}

/** A leg's statistics, with its frame decoder's when it is a frame leg. */
function legStats(leg: RelayLeg): RelayLegStats {
  const s = leg.stats();
  const fe = frameLegs.get(leg.legId);
  if (fe) s.frames = fe.dump();
  return s;
}

const events: RelayLegEvents = {
  latched: (leg, kind, source) => {
    if (kind === 'rtp' && services.has(leg.legId)) serviceTargets.set(leg.legId, { ...source });
    post({ t: 'latched', legId: leg.legId, kind, address: source.address, port: source.port });
  },
};

/** `shared`: SO_REUSEADDR, so the leg's connected sibling can bind the same port (relay-leg.ts). */
function bindOne(host: string, p: number, shared = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: shared });
    let bound = false;
    s.on('error', (e) => {
      // Before bind: the port is taken. After: an ICMP error on send must not kill the worker.
      if (!bound) {
        try {
          s.close();
        } catch {
          // never bound
        }
        reject(e);
      }
    });
    s.bind(p, host, () => {
      bound = true;
      resolve(s);
    });
  });
}

/** The leg's RTP socket on `p` and its RTCP socket on `p + 1`. */
async function bindPair(host: string, p: number): Promise<{ rtp: Socket; rtcp: Socket }> {
  const rtp = await bindOne(host, p, data.connectAfterLatch);
  try {
    return { rtp, rtcp: await bindOne(host, p + 1) };
  } catch (e) {
    rtp.close();
    throw e;
  }
}

/** Port 0: a leg without sockets, reached through `wire` until `bind` gives it a port pair. */
async function open(legId: number, host: string, p: number): Promise<void> {
  try {
    const pair = p === 0 ? undefined : await bindPair(host, p);
    legs.set(
      legId,
      new RelayLeg(legId, p, pair?.rtp, pair?.rtcp, events, {
        connectAfterLatch: data.connectAfterLatch,
        rtcpIntervalMs: data.rtcpIntervalMs,
        cname: data.cname ?? `edgeline@${host}`,
      }),
    );
    plugIn(legId);
    const w = pendingWires.get(legId);
    if (w !== undefined) setWire(legId, w);
    post({ t: 'opened', legId, ok: true, sockets: pair !== undefined });
  } catch (e) {
    post({ t: 'opened', legId, ok: false, sockets: false, error: (e as Error).message });
  }
}

/** A leg opened without sockets gets its port pair (a network party needs its address). */
async function bind(legId: number, host: string, p: number): Promise<void> {
  try {
    const pair = await bindPair(host, p);
    const leg = legs.get(legId);
    if (!leg) {
      pair.rtp.close();
      pair.rtcp.close();
      throw new Error('the leg is closed');
    }
    leg.attachSockets(p, pair.rtp, pair.rtcp);
    post({ t: 'opened', legId, ok: true, sockets: true });
  } catch (e) {
    post({ t: 'opened', legId, ok: false, sockets: true, error: (e as Error).message });
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'open':
      void open(m.legId, m.host, m.port);
      return;
    case 'bind':
      void bind(m.legId, m.host, m.port);
      return;
    case 'remote':
      legs.get(m.legId)?.setRemote(m.rtp, m.rtcp);
      serviceRemotes.set(m.legId, m.rtp);
      return;
    case 'bridge': {
      const a = legs.get(m.a);
      const b = legs.get(m.b);
      if (a && b) {
        a.peer = b;
        b.peer = a;
      }
      return;
    }
    case 'wire':
      setWire(m.a, m.b);
      return;
    case 'codecs':
      rooms.setCodecs(m.legId, { pcmu: m.pcmu, pcma: m.pcma, telephoneEvent: m.telephoneEvent });
      legs.get(m.legId)?.setCodecs(m.pcmu, m.pcma, m.telephoneEvent, m.sendLaw);
      procs.get(m.legId)?.setCodecs({ pcmu: m.pcmu, pcma: m.pcma, telephoneEvent: m.telephoneEvent });
      frameLegs.get(m.legId)?.setCodecs({ pcmu: m.pcmu, pcma: m.pcma, telephoneEvent: m.telephoneEvent });
      telephoneEventPt.set(m.legId, m.telephoneEvent);
      frameDtmf.get(m.legId)?.setPayloadType(m.telephoneEvent);
      if (m.sendLaw) {
        const pt = m.sendLaw === 'pcmu' ? m.pcmu : m.pcma;
        serviceCodecs.set(m.legId, { law: m.sendLaw, payloadType: pt });
        const tone = milliwatts.get(m.legId);
        if (tone && (tone.law !== m.sendLaw || tone.payloadType !== pt))
          milliwatts.set(m.legId, new MilliwattPackets(m.sendLaw, pt));
      }
      return;
    case 'watch': {
      const leg = legs.get(m.legId);
      if (leg) leg.deadMediaMs = m.deadMediaMs;
      if (leg && m.answered) leg.watchFromAnswer = true;
      return;
    }
    case 'srtp':
      legs.get(m.legId)?.setSrtp(m.keys);
      return;
    case 'process':
      procOf(m.legId, m.detectInband);
      plugIn(m.legId);
      return;
    case 'service':
      services.set(m.legId, m.kind);
      if (m.kind === 'frames' && !frameLegs.has(m.legId)) {
        // Room for 320 ms: frames wait here only until the worker's next wake-up. The buffer
        // starts at its minimum depth and grows only with measured jitter: starting deeper and
        // shrinking later would drop frames from a clean stream mid-call (a 20 ms jump in time).
        // The minimum is two frames: packets and the worker's ticks run on two clocks whose phase
        // wanders, and one frame of slack keeps that from reading as the network running dry. A
        // small excess is shed in pauses only: a frame dropped from speech or a tone is a click.
        frameLegs.set(
          m.legId,
          new FrameEndpoint(systemClock, {
            maxQueuedFrames: 16,
            jitter: { initialDelayMs: 40, minDelayMs: 40, quietShedFrames: 2 },
          }),
        );
        frameDtmfOf(m.legId);
      }
      procOf(m.legId);
      plugIn(m.legId);
      return;
    case 'record':
      startRecording(m.recordingId, m.caller, m.other);
      return;
    case 'record-leg':
      startLegRecording(m.recordingId, m.legId, m.received);
      return;
    case 'prompt':
      players.store(m.promptId, m.samples);
      return;
    case 'play':
      players.play(m.legId, m.play);
      return;
    case 'play-stop':
      players.stop(m.legId, m.digit);
      return;
    case 'record-stop':
      stopRecording(m.recordingId);
      return;
    case 'record-attach': {
      const tap = recordings.attach(m.recordingId, m.legId);
      if (tap) procOf(m.legId).addRecorder(new LegRecorderFeed(tap, String(m.legId), m.side));
      return;
    }
    case 'close': {
      rooms.forget(m.legId);
      const leg = legs.get(m.legId);
      legs.delete(m.legId);
      procs.get(m.legId)?.close();
      procs.delete(m.legId);
      services.delete(m.legId);
      milliwatts.delete(m.legId);
      frameLegs.get(m.legId)?.close();
      frameLegs.delete(m.legId);
      const wiredTo = pendingWires.get(m.legId);
      if (wiredTo !== undefined) pendingWires.delete(wiredTo);
      pendingWires.delete(m.legId);
      frameDtmf.get(m.legId)?.close();
      frameDtmf.delete(m.legId);
      stopOwnFrames(m.legId);
      players.close(m.legId);
      telephoneEventPt.delete(m.legId);
      serviceTargets.delete(m.legId);
      serviceRemotes.delete(m.legId);
      serviceCodecs.delete(m.legId);
      if (!leg) post({ t: 'closed', legId: m.legId });
      else void leg.close().then(() => post({ t: 'closed', legId: m.legId }));
      return;
    }
    case 'frames-down':
      for (let i = 0; i < m.legIds.length; i++) {
        const legId = m.legIds[i] ?? 0;
        const frame = m.samples.subarray(i * 160, (i + 1) * 160);
        // Digits on the line cross as RFC 4733 events; the relay mutes their tone (RFC 4733 §2.6)
        // before the frame is encoded.
        frameDtmf.get(legId)?.frame(frame);
        legs.get(legId)?.sendFrame(frame);
      }
      return;
    case 'mix':
      rooms.apply(m.cmd);
      return;
    case 'stats':
      post({ t: 'stats', requestId: m.requestId, legs: [...legs.values()].map(legStats) });
      return;
    default: {
      const never: never = m;
      throw new Error(`unknown media worker message ${JSON.stringify(never)}`);
    }
  }
});

const sweep = setInterval(() => {
  for (const leg of legs.values())
    if (leg.sweep(data.sweepMs)) post({ t: 'dead', legId: leg.legId, silentMs: leg.silenceMs });
  // Unsolicited statistics (request 0) keep the engine's dump current.
  if (legs.size > 0) postStatsInSlices([...legs.values()], 0);
}, data.sweepMs);

/**
 * Unsolicited statistics go out in slices of `STATS_SLICE` legs, one per turn of the event loop:
 * a thousand legs' statistics built and cloned at once stall forwarding for several milliseconds,
 * which is what a packet arriving meanwhile would wait.
 */
const STATS_SLICE = 100;
function postStatsInSlices(all: RelayLeg[], from: number): void {
  const slice: RelayLegStats[] = [];
  for (let i = from; i < all.length && i < from + STATS_SLICE; i++) {
    const leg = all[i];
    // Closed since the sweep began: its last statistics are not wanted.
    if (leg && legs.get(leg.legId) === leg) slice.push(legStats(leg));
  }
  if (slice.length > 0) post({ t: 'stats', requestId: 0, legs: slice });
  if (from + STATS_SLICE < all.length) setImmediate(() => postStatsInSlices(all, from + STATS_SLICE));
}
sweep.unref();

post({ t: 'ready' });
