/**
 * The shell around the outbound registration cores: one `OutboundRegistration` per trunk with
 * `register.enabled`, sending REGISTER (RFC 3261 §10.2) to the trunk's first member through the
 * transaction layer. Registrations follow configuration changes: a changed trunk is unregistered
 * and registered again; a removed trunk is unregistered.
 */
import { viaFor } from '../call/sip-call.ts';
import type { Clock, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import {
  OutboundRegistration,
  type OutboundRegistrationDump,
  type RegisterReply,
  type RegisterReplyHeaders,
  type RegisterRequest,
} from './outbound-registration.ts';
import { computeDigestAuthorization } from '../sip/auth/digest.ts';
import { generateCallId, generateTag } from '../sip/message/index.ts';
import {
  SipHeaders,
  type SipEndpoint,
  type SipRequest,
  type SipResponse,
  type SipTransportName,
} from '../sip/message/types.ts';
import type { TrunkConfig } from '../store/config-schema.ts';

export interface TrunkRegistrationDeps {
  clock: Clock;
  timers: Timers;
  logger: Logger;
  metrics: MetricsRegistry;
  sendRequest(
    req: SipRequest,
    dest: SipEndpoint,
    tu: { onResponse(res: SipResponse): void; onTimeout(): void; onTransportError?(e: Error): void },
  ): void;
  localSentBy(t: SipTransportName): { host: string; port: number };
  resolve(host: string): string;
  userAgent(): string;
}

/** Each registering trunk's registration, by trunk id. */
export type TrunkRegistrationsDump = Record<string, OutboundRegistrationDump>;

interface Entry {
  signature: string;
  registration: OutboundRegistration;
}

export class TrunkRegistrations {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly deps: TrunkRegistrationDeps) {}

  update(trunks: readonly TrunkConfig[]): void {
    const wanted = new Map(trunks.filter((t) => t.register?.enabled && t.credentials).map((t) => [t.id, t]));
    for (const [id, entry] of this.entries) {
      const t = wanted.get(id);
      if (!t || signatureOf(t) !== entry.signature) {
        void entry.registration.stop();
        this.entries.delete(id);
      }
    }
    for (const [id, t] of wanted) {
      if (this.entries.has(id)) continue;
      const registration = this.create(t);
      this.entries.set(id, { signature: signatureOf(t), registration });
      registration.start();
    }
  }

  private create(t: TrunkConfig): OutboundRegistration {
    const member = t.members[0];
    const creds = t.credentials;
    const reg = t.register;
    if (!member || !creds || !reg) throw new Error(`trunk ${t.id} has nothing to register`);
    const address = this.deps.resolve(member.host);
    const dest: SipEndpoint = { transport: member.transport, address, port: member.port };
    const registrarHost = member.host.includes(':') ? `[${member.host}]` : member.host;
    const registrarUri = `sip:${registrarHost}${member.port === 5060 ? '' : `:${member.port}`}`;
    const aor = `sip:${creds.username}@${registrarHost}`;
    // RFC 3261 §10.2: one Call-ID for all registrations of this UA for this AOR, one From tag.
    const callId = generateCallId(this.deps.localSentBy(member.transport).host);
    const fromTag = generateTag();
    const send = (r: RegisterRequest): Promise<RegisterReply> =>
      new Promise((resolve) => {
        const sentBy = this.deps.localSentBy(member.transport);
        const h = new SipHeaders();
        h.append('via', viaFor({ localSentBy: (t) => this.deps.localSentBy(t) }, member.transport));
        h.append('max-forwards', '70');
        h.append('from', `<${aor}>;tag=${fromTag}`);
        h.append('to', `<${aor}>`);
        h.append('call-id', callId);
        h.append('cseq', `${r.cseq} REGISTER`);
        h.append(
          'contact',
          `<sip:${creds.username}@${sentBy.host}:${sentBy.port}${member.transport === 'udp' ? '' : `;transport=${member.transport}`}>`,
        );
        h.append('expires', String(r.expiresS));
        h.append('user-agent', this.deps.userAgent());
        if (r.authorization) h.append(r.authHeader ?? 'authorization', r.authorization);
        const req: SipRequest = {
          kind: 'request',
          method: 'REGISTER',
          uri: registrarUri,
          version: 'SIP/2.0',
          headers: h,
          body: Buffer.alloc(0),
        };
        this.deps.sendRequest(req, dest, {
          onResponse: (res) => {
            if (res.status >= 200) resolve({ status: res.status, headers: replyHeaders(res, sentBy) });
          },
          onTimeout: () => resolve({ timeout: true }),
          onTransportError: () => resolve({ timeout: true }),
        });
      });
    return new OutboundRegistration(
      {
        clock: this.deps.clock,
        timers: this.deps.timers,
        sendRegister: send,
        computeAuthorization: (challenge, method, uri) => {
          const a = computeDigestAuthorization({
            challenge,
            method,
            uri,
            username: creds.username,
            password: creds.password,
          });
          return a.ok ? a.value : undefined;
        },
        onStateChange: (state, reason) =>
          this.deps.logger.info({ trunk: t.id, state, reason }, 'trunk registration'),
        metrics: this.deps.metrics,
        logger: this.deps.logger,
      },
      {
        trunkId: t.id,
        registrarUri,
        expiresS: reg.expiresS,
        retryMinS: reg.retryMinS,
        retryMaxS: reg.retryMaxS,
      },
    );
  }

  dump(): TrunkRegistrationsDump {
    return Object.fromEntries([...this.entries].map(([id, e]) => [id, e.registration.dump()]));
  }

  /** Unregister everything (Expires: 0), bounded by the caller's wait. */
  async stop(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.registration.stop()));
    this.entries.clear();
  }

  close(): void {
    for (const e of this.entries.values()) e.registration.close();
    this.entries.clear();
  }
}

function signatureOf(t: TrunkConfig): string {
  return JSON.stringify([t.members[0], t.credentials, t.register]);
}

function replyHeaders(res: SipResponse, sentBy: { host: string; port: number }): RegisterReplyHeaders {
  const num = (v: string | undefined): number | undefined =>
    v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
  // Our own binding's expiry in the 2xx: the Contact naming our sent-by (RFC 3261 §10.2.4).
  let contactExpires: number | undefined;
  for (const c of res.headers.getList('contact')) {
    if (c.includes(`${sentBy.host}:${sentBy.port}`)) {
      const m = /;\s*expires\s*=\s*(\d+)/i.exec(c);
      if (m) contactExpires = Number(m[1]);
    }
  }
  const retryAfter = /^\s*(\d+)/.exec(res.headers.get('retry-after') ?? '');
  return {
    wwwAuthenticate: res.headers.getLines('www-authenticate'),
    proxyAuthenticate: res.headers.getLines('proxy-authenticate'),
    expires: num(res.headers.get('expires')),
    contactExpires,
    minExpires: num(res.headers.get('min-expires')),
    retryAfterS: retryAfter ? Number(retryAfter[1]) : undefined,
  };
}
