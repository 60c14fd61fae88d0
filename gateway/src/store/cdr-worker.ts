/**
 * The CDR writer thread. With `synchronous=FULL` every SQLite commit waits for the disk; on the
 * signalling thread those waits stalled the event loop long enough for callers to retransmit at
 * high call rates. This worker owns its own connection to the records database (WAL lets the
 * signalling thread keep reading and writing bindings) and commits each batch it receives in one
 * transaction. Messages: `{ type: 'batch', legs, interactions }`, `{ type: 'close' }`; it answers
 * `{ type: 'committed', legs, interactions }`, `{ type: 'failed', message }` (the rows come back so
 * nothing is lost) and `{ type: 'closed' }`.
 */
import { parentPort } from 'node:worker_threads';
import { workerInput } from '../core/worker.ts';
import { Records, type InteractionCdr, type LegCdr } from './records.ts';

export type CdrWorkerRequest =
  | {
      type: 'batch';
      legs: LegCdr[];
      interactions: InteractionCdr[];
      /** The records clock's new time (calls are up). */
      beatAt?: string;
    }
  | { type: 'close' };
export type CdrWorkerReply =
  | { type: 'ready' }
  | { type: 'committed'; legs: number; interactions: number }
  | { type: 'failed'; message: string; legs: LegCdr[]; interactions: InteractionCdr[] }
  | { type: 'closed' };

const port = parentPort;
if (port) {
  const opened = Records.open(workerInput<{ dataDir: string }>().dataDir);
  if (!opened.ok) {
    port.postMessage({
      type: 'failed',
      message: opened.error.message,
      legs: [],
      interactions: [],
    } satisfies CdrWorkerReply);
  } else {
    const records = opened.value;
    port.postMessage({ type: 'ready' } satisfies CdrWorkerReply);
    port.on('message', (m: CdrWorkerRequest) => {
      if (m.type === 'close') {
        records.close();
        port.postMessage({ type: 'closed' } satisfies CdrWorkerReply);
        port.close();
        return;
      }
      try {
        const n = records.insertBatch({ legs: m.legs, interactions: m.interactions, beatAt: m.beatAt });
        port.postMessage({ type: 'committed', ...n } satisfies CdrWorkerReply);
      } catch (e) {
        port.postMessage({
          type: 'failed',
          message: (e as Error).message,
          legs: m.legs,
          interactions: m.interactions,
        } satisfies CdrWorkerReply);
      }
    });
  }
}
