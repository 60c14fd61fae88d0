/**
 * Where a recorder tap's stereo frames end up. `RecordingWriter` is the seam: the plain WAV writer
 * below today, an encrypting writer (the vault) later, chosen by the recorder worker.
 *
 * The plain writer appends 16-bit PCM stereo at 8 kHz to `<dir>/<interactionId>.wav`. It keeps at
 * most `flushEveryMs` of audio in memory (800 ms by default: with the tap's 200 ms batches, a crash
 * of the gateway loses at most one second), and on every flush writes the samples and then rewrites
 * the two RIFF size fields, so the file on disk is a complete WAV after every flush.
 *
 * fsync is off by default. A flush hands the bytes to the kernel (write(2)); they survive a crash
 * of the gateway process, which is what the one-second bound is about. Only a power cut can lose
 * page-cache data, and the filesystem's own commit interval bounds that (ext4: 5 s). An fsync per
 * recording per second would mean a thousand fsyncs a second on a full appliance, which its flash
 * storage cannot sustain; `fsync: true` is there for installations that want it regardless.
 *
 * Failures (disk full, permissions, a vanished directory) never throw out of the writer: the first
 * one is reported through `onError`, the writer stops writing and `close()` returns the summary
 * with the error.
 */
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import {
  parseRecordingHeader,
  wavSizeFixups,
  writeWavHeader,
  WAV_HEADER_BYTES,
} from '../../../../base/signal/wav.ts';
import { SAMPLE_RATE_HZ, STEREO_FRAME_SAMPLES, FRAME_MS } from '../../../../base/signal/pcm-frame.ts';

export interface RecordingSummary {
  path: string;
  /** Bytes of the file, header included. */
  bytes: number;
  durationMs: number;
  error?: string;
}

export interface RecordingWriter {
  /** Interleaved stereo frames (left = caller, right = other parties), 320 samples per 20 ms. */
  write(stereoFrames: Int16Array): void;
  flush(): void;
  close(): RecordingSummary;
}

export interface RecordingWriterError {
  path: string;
  /** The system error code (`ENOSPC`, `EACCES`...) or a registered `EDGE_ERR_RECORDING_*` code. */
  code: string;
  message: string;
}

/** The few file operations the writer needs; node:fs by default. */
export interface FileOps {
  openSync(path: string, flags: string): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  fstatSync(fd: number): { size: number };
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
}

export interface PlainWavWriterOptions {
  dir: string;
  interactionId: string;
  flushEveryMs?: number;
  fsync?: boolean;
  onError?: (e: RecordingWriterError) => void;
  fs?: FileOps;
}

export interface PlainWavWriterDump {
  path: string;
  /** Audio bytes in the file (the header not counted). */
  dataBytes: number;
  /** Audio bytes waiting for the next flush. */
  pendingBytes: number;
  /** Audio bytes discarded: written after a failure or after close. */
  droppedBytes: number;
  closed: boolean;
  /** The code of the first failure. */
  error: string | undefined;
}

const BYTES_PER_STEREO_FRAME = STEREO_FRAME_SAMPLES * 2;
const BYTES_PER_MS = (SAMPLE_RATE_HZ * 4) / 1000;
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function recordingPath(dir: string, interactionId: string): string {
  return join(dir, `${interactionId}.wav`);
}

export class PlainWavWriter implements RecordingWriter {
  readonly path: string;
  private readonly fs: FileOps;
  private readonly fsync: boolean;
  private readonly onError: (e: RecordingWriterError) => void;
  private readonly pending: Uint8Array;
  private pendingBytes = 0;
  private fd: number | undefined;
  /** Bytes of samples on disk after the header. */
  private dataBytes = 0;
  private error: RecordingWriterError | undefined;
  private closed = false;
  private headerOnDisk = false;
  droppedBytes = 0;

  constructor(opts: PlainWavWriterOptions) {
    this.path = recordingPath(opts.dir, opts.interactionId);
    this.fs = opts.fs ?? nodeFs;
    this.fsync = opts.fsync ?? false;
    this.onError = opts.onError ?? (() => {});
    const flushFrames = Math.max(1, Math.floor((opts.flushEveryMs ?? 800) / FRAME_MS));
    this.pending = new Uint8Array(flushFrames * BYTES_PER_STEREO_FRAME);
    if (!SAFE_ID.test(opts.interactionId)) {
      this.fail({
        code: 'EDGE_ERR_RECORDING_ID',
        message: `interaction id ${JSON.stringify(opts.interactionId)} is not a safe file name`,
      });
      return;
    }
    this.attempt(() => this.open());
  }

  get failed(): boolean {
    return this.error !== undefined;
  }

  write(stereoFrames: Int16Array): void {
    const bytes = new Uint8Array(stereoFrames.buffer, stereoFrames.byteOffset, stereoFrames.byteLength);
    if (this.closed || this.error) {
      this.droppedBytes += bytes.length;
      return;
    }
    // Samples are little-endian on disk, as on every platform this runs on (x86-64, ARM).
    let at = 0;
    while (at < bytes.length && !this.error) {
      const n = Math.min(bytes.length - at, this.pending.length - this.pendingBytes);
      this.pending.set(bytes.subarray(at, at + n), this.pendingBytes);
      this.pendingBytes += n;
      at += n;
      if (this.pendingBytes === this.pending.length) this.flush();
    }
    if (this.error) this.droppedBytes += bytes.length - at;
  }

  flush(): void {
    if (this.fd === undefined || this.error || this.pendingBytes === 0) return;
    const fd = this.fd;
    this.attempt(() => {
      let done = 0;
      while (done < this.pendingBytes)
        done += this.fs.writeSync(
          fd,
          this.pending,
          done,
          this.pendingBytes - done,
          WAV_HEADER_BYTES + this.dataBytes + done,
        );
      this.dataBytes += this.pendingBytes;
      this.pendingBytes = 0;
      for (const f of wavSizeFixups(this.dataBytes)) this.fs.writeSync(fd, f.bytes, 0, 4, f.offset);
      if (this.fsync) this.fs.fsyncSync(fd);
    });
  }

  close(): RecordingSummary {
    if (!this.closed) {
      this.flush();
      this.closed = true;
      if (this.fd !== undefined) {
        const fd = this.fd;
        this.fd = undefined;
        this.attempt(() => {
          if (this.fsync && !this.error) this.fs.fsyncSync(fd);
          this.fs.closeSync(fd);
        });
      }
    }
    const summary: RecordingSummary = {
      path: this.path,
      bytes: this.headerOnDisk ? WAV_HEADER_BYTES + this.dataBytes : 0,
      durationMs: this.dataBytes / BYTES_PER_MS,
    };
    if (this.error) summary.error = `${this.error.code}: ${this.error.message}`;
    return summary;
  }

  dump(): PlainWavWriterDump {
    return {
      path: this.path,
      dataBytes: this.dataBytes,
      pendingBytes: this.pendingBytes,
      droppedBytes: this.droppedBytes,
      closed: this.closed,
      error: this.error?.code,
    };
  }

  /**
   * A new file gets its header at once, so it is a valid (empty) WAV from the start. An existing
   * one (the same interaction after a restart) is continued if it is one of ours; an empty one (a
   * crash right after creating it) is started over.
   */
  private open(): void {
    let fd: number;
    try {
      fd = this.fs.openSync(this.path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      fd = this.fs.openSync(this.path, 'r+');
    }
    this.fd = fd;
    const size = this.fs.fstatSync(fd).size;
    if (size >= WAV_HEADER_BYTES) {
      const header = new Uint8Array(WAV_HEADER_BYTES);
      this.fs.readSync(fd, header, 0, WAV_HEADER_BYTES, 0);
      const parsed = parseRecordingHeader(header);
      if (!parsed.ok || parsed.value.channels !== 2 || parsed.value.sampleRateHz !== SAMPLE_RATE_HZ) {
        throw Object.assign(new Error(`${this.path} exists and is not a stereo 8 kHz recording`), {
          code: 'EDGE_ERR_RECORDING_EXISTS',
        });
      }
      // Continue after the last whole stereo sample actually on disk, whatever the header says.
      this.dataBytes = Math.floor((size - WAV_HEADER_BYTES) / 4) * 4;
      for (const f of wavSizeFixups(this.dataBytes)) this.fs.writeSync(fd, f.bytes, 0, 4, f.offset);
      this.headerOnDisk = true;
      return;
    }
    const header = writeWavHeader({ channels: 2, sampleRateHz: SAMPLE_RATE_HZ, dataBytes: 0 });
    this.fs.writeSync(fd, header, 0, header.length, 0);
    this.headerOnDisk = true;
  }

  private attempt(op: () => void): void {
    try {
      op();
    } catch (e) {
      const ex = e as NodeJS.ErrnoException;
      this.fail({ code: ex.code ?? 'EDGE_ERR_RECORDING_IO', message: ex.message });
    }
  }

  private fail(e: Omit<RecordingWriterError, 'path'>): void {
    if (this.error) return;
    this.error = { path: this.path, ...e };
    this.droppedBytes += this.pendingBytes;
    this.pendingBytes = 0;
    if (this.fd !== undefined) {
      try {
        this.fs.closeSync(this.fd);
      } catch {
        // The descriptor is gone either way; the first error is the one reported.
      }
      this.fd = undefined;
    }
    this.onError(this.error);
  }
}
