/**
 * RFC 3261 §17.1.1.1 / Table 4 timer values, and the reliable/unreliable split of §17: timers that
 * exist only to recover from datagram loss (A, E, G) are not used over stream transports, and the
 * wait-for-retransmissions timers (D, I, J, K) are zero there.
 */
import type { SipTransportName } from '../message/types.ts';

export interface TimerValues {
  /** RTT estimate. RFC 3261 §17.1.1.1: "T1 is an estimate of the round-trip time (RTT), and it defaults to 500 ms." */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s). */
  T2: number;
  /** Maximum duration a message will remain in the network (default 5 s). */
  T4: number;
}

export const defaultTimerValues: Readonly<TimerValues> = Object.freeze({ T1: 500, T2: 4000, T4: 5000 });

export function resolveTimerValues(overrides: Partial<TimerValues> | undefined): TimerValues {
  return { ...defaultTimerValues, ...overrides };
}

/** RFC 3261 §18: UDP is unreliable; TCP and TLS (over TCP) are reliable. */
export function isReliable(transport: SipTransportName): boolean {
  switch (transport) {
    case 'udp':
      return false;
    case 'tcp':
    case 'tls':
      return true;
    default: {
      const never: never = transport;
      return never;
    }
  }
}

/** Timer durations derived from T1/T2/T4 for one transport (RFC 3261 Table 4, RFC 6026 §8.4/§8.7). */
export interface DerivedTimers {
  /** Initial A/E/G interval, or undefined when the transport is reliable (no retransmissions). */
  retransmitMs: number | undefined;
  /** B, F, H, L, M: 64·T1. */
  transactionMs: number;
  /** D: "at least 32 seconds for unreliable transports, and zero seconds for reliable". */
  D: number;
  /** I: T4 for unreliable, 0 for reliable. */
  I: number;
  /** J: 64·T1 for unreliable, 0 for reliable. */
  J: number;
  /** K: T4 for unreliable, 0 for reliable. */
  K: number;
}

/** One frozen pair of durations per TimerValues object: every transaction of a layer shares them. */
const derivedCache = new WeakMap<TimerValues, { reliable: DerivedTimers; unreliable: DerivedTimers }>();

/**
 * `deriveTimers`, computed once per `values` object and shared (read-only). The values are read
 * when first asked for; a layer's TimerValues do not change after construction.
 */
export function sharedTimers(values: TimerValues, reliable: boolean): Readonly<DerivedTimers> {
  let pair = derivedCache.get(values);
  if (!pair) {
    pair = {
      reliable: Object.freeze(deriveTimers(values, true)),
      unreliable: Object.freeze(deriveTimers(values, false)),
    };
    derivedCache.set(values, pair);
  }
  return reliable ? pair.reliable : pair.unreliable;
}

export function deriveTimers(values: TimerValues, reliable: boolean): DerivedTimers {
  return {
    retransmitMs: reliable ? undefined : values.T1,
    transactionMs: 64 * values.T1,
    D: reliable ? 0 : Math.max(32_000, 64 * values.T1),
    I: reliable ? 0 : values.T4,
    J: reliable ? 0 : 64 * values.T1,
    K: reliable ? 0 : values.T4,
  };
}
