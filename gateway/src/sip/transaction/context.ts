/**
 * What a transaction needs from the layer that owns it: time, the transport port, the timer values
 * and the hooks that keep the layer's tables and counters right. Plain data and functions, so each
 * state machine can be driven alone.
 */
import type { Clock, Timers } from '../../../../base/clock.ts';
import type { SipEndpoint, SipMessage, SipResponse } from '../message/types.ts';
import type { TimerValues } from './timer-values.ts';

export type TransactionKind = 'invite_client' | 'non_invite_client' | 'invite_server' | 'non_invite_server';

export interface TransactionContext {
  clock: Clock;
  timers: Timers;
  values: TimerValues;
  /** The transport port. A thrown error is a transport failure (RFC 3261 §17.1.4, §17.2.4). */
  send(msg: SipMessage, dest: SipEndpoint): void;
  /** Called once when the transaction reaches Terminated, so the owner forgets it. */
  terminated(tx: { id: string; kind: TransactionKind }): void;
  retransmitted(kind: TransactionKind): void;
  timedOut(kind: TransactionKind, timer: string): void;
}

/** The transaction user of a client transaction (RFC 3261 §17.1: the TU is told of responses and failures). */
export interface ClientTransactionUser {
  onResponse(res: SipResponse): void;
  /** Timer B or F fired: RFC 3261 §8.1.3.1 treats this as a 408 (Request Timeout). */
  onTimeout(): void;
  onTransportError?(e: Error): void;
}

/** Optional hooks of the TU on a server transaction, for the failures only the transaction can see. */
export interface ServerTransactionUser {
  /** Timer H fired: the ACK for a 3xx-6xx never came (RFC 3261 §17.2.1). */
  onTimeout?(): void;
  onTransportError?(e: Error): void;
}

export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** Thrown for a transition the state machine does not have: a defect in the caller, never input. */
export class IllegalTransitionError extends Error {
  constructor(kind: TransactionKind, from: string, to: string) {
    super(`${kind} transaction: illegal transition ${from} -> ${to}`);
    this.name = 'IllegalTransitionError';
  }
}
