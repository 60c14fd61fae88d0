/**
 * Ring groups as ringing plans — pure policy over one configuration revision (DESIGN §4.3).
 *
 *   ringall  every member at once (each member's registered contacts forked in parallel); the
 *            first to answer wins and the others are cancelled; the group rings `ringTimeoutS`.
 *   hunt     members one after another in the configured order, each for `ringSeconds`; the
 *            whole hunt never rings longer than `ringTimeoutS`.
 * When nobody answers (every member busy, unreachable or out of time) the call goes to the
 * group's `noAnswer` destination, or fails with 480 Temporarily Unavailable without one.
 *
 * `all` and `sequential` are the earlier names of the strategies; a `sequential` group written
 * without `ringSeconds` keeps its earlier meaning: `ringTimeoutS` is each member's ring time.
 */

export type RingStrategy = 'ringall' | 'hunt';

export interface RingGroupSpec {
  id: string;
  members: readonly string[];
  strategy: 'ringall' | 'hunt' | 'all' | 'sequential';
  ringTimeoutS: number;
  ringSeconds?: number;
}

/** Members that ring together, and for how long at most. */
export interface RingStage {
  members: string[];
  ringMs: number;
}

export function ringStrategyOf(strategy: RingGroupSpec['strategy']): RingStrategy {
  return strategy === 'hunt' || strategy === 'sequential' ? 'hunt' : 'ringall';
}

/**
 * The stages of a group, in order. A hunt member whose full ring time would pass the group's
 * timeout rings only for what is left of it; members after the timeout are not rung. A member
 * that fails early (busy, unregistered) hands over to the next one at once, so the plan is the
 * longest the group can ring, never shorter than the caller waits.
 */
export function ringGroupStages(group: RingGroupSpec): RingStage[] {
  const members = [...group.members];
  if (members.length === 0) return [];
  const groupMs = group.ringTimeoutS * 1000;
  if (ringStrategyOf(group.strategy) === 'ringall') return [{ members, ringMs: groupMs }];
  const perMemberMs = (group.ringSeconds ?? group.ringTimeoutS) * 1000;
  const totalMs = group.ringSeconds === undefined ? perMemberMs * members.length : groupMs;
  const out: RingStage[] = [];
  let elapsedMs = 0;
  for (const m of members) {
    const ringMs = Math.min(perMemberMs, totalMs - elapsedMs);
    if (ringMs <= 0) break;
    out.push({ members: [m], ringMs });
    elapsedMs += ringMs;
  }
  return out;
}
