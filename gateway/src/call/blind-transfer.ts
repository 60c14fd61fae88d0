/**
 * Blind (unattended) call transfer carried out by the B2BUA: RFC 3515 (REFER) as the
 * transferor's request, RFC 5589 §6 for the flow. The transferor's REFER is not passed on to the
 * transferee: the gateway itself calls the transfer target on the transferee's behalf, reports
 * progress to the transferor in NOTIFYs (message/sipfrag), and, once the target answers, joins the
 * transferee to it in the media engine — the transferee's dialog with the gateway stays as it is.
 *
 * This file holds the parts that do not need the call's own state: reading Refer-To, building the
 * NOTIFYs, and dialling the target (`TransferDial`). `SipCall` owns the REFER and the swap.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle, Timers } from '../../../base/clock.ts';
import type { Dialog } from '../sip/dialog/dialog.ts';
import { Dialog as DialogClass } from '../sip/dialog/dialog.ts';
import type { SessionTimerConfig } from '../sip/dialog/session-timer.ts';
import { getTag, parseCSeq, parseNameAddr, parseUri } from '../sip/message/index.ts';
import { type SipEndpoint, type SipRequest, type SipResponse } from '../sip/message/types.ts';
import { AttemptPlan, splitTargets, type AttemptStep } from './attempt-plan.ts';
import { ackRetransmission, confirmingAnswer, keepAck, type SentAck } from './outbound-ack.ts';
import { inviteWithCredentials, outboundInviteHeaders } from './outbound-invite.ts';
import type { SipSenderPort } from './ports.ts';
import type { CallerIdentity, OutboundLeg, OutboundTarget } from './sip-call.ts';

/** What the transferor asked for: the target's Request-URI and the number our routing resolves. */
export interface ReferTarget {
  uri: string;
  user: string;
}

export type ReferCheck = { ok: true; value: ReferTarget } | { ok: false; status: number; reason: string };

/**
 * RFC 3515 §2.4.1: "A REFER request MUST contain exactly one Refer-To header field value." §2.1:
 * Refer-To = name-addr / addr-spec. Only a SIP URI whose user part is a number we route is
 * accepted: the gateway places the call itself, so any other scheme has nothing to resolve to.
 */
export function parseReferTo(values: readonly string[]): ReferCheck {
  if (values.length !== 1) return { ok: false, status: 400, reason: 'Bad Request (one Refer-To required)' };
  const raw = (values[0] ?? '').trim();
  const addr = parseNameAddr(raw.startsWith('<') || raw.includes('<') ? raw : `<${raw}>`);
  if (!addr.ok) return { ok: false, status: 400, reason: 'Bad Refer-To' };
  const uri = parseUri(addr.value.uri);
  if (!uri.ok) return { ok: false, status: 400, reason: 'Bad Refer-To' };
  if (uri.value.scheme !== 'sip' && uri.value.scheme !== 'sips')
    return { ok: false, status: 416, reason: 'Unsupported URI Scheme in Refer-To' };
  const sip = uri.value as {
    user?: string;
    params: Map<string, string | null>;
    headers: Map<string, string>;
  };
  for (const name of sip.headers.keys()) {
    // RFC 3891 §3 carries Replaces in the Refer-To URI for an attended transfer. Attended transfer
    // (replacing a dialog of the transferor with the target) is not done by this gateway.
    if (name.toLowerCase() === 'replaces')
      return { ok: false, status: 501, reason: 'Not Implemented (attended transfer)' };
  }
  const method = sip.params.get('method');
  // RFC 3515 §2.4.2: the method param makes the REFER ask for something other than an INVITE
  // (a BYE, a SUBSCRIBE); only a call to the target is carried out.
  if (method !== undefined && method !== null && method.toUpperCase() !== 'INVITE')
    return { ok: false, status: 603, reason: `Declined (Refer-To method ${method} not carried out)` };
  if (sip.headers.size > 0)
    return { ok: false, status: 603, reason: 'Declined (Refer-To headers not carried out)' };
  const user = sip.user ?? '';
  if (!/^[0-9*#+]+$/.test(user)) return { ok: false, status: 404, reason: 'Not Found (Refer-To user)' };
  return { ok: true, value: { uri: addr.value.uri, user } };
}

/** RFC 3420 message/sipfrag of a status line, the body of every NOTIFY of the implicit subscription. */
export function sipfrag(status: number, reason: string): Buffer {
  return Buffer.from(`SIP/2.0 ${status} ${reason}\r\n`);
}

/**
 * A NOTIFY of the implicit subscription a REFER creates (RFC 3515 §2.4.4, §2.4.5): "Event: refer",
 * with the REFER's CSeq number as `id` so that the transferor can tell it from another REFER's
 * (§2.4.6), Subscription-State active until the final status, then terminated (RFC 6665 §4.1.3).
 */
export function buildReferNotify(
  dialog: Dialog,
  referSeq: number,
  frag: { status: number; reason: string },
  contact: string,
): SipRequest {
  const final = frag.status >= 200;
  return dialog.createRequest('NOTIFY', {
    headers: [
      ['event', `refer;id=${referSeq}`],
      ['subscription-state', final ? 'terminated;reason=noresource' : 'active;expires=60'],
      ['contact', contact],
    ],
    body: sipfrag(frag.status, frag.reason),
    contentType: 'message/sipfrag;version=2.0',
  }).request;
}

/** The CSeq number of the REFER (the subscription's `id`). */
export function referSeqOf(req: SipRequest): number {
  const c = parseCSeq(req.headers.get('cseq') ?? '');
  return c.ok ? c.value.seq : 0;
}

export interface TransferDialDeps {
  sip: SipSenderPort;
  clock: Clock;
  timers: Timers;
  domain: string;
  userAgent: string;
  sessionTimer: SessionTimerConfig;
  /** The whole transfer's ring time: then every attempt is cancelled (480). */
  ringTimeoutMs: number;
  authorize(
    challenge: string,
    method: string,
    uri: string,
    creds: { username: string; password: string },
  ): string | undefined;
  via(transport: SipEndpoint['transport']): string;
  /** Told before an attempt's INVITE leaves: its media party (the far leg's policy). */
  describe(target: OutboundTarget): void;
}

export interface TransferDialEvents {
  /** A target answered: its leg is confirmed, its 2xx ACKed. */
  answered(leg: OutboundLeg, res: SipResponse): void;
  /** No target answered: the final status for the transferor's NOTIFY. */
  failed(status: number, reason: string): void;
  /** The first provisional response above 100 of any attempt (a target rings): once per transfer. */
  progress?(status: number, reason: string): void;
}

type DialState = 'dialling' | 'answered' | 'failed' | 'cancelled';

/**
 * The new outbound call of a transfer, placed for the transferee: From is the transferee (the
 * party the target will talk to), the offer is the transferee's media as the engine anchors it.
 */
export class TransferDial {
  readonly legs: OutboundLeg[] = [];
  private state: DialState = 'dialling';
  private readonly plan: AttemptPlan;
  private readonly first: OutboundTarget[];
  private ringTimer: TimerHandle | undefined;
  private progressed = false;

  constructor(
    private readonly deps: TransferDialDeps,
    private readonly from: CallerIdentity,
    private readonly offer: Buffer,
    targets: readonly OutboundTarget[],
    private readonly events: TransferDialEvents,
  ) {
    const split = splitTargets(targets);
    this.plan = new AttemptPlan(split.sequential);
    this.first = split.parallel;
  }

  get currentState(): DialState {
    return this.state;
  }

  start(): void {
    this.ringTimer = this.deps.timers.start('transfer-ring', this.deps.ringTimeoutMs, () => {
      if (this.state !== 'dialling') return;
      this.cancelLive(408);
      this.plan.stop();
      this.transition('failed');
      this.events.failed(480, 'Temporarily Unavailable');
    });
    this.follow(this.plan.begin(this.first));
  }

  /** The call ended or the transfer was abandoned: cancel what still rings. */
  cancel(): void {
    if (this.state !== 'dialling') return;
    this.cancelLive(487);
    this.plan.stop();
    this.transition('cancelled');
  }

  private transition(to: DialState): void {
    const allowed: Record<DialState, readonly DialState[]> = {
      dialling: ['answered', 'failed', 'cancelled'],
      answered: [],
      failed: [],
      cancelled: [],
    };
    if (!allowed[this.state].includes(to))
      throw new Error(`illegal transfer transition ${this.state} → ${to}`);
    this.state = to;
    switch (to) {
      case 'answered':
      case 'failed':
      case 'cancelled':
        this.ringTimer?.cancel();
        this.ringTimer = undefined;
        for (const l of this.legs) {
          l.noAnswerTimer?.cancel();
          l.ringLimitTimer?.cancel();
        }
        break;
      case 'dialling':
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown transfer state ${String(never)}`);
      }
    }
  }

  private cancelLive(status: number): void {
    for (const leg of this.legs)
      if (isLive(leg)) {
        leg.state = 'ended';
        leg.finalStatus = status;
        leg.tx?.cancel();
      }
  }

  /** Carry out a step of the plan (attempt-plan.ts): the same forking and failover as any call. */
  private follow(step: AttemptStep): void {
    if (this.state !== 'dialling') return;
    if (step.cancelOthers)
      for (const leg of this.legs) if (leg.state === 'proceeding' || leg.state === 'early') leg.tx?.cancel();
    for (const t of step.start) this.attempt(t);
    if (!step.exhausted) return;
    const status = pickFinal(this.plan.finals);
    this.transition('failed');
    this.events.failed(status.status, status.reason);
  }

  private attempt(target: OutboundTarget): void {
    const h = outboundInviteHeaders({
      via: this.deps.via(target.dest.transport),
      maxForwards: 70,
      caller: this.from,
      domain: this.deps.domain,
      target,
      sentBy: this.deps.sip.localSentBy(target.dest.transport),
      sessionTimer: this.deps.sessionTimer,
      userAgent: this.deps.userAgent,
    });
    h.append('content-type', 'application/sdp');
    this.deps.describe(target);
    const leg: OutboundLeg = {
      id: randomUUID(),
      target,
      invite: {
        kind: 'request',
        method: 'INVITE',
        uri: target.requestUri,
        version: 'SIP/2.0',
        headers: h,
        body: this.offer,
      },
      tx: undefined,
      dialog: undefined,
      state: 'calling',
      heard: false,
      noAnswerTimer: undefined,
      authTried: false,
      finalStatus: undefined,
      startedAtMs: this.deps.clock.now(),
    };
    this.legs.push(leg);
    this.send(leg);
    if (target.ringTimeoutMs !== undefined)
      leg.ringLimitTimer = this.deps.timers.start('member-ring', target.ringTimeoutMs, () => {
        if (!isLive(leg)) return;
        leg.state = 'ended';
        leg.finalStatus = 480;
        leg.tx?.cancel();
        this.follow(this.plan.abandoned(480));
      });
  }

  private send(leg: OutboundLeg): void {
    leg.tx = this.deps.sip.sendRequest(leg.invite, leg.target.dest, {
      onResponse: (res) => this.onResponse(leg, res),
      onTimeout: () => this.onFailure(leg, 408, 'timeout'),
      onTransportError: () => this.onFailure(leg, 503, 'transport-error'),
    });
    if (leg.target.noAnswerTimeoutMs !== undefined && !leg.heard) {
      leg.noAnswerTimer?.cancel();
      leg.noAnswerTimer = this.deps.timers.start('no-answer', leg.target.noAnswerTimeoutMs, () => {
        if (leg.heard || leg.state !== 'calling') return;
        leg.state = 'abandoned';
        leg.finalStatus = 408;
        this.follow(this.plan.abandoned(408));
      });
    }
  }

  private onResponse(leg: OutboundLeg, res: SipResponse): void {
    if (!leg.heard) {
      leg.heard = true;
      leg.noAnswerTimer?.cancel();
    }
    // RFC 3261 §13.2.2.4: "The UAC core MUST generate an ACK request for each 2xx received from
    // the transaction layer": the target's 2xx again (our ACK was lost) gets the same ACK again.
    if (ackRetransmission(this.deps.sip, leg.confirmedBy, res)) return;
    const status = res.status;
    if (!isLive(leg) || this.state !== 'dialling') {
      // §13.2.2.4: a 2xx to an INVITE we gave up on, or another fork's 2xx to the INVITE a target
      // answered, is ACKed, then its dialog is ended.
      if (status >= 200 && status < 300) this.ackAndBye(leg, res);
      return;
    }
    if (status < 200) {
      leg.state =
        status === 100 && leg.state === 'calling' ? 'proceeding' : status === 100 ? leg.state : 'early';
      // RFC 3515 §2.4.5: NOTIFYs may report any provisional response of the referred request;
      // the first one that says the target is alerted is worth telling the transferor.
      if (status > 100 && !this.progressed) {
        this.progressed = true;
        this.events.progress?.(status, res.reason || reasonOf(status));
      }
      return;
    }
    if (status < 300) {
      const dialog = DialogClass.fromUacResponse(leg.invite, res);
      if (!dialog.ok) {
        this.onFailure(leg, 502, 502);
        return;
      }
      dialog.value.receiveResponse(res);
      leg.dialog = dialog.value;
      leg.state = 'confirmed';
      leg.confirmedBy = confirmingAnswer(res);
      keepAck(leg.confirmedBy, this.ack(dialog.value, leg));
      this.cancelLive(487);
      this.plan.answered();
      this.transition('answered');
      this.events.answered(leg, res);
      return;
    }
    if (
      (status === 401 || status === 407) &&
      leg.target.credentials &&
      !leg.authTried &&
      this.retryWithAuth(leg, res)
    )
      return;
    this.onFailure(leg, status, status);
  }

  /** RFC 3261 §22.2: the same INVITE with credentials, CSeq + 1, a new branch. */
  private retryWithAuth(leg: OutboundLeg, res: SipResponse): boolean {
    const again = inviteWithCredentials(
      leg.invite,
      res,
      leg.target.credentials,
      (c, m, u, creds) => this.deps.authorize(c, m, u, creds),
      this.deps.via(leg.target.dest.transport),
    );
    if (!again) return false;
    leg.authTried = true;
    leg.invite = again;
    leg.state = 'calling';
    this.send(leg);
    return true;
  }

  private onFailure(leg: OutboundLeg, status: number, cause: 'timeout' | 'transport-error' | number): void {
    if (!isLive(leg)) return;
    leg.noAnswerTimer?.cancel();
    leg.ringLimitTimer?.cancel();
    const wasRinging = leg.state === 'early';
    leg.state = 'failed';
    leg.finalStatus = status;
    this.follow(this.plan.failed(leg.target, { status, cause, rang: wasRinging }));
  }

  /** ACK a 2xx (§13.2.2.4), outside any transaction; returns what was sent, and where. */
  private ack(dialog: Dialog, leg: OutboundLeg): SentAck | undefined {
    const built = dialog.createAck(leg.invite);
    if (!built.ok) return undefined;
    const request = built.value.request;
    request.headers.prepend('via', this.deps.via(leg.target.dest.transport));
    this.deps.sip.sendStateless(request, leg.target.dest);
    return { request, dest: leg.target.dest };
  }

  private ackAndBye(leg: OutboundLeg, res: SipResponse): void {
    if (!getTag(res.headers.get('to') ?? '')) return;
    const made = DialogClass.fromUacResponse(leg.invite, res);
    if (!made.ok) return;
    made.value.receiveResponse(res);
    this.ack(made.value, leg);
    const bye = made.value.createRequest('BYE').request;
    bye.headers.prepend('via', this.deps.via(leg.target.dest.transport));
    this.deps.sip.sendRequest(bye, leg.target.dest, {
      onResponse: () => undefined,
      onTimeout: () => undefined,
    });
    made.value.terminate();
  }

  dump(): {
    state: DialState;
    legs: Array<{ id: string; peer: string; state: string; status: number | null }>;
  } {
    return {
      state: this.state,
      legs: this.legs.map((l) => ({
        id: l.id,
        peer: l.target.peer,
        state: l.state,
        status: l.finalStatus ?? null,
      })),
    };
  }

  close(): void {
    this.cancel();
  }
}

function isLive(l: OutboundLeg): boolean {
  return l.state === 'calling' || l.state === 'proceeding' || l.state === 'early';
}

/** The status the transferor is told when no target answered: the most telling one (busy first). */
function pickFinal(finals: readonly number[]): { status: number; reason: string } {
  const preferred = [486, 600, 603, 404, 484, 480, 403, 408, 488];
  const status = preferred.find((p) => finals.includes(p)) ?? finals[0] ?? 480;
  return { status, reason: REASONS[status] ?? 'Failed' };
}

const REASONS: Record<number, string> = {
  180: 'Ringing',
  183: 'Session Progress',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  480: 'Temporarily Unavailable',
  484: 'Address Incomplete',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  500: 'Server Internal Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  600: 'Busy Everywhere',
  603: 'Decline',
};

/** The reason phrase we use for a status in a sipfrag. */
export function reasonOf(status: number): string {
  return REASONS[status] ?? (status < 300 ? 'OK' : 'Failed');
}
