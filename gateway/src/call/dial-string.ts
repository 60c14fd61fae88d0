/**
 * The user part of a Request-URI as a dial string, checked before any routing: the characters a
 * dial plan has — digits, `*`, `#` and a leading `+` — and no more than 32 of them (the longest
 * number the configuration can name). Anything else is refused at the edge with 404 and never
 * reaches routing, a trunk or a PSTN port: a user part that decodes (RFC 3261 §19.1.2 escapes) to
 * `|`, `"`, `@`, `;` or a space would otherwise travel on inside the Request-URI of the next hop.
 *
 * A tel URI's visual separators (RFC 3966 §5.1.1: `-`, `.`, `(`, `)`) are layout, not digits, and
 * are dropped first.
 */
export type DialStringCheck =
  { ok: true; number: string } | { ok: false; reason: 'characters' | 'length'; status: 404; phrase: string };

const DIAL_STRING = /^\+?[0-9*#]+$/;
const MAX_LENGTH = 32;

export function checkDialString(user: string, scheme: string): DialStringCheck {
  const number = scheme === 'tel' ? user.replace(/[-.()]/g, '') : user;
  if (!DIAL_STRING.test(number))
    return { ok: false, reason: 'characters', status: 404, phrase: 'Not Found (not a dial string)' };
  if (number.replace(/^\+/, '').length > MAX_LENGTH)
    return { ok: false, reason: 'length', status: 404, phrase: 'Not Found (dial string too long)' };
  return { ok: true, number };
}
