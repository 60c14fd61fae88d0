/**
 * Entry of the recorder worker thread: every recording's file I/O happens here, never on a thread
 * that forwards RTP. Frames arrive by postMessage with their buffers transferred (no copy); a
 * timer flushes every writer at the flush interval so a stalled tap still reaches the disk.
 *
 * Each relay worker gets its own port to this thread (`attach`, made by `RecorderClient.channel`):
 * its batches come straight here, and the `ended` answer tells it a closed tap's last frames are
 * written, so the close that follows from the signalling thread finds them in the file.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { workerInput } from '../../core/worker.ts';
import { PlainWavWriter } from './recording-writer.ts';
import { RecorderHost, type RecorderCommand } from './recorder-host.ts';
import type { RecordingBatch, RecordingEndedAck } from './recording-shipper.ts';

export interface RecorderWorkerData {
  dir: string;
  flushEveryMs: number;
  fsync: boolean;
}

/** What the signalling thread posts here: the host's commands, and relay workers' ports. */
export type RecorderThreadMessage = RecorderCommand | { type: 'attach'; port: MessagePort };

/** A relay worker's port: batches written in arrival order, each `ended` answered after its frames. */
export function attachRelayPort(host: RecorderHost, relay: MessagePort): void {
  relay.on('message', (b: RecordingBatch) => {
    if (b.t !== 'frames') return;
    host.handle({ type: 'batch', ids: b.ids, frames: b.frames, samples: b.samples });
    if (b.ended.length > 0) relay.postMessage({ t: 'ended', ids: b.ended } satisfies RecordingEndedAck);
  });
  // A port with a listener keeps the thread alive: the relay worker's exit closes it.
  relay.unref();
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
  port.on('message', (cmd: RecorderThreadMessage) => {
    if (cmd.type === 'attach') {
      attachRelayPort(host, cmd.port);
      return;
    }
    host.handle(cmd);
    if (cmd.type === 'shutdown') {
      clearInterval(flushTimer);
      port.close();
    }
  });
}
