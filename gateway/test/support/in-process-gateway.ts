/**
 * The gateway's SIP side in one process, for tests of call control that talk SIP at the wire:
 * the real transaction layer, registrar, digest authenticator, request dispatcher, routing table
 * and B2BUA, wired as `build-gateway.ts` wires them, over a `MemoryTransport` instead of UDP
 * sockets, on a `ManualClock` for every timer. Phones and trunk peers are `TestUa`s on the same
 * `MemoryNetwork`.
 *
 * What is left out, and why: the media engine (the media hook passes SDP through unchanged; no
 * RTP socket is opened), the records database and CDR writer (a `CdrLog` sink keeps the rows),
 * trunk health probing (every configured member counts as up), the PSTN user agent and the HTTP
 * API. None of them decides anything call control's signalling tests look at.
 *
 * Apps on legs (`legApps`): the B2BUA hands a call to a service number to the app the test
 * registered for it (`serve`, or `serveConnect` / `serveMediaServices` for the real connect,
 * echo, milliwatt, conference and monitor services), with a
 * `FakeLocalMedia` as the media of the legs the gateway terminates. Apps are async: `flow(ms)`
 * lets time pass with their continuations run between the clock's steps.
 *
 * `assertNothingLeftBehind()` is the end of every test: every dialog any phone had is probed on
 * the wire (481 expected), every phone unregisters, time runs past the last transaction timer,
 * and then no call, transaction, dialog, media session or armed timer may remain — nor an app on
 * a leg still running, a local media leg not freed or a media bridge not ended.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../../base/clock.ts';
import { callControlSettings } from '../../src/call-control-settings.ts';
import { B2bua, type ExtensionInfo, type TrunkInfo, type TrunkMemberInfo } from '../../src/call/b2bua.ts';
import type { Call } from '../../src/call/call.ts';
import type { Leg } from '../../src/call/leg.ts';
import type { LegApp } from '../../src/call/leg-app.ts';
import type {
  CdrSink,
  InteractionRecord,
  LegRecord,
  MediaHook,
  ServerTxPort,
  SipSenderPort,
} from '../../src/call/ports.ts';
import { silentLogger } from '../../src/core/log.ts';
import { MetricsRegistry } from '../../src/core/metrics.ts';
import { memberKey } from '../../src/failover/types.ts';
import { bumpSdpVersion, parseSdp, serializeSdp, withDirection } from '../../src/media/sdp/sdp.ts';
import { routesWithPstnTrunks } from '../../src/pstn/pstn-trunk.ts';
import { RequestDispatcher } from '../../src/request-dispatcher.ts';
import { RoutingTable } from '../../src/routing/sip-routing.ts';
import { DigestAuthenticator, computeDigestAuthorization } from '../../src/sip/auth/digest.ts';
import { authenticateRequest } from '../../src/sip/auth/request-auth.ts';
import {
  createResponse,
  type SipEndpoint,
  type SipRequest,
  type SipResponse,
} from '../../src/sip/message/index.ts';
import { Registrar, type Binding, type BindingStore } from '../../src/sip/registrar/registrar.ts';
import { TransactionLayer, defaultTimerValues } from '../../src/sip/transaction/index.ts';
import type { Config } from '../../src/store/config-schema.ts';
import { validateConfig } from '../../src/store/config-validate.ts';
import { ConnectService, type ConnectOptions } from '../../src/services/connect.ts';
import { MediaServices } from '../../src/services/media-services.ts';
import { MonitorService } from '../../src/services/monitor.ts';
import { tonePlanForCountry } from '../../../base/signal/tone-plan.ts';
import { ok } from '../../../base/result.ts';
import { FakeLocalMedia } from './fake-local-media.ts';
import { MemoryNetwork, MemoryTransport } from './memory-sip-net.ts';
import { TestUa, type TestUaOptions } from './test-ua.ts';

/** The gateway's SIP address on the test network. */
export const GATEWAY_ADDRESS = '10.0.0.1';

/** Past every transaction timer (64·T1 for B, F, H, J, L, M; 32 s for D; T4 for I, K). */
const SETTLE_MS = 64 * defaultTimerValues.T1 + defaultTimerValues.T4 + 1000;

export interface InProcessGatewayOptions {
  /** A configuration document, validated (defaults filled in) as the gateway validates config.json. */
  config?: Record<string, unknown>;
  /** One-way latency between any two hosts, unless set per pair with `net.setLatency`. */
  latencyMs?: number;
  /** The media hook; by default `PassThroughMedia`. */
  media?: MediaHook;
  /**
   * Apps on legs by service number (the number must be a service of `config`): with it the B2BUA
   * gets `legApps` over `localMedia`. More can be added with `serve`. Without it there are none.
   */
  legApps?: Record<string, TestLegApp>;
}

/** An app on the leg of a call to a service number: what was dialled is in `service`. */
export type TestLegApp = (
  leg: Leg,
  call: Call,
  service: { number: string; target: string | undefined },
) => Promise<void>;

/** A CDR sink that keeps the rows. */
export class CdrLog implements CdrSink {
  readonly legs: LegRecord[] = [];
  readonly interactions: InteractionRecord[] = [];

  leg(row: LegRecord): void {
    this.legs.push(row);
  }

  interaction(row: InteractionRecord): void {
    this.interactions.push(row);
  }
}

/**
 * The media hook with media anchoring off: every SDP crosses unchanged, as `passThroughMedia`
 * does. It also accepts the steps of a blind transfer (the offer for the target, the swap, the
 * transferee's resume), which `passThroughMedia` lacks — without them the B2BUA refuses REFER —
 * so that transfer signalling can be tested without the media engine: the offers it returns are
 * the descriptions given, and a resume re-offers the last one sent, a=sendrecv, version + 1
 * (RFC 3264 §8). It keeps which call keys it saw and released, so a test can tell that no media
 * session outlives its call.
 */
export class PassThroughMedia implements MediaHook {
  readonly relayed: Array<{ callKey: string; fromLeg: 'a' | 'b'; sdp: string }> = [];
  private readonly seen = new Set<string>();
  private readonly released = new Set<string>();

  relay(callKey: string, fromLeg: 'a' | 'b', sdp: Buffer): Buffer {
    this.seen.add(callKey);
    this.released.delete(callKey);
    this.relayed.push({ callKey, fromLeg, sdp: sdp.toString() });
    return sdp;
  }

  release(callKey: string): void {
    this.released.add(callKey);
  }

  describe(callKey: string): void {
    this.seen.add(callKey);
  }

  transferOffer(_callKey: string, _keepSide: 'a' | 'b', newKey: string, sdp: Buffer): Buffer {
    this.seen.add(newKey);
    return sdp;
  }

  completeTransfer(_callKey: string, _keepSide: 'a' | 'b', newKey: string): boolean {
    // The new party's leg joins the call: its key is the call's from now on.
    this.released.add(newKey);
    return true;
  }

  resumeOffer(_callKey: string, _side: 'a' | 'b', previous: Buffer): Buffer | undefined {
    const parsed = parseSdp(previous);
    if (!parsed.ok) return undefined;
    return Buffer.from(serializeSdp(bumpSdpVersion(withDirection(parsed.value, 'sendrecv'))));
  }

  resumeAnswer(): boolean {
    return true;
  }

  /** Call keys that were given SDP or a party and never released. */
  unreleased(): string[] {
    return [...this.seen].filter((k) => !this.released.has(k));
  }
}

/** The test network's phones and peers, and the gateway between them. */
export class InProcessGateway {
  readonly clock = new ManualClock();
  readonly net: MemoryNetwork;
  readonly transport: MemoryTransport;
  readonly tx: TransactionLayer;
  readonly registrar: Registrar;
  readonly b2bua: B2bua;
  readonly cdr = new CdrLog();
  readonly media: MediaHook;
  readonly config: Config;
  readonly metrics = new MetricsRegistry();
  /** Calls of `reportMember` (trunk member outcomes), in order. */
  readonly memberReports: Array<{ trunkId: string; member: string; result: 'ok' | 'timeout' | number }> = [];
  /** The media of the legs the gateway terminates (apps on legs and the legs they originate). */
  readonly localMedia: FakeLocalMedia;
  /** The SIP port call control sends through (for a leg a test builds itself). */
  readonly sip: SipSenderPort;
  private readonly uas: TestUa[] = [];
  private readonly apps = new Map<string, TestLegApp>();
  private appsRunning = 0;
  private readonly auth: DigestAuthenticator;
  private readonly routing: RoutingTable;

  constructor(opts: InProcessGatewayOptions = {}) {
    const cfg = validateConfig(opts.config ?? {});
    if (!cfg.ok) throw new Error(`test configuration is invalid: ${cfg.error.message}`);
    const config = cfg.value;
    this.config = config;
    this.media = opts.media ?? new PassThroughMedia();
    this.net = new MemoryNetwork(this.clock, opts.latencyMs ?? 0);
    this.transport = new MemoryTransport(this.net, GATEWAY_ADDRESS, 5060);
    const clock = this.clock;
    this.localMedia = new FakeLocalMedia(clock, GATEWAY_ADDRESS);
    for (const [number, app] of Object.entries(opts.legApps ?? {})) this.apps.set(number, app);

    this.auth = new DigestAuthenticator({
      realm: config.system.domain,
      algorithms: config.sip.digestAlgorithms,
      nonceTtlMs: config.sip.nonceTtlS * 1000,
      clock,
      secret: Buffer.alloc(32, 7),
    });
    this.routing = new RoutingTable(
      {
        country: config.system.country,
        extensions: config.extensions,
        outbound: routesWithPstnTrunks(config.routes.outbound),
        inbound: config.routes.inbound,
        services: config.services,
        ringGroups: config.ringGroups,
      },
      // Time conditions read the manual clock's wall time (the gateway passes none: the system's).
      () => clock.wallNow(),
    );

    const dispatcher: { current?: RequestDispatcher } = {};
    const serverPort = (request: SipRequest, stx: { respond(res: SipResponse): void }, source: SipEndpoint) =>
      ({ request, source, respond: (res) => stx.respond(res) }) satisfies ServerTxPort;
    this.tx = new TransactionLayer({
      clock,
      timers: clock,
      send: (msg, dest) => this.transport.send(msg, dest),
      onRequest: (req, stx, source) => dispatcher.current?.onRequest(serverPort(req, stx, source)),
      onCancel: (cancel, inviteTx, cancelTx, source) =>
        this.b2bua.onCancel(serverPort(cancel, cancelTx, source), inviteTx?.request),
      onAck: (ack) => this.b2bua.onAck(ack),
      metrics: this.metrics,
      logger: silentLogger,
    });
    this.transport.onMessage = (msg, source) => this.tx.receive(msg, source);

    const bindings = new Map<string, Binding>();
    const store: BindingStore = {
      all: () => [...bindings.values()],
      upsert: (b) => void bindings.set(`${b.aor} ${b.contact}`, b),
      remove: (aor, contact) => void bindings.delete(`${aor} ${contact}`),
    };
    this.registrar = new Registrar({
      domain: config.system.domain,
      clock,
      timers: clock,
      auth: this.auth,
      lookupUser: (user) => this.lookupUser(user),
      store,
      minExpiresS: config.sip.registerMinExpiresS,
      maxExpiresS: config.sip.registerMaxExpiresS,
      defaultExpiresS: config.sip.registerDefaultExpiresS,
      maxContacts: config.sip.maxContactsPerExtension,
      metrics: this.metrics,
      logger: silentLogger,
    });

    const sip: SipSenderPort = (this.sip = {
      sendRequest: (req, dest, tu) => this.tx.sendRequest(req, dest, tu),
      sendStateless: (msg, dest) => this.transport.send(msg, dest),
      localSentBy: (t) => this.transport.localSentBy(t),
    });
    this.b2bua = new B2bua({
      sip,
      clock,
      timers: clock,
      logger: silentLogger,
      metrics: this.metrics,
      media: this.media,
      cdr: this.cdr,
      domain: () => config.system.domain,
      userAgent: () => config.sip.userAgent,
      routing: () => this.routing,
      extension: (n) => this.extensionInfo(n),
      contacts: (n) => this.registrar.lookup(n).map((b) => ({ contact: b.contact, source: b.source })),
      trunkBySource: (s) => this.trunkBySource(s),
      trunk: (id) => this.trunkInfo(id),
      usableMembers: (id) => this.usableMembers(id),
      reportMember: (trunkId, member, result) => this.memberReports.push({ trunkId, member, result }),
      authenticate: (req) => {
        if (!config.sip.authenticateCalls)
          return { ok: false as const, response: createResponse(req, 403, 'Forbidden') };
        const r = authenticateRequest(req, this.auth, (u) => this.lookupUser(u));
        return r.ok
          ? { ok: true as const, username: r.username }
          : { ok: false as const, response: r.response };
      },
      authorize: (challenge, method, uri, creds) => {
        const r = computeDigestAuthorization({ challenge, method, uri, ...creds });
        return r.ok ? r.value : undefined;
      },
      t1Ms: callControlSettings.t1Ms,
      t2Ms: callControlSettings.t2Ms,
      ringTimeoutMs: callControlSettings.ringTimeoutMs,
      maxCalls: callControlSettings.maxCalls,
      sessionTimer: () => config.sip,
      ...(opts.legApps
        ? { legApps: { media: this.localMedia, appFor: (_s, number, target) => this.appFor(number, target) } }
        : {}),
    });
    dispatcher.current = new RequestDispatcher({
      b2bua: this.b2bua,
      register: (req, stx) => this.registrar.handleRegister(req, stx.source),
      fromTrunk: (stx) => this.trunkBySource(stx.source) !== undefined,
      authenticate: (req) => {
        const r = authenticateRequest(req, this.auth, (u) => this.lookupUser(u));
        return r.ok ? { ok: true } : { ok: false, response: r.response };
      },
      metrics: this.metrics,
      supportedExtensions: callControlSettings.supportedExtensions,
    });
  }

  get endpoint(): SipEndpoint {
    return this.transport.endpoint;
  }

  /** A phone of extension `number` (its password from the configuration) at `address`. */
  phone(number: string, address: string, opts: Partial<TestUaOptions> = {}): TestUa {
    const ext = this.config.extensions.find((e) => e.number === number);
    return this.peer(number, address, { password: ext?.password, ...opts });
  }

  /** A user agent at `address` (a trunk peer when `address` is a member of a configured trunk). */
  peer(user: string, address: string, opts: Partial<TestUaOptions> = {}): TestUa {
    const ua = new TestUa({
      clock: this.clock,
      net: this.net,
      proxy: this.endpoint,
      user,
      domain: this.config.system.domain,
      address,
      ...opts,
    });
    this.uas.push(ua);
    return ua;
  }

  /** Phones registered (200 OK asserted), in the order given. */
  registered(...phones: Array<[number: string, address: string]>): TestUa[] {
    const uas = phones.map(([n, a]) => this.phone(n, a));
    const exchanges = uas.map((ua) => ua.register());
    this.run();
    exchanges.forEach((ex, i) =>
      assert.equal(ex.status, 200, `REGISTER of ${phones[i]?.join(' at ') ?? ''} got ${ex.status}`),
    );
    return uas;
  }

  /** Let `ms` pass, delivering every datagram and firing every timer that falls due. */
  run(ms = 0): void {
    this.clock.advance(ms);
  }

  /**
   * Let `ms` pass in steps of `stepMs`, running what apps do between the steps: their awaits
   * resume in microtasks, which a synchronous `run` never yields to.
   */
  async flow(ms = 0, stepMs = 10): Promise<void> {
    const end = this.clock.now() + ms;
    for (;;) {
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        this.clock.advance(0);
      }
      const left = end - this.clock.now();
      if (left <= 0) return;
      this.clock.advance(Math.min(stepMs, left));
    }
  }

  /** `flow` until `done()` holds, `maxMs` at most; whether it came to hold. */
  async flowUntil(done: () => boolean, maxMs = 10_000, stepMs = 10): Promise<boolean> {
    const end = this.clock.now() + maxMs;
    await this.flow();
    while (!done() && this.clock.now() < end) await this.flow(stepMs, stepMs);
    return done();
  }

  /** Serve a service number of the configuration with `app` (the B2BUA needs `legApps` given). */
  serve(number: string, app: TestLegApp): void {
    this.apps.set(number, app);
  }

  /**
   * Serve `number` with the connect service the gateway runs (`services/connect.ts`), on the
   * manual clock, the configuration's tone plan and a prompt loader that has every file (a second
   * of silence).
   */
  serveConnect(
    number: string,
    o: Partial<Pick<ConnectOptions, 'startDelayMs' | 'failureToneMs'>> = {},
  ): ConnectService {
    const connect = new ConnectService({
      config: (n) => this.config.services.find((s) => s.number === n && s.type === 'connect'),
      prompts: { load: (file) => Promise.resolve(ok({ id: `file:${file}`, samples: new Int16Array(8000) })) },
      tonePlan: () => tonePlanForCountry(this.config.system.country),
      timers: this.clock,
      logger: silentLogger,
      ...o,
    });
    this.serve(number, (leg, call, s) => connect.run(leg, call, s.number, s.target));
    return connect;
  }

  /**
   * Serve every echo, milliwatt, conference and monitor number of the configuration with the apps
   * the gateway runs (`services/media-services.ts`, `services/monitor.ts`).
   */
  serveMediaServices(): { media: MediaServices; monitor: MonitorService } {
    const at = (n: string, type: string) =>
      this.config.services.find((s) => s.number === n && s.type === type);
    const media = new MediaServices({ conference: (n) => at(n, 'conference'), logger: silentLogger });
    const monitor = new MonitorService({ config: (n) => at(n, 'monitor'), logger: silentLogger });
    for (const { number, type } of this.config.services) {
      if (type === 'echo' || type === 'milliwatt') this.serve(number, (leg) => media.lineTest(leg, type));
      else if (type === 'conference') this.serve(number, (leg) => media.conference(leg, number));
      else if (type === 'monitor') this.serve(number, (leg, _call, s) => monitor.run(leg, number, s.target));
    }
    return { media, monitor };
  }

  /**
   * Nothing is left behind: no dialog answers on the wire (every dialog any UA had gets 481),
   * and once every phone has unregistered and every transaction has run its course there is no
   * call in the B2BUA's dump, no transaction in any stack, no live dialog in any UA, no media
   * session unreleased, no binding and no armed timer.
   */
  assertNothingLeftBehind(): void {
    this.run();
    assert.equal(this.appsRunning, 0, 'every app on a leg has returned');
    const probes = this.uas.flatMap((ua) => ua.dialogs.map((d) => ({ ua, d, ex: ua.probe(d) })));
    this.run();
    for (const { ua, d, ex } of probes)
      assert.equal(
        ex.status,
        481,
        `${ua.user}@${ua.address}: dialog ${d.id.callId} still answers (${ex.status ?? 'no answer'})`,
      );
    for (const ua of this.uas) if (ua.isRegistered) ua.unregister();
    this.run(SETTLE_MS);
    assert.deepEqual(this.b2bua.dump().calls, [], 'no call in the B2BUA');
    assert.equal(this.b2bua.activeCalls, 0);
    assert.deepEqual(
      Object.values(this.tx.dump().active).filter((n) => n > 0),
      [],
      'no transaction in the gateway',
    );
    for (const ua of this.uas)
      assert.deepEqual(ua.dump(), { transactions: 0, liveDialogs: 0 }, `${ua.user}@${ua.address}`);
    if (this.media instanceof PassThroughMedia)
      assert.deepEqual(this.media.unreleased(), [], 'every media session released');
    assert.deepEqual(this.localMedia.unreleased(), [], 'the media of every local leg freed');
    assert.deepEqual(this.localMedia.joined(), [], 'no media bridge left');
    assert.deepEqual(this.registrar.dump().bindings, [], 'no binding');
    assert.deepEqual(this.clock.armed(), [], 'no armed timer');
  }

  close(): void {
    for (const ua of this.uas) ua.close();
    this.b2bua.close();
    this.registrar.close();
    this.tx.close();
    this.transport.close();
    this.auth.close();
  }

  /** The app registered for `number`, run as the B2BUA runs it, counted while it runs. */
  private appFor(number: string, target: string | undefined): LegApp | undefined {
    const app = this.apps.get(number);
    if (!app) return undefined;
    return async (leg, call) => {
      this.appsRunning++;
      try {
        await app(leg, call, { number, target });
      } finally {
        this.appsRunning--;
      }
    };
  }

  private lookupUser(user: string): { password: string } | undefined {
    const ext = this.config.extensions.find((e) => e.number === user && e.enabled !== false);
    return ext ? { password: ext.password } : undefined;
  }

  private extensionInfo(number: string): ExtensionInfo | undefined {
    const e = this.config.extensions.find((x) => x.number === number && x.enabled !== false);
    return e ? { number: e.number, displayName: e.displayName, permission: e.permission } : undefined;
  }

  /** UDP members are known by address and port, as the gateway knows them (members are IPs here). */
  private trunkBySource(source: SipEndpoint): TrunkInfo | undefined {
    const t = this.config.trunks.find((x) =>
      x.members.some(
        (m) => m.transport === source.transport && m.host === source.address && m.port === source.port,
      ),
    );
    return t ? this.trunkInfo(t.id) : undefined;
  }

  private trunkInfo(id: string): TrunkInfo | undefined {
    const t = this.config.trunks.find((x) => x.id === id);
    return t
      ? { id: t.id, identity: t.identity, failover: t.failover, credentials: t.credentials }
      : undefined;
  }

  private usableMembers(trunkId: string): TrunkMemberInfo[] {
    const t = this.config.trunks.find((x) => x.id === trunkId);
    return (t?.members ?? []).map((m) => ({
      key: memberKey(m),
      host: m.host,
      port: m.port,
      transport: m.transport,
    }));
  }
}
