/**
 * A SIP leg the gateway places for an app (`Call.originate`): we are the UAC of a new dialog whose
 * media is a media-leg handle of our own (our SDP offer, RFC 3264 §5), so the leg can be bridged to
 * the app's caller in the engine. Its targets ring in the order of the one attempt plan
 * (`attempt-plan.ts`): an extension's contacts in parallel, trunk members one after another by the
 * trunk's failover rules, ring-group stages in turn. The first 2xx wins and the others are
 * cancelled; all failing gives the best final status (RFC 3261 §16.7 step 6 as a forking B2BUA
 * applies it); the ring timeout cancels them all, and so does the originator's `signal` (the
 * caller left).
 *
 * Every 2xx is ACKed, each retransmission of it again (RFC 3261 §13.2.2.4); a 2xx we do not keep
 * (a second fork, an answer without a usable SDP, an answer after we gave up) is then ended with
 * one BYE, however often it is retransmitted.
 *
 *   offered ── 180/183 ──► alerting ── 2xx ──► answered ── BYE (either side) ──► ended
 *      └──────────── every attempt failed, ring timeout, hangup ─────────────────► ended
 */
import type { Clock, TimerHandle, Timers } from '../../../../base/clock.ts';
import { err, ok, type Result } from '../../../../base/result.ts';
import type { Logger } from '../../core/log.ts';
import { parseDtmfInfo, DEFAULT_INFO_DURATION_MS } from '../../media/dtmf/dtmf-info.ts';
import { Dialog } from '../../sip/dialog/dialog.ts';
import { createResponse, parseCSeq } from '../../sip/message/index.ts';
import { defaultTimerValues } from '../../sip/transaction/index.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../../sip/message/types.ts';
import { causeOfSipStatus, sipStatusOfCause, type HangupCause } from '../hangup-cause.ts';
import type { CallFailure, LegDump, LegEnd, LegParty, PlayOutcome, RecordingHandle } from '../leg.ts';
import type { LegMediaHandle, LocalMediaOpen, LocalMediaPort } from '../leg-media.ts';
import { LegBase } from '../leg-base.ts';
import type { MediaLeg } from '../call.ts';
import { ackRetransmission, confirmingAnswer, keepAck, type ConfirmingAnswer } from '../outbound-ack.ts';
import { inviteWithCredentials, outboundInviteHeaders, type Authorize } from '../outbound-invite.ts';
import type { ClientTxPort, ServerTxPort, SipSenderPort } from '../ports.ts';
import { mapFinalStatus } from '../response-policy.ts';
import { AttemptPlan, splitTargets, type AttemptStep } from '../attempt-plan.ts';
import { dialogKeyOf, viaFor, type CallerIdentity, type OutboundTarget } from '../sip-call.ts';

/**
 * What this leg answers within its dialog. RFC 3261 §20.5: "The Allow header field lists the set of
 * methods supported by the UA generating the message" — no REFER or NOTIFY: a transfer asked by
 * the callee is refused here (405), so it must not be advertised.
 */
const LEG_METHODS = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE';

/** Who receives in-dialog requests for a dialog the B2BUA does not own itself. */
export interface DialogOwner {
  onInDialogRequest(side: 'a' | 'b', tx: ServerTxPort): void;
  onAck(side: 'a' | 'b', ack: SipRequest): void;
}

export interface OutboundSipLegOptions {
  interactionId: string;
  /** Unique within the interaction (`<interaction>:b1`); also the key of its media leg. */
  legId: string;
  /** In routing order: leading extension contacts ring together, the rest follow (`splitTargets`). */
  targets: readonly OutboundTarget[];
  ringTimeoutMs: number;
  /** An Authorization header value for a trunk's challenge (RFC 3261 §22.2); without it none is answered. */
  authorize?: Authorize;
  /** Each attempt's outcome, for the passive health of trunk members. */
  onAttemptResult?(target: OutboundTarget, result: 'ok' | 'timeout' | number): void;
  /**
   * Aborted when the leg is no longer wanted before it answers (the caller left, the call closed):
   * every attempt is CANCELed and `start` resolves with the failure.
   */
  signal?: AbortSignal;
  caller: CallerIdentity;
  party: LegParty;
  sip: SipSenderPort;
  media: LocalMediaPort;
  /** The media key of the leg this one will be bridged to: its media opens in the same worker. */
  nearMediaKey?: string;
  domain: string;
  userAgent: string;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** RFC 3261 §17.1.1.1 T1 and T2, for the 2xx we retransmit to a re-INVITE (default 500 ms, 4 s). */
  t1Ms?: number;
  t2Ms?: number;
  bindDialog(key: string, owner: DialogOwner): void;
  unbindDialog(key: string): void;
}

type AttemptState = 'calling' | 'proceeding' | 'early' | 'ended';

interface Attempt {
  target: OutboundTarget;
  invite: SipRequest;
  tx: ClientTxPort | undefined;
  state: AttemptState;
  status: number | undefined;
  /** Any response (even 100 Trying) arrived: the target is alive, no fast failover on silence. */
  heard: boolean;
  authTried: boolean;
  noAnswerTimer: TimerHandle | undefined;
  ringLimitTimer: TimerHandle | undefined;
  /** Wall times (ms since the epoch): the INVITE sent, the attempt over. */
  startedAtMs: number;
  endedAtMs: number | undefined;
}

/** One attempt as the records show it (a fork to a contact, a trunk member, a ring-group member). */
export interface OutboundAttemptRecord {
  peer: string;
  member: string | undefined;
  callId: string;
  fromUri: string;
  toUri: string;
  startedAtMs: number;
  endedAtMs: number | undefined;
  /** The final status it ended with; 200 for the one that answered. */
  status: number | undefined;
  answered: boolean;
}

/** Our 2xx to a re-INVITE, resent until its ACK (RFC 3261 §13.3.1.4). */
interface PendingReinvite2xx {
  seq: number;
  /** The 2xx carried our offer (the re-INVITE had none): the ACK carries the answer. */
  offered: boolean;
  retransmit: TimerHandle;
  giveUp: TimerHandle;
}

export class OutboundSipLeg extends LegBase implements MediaLeg, DialogOwner {
  readonly technology = 'sip' as const;
  readonly direction = 'outbound' as const;
  private readonly attempts: Attempt[] = [];
  private plan = new AttemptPlan();
  private winner: Attempt | undefined;
  private dialog: Dialog | undefined;
  private localSdp: Buffer | undefined;
  private handle: LegMediaHandle | undefined;
  private ringTimer: TimerHandle | undefined;
  private settle: ((r: Result<void, CallFailure>) => void) | undefined;
  private started: Promise<Result<void, CallFailure>> | undefined;
  private reinvite2xx: PendingReinvite2xx | undefined;
  /** Early media from a provisional response's SDP is flowing (RFC 3960). */
  private earlyMedia = false;
  /** Every 2xx we ACKed (the winner's, and those we ended with BYE), for their retransmissions. */
  private readonly acked: ConfirmingAnswer[] = [];
  private readonly onAbort = (): void => void this.hangup('originator-cancel');

  constructor(private readonly o: OutboundSipLegOptions) {
    super(o.legId, o.interactionId, o.party, o);
  }

  /** The From header the far party saw (the answering fork's INVITE, else the first one sent). */
  get fromHeader(): string {
    return (this.winner ?? this.attempts[0])?.invite.headers.get('from') ?? '';
  }

  /** Who answered: the extension number or trunk id of the winning attempt. */
  get answeredPeer(): string | undefined {
    return this.winner?.target.peer;
  }

  /** The trunk member that answered, when a trunk did. */
  get answeredMember(): string | undefined {
    return this.winner?.target.member;
  }

  /** Every attempt the leg made, in the order they were sent. */
  attemptRecords(): OutboundAttemptRecord[] {
    return this.attempts.map((a) => ({
      peer: a.target.peer,
      member: a.target.member,
      callId: a.invite.headers.get('call-id') ?? '',
      fromUri: a.invite.headers.get('from') ?? '',
      toUri: a.invite.headers.get('to') ?? '',
      startedAtMs: a.startedAtMs,
      endedAtMs: a === this.winner ? undefined : a.endedAtMs,
      status: a === this.winner ? 200 : a.status,
      answered: a === this.winner,
    }));
  }

  /** The media key of this leg in the engine (for bridging). */
  get mediaKey(): string {
    return this.o.legId;
  }

  /** Nothing plays on an originated leg: the gateway speaks to the caller, not to the callee. */
  stopMedia(): void {}

  /**
   * Open our media, send the INVITEs; resolves when the far party answers (ok) or the leg fails
   * (every attempt refused, ring timeout, no media, or `hangup` before answer).
   */
  start(): Promise<Result<void, CallFailure>> {
    this.started ??= new Promise<Result<void, CallFailure>>((resolve) => {
      this.settle = resolve;
      const signal = this.o.signal;
      if (signal?.aborted) {
        this.onAbort();
        return;
      }
      signal?.addEventListener('abort', this.onAbort, { once: true });
      void this.dial();
    });
    return this.started;
  }

  private async dial(): Promise<void> {
    if (this.o.targets.length === 0) return this.fail(480, 'no-user-response', 'no contact to call');
    let opened: LocalMediaOpen;
    try {
      opened = await this.o.media.open(
        this.mediaKey,
        undefined,
        (press) => this.pressed(press),
        this.o.nearMediaKey,
      );
    } catch (e) {
      this.log.error({ err: e }, 'opening the media leg failed');
      return this.fail(503, 'temporary-failure', 'no media for the leg');
    }
    if (!opened.ok) return this.fail(opened.status, causeOfSipStatus(opened.status), opened.reason);
    if (this.state === 'ended') {
      await opened.handle.close();
      return;
    }
    this.handle = opened.handle;
    this.localSdp = opened.sdp;
    this.ringTimer = this.o.timers.start('ring', this.o.ringTimeoutMs, () => {
      this.ringTimer = undefined;
      this.cancelAttempts();
      this.fail(480, 'no-answer', 'no answer within the ring timeout');
    });
    const split = splitTargets(this.o.targets);
    this.plan = new AttemptPlan(split.sequential);
    this.follow(this.plan.begin(split.parallel));
  }

  /** Carry out a step of the plan: start its targets, cancel what it calls off, or fail. */
  private follow(step: AttemptStep): void {
    if (this.winner || this.state === 'ended') return;
    if (step.cancelOthers) this.cancelAttempts();
    const sdp = this.localSdp;
    if (sdp) for (const t of step.start) this.sendInvite(t, sdp);
    if (!step.exhausted) return;
    const trunkOnly = this.attempts.length > 0 && this.attempts.every((a) => a.target.kind === 'trunk');
    const final = mapFinalStatus(this.plan.finalStatus(trunkOnly ? 503 : 480));
    this.fail(final, causeOfSipStatus(final), `every attempt failed (${this.plan.finals.join(',')})`);
  }

  private sendInvite(target: OutboundTarget, sdp: Buffer): void {
    const h = outboundInviteHeaders({
      via: viaFor(this.o.sip, target.dest.transport),
      maxForwards: 70,
      caller: this.o.caller,
      domain: this.o.domain,
      target,
      sentBy: this.o.sip.localSentBy(target.dest.transport),
      sessionTimer: { sessionExpiresS: 1800, minSeS: 90 },
      userAgent: this.o.userAgent,
    });
    // No RFC 4028 session timer on this leg: the media engine's dead-media supervision bounds it,
    // and a refresh we would owe as refresher is not sent by this leg.
    h.remove('supported').remove('session-expires').remove('min-se');
    h.set('allow', LEG_METHODS);
    h.append('content-type', 'application/sdp');
    const invite: SipRequest = {
      kind: 'request',
      method: 'INVITE',
      uri: target.requestUri,
      version: 'SIP/2.0',
      headers: h,
      body: sdp,
    };
    const attempt: Attempt = {
      target,
      invite,
      tx: undefined,
      state: 'calling',
      status: undefined,
      heard: false,
      authTried: false,
      noAnswerTimer: undefined,
      ringLimitTimer: undefined,
      startedAtMs: this.o.clock.wallNow(),
      endedAtMs: undefined,
    };
    this.attempts.push(attempt);
    this.send(attempt);
    if (target.ringTimeoutMs !== undefined) {
      // A ring group member's turn is over: cancel it (RFC 3261 §9.1) and move on.
      attempt.ringLimitTimer = this.o.timers.start('member-ring', target.ringTimeoutMs, () => {
        if (attempt.state === 'ended') return;
        this.endAttempt(attempt, 480);
        attempt.tx?.cancel();
        this.follow(this.plan.abandoned(480));
      });
    }
  }

  private send(attempt: Attempt): void {
    const target = attempt.target;
    attempt.tx = this.o.sip.sendRequest(attempt.invite, target.dest, {
      onResponse: (res) => this.onResponse(attempt, res),
      onTimeout: () => this.attemptFailed(attempt, 408, 'timeout'),
      onTransportError: () => this.attemptFailed(attempt, 503, 'transport-error'),
    });
    if (target.noAnswerTimeoutMs !== undefined && !attempt.heard) {
      attempt.noAnswerTimer?.cancel();
      // Fail over without waiting for Timer B (32 s): a member that has not even sent 100 Trying
      // within the configured time is treated as down for this call.
      attempt.noAnswerTimer = this.o.timers.start('no-answer', target.noAnswerTimeoutMs, () => {
        if (attempt.heard || attempt.state !== 'calling') return;
        this.log.warn({ member: target.member }, 'trunk member silent, failing over');
        this.endAttempt(attempt, 408);
        this.o.onAttemptResult?.(target, 'timeout');
        this.follow(this.plan.abandoned(408));
      });
    }
  }

  private endAttempt(attempt: Attempt, status: number): void {
    attempt.state = 'ended';
    attempt.status = status;
    attempt.endedAtMs = this.o.clock.wallNow();
    attempt.noAnswerTimer?.cancel();
    attempt.ringLimitTimer?.cancel();
  }

  private onResponse(attempt: Attempt, res: SipResponse): void {
    const status = res.status;
    if (!attempt.heard) {
      attempt.heard = true;
      attempt.noAnswerTimer?.cancel();
    }
    if (status >= 200 && status < 300) return this.onAnswer(attempt, res);
    if (attempt.state === 'ended') return;
    if ((status === 401 || status === 407) && this.retryWithAuth(attempt, res)) return;
    if (status < 200) {
      if (status === 100) {
        if (attempt.state === 'calling') attempt.state = 'proceeding';
        return;
      }
      attempt.state = 'early';
      // RFC 3960 §2: a provisional response with SDP (the answer to our offer, RFC 3264) brings
      // early media; the first one is applied, and the 2xx's answer later confirms or moves it.
      if (res.body.length > 0 && !this.earlyMedia && this.handle?.applyAnswer(res.body) === true) {
        this.earlyMedia = true;
        if (this.state !== 'early') this.machine.transition('early');
        return;
      }
      // RFC 3261 §13.2.2.1: provisional responses tell the caller the callee is being alerted.
      if (this.state === 'offered') this.machine.transition('alerting');
      return;
    }
    this.attemptFailed(attempt, status);
  }

  private onAnswer(attempt: Attempt, res: SipResponse): void {
    // RFC 3261 §13.2.2.4: "The UAC core MUST generate an ACK request for each 2xx received from
    // the transaction layer" — a retransmission of a 2xx already ACKed (the winner's, or one we
    // ended) gets the same ACK again, and nothing else: it is no new answer.
    if (this.acked.some((answer) => ackRetransmission(this.o.sip, answer, res))) return;
    if (this.winner || this.state === 'ended' || attempt.state === 'ended') {
      // A second fork answered, or we gave up meanwhile: "the UAC core ... MUST generate an ACK
      // ... and then a BYE" for a 2xx it does not want (§13.2.2.4).
      this.ackAndBye(attempt, res);
      return;
    }
    const confirmed = this.confirm(attempt, res);
    if (!confirmed) {
      this.log.warn('a 2xx from the callee that establishes no dialog');
      this.attemptFailed(attempt, 502);
      return;
    }
    // RFC 3261 §13.2.1: "If the initial offer is in an INVITE, the answer MUST be in a reliable
    // non-failure message from UAS back to UAC which is correlated to that INVITE" — the 2xx here
    // (no reliable provisional responses on this leg). Without a usable one there is no session:
    // the dialog just ACKed is ended with BYE, as any 2xx we cannot keep (RFC 3264 §5).
    if (res.body.length === 0 || !this.handle?.applyAnswer(res.body)) {
      this.log.warn({ status: res.status }, 'the callee answered without a usable SDP answer');
      this.sendBye(confirmed, attempt.target.dest);
      this.attemptFailed(attempt, 488);
      return;
    }
    this.winner = attempt;
    this.dialog = confirmed;
    this.o.bindDialog(dialogKeyOf(confirmed), this);
    this.endAttempt(attempt, res.status);
    this.plan.answered();
    this.o.onAttemptResult?.(attempt.target, 'ok');
    this.ringTimer?.cancel();
    this.cancelAttempts();
    this.o.signal?.removeEventListener('abort', this.onAbort);
    this.machine.transition('answered');
    this.settle?.(ok(undefined));
  }

  /** The dialog of a 2xx, confirmed and ACKed (the ACK kept for its retransmissions). */
  private confirm(attempt: Attempt, res: SipResponse): Dialog | undefined {
    const made = Dialog.fromUacResponse(attempt.invite, res);
    if (!made.ok) return undefined;
    const dialog = made.value;
    dialog.receiveResponse(res);
    const ack = dialog.createAck(attempt.invite);
    if (!ack.ok) return undefined;
    const request = ack.value.request;
    request.headers.prepend('via', viaFor(this.o.sip, attempt.target.dest.transport));
    this.o.sip.sendStateless(request, attempt.target.dest);
    const answer = confirmingAnswer(res);
    keepAck(answer, { request, dest: attempt.target.dest });
    this.acked.push(answer);
    return dialog;
  }

  private ackAndBye(attempt: Attempt, res: SipResponse): void {
    const dialog = this.confirm(attempt, res);
    if (dialog) this.sendBye(dialog, attempt.target.dest);
  }

  private attemptFailed(
    attempt: Attempt,
    status: number,
    cause: 'timeout' | 'transport-error' | number = status,
  ): void {
    if (attempt.state === 'ended') return;
    const rang = attempt.state === 'early';
    this.endAttempt(attempt, status);
    this.o.onAttemptResult?.(attempt.target, typeof cause === 'number' ? cause : 'timeout');
    this.follow(this.plan.failed(attempt.target, { status, cause, rang }));
  }

  /** RFC 3261 §22.2: the same INVITE with credentials, CSeq + 1, a new branch; once per attempt. */
  private retryWithAuth(attempt: Attempt, res: SipResponse): boolean {
    if (attempt.authTried) return false;
    const again = inviteWithCredentials(
      attempt.invite,
      res,
      attempt.target.credentials,
      this.o.authorize,
      viaFor(this.o.sip, attempt.target.dest.transport),
    );
    if (!again) return false;
    attempt.authTried = true;
    attempt.invite = again;
    attempt.state = 'calling';
    this.send(attempt);
    return true;
  }

  /** RFC 3261 §9.1: CANCEL every attempt still ringing (the transaction defers it until a 1xx). */
  private cancelAttempts(): void {
    this.plan.stop();
    for (const a of this.attempts) {
      if (a.state === 'ended') continue;
      this.endAttempt(a, 487);
      a.tx?.cancel();
    }
  }

  private fail(status: number, cause: HangupCause, message: string): void {
    if (this.state === 'ended') return;
    this.finish({ cause, by: 'system', sipStatus: status, detail: message });
    this.settle?.(err({ code: 'EDGE_ERR_CALL_ORIGINATE_FAILED', sipStatus: status, cause, message }));
  }

  ring(): Promise<Result<void, CallFailure>> {
    return Promise.resolve(this.notForOutbound('ring'));
  }

  answer(): Promise<Result<void, CallFailure>> {
    return Promise.resolve(this.notForOutbound('answer'));
  }

  private notForOutbound(op: string): Result<void, CallFailure> {
    return err({
      code: 'EDGE_ERR_CALL_LEG_STATE',
      sipStatus: 500,
      cause: 'interworking',
      message: `${op}: an outbound leg is answered by the far party`,
    });
  }

  hangup(cause: HangupCause): Promise<void> {
    if (this.state === 'ended') return Promise.resolve();
    this.o.signal?.removeEventListener('abort', this.onAbort);
    if (this.state === 'answered' && this.dialog && this.winner) {
      this.sendBye(this.dialog, this.winner.target.dest);
      this.finish({ cause, by: 'local', sipStatus: 200 });
      return Promise.resolve();
    }
    this.cancelAttempts();
    const status = sipStatusOfCause(cause);
    this.finish({ cause, by: 'local', sipStatus: status >= 300 ? status : 487 });
    this.settle?.(
      err({ code: 'EDGE_ERR_CALL_CANCELLED', sipStatus: 487, cause, message: 'hung up before the answer' }),
    );
    return Promise.resolve();
  }

  private sendBye(dialog: Dialog, dest: SipEndpoint): void {
    if (dialog.state === 'terminated') return;
    const built = dialog.createRequest('BYE');
    built.request.headers.prepend('via', viaFor(this.o.sip, dest.transport));
    this.o.sip.sendRequest(built.request, dest, {
      // The dialog is over once BYE is sent, whatever the answer (RFC 3261 §15.1.1).
      onResponse: () => undefined,
      onTimeout: () => this.log.info('no answer to our BYE'),
    });
    dialog.terminate();
  }

  /** An in-dialog request from the far party (routed here by the B2BUA's dialog table). */
  onInDialogRequest(_side: 'a' | 'b', tx: ServerTxPort): void {
    const req = tx.request;
    const dialog = this.dialog;
    if (!dialog || this.state === 'ended') {
      tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    const checked = dialog.receiveRequest(req);
    if (!checked.ok) {
      tx.respond(createResponse(req, checked.status, checked.reason));
      return;
    }
    switch (req.method) {
      case 'BYE':
        // RFC 3261 §15.1.2: "the UAS MUST ... generate a 2xx response to the BYE".
        tx.respond(createResponse(req, 200, 'OK'));
        dialog.terminate();
        this.finish({ cause: 'normal-clearing', by: 'remote', sipStatus: 200 });
        return;
      case 'INVITE': {
        // A session refresh, or a re-offer of the same stream: our description is unchanged (RFC
        // 3264 §8: the version stays the same), which keeps the session as it is. A re-INVITE
        // without an offer gets ours in the 2xx, and the answer comes in the ACK (RFC 3264 §4).
        const res = this.sessionResponse(dialog, req, true);
        tx.respond(res);
        this.retransmitUntilAck(tx, res, req.body.length === 0);
        return;
      }
      case 'UPDATE':
        // RFC 3311 §5.2: an UPDATE with an offer is answered in its 2xx; one without carries none.
        tx.respond(this.sessionResponse(dialog, req, req.body.length > 0));
        return;
      case 'INFO': {
        const relay = parseDtmfInfo(req.headers.get('content-type') ?? '', req.body.toString('utf8'));
        if (relay.ok) {
          this.pressed({
            digit: relay.value.digit,
            durationMs: relay.value.durationMs ?? DEFAULT_INFO_DURATION_MS,
            source: 'info',
            atMs: this.o.clock.wallNow(),
          });
        }
        tx.respond(createResponse(req, relay.ok ? 200 : 415, relay.ok ? 'OK' : 'Unsupported Media Type'));
        return;
      }
      case 'OPTIONS':
        tx.respond(createResponse(req, 200, 'OK', { headers: [['allow', LEG_METHODS]] }));
        return;
      default:
        tx.respond(createResponse(req, 405, 'Method Not Allowed', { headers: [['allow', LEG_METHODS]] }));
    }
  }

  /** 200 to a re-INVITE or UPDATE: our Contact (a target refresh, RFC 3261 §12.2.2), our SDP if due. */
  private sessionResponse(dialog: Dialog, req: SipRequest, withSdp: boolean): SipResponse {
    return dialog.createResponse(req, 200, 'OK', {
      headers: [['allow', LEG_METHODS]],
      ...(withSdp ? { body: this.localSdp, contentType: 'application/sdp' } : {}),
    });
  }

  /**
   * RFC 3261 §13.3.1.4: "the 2xx response is passed to the transport with an interval that starts
   * at T1 seconds and doubles for each retransmission until it reaches T2 seconds ... The response
   * retransmissions cease when an ACK request for the response is received. This is independent of
   * whatever transport protocols are used to send the response. ... If the server retransmits the
   * 2xx response for 64*T1 seconds without receiving an ACK, the dialog is confirmed, but the
   * session SHOULD be terminated. This is accomplished with a BYE". The INVITE server transaction,
   * in its Accepted state, passes each one to the transport (RFC 6026 §8.7).
   */
  private retransmitUntilAck(tx: ServerTxPort, res: SipResponse, offered: boolean): void {
    this.stopReinvite2xx();
    const t1Ms = this.o.t1Ms ?? defaultTimerValues.T1;
    const t2Ms = this.o.t2Ms ?? defaultTimerValues.T2;
    let intervalMs = t1Ms;
    const tick = (): void => {
      if (this.reinvite2xx !== pending) return;
      tx.respond(res);
      intervalMs = Math.min(2 * intervalMs, t2Ms);
      pending.retransmit = this.o.timers.start('2xx-retransmit', intervalMs, tick);
    };
    const pending: PendingReinvite2xx = {
      seq: cseqOf(res),
      offered,
      retransmit: this.o.timers.start('2xx-retransmit', intervalMs, tick),
      giveUp: this.o.timers.start('2xx-no-ack', 64 * t1Ms, () => {
        this.stopReinvite2xx();
        this.log.warn('no ACK for our 2xx to a re-INVITE, ending the leg');
        void this.hangup('recovery-on-timer-expiry');
      }),
    };
    this.reinvite2xx = pending;
  }

  private stopReinvite2xx(): void {
    this.reinvite2xx?.retransmit.cancel();
    this.reinvite2xx?.giveUp.cancel();
    this.reinvite2xx = undefined;
  }

  /** The ACK of our 2xx to the far party's re-INVITE (the B2BUA routes it here by dialog). */
  onAck(_side: 'a' | 'b', ack: SipRequest): void {
    const pending = this.reinvite2xx;
    if (!pending || cseqOf(ack) !== pending.seq) return;
    this.stopReinvite2xx();
    // RFC 3264 §4: the re-INVITE had no offer, ours went in the 2xx: the ACK carries the answer.
    if (pending.offered && ack.body.length > 0 && !this.handle?.applyAnswer(ack.body)) {
      this.log.warn('unusable SDP answer in the ACK of a re-INVITE; the media stays as it was');
    }
  }

  /** Apps play to the caller and collect from it; an originated party only talks once bridged. */
  play(): Promise<PlayOutcome> {
    if (this.state === 'ended') return Promise.resolve({ outcome: 'ended', positionMs: 0 });
    return Promise.resolve({
      outcome: 'failed',
      positionMs: 0,
      failure: {
        code: 'EDGE_ERR_CALL_LEG_STATE',
        sipStatus: 500,
        cause: 'interworking',
        message: 'prompts are played to the leg that was answered by the gateway',
      },
    });
  }

  record(): Result<RecordingHandle, CallFailure> {
    return err({
      code: 'EDGE_ERR_CALL_MEDIA',
      sipStatus: 501,
      cause: 'facility-rejected',
      message: 'recording is not available on an originated leg',
    });
  }

  hold(): Promise<Result<void, CallFailure>> {
    return Promise.resolve(this.notForOutbound('hold'));
  }

  unhold(): Promise<Result<void, CallFailure>> {
    return Promise.resolve(this.notForOutbound('unhold'));
  }

  private finish(end: Omit<LegEnd, 'atMs'>): void {
    if (this.state === 'ended') return;
    this.ringTimer?.cancel();
    this.ringTimer = undefined;
    this.stopReinvite2xx();
    this.o.signal?.removeEventListener('abort', this.onAbort);
    if (this.dialog) this.o.unbindDialog(dialogKeyOf(this.dialog));
    this.digits.close();
    const handle = this.handle;
    this.handle = undefined;
    if (handle) {
      handle.close().catch((e: unknown) => this.log.error({ err: e }, 'freeing the media leg failed'));
    }
    this.machine.finish(end);
  }

  dump(): LegDump {
    return this.dumpAs('sip', 'outbound', {
      technology: 'sip',
      callId: this.dialog?.id.callId ?? this.attempts[0]?.invite.headers.get('call-id') ?? '',
      remoteTarget: this.winner?.target.requestUri ?? null,
      trunkMember: this.winner?.target.member ?? null,
    });
  }

  close(): void {
    if (this.state !== 'ended') void this.hangup('normal-clearing');
  }
}

function cseqOf(msg: SipRequest | SipResponse): number {
  const c = parseCSeq(msg.headers.get('cseq') ?? '');
  return c.ok ? c.value.seq : -1;
}
