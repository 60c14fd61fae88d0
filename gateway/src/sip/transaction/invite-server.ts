/**
 * The INVITE server transaction: RFC 3261 §17.2.1 as updated by RFC 6026 §7.1 (the Accepted state
 * and Timer L, which replace "2xx → Terminated" so the transaction absorbs INVITE retransmissions
 * while the TU retransmits its 2xx).
 */
import { createResponse } from '../message/index.ts';
import { freezeIdentity, freezeResponse } from '../message/frozen.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../message/types.ts';
import {
  IllegalTransitionError,
  toError,
  type ServerTransactionUser,
  type TransactionContext,
} from './context.ts';
import { hasMagicCookie } from './keys.ts';
import { TimerSet } from './timer-set.ts';
import { isReliable, sharedTimers, type DerivedTimers } from './timer-values.ts';

export type InviteServerState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

const edges: Record<InviteServerState, readonly InviteServerState[]> = {
  proceeding: ['completed', 'accepted', 'terminated'],
  completed: ['confirmed', 'terminated'],
  confirmed: ['terminated'],
  accepted: ['terminated'],
  terminated: [],
};

/**
 * §17.2.1: "the server transaction MUST generate a 100 (Trying) response unless it knows that the
 * TU will generate a provisional or final response within 200 ms". The layer cannot know that, so
 * it waits 200 ms for the TU and sends the 100 itself if nothing came.
 */
export const TRYING_DELAY_MS = 200;

export interface InviteServerDump {
  id: string;
  kind: 'invite_server';
  state: InviteServerState;
  branch: string | undefined;
  callId: string | undefined;
  source: SipEndpoint;
  dest: SipEndpoint;
  createdAtMs: number;
  lastStatus: number | undefined;
  retransmissions: number;
  armed: string[];
}

const noUser: ServerTransactionUser = {};

export class InviteServerTransaction {
  readonly kind = 'invite_server' as const;
  private stateValue: InviteServerState = 'proceeding';
  private readonly timerSet: TimerSet;
  private readonly durations: Readonly<DerivedTimers>;
  /** The parsed INVITE while the TU answers it; its identity alone once a final response is sent. */
  private req: SipRequest;
  private lastProvisional: SipResponse | undefined;
  /** A 3xx-6xx in wire form while "Completed" and "Confirmed" need it (Timer G, RFC 2543 ACK match). */
  private finalResponse: SipResponse | undefined;
  private lastStatus: number | undefined;
  private user: ServerTransactionUser = noUser;
  private retransmissions = 0;
  private readonly createdAtMs: number;

  constructor(
    readonly id: string,
    readonly branch: string | undefined,
    request: SipRequest,
    readonly source: SipEndpoint,
    readonly dest: SipEndpoint,
    private readonly ctx: TransactionContext,
    /** RFC 6026 §8.7: an ACK matched in "Accepted" is for the 2xx and goes to the TU. */
    private readonly passAck: (ack: SipRequest, source: SipEndpoint) => void,
  ) {
    this.req = request;
    this.timerSet = new TimerSet(ctx.timers);
    this.durations = sharedTimers(ctx.values, isReliable(source.transport));
    this.createdAtMs = ctx.clock.now();
  }

  get state(): InviteServerState {
    return this.stateValue;
  }

  /**
   * The INVITE that created the transaction. Once a final response is sent, only its identity is
   * kept (start line, top Via, From, To, Call-ID, CSeq; see `freezeIdentity`): enough to match a
   * CANCEL to it (§9.2).
   */
  get request(): SipRequest {
    return this.req;
  }

  /**
   * The 3xx-6xx sent, in wire form, while the transaction can still see its ACK (the To tag an RFC
   * 2543 ACK is matched against). After a 2xx the TU owns the response and its retransmissions
   * (RFC 6026 §8.7), and any ACK goes to the TU whether it matches or not, so none is kept.
   */
  get response(): SipResponse | undefined {
    return this.finalResponse;
  }

  setUser(user: ServerTransactionUser): void {
    this.user = user;
  }

  /** §17.2.1: "When a server transaction is constructed for a request, it enters the "Proceeding" state." */
  start(): void {
    this.timerSet.start('Trying', TRYING_DELAY_MS, () => {
      if (this.stateValue !== 'proceeding' || this.lastProvisional) return;
      this.respond(createResponse(this.request, 100, 'Trying'));
    });
  }

  /** A retransmission of the INVITE that created this transaction (§17.2.3 match). */
  receiveRequest(_retransmission: SipRequest): void {
    switch (this.stateValue) {
      case 'proceeding':
        // §17.2.1: "If a request retransmission is received while in the "Proceeding" state, the
        // most recent provisional response that was received from the TU MUST be passed to the
        // transport layer for retransmission."
        if (this.lastProvisional) this.retransmit(this.lastProvisional);
        return;
      case 'completed':
        // §17.2.1: "while in the "Completed" state, if a request retransmission is received, the
        // server SHOULD pass the response to the transport for retransmission."
        if (this.finalResponse) this.retransmit(this.finalResponse);
        return;
      case 'confirmed':
      case 'accepted':
        // RFC 6026 §8.7: retransmissions of the INVITE received in "Accepted" are absorbed, not
        // passed to the TU; "Confirmed" likewise only absorbs.
        return;
      case 'terminated':
        return;
      default: {
        const never: never = this.stateValue;
        return never;
      }
    }
  }

  /** An ACK that matched this transaction (§17.2.3: "except for ACK, where the method ... is INVITE"). */
  receiveAck(ack: SipRequest, source: SipEndpoint): void {
    switch (this.stateValue) {
      case 'completed':
        // §17.2.1: "If an ACK is received while the server transaction is in the "Completed"
        // state, the server transaction MUST transition to the "Confirmed" state."
        this.transition('confirmed');
        return;
      case 'confirmed':
        // §17.2.1: "The purpose of the "Confirmed" state is to absorb any additional ACK messages
        // that arrive, triggered from retransmissions of the final response."
        return;
      case 'accepted':
        // RFC 6026 §8.7: "If an ACK is received while the INVITE server transaction is in the
        // "Accepted" state, then the ACK must be passed up to the TU."
        this.passAck(ack, source);
        return;
      case 'proceeding':
      case 'terminated':
        return;
      default: {
        const never: never = this.stateValue;
        return never;
      }
    }
  }

  /** Send a response from the TU. Returns false when the state no longer takes one. */
  respond(res: SipResponse): boolean {
    const status = res.status;
    switch (this.stateValue) {
      case 'proceeding':
        if (status < 200) {
          // §17.2.1: "The TU passes any number of provisional responses to the server
          // transaction. So long as the server transaction is in the "Proceeding" state, each of
          // these MUST be passed to the transport layer for transmission."
          this.timerSet.stop('Trying');
          this.lastProvisional = res;
          this.lastStatus = status;
          return this.transmit(res);
        }
        this.lastStatus = status;
        if (status >= 300) this.finalResponse = res;
        if (!this.transmit(res)) return false;
        // RFC 6026 §8.5: "If, while in the "Proceeding" state, the TU passes a 2xx response to the
        // server transaction, the server transaction MUST pass this response to the transport
        // layer for transmission ... The server transaction MUST then transition to the
        // "Accepted" state." §17.2.1: "If, while in the "Proceeding" state, the TU passes a
        // response with status code from 300 to 699 to the server transaction, the response MUST
        // be passed to the transport layer for transmission, and the state machine MUST enter the
        // "Completed" state."
        this.transition(status < 300 ? 'accepted' : 'completed');
        return true;
      case 'accepted':
        // RFC 6026 §8.7: "While in the "Accepted" state, the server transaction MUST pass any
        // retransmission of the 2xx response received from the TU to the transport layer".
        if (status >= 200 && status < 300) return this.transmit(res);
        return false;
      case 'completed':
      case 'confirmed':
      case 'terminated':
        return false;
      default: {
        const never: never = this.stateValue;
        return never;
      }
    }
  }

  close(): void {
    if (this.stateValue !== 'terminated') this.transition('terminated');
  }

  dump(): InviteServerDump {
    return {
      id: this.id,
      kind: this.kind,
      state: this.stateValue,
      branch: this.branch,
      callId: this.request.headers.get('call-id'),
      source: { ...this.source },
      dest: { ...this.dest },
      createdAtMs: this.createdAtMs,
      lastStatus: this.lastStatus,
      retransmissions: this.retransmissions,
      armed: this.timerSet.armed(),
    };
  }

  private transition(to: InviteServerState): void {
    const from = this.stateValue;
    if (!edges[from].includes(to)) throw new IllegalTransitionError(this.kind, from, to);
    this.stateValue = to;
    switch (to) {
      case 'proceeding':
        return;
      case 'completed':
        this.timerSet.stopAll();
        // From here the transaction only resends its final response (Timer G, §17.2.1) and waits
        // for the ACK, for up to 64·T1: it keeps the response's octets, not parsed messages.
        this.release();
        if (this.finalResponse) this.finalResponse = freezeResponse(this.finalResponse);
        // §17.2.1: "When the "Completed" state is entered, timer H MUST be set to fire in 64*T1
        // seconds for all transports. Timer G is set to fire in T1 seconds, and is not set to fire
        // for reliable transports."
        if (this.durations.retransmitMs !== undefined) this.armG(this.durations.retransmitMs);
        this.timerSet.start('H', this.durations.transactionMs, () => {
          // §17.2.1: "If timer H fires while in the "Completed" state, it implies that the ACK was
          // never received. In this case, the server transaction MUST transition to the
          // "Terminated" state, and MUST indicate to the TU that a transaction failure has occurred."
          const user = this.user;
          this.ctx.timedOut(this.kind, 'H');
          this.transition('terminated');
          user.onTimeout?.();
        });
        return;
      case 'confirmed':
        this.timerSet.stopAll();
        // "Confirmed" only absorbs ACKs; the TU has nothing more to hear from this transaction.
        // The response stays only for matching RFC 2543 ACKs, which compare its To tag.
        this.user = noUser;
        if (hasMagicCookie(this.branch)) this.finalResponse = undefined;
        // §17.2.1: "When this state is entered, timer I is set to fire in T4 seconds for
        // unreliable transports, and zero seconds for reliable transports."
        this.timerSet.start('I', this.durations.I, () => this.transition('terminated'));
        return;
      case 'accepted':
        this.timerSet.stopAll();
        // "Accepted" absorbs INVITE retransmissions and passes ACKs and the TU's 2xx
        // retransmissions through (RFC 6026 §8.7): nothing of the INVITE or the 2xx is needed.
        this.release();
        // RFC 6026 §8.7: "When the INVITE server transaction enters the "Accepted" state, Timer L
        // MUST be set to fire in 64*T1 for all transports." / "If Timer L fires while the INVITE
        // server transaction is in the "Accepted" state, the transaction MUST transition to the
        // "Terminated" state."
        this.timerSet.start('L', this.durations.transactionMs, () => this.transition('terminated'));
        return;
      case 'terminated':
        this.timerSet.stopAll();
        this.release();
        this.finalResponse = undefined;
        this.user = noUser;
        this.ctx.terminated(this);
        return;
      default: {
        const never: never = to;
        return never;
      }
    }
  }

  private release(): void {
    this.req = freezeIdentity(this.req);
    this.lastProvisional = undefined;
  }

  private armG(delayMs: number): void {
    this.timerSet.start('G', delayMs, () => {
      // §17.2.1: "If timer G fires, the response is passed to the transport layer once more for
      // retransmission, and timer G is set to fire in MIN(2*T1, T2) seconds. From then on, when
      // timer G fires, the response is passed to the transport again for transmission, and timer
      // G is reset with a value that doubles, unless that value exceeds T2, in which case it is
      // reset with the value of T2."
      if (!this.finalResponse || !this.retransmit(this.finalResponse)) return;
      this.armG(Math.min(2 * delayMs, this.ctx.values.T2));
    });
  }

  private retransmit(res: SipResponse): boolean {
    this.retransmissions++;
    this.ctx.retransmitted(this.kind);
    return this.transmit(res);
  }

  /**
   * §17.2.4: when the transport reports that a response could not be sent (after the §18.2.2
   * fallbacks, which belong to the transport), the server transaction informs the TU of the failure
   * and moves directly to "Terminated".
   */
  private transmit(res: SipResponse): boolean {
    try {
      this.ctx.send(res, this.dest);
      return true;
    } catch (e) {
      const user = this.user;
      if (this.stateValue !== 'terminated') this.transition('terminated');
      user.onTransportError?.(toError(e));
      return false;
    }
  }
}
