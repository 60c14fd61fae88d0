/**
 * Source protection at the SIP edge, the model of Kamailio's pike and secfilter modules and of
 * fail2ban, built in: a source that fails digest authentication too often (default 5 times in
 * 60 s) or floods requests above a rate (default 1000 per second) is banned for a while (default
 * 300 s); a banned source's datagrams and connections are dropped before anything is parsed.
 * Sources in the allow-list (the management network, the box itself, trunk members) are never
 * banned. Bans can also be set and lifted by hand (the API).
 *
 * Sans-I/O: the transports ask `admit` for each message, the registrar and the B2BUA report
 * failed digests with `authFailed`. Time is the injected monotonic clock, so a jump of the wall
 * clock neither lifts nor extends a ban; the wall clock only stamps what is shown.
 *
 * Memory is bounded whatever a flood sends from however many addresses: at most `maxTracked`
 * sources are counted (the least recently seen is forgotten first) and at most `maxBans` banned.
 */
import type { Clock } from '../../../../base/clock.ts';
import { canonicalAddress, rangeContains, type AddressRange } from '../../../../base/address-range.ts';

export type BanReason = 'auth-failures' | 'scan' | 'flood' | 'manual';

export interface SourceGuardPolicy {
  /** Failed digests from one source within `authWindowMs` that ban it. */
  authFailures: number;
  authWindowMs: number;
  banMs: number;
  /**
   * Challenges within `authWindowMs` that a source never answered with valid credentials (a
   * scanner sends request after request without any: svwar, or 200 INVITEs in a row); 0: no
   * limit. A phone answers its challenge at once, which clears its count.
   */
  unansweredChallenges: number;
  /** Requests per second from one source above which it is banned as a flood; 0: no limit. */
  floodPerS: number;
  /** Never banned, never rate-limited. */
  allow: readonly AddressRange[];
}

export interface SourceBan {
  address: string;
  reason: BanReason;
  /** Wall-clock stamps (ms since the epoch), for people. */
  sinceWallMs: number;
  untilWallMs: number;
  /** Requests dropped while banned. */
  dropped: number;
}

export interface SourceGuardEvents {
  /** One failed digest, with what the source claimed to be. */
  authFailure?(e: { address: string; user: string | undefined; method: string; failures: number }): void;
  banned?(ban: SourceBan): void;
  unbanned?(e: { address: string; reason: BanReason; expired: boolean }): void;
}

interface Tracked {
  failures: number[];
  challenges: number[];
  /** Start of the current one-second window (monotonic ms) and the requests in it. */
  windowAtMs: number;
  inWindow: number;
}

interface Ban {
  reason: BanReason;
  sinceWallMs: number;
  untilMs: number;
  untilWallMs: number;
  dropped: number;
}

export interface SourceGuardDump {
  bans: SourceBan[];
  tracked: number;
  counters: { banned: Record<BanReason, number>; dropped: number; authFailures: number };
}

export class SourceGuard {
  private readonly tracked = new Map<string, Tracked>();
  private readonly bans = new Map<string, Ban>();
  private readonly allowCache = new Map<string, boolean>();
  private readonly counters = {
    banned: { 'auth-failures': 0, scan: 0, flood: 0, manual: 0 } as Record<BanReason, number>,
    dropped: 0,
    authFailures: 0,
  };
  private readonly maxTracked: number;
  private readonly maxBans: number;

  constructor(
    private policy: SourceGuardPolicy,
    private readonly clock: Clock,
    private readonly events: SourceGuardEvents = {},
    limits: { maxTracked?: number; maxBans?: number } = {},
  ) {
    this.maxTracked = limits.maxTracked ?? 50_000;
    this.maxBans = limits.maxBans ?? 10_000;
  }

  /** A new policy (configuration change): bans in force stay, allow-listed sources are freed. */
  setPolicy(policy: SourceGuardPolicy): void {
    this.policy = policy;
    this.allowCache.clear();
    for (const address of [...this.bans.keys()]) if (this.allowed(address)) this.lift(address, false);
  }

  /** Whether `address` is in the allow-list (and so can never be banned). */
  allowed(address: string): boolean {
    // Asked for every message: an address's answer is kept until the policy changes (bounded).
    let yes = this.allowCache.get(address);
    if (yes === undefined) {
      yes = this.policy.allow.some((r) => rangeContains(r, address));
      if (this.allowCache.size >= this.maxTracked) this.allowCache.clear();
      this.allowCache.set(address, yes);
    }
    return yes;
  }

  /**
   * One request (a datagram, a message on a connection, a new connection) from `address`: false
   * when it is to be dropped unread. Counting the request may ban a flooding source.
   */
  admit(address: string): boolean {
    const ban = this.bans.get(address);
    if (ban) {
      if (this.clock.now() < ban.untilMs) {
        ban.dropped++;
        this.counters.dropped++;
        return false;
      }
      this.lift(address, true);
    }
    if (this.policy.floodPerS <= 0 || this.allowed(address)) return true;
    const t = this.track(address);
    const now = this.clock.now();
    if (now - t.windowAtMs >= 1000) {
      t.windowAtMs = now;
      t.inWindow = 0;
    }
    if (++t.inWindow > this.policy.floodPerS) {
      this.ban(address, 'flood');
      return false;
    }
    return true;
  }

  /** A request from `address` failed digest authentication (wrong password or unknown user). */
  authFailed(address: string, user: string | undefined, method: string): void {
    this.counters.authFailures++;
    if (this.allowed(address)) {
      this.events.authFailure?.({ address, user, method, failures: 0 });
      return;
    }
    const t = this.track(address);
    const now = this.clock.now();
    t.failures = t.failures.filter((at) => now - at < this.policy.authWindowMs);
    t.failures.push(now);
    this.events.authFailure?.({ address, user, method, failures: t.failures.length });
    if (t.failures.length >= this.policy.authFailures) this.ban(address, 'auth-failures');
  }

  /** A request from `address` was challenged: it carried no credentials, or a stale nonce. */
  challenged(address: string): void {
    if (this.policy.unansweredChallenges <= 0 || this.allowed(address)) return;
    const t = this.track(address);
    const now = this.clock.now();
    t.challenges = t.challenges.filter((at) => now - at < this.policy.authWindowMs);
    t.challenges.push(now);
    if (t.challenges.length >= this.policy.unansweredChallenges) this.ban(address, 'scan');
  }

  /** A request from `address` authenticated: its unanswered challenges are answered. */
  authenticated(address: string): void {
    const t = this.tracked.get(address);
    if (t) t.challenges = [];
  }

  /**
   * Ban `address` for `durationMs` (the policy's ban time by default). Refused (false) for an
   * allow-listed address or one that is no IP address.
   */
  ban(address: string, reason: BanReason, durationMs = this.policy.banMs): boolean {
    const key = canonicalAddress(address);
    if (key === undefined || this.allowed(key)) return false;
    if (!this.bans.has(key) && this.bans.size >= this.maxBans) {
      // The ban closest to its end makes room.
      let soonest: string | undefined;
      let soonestMs = Infinity;
      for (const [a, b] of this.bans)
        if (b.untilMs < soonestMs) {
          soonestMs = b.untilMs;
          soonest = a;
        }
      if (soonest !== undefined) this.bans.delete(soonest);
    }
    const wall = this.clock.wallNow();
    const ban: Ban = {
      reason,
      sinceWallMs: wall,
      untilMs: this.clock.now() + durationMs,
      untilWallMs: wall + durationMs,
      dropped: this.bans.get(key)?.dropped ?? 0,
    };
    this.bans.set(key, ban);
    this.tracked.delete(key);
    this.counters.banned[reason]++;
    this.events.banned?.(this.view(key, ban));
    return true;
  }

  /** Lift a ban by hand; false when the address was not banned. */
  unban(address: string): boolean {
    const key = canonicalAddress(address) ?? address;
    if (!this.bans.has(key)) return false;
    this.lift(key, false);
    return true;
  }

  /** The bans in force (expired ones are lifted first). */
  list(): SourceBan[] {
    const now = this.clock.now();
    for (const [a, b] of [...this.bans]) if (now >= b.untilMs) this.lift(a, true);
    return [...this.bans].map(([a, b]) => this.view(a, b));
  }

  dump(): SourceGuardDump {
    return {
      bans: this.list(),
      tracked: this.tracked.size,
      counters: { ...this.counters, banned: { ...this.counters.banned } },
    };
  }

  private lift(address: string, expired: boolean): void {
    const ban = this.bans.get(address);
    if (!ban) return;
    this.bans.delete(address);
    this.events.unbanned?.({ address, reason: ban.reason, expired });
  }

  private track(address: string): Tracked {
    let t = this.tracked.get(address);
    if (t) {
      // Most recently seen last: the first entry is the one to forget.
      this.tracked.delete(address);
      this.tracked.set(address, t);
      return t;
    }
    if (this.tracked.size >= this.maxTracked) {
      const oldest = this.tracked.keys().next().value;
      if (oldest !== undefined) this.tracked.delete(oldest);
    }
    t = { failures: [], challenges: [], windowAtMs: this.clock.now(), inWindow: 0 };
    this.tracked.set(address, t);
    return t;
  }

  private view(address: string, b: Ban): SourceBan {
    return {
      address,
      reason: b.reason,
      sinceWallMs: b.sinceWallMs,
      untilWallMs: b.untilWallMs,
      dropped: b.dropped,
    };
  }
}
