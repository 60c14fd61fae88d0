/**
 * SDP (RFC 8866, which obsoletes RFC 4566) parsed to plain data and serialized back, plus the
 * pure policy helpers of offer/answer (RFC 3264): direction, hold, version bump, codec choice.
 *
 * The model keeps every line it understands in its place so that a parse → serialize round trip
 * reproduces what a phone sent (RFC 8866 §5: the order of lines is fixed; attributes keep the
 * order they came in).
 */
import { err, ok } from '../../../../base/result.ts';
import type { ParseError, Result } from '../../../../base/result.ts';
import type { ErrorCode } from '../../../../base/error-codes.ts';

export interface SdpOrigin {
  username: string;
  /** Numeric string: RFC 8866 §5.2 allows 64-bit values, kept as text to stay exact. */
  sessId: string;
  sessVersion: string;
  netType: string;
  addrType: string;
  address: string;
}

export interface SdpConnection {
  netType: string;
  addrType: string;
  /** Address as written, including any `/ttl` or `/count` suffix. */
  address: string;
}

export interface SdpAttribute {
  name: string;
  /** `null` for a property attribute (`a=sendonly`). */
  value: string | null;
}

export interface SdpTiming {
  start: string;
  stop: string;
  /** `r=` lines that follow this `t=` line. */
  repeats: string[];
}

export interface SdpMedia {
  type: string;
  port: number;
  /** `<port>/<number of ports>` when present. */
  portCount?: number;
  proto: string;
  formats: string[];
  info?: string;
  connections: SdpConnection[];
  bandwidths: string[];
  key?: string;
  attributes: SdpAttribute[];
}

export interface SdpSession {
  version: number;
  origin: SdpOrigin;
  sessionName: string;
  info?: string;
  uri?: string;
  emails: string[];
  phones: string[];
  connection?: SdpConnection;
  bandwidths: string[];
  timings: SdpTiming[];
  zone?: string;
  key?: string;
  attributes: SdpAttribute[];
  media: SdpMedia[];
}

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
const directions: readonly SdpDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

const sdpError = (code: ErrorCode, message: string, field: string): ParseError => ({ code, message, field });

function splitSpaces(s: string): string[] {
  return s.split(' ').filter((p) => p !== '');
}

function parseConnection(value: string, field: string): Result<SdpConnection> {
  const parts = splitSpaces(value);
  const [netType, addrType, address] = parts;
  if (parts.length !== 3 || netType === undefined || addrType === undefined || address === undefined)
    return err(sdpError('EDGE_ERR_SDP_CONNECTION', 'c= needs <nettype> <addrtype> <address>', field));
  return ok({ netType, addrType, address });
}

function parseAttribute(value: string): SdpAttribute {
  const colon = value.indexOf(':');
  if (colon < 0) return { name: value, value: null };
  return { name: value.slice(0, colon), value: value.slice(colon + 1) };
}

const digits = /^[0-9]+$/;

/**
 * Parse an SDP body. Lines end in CRLF, though RFC 8866 §5 asks parsers to also accept a bare LF.
 * Errors name the line as `<type>= line <n>` (n counted from 1 within the body).
 */
export function parseSdp(text: string | Buffer): Result<SdpSession> {
  const src = typeof text === 'string' ? text : text.toString('utf8');
  const lines = src.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return err(sdpError('EDGE_ERR_SDP_EMPTY', 'empty session description', 'v='));

  let version: number | undefined;
  let origin: SdpOrigin | undefined;
  let sessionName: string | undefined;
  const session: Omit<SdpSession, 'version' | 'origin' | 'sessionName'> = {
    emails: [],
    phones: [],
    bandwidths: [],
    timings: [],
    attributes: [],
    media: [],
  };
  let media: SdpMedia | undefined;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const n = i + 1;
    // RFC 8866 §5: "<type>=<value> where <type> is exactly one case-significant character ...
    // There MUST NOT be any whitespace on either side of the '=' sign."
    if (line.length < 2 || line[1] !== '=' || !/^[a-z]$/.test(line[0] ?? ''))
      return err(sdpError('EDGE_ERR_SDP_LINE', `line ${n} is not <type>=<value>`, `line ${n}`));
    const type = line[0] ?? '';
    const value = line.slice(2);
    const field = `${type}= line ${n}`;
    if (i === 0 && type !== 'v')
      return err(sdpError('EDGE_ERR_SDP_VERSION', 'a session description MUST begin with v=', field));
    switch (type) {
      case 'v':
        if (i !== 0 || value !== '0')
          return err(sdpError('EDGE_ERR_SDP_VERSION', 'v= must be the first line and be 0', field));
        version = 0;
        break;
      case 'o': {
        const p = splitSpaces(value);
        const [username, sessId, sessVersion, netType, addrType, address] = p;
        if (
          p.length !== 6 ||
          username === undefined ||
          sessId === undefined ||
          sessVersion === undefined ||
          netType === undefined ||
          addrType === undefined ||
          address === undefined
        )
          return err(sdpError('EDGE_ERR_SDP_ORIGIN', 'o= needs six fields', field));
        if (!digits.test(sessId) || !digits.test(sessVersion))
          return err(sdpError('EDGE_ERR_SDP_ORIGIN', 'o= sess-id and sess-version must be numeric', field));
        if (origin || media) return err(sdpError('EDGE_ERR_SDP_ORDER', 'o= out of place', field));
        origin = { username, sessId, sessVersion, netType, addrType, address };
        break;
      }
      case 's':
        if (sessionName !== undefined || media)
          return err(sdpError('EDGE_ERR_SDP_ORDER', 's= out of place', field));
        sessionName = value;
        break;
      case 'i':
        if (media) media.info = value;
        else session.info = value;
        break;
      case 'u':
        session.uri = value;
        break;
      case 'e':
        session.emails.push(value);
        break;
      case 'p':
        session.phones.push(value);
        break;
      case 'c': {
        const c = parseConnection(value, field);
        if (!c.ok) return c;
        if (media) media.connections.push(c.value);
        else session.connection = c.value;
        break;
      }
      case 'b':
        if (media) media.bandwidths.push(value);
        else session.bandwidths.push(value);
        break;
      case 't': {
        if (media) return err(sdpError('EDGE_ERR_SDP_ORDER', 't= after m=', field));
        const [start, stop, ...extra] = splitSpaces(value);
        if (
          start === undefined ||
          stop === undefined ||
          extra.length > 0 ||
          !digits.test(start) ||
          !digits.test(stop)
        )
          return err(sdpError('EDGE_ERR_SDP_TIMING', 't= needs <start-time> <stop-time>', field));
        session.timings.push({ start, stop, repeats: [] });
        break;
      }
      case 'r': {
        const last = session.timings[session.timings.length - 1];
        if (!last || media) return err(sdpError('EDGE_ERR_SDP_ORDER', 'r= must follow t=', field));
        last.repeats.push(value);
        break;
      }
      case 'z':
        session.zone = value;
        break;
      case 'k':
        if (media) media.key = value;
        else session.key = value;
        break;
      case 'a':
        if (value === '') return err(sdpError('EDGE_ERR_SDP_ATTRIBUTE', 'empty attribute', field));
        (media ? media.attributes : session.attributes).push(parseAttribute(value));
        break;
      case 'm': {
        const p = splitSpaces(value);
        const [type, portText, proto, ...formats] = p;
        if (type === undefined || portText === undefined || proto === undefined || formats.length === 0)
          return err(sdpError('EDGE_ERR_SDP_MEDIA', 'm= needs <media> <port> <proto> <fmt> ...', field));
        const m = /^([0-9]+)(?:\/([0-9]+))?$/.exec(portText);
        const port = m ? Number(m[1]) : NaN;
        if (!m || port > 65535)
          return err(sdpError('EDGE_ERR_SDP_MEDIA', `bad port '${portText}' in m= line`, field));
        media = { type, port, proto, formats, connections: [], bandwidths: [], attributes: [] };
        if (m[2] !== undefined) media.portCount = Number(m[2]);
        session.media.push(media);
        break;
      }
      default:
        // RFC 8866 §5: "An SDP parser MUST completely ignore or reject any session description
        // that contains a type letter that it does not understand."
        return err(sdpError('EDGE_ERR_SDP_UNKNOWN_TYPE', `unknown line type '${type}'`, field));
    }
  }
  if (version === undefined) return err(sdpError('EDGE_ERR_SDP_VERSION', 'missing v=', 'v='));
  if (!origin) return err(sdpError('EDGE_ERR_SDP_ORIGIN', 'missing o=', 'o='));
  if (sessionName === undefined) return err(sdpError('EDGE_ERR_SDP_NAME', 'missing s=', 's='));
  if (session.timings.length === 0) return err(sdpError('EDGE_ERR_SDP_TIMING', 'missing t=', 't='));
  // RFC 8866 §5.7: "A session description MUST contain either at least one "c=" line in each
  // media description or a single "c=" line at the session level."
  if (!session.connection) {
    const idx = session.media.findIndex((m) => m.connections.length === 0 && m.port !== 0);
    if (idx >= 0)
      return err(
        sdpError(
          'EDGE_ERR_SDP_CONNECTION',
          `media ${idx + 1} has no c= and there is none at session level`,
          'c=',
        ),
      );
  }
  return ok({ version, origin, sessionName, ...session });
}

function formatAttribute(a: SdpAttribute): string {
  return a.value === null ? `a=${a.name}` : `a=${a.name}:${a.value}`;
}

function formatConnection(c: SdpConnection): string {
  return `c=${c.netType} ${c.addrType} ${c.address}`;
}

/** Serialize in the order RFC 8866 §5 fixes: v o s i u e p c b t r z k a, then each m i c b k a. */
export function serializeSdp(s: SdpSession): string {
  const out: string[] = [];
  const o = s.origin;
  out.push(`v=${s.version}`);
  out.push(`o=${o.username} ${o.sessId} ${o.sessVersion} ${o.netType} ${o.addrType} ${o.address}`);
  out.push(`s=${s.sessionName}`);
  if (s.info !== undefined) out.push(`i=${s.info}`);
  if (s.uri !== undefined) out.push(`u=${s.uri}`);
  for (const e of s.emails) out.push(`e=${e}`);
  for (const p of s.phones) out.push(`p=${p}`);
  if (s.connection) out.push(formatConnection(s.connection));
  for (const b of s.bandwidths) out.push(`b=${b}`);
  for (const t of s.timings) {
    out.push(`t=${t.start} ${t.stop}`);
    for (const r of t.repeats) out.push(`r=${r}`);
  }
  if (s.zone !== undefined) out.push(`z=${s.zone}`);
  if (s.key !== undefined) out.push(`k=${s.key}`);
  for (const a of s.attributes) out.push(formatAttribute(a));
  for (const m of s.media) {
    const port = m.portCount === undefined ? String(m.port) : `${m.port}/${m.portCount}`;
    out.push(`m=${m.type} ${port} ${m.proto} ${m.formats.join(' ')}`);
    if (m.info !== undefined) out.push(`i=${m.info}`);
    for (const c of m.connections) out.push(formatConnection(c));
    for (const b of m.bandwidths) out.push(`b=${b}`);
    if (m.key !== undefined) out.push(`k=${m.key}`);
    for (const a of m.attributes) out.push(formatAttribute(a));
  }
  return out.join('\r\n') + '\r\n';
}

/** A deep copy, so helpers never mutate the description they were given. */
export function cloneSdp(s: SdpSession): SdpSession {
  return structuredClone(s);
}

// ---------------------------------------------------------------------------------------------
// Attribute views

export interface SdpCodec {
  payloadType: number;
  /** Encoding name as written (`PCMU`, `telephone-event`). */
  name: string;
  clockRate: number;
  channels?: number;
  fmtp?: string;
}

/** RFC 3551 §6 static audio payload types, used when an offer lists them without a=rtpmap. */
const staticPayloadTypes: Record<number, { name: string; clockRate: number }> = {
  0: { name: 'PCMU', clockRate: 8000 },
  3: { name: 'GSM', clockRate: 8000 },
  4: { name: 'G723', clockRate: 8000 },
  8: { name: 'PCMA', clockRate: 8000 },
  9: { name: 'G722', clockRate: 8000 },
  13: { name: 'CN', clockRate: 8000 },
  18: { name: 'G729', clockRate: 8000 },
};

export function attributeValues(attributes: readonly SdpAttribute[], name: string): string[] {
  const out: string[] = [];
  for (const a of attributes) if (a.name.toLowerCase() === name && a.value !== null) out.push(a.value);
  return out;
}

/** The codecs of an RTP m= line, in the m= line's order, from rtpmap/fmtp or the static table. */
export function codecsOf(m: SdpMedia): SdpCodec[] {
  const maps = new Map<number, SdpCodec>();
  for (const v of attributeValues(m.attributes, 'rtpmap')) {
    const r = /^([0-9]+)\s+([^/\s]+)\/([0-9]+)(?:\/([0-9]+))?/.exec(v);
    if (!r) continue;
    const c: SdpCodec = { payloadType: Number(r[1]), name: r[2] ?? '', clockRate: Number(r[3]) };
    if (r[4] !== undefined) c.channels = Number(r[4]);
    maps.set(c.payloadType, c);
  }
  const fmtps = new Map<number, string>();
  for (const v of attributeValues(m.attributes, 'fmtp')) {
    const r = /^([0-9]+)\s+(.*)$/.exec(v);
    if (r) fmtps.set(Number(r[1]), r[2] ?? '');
  }
  const out: SdpCodec[] = [];
  for (const f of m.formats) {
    if (!digits.test(f)) continue;
    const pt = Number(f);
    const known = maps.get(pt);
    const stat = staticPayloadTypes[pt];
    const c: SdpCodec | undefined = known ? { ...known } : stat ? { payloadType: pt, ...stat } : undefined;
    if (!c) continue;
    const fmtp = fmtps.get(pt);
    if (fmtp !== undefined) c.fmtp = fmtp;
    out.push(c);
  }
  return out;
}

export function ptimeOf(m: SdpMedia): number | undefined {
  const v = attributeValues(m.attributes, 'ptime')[0];
  const n = v === undefined ? NaN : Number(v.trim());
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

export interface SdpCrypto {
  tag: number;
  suite: string;
  keyParams: string;
  sessionParams: string[];
}

/** RFC 4568 §9.1: `a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]`. */
export function cryptoOf(m: SdpMedia): SdpCrypto[] {
  const out: SdpCrypto[] = [];
  for (const v of attributeValues(m.attributes, 'crypto')) {
    const [tag, suite, keyParams, ...sessionParams] = splitSpaces(v);
    if (tag === undefined || suite === undefined || keyParams === undefined || !digits.test(tag)) continue;
    out.push({ tag: Number(tag), suite, keyParams, sessionParams });
  }
  return out;
}

/** The connection that applies to a media description (RFC 8866 §5.7: media level overrides). */
export function connectionOf(s: SdpSession, m: SdpMedia): SdpConnection | undefined {
  return m.connections[0] ?? s.connection;
}

function directionIn(attributes: readonly SdpAttribute[]): SdpDirection | undefined {
  for (const a of attributes) {
    const n = a.name.toLowerCase();
    if (a.value === null && (directions as readonly string[]).includes(n)) return n as SdpDirection;
  }
  return undefined;
}

/**
 * RFC 3264 §5.1 / RFC 8866 §6.7: a direction at media level overrides one at session level, and
 * "If none of the attributes "sendonly", "recvonly", "inactive", and "sendrecv" is present, then
 * the default is "sendrecv"".
 */
export function directionOf(m: SdpMedia, session?: SdpSession): SdpDirection {
  return directionIn(m.attributes) ?? (session ? directionIn(session.attributes) : undefined) ?? 'sendrecv';
}

function setDirection(attributes: SdpAttribute[], dir: SdpDirection | undefined): SdpAttribute[] {
  const rest = attributes.filter(
    (a) => !(a.value === null && (directions as readonly string[]).includes(a.name)),
  );
  if (dir !== undefined) rest.push({ name: dir, value: null });
  return rest;
}

/**
 * A copy with every media description (or only `mediaIndex`) set to `dir`, written at media
 * level; a session-level direction is removed so it cannot contradict.
 */
export function withDirection(s: SdpSession, dir: SdpDirection, mediaIndex?: number): SdpSession {
  const copy = cloneSdp(s);
  const sessionDir = directionIn(copy.attributes);
  copy.attributes = setDirection(copy.attributes, undefined);
  copy.media.forEach((m, i) => {
    if (mediaIndex === undefined || i === mediaIndex) m.attributes = setDirection(m.attributes, dir);
    else if (sessionDir !== undefined && directionIn(m.attributes) === undefined)
      m.attributes = setDirection(m.attributes, sessionDir);
  });
  return copy;
}

/** The RFC 2543 hold address: `c=IN IP4 0.0.0.0` (RFC 3264 §8.4 keeps it recognisable). */
function isNullAddress(c: SdpConnection | undefined): boolean {
  return c !== undefined && c.address.split('/')[0] === '0.0.0.0';
}

/**
 * Whether a description puts the session on hold: RFC 3264 §8.4 "the offerer MUST mark the stream
 * as sendonly ... or inactive", and the older RFC 2543 form of a 0.0.0.0 connection address,
 * which RFC 3264 §8.4 says an answerer must still understand. True when every active (port ≠ 0)
 * stream is held and there is at least one.
 */
export function isHold(s: SdpSession): boolean {
  const active = s.media.filter((m) => m.port !== 0);
  if (active.length === 0) return false;
  return active.every((m) => {
    const d = directionOf(m, s);
    return d === 'sendonly' || d === 'inactive' || isNullAddress(connectionOf(s, m));
  });
}

/**
 * RFC 3264 §8: "When issuing an offer that modifies the session, the "o=" line of the new SDP
 * MUST be identical to that in the previous SDP, except that the version in the origin field MUST
 * increment by one from the previous SDP."
 */
export function bumpVersion(o: SdpOrigin): SdpOrigin {
  return { ...o, sessVersion: (BigInt(o.sessVersion) + 1n).toString() };
}

/** `bumpVersion` applied to a whole description (a copy). */
export function bumpSdpVersion(s: SdpSession): SdpSession {
  const copy = cloneSdp(s);
  copy.origin = bumpVersion(copy.origin);
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Codec negotiation (RFC 3264 §6)

export type NegotiationResult =
  | {
      ok: true;
      /** One answer m= line per offered m= line, in order (RFC 3264 §6: "MUST be the same"). */
      media: SdpMedia[];
      /** The audio codec chosen for each m= line, or null where the stream was rejected. */
      chosen: (SdpCodec | null)[];
    }
  | { ok: false; status: 488; reason: string };

export interface NegotiationOptions {
  /** Port written on accepted streams; the caller fills in its RTP port (default 9, discard). */
  rtpPort?: number;
  /** Our wish for the stream; combined with the offered direction per RFC 3264 §6.1. */
  direction?: SdpDirection;
  ptimeMs?: number;
}

const rtpProtos = new Set(['RTP/AVP', 'RTP/SAVP', 'RTP/AVPF', 'RTP/SAVPF']);

/**
 * RFC 3264 §6.1: "If a stream is offered as sendonly, the corresponding stream MUST be marked as
 * recvonly or inactive in the answer. If a media stream is listed as recvonly in the offer, the
 * answer MUST be marked as sendonly or inactive ... If an offered media stream is listed as
 * inactive, it MUST be marked as inactive in the answer."
 */
export function answerDirection(offered: SdpDirection, wanted: SdpDirection = 'sendrecv'): SdpDirection {
  const weSend = wanted === 'sendrecv' || wanted === 'sendonly';
  const weRecv = wanted === 'sendrecv' || wanted === 'recvonly';
  const theySend = offered === 'sendrecv' || offered === 'sendonly';
  const theyRecv = offered === 'sendrecv' || offered === 'recvonly';
  const send = weSend && theyRecv;
  const recv = weRecv && theySend;
  return send && recv ? 'sendrecv' : send ? 'sendonly' : recv ? 'recvonly' : 'inactive';
}

/**
 * Choose, for each offered stream, the codecs both sides support. `supported` lists encoding
 * names in our order of preference (`['PCMU', 'PCMA', 'telephone-event']`); the answer keeps the
 * offer's payload type numbers (RFC 3264 §6.1: "the answerer MUST use the same payload type
 * number as the offer for that format") and the offerer's order. `telephone-event` alone is not a
 * usable stream. Streams without a common codec, and non-audio streams, are rejected with port 0
 * (RFC 3264 §6: "An offered stream MAY be rejected in the answer. ... by setting the port in the
 * m= line to zero"); when nothing is left the offer as a whole fails with 488 (RFC 3261 §13.3.1.1
 * "Not Acceptable Here").
 */
export function negotiateCodecs(
  offer: SdpSession,
  supported: readonly string[],
  opts: NegotiationOptions = {},
): NegotiationResult {
  const wanted = new Set(supported.map((s) => s.toLowerCase()));
  const media: SdpMedia[] = [];
  const chosen: (SdpCodec | null)[] = [];
  for (const m of offer.media) {
    const reject = (): void => {
      media.push({
        type: m.type,
        port: 0,
        proto: m.proto,
        formats: [...m.formats],
        connections: [],
        bandwidths: [],
        attributes: [],
      });
      chosen.push(null);
    };
    if (m.port === 0 || m.type !== 'audio' || !rtpProtos.has(m.proto)) {
      reject();
      continue;
    }
    const common = codecsOf(m).filter((c) => wanted.has(c.name.toLowerCase()));
    const audio = common.filter(
      (c) => c.name.toLowerCase() !== 'telephone-event' && c.name.toLowerCase() !== 'cn',
    );
    const first = audio[0];
    if (!first) {
      reject();
      continue;
    }
    // RFC 4733 §7.1.1: the telephone-event payload's clock rate matches the audio codec's.
    const keep = common.filter(
      (c) => c.name.toLowerCase() !== 'telephone-event' || c.clockRate === first.clockRate,
    );
    const attributes: SdpAttribute[] = [];
    for (const c of keep) {
      const enc =
        c.channels === undefined ? `${c.name}/${c.clockRate}` : `${c.name}/${c.clockRate}/${c.channels}`;
      attributes.push({ name: 'rtpmap', value: `${c.payloadType} ${enc}` });
      if (c.fmtp !== undefined) attributes.push({ name: 'fmtp', value: `${c.payloadType} ${c.fmtp}` });
    }
    const ptime = opts.ptimeMs ?? ptimeOf(m);
    if (ptime !== undefined) attributes.push({ name: 'ptime', value: String(ptime) });
    attributes.push({ name: answerDirection(directionOf(m, offer), opts.direction), value: null });
    media.push({
      type: m.type,
      port: opts.rtpPort ?? 9,
      proto: m.proto,
      formats: keep.map((c) => String(c.payloadType)),
      connections: [],
      bandwidths: [],
      attributes,
    });
    chosen.push(first);
  }
  if (chosen.every((c) => c === null))
    return { ok: false, status: 488, reason: 'no common codec in any offered stream' };
  return { ok: true, media, chosen };
}

export interface LocalSdpParams {
  /** Our RTP address (IPv4 or IPv6). */
  address: string;
  username?: string;
  sessId: string;
  sessVersion?: string;
  sessionName?: string;
}

function addrType(address: string): string {
  return address.includes(':') ? 'IP6' : 'IP4';
}

/** Wrap negotiated answer media into a full description with our origin and connection. */
export function buildSdp(local: LocalSdpParams, media: SdpMedia[]): SdpSession {
  const at = addrType(local.address);
  return {
    version: 0,
    origin: {
      username: local.username ?? 'edgeline',
      sessId: local.sessId,
      sessVersion: local.sessVersion ?? local.sessId,
      netType: 'IN',
      addrType: at,
      address: local.address,
    },
    sessionName: local.sessionName ?? 'edgeline',
    connection: { netType: 'IN', addrType: at, address: local.address },
    emails: [],
    phones: [],
    bandwidths: [],
    timings: [{ start: '0', stop: '0', repeats: [] }],
    attributes: [],
    media,
  };
}

const knownDynamic: Record<string, { clockRate: number; fmtp?: string }> = {
  'telephone-event': { clockRate: 8000, fmtp: '0-16' },
};

/**
 * An audio offer for the codecs we support, in our order: static payload types keep their RFC 3551
 * numbers; dynamic ones (telephone-event) are numbered from 101.
 */
export function createAudioOffer(
  local: LocalSdpParams & {
    rtpPort: number;
    codecs: readonly string[];
    ptimeMs?: number;
    direction?: SdpDirection;
  },
): SdpSession {
  const attributes: SdpAttribute[] = [];
  const formats: string[] = [];
  let nextDynamic = 101;
  for (const name of local.codecs) {
    const staticPt = Object.entries(staticPayloadTypes).find(
      ([, v]) => v.name.toLowerCase() === name.toLowerCase(),
    );
    if (staticPt) {
      formats.push(staticPt[0]);
      attributes.push({
        name: 'rtpmap',
        value: `${staticPt[0]} ${staticPt[1].name}/${staticPt[1].clockRate}`,
      });
      continue;
    }
    const dyn = knownDynamic[name.toLowerCase()];
    if (!dyn) continue;
    const pt = nextDynamic++;
    formats.push(String(pt));
    attributes.push({ name: 'rtpmap', value: `${pt} ${name}/${dyn.clockRate}` });
    if (dyn.fmtp !== undefined) attributes.push({ name: 'fmtp', value: `${pt} ${dyn.fmtp}` });
  }
  if (local.ptimeMs !== undefined) attributes.push({ name: 'ptime', value: String(local.ptimeMs) });
  attributes.push({ name: local.direction ?? 'sendrecv', value: null });
  return buildSdp(local, [
    {
      type: 'audio',
      port: local.rtpPort,
      proto: 'RTP/AVP',
      formats,
      connections: [],
      bandwidths: [],
      attributes,
    },
  ]);
}
