/**
 * Start a worker thread whose entry is a TypeScript module of this code base. The entry reads its
 * own start-up data with `workerInput()`.
 */
import { Worker, workerData, type WorkerOptions } from 'node:worker_threads';

export function startWorker(
  entry: URL,
  data: unknown,
  options: Omit<WorkerOptions, 'workerData'> = {},
): Worker {
  return new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), {
    ...options,
    workerData: { entry: entry.href, data },
  });
}

/** Inside a worker started by `startWorker`: the data it was given. */
export function workerInput<T>(): T {
  return (workerData as { data: T }).data;
}
