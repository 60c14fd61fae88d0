/** The non-INVITE client transaction: RFC 3261 §17.1.2. */
import { freezeIdentity } from '../message/frozen.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../message/types.ts';
import {
  IllegalTransitionError,
  toError,
  type ClientTransactionUser,
  type TransactionContext,
} from './context.ts';
import { TimerSet } from './timer-set.ts';
import { isReliable, sharedTimers, type DerivedTimers } from './timer-values.ts';

export type NonInviteClientState = 'trying' | 'proceeding' | 'completed' | 'terminated';

const edges: Record<NonInviteClientState, readonly NonInviteClientState[]> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['proceeding', 'completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

export interface NonInviteClientDump {
  id: string;
  kind: 'non_invite_client';
  state: NonInviteClientState;
  method: string;
  branch: string;
  callId: string | undefined;
  dest: SipEndpoint;
  createdAtMs: number;
  retransmissions: number;
  armed: string[];
}

const noUser: ClientTransactionUser = { onResponse: () => undefined, onTimeout: () => undefined };

export class NonInviteClientTransaction {
  readonly kind = 'non_invite_client' as const;
  private stateValue: NonInviteClientState = 'trying';
  private readonly timerSet: TimerSet;
  private readonly durations: Readonly<DerivedTimers>;
  /** The parsed request while it may be resent; its identity alone once a final response arrived. */
  private req: SipRequest;
  private retransmissions = 0;
  private readonly createdAtMs: number;

  constructor(
    readonly id: string,
    readonly branch: string,
    request: SipRequest,
    readonly dest: SipEndpoint,
    private tu: ClientTransactionUser,
    private readonly ctx: TransactionContext,
  ) {
    this.req = request;
    this.timerSet = new TimerSet(ctx.timers);
    this.durations = sharedTimers(ctx.values, isReliable(dest.transport));
    this.createdAtMs = ctx.clock.now();
  }

  get state(): NonInviteClientState {
    return this.stateValue;
  }

  /**
   * The request sent. Once a final response arrived, only its identity is kept (start line, top
   * Via, From, To, Call-ID, CSeq; see `freezeIdentity`).
   */
  get request(): SipRequest {
    return this.req;
  }

  /**
   * §17.1.2.2: "The "Trying" state is entered when the TU initiates a new client transaction with a
   * request. When entering this state, the client transaction SHOULD set timer F to fire in 64*T1
   * seconds. The request MUST be passed to the transport layer for transmission. If an unreliable
   * transport is in use, the client transaction MUST set timer E to fire in T1 seconds."
   */
  start(): void {
    if (!this.transmit(this.req)) return;
    this.timerSet.start('F', this.durations.transactionMs, () => {
      // §17.1.2.2: "If Timer F fires while the client transaction is still in the "Trying" state,
      // the client transaction SHOULD inform the TU about the timeout, and then it SHOULD enter the
      // "Terminated" state." The same holds in "Proceeding".
      const tu = this.tu;
      this.ctx.timedOut(this.kind, 'F');
      this.transition('terminated');
      tu.onTimeout();
    });
    if (this.durations.retransmitMs !== undefined) this.armE(this.durations.retransmitMs);
  }

  receiveResponse(res: SipResponse): void {
    switch (this.stateValue) {
      case 'trying':
      case 'proceeding':
        if (res.status < 200) {
          // §17.1.2.2: "If a provisional response is received while in the "Trying" state, the
          // response MUST be passed to the TU, and then the client transaction SHOULD move to the
          // "Proceeding" state." / "If a provisional response is received while in the
          // "Proceeding" state, it MUST be passed to the TU."
          this.tu.onResponse(res);
          if (!this.ended()) this.transition('proceeding');
        } else {
          // §17.1.2.2: "If a final response (status codes 200-699) is received while in the
          // "Trying" state, the response MUST be passed to the TU, and the client transaction MUST
          // transition to the "Completed" state."
          this.tu.onResponse(res);
          if (!this.ended()) this.transition('completed');
        }
        return;
      case 'completed':
        // §17.1.2.2: the "Completed" state exists to "buffer any additional response
        // retransmissions that may be received"; they are not passed up.
        return;
      case 'terminated':
        return;
      default: {
        const never: never = this.stateValue;
        return never;
      }
    }
  }

  /** Non-INVITE requests are not cancelled (§9.1: CANCEL "has no effect" on them). */
  cancel(): boolean {
    return false;
  }

  close(): void {
    if (this.stateValue !== 'terminated') this.transition('terminated');
  }

  dump(): NonInviteClientDump {
    return {
      id: this.id,
      kind: this.kind,
      state: this.stateValue,
      method: this.req.method,
      branch: this.branch,
      callId: this.req.headers.get('call-id'),
      dest: { ...this.dest },
      createdAtMs: this.createdAtMs,
      retransmissions: this.retransmissions,
      armed: this.timerSet.armed(),
    };
  }

  /** Whether a TU callback ended the transaction (e.g. through the layer's close()). */
  private ended(): boolean {
    return this.stateValue === 'terminated';
  }

  private transition(to: NonInviteClientState): void {
    const from = this.stateValue;
    if (!edges[from].includes(to)) throw new IllegalTransitionError(this.kind, from, to);
    this.stateValue = to;
    switch (to) {
      case 'trying':
        return;
      case 'proceeding':
        // Timers E and F keep running; E's next interval becomes T2 (see armE).
        return;
      case 'completed':
        this.timerSet.stopAll();
        // "Completed" only absorbs response retransmissions (§17.1.2.2) and sends nothing: neither
        // the request nor the TU is needed any more.
        this.req = freezeIdentity(this.req);
        this.tu = noUser;
        // §17.1.2.2: "Once the client transaction enters the "Completed" state, it MUST set Timer
        // K to fire in T4 seconds for unreliable transports, and zero seconds for reliable
        // transports."
        this.timerSet.start('K', this.durations.K, () => this.transition('terminated'));
        return;
      case 'terminated':
        this.timerSet.stopAll();
        this.tu = noUser;
        this.ctx.terminated(this);
        return;
      default: {
        const never: never = to;
        return never;
      }
    }
  }

  private armE(delayMs: number): void {
    this.timerSet.start('E', delayMs, () => {
      this.retransmissions++;
      this.ctx.retransmitted(this.kind);
      if (!this.transmit(this.req)) return;
      const { T2 } = this.ctx.values;
      // §17.1.2.2: "If timer E fires while still in this state, the timer is reset, but this time
      // with a value of MIN(2*T1, T2). When the timer fires again, it is reset to a MIN(4*T1, T2)."
      // / "If Timer E fires while in the "Proceeding" state, the request MUST be passed to the
      // transport layer for retransmission, and Timer E MUST be reset with a value of T2 seconds."
      this.armE(this.stateValue === 'proceeding' ? T2 : Math.min(2 * delayMs, T2));
    });
  }

  /** §17.1.4: a transport failure is reported to the TU and ends the transaction. */
  private transmit(msg: SipRequest): boolean {
    try {
      this.ctx.send(msg, this.dest);
      return true;
    } catch (e) {
      const tu = this.tu;
      if (this.stateValue !== 'terminated') this.transition('terminated');
      tu.onTransportError?.(toError(e));
      return false;
    }
  }
}
