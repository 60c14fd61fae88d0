/**
 * Parsing one SIP message from a buffer (RFC 3261 §7, grammar §25.1). Header values stay strings;
 * structured views are parsed by `headers.ts` when a layer needs them. The body is a view into the
 * received buffer (no copy).
 *
 * The parser also checks what every element must check before anything else may act on a message
 * (mandatory header fields, CSeq, framing): a request that fails gets `status` (the response a UAS
 * sends, RFC 3261 §8.2, §21.4) and `partial` (enough of it to build that response); a response that
 * fails is dropped (RFC 3261 §18.1.2: a response that fails validation is discarded).
 */
import { isUtf8 } from 'node:buffer';
import { err, ok } from '../../../../base/result.ts';
import type { ParseError, Result } from '../../../../base/result.ts';
import type { ErrorCode } from '../../../../base/error-codes.ts';
import { SipHeaders } from './headers-store.ts';
import { isToken, isTokenChar } from './headers.ts';
import type { SipMessage, SipRequest, SipResponse } from './types.ts';
import { isSipUri, parseUri } from './uri.ts';
import { structuralProblem } from './validate.ts';

export interface SipParseError extends ParseError {
  /** The response a UAS sends for a request that failed: 400, 505, 513...; undefined => drop. */
  status?: number;
  /** Enough of a request to build that error response, when available. */
  partial?: { method: string; uri: string; headers: SipHeaders };
}

/** Stable codes of parse failures. */
export const SipParseCodes = {
  malformed: 'EDGE_ERR_SIP_PARSE',
  /** Only CRLFs: a keep-alive (RFC 5626 §4.4.1), not a message. */
  empty: 'EDGE_ERR_SIP_PARSE_EMPTY',
  tooLarge: 'EDGE_ERR_SIP_PARSE_TOO_LARGE',
  version: 'EDGE_ERR_SIP_PARSE_VERSION',
} as const satisfies Record<string, ErrorCode>;

/** Hard limits: a message beyond them is refused before any further work. */
export const sipParseLimits = {
  maxMessageBytes: 65536,
  maxHeaders: 256,
  maxHeaderBytes: 8192,
} as const;

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');
const sipVersion = /^SIP\/([0-9]{1,3})\.([0-9]{1,3})$/i;

type StartLine =
  | { kind: 'request'; method: string; uri: string; version: string }
  | { kind: 'response'; status: number; reason: string; version: string };

type StartLineResult =
  { ok: true; value: StartLine } | { ok: false; error: SipParseError; method?: string; uri?: string };

function fail(message: string, field?: string, code: ErrorCode = SipParseCodes.malformed): SipParseError {
  const e: SipParseError = { code, message };
  if (field !== undefined) e.field = field;
  return e;
}

function parseStartLine(line: string): StartLineResult {
  if (line.length >= 4 && line.slice(0, 4).toUpperCase() === 'SIP/') {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
    const sp1 = line.indexOf(' ');
    const version = sp1 < 0 ? line : line.slice(0, sp1);
    if (!sipVersion.test(version) || version.toUpperCase() !== 'SIP/2.0')
      return { ok: false, error: fail(`unsupported version '${version}'`, 'version', SipParseCodes.version) };
    const sp2 = line.indexOf(' ', sp1 + 1);
    const code = sp2 < 0 ? line.slice(sp1 + 1) : line.slice(sp1 + 1, sp2);
    // Status-Code = 3DIGIT; the first digit is the class, 1 to 6 (RFC 3261 §7.2).
    if (!/^[1-6][0-9][0-9]$/.test(code))
      return { ok: false, error: fail(`bad status code '${code}'`, 'status') };
    const reason = sp2 < 0 ? '' : line.slice(sp2 + 1);
    return { ok: true, value: { kind: 'response', status: Number(code), reason, version: 'SIP/2.0' } };
  }
  // Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly single SPs, no other LWS
  // (RFC 4475 §3.1.2.9 lwsstart, §3.1.2.10 trws, §3.1.2.8 lwsruri).
  let sp1 = 0;
  while (sp1 < line.length && line.charCodeAt(sp1) !== 0x20 && line.charCodeAt(sp1) !== 0x09) sp1++;
  const method = line.slice(0, sp1);
  if (!isToken(method)) return { ok: false, error: fail('bad start line', 'start-line') };
  const sp2 = line.lastIndexOf(' ');
  const uri = sp2 > sp1 ? line.slice(sp1 + 1, sp2).trim() : '';
  const version = line.slice(sp2 + 1);
  const parts = line.split(' ');
  if (parts.length !== 3 || parts.some((p) => p === '') || sp1 >= line.length)
    return {
      ok: false,
      error: fail('Request-Line must be Method SP Request-URI SP SIP-Version', 'start-line'),
      method,
      uri,
    };
  const mv = sipVersion.exec(version);
  if (!mv) return { ok: false, error: fail(`bad SIP-Version '${version}'`, 'version'), method, uri };
  if (Number(mv[1]) !== 2 || Number(mv[2]) !== 0) {
    // RFC 3261 §21.5.7: 505 "The server does not support ... the SIP protocol version that was used".
    const e = fail(`unsupported version '${version}'`, 'version', SipParseCodes.version);
    e.status = 505;
    return { ok: false, error: e, method, uri };
  }
  const u = parseUri(uri);
  if (!u.ok)
    return { ok: false, error: fail(`bad Request-URI: ${u.error.message}`, 'Request-URI'), method, uri };
  // RFC 3261 §19.1.1 table: headers are not allowed in the Request-URI (RFC 4475 §3.1.2.11 escruri).
  if (isSipUri(u.value) && u.value.headers.size > 0)
    return { ok: false, error: fail('headers are not allowed in a Request-URI', 'Request-URI'), method, uri };
  return { ok: true, value: { kind: 'request', method, uri, version: 'SIP/2.0' } };
}

/**
 * Parse header lines, unfolding LWS (RFC 3261 §7.3.1: "Header fields can be extended over
 * multiple lines by preceding each extra line with at least one SP or horizontal tab").
 * Returns the headers collected and the first problem met (lines after a bad one are still read so
 * that an error response can be built).
 */
function parseHeaderLines(text: string, from: number): { headers: SipHeaders; problem?: SipParseError } {
  const headers = new SipHeaders();
  let problem: SipParseError | undefined;
  let name: string | undefined;
  let value = '';
  let count = 0;
  // The previous header is complete: keep it, unless it is over the size limit. (Written out at
  // each use rather than as a closure: a closure per message costs more than the code it holds.)
  let pos = from;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const end = nl > pos && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    const line = text.slice(pos, end);
    pos = nl + 1;
    if (line === '') continue;
    const c0 = line.charCodeAt(0);
    if (c0 === 0x20 || c0 === 0x09) {
      if (name === undefined) {
        problem ??= fail('continuation line without a header', 'headers');
        continue;
      }
      const more = line.trim();
      if (more !== '') value = value === '' ? more : value + ' ' + more;
      if (name.length + 2 + value.length > sipParseLimits.maxHeaderBytes) {
        problem ??= { ...fail(`header ${name} too long`, name, SipParseCodes.tooLarge), status: 513 };
        value = '';
        name = undefined;
      }
      continue;
    }
    if (name !== undefined) {
      if (name.length + 2 + value.length > sipParseLimits.maxHeaderBytes && !problem)
        problem = { ...fail(`header ${name} too long`, name, SipParseCodes.tooLarge), status: 513 };
      else headers.append(name, value);
      name = undefined;
    }
    if (++count > sipParseLimits.maxHeaders) {
      problem ??= { ...fail('too many header fields', 'headers', SipParseCodes.tooLarge), status: 513 };
      break;
    }
    // message-header = field-name HCOLON field-value; HCOLON = *( SP / HTAB ) ":" SWS
    const colon = line.indexOf(':');
    let n = colon < 0 ? '' : line.slice(0, colon);
    let k = n.length;
    while (k > 0 && (n.charCodeAt(k - 1) === 0x20 || n.charCodeAt(k - 1) === 0x09)) k--;
    n = n.slice(0, k);
    let valid = n.length > 0;
    for (let i = 0; valid && i < n.length; i++) if (!isTokenChar(n.charCodeAt(i))) valid = false;
    if (!valid) {
      problem ??= fail('malformed header line', 'headers');
      continue;
    }
    name = n;
    value = line.slice(colon + 1).trim();
  }
  if (name !== undefined) {
    if (name.length + 2 + value.length > sipParseLimits.maxHeaderBytes && !problem)
      problem = { ...fail(`header ${name} too long`, name, SipParseCodes.tooLarge), status: 513 };
    else headers.append(name, value);
  }
  return problem ? { headers, problem } : { headers };
}

function requestError(
  e: SipParseError,
  headers: SipHeaders,
  method: string | undefined,
  uri: string | undefined,
  status: number,
): Result<SipMessage, SipParseError> {
  // A response can only be sent back along the top Via (RFC 3261 §18.2.2).
  if (method !== undefined && headers.has('via')) {
    e.status ??= status;
    e.partial = { method, uri: uri ?? '', headers };
  } else delete e.status;
  return err(e);
}

function failMessage(
  headers: SipHeaders,
  request: { method: string; uri: string } | undefined,
  e: SipParseError,
  status = 400,
): Result<SipMessage, SipParseError> {
  return request
    ? requestError(e, headers, request.method, request.uri, status)
    : err({ ...e, status: undefined });
}

/**
 * Parse exactly one message. On a datagram the body length comes from Content-Length; without it
 * the body is the rest of the datagram (RFC 3261 §18.3); octets after the body are ignored
 * (RFC 4475 §3.1.1.8 dblreq). Leading CRLFs (keep-alives) are skipped.
 */
export function parseMessage(buf: Buffer): Result<SipMessage, SipParseError> {
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  if (start >= buf.length)
    return err(fail('no message, only CRLF keep-alive or nothing', undefined, SipParseCodes.empty));
  let headEnd = buf.indexOf(CRLFCRLF, start);
  let sepLen = 4;
  if (headEnd < 0) {
    headEnd = buf.indexOf(LFLF, start);
    sepLen = 2;
  }
  const complete = headEnd >= 0;
  if (!complete) headEnd = buf.length;
  const headLimit = Math.min(headEnd, start + sipParseLimits.maxMessageBytes);
  const head = buf.subarray(start, headLimit);
  // SIP text is UTF-8 (RFC 3261 §7.3.1); octets that are not UTF-8 are kept as latin1 characters so
  // that nothing throws and nothing is lost.
  const text = isUtf8(head) ? head.toString('utf8') : head.toString('latin1');
  let firstEnd = text.indexOf('\n');
  if (firstEnd < 0) firstEnd = text.length;
  const startLine = text.slice(
    0,
    firstEnd > 0 && text.charCodeAt(firstEnd - 1) === 0x0d ? firstEnd - 1 : firstEnd,
  );
  const sl = parseStartLine(startLine);
  const { headers, problem: headerProblem } = parseHeaderLines(text, firstEnd + 1);

  if (!sl.ok) return requestError(sl.error, headers, sl.method, sl.uri, 400);
  const line = sl.value;
  const fromRequest = line.kind === 'request' ? line : undefined;

  if (buf.length - start > sipParseLimits.maxMessageBytes)
    return failMessage(
      headers,
      fromRequest,
      fail('message too large', undefined, SipParseCodes.tooLarge),
      513,
    );
  if (!complete)
    return failMessage(headers, fromRequest, fail('missing empty line after the header fields', 'headers'));
  if (headerProblem) return failMessage(headers, fromRequest, headerProblem, headerProblem.status ?? 400);

  // Content-Length (RFC 3261 §20.14), RFC 4475 §3.1.2.2 clerr, §3.1.2.3 ncl, §3.3.9 mcl01.
  const bodyStart = headEnd + sepLen;
  const available = buf.length - bodyStart;
  const clLines = headers.getLines('content-length');
  let bodyLength = available;
  if (clLines.length > 1)
    return failMessage(headers, fromRequest, fail('more than one Content-Length', 'Content-Length'));
  const cl = clLines[0];
  if (cl !== undefined) {
    if (!/^[0-9]{1,10}$/.test(cl))
      return failMessage(headers, fromRequest, fail(`bad Content-Length '${cl}'`, 'Content-Length'));
    bodyLength = Number(cl);
    if (bodyLength > available)
      return failMessage(
        headers,
        fromRequest,
        fail('Content-Length larger than the message', 'Content-Length'),
      );
  }
  const body = buf.subarray(bodyStart, bodyStart + bodyLength);

  const msg: SipMessage =
    line.kind === 'request'
      ? ({
          kind: 'request',
          method: line.method,
          uri: line.uri,
          version: line.version,
          headers,
          body,
        } satisfies SipRequest)
      : ({
          kind: 'response',
          status: line.status,
          reason: line.reason,
          version: line.version,
          headers,
          body,
        } satisfies SipResponse);
  const problem = structuralProblem(msg);
  if (problem) return failMessage(headers, fromRequest, fail(problem.reason, problem.field), problem.status);
  return ok(msg);
}

/**
 * Framing on a stream transport: how many octets of `buf` the first message takes (leading CRLF
 * keep-alives included), `undefined` when more octets are needed, or an error when the stream
 * cannot be framed and the connection should be closed. RFC 3261 §18.3: "In the case of
 * stream-oriented transports such as TCP, the Content-Length header field indicates the size of
 * the body. All stream-oriented transports MUST use Content-Length".
 */
export function streamFrameLength(buf: Buffer): Result<number | undefined, SipParseError> {
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  const headEnd = buf.indexOf(CRLFCRLF, start);
  if (headEnd < 0) {
    if (buf.length - start > sipParseLimits.maxMessageBytes)
      return err(fail('header section too large', undefined, SipParseCodes.tooLarge));
    return ok(undefined);
  }
  const text = buf.subarray(start, headEnd).toString('latin1');
  // Content-Length or its compact form l, at the start of a line.
  const m = /\r\n(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,10})[ \t]*(?=\r\n|$)/i.exec(text);
  if (!m) return err(fail('missing or bad Content-Length on a stream transport', 'Content-Length'));
  const total = headEnd + 4 + Number(m[1]);
  if (total - start > sipParseLimits.maxMessageBytes)
    return err(fail('message too large', undefined, SipParseCodes.tooLarge));
  return ok(total <= buf.length ? total : undefined);
}
