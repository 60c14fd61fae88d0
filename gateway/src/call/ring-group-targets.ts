/**
 * A ring group's plan (`routing/ring-group.ts`) as the outbound attempts of one call: each stage's
 * members' registered contacts, tagged with the stage so that they ring together and are cancelled
 * together when the stage's time is up; then the group's no-answer destination as later stages.
 * A member with no registered contact is left out; a stage left empty is skipped.
 */
import type { Destination, RingGroupPlan } from '../routing/sip-routing.ts';
import type { ContactInfo } from './b2bua.ts';
import type { OutboundTarget } from './sip-call.ts';

export interface RingGroupTargetDeps {
  contacts(number: string): ContactInfo[];
  /** The failover-ordered targets of trunks (a no-answer destination that is a trunk). */
  trunkTargets(trunkIds: readonly string[], number: string): OutboundTarget[];
}

function extensionTargets(
  number: string,
  deps: RingGroupTargetDeps,
  stage: number,
  ringTimeoutMs?: number,
): OutboundTarget[] {
  return deps.contacts(number).map((c) => ({
    kind: 'extension' as const,
    requestUri: c.contact,
    dest: c.source,
    peer: number,
    pinToSource: true,
    stage,
    ...(ringTimeoutMs !== undefined ? { ringTimeoutMs } : {}),
  }));
}

/** The attempts of `plan` in ring order; stage numbers start at `firstStage`. */
export function ringGroupTargets(
  plan: RingGroupPlan,
  deps: RingGroupTargetDeps,
  firstStage = 0,
): OutboundTarget[] {
  const out: OutboundTarget[] = [];
  let stage = firstStage;
  for (const s of plan.stages) {
    const targets = s.members.flatMap((m) => extensionTargets(m, deps, stage, s.ringMs));
    if (targets.length === 0) continue;
    out.push(...targets);
    stage++;
  }
  if (plan.noAnswer) out.push(...destinationTargets(plan.noAnswer, deps, stage));
  return out;
}

function destinationTargets(d: Destination, deps: RingGroupTargetDeps, stage: number): OutboundTarget[] {
  switch (d.type) {
    case 'extension':
      return extensionTargets(d.number, deps, stage);
    case 'trunk':
      // One stage per trunk member: members are tried one after another (failover), never together.
      return deps.trunkTargets(d.trunks, d.number).map((t, i) => ({ ...t, stage: stage + i }));
    case 'ring-group':
      return ringGroupTargets(d.group, deps, stage);
    case 'service':
    case 'reject':
      // A service number is answered by the gateway itself, not rung: not a no-answer target.
      return [];
    default: {
      const never: never = d;
      return never;
    }
  }
}
