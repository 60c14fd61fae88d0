/**
 * One outbound attempt's target, as routing resolved it: shared by every outbound path of call
 * control (the B2BUA's calls, originated legs, transfers) and by the plan that orders them.
 */
import type { SipEndpoint } from '../sip/message/types.ts';

/** Where an outbound attempt goes and how it presents the caller. */
export interface OutboundTarget {
  kind: 'extension' | 'trunk';
  /** Request-URI of the outbound INVITE. */
  requestUri: string;
  /** Next hop: the contact's signalling source for extensions (NAT), the member for trunks. */
  dest: SipEndpoint;
  /** Extension number or trunk id (CDR `peer`). */
  peer: string;
  /** `host:port/transport` of the trunk member (CDR `trunk_member`). */
  member?: string;
  /** Give up on this target when nothing at all answered within this time (trunk failover). */
  noAnswerTimeoutMs?: number;
  /** Status codes that move on to the next target (sequential failover). */
  failoverOn?: readonly number[];
  credentials?: { username: string; password: string };
  /** Peer is an extension: in-dialog requests go to where its requests come from (NAT). */
  pinToSource: boolean;
  /**
   * Ring-group stage: queued targets of one stage ring together, and the next stage starts only
   * when every attempt of the current one has ended.
   */
  stage?: number;
  /** Cancel this attempt when it has not answered within this time (a ring group member's turn). */
  ringTimeoutMs?: number;
}
