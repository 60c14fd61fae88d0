/**
 * A tandem call: a caller on one PSTN channel (a legacy PBX on an E1 span, an FXO line) routed out
 * on another PSTN port group. Each group of the route is dialled in order on its ports
 * (`OutboundPstnLeg`); all its ports busy (503) moves on to the next group, any other failure is
 * the caller's (busy or congestion tone with early answer). While the far line rings the caller
 * hears ringback from the line's tone plan (RFC 3960 §2.1, as for any call the gateway places).
 *
 * Media: the two channels' frame legs open in one relay worker and are wired there once the far
 * end answers, so a tandem call holds no RTP port pair at all; each line hears the other's frames,
 * decoded, jitter-buffered and re-encoded like any leg's. Whoever hangs up first ends the other.
 */
import type { Clock, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { PstnDialer } from '../pstn/pstn-calls.ts';
import { hasEnded } from './call.ts';
import { causeOfSipStatus } from './hangup-cause.ts';
import { OutboundPstnLeg } from './pstn-leg/outbound-pstn-leg.ts';
import type { PstnFramePort, PstnLeg } from './pstn-leg/pstn-leg.ts';

export interface PstnTandemDeps {
  dialer: PstnDialer;
  frames: PstnFramePort;
  host: string;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** A leg was placed for the caller (its CDR row is written when it ends). */
  placed(out: OutboundPstnLeg): void;
  /** The leg that answered, by the port that carried it. */
  answered(out: OutboundPstnLeg): void;
}

/**
 * Dial `number` on `groups` in order for the caller on `leg`. Resolves `done` once connected (or
 * the caller left), or with 503 while the caller still waits, every group's ports busy: the route
 * may go on with its SIP trunks. Any other failure hangs the caller up with its cause.
 */
export async function connectTandem(
  leg: PstnLeg,
  groups: readonly string[],
  number: string,
  deps: PstnTandemDeps,
): Promise<'done' | 503> {
  for (let i = 0; i < groups.length; i++) {
    if (hasEnded(leg)) return 'done';
    const r = await dialGroup(leg, groups[i] ?? '', number, i + 1, deps);
    if (r === 'done') return 'done';
    // Every port of the group busy: the next group may carry the call.
    if (r === 503) continue;
    if (!hasEnded(leg)) await leg.hangup(causeOfSipStatus(r));
    return 'done';
  }
  return hasEnded(leg) ? 'done' : 503;
}

async function dialGroup(
  leg: PstnLeg,
  group: string,
  number: string,
  attempt: number,
  deps: PstnTandemDeps,
): Promise<'done' | number> {
  const wanted = new AbortController();
  const out = OutboundPstnLeg.open({
    interactionId: leg.interactionId,
    legId: `${leg.interactionId}:p${attempt}`,
    group,
    number,
    party: { kind: 'line', id: group, number },
    dialer: deps.dialer,
    frames: deps.frames,
    host: deps.host,
    signal: wanted.signal,
    near: leg.frameKey,
    clock: deps.clock,
    timers: deps.timers,
    logger: deps.logger,
  });
  if (!out) return 503;
  deps.placed(out);
  const offCaller = leg.events.once('ended', () => wanted.abort());
  out.events.on('state', (to) => {
    if (to === 'alerting') void leg.ring();
  });
  out.events.once('ended', () => {
    if (leg.state === 'answered') void leg.hangup('normal-clearing');
  });
  const r = await out.start();
  offCaller();
  if (!r.ok) return leg.state === 'ended' ? 'done' : r.error.sipStatus;
  if (leg.state === 'ended') {
    await out.hangup('originator-cancel');
    return 'done';
  }
  // Both frame legs are still without sockets and were opened in one worker: wired, no port pair.
  if (!deps.frames.wireFrameLegs(leg.frameKey, out.mediaKey)) {
    deps.logger.warn(
      { interactionId: leg.interactionId },
      'the two channels of a tandem call could not be wired',
    );
    await out.hangup('bearer-capability-not-available');
    await leg.hangup('bearer-capability-not-available');
    return 'done';
  }
  deps.answered(out);
  const joined = out.connectWired();
  const line = joined.ok ? leg.connect() : joined;
  if (!line.ok) {
    await out.hangup('normal-clearing');
    return 'done';
  }
  leg.events.once('ended', () => void out.hangup('normal-clearing'));
  return 'done';
}
