/**
 * The sixteen DTMF digits and hook flash, in the event-code order of RFC 4733 §3.2 (Table 3) and
 * RFC 4734, shared by the in-band detector, RFC 4733 telephone-events and SIP INFO (RFC 6086)
 * relay so that a digit has one spelling everywhere.
 */
/** RFC 4733 §3.2 (Table 3): events 0–9, `*` (10), `#` (11), A–D (12–15); RFC 4734: flash (16). */
export const DTMF_EVENT_DIGITS = '0123456789*#ABCD!';
export type DtmfDigit =
  | '0'
  | '1'
  | '2'
  | '3'
  | '4'
  | '5'
  | '6'
  | '7'
  | '8'
  | '9'
  | '*'
  | '#'
  | 'A'
  | 'B'
  | 'C'
  | 'D'
  /** Hook flash (event 16). */
  | '!';

export function digitForEvent(event: number): DtmfDigit | undefined {
  return event >= 0 && event < DTMF_EVENT_DIGITS.length ? (DTMF_EVENT_DIGITS[event] as DtmfDigit) : undefined;
}

export function eventForDigit(digit: string): number | undefined {
  const i = DTMF_EVENT_DIGITS.indexOf(digit.toUpperCase());
  return digit.length === 1 && i >= 0 ? i : undefined;
}
