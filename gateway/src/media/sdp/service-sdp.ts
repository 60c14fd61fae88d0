/**
 * Offer/answer (RFC 3264) for media the gateway terminates itself: one audio stream of G.711 µ-law
 * or A-law with RFC 4733 telephone-events, 20 ms packets.
 */
import { randomInt } from 'node:crypto';
import type { Result } from '../../../../base/result.ts';
import { err, ok } from '../../../../base/result.ts';
import {
  answerDirection,
  bumpVersion,
  buildSdp,
  codecsOf,
  connectionOf,
  createAudioOffer,
  directionOf,
  negotiateCodecs,
  parseSdp,
  serializeSdp,
  withDirection,
  type SdpDirection,
} from './sdp.ts';
import type { G711Law } from '../../../../base/signal/g711.ts';
import type { RtpAddress } from '../rtp/rtp-latch.ts';

/** Our codecs in order of preference (RFC 3551 static 0 and 8, RFC 4733 dynamic). */
export const SERVICE_CODECS = ['PCMU', 'PCMA', 'telephone-event'] as const;
export const SERVICE_PTIME_MS = 20;

/** What a media session needs to know from the negotiation. */
export interface MediaPlan {
  law: G711Law;
  audioPayloadType: number;
  telephoneEventPayloadType: number | undefined;
  /** Where the peer said it receives (c=/m= of its description); undefined on hold (0.0.0.0) or late offer. */
  remote: RtpAddress | undefined;
  /** Our side of the negotiated direction. */
  direction: SdpDirection;
  ptimeMs: number;
}

export interface LocalMedia {
  address: string;
  rtpPort: number;
}

export type SdpFailure = { status: number; reason: string };

function newSessId(): string {
  // RFC 8866 §5.2: "the method of <sess-id> allocation is up to the creating tool, but a
  // timestamp ... or a random number is suggested"; a random one needs no clock.
  return String(randomInt(1, 2 ** 47));
}

/**
 * Answer an offer. RFC 3264 §6: "For each "m=" line in the offer, there MUST be a corresponding
 * "m=" line in the answer"; we accept the first audio stream we share a codec with and reject
 * the others with port 0 (one RTP socket per service call). Nothing acceptable → 488.
 */
export function answerServiceOffer(
  offerSdp: Buffer,
  local: LocalMedia,
): Result<{ plan: MediaPlan; sdp: Buffer }, SdpFailure> {
  const parsed = parseSdp(offerSdp);
  // RFC 3261 §21.4.26 / RFC 3264: an offer we cannot read is not acceptable here.
  if (!parsed.ok)
    return err({ status: 488, reason: `Not Acceptable Here (bad SDP: ${parsed.error.message})` });
  const offer = parsed.value;
  const negotiated = negotiateCodecs(offer, SERVICE_CODECS, {
    rtpPort: local.rtpPort,
    ptimeMs: SERVICE_PTIME_MS,
  });
  if (!negotiated.ok) return err({ status: 488, reason: 'Not Acceptable Here (no common codec)' });
  const index = negotiated.chosen.findIndex((c) => c !== null);
  const chosen = negotiated.chosen[index];
  const offered = offer.media[index];
  const answered = negotiated.media[index];
  if (!chosen || !offered || !answered)
    return err({ status: 488, reason: 'Not Acceptable Here (no common codec)' });
  const media = negotiated.media.map((m, i) =>
    i === index || m.port === 0 ? m : { ...m, port: 0, connections: [], bandwidths: [], attributes: [] },
  );
  const telephoneEvent = codecsOf(answered).find((c) => c.name.toLowerCase() === 'telephone-event');
  const conn = connectionOf(offer, offered);
  const host = conn?.address.split('/')[0];
  // RFC 3264 §8.4 (RFC 2543 hold): c=0.0.0.0 means "do not send"; port 0 is a rejected stream.
  const remote =
    host && host !== '0.0.0.0' && host !== '::' && offered.port !== 0
      ? { address: host, port: offered.port }
      : undefined;
  const plan: MediaPlan = {
    law: chosen.name.toUpperCase() === 'PCMA' ? 'pcma' : 'pcmu',
    audioPayloadType: chosen.payloadType,
    telephoneEventPayloadType: telephoneEvent?.payloadType,
    remote,
    direction: answerDirection(directionOf(offered, offer)),
    ptimeMs: SERVICE_PTIME_MS,
  };
  const sdp = serializeSdp(buildSdp({ address: local.address, sessId: newSessId() }, media));
  return ok({ plan, sdp: Buffer.from(sdp) });
}

/**
 * Our offer for an INVITE that carried none (RFC 3261 §13.2.1: the offer then goes in the 2xx and
 * the answer comes in the ACK). We offer a single audio codec, µ-law, plus telephone-event: RFC
 * 3264 §6.1 lets the answerer use only formats listed in the offer, so the media plan is fixed by
 * our offer alone and does not depend on reading the ACK. The peer's address is learnt by
 * latching (symmetric RTP) from its first packet.
 */
export function serviceOffer(local: LocalMedia): { plan: MediaPlan; sdp: Buffer } {
  const offer = createAudioOffer({
    address: local.address,
    sessId: newSessId(),
    rtpPort: local.rtpPort,
    codecs: ['PCMU', 'telephone-event'],
    ptimeMs: SERVICE_PTIME_MS,
  });
  const te = codecsOf(
    offer.media[0] ?? {
      type: 'audio',
      port: 0,
      proto: 'RTP/AVP',
      formats: [],
      connections: [],
      bandwidths: [],
      attributes: [],
    },
  ).find((c) => c.name === 'telephone-event');
  return {
    plan: {
      law: 'pcmu',
      audioPayloadType: 0,
      telephoneEventPayloadType: te?.payloadType,
      remote: undefined,
      direction: 'sendrecv',
      ptimeMs: SERVICE_PTIME_MS,
    },
    sdp: Buffer.from(serializeSdp(offer)),
  };
}

/**
 * The answer to our offer (`serviceOffer`): where the peer receives. RFC 3264 §6.1: the answerer
 * "MUST" use only formats of the offer, and ours has one audio codec, so only the address is news.
 * A rejected stream (port 0) or an answer we cannot read is a failed negotiation (488); a hold
 * address (0.0.0.0) is an address we do not send to (undefined).
 */
export function remoteOfServiceAnswer(answer: Buffer): Result<RtpAddress | undefined, SdpFailure> {
  const parsed = parseSdp(answer);
  if (!parsed.ok)
    return err({ status: 488, reason: `Not Acceptable Here (bad SDP: ${parsed.error.message})` });
  const media = parsed.value.media.find((m) => m.type === 'audio');
  if (!media || media.port === 0) return err({ status: 488, reason: 'Not Acceptable Here (audio refused)' });
  const host = connectionOf(parsed.value, media)?.address.split('/')[0];
  if (!host) return err({ status: 488, reason: 'Not Acceptable Here (no connection address)' });
  return ok(host === '0.0.0.0' || host === '::' ? undefined : { address: host, port: media.port });
}

/**
 * Our answer to a new offer in the dialog of a leg the gateway terminates (a re-INVITE or UPDATE:
 * a session refresh, or the caller putting us on hold and back). The stream stays what it is —
 * same port, same codec — and only the direction follows the offer (RFC 3264 §6.1: sendonly is
 * answered recvonly, inactive inactive). RFC 3264 §8: an unchanged description keeps its o=
 * version; a changed one is the previous o= line with the version incremented by one.
 */
export function reanswerServiceOffer(previous: Buffer, offer: Buffer): Result<Buffer, SdpFailure> {
  const prev = parseSdp(previous);
  const off = parseSdp(offer);
  if (!prev.ok) return err({ status: 500, reason: 'Server Internal Error (our description)' });
  if (!off.ok) return err({ status: 488, reason: `Not Acceptable Here (bad SDP: ${off.error.message})` });
  const offered = off.value.media.find((m) => m.type === 'audio' && m.port !== 0);
  const ours = prev.value.media[0];
  if (!offered || !ours) return err({ status: 488, reason: 'Not Acceptable Here (no audio stream)' });
  const want = answerDirection(directionOf(offered, off.value));
  if (directionOf(ours, prev.value) === want) return ok(previous);
  const changed = withDirection(prev.value, want, 0);
  changed.origin = bumpVersion(prev.value.origin);
  return ok(Buffer.from(serializeSdp(changed)));
}

/** Whether the negotiated direction lets us send, and whether we expect to receive. */
export function sends(d: SdpDirection): boolean {
  return d === 'sendrecv' || d === 'sendonly';
}

export function receives(d: SdpDirection): boolean {
  return d === 'sendrecv' || d === 'recvonly';
}
