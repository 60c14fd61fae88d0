/**
 * How a relay worker's recordings reach the recorder thread: straight over a `MessagePort` the
 * recorder handed the worker at start, never through the signalling thread. Every recorder tap of
 * the worker hands its stereo frames here (copied); `ship()` sends all of them in ONE message — one
 * sample buffer, transferred, with the segments' recording ids and frame counts — so the cost per
 * message is paid a few times a second per worker, not per recording.
 *
 * A recording whose tap closed is listed in `ended` of the batch carrying its last frames; the
 * recorder answers `ended` once it has written them, and only then is the file closed (the close
 * comes from the signalling thread, on another port, so it must not overtake the frames).
 */
import { STEREO_FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';

/** What a worker sends the recorder: segments of consecutive stereo frames, back to back. */
export interface RecordingBatch {
  t: 'frames';
  /** Recording id of each segment. */
  ids: string[];
  /** Stereo frames (320 interleaved samples each) of each segment. */
  frames: Int32Array;
  samples: Int16Array;
  /** Recordings whose tap closed: their last frames are in this batch. */
  ended: string[];
}

/** The recorder's answer on the same port: these recordings' frames are all written. */
export interface RecordingEndedAck {
  t: 'ended';
  ids: string[];
}

export interface RecordingShipperDump {
  batches: number;
  frames: number;
  queuedFrames: number;
  capacityFrames: number;
}

export class RecordingShipper {
  private samples: Int16Array;
  private used = 0;
  private ids: string[] = [];
  private counts: number[] = [];
  private ended: string[] = [];
  private batches = 0;
  private frames = 0;

  constructor(
    private readonly send: (batch: RecordingBatch, transfer: ArrayBuffer[]) => void,
    private readonly initialFrames = 256,
  ) {
    this.samples = new Int16Array(initialFrames * STEREO_FRAME_SAMPLES);
  }

  /** Frames of one recording (interleaved stereo, a whole number of frames), copied. */
  add(recordingId: string, stereo: Int16Array): void {
    const n = Math.floor(stereo.length / STEREO_FRAME_SAMPLES);
    if (n === 0) return;
    const len = n * STEREO_FRAME_SAMPLES;
    if (this.used + len > this.samples.length) {
      const grown = new Int16Array(Math.max(this.samples.length * 2, this.used + len));
      grown.set(this.samples.subarray(0, this.used));
      this.samples = grown;
    }
    this.samples.set(len === stereo.length ? stereo : stereo.subarray(0, len), this.used);
    this.used += len;
    // Consecutive frames of one recording extend its segment.
    const last = this.ids.length - 1;
    if (last >= 0 && this.ids[last] === recordingId) this.counts[last] = (this.counts[last] ?? 0) + n;
    else {
      this.ids.push(recordingId);
      this.counts.push(n);
    }
    this.frames += n;
  }

  /** The recording's tap is closed: the next batch says so, after its last frames. */
  end(recordingId: string): void {
    this.ended.push(recordingId);
  }

  get queuedFrames(): number {
    return this.used / STEREO_FRAME_SAMPLES;
  }

  /** Send everything queued as one batch (nothing when nothing is queued). */
  ship(): void {
    if (this.used === 0 && this.ended.length === 0) return;
    const samples = this.samples.subarray(0, this.used);
    const batch: RecordingBatch = {
      t: 'frames',
      ids: this.ids,
      frames: Int32Array.from(this.counts),
      samples,
      ended: this.ended,
    };
    // The buffer leaves with the batch: the next one starts at the size this one needed.
    const capacity = Math.max(this.initialFrames * STEREO_FRAME_SAMPLES, Math.ceil(this.used * 1.25));
    this.samples = new Int16Array(capacity - (capacity % STEREO_FRAME_SAMPLES));
    this.used = 0;
    this.ids = [];
    this.counts = [];
    this.ended = [];
    this.batches++;
    this.send(batch, [samples.buffer as ArrayBuffer, batch.frames.buffer as ArrayBuffer]);
  }

  dump(): RecordingShipperDump {
    return {
      batches: this.batches,
      frames: this.frames,
      queuedFrames: this.queuedFrames,
      capacityFrames: this.samples.length / STEREO_FRAME_SAMPLES,
    };
  }
}
