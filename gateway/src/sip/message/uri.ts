/**
 * SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), and any other absoluteURI kept opaque
 * (RFC 3261 §19.1: "SIP elements MAY support Request-URIs with schemes other than sip and sips").
 *
 * Escaped octets (`%XX`) are decoded in the structured form and re-escaped by `formatUri` where the
 * grammar requires it, so two URIs that differ only in escaping parse to the same value
 * (RFC 3261 §19.1.4: "characters other than those in the reserved set are equivalent to their
 * encoding").
 */
import { err, ok } from '../../../../base/result.ts';
import type { ParseError, Result } from '../../../../base/result.ts';

export interface SipUri {
  scheme: 'sip' | 'sips';
  /** Unescaped user part. */
  user?: string;
  /** Unescaped password (RFC 3261 §19.1.1 discourages it, but it is legal). */
  password?: string;
  /** Host name, IPv4 address, or IPv6 address WITHOUT the brackets of the IPv6 reference. */
  host: string;
  port?: number;
  /** uri-parameters: lower-case names, unescaped values, `null` for a parameter without value (`;lr`). */
  params: Map<string, string | null>;
  /** Escaped headers after `?`: names as written, unescaped values. */
  headers: Map<string, string>;
}

export interface TelUri {
  scheme: 'tel';
  /** The telephone-subscriber number, unescaped, visual separators kept. */
  number: string;
  params: Map<string, string | null>;
}

/** An absoluteURI of a scheme this stack does not interpret (RFC 4475 §3.3.2 `unkscm`). */
export interface OtherUri {
  scheme: string;
  raw: string;
}

export type Uri = SipUri | TelUri | OtherUri;

const uriError = (message: string): ParseError => ({ code: 'EDGE_ERR_SIP_PARSE', message, field: 'uri' });

export function isSipUri(u: Uri): u is SipUri {
  return u.scheme === 'sip' || u.scheme === 'sips';
}

export function isTelUri(u: Uri): u is TelUri {
  return u.scheme === 'tel';
}

// Character classes of RFC 3261 §25.1, as 128-entry lookup tables (no regular expressions on the
// hot path).
function table(chars: string, alnum = true): Uint8Array {
  const t = new Uint8Array(128);
  if (alnum) for (let c = 0; c < 128; c++) if (/[A-Za-z0-9]/.test(String.fromCharCode(c))) t[c] = 1;
  for (const ch of chars) t[ch.charCodeAt(0)] = 1;
  return t;
}
const mark = "-_.!~*'()";
/** user = 1*( unreserved / escaped / user-unreserved ); user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/" */
const userChars = table(mark + '&=+$,;?/');
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ) */
const passwordChars = table(mark + '&=+$,');
/** paramchar = param-unreserved / unreserved / escaped; param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$" */
const paramChars = table(mark + '[]/:&+$');
/** hname / hvalue = hnv-unreserved / unreserved / escaped; hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$" */
const headerChars = table(mark + '[]/?:+$');
/** Host names: alphanum, "-", "." (plus "_", seen on real networks). */
const hostChars = table('-._');
/** absoluteURI scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
const schemeChars = table('+-.');
/** tel: number and parameters, with the RFC 3966 visual separators and phone-context characters. */
const telChars = table(mark + '+#[]/:&$');

function allIn(s: string, t: Uint8Array, allowEscapes: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */ && allowEscapes) continue;
    if (c >= 128 || t[c] !== 1) return false;
  }
  return true;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decode `%XX` escapes. The octets are read as UTF-8 when they form valid UTF-8 (RFC 3261 §25.1
 * text is UTF-8), else as latin1 so that no octet is lost. Returns undefined on a bad escape.
 */
export function unescapeUriPart(s: string): string | undefined {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  let high = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) return undefined;
      const b = h * 16 + l;
      if (b >= 0x80) high = true;
      bytes.push(b);
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else {
      high = true;
      for (const b of Buffer.from(s[i] ?? '', 'utf8')) bytes.push(b);
    }
  }
  const buf = Buffer.from(bytes);
  if (!high) return buf.toString('latin1');
  return isUtf8Buffer(buf) ? buf.toString('utf8') : buf.toString('latin1');
}

function isUtf8Buffer(buf: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

const hex = '0123456789ABCDEF';
/** Escape every character not in the allowed table (as UTF-8 octets). */
function escapePart(s: string, allowed: Uint8Array): string {
  let needs = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || allowed[c] !== 1) {
      needs = true;
      break;
    }
  }
  if (!needs) return s;
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c < 128 && allowed[c] === 1) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '%' + (hex[b >> 4] ?? '') + (hex[b & 15] ?? '');
  }
  return out;
}

function hasWhitespaceOrControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Parse `;name[=value]` parameters (already split off the URI); name lower-cased, value unescaped. */
function parseUriParams(s: string, chars: Uint8Array, into: Map<string, string | null>): string | undefined {
  if (s === '') return undefined;
  for (const p of s.split(';')) {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    if (name === '' || !allIn(name, chars, true)) return `bad URI parameter name '${name}'`;
    const n = unescapeUriPart(name);
    if (n === undefined) return 'bad escape in URI parameter';
    if (eq < 0) {
      into.set(n.toLowerCase(), null);
      continue;
    }
    const raw = p.slice(eq + 1);
    if (raw === '' || !allIn(raw, chars, true)) return `bad value of URI parameter '${name}'`;
    const v = unescapeUriPart(raw);
    if (v === undefined) return 'bad escape in URI parameter';
    into.set(n.toLowerCase(), v);
  }
  return undefined;
}

/** Parse `host[:port]` where host may be an IPv6 reference. */
export function parseHostPort(s: string): Result<{ host: string; port?: number }> {
  let host: string;
  let rest: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return err(uriError('unterminated IPv6 reference'));
    host = s.slice(1, close);
    if (host === '' || !/^[0-9A-Fa-f:.]+$/.test(host) || host.indexOf(':') < 0)
      return err(uriError('bad IPv6 address'));
    rest = s.slice(close + 1);
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    rest = colon < 0 ? '' : s.slice(colon);
    if (host === '' || !allIn(host, hostChars, false)) return err(uriError(`bad host '${host}'`));
  }
  if (rest === '') return ok({ host });
  if (rest.charCodeAt(0) !== 0x3a) return err(uriError('garbage after host'));
  const portText = rest.slice(1);
  if (portText.length === 0 || portText.length > 5 || !/^[0-9]+$/.test(portText))
    return err(uriError(`bad port '${portText}'`));
  const port = Number(portText);
  if (port > 65535) return err(uriError(`port out of range ${port}`));
  return ok({ host, port });
}

/** Format a host for a URI or Via: IPv6 addresses get their brackets back. */
export function formatHost(host: string): string {
  return host.indexOf(':') >= 0 ? `[${host}]` : host;
}

function parseSip(scheme: 'sip' | 'sips', rest: string): Result<SipUri> {
  const params = new Map<string, string | null>();
  const headers = new Map<string, string>();
  let user: string | undefined;
  let password: string | undefined;
  // userinfo may contain ';', '?' and ',' (user-unreserved) but never an unescaped '@', and '@'
  // appears nowhere else in a SIP URI, so the first '@' ends the userinfo.
  const at = rest.indexOf('@');
  let hostPart = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    const userRaw = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (userRaw === '' || !allIn(userRaw, userChars, true)) return err(uriError('bad user part'));
    user = unescapeUriPart(userRaw);
    if (user === undefined) return err(uriError('bad escape in user part'));
    if (colon >= 0) {
      const pw = userinfo.slice(colon + 1);
      if (!allIn(pw, passwordChars, true)) return err(uriError('bad password'));
      password = unescapeUriPart(pw);
      if (password === undefined) return err(uriError('bad escape in password'));
    }
  }
  const q = hostPart.indexOf('?');
  const beforeHeaders = q < 0 ? hostPart : hostPart.slice(0, q);
  const semi = beforeHeaders.indexOf(';');
  const hostport = semi < 0 ? beforeHeaders : beforeHeaders.slice(0, semi);
  const hp = parseHostPort(hostport);
  if (!hp.ok) return hp;
  if (semi >= 0) {
    const bad = parseUriParams(beforeHeaders.slice(semi + 1), paramChars, params);
    if (bad) return err(uriError(bad));
  }
  if (q >= 0) {
    for (const h of hostPart.slice(q + 1).split('&')) {
      const eq = h.indexOf('=');
      if (eq <= 0) return err(uriError('bad URI header'));
      const name = h.slice(0, eq);
      const raw = h.slice(eq + 1);
      if (!allIn(name, headerChars, true) || !allIn(raw, headerChars, true))
        return err(uriError('bad URI header'));
      const n = unescapeUriPart(name);
      const v = unescapeUriPart(raw);
      if (n === undefined || v === undefined) return err(uriError('bad escape in URI header'));
      headers.set(n, v);
    }
  }
  const uri: SipUri = { scheme, host: hp.value.host, params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (hp.value.port !== undefined) uri.port = hp.value.port;
  return ok(uri);
}

function parseTel(rest: string): Result<TelUri> {
  const semi = rest.indexOf(';');
  const numRaw = semi < 0 ? rest : rest.slice(0, semi);
  if (numRaw === '' || !allIn(numRaw, telChars, true)) return err(uriError('bad telephone number'));
  const number = unescapeUriPart(numRaw);
  if (number === undefined) return err(uriError('bad escape in telephone number'));
  const params = new Map<string, string | null>();
  if (semi >= 0) {
    const bad = parseUriParams(rest.slice(semi + 1), telChars, params);
    if (bad) return err(uriError(bad));
  }
  return ok({ scheme: 'tel', number, params });
}

/** Parse a URI. Unknown schemes are accepted as `OtherUri` when they are a syntactic absoluteURI. */
export function parseUri(s: string): Result<Uri> {
  const colon = s.indexOf(':');
  if (colon <= 0) return err(uriError('missing URI scheme'));
  if (hasWhitespaceOrControl(s)) return err(uriError('whitespace in URI'));
  const schemeRaw = s.slice(0, colon);
  const first = schemeRaw.charCodeAt(0);
  const isAlpha = (first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a);
  if (!isAlpha || !allIn(schemeRaw, schemeChars, false))
    return err(uriError(`bad URI scheme '${schemeRaw}'`));
  const scheme = schemeRaw.toLowerCase();
  const rest = s.slice(colon + 1);
  if (rest === '') return err(uriError('empty URI'));
  if (scheme === 'sip' || scheme === 'sips') return parseSip(scheme, rest);
  if (scheme === 'tel') return parseTel(rest);
  // RFC 3261 §25.1 absoluteURI: no LWS, no '<', '>' or '"' (they delimit URIs in headers).
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 0x3c || c === 0x3e || c === 0x22 || c >= 0x7f) return err(uriError('bad character in URI'));
  }
  return ok({ scheme, raw: s });
}

function formatParams(params: Map<string, string | null>, chars: Uint8Array): string {
  let out = '';
  for (const [k, v] of params)
    out += ';' + escapePart(k, chars) + (v === null ? '' : '=' + escapePart(v, chars));
  return out;
}

export function formatUri(u: Uri): string {
  if (isSipUri(u)) {
    let out = u.scheme + ':';
    if (u.user !== undefined) {
      out += escapePart(u.user, userChars);
      if (u.password !== undefined) out += ':' + escapePart(u.password, passwordChars);
      out += '@';
    }
    out += formatHost(u.host);
    if (u.port !== undefined) out += ':' + String(u.port);
    out += formatParams(u.params, paramChars);
    let sep = '?';
    for (const [k, v] of u.headers) {
      out += sep + escapePart(k, headerChars) + '=' + escapePart(v, headerChars);
      sep = '&';
    }
    return out;
  }
  if (isTelUri(u)) return 'tel:' + escapePart(u.number, telChars) + formatParams(u.params, telChars);
  return u.raw;
}
