/**
 * Checks a SIP element applies to a parsed message before acting on it.
 *
 * `structuralProblem` holds what every element needs (RFC 3261 §8.1.1 mandatory header fields,
 * §8.2.2 and §16.3 request validation, §20 single-valued fields); the parser applies it to every
 * message. `checkRequest` adds what a UAS (or a proxy) decides with knowledge of its own
 * capabilities: supported URI schemes, extensions, media types.
 */
import type { SipHeaders } from './headers-store.ts';
import { nameAddrView, parseCSeq, parseMediaType, parseNameAddr, parseVia, viaView } from './headers.ts';
import type { SipMessage, SipRequest, SipResponse } from './types.ts';
import { isSipUri, parseUri } from './uri.ts';

export interface MessageProblem {
  status: number;
  reason: string;
  field?: string;
}

/**
 * RFC 3261 §8.1.1: "A valid SIP request formulated by a UAC MUST, at a minimum, contain the
 * following header fields: To, From, CSeq, Call-ID, Max-Forwards, and Via". Max-Forwards is left
 * out: RFC 2543 elements do not send it (RFC 4475 §3.4.1 inv2543) and §16.3 treats it as optional.
 */
const mandatory = ['via', 'from', 'to', 'call-id', 'cseq'] as const;
/** Header fields that may appear once only (RFC 3261 §7.3.1, RFC 4475 §3.3.8 multi01). */
const singleValued = [
  'from',
  'to',
  'call-id',
  'cseq',
  'max-forwards',
  'content-length',
  'content-type',
] as const;
/** rfc1123-date with the time zone fixed to GMT (RFC 3261 §20.17, RFC 4475 §3.1.2.12 baddate). */
const sipDate = /^[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

const bad = (reason: string, field?: string, status = 400): MessageProblem =>
  field === undefined ? { status, reason } : { status, reason, field };

/** Display spellings of the names above, so that problems name fields without recomputing them. */
const fieldNames: Record<(typeof singleValued)[number] | (typeof mandatory)[number], string> = {
  via: 'Via',
  from: 'From',
  to: 'To',
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'max-forwards': 'Max-Forwards',
  'content-length': 'Content-Length',
  'content-type': 'Content-Type',
};

/** What makes a message unusable by any element, or undefined. Status is meaningful for requests. */
export function structuralProblem(msg: SipMessage): MessageProblem | undefined {
  const h: SipHeaders = msg.headers;
  // One pass over the header lines: the first value and the number of lines of each field checked.
  let via = 0;
  let from: string | undefined;
  let fromLines = 0;
  let to: string | undefined;
  let toLines = 0;
  let callId: string | undefined;
  let callIdLines = 0;
  let cseqRaw: string | undefined;
  let cseqLines = 0;
  let mf: string | undefined;
  let mfLines = 0;
  let clLines = 0;
  let contentType: string | undefined;
  let ctLines = 0;
  let date: string | undefined;
  let contact = false;
  for (const [name, value] of h.entries()) {
    switch (name) {
      case 'via':
        via++;
        break;
      case 'from':
        if (fromLines++ === 0) from = value;
        break;
      case 'to':
        if (toLines++ === 0) to = value;
        break;
      case 'call-id':
        if (callIdLines++ === 0) callId = value;
        break;
      case 'cseq':
        if (cseqLines++ === 0) cseqRaw = value;
        break;
      case 'max-forwards':
        if (mfLines++ === 0) mf = value;
        break;
      case 'content-length':
        clLines++;
        break;
      case 'content-type':
        if (ctLines++ === 0) contentType = value;
        break;
      case 'date':
        date ??= value;
        break;
      case 'contact':
        contact = true;
        break;
      default:
        break;
    }
  }
  const present: Record<(typeof mandatory)[number], boolean> = {
    via: via > 0,
    from: fromLines > 0,
    to: toLines > 0,
    'call-id': callIdLines > 0,
    cseq: cseqLines > 0,
  };
  for (const name of mandatory)
    if (!present[name]) return bad(`Missing ${fieldNames[name]} header field`, fieldNames[name]);
  const lines: Record<(typeof singleValued)[number], number> = {
    from: fromLines,
    to: toLines,
    'call-id': callIdLines,
    cseq: cseqLines,
    'max-forwards': mfLines,
    'content-length': clLines,
    'content-type': ctLines,
  };
  for (const name of singleValued)
    if (lines[name] > 1) return bad(`More than one ${fieldNames[name]} header field`, fieldNames[name]);

  const cseq = parseCSeq(cseqRaw ?? '');
  if (!cseq.ok) return bad('Malformed CSeq', 'CSeq');
  // RFC 3261 §8.1.1.5: "The method MUST match that of the request" (RFC 4475 §3.1.2.17 mismatch01).
  if (msg.kind === 'request' && cseq.value.method !== msg.method)
    return bad('CSeq method does not match the request method', 'CSeq');

  const vias = h.getList('via');
  if (vias.length === 0) return bad('Empty Via', 'Via');
  for (const v of vias) if (!viaView(v)) return bad('Malformed Via', 'Via');

  if (!nameAddrView(from ?? '')) return bad('Malformed From', 'From');
  if (!nameAddrView(to ?? '')) return bad('Malformed To', 'To');
  if (contact) {
    const contacts = h.getList('contact');
    for (const c of contacts) {
      if (c === '*' && contacts.length === 1) continue;
      if (!nameAddrView(c)) return bad('Malformed Contact', 'Contact');
    }
  }
  if ((callId ?? '') === '') return bad('Empty Call-ID', 'Call-ID');
  if (mf !== undefined && !/^[0-9]{1,10}$/.test(mf)) return bad('Malformed Max-Forwards', 'Max-Forwards');
  if (date !== undefined && !sipDate.test(date)) return bad('Malformed Date', 'Date');
  if (contentType !== undefined && !parseMediaType(contentType).ok)
    return bad('Malformed Content-Type', 'Content-Type');
  return undefined;
}

export interface CheckRequestOptions {
  /** Option tags this element implements (RFC 3261 §19.2). */
  supportedExtensions?: string[];
  /** URI schemes accepted in the Request-URI. Default sip, sips, tel. */
  supportedSchemes?: string[];
  /** Body types this element understands (RFC 3261 §8.2.3, 415). Default application/sdp, multipart/mixed, text/plain. */
  acceptedContentTypes?: string[];
  /** 'uas' (default) checks Require; 'proxy' checks Proxy-Require and Max-Forwards. */
  role?: 'uas' | 'proxy';
}

export interface RequestRejection {
  status: number;
  reason: string;
  headers?: Array<[string, string]>;
}

const defaultSchemes = ['sip', 'sips', 'tel'];
const defaultContentTypes = ['application/sdp', 'multipart/mixed', 'multipart/alternative', 'text/plain'];

function optionTags(values: string[]): string[] {
  return values.map((v) => v.trim()).filter((v) => v !== '');
}

function mediaTypeOf(value: string): string | undefined {
  const mt = parseMediaType(value);
  return mt.ok ? `${mt.value.type}/${mt.value.subtype}` : undefined;
}

/** Whether an Accept list admits `type` (`*\/*`, `type/*` ranges included; RFC 3261 §20.1). */
function acceptAdmits(accept: string[], type: string): boolean {
  const [major] = type.split('/');
  return accept.some((a) => {
    const t = mediaTypeOf(a) ?? a.trim().toLowerCase();
    return t === type || t === '*/*' || t === `${major}/*`;
  });
}

/**
 * The error response a UAS (or proxy) gives to a well-formed request it cannot process, or
 * undefined when the request may proceed. Checks in the order of RFC 3261 §8.2.
 */
export function checkRequest(req: SipRequest, opts: CheckRequestOptions = {}): RequestRejection | undefined {
  const structural = structuralProblem(req);
  if (structural) return { status: structural.status, reason: structural.reason };
  const h = req.headers;
  const role = opts.role ?? 'uas';

  // RFC 3261 §16.3 step 2: "If the Max-Forwards value is zero (0), the element MUST NOT forward
  // the request ... Otherwise, the element MUST return a 483 (Too many hops) response." A UAS
  // processes it normally (RFC 4475 §3.3.11 zeromf).
  if (role === 'proxy' && h.get('max-forwards') !== undefined && Number(h.get('max-forwards')) === 0)
    return { status: 483, reason: 'Too Many Hops' };

  // RFC 3261 §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS, it SHOULD
  // reject the request with a 416 (Unsupported URI Scheme) response"; a proxy likewise (§16.3
  // step 2, "URI scheme check") (RFC 4475 §3.3.2, §3.3.3).
  const uri = parseUri(req.uri);
  const schemes = opts.supportedSchemes ?? defaultSchemes;
  if (!uri.ok) return { status: 400, reason: 'Bad Request-URI' };
  if (!schemes.includes(uri.value.scheme)) return { status: 416, reason: 'Unsupported URI Scheme' };

  // RFC 3261 §8.2.2.3: "If a UAS does not understand an option-tag listed in a Require header
  // field, it MUST respond by generating a response with status code 420 (Bad Extension). The UAS
  // MUST add an Unsupported header field, and list in it those options it does not understand".
  // ACK and CANCEL are exempt ("an ACK ... MUST NOT be rejected", CANCEL "MUST NOT" carry Require).
  if (req.method !== 'ACK' && req.method !== 'CANCEL') {
    const supported = new Set((opts.supportedExtensions ?? []).map((t) => t.toLowerCase()));
    const required = optionTags(h.getList(role === 'proxy' ? 'proxy-require' : 'require'));
    const unknown = required.filter((t) => !supported.has(t.toLowerCase()));
    if (unknown.length > 0)
      return { status: 420, reason: 'Bad Extension', headers: [['Unsupported', unknown.join(', ')]] };
  }
  if (role === 'proxy') return undefined;

  // RFC 3261 §8.2.3: "If a UAS does not understand the content type of a message body, it MUST
  // reject the request with a 415 (Unsupported Media Type) response. The response MUST contain an
  // Accept header field listing the types of all bodies it understands" (RFC 4475 §3.3.6 invut).
  const accepted = opts.acceptedContentTypes ?? defaultContentTypes;
  if (req.body.length > 0) {
    const type = mediaTypeOf(h.get('content-type') ?? 'application/sdp');
    if (type === undefined || !accepted.includes(type))
      return { status: 415, reason: 'Unsupported Media Type', headers: [['Accept', accepted.join(', ')]] };
  }

  // An INVITE answered with SDP: when Accept is present and rules out application/sdp, no
  // acceptable answer can be built (RFC 3261 §21.4.7 406; RFC 4475 §3.3.15 sdp01).
  if (req.method === 'INVITE' && h.has('accept')) {
    const accept = h.getList('accept');
    if (accept.length > 0 && !acceptAdmits(accept, 'application/sdp'))
      return { status: 406, reason: 'Not Acceptable' };
  }

  // RFC 3261 §10.3 step 3: the registrar "extracts the address-of-record from the To header
  // field"; an AOR is a SIP or SIPS URI (§10.2), so any other scheme cannot be registered
  // (RFC 4475 §3.3.4 unksm2).
  if (req.method === 'REGISTER') {
    const to = parseNameAddr(h.get('to') ?? '');
    const aor = to.ok ? parseUri(to.value.uri) : undefined;
    if (!aor || !aor.ok || !isSipUri(aor.value))
      return { status: 400, reason: 'Bad Request: To is not a SIP URI' };
  }
  return undefined;
}

export interface CheckResponseOptions {
  /** 'uac' (default): the response reached its originator; 'proxy': it is to be forwarded. */
  role?: 'uac' | 'proxy';
}

/** Whether a response must be discarded silently, with the reason, or undefined to process it. */
export function checkResponse(res: SipResponse, opts: CheckResponseOptions = {}): string | undefined {
  const structural = structuralProblem(res);
  if (structural) return structural.reason;
  const vias = res.headers.getList('via');
  if ((opts.role ?? 'uac') === 'uac') {
    // RFC 3261 §8.1.3.3: "If more than one Via header field value is present in a response, the
    // UAC SHOULD discard the message."
    if (vias.length > 1) return 'more than one Via in a response to a UAC';
    return undefined;
  }
  // RFC 4475 §3.3.10 bcast: a proxy must not forward a response toward a broadcast sent-by.
  const next = vias[1] === undefined ? undefined : parseVia(vias[1]);
  if (next?.ok) {
    const host = next.value.params.get('received') ?? next.value.host;
    if (host === '255.255.255.255' || /^(22[4-9]|23[0-9])\./.test(host))
      return 'response would be forwarded to a broadcast or multicast address';
  }
  return undefined;
}
