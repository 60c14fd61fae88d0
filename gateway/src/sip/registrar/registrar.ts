/**
 * The registrar of the gateway's extensions (RFC 3261 §10.3), sans-I/O: a REGISTER in, the
 * response out, bindings kept in memory and written through to a persistent store.
 *
 * Bindings expire on wall time (they must survive a restart, and a monotonic origin does not);
 * a single sweep timer, armed for the next expiry, removes them from memory and the store.
 */
import type { Clock, TimerHandle, Timers } from '../../../../base/clock.ts';
import type { Logger } from '../../core/log.ts';
import type { MetricsRegistry } from '../../core/metrics.ts';
import type { DigestAuthenticator } from '../auth/digest.ts';
import {
  authenticateRequest,
  registrarRole,
  type RequestAuthResult,
  type UserLookup,
} from '../auth/request-auth.ts';
import {
  createResponse,
  formatUri,
  generateTag,
  isSipUri,
  parseCSeq,
  parseNameAddr,
  parseUri,
} from '../message/index.ts';
import type { SipEndpoint, SipRequest, SipResponse, SipUri } from '../message/index.ts';

export interface Binding {
  /** Normalized address-of-record, `sip:<user>@<domain>`. */
  aor: string;
  /** The Contact URI as registered. */
  contact: string;
  /** Wall-clock expiry (ms since the epoch). */
  expiresAtMs: number;
  callId: string;
  cseq: number;
  /**
   * Where the REGISTER came from (the address and port RFC 3581 `received`/`rport` would name).
   * Requests to a phone behind NAT go here when its Contact is private or unreachable.
   */
  source: SipEndpoint;
  userAgent?: string;
  /** RFC 5626 `+sip.instance`, when the phone sends one. */
  instance?: string;
  /** Contact `q` (0..1). */
  q?: number;
  /** Wall time of the last refresh, to order contacts "most recent first". */
  registeredAtMs?: number;
}

/** Persisted by the store layer; the registrar writes through on every change. */
export interface BindingStore {
  all(): Binding[];
  upsert(b: Binding): void;
  remove(aor: string, contact: string): void;
}

export interface RegistrarDeps {
  domain: string;
  clock: Clock;
  timers: Timers;
  auth: DigestAuthenticator;
  lookupUser: UserLookup;
  store: BindingStore;
  minExpiresS: number;
  maxExpiresS: number;
  defaultExpiresS: number;
  /** Contacts per address-of-record; past it the least recently refreshed binding is replaced. */
  maxContacts: number;
  metrics?: MetricsRegistry;
  logger?: Logger;
  /** Every digest check of a REGISTER, passed or failed (source protection counts them). */
  onDigest?: (source: SipEndpoint, result: RequestAuthResult) => void;
}

/** Upper bound of one sweep sleep, so that a step of the wall clock is noticed within it. */
const MAX_SWEEP_DELAY_MS = 60_000;
/** RFC 3261 §20.19: "an integral number of seconds (in decimal) between 0 and (2**32)-1". */
const MAX_DELTA_SECONDS = 2 ** 32 - 1;

interface ContactChange {
  key: string;
  contact: string;
  expiresS: number;
  q?: number;
  instance?: string;
}

type Outcome =
  | 'ok'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'bad-request'
  | 'interval-too-brief'
  | 'out-of-order'
  | 'bad-extension';

export class Registrar {
  /** Called after the bindings of an address-of-record changed (registered, removed, expired). */
  onBindingsChanged: ((aor: string) => void) | undefined;

  private readonly domain: string;
  /** aor → contact key → binding. */
  private readonly bindings = new Map<string, Map<string, Binding>>();
  private sweepTimer: TimerHandle | undefined;
  private sweepDueMs = Infinity;
  private closed = false;
  private readonly outcomes;
  private readonly bindingGauge;

  constructor(private readonly deps: RegistrarDeps) {
    this.domain = deps.domain.toLowerCase();
    this.outcomes = deps.metrics?.counter('edgeline_sip_register_total', 'REGISTER requests by outcome');
    this.bindingGauge = deps.metrics
      ?.gauge('edgeline_sip_registrar_bindings', 'Live registrar bindings')
      .collect(() => [{ value: this.count() }]);
    const now = deps.clock.wallNow();
    for (const b of deps.store.all()) {
      if (b.expiresAtMs <= now) {
        deps.store.remove(b.aor, b.contact);
        continue;
      }
      this.put(b);
    }
    this.armSweep();
  }

  /**
   * Handle one REGISTER (the transaction layer has absorbed retransmissions) and return the final
   * response. Never throws on bad input: malformed requests get a 4xx.
   */
  handleRegister(req: SipRequest, source: SipEndpoint): SipResponse {
    if (this.closed) return createResponse(req, 503, 'Service Unavailable', { toTag: generateTag() });
    const res = this.process(req, source);
    this.outcomes?.inc({ outcome: res.outcome });
    return res.response;
  }

  /** Live contacts of an extension: best q first, then most recently refreshed first. */
  lookup(user: string): Binding[] {
    const now = this.deps.clock.wallNow();
    const live = [...(this.bindings.get(this.aorOf(user))?.values() ?? [])].filter(
      (b) => b.expiresAtMs > now,
    );
    return live
      .sort((a, b) => (b.q ?? 1) - (a.q ?? 1) || recency(b) - recency(a))
      .map((b) => ({ ...b, source: { ...b.source } }));
  }

  dump(): { domain: string; bindings: Array<Binding & { expiresInS: number }>; sweepInMs: number | null } {
    const now = this.deps.clock.wallNow();
    const bindings: Array<Binding & { expiresInS: number }> = [];
    for (const m of this.bindings.values()) {
      for (const b of m.values())
        bindings.push({ ...b, source: { ...b.source }, expiresInS: remainingS(b, now) });
    }
    return {
      domain: this.domain,
      bindings,
      sweepInMs: Number.isFinite(this.sweepDueMs) ? Math.max(0, this.sweepDueMs - now) : null,
    };
  }

  close(): void {
    this.closed = true;
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    this.sweepDueMs = Infinity;
    this.bindingGauge?.collect(() => []);
  }

  // -------------------------------------------------------------------------------------------

  private process(req: SipRequest, source: SipEndpoint): { outcome: Outcome; response: SipResponse } {
    const reply = (outcome: Outcome, status: number, reason: string, headers: [string, string][] = []) => ({
      outcome,
      response: createResponse(req, status, reason, { headers, toTag: generateTag() }),
    });

    const callId = req.headers.get('call-id')?.trim();
    const cseqParsed = parseCSeq(req.headers.get('cseq') ?? '');
    const toValue = req.headers.get('to');
    const to = toValue === undefined ? undefined : parseNameAddr(toValue);
    if (!callId) return reply('bad-request', 400, 'Missing Call-ID');
    if (!cseqParsed.ok) return reply('bad-request', 400, 'Bad CSeq');
    if (!to?.ok) return reply('bad-request', 400, 'Bad To');
    const cseq = cseqParsed.value.seq;

    // Step 3: "A registrar SHOULD authenticate the UAC." Unknown users and wrong passwords get
    // the same 401 so that extensions cannot be enumerated.
    const auth = authenticateRequest(req, this.deps.auth, this.deps.lookupUser, registrarRole);
    this.deps.onDigest?.(source, auth);
    if (!auth.ok) {
      this.deps.logger?.debug({ reason: auth.reason, source }, 'REGISTER refused by digest');
      return { outcome: 'unauthorized', response: auth.response };
    }

    // Step 2: "the registrar MUST process the Require header field values as described for UASs
    // in Section 8.2.2." None of the extensions a REGISTER may require (path, outbound) is supported.
    const required = req.headers.getList('require');
    if (required.length > 0)
      return reply('bad-extension', 420, 'Bad Extension', [['Unsupported', required.join(', ')]]);

    // Steps 4 and 5: the address-of-record comes from the To header field, and the authenticated
    // user may only modify its own. The AoR is kept normalized to this registrar's domain, since
    // phones address the appliance by its IP address as often as by its name.
    const toUri = nameAddrSipUri(to.value.uri);
    if (toUri === undefined || toUri.user === undefined) return reply('not-found', 404, 'Not Found');
    if (toUri.user !== auth.username) return reply('forbidden', 403, 'Forbidden');
    const aor = this.aorOf(toUri.user);

    const contactValues = req.headers.getList('contact');
    const expiresHeader = parseDeltaSeconds(req.headers.get('expires'));
    const now = this.deps.clock.wallNow();

    // Step 6: "If the Contact header field value is the special value "*" ... If the request has
    // additional Contact fields or an expiration time other than zero, the request is invalid,
    // and the server MUST return a 400 (Invalid Request)."
    if (contactValues.some((c) => c.trim() === '*')) {
      if (contactValues.length !== 1 || expiresHeader !== 0)
        return reply('bad-request', 400, 'Invalid Wildcard');
      const current = this.bindings.get(aor);
      // Step 7 applies to the wildcard too: each binding is checked against Call-ID and CSeq.
      for (const b of current?.values() ?? []) {
        if (b.callId === callId && cseq <= b.cseq) return this.outOfOrder(req);
      }
      if (current && current.size > 0) {
        for (const b of current.values()) this.deps.store.remove(b.aor, b.contact);
        this.bindings.delete(aor);
        this.changed(aor);
      }
      return { outcome: 'ok', response: this.ok(req, aor, now) };
    }

    const changes: ContactChange[] = [];
    for (const value of contactValues) {
      const na = parseNameAddr(value);
      if (!na.ok) return reply('bad-request', 400, 'Bad Contact');
      const uri = nameAddrSipUri(na.value.uri);
      if (uri === undefined) return reply('bad-request', 400, 'Bad Contact');
      // Step 7: "if the field value has an "expires" parameter, that value MUST be taken as the
      // requested expiration. If there is no such parameter, but the request has an Expires
      // header field, that value MUST be taken ... If there is neither, the locally-configured
      // default value MUST be taken". Malformed values count as absent.
      let expiresS = parseDeltaSeconds(na.value.params.get('expires') ?? undefined) ?? expiresHeader;
      expiresS ??= this.deps.defaultExpiresS;
      if (expiresS > 0) {
        // "If and only if the requested expiration interval is greater than zero AND smaller than
        // one hour AND less than a registrar-configured minimum, the registrar MAY reject the
        // registration with a response of 423 (Interval Too Brief)."
        if (expiresS < this.deps.minExpiresS && expiresS < 3600) {
          return reply('interval-too-brief', 423, 'Interval Too Brief', [
            ['Min-Expires', String(this.deps.minExpiresS)],
          ]);
        }
        // "The registrar MAY choose an expiration less than the requested expiration interval."
        expiresS = Math.min(expiresS, this.deps.maxExpiresS);
      }
      const change: ContactChange = { key: contactKey(uri), contact: formatUri(uri), expiresS };
      const q = parseQ(na.value.params.get('q') ?? undefined);
      if (q !== undefined) change.q = q;
      const instance = na.value.params.get('+sip.instance');
      if (instance) change.instance = instance.replace(/^"|"$/g, '');
      changes.push(change);
    }

    // Step 7: "If the binding does exist, the registrar checks the Call-ID value. ... If they are
    // the same, the registrar compares the CSeq value. If the value is higher than that of the
    // existing binding, it MUST update or remove the binding as above. If not, the update MUST be
    // aborted and the request fails." Checked for every contact before anything changes, so the
    // request is applied whole or not at all (§10.3: "processing ... MUST be atomic").
    const current = this.bindings.get(aor) ?? new Map<string, Binding>();
    for (const c of changes) {
      const existing = current.get(c.key);
      if (existing && existing.callId === callId && cseq <= existing.cseq) return this.outOfOrder(req);
    }

    if (changes.length > 0) {
      const userAgent = req.headers.get('user-agent');
      const next = new Map(current);
      const touched = new Set<string>();
      for (const c of changes) {
        touched.add(c.key);
        if (c.expiresS === 0) {
          next.delete(c.key);
          continue;
        }
        const b: Binding = {
          aor,
          contact: c.contact,
          expiresAtMs: now + c.expiresS * 1000,
          callId,
          cseq,
          source: { ...source },
          registeredAtMs: now,
        };
        if (userAgent !== undefined) b.userAgent = userAgent;
        if (c.instance !== undefined) b.instance = c.instance;
        if (c.q !== undefined) b.q = c.q;
        next.set(c.key, b);
      }
      // Too many contacts: replace the least recently refreshed ones rather than refuse. A phone
      // that reboots behind NAT comes back with a new Contact while its old binding lingers until
      // it expires; a 403 would lock that phone out for up to an expiry interval.
      const evictable = [...next.entries()]
        .filter(([k]) => !touched.has(k))
        .sort(([, a], [, b]) => recency(a) - recency(b));
      while (next.size > Math.max(1, this.deps.maxContacts) && evictable.length > 0) {
        const [k] = evictable.shift() ?? [];
        if (k !== undefined) next.delete(k);
      }
      // Commit: write through to the store, then memory.
      for (const [k, b] of current) if (!next.has(k)) this.deps.store.remove(b.aor, b.contact);
      for (const k of touched) {
        const b = next.get(k);
        if (b) this.deps.store.upsert(b);
      }
      if (next.size > 0) this.bindings.set(aor, next);
      else this.bindings.delete(aor);
      this.armSweep();
      this.changed(aor);
    }
    return { outcome: 'ok', response: this.ok(req, aor, now) };
  }

  /**
   * RFC 3261 leaves the status of an aborted out-of-order update open. 500 is what deployed
   * registrars send: the request is well-formed (not a 400), and the UA's newer REGISTER,
   * already processed, is what counts.
   */
  private outOfOrder(req: SipRequest): { outcome: Outcome; response: SipResponse } {
    return {
      outcome: 'out-of-order',
      response: createResponse(req, 500, 'Out-of-Order CSeq', { toTag: generateTag() }),
    };
  }

  /**
   * Step 8: "The response MUST contain Contact header field values enumerating all current
   * bindings. Each Contact value MUST feature an "expires" parameter indicating its expiration
   * interval chosen by the registrar. The response SHOULD include a Date header field."
   */
  private ok(req: SipRequest, aor: string, now: number): SipResponse {
    const headers: [string, string][] = [];
    for (const b of this.bindings.get(aor)?.values() ?? []) {
      if (b.expiresAtMs <= now) continue;
      headers.push(['Contact', `<${b.contact}>;expires=${remainingS(b, now)}`]);
    }
    headers.push(['Date', new Date(now).toUTCString()]);
    return createResponse(req, 200, 'OK', { headers, toTag: generateTag() });
  }

  private aorOf(user: string): string {
    return `sip:${user}@${this.domain}`;
  }

  private put(b: Binding): void {
    const parsed = parseUri(b.contact);
    const key = parsed.ok && isSipUri(parsed.value) ? contactKey(parsed.value) : b.contact;
    let m = this.bindings.get(b.aor);
    if (!m) {
      m = new Map();
      this.bindings.set(b.aor, m);
    }
    m.set(key, { ...b, source: { ...b.source } });
  }

  private count(): number {
    let n = 0;
    for (const m of this.bindings.values()) n += m.size;
    return n;
  }

  private changed(aor: string): void {
    try {
      this.onBindingsChanged?.(aor);
    } catch (e) {
      this.deps.logger?.error({ err: e, aor }, 'onBindingsChanged listener failed');
    }
  }

  private armSweep(): void {
    if (this.closed) return;
    let next = Infinity;
    for (const m of this.bindings.values()) for (const b of m.values()) next = Math.min(next, b.expiresAtMs);
    if (next === this.sweepDueMs && this.sweepTimer) return;
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    this.sweepDueMs = next;
    if (!Number.isFinite(next)) return;
    const delayMs = Math.min(MAX_SWEEP_DELAY_MS, Math.max(0, next - this.deps.clock.wallNow()));
    this.sweepTimer = this.deps.timers.start('registrar-sweep', delayMs, () => {
      this.sweepTimer = undefined;
      this.sweepDueMs = Infinity;
      this.sweep();
    });
  }

  private sweep(): void {
    const now = this.deps.clock.wallNow();
    for (const [aor, m] of [...this.bindings]) {
      let removed = false;
      for (const [k, b] of [...m]) {
        if (b.expiresAtMs > now) continue;
        m.delete(k);
        this.deps.store.remove(b.aor, b.contact);
        removed = true;
      }
      if (m.size === 0) this.bindings.delete(aor);
      if (removed) {
        this.deps.logger?.debug({ aor }, 'bindings expired');
        this.changed(aor);
      }
    }
    this.armSweep();
  }
}

function nameAddrSipUri(uri: string): SipUri | undefined {
  const parsed = parseUri(uri);
  return parsed.ok && isSipUri(parsed.value) ? parsed.value : undefined;
}

/**
 * The identity of a Contact under RFC 3261 §19.1.4 comparison, simplified: scheme, user and
 * password exact, host case-insensitive, port with its default, and the parameters that must
 * match when present (transport, user, ttl, method, maddr). Other parameters are ignored, as
 * "any uri-parameter appearing in only one URI is ignored" in most practical cases.
 */
function contactKey(u: SipUri): string {
  const significant = ['transport', 'user', 'ttl', 'method', 'maddr']
    .map((p) => {
      const v = u.params.get(p);
      return v === undefined ? '' : `;${p}=${(v ?? '').toLowerCase()}`;
    })
    .join('');
  const userinfo =
    u.user === undefined ? '' : `${u.user}${u.password === undefined ? '' : `:${u.password}`}@`;
  return `${u.scheme}:${userinfo}${u.host.toLowerCase()}:${u.port ?? (u.scheme === 'sips' ? 5061 : 5060)}${significant}`;
}

function parseDeltaSeconds(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d{1,20}$/.test(t)) return undefined;
  return Math.min(Number(t), MAX_DELTA_SECONDS);
}

/** RFC 3261 §25.1: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
function parseQ(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

function recency(b: Binding): number {
  return b.registeredAtMs ?? b.expiresAtMs;
}

function remainingS(b: Binding, now: number): number {
  return Math.max(0, Math.ceil((b.expiresAtMs - now) / 1000));
}
