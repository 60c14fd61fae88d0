/**
 * Structured views of header values (RFC 3261 §20, grammar in §25.1), parsed only when a layer
 * asks. Every parser takes one header value (one list element for Via, Contact, Route, ...: use
 * `headers.getList(name)` first), tolerates LWS wherever the grammar's SWS/LWS allow it, and
 * returns a Result.
 */
import { err, ok } from '../../../../base/result.ts';
import type { ParseError, Result } from '../../../../base/result.ts';
import { SipHeaders } from './headers-store.ts';
import { formatHost, parseUri } from './uri.ts';

const headerError = (field: string, message: string): ParseError => ({
  code: 'EDGE_ERR_SIP_PARSE',
  message,
  field,
});

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") (RFC 3261 §25.1) */
const tokenTable = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9]/.test(ch) || "-.!%*_+`'~".includes(ch)) tokenTable[c] = 1;
}

export function isTokenChar(c: number): boolean {
  return c < 128 && tokenTable[c] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

/** A cursor over one header value. */
class Cursor {
  i = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.i >= this.s.length;
  }
  peek(): number {
    return this.s.charCodeAt(this.i);
  }
  /** Skip LWS; returns whether anything was skipped. */
  ws(): boolean {
    const start = this.i;
    while (this.i < this.s.length && isWs(this.s.charCodeAt(this.i))) this.i++;
    return this.i > start;
  }
  token(): string {
    const start = this.i;
    while (this.i < this.s.length && isTokenChar(this.s.charCodeAt(this.i))) this.i++;
    return this.s.slice(start, this.i);
  }
  /** Consume `c` surrounded by optional LWS (SEMI, COLON, SLASH, EQUAL, COMMA of §25.1). */
  sep(c: number): boolean {
    const save = this.i;
    this.ws();
    if (this.peek() === c) {
      this.i++;
      this.ws();
      return true;
    }
    this.i = save;
    return false;
  }
  /** A quoted-string starting at the cursor: returns the raw text (with quotes) and the unescaped content. */
  quoted(): { raw: string; text: string } | undefined {
    if (this.peek() !== 0x22) return undefined;
    const start = this.i;
    let text = '';
    this.i++;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        return { raw: this.s.slice(start, this.i), text };
      }
      if (c === 0x5c) {
        // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
        const n = this.s.charCodeAt(this.i + 1);
        if (Number.isNaN(n) || n === 0x0a || n === 0x0d || n > 0x7f) return undefined;
        text += this.s[this.i + 1];
        this.i += 2;
        continue;
      }
      text += this.s[this.i];
      this.i++;
    }
    return undefined;
  }
}

/** gen-value = token / host / quoted-string: a token, or a host (which may be an IPv6 reference). */
function genValue(cur: Cursor): string | undefined {
  if (cur.peek() === 0x22) return cur.quoted()?.raw;
  const start = cur.i;
  while (!cur.done) {
    const c = cur.peek();
    if (isTokenChar(c) || c === 0x3a || c === 0x5b || c === 0x5d) cur.i++;
    else break;
  }
  return cur.i > start ? cur.s.slice(start, cur.i) : undefined;
}

/**
 * `*( SEMI generic-param )` up to the end of the value. Names are lower-cased; values are kept as
 * written (a quoted value keeps its quotes, so formatting reproduces it).
 */
function params(cur: Cursor, field: string, into: Map<string, string | null>): ParseError | undefined {
  for (;;) {
    cur.ws();
    if (cur.done) return undefined;
    if (!cur.sep(0x3b)) return headerError(field, `unexpected '${cur.s[cur.i] ?? ''}' in ${field}`);
    const name = cur.token();
    if (name === '') return headerError(field, `empty parameter in ${field}`);
    if (cur.sep(0x3d)) {
      const v = genValue(cur);
      if (v === undefined) return headerError(field, `bad value of parameter '${name}' in ${field}`);
      into.set(name.toLowerCase(), v);
    } else into.set(name.toLowerCase(), null);
  }
}

function formatParams(p: Map<string, string | null>): string {
  let out = '';
  for (const [k, v] of p) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

/** Remove the quotes and quoted-pairs of a parameter value kept raw (e.g. `"<urn:uuid:...>"`). */
export function unquote(v: string): string {
  if (v.length < 2 || v.charCodeAt(0) !== 0x22) return v;
  const q = new Cursor(v).quoted();
  return q ? q.text : v;
}

export function quote(s: string): string {
  return '"' + s.replace(/[\\"]/g, (m) => '\\' + m) + '"';
}

// ---------------------------------------------------------------------------------------------
// Via (RFC 3261 §20.42)

export interface Via {
  /** `SIP/2.0` (upper case). */
  protocol: string;
  /** Upper case: UDP, TCP, TLS, SCTP, WS, WSS, or an extension token. */
  transport: string;
  /** sent-by host; IPv6 addresses WITHOUT brackets. */
  host: string;
  port?: number;
  /** via-params: lower-case names; `rport` without value is `null` (RFC 3581). */
  params: Map<string, string | null>;
}

/**
 * via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 * sent-protocol = protocol-name SLASH protocol-version SLASH transport
 */
export function parseVia(value: string): Result<Via> {
  const known = viaView(value);
  if (known) return ok(copyVia(known));
  return parseViaText(value);
}

/**
 * A memo of values parsed before, keyed by the exact text. The same Via, From and To values
 * come back many times (in each layer that reads a message, and in every message of a
 * transaction or dialog), and the parse depends on the text alone. Entries are never handed out:
 * callers get copies they may change. Bounded: when full it starts over.
 */
const memoLimit = 4096;

/** A memoized parse as handed out without copying: nothing in it may be changed. */
export type ViewOf<T extends { params: Map<string, string | null> }> = Readonly<Omit<T, 'params'>> & {
  readonly params: ReadonlyMap<string, string | null>;
};

function remember<T>(memo: Map<string, T>, value: string, parsed: T): void {
  if (memo.size >= memoLimit) memo.clear();
  memo.set(value, parsed);
}

const viaMemo = new Map<string, Via>();

/** The memoized parse of a Via value, read-only, or undefined when it does not parse. */
export function viaView(value: string): ViewOf<Via> | undefined {
  const known = viaMemo.get(value);
  if (known) return known;
  const parsed = parseViaText(value);
  if (!parsed.ok) return undefined;
  const kept = copyVia(parsed.value);
  remember(viaMemo, value, kept);
  return kept;
}

function copyVia(v: ViewOf<Via>): Via {
  const c: Via = { protocol: v.protocol, transport: v.transport, host: v.host, params: new Map(v.params) };
  if (v.port !== undefined) c.port = v.port;
  return c;
}

function parseViaText(value: string): Result<Via> {
  const cur = new Cursor(value);
  cur.ws();
  const name = cur.token();
  if (name === '' || !cur.sep(0x2f)) return err(headerError('Via', 'bad sent-protocol'));
  const version = cur.token();
  if (version === '' || !cur.sep(0x2f)) return err(headerError('Via', 'bad sent-protocol'));
  const transport = cur.token();
  if (transport === '') return err(headerError('Via', 'missing transport'));
  if (!cur.ws()) return err(headerError('Via', 'missing sent-by'));
  let host: string;
  if (cur.peek() === 0x5b) {
    const close = value.indexOf(']', cur.i);
    if (close < 0) return err(headerError('Via', 'unterminated IPv6 reference'));
    host = value.slice(cur.i + 1, close);
    cur.i = close + 1;
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) return err(headerError('Via', 'bad IPv6 address'));
  } else {
    const start = cur.i;
    while (!cur.done) {
      const c = cur.peek();
      if (
        (c >= 0x30 && c <= 0x39) ||
        (c >= 0x41 && c <= 0x5a) ||
        (c >= 0x61 && c <= 0x7a) ||
        c === 0x2d ||
        c === 0x2e ||
        c === 0x5f
      )
        cur.i++;
      else break;
    }
    host = value.slice(start, cur.i);
    if (host === '') return err(headerError('Via', 'missing sent-by host'));
  }
  const via: Via = {
    protocol: `${name.toUpperCase()}/${version}`,
    transport: transport.toUpperCase(),
    host,
    params: new Map(),
  };
  if (cur.sep(0x3a)) {
    const start = cur.i;
    while (!cur.done && cur.peek() >= 0x30 && cur.peek() <= 0x39) cur.i++;
    const digits = value.slice(start, cur.i);
    if (digits === '' || digits.length > 5 || Number(digits) > 65535)
      return err(headerError('Via', 'bad sent-by port'));
    via.port = Number(digits);
  }
  const bad = params(cur, 'Via', via.params);
  if (bad) return err(bad);
  return ok(via);
}

export function formatVia(v: Via): string {
  const port = v.port === undefined ? '' : `:${v.port}`;
  return `${v.protocol}/${v.transport} ${formatHost(v.host)}${port}${formatParams(v.params)}`;
}

// ---------------------------------------------------------------------------------------------
// name-addr / addr-spec (RFC 3261 §20.10, §20.20, §20.39; Route, Record-Route, P-Asserted-Identity,
// Refer-To share the form)

export interface NameAddr {
  /** Display name: unescaped content of a quoted-string, or the tokens joined by single spaces. */
  displayName?: string;
  /** The URI as written between `<` and `>` (or the addr-spec). */
  uri: string;
  /** Header parameters (tag, expires, q, ...): lower-case names, values as written. */
  params: Map<string, string | null>;
}

/**
 * (name-addr / addr-spec) *( SEMI param ). RFC 3261 §20.10: "Even if the "display-name" is empty,
 * the "name-addr" form MUST be used if the "addr-spec" contains a comma, semicolon, or question
 * mark", and in the addr-spec form "URI parameters ... are considered header parameters".
 */
export function parseNameAddr(value: string, field = 'name-addr'): Result<NameAddr> {
  const known = nameAddrMemo.get(value);
  if (known) return ok(copyNameAddr(known));
  const parsed = parseNameAddrText(value, field);
  if (parsed.ok) remember(nameAddrMemo, value, copyNameAddr(parsed.value));
  return parsed;
}

const nameAddrMemo = new Map<string, NameAddr>();

/** The memoized parse of a name-addr value, read-only, or undefined when it does not parse. */
export function nameAddrView(value: string): ViewOf<NameAddr> | undefined {
  const known = nameAddrMemo.get(value);
  if (known) return known;
  const parsed = parseNameAddrText(value, 'name-addr');
  if (!parsed.ok) return undefined;
  const kept = copyNameAddr(parsed.value);
  remember(nameAddrMemo, value, kept);
  return kept;
}

function copyNameAddr(na: ViewOf<NameAddr>): NameAddr {
  const c: NameAddr = { uri: na.uri, params: new Map(na.params) };
  if (na.displayName !== undefined) c.displayName = na.displayName;
  return c;
}

function parseNameAddrText(value: string, field: string): Result<NameAddr> {
  const cur = new Cursor(value);
  cur.ws();
  let displayName: string | undefined;
  let uri: string;
  if (cur.peek() === 0x22) {
    const q = cur.quoted();
    if (!q) return err(headerError(field, 'unterminated quoted display name'));
    displayName = q.text;
    cur.ws();
    if (cur.peek() !== 0x3c) return err(headerError(field, "expected '<' after display name"));
  }
  // Find whether this is the name-addr form: a '<' before any ';' or '"'.
  let lt = -1;
  if (displayName !== undefined) lt = cur.i;
  else {
    for (let i = cur.i; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c === 0x3c) {
        lt = i;
        break;
      }
      if (c === 0x3b || c === 0x22) break;
    }
  }
  if (lt >= 0) {
    if (displayName === undefined) {
      const words = value.slice(cur.i, lt).trim();
      if (words !== '') {
        const parts = words.split(/[ \t]+/);
        if (!parts.every(isToken))
          return err(headerError(field, 'display name is neither a quoted string nor tokens'));
        displayName = parts.join(' ');
      }
    }
    const gt = value.indexOf('>', lt + 1);
    if (gt < 0) return err(headerError(field, "missing '>'"));
    uri = value.slice(lt + 1, gt);
    cur.i = gt + 1;
  } else {
    const start = cur.i;
    while (!cur.done && !isWs(cur.peek()) && cur.peek() !== 0x3b) cur.i++;
    uri = value.slice(start, cur.i);
    if (uri.indexOf('?') >= 0 || uri.indexOf(',') >= 0)
      return err(headerError(field, 'addr-spec with "?" or "," must be enclosed in <>'));
  }
  const parsed = parseUri(uri);
  if (!parsed.ok) return err(headerError(field, `bad URI: ${parsed.error.message}`));
  const na: NameAddr = { uri, params: new Map() };
  if (displayName !== undefined) na.displayName = displayName;
  const bad = params(cur, field, na.params);
  if (bad) return err(bad);
  return ok(na);
}

export function formatNameAddr(na: NameAddr): string {
  const dn = na.displayName === undefined ? '' : quote(na.displayName) + ' ';
  return `${dn}<${na.uri}>${formatParams(na.params)}`;
}

/** The tag parameter of a From or To value, if any. */
export function getTag(nameAddrValue: string): string | undefined {
  return nameAddrView(nameAddrValue)?.params.get('tag') ?? undefined;
}

// ---------------------------------------------------------------------------------------------
// CSeq (RFC 3261 §20.16): CSeq = "CSeq" HCOLON 1*DIGIT LWS Method

const maxCSeq = 0xffffffff;

export function parseCSeq(value: string): Result<{ seq: number; method: string }> {
  const cur = new Cursor(value);
  cur.ws();
  const start = cur.i;
  while (!cur.done && cur.peek() >= 0x30 && cur.peek() <= 0x39) cur.i++;
  const digits = value.slice(start, cur.i);
  // "The sequence number value MUST be expressible as a 32-bit unsigned integer" (§8.1.1.5)
  if (digits === '' || digits.replace(/^0+(?=.)/, '').length > 10 || Number(digits) > maxCSeq)
    return err(headerError('CSeq', 'bad CSeq sequence number'));
  if (!cur.ws()) return err(headerError('CSeq', 'missing CSeq method'));
  const method = cur.token();
  cur.ws();
  if (method === '' || !cur.done) return err(headerError('CSeq', 'bad CSeq method'));
  return ok({ seq: Number(digits), method });
}

// ---------------------------------------------------------------------------------------------
// WWW-Authenticate, Authorization, Proxy-Authenticate, Proxy-Authorization (RFC 3261 §20.7, §25.1)

export interface AuthParams {
  scheme: string;
  /** lower-case keys, unquoted & unescaped values */
  params: Map<string, string>;
  /** Credentials that are not auth-params (RFC 7235 token68, e.g. Basic). */
  token68?: string;
}

export function parseAuthHeader(value: string): Result<AuthParams> {
  const cur = new Cursor(value);
  cur.ws();
  const scheme = cur.token();
  if (scheme === '') return err(headerError('Authorization', 'missing auth scheme'));
  const out: AuthParams = { scheme, params: new Map() };
  cur.ws();
  if (cur.done) return ok(out);
  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 7235 §2.1)
  const rest = value.slice(cur.i).trim();
  if (/^[A-Za-z0-9\-._~+/]+=*$/.test(rest)) {
    out.token68 = rest;
    return ok(out);
  }
  for (;;) {
    cur.ws();
    const name = cur.token();
    if (name === '' || !cur.sep(0x3d)) return err(headerError('Authorization', 'bad auth-param'));
    let v: string;
    if (cur.peek() === 0x22) {
      const q = cur.quoted();
      if (!q) return err(headerError('Authorization', 'unterminated quoted auth-param'));
      v = q.text;
    } else {
      v = cur.token();
      if (v === '') return err(headerError('Authorization', `empty value of '${name}'`));
    }
    out.params.set(name.toLowerCase(), v);
    cur.ws();
    if (cur.done) return ok(out);
    if (!cur.sep(0x2c)) return err(headerError('Authorization', 'expected "," between auth-params'));
  }
}

// ---------------------------------------------------------------------------------------------
// Media types (RFC 3261 §20.15) and multipart bodies (RFC 2046 §5.1, RFC 5621)

export interface MediaType {
  /** lower case */
  type: string;
  /** lower case */
  subtype: string;
  /** lower-case names, unquoted values */
  params: Map<string, string>;
}

export function parseMediaType(value: string): Result<MediaType> {
  const cur = new Cursor(value);
  cur.ws();
  const type = cur.token();
  if (type === '' || !cur.sep(0x2f)) return err(headerError('Content-Type', 'bad media type'));
  const subtype = cur.token();
  if (subtype === '') return err(headerError('Content-Type', 'bad media subtype'));
  const raw = new Map<string, string | null>();
  const bad = params(cur, 'Content-Type', raw);
  if (bad) return err(bad);
  const p = new Map<string, string>();
  for (const [k, v] of raw) p.set(k, v === null ? '' : unquote(v));
  return ok({ type: type.toLowerCase(), subtype: subtype.toLowerCase(), params: p });
}

const maxParts = 64;

/**
 * Split a multipart body at its boundary (RFC 2046 §5.1.1: "The boundary delimiter MUST occur at
 * the beginning of a line, i.e., following a CRLF"); preamble and epilogue are discarded. Part
 * bodies are views into `body`.
 */
export function parseMultipart(
  contentType: string,
  body: Buffer,
): Result<Array<{ headers: SipHeaders; body: Buffer }>> {
  const mt = parseMediaType(contentType);
  if (!mt.ok) return mt;
  if (mt.value.type !== 'multipart') return err(headerError('Content-Type', 'not a multipart type'));
  const boundary = mt.value.params.get('boundary');
  if (!boundary || boundary.length > 70) return err(headerError('Content-Type', 'missing or bad boundary'));
  const delim = Buffer.from('--' + boundary, 'latin1');
  // The first delimiter may open the body without a preceding CRLF.
  let pos = body.subarray(0, delim.length).equals(delim)
    ? 0
    : body.indexOf(Buffer.from('\r\n--' + boundary, 'latin1'));
  if (pos < 0) return err(headerError('body', 'multipart boundary not found'));
  if (pos > 0) pos += 2;
  const parts: Array<{ headers: SipHeaders; body: Buffer }> = [];
  const next = Buffer.from('\r\n--' + boundary, 'latin1');
  for (;;) {
    let after = pos + delim.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) return ok(parts); // close-delimiter
    // transport-padding then CRLF
    const eol = body.indexOf('\r\n', after, 'latin1');
    if (eol < 0) return err(headerError('body', 'truncated multipart body'));
    after = eol + 2;
    const end = body.indexOf(next, after);
    if (end < 0) return err(headerError('body', 'missing multipart close delimiter'));
    if (parts.length >= maxParts) return err(headerError('body', 'too many body parts'));
    const part = body.subarray(after, end);
    const split = part.subarray(0, 2).toString('latin1') === '\r\n' ? 0 : part.indexOf('\r\n\r\n');
    const headers = new SipHeaders();
    let partBody: Buffer;
    if (split === 0) partBody = part.subarray(2);
    else if (split < 0) return err(headerError('body', 'body part without header/body separator'));
    else {
      for (const line of part
        .subarray(0, split)
        .toString('latin1')
        .replace(/\r\n[ \t]+/g, ' ')
        .split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) return err(headerError('body', 'bad body part header'));
        headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      partBody = part.subarray(split + 4);
    }
    parts.push({ headers, body: partBody });
    pos = end + 2;
  }
}
