/**
 * HTTP Digest authentication for SIP (RFC 3261 §22.4), as updated by RFC 2617 (qop, cnonce,
 * nonce-count), RFC 7616 (SHA-256) and RFC 8760 (SHA-256 in SIP). Only qop=auth is served; the
 * client side also answers RFC 2069 challenges without qop, which some trunks still send.
 *
 * Nonces are stateless: `base64url(timestamp ‖ salt ‖ HMAC-SHA256(secret, timestamp ‖ salt ‖ realm))`.
 * The gateway can verify any nonce it minted, across restarts, as long as the secret is kept. The
 * random salt makes every nonce unique so that nonce-count tracking never mixes two clients that
 * were challenged in the same millisecond.
 */
import { createHmac, hash as oneShotHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { randomHex, randomInto } from '../../core/random.ts';
import type { Clock } from '../../../../base/clock.ts';
import { err, ok, type Result } from '../../../../base/result.ts';
import { isSipUri, parseAuthHeader, parseUri } from '../message/index.ts';

export type DigestAlgorithm = 'SHA-256' | 'MD5';

export type DigestFailureReason =
  | 'missing'
  | 'malformed'
  | 'wrong-realm'
  | 'bad-algorithm'
  | 'bad-qop'
  | 'bad-uri'
  | 'unknown-user'
  | 'bad-response'
  | 'stale'
  | 'replay';

export type DigestVerdict = { ok: true; username: string } | { ok: false; reason: DigestFailureReason };

export interface DigestAuthenticatorOptions {
  realm: string;
  /** Offered in this order; RFC 8760 §2.4 has SHA-256 first so that clients that know it take it. */
  algorithms: DigestAlgorithm[];
  /** How long a nonce is accepted after it was issued; older ones get a `stale=true` challenge. */
  nonceTtlMs: number;
  /** Wall time stamps nonces, so that they stay valid across a restart. */
  clock: Clock;
  /** HMAC key of the nonces. Without one, a random key is drawn and nonces die with the process. */
  secret?: Buffer;
  /** Nonces whose nonce-counts are remembered for replay detection (bounded memory). */
  replayCacheNonces?: number;
  /** Nonce-counts remembered per nonce; past that the client is sent a fresh nonce. */
  replayCacheNcPerNonce?: number;
}

export interface DigestVerifyRequest {
  method: string;
  /** The Authorization / Proxy-Authorization header value. */
  authorization: string | undefined;
  /**
   * The Request-URI. RFC 2617 §3.2.2.5: "The authenticating server must assure that the resource
   * designated by the "uri" directive is the same as the resource specified in the Request-Line".
   * Omit it only where a proxy in front may have rewritten the Request-URI.
   */
  requestUri?: string;
}

const NONCE_TS_BYTES = 8;
const NONCE_SALT_BYTES = 8;
const NONCE_MAC_BYTES = 32;
const NONCE_BYTES = NONCE_TS_BYTES + NONCE_SALT_BYTES + NONCE_MAC_BYTES;
/** Tolerated backward step of the wall clock before a nonce "from the future" counts as stale. */
const FUTURE_SKEW_MS = 60_000;

interface NonceUse {
  issuedAtMs: number;
  ncs: Set<string>;
}

export class DigestAuthenticator {
  private realmValue: string;
  private algorithms: DigestAlgorithm[];
  private nonceTtlMs: number;
  private readonly secret: Buffer;
  private readonly replayCacheNonces: number;
  private readonly replayCacheNcPerNonce: number;
  /** Insertion order is LRU order: a use re-inserts the nonce at the end. */
  private readonly used = new Map<string, NonceUse>();
  /**
   * Issue time of the newest nonce whose nonce-counts were forgotten. Any nonce issued at or
   * before it is answered as stale, so that evicting entries from the bounded cache can never
   * open a replay window; an honest client only pays one extra challenge.
   */
  private forgottenUpToMs = -Infinity;
  private stats = { challenges: 0, accepted: 0, refused: 0 };

  constructor(private readonly opts: DigestAuthenticatorOptions) {
    if (opts.algorithms.length === 0)
      throw new RangeError('DigestAuthenticator needs at least one algorithm');
    this.realmValue = opts.realm;
    this.algorithms = [...opts.algorithms];
    this.nonceTtlMs = opts.nonceTtlMs;
    this.secret = opts.secret ?? randomBytes(32);
    this.replayCacheNonces = opts.replayCacheNonces ?? 10_000;
    this.replayCacheNcPerNonce = opts.replayCacheNcPerNonce ?? 64;
  }

  get realm(): string {
    return this.realmValue;
  }

  /**
   * A configuration change takes effect at once: new challenges use the new realm, algorithms and
   * nonce lifetime; credentials answering an older challenge are checked against the new ones.
   */
  update(opts: { realm: string; algorithms: readonly DigestAlgorithm[]; nonceTtlMs: number }): void {
    if (opts.algorithms.length === 0)
      throw new RangeError('DigestAuthenticator needs at least one algorithm');
    this.realmValue = opts.realm;
    this.algorithms = [...opts.algorithms];
    this.nonceTtlMs = opts.nonceTtlMs;
  }

  /**
   * One WWW-Authenticate / Proxy-Authenticate value per algorithm, all sharing one nonce.
   * RFC 8760 §2.4: "the UAS ... MUST add a WWW-Authenticate header field for each algorithm it
   * supports ... in order of preference", and the UAC uses the topmost one it supports.
   */
  challenge(opts: { stale?: boolean } = {}): string[] {
    this.stats.challenges++;
    const nonce = this.mintNonce();
    return this.algorithms.map((algorithm) => {
      const parts = [
        `realm=${quote(this.realm)}`,
        `nonce=${quote(nonce)}`,
        `algorithm=${algorithm}`,
        `qop="auth"`,
      ];
      // RFC 2617 §3.2.1 stale: "the previous request from the client was rejected because the
      // nonce value was stale ... the client may wish to simply retry the request with a new
      // encrypted response, without reprompting the user for a new username and password."
      if (opts.stale) parts.push('stale=true');
      return `Digest ${parts.join(', ')}`;
    });
  }

  /** The challenge that answers a failed verification (stale=true only when the password was right). */
  challengeFor(verdict: DigestVerdict): string[] {
    return this.challenge({ stale: !verdict.ok && verdict.reason === 'stale' });
  }

  verify(req: DigestVerifyRequest, lookupPassword: (username: string) => string | undefined): DigestVerdict {
    const verdict = this.check(req, lookupPassword);
    if (verdict.ok) this.stats.accepted++;
    else this.stats.refused++;
    return verdict;
  }

  dump(): {
    realm: string;
    algorithms: DigestAlgorithm[];
    nonceTtlMs: number;
    trackedNonces: number;
    stats: { challenges: number; accepted: number; refused: number };
  } {
    return {
      realm: this.realm,
      algorithms: [...this.algorithms],
      nonceTtlMs: this.nonceTtlMs,
      trackedNonces: this.used.size,
      stats: { ...this.stats },
    };
  }

  close(): void {
    this.used.clear();
  }

  private check(
    req: DigestVerifyRequest,
    lookupPassword: (username: string) => string | undefined,
  ): DigestVerdict {
    if (req.authorization === undefined || req.authorization.trim() === '') return fail('missing');
    const parsed = parseAuthHeader(req.authorization);
    if (!parsed.ok || parsed.value.scheme.toLowerCase() !== 'digest') return fail('malformed');
    const p = parsed.value.params;
    const username = p.get('username');
    const realm = p.get('realm');
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    if (
      username === undefined ||
      realm === undefined ||
      nonce === undefined ||
      uri === undefined ||
      !response
    ) {
      return fail('malformed');
    }
    if (realm !== this.realm) return fail('wrong-realm');

    // RFC 2617 §3.2.1: "If this directive is not present, it is assumed to be "MD5"."
    const algorithm = canonicalAlgorithm(p.get('algorithm') ?? 'MD5');
    if (algorithm === undefined || !this.algorithms.includes(algorithm)) return fail('bad-algorithm');

    // Every challenge offers qop="auth", so a response without it (RFC 2069 style) is refused:
    // without cnonce and nonce-count there is no replay protection.
    if (p.get('qop')?.toLowerCase() !== 'auth') return fail('bad-qop');
    const cnonce = p.get('cnonce');
    const nc = p.get('nc');
    if (!cnonce || nc === undefined || !/^[0-9a-fA-F]{8}$/.test(nc)) return fail('malformed');

    if (req.requestUri !== undefined && !sameResource(uri, req.requestUri)) return fail('bad-uri');

    const password = lookupPassword(username);
    // An unknown user costs the same hashing as a known one and ends in the same 401, so that
    // neither timing nor the answer tells which extensions exist.
    const expected = digestResponse({
      algorithm,
      username,
      realm,
      password: password ?? '\u0000unknown',
      method: req.method,
      uri,
      nonce,
      nc,
      cnonce,
      qop: 'auth',
    });
    const match = constantTimeEqualHex(expected, response);
    if (password === undefined) return fail('unknown-user');
    if (!match) return fail('bad-response');

    const issuedAtMs = this.nonceIssuedAt(nonce);
    const nowMs = this.opts.clock.wallNow();
    // A nonce we did not mint (or minted under an older secret), an expired one, or one whose
    // nonce-counts were forgotten: the credentials are right, so RFC 2617 §3.2.1 stale=true lets
    // the client retry at once with a fresh nonce.
    if (
      issuedAtMs === undefined ||
      nowMs - issuedAtMs > this.nonceTtlMs ||
      issuedAtMs - nowMs > FUTURE_SKEW_MS ||
      issuedAtMs <= this.forgottenUpToMs
    ) {
      return fail('stale');
    }

    // RFC 2617 §3.2.2: "The purpose of this directive is to allow the server to detect request
    // replays by maintaining its own copy of this count - if the same nc-value is seen twice,
    // then the request is a replay."
    const ncKey = nc.toLowerCase();
    let use = this.used.get(nonce);
    if (use) {
      if (use.ncs.has(ncKey)) return fail('replay');
      if (use.ncs.size >= this.replayCacheNcPerNonce) return fail('stale');
      this.used.delete(nonce);
    } else {
      use = { issuedAtMs, ncs: new Set() };
    }
    use.ncs.add(ncKey);
    this.used.set(nonce, use);
    this.evict(nowMs);
    return { ok: true, username };
  }

  private evict(nowMs: number): void {
    for (const [nonce, use] of this.used) {
      const expired = nowMs - use.issuedAtMs > this.nonceTtlMs;
      if (!expired && this.used.size <= this.replayCacheNonces) break;
      this.used.delete(nonce);
      // Expired nonces are refused anyway; only forgetting a live one moves the horizon.
      if (!expired) this.forgottenUpToMs = Math.max(this.forgottenUpToMs, use.issuedAtMs);
    }
  }

  private mintNonce(): string {
    const nonce = Buffer.allocUnsafe(NONCE_BYTES);
    const body = nonce.subarray(0, NONCE_TS_BYTES + NONCE_SALT_BYTES);
    // The 64-bit big-endian millisecond time stamp, as two 32-bit halves (exact below 2^53).
    const ms = Math.max(0, Math.floor(this.opts.clock.wallNow()));
    body.writeUInt32BE(Math.floor(ms / 0x1_0000_0000), 0);
    body.writeUInt32BE(ms % 0x1_0000_0000, 4);
    randomInto(body, NONCE_TS_BYTES, NONCE_SALT_BYTES);
    this.mac(body).copy(nonce, NONCE_TS_BYTES + NONCE_SALT_BYTES);
    return nonce.toString('base64url');
  }

  /** The issue time of a nonce this gateway minted with its secret, else undefined. */
  private nonceIssuedAt(nonce: string): number | undefined {
    if (!/^[A-Za-z0-9_-]+$/.test(nonce)) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES) return undefined;
    const body = raw.subarray(0, NONCE_TS_BYTES + NONCE_SALT_BYTES);
    if (!timingSafeEqual(raw.subarray(NONCE_TS_BYTES + NONCE_SALT_BYTES), this.mac(body))) return undefined;
    return Number(raw.readBigUInt64BE(0));
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(body).update(this.realm, 'utf8').digest();
  }
}

function fail(reason: DigestFailureReason): DigestVerdict {
  return { ok: false, reason };
}

// ---------------------------------------------------------------------------------------------
// The digest computation shared by both sides.

export interface DigestResponseInput {
  algorithm: DigestAlgorithm;
  username: string;
  realm: string;
  password: string;
  method: string;
  uri: string;
  nonce: string;
  /** With qop: nonce-count (8 hex digits), cnonce and qop. Without: RFC 2069 form. */
  qop?: 'auth';
  nc?: string;
  cnonce?: string;
}

/**
 * The request-digest of RFC 2617 §3.2.2.1 (and RFC 7616 §3.4.1 with SHA-256):
 *   A1 = username ":" realm ":" passwd
 *   A2 = Method ":" digest-uri-value
 *   qop=auth:  KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2))
 *   no qop:    KD(H(A1), nonce ":" H(A2))
 */
export function digestResponse(i: DigestResponseInput): string {
  const h = (s: string) => hash(i.algorithm, s);
  const ha1 = h(`${i.username}:${i.realm}:${i.password}`);
  const ha2 = h(`${i.method}:${i.uri}`);
  if (i.qop === 'auth') return h(`${ha1}:${i.nonce}:${i.nc ?? ''}:${i.cnonce ?? ''}:auth:${ha2}`);
  return h(`${ha1}:${i.nonce}:${ha2}`);
}

function hash(algorithm: DigestAlgorithm, s: string): string {
  // One-shot hashing: no Hash object per digest (three per verified request).
  return oneShotHash(algorithm === 'SHA-256' ? 'sha256' : 'md5', s, 'hex');
}

function canonicalAlgorithm(token: string): DigestAlgorithm | undefined {
  switch (token.toUpperCase()) {
    case 'MD5':
      return 'MD5';
    case 'SHA-256':
      return 'SHA-256';
    default:
      return undefined;
  }
}

function constantTimeEqualHex(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'latin1');
  const b = Buffer.from(received.toLowerCase(), 'latin1');
  // Compare equal-length buffers whatever the input, so the time does not depend on it.
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/**
 * Whether the digest-uri designates the Request-URI. Byte equality first; otherwise, since phones
 * differ in how they spell the same URI, equal scheme, user, host (case-insensitive) and port.
 * A digest-uri naming only this server's host and port (no user) also designates it: several
 * phones and SIPp authenticate against the server they send to rather than the dialled URI, and
 * the nonce-count replay check already stops credentials being reused for another request.
 */
function sameResource(digestUri: string, requestUri: string): boolean {
  if (digestUri === requestUri) return true;
  const a = parseUri(digestUri);
  const b = parseUri(requestUri);
  if (!a.ok || !b.ok) return false;
  const x = a.value;
  const y = b.value;
  if (!isSipUri(x) || !isSipUri(y) || x.scheme !== y.scheme) return false;
  return (
    ((x.user ?? '') === (y.user ?? '') || (x.user ?? '') === '') &&
    x.host.toLowerCase() === y.host.toLowerCase() &&
    (x.port ?? defaultPort(x.scheme)) === (y.port ?? defaultPort(y.scheme))
  );
}

function defaultPort(scheme: string): number {
  return scheme === 'sips' ? 5061 : 5060;
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

// ---------------------------------------------------------------------------------------------
// Client side: answering a challenge from a trunk or an upstream registrar.

export interface DigestClientInput {
  /** The WWW-Authenticate / Proxy-Authenticate header value being answered. */
  challenge: string;
  method: string;
  /** The Request-URI of the request that will carry the credentials. */
  uri: string;
  username: string;
  password: string;
  /** Client nonce; drawn at random when absent. */
  cnonce?: string;
  /** Nonce-count: how many requests this nonce has now signed (1 for the first). */
  nc?: number;
}

/**
 * The Authorization / Proxy-Authorization value answering a Digest challenge (RFC 2617 §3.2.2,
 * RFC 8760). Answers qop="auth" when offered, RFC 2069 style when no qop is offered, and refuses
 * challenges it cannot answer correctly (auth-int only, -sess or unknown algorithms).
 */
export function computeDigestAuthorization(i: DigestClientInput): Result<string> {
  const parsed = parseAuthHeader(i.challenge);
  if (!parsed.ok) return parsed;
  if (parsed.value.scheme.toLowerCase() !== 'digest') {
    return err({
      code: 'EDGE_ERR_SIP_AUTH_SCHEME',
      message: `unsupported scheme ${parsed.value.scheme}`,
      field: 'scheme',
    });
  }
  const p = parsed.value.params;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined)
    return err({ code: 'EDGE_ERR_SIP_AUTH_PARAM', message: 'challenge has no realm', field: 'realm' });
  if (nonce === undefined)
    return err({ code: 'EDGE_ERR_SIP_AUTH_PARAM', message: 'challenge has no nonce', field: 'nonce' });
  const algorithmToken = p.get('algorithm');
  const algorithm = canonicalAlgorithm(algorithmToken ?? 'MD5');
  if (algorithm === undefined) {
    return err({
      code: 'EDGE_ERR_SIP_AUTH_ALGORITHM',
      message: `unsupported algorithm ${algorithmToken}`,
      field: 'algorithm',
    });
  }
  const qopOffered = p.get('qop');
  let qop: 'auth' | undefined;
  if (qopOffered !== undefined) {
    // RFC 2617 §3.2.1 qop-options: 'a quoted string of one or more tokens'.
    const options = qopOffered.split(',').map((t) => t.trim().toLowerCase());
    if (!options.includes('auth')) {
      return err({ code: 'EDGE_ERR_SIP_AUTH_QOP', message: `unsupported qop ${qopOffered}`, field: 'qop' });
    }
    qop = 'auth';
  }
  const nc = (i.nc ?? 1).toString(16).padStart(8, '0');
  if (nc.length !== 8)
    return err({ code: 'EDGE_ERR_SIP_AUTH_NC', message: 'nonce-count out of range', field: 'nc' });
  const cnonce = i.cnonce ?? randomHex(8);
  const response = digestResponse({
    algorithm,
    username: i.username,
    realm,
    password: i.password,
    method: i.method,
    uri: i.uri,
    nonce,
    ...(qop ? { qop, nc, cnonce } : {}),
  });
  const parts = [
    `username=${quote(i.username)}`,
    `realm=${quote(realm)}`,
    `nonce=${quote(nonce)}`,
    `uri=${quote(i.uri)}`,
    `response=${quote(response)}`,
  ];
  // Echo the algorithm token the way it was offered; RFC 2617 lets MD5 be implied only if omitted.
  if (algorithmToken !== undefined) parts.push(`algorithm=${algorithm}`);
  if (qop) parts.push(`cnonce=${quote(cnonce)}`, `qop=${qop}`, `nc=${nc}`);
  const opaque = p.get('opaque');
  // RFC 2617 §3.2.1 opaque: "should be returned by the client unchanged".
  if (opaque !== undefined) parts.push(`opaque=${quote(opaque)}`);
  return ok(`Digest ${parts.join(', ')}`);
}

/**
 * Of several challenges of one realm, the first this side can answer. RFC 8760 §2.4: "the UAC
 * MUST use the topmost header field value that contains a supported algorithm".
 */
export function pickChallenge(values: readonly string[]): string | undefined {
  for (const value of values) {
    const parsed = parseAuthHeader(value);
    if (!parsed.ok || parsed.value.scheme.toLowerCase() !== 'digest') continue;
    if (canonicalAlgorithm(parsed.value.params.get('algorithm') ?? 'MD5') !== undefined) return value;
  }
  return undefined;
}
