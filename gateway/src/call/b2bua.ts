/**
 * The B2BUA: turns each new INVITE into a `SipCall`, finds in-dialog requests their call, writes
 * CDRs when calls end, and drains on shutdown.
 *
 * Who may call: a request from a configured trunk member is a trunk call, routed by DID; any
 * other source must authenticate as a local extension (digest, 407 challenge). Nothing from an
 * unknown source is ever served (toll-fraud protection).
 */
import type { Clock, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import type { Destination, RoutingTable } from '../routing/sip-routing.ts';
import { createResponse, generateTag, getTag, parseNameAddr, parseUri } from '../sip/message/index.ts';
import { causeOfSipStatus } from './hangup-cause.ts';
import { CallRecords, outcomeOf } from './call-records.ts';
import { checkDialString } from './dial-string.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../sip/message/types.ts';
import type { CdrSink, MediaHook, ServerTxPort, SipSenderPort } from './ports.ts';
import { ringGroupTargets } from './ring-group-targets.ts';
import { splitTargets } from './attempt-plan.ts';
import { SipCall, type CallerIdentity, type OutboundTarget } from './sip-call.ts';
import { runLegApp, type LegApp } from './leg-app.ts';
import type { LocalMediaPort } from './leg-media.ts';
import { InboundSipLeg } from './sip-leg/inbound-sip-leg.ts';
import { OutboundSipLeg, type DialogOwner, type OutboundSipLegOptions } from './sip-leg/outbound-sip-leg.ts';
import { Call, type MediaLeg, type OriginateRequest, type Originator } from './call.ts';
import type { CallFailure, LegParty } from './leg.ts';
import { err, ok, type Result } from '../../../base/result.ts';
import { randomUUID } from 'node:crypto';
import type { TonePlan } from '../../../base/signal/tone-plan.ts';
import type { PstnCallControl, PstnCallSink, PstnDialer, PstnIncoming } from '../pstn/pstn-calls.ts';
import { OutboundPstnLeg } from './pstn-leg/outbound-pstn-leg.ts';
import { connectTandem } from './pstn-tandem.ts';
import { PstnLeg, type PstnFramePort } from './pstn-leg/pstn-leg.ts';

/** Apps that answer service numbers on the Leg interface (they never see the SIP dialog). */
export interface LegApps {
  media: LocalMediaPort;
  /**
   * The app that answers `service` at `number`, or undefined when no leg app runs it. `target`:
   * what was dialled after the service number (an extension to connect to).
   */
  appFor(service: string, number: string, target: string | undefined): LegApp | undefined;
}

export interface ExtensionInfo {
  number: string;
  displayName?: string;
  permission: 'internal' | 'local' | 'national' | 'international' | 'premium';
}

export interface ContactInfo {
  contact: string;
  source: SipEndpoint;
}

export interface TrunkInfo {
  id: string;
  identity: { trusted: boolean; acceptPai: boolean; sendPai: boolean };
  failover: { inviteTimeoutMs: number; onStatus: readonly number[] };
  credentials?: { username: string; password: string };
  /** A port group of the gateway's own PSTN ports, as a route names it: dialled on the ports. */
  pstnGroup?: string;
}

export interface TrunkMemberInfo {
  /** `host:port/transport`, stable across config revisions. */
  key: string;
  host: string;
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
  /** URI parameters the member needs in the Request-URI (the PSTN trunk: `;group=<port group>`). */
  uriParams?: string;
}

/** Everything the B2BUA asks of the rest of the gateway. */
export interface B2buaDeps {
  sip: SipSenderPort;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  metrics: MetricsRegistry;
  media: MediaHook;
  cdr: CdrSink;
  domain: () => string;
  userAgent: () => string;
  routing: () => RoutingTable;
  extension(number: string): ExtensionInfo | undefined;
  contacts(number: string): ContactInfo[];
  /** The trunk a request came from, by source address (members of trunks that accept only from members). */
  trunkBySource(source: SipEndpoint): TrunkInfo | undefined;
  trunk(id: string): TrunkInfo | undefined;
  /** Members of a trunk to try, in order, known-down ones left out. */
  usableMembers(trunkId: string): TrunkMemberInfo[];
  reportMember(trunkId: string, memberKey: string, result: 'ok' | 'timeout' | number): void;
  /** Digest check of a request from an extension: the username, or the 407 to send. */
  authenticate(
    req: SipRequest,
    source: SipEndpoint,
  ): { ok: true; username: string } | { ok: false; response: SipResponse };
  authorize(
    challenge: string,
    method: string,
    uri: string,
    creds: { username: string; password: string },
  ): string | undefined;
  t1Ms: number;
  t2Ms: number;
  ringTimeoutMs: number;
  maxCalls: number;
  /**
   * Apps on legs (echo, milliwatt, announcements, conferences, monitoring, connect): the caller's
   * leg is handed to the app of its service number, which answers it. Without one the call gets 503.
   */
  legApps?: LegApps;
  sessionTimer: () => { sessionExpiresS: number; minSeS: number };
  /** Inbound routing of a call from a PSTN line (by line, DID and caller, time conditions). */
  pstnInbound?(line: string, did: string, callerNumber: string): Destination;
  /** The media of PSTN legs: their frame legs, the address our SDP names, the call-progress mode. */
  pstn?: {
    frames: PstnFramePort;
    dialer: PstnDialer;
    host: string;
    /** Early answer with ringback and failure tones; undefined: late answer. */
    progress(): { plan: TonePlan; failureToneMs: number } | undefined;
  };
}

export class B2bua implements Originator, PstnCallControl {
  private readonly calls = new Set<SipCall>();
  /** Calls by the A-leg INVITE's Call-ID + From tag, for CANCEL and retransmission matching. */
  private readonly byInvite = new Map<string, SipCall>();
  /** Dialog key → who handles its in-dialog requests: a B2BUA call's side, or an originated leg. */
  private readonly dialogs = new Map<string, { owner: DialogOwner; side: 'a' | 'b' }>();
  /** Legs originated for apps (`originate`), until they end. */
  private readonly originated = new Set<OutboundSipLeg>();
  /** Per interaction with an app: the legs it placed and who answered, for its record. */
  /** Calls that rang on PSTN ports, by their leg, until the leg ends. */
  private readonly pstnCalls = new Set<PstnLeg>();
  private draining = false;
  private readonly callsTotal;
  private readonly dialRefused;
  private readonly callsActive;

  /** The CDR rows of every call and leg. */
  private readonly records: CallRecords;

  constructor(private readonly deps: B2buaDeps) {
    this.records = new CallRecords({
      cdr: deps.cdr,
      clock: deps.clock,
      logger: deps.logger,
      recordingOf: (ix) => deps.media.recordingOf?.(ix),
    });
    this.callsTotal = deps.metrics.counter('edgeline_calls_total', 'Calls by outcome');
    this.dialRefused = deps.metrics.counter(
      'edgeline_dial_refused_total',
      'INVITEs refused before routing because the Request-URI user part is no dial string, by reason',
    );
    this.callsActive = deps.metrics
      .gauge('edgeline_calls_active', 'Calls in progress')
      .collect(() => [{ value: this.activeCalls }]);
  }

  get activeCalls(): number {
    return this.calls.size + this.pstnCalls.size;
  }

  /** A new INVITE (no To tag) handed over by its server transaction. */
  onInvite(tx: ServerTxPort): void {
    const req = tx.request;
    const respond = (status: number, reason?: string, headers?: Array<[string, string]>) => {
      tx.respond(createResponse(req, status, reason, { toTag: generateTag(), headers }));
      this.callsTotal.inc({ outcome: String(status) });
    };
    if (this.draining) return respond(503, 'Service Unavailable', [['retry-after', '30']]);
    if (this.calls.size >= this.deps.maxCalls)
      return respond(503, 'Service Unavailable', [['retry-after', '5']]);
    const mf = req.headers.get('max-forwards');
    // RFC 3261 §16.3 step 3 (a B2BUA forwarding a call applies it too, against loops): a request
    // with Max-Forwards 0 that would be forwarded gets 483 Too Many Hops.
    if (mf !== undefined && Number(mf) <= 0) return respond(483, 'Too Many Hops');

    const ruri = parseUri(req.uri);
    if (!ruri.ok) return respond(400, 'Bad Request-URI');
    const requestUser =
      ruri.value.scheme === 'tel'
        ? (ruri.value as { number: string }).number
        : 'user' in ruri.value
          ? (ruri.value.user ?? '')
          : '';
    if (!requestUser) return respond(404, 'Not Found');
    const trunk = this.deps.trunkBySource(tx.source);
    const fromHeader = parseNameAddr(req.headers.get('from') ?? '');
    if (!fromHeader.ok) return respond(400, 'Bad From');

    // Checked once the caller is known (an unauthenticated request is challenged first, and
    // learns nothing of the dial plan): the dialled number, or undefined when refused.
    const dialString = (): string | undefined => {
      const dial = checkDialString(requestUser, ruri.value.scheme);
      if (dial.ok) return dial.number;
      // One parsable line per refusal, at warn: an injection attempt is a security event.
      this.deps.logger.warn(
        {
          event: 'dial-refused',
          reason: dial.reason,
          source: `${tx.source.address}:${tx.source.port}`,
          user: requestUser.slice(0, 64),
        },
        'security: Request-URI user part refused',
      );
      this.dialRefused.inc({ reason: dial.reason });
      respond(dial.status, dial.phrase);
      return undefined;
    };
    let dialled: string;
    let caller: CallerIdentity;
    let callerPeer: string;
    let destination: Destination;
    if (trunk) {
      const checked = dialString();
      if (checked === undefined) return;
      dialled = checked;
      caller = this.trunkCallerIdentity(trunk, req, fromHeader.value);
      callerPeer = trunk.id;
      destination = this.deps.routing().fromTrunk(trunk.id, dialled);
    } else {
      const auth = this.deps.authenticate(req, tx.source);
      if (!auth.ok) {
        tx.respond(auth.response);
        return;
      }
      const ext = this.deps.extension(auth.username);
      if (!ext) return respond(403, 'Forbidden');
      // The caller is who authenticated, whatever the phone wrote in From (no spoofing).
      const fromUri = parseUri(fromHeader.value.uri);
      if (fromUri.ok && 'user' in fromUri.value && fromUri.value.user && fromUri.value.user !== ext.number) {
        return respond(403, 'Forbidden (From does not match credentials)');
      }
      const checked = dialString();
      if (checked === undefined) return;
      dialled = checked;
      caller = { user: ext.number, displayName: ext.displayName, assert: true };
      callerPeer = ext.number;
      destination = this.deps.routing().fromExtension(ext, dialled);
    }

    const call = new SipCall(
      {
        sip: this.deps.sip,
        clock: this.deps.clock,
        timers: this.deps.timers,
        media: this.deps.media,
        logger: this.deps.logger,
        domain: this.deps.domain(),
        userAgent: this.deps.userAgent(),
        t1Ms: this.deps.t1Ms,
        t2Ms: this.deps.t2Ms,
        ringTimeoutMs: this.deps.ringTimeoutMs,
        sessionTimer: this.deps.sessionTimer(),
        authorize: (challenge, method, uri, creds) => this.deps.authorize(challenge, method, uri, creds),
        bindDialog: (key, c, side) => this.dialogs.set(key, { owner: c, side }),
        unbindDialog: (key) => this.dialogs.delete(key),
        onAttemptResult: (target, result) => this.reportAttempt(target, result),
        onEnded: (c) => this.onCallEnded(c),
        onAnswered: (c) => this.records.sipAnswered(c),
        transferTargets: (referrer, number) => this.transferTargets(referrer, number),
      },
      tx,
      caller,
      callerPeer,
      dialled,
      destination.type === 'reject' ? null : (destination.routeId ?? null),
    );
    call.describeCaller({ kind: trunk ? 'trunk' : 'extension', id: callerPeer });
    this.calls.add(call);
    const inviteKey = inviteKeyOf(req);
    if (inviteKey) this.byInvite.set(inviteKey, call);

    if (destination.type !== 'reject' && !call.negotiateSessionTimer()) return;
    switch (destination.type) {
      case 'reject':
        call.reject(destination.status, destination.reason);
        return;
      case 'trunk':
      case 'extension':
      case 'ring-group': {
        if (
          destination.type === 'trunk' &&
          destination.trunks.some((id) => this.deps.trunk(id)?.pstnGroup !== undefined)
        ) {
          void this.dialOut(call, req, destination.trunks, destination.number, {
            kind: trunk ? 'trunk' : 'extension',
            id: callerPeer,
            number: caller.user,
            ...(caller.displayName ? { displayName: caller.displayName } : {}),
          });
          return;
        }
        const targets = this.targetsOf(destination, trunk?.id);
        if (targets.length === 0) {
          if (destination.type === 'trunk') call.reject(503, 'Service Unavailable (no trunk member up)');
          else call.reject(480, 'Temporarily Unavailable');
          return;
        }
        const split = splitTargets(targets);
        call.start(split.parallel, split.sequential);
        return;
      }
      case 'service': {
        // Service numbers are answered by the gateway itself, by the app of the service: a dialog
        // on the inbound leg only.
        const legApps = this.deps.legApps;
        const app = legApps?.appFor(destination.service, destination.number, destination.target);
        if (!app || !legApps) {
          call.reject(503, 'Service Unavailable (media service not running)');
          return;
        }
        const leg = new InboundSipLeg({
          session: call,
          media: legApps.media,
          // An INVITE without a body gets our offer in the 200 (RFC 3261 §13.2.1).
          offer: req.body.length > 0 ? req.body : undefined,
          party: {
            kind: trunk ? 'trunk' : 'extension',
            id: callerPeer,
            number: caller.user,
            ...(caller.displayName ? { displayName: caller.displayName } : {}),
          },
          callId: req.headers.get('call-id') ?? '',
          clock: this.deps.clock,
          timers: this.deps.timers,
          logger: this.deps.logger,
        });
        const appCall = new Call({
          first: leg,
          originator: this,
          media: legApps.media,
          logger: this.deps.logger,
        });
        void runLegApp(leg, appCall, app, this.deps.logger);
        return;
      }
      default: {
        const never: never = destination;
        throw new Error(`unknown destination ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Blind transfer (sip-call.ts `onRefer`): the target of a REFER is routed as a new call from
   * the referrer — an extension's dial plan and permission class, a trunk's inbound routes — so a
   * REFER reaches nothing its sender could not call itself.
   */
  private transferTargets(
    referrer: { kind: 'extension' | 'trunk'; id: string },
    number: string,
  ): { ok: true; targets: OutboundTarget[] } | { ok: false; status: number; reason: string } {
    let destination: Destination;
    if (referrer.kind === 'extension') {
      const ext = this.deps.extension(referrer.id);
      if (!ext) return { ok: false, status: 403, reason: 'Forbidden' };
      destination = this.deps.routing().fromExtension(ext, number);
    } else destination = this.deps.routing().fromTrunk(referrer.id, number);
    if (destination.type === 'reject')
      return { ok: false, status: destination.status, reason: destination.reason };
    if (destination.type === 'service')
      return { ok: false, status: 603, reason: 'Decline (transfer to a service number)' };
    return { ok: true, targets: this.targetsOf(destination, undefined) };
  }

  /**
   * The outbound attempts of a routed destination, in ring order (`AttemptPlan` runs them): an
   * extension's registered contacts, a trunk's usable members in failover order, a ring group's
   * stages and its no-answer destination. `fromTrunk`: a call never hairpins into its own trunk.
   */
  private targetsOf(
    destination: Exclude<Destination, { type: 'reject' } | { type: 'service' }>,
    fromTrunk: string | undefined,
  ): OutboundTarget[] {
    switch (destination.type) {
      case 'extension':
        return this.deps.contacts(destination.number).map((c) => ({
          kind: 'extension' as const,
          requestUri: c.contact,
          dest: c.source,
          peer: destination.number,
          pinToSource: true,
        }));
      case 'trunk':
        return this.trunkTargets(destination.trunks, destination.number, fromTrunk);
      case 'ring-group':
        return ringGroupTargets(destination.group, {
          contacts: (n) => this.deps.contacts(n),
          trunkTargets: (ids, n) => this.trunkTargets(ids, n, fromTrunk),
        });
      default: {
        const never: never = destination;
        throw new Error(`unknown destination ${JSON.stringify(never)}`);
      }
    }
  }

  private trunkTargets(
    trunkIds: readonly string[],
    number: string,
    fromTrunk: string | undefined,
  ): OutboundTarget[] {
    const out: OutboundTarget[] = [];
    for (const id of trunkIds) {
      if (id === fromTrunk) continue; // never hairpin a call back into the trunk it came from
      const trunk = this.deps.trunk(id);
      if (!trunk) continue;
      for (const m of this.deps.usableMembers(id)) {
        const hostPart = m.host.includes(':') ? `[${m.host}]` : m.host;
        out.push({
          kind: 'trunk',
          requestUri: `sip:${number}@${hostPart}:${m.port}${m.transport === 'udp' ? '' : `;transport=${m.transport}`}${m.uriParams ?? ''}`,
          dest: { transport: m.transport, address: m.host, port: m.port },
          peer: id,
          member: m.key,
          noAnswerTimeoutMs: trunk.failover.inviteTimeoutMs,
          failoverOn: trunk.failover.onStatus,
          credentials: trunk.credentials,
          pinToSource: false,
        });
      }
    }
    return out;
  }

  /**
   * RFC 3325 §5: P-Asserted-Identity is only believed from a trusted peer. From an untrusted
   * trunk the caller is its From user alone, with no display name and no assertion.
   */
  private trunkCallerIdentity(
    trunk: TrunkInfo,
    req: SipRequest,
    from: { displayName?: string; uri: string },
  ): CallerIdentity {
    const userOf = (uri: string): string => {
      const u = parseUri(uri);
      if (!u.ok) return 'anonymous';
      if (u.value.scheme === 'tel') return (u.value as { number: string }).number;
      return 'user' in u.value ? (u.value.user ?? 'anonymous') : 'anonymous';
    };
    if (trunk.identity.trusted) {
      const pai = trunk.identity.acceptPai ? req.headers.get('p-asserted-identity') : undefined;
      const asserted = pai ? parseNameAddr(pai) : undefined;
      if (asserted?.ok)
        return {
          user: userOf(asserted.value.uri),
          displayName: asserted.value.displayName,
          assert: trunk.identity.sendPai,
        };
      return { user: userOf(from.uri), displayName: from.displayName, assert: trunk.identity.sendPai };
    }
    return { user: userOf(from.uri), assert: false };
  }

  /** CANCEL matched to an INVITE server transaction (RFC 3261 §9.2). */
  onCancel(cancelTx: ServerTxPort, inviteRequest: SipRequest | undefined): void {
    const key = inviteRequest ? inviteKeyOf(inviteRequest) : inviteKeyOf(cancelTx.request);
    const call = key ? this.byInvite.get(key) : undefined;
    if (!call) {
      cancelTx.respond(
        createResponse(cancelTx.request, 481, 'Call/Transaction Does Not Exist', { toTag: generateTag() }),
      );
      return;
    }
    call.cancelByCaller(cancelTx);
  }

  /**
   * A call rang on a PSTN port: it becomes a PSTN leg of its own interaction and is routed by its
   * line, DID and caller (`pstnInbound`). A service number hands the leg to its app; an extension,
   * trunk or ring group is called on the leg's behalf with the leg's own media as the offer, so
   * the two parties talk through one port pair; a refusal ends the leg with its cause (busy or
   * congestion tone to the caller when the line answers early). Declined (undefined) while
   * draining or without media: the line then rings on unanswered.
   */
  incoming(call: PstnIncoming): PstnCallSink | undefined {
    const pstn = this.deps.pstn;
    const media = this.deps.legApps?.media;
    if (this.draining || !pstn || !media || !this.deps.pstnInbound) return undefined;
    if (this.activeCalls >= this.deps.maxCalls) return undefined;
    const interactionId = randomUUID();
    const leg = PstnLeg.open({
      incoming: call,
      interactionId,
      frames: pstn.frames,
      media,
      host: pstn.host,
      progress: pstn.progress(),
      clock: this.deps.clock,
      timers: this.deps.timers,
      logger: this.deps.logger,
    });
    if (!leg) {
      this.deps.logger.warn({ line: call.portKey }, 'no media port for an incoming PSTN call');
      return undefined;
    }
    const destination = this.deps.pstnInbound(call.lineId, call.called, call.callerNumber);
    const routeId = destination.type === 'reject' ? null : (destination.routeId ?? null);
    const startedAtMs = this.deps.clock.wallNow();
    this.pstnCalls.add(leg);
    leg.events.once('ended', () => {
      this.pstnCalls.delete(leg);
      // After the other listeners of the end: the legs it ends write their rows first.
      queueMicrotask(() => this.records.pstnEnded(leg, call, routeId, startedAtMs));
    });
    leg.events.on('state', (to) => {
      if (to === 'answered') this.records.pstnAnswered(leg, call, routeId, startedAtMs);
    });
    switch (destination.type) {
      case 'reject':
        void leg.hangup(causeOfSipStatus(destination.status));
        break;
      case 'service': {
        const app = this.deps.legApps?.appFor(destination.service, destination.number, destination.target);
        if (!app) {
          void leg.hangup('service-unavailable');
          break;
        }
        const appCall = new Call({ first: leg, originator: this, media, logger: this.deps.logger });
        void runLegApp(leg, appCall, app, this.deps.logger);
        break;
      }
      case 'extension':
      case 'trunk':
      case 'ring-group': {
        if (destination.type === 'trunk' && this.pstnGroupsOf(destination.trunks).length > 0) {
          void this.tandem(leg, call, destination);
          break;
        }
        const targets = this.targetsOf(destination, undefined);
        if (targets.length === 0) {
          void leg.hangup(
            destination.type === 'trunk' ? 'switching-equipment-congestion' : 'no-user-response',
          );
          break;
        }
        void this.connectPstn(leg, call, destination, targets);
        break;
      }
      default: {
        const never: never = destination;
        throw new Error(`unknown destination ${JSON.stringify(never)}`);
      }
    }
    return leg;
  }

  /**
   * Call the PSTN caller's destination with the line's own media (`PstnLeg.face`): the line hears
   * ringback while it rings (early answer), the failure's tone if it fails, and the party once it
   * answers. Whoever hangs up first ends the other.
   */
  private async connectPstn(
    leg: PstnLeg,
    call: PstnIncoming,
    destination: Exclude<Destination, { type: 'reject' } | { type: 'service' }>,
    targets: OutboundTarget[],
  ): Promise<void> {
    const wanted = new AbortController();
    const offCaller = leg.events.once('ended', () => wanted.abort());
    const number = destination.type === 'ring-group' ? call.called : destination.number;
    const out = new OutboundSipLeg({
      interactionId: leg.interactionId,
      legId: `${leg.interactionId}:b1`,
      targets,
      ringTimeoutMs: this.deps.ringTimeoutMs,
      // The line's caller ID is asserted: the PSTN is inside the trust domain (RFC 3325 §2.3).
      caller: {
        user: call.callerNumber || 'anonymous',
        ...(call.callerName ? { displayName: call.callerName } : {}),
        assert: true,
      },
      party:
        destination.type === 'trunk'
          ? { kind: 'trunk', id: destination.trunks[0] ?? '', number }
          : {
              kind: 'extension',
              id: destination.type === 'ring-group' ? destination.group.id : number,
              number,
            },
      sip: this.deps.sip,
      media: leg.face(),
      signal: wanted.signal,
      ...this.outboundLegDeps(),
    });
    this.originated.add(out);
    const placed = { legs: 1, answered: undefined as string | undefined };
    this.records.placedFor.set(leg.interactionId, placed);
    out.events.on('state', (to) => {
      // RFC 3960 §2.1: the far end rings, the caller hears ringback (from the line's tone plan).
      if (to === 'alerting') void leg.ring();
      else if (to === 'early') leg.earlyMedia();
    });
    out.events.once('ended', () => {
      this.originated.delete(out);
      placed.legs = this.records.attempts(out, call.callerNumber || 'anonymous');
      // Once connected, the party hanging up ends the caller's leg (before, the failure does).
      if (leg.state === 'answered') void leg.hangup('normal-clearing');
    });
    const r = await out.start();
    offCaller();
    if (!r.ok) {
      if (leg.state !== 'ended') await leg.hangup(r.error.cause);
      return;
    }
    placed.answered = out.answeredPeer;
    const joined = leg.connect();
    if (!joined.ok) await out.hangup('normal-clearing');
    else leg.events.once('ended', () => void out.hangup('normal-clearing'));
  }

  /** What every leg placed on the PSTN ports shares. */
  private pstnLegDeps(pstn: NonNullable<B2buaDeps['pstn']>) {
    return {
      dialer: pstn.dialer,
      frames: pstn.frames,
      host: pstn.host,
      clock: this.deps.clock,
      timers: this.deps.timers,
      logger: this.deps.logger,
    };
  }

  /** The PSTN port groups among a route's trunks, in route order. */
  private pstnGroupsOf(trunkIds: readonly string[]): string[] {
    const groups: string[] = [];
    for (const id of trunkIds) {
      const group = this.deps.trunk(id)?.pstnGroup;
      if (group !== undefined) groups.push(group);
    }
    return groups;
  }

  /**
   * A PSTN caller routed to PSTN port groups (`pstn-tandem.ts`): the groups first, in route order;
   * all their ports busy, the route's SIP trunks next, as for any PSTN caller.
   */
  private async tandem(
    leg: PstnLeg,
    call: PstnIncoming,
    destination: Extract<Destination, { type: 'trunk' }>,
  ): Promise<void> {
    const pstn = this.deps.pstn;
    if (!pstn) return leg.hangup('service-unavailable');
    const placed = { legs: 0, answered: undefined as string | undefined };
    this.records.placedFor.set(leg.interactionId, placed);
    const caller = call.callerNumber || 'anonymous';
    const r = await connectTandem(leg, this.pstnGroupsOf(destination.trunks), destination.number, {
      ...this.pstnLegDeps(pstn),
      placed: (out) => {
        placed.legs++;
        out.events.once('ended', () => this.records.outboundPstnLeg(out, caller));
      },
      answered: (out) => {
        placed.answered = out.portKey;
      },
    });
    if (r === 'done') return;
    const sipTrunks = destination.trunks.filter((id) => this.deps.trunk(id)?.pstnGroup === undefined);
    const targets = this.trunkTargets(sipTrunks, destination.number, undefined);
    if (targets.length === 0) return leg.hangup('no-circuit-available');
    await this.connectPstn(leg, call, { ...destination, trunks: sipTrunks }, targets);
  }

  /** Passive health of trunk members: each attempt's outcome on the member it went to. */
  private reportAttempt(target: OutboundTarget, result: 'ok' | 'timeout' | number): void {
    if (target.kind === 'trunk' && target.member) this.deps.reportMember(target.peer, target.member, result);
  }

  /**
   * A route whose targets include PSTN port groups, tried in route order: each group is dialled
   * on its ports (`OutboundPstnLeg`), the caller hearing 180 once a port dials and answered, with a
   * description naming the port's own media leg, when the far end answers; every port of a group
   * busy (503) moves on to the next target. The first SIP trunk left takes the rest of the route as
   * the B2BUA's relayed call. A final failure of the line (busy, no answer) is the caller's.
   */
  private async dialOut(
    call: SipCall,
    req: SipRequest,
    trunkIds: readonly string[],
    number: string,
    party: LegParty,
  ): Promise<void> {
    const media = this.deps.legApps?.media;
    const pstn = this.deps.pstn;
    if (!media || !pstn) {
      call.reject(503, 'Service Unavailable (no PSTN ports)');
      return;
    }
    const inLeg = new InboundSipLeg({
      session: call,
      media,
      offer: req.body.length > 0 ? req.body : undefined,
      party,
      callId: req.headers.get('call-id') ?? '',
      clock: this.deps.clock,
      timers: this.deps.timers,
      logger: this.deps.logger,
    });
    let last = { status: 503, reason: 'Service Unavailable (all channels busy)' };
    for (let i = 0; i < trunkIds.length; i++) {
      if (inLeg.state === 'ended') return;
      const group = this.deps.trunk(trunkIds[i] ?? '')?.pstnGroup;
      if (group === undefined) {
        const targets = this.trunkTargets(trunkIds.slice(i), number, undefined);
        if (targets.length === 0) continue;
        call.start([], targets);
        return;
      }
      const r = await this.placePstn(call, inLeg, req, group, number, i + 1);
      if (r === 'placed') return;
      last = r;
      // The route's failover statuses: the group could not carry the call, the next target may.
      if (![503, 408, 500].includes(r.status)) break;
    }
    inLeg.reject(last.status, last.reason);
  }

  private async placePstn(
    call: SipCall,
    inLeg: InboundSipLeg,
    req: SipRequest,
    group: string,
    number: string,
    attempt: number,
  ): Promise<'placed' | { status: number; reason: string }> {
    const pstn = this.deps.pstn;
    if (!pstn) return { status: 503, reason: 'Service Unavailable (no PSTN ports)' };
    const out = OutboundPstnLeg.open({
      interactionId: call.interactionId,
      legId: `${call.interactionId}:p${attempt}`,
      group,
      number,
      party: { kind: 'line', id: group, number },
      ...this.pstnLegDeps(pstn),
    });
    if (!out) return { status: 503, reason: 'Service Unavailable (no media port)' };
    const placed = this.records.placedFor.get(call.interactionId) ?? { legs: 0, answered: undefined };
    this.records.placedFor.set(call.interactionId, placed);
    placed.legs++;
    // RFC 3261 §9.1 as a gateway carries it to the line: the caller's CANCEL hangs the port up.
    const offCaller = inLeg.events.once('ended', () => void out.hangup('originator-cancel'));
    out.events.on('state', (to) => {
      if (to === 'alerting') void inLeg.ring();
    });
    out.events.once('ended', () => {
      this.records.outboundPstnLeg(out, call.caller.user);
      if (inLeg.state === 'answered') void inLeg.hangup('normal-clearing');
    });
    const r = await out.start();
    offCaller();
    if (!r.ok) {
      if (inLeg.state === 'ended') return 'placed';
      return { status: r.error.sipStatus, reason: r.error.message };
    }
    const answer = out.answerOffer(req.body);
    if (!answer.ok) {
      await out.hangup('bearer-capability-not-available');
      inLeg.reject(answer.error.sipStatus, answer.error.message);
      return 'placed';
    }
    if (!inLeg.answerWith(answer.value)) {
      await out.hangup('originator-cancel');
      return 'placed';
    }
    placed.answered = out.portKey;
    inLeg.events.once('ended', () => void out.hangup('normal-clearing'));
    return 'placed';
  }

  /** What every SIP leg the B2BUA places shares: identity, time, the dialog table, trunk health. */
  private outboundLegDeps(): Pick<
    OutboundSipLegOptions,
    | 'domain'
    | 'userAgent'
    | 'clock'
    | 'timers'
    | 'logger'
    | 'bindDialog'
    | 'unbindDialog'
    | 'authorize'
    | 'onAttemptResult'
  > {
    return {
      domain: this.deps.domain(),
      userAgent: this.deps.userAgent(),
      clock: this.deps.clock,
      timers: this.deps.timers,
      logger: this.deps.logger,
      bindDialog: (key, owner) => this.dialogs.set(key, { owner, side: 'b' }),
      unbindDialog: (key) => this.dialogs.delete(key),
      authorize: (challenge, method, uri, creds) => this.deps.authorize(challenge, method, uri, creds),
      onAttemptResult: (target, result) => this.reportAttempt(target, result),
    };
  }

  /**
   * The outbound path of apps (`Call.originate`): an extension's registered contacts are rung in
   * parallel from a leg of our own media, which is opened in the worker of the leg it will be
   * bridged to. Resolves once a contact answers, or with the failure (480 when the extension has
   * no contact, the best final status of the forks otherwise).
   */
  async originate(req: OriginateRequest): Promise<Result<MediaLeg, CallFailure>> {
    const failure = (sipStatus: number, message: string): Result<MediaLeg, CallFailure> =>
      err({ code: 'EDGE_ERR_CALL_ORIGINATE_FAILED', sipStatus, cause: causeOfSipStatus(sipStatus), message });
    const media = this.deps.legApps?.media;
    if (!media) return failure(503, 'no media for originated legs');
    if (this.draining) return failure(503, 'the gateway is shutting down');
    const number = req.target.number;
    if (!this.deps.extension(number)) return failure(404, `no extension ${number}`);
    const contacts = this.deps.contacts(number);
    if (contacts.length === 0) return failure(480, `extension ${number} has no registered contact`);
    const caller = req.near?.party;
    const leg = new OutboundSipLeg({
      interactionId: req.interactionId,
      legId: req.legId,
      targets: contacts.map((c) => ({
        kind: 'extension' as const,
        requestUri: c.contact,
        dest: c.source,
        peer: number,
        pinToSource: true,
      })),
      ringTimeoutMs: this.deps.ringTimeoutMs,
      caller: {
        user: caller?.number ?? 'anonymous',
        ...(caller?.displayName ? { displayName: caller.displayName } : {}),
        assert: true,
      },
      party: { kind: 'extension', id: number, number },
      sip: this.deps.sip,
      media,
      ...(req.near ? { nearMediaKey: req.near.mediaKey } : {}),
      // RFC 3261 §9.1: the caller leaving (or the app giving up) CANCELs every fork at once.
      ...(req.signal ? { signal: req.signal } : {}),
      ...this.outboundLegDeps(),
    });
    this.originated.add(leg);
    // The interaction's record counts the legs its app placed and names the party that answered.
    const placed = this.records.placedFor.get(req.interactionId) ?? { legs: 0, answered: undefined };
    this.records.placedFor.set(req.interactionId, placed);
    placed.legs++;
    leg.events.once('ended', () => {
      this.originated.delete(leg);
      this.records.originatedLeg(leg, caller?.number ?? 'anonymous');
    });
    leg.events.on('state', (to) => {
      if (to === 'answered') placed.answered = number;
    });
    const r = await leg.start();
    return r.ok ? ok(leg) : r;
  }

  /** A request with a To tag. Returns false when no dialog matches (the caller answers 481). */
  onInDialogRequest(tx: ServerTxPort): boolean {
    const found = this.findDialog(tx.request);
    if (!found) return false;
    found.owner.onInDialogRequest(found.side, tx);
    return true;
  }

  /** ACK for a 2xx, outside any transaction. */
  onAck(ack: SipRequest): void {
    const found = this.findDialog(ack);
    if (found) found.owner.onAck(found.side, ack);
  }

  private findDialog(req: SipRequest): { owner: DialogOwner; side: 'a' | 'b' } | undefined {
    const callId = req.headers.get('call-id') ?? '';
    const toTag = getTag(req.headers.get('to') ?? '') ?? '';
    const fromTag = getTag(req.headers.get('from') ?? '') ?? '';
    // For a request we receive, the local tag is in To and the remote tag in From.
    return this.dialogs.get(`${callId}|${toTag}|${fromTag}`);
  }

  private onCallEnded(call: SipCall): void {
    this.calls.delete(call);
    const key = inviteKeyOf(call.inboundLeg.invite);
    if (key) this.byInvite.delete(key);
    this.callsTotal.inc({ outcome: outcomeOf(call.summary().finalStatus) });
    this.records.sipEnded(call);
  }

  /**
   * SIGTERM: refuse new calls with 503, let calls in progress finish for up to `graceMs`, then
   * hang up what remains so every CDR is written before exit.
   */
  async drain(graceMs: number, waitMs: (ms: number) => Promise<void>): Promise<number> {
    this.draining = true;
    const deadline = this.deps.clock.now() + graceMs;
    while (this.activeCalls > 0 && this.deps.clock.now() < deadline) await waitMs(100);
    const left = this.activeCalls;
    for (const call of [...this.calls]) call.hangup('shutdown');
    for (const leg of [...this.pstnCalls]) void leg.hangup('normal-clearing');
    return left;
  }

  dump(): { activeCalls: number; draining: boolean; calls: ReturnType<SipCall['summary']>[] } {
    return {
      activeCalls: this.calls.size,
      draining: this.draining,
      calls: [...this.calls].slice(0, 200).map((c) => c.summary()),
    };
  }

  /** End a call from the system side by its interaction id (e.g. dead media); false when none matches. */
  hangupCall(interactionId: string, cause: string): boolean {
    for (const call of this.calls) {
      if (call.interactionId !== interactionId) continue;
      call.hangup(cause);
      return true;
    }
    return false;
  }

  close(): void {
    for (const call of [...this.calls]) call.hangup('shutdown');
    for (const leg of [...this.pstnCalls]) void leg.hangup('normal-clearing');
  }
}

function inviteKeyOf(req: SipRequest): string | undefined {
  const callId = req.headers.get('call-id');
  const fromTag = getTag(req.headers.get('from') ?? '');
  return callId ? `${callId}|${fromTag ?? ''}` : undefined;
}
