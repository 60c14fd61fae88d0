/**
 * Caller ID messages as the exchange sends them on the local loop, independent of the modulation
 * (FSK in `caller-id-fsk.ts`, DTMF in `caller-id-dtmf.ts`).
 *
 * Two layouts share one byte format (Bellcore GR-30-CORE §3 and ETSI EN 300 659-3 §5):
 *
 *   message type | message length | message body | checksum
 *
 * - SDMF, type 0x04: body = 8 ASCII digits MMDDHHMM, then the number; a number of exactly `O`
 *   means "out of area" and `P` "private".
 * - MDMF, type 0x80 ("call set-up"): body = parameters, each `type | length | value`:
 *   0x01 date and time (MMDDHHMM), 0x02 calling line identity, 0x04 reason for absence of the
 *   calling line identity (`O` unavailable, `P` private), 0x07 calling party name, 0x08 reason for
 *   absence of the name.
 *
 * GR-30-CORE §3.2: "The Checksum Word contains the twos complement of the modulo 256 sum of the
 * other words in the data message (i.e., message type, message length, and data words)." A
 * receiver adds every byte including the checksum and expects 0.
 */
import { err, ok, type ParseError, type Result } from '../result.ts';
import type { ErrorCode } from '../error-codes.ts';

export type CallerIdReason = 'private' | 'out-of-area';

export interface CallerIdDate {
  month: number;
  day: number;
  hour: number;
  minute: number;
}

/** What a caller ID delivery says about the caller; every field is optional on the wire. */
export interface CallerIdInfo {
  number?: string;
  name?: string;
  date?: CallerIdDate;
  /** Why the number is absent. */
  reason?: CallerIdReason;
  /** Why the name is absent (MDMF only). */
  nameReason?: CallerIdReason;
}

export type CallerIdFormat = 'sdmf' | 'mdmf';

export const MESSAGE_TYPE_SDMF = 0x04;
export const MESSAGE_TYPE_MDMF = 0x80;

export const PARAM_DATE = 0x01;
export const PARAM_NUMBER = 0x02;
export const PARAM_NUMBER_ABSENT = 0x04;
export const PARAM_NAME = 0x07;
export const PARAM_NAME_ABSENT = 0x08;

/** Stable codes of caller ID parse failures. */
export const CallerIdErrors = {
  CHECKSUM: 'EDGE_ERR_PSTN_CID_CHECKSUM',
  TRUNCATED: 'EDGE_ERR_PSTN_CID_TRUNCATED',
  MALFORMED: 'EDGE_ERR_PSTN_CID_MALFORMED',
  UNSUPPORTED: 'EDGE_ERR_PSTN_CID_UNSUPPORTED',
  FRAMING: 'EDGE_ERR_PSTN_CID_FRAMING',
} as const satisfies Record<string, ErrorCode>;

function fail(code: ErrorCode, message: string, field?: string): { ok: false; error: ParseError } {
  return err(field === undefined ? { code, message } : { code, message, field });
}

function ascii(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i) & 0x7f);
  return out;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

function formatDate(d: CallerIdDate): string {
  return two(d.month) + two(d.day) + two(d.hour) + two(d.minute);
}

function reasonCode(r: CallerIdReason): string {
  return r === 'private' ? 'P' : 'O';
}

/** Two's complement of the modulo-256 sum (GR-30-CORE §3.2). */
export function checksum(bytes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum + (bytes[i] ?? 0)) & 0xff;
  return (256 - sum) & 0xff;
}

/**
 * The bytes of one caller ID message, checksum included. SDMF carries only date and number (or a
 * reason in its place); the name is dropped. A missing date in SDMF is sent as the required
 * eight digits of the given `fallbackDate` (the exchange always stamps one).
 */
export function encodeCallerIdMessage(
  info: CallerIdInfo,
  format: CallerIdFormat,
  fallbackDate: CallerIdDate = { month: 1, day: 1, hour: 0, minute: 0 },
): Uint8Array {
  const body: number[] = [];
  let type: number;
  if (format === 'sdmf') {
    type = MESSAGE_TYPE_SDMF;
    body.push(...ascii(formatDate(info.date ?? fallbackDate)));
    const number = info.number ?? reasonCode(info.reason ?? 'out-of-area');
    body.push(...ascii(number));
  } else {
    type = MESSAGE_TYPE_MDMF;
    const param = (t: number, value: string): void => {
      const bytes = ascii(value).slice(0, 255);
      body.push(t, bytes.length, ...bytes);
    };
    if (info.date) param(PARAM_DATE, formatDate(info.date));
    if (info.number !== undefined) param(PARAM_NUMBER, info.number);
    else if (info.reason) param(PARAM_NUMBER_ABSENT, reasonCode(info.reason));
    if (info.name !== undefined) param(PARAM_NAME, info.name);
    else if (info.nameReason) param(PARAM_NAME_ABSENT, reasonCode(info.nameReason));
  }
  const message = [type, body.length & 0xff, ...body];
  message.push(checksum(message));
  return Uint8Array.from(message);
}

function text(bytes: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode((bytes[i] ?? 0) & 0x7f);
  return s;
}

function parseDate(value: string): Result<CallerIdDate> {
  if (!/^[0-9]{8}$/.test(value)) return fail(CallerIdErrors.MALFORMED, 'date is not MMDDHHMM', 'date');
  const d: CallerIdDate = {
    month: Number(value.slice(0, 2)),
    day: Number(value.slice(2, 4)),
    hour: Number(value.slice(4, 6)),
    minute: Number(value.slice(6, 8)),
  };
  if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31 || d.hour > 23 || d.minute > 59) {
    return fail(CallerIdErrors.MALFORMED, `date ${value} out of range`, 'date');
  }
  return ok(d);
}

function parseReason(value: string, field: string): Result<CallerIdReason> {
  if (value === 'P') return ok('private');
  if (value === 'O') return ok('out-of-area');
  return fail(CallerIdErrors.MALFORMED, `unknown reason ${JSON.stringify(value)}`, field);
}

/**
 * Parse one complete message (type, length, body, checksum). Anything short, long, unknown or
 * failing the checksum is an error: a partial caller ID is never returned.
 */
export function parseCallerIdMessage(bytes: Uint8Array): Result<CallerIdInfo> {
  if (bytes.length < 3) return fail(CallerIdErrors.TRUNCATED, 'message shorter than its header');
  const type = bytes[0] ?? 0;
  const length = bytes[1] ?? 0;
  if (bytes.length < length + 3) {
    return fail(CallerIdErrors.TRUNCATED, `message says ${length} bytes, ${bytes.length - 3} arrived`);
  }
  if (bytes.length > length + 3) return fail(CallerIdErrors.MALFORMED, 'bytes after the checksum');
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum + (bytes[i] ?? 0)) & 0xff;
  if (sum !== 0) return fail(CallerIdErrors.CHECKSUM, 'checksum mismatch');
  const end = 2 + length;
  const info: CallerIdInfo = {};
  if (type === MESSAGE_TYPE_SDMF) {
    if (length < 8) return fail(CallerIdErrors.MALFORMED, 'SDMF body shorter than its date');
    const date = parseDate(text(bytes, 2, 10));
    if (!date.ok) return date;
    info.date = date.value;
    const number = text(bytes, 10, end);
    if (number === 'P' || number === 'O') {
      const reason = parseReason(number, 'number');
      if (!reason.ok) return reason;
      info.reason = reason.value;
    } else if (number.length > 0) {
      if (!/^[0-9*#+ -]+$/.test(number))
        return fail(CallerIdErrors.MALFORMED, 'number has non-digits', 'number');
      info.number = number;
    }
    return ok(info);
  }
  if (type !== MESSAGE_TYPE_MDMF) {
    return fail(CallerIdErrors.UNSUPPORTED, `message type 0x${type.toString(16)} is not caller ID`);
  }
  let at = 2;
  while (at < end) {
    const pType = bytes[at] ?? 0;
    const pLength = bytes[at + 1];
    if (pLength === undefined || at + 2 + pLength > end) {
      return fail(CallerIdErrors.MALFORMED, `parameter 0x${pType.toString(16)} overruns the message`);
    }
    const value = text(bytes, at + 2, at + 2 + pLength);
    switch (pType) {
      case PARAM_DATE: {
        const date = parseDate(value);
        if (!date.ok) return date;
        info.date = date.value;
        break;
      }
      case PARAM_NUMBER:
        info.number = value;
        break;
      case PARAM_NUMBER_ABSENT: {
        const reason = parseReason(value, 'reason');
        if (!reason.ok) return reason;
        info.reason = reason.value;
        break;
      }
      case PARAM_NAME:
        info.name = value;
        break;
      case PARAM_NAME_ABSENT: {
        const reason = parseReason(value, 'nameReason');
        if (!reason.ok) return reason;
        info.nameReason = reason.value;
        break;
      }
      default:
        // EN 300 659-3 §5.3: parameters a terminal does not understand are skipped by their length.
        break;
    }
    at += 2 + pLength;
  }
  return ok(info);
}
