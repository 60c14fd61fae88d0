/**
 * The order of a call's outbound attempts — sans-I/O policy shared by every outbound path (the
 * B2BUA's relayed calls, legs originated for apps, transfer targets), so all of them fork, stage
 * and fail over by the same rules:
 *
 * - Parallel targets (an extension's registered contacts) ring together: RFC 3261 §16.7 as a
 *   forking B2BUA applies it — the first 2xx wins, the others are cancelled.
 * - Queued targets are tried one after another (trunk members, in failover order), except that the
 *   queued targets of one ring-group stage (`OutboundTarget.stage`) ring together, and the next
 *   stage starts only when every attempt of the current one has ended.
 * - A trunk member's final answer ends the search unless it is one of the trunk's failover
 *   statuses, and never once the far end has rung the callee (the call is then the callee's).
 * - RFC 3261 §16.7 step 5: a 6xx ends all pending branches.
 *
 * The plan counts the attempts it handed out; each must come back once, by `failed`, `abandoned`
 * or `answered`. It never sends anything: it tells its owner which targets to start next.
 */
import { shouldFailover } from './failover-policy.ts';
import { chooseFinalResponse } from './response-policy.ts';
import type { OutboundTarget } from './outbound-target.ts';

/** How an attempt ended without an answer. */
export interface AttemptEnd {
  status: number;
  /** What happened on the wire: no response at all, a transport failure, or a final status. */
  cause: 'timeout' | 'transport-error' | number;
  /** The far end had sent a ringing or progress response (18x) before the failure. */
  rang: boolean;
}

export interface AttemptStep {
  /** Targets to start now. */
  start: OutboundTarget[];
  /** Cancel every other attempt still ringing (a 6xx arrived). */
  cancelOthers: boolean;
  /** Nothing is left to try and nothing is still ringing: the call failed. */
  exhausted: boolean;
}

/**
 * One routed list of targets as a plan's two parts: the leading extension contacts ring together
 * (parallel); trunk members (failover order) and ring-group stages follow in the queue.
 */
export function splitTargets(targets: readonly OutboundTarget[]): {
  parallel: OutboundTarget[];
  sequential: OutboundTarget[];
} {
  let n = 0;
  while (n < targets.length && targets[n]?.kind === 'extension' && targets[n]?.stage === undefined) n++;
  return { parallel: targets.slice(0, n), sequential: targets.slice(n) };
}

export class AttemptPlan {
  private readonly queue: OutboundTarget[] = [];
  private readonly finalStatuses: number[] = [];
  private live = 0;
  private done = false;

  constructor(sequential: readonly OutboundTarget[] = []) {
    this.queue.push(...sequential);
  }

  /** The final statuses of the attempts so far, in the order they ended. */
  get finals(): readonly number[] {
    return this.finalStatuses;
  }

  /** Attempts handed out and not yet come back. */
  get pending(): number {
    return this.live;
  }

  /** The first attempts: every parallel target, or the first queued one (or stage) when none. */
  begin(parallel: readonly OutboundTarget[]): AttemptStep {
    if (parallel.length === 0) return this.step(false);
    this.live += parallel.length;
    return { start: [...parallel], cancelOthers: false, exhausted: false };
  }

  /** A target that could not even be tried (its offer was refused): counted as a final status. */
  skipped(status: number): AttemptStep {
    this.finalStatuses.push(status);
    return this.step(false);
  }

  /**
   * An attempt gave up without a final answer worth a failover decision: a trunk member silent
   * beyond its `noAnswerTimeoutMs`, a ring-group member's turn over. The next target goes on.
   */
  abandoned(status: number): AttemptStep {
    this.live = Math.max(0, this.live - 1);
    this.finalStatuses.push(status);
    return this.step(false);
  }

  /** An attempt ended with a failure: the failover rules decide what comes next. */
  failed(target: OutboundTarget, end: AttemptEnd): AttemptStep {
    this.live = Math.max(0, this.live - 1);
    this.finalStatuses.push(end.status);
    const moveOn =
      target.failoverOn !== undefined && !end.rang && shouldFailover(end.cause, target.failoverOn);
    // A trunk's final answer (busy, declined, not found) is the far end's: the search ends.
    if (!moveOn && target.kind === 'trunk') this.queue.length = 0;
    const six = end.status >= 600;
    if (six) this.queue.length = 0;
    return this.step(six);
  }

  /** An attempt answered: nothing more starts. */
  answered(): void {
    this.live = Math.max(0, this.live - 1);
    this.queue.length = 0;
    this.done = true;
  }

  /** The owner gave up (ring timeout, caller gone): nothing more starts. */
  stop(): void {
    this.queue.length = 0;
    this.done = true;
  }

  /** RFC 3261 §16.7 step 6 over the statuses so far; `fallback` when there were none. */
  finalStatus(fallback: number): number {
    return chooseFinalResponse(this.finalStatuses, fallback);
  }

  private step(cancelOthers: boolean): AttemptStep {
    if (this.done) return { start: [], cancelOthers, exhausted: false };
    const stage = this.queue[0]?.stage;
    const start: OutboundTarget[] = [];
    if (stage !== undefined) {
      // A stage starts only when every attempt of the one before has ended.
      while (this.live === 0 && this.queue[0]?.stage === stage) {
        const t = this.queue.shift();
        if (t) start.push(t);
      }
    } else {
      const t = this.queue.shift();
      if (t) start.push(t);
    }
    this.live += start.length;
    const exhausted = this.live === 0 && this.queue.length === 0;
    if (exhausted) this.done = true;
    return { start, cancelOthers, exhausted };
  }
}
