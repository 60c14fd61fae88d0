/**
 * Music on hold as SDP policy: who is held after an offer/answer exchange, and the directions the
 * gateway writes on each leg so that the held party accepts the music the gateway sends it.
 *
 * RFC 3264 §8.4: "If the stream to be placed on hold was previously a sendrecv media stream, it is
 * placed on hold by marking it sendonly. If the stream to be placed on hold was previously a
 * recvonly media stream, it is placed on hold by marking it inactive." The older RFC 2543 form, a
 * connection address of 0.0.0.0, is understood too (RFC 3264 §8.4 keeps it for compatibility).
 *
 * The gateway anchors both legs, so each leg is its own offer/answer exchange with the gateway:
 * on the held party's leg it is the gateway, not the holder, that sends (the music). A holder that
 * offers a=inactive would, relayed as is, make the held party refuse to receive anything; on the
 * held leg the gateway offers a=sendonly instead (the held party answers recvonly), and on the
 * holder's leg it answers a=inactive as RFC 3264 §6.1 requires: "If an offered media stream is
 * listed as inactive, it MUST be marked as inactive in the answer."
 */
import type { SdpDirection } from './sdp.ts';
import type { LegSide } from '../engine/engine.ts';

/** What the hold decision needs of one description's anchored stream. */
export interface HoldStream {
  direction: SdpDirection;
  /** Undefined on RFC 2543 hold (c=0.0.0.0). */
  remote: { address: string; port: number } | undefined;
}

/** The author of `s` does not want to receive: it holds the other party (RFC 3264 §8.4). */
export function holds(s: HoldStream): boolean {
  return s.direction === 'sendonly' || s.direction === 'inactive' || s.remote === undefined;
}

/**
 * The party held once an exchange completes: the one facing a holder, when exactly one side holds.
 * Both holding (or neither) plays nothing: nobody waits for the other.
 */
export function heldSide(offerFrom: LegSide, offer: HoldStream, answer: HoldStream): LegSide | undefined {
  const offererHolds = holds(offer);
  const answererHolds = holds(answer);
  if (offererHolds === answererHolds) return undefined;
  const answerer: LegSide = offerFrom === 'a' ? 'b' : 'a';
  return offererHolds ? answerer : offerFrom;
}

/**
 * The direction to write in the offer relayed to the party about to be held, or undefined to
 * relay the holder's own. Only an inactive hold offer changes: the gateway will send the music, so
 * the held party is offered sendonly (it answers recvonly, RFC 3264 §6.1).
 */
export function offerDirectionToHeld(holderOffer: HoldStream): SdpDirection | undefined {
  return holderOffer.direction === 'inactive' ? 'sendonly' : undefined;
}

/**
 * The direction to write in the answer relayed back to a holder, or undefined to relay the held
 * party's own: an inactive offer is answered inactive (RFC 3264 §6.1), whatever the held party
 * answered to the gateway's sendonly.
 */
export function answerDirectionToHolder(holderOffer: HoldStream): SdpDirection | undefined {
  return holderOffer.direction === 'inactive' ? 'inactive' : undefined;
}

/**
 * The direction to write in an answer relayed to the held party when the holder, answering the
 * held party's offer, keeps holding with a=inactive: the held party offered to receive (sendrecv or
 * recvonly), so the gateway may answer sendonly (RFC 3264 §6.1: a sendrecv stream "MAY be marked
 * as sendonly, recvonly, sendrecv, or inactive"; a recvonly one "MUST be marked as sendonly or
 * inactive") and sends it the music.
 */
export function answerDirectionToHeld(
  heldOffer: HoldStream,
  holderAnswer: HoldStream,
): SdpDirection | undefined {
  if (holderAnswer.direction !== 'inactive') return undefined;
  return heldOffer.direction === 'sendrecv' || heldOffer.direction === 'recvonly' ? 'sendonly' : undefined;
}
