/**
 * The set-up of the answer-first-bridge-later tests: extension 1001 (Alice) calls a service number
 * the gateway answers itself, and the app on her leg rings extension 1002, registered from a desk
 * phone and a softphone. `*48` is the connect service the gateway runs (hold prompt, ringback, busy
 * or congestion tone); `*49` is `OriginateProbe`, a connect-like app that shows what it was told.
 */
import assert from 'node:assert/strict';
import type { Result } from '../../../base/result.ts';
import type { Bridge } from '../../src/call/call.ts';
import type { CallFailure, Leg } from '../../src/call/leg.ts';
import type { SipMessage, SipRequest } from '../../src/sip/message/index.ts';
import { InProcessGateway, type TestLegApp } from './in-process-gateway.ts';
import type { IncomingCall, OutgoingCall, TestUa } from './test-ua.ts';

export const ALICE = '10.0.1.1';
export const DESK = '10.0.2.1';
export const SOFT = '10.0.2.2';
export const GW = '10.0.0.1';
export const T1 = 500;

export const originateConfig = {
  extensions: ['1001', '1002'].map((number) => ({ number, password: `secret-${number}` })),
  services: [
    { number: '*48', type: 'connect', file: 'hold.wav' },
    { number: '*49', type: 'connect' },
  ],
};

export interface ProbeOptions {
  /** Ring the caller (180) and originate before answering it; answer once the party answered. */
  ringFirst?: boolean;
  /** Throw once the party answered, before bridging. */
  throwAfterOriginate?: boolean;
  /** Throw as soon as the party is being rung, without waiting for it. */
  throwWhileOriginating?: boolean;
}

/**
 * A connect-like app: answers (or rings) the caller, originates the extension dialled after the
 * service number, bridges the two and waits for the bridge to end. On a failure it keeps the caller
 * until `done()` (or until the caller leaves), so a test can see the caller's call outlive it.
 */
export class OriginateProbe {
  options: ProbeOptions = {};
  result: Result<Leg, CallFailure> | undefined;
  /** When `originate` resolved, on the manual clock. */
  resolvedAtMs: number | undefined;
  bridged: Result<Bridge, CallFailure> | undefined;
  /** Digits pressed on the originated leg. */
  readonly digits: string[] = [];
  private release: (() => void) | undefined;

  constructor(private readonly h: InProcessGateway) {}

  /** What `originate` failed with (undefined: it has not resolved, or it succeeded). */
  get failure(): CallFailure | undefined {
    return this.result?.ok === false ? this.result.error : undefined;
  }

  /** Let the app end the caller's call it kept after a failure. */
  done(): void {
    this.release?.();
  }

  readonly app: TestLegApp = async (leg, call, s) => {
    const o = this.options;
    if (o.ringFirst) await leg.ring();
    else await leg.answer();
    const placing = call.originate({ kind: 'extension', number: s.target ?? '' });
    if (o.throwWhileOriginating) throw new Error('the app failed while the party was rung');
    const r = await placing;
    this.result = r;
    this.resolvedAtMs = this.h.clock.now();
    if (!r.ok) {
      if (leg.state === 'ended') return;
      await new Promise<void>((resolve) => {
        this.release = resolve;
        leg.events.once('ended', () => resolve());
      });
      return;
    }
    r.value.events.on('digit', (d) => this.digits.push(d.digit));
    if (o.throwAfterOriginate) throw new Error('the app failed after the party answered');
    if (o.ringFirst && !(await leg.answer()).ok) return;
    this.bridged = call.bridge(leg, r.value);
    if (this.bridged.ok) await this.bridged.value.ended;
  };
}

/** The gateway with both apps, and the phones registered (Alice, the desk phone, the softphone by default). */
export function originateSetup(
  phones: Array<[number: string, address: string]> = [
    ['1001', ALICE],
    ['1002', DESK],
    ['1002', SOFT],
  ],
): { h: InProcessGateway; probe: OriginateProbe; uas: TestUa[] } {
  const h = new InProcessGateway({ config: originateConfig, legApps: {} });
  h.serveConnect('*48');
  const probe = new OriginateProbe(h);
  h.serve('*49', probe.app);
  return { h, probe, uas: h.registered(...phones) };
}

export interface Calling {
  h: InProcessGateway;
  probe: OriginateProbe;
  /** Alice's call to the service number. */
  a: OutgoingCall;
  /** The interaction id: the key of Alice's media, and the prefix of every leg id. */
  ix: string;
  /** The phones of 1002, in the order registered. */
  callee: (i: number) => TestUa;
  /** The INVITE the `i`th phone of 1002 got from the gateway. */
  fork: (i: number) => IncomingCall;
}

/**
 * Alice dials `number` (the probe app told `o.probe`), `o.phones` registered, `o.before` run
 * first: resolves once she is answered (or rung, for an app that rings first) and every registered
 * phone of 1002 has its INVITE, before any of them has sent a response (not even 100 Trying) — or
 * once the probe's originate has failed without any INVITE.
 */
export async function calling(
  number: string,
  o: {
    phones?: Array<[number: string, address: string]>;
    probe?: ProbeOptions;
    before?: (h: InProcessGateway) => void;
  } = {},
): Promise<Calling> {
  const { h, probe, uas } = originateSetup(o.phones);
  probe.options = o.probe ?? {};
  o.before?.(h);
  const [alice, ...callees] = uas;
  assert.ok(alice);
  const a = alice.invite(number);
  const reached = () =>
    (a.status === 200 || a.responses.some((r) => r.status === 180)) &&
    (callees.every((ua) => ua.incoming.length === 1) || probe.resolvedAtMs !== undefined);
  assert.ok(await h.flowUntil(reached), 'the caller is answered and every phone of 1002 rung');
  const ix = h.localMedia.opens[0]?.key;
  assert.ok(ix, 'the caller’s media was opened');
  const pick = <T>(list: readonly T[], i: number, what: string): T => {
    const x = list[i];
    assert.ok(x !== undefined, what);
    return x;
  };
  return {
    h,
    probe,
    a,
    ix,
    callee: (i) => pick(callees, i, `phone ${i} of 1002`),
    fork: (i) => pick(pick(callees, i, `phone ${i} of 1002`).incoming, 0, `an INVITE at phone ${i}`),
  };
}

/** Alice and the desk phone of 1002 only. */
export const deskOnly: Array<[string, string]> = [
  ['1001', ALICE],
  ['1002', DESK],
];

export const isAckTo =
  (host: string) =>
  (m: SipMessage): m is SipRequest =>
    m.kind === 'request' && m.method === 'ACK' && m.uri.includes(host);
