/**
 * The ports call control acts through. Call control never touches sockets: it builds messages
 * and hands them to these ports, which the gateway wires to the transaction layer and transports.
 */
import type { SipEndpoint, SipRequest, SipResponse, SipTransportName } from '../sip/message/types.ts';
import type { SrtpDropReason, SrtpSuite } from '../media/srtp/srtp.ts';
import type { LegQuality } from '../media/worker/worker-protocol.ts';

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
  technology: 'sip' | 'pstn';
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
  /** Further facts about the leg, stored as JSON. */
  extra?: LegCdrExtra | null;
}

/**
 * The CDR `extra` facts of a leg: what only some legs have. (A type alias: the records store
 * takes any JSON object.)
 */
export type LegCdrExtra = {
  /** The interaction's recording (on the caller's leg). */
  recording?: string;
  /** The stream's codec, SRTP and quality (SIP legs the engine anchored). */
  media?: LegMediaFacts;
  /** The PSTN port and channel of a line's leg. */
  port?: string;
  channel?: string;
  /** The port group a call placed on the PSTN went to. */
  group?: string | null;
};

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

/**
 * An interaction's rows from the moment it is answered (crash-safe records): stored `open`, then
 * completed by the `leg` and `interaction` rows of its end. Rows still open when the gateway
 * starts were cut by a crash and are closed as interrupted.
 */
export interface OpenedInteraction {
  interaction: Pick<
    InteractionRecord,
    'interactionId' | 'caller' | 'callee' | 'dialled' | 'route' | 'startedAt' | 'answeredAt'
  >;
  legs: Array<
    Pick<
      LegRecord,
      | 'legId'
      | 'interactionId'
      | 'callId'
      | 'direction'
      | 'technology'
      | 'peer'
      | 'fromUri'
      | 'toUri'
      | 'callerId'
      | 'startedAt'
      | 'answeredAt'
      | 'trunkMember'
    > & { extra?: LegCdrExtra | null }
  >;
}

export interface CdrSink {
  leg(row: LegRecord): void;
  interaction(row: InteractionRecord): void;
  /** The interaction is answered: its rows are stored at once, open. */
  opened?(o: OpenedInteraction): void;
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
  /** Who a leg belongs to, told before the leg's first SDP: its endpoint's media policy applies. */
  describe?(callKey: string, side: 'a' | 'b', party: MediaParty): void;
  /** The call is answered: media supervision (dead media) starts for both legs. */
  answered?(callKey: string): void;
  /** Media quality per leg for the CDRs, asked just before `release`. */
  quality?(callKey: string): CallMediaQuality | undefined;
  /** A DTMF digit signalled in SIP on `fromLeg` (INFO, RFC 6086): reported like digits in RTP. */
  digit?(callKey: string, fromLeg: 'a' | 'b', digit: string, durationMs: number): void;
  /** The file the call is recorded to, if it is (asked when the call's records are written). */
  recordingOf?(callKey: string): string | undefined;
  /**
   * Blind transfer: the offer for a new party replacing the side opposite `keepSide`, as a
   * provisional call `newKey` (its answer is relayed on `newKey` from side b; `release(newKey)`
   * abandons it).
   */
  transferOffer?(
    callKey: string,
    keepSide: 'a' | 'b',
    newKey: string,
    sdp: Buffer,
  ): Buffer | { rejectStatus: number };
  /** Blind transfer: the new party answered; its leg takes the other side of `callKey`. */
  completeTransfer?(callKey: string, keepSide: 'a' | 'b', newKey: string): boolean;
  /**
   * Blind transfer, after completion: the gateway's re-offer resuming `side` (the transferee),
   * built from `previous`, the last description sent to it (same stream, a=sendrecv, version + 1).
   */
  resumeOffer?(callKey: string, side: 'a' | 'b', previous: Buffer): Buffer | undefined;
  /** The transferee's answer to `resumeOffer`. */
  resumeAnswer?(callKey: string, side: 'a' | 'b', answer: Buffer): boolean;
}

/** The endpoint behind one leg of a call. */
export interface MediaParty {
  kind: 'extension' | 'trunk';
  id: string;
}

/**
 * One leg's media facts for its CDR `extra` column (plain JSON): the codec, SRTP, packets and the
 * RTCP/E-model quality of the stream; only `direct` when the media went peer to peer.
 */
export type LegMediaFacts =
  | { direct: true }
  | (LegQuality & {
      codec: string | null;
      srtp: SrtpSuite | null;
      rx: number;
      tx: number;
      srtpDropped?: Record<SrtpDropReason, number>;
    });

/** Per-leg media facts of a call; null for a leg the workers never reported on. */
export interface CallMediaQuality {
  a: LegMediaFacts | null;
  b: LegMediaFacts | null;
}

export const passThroughMedia: MediaHook = {
  relay: (_k, _l, sdp) => sdp,
  release: () => undefined,
};
