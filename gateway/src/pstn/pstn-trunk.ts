/**
 * How routing and call control see the PSTN ports. Port groups named in outbound routes become
 * route targets `@pstn:<group>`, which call control dials on the ports (`pstnGroup` of their
 * `TrunkInfo`); calls that ring on a line are routed by the line, DID and caller
 * (`pstnInboundDestination`). None of this is written into the user's configuration: it is
 * derived from it at every revision. User trunk ids match `^[a-z0-9-]+$`, so the `@` keeps the
 * internal ids from ever naming (or shadowing) a configured trunk.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TrunkInfo } from '../call/b2bua.ts';
import { ErrorCodes } from '../core/errors.ts';
import {
  resolveDestination,
  routeInbound,
  type InboundCall,
  type InboundDecision,
} from '../routing/pstn-routing.ts';
import { ringGroupStages } from '../routing/ring-group.ts';
import {
  PSTN_GROUP_TRUNK_PREFIX,
  pstnGroupTrunkId,
  type Destination,
  type OutboundRoute,
} from '../routing/sip-routing.ts';
import type { Config } from '../store/config-schema.ts';
import type { ConfigStore } from '../store/config-store.ts';
import type { PstnService } from './pstn-service.ts';

/** Outbound routes as the SIP routing table reads them: each port group becomes a trunk target. */
export function routesWithPstnTrunks(routes: readonly OutboundRoute[]): OutboundRoute[] {
  return routes.map((r) =>
    r.targets && r.targets.length > 0
      ? {
          ...r,
          targets: r.targets.map((t) =>
            t.type === 'group' ? { type: 'trunk' as const, id: pstnGroupTrunkId(t.id) } : t,
          ),
        }
      : r,
  );
}

/**
 * What call control knows of a route target `@pstn:<group>`: a port group, dialled on the ports
 * (`PstnService.dial`); undefined for every other id.
 */
export function pstnTrunkInfo(id: string): TrunkInfo | undefined {
  if (!id.startsWith(PSTN_GROUP_TRUNK_PREFIX)) return undefined;
  return {
    id,
    pstnGroup: id.slice(PSTN_GROUP_TRUNK_PREFIX.length),
    // Inside the trust domain (RFC 3325 §2.3): the caller ID the line decoded is asserted.
    identity: { trusted: true, acceptPai: true, sendPai: true },
    // 503 (all channels of the group busy or faulty) moves on to the route's next target.
    failover: { inviteTimeoutMs: 32_000, onStatus: [503, 408, 500] },
  };
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
