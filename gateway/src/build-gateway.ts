/**
 * The gateway process: the composition root that wires configuration, records, SIP transports,
 * transactions, registrar, trunk health, the B2BUA and the HTTP API together, and takes them
 * down again in order. Only this module (and the shells it wires) touches the network and disk.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApi } from './api/app.ts';
import { viaFor } from './call/sip-call.ts';
import { B2bua, type ExtensionInfo, type TrunkInfo, type TrunkMemberInfo } from './call/b2bua.ts';
import { passThroughMedia, type ServerTxPort, type SipSenderPort } from './call/ports.ts';
import { systemClock, systemTimers, type Clock, type Timers } from '../../base/clock.ts';
import { EdgeError, ErrorCodes } from './core/errors.ts';
import { createLogger, type Logger } from './core/log.ts';
import { MetricsRegistry } from './core/metrics.ts';
import { MediaEngine } from './media/engine/engine.ts';
import { PstnService } from './pstn/pstn-service.ts';
import { tonePlanOf } from './pstn/call-progress.ts';
import {
  pstnApiRoutes,
  pstnInboundDestination,
  pstnTrunkInfo,
  routesWithPstnTrunks,
} from './pstn/pstn-trunk.ts';
import { simHttpPlugin } from '../../drivers/sim/http-plugin.ts';
import { RecorderClient } from './media/record/recorder-client.ts';
import { repairRecordings } from './media/record/recording-repair.ts';
import { recordingPath } from './media/record/recording-writer.ts';
import { ServiceAnswerer } from './services/service-answerer.ts';
import { PromptLibrary } from './media/play/prompt-library.ts';
import { AnnouncementService } from './services/announcement.ts';
import { LocalMedia } from './services/local-media.ts';
import { ConnectService } from './services/connect.ts';
import { tonePlanForCountry } from '../../base/signal/tone-plan.ts';
import { MediaServices } from './services/media-services.ts';
import { MonitorService } from './services/monitor.ts';
import { memberKey, toMemberRef, type MemberRef } from './failover/types.ts';
import { TrunkMonitor, type ProbeResult } from './failover/trunk-health.ts';
import { RoutingTable } from './routing/sip-routing.ts';
import { DigestAuthenticator, computeDigestAuthorization } from './sip/auth/digest.ts';
import { authenticateRequest } from './sip/auth/request-auth.ts';
import { createResponse, generateCallId, generateTag } from './sip/message/index.ts';
import { SipHeaders, type SipEndpoint, type SipRequest, type SipResponse } from './sip/message/types.ts';
import {
  Registrar,
  type Binding as RegistrarBinding,
  type BindingStore as RegistrarStore,
} from './sip/registrar/registrar.ts';
import { TransactionLayer } from './sip/transaction/index.ts';
import { SipTransports, ensureCertificate } from './sip/transport/index.ts';
import { SourceProtection } from './sip/security/source-protection.ts';
import { securityRoutes } from './api/security-routes.ts';
import type { Config, TrunkConfig } from './store/config-schema.ts';
import { ConfigStore } from './store/config-store.ts';
import { seedDemoIfFirstStart } from './store/demo-config.ts';
import { installDemoPrompts } from './store/demo-prompts.ts';
import { Records } from './store/records.ts';
import type { GatewayFlags } from './flags.ts';
import { RequestDispatcher } from './request-dispatcher.ts';
import { callControlSettings } from './call-control-settings.ts';
import { TrunkRegistrations } from './failover/trunk-registrations.ts';
import { CdrWriter } from './store/cdr-writer.ts';

export interface GatewayOptions extends GatewayFlags {
  logger?: Logger;
  clock?: Clock;
  timers?: Timers;
}

export class Gateway {
  private readonly clock: Clock;
  private readonly timers: Timers;
  readonly metrics = new MetricsRegistry();
  private routing!: RoutingTable;
  private trunkAddresses = new Map<string, TrunkConfig>();
  private resolvedMembers = new Map<string, string>();
  /** Source protection (bans, flood limit); set by the first `applyConfig`. */
  private protection!: SourceProtection;
  private closing = false;
  private startedMs: number;
  private config!: ConfigStore;
  private records!: Records;
  private transports!: SipTransports;
  private tx!: TransactionLayer;
  private registrar!: Registrar;
  private auth!: DigestAuthenticator;
  private monitor!: TrunkMonitor;
  private b2bua!: B2bua;
  private registrations!: TrunkRegistrations;
  private cdr!: CdrWriter;
  private services: ServiceAnswerer | undefined;
  private prompts: PromptLibrary | undefined;
  private announcements: AnnouncementService | undefined;
  private localMedia: LocalMedia | undefined;
  private connect: ConnectService | undefined;
  private monitorService: MonitorService | undefined;
  private mediaEngine: MediaEngine | undefined;
  private pstn: PstnService | undefined;
  private recorder: RecorderClient | undefined;
  private http!: FastifyInstance;
  private readonly log: Logger;

  private constructor(readonly opts: GatewayOptions) {
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    this.log = opts.logger ?? createLogger();
    this.startedMs = this.clock.now();
  }

  /** Start everything or nothing: a failure closes what was opened and rejects with an EdgeError. */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const gw = new Gateway(opts);
    try {
      await gw.open();
      return gw;
    } catch (e) {
      // The start failure is the error to report; a failure while undoing it is logged by close().
      await gw.close();
      throw e;
    }
  }

  get sipPort(): number {
    return this.transports.localSentBy('udp').port;
  }

  get httpPort(): number {
    const addr = this.http.server.address();
    return typeof addr === 'object' && addr ? addr.port : this.opts.httpPort;
  }

  private async open(): Promise<void> {
    const { dataDir } = this.opts;
    await mkdir(dataDir, { recursive: true });
    const store = await ConfigStore.open(dataDir, { clock: this.clock });
    if (!store.ok)
      throw new EdgeError(ErrorCodes.CONFIG_INVALID, store.error.message, { field: store.error.field });
    this.config = store.value;
    if (this.opts.demo && this.config.firstStart) {
      const seeded = await seedDemoIfFirstStart(this.config);
      if (!seeded.ok) throw new EdgeError(ErrorCodes.CONFIG_INVALID, seeded.error.message);
      if (seeded.value)
        this.log.info('demo configuration seeded: extensions 1001-1008, *43 echo, *44 milliwatt');
    }
    if (this.opts.demo) {
      const copied = await installDemoPrompts(dataDir);
      if (copied.length > 0) this.log.info({ copied }, 'demo prompts installed');
    }
    const records = Records.open(dataDir);
    if (!records.ok) throw new EdgeError(ErrorCodes.STORE_MIGRATION, records.error.message);
    this.records = records.value;
    // Records a crash cut short: closed once, as interrupted, at the last time known.
    const interrupted = this.records.closeInterrupted(new Date(this.clock.wallNow()).toISOString());
    if (interrupted.interactions + interrupted.legs > 0)
      this.log.warn(
        { event: 'records-interrupted', ...interrupted },
        'records of calls cut by a crash closed as interrupted',
      );
    const repaired = repairRecordings(join(dataDir, 'recordings'));
    if (repaired.repaired.length > 0)
      this.log.warn(
        { event: 'recordings-repaired', files: repaired.repaired },
        'recordings cut by a crash repaired',
      );
    this.cdr = new CdrWriter(dataDir, this.log, 100, 1000, () => this.clock.wallNow());
    await this.cdr.whenReady();

    const cfg = this.config.get();
    this.auth = new DigestAuthenticator({
      realm: cfg.system.domain,
      algorithms: cfg.sip.digestAlgorithms,
      nonceTtlMs: cfg.sip.nonceTtlS * 1000,
      clock: this.clock,
      secret: await loadSecret(dataDir),
    });
    await this.applyConfig(cfg);

    const cert = await ensureCertificate(dataDir);
    this.transports = await SipTransports.listen({
      host: this.opts.host,
      udpPort: this.opts.sipPort,
      tcpPort: this.opts.sipPort,
      tlsPort: this.opts.sipPort === 0 ? 0 : this.opts.sipPort + 1,
      tls: { cert: cert.cert, key: cert.key },
      metrics: this.metrics,
      logger: this.log,
      clock: this.clock,
      timers: this.timers,
      admit: this.protection.admit,
    });

    this.tx = new TransactionLayer({
      clock: this.clock,
      timers: this.timers,
      send: (msg, dest) => this.transports.send(msg, dest),
      onRequest: (req, stx, source) => this.dispatcher.onRequest(serverPort(req, stx, source)),
      onCancel: (cancel, inviteTx, cancelTx, source) =>
        this.b2bua.onCancel(serverPort(cancel, cancelTx, source), inviteTx?.request),
      onAck: (ack) => this.b2bua.onAck(ack),
      metrics: this.metrics,
      logger: this.log,
    });
    this.transports.onMessage = (msg, source) => this.tx.receive(msg, source);

    const bindings = this.records.bindings;
    const bindingStore: RegistrarStore = {
      all: () =>
        bindings.all().flatMap((b) => {
          const source = parseSource(b.source);
          return source
            ? [
                {
                  ...b,
                  source,
                  userAgent: b.userAgent ?? undefined,
                  instance: b.instance ?? undefined,
                  q: b.q ?? undefined,
                },
              ]
            : [];
        }),
      upsert: (b: RegistrarBinding) =>
        bindings.upsert({ ...b, source: `${b.source.transport}:${b.source.address}:${b.source.port}` }),
      remove: (aor, contact) => void bindings.remove(aor, contact),
    };
    this.registrar = new Registrar({
      domain: cfg.system.domain,
      clock: this.clock,
      timers: this.timers,
      auth: this.auth,
      lookupUser: (user) => this.lookupUser(user),
      store: bindingStore,
      minExpiresS: cfg.sip.registerMinExpiresS,
      maxExpiresS: cfg.sip.registerMaxExpiresS,
      defaultExpiresS: cfg.sip.registerDefaultExpiresS,
      maxContacts: cfg.sip.maxContactsPerExtension,
      metrics: this.metrics,
      logger: this.log,
      onDigest: (source, result) => this.protection.digestChecked(source, 'REGISTER', result),
    });

    this.monitor = new TrunkMonitor(
      {
        clock: this.clock,
        timers: this.timers,
        probe: (m) => this.probe(m),
        onStateChange: (m, state, reason) =>
          this.log.warn(
            { trunk: m.trunkId, member: memberKey(m), state, reason },
            'trunk member state changed',
          ),
        metrics: this.metrics,
        logger: this.log,
      },
      cfg.trunks,
    );

    const sip: SipSenderPort = {
      sendRequest: (req, dest, tu) => this.tx.sendRequest(req, dest, tu),
      sendStateless: (msg, dest) => this.transports.send(msg, dest),
      localSentBy: (t) => this.transports.localSentBy(t),
    };
    // Recordings are files of the data directory, never served by any URL (DESIGN §3).
    const recordingsDir = join(dataDir, 'recordings');
    await mkdir(recordingsDir, { recursive: true });
    const recorder = new RecorderClient({ dir: recordingsDir });
    this.recorder = recorder;
    recorder.onError((e) => this.log.error({ ...e }, 'recording failed'));
    // The engine runs whether or not calls are anchored: the service numbers' legs live in it too.
    // Prompt files are read and decoded here, once; the relay workers get the decoded frames.
    const prompts = new PromptLibrary({ dataDir, logger: this.log });
    this.prompts = prompts;
    await prompts.configureMusicOnHold(cfg.media.musicOnHold);
    this.mediaEngine = await MediaEngine.start({
      musicOnHold: () => prompts.musicOnHold(),
      clock: this.clock,
      host: this.opts.host,
      rtpPorts: this.opts.rtpPorts,
      codecs: cfg.media.codecs,
      policy: () => this.config.get().media.codecs,
      // Per trunk and extension: codec list, SRTP policy, direct media (configuration, live).
      endpointPolicy: (party) => {
        const c = this.config.get();
        const e =
          party.kind === 'trunk'
            ? c.trunks.find((t) => t.id === party.id)
            : c.extensions.find((x) => x.number === party.id);
        return e ? { codecs: e.codecs, srtp: e.srtp, directMedia: e.directMedia } : undefined;
      },
      deadMediaTimeoutS: cfg.media.deadMediaTimeoutS,
      onDeadMedia: (key) => void this.b2bua.hangupCall(key, 'dead media'),
      recorder: {
        open: (id) => recorder.open(id),
        write: (id, frames) => recorder.write(id, frames),
        close: (id) => recorder.close(id),
        channel: () => recorder.channel(),
        pathOf: (id) => recordingPath(recordingsDir, id),
      },
      shouldRecord: () => this.config.get().media.recording === 'all',
      onDigit: (e) => {
        this.log.info({ ...e }, 'dtmf digit');
        this.localMedia?.digit(e);
      },
      metrics: this.metrics,
      logger: this.log,
    });
    this.services = new ServiceAnswerer({
      host: this.opts.host,
      engine: this.mediaEngine,
      clock: this.clock,
      logger: this.log,
      metrics: this.metrics,
    });
    const engine = this.mediaEngine;
    const serviceAt = (n: string, type: string) =>
      this.config.get().services.find((x) => x.number === n && x.type === type);
    const mediaServices = new MediaServices({
      conference: (n) => serviceAt(n, 'conference'),
      logger: this.log,
    });
    const monitorService = new MonitorService({ config: (n) => serviceAt(n, 'monitor'), logger: this.log });
    this.monitorService = monitorService;
    const announcements = new AnnouncementService({
      config: (n) => serviceAt(n, 'announcement'),
      prompts,
      timers: this.timers,
      logger: this.log,
    });
    this.announcements = announcements;
    const connect = new ConnectService({
      config: (n) => serviceAt(n, 'connect'),
      prompts,
      tonePlan: () => tonePlanForCountry(this.config.get().system.country),
      timers: this.timers,
      logger: this.log,
    });
    this.connect = connect;
    const localMedia = new LocalMedia({
      answerer: this.services,
      engine: {
        play: (key, side, list, o) => engine.play(key, side, list, o),
        stopPlay: (key, side) => engine.stopPlay(key, side),
        bridgeService: (a, b) => engine.bridgeService(a, b),
        unbridgeService: (id) => engine.unbridgeService(id),
        recordLeg: (key, recordingId, received) => engine.recordLeg(key, recordingId, received),
        startRecording: (key, recordingId, received) => engine.startRecording(key, recordingId, received),
        stopRecording: (recordingId) => engine.stopRecording(recordingId),
        recordingClosed: (recordingId) => engine.recordingClosed(recordingId),
      },
      musicOnHold: () => prompts.musicOnHold(),
    });
    this.localMedia = localMedia;
    this.b2bua = new B2bua({
      legApps: {
        media: localMedia,
        appFor: (service, number, target) => {
          switch (service) {
            case 'echo':
            case 'milliwatt':
              return (leg) => mediaServices.lineTest(leg, service);
            case 'conference':
              return (leg) => mediaServices.conference(leg, number);
            case 'monitor':
              return (leg) => monitorService.run(leg, number, target);
            case 'announcement':
              return (leg) => announcements.run(leg, number);
            case 'connect':
              return (leg, call) => connect.run(leg, call, number, target);
            default:
              return undefined;
          }
        },
      },
      sip,
      clock: this.clock,
      timers: this.timers,
      logger: this.log,
      metrics: this.metrics,
      media: cfg.media.anchor ? this.mediaEngine : passThroughMedia,
      cdr: this.cdr,
      domain: () => this.config.get().system.domain,
      userAgent: () => this.config.get().sip.userAgent,
      routing: () => this.routing,
      extension: (n) => this.extensionInfo(n),
      contacts: (n) => this.registrar.lookup(n).map((b) => ({ contact: b.contact, source: b.source })),
      trunkBySource: (s) => this.trunkBySource(s),
      trunk: (id) => this.trunkInfo(id),
      usableMembers: (id) => this.usableMembers(id),
      reportMember: (trunkId, key, result) => this.reportMember(trunkId, key, result),
      authenticate: (req, source) => this.authenticateCall(req, source),
      authorize: (challenge, method, uri, creds) => {
        const r = computeDigestAuthorization({
          challenge,
          method,
          uri,
          username: creds.username,
          password: creds.password,
        });
        return r.ok ? r.value : undefined;
      },
      t1Ms: callControlSettings.t1Ms,
      t2Ms: callControlSettings.t2Ms,
      ringTimeoutMs: callControlSettings.ringTimeoutMs,
      maxCalls: callControlSettings.maxCalls,
      sessionTimer: () => this.config.get().sip,
      pstnInbound: (line, did, caller) =>
        pstnInboundDestination(this.config.get(), line, did, caller, this.clock.wallNow()),
      pstn: {
        frames: this.mediaEngine,
        // The ports are opened below, before any call can reach the B2BUA.
        dialer: {
          dial: (group, number, handler) => {
            const ports = this.pstn;
            if (ports) return ports.dial(group, number, handler);
            queueMicrotask(() => handler.failed(503, 'Service Unavailable (no PSTN ports)'));
            return { hangup: () => undefined, sendDigit: () => undefined };
          },
        },
        host: this.opts.host,
        progress: () => {
          const c = this.config.get();
          return c.pstn.callProgress.answer === 'early'
            ? { plan: tonePlanOf(c.system), failureToneMs: c.pstn.callProgress.failureToneMs }
            : undefined;
        },
      },
    });
    this.dispatcherInstance = new RequestDispatcher({
      b2bua: this.b2bua,
      register: (req, stx) => this.registrar.handleRegister(req, stx.source),
      fromTrunk: (stx) => this.trunkBySource(stx.source) !== undefined,
      authenticate: (req, source) => {
        const r = this.checkDigest(req, source);
        return r.ok ? { ok: true } : { ok: false, response: r.response };
      },
      metrics: this.metrics,
      supportedExtensions: callControlSettings.supportedExtensions,
    });
    this.registrations = new TrunkRegistrations({
      clock: this.clock,
      timers: this.timers,
      logger: this.log,
      metrics: this.metrics,
      sendRequest: (req, dest, tu) => void this.tx.sendRequest(req, dest, tu),
      localSentBy: (t) => this.transports.localSentBy(t),
      resolve: (host) => this.resolvedMembers.get(host) ?? host,
      userAgent: () => this.config.get().sip.userAgent,
    });
    this.registrations.update(cfg.trunks);
    this.config.onChange((next) => {
      void this.prompts?.configureMusicOnHold(next.media.musicOnHold);
      this.auth.update({
        realm: next.system.domain,
        algorithms: next.sip.digestAlgorithms,
        nonceTtlMs: next.sip.nonceTtlS * 1000,
      });
      void this.applyConfig(next).then(() => {
        this.monitor.update(next.trunks);
        this.registrations.update(next.trunks);
      });
    });

    // The cards and their ports: incoming calls go to the B2BUA as PSTN legs, outgoing ones are dialled.
    this.pstn = await PstnService.start({
      config: () => this.config.get(),
      demo: this.opts.demo,
      clock: this.clock,
      timers: this.timers,
      logger: this.log,
      metrics: this.metrics,
      media: this.mediaEngine,
      calls: () => this.b2bua,
    });
    const office = this.pstn.office;

    this.metrics.gauge('edgeline_up', 'The gateway is running').set(1);
    this.http = buildApi({
      extraRoutes: [
        pstnApiRoutes(() => this.pstn, this.config),
        securityRoutes(() => this.protection.guard),
        ...(office
          ? [
              async (app: FastifyInstance) => {
                await app.register(simHttpPlugin, { office, dataDir });
              },
            ]
          : []),
      ],
      config: this.config,
      records: this.records,
      metrics: this.metrics,
      health: () => this.health(),
      dumps: {
        process: () => ({ uptimeS: Math.round(process.uptime()), memory: process.memoryUsage() }),
        cdrWriter: () => this.cdr.dump(),
        calls: () => this.b2bua.dump(),
        registrar: () => this.registrar.dump(),
        trunks: () => this.monitor.dump(),
        trunkRegistrations: () => this.registrations.dump(),
        transactions: () => this.tx.dump(),
        transports: () => this.transports.dump(),
        security: () => this.protection.guard.dump(),
        media: () => ({
          prompts: this.prompts?.dump(),
          announcements: this.announcements?.dump(),
          localMedia: this.localMedia?.dump() ?? null,
          connect: this.connect?.dump() ?? null,
          monitor: this.monitorService?.dump() ?? null,
          ...this.services?.dump(),
          engine: this.mediaEngine?.dump() ?? null,
        }),
        pstn: () => this.pstn?.dump() ?? null,
      },
    });
    try {
      await this.http.listen({ host: this.opts.host, port: this.opts.httpPort });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new EdgeError(ErrorCodes.PORT_IN_USE, `HTTP port ${this.opts.httpPort}/tcp is already in use`, {
          port: this.opts.httpPort,
        });
      }
      throw e;
    }
    this.log.info({ sipPort: this.sipPort, httpPort: this.httpPort, dataDir }, 'edgeline gateway ready');
  }

  private dispatcherInstance: RequestDispatcher | undefined;
  private get dispatcher(): RequestDispatcher {
    if (!this.dispatcherInstance) throw new Error('dispatcher used before start');
    return this.dispatcherInstance;
  }

  health(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.closing) reasons.push('draining: shutting down');
    if (!this.dispatcherInstance) reasons.push('starting');
    const trunks = this.monitor?.dump().trunks ?? [];
    for (const t of trunks) {
      if (t.members.length > 0 && t.members.every((m) => m.state === 'down'))
        reasons.push(`trunk ${t.id}: every member is down`);
    }
    // A trunk being down degrades service but the gateway still serves extensions: it stays ready.
    const fatal = reasons.filter((r) => !r.startsWith('trunk '));
    return { ready: fatal.length === 0, reasons };
  }

  /** SIGTERM: refuse new calls, let calls finish for up to `drainMs`, then close everything. */
  async stop(drainMs = this.opts.drainMs): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.b2bua) {
      const left = await this.b2bua.drain(drainMs, (ms) => new Promise((r) => setTimeout(r, ms)));
      if (left > 0) this.log.warn({ calls: left }, 'drain time over: remaining calls hung up');
      // Let the BYEs of hung-up calls leave before the sockets close.
      await new Promise((r) => setTimeout(r, 50));
    }
    // RFC 3261 §10.2.2: remove our bindings upstream before going away (bounded wait).
    if (this.registrations)
      await Promise.race([this.registrations.stop(), new Promise((r) => setTimeout(r, 2000))]);
    await this.close();
  }

  /**
   * Close every part, in dependency order. A part that fails to close is logged and the rest still
   * close: shutdown never stops half-way, and never hides what failed.
   */
  private async close(): Promise<void> {
    this.closing = true;
    const step = async (part: string, close: () => Promise<unknown> | undefined): Promise<void> => {
      try {
        await close();
      } catch (e) {
        this.log.error({ err: e, part }, 'closing a part of the gateway failed');
      }
    };
    await step('http', () => this.http?.close());
    this.monitor?.close();
    this.registrations?.close();
    this.registrar?.close();
    this.tx?.close();
    this.announcements?.close();
    this.connect?.close();
    await this.services?.close();
    await step('pstn', () => this.pstn?.close());
    await step('media engine', () => this.mediaEngine?.close());
    await step('recorder', () => this.recorder?.stop());
    await step('transports', () => this.transports?.close());
    this.auth?.close();
    await this.cdr?.close();
    this.records?.close();
    await step('config', () => this.config?.close());
  }

  private async applyConfig(cfg: Config): Promise<void> {
    // Time conditions (scheduled outbound routes, inbound routes to a time condition) are read on
    // the gateway's wall clock, the one tests inject.
    this.routing = new RoutingTable(
      {
        country: cfg.system.country,
        extensions: cfg.extensions,
        // Port groups are reached through the PSTN user agent's internal trunk.
        outbound: routesWithPstnTrunks(cfg.routes.outbound),
        inbound: cfg.routes.inbound,
        services: cfg.services,
        ringGroups: cfg.ringGroups,
        timeConditions: cfg.timeConditions,
      },
      () => this.clock.wallNow(),
    );
    // Members may be named by host; calls are matched to trunks by source address, so names are
    // resolved once per configuration change, not per call.
    const resolved = new Map<string, string>();
    const byAddress = new Map<string, TrunkConfig>();
    for (const t of cfg.trunks) {
      for (const m of t.members) {
        let address = m.host;
        if (!isIP(m.host)) {
          try {
            address = (await lookup(m.host)).address;
          } catch {
            this.log.warn({ trunk: t.id, host: m.host }, 'trunk member host does not resolve');
            continue;
          }
        }
        resolved.set(m.host, address);
        // UDP peers send from the port they listen on (RFC 3261 §18.1.1 symmetric signalling is
        // what every trunk peer we serve does), so a UDP member is known by address and port.
        // Stream connections come from ephemeral ports: those are known by address alone.
        byAddress.set(m.transport === 'udp' ? `udp|${address}|${m.port}` : `stream|${address}`, t);
      }
    }
    this.resolvedMembers = resolved;
    this.trunkAddresses = byAddress;
    // Trunk members are never banned, whatever the allow-list says.
    const members = [...resolved.values()];
    if (this.protection) this.protection.update(cfg.security, members);
    else
      this.protection = new SourceProtection({
        security: cfg.security,
        trunkAddresses: members,
        clock: this.clock,
        metrics: this.metrics,
        logger: this.log,
      });
  }

  private lookupUser(user: string): { password: string } | undefined {
    const ext = this.config.get().extensions.find((e) => e.number === user && e.enabled !== false);
    return ext ? { password: ext.password } : undefined;
  }

  private extensionInfo(number: string): ExtensionInfo | undefined {
    const e = this.config.get().extensions.find((x) => x.number === number && x.enabled !== false);
    return e ? { number: e.number, displayName: e.displayName, permission: e.permission } : undefined;
  }

  private trunkBySource(source: SipEndpoint): TrunkInfo | undefined {
    const key =
      source.transport === 'udp' ? `udp|${source.address}|${source.port}` : `stream|${source.address}`;
    const t = this.trunkAddresses.get(key);
    return t ? this.toTrunkInfo(t) : undefined;
  }

  private trunkInfo(id: string): TrunkInfo | undefined {
    const internal = pstnTrunkInfo(id);
    if (internal) return internal;
    const t = this.config.get().trunks.find((x) => x.id === id);
    return t ? this.toTrunkInfo(t) : undefined;
  }

  private toTrunkInfo(t: TrunkConfig): TrunkInfo {
    return { id: t.id, identity: t.identity, failover: t.failover, credentials: t.credentials };
  }

  private usableMembers(trunkId: string): TrunkMemberInfo[] {
    // A port group is dialled on the ports, never by SIP: no member.
    if (pstnTrunkInfo(trunkId)) return [];
    const t = this.config.get().trunks.find((x) => x.id === trunkId);
    if (!t) return [];
    const out: TrunkMemberInfo[] = [];
    // Priority order as configured; members the probes found down are skipped (Kamailio
    // dispatcher: ds_select_dst never picks an inactive destination).
    for (const m of t.members) {
      const ref = toMemberRef(t.id, m);
      if (!this.monitor.isUsable(ref)) continue;
      const address = this.resolvedMembers.get(m.host) ?? m.host;
      out.push({ key: memberKey(m), host: address, port: m.port, transport: m.transport });
    }
    return out;
  }

  private reportMember(trunkId: string, key: string, result: 'ok' | 'timeout' | number): void {
    const t = this.config.get().trunks.find((x) => x.id === trunkId);
    const m = t?.members.find((x) => memberKey(x) === key);
    if (!t || !m) return;
    // With OPTIONS probing on, the probes alone decide a member's state (the Kamailio dispatcher
    // model): one slow answer under load must not take the only member of a trunk out of service.
    // Without probing, call outcomes are the only health signal there is.
    if (t.probe.enabled) return;
    // Only silence and transport failures say the member is sick; a 486 says the callee is busy.
    const ok = result === 'ok' || (typeof result === 'number' && result < 500);
    this.monitor.reportCallResult(toMemberRef(t.id, m), { ok, reason: String(result) });
  }

  /** The digest check of a request from an extension; guesses count towards a ban of the source. */
  private checkDigest(req: SipRequest, source: SipEndpoint) {
    const r = authenticateRequest(req, this.auth, (u) => this.lookupUser(u));
    this.protection.digestChecked(source, req.method, r);
    return r;
  }

  private authenticateCall(req: SipRequest, source: SipEndpoint) {
    const cfg = this.config.get();
    if (!cfg.sip.authenticateCalls) {
      // Without digest on calls, the caller is still bound to an extension by its From user
      // having a live registration from the same source address.
      return { ok: false as const, response: createResponse(req, 403, 'Forbidden') };
    }
    const r = this.checkDigest(req, source);
    return r.ok ? { ok: true as const, username: r.username } : { ok: false as const, response: r.response };
  }

  /** RFC 3261 §11: an OPTIONS outside any dialog, as the trunk health probe. */
  private probe(m: MemberRef): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const address = this.resolvedMembers.get(m.host) ?? m.host;
      const dest: SipEndpoint = { transport: m.transport, address, port: m.port };
      const sentBy = this.transports.localSentBy(m.transport);
      const host = address.includes(':') ? `[${address}]` : address;
      const h = new SipHeaders();
      h.append('via', viaFor({ localSentBy: (t) => this.transports.localSentBy(t) }, m.transport));
      h.append('max-forwards', '70');
      h.append('from', `<sip:edgeline@${sentBy.host}>;tag=${generateTag()}`);
      h.append('to', `<sip:${host}:${m.port}>`);
      h.append('call-id', generateCallId(sentBy.host));
      h.append('cseq', '1 OPTIONS');
      h.append('accept', 'application/sdp');
      h.append('user-agent', this.config.get().sip.userAgent);
      const req: SipRequest = {
        kind: 'request',
        method: 'OPTIONS',
        uri: `sip:${host}:${m.port}${m.transport === 'udp' ? '' : `;transport=${m.transport}`}`,
        version: 'SIP/2.0',
        headers: h,
        body: Buffer.alloc(0),
      };
      const sentAt = this.clock.now();
      this.tx.sendRequest(req, dest, {
        onResponse: (res) => {
          if (res.status >= 200) resolve({ ok: true, status: res.status, rttMs: this.clock.now() - sentAt });
        },
        onTimeout: () => resolve({ ok: false, reason: 'timeout' }),
        onTransportError: () => resolve({ ok: false, reason: 'transport-error' }),
      });
    });
  }

  dump(): Record<string, unknown> {
    return {
      uptimeMs: this.clock.now() - this.startedMs,
      calls: this.b2bua?.dump(),
      trunks: this.monitor?.dump(),
    };
  }
}

function serverPort(
  request: SipRequest,
  stx: { respond(res: SipResponse): void },
  source: SipEndpoint,
): ServerTxPort {
  return { request, source, respond: (res) => stx.respond(res) };
}

function parseSource(s: string): SipEndpoint | undefined {
  const m = /^(udp|tcp|tls):(.+):(\d+)$/.exec(s);
  if (!m) return undefined;
  return { transport: m[1] as SipEndpoint['transport'], address: m[2] ?? '', port: Number(m[3]) };
}

/**
 * The nonce secret lives in the data directory so nonces stay valid across a restart (phones in
 * the middle of a challenge are not bounced) and differ between appliances.
 */
async function loadSecret(dataDir: string): Promise<Buffer> {
  const file = join(dataDir, 'nonce-secret');
  try {
    const s = await readFile(file);
    if (s.length >= 32) return s;
  } catch {
    // first start
  }
  const secret = randomBytes(32);
  await writeFile(`${file}.tmp`, secret, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return secret;
}
