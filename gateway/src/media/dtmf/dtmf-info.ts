/**
 * DTMF carried in SIP INFO requests (RFC 6086 INFO, legacy usage without Info-Package): the two
 * bodies phones and gateways send.
 *
 * `application/dtmf-relay` (de-facto format, no RFC):
 *
 *     Signal=5
 *     Duration=160
 *
 * `Signal` is the key (0–9, *, #, A–D; some devices send the RFC 4733 event code, 10 for `*`, 11
 * for `#`, or `!`/16 for hook flash); `Duration` is in milliseconds. Lines end with CRLF or LF;
 * other lines are ignored.
 *
 * `application/dtmf`: the body is the key alone (`5`), or its event code.
 */
import { err, ok, type ParseError, type Result } from '../../../../base/result.ts';
import type { ErrorCode } from '../../../../base/error-codes.ts';
import { digitForEvent, eventForDigit, type DtmfDigit } from '../../../../base/signal/dtmf-digits.ts';

export const DTMF_RELAY_CONTENT_TYPE = 'application/dtmf-relay';
export const DTMF_CONTENT_TYPE = 'application/dtmf';
/** Used when a body gives no duration: a typical key press. */
export const DEFAULT_INFO_DURATION_MS = 250;
/** Durations above this are not a key press (and would overflow a 16-bit RFC 4733 duration). */
const MAX_INFO_DURATION_MS = 60_000;
const MAX_BODY_BYTES = 1024;

export interface DtmfInfo {
  digit: DtmfDigit;
  /** From the body's `Duration`; null when the body has none. */
  durationMs: number | null;
}

const fail = (code: ErrorCode, message: string, field: string): { ok: false; error: ParseError } =>
  err({ code, message, field });

/** A key given as a character or as its RFC 4733 event code. */
function parseSignal(raw: string, field: string): Result<DtmfDigit> {
  const v = raw.trim();
  if (/^\d{1,2}$/.test(v)) {
    const d = digitForEvent(Number(v));
    if (d !== undefined) return ok(d);
  } else if (v.length === 1) {
    const event = eventForDigit(v);
    if (event !== undefined) {
      const d = digitForEvent(event);
      if (d !== undefined) return ok(d);
    }
  }
  return fail('EDGE_ERR_DTMF_INFO_SIGNAL', `'${v.slice(0, 16)}' is not a DTMF key`, field);
}

export function parseDtmfRelay(body: string): Result<DtmfInfo> {
  if (body.length > MAX_BODY_BYTES)
    return fail('EDGE_ERR_DTMF_INFO_SIZE', `body of ${body.length} bytes is too long`, 'body');
  let signal: string | undefined;
  let duration: string | undefined;
  for (const line of body.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (key === 'signal') signal ??= value;
    else if (key === 'duration') duration ??= value;
  }
  if (signal === undefined)
    return fail('EDGE_ERR_DTMF_INFO_SIGNAL', 'no Signal line in application/dtmf-relay', 'Signal');
  const digit = parseSignal(signal, 'Signal');
  if (!digit.ok) return digit;
  if (duration === undefined) return ok({ digit: digit.value, durationMs: null });
  if (!/^\d{1,6}$/.test(duration) || Number(duration) > MAX_INFO_DURATION_MS)
    return fail(
      'EDGE_ERR_DTMF_INFO_DURATION',
      `Duration '${duration.slice(0, 16)}' is not a number of milliseconds up to ${MAX_INFO_DURATION_MS}`,
      'Duration',
    );
  return ok({ digit: digit.value, durationMs: Number(duration) });
}

export function parseDtmfBody(body: string): Result<DtmfInfo> {
  if (body.length > MAX_BODY_BYTES)
    return fail('EDGE_ERR_DTMF_INFO_SIZE', `body of ${body.length} bytes is too long`, 'body');
  const digit = parseSignal(body, 'body');
  return digit.ok ? ok({ digit: digit.value, durationMs: null }) : digit;
}

/**
 * Parse an INFO body by its Content-Type (parameters ignored). Any other type is an error naming
 * `Content-Type`: the INFO is not DTMF (the caller answers 415 or passes it on).
 */
export function parseDtmfInfo(contentType: string, body: string): Result<DtmfInfo> {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (type === DTMF_RELAY_CONTENT_TYPE) return parseDtmfRelay(body);
  if (type === DTMF_CONTENT_TYPE) return parseDtmfBody(body);
  return fail('EDGE_ERR_DTMF_INFO_TYPE', `'${type.slice(0, 64)}' is not a DTMF body type`, 'Content-Type');
}

export function formatDtmfRelay(digit: DtmfDigit, durationMs = DEFAULT_INFO_DURATION_MS): string {
  return `Signal=${digit}\r\nDuration=${Math.max(0, Math.round(durationMs))}\r\n`;
}

export function formatDtmfBody(digit: DtmfDigit): string {
  return `${digit}\r\n`;
}
