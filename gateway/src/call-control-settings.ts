/**
 * Call-control settings the gateway runs with that are not part of the configuration document: one
 * place, so the composition root (`build-gateway.ts`) and the in-process tests of call control run
 * the B2BUA with the same values.
 */
export const callControlSettings = {
  /**
   * RFC 3261 §17.1.1.1: T1, the round-trip estimate, and T2, the longest retransmit interval; the
   * B2BUA's own 2xx retransmission to the caller (§13.3.1.4) runs on them.
   */
  t1Ms: 500,
  t2Ms: 4000,
  /** How long a call rings unanswered before every attempt is cancelled and the caller gets 480. */
  ringTimeoutMs: 180_000,
  /** Calls in progress above which a new INVITE gets 503. */
  maxCalls: 20_000,
  /** Option tags the UAS core accepts in Require (RFC 3261 §8.2.2.3); the rest get 420. */
  supportedExtensions: ['timer', 'replaces', 'path', 'outbound'],
} as const;
