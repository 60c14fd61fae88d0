/**
 * Main-thread side of the recorder worker: starts the thread, forwards tap batches to it with
 * their buffers transferred, and turns its replies into promises and events.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { startWorker } from '../../core/worker.ts';
import type { RecorderCommand, RecorderEvent } from './recorder-host.ts';
import type { RecordingSummary } from './recording-writer.ts';
import type { RecorderThreadMessage, RecorderWorkerData } from './recorder-worker.ts';

export interface RecorderClientOptions {
  dir: string;
  /** Writer flush interval; with 200 ms tap batches, 800 ms keeps a crash's loss within a second. */
  flushEveryMs?: number;
  fsync?: boolean;
}

export interface RecorderClientDump {
  stopped: boolean;
  batchesSent: number;
  /** Closes (and a shutdown) still waiting for the recorder thread's answer. */
  pendingRequests: number;
  errors: number;
  /** Ports handed to relay workers (`channel`). */
  channels: number;
}

export type RecorderErrorEvent = Extract<RecorderEvent, { type: 'error' }>;

export class RecorderClient {
  private readonly worker: Worker;
  private nextRequest = 1;
  private readonly waiting = new Map<number, (e: RecorderEvent | { type: 'worker-exit' }) => void>();
  private readonly errorListeners: ((e: RecorderErrorEvent) => void)[] = [];
  private stopped = false;
  private batchesSent = 0;
  private errors = 0;
  private channels = 0;

  constructor(opts: RecorderClientOptions) {
    const workerData: RecorderWorkerData = {
      dir: opts.dir,
      flushEveryMs: opts.flushEveryMs ?? 800,
      fsync: opts.fsync ?? false,
    };
    this.worker = startWorker(new URL('./recorder-worker.ts', import.meta.url), workerData);
    this.worker.on('message', (e: RecorderEvent) => this.onEvent(e));
    this.worker.on('error', (e) => {
      this.errors++;
      for (const l of this.errorListeners)
        l({ type: 'error', interactionId: '', code: 'EDGE_ERR_RECORDING_WORKER', message: e.message });
    });
    // A thread that died answers nothing more: settle every pending close with the failure.
    this.worker.on('exit', () => {
      this.stopped = true;
      const pending = [...this.waiting.values()];
      this.waiting.clear();
      for (const done of pending) done({ type: 'worker-exit' });
    });
  }

  onError(listener: (e: RecorderErrorEvent) => void): void {
    this.errorListeners.push(listener);
  }

  open(interactionId: string): void {
    this.post({ type: 'open', interactionId });
  }

  /**
   * A port straight to the recorder thread for one relay worker (transfer it there): the worker's
   * `RecordingShipper` batches go through it without touching this thread.
   */
  channel(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.channels++;
    if (!this.stopped)
      this.worker.postMessage({ type: 'attach', port: port1 } satisfies RecorderThreadMessage, [port1]);
    else port1.close();
    return port2;
  }

  /** A tap batch. Ownership passes to the worker: the array is unusable afterwards. */
  write(interactionId: string, stereoFrames: Int16Array): void {
    // Only a buffer the array fully owns can be transferred; anything else is copied once.
    const own =
      stereoFrames.byteOffset === 0 &&
      stereoFrames.byteLength === stereoFrames.buffer.byteLength &&
      stereoFrames.buffer instanceof ArrayBuffer
        ? stereoFrames
        : stereoFrames.slice();
    this.batchesSent++;
    this.post({ type: 'frames', interactionId, samples: own }, [own.buffer as ArrayBuffer]);
  }

  close(interactionId: string): Promise<RecordingSummary> {
    if (this.stopped)
      return Promise.resolve({ path: '', bytes: 0, durationMs: 0, error: 'recorder worker stopped' });
    return new Promise((resolve) => {
      const requestId = this.nextRequest++;
      this.waiting.set(requestId, (e) =>
        resolve(
          e.type === 'closed'
            ? e.summary
            : { path: '', bytes: 0, durationMs: 0, error: 'recorder worker exited' },
        ),
      );
      this.post({ type: 'close', interactionId, requestId });
    });
  }

  /** Close every recording and end the thread. */
  async stop(): Promise<Record<string, RecordingSummary>> {
    if (this.stopped) return {};
    this.stopped = true;
    const summaries = await new Promise<Record<string, RecordingSummary>>((resolve) => {
      const requestId = this.nextRequest++;
      this.waiting.set(requestId, (e) => resolve(e.type === 'shutdown-done' ? e.summaries : {}));
      this.worker.postMessage({ type: 'shutdown', requestId } satisfies RecorderCommand);
    });
    await this.worker.terminate();
    return summaries;
  }

  dump(): RecorderClientDump {
    return {
      stopped: this.stopped,
      batchesSent: this.batchesSent,
      pendingRequests: this.waiting.size,
      errors: this.errors,
      channels: this.channels,
    };
  }

  private post(cmd: RecorderCommand, transfer: ArrayBuffer[] = []): void {
    if (this.stopped) return;
    this.worker.postMessage(cmd, transfer);
  }

  private onEvent(e: RecorderEvent): void {
    switch (e.type) {
      case 'error':
        this.errors++;
        for (const l of this.errorListeners) l(e);
        break;
      case 'closed':
      case 'shutdown-done': {
        const done = this.waiting.get(e.requestId);
        this.waiting.delete(e.requestId);
        done?.(e);
        break;
      }
      default: {
        const never: never = e;
        void never;
      }
    }
  }
}
