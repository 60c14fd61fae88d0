/**
 * The INVITE client transaction: RFC 3261 §17.1.1 as updated by RFC 6026 §7.2 (the Accepted state
 * and Timer M), with the CANCEL helper of §9.1 and its bound on the wait for a final response.
 */
import { freezeIdentity, freezeRequest } from '../message/frozen.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../message/types.ts';
import {
  IllegalTransitionError,
  toError,
  type ClientTransactionUser,
  type TransactionContext,
} from './context.ts';
import { buildCancel, buildNon2xxAck } from './requests.ts';
import { TimerSet } from './timer-set.ts';
import { isReliable, sharedTimers, type DerivedTimers } from './timer-values.ts';

export type InviteClientState = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

const edges: Record<InviteClientState, readonly InviteClientState[]> = {
  calling: ['proceeding', 'completed', 'accepted', 'terminated'],
  proceeding: ['proceeding', 'completed', 'accepted', 'terminated'],
  completed: ['terminated'],
  accepted: ['terminated'],
  terminated: [],
};

export interface InviteClientDump {
  id: string;
  kind: 'invite_client';
  state: InviteClientState;
  branch: string;
  callId: string | undefined;
  dest: SipEndpoint;
  createdAtMs: number;
  retransmissions: number;
  armed: string[];
  cancelPending: boolean;
}

/** The TU of a CANCEL nobody listens to, and of a terminated transaction. */
const noUser: ClientTransactionUser = { onResponse: () => undefined, onTimeout: () => undefined };

export class InviteClientTransaction {
  readonly kind = 'invite_client' as const;
  private stateValue: InviteClientState = 'calling';
  private readonly timerSet: TimerSet;
  private readonly durations: Readonly<DerivedTimers>;
  /** The parsed INVITE while it may be resent or cancelled; its identity alone after a final response. */
  private req: SipRequest;
  private nextAMs: number | undefined;
  /** The ACK for a 3xx-6xx, in wire form once "Completed" only resends it. */
  private ack: SipRequest | undefined;
  /** Whether a non-2xx final response arrived: CANCEL is no longer possible (§9.1). */
  private finalSeen = false;
  private retransmissions = 0;
  private readonly createdAtMs: number;
  private cancelRequested = false;
  private cancelUser: ClientTransactionUser | undefined;

  constructor(
    readonly id: string,
    readonly branch: string,
    request: SipRequest,
    readonly dest: SipEndpoint,
    private tu: ClientTransactionUser,
    private readonly ctx: TransactionContext,
    /** Starts the CANCEL as its own non-INVITE client transaction (§9.1). */
    private readonly startCancel: (cancel: SipRequest, dest: SipEndpoint, tu: ClientTransactionUser) => void,
  ) {
    this.req = request;
    this.timerSet = new TimerSet(ctx.timers);
    this.durations = sharedTimers(ctx.values, isReliable(dest.transport));
    this.createdAtMs = ctx.clock.now();
  }

  get state(): InviteClientState {
    return this.stateValue;
  }

  /**
   * The INVITE sent. Once a final response arrived, only its identity is kept (start line, top
   * Via, From, To, Call-ID, CSeq; see `freezeIdentity`): the TU keeps what its dialog needs.
   */
  get request(): SipRequest {
    return this.req;
  }

  /**
   * §17.1.1.2: "The initial state, "calling", MUST be entered when the TU initiates a new client
   * transaction with an INVITE request. The client transaction MUST pass the request to the
   * transport layer for transmission".
   */
  start(): void {
    if (!this.transmit(this.req)) return;
    this.enterCalling();
  }

  /** Called by the layer with each response matched to this transaction (§17.1.3). */
  receiveResponse(res: SipResponse): void {
    const status = res.status;
    switch (this.stateValue) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          // §17.1.1.2: "If the client transaction receives a provisional response while in the
          // "Calling" state, it transitions to the "Proceeding" state. In the "Proceeding" state,
          // the client transaction SHOULD NOT retransmit the request any longer. Furthermore, the
          // provisional response MUST be passed to the TU."
          this.transition('proceeding');
          this.tu.onResponse(res);
          this.sendPendingCancel();
        } else if (status < 300) {
          // RFC 6026 §8.4: "If a 2xx response is received while the client INVITE state machine is
          // in the "Calling" or "Proceeding" states, it MUST transition to the "Accepted" state,
          // pass the 2xx response to the TU, and set Timer M to 64*T1."
          this.cancelRequested = false;
          this.transition('accepted');
          this.tu.onResponse(res);
        } else {
          // §17.1.1.2: "When in either the "Calling" or "Proceeding" states, reception of a
          // response with status code from 300-699 MUST cause the client transaction to transition
          // to "Completed". The client transaction MUST pass the received response up to the TU,
          // and the client transaction MUST generate an ACK request, even if the transport is
          // reliable".
          this.cancelRequested = false;
          this.finalSeen = true;
          this.ack = buildNon2xxAck(this.req, res);
          this.tu.onResponse(res);
          if (this.ended() || !this.transmit(this.ack)) return;
          this.transition('completed');
        }
        return;
      case 'completed':
        // §17.1.1.2: "Any retransmissions of the final response that are received while in the
        // "Completed" state MUST cause the ACK to be re-passed to the transport layer for
        // retransmission, but the newly received response MUST NOT be passed up to the TU."
        if (status >= 300 && this.ack) {
          this.ctx.retransmitted(this.kind);
          this.transmit(this.ack);
        }
        return;
      case 'accepted':
        // RFC 6026 §8.4: "any 2xx response received while in the "Accepted" state MUST be passed
        // to the TU (without transitioning)"; other responses are discarded.
        if (status >= 200 && status < 300) this.tu.onResponse(res);
        return;
      case 'terminated':
        return;
      default: {
        const never: never = this.stateValue;
        return never;
      }
    }
  }

  /**
   * §9.1: build and send a CANCEL for this INVITE. "If no provisional response has been received,
   * the CANCEL request MUST NOT be sent; rather, the client MUST wait for the arrival of a
   * provisional response before sending the request. If the original request has generated a final
   * response, the CANCEL SHOULD NOT be sent". Returns false when there is nothing left to cancel.
   */
  cancel(tu?: ClientTransactionUser): boolean {
    if ((this.stateValue !== 'calling' && this.stateValue !== 'proceeding') || this.finalSeen) return false;
    if (this.cancelRequested) return true;
    this.cancelRequested = true;
    this.cancelUser = tu;
    if (this.stateValue === 'proceeding') this.sendPendingCancel();
    return true;
  }

  /** Drop the transaction without telling the TU (layer shutdown). */
  close(): void {
    if (this.stateValue !== 'terminated') this.transition('terminated');
  }

  dump(): InviteClientDump {
    return {
      id: this.id,
      kind: this.kind,
      state: this.stateValue,
      branch: this.branch,
      callId: this.req.headers.get('call-id'),
      dest: { ...this.dest },
      createdAtMs: this.createdAtMs,
      retransmissions: this.retransmissions,
      armed: this.timerSet.armed(),
      cancelPending: this.cancelRequested,
    };
  }

  /** Whether a TU callback ended the transaction (e.g. through the layer's close()). */
  private ended(): boolean {
    return this.stateValue === 'terminated';
  }

  /** The guarded state change: rejects edges the machine lacks, stops and starts the state's timers. */
  private transition(to: InviteClientState): void {
    const from = this.stateValue;
    if (!edges[from].includes(to)) throw new IllegalTransitionError(this.kind, from, to);
    this.stateValue = to;
    switch (to) {
      case 'calling':
        return;
      case 'proceeding':
        // §17.1.1.2: in "Proceeding" the request is no longer retransmitted; Timer B only guards
        // "Calling" (Figure 5). The TU bounds the wait for a final response by cancelling, and the
        // CANCEL bounds it by 64·T1 (§9.1, `sendPendingCancel`).
        this.timerSet.stop('A');
        this.timerSet.stop('B');
        return;
      case 'completed':
        this.timerSet.stopAll();
        // "Completed" only resends the ACK when the final response is retransmitted, for up to
        // 32 s on UDP: the ACK is kept as octets, the INVITE as its identity.
        this.req = freezeIdentity(this.req);
        if (this.ack) this.ack = freezeRequest(this.ack);
        this.cancelUser = undefined;
        // §17.1.1.2: "The client transaction SHOULD start timer D when it enters the "Completed"
        // state, with a value of at least 32 seconds for unreliable transports, and a value of zero
        // seconds for reliable transports."
        this.timerSet.start('D', this.durations.D, () => this.transition('terminated'));
        return;
      case 'accepted':
        this.timerSet.stopAll();
        // "Accepted" passes 2xx retransmissions to the TU (RFC 6026 §8.4) and sends nothing itself.
        this.req = freezeIdentity(this.req);
        this.cancelUser = undefined;
        // RFC 6026 §8.4: "If Timer M fires while the client INVITE state machine is in the
        // "Accepted" state, the state machine MUST transition to the "Terminated" state."
        this.timerSet.start('M', this.durations.transactionMs, () => this.transition('terminated'));
        return;
      case 'terminated':
        this.timerSet.stopAll();
        this.ack = undefined;
        this.cancelUser = undefined;
        this.tu = noUser;
        this.ctx.terminated(this);
        return;
      default: {
        const never: never = to;
        return never;
      }
    }
  }

  private enterCalling(): void {
    // §17.1.1.2: "If an unreliable transport is being used, the client transaction MUST start timer
    // A with a value of T1. If a reliable transport is being used, the client transaction SHOULD NOT
    // start timer A ... For any transport, the client transaction MUST start timer B with a value of
    // 64*T1 seconds".
    this.nextAMs = this.durations.retransmitMs;
    if (this.nextAMs !== undefined) this.armA(this.nextAMs);
    // §17.1.1.2: "If the client transaction is still in the "Calling" state when timer B fires,
    // the client transaction SHOULD inform the TU that a timeout has occurred."
    this.timerSet.start('B', this.durations.transactionMs, () => this.timeOut('B'));
  }

  /** A timer bounding the wait for a final response fired: the TU is told, as of a 408 (§8.1.3.1). */
  private timeOut(timer: string): void {
    const tu = this.tu;
    this.ctx.timedOut(this.kind, timer);
    this.transition('terminated');
    tu.onTimeout();
  }

  private armA(delayMs: number): void {
    this.timerSet.start('A', delayMs, () => {
      // §17.1.1.2: "When timer A fires, the client transaction MUST retransmit the request by
      // passing it to the transport layer, and MUST reset the timer with a value of 2*T1."
      this.retransmissions++;
      this.ctx.retransmitted(this.kind);
      if (!this.transmit(this.req)) return;
      this.nextAMs = 2 * delayMs;
      this.armA(this.nextAMs);
    });
  }

  private sendPendingCancel(): void {
    if (!this.cancelRequested) return;
    this.cancelRequested = false;
    this.startCancel(buildCancel(this.req), this.dest, this.cancelUser ?? noUser);
    if (this.ended()) return;
    // §9.1: "If there is no final response for the original request in 64*T1 seconds (T1 is
    // defined in Section 17.1.1.1), the client SHOULD then consider the original transaction
    // cancelled and SHOULD destroy the client transaction handling the original request."
    // "Proceeding" has no other timer, so this is what ends the wait on a callee that rang and
    // went silent. A final response stops it (Completed and Accepted stop every timer); a later
    // provisional response does not. RFC 3261 and RFC 6026 give it no letter: it runs 64·T1 on
    // every transport, like Timer B, from the CANCEL being sent.
    this.timerSet.start('cancel-giveup', this.durations.transactionMs, () => this.timeOut('cancel-giveup'));
  }

  /**
   * §17.1.4: "the client transaction SHOULD inform the TU that a transport failure has occurred,
   * and the client transaction SHOULD transition directly to the "Terminated" state."
   */
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
