/**
 * CDRs are written when a call is answered (open rows) and completed when its legs end. Rows are gathered for `flushMs` (100 ms) and committed as one
 * transaction by the CDR writer thread (`store/cdr-worker.ts`), so the fsync of `synchronous=FULL`
 * never blocks signalling. A row is durable when its batch commits, a few milliseconds after it
 * was handed over; a batch the disk refuses comes back and is retried with the next one, so
 * nothing is lost; `close()` commits what is pending before the process exits (SIGTERM drain).
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../core/worker.ts';
import type { CdrSink, InteractionRecord, LegRecord, OpenedInteraction } from '../call/ports.ts';
import type { RecordState } from './records.ts';

/** What the writer queues: complete rows, or the open rows of an answered interaction. */
type StoredLeg = (LegRecord | OpenedInteraction['legs'][number]) & { state?: RecordState };
type StoredInteraction = (InteractionRecord | OpenedInteraction['interaction']) & { state?: RecordState };
import type { Logger } from '../core/log.ts';
import type { CdrWorkerReply, CdrWorkerRequest } from './cdr-worker.ts';

export class CdrWriter implements CdrSink {
  private legs: StoredLeg[] = [];
  private interactions: StoredInteraction[] = [];
  /** Interactions stored open and not yet completed. */
  private readonly open = new Set<string>();
  private beating: NodeJS.Timeout | undefined;
  private beatAt: string | undefined;
  private scheduled: NodeJS.Timeout | undefined;
  private readonly worker: Worker;
  private committed = { legs: 0, interactions: 0, batches: 0, failures: 0 };
  private closing: Promise<void> | undefined;
  private readonly ready: Promise<void>;

  constructor(
    dataDir: string,
    private readonly logger: Logger,
    private readonly flushMs = 100,
    private readonly beatMs = 1000,
    /** The gateway's wall clock: the records clock's time. */
    private readonly wallNow: () => number = Date.now,
  ) {
    this.worker = startWorker(new URL('./cdr-worker.ts', import.meta.url), { dataDir });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      const onFirst = (m: CdrWorkerReply) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'failed') reject(new Error(m.message));
      };
      this.worker.once('message', onFirst);
      this.worker.once('error', reject);
    });
    this.worker.on('message', (m: CdrWorkerReply) => this.onReply(m));
    this.worker.on('error', (e) => this.logger.error({ err: e }, 'CDR writer thread failed'));
  }

  /** Resolves once the writer thread has opened the database (start-up waits for it). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  leg(row: LegRecord): void {
    this.legs.push(row);
    this.schedule();
  }

  interaction(row: InteractionRecord): void {
    this.open.delete(row.interactionId);
    this.interactions.push(row);
    this.schedule();
  }

  /**
   * An answered interaction's rows, stored open at once (with the next batch); while any is
   * open the records clock ticks every `beatMs`, so a crash is dated within that.
   */
  opened(o: OpenedInteraction): void {
    this.open.add(o.interaction.interactionId);
    this.legs.push(...o.legs.map((l) => ({ ...l, state: 'open' as const })));
    this.interactions.push({ ...o.interaction, state: 'open' });
    this.schedule();
    this.beating ??= setInterval(() => {
      if (this.open.size === 0) {
        clearInterval(this.beating);
        this.beating = undefined;
        return;
      }
      this.beatAt = new Date(this.wallNow()).toISOString();
      this.flush();
    }, this.beatMs);
    this.beating.unref();
  }

  private schedule(): void {
    this.scheduled ??= setTimeout(() => this.flush(), this.flushMs);
  }

  private flush(): void {
    if (this.scheduled) clearTimeout(this.scheduled);
    this.scheduled = undefined;
    if (this.legs.length === 0 && this.interactions.length === 0 && this.beatAt === undefined) return;
    const msg: CdrWorkerRequest = {
      type: 'batch',
      legs: this.legs,
      interactions: this.interactions,
      ...(this.beatAt === undefined ? {} : { beatAt: this.beatAt }),
    };
    this.legs = [];
    this.interactions = [];
    this.beatAt = undefined;
    this.worker.postMessage(msg);
  }

  private onReply(m: CdrWorkerReply): void {
    switch (m.type) {
      case 'committed':
        this.committed.legs += m.legs;
        this.committed.interactions += m.interactions;
        this.committed.batches++;
        return;
      case 'failed':
        // The disk refused (full, read-only): keep the rows for the next batch rather than lose them.
        this.committed.failures++;
        this.logger.error({ reason: m.message, legs: m.legs.length }, 'CDR batch not written, will retry');
        this.legs = (m.legs as StoredLeg[]).concat(this.legs);
        this.interactions = (m.interactions as StoredInteraction[]).concat(this.interactions);
        if (!this.closing) this.schedule();
        return;
      case 'ready':
      case 'closed':
        return;
      default: {
        const never: never = m;
        throw new Error(`unknown CDR writer reply ${JSON.stringify(never)}`);
      }
    }
  }

  dump(): Record<string, number> {
    return {
      pendingLegs: this.legs.length,
      pendingInteractions: this.interactions.length,
      ...this.committed,
    };
  }

  /** Commit what is pending and stop the thread. */
  close(): Promise<void> {
    if (this.beating) clearInterval(this.beating);
    this.beating = undefined;
    this.closing ??= new Promise<void>((resolve) => {
      this.flush();
      const timer = setTimeout(() => {
        void this.worker.terminate();
        resolve();
      }, 5000);
      this.worker.on('message', (m: CdrWorkerReply) => {
        if (m.type !== 'closed') return;
        clearTimeout(timer);
        resolve();
      });
      this.worker.postMessage({ type: 'close' } satisfies CdrWorkerRequest);
    });
    return this.closing;
  }
}
