/**
 * Structural shapes shared by trunk health, member selection, the failover driver and the
 * outbound registration client. They mirror the slices of the trunk configuration this area reads
 * and nothing more, so the cores stay independent of the configuration store.
 */
import type { SipTransportName } from '../sip/message/types.ts';

/** One upstream of a trunk, as configured. */
export interface TrunkMemberConfig {
  host: string;
  port: number;
  transport: SipTransportName;
  /** Relative share for the weighted policy; 0 marks a backup member (see member-selection.ts). */
  weight: number;
}

/** A member together with the trunk it belongs to: what health, selection and attempts pass around. */
export interface MemberRef extends TrunkMemberConfig {
  trunkId: string;
}

export interface ProbeConfig {
  enabled: boolean;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures that take a member down. */
  downAfter: number;
  /** Consecutive successes that bring a down member back up. */
  upAfter: number;
}

/** The part of a trunk definition the health monitor needs. */
export interface TrunkHealthDef {
  id: string;
  members: readonly TrunkMemberConfig[];
  probe: ProbeConfig;
}

/** The part of a trunk definition member selection needs. */
export interface TrunkMembersDef {
  id: string;
  members: readonly TrunkMemberConfig[];
}

/**
 * Identity of a member inside its trunk. Weight is not part of it: re-weighting a member in the
 * configuration keeps its health state.
 */
export function memberKey(m: Pick<TrunkMemberConfig, 'host' | 'port' | 'transport'>): string {
  return `${m.transport}:${m.host}:${m.port}`;
}

export function toMemberRef(trunkId: string, m: TrunkMemberConfig): MemberRef {
  return { trunkId, host: m.host, port: m.port, transport: m.transport, weight: m.weight };
}

/**
 * Member health as seen by calls.
 * - `up`: usable.
 * - `probing`: usable but failing — at least one and fewer than `downAfter` consecutive failures
 *   (Kamailio dispatcher's "trying" state: still selected while its fate is being decided).
 * - `down`: skipped for new calls until `upAfter` consecutive successes.
 */
export type MemberHealthState = 'up' | 'probing' | 'down';

/** Lookup of a member's health; `undefined` (unknown member) is treated as usable. */
export type HealthLookup = (member: MemberRef) => MemberHealthState | undefined;

/** What a call attempt tells the health monitor about a member (passive health). */
export interface CallResultReport {
  ok: boolean;
  reason?: string;
}

/** The slice of the health monitor the failover driver reports to. */
export interface CallResultSink {
  reportCallResult(member: MemberRef, result: CallResultReport): void;
}
