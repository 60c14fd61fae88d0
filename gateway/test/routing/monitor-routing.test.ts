import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RoutingTable, type RoutingConfig } from '../../src/routing/sip-routing.ts';

const cfg: RoutingConfig = {
  country: 'CN',
  extensions: [
    { number: '1001', permission: 'internal' },
    { number: '1002', permission: 'internal' },
    { number: '1008', permission: 'internal', monitor: true },
  ],
  outbound: [{ id: 'out', pattern: '*4.', strip: 0, prefix: '', trunks: ['t'], permission: 'internal' }],
  inbound: [],
  services: [
    { number: '*45', type: 'monitor' },
    { number: '*4510', type: 'echo' },
    { number: '*50', type: 'conference' },
  ],
};

describe('monitor codes: prefix + extension', () => {
  const table = new RoutingTable(cfg);
  const supervisor = { number: '1008', permission: 'internal' as const };
  const agent = { number: '1001', permission: 'internal' as const };
  const cases: Array<{ rule: string; caller: typeof agent; dialled: string; want: unknown }> = [
    {
      rule: 'the code followed by an extension is the monitor service with that target',
      caller: supervisor,
      dialled: '*451002',
      want: { type: 'service', number: '*45', service: 'monitor', target: '1002' },
    },
    {
      rule: 'an exact service number wins over the prefix',
      caller: supervisor,
      dialled: '*4510',
      want: { type: 'service', number: '*4510', service: 'echo' },
    },
    {
      rule: 'the code alone is the service without a target',
      caller: supervisor,
      dialled: '*45',
      want: { type: 'service', number: '*45', service: 'monitor' },
    },
    {
      rule: 'an extension without monitor permission gets 403',
      caller: agent,
      dialled: '*451002',
      want: { type: 'reject', status: 403, reason: 'Forbidden (not allowed to monitor)' },
    },
    {
      rule: 'a target that is not an extension gets 404',
      caller: supervisor,
      dialled: '*459999',
      want: { type: 'reject', status: 404, reason: 'Not Found' },
    },
    {
      rule: 'conference numbers match exactly',
      caller: agent,
      dialled: '*50',
      want: { type: 'service', number: '*50', service: 'conference' },
    },
  ];
  for (const c of cases)
    test(c.rule, () => {
      assert.deepEqual(table.fromExtension(c.caller, c.dialled), c.want);
    });
});
