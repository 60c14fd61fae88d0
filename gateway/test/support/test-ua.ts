/**
 * A scripted SIP user agent for in-process tests of call control: a phone (or a trunk peer) that
 * registers, calls, answers, cancels, hangs up, re-INVITEs and transfers when the test says so,
 * and records every message it gets.
 *
 * It is built from the gateway's own SIP stack, as SIP.js tests its user agents against each
 * other: the message builder and parser, the transaction layer (so retransmissions, the ACK of a
 * non-2xx final response and CANCEL matching are RFC 3261 §17's, not a test's idea of them),
 * dialogs and digest. What it adds is the UA core of RFC 3261 §8, §9, §12-§15: what to answer, what
 * to ACK, when to retry. Those rules are the parts a test leans on, and each is quoted where it is
 * done. Tests assert on wire facts: `received` (every message, retransmissions included), the
 * responses each request got, the requests each dialog got.
 */
import type { ManualClock, TimerHandle } from '../../../base/clock.ts';
import { computeDigestAuthorization } from '../../src/sip/auth/digest.ts';
import { Dialog, dialogIdOf, dialogKey } from '../../src/sip/dialog/dialog.ts';
import {
  SipHeaders,
  createResponse,
  generateBranch,
  generateCallId,
  generateTag,
  getTag,
  parseCSeq,
  type SipEndpoint,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../src/sip/message/index.ts';
import {
  TransactionLayer,
  defaultTimerValues,
  type ClientTransaction,
  type ServerTransaction,
} from '../../src/sip/transaction/index.ts';
import { glareRetryDelayMs } from '../../src/media/sdp/offer-answer.ts';
import { answerDirection, directionOf, parseSdp, type SdpDirection } from '../../src/media/sdp/sdp.ts';
import { MemoryTransport, type MemoryNetwork } from './memory-sip-net.ts';

const { T1, T2 } = defaultTimerValues;
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, MESSAGE';

export interface TestUaOptions {
  clock: ManualClock;
  net: MemoryNetwork;
  /** Where every request goes: the gateway (its outbound proxy and registrar). */
  proxy: SipEndpoint;
  /** The user part of From, Contact and the address-of-record. */
  user: string;
  /** The host part of From and of the address-of-record, and the REGISTER Request-URI. */
  domain: string;
  address: string;
  port?: number;
  /** Digest password; without one, challenges are not answered. */
  password?: string;
  displayName?: string;
  /** Uniform in [0, 1): the RFC 3261 §14.1 glare back-off's draws. */
  random?: () => number;
}

/** A request this UA sent and the responses it got (as the transaction layer passed them up). */
export class Exchange {
  readonly responses: SipResponse[] = [];
  timedOut = false;
  /** The request could not be sent (a CANCEL after a final response, RFC 3261 §9.1). */
  notSent = false;
  authTried = false;

  constructor(
    public request: SipRequest | undefined,
    readonly sentAtMs: number,
  ) {}

  /** The last final response. */
  get final(): SipResponse | undefined {
    return this.responses.filter((r) => r.status >= 200).at(-1);
  }

  get status(): number | undefined {
    return this.final?.status;
  }
}

/** A re-INVITE and its retries after 491 (RFC 3261 §14.1). */
export interface Reinvite {
  attempts: Exchange[];
  /** Each back-off: when the 491 came and how long the UA waited before trying again. */
  backoffs: Array<{ after491AtMs: number; delayMs: number }>;
}

/** One dialog usage of an INVITE this UA sent or received. */
export abstract class Session {
  dialog: Dialog | undefined;
  /** Requests received within the dialog (retransmissions absorbed by the transaction layer). */
  readonly requests: SipRequest[] = [];
  /** Requests sent within the dialog. */
  readonly sent: Exchange[] = [];
  /** ACKs received for this UA's 2xx responses to INVITEs. */
  readonly acks: SipRequest[] = [];
  ended = false;
  /**
   * How a re-INVITE is answered: by default 200 with this UA's answer to the offer (RFC 3264 §6,
   * the direction answered per §6.1).
   */
  answerReinvite: (req: SipRequest) => { status: number; sdp?: Buffer } = (req) => ({
    status: 200,
    sdp: this.ua.answerTo(req.body),
  });
  /** A re-INVITE of ours awaits its final response (RFC 3261 §14.2 glare). */
  private reinviting = false;
  private readonly retransmitting = new Map<number, TimerHandle[]>();

  constructor(
    readonly ua: TestUa,
    /** Whether this UA chose the dialog's Call-ID (RFC 3261 §14.1 picks the back-off by it). */
    readonly ownsCallId: boolean,
  ) {}

  get notifies(): SipRequest[] {
    return this.requests.filter((r) => r.method === 'NOTIFY');
  }

  /** RFC 3261 §15.1.1: BYE ends the dialog at once for its sender. */
  bye(): Exchange {
    const ex = this.request('BYE');
    this.end();
    return ex;
  }

  /** A request within the dialog (RFC 3261 §12.2.1.1), sent to the proxy. */
  request(
    method: string,
    opts: { body?: Buffer; contentType?: string; headers?: Array<[string, string]> } = {},
    onFinal?: (res: SipResponse | undefined) => void,
  ): Exchange {
    const dialog = this.dialog;
    if (!dialog || dialog.state === 'terminated') throw new Error(`${method}: no dialog to send it in`);
    const built = dialog.createRequest(method, opts);
    const req = built.request;
    req.headers.prepend('via', this.ua.via());
    const ex = new Exchange(req, this.ua.clock.now());
    this.sent.push(ex);
    this.ua.tx.sendRequest(req, this.ua.proxy, {
      onResponse: (res) => {
        ex.responses.push(res);
        if (res.status < 200) return;
        dialog.receiveResponse(res);
        onFinal?.(res);
      },
      onTimeout: () => {
        ex.timedOut = true;
        onFinal?.(undefined);
      },
    });
    return ex;
  }

  /**
   * A re-INVITE with `sdp` (RFC 3261 §14.1; an empty buffer sends none: the 2xx then carries the
   * other side's offer and our ACK the answer). With `retryOnGlare`, a 491 is retried after the
   * §14.1 delay: "If the UAC is the owner of the Call-ID of the dialog ID ... T has a randomly
   * chosen value between 2.1 and 4 seconds in units of 10 ms. If the UAC is not the owner of the
   * Call-ID of the dialog ID, T has a randomly chosen value of between 0 and 2 seconds".
   */
  reinvite(sdp: Buffer, opts: { retryOnGlare?: boolean } = {}): Reinvite {
    const r: Reinvite = { attempts: [], backoffs: [] };
    const attempt = (): void => {
      if (this.ended || !this.dialog || this.dialog.state === 'terminated') return;
      this.reinviting = true;
      const offer = sdp.length > 0 ? { body: sdp, contentType: 'application/sdp' } : {};
      const ex: Exchange = this.request('INVITE', offer, (res) => {
        this.reinviting = false;
        if (!res) return;
        // RFC 3261 §13.2.2.4: "The UAC core MUST generate an ACK request for each 2xx received";
        // after an INVITE without an offer the 2xx carries one and the ACK the answer (RFC 3264 §4).
        if (res.status < 300) {
          if (ex.request) this.sendAck(ex.request, this.dialog, lateAnswer(this.ua, ex.request, res));
        } else if (res.status === 491 && opts.retryOnGlare) {
          const delayMs = glareRetryDelayMs(this.ownsCallId, this.ua.random);
          r.backoffs.push({ after491AtMs: this.ua.clock.now(), delayMs });
          this.ua.clock.start('491-backoff', delayMs, attempt);
        }
      });
      r.attempts.push(ex);
    };
    attempt();
    return r;
  }

  /** RFC 3515 §2.4.1: a REFER with exactly one Refer-To. */
  refer(target: string): Exchange {
    const uri = target.includes(':') ? target : `sip:${target}@${this.ua.domain}`;
    return this.request('REFER', {
      headers: [
        ['refer-to', `<${uri}>`],
        ['referred-by', `<sip:${this.ua.user}@${this.ua.domain}>`],
      ],
    });
  }

  /** The ACK for a 2xx to an INVITE sent in this dialog (RFC 3261 §13.2.2.4), outside any transaction. */
  protected sendAck(invite: SipRequest, dialog = this.dialog, answer?: Buffer): void {
    if (!dialog) return;
    const built = dialog.createAck(
      invite,
      answer ? { body: answer, contentType: 'application/sdp' } : undefined,
    );
    if (!built.ok) throw new Error(`cannot ACK: ${built.error.message}`);
    built.value.request.headers.prepend('via', this.ua.via());
    this.ua.sendStateless(built.value.request);
  }

  /**
   * A 2xx to an INVITE, retransmitted until its ACK (RFC 3261 §13.3.1.4): "with an interval that
   * starts at T1 seconds and doubles for each retransmission until it reaches T2 seconds ... If the
   * server retransmits the 2xx response for 64*T1 seconds without receiving an ACK, the dialog is
   * confirmed, but the session SHOULD be terminated. This is accomplished with a BYE".
   */
  protected respondInvite2xx(stx: ServerTransaction, res: SipResponse): void {
    stx.respond(res);
    const seq = cseqOf(res);
    const timers: TimerHandle[] = [];
    this.retransmitting.set(seq, timers);
    let interval = T1;
    const tick = (): void => {
      stx.respond(res);
      interval = Math.min(2 * interval, T2);
      timers[0] = this.ua.clock.start('uas-2xx-retransmit', interval, tick);
    };
    timers[0] = this.ua.clock.start('uas-2xx-retransmit', interval, tick);
    timers[1] = this.ua.clock.start('uas-2xx-no-ack', 64 * T1, () => {
      this.stopRetransmitting(seq);
      if (!this.ended && this.dialog?.state === 'confirmed') this.bye();
    });
  }

  private stopRetransmitting(seq: number): void {
    for (const t of this.retransmitting.get(seq) ?? []) t.cancel();
    this.retransmitting.delete(seq);
  }

  /** The UAS side of a request within the dialog (RFC 3261 §12.2.2). */
  receive(req: SipRequest, stx: ServerTransaction): void {
    const dialog = this.dialog;
    if (!dialog) {
      stx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    const check = dialog.receiveRequest(req);
    if (!check.ok) {
      stx.respond(dialog.createResponse(req, check.status, check.reason, { headers: check.headers }));
      return;
    }
    this.requests.push(req);
    switch (req.method) {
      case 'BYE':
        // RFC 3261 §15.1.2: "the UAS MUST ... respond to the BYE with a 2xx".
        stx.respond(dialog.createResponse(req, 200, 'OK'));
        this.end();
        return;
      case 'INVITE': {
        // RFC 3261 §14.2: "A UAS that receives an INVITE on a dialog while an INVITE it had sent on
        // that dialog is in progress MUST return a 491 (Request Pending) response to the received
        // INVITE."
        if (this.reinviting) {
          stx.respond(dialog.createResponse(req, 491, 'Request Pending'));
          return;
        }
        const a = this.answerReinvite(req);
        const res = dialog.createResponse(req, a.status, undefined, {
          body: a.sdp,
          contentType: a.sdp ? 'application/sdp' : undefined,
        });
        if (a.status >= 200 && a.status < 300) this.respondInvite2xx(stx, res);
        else stx.respond(res);
        return;
      }
      case 'NOTIFY':
      case 'UPDATE':
      case 'INFO':
      case 'OPTIONS':
      case 'MESSAGE':
        stx.respond(dialog.createResponse(req, 200, 'OK'));
        return;
      default:
        stx.respond(dialog.createResponse(req, 405, 'Method Not Allowed', { headers: [['allow', ALLOW]] }));
    }
  }

  /** An ACK for one of our 2xx responses. */
  receiveAck(ack: SipRequest): void {
    this.acks.push(ack);
    this.stopRetransmitting(cseqOf(ack));
  }

  /** A 2xx retransmitted after its client transaction ended (RFC 3261 §13.2.2.4: the UAC ACKs each one). */
  receiveStray2xx(_res: SipResponse): void {}

  /** The dialog is over for this UA: later requests in it get 481. */
  end(): void {
    this.ended = true;
    this.reinviting = false;
    for (const seq of [...this.retransmitting.keys()]) this.stopRetransmitting(seq);
    if (this.dialog && this.dialog.state !== 'terminated') this.dialog.terminate();
    this.ua.unbind(this);
  }
}

/** An INVITE this UA sent (it is the UAC, RFC 3261 §13.2). */
export class OutgoingCall extends Session {
  /** Every response to the INVITE the transaction layer passed up, challenges included. */
  readonly responses: SipResponse[] = [];
  cancelExchange: Exchange | undefined;
  /** ACK every 2xx at once (RFC 3261 §13.2.2.4); off, the test sends `ack()` itself. */
  autoAck = true;
  /**
   * A 2xx that crossed our CANCEL established a dialog we no longer want: ACK it, then BYE it
   * (RFC 3261 §9.2: a CANCEL of a request already answered "has no effect"; §15: the caller may
   * BYE a confirmed dialog).
   */
  byeIfAnsweredAfterCancel = true;
  /** Dialogs of further 2xx responses with other To tags (forks), each ACKed then ended. */
  readonly extraDialogs: Dialog[] = [];
  private clientTx: ClientTransaction | undefined;
  private cancelRequested = false;
  private authTried = false;
  private last2xx: SipResponse | undefined;
  /** Our answer in the ACK, when the INVITE carried no offer (the same one in every ACK). */
  private ackAnswer: Buffer | undefined;

  constructor(
    ua: TestUa,
    public invite: SipRequest,
  ) {
    super(ua, true);
    this.send();
  }

  get final(): SipResponse | undefined {
    return this.responses.filter((r) => r.status >= 200).at(-1);
  }

  /** The status of the last final response. */
  get status(): number | undefined {
    return this.final?.status;
  }

  /** Final statuses in arrival order (401/407 challenges the UA answered included). */
  get finals(): number[] {
    return this.responses.filter((r) => r.status >= 200).map((r) => r.status);
  }

  /**
   * CANCEL the INVITE (RFC 3261 §9.1). The transaction layer holds it until a provisional
   * response has arrived ("the CANCEL request MUST NOT be sent; rather, the client MUST wait for
   * the arrival of a provisional response") and drops it after a final one.
   */
  cancel(): Exchange {
    const ex = new Exchange(undefined, this.ua.clock.now());
    this.cancelExchange = ex;
    this.cancelRequested = true;
    const tx = this.clientTx;
    const pending =
      tx?.kind === 'invite_client' &&
      tx.cancel({
        onResponse: (res) => ex.responses.push(res),
        onTimeout: () => {
          ex.timedOut = true;
        },
      });
    if (!pending) ex.notSent = true;
    return ex;
  }

  /** ACK the last 2xx by hand (with `autoAck` off). */
  ack(): void {
    if (!this.last2xx) throw new Error('no 2xx to ACK');
    this.sendAck(this.invite, this.dialog, this.ackAnswer);
  }

  private send(): void {
    this.clientTx = this.ua.tx.sendRequest(this.invite, this.ua.proxy, {
      onResponse: (res) => this.onResponse(res),
      onTimeout: () => {
        this.responses.push(timeoutResponse(this.invite));
        this.end();
      },
    });
  }

  private onResponse(res: SipResponse): void {
    this.responses.push(res);
    const status = res.status;
    if ((status === 401 || status === 407) && !this.authTried) {
      const retry = this.ua.withCredentials(this.invite, res);
      if (retry) {
        // RFC 3261 §22.2: the same request with credentials; the transaction layer ACKed the 407.
        this.authTried = true;
        this.invite = retry;
        this.send();
        if (this.cancelRequested) this.cancel();
        return;
      }
    }
    if (status < 200) {
      if (status > 100 && !this.dialog && getTag(res.headers.get('to') ?? '')) {
        const early = Dialog.fromUacResponse(this.invite, res);
        if (early.ok) {
          this.dialog = early.value;
          this.ua.bind(this);
        }
      }
      return;
    }
    if (status < 300) {
      this.on2xx(res);
      return;
    }
    this.end();
  }

  private on2xx(res: SipResponse): void {
    const tag = getTag(res.headers.get('to') ?? '');
    const current = this.dialog;
    if (current && current.id.remoteTag === tag) {
      if (current.state === 'early') current.receiveResponse(res);
      else if (this.last2xx) {
        // A retransmission of the 2xx: its ACK was lost or is late; ACK again.
        if (this.autoAck) this.sendAck(this.invite, this.dialog, this.ackAnswer);
        return;
      }
    } else if (current && current.state === 'confirmed') {
      // RFC 3261 §13.2.2.4: another 2xx, from another fork, is a dialog of its own: ACK it; we
      // want only one, so that one is ended with a BYE.
      const other = Dialog.fromUacResponse(this.invite, res);
      if (!other.ok) return;
      this.extraDialogs.push(other.value);
      this.sendAck(this.invite, other.value);
      const bye = other.value.createRequest('BYE').request;
      bye.headers.prepend('via', this.ua.via());
      this.ua.tx.sendRequest(bye, this.ua.proxy, { onResponse: () => undefined, onTimeout: () => undefined });
      other.value.terminate();
      return;
    } else {
      if (current) this.ua.unbind(this);
      const made = Dialog.fromUacResponse(this.invite, res);
      if (!made.ok) throw new Error(`unusable 2xx: ${made.error.message}`);
      this.dialog = made.value;
      this.ua.bind(this);
    }
    this.last2xx = res;
    this.ackAnswer = lateAnswer(this.ua, this.invite, res);
    if (this.autoAck) this.sendAck(this.invite, this.dialog, this.ackAnswer);
    if (this.cancelRequested && this.byeIfAnsweredAfterCancel) this.bye();
  }

  override receiveStray2xx(_res: SipResponse): void {
    if (this.autoAck && this.dialog) this.sendAck(this.invite, this.dialog, this.ackAnswer);
  }
}

/** An INVITE this UA received (it is the UAS, RFC 3261 §13.3). */
export class IncomingCall extends Session {
  /** Our To tag, the same in every response (RFC 3261 §8.2.6.2). */
  readonly localTag = generateTag();
  readonly responsesSent: SipResponse[] = [];
  finalStatus: number | undefined;
  /** The CANCEL that arrived for this INVITE, if any, and when. */
  cancelRequest: SipRequest | undefined;
  cancelledAtMs: number | undefined;
  readonly receivedAtMs: number;

  constructor(
    ua: TestUa,
    readonly invite: SipRequest,
    readonly serverTx: ServerTransaction,
  ) {
    super(ua, false);
    this.receivedAtMs = ua.clock.now();
  }

  respond(
    status: number,
    opts: { sdp?: Buffer; reason?: string; headers?: Array<[string, string]> } = {},
  ): SipResponse {
    if (this.finalStatus !== undefined) throw new Error(`${status}: a final response was already sent`);
    const headers: Array<[string, string]> = [...(opts.headers ?? [])];
    // RFC 3261 §12.1.1: a response that establishes a dialog carries the UAS's Contact.
    if (status > 100 && status < 300) headers.push(['contact', this.ua.contact]);
    if (status < 300) headers.push(['allow', ALLOW]);
    const res = createResponse(this.invite, status, opts.reason, {
      toTag: status === 100 ? undefined : this.localTag,
      headers,
      body: opts.sdp,
      contentType: opts.sdp ? 'application/sdp' : undefined,
    });
    if (status > 100 && status < 300 && !this.dialog) {
      const made = Dialog.fromUasResponse(this.invite, res);
      if (!made.ok) throw new Error(`cannot make a dialog: ${made.error.message}`);
      this.dialog = made.value;
      this.ua.bind(this);
    }
    this.dialog?.responseSent(res);
    this.responsesSent.push(res);
    if (status >= 200) this.finalStatus = status;
    if (status >= 200 && status < 300) this.respondInvite2xx(this.serverTx, res);
    else this.serverTx.respond(res);
    if (status >= 300) this.end();
    return res;
  }

  ring(): SipResponse {
    return this.respond(180);
  }

  /** 200 OK with our answer to the offer (or an offer of ours when the INVITE had none). */
  answer(sdp: Buffer = this.ua.answerTo(this.invite.body)): SipResponse {
    return this.respond(200, { sdp });
  }

  reject(status: number, reason?: string): SipResponse {
    return this.respond(status, reason === undefined ? {} : { reason });
  }

  /**
   * RFC 3261 §9.2: "the UAS MUST ... answer the CANCEL with 200 ... If the UAS has not issued a
   * final response for the original request, its behavior depends on the method ... If it is
   * INVITE ... it SHOULD immediately respond to the INVITE with a 487 (Request Terminated)." A
   * CANCEL that arrives after the final response changes nothing but still gets its 200.
   */
  onCancel(cancel: SipRequest, cancelTx: ServerTransaction): void {
    this.cancelRequest = cancel;
    this.cancelledAtMs = this.ua.clock.now();
    cancelTx.respond(createResponse(cancel, 200, 'OK', { toTag: this.localTag }));
    if (this.finalStatus === undefined) this.respond(487);
  }
}

export class TestUa {
  readonly clock: ManualClock;
  readonly transport: MemoryTransport;
  readonly tx: TransactionLayer;
  readonly proxy: SipEndpoint;
  readonly user: string;
  readonly domain: string;
  readonly random: () => number;
  /** INVITEs received outside any dialog, in order. */
  readonly incoming: IncomingCall[] = [];
  readonly outgoing: OutgoingCall[] = [];
  readonly registrations: Exchange[] = [];
  /** Called for every new incoming INVITE (e.g. to ring at once). */
  onIncoming: ((call: IncomingCall) => void) | undefined;
  private readonly sessions = new Map<string, Session>();
  private readonly everyDialog: Dialog[] = [];
  private readonly registerCallId: string;
  private registerSeq = 0;
  private registered = false;
  private sdpVersion = 1;
  private readonly sdpSessionId = String(Math.floor(Math.random() * 1e9));

  constructor(private readonly opts: TestUaOptions) {
    this.clock = opts.clock;
    this.proxy = opts.proxy;
    this.user = opts.user;
    this.domain = opts.domain;
    this.random = opts.random ?? Math.random;
    this.transport = new MemoryTransport(opts.net, opts.address, opts.port ?? 5060);
    this.registerCallId = generateCallId(opts.address);
    this.tx = new TransactionLayer({
      clock: opts.clock,
      timers: opts.clock,
      send: (msg, dest) => this.transport.send(msg, dest),
      onRequest: (req, stx) => this.onRequest(req, stx),
      onCancel: (cancel, inviteTx, cancelTx) => {
        const call = inviteTx ? this.incoming.find((c) => c.serverTx === inviteTx) : undefined;
        if (call) call.onCancel(cancel, cancelTx);
        else
          cancelTx.respond(
            createResponse(cancel, 481, 'Call/Transaction Does Not Exist', { toTag: generateTag() }),
          );
      },
      onAck: (ack) => this.sessionFor(ack)?.receiveAck(ack),
      onStrayResponse: (res) => {
        if (res.status < 200 || res.status >= 300) return;
        const id = dialogIdOf(res, 'uac');
        if (id) this.sessions.get(dialogKey(id))?.receiveStray2xx(res);
      },
    });
    this.transport.onMessage = (msg, source) => this.tx.receive(msg, source);
  }

  get address(): string {
    return this.transport.address;
  }

  get contact(): string {
    return `<sip:${this.user}@${this.transport.address}:${this.transport.port}>`;
  }

  /** Every message received, in arrival order, retransmissions included. */
  get received(): SipMessage[] {
    return this.transport.received;
  }

  /** Requests received (wire), optionally of one method. */
  requestsReceived(method?: string): SipRequest[] {
    return this.received.filter(
      (m): m is SipRequest => m.kind === 'request' && (method === undefined || m.method === method),
    );
  }

  /** Responses received (wire), optionally to one method (by CSeq). */
  responsesReceived(method?: string): SipResponse[] {
    return this.received.filter(
      (m): m is SipResponse => m.kind === 'response' && (method === undefined || cseqMethodOf(m) === method),
    );
  }

  /** Our SDP: one PCMU audio stream at our address, a new version each time. */
  offer(direction: SdpDirection = 'sendrecv'): Buffer {
    const a = this.transport.address;
    return Buffer.from(
      `v=0\r\no=${this.user} ${this.sdpSessionId} ${this.sdpVersion++} IN IP4 ${a}\r\ns=-\r\nc=IN IP4 ${a}\r\n` +
        `t=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n` +
        `a=rtpmap:101 telephone-event/8000\r\na=${direction}\r\n`,
    );
  }

  /** Our answer to an offer: the direction answered per RFC 3264 §6.1 (an offer of ours if none). */
  answerTo(offer: Buffer): Buffer {
    const parsed = offer.length > 0 ? parseSdp(offer) : undefined;
    const m = parsed?.ok ? parsed.value.media[0] : undefined;
    const offered = parsed?.ok && m ? directionOf(m, parsed.value) : 'sendrecv';
    return this.offer(answerDirection(offered));
  }

  /** REGISTER our Contact (RFC 3261 §10.2), answering the registrar's digest challenge. */
  register(expiresS = 3600): Exchange {
    const h = new SipHeaders();
    h.append('via', this.via());
    h.append('max-forwards', '70');
    h.append('from', `<sip:${this.user}@${this.domain}>;tag=${generateTag()}`);
    h.append('to', `<sip:${this.user}@${this.domain}>`);
    // RFC 3261 §10.2.4: one Call-ID for all registrations of this UA, CSeq growing.
    h.append('call-id', this.registerCallId);
    h.append('cseq', `${++this.registerSeq} REGISTER`);
    h.append('contact', this.contact);
    h.append('expires', String(expiresS));
    const req: SipRequest = {
      kind: 'request',
      method: 'REGISTER',
      uri: `sip:${this.domain}`,
      version: 'SIP/2.0',
      headers: h,
      body: Buffer.alloc(0),
    };
    const ex = new Exchange(req, this.clock.now());
    this.registrations.push(ex);
    this.sendOutOfDialog(req, ex, (res) => {
      if (res.status >= 200 && res.status < 300) this.registered = expiresS > 0;
    });
    return ex;
  }

  unregister(): Exchange {
    return this.register(0);
  }

  get isRegistered(): boolean {
    return this.registered;
  }

  /** An INVITE to `target` (a number at our domain, or a URI), offering `sdp` (ours by default; null: none). */
  invite(
    target: string,
    opts: { sdp?: Buffer | null; headers?: Array<[string, string]> } = {},
  ): OutgoingCall {
    const uri = target.includes(':') ? target : `sip:${target}@${this.domain}`;
    const h = new SipHeaders();
    h.append('via', this.via());
    h.append('max-forwards', '70');
    const display = this.opts.displayName ? `"${this.opts.displayName}" ` : '';
    h.append('from', `${display}<sip:${this.user}@${this.domain}>;tag=${generateTag()}`);
    h.append('to', `<${uri}>`);
    h.append('call-id', generateCallId(this.transport.address));
    h.append('cseq', `${1 + Math.floor(Math.random() * 1000)} INVITE`);
    h.append('contact', this.contact);
    h.append('allow', ALLOW);
    for (const [n, v] of opts.headers ?? []) h.append(n, v);
    const body = opts.sdp === null ? Buffer.alloc(0) : (opts.sdp ?? this.offer());
    if (body.length > 0) h.append('content-type', 'application/sdp');
    const req: SipRequest = { kind: 'request', method: 'INVITE', uri, version: 'SIP/2.0', headers: h, body };
    const call = new OutgoingCall(this, req);
    this.outgoing.push(call);
    return call;
  }

  /**
   * Send a request in a dialog this UA has ended, with that dialog's identity: whoever still
   * holds the dialog answers it; nobody holding it answers 481 (RFC 3261 §12.2.2).
   */
  probe(dialog: Dialog, method = 'OPTIONS'): Exchange {
    const h = new SipHeaders();
    h.append('via', this.via());
    h.append('max-forwards', '70');
    h.append('from', `<${dialog.localUri}>;tag=${dialog.id.localTag}`);
    h.append('to', `<${dialog.remoteUri}>;tag=${dialog.id.remoteTag}`);
    h.append('call-id', dialog.id.callId);
    h.append('cseq', `${(dialog.localSeq ?? 0) + 1000} ${method}`);
    const req: SipRequest = {
      kind: 'request',
      method,
      uri: dialog.remoteTarget,
      version: 'SIP/2.0',
      headers: h,
      body: Buffer.alloc(0),
    };
    const ex = new Exchange(req, this.clock.now());
    this.tx.sendRequest(req, this.proxy, {
      onResponse: (res) => ex.responses.push(res),
      onTimeout: () => {
        ex.timedOut = true;
      },
    });
    return ex;
  }

  /** Every dialog this UA ever had, ended or not. */
  get dialogs(): readonly Dialog[] {
    return this.everyDialog;
  }

  /** Sessions whose dialog is still live. */
  liveSessions(): Session[] {
    return [...this.sessions.values()];
  }

  dump(): { transactions: number; liveDialogs: number } {
    const active = this.tx.dump().active;
    return {
      transactions: Object.values(active).reduce((a, b) => a + b, 0),
      liveDialogs: this.sessions.size,
    };
  }

  close(): void {
    for (const s of [...this.sessions.values()]) s.end();
    this.tx.close();
    this.transport.close();
  }

  /** Our Via: sent-by, a new branch, rport (RFC 3261 §8.1.1.7, RFC 3581). */
  via(): string {
    return `SIP/2.0/UDP ${this.transport.address}:${this.transport.port};branch=${generateBranch()};rport`;
  }

  sendStateless(msg: SipMessage): void {
    this.transport.send(msg, this.proxy);
  }

  /**
   * RFC 3261 §22.2: the request again with credentials for the challenge — "the same Call-ID, To
   * and From tags, CSeq incremented", a new branch. Undefined when there is no password or the
   * challenge cannot be answered.
   */
  withCredentials(req: SipRequest, challenge: SipResponse): SipRequest | undefined {
    const password = this.opts.password;
    if (password === undefined) return undefined;
    const proxy = challenge.status === 407;
    const value = challenge.headers.getLines(proxy ? 'proxy-authenticate' : 'www-authenticate')[0];
    if (value === undefined) return undefined;
    const auth = computeDigestAuthorization({
      challenge: value,
      method: req.method,
      uri: req.uri,
      username: this.user,
      password,
    });
    if (!auth.ok) return undefined;
    const h = req.headers.clone();
    const cseq = parseCSeq(h.get('cseq') ?? '');
    h.set('cseq', `${(cseq.ok ? cseq.value.seq : 1) + 1} ${req.method}`);
    h.removeFirst('via');
    h.prepend('via', this.via());
    h.set(proxy ? 'proxy-authorization' : 'authorization', auth.value);
    return { ...req, headers: h };
  }

  bind(session: Session): void {
    if (!session.dialog) return;
    if (!this.everyDialog.includes(session.dialog)) this.everyDialog.push(session.dialog);
    this.sessions.set(dialogKey(session.dialog.id), session);
  }

  unbind(session: Session): void {
    if (!session.dialog) return;
    const key = dialogKey(session.dialog.id);
    if (this.sessions.get(key) === session) this.sessions.delete(key);
  }

  private sessionFor(req: SipRequest): Session | undefined {
    const id = dialogIdOf(req, 'uas');
    return id ? this.sessions.get(dialogKey(id)) : undefined;
  }

  private sendOutOfDialog(req: SipRequest, ex: Exchange, onFinal: (res: SipResponse) => void): void {
    this.tx.sendRequest(req, this.proxy, {
      onResponse: (res) => {
        ex.responses.push(res);
        if (res.status < 200) return;
        if ((res.status === 401 || res.status === 407) && !ex.authTried) {
          const retry = this.withCredentials(req, res);
          if (retry) {
            ex.authTried = true;
            ex.request = retry;
            this.sendOutOfDialog(retry, ex, onFinal);
            return;
          }
        }
        onFinal(res);
      },
      onTimeout: () => {
        ex.timedOut = true;
      },
    });
  }

  private onRequest(req: SipRequest, stx: ServerTransaction): void {
    if (getTag(req.headers.get('to') ?? '') !== undefined) {
      const session = this.sessionFor(req);
      if (session) session.receive(req, stx);
      else stx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    switch (req.method) {
      case 'INVITE': {
        const call = new IncomingCall(this, req, stx);
        this.incoming.push(call);
        this.onIncoming?.(call);
        return;
      }
      case 'OPTIONS':
        stx.respond(createResponse(req, 200, 'OK', { toTag: generateTag(), headers: [['allow', ALLOW]] }));
        return;
      default:
        stx.respond(
          createResponse(req, 405, 'Method Not Allowed', {
            toTag: generateTag(),
            headers: [['allow', ALLOW]],
          }),
        );
    }
  }
}

/** RFC 3264 §4: an INVITE without an offer gets one in the 2xx; the answer goes in the ACK. */
function lateAnswer(ua: TestUa, invite: SipRequest, res: SipResponse): Buffer | undefined {
  return invite.body.length === 0 && res.body.length > 0 ? ua.answerTo(res.body) : undefined;
}

function cseqOf(msg: SipMessage): number {
  const c = parseCSeq(msg.headers.get('cseq') ?? '');
  return c.ok ? c.value.seq : -1;
}

function cseqMethodOf(msg: SipMessage): string | undefined {
  const c = parseCSeq(msg.headers.get('cseq') ?? '');
  return c.ok ? c.value.method : undefined;
}

/** RFC 3261 §8.1.3.1: Timer B firing is treated as a 408 (Request Timeout). */
function timeoutResponse(req: SipRequest): SipResponse {
  return createResponse(req, 408, 'Request Timeout (Timer B)');
}
