/**
 * Media anchoring as pure SDP policy: the gateway puts itself in the media path by rewriting
 * every description that crosses the B2BUA so that each side sends its RTP to a port of ours
 * (RFC 3264 §5: the connection address and port of an offer or answer are where its author
 * wants to receive). The codec list offered on the far leg is filtered by that leg's policy, and
 * G.711 µ-law and A-law stand in for each other because the relay transcodes between them.
 *
 * Only the first audio stream is anchored; other streams are disabled on the far leg (RFC 3264
 * §8.2: "A stream that is offered with a port of zero ... is disabled").
 */
import { err, ok, type Result } from '../../../../base/result.ts';
import {
  codecsOf,
  connectionOf,
  directionOf,
  type SdpAttribute,
  type SdpCodec,
  type SdpDirection,
  type SdpMedia,
  type SdpSession,
  cloneSdp,
} from './sdp.ts';
import type { G711Law } from '../../../../base/signal/g711.ts';
import type { RtpAddress } from '../rtp/rtp-latch.ts';
import { chooseCrypto, parseCrypto } from '../srtp/sdes.ts';
import type { SrtpSuite } from '../srtp/srtp.ts';

/** Payload type numbers a leg negotiated, −1 where the leg has no such format. */
export interface LegPayloadTypes {
  pcmu: number;
  pcma: number;
  telephoneEvent: number;
  /** The law this leg is sent when the packet's own law is not one it negotiated. */
  sendLaw: G711Law | null;
}

/** What one description says about its anchored (first active audio) stream. */
export interface StreamInfo {
  index: number;
  /** Where its author receives RTP; undefined on RFC 2543 hold (c=0.0.0.0) or a rejected stream. */
  remote: RtpAddress | undefined;
  /** RFC 3605 `a=rtcp`, else RFC 3550 §11 "the next higher (odd) destination port". */
  remoteRtcp: RtpAddress | undefined;
  direction: SdpDirection;
  codecs: SdpCodec[];
  /** The origin's session id and version (RFC 8866 §5.2), to tell a repeated answer from a new offer. */
  origin: string;
  /** Transport protocol of the m= line (`RTP/AVP`, `RTP/SAVP`). */
  proto: string;
  /** RFC 4568 `a=crypto` values of the stream, in the author's order. */
  crypto: string[];
}

/** How the anchored stream is secured on one leg: the m= protocol and our a=crypto lines. */
export interface LegTransport {
  proto: string;
  crypto: readonly string[];
}

export interface AnchorFailure {
  status: number;
  reason: string;
}

export interface LocalMediaAddress {
  address: string;
  rtpPort: number;
}

const lawOfName = (name: string): G711Law | null => {
  const n = name.toUpperCase();
  return n === 'PCMU' ? 'pcmu' : n === 'PCMA' ? 'pcma' : null;
};
const isTelephoneEvent = (c: SdpCodec): boolean => c.name.toLowerCase() === 'telephone-event';
const isAudioCodec = (c: SdpCodec): boolean => !isTelephoneEvent(c) && c.name.toLowerCase() !== 'cn';
const STATIC_PT: Record<G711Law, number> = { pcmu: 0, pcma: 8 };
const ICE_AND_RTCP = new Set([
  'rtcp',
  'candidate',
  'ice-ufrag',
  'ice-pwd',
  'ice-options',
  'ice-lite',
  'remote-candidates',
  'end-of-candidates',
  'rtcp-mux',
]);

function isNullHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** The stream the gateway anchors: the first audio m= line with a non-zero port. */
export function audioStream(s: SdpSession): StreamInfo | undefined {
  const index = s.media.findIndex((m) => m.type === 'audio' && m.port !== 0 && m.proto.startsWith('RTP/'));
  const m = s.media[index];
  if (!m) return undefined;
  const host = connectionOf(s, m)?.address.split('/')[0];
  const remote = host && !isNullHost(host) ? { address: host, port: m.port } : undefined;
  let remoteRtcp = remote ? { address: remote.address, port: remote.port + 1 } : undefined;
  // RFC 3605 §2.1: "a=rtcp:<port> [<nettype> <addrtype> <connection-address>]".
  const rtcpAttr = m.attributes.find((a) => a.name.toLowerCase() === 'rtcp' && a.value !== null);
  if (remote && rtcpAttr?.value) {
    const [portText, , , address] = rtcpAttr.value.trim().split(/\s+/);
    const port = Number(portText);
    if (Number.isInteger(port) && port > 0 && port < 65536)
      remoteRtcp = { address: address && !isNullHost(address) ? address : remote.address, port };
  }
  return {
    index,
    remote,
    remoteRtcp,
    direction: directionOf(m, s),
    codecs: codecsOf(m),
    origin: `${s.origin.sessId}/${s.origin.sessVersion}`,
    proto: m.proto,
    crypto: m.attributes
      .filter((a) => a.name.toLowerCase() === 'crypto' && a.value !== null)
      .map((a) => a.value ?? ''),
  };
}

function allowed(policy: readonly string[]): (c: SdpCodec) => boolean {
  const names = new Set(policy.map((p) => p.toLowerCase()));
  return (c) => names.has(c.name.toLowerCase());
}

/**
 * The codecs to offer on the far leg for what the near leg offered: the near offer filtered by
 * the near policy, then by the far policy, plus the G.711 law the near side did not offer when
 * it offered the other one (the relay transcodes). Payload type numbers stay the offerer's
 * (RFC 3264 §5.1 leaves them to the offerer; keeping them saves rewriting where both match).
 */
export function codecsForFarOffer(
  offered: readonly SdpCodec[],
  nearPolicy: readonly string[],
  farPolicy: readonly string[],
): Result<{ near: SdpCodec[]; far: SdpCodec[] }, AnchorFailure> {
  const near = offered.filter(allowed(nearPolicy));
  if (!near.some(isAudioCodec))
    return err({ status: 488, reason: 'Not Acceptable Here (no codec of ours offered)' });
  const farOk = allowed(farPolicy);
  const far = near.filter(farOk);
  const usedPts = new Set(offered.map((c) => c.payloadType));
  const nearLaws = new Set(near.map((c) => lawOfName(c.name)).filter((l) => l !== null));
  if (nearLaws.size > 0) {
    for (const law of ['pcmu', 'pcma'] as const) {
      const name = law === 'pcmu' ? 'PCMU' : 'PCMA';
      const candidate: SdpCodec = { payloadType: STATIC_PT[law], name, clockRate: 8000 };
      if (!nearLaws.has(law) && farOk(candidate) && !usedPts.has(STATIC_PT[law])) {
        // Transcoded formats go after what the offerer can send as it is.
        const teAt = far.findIndex(isTelephoneEvent);
        far.splice(teAt < 0 ? far.length : teAt, 0, candidate);
      }
    }
  }
  if (!far.some(isAudioCodec))
    return err({ status: 488, reason: 'Not Acceptable Here (no codec the far side may use)' });
  return ok({ near, far });
}

/**
 * The codec for the offerer's leg once the answerer chose: the answerer's law when the offerer
 * offered it (no transcoding), else the other G.711 law it offered (transcoding), else the very
 * codec the answerer chose (passed through untouched). Telephone-events only when both sides
 * have them.
 */
export function codecsForOffererAnswer(
  nearOffered: readonly SdpCodec[],
  answered: readonly SdpCodec[],
): Result<SdpCodec[], AnchorFailure> {
  const chosen = answered.find(isAudioCodec);
  if (!chosen) return err({ status: 488, reason: 'Not Acceptable Here (answer has no audio codec)' });
  const law = lawOfName(chosen.name);
  const same = nearOffered.find(
    (c) => c.name.toLowerCase() === chosen.name.toLowerCase() && c.clockRate === chosen.clockRate,
  );
  const other = law ? nearOffered.find((c) => lawOfName(c.name) !== null) : undefined;
  const audio = same ?? other;
  if (!audio) return err({ status: 488, reason: 'Not Acceptable Here (answer codec not offered)' });
  const out = [audio];
  const te = nearOffered.find(isTelephoneEvent);
  const teAnswered = answered.find(isTelephoneEvent);
  if (te && teAnswered) out.push(teAnswered.fmtp === undefined ? te : { ...te, fmtp: teAnswered.fmtp });
  return ok(out);
}

/** The payload types a leg negotiated, for the relay's rewrite and transcoding tables. */
export function legPayloadTypes(codecs: readonly SdpCodec[]): LegPayloadTypes {
  const out: LegPayloadTypes = { pcmu: -1, pcma: -1, telephoneEvent: -1, sendLaw: null };
  for (const c of codecs) {
    const law = lawOfName(c.name);
    if (law && out[law] < 0) out[law] = c.payloadType;
    if (law && out.sendLaw === null) out.sendLaw = law;
    if (isTelephoneEvent(c) && out.telephoneEvent < 0) out.telephoneEvent = c.payloadType;
  }
  return out;
}

function codecAttributes(codecs: readonly SdpCodec[]): SdpAttribute[] {
  const out: SdpAttribute[] = [];
  for (const c of codecs) {
    const enc =
      c.channels === undefined ? `${c.name}/${c.clockRate}` : `${c.name}/${c.clockRate}/${c.channels}`;
    out.push({ name: 'rtpmap', value: `${c.payloadType} ${enc}` });
    if (c.fmtp !== undefined) out.push({ name: 'fmtp', value: `${c.payloadType} ${c.fmtp}` });
  }
  return out;
}

/**
 * A copy of `s` with the anchored stream pointing at `local` and listing `codecs`; other streams
 * disabled; ICE and `a=rtcp` lines of the author removed (they describe the author's transport
 * addresses, not ours). An RFC 2543 hold address (0.0.0.0) is kept so the far side sees the hold.
 * The author's `a=crypto` lines never cross: SRTP is terminated per leg (RFC 4568 keys belong to
 * the two ends of one leg), so the stream carries `transport` — ours — or plain RTP/AVP.
 */
export function rewriteForFarLeg(
  s: SdpSession,
  stream: StreamInfo,
  local: LocalMediaAddress,
  codecs: readonly SdpCodec[],
  transport: LegTransport = { proto: 'RTP/AVP', crypto: [] },
): SdpSession {
  const copy = cloneSdp(s);
  const held = stream.remote === undefined;
  const addrType = local.address.includes(':') ? 'IP6' : 'IP4';
  const conn = {
    netType: 'IN',
    addrType,
    address: held ? (addrType === 'IP6' ? '::' : '0.0.0.0') : local.address,
  };
  copy.origin = { ...copy.origin, netType: 'IN', addrType, address: local.address };
  if (copy.connection) copy.connection = { ...conn };
  copy.attributes = copy.attributes.filter((a) => !ICE_AND_RTCP.has(a.name.toLowerCase()));
  copy.media = copy.media.map((m, i): SdpMedia => {
    if (i !== stream.index)
      return {
        type: m.type,
        port: 0,
        proto: m.proto,
        formats: [...m.formats],
        connections: [],
        bandwidths: [],
        attributes: [],
      };
    const kept = m.attributes.filter((a) => {
      const n = a.name.toLowerCase();
      return n !== 'rtpmap' && n !== 'fmtp' && n !== 'crypto' && !ICE_AND_RTCP.has(n);
    });
    const crypto = transport.crypto.map((v): SdpAttribute => ({ name: 'crypto', value: v }));
    return {
      ...m,
      port: local.rtpPort,
      proto: transport.proto,
      formats: codecs.map((c) => String(c.payloadType)),
      connections: copy.connection ? [] : [{ ...conn }],
      attributes: [...codecAttributes(codecs), ...kept, ...crypto],
    };
  });
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Per-endpoint policy: codecs, SRTP (RFC 3711 keyed by SDES, RFC 4568), direct media.
// ---------------------------------------------------------------------------------------------

/** SRTP policy of a trunk or extension. */
export type SrtpPolicy = 'off' | 'optional' | 'required';

/** What the gateway does with one endpoint's media. */
export interface EndpointMediaPolicy {
  codecs: readonly string[];
  /**
   * `off`: plain RTP only (an RTP/SAVP offer is refused); `optional`: SRTP when the endpoint
   * offers a=crypto, RTP/AVP in our offers; `required`: SRTP only, RTP/SAVP with our key in offers.
   */
  srtp: SrtpPolicy;
  /** The endpoint may exchange media with the other party directly (no anchoring). */
  directMedia: boolean;
}

/** Suites we negotiate, in our preference order. */
export const SRTP_SUITES_ALLOWED: readonly SrtpSuite[] = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
];

/** Media passes end to end only when both endpoints allow it and nothing of ours needs the audio. */
export function isDirectMedia(
  a: EndpointMediaPolicy | undefined,
  b: EndpointMediaPolicy | undefined,
  needsMedia: boolean,
): boolean {
  return a?.directMedia === true && b?.directMedia === true && !needsMedia;
}

/** The security an offer asks for, as the gateway will answer it. */
export type OfferSecurity =
  { secure: false } | { secure: true; tag: number; suite: SrtpSuite; remoteKey: Buffer };

const isSavp = (proto: string): boolean => /SAVP/i.test(proto);

/**
 * Decide how to answer an offer's security under the offering endpoint's policy.
 * RFC 4568 §7.1.2: the answerer selects one of the offered crypto attributes and answers with it
 * and its own key, "If the answerer cannot find a valid crypto attribute ... the media stream
 * MUST be rejected" — for RTP/SAVP. An RTP/AVP offer carrying a=crypto (best-effort SRTP) may be
 * answered plain. The policy adds: `off` never does SRTP, `required` never does plain RTP.
 */
export function securityOfOffer(
  policy: SrtpPolicy,
  stream: StreamInfo,
): Result<OfferSecurity, AnchorFailure> {
  const savp = isSavp(stream.proto);
  if (policy !== 'off' && stream.crypto.length > 0) {
    const c = chooseCrypto(stream.crypto, SRTP_SUITES_ALLOWED);
    if (c.ok)
      return ok({ secure: true, tag: c.value.tag, suite: c.value.suite, remoteKey: c.value.remoteKeySalt });
    if (savp || policy === 'required')
      return err({ status: 488, reason: `Not Acceptable Here (${c.error.message})` });
    return ok({ secure: false });
  }
  if (savp)
    return err({
      status: 488,
      reason: 'Not Acceptable Here (SRTP offered without usable keys or not allowed)',
    });
  if (policy === 'required') return err({ status: 488, reason: 'Not Acceptable Here (SRTP required)' });
  return ok({ secure: false });
}

/** The a=crypto value (without `a=crypto:`) announcing our key. */
export function cryptoValue(tag: number, suite: SrtpSuite, keySalt: Uint8Array): string {
  return `${tag} ${suite} inline:${Buffer.from(keySalt).toString('base64')}`;
}

/** What we offer an endpoint: RTP/SAVP with our key when it requires SRTP, else plain RTP/AVP. */
export function offerTransport(policy: SrtpPolicy, localKey: Uint8Array): LegTransport {
  return policy === 'required'
    ? { proto: 'RTP/SAVP', crypto: [cryptoValue(1, 'AES_CM_128_HMAC_SHA1_80', localKey)] }
    : { proto: 'RTP/AVP', crypto: [] };
}

/** Our answer's transport to an offer we decided `security` for (RFC 3264 §6: same protocol). */
export function answerTransport(
  offer: StreamInfo,
  security: OfferSecurity,
  localKey: Uint8Array,
): LegTransport {
  if (!security.secure) return { proto: isSavp(offer.proto) ? 'RTP/AVP' : offer.proto, crypto: [] };
  return { proto: offer.proto, crypto: [cryptoValue(security.tag, security.suite, localKey)] };
}

/**
 * The peer's key from its answer to our secure offer. RFC 4568 §7.1.3: the answer's crypto
 * attribute carries the tag of the offered one it accepts, with the same suite.
 */
export function keyOfAnswer(
  offered: { tag: number; suite: SrtpSuite },
  stream: StreamInfo,
): Result<Buffer, AnchorFailure> {
  for (const line of stream.crypto) {
    const c = parseCrypto(line);
    if (!c.ok || c.value.tag !== offered.tag) continue;
    const key = c.value.keys[0];
    if (c.value.suite !== offered.suite || !key || c.value.keys.length !== 1 || key.mki !== undefined)
      return err({ status: 488, reason: 'Not Acceptable Here (answer a=crypto does not match our offer)' });
    return ok(key.keySalt);
  }
  return err({ status: 488, reason: 'Not Acceptable Here (SRTP required, answer has no a=crypto)' });
}
