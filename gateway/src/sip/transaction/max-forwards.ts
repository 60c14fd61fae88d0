/**
 * Max-Forwards for the B2BUA (RFC 3261 §8.1.1.6, §16.3 step 3, §16.6 step 3). The B2BUA is a UAS on
 * one side and a UAC on the other; when it relays a request onward it carries the hop budget over so
 * loops through it still end.
 */
import type { SipRequest } from '../message/types.ts';

/** RFC 3261 §8.1.1.6: "A UAC MUST insert a Max-Forwards header field into each request it originates with a value that SHOULD be 70." */
export const DEFAULT_MAX_FORWARDS = 70;

export type MaxForwardsVerdict =
  | { action: 'forward'; remaining: number }
  /** §16.3 step 3: "If the Max-Forwards value reaches 0 ... the element MUST return a 483 (Too many hops) response." */
  | { action: 'reject'; status: 483; reason: 'Too Many Hops' }
  | { action: 'reject'; status: 400; reason: 'Invalid Max-Forwards' };

/**
 * Whether a received request may be relayed onward, and the value the relayed copy carries. A
 * missing header counts as 70 (§16.6 step 3: "If the copy does not contain a Max-Forwards header
 * field, the proxy MUST add one with a field value, which SHOULD be 70").
 */
export function checkMaxForwards(req: SipRequest): MaxForwardsVerdict {
  const raw = req.headers.get('max-forwards');
  if (raw === undefined) return { action: 'forward', remaining: DEFAULT_MAX_FORWARDS - 1 };
  const text = raw.trim();
  // §25.1: Max-Forwards = "Max-Forwards" HCOLON 1*DIGIT
  if (!/^\d{1,10}$/.test(text)) return { action: 'reject', status: 400, reason: 'Invalid Max-Forwards' };
  const value = Number(text);
  if (value === 0) return { action: 'reject', status: 483, reason: 'Too Many Hops' };
  return { action: 'forward', remaining: value - 1 };
}

/**
 * Write the decremented hop count into the outbound copy of a request. §16.6 step 3: "If the copy
 * contains a Max-Forwards header field, the proxy MUST decrement its value by one (1)."
 */
export function decrementMaxForwards(inbound: SipRequest, outbound: SipRequest): MaxForwardsVerdict {
  const verdict = checkMaxForwards(inbound);
  if (verdict.action === 'forward') outbound.headers.set('max-forwards', String(verdict.remaining));
  return verdict;
}
