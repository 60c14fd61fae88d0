/**
 * Recording inside a relay worker: each recorded leg's G.711 packets are decoded into 20 ms frames
 * and queued on the interaction's `RecorderTap`; one frame clock per worker ticks every tap, so
 * the caller's channel and the other parties' channel advance together whatever the packet sizes
 * and arrival times (a leg sending 10 or 30 ms packets is re-cut into 20 ms frames here).
 *
 * Nothing here touches a file: the tap's batches leave the worker by `postMessage` (buffers
 * transferred) for the recorder thread.
 */
import { decodeInto, NO_PAYLOAD_TYPES, payloadKind, type LegPayloadMap } from '../codec/leg-codecs.ts';
import { FRAME_MS, FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import type { RecorderTap, TapSide } from './recorder.ts';
import type { RtpView } from '../rtp/rtp-packet.ts';

/** Feeds one leg's audio into a tap. */
export class LegRecorderFeed {
  private map: LegPayloadMap = NO_PAYLOAD_TYPES;
  private readonly frame = new Int16Array(FRAME_SAMPLES);
  private filled = 0;
  /** RTP timestamp of the first sample in `frame`. */
  private frameTs = 0;
  frames = 0;

  constructor(
    readonly tap: RecorderTap,
    /** The leg's key within the tap. */
    readonly key: string,
    side: TapSide,
  ) {
    tap.attach(key, side);
  }

  setCodecs(map: LegPayloadMap): void {
    this.map = { ...map };
  }

  /** One accepted RTP packet from the leg's peer; telephone-events and unknown formats are not audio. */
  onPacket(datagram: Uint8Array, view: RtpView): void {
    const kind = payloadKind(this.map, view.payloadType);
    if (kind !== 'pcmu' && kind !== 'pcma') return;
    let offset = view.payloadOffset;
    let left = view.payloadLength;
    while (left > 0) {
      // G.711: one byte, one sample, one timestamp unit (RFC 3551 §4.5.14).
      if (this.filled === 0) this.frameTs = (view.timestamp + (offset - view.payloadOffset)) >>> 0;
      const n = decodeInto(kind, datagram, offset, left, this.frame, this.filled);
      this.filled += n;
      offset += n;
      left -= n;
      if (this.filled === FRAME_SAMPLES) {
        // The tap copies the frame: this buffer is refilled by the next packet.
        this.tap.put(this.key, this.frame, this.frameTs);
        this.filled = 0;
        this.frames++;
      }
    }
  }

  close(): void {
    this.tap.detach(this.key);
  }
}

/**
 * The worker's 20 ms frame clock, sans-I/O: told the monotonic time, it says how many frame
 * periods have passed since the last call. Ticks are anchored to the start time, not to the
 * previous timer, so a late timer is caught up and the clock never drifts; after a stall longer
 * than `maxCatchUp` frames the excess is skipped rather than burst out.
 */
export class FrameClock {
  private ticks = 0;
  skipped = 0;

  constructor(
    private readonly startMs: number,
    private readonly maxCatchUp = 5,
    readonly periodMs = FRAME_MS,
  ) {}

  /** Frames due at `nowMs`. */
  due(nowMs: number): number {
    const target = Math.floor((nowMs - this.startMs) / this.periodMs);
    let n = target - this.ticks;
    if (n <= 0) return 0;
    if (n > this.maxCatchUp) {
      this.skipped += n - this.maxCatchUp;
      n = this.maxCatchUp;
    }
    this.ticks = target;
    return n;
  }

  /** Milliseconds from `nowMs` to the next tick. */
  untilNext(nowMs: number): number {
    return Math.max(1, this.startMs + (this.ticks + 1) * this.periodMs - nowMs);
  }
}
