/**
 * Running an app on a leg: the one place that owns what happens when an app misbehaves. An app
 * is an async function of a leg (an announcement, the IVR). When it throws, the caller is not left
 * in silence: the leg is hung up with `temporary-failure` (503 before answer) and the error logged.
 * When it returns with the leg still up, the app is done with the caller and the leg is hung up
 * with `normal-clearing` — no leg outlives the app that owns it, nor do the legs it originated.
 */
import type { TimerHandle, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Leg } from './leg.ts';
import type { Call } from './call.ts';

/** An app gets the leg it answers and the call it belongs to (to originate and bridge). */
export type LegApp = (leg: Leg, call: Call) => Promise<void>;

export async function runLegApp(leg: Leg, call: Call, app: LegApp, logger: Logger): Promise<void> {
  try {
    await app(leg, call);
  } catch (e) {
    logger.error({ err: e, legId: leg.id }, 'the app on the leg failed');
    if (leg.state !== 'ended') await leg.hangup('temporary-failure');
    call.close();
    return;
  }
  if (leg.state !== 'ended') await leg.hangup('normal-clearing');
  // Legs the app originated go with it.
  call.close();
}

/** Wait `delayMs` on the injected timers, or less if the leg ends first. */
export function waitOnLeg(
  leg: Leg,
  timers: Timers,
  name: string,
  delayMs: number,
): Promise<'elapsed' | 'ended'> {
  if (leg.state === 'ended') return Promise.resolve('ended');
  return new Promise((resolve) => {
    let timer: TimerHandle | undefined = undefined;
    const off = leg.events.once('ended', () => {
      timer?.cancel();
      resolve('ended');
    });
    timer = timers.start(name, delayMs, () => {
      off();
      resolve('elapsed');
    });
  });
}
