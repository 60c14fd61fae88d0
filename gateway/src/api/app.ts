/**
 * The gateway's HTTP API: one Fastify app, built here and never listening here (`main` listens).
 * Route schemas are TypeBox, so they are both the validation and the handler types. One error
 * handler answers every 4xx as `{ error: { code, message, field } }`, naming the bad field.
 *
 * There is no admin authentication yet: `main` binds this app to loopback by default, and
 * passwords are never returned in clear (masked as "********"; a mask sent back keeps the stored
 * value).
 */
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
} from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../core/log.ts';
import { ErrorCodes } from '../core/errors.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import type { ParseError } from '../../../base/result.ts';
import type { ConfigStore, ConfigStoreDump } from '../store/config-store.ts';
import type { Records, RecordsDump, RecordState } from '../store/records.ts';
import { maskChanges, maskSecrets, unmaskSecrets } from '../store/secrets.ts';

export interface ApiDeps {
  config: ConfigStore;
  records: Records;
  metrics: MetricsRegistry;
  health: () => { ready: boolean; reasons: string[] };
  /** Named dumps of long-lived objects, served by GET /api/status. */
  dumps?: Record<string, () => unknown>;
  logger?: Logger;
  /** Further route plugins mounted on the same app (the PSTN routes, the simulated office). */
  extraRoutes?: ReadonlyArray<(app: FastifyInstance) => Promise<void>>;
}

/**
 * GET /api/status: the stores' dumps, then each of `ApiDeps.dumps` under its name (as the owner
 * types it, or `{ error }` when it threw).
 */
export interface StatusBody {
  config: ConfigStoreDump;
  records: RecordsDump;
  [name: string]: unknown;
}

export interface ApiErrorBody {
  error: {
    code: string;
    message: string;
    field?: string;
    problems?: Array<{ field: string; message: string }>;
  };
}

/** Until admin authentication exists, every change is attributed to the API itself. */
const API_AUTHOR = 'api';

const RevisionParams = Type.Object({ n: Type.Integer({ minimum: 1 }) });
const DiffQuery = Type.Object(
  { from: Type.Integer({ minimum: 1 }), to: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);
const CommentQuery = Type.Object(
  { comment: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);
const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
};
/**
 * Which rows: `ended` (the default: closed or interrupted — the records of calls that are over),
 * `open` (calls in progress, stored at their answer), or `all`.
 */
const StateFilter = Type.Optional(
  Type.Union([Type.Literal('ended'), Type.Literal('open'), Type.Literal('all')]),
);
const CdrQuery = Type.Object(
  {
    ...Paging,
    interaction: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    state: StateFilter,
  },
  {
    additionalProperties: false,
  },
);
const InteractionQuery = Type.Object({ ...Paging, state: StateFilter }, { additionalProperties: false });

function statesOf(filter: 'ended' | 'open' | 'all' | undefined): RecordState[] {
  if (filter === 'open') return ['open'];
  if (filter === 'all') return ['open', 'closed', 'interrupted'];
  return ['closed', 'interrupted'];
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // Unknown keys must be refused, not silently dropped; query strings still need coercion.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  }) as unknown as FastifyInstance;

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      const first = error.validation[0];
      const context = error.validationContext ?? 'request';
      const params: Record<string, unknown> = first?.params ?? {};
      let path = first?.instancePath ?? '';
      if (first?.keyword === 'required') path += `/${String(params['missingProperty'])}`;
      if (first?.keyword === 'additionalProperties') path += `/${String(params['additionalProperty'])}`;
      const field = context === 'body' ? path : path.replace(/^\//, '');
      const what =
        first?.keyword === 'additionalProperties' ? 'is not allowed' : (first?.message ?? 'is invalid');
      return sendError(
        reply,
        400,
        ErrorCodes.API_BAD_REQUEST,
        `${context} ${field || '(whole)'} ${what}`,
        field,
      );
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return sendError(reply, status, error.code ?? ErrorCodes.API_BAD_REQUEST, error.message);
    }
    request.log.error({ err: error }, 'request failed');
    return sendError(reply, 500, ErrorCodes.API_INTERNAL, 'internal error');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, ErrorCodes.API_NOT_FOUND, `no route ${request.method} ${request.url}`),
  );

  void app.register(apiRoutes, deps);
  for (const routes of deps.extraRoutes ?? []) void app.register((scoped) => routes(scoped));
  return app;
}

/** The routes, as a plugin: mountable under a prefix by whoever builds the server. */
export const apiRoutes: FastifyPluginAsync<ApiDeps> = (app, deps) => {
  const { config, records, metrics, health } = deps;

  app.get('/healthz', (_req, reply) => {
    const h = health();
    if (h.ready) return reply.code(200).send({ status: 'ready' });
    return reply.code(503).send({ status: 'not-ready', reasons: h.reasons });
  });

  app.get('/metrics', (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()),
  );

  app.get('/api/config', (_req, reply) =>
    reply.header('x-config-revision', String(config.currentRevision())).send(maskSecrets(config.get())),
  );

  app.put<{ Querystring: Static<typeof CommentQuery>; Body: unknown }>(
    '/api/config',
    // The document is validated by the configuration store's own schema (ajv, unknown keys
    // refused), not by the route schema, so that errors carry JSON paths into the document.
    { schema: { querystring: CommentQuery } },
    async (req, reply) => {
      const unmasked = unmaskSecrets(req.body, config.get());
      if (!unmasked.ok) return sendParseError(reply, unmasked.error);
      const r = await config.apply(unmasked.value, {
        author: API_AUTHOR,
        ...(req.query.comment !== undefined ? { comment: req.query.comment } : {}),
      });
      if (!r.ok) return sendParseError(reply, r.error);
      return reply.send(r.value);
    },
  );

  app.get('/api/config/revisions', () => ({ revisions: config.revisions() }));

  app.get<{ Params: Static<typeof RevisionParams> }>(
    '/api/config/revisions/:n',
    { schema: { params: RevisionParams } },
    (req, reply) => {
      const rec = config.revision(req.params.n);
      if (!rec)
        return sendError(
          reply,
          404,
          ErrorCodes.CONFIG_REVISION_UNKNOWN,
          `revision ${req.params.n} does not exist`,
          'n',
        );
      return reply.send(maskSecrets(rec));
    },
  );

  app.get<{ Querystring: Static<typeof DiffQuery> }>(
    '/api/config/diff',
    { schema: { querystring: DiffQuery } },
    (req, reply) => {
      const { from, to } = req.query;
      const d = config.diff(from, to);
      if (!d.ok)
        return sendError(reply, 404, d.error.code, d.error.message, config.revision(from) ? 'to' : 'from');
      return reply.send({ from, to, changes: maskChanges(d.value) });
    },
  );

  app.post<{ Params: Static<typeof RevisionParams>; Body: unknown }>(
    '/api/config/revisions/:n/restore',
    { schema: { params: RevisionParams } },
    async (req, reply) => {
      const n = req.params.n;
      if (!config.revision(n)) {
        return sendError(reply, 404, ErrorCodes.CONFIG_REVISION_UNKNOWN, `revision ${n} does not exist`, 'n');
      }
      const body: unknown = req.body;
      const comment =
        typeof body === 'object' &&
        body !== null &&
        typeof (body as { comment?: unknown }).comment === 'string'
          ? (body as { comment: string }).comment
          : undefined;
      const r = await config.restore(n, {
        author: API_AUTHOR,
        ...(comment !== undefined ? { comment } : {}),
      });
      if (!r.ok) return sendParseError(reply, r.error);
      return reply.send(r.value);
    },
  );

  app.get<{ Querystring: Static<typeof CdrQuery> }>(
    '/api/cdrs',
    { schema: { querystring: CdrQuery } },
    (req) => ({
      cdrs: records.listCdrs({
        ...(req.query.limit !== undefined ? { limit: req.query.limit } : {}),
        ...(req.query.before !== undefined ? { before: req.query.before } : {}),
        ...(req.query.interaction !== undefined ? { interactionId: req.query.interaction } : {}),
        states: statesOf(req.query.state),
      }),
    }),
  );

  app.get<{ Querystring: Static<typeof InteractionQuery> }>(
    '/api/interactions',
    { schema: { querystring: InteractionQuery } },
    (req) => ({
      interactions: records.listInteractions({
        ...(req.query.limit !== undefined ? { limit: req.query.limit } : {}),
        ...(req.query.before !== undefined ? { before: req.query.before } : {}),
        states: statesOf(req.query.state),
      }),
    }),
  );

  app.get('/api/status', () => {
    const out: StatusBody = { config: config.dump(), records: records.dump() };
    for (const [name, dump] of Object.entries(deps.dumps ?? {})) {
      try {
        out[name] = dump();
      } catch (e) {
        out[name] = { error: (e as Error).message };
      }
    }
    return out;
  });

  return Promise.resolve();
};

function sendError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  field?: string,
): FastifyReply {
  const body: ApiErrorBody = { error: { code, message, ...(field !== undefined ? { field } : {}) } };
  return reply.code(status).send(body);
}

/** A refused configuration is the client's fault (400); a failed write is the gateway's (500). */
function sendParseError(
  reply: FastifyReply,
  e: ParseError & { problems?: Array<{ field: string; message: string }> },
): FastifyReply {
  const status =
    e.code === ErrorCodes.CONFIG_IO ? 500 : e.code === ErrorCodes.CONFIG_REVISION_UNKNOWN ? 404 : 400;
  const body: ApiErrorBody = {
    error: {
      code: e.code,
      message: e.message,
      ...(e.field !== undefined ? { field: e.field } : {}),
      ...(e.problems ? { problems: e.problems } : {}),
    },
  };
  return reply.code(status).send(body);
}
