/**
 * Trunk member health, after the Kamailio dispatcher model: every member of every trunk is probed
 * with SIP OPTIONS at a fixed interval, and calls report what they saw (passive health), so a
 * member that stopped answering is taken out of selection after a few failures and put back after
 * a few successes.
 *
 * RFC 3261 §11: "The SIP method OPTIONS allows a UA to query another UA or a proxy server as to its
 * capabilities. ... This allows a client to discover information about the supported methods,
 * content types, extensions, codecs, etc. without 'ringing' the other party." The probe port sends
 * that request; this core sees only its outcome and enforces `timeoutMs` itself, so a probe whose
 * promise never settles still counts as a failure.
 *
 * Initial state is `up`: members are optimistically usable at boot so the first calls are not
 * refused before the first probe round has completed (Kamailio loads destinations active too).
 */
import type { Clock, TimerHandle, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Counter, MetricsRegistry } from '../core/metrics.ts';
import {
  memberKey,
  toMemberRef,
  type CallResultReport,
  type CallResultSink,
  type HealthLookup,
  type MemberHealthState,
  type MemberRef,
  type ProbeConfig,
  type TrunkHealthDef,
} from './types.ts';

export type ProbeResult =
  { ok: true; status: number; rttMs: number } | { ok: false; reason: 'timeout' | 'transport-error' };

export interface TrunkMonitorDeps {
  clock: Clock;
  timers: Timers;
  /** Sends one OPTIONS to the member and settles with its final response or a transport failure. */
  probe(member: MemberRef): Promise<ProbeResult>;
  onStateChange?(member: MemberRef, state: MemberHealthState, reason: string): void;
  metrics?: MetricsRegistry;
  logger?: Logger;
}

/**
 * Which final responses to OPTIONS prove a member alive. Kamailio's dispatcher only counts 200
 * unless `ds_ping_reply_codes` widens it; real upstreams often refuse or do not implement OPTIONS
 * while serving calls fine, so the default also accepts the answers that can only come from a
 * working SIP stack that chose to decline this one request:
 * - 2xx: the request succeeded.
 * - 401/407: the member challenged us (many ITSPs authenticate every request) — RFC 3261 §22.
 * - 403/404: policy or unknown Request-URI for OPTIONS, decided by a running element.
 * - 405/501: "Method Not Allowed" / "Not Implemented" (§21.4.6, §21.5.2) — the server parsed it.
 * - 489: "Bad Event" (RFC 6665 §8.3.2), returned by some event servers for OPTIONS.
 * Failures: 408 and 480 (the member could not reach its own next hop), every other 5xx — 503
 * especially, §21.5.4 "temporarily unable to process the request due to a temporary overloading or
 * maintenance" — and 6xx, which an OPTIONS to a trunk member has no business receiving.
 * `'any-final'` accepts every final response (pure liveness).
 */
export const DEFAULT_ALIVE_STATUSES: readonly number[] = [401, 403, 404, 405, 407, 489, 501];

export type AliveCodes = readonly number[] | 'any-final';

export function isAliveReply(status: number, alive: AliveCodes = DEFAULT_ALIVE_STATUSES): boolean {
  if (status < 200 || status > 699) return false;
  if (alive === 'any-final') return true;
  return (status >= 200 && status < 300) || alive.includes(status);
}

export interface TrunkMonitorOptions {
  aliveCodes?: AliveCodes;
}

/** Smoothing of the RTT average: RFC 6298 §2.3's SRTT gain, alpha = 1/8. */
const RTT_ALPHA = 1 / 8;

interface MemberRecord {
  ref: MemberRef;
  key: string;
  state: MemberHealthState;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastProbeAtMs: number | undefined;
  lastProbeWallMs: number | undefined;
  lastResult: string | undefined;
  lastChangeReason: string | undefined;
  rttLastMs: number | undefined;
  rttAvgMs: number | undefined;
  rttSamples: number;
  /** Sequence of the probe in flight; results of any other sequence are stale and ignored. */
  inFlightSeq: number | undefined;
  seq: number;
  probeTimer: TimerHandle | undefined;
  timeoutTimer: TimerHandle | undefined;
  holdDownTimer: TimerHandle | undefined;
  removed: boolean;
}

interface TrunkRecord {
  id: string;
  probe: ProbeConfig;
  members: Map<string, MemberRecord>;
}

export interface MemberHealthDump {
  member: string;
  host: string;
  port: number;
  transport: string;
  weight: number;
  state: MemberHealthState;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastProbeAtMs: number | null;
  lastProbeWallMs: number | null;
  lastResult: string | null;
  lastChangeReason: string | null;
  probeInFlight: boolean;
  rtt: { lastMs: number | null; avgMs: number | null; samples: number };
}

export interface TrunkMonitorDump {
  closed: boolean;
  trunks: Array<{ id: string; probe: ProbeConfig; members: MemberHealthDump[] }>;
}

/** Legal edges of the member state machine. */
const EDGES: Record<MemberHealthState, readonly MemberHealthState[]> = {
  up: ['probing', 'down'],
  probing: ['up', 'down'],
  down: ['up'],
};

export class TrunkMonitor implements CallResultSink {
  private readonly trunks = new Map<string, TrunkRecord>();
  private readonly aliveCodes: AliveCodes;
  private readonly probeCounter: Counter | undefined;
  private readonly changeCounter: Counter | undefined;
  private closed = false;

  /** A `HealthLookup` bound to this monitor, for `orderMembers`. */
  readonly lookup: HealthLookup = (m) => this.stateOf(m);

  constructor(
    private readonly deps: TrunkMonitorDeps,
    trunks: readonly TrunkHealthDef[],
    opts: TrunkMonitorOptions = {},
  ) {
    this.aliveCodes = opts.aliveCodes ?? DEFAULT_ALIVE_STATUSES;
    if (deps.metrics) {
      this.probeCounter = deps.metrics.counter(
        'edgeline_trunk_probes_total',
        'OPTIONS probes to trunk members by result',
      );
      this.changeCounter = deps.metrics.counter(
        'edgeline_trunk_member_state_changes_total',
        'Trunk member health state changes by new state',
      );
      deps.metrics
        .gauge('edgeline_trunk_member_up', 'Whether a trunk member is usable for calls (1) or down (0)')
        .collect(() =>
          [...this.trunks.values()].flatMap((t) =>
            [...t.members.values()].map((m) => ({
              labels: { trunk: t.id, member: m.key },
              value: m.state === 'down' ? 0 : 1,
            })),
          ),
        );
    }
    this.update(trunks);
  }

  stateOf(member: MemberRef): MemberHealthState | undefined {
    return this.trunks.get(member.trunkId)?.members.get(memberKey(member))?.state;
  }

  /** Members not known to be down; unknown members count as usable. */
  isUsable(member: MemberRef): boolean {
    return this.stateOf(member) !== 'down';
  }

  /**
   * Passive health: a call that got no answer from a member (or a transport error, or 503) counts
   * like a failed probe, so a stopped member is taken out of service by traffic before the next
   * probe round; a call the member answered counts like a successful probe.
   */
  reportCallResult(member: MemberRef, result: CallResultReport): void {
    if (this.closed) return;
    const trunk = this.trunks.get(member.trunkId);
    const m = trunk?.members.get(memberKey(member));
    if (!trunk || !m) return;
    const reason = result.reason ?? (result.ok ? 'call-answered' : 'call-failed');
    if (result.ok) this.countSuccess(trunk, m, reason);
    else this.countFailure(trunk, m, reason);
  }

  /**
   * Applies a new set of trunk definitions. Members that stay (same transport, host and port) keep
   * their health and counters; their probing is re-armed only if the probe settings changed.
   */
  update(trunks: readonly TrunkHealthDef[]): void {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const def of trunks) {
      seen.add(def.id);
      let trunk = this.trunks.get(def.id);
      const probeChanged = trunk !== undefined && !sameProbe(trunk.probe, def.probe);
      if (!trunk) {
        trunk = { id: def.id, probe: { ...def.probe }, members: new Map() };
        this.trunks.set(def.id, trunk);
      }
      trunk.probe = { ...def.probe };
      const keep = new Set<string>();
      for (const cfg of def.members) {
        const key = memberKey(cfg);
        keep.add(key);
        const existing = trunk.members.get(key);
        if (existing) {
          existing.ref = toMemberRef(def.id, cfg);
          if (probeChanged) {
            this.stopMember(existing);
            existing.removed = false;
            this.schedule(trunk, existing, trunk.probe.intervalMs);
          }
          continue;
        }
        const m = newRecord(toMemberRef(def.id, cfg), key);
        trunk.members.set(key, m);
        // A new member is probed at once so a dead one is found before the first interval.
        this.schedule(trunk, m, 0);
      }
      for (const [key, m] of trunk.members) {
        if (keep.has(key)) continue;
        this.stopMember(m);
        trunk.members.delete(key);
      }
    }
    for (const [id, trunk] of this.trunks) {
      if (seen.has(id)) continue;
      for (const m of trunk.members.values()) this.stopMember(m);
      this.trunks.delete(id);
    }
  }

  dump(): TrunkMonitorDump {
    return {
      closed: this.closed,
      trunks: [...this.trunks.values()].map((t) => ({
        id: t.id,
        probe: { ...t.probe },
        members: [...t.members.values()].map((m) => ({
          member: m.key,
          host: m.ref.host,
          port: m.ref.port,
          transport: m.ref.transport,
          weight: m.ref.weight,
          state: m.state,
          consecutiveFailures: m.consecutiveFailures,
          consecutiveSuccesses: m.consecutiveSuccesses,
          lastProbeAtMs: m.lastProbeAtMs ?? null,
          lastProbeWallMs: m.lastProbeWallMs ?? null,
          lastResult: m.lastResult ?? null,
          lastChangeReason: m.lastChangeReason ?? null,
          probeInFlight: m.inFlightSeq !== undefined,
          rtt: { lastMs: m.rttLastMs ?? null, avgMs: m.rttAvgMs ?? null, samples: m.rttSamples },
        })),
      })),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.trunks.values()) for (const m of t.members.values()) this.stopMember(m);
  }

  private schedule(trunk: TrunkRecord, m: MemberRecord, delayMs: number): void {
    if (!trunk.probe.enabled || m.removed || this.closed) return;
    m.probeTimer = this.deps.timers.start('probe', delayMs, () => {
      m.probeTimer = undefined;
      // A probe still outstanding (timeoutMs longer than intervalMs) is not overlapped.
      if (m.inFlightSeq === undefined) this.sendProbe(trunk, m);
      this.schedule(trunk, m, trunk.probe.intervalMs);
    });
  }

  private sendProbe(trunk: TrunkRecord, m: MemberRecord): void {
    const seq = ++m.seq;
    m.inFlightSeq = seq;
    m.lastProbeAtMs = this.deps.clock.now();
    m.lastProbeWallMs = this.deps.clock.wallNow();
    m.timeoutTimer = this.deps.timers.start('probe-timeout', trunk.probe.timeoutMs, () => {
      m.timeoutTimer = undefined;
      this.onProbeResult(trunk, m, seq, { ok: false, reason: 'timeout' });
    });
    let pending: Promise<ProbeResult>;
    try {
      pending = this.deps.probe(m.ref);
    } catch {
      pending = Promise.resolve({ ok: false, reason: 'transport-error' });
    }
    void pending.then(
      (r) => this.onProbeResult(trunk, m, seq, r),
      () => this.onProbeResult(trunk, m, seq, { ok: false, reason: 'transport-error' }),
    );
  }

  private onProbeResult(trunk: TrunkRecord, m: MemberRecord, seq: number, r: ProbeResult): void {
    if (this.closed || m.removed || m.inFlightSeq !== seq) return;
    m.inFlightSeq = undefined;
    m.timeoutTimer?.cancel();
    m.timeoutTimer = undefined;
    const labels = { trunk: trunk.id, member: m.key };
    if (!r.ok) {
      m.lastResult = r.reason;
      this.probeCounter?.inc({ ...labels, result: r.reason });
      this.countFailure(trunk, m, `probe-${r.reason}`);
      return;
    }
    m.lastResult = String(r.status);
    m.rttLastMs = r.rttMs;
    m.rttAvgMs = m.rttAvgMs === undefined ? r.rttMs : m.rttAvgMs + RTT_ALPHA * (r.rttMs - m.rttAvgMs);
    m.rttSamples++;
    if (isAliveReply(r.status, this.aliveCodes)) {
      this.probeCounter?.inc({ ...labels, result: 'alive' });
      this.countSuccess(trunk, m, `probe-${r.status}`);
    } else {
      this.probeCounter?.inc({ ...labels, result: 'failed' });
      this.countFailure(trunk, m, `probe-${r.status}`);
    }
  }

  private countFailure(trunk: TrunkRecord, m: MemberRecord, reason: string): void {
    m.consecutiveSuccesses = 0;
    m.consecutiveFailures++;
    switch (m.state) {
      case 'down':
        return;
      case 'up':
      case 'probing':
        if (m.consecutiveFailures >= Math.max(1, trunk.probe.downAfter))
          this.transition(trunk, m, 'down', reason);
        else if (m.state === 'up') this.transition(trunk, m, 'probing', reason);
        return;
      default: {
        const never: never = m.state;
        throw new Error(`unknown member state ${String(never)}`);
      }
    }
  }

  private countSuccess(trunk: TrunkRecord, m: MemberRecord, reason: string): void {
    m.consecutiveFailures = 0;
    m.consecutiveSuccesses++;
    switch (m.state) {
      case 'up':
        return;
      case 'probing':
        this.transition(trunk, m, 'up', reason);
        return;
      case 'down':
        if (m.consecutiveSuccesses >= Math.max(1, trunk.probe.upAfter))
          this.transition(trunk, m, 'up', reason);
        return;
      default: {
        const never: never = m.state;
        throw new Error(`unknown member state ${String(never)}`);
      }
    }
  }

  private transition(trunk: TrunkRecord, m: MemberRecord, to: MemberHealthState, reason: string): void {
    const from = m.state;
    if (!EDGES[from].includes(to)) throw new Error(`illegal member health transition ${from} -> ${to}`);
    m.holdDownTimer?.cancel();
    m.holdDownTimer = undefined;
    m.state = to;
    m.lastChangeReason = reason;
    if (to === 'down' && !trunk.probe.enabled) {
      // Without probes nothing would ever bring the member back: passive health alone takes it
      // out for one interval, then lets traffic try it again.
      m.holdDownTimer = this.deps.timers.start('hold-down', trunk.probe.intervalMs, () => {
        m.holdDownTimer = undefined;
        m.consecutiveFailures = 0;
        m.consecutiveSuccesses = 0;
        this.transition(trunk, m, 'up', 'hold-down-expired');
      });
    }
    this.changeCounter?.inc({ trunk: trunk.id, member: m.key, state: to });
    this.deps.logger?.info(
      { trunk: trunk.id, member: m.key, from, to, reason },
      'trunk member health changed',
    );
    this.deps.onStateChange?.(m.ref, to, reason);
  }

  private stopMember(m: MemberRecord): void {
    m.removed = true;
    m.inFlightSeq = undefined;
    m.probeTimer?.cancel();
    m.timeoutTimer?.cancel();
    m.holdDownTimer?.cancel();
    m.probeTimer = m.timeoutTimer = m.holdDownTimer = undefined;
  }
}

function newRecord(ref: MemberRef, key: string): MemberRecord {
  return {
    ref,
    key,
    state: 'up',
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    lastProbeAtMs: undefined,
    lastProbeWallMs: undefined,
    lastResult: undefined,
    lastChangeReason: undefined,
    rttLastMs: undefined,
    rttAvgMs: undefined,
    rttSamples: 0,
    inFlightSeq: undefined,
    seq: 0,
    probeTimer: undefined,
    timeoutTimer: undefined,
    holdDownTimer: undefined,
    removed: false,
  };
}

function sameProbe(a: ProbeConfig, b: ProbeConfig): boolean {
  return (
    a.enabled === b.enabled &&
    a.intervalMs === b.intervalMs &&
    a.timeoutMs === b.timeoutMs &&
    a.downAfter === b.downAfter &&
    a.upAfter === b.upAfter
  );
}
