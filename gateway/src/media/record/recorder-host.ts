/**
 * The recorder worker's logic, apart from the thread plumbing so it can be tested directly: it
 * owns one writer per interaction, applies the commands the main thread posts, and reports opened
 * files, writer errors and closed recordings as events. A failing writer is reported once and its
 * frames are discarded; the host and the other recordings carry on.
 */
import type { RecordingSummary, RecordingWriter, RecordingWriterError } from './recording-writer.ts';
import { STEREO_FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';

export type RecorderCommand =
  | { type: 'open'; interactionId: string }
  | { type: 'frames'; interactionId: string; samples: Int16Array }
  /**
   * Many recordings' frames in one message (from a relay worker's `RecordingShipper`): segment i
   * is `frames[i]` stereo frames of `ids[i]`, the segments back to back in `samples`.
   */
  | { type: 'batch'; ids: string[]; frames: Int32Array; samples: Int16Array }
  | { type: 'flush' }
  | { type: 'close'; interactionId: string; requestId: number }
  | { type: 'shutdown'; requestId: number };

export type RecorderEvent =
  | { type: 'error'; interactionId: string; code: string; message: string; path?: string }
  | { type: 'closed'; interactionId: string; requestId: number; summary: RecordingSummary }
  | { type: 'shutdown-done'; requestId: number; summaries: Record<string, RecordingSummary> };

export interface RecorderHostDump {
  /** Interaction ids with a writer open. */
  recordings: string[];
  framesWritten: number;
}

export type WriterFactory = (
  interactionId: string,
  onError: (e: RecordingWriterError) => void,
) => RecordingWriter;

export class RecorderHost {
  private readonly writers = new Map<string, RecordingWriter>();
  private framesWritten = 0;

  constructor(
    private readonly createWriter: WriterFactory,
    private readonly emit: (e: RecorderEvent) => void,
  ) {}

  handle(cmd: RecorderCommand): void {
    switch (cmd.type) {
      case 'open':
        this.open(cmd.interactionId);
        break;
      case 'frames': {
        // A tap may start sending before (or without) an explicit open: open on first frames.
        const w = this.writers.get(cmd.interactionId) ?? this.open(cmd.interactionId);
        w.write(cmd.samples);
        this.framesWritten += cmd.samples.length / 320;
        break;
      }
      case 'batch': {
        let at = 0;
        for (let i = 0; i < cmd.ids.length; i++) {
          const id = cmd.ids[i] ?? '';
          const len = (cmd.frames[i] ?? 0) * STEREO_FRAME_SAMPLES;
          if (len <= 0 || at + len > cmd.samples.length) break;
          const w = this.writers.get(id) ?? this.open(id);
          w.write(cmd.samples.subarray(at, at + len));
          this.framesWritten += len / STEREO_FRAME_SAMPLES;
          at += len;
        }
        break;
      }
      case 'flush':
        for (const w of this.writers.values()) w.flush();
        break;
      case 'close': {
        const w = this.writers.get(cmd.interactionId);
        this.writers.delete(cmd.interactionId);
        const summary = w ? w.close() : { path: '', bytes: 0, durationMs: 0, error: 'not recording' };
        this.emit({ type: 'closed', interactionId: cmd.interactionId, requestId: cmd.requestId, summary });
        break;
      }
      case 'shutdown': {
        const summaries: Record<string, RecordingSummary> = {};
        for (const [id, w] of this.writers) summaries[id] = w.close();
        this.writers.clear();
        this.emit({ type: 'shutdown-done', requestId: cmd.requestId, summaries });
        break;
      }
      default: {
        const never: never = cmd;
        this.emit({
          type: 'error',
          interactionId: '',
          code: 'EDGE_ERR_RECORDING_COMMAND',
          message: `unknown command ${JSON.stringify(never)}`,
        });
      }
    }
  }

  dump(): RecorderHostDump {
    return { recordings: [...this.writers.keys()], framesWritten: this.framesWritten };
  }

  private open(interactionId: string): RecordingWriter {
    const existing = this.writers.get(interactionId);
    if (existing) return existing;
    const w = this.createWriter(interactionId, (e) =>
      this.emit({ type: 'error', interactionId, code: e.code, message: e.message, path: e.path }),
    );
    this.writers.set(interactionId, w);
    return w;
  }
}
