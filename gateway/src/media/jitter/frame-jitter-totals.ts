/**
 * The jitter buffers of frame legs (PSTN channels), summed for the engine's dump and metrics:
 * counters add up over open and closed legs; depth, target and measured jitter are the worst of the
 * open legs (a closed leg's depth means nothing).
 */
import type { FrameJitterDump } from '../worker/frame-endpoint.ts';

export interface FrameJitterTotals {
  late: number;
  lost: number;
  concealed: number;
  duplicate: number;
  shed: number;
  resets: number;
  maxDepthFrames: number;
  maxTargetDelayMs: number;
  maxJitterMs: number;
}

/** The counters of `FrameJitterTotals`, in the order the metrics list them. */
export const JITTER_COUNTERS = ['late', 'lost', 'concealed', 'duplicate', 'shed', 'resets'] as const;

export function emptyJitterTotals(): FrameJitterTotals {
  return {
    late: 0,
    lost: 0,
    concealed: 0,
    duplicate: 0,
    shed: 0,
    resets: 0,
    maxDepthFrames: 0,
    maxTargetDelayMs: 0,
    maxJitterMs: 0,
  };
}

/** Add one leg's buffer to `into`: its counters always, its depth figures when the leg is open. */
export function addJitter(into: FrameJitterTotals, d: FrameJitterDump | undefined, open: boolean): void {
  if (!d) return;
  for (const k of JITTER_COUNTERS) into[k] += d[k];
  if (!open) return;
  into.maxDepthFrames = Math.max(into.maxDepthFrames, d.depthFrames);
  into.maxTargetDelayMs = Math.max(into.maxTargetDelayMs, d.targetDelayMs);
  into.maxJitterMs = Math.max(into.maxJitterMs, d.jitterMs);
}
