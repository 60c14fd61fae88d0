/** The non-INVITE server transaction: RFC 3261 §17.2.2. */
import { freezeIdentity, freezeResponse } from '../message/frozen.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../message/types.ts';
import {
  IllegalTransitionError,
  toError,
  type ServerTransactionUser,
  type TransactionContext,
} from './context.ts';
import { TimerSet } from './timer-set.ts';
import { isReliable, sharedTimers, type DerivedTimers } from './timer-values.ts';

export type NonInviteServerState = 'trying' | 'proceeding' | 'completed' | 'terminated';

const edges: Record<NonInviteServerState, readonly NonInviteServerState[]> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['proceeding', 'completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

export interface NonInviteServerDump {
  id: string;
  kind: 'non_invite_server';
  state: NonInviteServerState;
  method: string;
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

export class NonInviteServerTransaction {
  readonly kind = 'non_invite_server' as const;
  private stateValue: NonInviteServerState = 'trying';
  private readonly timerSet: TimerSet;
  private readonly durations: Readonly<DerivedTimers>;
  /** The parsed request while the TU answers it; its identity alone once the final response is sent. */
  private req: SipRequest;
  /** In "Completed", the final response in wire form: all that state resends. */
  private lastResponse: SipResponse | undefined;
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
  ) {
    this.req = request;
    this.timerSet = new TimerSet(ctx.timers);
    this.durations = sharedTimers(ctx.values, isReliable(source.transport));
    this.createdAtMs = ctx.clock.now();
  }

  get state(): NonInviteServerState {
    return this.stateValue;
  }

  /**
   * The request that created the transaction. Once the final response is sent, only its identity
   * is kept (start line, top Via, From, To, Call-ID, CSeq; see `freezeIdentity`).
   */
  get request(): SipRequest {
    return this.req;
  }

  setUser(user: ServerTransactionUser): void {
    this.user = user;
  }

  /** §17.2.2: "The state machine is initialized in the "Trying" state". */
  start(): void {}

  receiveRequest(_retransmission: SipRequest): void {
    switch (this.stateValue) {
      case 'trying':
        // §17.2.2: "Once in the "Trying" state, any further request retransmissions are discarded."
        return;
      case 'proceeding':
      case 'completed':
        // §17.2.2: "If a retransmission of the request is received while in the "Proceeding"
        // state, the most recently sent provisional response MUST be passed to the transport layer
        // for retransmission." / "While in the "Completed" state, the server transaction MUST pass
        // the final response to the transport layer for retransmission whenever a retransmission
        // of the request is received."
        if (this.lastResponse) {
          this.retransmissions++;
          this.ctx.retransmitted(this.kind);
          this.transmit(this.lastResponse);
        }
        return;
      case 'terminated':
        return;
      default: {
        const never: never = this.stateValue;
        return never;
      }
    }
  }

  respond(res: SipResponse): boolean {
    switch (this.stateValue) {
      case 'trying':
      case 'proceeding':
        this.lastResponse = res;
        if (!this.transmit(res)) return false;
        // §17.2.2: "While in the "Trying" state, if the TU passes a provisional response to the
        // server transaction, the server transaction MUST enter the "Proceeding" state." / "If the
        // TU passes a final response (status codes 200-699) to the server while in the
        // "Proceeding" state, the transaction MUST enter the "Completed" state".
        this.transition(res.status < 200 ? 'proceeding' : 'completed');
        return true;
      case 'completed':
        // §17.2.2: "Any other final responses passed by the TU to the server transaction MUST be
        // discarded while in the "Completed" state."
        return false;
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

  dump(): NonInviteServerDump {
    return {
      id: this.id,
      kind: this.kind,
      state: this.stateValue,
      method: this.request.method,
      branch: this.branch,
      callId: this.request.headers.get('call-id'),
      source: { ...this.source },
      dest: { ...this.dest },
      createdAtMs: this.createdAtMs,
      lastStatus: this.lastResponse?.status,
      retransmissions: this.retransmissions,
      armed: this.timerSet.armed(),
    };
  }

  private transition(to: NonInviteServerState): void {
    const from = this.stateValue;
    if (!edges[from].includes(to)) throw new IllegalTransitionError(this.kind, from, to);
    this.stateValue = to;
    switch (to) {
      case 'trying':
      case 'proceeding':
        return;
      case 'completed':
        // "Completed" only resends the final response to the same destination (§17.2.2), for
        // 64·T1 on UDP: the parsed messages give way to their wire form.
        if (this.lastResponse) this.lastResponse = freezeResponse(this.lastResponse);
        this.req = freezeIdentity(this.req);
        // §17.2.2: "When the server transaction enters the "Completed" state, it MUST set Timer J
        // to fire in 64*T1 seconds for unreliable transports, and zero seconds for reliable
        // transports."
        this.timerSet.start('J', this.durations.J, () => this.transition('terminated'));
        return;
      case 'terminated':
        this.timerSet.stopAll();
        this.lastResponse = undefined;
        this.user = noUser;
        this.ctx.terminated(this);
        return;
      default: {
        const never: never = to;
        return never;
      }
    }
  }

  /** §17.2.4: a transport failure is reported to the TU and ends the transaction. */
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
