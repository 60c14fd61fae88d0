/**
 * Adaptive jitter buffer for the RTP audio the gateway itself consumes (IVR, mixer, recorder,
 * PSTN legs). Packets go in as they arrive, stamped by the injected clock; one 20 ms frame comes out
 * per tick of the engine's frame clock, whatever the network did.
 *
 * Positions come from the RTP timestamp, not the sequence number: "The timestamp reflects the
 * sampling instant of the first octet in the RTP data packet" (RFC 3550 §5.1), so gaps from silence
 * suppression and from loss look alike and a frame's place in time is exact. 32-bit timestamps are
 * unwrapped; frame index = (timestamp − base) / 160.
 *
 * Delay policy:
 * - Jitter is measured as the spread of relative transit time (arrival − media time, RFC 3550
 *   §6.4.1's D(i,j) without the smoothing) over the last five one-second buckets, which is O(1) per
 *   packet and follows bursty jitter (a 100 ms stall counts fully) rather than the mean deviation.
 * - Target delay = spread + 10 ms, rounded up to whole frames, kept within [minDelayMs, maxDelayMs].
 *   It grows at once and shrinks by at most one frame per second.
 * - The actual delay grows when the buffer runs dry (the frame is held rather than skipped: its
 *   packet is late, not lost) and when a packet arrives after its frame was played (the delay grows
 *   by how late it was). It shrinks by dropping one frame a second while every packet in the last
 *   second arrived with at least one frame to spare and the delay exceeds the target.
 * - Sender clock skew therefore resolves itself: a fast sender causes periodic drops, a slow one
 *   periodic holds.
 * - A missing frame is concealed by repeating the last frame at −6 dB per repetition for three
 *   frames, then silence (or silence at once, by option); every synthetic frame is counted.
 * - An SSRC change, or a timestamp more than a second away from the playout point, resets the
 *   buffer (new source after a re-INVITE or transfer, or a sender that restarted its clock).
 */
import type { Clock } from '../../../../base/clock.ts';
import { FRAME_MS, FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';

export interface JitterBufferOptions {
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Delay used before any jitter has been measured. */
  initialDelayMs?: number;
  concealment?: 'repeat' | 'silence';
  /** Timestamps further than this from the playout point mean a new stream. */
  resetAfterMs?: number;
  /**
   * An excess delay of up to this many frames over the target is shed only by dropping a quiet
   * frame (a pause between words, where the drop is inaudible) rather than whatever frame is due;
   * a larger excess is shed at once, latency mattering more than a click. 0 (the default) sheds
   * any frame.
   */
  quietShedFrames?: number;
}

/** Mean absolute sample value under which a frame counts as quiet (about −45 dBm0). */
const QUIET_MEAN_ABS = 40;

function isQuiet(frame: Int16Array): boolean {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += Math.abs(frame[i] ?? 0);
  return sum < QUIET_MEAN_ABS * frame.length;
}

export interface JitterPacket {
  sequenceNumber: number;
  timestamp: number;
  ssrc?: number;
  /** One decoded 20 ms frame (160 samples); copied in, so the caller may reuse it. */
  frame: Int16Array;
}

export type PushOutcome = 'queued' | 'late' | 'duplicate' | 'reset' | 'invalid';
export type PullKind = 'audio' | 'concealed' | 'silence';
export type JitterBufferState = 'empty' | 'buffering' | 'playing' | 'closed';

export interface JitterBufferStats {
  received: number;
  played: number;
  concealed: number;
  lost: number;
  late: number;
  duplicate: number;
  held: number;
  dropped: number;
  skipped: number;
  resets: number;
  invalid: number;
}

export interface JitterBufferDump {
  state: JitterBufferState;
  /** The stream's SSRC, once a packet gave one. */
  ssrc: number | undefined;
  targetDelayMs: number;
  jitterMs: number;
  depthFrames: number;
  stats: JitterBufferStats;
}

const CAPACITY = 128; // slots; must exceed the reset distance in frames plus the maximum delay
const BUCKETS = 5;
const BUCKET_MS = 1000;
const JITTER_MARGIN_MS = 10;
const ADAPT_WINDOW_MS = 1000;
const CONCEAL_REPEATS = 3;
/** A gap this much beyond the target after running dry is a new talkspurt, not a few lost packets. */
const TALKSPURT_GAP_FRAMES = 3;

export class JitterBuffer {
  private _state: JitterBufferState = 'empty';
  private readonly minFrames: number;
  private readonly maxFrames: number;
  private readonly resetFrames: number;
  private readonly concealment: 'repeat' | 'silence';

  private readonly storage = new Int16Array(CAPACITY * FRAME_SAMPLES);
  private readonly slots: Int16Array[] = [];
  private readonly slotIndex = new Float64Array(CAPACITY).fill(-Infinity);
  /** Frame indices recently played from real packets, to tell duplicates from late packets. */
  private readonly playedIndex = new Float64Array(CAPACITY).fill(-Infinity);
  private readonly lastFrame = new Int16Array(FRAME_SAMPLES);
  private readonly concealFrame = new Int16Array(FRAME_SAMPLES);
  private readonly silence = new Int16Array(FRAME_SAMPLES);

  private ssrc: number | undefined;
  private lastTs = 0;
  private extTs = 0;
  private baseTs = 0;
  private firstArrivalMs = 0;
  private playIndex = 0;
  private highest = -Infinity;
  private concealRun = 0;
  private holding = false;
  private stretch = 0;
  private readonly quietShedFrames: number;
  /** The last window asked for a frame to be dropped, at the next quiet frame. */
  private shedWanted = false;

  private targetFrames: number;
  private lastTargetDropMs = 0;
  private readonly bucketId = new Float64Array(BUCKETS).fill(-Infinity);
  private readonly bucketMin = new Float64Array(BUCKETS);
  private readonly bucketMax = new Float64Array(BUCKETS);
  private windowStartMs = 0;
  private windowMinSlack = Infinity;
  private windowMaxSlack = -Infinity;

  /** What the last pull() returned. */
  lastPull: PullKind = 'silence';
  readonly stats: JitterBufferStats = {
    received: 0,
    played: 0,
    concealed: 0,
    lost: 0,
    late: 0,
    duplicate: 0,
    held: 0,
    dropped: 0,
    skipped: 0,
    resets: 0,
    invalid: 0,
  };

  constructor(
    private readonly clock: Clock,
    opts: JitterBufferOptions = {},
  ) {
    this.minFrames = Math.max(1, Math.ceil((opts.minDelayMs ?? 20) / FRAME_MS));
    this.maxFrames = Math.max(this.minFrames, Math.ceil((opts.maxDelayMs ?? 200) / FRAME_MS));
    this.resetFrames = Math.min(
      CAPACITY - this.maxFrames * 2 - 1,
      Math.ceil((opts.resetAfterMs ?? 1000) / FRAME_MS),
    );
    this.concealment = opts.concealment ?? 'repeat';
    this.quietShedFrames = Math.max(0, Math.floor(opts.quietShedFrames ?? 0));
    this.targetFrames = this.clampFrames(Math.ceil((opts.initialDelayMs ?? 60) / FRAME_MS));
    for (let i = 0; i < CAPACITY; i++)
      this.slots.push(this.storage.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES));
  }

  get state(): JitterBufferState {
    return this._state;
  }

  get targetDelayMs(): number {
    return this.targetFrames * FRAME_MS;
  }

  /** Peak-to-peak relative transit over the last five seconds. */
  get jitterMs(): number {
    let lo = Infinity;
    let hi = -Infinity;
    for (let b = 0; b < BUCKETS; b++) {
      if (this.bucketId[b] === -Infinity) continue;
      lo = Math.min(lo, this.bucketMin[b] ?? Infinity);
      hi = Math.max(hi, this.bucketMax[b] ?? -Infinity);
    }
    return hi >= lo ? hi - lo : 0;
  }

  /** Frames held, from the playout point to the newest. */
  get depthFrames(): number {
    return this.highest >= this.playIndex ? this.highest - this.playIndex + 1 : 0;
  }

  push(p: JitterPacket): PushOutcome {
    if (this._state === 'closed') return 'invalid';
    if (p.frame.length !== FRAME_SAMPLES) {
      this.stats.invalid++;
      return 'invalid';
    }
    const now = this.clock.now();
    const ts = p.timestamp >>> 0;
    let outcome: PushOutcome = 'queued';
    if (this._state !== 'empty' && p.ssrc !== undefined && this.ssrc !== undefined && p.ssrc !== this.ssrc) {
      this.reset();
      outcome = 'reset';
    }
    if (this._state === 'empty') {
      this.start(p, ts, now);
      this.store(0, p.frame);
      this.stats.received++;
      return outcome;
    }
    // Unwrap: the signed 32-bit difference to the previous timestamp.
    const ext = this.extTs + ((ts - this.lastTs) | 0);
    const index = Math.round((ext - this.baseTs) / FRAME_SAMPLES);
    if (Math.abs(index - this.playIndex) > this.resetFrames) {
      this.reset();
      this.start(p, ts, now);
      this.store(0, p.frame);
      this.stats.received++;
      return 'reset';
    }
    if (ext > this.extTs) {
      this.extTs = ext;
      this.lastTs = ts;
    }
    this.measure(index, now);

    if (
      this._state === 'buffering' &&
      index < this.playIndex &&
      this.playIndex - index <= this.targetFrames
    ) {
      // A reordered packet older than the first one seen: start the stream from it.
      this.playIndex = index;
    }
    if (index < this.playIndex) {
      const slot = index & (CAPACITY - 1);
      if (this.playedIndex[slot] === index) {
        this.stats.duplicate++;
        return 'duplicate';
      }
      this.stats.late++;
      // It missed its turn by this many frames: grow the delay by as much, up to the maximum.
      const room = this.maxFrames - this.depthFrames;
      this.stretch = Math.max(this.stretch, Math.min(this.playIndex - index, room));
      return 'late';
    }
    const slot = index & (CAPACITY - 1);
    if (this.slotIndex[slot] === index) {
      this.stats.duplicate++;
      return 'duplicate';
    }
    if (this._state === 'playing') {
      const slack = index - this.playIndex;
      if (this.holding && slack > this.targetFrames + TALKSPURT_GAP_FRAMES) {
        // After running dry the stream resumes past a gap (silence suppression, or a stall that lost
        // packets): start it like a new talkspurt, the target delay ahead of this packet.
        this.skipTo(index - this.targetFrames);
      } else if (slack >= 2 * this.maxFrames) {
        // More than twice the maximum delay queued (a burst after a long stall): catch up.
        this.skipTo(index - this.targetFrames);
      }
      const s = index - this.playIndex;
      if (s < this.windowMinSlack) this.windowMinSlack = s;
      if (s > this.windowMaxSlack) this.windowMaxSlack = s;
    }
    this.store(index, p.frame);
    this.stats.received++;
    return outcome;
  }

  /** One frame for this 20 ms tick. The returned array is valid until the next pull. */
  pull(): Int16Array {
    const now = this.clock.now();
    switch (this._state) {
      case 'empty':
      case 'closed':
        return this.emitSilence();
      case 'buffering':
        if (now - this.firstArrivalMs < this.targetFrames * FRAME_MS) return this.emitSilence();
        this._state = 'playing';
        this.windowStartMs = now;
        break;
      case 'playing':
        break;
      default: {
        const never: never = this._state;
        throw new Error(`unreachable state ${String(never)}`);
      }
    }
    this.adapt(now);
    if (this.stretch > 0) {
      this.stretch--;
      this.stats.held++;
      return this.emitConceal();
    }
    if (this.shedWanted) this.shedIfQuiet();
    const slot = this.playIndex & (CAPACITY - 1);
    if (this.slotIndex[slot] === this.playIndex) {
      this.holding = false;
      this.slotIndex[slot] = -Infinity;
      this.playedIndex[slot] = this.playIndex;
      this.playIndex++;
      const frame = this.slots[slot] as Int16Array;
      this.lastFrame.set(frame);
      this.concealRun = 0;
      this.stats.played++;
      this.lastPull = 'audio';
      return frame;
    }
    if (this.highest > this.playIndex) {
      // A later frame is here, so this one is lost (or hopelessly late): conceal and move on.
      this.playIndex++;
      this.stats.lost++;
      return this.emitConceal();
    }
    // Nothing queued: the network is late. Hold the playout point, which adds a frame of delay.
    this.holding = true;
    this.stats.held++;
    return this.emitConceal();
  }

  /** Forget the stream (new source). The target delay is kept: the path is usually the same. */
  reset(): void {
    this.slotIndex.fill(-Infinity);
    this.playedIndex.fill(-Infinity);
    this.bucketId.fill(-Infinity);
    this.highest = -Infinity;
    this.stretch = 0;
    this.holding = false;
    this.concealRun = 0;
    this.ssrc = undefined;
    if (this._state !== 'closed') this._state = 'empty';
    this.stats.resets++;
  }

  close(): void {
    this._state = 'closed';
    this.slotIndex.fill(-Infinity);
  }

  dump(): JitterBufferDump {
    return {
      state: this._state,
      ssrc: this.ssrc,
      targetDelayMs: this.targetDelayMs,
      jitterMs: this.jitterMs,
      depthFrames: this.depthFrames,
      stats: { ...this.stats },
    };
  }

  private start(p: JitterPacket, ts: number, now: number): void {
    this._state = 'buffering';
    this.ssrc = p.ssrc;
    this.lastTs = ts;
    this.extTs = ts;
    this.baseTs = ts;
    this.firstArrivalMs = now;
    this.playIndex = 0;
    this.highest = -Infinity;
    this.windowMinSlack = Infinity;
    this.windowMaxSlack = -Infinity;
    this.measure(0, now);
  }

  private store(index: number, frame: Int16Array): void {
    const slot = index & (CAPACITY - 1);
    (this.slots[slot] as Int16Array).set(frame);
    this.slotIndex[slot] = index;
    if (index > this.highest) this.highest = index;
  }

  private skipTo(index: number): void {
    for (let i = this.playIndex; i < index; i++) this.slotIndex[i & (CAPACITY - 1)] = -Infinity;
    this.stats.skipped += Math.max(0, index - this.playIndex);
    this.playIndex = Math.max(this.playIndex, index);
    this.holding = false;
  }

  /** Relative transit into the one-second buckets; the target follows at once upwards. */
  private measure(index: number, now: number): void {
    const transit = now - index * FRAME_MS;
    const id = Math.floor(now / BUCKET_MS);
    const b = ((id % BUCKETS) + BUCKETS) % BUCKETS;
    if (this.bucketId[b] !== id) {
      this.bucketId[b] = id;
      this.bucketMin[b] = transit;
      this.bucketMax[b] = transit;
    } else {
      if (transit < (this.bucketMin[b] ?? transit)) this.bucketMin[b] = transit;
      if (transit > (this.bucketMax[b] ?? transit)) this.bucketMax[b] = transit;
    }
    for (let k = 0; k < BUCKETS; k++)
      if ((this.bucketId[k] ?? 0) <= id - BUCKETS) this.bucketId[k] = -Infinity;
    const wanted = this.clampFrames(Math.ceil((this.jitterMs + JITTER_MARGIN_MS) / FRAME_MS));
    if (wanted > this.targetFrames) {
      this.targetFrames = wanted;
      this.lastTargetDropMs = now;
    } else if (wanted < this.targetFrames && now - this.lastTargetDropMs >= ADAPT_WINDOW_MS) {
      this.targetFrames--;
      this.lastTargetDropMs = now;
    }
  }

  /** Once a second: shrink by one frame if every packet had a frame to spare and the delay is above target. */
  private adapt(now: number): void {
    if (now - this.windowStartMs < ADAPT_WINDOW_MS) return;
    const spare = this.windowMinSlack;
    const delay = this.windowMaxSlack;
    this.windowStartMs = now;
    this.windowMinSlack = Infinity;
    this.windowMaxSlack = -Infinity;
    this.shedWanted = false;
    if (spare === Infinity || spare < 1 || delay <= this.targetFrames) return;
    if (delay <= this.targetFrames + this.quietShedFrames) {
      this.shedWanted = true;
      return;
    }
    const slot = this.playIndex & (CAPACITY - 1);
    if (this.slotIndex[slot] !== this.playIndex) return;
    this.slotIndex[slot] = -Infinity;
    this.playIndex++;
    this.stats.dropped++;
  }

  /**
   * Drop the frame due now if it is quiet and its successor is here (so the drop never causes a
   * concealment): a small excess delay goes in a pause instead of cutting into speech.
   */
  private shedIfQuiet(): void {
    const slot = this.playIndex & (CAPACITY - 1);
    const next = (this.playIndex + 1) & (CAPACITY - 1);
    if (this.slotIndex[slot] !== this.playIndex || this.slotIndex[next] !== this.playIndex + 1) return;
    if (!isQuiet(this.slots[slot] as Int16Array)) return;
    this.slotIndex[slot] = -Infinity;
    this.playIndex++;
    this.stats.dropped++;
    this.shedWanted = false;
  }

  private emitSilence(): Int16Array {
    this.lastPull = 'silence';
    return this.silence;
  }

  private emitConceal(): Int16Array {
    this.stats.concealed++;
    this.lastPull = 'concealed';
    this.concealRun++;
    if (this.concealment === 'silence' || this.concealRun > CONCEAL_REPEATS) {
      this.concealFrame.fill(0);
      return this.concealFrame;
    }
    // −6 dB per repetition: halve the previous output.
    const shift = this.concealRun;
    for (let i = 0; i < FRAME_SAMPLES; i++) this.concealFrame[i] = (this.lastFrame[i] ?? 0) >> shift;
    return this.concealFrame;
  }

  private clampFrames(frames: number): number {
    return Math.min(this.maxFrames, Math.max(this.minFrames, frames));
  }
}
