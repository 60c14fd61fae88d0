/**
 * The playout buffer of a frame leg: frames arrive in batches from a relay worker whenever that
 * thread gets to ship them, and leave one per tick of the clock that consumes them (a card's 20 ms
 * frame clock). The worker's jitter buffer has already dealt with the network (order, loss, its
 * jitter) and yields exactly one frame per tick of the worker's clock, so what is left here is the
 * jitter of the hop between threads: a worker or the signalling thread late by a few ticks
 * delivers several frames at once; departure is strictly periodic. The buffer holds enough frames
 * to ride out that jitter, and no more.
 *
 * Sans-I/O: time is counted in `pull` calls (ticks of the consumer's clock), never read.
 *   - Playout starts once `target` frames are queued (prefill), so the first late batch finds a
 *     cushion.
 *   - A tick with nothing queued is an underrun: the consumer plays silence and playout holds
 *     its place. The producer is steady, so the frame it owes arrives with its next batch and the
 *     cushion is one frame deeper from then on; the target grows by one frame (up to
 *     `maxTargetFrames`) per run of empty ticks, so the deeper cushion is not shed again. (Refilling
 *     to the target before playing again would add one or two more silent frames per underrun.)
 *   - A buffer that never went below `target` frames over a whole window is running fast (the
 *     sender's clock is ahead of the card's, or a burst left a surplus): one frame is dropped, so
 *     latency stays bounded. A long run without underruns lowers the target again by one frame.
 *   - Arrivals beyond `capacityFrames` drop the oldest frame (an overrun).
 */
import { FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';

export interface FramePlayoutOptions {
  /** Frames queued before playout starts, and the least cushion kept. */
  startFrames?: number;
  /** The deepest the target grows after underruns. */
  maxTargetFrames?: number;
  /** Frames the buffer holds at most. */
  capacityFrames?: number;
  /** Ticks over which a standing surplus is measured before one frame is dropped. */
  drainWindowTicks?: number;
  /** Ticks without an underrun after which the target shrinks by one frame. */
  relaxAfterTicks?: number;
}

export interface FramePlayoutDump {
  framesIn: number;
  framesOut: number;
  /** Ticks with nothing to play while playing. */
  underruns: number;
  /** Frames dropped because the buffer was full. */
  overruns: number;
  /** Frames dropped to shed a standing surplus. */
  drained: number;
  /** Ticks spent filling up to the target before playout starts. */
  prefillTicks: number;
  queued: number;
  targetFrames: number;
  playing: boolean;
}

export class FramePlayout {
  private readonly ring: Int16Array;
  private readonly out = new Int16Array(FRAME_SAMPLES);
  private head = 0;
  private count = 0;
  private playing = false;
  /** The previous tick was an underrun: one run of empty ticks deepens the target once. */
  private dry = false;
  private target: number;
  private readonly start: number;
  private readonly maxTarget: number;
  private readonly capacity: number;
  private readonly drainWindow: number;
  private readonly relaxAfter: number;
  private windowTicks = 0;
  private windowMin = Infinity;
  private sinceUnderrun = 0;
  private readonly stats = {
    framesIn: 0,
    framesOut: 0,
    underruns: 0,
    overruns: 0,
    drained: 0,
    prefillTicks: 0,
  };

  constructor(o: FramePlayoutOptions = {}) {
    this.start = Math.max(1, o.startFrames ?? 2);
    this.maxTarget = Math.max(this.start, o.maxTargetFrames ?? 8);
    this.capacity = Math.max(this.maxTarget + 2, o.capacityFrames ?? 16);
    this.drainWindow = o.drainWindowTicks ?? 100;
    this.relaxAfter = o.relaxAfterTicks ?? 3000;
    this.target = this.start;
    this.ring = new Int16Array(FRAME_SAMPLES * this.capacity);
  }

  /** One received frame (copied). */
  push(frame: Int16Array): void {
    if (this.count === this.capacity) {
      this.drop();
      this.stats.overruns++;
    }
    this.ring.set(
      frame.subarray(0, FRAME_SAMPLES),
      ((this.head + this.count) % this.capacity) * FRAME_SAMPLES,
    );
    this.count++;
    this.stats.framesIn++;
  }

  /**
   * One tick of the consumer's clock: the frame to play (a view valid until the next call), or
   * undefined when the consumer plays silence (prefill or underrun).
   */
  pull(): Int16Array | undefined {
    if (!this.playing) {
      if (this.count < this.target) {
        this.stats.prefillTicks++;
        return undefined;
      }
      this.playing = true;
      this.windowTicks = 0;
      this.windowMin = Infinity;
    }
    if (this.count === 0) {
      this.stats.underruns++;
      if (!this.dry) this.target = Math.min(this.maxTarget, this.target + 1);
      this.dry = true;
      this.sinceUnderrun = 0;
      this.windowMin = 0;
      return undefined;
    }
    this.dry = false;
    const start = this.head * FRAME_SAMPLES;
    this.out.set(this.ring.subarray(start, start + FRAME_SAMPLES));
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.stats.framesOut++;
    this.windowMin = Math.min(this.windowMin, this.count);
    if (++this.windowTicks >= this.drainWindow) {
      // Never below `target` left after a tick for a whole window: one frame more than needed.
      if (this.windowMin >= this.target && this.count > 0) {
        this.drop();
        this.stats.drained++;
      }
      this.windowTicks = 0;
      this.windowMin = Infinity;
    }
    if (++this.sinceUnderrun >= this.relaxAfter && this.target > this.start) {
      this.target--;
      this.sinceUnderrun = 0;
    }
    return this.out;
  }

  private drop(): void {
    this.head = (this.head + 1) % this.capacity;
    this.count--;
  }

  get queued(): number {
    return this.count;
  }

  dump(): FramePlayoutDump {
    return { ...this.stats, queued: this.count, targetFrames: this.target, playing: this.playing };
  }
}
