/**
 * A frame endpoint inside a relay worker: the RTP side of a leg whose other side is not a socket
 * but a stream of 20 ms linear frames on the signalling thread (a PSTN channel of a card). The
 * leg's received G.711 packets are decoded into 20 ms frames and put into an adaptive
 * `JitterBuffer` by their RTP timestamp; the worker's frame clock pulls one frame per tick from
 * every endpoint (`tick`) and ships all of them in one batch per wake-up (`take`). Frames going the
 * other way are encoded by `RelayLeg.sendFrame` on the leg's own stream.
 *
 * Two stages, two kinds of jitter:
 * - Here, the network's: "the timestamp reflects the sampling instant of the first octet in the RTP
 *   data packet" (RFC 3550 §5.1), so the jitter buffer restores timestamp order, drops duplicates,
 *   conceals lost packets and counts late ones, its depth following the measured transit spread.
 *   Arrival is stamped on the worker's clock as the packet is read, before any thread hop.
 * - On the signalling thread, the hop's: `FramePlayout` paces the shipped frames out on the card's
 *   clock with a two-frame cushion against the two timers' phase and scheduling jitter.
 *
 * Once the buffer has started playing, every tick ships a frame (audio, concealment or silence), so
 * the card side sees a steady one-frame-per-tick stream whatever the network does.
 *
 * Packets of 20 ms (the G.711 default, RFC 3551 §4.5) map one-to-one onto frames; a packet holding
 * several frames is split, each part at its own timestamp. Other packet times are re-cut into
 * 20 ms frames while their timestamps run on; a fragment whose next packet does not continue it
 * (loss or reordering of sub-frame packets) is discarded and its frame concealed.
 */
import type { Clock } from '../../../../base/clock.ts';
import { JitterBuffer, type JitterBufferOptions, type JitterPacket } from '../jitter/jitter-buffer.ts';
import { decodeInto, NO_PAYLOAD_TYPES, payloadKind, type LegPayloadMap } from '../codec/leg-codecs.ts';
import { FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import type { RtpView } from '../rtp/rtp-packet.ts';

/** The jitter buffer's view of the leg's received stream. */
export interface FrameJitterDump {
  /** Arrived after their frame's turn (concealed meanwhile). */
  late: number;
  /** Never arrived by their turn while a later one had: concealed. */
  lost: number;
  /** Synthetic frames played (lost, late, or the network running dry). */
  concealed: number;
  duplicate: number;
  /** Frames dropped to shrink the delay to the target, or skipped to resynchronise. */
  shed: number;
  resets: number;
  /** Frames held now, from the playout point to the newest. */
  depthFrames: number;
  targetDelayMs: number;
  /** Peak-to-peak relative transit over the last seconds. */
  jitterMs: number;
}

export interface FrameEndpointDump {
  /** Frames decoded from RTP into the jitter buffer. */
  framesIn: number;
  /** Frames shipped to the signalling thread. */
  framesTaken: number;
  /** Frames dropped because the ship queue was full (the worker did not ship in time). */
  dropped: number;
  /** Sub-frame fragments discarded because the next packet did not continue them. */
  fragmentsDropped: number;
  queued: number;
  jitter: FrameJitterDump;
}

export interface FrameEndpointOptions {
  /** Frames the ship queue holds between two wake-ups of the worker. */
  maxQueuedFrames?: number;
  jitter?: JitterBufferOptions;
}

export class FrameEndpoint {
  private map: LegPayloadMap = NO_PAYLOAD_TYPES;
  private readonly jb: JitterBuffer;
  private readonly maxQueuedFrames: number;
  private readonly ring: Int16Array;
  private head = 0;
  private count = 0;
  /** Once the buffer has played, one frame ships per tick. */
  private started = false;
  private readonly partial = new Int16Array(FRAME_SAMPLES);
  private filled = 0;
  private partialTs = 0;
  private readonly packet: JitterPacket = { sequenceNumber: 0, timestamp: 0, frame: this.partial };
  private readonly stats = { framesIn: 0, framesTaken: 0, dropped: 0, fragmentsDropped: 0 };

  constructor(clock: Clock, opts: FrameEndpointOptions = {}) {
    this.maxQueuedFrames = Math.max(1, opts.maxQueuedFrames ?? 16);
    this.ring = new Int16Array(FRAME_SAMPLES * this.maxQueuedFrames);
    this.jb = new JitterBuffer(clock, opts.jitter);
  }

  setCodecs(map: LegPayloadMap): void {
    this.map = { ...map };
  }

  /** One accepted RTP packet from the leg's peer; only G.711 audio becomes frames. */
  onPacket(datagram: Uint8Array, view: RtpView): void {
    const kind = payloadKind(this.map, view.payloadType);
    if (kind !== 'pcmu' && kind !== 'pcma') return;
    const ts = view.timestamp >>> 0;
    if (this.filled > 0 && ts !== (this.partialTs + this.filled) >>> 0) {
      this.filled = 0;
      this.stats.fragmentsDropped++;
    }
    let offset = view.payloadOffset;
    let left = view.payloadLength;
    while (left > 0) {
      // One G.711 octet per sample: the timestamp of the octet at `offset` is known exactly.
      if (this.filled === 0) this.partialTs = (ts + (offset - view.payloadOffset)) >>> 0;
      const n = decodeInto(kind, datagram, offset, left, this.partial, this.filled);
      if (n <= 0) break;
      this.filled += n;
      offset += n;
      left -= n;
      if (this.filled === FRAME_SAMPLES) {
        this.packet.sequenceNumber = view.sequenceNumber;
        this.packet.timestamp = this.partialTs;
        this.packet.ssrc = view.ssrc;
        this.jb.push(this.packet);
        this.stats.framesIn++;
        this.filled = 0;
      }
    }
  }

  /** One tick of the worker's frame clock: the jitter buffer's frame for it joins the ship queue. */
  tick(): void {
    const frame = this.jb.pull();
    if (!this.started) {
      if (this.jb.lastPull === 'silence') return;
      this.started = true;
    }
    if (this.count === this.maxQueuedFrames) {
      this.head = (this.head + 1) % this.maxQueuedFrames;
      this.count--;
      this.stats.dropped++;
    }
    const slot = (this.head + this.count) % this.maxQueuedFrames;
    this.ring.set(frame, slot * FRAME_SAMPLES);
    this.count++;
  }

  /** Copy the oldest queued frame into `out` at `at`; false when none is queued. */
  take(out: Int16Array, at: number): boolean {
    if (this.count === 0) return false;
    const start = this.head * FRAME_SAMPLES;
    out.set(this.ring.subarray(start, start + FRAME_SAMPLES), at);
    this.head = (this.head + 1) % this.maxQueuedFrames;
    this.count--;
    this.stats.framesTaken++;
    return true;
  }

  get queued(): number {
    return this.count;
  }

  close(): void {
    this.jb.close();
    this.count = 0;
  }

  dump(): FrameEndpointDump {
    const s = this.jb.stats;
    return {
      ...this.stats,
      queued: this.count,
      jitter: {
        late: s.late,
        lost: s.lost,
        concealed: s.concealed,
        duplicate: s.duplicate,
        shed: s.dropped + s.skipped,
        resets: s.resets,
        depthFrames: this.jb.depthFrames,
        targetDelayMs: this.jb.targetDelayMs,
        jitterMs: this.jb.jitterMs,
      },
    };
  }
}

/**
 * Pack the frames of many legs into one transferable batch: `legIds[i]` owns samples
 * `[i·160, (i+1)·160)`. One batch per 20 ms tick crosses between threads, whatever the number of
 * channels.
 */
export interface FrameBatch {
  legIds: Int32Array;
  samples: Int16Array;
}

export function allocBatch(capacity: number): FrameBatch {
  return { legIds: new Int32Array(capacity), samples: new Int16Array(capacity * FRAME_SAMPLES) };
}
