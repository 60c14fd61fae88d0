/**
 * `Leg.record` on a leg the gateway answered itself, whatever carries it (a SIP dialog, a PSTN
 * line): a recording of its own on the leg's media handle — what the party says on the left, what
 * it hears (a beep, a prompt) on the right — ended by `stop`, the maximum length, the signal or
 * the leg's end, whichever comes first. The interaction's own recording, when calls are
 * recorded, goes on beside it.
 */
import type { Timers } from '../../../base/clock.ts';
import { err, ok, type Result } from '../../../base/result.ts';
import type { CallFailure, RecordingHandle, RecordOptions } from './leg.ts';
import type { LegMediaHandle } from './leg-media.ts';
import { callFailure } from './leg-base.ts';

export class LegRecordings {
  private next = 1;
  private readonly running = new Set<() => void>();

  constructor(
    /** The recordings' ids start with it (a file name: letters, digits, `-`, `_`). */
    private readonly prefix: string,
    private readonly timers: Timers,
  ) {}

  start(handle: LegMediaHandle | undefined, opts: RecordOptions): Result<RecordingHandle, CallFailure> {
    if (!handle)
      return err(
        callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'record needs a leg answered by an app'),
      );
    if (opts.signal?.aborted)
      return err(callFailure('EDGE_ERR_CALL_MEDIA', 'normal-clearing', 'the recording was cancelled'));
    const recordingId = `${this.prefix}-rec${this.next++}`;
    const rec = handle.record(recordingId);
    if (!rec) return err(callFailure('EDGE_ERR_CALL_MEDIA', 'facility-rejected', 'no recorder for the leg'));
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      timer?.cancel();
      opts.signal?.removeEventListener('abort', stop);
      this.running.delete(stop);
      rec.stop();
    };
    const timer =
      opts.maxDurationMs === undefined
        ? undefined
        : this.timers.start('record-max', opts.maxDurationMs, stop);
    opts.signal?.addEventListener('abort', stop, { once: true });
    this.running.add(stop);
    return ok({
      recordingId,
      done: rec.closed.then((c) => ({ path: c.path, durationMs: c.durationMs })),
      stop,
    });
  }

  /** The leg ended: every recording still running stops (its file completes). */
  ended(): void {
    for (const stop of [...this.running]) stop();
  }
}

/** A leg id as the start of a file name (`ix:a` → `ix-a`). */
export function recordingPrefix(legId: string): string {
  return legId.replace(/[^A-Za-z0-9_-]/g, '-');
}
