/**
 * SDP Security Descriptions for media streams (RFC 4568): the `a=crypto` attribute that carries
 * SRTP master keys in the SDP. Parse, format, pick a suite from an offer, make our own key.
 *
 * RFC 4568 §9.1:
 *     a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
 *     key-params   = key-param *(";" key-param)
 *     key-param    = key-method ":" key-info          ; key-method "inline"
 *     srtp-key-info = key-salt ["|" lifetime] ["|" mki]
 *     lifetime     = ["2^"] 1*(DIGIT)
 *     mki          = mki-value ":" mki-length
 */
import { randomBytes } from 'node:crypto';
import { err, ok, type ParseError, type Result } from '../../../../base/result.ts';
import type { ErrorCode } from '../../../../base/error-codes.ts';
import { isSrtpSuite, SRTP_SUITES, type SrtpSuite } from './srtp.ts';

export interface SdesKeyParam {
  /** Master key || master salt, decoded from base64. */
  keySalt: Buffer;
  /** Packets the master key may protect (`2^20` → 1048576), when given. */
  lifetime: number | undefined;
  mki: { value: number; length: number } | undefined;
}

export interface SdesCrypto {
  tag: number;
  suite: string;
  keys: SdesKeyParam[];
  /** Session parameters verbatim (`KDR=0`, `UNENCRYPTED_SRTCP`, `WSH=128`, ...). */
  sessionParams: string[];
}

const fail = (code: ErrorCode, message: string): { ok: false; error: ParseError } =>
  err({ code, message, field: 'a=crypto' });

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parse one `a=crypto` value; the `a=crypto:` prefix is optional. */
export function parseCrypto(line: string): Result<SdesCrypto> {
  let v = line.trim();
  if (v.startsWith('a=')) v = v.slice(2);
  if (v.toLowerCase().startsWith('crypto:')) v = v.slice(7);
  const fields = v.split(/[ \t]+/).filter((f) => f.length > 0);
  if (fields.length < 3) return fail('EDGE_ERR_SDES_SYNTAX', 'expected <tag> <crypto-suite> <key-params>');
  const [tagText, suite, keyParams, ...sessionParams] = fields as [string, string, string, ...string[]];
  // §9.1: "tag = 1*9DIGIT".
  if (!/^\d{1,9}$/.test(tagText)) return fail('EDGE_ERR_SDES_TAG', `tag "${tagText}" is not 1 to 9 digits`);
  if (!/^[A-Za-z0-9_]+$/.test(suite))
    return fail('EDGE_ERR_SDES_SUITE', `crypto-suite "${suite}" is not a token`);
  const keys: SdesKeyParam[] = [];
  for (const param of keyParams.split(';')) {
    const k = parseKeyParam(param, suite);
    if (!k.ok) return k;
    keys.push(k.value);
  }
  return ok({ tag: Number(tagText), suite, keys, sessionParams });
}

function parseKeyParam(param: string, suite: string): Result<SdesKeyParam> {
  const colon = param.indexOf(':');
  if (colon < 0) return fail('EDGE_ERR_SDES_KEY', `key-param "${param}" has no key-method`);
  const method = param.slice(0, colon);
  // §6.1: "inline" is the only key method defined for SRTP.
  if (method.toLowerCase() !== 'inline')
    return fail('EDGE_ERR_SDES_KEY', `key-method "${method}" is not inline`);
  const [keySaltText = '', ...rest] = param.slice(colon + 1).split('|');
  if (!BASE64.test(keySaltText)) return fail('EDGE_ERR_SDES_KEY', 'key||salt is not base64');
  const keySalt = Buffer.from(keySaltText, 'base64');
  if (isSrtpSuite(suite)) {
    const p = SRTP_SUITES[suite];
    // §6.1: "the key-salt ... is the concatenation of the master key and master salt".
    const need = p.masterKeyBytes + p.masterSaltBytes;
    if (keySalt.length !== need)
      return fail('EDGE_ERR_SDES_KEY', `${suite} needs ${need} bytes of key||salt, got ${keySalt.length}`);
  }
  let lifetime: number | undefined;
  let mki: SdesKeyParam['mki'];
  for (const part of rest) {
    // §6.1: the MKI has a colon ("mki-value:mki-length"), the lifetime does not.
    const m = /^(\d+):(\d{1,3})$/.exec(part);
    if (m) {
      if (mki) return fail('EDGE_ERR_SDES_KEY', 'two MKI fields');
      const length = Number(m[2]);
      // "mki-length ... range 1..128"
      if (length < 1 || length > 128) return fail('EDGE_ERR_SDES_KEY', `MKI length ${length} outside 1..128`);
      mki = { value: Number(m[1]), length };
      continue;
    }
    const l = /^(2\^)?(\d+)$/.exec(part);
    if (l && lifetime === undefined && mki === undefined) {
      lifetime = l[1] ? Math.pow(2, Number(l[2])) : Number(l[2]);
      continue;
    }
    return fail('EDGE_ERR_SDES_KEY', `key-info field "${part}" is neither a lifetime nor an MKI`);
  }
  return ok({ keySalt, lifetime, mki });
}

/** Format our `a=crypto` value (without the `a=` prefix): one inline key, no lifetime, no MKI. */
export function formatCrypto(tag: number, suite: SrtpSuite, keySalt: Uint8Array): string {
  return `crypto:${tag} ${suite} inline:${Buffer.from(keySalt).toString('base64')}`;
}

/** A fresh master key || master salt for `suite` (RFC 4568 §6.1: from a cryptographically strong source). */
export function generateKeySalt(suite: SrtpSuite, random: (n: number) => Buffer = randomBytes): Buffer {
  const p = SRTP_SUITES[suite];
  return random(p.masterKeyBytes + p.masterSaltBytes);
}

export function splitKeySalt(
  suite: SrtpSuite,
  keySalt: Uint8Array,
): { masterKey: Buffer; masterSalt: Buffer } {
  const p = SRTP_SUITES[suite];
  const b = Buffer.from(keySalt);
  return {
    masterKey: b.subarray(0, p.masterKeyBytes),
    masterSalt: b.subarray(p.masterKeyBytes, p.masterKeyBytes + p.masterSaltBytes),
  };
}

export interface SdesChoice {
  tag: number;
  suite: SrtpSuite;
  /** The peer's master key || salt: what we unprotect its packets with. */
  remoteKeySalt: Buffer;
}

/** Why an offered line was passed over (for logs and the 488 reason). */
export interface SdesSkipped {
  line: string;
  reason: string;
}

/**
 * Pick one offered crypto attribute, in the offerer's order (RFC 4568 §7.1.1: "the offerer ...
 * in preference order"), among the suites we allow. Lines we cannot honour are skipped with a
 * reason: an MKI or several keys (we send no MKI), KDR other than 0, and the session parameters
 * that switch protection off (§6.3.2–6.3.4) or that this implementation does not know. Returns an
 * error when nothing fits: the caller answers 488.
 */
export function chooseCrypto(
  offered: readonly string[],
  allowed: readonly SrtpSuite[],
): Result<SdesChoice & { skipped: SdesSkipped[] }> {
  const skipped: SdesSkipped[] = [];
  for (const line of offered) {
    const p = parseCrypto(line);
    if (!p.ok) {
      skipped.push({ line, reason: p.error.message });
      continue;
    }
    const c = p.value;
    if (!isSrtpSuite(c.suite) || !allowed.includes(c.suite)) {
      skipped.push({ line, reason: `suite ${c.suite} not allowed` });
      continue;
    }
    const key = c.keys[0];
    if (!key || c.keys.length !== 1 || key.mki !== undefined) {
      skipped.push({ line, reason: 'MKI or several master keys are not supported' });
      continue;
    }
    const unsupported = c.sessionParams.find((sp) => !sessionParamSupported(sp));
    if (unsupported !== undefined) {
      skipped.push({ line, reason: `session parameter ${unsupported} not supported` });
      continue;
    }
    return ok({ tag: c.tag, suite: c.suite, remoteKeySalt: key.keySalt, skipped });
  }
  return err({
    code: 'EDGE_ERR_SDES_NO_SUITE',
    message: skipped.length
      ? `no usable a=crypto: ${skipped.map((s) => s.reason).join('; ')}`
      : 'no a=crypto offered',
    field: 'a=crypto',
  });
}

function sessionParamSupported(sp: string): boolean {
  // §6.3.1: "KDR=" ... we support only the default rate 0 (keys derived once).
  const kdr = /^KDR=(\d+)$/.exec(sp);
  if (kdr) return Number(kdr[1]) === 0;
  // §6.3.7 window size hint: a hint, our window of 64 is what RFC 3711 requires as the minimum.
  if (/^WSH=\d+$/.test(sp)) return true;
  return false;
}
