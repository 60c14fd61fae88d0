/**
 * The recordings of one relay worker: a `RecorderTap` per recorded interaction, ticked by the
 * worker's 20 ms frame clock, and the way their frames leave the worker.
 *
 * With a port to the recorder thread (the normal case) every tap's frames go there directly: each
 * `shipEveryTicks` ticks (200 ms) every tap hands over what it made since, and ONE message carries
 * all of it (`RecordingShipper`). The signalling thread is out of the data path. A tap that stops
 * ships its last frames at once; `recording-stopped` goes to the engine only when the recorder has
 * answered that they are written, so the engine's close of the file cannot overtake them.
 *
 * Without that port (an engine whose recorder has none) each recording's frames go to the engine as
 * `recording` messages, in order with `recording-stopped` on the same port.
 */
import type { MessagePort } from 'node:worker_threads';
import { STEREO_FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import { RecorderTap } from './recorder.ts';
import { RecordingShipper, type RecordingBatch, type RecordingEndedAck } from './recording-shipper.ts';
import type { FromWorker } from '../worker/worker-protocol.ts';

export interface WorkerRecordingsOptions {
  /** The recorder thread's port for this worker; undefined: frames go to the engine. */
  recorderPort: MessagePort | undefined;
  /** To the engine. */
  post: (m: FromWorker, transfer?: ArrayBuffer[]) => void;
  /** Ticks between shipments (10: 200 ms). */
  shipEveryTicks?: number;
  /** How long a stopped recording waits for the recorder's answer before it is reported anyway. */
  ackTimeoutMs?: number;
}

export interface WorkerRecordingsDump {
  active: number;
  awaitingAck: number;
  ackTimeouts: number;
  direct: boolean;
  shipper: ReturnType<RecordingShipper['dump']>;
}

interface Stopped {
  frames: number;
  durationMs: number;
  timer: ReturnType<typeof setTimeout>;
}

export class WorkerRecordings {
  private readonly taps = new Map<string, { tap: RecorderTap; legs: number[] }>();
  private readonly shipper: RecordingShipper;
  private readonly shipEvery: number;
  private readonly ackTimeoutMs: number;
  private ticks = 0;
  private readonly awaiting = new Map<string, Stopped>();
  private ackTimeouts = 0;
  private readonly port: MessagePort | undefined;

  constructor(private readonly opts: WorkerRecordingsOptions) {
    this.port = opts.recorderPort;
    this.shipEvery = Math.max(1, opts.shipEveryTicks ?? 10);
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 2000;
    const port = this.port;
    this.shipper = new RecordingShipper(
      port ? (batch, transfer) => port.postMessage(batch, transfer) : (batch) => this.toEngine(batch),
    );
    if (port) {
      port.on('message', (m: RecordingEndedAck) => {
        if (m.t === 'ended') for (const id of m.ids) this.reportStopped(id);
      });
      // The worker's lifetime is its engine's business, not this port's.
      port.unref();
    }
  }

  get size(): number {
    return this.taps.size;
  }

  /** A new tap for `recordingId` over these legs; undefined when it is recorded already. */
  start(recordingId: string, legs: number[]): RecorderTap | undefined {
    if (this.taps.has(recordingId)) return undefined;
    const tap = new RecorderTap({
      interactionId: recordingId,
      maxQueuedFrames: 5,
      // One frame of cushion against arrival jitter around the ticks, and no lasting surplus.
      playoutFrames: 2,
      driftWindowFrames: 50,
      // Larger than a shipment: a tap hands its frames over only when the shipment goes.
      batchFrames: this.shipEvery + 6,
      reuseBatch: true,
      sink: (id, frames) => this.shipper.add(id, frames),
    });
    this.taps.set(recordingId, { tap, legs: [...legs] });
    return tap;
  }

  /** The running tap of `recordingId`, with `legId` counted among its legs (unplugged at stop). */
  attach(recordingId: string, legId: number): RecorderTap | undefined {
    const r = this.taps.get(recordingId);
    if (!r) return undefined;
    if (!r.legs.includes(legId)) r.legs.push(legId);
    return r.tap;
  }

  /**
   * Stop the tap: its last frames leave now, and `recording-stopped` follows once they are
   * written (or at once without a recorder port). Returns the tap and its legs, to unplug them.
   */
  stop(recordingId: string): { tap: RecorderTap; legs: number[] } | undefined {
    const r = this.taps.get(recordingId);
    if (!r) {
      this.opts.post({ t: 'recording-stopped', recordingId, frames: 0, durationMs: 0 });
      return undefined;
    }
    this.taps.delete(recordingId);
    const done = r.tap.close();
    this.shipper.end(recordingId);
    this.shipper.ship();
    if (this.port) {
      const timer = setTimeout(() => {
        this.ackTimeouts++;
        this.reportStopped(recordingId);
      }, this.ackTimeoutMs);
      this.awaiting.set(recordingId, { ...done, timer });
    } else this.opts.post({ t: 'recording-stopped', recordingId, ...done });
    return r;
  }

  /** One 20 ms frame of every tap; every `shipEveryTicks` the frames go out together. */
  tick(): void {
    for (const r of this.taps.values()) r.tap.tick();
    if (++this.ticks < this.shipEvery) return;
    this.ticks = 0;
    for (const r of this.taps.values()) r.tap.flush();
    this.shipper.ship();
  }

  dump(): WorkerRecordingsDump {
    return {
      active: this.taps.size,
      awaitingAck: this.awaiting.size,
      ackTimeouts: this.ackTimeouts,
      direct: this.port !== undefined,
      shipper: this.shipper.dump(),
    };
  }

  private reportStopped(recordingId: string): void {
    const s = this.awaiting.get(recordingId);
    if (!s) return;
    clearTimeout(s.timer);
    this.awaiting.delete(recordingId);
    this.opts.post({ t: 'recording-stopped', recordingId, frames: s.frames, durationMs: s.durationMs });
  }

  /** No recorder port: each segment to the engine, in order, its own buffer transferred. */
  private toEngine(batch: RecordingBatch): void {
    let at = 0;
    for (let i = 0; i < batch.ids.length; i++) {
      const len = (batch.frames[i] ?? 0) * STEREO_FRAME_SAMPLES;
      const samples = batch.samples.slice(at, at + len);
      at += len;
      this.opts.post({ t: 'recording', recordingId: batch.ids[i] ?? '', samples }, [samples.buffer]);
    }
  }
}
