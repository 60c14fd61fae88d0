/**
 * The simulated office over HTTP, as a Fastify plugin: place a call into the gateway from the
 * "PSTN", drive it (digits, a prompt, a tone), hang it up, read what it heard; list the lines and
 * inject faults. Errors are `{ error: { code, message, field } }` like the rest of the API.
 *
 *   POST /api/sim/calls                 { line, callerId: { number?, name?, withheld? }, cidMode?,
 *                                         cidTiming?, dtmfCidVariant?, calledNumber?, record? }
 *                                         → 201 call (record: false keeps no audio, only levels)
 *   GET  /api/sim/calls                 → { calls: [...] }
 *   GET  /api/sim/calls/:id             → call, with its recording summary
 *   GET  /api/sim/calls/:id/recording   → audio/wav: everything the caller heard (8 kHz, 16-bit)
 *   POST /api/sim/calls/:id/digits      { digits }
 *   POST /api/sim/calls/:id/play        { wav: "<path under the data directory>" } or
 *                                       { tone: { frequenciesHz, levelDbm0, durationMs } }
 *   POST /api/sim/calls/:id/hangup
 *   GET  /api/sim/lines                 → { lines: [...] }
 *   PUT  /api/sim/lines/:line/faults    { faults: [...] }
 */
import { resolve, sep } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyError, FastifyPluginAsync, FastifyReply } from 'fastify';
import type { CentralOffice } from './central-office.ts';
import { LINE_FAULTS } from './co-types.ts';
import { writeWavHeader } from '../../base/signal/wav.ts';
import type { ErrorCode } from '../../base/error-codes.ts';

export interface SimHttpOptions {
  office: CentralOffice;
  /** Prompts played with `/play` must live under this directory. */
  dataDir?: string;
}

const CallerIdBody = Type.Object(
  {
    number: Type.Optional(Type.String({ pattern: '^[0-9*#+]{1,20}$' })),
    name: Type.Optional(Type.String({ maxLength: 15 })),
    withheld: Type.Optional(Type.Union([Type.Literal('private'), Type.Literal('out-of-area')])),
  },
  { additionalProperties: false },
);

const OriginateBody = Type.Object(
  {
    line: Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1, maxLength: 64 })]),
    callerId: CallerIdBody,
    cidMode: Type.Optional(
      Type.Union([Type.Literal('fsk-bell202'), Type.Literal('fsk-v23'), Type.Literal('dtmf')]),
    ),
    cidTiming: Type.Optional(Type.Union([Type.Literal('before-ring'), Type.Literal('after-first-ring')])),
    dtmfCidVariant: Type.Optional(
      Type.Union([Type.Literal('A-C'), Type.Literal('A-#'), Type.Literal('D-C')]),
    ),
    calledNumber: Type.Optional(Type.String({ pattern: '^[0-9]{1,20}$' })),
    /** false: keep only the level and digits heard, not the audio (a load generator). */
    record: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const LineParams = Type.Object({ line: Type.String({ minLength: 1, maxLength: 64 }) });
const DigitsBody = Type.Object(
  { digits: Type.String({ pattern: '^[0-9*#A-Da-d]{1,64}$' }) },
  { additionalProperties: false },
);
const PlayBody = Type.Object(
  {
    wav: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    tone: Type.Optional(
      Type.Object(
        {
          frequenciesHz: Type.Array(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 4000 }), {
            minItems: 1,
            maxItems: 4,
          }),
          levelDbm0: Type.Number({ minimum: -60, maximum: 3 }),
          durationMs: Type.Integer({ minimum: 20, maximum: 600_000 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
const FaultsBody = Type.Object(
  {
    faults: Type.Array(Type.Union(LINE_FAULTS.map((f) => Type.Literal(f))), { maxItems: LINE_FAULTS.length }),
  },
  { additionalProperties: false },
);

const Codes = {
  BAD_REQUEST: 'EDGE_ERR_API_BAD_REQUEST',
  NOT_FOUND: 'EDGE_ERR_API_NOT_FOUND',
  CONFLICT: 'EDGE_ERR_API_CONFLICT',
  INTERNAL: 'EDGE_ERR_API_INTERNAL',
} as const satisfies Record<string, ErrorCode>;

function sendError(
  reply: FastifyReply,
  status: number,
  code: ErrorCode,
  message: string,
  field?: string,
): FastifyReply {
  return reply.code(status).send({ error: { code, message, ...(field !== undefined ? { field } : {}) } });
}

/** A line reference from a URL or body: a number is an analog port index, anything else an id or number. */
function lineRef(raw: string | number): string | number {
  return typeof raw === 'string' && /^[0-9]{1,2}$/.test(raw) ? Number(raw) : raw;
}

export const simHttpPlugin: FastifyPluginAsync<SimHttpOptions> = (app, opts) => {
  const { office } = opts;

  // Encapsulated: answers this plugin's validation failures in the API's error shape.
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error.validation) {
      const first = error.validation[0];
      const params: Record<string, unknown> = first?.params ?? {};
      let path = first?.instancePath ?? '';
      if (first?.keyword === 'required') path += `/${String(params['missingProperty'])}`;
      if (first?.keyword === 'additionalProperties') path += `/${String(params['additionalProperty'])}`;
      return sendError(
        reply,
        400,
        Codes.BAD_REQUEST,
        `${path || '(whole)'} ${first?.message ?? 'is invalid'}`,
        path,
      );
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendError(reply, status, Codes.BAD_REQUEST, error.message);
    return sendError(reply, 500, Codes.INTERNAL, 'internal error');
  });

  const findCall = (id: string, reply: FastifyReply) => {
    const call = office.caller(id);
    if (!call) sendError(reply, 404, Codes.NOT_FOUND, `no simulated call ${id}`, 'id');
    return call;
  };

  app.post<{ Body: Static<typeof OriginateBody> }>(
    '/api/sim/calls',
    { schema: { body: OriginateBody } },
    (req, reply) => {
      const b = req.body;
      const r = office.originate({
        line: lineRef(b.line),
        callerId: b.callerId,
        ...(b.cidMode ? { cidMode: b.cidMode } : {}),
        ...(b.cidTiming ? { cidTiming: b.cidTiming } : {}),
        ...(b.dtmfCidVariant ? { dtmfCidVariant: b.dtmfCidVariant } : {}),
        ...(b.calledNumber ? { calledNumber: b.calledNumber } : {}),
        ...(b.record === undefined ? {} : { record: b.record }),
      });
      if (!r.ok) {
        const status =
          r.error.code === 'EDGE_ERR_SIM_NO_SUCH_LINE'
            ? 404
            : r.error.code === 'EDGE_ERR_SIM_LINE_BUSY'
              ? 409
              : 400;
        const field = r.error.field ? `/${r.error.field}` : undefined;
        return sendError(reply, status, r.error.code, r.error.message, field);
      }
      return reply.code(201).send(r.value.summary());
    },
  );

  app.get('/api/sim/calls', (_req, reply) => reply.send({ calls: office.simulatedCalls() }));

  app.get<{ Params: Static<typeof IdParams> }>(
    '/api/sim/calls/:id',
    { schema: { params: IdParams } },
    (req, reply) => {
      const call = findCall(req.params.id, reply);
      if (call) return reply.send(call.summary());
      return reply;
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/api/sim/calls/:id/recording',
    { schema: { params: IdParams } },
    (req, reply) => {
      const call = findCall(req.params.id, reply);
      if (!call) return reply;
      const samples = call.recordedSamples();
      const pcm = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
      const header = writeWavHeader({ channels: 1, sampleRateHz: 8000, dataBytes: pcm.length });
      return reply.type('audio/wav').send(Buffer.concat([header, pcm]));
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof DigitsBody> }>(
    '/api/sim/calls/:id/digits',
    { schema: { params: IdParams, body: DigitsBody } },
    (req, reply) => {
      const call = findCall(req.params.id, reply);
      if (!call) return reply;
      const r = call.sendDigits(req.body.digits.toUpperCase());
      if (!r.ok) return sendError(reply, 409, Codes.CONFLICT, r.error.message);
      return reply.send(call.summary());
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof PlayBody> }>(
    '/api/sim/calls/:id/play',
    { schema: { params: IdParams, body: PlayBody } },
    async (req, reply) => {
      const call = findCall(req.params.id, reply);
      if (!call) return reply;
      const { wav, tone } = req.body;
      if ((wav === undefined) === (tone === undefined)) {
        return sendError(reply, 400, Codes.BAD_REQUEST, 'give exactly one of wav or tone', '/wav');
      }
      if (tone) {
        const r = call.playTone(tone.frequenciesHz, tone.levelDbm0, tone.durationMs);
        if (!r.ok) return sendError(reply, 409, Codes.CONFLICT, r.error.message);
        return reply.send(call.summary());
      }
      if (!opts.dataDir)
        return sendError(reply, 400, Codes.BAD_REQUEST, 'no data directory for prompts', '/wav');
      const root = resolve(opts.dataDir);
      const path = resolve(root, wav ?? '');
      // Only files under the data directory: no `..`, no absolute paths elsewhere.
      if (!path.startsWith(root + sep)) {
        return sendError(
          reply,
          400,
          Codes.BAD_REQUEST,
          'wav must be a path under the data directory',
          '/wav',
        );
      }
      const r = await call.playWav(path);
      if (!r.ok) {
        const status = call.state === 'ended' ? 409 : 400;
        return sendError(
          reply,
          status,
          status === 409 ? Codes.CONFLICT : Codes.BAD_REQUEST,
          r.error.message,
          '/wav',
        );
      }
      return reply.send(call.summary());
    },
  );

  app.post<{ Params: Static<typeof IdParams> }>(
    '/api/sim/calls/:id/hangup',
    { schema: { params: IdParams } },
    (req, reply) => {
      const call = findCall(req.params.id, reply);
      if (!call) return reply;
      const r = call.hangup();
      if (!r.ok) return sendError(reply, 409, Codes.CONFLICT, r.error.message);
      return reply.send(call.summary());
    },
  );

  app.get('/api/sim/lines', (_req, reply) => reply.send({ lines: office.lines() }));

  app.put<{ Params: Static<typeof LineParams>; Body: Static<typeof FaultsBody> }>(
    '/api/sim/lines/:line/faults',
    { schema: { params: LineParams, body: FaultsBody } },
    (req, reply) => {
      const r = office.setFaults(lineRef(req.params.line), req.body.faults);
      if (!r.ok) return sendError(reply, 404, r.error.code, r.error.message, 'line');
      return reply.send(office.port(lineRef(req.params.line))?.summary());
    },
  );

  return Promise.resolve();
};
