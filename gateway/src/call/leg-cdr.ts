/**
 * A CDR row's times and outcome from a leg's dump (`LegDump`): what every leg placed by call
 * control writes the same way, whatever carried it. Wall times in ISO 8601; a leg never answered
 * bills nothing and keeps the final status it failed with.
 */
import type { LegDump } from './leg.ts';
import type { LegRecord } from './ports.ts';

export type LegOutcomeFields = Pick<
  LegRecord,
  'startedAt' | 'answeredAt' | 'endedAt' | 'durationMs' | 'billableMs' | 'status' | 'hangupCause' | 'hangupBy'
>;

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** `nowMs`: the end when the leg has none yet (wall time). `placedBy`: a placed leg's hang-up sides. */
export function legOutcome(d: LegDump, nowMs: number): LegOutcomeFields {
  const endedAt = d.end?.atMs ?? nowMs;
  return {
    startedAt: iso(d.createdAtMs) ?? '',
    answeredAt: iso(d.answeredAtMs),
    endedAt: iso(endedAt) ?? '',
    durationMs: endedAt - d.createdAtMs,
    billableMs: d.answeredAtMs === null ? 0 : endedAt - d.answeredAtMs,
    status: d.answeredAtMs === null ? (d.end?.sipStatus ?? 0) : 200,
    hangupCause: d.end?.cause ?? 'normal-clearing',
    // Of a placed leg: the far party hanging up is the callee; this gateway's side, the caller.
    hangupBy: d.end?.by === 'remote' ? 'callee' : d.end?.by === 'local' ? 'caller' : 'system',
  };
}
