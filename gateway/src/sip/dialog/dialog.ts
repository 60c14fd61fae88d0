/**
 * SIP dialogs (RFC 3261 §12–§15), sans-I/O. A dialog builds the requests it sends (Request-URI,
 * Route, CSeq, From/To/Call-ID) and updates its state from the messages it sees; it owns no
 * transaction and no socket. The caller adds the Via (its transport's sent-by) and hands the
 * request to a client transaction aimed at `nextHop`.
 */
import { randomInt } from 'node:crypto';
import { EdgeError, ErrorCodes } from '../../core/errors.ts';
import { err, ok } from '../../../../base/result.ts';
import type { ParseError, Result } from '../../../../base/result.ts';
import type { RegisteredCode } from '../../../../base/error-codes.ts';
import {
  SipHeaders,
  createResponse,
  formatNameAddr,
  formatUri,
  getTag,
  isSipUri,
  parseCSeq,
  parseNameAddr,
  parseUri,
} from '../message/index.ts';
import type { CreateResponseOptions, SipMessage, SipRequest, SipResponse } from '../message/index.ts';

export interface DialogId {
  callId: string;
  localTag: string;
  remoteTag: string;
}

export type DialogState = 'early' | 'confirmed' | 'terminated';
export type DialogRole = 'uac' | 'uas';

export interface DialogDump {
  id: DialogId;
  role: DialogRole;
  state: DialogState;
  localUri: string;
  remoteUri: string;
  localSeq: number | null;
  remoteSeq: number | null;
  remoteTarget: string;
  routeSet: string[];
  secure: boolean;
  localContact: string | null;
}

export type ReceiveRequestResult =
  { ok: true } | { ok: false; status: 400 | 481 | 500; reason: string; headers?: [string, string][] };

export interface DialogRequestOptions {
  body?: Buffer | string;
  contentType?: string;
  headers?: [string, string][];
}

export interface BuiltRequest {
  request: SipRequest;
  /**
   * The URI the transport resolves (RFC 3263) to send the request: the first Route entry when it is
   * a loose router, else the Request-URI (the remote target, or the strict router put there).
   */
  nextHop: string;
}

export interface DialogOrigin {
  /** Whether the dialog-creating request travelled over TLS (for the `secure` flag). */
  overTls?: boolean;
}

/** RFC 3261 §12.2: requests that "can modify the remote target URI of the dialog". */
const targetRefreshMethods = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']);

const dialogError = (message: string, field?: string): ParseError =>
  field === undefined
    ? { code: 'EDGE_ERR_SIP_PARSE', message }
    : { code: 'EDGE_ERR_SIP_PARSE', message, field };

/** The key a dialog table stores a dialog under. */
export function dialogKey(id: DialogId): string {
  return `${id.callId}\n${id.localTag}\n${id.remoteTag}`;
}

/**
 * The dialog ID a message belongs to, seen from `side`: the role this UA plays in the transaction
 * the message belongs to. RFC 3261 §12: "For a UAC ... the local tag is equal to the tag in the From
 * field and the remote tag ... in the To field. A UAS ... local tag [is] equal to the tag in the To
 * field ... and the remote tag ... in the From field." Returns null when a part is missing.
 */
export function dialogIdOf(msg: SipMessage, side: DialogRole): DialogId | null {
  const callId = msg.headers.get('call-id')?.trim();
  const fromTag = getTagOf(msg, 'from');
  const toTag = getTagOf(msg, 'to');
  if (!callId || fromTag === undefined || toTag === undefined) return null;
  return side === 'uac'
    ? { callId, localTag: fromTag, remoteTag: toTag }
    : { callId, localTag: toTag, remoteTag: fromTag };
}

function getTagOf(msg: SipMessage, name: 'from' | 'to'): string | undefined {
  const v = msg.headers.get(name);
  return v === undefined ? undefined : getTag(v);
}

function cseqOf(msg: SipMessage): Result<{ seq: number; method: string }> {
  const v = msg.headers.get('cseq');
  if (v === undefined) return err(dialogError('missing CSeq', 'CSeq'));
  return parseCSeq(v);
}

/** The URI of the first Contact (RFC 3261 §12.1.1: the remote target). */
function contactUri(msg: SipMessage): Result<string | undefined> {
  const first = msg.headers.getList('contact')[0];
  if (first === undefined) return ok(undefined);
  const na = parseNameAddr(first, 'Contact');
  if (!na.ok) return na;
  return ok(na.value.uri);
}

function parseAddr(msg: SipMessage, name: 'from' | 'to'): Result<{ uri: string; displayName?: string }> {
  const v = msg.headers.get(name);
  if (v === undefined) return err(dialogError(`missing ${name}`, name === 'from' ? 'From' : 'To'));
  const na = parseNameAddr(v, name === 'from' ? 'From' : 'To');
  if (!na.ok) return na;
  return ok(
    na.value.displayName === undefined
      ? { uri: na.value.uri }
      : { uri: na.value.uri, displayName: na.value.displayName },
  );
}

/** RFC 3261 §12.1.1: "If the request arrived over TLS, and the Request-URI contained a SIPS URI". */
function isSecure(req: SipRequest, origin?: DialogOrigin): boolean {
  if (!origin?.overTls) return false;
  const u = parseUri(req.uri);
  return u.ok && u.value.scheme === 'sips';
}

/** Whether a Route entry is a loose router (RFC 3261 §16.12.1.1: the `lr` parameter). */
function isLooseRoute(route: string): boolean {
  const na = parseNameAddr(route, 'Route');
  if (!na.ok) return true;
  const u = parseUri(na.value.uri);
  return u.ok && isSipUri(u.value) && u.value.params.has('lr');
}

function routeUri(route: string): string {
  const na = parseNameAddr(route, 'Route');
  return na.ok ? na.value.uri : route;
}

/**
 * RFC 3261 §12.2.1.1 (strict routing): the first route goes in the Request-URI "stripping any
 * parameters that are not allowed in a Request-URI" — per §19.1.1 the `method` parameter and the
 * headers component.
 */
function asRequestUri(uri: string): string {
  const u = parseUri(uri);
  if (!u.ok || !isSipUri(u.value)) return uri;
  const copy = { ...u.value, params: new Map(u.value.params), headers: new Map<string, string>() };
  copy.params.delete('method');
  return formatUri(copy);
}

export class Dialog {
  readonly id: DialogId;
  readonly role: DialogRole;
  private _state: DialogState;
  readonly localUri: string;
  readonly remoteUri: string;
  private readonly localDisplayName: string | undefined;
  private readonly remoteDisplayName: string | undefined;
  localSeq: number | null;
  remoteSeq: number | null;
  remoteTarget: string;
  /** Route set entries as they appear in Route headers (name-addr with parameters), in send order. */
  routeSet: string[];
  readonly secure: boolean;
  /** Our Contact, sent in target refresh requests and in 2xx to them. */
  localContact: string | undefined;
  /** CSeq number of the dialog-creating INVITE (to tell its responses from those of re-INVITEs). */
  private readonly initialSeq: number;
  private readonly initialMethod: string;

  private constructor(init: {
    id: DialogId;
    role: DialogRole;
    state: DialogState;
    localUri: string;
    remoteUri: string;
    localDisplayName: string | undefined;
    remoteDisplayName: string | undefined;
    localSeq: number | null;
    remoteSeq: number | null;
    remoteTarget: string;
    routeSet: string[];
    secure: boolean;
    localContact: string | undefined;
    initialSeq: number;
    initialMethod: string;
  }) {
    this.id = init.id;
    this.role = init.role;
    this._state = init.state;
    this.localUri = init.localUri;
    this.remoteUri = init.remoteUri;
    this.localDisplayName = init.localDisplayName;
    this.remoteDisplayName = init.remoteDisplayName;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.secure = init.secure;
    this.localContact = init.localContact;
    this.initialSeq = init.initialSeq;
    this.initialMethod = init.initialMethod;
  }

  /**
   * The UAS side (RFC 3261 §12.1.1), from the request received and the 1xx-with-tag or 2xx we
   * send: "The route set MUST be set to the list of URIs in the Record-Route header field from the
   * request, taken in order and preserving all URI parameters. ... The remote target MUST be set to
   * the URI from the Contact header field of the request. The remote sequence number MUST be set to
   * the value of the sequence number in the CSeq header field of the request. The local sequence
   * number MUST be empty. ... The remote tag MUST be set to the tag in the From field, and the local
   * tag MUST be set to the tag in the To field [of the response]."
   */
  static fromUasResponse(req: SipRequest, response: SipResponse, origin?: DialogOrigin): Result<Dialog> {
    const id = dialogIdOf(response, 'uas');
    if (!id) return err(dialogError('dialog-creating response needs Call-ID, From tag and To tag', 'To'));
    const cseq = cseqOf(req);
    if (!cseq.ok) return cseq;
    const target = contactUri(req);
    if (!target.ok) return target;
    if (target.value === undefined)
      return err(dialogError('dialog-creating request without Contact', 'Contact'));
    const from = parseAddr(req, 'from');
    if (!from.ok) return from;
    const to = parseAddr(req, 'to');
    if (!to.ok) return to;
    const localContact = response.headers.getList('contact')[0];
    return ok(
      new Dialog({
        id,
        role: 'uas',
        state: response.status >= 200 ? 'confirmed' : 'early',
        // "The remote URI MUST be set to the URI in the From field, and the local URI MUST be set
        // to the URI in the To field."
        localUri: to.value.uri,
        remoteUri: from.value.uri,
        localDisplayName: to.value.displayName,
        remoteDisplayName: from.value.displayName,
        localSeq: null,
        remoteSeq: cseq.value.seq,
        remoteTarget: target.value,
        routeSet: req.headers.getList('record-route'),
        secure: isSecure(req, origin),
        localContact,
        initialSeq: cseq.value.seq,
        initialMethod: cseq.value.method,
      }),
    );
  }

  /**
   * The UAC side (RFC 3261 §12.1.2), from the request we sent and the 1xx-with-tag or 2xx received:
   * "The route set MUST be set to the list of URIs in the Record-Route header field from the
   * response, taken in reverse order and preserving all URI parameters. ... The remote target MUST
   * be set to the URI from the Contact header field of the response. The local sequence number MUST
   * be set to the value of the sequence number in the CSeq header field of the request. The remote
   * sequence number MUST be empty."
   */
  static fromUacResponse(req: SipRequest, res: SipResponse, origin?: DialogOrigin): Result<Dialog> {
    const id = dialogIdOf(res, 'uac');
    if (!id) return err(dialogError('dialog-creating response needs Call-ID, From tag and To tag', 'To'));
    const cseq = cseqOf(req);
    if (!cseq.ok) return cseq;
    const target = contactUri(res);
    if (!target.ok) return target;
    // A 1xx may omit Contact; the 2xx that confirms the dialog cannot (§13.3.1.4) and sets it.
    if (target.value === undefined && res.status >= 200)
      return err(dialogError('2xx without Contact cannot establish a dialog', 'Contact'));
    const from = parseAddr(req, 'from');
    if (!from.ok) return from;
    const to = parseAddr(res, 'to');
    if (!to.ok) return to;
    return ok(
      new Dialog({
        id,
        role: 'uac',
        state: res.status >= 200 ? 'confirmed' : 'early',
        // "The local URI ... MUST be set to the URI in the From field, and the remote URI ... to
        // the URI in the To field."
        localUri: from.value.uri,
        remoteUri: to.value.uri,
        localDisplayName: from.value.displayName,
        remoteDisplayName: to.value.displayName,
        localSeq: cseq.value.seq,
        remoteSeq: null,
        remoteTarget: target.value ?? req.uri,
        routeSet: res.headers.getList('record-route').reverse(),
        secure: isSecure(req, origin),
        localContact: req.headers.getList('contact')[0],
        initialSeq: cseq.value.seq,
        initialMethod: cseq.value.method,
      }),
    );
  }

  get state(): DialogState {
    return this._state;
  }

  /** The guarded edge: early → confirmed | terminated, confirmed → terminated. */
  private transition(to: DialogState): boolean {
    switch (to) {
      case 'early':
        return false;
      case 'confirmed':
        if (this._state !== 'early') return false;
        break;
      case 'terminated':
        if (this._state === 'terminated') return false;
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown dialog state ${String(never)}`);
      }
    }
    this._state = to;
    return true;
  }

  /** Whether a message belongs to this dialog, seen from `side` (see `dialogIdOf`). */
  matches(msg: SipMessage, side: DialogRole): boolean {
    const id = dialogIdOf(msg, side);
    return id !== null && dialogKey(id) === dialogKey(this.id);
  }

  private nextLocalSeq(): number {
    // §12.2.1.1: "If the local sequence number is empty, an initial value MUST be chosen using the
    // guidelines of Section 8.1.1.5" — below 2^31, so it can grow.
    if (this.localSeq === null) this.localSeq = randomInt(1, 2 ** 31);
    else this.localSeq++;
    return this.localSeq;
  }

  /**
   * A request within the dialog (RFC 3261 §12.2.1.1). The caller adds the Via.
   *
   * "If the route set is empty, the UAC MUST place the remote target URI into the Request-URI. The
   * UAC MUST NOT add a Route header field to the request. If the route set is not empty, and the
   * first URI in the route set contains the lr parameter, the UAC MUST place the remote target URI
   * into the Request-URI and MUST include a Route header field containing the route set values in
   * order, including all parameters. If the route set is not empty, and its first URI does not
   * contain the lr parameter, the UAC MUST place the first URI from the route set into the
   * Request-URI, stripping any parameters that are not allowed in a Request-URI. The UAC MUST add a
   * Route header field containing the remainder of the route set values in order, including all
   * parameters. The UAC MUST then place the remote target URI into the Route header field as the
   * last value."
   */
  createRequest(method: string, opts: DialogRequestOptions = {}): BuiltRequest {
    const m = method.toUpperCase();
    if (this._state === 'terminated')
      throw new EdgeError(ErrorCodes.SIP_DIALOG_STATE, `cannot send ${m} on a terminated dialog`, {
        id: this.id,
      });
    // §15: "the callee's UA MAY send a BYE on confirmed dialogs, but MUST NOT send a BYE on early
    // dialogs."
    if (m === 'BYE' && this.role === 'uas' && this._state === 'early')
      throw new EdgeError(ErrorCodes.SIP_DIALOG_STATE, 'the callee must not send BYE on an early dialog', {
        id: this.id,
      });
    // §12.2.1.1: "Requests within a dialog MUST contain strictly monotonically increasing and
    // contiguous CSeq sequence numbers (increasing-by-one) in each direction (excepting ACK and
    // CANCEL of course, whose numbers equal the requests being acknowledged or cancelled)."
    const seq = m === 'ACK' || m === 'CANCEL' ? (this.localSeq ?? 0) : this.nextLocalSeq();
    return this.build(m, seq, opts);
  }

  /**
   * The ACK for a 2xx to an INVITE we sent (RFC 3261 §13.2.2.4): "The header fields of the ACK are
   * constructed in the same way as for any request sent within a dialog ... with the exception of
   * the CSeq and the header fields related to authentication. The sequence number of the CSeq
   * header field MUST be the same as the INVITE being acknowledged, but the CSeq method MUST be ACK.
   * The ACK MUST contain the same credentials as the INVITE." Its Via gets a new branch: it is a
   * transaction of its own (§17.1.1.3).
   */
  createAck(
    inviteReq: SipRequest,
    body?: { body: Buffer | string; contentType: string },
  ): Result<BuiltRequest> {
    const cseq = cseqOf(inviteReq);
    if (!cseq.ok) return cseq;
    if (cseq.value.method !== 'INVITE') return err(dialogError('ACK acknowledges an INVITE', 'CSeq'));
    const headers: [string, string][] = [];
    for (const name of ['authorization', 'proxy-authorization'])
      for (const v of inviteReq.headers.getLines(name)) headers.push([name, v]);
    const opts: DialogRequestOptions = { headers };
    if (body) {
      opts.body = body.body;
      opts.contentType = body.contentType;
    }
    return ok(this.build('ACK', cseq.value.seq, opts));
  }

  private build(method: string, seq: number, opts: DialogRequestOptions): BuiltRequest {
    const headers = new SipHeaders();
    let requestUri: string;
    let nextHop: string;
    const first = this.routeSet[0];
    if (first === undefined) {
      requestUri = this.remoteTarget;
      nextHop = this.remoteTarget;
    } else if (isLooseRoute(first)) {
      requestUri = this.remoteTarget;
      nextHop = routeUri(first);
      for (const r of this.routeSet) headers.append('route', r);
    } else {
      requestUri = asRequestUri(routeUri(first));
      nextHop = requestUri;
      for (const r of this.routeSet.slice(1)) headers.append('route', r);
      headers.append('route', `<${this.remoteTarget}>`);
    }
    headers.append('max-forwards', '70');
    headers.append(
      'from',
      formatNameAddr(this.nameAddr(this.localUri, this.localDisplayName, this.id.localTag)),
    );
    headers.append(
      'to',
      formatNameAddr(this.nameAddr(this.remoteUri, this.remoteDisplayName, this.id.remoteTag)),
    );
    headers.append('call-id', this.id.callId);
    headers.append('cseq', `${seq} ${method}`);
    // §12.2.1.1 / §8.1.1.8: a target refresh request carries our Contact.
    if (targetRefreshMethods.has(method) && this.localContact !== undefined)
      headers.append('contact', this.localContact);
    for (const [n, v] of opts.headers ?? []) headers.append(n, v);
    const body =
      opts.body === undefined
        ? Buffer.alloc(0)
        : Buffer.isBuffer(opts.body)
          ? opts.body
          : Buffer.from(opts.body);
    if (body.length > 0 && opts.contentType !== undefined) headers.append('content-type', opts.contentType);
    headers.append('content-length', String(body.length));
    return {
      request: { kind: 'request', method, uri: requestUri, version: 'SIP/2.0', headers, body },
      nextHop,
    };
  }

  private nameAddr(uri: string, displayName: string | undefined, tag: string) {
    const na: { uri: string; params: Map<string, string | null>; displayName?: string } = {
      uri,
      params: new Map([['tag', tag]]),
    };
    if (displayName !== undefined) na.displayName = displayName;
    return na;
  }

  /**
   * A request received within this dialog (RFC 3261 §12.2.2). "If the remote sequence number is
   * empty, it MUST be set to the value of the sequence number in the CSeq header field value in the
   * request. If the remote sequence number was not empty, but the sequence number of the request is
   * lower than the remote sequence number, the request is out of order and MUST be rejected with a
   * 500 (Server Internal Error) response."
   */
  receiveRequest(req: SipRequest): ReceiveRequestResult {
    // §12.2.2: "If the UAS wishes to reject the request because it does not wish to recreate the
    // dialog, it MUST respond to the request with a 481 (Call/Transaction Does Not Exist)".
    if (this._state === 'terminated' || !this.matches(req, 'uas'))
      return { ok: false, status: 481, reason: 'Call/Transaction Does Not Exist' };
    const cseq = cseqOf(req);
    if (!cseq.ok) return { ok: false, status: 400, reason: 'Bad CSeq' };
    const method = req.method.toUpperCase();
    // ACK and CANCEL reuse the number of the request they belong to.
    if (method !== 'ACK' && method !== 'CANCEL') {
      if (this.remoteSeq !== null && cseq.value.seq < this.remoteSeq)
        return { ok: false, status: 500, reason: 'Server Internal Error' };
      if (this.remoteSeq === null || cseq.value.seq > this.remoteSeq) this.remoteSeq = cseq.value.seq;
    }
    if (targetRefreshMethods.has(method)) {
      // §12.2.2: "When a UAS receives a target refresh request, it MUST replace the dialog's remote
      // target URI with the URI from the Contact header field in that request, if present."
      const target = contactUri(req);
      if (!target.ok) return { ok: false, status: 400, reason: 'Bad Contact' };
      if (target.value !== undefined) this.remoteTarget = target.value;
    }
    // §15.1.2: "The UAS MUST ... terminate the session (and therefore stop sending and listening
    // for media)" on a BYE that matches an existing dialog.
    if (method === 'BYE') this.transition('terminated');
    return { ok: true };
  }

  /**
   * A response to a request this UA sent within (or to create) the dialog.
   */
  receiveResponse(res: SipResponse): Result<void> {
    if (this._state === 'terminated') return ok(undefined);
    const cseq = cseqOf(res);
    if (!cseq.ok) return cseq;
    const { seq, method } = cseq.value;
    // §12.2.1.2: "If the response for a request within a dialog is a 481 (Call/Transaction Does Not
    // Exist) or a 408 (Request Timeout), the UAC SHOULD terminate the dialog."
    if (res.status === 481 || res.status === 408) {
      this.transition('terminated');
      return ok(undefined);
    }
    const initial = this.role === 'uac' && method === this.initialMethod && seq === this.initialSeq;
    if (initial && this._state === 'early') {
      if (res.status >= 300) {
        // §12.3 / §13.2.2.3: a non-2xx final response ends every early dialog of the INVITE.
        this.transition('terminated');
        return ok(undefined);
      }
      if (res.status >= 200) {
        // §13.2.2.4: "the dialog MUST be transitioned to the "confirmed" state, and the route set for
        // the dialog MUST be recomputed based on the 2xx response using the procedures of Section
        // 12.2.1.2."
        this.routeSet = res.headers.getList('record-route').reverse();
        this.transition('confirmed');
      }
    }
    // §12.2.1.2: "When a UAC receives a 2xx response to a target refresh request, it MUST replace the
    // dialog's remote target URI with the URI from the Contact header field in that response, if
    // present." (A 1xx of an early dialog also carries the peer's current Contact.)
    if (
      targetRefreshMethods.has(method) &&
      (res.status >= 200 ? res.status < 300 : initial && res.status > 100)
    ) {
      const target = contactUri(res);
      if (!target.ok) return target;
      if (target.value !== undefined) this.remoteTarget = target.value;
    }
    return ok(undefined);
  }

  /**
   * A response this UA sent as UAS: a 2xx to the dialog-creating INVITE confirms the dialog; a
   * non-2xx final response to it ends the early dialog (§12.3).
   */
  responseSent(res: SipResponse): void {
    if (this.role !== 'uas' || this._state !== 'early') return;
    const cseq = cseqOf(res);
    if (!cseq.ok || cseq.value.seq !== this.initialSeq || cseq.value.method !== this.initialMethod) return;
    if (res.status >= 300) this.transition('terminated');
    else if (res.status >= 200) this.transition('confirmed');
  }

  /**
   * A response to a request received within this dialog: the To tag is ours (§12.1.1: "the UAS
   * MUST add a tag to the To header field"), and a 2xx to a target refresh request carries our
   * Contact (§12.1.1, §13.3.1.4).
   */
  createResponse(
    req: SipRequest,
    status: number,
    reason?: string,
    opts: CreateResponseOptions = {},
  ): SipResponse {
    const headers: [string, string][] = [];
    const refresh = targetRefreshMethods.has(req.method.toUpperCase());
    const hasContact = (opts.headers ?? []).some(
      ([n]) => n.toLowerCase() === 'contact' || n.toLowerCase() === 'm',
    );
    if (status >= 101 && status < 300 && refresh && this.localContact !== undefined && !hasContact)
      headers.push(['contact', this.localContact]);
    headers.push(...(opts.headers ?? []));
    return createResponse(req, status, reason, { ...opts, toTag: this.id.localTag, headers });
  }

  terminate(): void {
    this.transition('terminated');
  }

  close(): void {
    this.terminate();
  }

  dump(): DialogDump {
    return {
      id: { ...this.id },
      role: this.role,
      state: this._state,
      localUri: this.localUri,
      remoteUri: this.remoteUri,
      localSeq: this.localSeq,
      remoteSeq: this.remoteSeq,
      remoteTarget: this.remoteTarget,
      routeSet: [...this.routeSet],
      secure: this.secure,
      localContact: this.localContact ?? null,
    };
  }
}

export interface DialogTableOptions {
  /** Upper bound on dialogs held; `add` refuses beyond it so a flood cannot exhaust memory. */
  maxDialogs: number;
}

export type DialogTableError = {
  code: RegisteredCode<'EDGE_ERR_SIP_DIALOG_TABLE_FULL' | 'EDGE_ERR_SIP_DIALOG_DUPLICATE'>;
  message: string;
};

/** The dialogs of a UA, keyed by dialog ID (Call-ID, local tag, remote tag). */
export class DialogTable {
  private readonly byKey = new Map<string, Dialog>();

  constructor(private readonly opts: DialogTableOptions = { maxDialogs: 10_000 }) {}

  get size(): number {
    return this.byKey.size;
  }

  add(d: Dialog): Result<void, DialogTableError> {
    const key = dialogKey(d.id);
    if (this.byKey.has(key))
      return err({ code: 'EDGE_ERR_SIP_DIALOG_DUPLICATE', message: 'dialog already present' });
    if (this.byKey.size >= this.opts.maxDialogs)
      return err({
        code: 'EDGE_ERR_SIP_DIALOG_TABLE_FULL',
        message: `dialog table full (${this.opts.maxDialogs})`,
      });
    this.byKey.set(key, d);
    return ok(undefined);
  }

  find(id: DialogId): Dialog | undefined {
    return this.byKey.get(dialogKey(id));
  }

  /** The dialog a message belongs to, seen from `side` (see `dialogIdOf`). */
  findFor(msg: SipMessage, side: DialogRole): Dialog | undefined {
    const id = dialogIdOf(msg, side);
    return id ? this.find(id) : undefined;
  }

  remove(id: DialogId): boolean {
    return this.byKey.delete(dialogKey(id));
  }

  close(): void {
    for (const d of this.byKey.values()) d.close();
    this.byKey.clear();
  }

  dump(): { size: number; maxDialogs: number; dialogs: DialogDump[] } {
    return {
      size: this.byKey.size,
      maxDialogs: this.opts.maxDialogs,
      dialogs: [...this.byKey.values()].map((d) => d.dump()),
    };
  }
}
