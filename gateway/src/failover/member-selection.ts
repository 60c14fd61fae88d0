/**
 * Member selection policy for a trunk: which members a new call tries, in which order, and which
 * outcomes of one member send the call on to the next. Pure functions, no state: the caller keeps
 * the round-robin counter.
 */
import { toMemberRef, type HealthLookup, type MemberRef, type TrunkMembersDef } from './types.ts';

export type SelectionPolicy = 'priority' | 'round-robin' | 'weighted';

/**
 * The status a call is answered with when no member of the trunk is usable. Kamailio's
 * `ds_select_dst` skips inactive destinations and returns false when none is left; we do the same
 * and fail fast rather than send calls into members known dead, each of which would cost the
 * caller a full `inviteTimeoutMs`. RFC 3261 §21.5.4: 503 "The server is temporarily unable to
 * process the request due to a temporary overloading or maintenance of the server."
 */
export const NO_USABLE_MEMBER_STATUS = 503;

/** 1/φ: the Weyl sequence frac(n/φ) spreads successive counters evenly over [0, 1). */
const GOLDEN_FRACTION = (Math.sqrt(5) - 1) / 2;

/**
 * The members a new call should try, best first. Members whose health is `down` are left out;
 * an empty list means "fail fast with NO_USABLE_MEMBER_STATUS".
 * - `priority`: configuration order; the first listed member takes every call while usable.
 * - `round-robin`: configuration order rotated by `rrCounter`, so successive calls start on
 *   successive members and fail over through the rest.
 * - `weighted`: the first member is drawn with probability proportional to `weight`, driven by
 *   `rrCounter` through a low-discrepancy sequence (deterministic, yet interleaved rather than in
 *   bursts); the rest follow, drawn the same way from what remains. Weight 0 marks a backup member,
 *   tried only after every weighted member, in configuration order.
 */
export function orderMembers(
  trunk: TrunkMembersDef,
  health: HealthLookup,
  policy: SelectionPolicy,
  rrCounter: number,
): MemberRef[] {
  const usable = trunk.members.map((m) => toMemberRef(trunk.id, m)).filter((m) => health(m) !== 'down');
  if (usable.length === 0) return [];
  const counter = Number.isFinite(rrCounter) ? Math.trunc(Math.abs(rrCounter)) : 0;
  switch (policy) {
    case 'priority':
      return usable;
    case 'round-robin': {
      const start = counter % usable.length;
      return [...usable.slice(start), ...usable.slice(0, start)];
    }
    case 'weighted':
      return weightedOrder(usable, counter);
    default: {
      const never: never = policy;
      throw new Error(`unknown selection policy ${String(never)}`);
    }
  }
}

function weightedOrder(usable: MemberRef[], counter: number): MemberRef[] {
  const remaining = usable.filter((m) => m.weight > 0);
  const backups = usable.filter((m) => !(m.weight > 0));
  const point = (counter * GOLDEN_FRACTION) % 1;
  const out: MemberRef[] = [];
  while (remaining.length > 0) {
    const total = remaining.reduce((s, m) => s + m.weight, 0);
    let slot = point * total;
    let index = remaining.length - 1;
    for (let i = 0; i < remaining.length; i++) {
      const w = remaining[i]?.weight ?? 0;
      if (slot < w) {
        index = i;
        break;
      }
      slot -= w;
    }
    const [picked] = remaining.splice(index, 1);
    if (picked) out.push(picked);
  }
  return [...out, ...backups];
}

export type AttemptFailure = number | 'timeout' | 'transport-error';

/**
 * Final responses that are the callee's own answer: another member would reach the same callee and
 * get the same answer, so they never trigger failover whatever the trunk configures.
 * - 404 Not Found, 410 Gone, 484 Address Incomplete (§21.4.4, §21.4.11, §21.4.22): the number is
 *   wrong or gone — true at every member.
 * - 480 Temporarily Unavailable (§21.4.18): "The callee's end system was contacted successfully but
 *   the callee is currently unavailable" — the callee was reached, so this is an answer, not a
 *   member fault.
 * - 486 Busy Here (§21.4.24), 487 Request Terminated (§21.4.25, the call was cancelled).
 * - every 6xx (§21.6): "a server has definitive information about a particular user, not just the
 *   particular instance indicated in the Request-URI" — 600 Busy Everywhere, 603 Decline,
 *   604 Does Not Exist Anywhere, 606 Not Acceptable.
 */
export const NEVER_FAILOVER_STATUSES: readonly number[] = [404, 410, 480, 484, 486, 487];

/** A sensible `failover.onStatus` for trunks: the member or its next hop failed, not the callee. */
export const DEFAULT_FAILOVER_ON_STATUS: readonly number[] = [408, 500, 502, 503, 504];

/**
 * Whether an outcome of one member sends the call on to the next member.
 * Timeouts and transport errors always do (the member never handled the call). 1xx are not
 * outcomes; 2xx and 3xx are answers (§21.2, §21.3; redirects are the caller's to follow);
 * 401/407 are challenges the authenticating UAC answers on the same member (§22.2), not a member
 * fault. Everything else fails over only when listed in `onStatus`.
 */
export function shouldFailover(status: AttemptFailure, onStatus: readonly number[]): boolean {
  if (status === 'timeout' || status === 'transport-error') return true;
  if (status < 300) return false;
  if (status < 400) return false;
  if (status === 401 || status === 407) return false;
  if (status >= 600) return false;
  if (NEVER_FAILOVER_STATUSES.includes(status)) return false;
  return onStatus.includes(status);
}

/**
 * Whether an outcome says the member itself is unhealthy (passive health): no answer at all, a
 * transport failure, or 503 — §21.5.4, the server is overloaded or in maintenance. Any other
 * response proves the member is up and handling calls.
 */
export function isMemberFailure(status: AttemptFailure): boolean {
  return status === 'timeout' || status === 'transport-error' || status === 503;
}
