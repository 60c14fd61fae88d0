/**
 * One B2BUA call: an inbound leg (we are its UAS) bound for life to the outbound leg that answers
 * (we are its UAC). Before answer there may be several outbound attempts: parallel forks to the
 * contacts of an extension, or sequential failover across trunk members.
 *
 * Each side is a separate dialog with its own Call-ID, tags and CSeq space (a B2BUA is two UAs,
 * RFC 3261 §6 "Back-to-Back User Agent"); nothing of one dialog's identity leaks to the other.
 */
import { randomUUID } from 'node:crypto';
import { RelayOffers } from './relay-offers.ts';
import type { Clock, TimerHandle, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import { Dialog } from '../sip/dialog/dialog.ts';
import {
  SessionTimer,
  formatSessionExpires,
  fromUacResponse,
  negotiateUas,
  type SessionTimerConfig,
  type SessionTimerParams,
} from '../sip/dialog/session-timer.ts';
import {
  createResponse,
  generateBranch,
  generateTag,
  getTag,
  splitTopLevelCommas,
} from '../sip/message/index.ts';
import { type SipEndpoint, type SipRequest, type SipResponse } from '../sip/message/types.ts';
import type {
  CallMediaQuality,
  ClientTxPort,
  MediaHook,
  MediaParty,
  ServerTxPort,
  SipSenderPort,
} from './ports.ts';
import { mapFinalStatus } from './response-policy.ts';
import { AttemptPlan, type AttemptStep } from './attempt-plan.ts';
import { ALLOWED_METHODS, inviteWithCredentials, outboundInviteHeaders } from './outbound-invite.ts';
import { DEFAULT_INFO_DURATION_MS, parseDtmfInfo } from '../media/dtmf/dtmf-info.ts';
import { reanswerServiceOffer } from '../media/sdp/service-sdp.ts';
import { buildReferNotify, parseReferTo, reasonOf, referSeqOf, TransferDial } from './blind-transfer.ts';
import { leftOnHold, TransfereeResume, twoWay } from './transfer-resume.ts';
import {
  ackRetransmission,
  confirmingAnswer,
  keepAck,
  type ConfirmingAnswer,
  type SentAck,
} from './outbound-ack.ts';

export type CallState = 'routing' | 'proceeding' | 'early' | 'answered' | 'ending' | 'ended';

import type { OutboundTarget } from './outbound-target.ts';
export type { OutboundTarget } from './outbound-target.ts';

export interface CallerIdentity {
  user: string;
  displayName?: string;
  /** Assert the identity to the next hop (P-Asserted-Identity, RFC 3325) — trusted trunks only. */
  assert: boolean;
}

export interface SipCallDeps {
  sip: SipSenderPort;
  clock: Clock;
  timers: Timers;
  media: MediaHook;
  logger: Logger;
  domain: string;
  userAgent: string;
  t1Ms: number;
  t2Ms: number;
  ringTimeoutMs: number;
  /** RFC 4028 session timers on both legs. */
  sessionTimer: SessionTimerConfig;
  /** Compute an Authorization header value for a challenge from a trunk. */
  authorize(
    challenge: string,
    method: string,
    uri: string,
    creds: { username: string; password: string },
  ): string | undefined;
  /** Register/unregister a dialog key → leg for in-dialog request routing. */
  bindDialog(key: string, call: SipCall, side: 'a' | 'b'): void;
  unbindDialog(key: string): void;
  onAttemptResult(target: OutboundTarget, result: 'ok' | 'timeout' | number): void;
  onEnded(call: SipCall): void;
  /** The call is answered (by a callee or by the gateway itself): its records open now. */
  onAnswered?(call: SipCall): void;
  /**
   * Where a blind transfer asked by `referrer` for `number` goes: the routing of a new call from
   * that party, its permission class included (no toll fraud through REFER). Without it REFER is
   * refused (501).
   */
  transferTargets?(
    referrer: MediaParty,
    number: string,
  ): { ok: true; targets: OutboundTarget[] } | { ok: false; status: number; reason: string };
}

interface InboundLeg {
  tx: ServerTxPort;
  invite: SipRequest;
  source: SipEndpoint;
  localTag: string;
  dialog: Dialog | undefined;
  finalSent: boolean;
  /** 2xx retransmission until ACK (RFC 3261 §13.3.1.4). */
  okRetransmit: TimerHandle | undefined;
  okGiveUp: TimerHandle | undefined;
  okResponse: SipResponse | undefined;
}

export interface OutboundLeg {
  id: string;
  target: OutboundTarget;
  invite: SipRequest;
  tx: ClientTxPort | undefined;
  dialog: Dialog | undefined;
  state: 'calling' | 'proceeding' | 'early' | 'confirmed' | 'abandoned' | 'failed' | 'ended';
  /** Any response (even 100 Trying) arrived: the target is alive, no fast failover on silence. */
  heard: boolean;
  noAnswerTimer: TimerHandle | undefined;
  /** A ring group member's turn (`OutboundTarget.ringTimeoutMs`). */
  ringLimitTimer?: TimerHandle;
  authTried: boolean;
  finalStatus: number | undefined;
  startedAtMs: number;
  /** The 2xx that confirmed the leg and its ACK, sent again for each retransmission of it. */
  confirmedBy?: ConfirmingAnswer;
  /** A leg answered after the call was (a transfer target), or one transferred away: its own times. */
  answeredWallMs?: number;
  endedWallMs?: number;
  endCause?: string;
}

/** A blind transfer in progress (RFC 3515 REFER from one party, RFC 5589 §6). */
interface ActiveTransfer {
  referrerSide: 'a' | 'b';
  keepSide: 'a' | 'b';
  /** The referrer's dialog and where its requests go: the implicit subscription's NOTIFYs use it. */
  referrerDialog: Dialog;
  referrerDest: SipEndpoint;
  referSeq: number;
  /** The referrer hung up before the outcome (RFC 5589 allows it): no more NOTIFYs to it. */
  referrerGone: boolean;
  /** The media engine's provisional call for the new leg. */
  newKey: string;
  dial: TransferDial;
  /**
   * NOTIFYs waiting for the previous one's response: the transferor sees the states in order
   * (RFC 6665 §4.2.2 orders them by CSeq; one outstanding at a time keeps them from crossing).
   */
  notifyQueue: Array<{ status: number; reason: string; then: (() => void) | undefined }>;
  notifying: boolean;
  /** What the target was offered (our description on its leg). */
  offer: Buffer | undefined;
}

/** A request relayed to the other leg, waiting for that leg's final response. */
interface PendingRelay {
  nearTx: ServerTxPort;
  nearSide: 'a' | 'b';
  method: string;
  /** The far-side INVITE, for ACKing its 2xx. */
  farRequest: SipRequest;
  /** The near re-INVITE carried no offer: the far 2xx carries one and its ACK waits for the near ACK's answer. */
  lateOffer: boolean;
}

export interface CallSummary {
  interactionId: string;
  state: CallState;
  caller: string;
  dialled: string;
  routeId: string | null;
  aLegTag: string;
  startedAtMs: number;
  answeredAtMs: number | null;
  endedAtMs: number | null;
  finalStatus: number | null;
  hangupBy: 'caller' | 'callee' | 'system' | null;
  hangupCause: string;
  legs: Array<{ id: string; peer: string; member: string | null; state: string; status: number | null }>;
}

export class SipCall {
  readonly interactionId = randomUUID();
  /** Per-leg media quality as the media engine last measured it, taken when the call ends (CDR). */
  mediaQuality: CallMediaQuality | undefined;
  private state: CallState = 'routing';
  private readonly a: InboundLeg;
  private readonly attempts: OutboundLeg[] = [];
  private winner: OutboundLeg | undefined;
  /** Which targets ring when (forks, stages, failover): the one policy of every outbound path. */
  private plan = new AttemptPlan();
  private ringTimer: TimerHandle | undefined;
  private relay: PendingRelay | undefined;
  /**
   * The far-side 2xx ACK deferred until the near ACK brings the answer (late offer); `keep` is
   * the confirming answer of an outbound leg, which keeps that ACK for the 2xx's retransmissions.
   */
  private deferredAck: { side: 'a' | 'b'; farInvite: SipRequest; keep?: ConfirmingAnswer } | undefined;
  /** Offer/answer on both dialogs once answered (RFC 3264 §4): which offer gets 491 or 500. */
  private readonly offers = new RelayOffers();
  readonly startedAtMs: number;
  readonly startedWallMs: number;
  answeredWallMs: number | null = null;
  endedWallMs: number | null = null;
  finalStatus: number | null = null;
  hangupBy: 'caller' | 'callee' | 'system' | null = null;
  hangupCause = '';
  private logInstance: Logger | undefined;
  /** The call's child logger, made on first use: most calls never log (pino children cost CPU). */
  private get log(): Logger {
    this.logInstance ??= this.deps.logger.child({
      interactionId: this.interactionId,
      callId: this.a.invite.headers.get('call-id'),
    });
    return this.logInstance;
  }
  private readonly callKey: string;
  /** Session timer negotiated with the caller (RFC 4028 §9, we are UAS) and with the callee (§7.2, we are UAC). */
  private aSession:
    { params: SessionTimerParams; headers: [string, string][]; timer?: SessionTimer } | undefined;
  private bSession: SessionTimer | undefined;
  /** The last description each side sent (a transfer offers the transferee's to the target). */
  private readonly lastSdp: { a?: Buffer; b?: Buffer } = {};
  /** The last description the gateway sent on each side (a transferee's resume re-offers it). */
  private readonly sentSdp: { a?: Buffer; b?: Buffer } = {};
  /** Our re-INVITE taking a transferee off hold (`transfer-resume.ts`). */
  private resume: { side: 'a' | 'b'; machine: TransfereeResume } | undefined;
  /** Who the caller is (its routing and permission class apply to a REFER it sends). */
  private callerParty: MediaParty | undefined;
  /**
   * The caller transferred the callee away and left (REFER from the calling party): when, for its
   * CDR row. The inbound side is then the transfer target's leg (`aOutbound`), a dialog where we
   * are the UAC.
   */
  inboundTransferredWallMs: number | undefined;
  private aOutbound: OutboundLeg | undefined;
  private transfer: ActiveTransfer | undefined;
  private transferCount = 0;
  /** Dialogs of parties transferred away, until their BYE: key → dialog and next hop. */
  private readonly retired = new Map<string, { dialog: Dialog; dest: SipEndpoint }>();
  /** Our description, when the gateway answered the call itself (`answerLocally`). */
  private localSdp: Buffer | undefined;
  /** Run once when the call ends (`onFinish`). */
  private readonly finishWatchers: Array<() => void> = [];

  constructor(
    private readonly deps: SipCallDeps,
    tx: ServerTxPort,
    readonly caller: CallerIdentity,
    readonly callerPeer: string,
    readonly dialled: string,
    readonly routeId: string | null,
  ) {
    this.a = {
      tx,
      invite: tx.request,
      source: tx.source,
      localTag: generateTag(),
      dialog: undefined,
      finalSent: false,
      okRetransmit: undefined,
      okGiveUp: undefined,
      okResponse: undefined,
    };
    this.startedAtMs = deps.clock.now();
    this.startedWallMs = deps.clock.wallNow();
    this.callKey = this.interactionId;
  }

  get currentState(): CallState {
    return this.state;
  }

  get inboundLeg(): Readonly<InboundLeg> {
    return this.a;
  }

  get outboundLegs(): readonly Readonly<OutboundLeg>[] {
    return this.attempts;
  }

  get answeredLeg(): Readonly<OutboundLeg> | undefined {
    return this.winner;
  }

  private transition(to: CallState): void {
    const allowed: Record<CallState, readonly CallState[]> = {
      routing: ['proceeding', 'ending', 'ended'],
      proceeding: ['early', 'answered', 'ending', 'ended'],
      early: ['answered', 'ending', 'ended'],
      answered: ['ending', 'ended'],
      ending: ['ended'],
      ended: [],
    };
    if (this.state === to) return;
    if (!allowed[this.state].includes(to)) throw new Error(`illegal call transition ${this.state} → ${to}`);
    this.state = to;
    switch (to) {
      case 'proceeding':
        this.ringTimer = this.deps.timers.start('ring', this.deps.ringTimeoutMs, () => this.onRingTimeout());
        break;
      case 'answered':
      case 'ending':
      case 'ended':
        this.ringTimer?.cancel();
        this.ringTimer = undefined;
        break;
      case 'early':
      case 'routing':
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  /**
   * RFC 4028 §9 on the caller's INVITE: reject an interval below our Min-SE with 422, otherwise
   * remember what goes into our 2xx. Returns false when the call was rejected.
   */
  negotiateSessionTimer(): boolean {
    const n = negotiateUas(this.a.invite, this.deps.sessionTimer);
    if (!n.ok) {
      this.reject(n.status, n.reason, n.headers);
      return false;
    }
    if (n.timer) this.aSession = { params: n.timer, headers: n.headers };
    return true;
  }

  /** Reject before any outbound attempt (routing said no, or auth/policy failed). */
  reject(status: number, reason?: string, headers?: Array<[string, string]>): void {
    this.respondA(status, reason, headers);
    this.finalStatus = status;
    this.hangupCause = reason ?? `rejected ${status}`;
    this.hangupBy = 'system';
    this.finish();
  }

  /**
   * Start outbound attempts. Targets in one group ring in parallel (the contacts of one
   * extension); successive groups are tried one after another (trunk members in failover order).
   */
  start(parallel: readonly OutboundTarget[], sequential: readonly OutboundTarget[] = []): void {
    this.transition('proceeding');
    this.plan = new AttemptPlan(sequential);
    this.follow(this.plan.begin(parallel));
  }

  /** Carry out a step of the plan: start its targets, cancel what it calls off, or give up. */
  private follow(step: AttemptStep): void {
    if (step.cancelOthers) {
      for (const other of this.attempts)
        if (other.state === 'proceeding' || other.state === 'early') other.tx?.cancel();
    }
    for (const t of step.start) this.attempt(t);
    if (step.exhausted) this.allFailed();
  }

  private attempt(target: OutboundTarget): void {
    if (this.state !== 'proceeding' && this.state !== 'early') return;
    const inbound = this.a.invite;
    // RFC 3261 §16.6 step 3 (applied by a B2BUA to avoid loops through it): decrement Max-Forwards.
    const mf = Number(inbound.headers.get('max-forwards') ?? '70');
    const h = outboundInviteHeaders({
      via: viaFor(this.deps.sip, target.dest.transport),
      maxForwards: Math.max(0, (Number.isFinite(mf) ? mf : 70) - 1),
      caller: this.caller,
      domain: this.deps.domain,
      target,
      sentBy: this.deps.sip.localSentBy(target.dest.transport),
      sessionTimer: this.deps.sessionTimer,
      userAgent: this.deps.userAgent,
    });
    // The far leg's media policy is the target's (trunk or extension), known before its offer.
    this.deps.media.describe?.(this.callKey, 'b', { kind: target.kind, id: target.peer });
    let body: Buffer = Buffer.alloc(0);
    if (inbound.body.length > 0) {
      const relayed = this.relaySdp('a', inbound.body);
      if (!Buffer.isBuffer(relayed)) {
        // Never started: the plan did count it, so it comes back as a failure of its own.
        this.follow(this.plan.abandoned(relayed.rejectStatus));
        return;
      }
      body = relayed;
      h.append('content-type', inbound.headers.get('content-type') ?? 'application/sdp');
    }
    const invite: SipRequest = {
      kind: 'request',
      method: 'INVITE',
      uri: target.requestUri,
      version: 'SIP/2.0',
      headers: h,
      body,
    };
    const leg: OutboundLeg = {
      id: randomUUID(),
      target,
      invite,
      tx: undefined,
      dialog: undefined,
      state: 'calling',
      heard: false,
      noAnswerTimer: undefined,
      authTried: false,
      finalStatus: undefined,
      startedAtMs: this.deps.clock.now(),
    };
    this.attempts.push(leg);
    this.sendInvite(leg);
    if (target.ringTimeoutMs !== undefined) this.ringLimit(leg, target.ringTimeoutMs);
  }

  /** A ring group member's turn is over: cancel it (RFC 3261 §9.1) and move on as if it had failed. */
  private ringLimit(leg: OutboundLeg, ringMs: number): void {
    leg.ringLimitTimer = this.deps.timers.start('member-ring', ringMs, () => {
      if (leg.state !== 'calling' && leg.state !== 'proceeding' && leg.state !== 'early') return;
      leg.noAnswerTimer?.cancel();
      leg.state = 'ended';
      leg.finalStatus = 480;
      leg.tx?.cancel();
      const step = this.plan.abandoned(480);
      if (this.state === 'proceeding' || this.state === 'early') this.follow(step);
    });
  }

  private sendInvite(leg: OutboundLeg): void {
    leg.tx = this.deps.sip.sendRequest(leg.invite, leg.target.dest, {
      onResponse: (res) => this.onOutboundResponse(leg, res),
      onTimeout: () => this.onOutboundFailure(leg, 408, 'timeout'),
      onTransportError: () => this.onOutboundFailure(leg, 503, 'transport-error'),
    });
    if (leg.target.noAnswerTimeoutMs !== undefined && !leg.heard) {
      leg.noAnswerTimer?.cancel();
      // Fail over without waiting for Timer B (32 s): a member that has not even sent
      // 100 Trying within the configured time is treated as down for this call.
      leg.noAnswerTimer = this.deps.timers.start('no-answer', leg.target.noAnswerTimeoutMs, () => {
        if (leg.heard || leg.state !== 'calling') return;
        this.log.warn({ member: leg.target.member }, 'trunk member silent, failing over');
        leg.state = 'abandoned';
        this.deps.onAttemptResult(leg.target, 'timeout');
        this.follow(this.plan.abandoned(408));
      });
    }
  }

  private onOutboundResponse(leg: OutboundLeg, res: SipResponse): void {
    if (!leg.heard) {
      leg.heard = true;
      leg.noAnswerTimer?.cancel();
    }
    // RFC 3261 §13.2.2.4: the confirming 2xx again (our ACK was lost or is still on its way) is
    // ACKed again and is nothing more, whatever became of the call since.
    if (ackRetransmission(this.deps.sip, leg.confirmedBy, res)) return;
    const status = res.status;
    if (leg.state === 'abandoned' || leg.state === 'failed' || leg.state === 'ended') {
      // A late 2xx from an attempt we gave up on: RFC 3261 §13.2.2.4 — ACK it, then BYE it.
      if (status >= 200 && status < 300) this.ackAndBye(leg, res);
      return;
    }
    if (status < 200) {
      if (status === 100) {
        if (leg.state === 'calling') leg.state = 'proceeding';
        return;
      }
      this.onOutboundProvisional(leg, res);
      return;
    }
    if (status < 300) {
      this.onOutboundAnswer(leg, res);
      return;
    }
    if ((status === 401 || status === 407) && leg.target.credentials && !leg.authTried) {
      if (this.retryWithAuth(leg, res)) return;
    }
    this.onOutboundFailure(leg, status, status);
  }

  /** RFC 3261 §22.2: resend the request with credentials, same Call-ID and tags, CSeq + 1. */
  private retryWithAuth(leg: OutboundLeg, res: SipResponse): boolean {
    const again = inviteWithCredentials(
      leg.invite,
      res,
      leg.target.credentials,
      (c, m, u, creds) => this.deps.authorize(c, m, u, creds),
      viaFor(this.deps.sip, leg.target.dest.transport),
    );
    if (!again) return false;
    leg.authTried = true;
    leg.invite = again;
    leg.state = 'calling';
    this.sendInvite(leg);
    return true;
  }

  private onOutboundProvisional(leg: OutboundLeg, res: SipResponse): void {
    leg.state = 'early';
    if (getTag(res.headers.get('to') ?? '') && !leg.dialog) {
      const early = Dialog.fromUacResponse(leg.invite, res);
      if (early.ok) leg.dialog = early.value;
    }
    if (this.state === 'proceeding') this.transition('early');
    // RFC 3261 §16.7 step 5 (a B2BUA relays the same way): provisional responses other than 100
    // go upstream at once so the caller hears ringing.
    let body: Buffer | undefined;
    if (res.body.length > 0) {
      const relayed = this.relaySdp('b', res.body);
      if (Buffer.isBuffer(relayed)) body = relayed;
    }
    this.respondA(res.status, res.reason, undefined, body, res.headers.get('content-type'));
  }

  private onOutboundAnswer(leg: OutboundLeg, res: SipResponse): void {
    if (this.winner || this.state === 'ending' || this.state === 'ended') {
      // Another fork answered first (a retransmission of the winner's 2xx never gets here), or
      // the caller left: this answer is surplus.
      this.ackAndBye(leg, res);
      return;
    }
    let dialog =
      leg.dialog && leg.dialog.id.remoteTag === getTag(res.headers.get('to') ?? '') ? leg.dialog : undefined;
    if (!dialog) {
      const made = Dialog.fromUacResponse(leg.invite, res);
      if (!made.ok) {
        // A 2xx we cannot build a dialog from (no Contact, no tag): the far end is broken.
        this.log.warn({ error: made.error.message }, 'unusable 2xx from callee');
        this.onOutboundFailure(leg, 502, 502);
        return;
      }
      dialog = made.value;
    }
    dialog.receiveResponse(res);
    leg.dialog = dialog;
    leg.state = 'confirmed';
    leg.confirmedBy = confirmingAnswer(res);
    this.winner = leg;
    this.deps.onAttemptResult(leg.target, 'ok');
    this.deps.bindDialog(dialogKeyOf(dialog), this, 'b');
    // Cancel the other forks (RFC 3261 §16.7 step 10 behaviour for a forking B2BUA).
    for (const other of this.attempts) {
      if (
        other !== leg &&
        (other.state === 'calling' || other.state === 'proceeding' || other.state === 'early')
      ) {
        other.state = 'ended';
        other.finalStatus = 487;
        other.tx?.cancel();
      }
    }
    this.plan.answered();
    // ACK now when the INVITE carried the offer; otherwise the answer is in the caller's ACK.
    const lateOffer = this.a.invite.body.length === 0 && res.body.length > 0;
    if (lateOffer) this.deferredAck = { side: 'b', farInvite: leg.invite, keep: leg.confirmedBy };
    else keepAck(leg.confirmedBy, this.sendAck(dialog, leg.invite, leg.target));
    let body: Buffer | undefined;
    if (res.body.length > 0) {
      const relayed = this.relaySdp('b', res.body);
      if (Buffer.isBuffer(relayed)) body = relayed;
    }
    this.answeredWallMs = this.deps.clock.wallNow();
    this.transition('answered');
    this.deps.onAnswered?.(this);
    this.deps.media.answered?.(this.callKey);
    this.finalStatus = 200;
    this.answerA(res.reason, body, res.headers.get('content-type'));
    this.startSessionTimers(res);
  }

  private onOutboundFailure(
    leg: OutboundLeg,
    status: number,
    cause: 'timeout' | 'transport-error' | number,
  ): void {
    if (
      leg.state === 'abandoned' ||
      leg.state === 'failed' ||
      leg.state === 'ended' ||
      leg.state === 'confirmed'
    )
      return;
    leg.noAnswerTimer?.cancel();
    const wasRinging = leg.state === 'early';
    leg.state = 'failed';
    leg.finalStatus = status;
    this.deps.onAttemptResult(
      leg.target,
      cause === 'transport-error' ? 'timeout' : cause === 'timeout' ? 'timeout' : status,
    );
    // Once the far end has rung the callee (18x) the call is the callee's: no failover.
    const step = this.plan.failed(leg.target, { status, cause, rang: wasRinging });
    if (this.state === 'ending' || this.state === 'ended') return;
    this.follow(step);
  }

  private allFailed(): void {
    if (this.state === 'ending' || this.state === 'ended' || this.winner) return;
    const trunkOnly = this.attempts.length > 0 && this.attempts.every((l) => l.target.kind === 'trunk');
    const chosen = this.plan.finalStatus(trunkOnly ? 503 : 480);
    const status = mapFinalStatus(chosen);
    this.finalStatus = status;
    this.hangupCause = `no outbound attempt succeeded (${this.plan.finals.join(',') || 'none'})`;
    this.hangupBy = 'callee';
    this.respondA(status);
    this.finish();
  }

  private onRingTimeout(): void {
    if (this.state !== 'proceeding' && this.state !== 'early') return;
    this.plan.stop();
    for (const leg of this.attempts) {
      if (leg.state === 'calling' || leg.state === 'proceeding' || leg.state === 'early') {
        leg.state = 'ended';
        leg.finalStatus = 487;
        leg.tx?.cancel();
      }
    }
    this.finalStatus = 480;
    this.hangupCause = 'no answer';
    this.hangupBy = 'system';
    this.respondA(480, 'No Answer');
    this.finish();
  }

  /**
   * A call the gateway answers itself is ringing (an app asked the caller to hear ringback first):
   * 180 Ringing on the inbound leg (RFC 3261 §13.3.1.1), and the ring timeout starts. False once a
   * final response went out.
   */
  ringLocally(): boolean {
    if (this.state !== 'routing' && this.state !== 'proceeding') return false;
    if (this.state === 'routing') this.transition('proceeding');
    this.respondA(180, 'Ringing');
    return true;
  }

  /**
   * Run `fn` once when the call ends, however it ends (after its media is released, before its
   * records are written). A watcher that throws is logged and does not stop the others.
   */
  onFinish(fn: () => void): void {
    if (this.state === 'ended') {
      fn();
      return;
    }
    this.finishWatchers.push(fn);
  }

  /**
   * Answer the caller from the gateway itself (an app's leg): 200 OK carrying `sdp`, a dialog on
   * the inbound leg only, no outbound leg; `onFinish` tells when the call ends. Returns false,
   * without answering, when the call already ended (cancelled while the media was being set up):
   * the caller then closes its media itself.
   */
  answerLocally(sdp: Buffer): boolean {
    if (this.state !== 'routing' && this.state !== 'proceeding') return false;
    this.localSdp = sdp;
    if (this.state === 'routing') this.transition('proceeding');
    this.answeredWallMs = this.deps.clock.wallNow();
    this.transition('answered');
    this.deps.onAnswered?.(this);
    this.finalStatus = 200;
    this.answerA('OK', sdp, 'application/sdp');
    return true;
  }

  /** CANCEL from the caller (RFC 3261 §9.2): 200 to the CANCEL, 487 to the INVITE, CANCEL the forks. */
  cancelByCaller(cancelTx: ServerTxPort): void {
    cancelTx.respond(createResponse(cancelTx.request, 200, 'OK', { toTag: this.a.localTag }));
    if (this.state !== 'routing' && this.state !== 'proceeding' && this.state !== 'early') return;
    this.transition('ending');
    for (const leg of this.attempts) {
      if (leg.state === 'calling' || leg.state === 'proceeding' || leg.state === 'early') {
        leg.state = 'ended';
        leg.finalStatus = 487;
        leg.tx?.cancel();
      }
    }
    this.plan.stop();
    this.finalStatus = 487;
    this.hangupBy = 'caller';
    this.hangupCause = 'cancelled by caller';
    this.respondA(487, 'Request Terminated');
    this.finish();
  }

  /** An in-dialog request on one of our dialogs. */
  onInDialogRequest(side: 'a' | 'b', tx: ServerTxPort): void {
    const req = tx.request;
    if (this.retired.size > 0 && this.onRetiredRequest(tx)) return;
    const dialog = side === 'a' ? this.a.dialog : this.winner?.dialog;
    if (!dialog) {
      tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    const check = dialog.receiveRequest(req);
    if (!check.ok) {
      tx.respond(createResponse(req, check.status, undefined, { headers: check.headers }));
      return;
    }
    if (side === 'a') this.refreshInboundSource(tx.source);
    if (
      side === 'a' &&
      this.localSdp &&
      !this.winner &&
      (req.method === 'INVITE' || req.method === 'UPDATE')
    ) {
      // The gateway is the caller's only peer: its re-offer (hold, resume, a refresh) is ours to
      // answer, there is no far leg to relay it to.
      this.answerLocalReoffer(tx);
      return;
    }
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200, 'OK'));
        if (this.transfer?.referrerSide === side) {
          // RFC 5589 §6: the transferor may hang up once its REFER is accepted; the transferee
          // waits for the target.
          this.transfer.referrerGone = true;
          dialog.terminate();
          return;
        }
        this.hangupBy = side === 'a' ? 'caller' : 'callee';
        this.hangupCause = 'normal clearing';
        this.byeOther(side);
        return;
      case 'UPDATE':
        if (req.body.length === 0) {
          // A session refresh without an offer (RFC 4028 §7.4/§9): ours to answer on this leg.
          this.answerRefresh(side, tx);
          return;
        }
        this.relayToOther(side, tx);
        return;
      case 'OPTIONS':
        // In-dialog OPTIONS is a keepalive of this leg (RFC 3261 §11): answer it here.
        tx.respond(
          createResponse(req, 200, 'OK', {
            headers: [['allow', ALLOWED_METHODS]],
          }),
        );
        return;
      case 'INFO':
        if (this.dtmfInfo(side, tx)) return;
        this.relayToOther(side, tx);
        return;
      case 'REFER':
        this.onRefer(side, tx);
        return;
      case 'INVITE':
      case 'NOTIFY':
      case 'MESSAGE':
        this.relayToOther(side, tx);
        return;
      default:
        tx.respond(
          createResponse(req, 405, 'Method Not Allowed', {
            headers: [['allow', ALLOWED_METHODS]],
          }),
        );
    }
  }

  /**
   * A DTMF INFO (application/dtmf-relay or application/dtmf) is reported to the media engine as a
   * digit, then relayed as any INFO; on a call the gateway answered itself there is no one to
   * relay to, so it is answered here. True when the request was answered.
   */
  private dtmfInfo(side: 'a' | 'b', tx: ServerTxPort): boolean {
    const req = tx.request;
    const type = req.headers.get('content-type');
    if (!type || req.body.length === 0) return false;
    const info = parseDtmfInfo(type, req.body.toString('utf8'));
    if (!info.ok) return false;
    this.deps.media.digit?.(
      this.callKey,
      side,
      info.value.digit,
      info.value.durationMs ?? DEFAULT_INFO_DURATION_MS,
    );
    if (side === 'a' && this.state === 'answered' && !this.winner?.dialog) {
      tx.respond(createResponse(req, 200, 'OK'));
      return true;
    }
    return false;
  }

  /** ACK for a 2xx (ours to the caller, or of a relayed re-INVITE). */
  onAck(side: 'a' | 'b', ack: SipRequest): void {
    if (side === 'a') {
      this.a.okRetransmit?.cancel();
      this.a.okGiveUp?.cancel();
      this.a.okRetransmit = this.a.okGiveUp = undefined;
    }
    const deferred = this.deferredAck;
    if (deferred && deferred.side !== side) {
      this.deferredAck = undefined;
      const farDialog = deferred.side === 'a' ? this.a.dialog : this.winner?.dialog;
      let body: Buffer | undefined;
      if (ack.body.length > 0) {
        const relayed = this.relaySdp(side, ack.body);
        if (Buffer.isBuffer(relayed)) body = relayed;
      }
      this.offers.ack(side, ack.body, body);
      const target = deferred.side === 'b' ? this.winner?.target : undefined;
      const sent = farDialog
        ? this.sendAck(farDialog, deferred.farInvite, target, body, ack.headers.get('content-type'))
        : undefined;
      if (deferred.keep) keepAck(deferred.keep, sent);
    }
  }

  /** Every SDP crossing the call goes through the media engine; the last one of each side is kept. */
  private relaySdp(side: 'a' | 'b', sdp: Buffer): Buffer | { rejectStatus: number } {
    const out = this.deps.media.relay(this.callKey, side, sdp);
    if (Buffer.isBuffer(out)) {
      this.lastSdp[side] = sdp;
      this.sentSdp[side === 'a' ? 'b' : 'a'] = out;
    }
    return out;
  }

  /**
   * REFER from a party of the answered call (RFC 3515): a blind transfer of the other party
   * (the transferee) to the Refer-To target, carried out here (RFC 5589 §6).
   */
  private onRefer(side: 'a' | 'b', tx: ServerTxPort): void {
    const req = tx.request;
    const refuse = (status: number, reason: string): void => tx.respond(createResponse(req, status, reason));
    const referrerDialog = side === 'a' ? this.a.dialog : this.winner?.dialog;
    if (this.state !== 'answered' || !referrerDialog || !this.winner?.dialog)
      return refuse(403, 'Forbidden (no established call to transfer)');
    // RFC 3515 §2.4.1 leaves concurrent REFERs to the recipient; one transfer at a time here.
    if (this.transfer) return refuse(491, 'Request Pending');
    // A second transfer by the party that took the caller's place is not carried out: the call's
    // inbound side is then an outbound leg, and its records would not tell the two apart.
    if (side === 'a' && this.aOutbound) return refuse(501, 'Not Implemented (transfer by a transfer target)');
    const media = this.deps.media;
    if (!media.transferOffer || !media.completeTransfer || !this.deps.transferTargets)
      return refuse(501, 'Not Implemented (transfer)');
    const target = parseReferTo(req.headers.getLines('refer-to').flatMap((l) => splitRefer(l)));
    if (!target.ok) return refuse(target.status, target.reason);
    const referrer: MediaParty | undefined =
      side === 'b' ? { kind: this.winner.target.kind, id: this.winner.target.peer } : this.callerParty;
    if (!referrer) return refuse(403, 'Forbidden (unknown referrer)');
    const routed = this.deps.transferTargets(referrer, target.value.user);
    // RFC 3515 §2.4.2: a REFER the recipient will not act on for the referrer (its permission
    // class does not reach the target) is refused, here with the status a call would get.
    if (!routed.ok && (routed.status === 403 || routed.status === 603))
      return refuse(routed.status, routed.reason);
    // RFC 5589 §6: the transferee is the other party of the transferor's call.
    const keepSide = side === 'a' ? 'b' : 'a';
    const last = this.lastSdp[keepSide];
    if (!last) return refuse(488, 'Not Acceptable Here (no media to transfer)');
    const offer = twoWay(last);
    // RFC 3515 §2.4.2: "the recipient of the REFER ... MUST respond with 202 Accepted" once it
    // will act on it; the outcome follows in NOTIFYs of the implicit subscription.
    tx.respond(createResponse(req, 202, 'Accepted', { headers: [['contact', this.contactFor(side)]] }));
    const newKey = `${this.callKey}:t${++this.transferCount}`;
    const transfer: ActiveTransfer = {
      referrerSide: side,
      keepSide,
      referrerDialog,
      referrerDest: side === 'b' ? this.winner.target.dest : this.a.source,
      referSeq: referSeqOf(req),
      referrerGone: false,
      newKey,
      dial: undefined as unknown as TransferDial,
      notifyQueue: [],
      notifying: false,
      offer: undefined,
    };
    this.transfer = transfer;
    // RFC 3515 §2.4.4: "the REFER-Recipient MUST send a NOTIFY ... immediately after the 202".
    this.notifyReferrer(transfer, 100, 'Trying');
    this.log.info({ referTo: target.value.uri, keepSide }, 'blind transfer');
    if (!routed.ok) return this.onTransferFailed(transfer, routed.status, routed.reason);
    if (routed.targets.length === 0) return this.onTransferFailed(transfer, 480, 'Temporarily Unavailable');
    const anchored = media.transferOffer(this.callKey, keepSide, newKey, offer);
    if (!Buffer.isBuffer(anchored))
      return this.onTransferFailed(transfer, anchored.rejectStatus, reasonOf(anchored.rejectStatus));
    transfer.offer = anchored;
    // The transferee is who the target will talk to: it is presented as the caller. A callee is
    // named by its extension, or by the number dialled when it is behind a trunk.
    const callee = this.winner.target;
    const transferee: CallerIdentity =
      keepSide === 'a'
        ? this.caller
        : { user: callee.kind === 'extension' ? callee.peer : this.dialled, assert: false };
    transfer.dial = new TransferDial(
      {
        sip: this.deps.sip,
        clock: this.deps.clock,
        timers: this.deps.timers,
        domain: this.deps.domain,
        userAgent: this.deps.userAgent,
        sessionTimer: this.deps.sessionTimer,
        ringTimeoutMs: this.deps.ringTimeoutMs,
        authorize: (c, m, u, creds) => this.deps.authorize(c, m, u, creds),
        via: (transport) => viaFor(this.deps.sip, transport),
        describe: (t) => media.describe?.(newKey, 'b', { kind: t.kind, id: t.peer }),
      },
      transferee,
      anchored,
      routed.targets,
      {
        answered: (leg, res) => this.onTransferAnswered(transfer, leg, res),
        failed: (status, reason) => this.onTransferFailed(transfer, status, reason),
        progress: (status, reason) => {
          if (this.transfer === transfer) this.notifyReferrer(transfer, status, reason);
        },
      },
    );
    transfer.dial.start();
  }

  /** A NOTIFY of the REFER's implicit subscription, unless the referrer has left; in order. */
  private notifyReferrer(t: ActiveTransfer, status: number, reason: string, then?: () => void): void {
    t.notifyQueue.push({ status, reason, then });
    if (!t.notifying) this.nextNotify(t);
  }

  private nextNotify(t: ActiveTransfer): void {
    const n = t.notifyQueue.shift();
    t.notifying = n !== undefined;
    if (!n) return;
    const dialog = t.referrerDialog;
    if (t.referrerGone || dialog.state === 'terminated') {
      n.then?.();
      this.nextNotify(t);
      return;
    }
    const notify = buildReferNotify(
      dialog,
      t.referSeq,
      { status: n.status, reason: n.reason },
      this.contactFor(t.referrerSide),
    );
    this.stampVia(notify, t.referrerDest);
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      n.then?.();
      this.nextNotify(t);
    };
    this.deps.sip.sendRequest(notify, t.referrerDest, {
      onResponse: (res) => {
        if (res.status >= 200) done();
      },
      onTimeout: done,
      onTransportError: done,
    });
  }

  /** The target answered: it takes the referrer's place, the transferee's dialog stays as it is. */
  private onTransferAnswered(t: ActiveTransfer, leg: OutboundLeg, res: SipResponse): void {
    const dialog = leg.dialog;
    const fail = (status: number): void => {
      if (dialog) this.byeDialog(dialog, leg.target.dest);
      leg.state = 'ended';
      leg.finalStatus = status;
      this.onTransferFailed(t, status, reasonOf(status));
    };
    if (this.transfer !== t || this.state !== 'answered' || !dialog) return fail(487);
    const answer = res.body.length > 0 ? this.deps.media.relay(t.newKey, 'b', res.body) : undefined;
    if (!answer || !Buffer.isBuffer(answer)) return fail(488);
    if (!this.deps.media.completeTransfer?.(this.callKey, t.keepSide, t.newKey)) return fail(500);
    this.lastSdp[t.referrerSide] = res.body;
    this.sentSdp[t.referrerSide] = t.offer;
    const now = this.deps.clock.wallNow();
    leg.answeredWallMs = now;
    this.attempts.push(...t.dial.legs.filter((l) => !this.attempts.includes(l)));
    if (t.referrerSide === 'b') {
      const old = this.winner;
      if (old) {
        old.answeredWallMs ??= this.answeredWallMs ?? now;
        old.endedWallMs = now;
        old.endCause = 'transferred';
        old.state = 'ended';
      }
      this.winner = leg;
      this.deps.bindDialog(dialogKeyOf(dialog), this, 'b');
      // RFC 4028 §7.2: the new leg's session timer is what its 2xx granted.
      this.bSession?.close();
      this.bSession = undefined;
      this.startBSession(res);
    } else this.takeInboundSide(leg, dialog, res, now);
    // The referrer's dialog is retired: it gets the final NOTIFY, then our BYE (RFC 5589 §6),
    // unless it hangs up first.
    const retiredKey = dialogKeyOf(t.referrerDialog);
    this.retired.set(retiredKey, { dialog: t.referrerDialog, dest: t.referrerDest });
    this.transfer = undefined;
    this.notifyReferrer(t, 200, 'OK', () => {
      const r = this.retired.get(retiredKey);
      if (!r) return;
      this.retired.delete(retiredKey);
      this.deps.unbindDialog(retiredKey);
      if (r.dialog.state !== 'terminated') this.byeDialog(r.dialog, r.dest);
    });
    // A transferee the transferor held before its REFER is resumed by us: nobody else will.
    if (leftOnHold(this.sentSdp[t.keepSide], this.lastSdp[t.keepSide])) this.startResume(t.keepSide);
  }

  /**
   * The caller transferred the callee: the target's leg becomes the call's inbound side. Its
   * dialog is one where we are the UAC, which every in-dialog path handles through `Dialog`; the
   * caller's dialog is retired (NOTIFY, then BYE) like a transferor's.
   */
  private takeInboundSide(leg: OutboundLeg, dialog: Dialog, res: SipResponse, now: number): void {
    this.inboundTransferredWallMs = now;
    this.aOutbound = leg;
    this.a.okRetransmit?.cancel();
    this.a.okGiveUp?.cancel();
    this.a.okResponse = undefined;
    this.a.dialog = dialog;
    this.a.source = leg.target.dest;
    this.deps.bindDialog(dialogKeyOf(dialog), this, 'a');
    // RFC 4028 §7.2: the new leg's session timer is what its 2xx granted; we are its UAC.
    this.aSession?.timer?.close();
    this.aSession = undefined;
    const granted = fromUacResponse(res);
    if (granted.ok && granted.value) {
      const params = granted.value;
      this.aSession = {
        params,
        headers: [],
        timer: new SessionTimer({
          timers: this.deps.timers,
          intervalS: params.intervalS,
          localRefresher: params.refresher === 'uac',
          onRefreshDue: () => this.sendRefresh('a', params.intervalS, 'uac'),
          onExpired: () => this.hangup('session timer expired (transfer target)'),
        }),
      };
    }
  }

  /** Take the transferee off hold with our own re-INVITE (`transfer-resume.ts`). */
  private startResume(side: 'a' | 'b'): void {
    if (!this.deps.media.resumeOffer || !this.sentSdp[side]) return;
    this.resume?.machine.close();
    const machine = new TransfereeResume({
      timers: this.deps.timers,
      random: Math.random,
      // The inbound dialog's Call-ID is the caller's; an outbound leg's is ours.
      ownsCallId: side === 'b',
      busy: () => this.relay !== undefined || this.deferredAck !== undefined,
      send: (final) => this.sendResume(side, final),
      resumed: () => this.log.info({ side }, 'transferee resumed'),
      failed: (cause) => {
        this.log.warn({ side, cause }, 'transferee not resumed, ending the call');
        this.hangup(cause);
      },
    });
    this.resume = { side, machine };
    this.log.info({ side }, 'resuming the transferee');
    machine.start();
  }

  /** One re-INVITE of the resume: our anchored description, a=sendrecv, version + 1 (RFC 3264 §8). */
  private sendResume(side: 'a' | 'b', final: (res: SipResponse | undefined) => void): void {
    const dialog = side === 'a' ? this.a.dialog : this.winner?.dialog;
    const previous = this.sentSdp[side];
    const offer = previous ? this.deps.media.resumeOffer?.(this.callKey, side, previous) : undefined;
    if (!dialog || dialog.state !== 'confirmed' || this.state !== 'answered' || !offer) {
      final(undefined);
      return;
    }
    this.sentSdp[side] = offer;
    const built = dialog.createRequest('INVITE', {
      body: offer,
      contentType: 'application/sdp',
      headers: [
        ['contact', this.contactFor(side)],
        ['allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE'],
      ],
    });
    const invite = built.request;
    const dest = this.destForSide(side, built.nextHop);
    this.stampVia(invite, dest);
    let settled = false;
    const settle = (res: SipResponse | undefined): void => {
      if (settled) return;
      settled = true;
      if (res && res.status >= 200 && res.status < 300 && dialog.state !== 'terminated') {
        dialog.receiveResponse(res);
        this.sendAck(dialog, invite, side === 'b' ? this.winner?.target : undefined);
        // RFC 3264 §6: the 2xx carries the transferee's answer; where it receives may be new.
        if (res.body.length > 0 && this.deps.media.resumeAnswer?.(this.callKey, side, res.body))
          this.lastSdp[side] = res.body;
        // RFC 4028 §10: a successful re-INVITE refreshes the session on its leg.
        if (side === 'a') this.aSession?.timer?.refreshed();
        else this.bSession?.refreshed();
      } else if (res) dialog.receiveResponse(res);
      final(res);
    };
    this.deps.sip.sendRequest(invite, dest, {
      onResponse: (res) => {
        if (res.status >= 200) settle(res);
      },
      onTimeout: () => settle(undefined),
      onTransportError: () => settle(undefined),
    });
  }

  /**
   * No target answered (RFC 5589 §6): the final status goes to the referrer in a NOTIFY and the
   * call stays as it was. A referrer that already hung up leaves the transferee alone: it is
   * hung up too.
   */
  private onTransferFailed(t: ActiveTransfer, status: number, reason: string): void {
    if (this.transfer !== t) return;
    this.transfer = undefined;
    this.deps.media.release(t.newKey);
    // Unanswered attempts are legs of this interaction too (CDR rows).
    if (t.dial) this.attempts.push(...t.dial.legs.filter((l) => !this.attempts.includes(l)));
    this.log.info({ status }, 'blind transfer failed');
    if (t.referrerGone) {
      this.hangupBy = t.referrerSide === 'a' ? 'caller' : 'callee';
      this.hangupCause = `transfer failed (${status})`;
      this.byeOther(t.referrerSide);
      return;
    }
    this.notifyReferrer(t, status, reason);
  }

  /** The call ends while a transfer is under way: stop dialling, release its media. */
  private endTransfer(): void {
    const t = this.transfer;
    if (!t) return;
    this.transfer = undefined;
    t.dial?.cancel();
    if (t.dial) this.attempts.push(...t.dial.legs.filter((l) => !this.attempts.includes(l)));
    this.deps.media.release(t.newKey);
  }

  /** In-dialog requests of a party transferred away: its BYE is answered, anything else 481. */
  private onRetiredRequest(tx: ServerTxPort): boolean {
    const req = tx.request;
    const key = `${req.headers.get('call-id') ?? ''}|${getTag(req.headers.get('to') ?? '') ?? ''}|${getTag(req.headers.get('from') ?? '') ?? ''}`;
    const r = this.retired.get(key);
    if (!r) return false;
    if (req.method === 'BYE') {
      // RFC 5589 §6: the transferor usually ends its dialog itself on the final NOTIFY.
      tx.respond(createResponse(req, 200, 'OK'));
      r.dialog.terminate();
      this.retired.delete(key);
      this.deps.unbindDialog(key);
      return true;
    }
    tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
    return true;
  }

  private byeDialog(dialog: Dialog, dest: SipEndpoint): void {
    if (dialog.state === 'terminated') return;
    const built = dialog.createRequest('BYE');
    this.stampVia(built.request, dest);
    this.deps.sip.sendRequest(built.request, dest, {
      onResponse: () => undefined,
      onTimeout: () => undefined,
    });
    dialog.terminate();
  }

  private relayToOther(side: 'a' | 'b', nearTx: ServerTxPort): void {
    const req = nearTx.request;
    const farSide = side === 'a' ? 'b' : 'a';
    const farDialog = farSide === 'a' ? this.a.dialog : this.winner?.dialog;
    if (!farDialog || this.state !== 'answered') {
      nearTx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    const offering = req.method === 'INVITE' || req.method === 'UPDATE' ? req.method : undefined;
    if (offering && this.resume?.machine.offering === true) {
      // A transfer's resume has our own offer outstanding toward a party: RFC 3261 §14.2, 491.
      nearTx.respond(createResponse(req, 491, 'Request Pending'));
      return;
    }
    let body: Buffer | undefined;
    const contentType = req.headers.get('content-type');
    if (req.body.length > 0) {
      if (contentType?.toLowerCase().startsWith('application/sdp')) {
        const relayed = this.relaySdp(side, req.body);
        if (!Buffer.isBuffer(relayed)) {
          nearTx.respond(createResponse(req, relayed.rejectStatus));
          return;
        }
        body = relayed;
      } else body = req.body;
    }
    if (offering) {
      // RFC 3264 §4 per dialog: glare gets 491, the same party's second offer 500 + Retry-After.
      const took = this.offers.offer(side, offering, req.body, body);
      if (!took.ok) {
        nearTx.respond(
          createResponse(req, took.status, took.reason, {
            headers: took.status === 500 ? [['retry-after', String(took.retryAfterS)]] : [],
          }),
        );
        return;
      }
    }
    const extra: Array<[string, string]> = [];
    // Session-Expires and Min-SE are per leg (each leg negotiates its own timer), never copied.
    for (const name of ['content-type', 'event', 'subscription-state', 'refer-to']) {
      const v = req.headers.get(name);
      if (v && (name !== 'content-type' || body)) extra.push([name, v]);
    }
    const built = farDialog.createRequest(req.method, { body, headers: extra });
    const farRequest = built.request;
    const dest = this.destForSide(farSide, built.nextHop);
    this.stampVia(farRequest, dest);
    const pending: PendingRelay = {
      nearTx,
      nearSide: side,
      method: req.method,
      farRequest,
      lateOffer: req.method === 'INVITE' && req.body.length === 0,
    };
    if (req.method === 'INVITE' || req.method === 'UPDATE') this.relay = pending;
    this.deps.sip.sendRequest(farRequest, dest, {
      onResponse: (res) => this.onRelayResponse(pending, farSide, res),
      onTimeout: () => this.onRelayResponse(pending, farSide, undefined),
      onTransportError: () => this.onRelayResponse(pending, farSide, undefined),
    });
  }

  private onRelayResponse(p: PendingRelay, farSide: 'a' | 'b', res: SipResponse | undefined): void {
    if (res && res.status < 200) return;
    if (this.relay === p) this.relay = undefined;
    const farDialog = farSide === 'a' ? this.a.dialog : this.winner?.dialog;
    if (!res) {
      if (p.method === 'INVITE' || p.method === 'UPDATE') this.offers.reset();
      p.nearTx.respond(createResponse(p.nearTx.request, 408, 'Request Timeout'));
      // RFC 3261 §12.2.1.2: a timeout of an in-dialog request SHOULD terminate the dialog.
      if (p.method === 'INVITE' || p.method === 'BYE') {
        this.hangupBy = 'system';
        this.hangupCause = 'in-dialog request timed out';
        this.byeOther(farSide);
      }
      return;
    }
    if (farDialog && res.status < 300) farDialog.receiveResponse(res);
    if (res.status >= 200 && res.status < 300 && (p.method === 'INVITE' || p.method === 'UPDATE')) {
      // RFC 4028 §10: a successful re-INVITE or UPDATE refreshes the session on both legs.
      this.aSession?.timer?.refreshed();
      this.bSession?.refreshed();
    }
    let body: Buffer | undefined;
    if (res.body.length > 0) {
      const relayed = this.relaySdp(farSide, res.body);
      if (Buffer.isBuffer(relayed)) body = relayed;
    }
    if (p.method === 'INVITE' || p.method === 'UPDATE')
      this.offers.finalResponse(p.nearSide, res.status, res.body, body);
    if (p.method === 'INVITE' && res.status >= 200 && res.status < 300 && farDialog) {
      if (p.lateOffer) this.deferredAck = { side: farSide, farInvite: p.farRequest };
      else this.sendAck(farDialog, p.farRequest, farSide === 'b' ? this.winner?.target : undefined);
    }
    const nearDialog = p.nearSide === 'a' ? this.a.dialog : this.winner?.dialog;
    const headers: Array<[string, string]> = [];
    if (nearDialog && res.status < 300) headers.push(['contact', this.contactFor(p.nearSide)]);
    const retryAfter = res.headers.get('retry-after');
    if (retryAfter) headers.push(['retry-after', retryAfter]);
    if (
      res.status >= 200 &&
      res.status < 300 &&
      p.nearSide === 'a' &&
      p.nearTx.request.headers.has('session-expires')
    ) {
      const n = negotiateUas(p.nearTx.request, this.deps.sessionTimer);
      if (n.ok) headers.push(...n.headers);
    }
    const out = createResponse(p.nearTx.request, mapInDialogStatus(res.status), res.reason, {
      headers,
      body,
      contentType: body ? (res.headers.get('content-type') ?? 'application/sdp') : undefined,
    });
    p.nearTx.respond(out);
  }

  /** Hang up from the system side (drain, expiry, dead caller): BYE whatever is established. */
  hangup(cause: string): void {
    if (this.state === 'ended' || this.state === 'ending') return;
    this.hangupBy = 'system';
    this.hangupCause = cause;
    if (this.state === 'answered') {
      this.transition('ending');
      this.sendBye('a');
      this.sendBye('b');
      this.finish();
      return;
    }
    this.transition('ending');
    for (const leg of this.attempts) {
      if (leg.state === 'calling' || leg.state === 'proceeding' || leg.state === 'early') {
        leg.state = 'ended';
        leg.tx?.cancel();
      }
    }
    this.finalStatus = 503;
    this.respondA(503, 'Service Unavailable', [['retry-after', '30']]);
    this.finish();
  }

  private byeOther(from: 'a' | 'b'): void {
    if (this.state === 'ended') return;
    if (this.state !== 'ending') this.transition('ending');
    this.sendBye(from === 'a' ? 'b' : 'a');
    this.finish();
  }

  private sendBye(side: 'a' | 'b'): void {
    const dialog = side === 'a' ? this.a.dialog : this.winner?.dialog;
    if (!dialog || dialog.state === 'terminated') return;
    const built = dialog.createRequest('BYE');
    const dest = this.destForSide(side, built.nextHop);
    this.stampVia(built.request, dest);
    this.deps.sip.sendRequest(built.request, dest, {
      onResponse: () => undefined,
      onTimeout: () => undefined,
    });
    dialog.terminate();
  }

  private ackAndBye(leg: OutboundLeg, res: SipResponse): void {
    const made = Dialog.fromUacResponse(leg.invite, res);
    if (!made.ok) return;
    const dialog = made.value;
    dialog.receiveResponse(res);
    this.sendAck(dialog, leg.invite, leg.target);
    const built = dialog.createRequest('BYE');
    const dest = leg.target.pinToSource ? leg.target.dest : this.resolveHop(built.nextHop, leg.target.dest);
    this.stampVia(built.request, dest);
    this.deps.sip.sendRequest(built.request, dest, {
      onResponse: () => undefined,
      onTimeout: () => undefined,
    });
    dialog.terminate();
  }

  /** ACK a 2xx (§13.2.2.4), outside any transaction; returns what was sent, and where. */
  private sendAck(
    dialog: Dialog,
    invite: SipRequest,
    target: OutboundTarget | undefined,
    body?: Buffer,
    contentType?: string,
  ): SentAck | undefined {
    const built = dialog.createAck(
      invite,
      body ? { body, contentType: contentType ?? 'application/sdp' } : undefined,
    );
    if (!built.ok) return undefined;
    const ack = built.value;
    const side = dialog === this.a.dialog ? 'a' : 'b';
    const dest =
      side === 'a'
        ? this.a.source
        : target?.pinToSource
          ? target.dest
          : this.resolveHop(ack.nextHop, target?.dest ?? this.a.source);
    this.stampVia(ack.request, dest);
    this.deps.sip.sendStateless(ack.request, dest);
    return { request: ack.request, dest };
  }

  /** RFC 3261 §8.1.1.7: each request we send gets our Via on top, with a fresh branch. */
  private stampVia(req: SipRequest, dest: SipEndpoint): void {
    req.headers.prepend('via', viaFor(this.deps.sip, dest.transport));
  }

  /** Where requests on a side's dialog go: the caller's signalling source, or the answering target. */
  private destForSide(side: 'a' | 'b', nextHop: string): SipEndpoint {
    if (side === 'a') {
      // The caller may sit behind NAT: requests reach it where its INVITE came from (RFC 3581).
      return this.a.source;
    }
    const target = this.winner?.target;
    if (!target) return this.a.source;
    return target.pinToSource ? target.dest : this.resolveHop(nextHop, target.dest);
  }

  private resolveHop(_nextHop: string, fallback: SipEndpoint): SipEndpoint {
    // Trunk peers are addressed by their configured member; their Contact and Record-Route
    // name the same host in every deployment we serve, and we never follow a peer-supplied
    // target to an address the administrator did not configure (toll-fraud protection).
    return fallback;
  }

  private refreshInboundSource(source: SipEndpoint): void {
    // A stream connection may have been replaced by the phone; follow its newest one.
    if (source.transport === this.a.source.transport && source.address === this.a.source.address)
      this.a.source = source;
  }

  private contactFor(side: 'a' | 'b'): string {
    const transport = side === 'a' ? this.a.source.transport : (this.winner?.target.dest.transport ?? 'udp');
    const sentBy = this.deps.sip.localSentBy(transport);
    return `<sip:edgeline@${sentBy.host}:${sentBy.port}${transport === 'udp' ? '' : `;transport=${transport}`}>`;
  }

  private respondA(
    status: number,
    reason?: string,
    headers?: Array<[string, string]>,
    body?: Buffer,
    contentType?: string,
  ): SipResponse | undefined {
    if (this.a.finalSent) return undefined;
    const extra: Array<[string, string]> = [...(headers ?? [])];
    if (status > 100 && status < 300) extra.push(['contact', this.contactFor('a')]);
    const res = createResponse(this.a.invite, status, reason, {
      toTag: status === 100 ? undefined : this.a.localTag,
      headers: extra,
      body,
      contentType: body ? (contentType ?? 'application/sdp') : undefined,
    });
    if (status >= 200) this.a.finalSent = true;
    if (status > 100 && status < 300 && !this.a.dialog) {
      const made = Dialog.fromUasResponse(this.a.invite, res);
      if (made.ok) {
        this.a.dialog = made.value;
        this.deps.bindDialog(dialogKeyOf(made.value), this, 'a');
      }
    }
    this.a.dialog?.responseSent(res);
    this.a.tx.respond(res);
    return res;
  }

  private answerA(reason: string, body: Buffer | undefined, contentType: string | undefined): void {
    const res = this.respondA(
      200,
      reason || 'OK',
      [['allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE'], ...(this.aSession?.headers ?? [])],
      body,
      contentType,
    );
    if (!res) return;
    this.retransmitUntilAck(res);
  }

  /**
   * RFC 3261 §13.3.1.4: "the 2xx response is passed to the transport with an interval that starts
   * at T1 seconds and doubles for each retransmission until it reaches T2 seconds ... If the
   * server retransmits the 2xx response for 64*T1 seconds without receiving an ACK, the dialog is
   * confirmed, but the session SHOULD be terminated." Over TCP/TLS the transport is reliable.
   */
  private retransmitUntilAck(res: SipResponse): void {
    if (this.a.source.transport !== 'udp') return;
    this.a.okRetransmit?.cancel();
    this.a.okGiveUp?.cancel();
    this.a.okResponse = res;
    let interval = this.deps.t1Ms;
    const tick = (): void => {
      if (!this.a.okResponse) return;
      this.deps.sip.sendStateless(this.a.okResponse, this.a.source);
      interval = Math.min(interval * 2, this.deps.t2Ms);
      this.a.okRetransmit = this.deps.timers.start('2xx-retransmit', interval, tick);
    };
    this.a.okRetransmit = this.deps.timers.start('2xx-retransmit', interval, tick);
    this.a.okGiveUp = this.deps.timers.start('2xx-no-ack', 64 * this.deps.t1Ms, () => {
      this.a.okRetransmit?.cancel();
      this.a.okResponse = undefined;
      this.log.warn('no ACK for 2xx, ending the call');
      this.hangup('no ACK from caller');
    });
  }

  private startSessionTimers(bOk: SipResponse): void {
    const a = this.aSession;
    if (a) {
      a.timer = new SessionTimer({
        timers: this.deps.timers,
        intervalS: a.params.intervalS,
        localRefresher: a.params.refresher === 'uas',
        onRefreshDue: () => this.sendRefresh('a', a.params.intervalS, 'uas'),
        onExpired: () => this.hangup('session timer expired (caller)'),
      });
    }
    this.startBSession(bOk);
  }

  /** RFC 4028 §7.2: the callee's leg refreshes as its 2xx said. */
  private startBSession(bOk: SipResponse): void {
    const b = fromUacResponse(bOk);
    if (b.ok && b.value) {
      const params = b.value;
      this.bSession = new SessionTimer({
        timers: this.deps.timers,
        intervalS: params.intervalS,
        localRefresher: params.refresher === 'uac',
        onRefreshDue: () => this.sendRefresh('b', params.intervalS, 'uac'),
        onExpired: () => this.hangup('session timer expired (callee)'),
      });
    }
  }

  /** RFC 4028 §7.4/§10: the refresher sends an UPDATE (no offer) at half the interval. */
  private sendRefresh(side: 'a' | 'b', intervalS: number, refresher: 'uac' | 'uas'): void {
    const dialog = side === 'a' ? this.a.dialog : this.winner?.dialog;
    if (!dialog || dialog.state !== 'confirmed' || this.state !== 'answered') return;
    const built = dialog.createRequest('UPDATE', {
      headers: [
        ['session-expires', formatSessionExpires({ deltaS: intervalS, refresher })],
        ['supported', 'timer'],
        ['contact', this.contactFor(side)],
      ],
    });
    const dest = this.destForSide(side, built.nextHop);
    this.stampVia(built.request, dest);
    const timer = side === 'a' ? this.aSession?.timer : this.bSession;
    this.deps.sip.sendRequest(built.request, dest, {
      onResponse: (res) => {
        if (res.status < 200) return;
        if (res.status < 300) timer?.refreshed();
        // RFC 3261 §12.2.1.2: 481 and 408 to an in-dialog request end the dialog.
        else if (res.status === 481 || res.status === 408)
          this.hangup(`session refresh failed (${res.status})`);
        else timer?.refreshed(); // the peer is alive but refuses UPDATE: keep the call (RFC 4028 §10)
      },
      onTimeout: () => this.hangup('session refresh timed out'),
      onTransportError: () => this.hangup('session refresh failed (transport)'),
    });
  }

  /** A refresh UPDATE without a body: answered on its own leg, and the leg's timer restarts. */
  /**
   * A re-INVITE or UPDATE from the caller of a call the gateway answered itself. With an offer,
   * our answer keeps the stream and follows the offered direction (`reanswerServiceOffer`); a
   * re-INVITE without one gets our description as the offer, answered in the ACK (RFC 3261
   * §14.2, §13.2.1); an UPDATE without one is a session refresh (RFC 4028). The 2xx to a
   * re-INVITE is retransmitted until its ACK like the first one.
   */
  private answerLocalReoffer(tx: ServerTxPort): void {
    const req = tx.request;
    const local = this.localSdp;
    if (!local) return;
    if (req.method === 'UPDATE' && req.body.length === 0) {
      this.answerRefresh('a', tx);
      return;
    }
    let body = local;
    if (req.body.length > 0) {
      const answered = reanswerServiceOffer(local, req.body);
      if (!answered.ok) {
        // RFC 3261 §14.2: a refused re-offer leaves the session as it was.
        tx.respond(createResponse(req, answered.error.status, answered.error.reason));
        return;
      }
      body = answered.value;
      this.localSdp = body;
    }
    const headers: Array<[string, string]> = [
      ['contact', this.contactFor('a')],
      ['allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE'],
    ];
    if (this.aSession) {
      const n = negotiateUas(req, this.deps.sessionTimer);
      if (!n.ok) {
        tx.respond(createResponse(req, n.status, n.reason, { headers: n.headers }));
        return;
      }
      headers.push(...n.headers);
      this.aSession.timer?.refreshed();
    }
    const res = createResponse(req, 200, 'OK', { headers, body, contentType: 'application/sdp' });
    this.a.dialog?.responseSent(res);
    tx.respond(res);
    if (req.method === 'INVITE') this.retransmitUntilAck(res);
  }

  private answerRefresh(side: 'a' | 'b', tx: ServerTxPort): void {
    const headers: Array<[string, string]> = [['contact', this.contactFor(side)]];
    if (side === 'a' && this.aSession) {
      const n = negotiateUas(tx.request, this.deps.sessionTimer);
      if (!n.ok) {
        tx.respond(createResponse(tx.request, n.status, n.reason, { headers: n.headers }));
        return;
      }
      headers.push(...n.headers);
      this.aSession.timer?.refreshed();
    } else if (side === 'b') this.bSession?.refreshed();
    tx.respond(createResponse(tx.request, 200, 'OK', { headers }));
  }

  private finish(): void {
    if (this.state === 'ended') return;
    this.transition('ended');
    this.aSession?.timer?.close();
    this.bSession?.close();
    this.offers.close();
    this.endedWallMs = this.deps.clock.wallNow();
    this.a.okRetransmit?.cancel();
    this.a.okGiveUp?.cancel();
    for (const leg of this.attempts) {
      leg.noAnswerTimer?.cancel();
      leg.ringLimitTimer?.cancel();
    }
    if (this.a.dialog) this.deps.unbindDialog(dialogKeyOf(this.a.dialog));
    if (this.winner?.dialog) this.deps.unbindDialog(dialogKeyOf(this.winner.dialog));
    this.endTransfer();
    this.resume?.machine.close();
    if (this.aOutbound) {
      this.aOutbound.endedWallMs ??= this.endedWallMs;
      this.aOutbound.endCause ??= this.hangupCause;
    }
    for (const [key, r] of this.retired) {
      this.deps.unbindDialog(key);
      if (r.dialog.state !== 'terminated') this.byeDialog(r.dialog, r.dest);
    }
    this.retired.clear();
    this.mediaQuality = this.deps.media.quality?.(this.callKey);
    this.deps.media.release(this.callKey);
    for (const fn of this.finishWatchers.splice(0)) {
      try {
        fn();
      } catch (e) {
        this.log.error({ err: e }, 'a watcher of the call end failed');
      }
    }
    this.deps.onEnded(this);
  }

  /** The caller's endpoint, for the media policy of the inbound leg (before its offer is relayed). */
  describeCaller(party: MediaParty): void {
    this.callerParty = { ...party };
    this.deps.media.describe?.(this.callKey, 'a', party);
  }

  summary(): CallSummary {
    return {
      interactionId: this.interactionId,
      state: this.state,
      caller: this.caller.user,
      dialled: this.dialled,
      routeId: this.routeId,
      aLegTag: this.a.localTag,
      startedAtMs: this.startedWallMs,
      answeredAtMs: this.answeredWallMs,
      endedAtMs: this.endedWallMs,
      finalStatus: this.finalStatus,
      hangupBy: this.hangupBy,
      hangupCause: this.hangupCause,
      legs: this.attempts.map((l) => ({
        id: l.id,
        peer: l.target.peer,
        member: l.target.member ?? null,
        state: l.state,
        status: l.finalStatus ?? (l === this.winner ? 200 : null),
      })),
    };
  }

  dump(): CallSummary {
    return this.summary();
  }

  close(): void {
    this.hangup('shutdown');
  }
}

/** Refer-To values of one header line: a comma inside <> belongs to the URI. */
function splitRefer(line: string): string[] {
  return splitTopLevelCommas(line)
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** The key in-dialog requests are matched by: Call-ID, local tag, remote tag (RFC 3261 §12). */
export function dialogKeyOf(d: Dialog): string {
  return `${d.id.callId}|${d.id.localTag}|${d.id.remoteTag}`;
}

/** Failures of relayed in-dialog requests are passed back as they are, but 408/481 of the far leg are ours to report. */
function mapInDialogStatus(status: number): number {
  return status;
}

/** Our Via for a request sent over `transport`: sent-by of that transport, new branch, rport (RFC 3581). */
export function viaFor(sip: Pick<SipSenderPort, 'localSentBy'>, transport: SipEndpoint['transport']): string {
  const sentBy = sip.localSentBy(transport);
  return `SIP/2.0/${transport.toUpperCase()} ${sentBy.host}:${sentBy.port};branch=${generateBranch()};rport`;
}
