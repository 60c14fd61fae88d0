/**
 * The ACK for the 2xx that confirmed an outbound leg (a call's far leg, or the leg a transfer
 * places to its target), kept for that 2xx's retransmissions: one place, so both legs answer
 * them alike.
 *
 * RFC 3261 §13.3.1.4: the UAS passes its 2xx to the transport again and again "until it receives
 * an ACK", so a lost ACK, or a round trip longer than T1, brings the same 2xx back; and §13.2.2.4:
 * "The UAC core MUST generate an ACK request for each 2xx received from the transaction layer."
 * A repeat of the confirming 2xx (same Call-ID, tags and CSeq) is not a new answer: it gets the
 * ACK already sent and nothing else. A 2xx with another To tag is another fork's, for which
 * §13.2.2.4 still wants an ACK and then a BYE; that stays with the leg's owner.
 */
import { freezeRequest } from '../sip/message/frozen.ts';
import { detachString, getTag, parseCSeq } from '../sip/message/index.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../sip/message/types.ts';
import type { SipSenderPort } from './ports.ts';

/** An ACK for a 2xx as it went out (§17.1.1.3: outside any transaction), and where. */
export interface SentAck {
  request: SipRequest;
  dest: SipEndpoint;
}

/** The 2xx that confirmed a leg's dialog, and the ACK answering it. */
export interface ConfirmingAnswer {
  /** Call-ID, From tag, To tag and CSeq number of the 2xx: what its retransmissions repeat. */
  readonly key: string;
  /**
   * The ACK sent for it, kept as octets; undefined while the ACK waits for the answer it carries
   * (a late offer, RFC 3264 §5).
   */
  ack: SentAck | undefined;
}

export function confirmingAnswer(res: SipResponse): ConfirmingAnswer {
  return { key: detachString(answerKey(res)), ack: undefined };
}

/** Keep the ACK just sent for the confirming 2xx, for its retransmissions. */
export function keepAck(answer: ConfirmingAnswer, sent: SentAck | undefined): void {
  if (sent) answer.ack = { request: freezeRequest(sent.request), dest: sent.dest };
}

/**
 * When `res` repeats the confirming 2xx, send the kept ACK again (if it has left yet: a late
 * offer's ACK goes when its answer arrives) and return true; any other response returns false.
 */
export function ackRetransmission(
  sip: Pick<SipSenderPort, 'sendStateless'>,
  answer: ConfirmingAnswer | undefined,
  res: SipResponse,
): boolean {
  if (!answer || res.status < 200 || res.status >= 300 || answerKey(res) !== answer.key) return false;
  if (answer.ack) sip.sendStateless(answer.ack.request, answer.ack.dest);
  return true;
}

function answerKey(res: SipResponse): string {
  const h = res.headers;
  const cseq = parseCSeq(h.get('cseq') ?? '');
  const tag = (name: string): string => getTag(h.get(name) ?? '') ?? '';
  return `${h.get('call-id') ?? ''}|${tag('from')}|${tag('to')}|${cseq.ok ? cseq.value.seq : ''}`;
}
