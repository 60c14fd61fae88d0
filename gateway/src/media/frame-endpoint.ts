/**
 * A frame endpoint inside a relay worker: the RTP side of a leg whose other side is not a socket
 * but a stream of 20 ms linear frames on the signalling thread (a PSTN channel of a card). The
 * leg's received G.711 packets are decoded and re-cut into 20 ms frames and held in a short queue;
 * the worker's frame clock takes one frame per tick from every endpoint and ships them all in one
 * batch. Frames going the other way are encoded by `RelayLeg.sendFrame` on the leg's own stream.
 *
 * The queue absorbs the jitter between the peer's packet clock and the card's frame clock: a
 * queue deeper than `maxQueuedFrames` drops its oldest frame (counted), an empty one yields
 * nothing for the tick (the card sends silence, also counted there as an underrun).
 */
import { decodeInto, NO_PAYLOAD_TYPES, payloadKind, type LegPayloadMap } from './leg-codecs.ts';
import { FRAME_SAMPLES } from './pcm-frame.ts';
import type { RtpView } from './rtp-packet.ts';

export interface FrameEndpointDump {
  framesIn: number;
  framesTaken: number;
  dropped: number;
  queued: number;
}

export class FrameEndpoint {
  private map: LegPayloadMap = NO_PAYLOAD_TYPES;
  private readonly ring: Int16Array;
  private head = 0;
  private count = 0;
  private readonly partial = new Int16Array(FRAME_SAMPLES);
  private filled = 0;
  private readonly stats = { framesIn: 0, framesTaken: 0, dropped: 0 };

  constructor(private readonly maxQueuedFrames = 4) {
    this.ring = new Int16Array(FRAME_SAMPLES * maxQueuedFrames);
  }

  setCodecs(map: LegPayloadMap): void {
    this.map = { ...map };
  }

  /** One accepted RTP packet from the leg's peer; only G.711 audio becomes frames. */
  onPacket(datagram: Uint8Array, view: RtpView): void {
    const kind = payloadKind(this.map, view.payloadType);
    if (kind !== 'pcmu' && kind !== 'pcma') return;
    let offset = view.payloadOffset;
    let left = view.payloadLength;
    while (left > 0) {
      const n = decodeInto(kind, datagram, offset, left, this.partial, this.filled);
      this.filled += n;
      offset += n;
      left -= n;
      if (this.filled === FRAME_SAMPLES) {
        this.push(this.partial);
        this.filled = 0;
      }
    }
  }

  private push(frame: Int16Array): void {
    if (this.count === this.maxQueuedFrames) {
      this.head = (this.head + 1) % this.maxQueuedFrames;
      this.count--;
      this.stats.dropped++;
    }
    const slot = (this.head + this.count) % this.maxQueuedFrames;
    this.ring.set(frame, slot * FRAME_SAMPLES);
    this.count++;
    this.stats.framesIn++;
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

  dump(): FrameEndpointDump {
    return { ...this.stats, queued: this.count };
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
