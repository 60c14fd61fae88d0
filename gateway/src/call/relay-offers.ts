/**
 * The offer/answer state of the two dialogs of a relayed call once it is answered: one sans-I/O
 * `OfferAnswer` (RFC 3264 §4) per side. An offer from one party is an offer received on its
 * dialog and, once relayed, an offer sent on the other party's; the far party's answer completes
 * both. What an offer that finds another outstanding gets follows from the two states:
 *
 * - RFC 3261 §14.2: "A UAS that receives an INVITE on a dialog while an INVITE it had sent on that
 *   dialog is in progress MUST return a 491 (Request Pending)" — the other party's offer, relayed
 *   to this one, is ours on this dialog: glare.
 * - RFC 3261 §14.2: "A UAS that receives a second INVITE before it sends the final response to a
 *   first INVITE with a lower CSeq sequence number on the same dialog MUST return a 500 (Server
 *   Internal Error) response and MUST include a Retry-After header field with a randomly chosen
 *   value of between 0 and 10 seconds" — the same party offering again; RFC 3311 §5.2 says the
 *   same of UPDATE.
 *
 * The initial exchange is the B2BUA's (forks, early media, late offers); this starts from the
 * answered call with both sides stable.
 */
import {
  OfferAnswer,
  type OfferAnswerDump,
  type OfferResult,
  type SdpCarrier,
} from '../media/sdp/offer-answer.ts';
import { parseSdp, type SdpSession } from '../media/sdp/sdp.ts';

export type RelaySide = 'a' | 'b';
export type OfferMethod = 'INVITE' | 'UPDATE';

const other = (s: RelaySide): RelaySide => (s === 'a' ? 'b' : 'a');
const carrierOf = (m: OfferMethod): SdpCarrier => (m === 'INVITE' ? 'invite' : 'update');

function sessionOf(body: Buffer | undefined): SdpSession | undefined {
  if (!body || body.length === 0) return undefined;
  const parsed = parseSdp(body);
  return parsed.ok ? parsed.value : undefined;
}

export class RelayOffers {
  private readonly sides: Record<RelaySide, OfferAnswer>;

  constructor(random: () => number = Math.random) {
    this.sides = { a: new OfferAnswer(random), b: new OfferAnswer(random) };
  }

  /**
   * An INVITE or UPDATE from `near` to be relayed: `ok` when it may go on (the offer is now
   * outstanding on both dialogs), else the status to answer it with. An UPDATE without a body
   * carries no offer (RFC 3311 §5.1) and is always let through.
   */
  offer(near: RelaySide, method: OfferMethod, body: Buffer, relayedBody: Buffer | undefined): OfferResult {
    const sdp = sessionOf(body);
    if (body.length === 0 && method === 'UPDATE') return { ok: true };
    const n = this.sides[near];
    const f = this.sides[other(near)];
    const took = sdp ? n.receiveOffer(sdp, carrierOf(method)) : n.receiveOfferlessInvite();
    if (!took.ok) return took;
    const relayed = sessionOf(relayedBody);
    const sent = relayed ? f.sendOffer(relayed, carrierOf(method)) : f.sendOfferlessInvite();
    if (!sent.ok) {
      // Something of ours is outstanding toward the far party (a transfer's resume): glare there.
      n.offerRejected();
      return { ok: false, status: 491, reason: 'Request Pending' };
    }
    return { ok: true };
  }

  /**
   * The far party's final response to the relayed offer, its body and the body relayed to `near`.
   * A 2xx answers the offer on both dialogs (or, for an offerless INVITE, carries the far party's
   * offer, answered in `near`'s ACK); anything else leaves both sessions as they were (RFC 3261
   * §14.1).
   */
  finalResponse(near: RelaySide, status: number, farBody: Buffer, nearBody: Buffer | undefined): void {
    const n = this.sides[near];
    const f = this.sides[other(near)];
    if (n.state === 'stable' && f.state === 'stable') return;
    const far = sessionOf(farBody);
    const toNear = sessionOf(nearBody);
    if (status < 200 || status >= 300 || !far || !toNear) return this.reset();
    if (f.state === 'awaiting-remote-offer') {
      // An offerless INVITE: the offer is in the 2xx, its answer will be in the ACK.
      if (!f.receiveOffer(far, '2xx').ok || !n.sendOffer(toNear, '2xx').ok) this.reset();
      return;
    }
    if (!f.receiveAnswer(far, '2xx').ok || !n.sendAnswer(toNear, '2xx').ok) this.reset();
  }

  /** `near`'s ACK of a relayed 2xx that carried an offer: the answer, or none (both reset). */
  ack(near: RelaySide, body: Buffer, relayedBody: Buffer | undefined): void {
    const n = this.sides[near];
    if (n.state !== 'local-offer-sent') return;
    const answer = sessionOf(body);
    const relayed = sessionOf(relayedBody);
    if (!answer || !relayed) return this.reset();
    if (!n.receiveAnswer(answer, 'ack').ok || !this.sides[other(near)].sendAnswer(relayed, 'ack').ok)
      this.reset();
  }

  /** The relayed request failed without a response (timeout, transport): nothing changed. */
  reset(): void {
    this.sides.a.offerRejected();
    this.sides.b.offerRejected();
  }

  close(): void {
    this.sides.a.close();
    this.sides.b.close();
  }

  dump(): Record<RelaySide, OfferAnswerDump> {
    return { a: this.sides.a.dump(), b: this.sides.b.dump() };
  }
}
