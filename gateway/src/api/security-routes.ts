/**
 * The ban list of the SIP edge's source protection (`sip/security/source-guard.ts`):
 *
 *   GET    /api/security/bans             the bans in force, the allow-list, the counters
 *   POST   /api/security/bans             { address, durationS? } → 201 and the ban; an address
 *                                         that is no IP address, or one in the allow-list or of
 *                                         a trunk member, is refused (400 naming `address`)
 *   DELETE /api/security/bans/:address    lift a ban → 204; 404 when it was not banned
 *
 * A ban set here drops the source before anything it sends is parsed, like one the guard set.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { canonicalAddress } from '../../../base/address-range.ts';
import { ErrorCodes } from '../core/errors.ts';
import type { SourceGuard } from '../sip/security/source-guard.ts';

const BanBody = Type.Object(
  {
    address: Type.String({ minLength: 1, maxLength: 64 }),
    /** Defaults to the policy's `security.banS`. */
    durationS: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000 })),
  },
  { additionalProperties: false },
);
const AddressParams = Type.Object({ address: Type.String({ minLength: 1, maxLength: 64 }) });

export function securityRoutes(guard: () => SourceGuard): (app: FastifyInstance) => Promise<void> {
  return (app) => {
    app.get('/api/security/bans', () => guard().dump());
    app.post('/api/security/bans', { schema: { body: BanBody } }, (req, reply) => {
      const body = req.body as { address: string; durationS?: number };
      const bad = (message: string) =>
        reply.code(400).send({ error: { code: ErrorCodes.API_BAD_REQUEST, message, field: 'address' } });
      const address = canonicalAddress(body.address);
      if (address === undefined) return bad(`'${body.address}' is not an IP address`);
      const g = guard();
      if (g.allowed(address))
        return bad(
          `${address} is in the allow-list (security.allow) or a trunk member's: it is never banned`,
        );
      g.ban(address, 'manual', body.durationS === undefined ? undefined : body.durationS * 1000);
      return reply.code(201).send({ ban: g.list().find((b) => b.address === address) });
    });
    app.delete('/api/security/bans/:address', { schema: { params: AddressParams } }, (req, reply) => {
      const { address } = req.params as { address: string };
      if (guard().unban(address)) return reply.code(204).send();
      return reply.code(404).send({
        error: { code: ErrorCodes.API_NOT_FOUND, message: `${address} is not banned`, field: 'address' },
      });
    });
    return Promise.resolve();
  };
}
