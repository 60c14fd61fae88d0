// Entry of every worker thread: Node 20 does not apply the `--import tsx` loader of the main
// thread to workers, so each worker registers it before loading its TypeScript entry module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
