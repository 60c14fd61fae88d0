/**
 * The ports call control acts through. Call control never touches sockets: it builds messages
 * and hands them to these ports, which the gateway wires to the transaction layer and transports.
 */
import type { SipEndpoint, SipRequest, SipResponse, SipTransportName } from '../sip/message/types.ts';

/** A server transaction as call control sees it (RFC 3261 §17.2). */
export interface ServerTxPort {
  readonly request: SipRequest;
  readonly source: SipEndpoint;
  respond(res: SipResponse): void;
}

/** A client transaction as call control sees it (RFC 3261 §17.1). */
export interface ClientTxPort {
  /** Send a CANCEL for this INVITE (RFC 3261 §9.1: only once a provisional response has arrived). */
  cancel(): void;
}

export interface ClientTxUser {
  onResponse(res: SipResponse): void;
  onTimeout(): void;
  onTransportError?(e: Error): void;
}

export interface SipSenderPort {
  sendRequest(req: SipRequest, dest: SipEndpoint, tu: ClientTxUser): ClientTxPort;
  /** ACK for a 2xx and retransmitted 2xx responses travel outside any transaction (RFC 3261 §13.3.1.4, §17.1.1.3). */
  sendStateless(msg: SipRequest | SipResponse, dest: SipEndpoint): void;
  localSentBy(transport: SipTransportName): { host: string; port: number };
}

/** One row per leg, written when the leg ends. */
export interface LegRecord {
  legId: string;
  interactionId: string;
  callId: string;
  direction: 'inbound' | 'outbound';
  technology: 'sip';
  peer: string;
  fromUri: string;
  toUri: string;
  callerId: string;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string;
  durationMs: number;
  billableMs: number;
  status: number;
  hangupCause: string;
  hangupBy: 'caller' | 'callee' | 'system' | null;
  trunkMember: string | null;
}

/** One row per interaction (the caller's whole visit), written when its last leg ends. */
export interface InteractionRecord {
  interactionId: string;
  caller: string;
  callee: string;
  dialled: string;
  route: string | null;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string;
  durationMs: number;
  outcome: 'answered' | 'busy' | 'no-answer' | 'failed' | 'cancelled';
  status: number;
  legs: number;
}

export interface CdrSink {
  leg(row: LegRecord): void;
  interaction(row: InteractionRecord): void;
}

/**
 * The media hook: every SDP crossing the B2BUA passes through it, so the media engine can anchor
 * RTP (rewrite connection addresses and ports) without call control knowing how.
 * The default passes SDP through unchanged (media flows end to end).
 */
export interface MediaHook {
  /** SDP received on `fromLeg` about to be sent on the other leg. */
  relay(callKey: string, fromLeg: 'a' | 'b', sdp: Buffer): Buffer | { rejectStatus: number };
  release(callKey: string): void;
}

export const passThroughMedia: MediaHook = {
  relay: (_k, _l, sdp) => sdp,
  release: () => undefined,
};
