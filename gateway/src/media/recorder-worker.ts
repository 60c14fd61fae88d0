/**
 * Entry of the recorder worker thread: every recording's file I/O happens here, never on a thread
 * that forwards RTP. Frames arrive by postMessage with their buffers transferred (no copy); a
 * timer flushes every writer at the flush interval so a stalled tap still reaches the disk.
 */
import { parentPort } from 'node:worker_threads';
import { workerInput } from '../core/worker.ts';
import { PlainWavWriter } from './recording-writer.ts';
import { RecorderHost, type RecorderCommand } from './recorder-host.ts';

export interface RecorderWorkerData {
  dir: string;
  flushEveryMs: number;
  fsync: boolean;
}

const port = parentPort;
if (port) {
  const config = workerInput<RecorderWorkerData>();
  const host = new RecorderHost(
    (interactionId, onError) =>
      new PlainWavWriter({
        dir: config.dir,
        interactionId,
        flushEveryMs: config.flushEveryMs,
        fsync: config.fsync,
        onError,
      }),
    (event) => port.postMessage(event),
  );
  const flushTimer = setInterval(() => host.handle({ type: 'flush' }), config.flushEveryMs);
  port.on('message', (cmd: RecorderCommand) => {
    host.handle(cmd);
    if (cmd.type === 'shutdown') {
      clearInterval(flushTimer);
      port.close();
    }
  });
}
