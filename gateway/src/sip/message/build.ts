/** Building messages: responses to requests, and the random identifiers requests carry. */
import { randomHex } from '../../core/random.ts';
import { SipHeaders } from './headers-store.ts';
import { parseNameAddr } from './headers.ts';
import type { SipParseError } from './parse.ts';
import type { SipRequest, SipResponse } from './types.ts';

/** Reason phrases of RFC 3261 §21 and of the extensions in common use. */
const reasons: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK',
  202: 'Accepted',
  204: 'No Notification',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  412: 'Conditional Request Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  417: 'Unknown Resource-Priority',
  420: 'Bad Extension',
  421: 'Extension Required',
  422: 'Session Interval Too Small',
  423: 'Interval Too Brief',
  428: 'Use Identity Header',
  429: 'Provide Referrer Identity',
  433: 'Anonymity Disallowed',
  436: 'Bad Identity-Info',
  437: 'Unsupported Certificate',
  438: 'Invalid Identity Header',
  439: 'First Hop Lacks Outbound Support',
  440: 'Max-Breadth Exceeded',
  469: 'Bad Info Package',
  470: 'Consent Needed',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  493: 'Undecipherable',
  494: 'Security Agreement Required',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  580: 'Precondition Failure',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
  607: 'Unwanted',
  608: 'Rejected',
};

const classReasons: Record<number, string> = {
  1: 'Trying',
  2: 'OK',
  3: 'Redirection',
  4: 'Client Error',
  5: 'Server Error',
  6: 'Global Failure',
};

/**
 * The reason phrase for a status code. An unknown code falls back to its class: RFC 3261 §8.1.3.2
 * "a UAC MUST treat any final response it does not recognize as being equivalent to the x00
 * response code of that class".
 */
export function reasonPhrase(status: number): string {
  return reasons[status] ?? classReasons[Math.floor(status / 100)] ?? 'Unknown';
}

export interface CreateResponseOptions {
  /** Added to To when it has no tag yet (RFC 3261 §8.2.6.2). */
  toTag?: string;
  headers?: Array<[string, string]>;
  body?: Buffer;
  contentType?: string;
}

/**
 * RFC 3261 §8.2.6.2: "The From field of the response MUST equal the From header field of the
 * request. The Call-ID header field of the response MUST equal the Call-ID header field of the
 * request. The CSeq header field of the response MUST equal the CSeq field of the request. The Via
 * header field values in the response MUST equal the Via header field values in the request and
 * MUST maintain the same ordering." "If a request contained a To tag in the request, the To header
 * field in the response MUST equal that of the request. However, if the To header field in the
 * request did not contain a tag, the URI in the To header field in the response MUST equal the URI
 * in the To header field; additionally, the UAS MUST add a tag to the To header field".
 */
export function createResponse(
  req: SipRequest,
  status: number,
  reason?: string,
  opts: CreateResponseOptions = {},
): SipResponse {
  const headers = new SipHeaders();
  for (const via of req.headers.getLines('via')) headers.append('via', via);
  const from = req.headers.get('from');
  if (from !== undefined) headers.append('from', from);
  let to = req.headers.get('to');
  if (to !== undefined && opts.toTag !== undefined) {
    const na = parseNameAddr(to);
    if (na.ok && !na.value.params.has('tag')) to = `${to};tag=${opts.toTag}`;
  }
  if (to !== undefined) headers.append('to', to);
  const callId = req.headers.get('call-id');
  if (callId !== undefined) headers.append('call-id', callId);
  const cseq = req.headers.get('cseq');
  if (cseq !== undefined) headers.append('cseq', cseq);
  // RFC 3261 §8.2.6.1: "If there is a Timestamp header field in the request, the UAS MUST copy it
  // into the 100 (Trying) response."
  const timestamp = req.headers.get('timestamp');
  if (status === 100 && timestamp !== undefined) headers.append('timestamp', timestamp);
  for (const [n, v] of opts.headers ?? []) headers.append(n, v);
  const body = opts.body ?? Buffer.alloc(0);
  if (body.length > 0 || opts.contentType !== undefined)
    headers.set('content-type', opts.contentType ?? 'application/sdp');
  return {
    kind: 'response',
    status,
    reason: reason ?? reasonPhrase(status),
    version: 'SIP/2.0',
    headers,
    body,
  };
}

/**
 * The error response for a request the parser refused, or undefined when the error says to drop
 * it (no status, or not enough of the request to answer).
 */
export function createErrorResponse(error: SipParseError): SipResponse | undefined {
  if (error.status === undefined || !error.partial) return undefined;
  const req: SipRequest = {
    kind: 'request',
    method: error.partial.method,
    uri: error.partial.uri,
    version: 'SIP/2.0',
    headers: error.partial.headers,
    body: Buffer.alloc(0),
  };
  // RFC 3261 §8.2.6.2: "the UAS MUST add a tag to the To header field in the response (with the
  // exception of the 100 (Trying) response". A To that cannot be parsed is echoed as it came.
  const res = createResponse(req, error.status, undefined, { toTag: generateTag() });
  // RFC 3261 §21.5.7 (505) and §20.43: a Warning explains the failure to the sender.
  res.reason = `${reasonPhrase(error.status)}${error.field ? ` (${error.field})` : ''}`;
  return res;
}

/** RFC 3261 §8.1.1.7: "The branch ID inserted by an element compliant with this specification MUST always begin with the characters "z9hG4bK"". */
export function generateBranch(): string {
  return 'z9hG4bK' + randomHex(10);
}

/** RFC 3261 §19.3: tags need "at least 32 bits of randomness". */
export function generateTag(): string {
  return randomHex(6);
}

/** RFC 3261 §8.1.1.4: Call-ID "MUST be unique across space and time"; cryptographically random. */
export function generateCallId(host?: string): string {
  const id = randomHex(12);
  return host ? `${id}@${host}` : id;
}
