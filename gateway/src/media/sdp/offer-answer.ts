/**
 * The offer/answer state of one dialog (RFC 3264 §4, with the SIP usage rules of RFC 3261 §13.2.1,
 * RFC 3262, RFC 3311 and the clarifications of RFC 6337). Sans-I/O: the owner of the dialog tells
 * this object about every SDP body it sends or receives and which message carried it; this object
 * says whether that is legal and what the current local and remote descriptions are.
 *
 * RFC 3264 §4: "At any time, either agent MAY generate a new offer that updates the session.
 * However, it MUST NOT generate a new offer if it has received an offer which it has not yet
 * answered or rejected. Furthermore, it MUST NOT generate a new offer if it has generated a prior
 * offer for which it has not yet received an answer or a rejection."
 */
import type { SdpSession } from './sdp.ts';

export type OfferAnswerState =
  /** No offer outstanding; `local`/`remote` (if any) are the session in effect. */
  | 'stable'
  /** We sent an offer and wait for its answer. */
  | 'local-offer-sent'
  /** We received an offer and owe the answer. */
  | 'remote-offer-received'
  /** We received an INVITE without a body: our offer goes in the 2xx (or a reliable 1xx). */
  | 'awaiting-local-offer'
  /** We sent an INVITE without a body: the offer will come in the 2xx (or a reliable 1xx). */
  | 'awaiting-remote-offer'
  | 'closed';

/** The message that carries an SDP body. */
export type SdpCarrier = 'invite' | 'update' | 'prack' | 'reliable-1xx' | '2xx' | 'ack';

/** What to answer an incoming offer that cannot be taken now. */
export type OfferRejection =
  | { status: 491; reason: 'Request Pending' }
  | { status: 500; reason: 'Server Internal Error'; retryAfterS: number };

export type OaResult = { ok: true } | { ok: false; error: string };
export type OfferResult = { ok: true } | ({ ok: false } & OfferRejection);

export interface OfferAnswerDump {
  state: OfferAnswerState;
  pendingCarrier: SdpCarrier | null;
  localVersion: string | null;
  remoteVersion: string | null;
}

const legal: Record<OfferAnswerState, readonly OfferAnswerState[]> = {
  stable: [
    'local-offer-sent',
    'remote-offer-received',
    'awaiting-local-offer',
    'awaiting-remote-offer',
    'closed',
  ],
  'local-offer-sent': ['stable', 'closed'],
  'remote-offer-received': ['stable', 'closed'],
  'awaiting-local-offer': ['local-offer-sent', 'stable', 'closed'],
  'awaiting-remote-offer': ['remote-offer-received', 'stable', 'closed'],
  closed: [],
};

/**
 * RFC 3261 §14.1: "If the client is the owner of the Call-ID of the dialog ID ..., T has a randomly
 * chosen value between 2.1 and 4 seconds in units of 10 ms. If the client is not the owner of the
 * Call-ID of the dialog ID, T has a randomly chosen value of between 0 and 2 seconds in units of
 * 10 ms." `random` returns a number in [0, 1).
 */
export function glareRetryDelayMs(ownsCallId: boolean, random: () => number = Math.random): number {
  const [lo, hi] = ownsCallId ? [210, 400] : [0, 200];
  return (lo + Math.floor(random() * (hi - lo + 1))) * 10;
}

/**
 * RFC 3261 §14.2 / RFC 3311 §5.2: the 500 answer to an overlapping offer "MUST include a
 * Retry-After header field with a randomly chosen value of between 0 and 10 seconds".
 */
export function overlapRetryAfterS(random: () => number = Math.random): number {
  return Math.floor(random() * 11);
}

export class OfferAnswer {
  private _state: OfferAnswerState = 'stable';
  private pendingCarrier: SdpCarrier | null = null;
  private pendingOffer: SdpSession | null = null;
  /** The descriptions in effect (after the last completed exchange). */
  private _local: SdpSession | null = null;
  private _remote: SdpSession | null = null;

  constructor(private readonly random: () => number = Math.random) {}

  get state(): OfferAnswerState {
    return this._state;
  }
  get local(): SdpSession | null {
    return this._local;
  }
  get remote(): SdpSession | null {
    return this._remote;
  }
  /** The offer awaiting an answer, ours or the peer's. */
  get pending(): SdpSession | null {
    return this.pendingOffer;
  }

  private transition(to: OfferAnswerState): void {
    if (!legal[this._state].includes(to))
      throw new Error(`offer/answer: illegal transition ${this._state} → ${to}`);
    this._state = to;
    switch (to) {
      case 'stable':
      case 'awaiting-local-offer':
      case 'awaiting-remote-offer':
      case 'closed':
        this.pendingOffer = null;
        this.pendingCarrier = null;
        break;
      case 'local-offer-sent':
      case 'remote-offer-received':
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  /** Whether we may send a new offer now (a re-INVITE or UPDATE with SDP). */
  canOffer(): boolean {
    return this._state === 'stable';
  }

  /** We send an INVITE without a body (RFC 3261 §13.2.1: the offer then comes in the 2xx). */
  sendOfferlessInvite(): OaResult {
    if (this._state !== 'stable')
      return { ok: false, error: `cannot send an offerless INVITE in ${this._state}` };
    this.transition('awaiting-remote-offer');
    return { ok: true };
  }

  /** We received an INVITE without a body: we owe the offer in the 2xx or a reliable 1xx. */
  receiveOfferlessInvite(): OfferResult {
    const busy = this.overlap();
    if (busy) return busy;
    this.transition('awaiting-local-offer');
    return { ok: true };
  }

  /**
   * We send an offer. RFC 3261 §13.2.1 / RFC 3262 / RFC 3311: an offer travels in an INVITE,
   * UPDATE or PRACK, or in the 2xx / reliable 1xx answering an offerless INVITE.
   */
  sendOffer(sdp: SdpSession, carrier: SdpCarrier): OaResult {
    if (this._state === 'awaiting-local-offer') {
      if (carrier !== '2xx' && carrier !== 'reliable-1xx')
        return {
          ok: false,
          error: 'the offer owed for an offerless INVITE goes in the 2xx or a reliable 1xx',
        };
    } else if (this._state !== 'stable') {
      return { ok: false, error: `cannot offer in ${this._state}` };
    } else if (carrier !== 'invite' && carrier !== 'update' && carrier !== 'prack') {
      return { ok: false, error: `an offer cannot travel in ${carrier}` };
    }
    this.transition('local-offer-sent');
    this.pendingOffer = sdp;
    this.pendingCarrier = carrier;
    return { ok: true };
  }

  /**
   * An offer arrived. RFC 3311 §5.2: "If an UPDATE is received that contains an offer, and the UAS
   * has generated an offer ... to which it has not yet received an answer, the UAS MUST reject the
   * UPDATE with a 491 response. Similarly, if an UPDATE is received that contains an offer, and the
   * UAS has received an offer ... to which it has not yet generated an answer, the UAS MUST reject
   * the UPDATE with a 500 response, and MUST include a Retry-After header field with a randomly
   * chosen value between 0 and 10 seconds." RFC 3261 §14.2 says the same of re-INVITEs.
   */
  receiveOffer(sdp: SdpSession, carrier: SdpCarrier): OfferResult {
    if (this._state === 'awaiting-remote-offer') {
      // RFC 3311 §5.1: when the initial INVITE had no offer, an UPDATE may carry one only after the
      // offer came in a reliable 1xx and was answered; before that it is out of order.
      if (carrier !== '2xx' && carrier !== 'reliable-1xx')
        return {
          ok: false,
          status: 500,
          reason: 'Server Internal Error',
          retryAfterS: overlapRetryAfterS(this.random),
        };
    } else {
      const busy = this.overlap();
      if (busy) return busy;
    }
    this.transition('remote-offer-received');
    this.pendingOffer = sdp;
    this.pendingCarrier = carrier;
    return { ok: true };
  }

  private overlap(): ({ ok: false } & OfferRejection) | null {
    switch (this._state) {
      case 'stable':
        return null;
      case 'local-offer-sent':
      case 'awaiting-remote-offer':
        return { ok: false, status: 491, reason: 'Request Pending' };
      case 'remote-offer-received':
      case 'awaiting-local-offer':
      case 'closed':
        return {
          ok: false,
          status: 500,
          reason: 'Server Internal Error',
          retryAfterS: overlapRetryAfterS(this.random),
        };
      default: {
        const never: never = this._state;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  /**
   * We answer the pending remote offer. RFC 3261 §13.2.1: the answer to an offer in an INVITE goes
   * in the 2xx or a reliable 1xx; to an offer in a 2xx, in the ACK; UPDATE and PRACK offers are
   * answered in their 2xx.
   */
  sendAnswer(sdp: SdpSession, carrier: SdpCarrier): OaResult {
    if (this._state !== 'remote-offer-received' || !this.pendingOffer)
      return { ok: false, error: `no remote offer to answer in ${this._state}` };
    const bad = answerCarrierError(this.pendingCarrier, carrier);
    if (bad) return { ok: false, error: bad };
    this._remote = this.pendingOffer;
    this._local = sdp;
    this.transition('stable');
    return { ok: true };
  }

  /** The answer to our pending offer arrived. */
  receiveAnswer(sdp: SdpSession, carrier: SdpCarrier): OaResult {
    if (this._state !== 'local-offer-sent' || !this.pendingOffer)
      return { ok: false, error: `no local offer outstanding in ${this._state}` };
    const bad = answerCarrierError(this.pendingCarrier, carrier);
    if (bad) return { ok: false, error: bad };
    this._local = this.pendingOffer;
    this._remote = sdp;
    this.transition('stable');
    return { ok: true };
  }

  /**
   * The request carrying the pending offer failed (non-2xx final), or we rejected the peer's offer.
   * RFC 3261 §14.1: "If a UA receives a non-2xx final response to a re-INVITE, the session
   * parameters MUST remain unchanged, as if no re-INVITE had been issued."
   */
  offerRejected(): void {
    if (this._state === 'closed' || this._state === 'stable') return;
    this.transition('stable');
  }

  /**
   * An ACK arrived without the answer owed for our offer in a 2xx. RFC 3261 §13.2.1: "the answer
   * MUST be in the acknowledgement for that message (in this specification, ACK for a 2xx
   * response)"; without it no session can be set up, so the UAS ends the dialog with a BYE.
   * Returns whether the session must be ended.
   */
  ackWithoutAnswer(): boolean {
    if (this._state === 'local-offer-sent' && this.pendingCarrier === '2xx') {
      this.transition('stable');
      return true;
    }
    return false;
  }

  close(): void {
    if (this._state !== 'closed') this.transition('closed');
  }

  dump(): OfferAnswerDump {
    return {
      state: this._state,
      pendingCarrier: this.pendingCarrier,
      localVersion: this._local?.origin.sessVersion ?? null,
      remoteVersion: this._remote?.origin.sessVersion ?? null,
    };
  }
}

/** Where the answer to an offer may travel (RFC 3261 §13.2.1, RFC 3262 §5, RFC 3311 §5.1). */
function answerCarrierError(offerIn: SdpCarrier | null, answerIn: SdpCarrier): string | null {
  switch (offerIn) {
    case 'invite':
      return answerIn === '2xx' || answerIn === 'reliable-1xx'
        ? null
        : 'an INVITE offer is answered in a 2xx or reliable 1xx';
    case '2xx':
    case 'reliable-1xx':
      return answerIn === 'ack' || answerIn === 'prack'
        ? null
        : 'an offer in a response is answered in the ACK or PRACK';
    case 'update':
    case 'prack':
      return answerIn === '2xx' ? null : `an ${offerIn.toUpperCase()} offer is answered in its 2xx`;
    case 'ack':
    case null:
      return 'no offer to answer';
    default: {
      const never: never = offerIn;
      return `unknown carrier ${String(never)}`;
    }
  }
}
