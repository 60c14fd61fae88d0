/**
 * Recorder tap: one per interaction, producing the stereo stream of its recording — the caller on
 * the left channel, everything else the gateway plays to the caller (agents, supervisors who barge,
 * IVR prompts) mixed on the right.
 *
 * The tap is sans-I/O and clocked by the engine's common 20 ms frame clock: each `tick()` writes
 * exactly one stereo frame, taking at most one queued frame per attached leg. A leg that delivered
 * nothing this tick contributes silence, so both channels advance together and stay aligned to
 * within one frame whatever either side does. Legs attach and detach as the interaction moves
 * (transfer, re-INVITE to a new leg, consult): the tap and its file outlive them.
 *
 * Frames leave in batches of `batchFrames` (200 ms by default) through `sink`, which takes ownership
 * of the array so it can be transferred to the recorder worker without a copy.
 *
 * Packets reach the tap with network and timer jitter around the clock's 20 ms ticks. Taken as they
 * come, a frame that arrives just after its tick leaves a hole of silence and makes that side one
 * frame later for the rest of the call (until the queue overflows), so the channels drift apart.
 * With `playoutFrames` above one each leg is played out like a jitter buffer: it starts (and, after
 * running dry, restarts) only once that many frames are queued, which absorbs up to
 * `playoutFrames - 1` frames of jitter. When the feed gives each frame's RTP timestamp, the tap
 * also keeps the leg's timeline: a tick with nothing writes silence in place of the frame due, and
 * that frame, arriving late (after a stall of the worker or the network), is dropped rather than
 * played one slot late, so a hiccup leaves a hole but never shifts the rest of the channel. When,
 * over `driftWindowFrames` ticks, a leg never had fewer than `playoutFrames` frames left after its
 * tick, its oldest frame is dropped, so a burst after a stall does not leave that side late for good.
 */
import {
  FRAME_MS,
  FRAME_SAMPLES,
  STEREO_FRAME_SAMPLES,
  saturate16,
} from '../../../../base/signal/pcm-frame.ts';

export type TapSide = 'caller' | 'other';

export interface RecorderTapOptions {
  interactionId: string;
  sink: (interactionId: string, stereoFrames: Int16Array) => void;
  /** Frames per batch handed to the sink; bounds what a crash of this process loses on top of the writer's flush interval. */
  batchFrames?: number;
  /**
   * The sink copies what it is given before returning (a view of the tap's own batch, reused):
   * no allocation per batch. Otherwise the sink owns each batch.
   */
  reuseBatch?: boolean;
  /** Frames a leg may queue ahead of the clock before the oldest is dropped. */
  maxQueuedFrames?: number;
  /** Frames a leg queues before it is played out, at its start and after it ran dry (default 1). */
  playoutFrames?: number;
  /** Ticks over which a leg's surplus is measured before one frame is dropped; 0 (default) never. */
  driftWindowFrames?: number;
}

interface TapLeg {
  side: TapSide;
  queue: Int16Array[];
  /** RTP timestamp of each queued frame's first sample (NaN when the feed gave none). */
  stamps: number[];
  /** Spare frame buffers, reused so a steady stream allocates nothing. */
  spare: Int16Array[];
  /** Played out (true) or filling up to `playoutFrames` (false). */
  playing: boolean;
  /** Timestamp due at the next tick while playing timestamped frames; NaN otherwise. */
  nextTs: number;
  /** Consecutive ticks a playing leg had nothing. */
  starved: number;
  /** Fewest frames left after a tick in the current drift window. */
  leastLeft: number;
}

/** A timestamp this far from the one due (1 s) is another timeline: a new source, a resumed hold. */
const RESYNC_SAMPLES = 8000;
/** A playing leg that had nothing for this many ticks (500 ms) fills up again before it plays. */
const STARVED_TICKS = 25;

/** Signed distance from `b` to `a` in RTP timestamp arithmetic (modulo 2^32). */
function tsDistance(a: number, b: number): number {
  return (a - b) | 0;
}

export interface RecorderTapStats {
  frames: number;
  /** Ticks where a side had no leg attached or no frame from an attached leg (written as silence). */
  callerSilentFrames: number;
  otherSilentFrames: number;
  overflowDropped: number;
  /** Timestamped frames that arrived after their slot was written (as silence). */
  lateDropped: number;
  /** Frames dropped because a leg stayed ahead of its playout depth for a whole drift window. */
  driftDropped: number;
}

export interface RecorderTapDump {
  interactionId: string;
  closed: boolean;
  /** The legs attached now, with the frames each has queued. */
  legs: Array<{ id: string; side: TapSide; queued: number }>;
  stats: RecorderTapStats;
  durationMs: number;
}

export class RecorderTap {
  readonly interactionId: string;
  private readonly sink: RecorderTapOptions['sink'];
  private readonly batchFrames: number;
  private readonly maxQueued: number;
  private readonly playout: number;
  private readonly driftWindow: number;
  private ticksInWindow = 0;
  private readonly legs = new Map<string, TapLeg>();
  private readonly left = new Int32Array(FRAME_SAMPLES);
  private readonly right = new Int32Array(FRAME_SAMPLES);
  /** Frames heard at the current tick, per side (reused). */
  private readonly callerFrames: Int16Array[] = [];
  private readonly otherFrames: Int16Array[] = [];
  private batch: Int16Array;
  private batchUsed = 0;
  private readonly reuseBatch: boolean;
  private closed = false;
  readonly stats: RecorderTapStats = {
    frames: 0,
    callerSilentFrames: 0,
    otherSilentFrames: 0,
    overflowDropped: 0,
    lateDropped: 0,
    driftDropped: 0,
  };

  constructor(opts: RecorderTapOptions) {
    this.interactionId = opts.interactionId;
    this.sink = opts.sink;
    this.batchFrames = Math.max(1, opts.batchFrames ?? 10);
    this.maxQueued = Math.max(1, opts.maxQueuedFrames ?? 3);
    this.playout = Math.min(this.maxQueued, Math.max(1, opts.playoutFrames ?? 1));
    this.driftWindow = Math.max(0, opts.driftWindowFrames ?? 0);
    this.batch = new Int16Array(this.batchFrames * STEREO_FRAME_SAMPLES);
    this.reuseBatch = opts.reuseBatch ?? false;
  }

  get durationMs(): number {
    return this.stats.frames * FRAME_MS;
  }

  attach(legId: string, side: TapSide): void {
    if (this.closed) return;
    const leg = this.legs.get(legId);
    if (leg) leg.side = side;
    else
      this.legs.set(legId, {
        side,
        queue: [],
        stamps: [],
        spare: [],
        playing: false,
        nextTs: NaN,
        starved: 0,
        leastLeft: Infinity,
      });
  }

  detach(legId: string): void {
    this.legs.delete(legId);
  }

  /**
   * A frame from a leg (copied), with the RTP timestamp of its first sample when known; played out
   * on a coming tick. Unattached legs are ignored.
   */
  put(legId: string, frame: Int16Array, timestamp?: number): void {
    const leg = this.legs.get(legId);
    if (!leg || frame.length !== FRAME_SAMPLES) return;
    const ts = timestamp === undefined ? NaN : timestamp >>> 0;
    if (!Number.isNaN(ts) && !Number.isNaN(leg.nextTs)) {
      const d = tsDistance(ts, leg.nextTs);
      if (d <= -FRAME_SAMPLES && d > -RESYNC_SAMPLES) {
        // Its slot has been written already (as silence): playing it now would shift the channel.
        this.stats.lateDropped++;
        return;
      }
      if (d <= -RESYNC_SAMPLES || d >= RESYNC_SAMPLES) this.restart(leg);
    }
    if (leg.queue.length >= this.maxQueued) {
      this.dropOldest(leg);
      this.stats.overflowDropped++;
    }
    const buf = leg.spare.pop() ?? new Int16Array(FRAME_SAMPLES);
    buf.set(frame);
    leg.queue.push(buf);
    leg.stamps.push(ts);
  }

  /** Another timeline: what is queued is dropped and the leg fills up again. */
  private restart(leg: TapLeg): void {
    for (const f of leg.queue) leg.spare.push(f);
    leg.queue.length = 0;
    leg.stamps.length = 0;
    leg.playing = false;
    leg.nextTs = NaN;
  }

  /** Drop the oldest queued frame; a playing timestamped leg then owes the next one. */
  private dropOldest(leg: TapLeg): void {
    const old = leg.queue.shift();
    leg.stamps.shift();
    if (old) leg.spare.push(old);
    const head = leg.stamps[0];
    if (leg.playing && !Number.isNaN(leg.nextTs) && head !== undefined && !Number.isNaN(head))
      leg.nextTs = head;
  }

  /** The frame a leg plays at this tick, if any (its buffer goes back to `spare` after mixing). */
  private take(leg: TapLeg): Int16Array | undefined {
    if (!leg.playing && leg.queue.length >= this.playout) {
      leg.playing = true;
      leg.starved = 0;
      leg.nextTs = leg.stamps[0] ?? NaN;
    }
    if (!leg.playing) return undefined;
    const timed = !Number.isNaN(leg.nextTs);
    if (leg.queue.length === 0) {
      // Untimed frames: play again once refilled. Timed: keep the timeline through a short gap
      // (its late frames are dropped), refill after a long one (hold, silence suppression).
      if (!timed || ++leg.starved >= STARVED_TICKS) {
        leg.playing = false;
        leg.nextTs = NaN;
      } else leg.nextTs = (leg.nextTs + FRAME_SAMPLES) >>> 0;
      return undefined;
    }
    leg.starved = 0;
    const head = leg.stamps[0] ?? NaN;
    if (timed && !Number.isNaN(head) && tsDistance(head, leg.nextTs) >= FRAME_SAMPLES) {
      // A frame was lost in the network: its slot is silence, the next one plays on time.
      leg.nextTs = (leg.nextTs + FRAME_SAMPLES) >>> 0;
      return undefined;
    }
    leg.stamps.shift();
    if (timed) leg.nextTs = Number.isNaN(head) ? NaN : (head + FRAME_SAMPLES) >>> 0;
    return leg.queue.shift();
  }

  /** One tick of the common frame clock: one stereo frame, silence where a side had nothing. */
  tick(): void {
    if (this.closed) return;
    const callerFrames = this.callerFrames;
    const otherFrames = this.otherFrames;
    callerFrames.length = 0;
    otherFrames.length = 0;
    const windowEnds = this.driftWindow > 0 && ++this.ticksInWindow >= this.driftWindow;
    if (windowEnds) this.ticksInWindow = 0;
    for (const leg of this.legs.values()) {
      const frame = this.take(leg);
      leg.leastLeft = Math.min(leg.leastLeft, leg.playing ? leg.queue.length : 0);
      if (windowEnds) {
        if (leg.leastLeft >= this.playout && leg.queue.length > 0) {
          this.dropOldest(leg);
          this.stats.driftDropped++;
        }
        leg.leastLeft = Infinity;
      }
      if (!frame) continue;
      (leg.side === 'caller' ? callerFrames : otherFrames).push(frame);
      // Back to the pool: it is only read below, before any `put` can refill it.
      leg.spare.push(frame);
    }
    if (callerFrames.length === 0) this.stats.callerSilentFrames++;
    if (otherFrames.length === 0) this.stats.otherSilentFrames++;
    const base = this.batchUsed * STEREO_FRAME_SAMPLES;
    this.writeChannel(callerFrames, this.left, base);
    this.writeChannel(otherFrames, this.right, base + 1);
    this.stats.frames++;
    if (++this.batchUsed === this.batchFrames) this.flush();
  }

  /**
   * One channel of the stereo frame at `at` (every other sample): silence, the one frame heard
   * as it is, or several mixed with saturation.
   */
  private writeChannel(frames: Int16Array[], acc: Int32Array, at: number): void {
    const b = this.batch;
    const only = frames.length === 1 ? frames[0] : undefined;
    if (frames.length === 0) {
      for (let i = 0; i < FRAME_SAMPLES; i++) b[at + 2 * i] = 0;
    } else if (only !== undefined) {
      for (let i = 0; i < FRAME_SAMPLES; i++) b[at + 2 * i] = only[i] ?? 0;
    } else {
      acc.fill(0);
      for (const f of frames) for (let i = 0; i < FRAME_SAMPLES; i++) acc[i] = (acc[i] ?? 0) + (f[i] ?? 0);
      for (let i = 0; i < FRAME_SAMPLES; i++) b[at + 2 * i] = saturate16(acc[i] ?? 0);
    }
  }

  /** Hand the partial batch to the sink now (before close, or on a hold where latency matters). */
  flush(): void {
    if (this.batchUsed === 0) return;
    if (this.reuseBatch) {
      const used = this.batchUsed * STEREO_FRAME_SAMPLES;
      this.batchUsed = 0;
      this.sink(this.interactionId, this.batch.subarray(0, used));
      return;
    }
    const full = this.batchUsed === this.batchFrames;
    const out = full ? this.batch : this.batch.slice(0, this.batchUsed * STEREO_FRAME_SAMPLES);
    // The sink owns what it gets (it may transfer the buffer): start a fresh batch.
    if (full) this.batch = new Int16Array(this.batchFrames * STEREO_FRAME_SAMPLES);
    this.batchUsed = 0;
    this.sink(this.interactionId, out);
  }

  close(): { frames: number; durationMs: number } {
    if (!this.closed) {
      this.flush();
      this.closed = true;
      this.legs.clear();
    }
    return { frames: this.stats.frames, durationMs: this.durationMs };
  }

  dump(): RecorderTapDump {
    return {
      interactionId: this.interactionId,
      closed: this.closed,
      legs: [...this.legs.entries()].map(([id, l]) => ({ id, side: l.side, queued: l.queue.length })),
      stats: { ...this.stats },
      durationMs: this.durationMs,
    };
  }
}
