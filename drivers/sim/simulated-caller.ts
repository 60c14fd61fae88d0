/**
 * A simulated PSTN subscriber calling into the gateway: the office rings the chosen line with the
 * chosen caller ID; once the gateway answers, what the caller plays (digits, a WAV file, tones,
 * frames) goes down the line and what the gateway sends back is recorded.
 */
import { readFile } from 'node:fs/promises';
import type { Clock } from '../../base/clock.ts';
import { err, ok, type Result } from '../../base/result.ts';
import { DtmfDetector } from '../../base/signal/dtmf-detector.ts';
import { DBM0_REFERENCE_PEAK } from '../../base/signal/tone-plan.ts';
import { decodeWavToFrames } from '../../base/signal/wav.ts';
import { DriverErrors, FRAME_SAMPLES, type DriverError } from '../api/types.ts';
import type { CallState, ClearCause, CoCallLike, Party } from './co-types.ts';
import { DEFAULT_DTMF_TIMING, DTMF_DIGITS, SampleQueue, synthesizeDtmf, type DtmfTiming } from './signals.ts';

export type SimulatedCallState = 'alerting' | 'answered' | 'ended';

export type SimulatedCallEvent =
  | { type: 'answered'; atMs: number }
  | {
      type: 'disconnected';
      atMs: number;
      /** Who ended the call: the gateway (hung up), the caller (`hangup()`), the office (busy…). */
      by: 'gateway' | 'caller' | 'office';
      cause: ClearCause | 'busy' | 'congestion';
    };

export interface CallerIdentity {
  number?: string;
  name?: string;
  /** Why the number is withheld (sent in place of a number). */
  withheld?: 'private' | 'out-of-area';
}

export interface RecordingSummary {
  /** Frames heard (the level is their mean). */
  frames: number;
  durationMs: number;
  /** Frames kept for download (`recordedSamples`): none for a call placed with `record: false`. */
  keptFrames: number;
  /** Mean level of everything heard, dBm0 (−Infinity for pure silence, reported as null). */
  levelDbm0: number | null;
  /** DTMF digits heard from the gateway, in order. */
  digits: string;
  /** Frames heard but not kept: beyond the limit, not recorded, or dropped once the call ended. */
  truncatedFrames: number;
}

export interface SimulatedCallSummary {
  id: string;
  line: string;
  callerId: CallerIdentity;
  state: SimulatedCallState;
  startedAtMs: number;
  answeredAtMs: number | null;
  endedAtMs: number | null;
  endedBy: 'gateway' | 'caller' | 'office' | null;
  cause: string | null;
  queuedPlayMs: number;
  recording: RecordingSummary;
}

/** Ten minutes of 20 ms frames. */
export const DEFAULT_MAX_RECORD_FRAMES = 30_000;

/** Frames per block of the recording: one second, so a long call holds few objects. */
const CHUNK_FRAMES = 50;

export class SimulatedCall implements Party {
  private current: SimulatedCallState = 'alerting';
  private call: CoCallLike | null = null;
  private readonly play = new SampleQueue();
  private readonly out = new Int16Array(FRAME_SAMPLES);
  /** What was heard, in blocks of `CHUNK_FRAMES` frames; `kept` frames are filled. */
  private chunks: Int16Array[] = [];
  private kept = 0;
  private heardFrames = 0;
  private heardEnergy = 0;
  private heardSamples = 0;
  private heardDigits = '';
  private readonly detector: DtmfDetector;
  private readonly listeners = new Set<(ev: SimulatedCallEvent) => void>();
  private readonly startedAtMs: number;
  private answeredAtMs: number | null = null;
  private endedAtMs: number | null = null;
  private endedBy: 'gateway' | 'caller' | 'office' | null = null;
  private cause: string | null = null;

  constructor(
    readonly id: string,
    readonly line: string,
    readonly callerId: CallerIdentity,
    private readonly clock: Clock,
    private readonly maxRecordFrames = DEFAULT_MAX_RECORD_FRAMES,
    /** Keep what is heard for download; a load generator keeps only the level and the digits. */
    private readonly recording = true,
  ) {
    this.startedAtMs = clock.now();
    this.detector = new DtmfDetector((ev) => {
      if (ev.type === 'begin') this.heardDigits += ev.digit;
    });
  }

  get label(): string {
    return `caller ${this.id}`;
  }

  get state(): SimulatedCallState {
    return this.current;
  }

  bind(call: CoCallLike): void {
    this.call = call;
  }

  on(listener: (ev: SimulatedCallEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when the call is answered (true) or ends first (false). */
  waitAnswered(): Promise<boolean> {
    if (this.current !== 'alerting') return Promise.resolve(this.current === 'answered');
    return new Promise((resolve) => {
      const off = this.on((ev) => {
        off();
        resolve(ev.type === 'answered');
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // What the caller does.

  sendDigits(digits: string, timing: Partial<DtmfTiming> = {}): Result<void, DriverError> {
    if (!DTMF_DIGITS.test(digits) || digits.length === 0) {
      return err({
        code: DriverErrors.BAD_DIGITS,
        message: `not DTMF digits: ${JSON.stringify(digits)}`,
        field: 'digits',
      });
    }
    const live = this.live();
    if (!live.ok) return live;
    this.play.push(synthesizeDtmf(digits.toUpperCase(), { ...DEFAULT_DTMF_TIMING, ...timing }));
    return ok(undefined);
  }

  playFrames(frames: readonly Int16Array[]): Result<void, DriverError> {
    const live = this.live();
    if (!live.ok) return live;
    for (const f of frames) this.play.push(Int16Array.from(f));
    return ok(undefined);
  }

  playTone(frequenciesHz: number[], levelDbm0: number, durationMs: number): Result<void, DriverError> {
    const live = this.live();
    if (!live.ok) return live;
    if (frequenciesHz.some((f) => !(f > 0 && f < 4000)) || !(durationMs > 0) || !(levelDbm0 <= 3)) {
      return err({
        code: DriverErrors.BAD_FRAME,
        message: 'tone must be 0–4000 Hz, ≤ 3 dBm0, > 0 ms',
        field: 'tone',
      });
    }
    // Rendered as it plays: a long tone costs no memory.
    this.play.pushTone(frequenciesHz, levelDbm0, durationMs);
    return ok(undefined);
  }

  /** Queue a WAV file (PCM 16-bit, A-law or µ-law; 8 or 16 kHz mono). */
  async playWav(path: string): Promise<Result<{ durationMs: number }, DriverError>> {
    const live = this.live();
    if (!live.ok) return live;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      return err({
        code: DriverErrors.BAD_CONFIG,
        message: `cannot read ${path}: ${(e as Error).message}`,
        field: 'wav',
      });
    }
    const decoded = decodeWavToFrames(bytes);
    if (!decoded.ok)
      return err({ code: DriverErrors.BAD_FRAME, message: decoded.error.message, field: 'wav' });
    for (const f of decoded.value.frames) this.play.push(f);
    return ok({ durationMs: decoded.value.frames.length * 20 });
  }

  hangup(): Result<void, DriverError> {
    if (this.current === 'ended') return err({ code: DriverErrors.STATE, message: 'call already ended' });
    const call = this.call;
    this.end('caller', 'normal');
    call?.clear(this, 'normal');
    return ok(undefined);
  }

  /** Copies of the frames kept so far. */
  record(): Int16Array[] {
    const out: Int16Array[] = [];
    for (let i = 0; i < this.kept; i++) out.push(Int16Array.from(this.frameAt(i)));
    return out;
  }

  /** Forget the audio kept (an ended call kept for inspection); the summary stays. */
  dropRecording(): void {
    this.chunks = [];
    this.kept = 0;
  }

  private frameAt(i: number): Int16Array {
    const chunk = this.chunks[Math.floor(i / CHUNK_FRAMES)] ?? new Int16Array(CHUNK_FRAMES * FRAME_SAMPLES);
    const at = (i % CHUNK_FRAMES) * FRAME_SAMPLES;
    return chunk.subarray(at, at + FRAME_SAMPLES);
  }

  /** Everything kept so far as one sample stream. */
  recordedSamples(): Int16Array {
    const out = new Int16Array(this.kept * FRAME_SAMPLES);
    this.chunks.forEach((c, i) => {
      const n = Math.min(CHUNK_FRAMES, this.kept - i * CHUNK_FRAMES) * FRAME_SAMPLES;
      if (n > 0) out.set(c.subarray(0, n), i * CHUNK_FRAMES * FRAME_SAMPLES);
    });
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Party.

  alerting(): void {}

  answered(): void {
    if (this.current !== 'alerting') return;
    this.current = 'answered';
    this.answeredAtMs = this.clock.now();
    this.fire({ type: 'answered', atMs: this.answeredAtMs });
  }

  rejected(cause: 'busy' | 'congestion'): void {
    this.end('office', cause);
  }

  cleared(cause: ClearCause): void {
    this.end(cause === 'ringing-stopped' ? 'office' : 'gateway', cause);
  }

  talk(): Int16Array {
    this.play.fill(this.out);
    return this.out;
  }

  hear(frame: Int16Array): void {
    this.detector.process(frame);
    for (let i = 0; i < frame.length; i++) {
      const x = frame[i] ?? 0;
      this.heardEnergy += x * x;
    }
    this.heardSamples += frame.length;
    this.heardFrames++;
    if (!this.recording || this.kept >= this.maxRecordFrames) return;
    const c = Math.floor(this.kept / CHUNK_FRAMES);
    if (c === this.chunks.length) this.chunks.push(new Int16Array(CHUNK_FRAMES * FRAME_SAMPLES));
    this.frameAt(this.kept).set(frame.subarray(0, FRAME_SAMPLES));
    this.kept++;
  }

  summary(): SimulatedCallSummary {
    const power = this.heardSamples > 0 ? this.heardEnergy / this.heardSamples : 0;
    const zero = (DBM0_REFERENCE_PEAK * DBM0_REFERENCE_PEAK) / 2;
    return {
      id: this.id,
      line: this.line,
      callerId: { ...this.callerId },
      state: this.current,
      startedAtMs: this.startedAtMs,
      answeredAtMs: this.answeredAtMs,
      endedAtMs: this.endedAtMs,
      endedBy: this.endedBy,
      cause: this.cause,
      queuedPlayMs: Math.round(this.play.pendingSamples / 8),
      recording: {
        frames: this.heardFrames,
        durationMs: this.heardFrames * 20,
        keptFrames: this.kept,
        levelDbm0: power > 0 ? Math.round(100 * 10 * Math.log10(power / zero)) / 100 : null,
        digits: this.heardDigits,
        truncatedFrames: this.heardFrames - this.kept,
      },
    };
  }

  dump(): SimulatedCallSummary & { callState: CallState | null } {
    return { ...this.summary(), callState: this.call?.state ?? null };
  }

  close(): void {
    if (this.current !== 'ended') this.hangup();
    this.listeners.clear();
  }

  private live(): Result<void, DriverError> {
    if (this.current === 'ended') return err({ code: DriverErrors.STATE, message: 'call has ended' });
    return ok(undefined);
  }

  private end(by: 'gateway' | 'caller' | 'office', cause: ClearCause | 'busy' | 'congestion'): void {
    if (this.current === 'ended') return;
    this.current = 'ended';
    this.endedAtMs = this.clock.now();
    this.endedBy = by;
    this.cause = cause;
    this.play.clear();
    this.detector.close();
    this.call = null;
    this.fire({ type: 'disconnected', atMs: this.endedAtMs, by, cause });
  }

  private fire(ev: SimulatedCallEvent): void {
    for (const l of [...this.listeners]) l(ev);
  }
}
