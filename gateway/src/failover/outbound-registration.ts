/**
 * Outbound registration of the appliance to a trunk's registrar (RFC 3261 §10), sans-I/O: the
 * shell sends each REGISTER as a non-INVITE client transaction and hands back the final response;
 * this core decides expiry, authentication, refresh and back-off.
 *
 * §10.2: "A UA MUST increment the CSeq value by one for each REGISTER request with the same
 * Call-ID" — the shell keeps one Call-ID per registration and takes the CSeq from here.
 */
import type { Clock, TimerHandle, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Counter, Gauge, MetricsRegistry } from '../core/metrics.ts';

export interface RegisterRequest {
  /** Expires header value; 0 removes the binding (§10.2.2). */
  expiresS: number;
  /** Credentials answering the last challenge, for the header named by `authHeader`. */
  authorization?: string;
  /** 401 is answered with Authorization, 407 with Proxy-Authorization (§22.2, §22.3). */
  authHeader?: 'authorization' | 'proxy-authorization';
  cseq: number;
}

export interface RegisterReplyHeaders {
  wwwAuthenticate?: string[];
  proxyAuthenticate?: string[];
  expires?: number;
  /** The `expires` parameter of our own Contact in the 2xx. */
  contactExpires?: number;
  minExpires?: number;
  retryAfterS?: number;
}

export type RegisterReply = { status: number; headers: RegisterReplyHeaders } | { timeout: true };

export interface OutboundRegistrationDeps {
  clock: Clock;
  timers: Timers;
  sendRegister(req: RegisterRequest): Promise<RegisterReply>;
  /** Digest response for one challenge, or undefined when it cannot be answered (no credentials, unknown algorithm). */
  computeAuthorization(challenge: string, method: 'REGISTER', uri: string): string | undefined;
  /** Uniform [0, 1) for back-off jitter; injectable so tests are exact. */
  random?: () => number;
  onStateChange?(state: RegistrationState, reason: string): void;
  metrics?: MetricsRegistry;
  logger?: Logger;
}

export interface OutboundRegistrationConfig {
  trunkId: string;
  /** Request-URI of the REGISTER (the registrar's domain, §10.2), used as digest-uri. */
  registrarUri: string;
  expiresS: number;
  retryMinS: number;
  retryMaxS: number;
  /**
   * Upper bound on one REGISTER exchange when the port's promise never settles: Timer F
   * (64·T1 = 32 s, §17.1.2.2) plus a margin. Default 40 000.
   */
  requestGuardMs?: number;
}

/**
 * - `registering`: a REGISTER (initial, refresh, or answering a challenge) is outstanding.
 * - `registered`: the registrar granted a binding; the refresh timer is armed.
 * - `retry-wait`: the last attempt failed; the back-off timer is armed.
 * - `unregistering`: a REGISTER with Expires: 0 is outstanding.
 * - `failed`: the registrar cannot be satisfied with what we have (no usable credentials); only
 *   `start()` (normally after a configuration change) tries again.
 */
export type RegistrationState =
  'idle' | 'registering' | 'registered' | 'retry-wait' | 'unregistering' | 'failed';

const EDGES: Record<RegistrationState, readonly RegistrationState[]> = {
  idle: ['registering'],
  registering: ['registered', 'retry-wait', 'failed', 'unregistering', 'idle'],
  registered: ['registering', 'unregistering', 'idle'],
  'retry-wait': ['registering', 'unregistering', 'idle'],
  unregistering: ['idle'],
  failed: ['registering', 'idle'],
};

/**
 * §10.2.4 leaves the refresh point to the client ("the UA SHOULD refresh... before the expiration
 * interval has elapsed"). We refresh early enough that a full non-INVITE transaction (Timer F,
 * 32 s) plus a challenge round trip fits before the binding lapses, and never later than halfway.
 */
const REFRESH_MARGIN_S = 40;

export function refreshAfterS(grantedS: number): number {
  return grantedS - Math.min(grantedS / 2, REFRESH_MARGIN_S);
}

/**
 * Back-off after `failures` consecutive failures, after RFC 5626 §4.5:
 * "W = min (max-time, (base-time * (2 ^ consecutive-failures)))" and "the UA waits a random amount
 * of time between 50% and 100% of W" — with base-time = retryMinS so the first retry waits up to
 * retryMinS. `random` = 0 gives exactly W.
 */
export function backoffS(failures: number, retryMinS: number, retryMaxS: number, random: number): number {
  const exp = Math.max(0, failures - 1);
  const w = Math.min(retryMaxS, retryMinS * 2 ** Math.min(exp, 30));
  return w * (1 - 0.5 * Math.min(Math.max(random, 0), 1));
}

const STALE_RE = /(?:^|[\s,])stale\s*=\s*"?true"?/i;

export interface OutboundRegistrationDump {
  trunkId: string;
  registrarUri: string;
  state: RegistrationState;
  cseq: number;
  requestedExpiresS: number;
  grantedExpiresS: number | null;
  registeredAtMs: number | null;
  refreshAtMs: number | null;
  bindingExpiresAtMs: number | null;
  consecutiveFailures: number;
  nextRetryAtMs: number | null;
  lastStatus: number | null;
  lastReason: string | null;
}

export class OutboundRegistration {
  private _state: RegistrationState = 'idle';
  private cseq = 0;
  /** Bumped per request; replies to anything but the newest are ignored. */
  private gen = 0;
  private requestedExpiresS: number;
  private grantedExpiresS: number | undefined;
  private registeredAtMs: number | undefined;
  private bindingExpiresAtMs: number | undefined;
  private consecutiveFailures = 0;
  private lastStatus: number | undefined;
  private lastReason: string | undefined;
  /** The challenge to answer on the next request, and the header it goes in. */
  private challenge: { value: string; header: 'authorization' | 'proxy-authorization' } | undefined;
  /** Per exchange: challenges answered, whether the stale retry was used, 423 retries. */
  private challengesAnswered = 0;
  private staleRetried = false;
  private intervalRetries = 0;
  private stateTimer: TimerHandle | undefined;
  private stateTimerDueMs: number | undefined;
  private guardTimer: TimerHandle | undefined;
  private nextDelayMs = 0;
  private stopWaiters: Array<() => void> = [];
  private readonly random: () => number;
  private readonly counter: Counter | undefined;
  private readonly gauge: Gauge | undefined;

  constructor(
    private readonly deps: OutboundRegistrationDeps,
    private readonly config: OutboundRegistrationConfig,
  ) {
    this.requestedExpiresS = config.expiresS;
    this.random = deps.random ?? Math.random;
    this.counter = deps.metrics?.counter(
      'edgeline_trunk_register_total',
      'REGISTER exchanges by trunk and result',
    );
    this.gauge = deps.metrics?.gauge(
      'edgeline_trunk_registered',
      'Whether the trunk holds a registration (1) or not (0)',
    );
  }

  get state(): RegistrationState {
    return this._state;
  }

  start(): void {
    if (this._state !== 'idle' && this._state !== 'failed') return;
    this.consecutiveFailures = 0;
    this.requestedExpiresS = this.config.expiresS;
    this.challenge = undefined;
    this.beginExchange();
    this.transition('registering', 'start');
    this.send();
  }

  /** Removes the binding (Expires: 0, §10.2.2) when one may exist; settles once idle. */
  stop(): Promise<void> {
    if (this._state === 'idle') return Promise.resolve();
    const done = new Promise<void>((resolve) => this.stopWaiters.push(resolve));
    if (this._state === 'unregistering') return done;
    const bindingMayExist =
      this._state === 'registered' ||
      this._state === 'registering' ||
      (this.bindingExpiresAtMs !== undefined && this.bindingExpiresAtMs > this.deps.clock.now());
    if (this._state === 'failed' || !bindingMayExist) {
      this.transition('idle', 'stopped');
      return done;
    }
    this.beginExchange();
    this.transition('unregistering', 'stop');
    this.send();
    return done;
  }

  dump(): OutboundRegistrationDump {
    const refreshAtMs = this._state === 'registered' ? (this.stateTimerDueMs ?? null) : null;
    const nextRetryAtMs = this._state === 'retry-wait' ? (this.stateTimerDueMs ?? null) : null;
    return {
      trunkId: this.config.trunkId,
      registrarUri: this.config.registrarUri,
      state: this._state,
      cseq: this.cseq,
      requestedExpiresS: this.requestedExpiresS,
      grantedExpiresS: this.grantedExpiresS ?? null,
      registeredAtMs: this.registeredAtMs ?? null,
      refreshAtMs,
      bindingExpiresAtMs: this.bindingExpiresAtMs ?? null,
      consecutiveFailures: this.consecutiveFailures,
      nextRetryAtMs,
      lastStatus: this.lastStatus ?? null,
      lastReason: this.lastReason ?? null,
    };
  }

  /** Stops without unregistering (the binding lapses at its expiry); replies still in flight are ignored. */
  close(): void {
    this.gen++;
    if (this._state !== 'idle') this.transition('idle', 'closed');
    this.clearTimers();
  }

  private beginExchange(): void {
    this.challengesAnswered = 0;
    this.staleRetried = false;
    this.intervalRetries = 0;
  }

  private send(precomputed?: string): void {
    const unregister = this._state === 'unregistering';
    const g = ++this.gen;
    this.cseq++;
    const req: RegisterRequest = { expiresS: unregister ? 0 : this.requestedExpiresS, cseq: this.cseq };
    if (this.challenge) {
      // §22.3 lets a client reuse credentials for the same realm; the digest port advances the
      // nonce count. A stale nonce only costs one extra challenge round.
      const auth =
        precomputed ??
        this.deps.computeAuthorization(this.challenge.value, 'REGISTER', this.config.registrarUri);
      if (auth !== undefined) {
        req.authorization = auth;
        req.authHeader = this.challenge.header;
      }
    }
    this.guardTimer?.cancel();
    this.guardTimer = this.deps.timers.start('register-guard', this.config.requestGuardMs ?? 40_000, () => {
      this.guardTimer = undefined;
      this.onReply(g, { timeout: true });
    });
    let pending: Promise<RegisterReply>;
    try {
      pending = this.deps.sendRegister(req);
    } catch {
      pending = Promise.resolve({ timeout: true });
    }
    void pending.then(
      (r) => this.onReply(g, r),
      () => this.onReply(g, { timeout: true }),
    );
  }

  private onReply(g: number, reply: RegisterReply): void {
    if (g !== this.gen) return;
    if (this._state !== 'registering' && this._state !== 'unregistering') return;
    this.gen++;
    this.guardTimer?.cancel();
    this.guardTimer = undefined;
    const unregister = this._state === 'unregistering';
    if ('timeout' in reply) {
      this.lastStatus = undefined;
      this.failure('timeout', undefined);
      return;
    }
    const { status, headers } = reply;
    this.lastStatus = status;
    this.counter?.inc({ trunk: this.config.trunkId, result: String(status) });
    if (status >= 200 && status < 300) {
      if (unregister) {
        this.bindingExpiresAtMs = undefined;
        this.grantedExpiresS = undefined;
        this.transition('idle', 'unregistered');
        return;
      }
      // §10.2.4: the 2xx lists the current bindings, "each Contact value featuring an 'expires'
      // parameter indicating its expiration interval chosen by the registrar"; without one the
      // Expires header, failing that our own request.
      const granted = headers.contactExpires ?? headers.expires ?? this.requestedExpiresS;
      if (!(granted > 0)) {
        this.failure('binding-not-granted', undefined);
        return;
      }
      this.grantedExpiresS = granted;
      this.registeredAtMs = this.deps.clock.now();
      this.bindingExpiresAtMs = this.registeredAtMs + granted * 1000;
      this.consecutiveFailures = 0;
      this.nextDelayMs = refreshAfterS(granted) * 1000;
      this.transition('registered', `registered-${status}`);
      return;
    }
    if (status === 401 || status === 407) {
      this.onChallenge(status, status === 401 ? headers.wwwAuthenticate : headers.proxyAuthenticate);
      return;
    }
    if (status === 423 && !unregister) {
      // §10.2.8: "the registrar MAY reject the request with a 423 (Interval Too Brief) response
      // ... This response MUST contain a Min-Expires header field"; the UA then retries with an
      // expiration interval not shorter than it.
      const min = headers.minExpires;
      if (min !== undefined && min > this.requestedExpiresS && this.intervalRetries < 2) {
        this.intervalRetries++;
        this.requestedExpiresS = min;
        this.send();
        return;
      }
      this.failure('interval-too-brief', headers.retryAfterS);
      return;
    }
    this.failure(`status-${status}`, headers.retryAfterS);
  }

  /**
   * §22.2: "When a UAC resubmits a request with its credentials after receiving a 401 ... or 407
   * ... response, it MUST increment the CSeq header field value as it would normally". One answer
   * per exchange; a second challenge means the credentials were refused — unless it says
   * stale=true, RFC 2617 §3.2.1: "indicating that the previous request from the client was
   * rejected because the nonce value was stale ... The client may wish to simply retry the request
   * with a new encrypted response, without reprompting the user", which we do once.
   */
  private onChallenge(status: 401 | 407, challenges: string[] | undefined): void {
    const header = status === 401 ? 'authorization' : 'proxy-authorization';
    let usable: string | undefined;
    let auth: string | undefined;
    for (const c of challenges ?? []) {
      auth = this.deps.computeAuthorization(c, 'REGISTER', this.config.registrarUri);
      if (auth !== undefined) {
        usable = c;
        break;
      }
    }
    if (usable === undefined || auth === undefined) {
      if (this._state === 'unregistering') this.transition('idle', 'unregister-unauthorised');
      else this.transition('failed', 'no-usable-credentials');
      return;
    }
    const stale = STALE_RE.test(usable);
    if (this.challengesAnswered === 0 || (stale && !this.staleRetried)) {
      if (this.challengesAnswered > 0) this.staleRetried = true;
      this.challengesAnswered++;
      this.challenge = { value: usable, header };
      this.send(auth);
      return;
    }
    this.challenge = undefined;
    this.failure('auth-rejected', undefined);
  }

  private failure(reason: string, retryAfterS: number | undefined): void {
    this.lastReason = reason;
    if (reason === 'timeout') this.counter?.inc({ trunk: this.config.trunkId, result: 'timeout' });
    if (this._state === 'unregistering') {
      // The binding lapses at its expiry anyway; nothing is gained by retrying a removal.
      this.transition('idle', `unregister-${reason}`);
      return;
    }
    this.consecutiveFailures++;
    const delayS =
      retryAfterS !== undefined && retryAfterS > 0
        ? // §20.33 Retry-After: "how long the service is expected to be unavailable to the
          // requesting client" — the registrar's own answer wins over our back-off.
          retryAfterS
        : backoffS(this.consecutiveFailures, this.config.retryMinS, this.config.retryMaxS, this.random());
    this.nextDelayMs = delayS * 1000;
    this.transition('retry-wait', reason);
  }

  private transition(to: RegistrationState, reason: string): void {
    const from = this._state;
    if (!EDGES[from].includes(to)) throw new Error(`illegal registration transition ${from} -> ${to}`);
    this.clearTimers();
    this._state = to;
    this.lastReason = reason;
    switch (to) {
      case 'registered':
        this.armStateTimer('refresh', () => {
          this.beginExchange();
          this.transition('registering', 'refresh');
          this.send();
        });
        break;
      case 'retry-wait':
        this.armStateTimer('retry', () => {
          this.beginExchange();
          this.requestedExpiresS = Math.max(this.requestedExpiresS, this.config.expiresS);
          this.transition('registering', 'retry');
          this.send();
        });
        break;
      case 'idle':
        this.gen++;
        for (const w of this.stopWaiters.splice(0)) w();
        break;
      case 'registering':
      case 'unregistering':
      case 'failed':
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown registration state ${String(never)}`);
      }
    }
    this.gauge?.set(to === 'registered' ? 1 : 0, { trunk: this.config.trunkId });
    this.deps.logger?.info(
      { trunk: this.config.trunkId, from, to, reason },
      'trunk registration state changed',
    );
    this.deps.onStateChange?.(to, reason);
  }

  private armStateTimer(name: string, fire: () => void): void {
    this.stateTimerDueMs = this.deps.clock.now() + this.nextDelayMs;
    this.stateTimer = this.deps.timers.start(name, this.nextDelayMs, () => {
      this.stateTimer = undefined;
      this.stateTimerDueMs = undefined;
      fire();
    });
  }

  private clearTimers(): void {
    this.stateTimer?.cancel();
    this.stateTimer = undefined;
    this.stateTimerDueMs = undefined;
    this.guardTimer?.cancel();
    this.guardTimer = undefined;
  }
}
