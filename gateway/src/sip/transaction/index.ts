/** The SIP transaction layer (RFC 3261 §17, RFC 6026): public surface. */
export {
  TransactionLayer,
  DEFAULT_MAX_SERVER_TRANSACTIONS,
  type TransactionLayerDeps,
  type TransactionLayerDump,
  type ClientTransaction,
  type ServerTransaction,
} from './layer.ts';
export type {
  ClientTransactionUser,
  ServerTransactionUser,
  TransactionKind,
  TransactionContext,
} from './context.ts';
export { IllegalTransitionError } from './context.ts';
export { InviteClientTransaction, type InviteClientState, type InviteClientDump } from './invite-client.ts';
export {
  NonInviteClientTransaction,
  type NonInviteClientState,
  type NonInviteClientDump,
} from './non-invite-client.ts';
export {
  InviteServerTransaction,
  TRYING_DELAY_MS,
  type InviteServerState,
  type InviteServerDump,
} from './invite-server.ts';
export {
  NonInviteServerTransaction,
  type NonInviteServerState,
  type NonInviteServerDump,
} from './non-invite-server.ts';
export {
  defaultTimerValues,
  resolveTimerValues,
  deriveTimers,
  isReliable,
  type TimerValues,
  type DerivedTimers,
} from './timer-values.ts';
export { MAGIC_COOKIE, hasMagicCookie, identify, type MessageIdentity } from './keys.ts';
export { responseDestination, stampReceived } from '../message/via-routing.ts';
export {
  checkMaxForwards,
  decrementMaxForwards,
  DEFAULT_MAX_FORWARDS,
  type MaxForwardsVerdict,
} from './max-forwards.ts';
export { buildNon2xxAck, buildCancel } from './requests.ts';
