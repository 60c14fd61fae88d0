/**
 * Requests the transaction layer builds itself: the ACK for a non-2xx final response (RFC 3261
 * §17.1.1.3) and the CANCEL helper of the client INVITE transaction (§9.1).
 */
import { SipHeaders } from '../message/headers-store.ts';
import type { SipRequest, SipResponse } from '../message/types.ts';
import { DEFAULT_MAX_FORWARDS } from './max-forwards.ts';

function cseqNumber(req: SipRequest): string {
  return (req.headers.get('cseq') ?? '').trim().split(/\s+/)[0] ?? '';
}

/** Headers copied verbatim from the request being acknowledged or cancelled. */
function copyInto(target: SipHeaders, source: SipHeaders, names: string[]): void {
  for (const name of names) for (const line of source.getLines(name)) target.append(name, line);
}

/**
 * RFC 3261 §17.1.1.3: "The ACK request constructed by the client transaction MUST contain values for
 * the Call-ID, From, and Request-URI that are equal to the values of those header fields in the
 * request passed to the transport by the client transaction (call this the "original request"). The
 * To header field in the ACK MUST equal the To header field in the response being acknowledged ...
 * The ACK MUST contain a single Via header field, and this MUST be equal to the top Via header field
 * of the original request. The CSeq header field in the ACK MUST contain the same value for the
 * sequence number as was present in the original request, but the method parameter MUST be equal to
 * "ACK". If the INVITE request whose response is being acknowledged had Route header fields, those
 * header fields MUST appear in the ACK."
 */
export function buildNon2xxAck(original: SipRequest, response: SipResponse): SipRequest {
  const h = new SipHeaders();
  const topVia = original.headers.getList('via')[0];
  if (topVia !== undefined) h.append('via', topVia);
  copyInto(h, original.headers, ['route']);
  h.append('max-forwards', original.headers.get('max-forwards') ?? String(DEFAULT_MAX_FORWARDS));
  copyInto(h, original.headers, ['from']);
  h.append('to', response.headers.get('to') ?? original.headers.get('to') ?? '');
  copyInto(h, original.headers, ['call-id']);
  h.append('cseq', `${cseqNumber(original)} ACK`);
  h.append('content-length', '0');
  return {
    kind: 'request',
    method: 'ACK',
    uri: original.uri,
    version: original.version,
    headers: h,
    body: Buffer.alloc(0),
  };
}

/**
 * RFC 3261 §9.1: "The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in
 * the CANCEL request MUST be identical to those in the request being cancelled, including tags. A
 * CANCEL constructed by a client MUST have only a single Via header field value matching the top Via
 * value in the request being cancelled. ... If the request being cancelled contains a Route header
 * field, the CANCEL request MUST include that Route header field's values."
 */
export function buildCancel(original: SipRequest): SipRequest {
  const h = new SipHeaders();
  const topVia = original.headers.getList('via')[0];
  if (topVia !== undefined) h.append('via', topVia);
  copyInto(h, original.headers, ['route']);
  h.append('max-forwards', String(DEFAULT_MAX_FORWARDS));
  copyInto(h, original.headers, ['from', 'to', 'call-id']);
  h.append('cseq', `${cseqNumber(original)} CANCEL`);
  h.append('content-length', '0');
  return {
    kind: 'request',
    method: 'CANCEL',
    uri: original.uri,
    version: original.version,
    headers: h,
    body: Buffer.alloc(0),
  };
}
