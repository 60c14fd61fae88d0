/**
 * One outbound call across the members of a trunk, sans-I/O: try the members in the order
 * selection gave, move on when a member does not answer or answers with a member fault, stop at
 * the first answer the callee gave.
 *
 * A member that never responds would otherwise hold the call for Timer B — RFC 3261 §17.1.1.2:
 * "If the client transaction is still in the 'Calling' state when timer B fires, the client
 * transaction SHOULD inform the TU that a timeout has occurred", with Timer B = 64·T1 = 32 s. We
 * wait only `inviteTimeoutMs` for ANY response (normally the 100 Trying a proxy sends at once,
 * §16.2 / §17.2.1 "the server transaction MUST generate a 100 (Trying) response unless it knows
 * that the TU will generate a provisional or final response within 200 ms") and then abandon that
 * member. A CANCEL cannot be sent before a provisional response (§9.1: "If no provisional response
 * has been received, the CANCEL request MUST NOT be sent"), so how to abandon is the port's
 * business: `abandon()` stops the transaction, and sends CANCEL later if a provisional still
 * arrives.
 *
 * Once the callee is alerting (any 1xx other than 100: 180 Ringing, 181, 182, 183) the call has
 * reached its destination; a later failure is the callee's outcome and no other member is tried.
 */
import type { Clock, TimerHandle, Timers } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { isMemberFailure, NO_USABLE_MEMBER_STATUS, shouldFailover } from './member-selection.ts';
import { memberKey, type CallResultSink, type MemberRef } from './types.ts';

/** What the port reports about the INVITE client transaction sent to one member. */
export type AttemptEvent =
  | { type: 'provisional'; status: number }
  | { type: 'final'; status: number }
  /** The transaction layer gave up (Timer B before any response, Timer C after one). */
  | { type: 'timeout' }
  | { type: 'transport-error' };

export interface AttemptHandle {
  /**
   * Give up on this member: stop retransmitting, send CANCEL if and when a provisional response
   * arrives, and ACK + BYE a 2xx that arrives anyway (§15: a late 2xx establishes a dialog that
   * must then be torn down). Events emitted after `abandon()` are ignored.
   */
  abandon(): void;
}

export interface FailoverAttemptDeps {
  clock: Clock;
  timers: Timers;
  /** Sends the INVITE to one member; `emit` may be called synchronously or later. */
  attempt(member: MemberRef, emit: (event: AttemptEvent) => void): AttemptHandle;
  /** Passive health: each member's result is reported once. */
  health?: CallResultSink;
  onOutcome?(outcome: FailoverOutcome): void;
  logger?: Logger;
}

export interface FailoverAttemptOptions {
  /** Members in the order to try them (from `orderMembers`); empty fails fast with 503. */
  members: readonly MemberRef[];
  /** How long to wait for any response from one member before moving on. */
  inviteTimeoutMs: number;
  /** Final statuses that fail over (besides timeouts and transport errors); see `shouldFailover`. */
  onStatus: readonly number[];
}

export type TriedResult = number | 'no-response' | 'timeout' | 'transport-error' | 'cancelled';

export interface TriedMember {
  member: MemberRef;
  result: TriedResult;
  /** Highest provisional status seen from this member, if any. */
  provisional: number | null;
  startedAtMs: number;
  endedAtMs: number;
}

export type FailoverOutcome =
  | { kind: 'answered'; member: MemberRef; status: number; tried: TriedMember[] }
  | {
      kind: 'failed';
      status: number;
      reason: 'no-usable-member' | 'all-members-failed' | 'final-response';
      tried: TriedMember[];
    }
  | { kind: 'cancelled'; tried: TriedMember[] };

/**
 * - `trying`: INVITE sent to the current member, no response yet; the invite-timeout is armed.
 * - `proceeding`: the member sent 100 Trying; failover still possible on a final or timeout.
 * - `ringing`: the callee is alerting (1xx other than 100); no more failover.
 */
export type FailoverState =
  'idle' | 'trying' | 'proceeding' | 'ringing' | 'answered' | 'failed' | 'cancelled';

const EDGES: Record<FailoverState, readonly FailoverState[]> = {
  idle: ['trying', 'failed', 'cancelled'],
  trying: ['trying', 'proceeding', 'ringing', 'answered', 'failed', 'cancelled'],
  proceeding: ['trying', 'ringing', 'answered', 'failed', 'cancelled'],
  ringing: ['answered', 'failed', 'cancelled'],
  answered: [],
  failed: [],
  cancelled: [],
};

interface CurrentMember {
  member: MemberRef;
  index: number;
  handle: AttemptHandle | undefined;
  startedAtMs: number;
  provisional: number | null;
  done: boolean;
  abandonPending: boolean;
}

export interface FailoverAttemptDump {
  state: FailoverState;
  members: string[];
  current: { member: string; index: number; provisional: number | null; startedAtMs: number } | null;
  tried: Array<{
    member: string;
    result: TriedResult;
    provisional: number | null;
    startedAtMs: number;
    endedAtMs: number;
  }>;
  outcome: FailoverOutcome['kind'] | null;
}

export class FailoverAttempt {
  private _state: FailoverState = 'idle';
  private current: CurrentMember | undefined;
  private inviteTimer: TimerHandle | undefined;
  private readonly tried: TriedMember[] = [];
  private _outcome: FailoverOutcome | undefined;
  private resolveDone: (o: FailoverOutcome) => void = () => {};
  /** Settles with the outcome once the attempt ends. */
  readonly done: Promise<FailoverOutcome>;

  constructor(
    private readonly deps: FailoverAttemptDeps,
    private readonly opts: FailoverAttemptOptions,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  get state(): FailoverState {
    return this._state;
  }

  get outcome(): FailoverOutcome | undefined {
    return this._outcome;
  }

  start(): void {
    if (this._state !== 'idle') return;
    if (this.opts.members.length === 0) {
      this.finish(
        { kind: 'failed', status: NO_USABLE_MEMBER_STATUS, reason: 'no-usable-member', tried: [] },
        'failed',
      );
      return;
    }
    this.startMember(0);
  }

  /** The caller gave up (upstream CANCEL or hangup): abandon the member being tried. */
  cancel(): void {
    if (this.isTerminal()) return;
    const cur = this.current;
    if (cur && !cur.done) {
      this.conclude(cur, 'cancelled');
      this.abandon(cur);
    }
    this.finish({ kind: 'cancelled', tried: [...this.tried] }, 'cancelled');
  }

  dump(): FailoverAttemptDump {
    const cur = this.current && !this.current.done ? this.current : undefined;
    return {
      state: this._state,
      members: this.opts.members.map(memberKey),
      current: cur
        ? {
            member: memberKey(cur.member),
            index: cur.index,
            provisional: cur.provisional,
            startedAtMs: cur.startedAtMs,
          }
        : null,
      tried: this.tried.map((t) => ({
        member: memberKey(t.member),
        result: t.result,
        provisional: t.provisional,
        startedAtMs: t.startedAtMs,
        endedAtMs: t.endedAtMs,
      })),
      outcome: this._outcome?.kind ?? null,
    };
  }

  close(): void {
    this.cancel();
    this.inviteTimer?.cancel();
    this.inviteTimer = undefined;
  }

  private startMember(index: number): void {
    const member = this.opts.members[index];
    if (!member) return;
    const cur: CurrentMember = {
      member,
      index,
      handle: undefined,
      startedAtMs: this.deps.clock.now(),
      provisional: null,
      done: false,
      abandonPending: false,
    };
    this.current = cur;
    this.transition('trying');
    const handle = this.deps.attempt(member, (e) => this.onEvent(cur, e));
    cur.handle = handle;
    if (cur.abandonPending) handle.abandon();
  }

  private onEvent(cur: CurrentMember, e: AttemptEvent): void {
    if (cur.done || cur !== this.current || this.isTerminal()) return;
    switch (e.type) {
      case 'provisional': {
        if (e.status < 100 || e.status > 199) return;
        cur.provisional = Math.max(cur.provisional ?? 0, e.status);
        // §21.1.1: 100 Trying only says the next hop has the request; anything else in 1xx
        // comes from the callee's side (ringing, queued, session progress).
        if (e.status === 100) {
          if (this._state === 'trying') this.transition('proceeding');
        } else if (this._state !== 'ringing') {
          this.transition('ringing');
        }
        return;
      }
      case 'final': {
        if (e.status < 200 || e.status > 699) return;
        this.conclude(cur, e.status);
        if (e.status < 300) {
          this.finish(
            { kind: 'answered', member: cur.member, status: e.status, tried: [...this.tried] },
            'answered',
          );
          return;
        }
        if (this._state !== 'ringing' && shouldFailover(e.status, this.opts.onStatus)) {
          this.next(cur);
          return;
        }
        this.finish(
          { kind: 'failed', status: e.status, reason: 'final-response', tried: [...this.tried] },
          'failed',
        );
        return;
      }
      case 'timeout':
      case 'transport-error': {
        this.conclude(cur, e.type);
        if (this._state === 'ringing') {
          // §17.1.1.2: a transaction timeout is reported to the TU as 408 (Request Timeout).
          const status = e.type === 'timeout' ? 408 : NO_USABLE_MEMBER_STATUS;
          this.finish({ kind: 'failed', status, reason: 'final-response', tried: [...this.tried] }, 'failed');
          return;
        }
        this.next(cur);
        return;
      }
      default: {
        const never: never = e;
        throw new Error(`unknown attempt event ${JSON.stringify(never)}`);
      }
    }
  }

  private onInviteTimeout(): void {
    const cur = this.current;
    if (!cur || cur.done || this._state !== 'trying') return;
    this.conclude(cur, 'no-response');
    this.abandon(cur);
    this.next(cur);
  }

  private next(cur: CurrentMember): void {
    if (cur.index + 1 < this.opts.members.length) {
      this.startMember(cur.index + 1);
      return;
    }
    this.finish(
      {
        kind: 'failed',
        status: this.exhaustedStatus(),
        reason: 'all-members-failed',
        tried: [...this.tried],
      },
      'failed',
    );
  }

  /**
   * The status for a call no member completed: the last response a member sent; otherwise 408 when
   * members were silent (§16.7 step 6: "If no final response has been received after every client
   * transaction ... the proxy MUST send a 408 (Request Timeout)"); 503 when only transport failed.
   */
  private exhaustedStatus(): number {
    for (let i = this.tried.length - 1; i >= 0; i--) {
      const r = this.tried[i]?.result;
      if (typeof r === 'number') return r;
    }
    return this.tried.some((t) => t.result === 'no-response' || t.result === 'timeout')
      ? 408
      : NO_USABLE_MEMBER_STATUS;
  }

  /** Records the member's result and reports it to passive health, once. */
  private conclude(cur: CurrentMember, result: TriedResult): void {
    if (cur.done) return;
    cur.done = true;
    this.tried.push({
      member: cur.member,
      result,
      provisional: cur.provisional,
      startedAtMs: cur.startedAtMs,
      endedAtMs: this.deps.clock.now(),
    });
    const responded = cur.provisional !== null;
    if (result === 'cancelled') {
      if (responded) this.deps.health?.reportCallResult(cur.member, { ok: true, reason: 'call-responded' });
      return;
    }
    const failure = result === 'no-response' ? 'timeout' : result;
    // A transaction timeout after a provisional (Timer C) proves the member was alive.
    const memberFault = isMemberFailure(failure) && !(failure === 'timeout' && responded);
    this.deps.health?.reportCallResult(cur.member, { ok: !memberFault, reason: `call-${failure}` });
  }

  private abandon(cur: CurrentMember): void {
    if (cur.handle) cur.handle.abandon();
    else cur.abandonPending = true;
  }

  private finish(outcome: FailoverOutcome, to: 'answered' | 'failed' | 'cancelled'): void {
    this.transition(to);
    this._outcome = outcome;
    this.deps.logger?.info(
      {
        outcome: outcome.kind,
        status: 'status' in outcome ? outcome.status : undefined,
        tried: outcome.tried.length,
      },
      'trunk failover attempt ended',
    );
    this.deps.onOutcome?.(outcome);
    this.resolveDone(outcome);
  }

  private transition(to: FailoverState): void {
    const from = this._state;
    if (!EDGES[from].includes(to)) throw new Error(`illegal failover transition ${from} -> ${to}`);
    this.inviteTimer?.cancel();
    this.inviteTimer = undefined;
    this._state = to;
    switch (to) {
      case 'trying':
        this.inviteTimer = this.deps.timers.start('invite-timeout', this.opts.inviteTimeoutMs, () => {
          this.inviteTimer = undefined;
          this.onInviteTimeout();
        });
        return;
      case 'idle':
      case 'proceeding':
      case 'ringing':
      case 'answered':
      case 'failed':
      case 'cancelled':
        return;
      default: {
        const never: never = to;
        throw new Error(`unknown failover state ${String(never)}`);
      }
    }
  }

  private isTerminal(): boolean {
    return this._state === 'answered' || this._state === 'failed' || this._state === 'cancelled';
  }
}
