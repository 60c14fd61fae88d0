/**
 * The gateway's source protection: the `SourceGuard` under the configuration's `security`
 * policy, its metrics, and one parsable security log line at `warn` per failed digest and per
 * ban (`event: "auth-failure"`, `event: "source-banned"`, with the source address), so that an
 * external fail2ban can follow the same events.
 */
import type { Clock } from '../../../../base/clock.ts';
import { parseAddressRange, type AddressRange } from '../../../../base/address-range.ts';
import type { Logger } from '../../core/log.ts';
import type { Counter, Gauge, MetricsRegistry } from '../../core/metrics.ts';
import type { SecurityConfig } from '../../store/config-schema.ts';
import type { DigestFailureReason } from '../auth/digest.ts';
import type { RequestAuthResult } from '../auth/request-auth.ts';
import type { SipEndpoint } from '../message/types.ts';
import { SourceGuard, type SourceGuardPolicy } from './source-guard.ts';

/** Failures that say someone is guessing: a wrong password, a user that does not exist, a replay. */
const GUESSING: ReadonlySet<DigestFailureReason> = new Set(['bad-response', 'unknown-user', 'replay']);

export interface SourceProtectionOptions {
  security: SecurityConfig;
  /** Addresses of trunk members: never banned. */
  trunkAddresses: readonly string[];
  clock: Clock;
  metrics: MetricsRegistry;
  logger: Logger;
}

export class SourceProtection {
  readonly guard: SourceGuard;
  private readonly m: { authFailures: Counter; bans: Counter; dropped: Counter; active: Gauge };
  private readonly log: Logger;

  constructor(o: SourceProtectionOptions) {
    this.log = o.logger;
    this.m = {
      authFailures: o.metrics.counter(
        'edgeline_sip_auth_failures_total',
        'Requests that failed digest authentication by guessing (wrong password, unknown user, replay)',
      ),
      bans: o.metrics.counter('edgeline_sip_source_bans_total', 'Sources banned, by reason'),
      dropped: o.metrics.counter(
        'edgeline_sip_banned_dropped_total',
        'Datagrams, messages and connections from banned sources, dropped unread',
      ),
      active: o.metrics.gauge('edgeline_sip_source_bans_active', 'Sources banned now'),
    };
    this.guard = new SourceGuard(policyOf(o.security, o.trunkAddresses), o.clock, {
      authFailure: (e) =>
        this.log.warn(
          { event: 'auth-failure', source: e.address, user: e.user, method: e.method, failures: e.failures },
          'security: digest authentication failed',
        ),
      banned: (b) => {
        this.m.bans.inc({ reason: b.reason });
        this.m.active.set(this.guard.list().length);
        this.log.warn(
          {
            event: 'source-banned',
            source: b.address,
            reason: b.reason,
            until: new Date(b.untilWallMs).toISOString(),
          },
          'security: source banned',
        );
      },
      unbanned: (e) => {
        this.m.active.set(this.guard.list().length);
        this.log.info(
          { event: 'source-unbanned', source: e.address, reason: e.reason, expired: e.expired },
          'security: source ban lifted',
        );
      },
    });
  }

  /** A new configuration: the policy changes, bans in force stay (allow-listed ones are lifted). */
  update(security: SecurityConfig, trunkAddresses: readonly string[]): void {
    this.guard.setPolicy(policyOf(security, trunkAddresses));
  }

  /** For the transports: false drops the datagram, message or connection unread. */
  readonly admit = (address: string): boolean => {
    if (this.guard.admit(address)) return true;
    this.m.dropped.inc();
    return false;
  };

  /**
   * The digest check of a request from `source`: a guess (wrong password, unknown user, replay)
   * counts towards an `auth-failures` ban, a challenge never answered towards a `scan` ban, a
   * success clears the source's unanswered challenges.
   */
  digestChecked(source: SipEndpoint, method: string, r: RequestAuthResult): void {
    if (r.ok) return this.guard.authenticated(source.address);
    if (r.reason === 'missing' || r.reason === 'stale') return this.guard.challenged(source.address);
    if (!GUESSING.has(r.reason)) return;
    this.m.authFailures.inc();
    this.guard.authFailed(source.address, r.username, method);
  }
}

function policyOf(s: SecurityConfig, trunkAddresses: readonly string[]): SourceGuardPolicy {
  const allow: AddressRange[] = [];
  // The configuration was validated: every entry parses; a trunk host name that is no address
  // (resolved elsewhere) is skipped here.
  for (const a of [...s.allow, ...trunkAddresses]) {
    const r = parseAddressRange(a);
    if (r.ok) allow.push(r.value);
  }
  return {
    authFailures: s.authFailures,
    authWindowMs: s.authWindowS * 1000,
    banMs: s.banS * 1000,
    unansweredChallenges: s.unansweredChallenges,
    floodPerS: s.floodPerS,
    allow,
  };
}
