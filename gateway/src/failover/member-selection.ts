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

import type { AttemptFailure } from '../call/failover-policy.ts';
export { NEVER_FAILOVER_STATUSES, shouldFailover, type AttemptFailure } from '../call/failover-policy.ts';

/** A sensible `failover.onStatus` for trunks: the member or its next hop failed, not the callee. */
export const DEFAULT_FAILOVER_ON_STATUS: readonly number[] = [408, 500, 502, 503, 504];

/**
 * Whether an outcome says the member itself is unhealthy (passive health): no answer at all, a
 * transport failure, or 503 — §21.5.4, the server is overloaded or in maintenance. Any other
 * response proves the member is up and handling calls.
 */
export function isMemberFailure(status: AttemptFailure): boolean {
  return status === 'timeout' || status === 'transport-error' || status === 503;
}
