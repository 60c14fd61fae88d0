/**
 * How call control sees the PSTN user agent: an internal, trusted SIP trunk. Port groups named in
 * outbound routes become trunk targets `@pstn:<group>` whose one member is the user agent's
 * loopback address with the group in the Request-URI; calls from the user agent arrive on the
 * trunk `@pstn` and are routed by the line they rang on. None of this is written into the user's
 * configuration: it is derived from it at every revision. User trunk ids match `^[a-z0-9-]+$`,
 * so the `@` keeps the internal ids from ever naming (or shadowing) a configured trunk.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TrunkInfo, TrunkMemberInfo } from '../call/b2bua.ts';
import { ErrorCodes } from '../core/errors.ts';
import {
  resolveDestination,
  routeInbound,
  type InboundCall,
  type InboundDecision,
} from '../routing/pstn-routing.ts';
import { ringGroupStages } from '../routing/ring-group.ts';
import type { Destination, OutboundRoute } from '../routing/sip-routing.ts';
import type { SipEndpoint } from '../sip/message/types.ts';
import type { Config } from '../store/config-schema.ts';
import type { ConfigStore } from '../store/config-store.ts';
import type { PstnService } from './pstn-service.ts';

export const PSTN_TRUNK = '@pstn';
const GROUP_PREFIX = '@pstn:';

/** Whether a trunk id is the PSTN user agent's internal trunk (`@pstn` or `@pstn:<group>`). */
export function isPstnTrunkId(id: string): boolean {
  return id === PSTN_TRUNK || id.startsWith(GROUP_PREFIX);
}

/** Outbound routes as the SIP routing table reads them: each port group becomes a trunk target. */
export function routesWithPstnTrunks(routes: readonly OutboundRoute[]): OutboundRoute[] {
  return routes.map((r) =>
    r.targets && r.targets.length > 0
      ? {
          ...r,
          targets: r.targets.map((t) =>
            t.type === 'group' ? { type: 'trunk' as const, id: `${GROUP_PREFIX}${t.id}` } : t,
          ),
        }
      : r,
  );
}

/** The internal trunk's description, for `@pstn` and every `@pstn:<group>`; undefined for others. */
export function pstnTrunkInfo(id: string): TrunkInfo | undefined {
  if (id !== PSTN_TRUNK && !id.startsWith(GROUP_PREFIX)) return undefined;
  return {
    id,
    pstn: true,
    // Inside the trust domain (RFC 3325 §2.3): the caller ID the line decoded is asserted.
    identity: { trusted: true, acceptPai: true, sendPai: true },
    // 503 (all channels of the group busy or faulty) moves on to the route's next target.
    failover: { inviteTimeoutMs: 32_000, onStatus: [503, 408, 500] },
  };
}

export function pstnMembers(id: string, ua: SipEndpoint | undefined): TrunkMemberInfo[] | undefined {
  if (!id.startsWith(GROUP_PREFIX)) return id === PSTN_TRUNK ? [] : undefined;
  if (!ua) return [];
  const group = id.slice(GROUP_PREFIX.length);
  return [
    { key: 'pstn-ua', host: ua.address, port: ua.port, transport: 'udp', uriParams: `;group=${group}` },
  ];
}

export function isPstnSource(source: SipEndpoint, ua: SipEndpoint | undefined): boolean {
  return (
    ua !== undefined && source.transport === 'udp' && source.address === ua.address && source.port === ua.port
  );
}

/** Inbound routing of a call from a line, as the B2BUA's destination. */
export function pstnInboundDestination(
  cfg: Config,
  line: string,
  did: string,
  callerNumber: string,
  wallMs: number,
): Destination {
  const call = { line, did, callerNumber };
  return destinationOfDecision(cfg, routeInbound(cfg, call, wallMs), call, wallMs, 0);
}

function destinationOfDecision(
  cfg: Config,
  d: InboundDecision,
  call: InboundCall,
  wallMs: number,
  depth: number,
): Destination {
  switch (d.type) {
    case 'extension':
      return { type: 'extension', number: d.number, routeId: d.routeId };
    case 'trunk':
      return { type: 'trunk', trunks: [d.trunk], number: d.number, routeId: d.routeId };
    case 'service':
      return {
        type: 'service',
        number: d.number,
        service: d.service,
        routeId: d.routeId,
        ...(d.target === undefined ? {} : { target: d.target }),
      };
    case 'ring-group': {
      // Validation refuses no-answer paths that loop back to a group; the depth bound guards anyway.
      const next =
        d.group.noAnswer && depth < 8
          ? destinationOfDecision(
              cfg,
              resolveDestination(cfg, d.group.noAnswer, call, wallMs, d.routeId),
              call,
              wallMs,
              depth + 1,
            )
          : undefined;
      return {
        type: 'ring-group',
        group: {
          id: d.group.id,
          stages: ringGroupStages(d.group),
          ...(next && next.type !== 'reject' ? { noAnswer: next } : {}),
        },
        routeId: d.routeId,
      };
    }
    case 'ivr':
    case 'queue':
      return { type: 'reject', status: 503, reason: 'Service Unavailable' };
    case 'reject':
      return { type: 'reject', status: d.status, reason: d.reason };
    default: {
      const never: never = d;
      return never;
    }
  }
}

const LineParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const LearnBody = Type.Object(
  {
    number: Type.Optional(Type.String({ pattern: '^[0-9]{1,20}$' })),
    maxMs: Type.Optional(Type.Integer({ minimum: 2000, maximum: 30_000 })),
  },
  { additionalProperties: false },
);

/**
 *   GET  /api/pstn/lines                       state of every port, its call and last fault
 *   POST /api/pstn/lines/:id/learn-busy-tone   { number?: '95002', maxMs? } → the learned cadence,
 *                                              stored in `pstn.lines[].learnedBusyTone`
 */
export function pstnApiRoutes(
  pstn: () => PstnService | undefined,
  config: ConfigStore,
): (app: FastifyInstance) => Promise<void> {
  return (app) => {
    app.get('/api/pstn/lines', () => ({ lines: pstn()?.lines() ?? [] }));
    app.post(
      '/api/pstn/lines/:id/learn-busy-tone',
      { schema: { params: LineParams, body: Type.Optional(LearnBody) } },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const body = (req.body ?? {}) as { number?: string; maxMs?: number };
        const svc = pstn();
        const index = config.get().pstn.lines.findIndex((l) => l.id === id);
        if (!svc || index < 0) {
          return reply.code(404).send({
            error: { code: ErrorCodes.API_NOT_FOUND, message: `no FXO line ${id}`, field: 'id' },
          });
        }
        const r = await svc.learnBusyTone(id, body.number, body.maxMs);
        if (!r.ok) return reply.code(409).send({ error: r.error });
        const p = r.value;
        const learned = {
          frequenciesHz: p.frequenciesHz.map((f) => Math.round(f)),
          onMs: Math.round(p.onMs),
          offMs: Math.round(p.offMs),
        };
        const cfg: Config = structuredClone(config.get());
        const line = cfg.pstn.lines[index];
        if (line) line.learnedBusyTone = learned;
        const saved = await config.apply(cfg, { author: 'api', comment: `learned busy tone of line ${id}` });
        if (!saved.ok) return reply.code(400).send({ error: saved.error });
        svc.refreshLines();
        return { line: id, learnedBusyTone: learned, revision: saved.value.revision };
      },
    );
    return Promise.resolve();
  };
}
