/**
 * A Call groups the legs of one interaction: the leg that came in, and every leg an app
 * originates for it (an agent, a transfer target). It owns the interaction id, originates new legs
 * through the one outbound path (`Originator`: routing, forking to the contacts of an extension,
 * ring timeout), and bridges two answered legs in the media engine.
 *
 * Ownership is a tree (DESIGN §5.4): closing the call hangs up its legs and calls off the legs
 * still being originated; a bridge ends when either of its legs ends, and then hangs up the other,
 * so no party is left connected to nobody.
 */
import type { Result } from '../../../base/result.ts';
import { err, ok } from '../../../base/result.ts';
import type { Logger } from '../core/log.ts';
import type { CallFailure, CallFailureCode, Leg, LegDump } from './leg.ts';
import type { LocalMediaPort } from './leg-media.ts';

/** Where an app asks a new leg to go. */
export type RouteTarget = { kind: 'extension'; number: string };

/** A leg whose media is a leg of the engine the gateway terminates (bridgeable). */
export interface MediaLeg extends Leg {
  readonly mediaKey: string;
  /** Stop what the gateway plays on the leg (a bridge takes over its outgoing stream). */
  stopMedia(): void;
}

export interface OriginateRequest {
  interactionId: string;
  legId: string;
  target: RouteTarget;
  /** The leg the new one will be bridged to: its media opens in the same worker. */
  near: MediaLeg | undefined;
  /**
   * Aborted when the new leg is no longer wanted (the caller left, the call was closed): the
   * originator then cancels every attempt still ringing and resolves with its failure.
   */
  signal?: AbortSignal;
}

/** The one outbound path of call control: routing and dialling for every originated leg. */
export interface Originator {
  originate(req: OriginateRequest): Promise<Result<MediaLeg, CallFailure>>;
}

export interface Bridge {
  readonly a: Leg;
  readonly b: Leg;
  /** Ends the bridge without ending the legs. */
  unbridge(): void;
  /** Resolves when the bridge ends (a leg ended, or `unbridge`). */
  readonly ended: Promise<void>;
}

export interface CallDump {
  interactionId: string;
  legs: LegDump[];
  bridges: Array<{ a: string; b: string }>;
}

export interface CallOptions {
  first: MediaLeg;
  originator: Originator;
  media: LocalMediaPort;
  logger: Logger;
}

interface ActiveBridge {
  a: MediaLeg;
  b: MediaLeg;
  unbridge: () => void;
}

export class Call {
  readonly interactionId: string;
  private readonly members: MediaLeg[];
  private readonly bridges = new Set<ActiveBridge>();
  /** One per originate under way, aborted by `close`. */
  private readonly originating = new Set<AbortController>();
  private originated = 0;
  private closed = false;

  constructor(private readonly o: CallOptions) {
    this.interactionId = o.first.interactionId;
    this.members = [o.first];
  }

  legs(): readonly Leg[] {
    return this.members;
  }

  /**
   * A new leg to `target`, resolved once it answers. On failure the app gets the reason and keeps
   * its caller. A caller who hangs up while the new leg rings cancels it: no one is called for a
   * caller who left. The app hears of it at once, and a leg that answers all the same is hung up.
   */
  async originate(target: RouteTarget): Promise<Result<Leg, CallFailure>> {
    const near = this.members[0];
    if (this.closed || !near || near.state === 'ended')
      return err(callerGone('EDGE_ERR_CALL_LEG_ENDED', 'the caller has left'));
    const legId = `${this.interactionId}:b${++this.originated}`;
    const wanted = new AbortController();
    this.originating.add(wanted);
    const offNear = near.events.once('ended', () => wanted.abort());
    const gone = new Promise<'gone'>((resolve) =>
      wanted.signal.addEventListener('abort', () => resolve('gone'), { once: true }),
    );
    const placing = this.o.originator.originate({
      interactionId: this.interactionId,
      legId,
      target,
      near,
      signal: wanted.signal,
    });
    let r: Awaited<typeof placing> | 'gone';
    try {
      r = await Promise.race([placing, gone]);
    } finally {
      offNear();
      this.originating.delete(wanted);
    }
    if (r === 'gone' || hasEnded(near) || this.closed) {
      wanted.abort();
      // Whenever the originator settles: a leg that answered after all is not left talking to nobody.
      placing.then(
        (late) => (late.ok ? late.value.hangup('originator-cancel') : undefined),
        (e: unknown) => this.o.logger.error({ err: e, legId }, 'originating a leg failed'),
      );
      return err(callerGone('EDGE_ERR_CALL_CANCELLED', 'the caller left while the party was called'));
    }
    if (!r.ok) return r;
    this.members.push(r.value);
    return ok(r.value);
  }

  /** The leg the Call originated (or the first one) by id, as a bridgeable leg. */
  private member(leg: Leg): MediaLeg | undefined {
    return this.members.find((m) => m === leg);
  }

  /**
   * Join two answered legs of this call: each hears the other. When either ends, the other is
   * hung up with the same cause class (normal clearing).
   */
  bridge(a: Leg, b: Leg): Result<Bridge, CallFailure> {
    const ma = this.member(a);
    const mb = this.member(b);
    const fail = (message: string): Result<Bridge, CallFailure> =>
      err({ code: 'EDGE_ERR_CALL_BRIDGE', sipStatus: 500, cause: 'interworking', message });
    if (this.closed) return fail('the call is closed');
    if (!ma || !mb || ma === mb) return fail('bridge needs two legs of this call');
    if (ma.state !== 'answered' || mb.state !== 'answered') return fail('bridge needs two answered legs');
    ma.stopMedia();
    mb.stopMedia();
    const joined = this.o.media.bridge(ma.mediaKey, mb.mediaKey);
    if (!joined) return fail('the two legs cannot be joined (media gone or in two workers)');
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    const offs: Array<() => void> = [];
    const active: ActiveBridge = {
      a: ma,
      b: mb,
      unbridge: () => {
        if (!this.bridges.delete(active)) return;
        for (const off of offs) off();
        joined.unbridge();
        resolveEnded();
      },
    };
    this.bridges.add(active);
    for (const [leg, other] of [
      [ma, mb],
      [mb, ma],
    ] as const) {
      offs.push(
        leg.events.once('ended', () => {
          active.unbridge();
          if (other.state !== 'ended') void other.hangup('normal-clearing');
        }),
      );
    }
    return ok({ a: ma, b: mb, unbridge: () => active.unbridge(), ended });
  }

  dump(): CallDump {
    return {
      interactionId: this.interactionId,
      legs: this.members.map((l) => {
        const d = l.dump();
        const bridged = [...this.bridges].find((b) => b.a === l || b.b === l);
        return { ...d, bridgedTo: bridged ? (bridged.a === l ? bridged.b.id : bridged.a.id) : null };
      }),
      bridges: [...this.bridges].map((b) => ({ a: b.a.id, b: b.b.id })),
    };
  }

  /** Hang up every leg still up and end every bridge. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const wanted of [...this.originating]) wanted.abort();
    for (const b of [...this.bridges]) b.unbridge();
    for (const leg of this.members) if (leg.state !== 'ended') void leg.hangup('normal-clearing');
  }
}

function callerGone(code: CallFailureCode, message: string): CallFailure {
  return { code, sipStatus: 487, cause: 'originator-cancel', message };
}

/** Read through a function: a leg's state changes across an await, which narrowing cannot see. */
export function hasEnded(leg: Leg): boolean {
  return leg.state === 'ended';
}
