import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PermissionClass } from '../../src/routing/permission.ts';
import {
  presentCallerId,
  resolveDestination,
  routeInbound,
  routeOutbound,
  type CallerIdPolicy,
  type InboundCall,
  type OutboundCaller,
  type PresentedCallerId,
  type PstnRoutingConfig,
} from '../../src/routing/pstn-routing.ts';
import { RoutingTable } from '../../src/routing/sip-routing.ts';
import { branchOffice } from './pstn-config-fixture.ts';

// The validated configuration document is what routing reads, unchanged.
const cfg: PstnRoutingConfig = branchOffice();
// Monday 2026-03-02 10:00 in Shanghai (office open, night route closed); Monday 23:00 (night).
const day = Date.parse('2026-03-02T02:00:00Z');
const night = Date.parse('2026-03-02T15:00:00Z');

const caller = (number: string, extra: Partial<OutboundCaller> = {}): OutboundCaller => {
  const e = cfg.extensions.find((x) => x.number === number);
  assert.ok(e);
  return { number, permission: e.permission, displayName: e.displayName, ...extra };
};

describe('outbound: digit manipulation and ordered targets', () => {
  const cases: Array<[string, string, string, string, string[]]> = [
    [
      '9 stripped, local number to the FXO group, then E1, then the cloud',
      '95001',
      'local',
      '5001',
      ['group:pstn-out', 'group:pstn-e1', 'trunk:cloud'],
    ],
    [
      '00 international by day: cloud first, then the E1',
      '900441234',
      'intl',
      '00441234',
      ['trunk:cloud', 'group:pstn-e1'],
    ],
    [
      '8 stripped and 0086 prefixed, the original trunks form normalised',
      '81234',
      'forward',
      '00861234',
      ['trunk:cloud'],
    ],
    ['an emergency number without a prefix', '110', 'emergency', '110', ['group:pstn-out']],
  ];
  for (const [rule, dialled, routeId, number, targets] of cases) {
    test(`${rule}: ${dialled} → ${number}`, () => {
      const d = routeOutbound(cfg, caller('1005'), dialled, day);
      assert.equal(d.type, 'outbound');
      if (d.type !== 'outbound') return;
      assert.equal(d.routeId, routeId);
      assert.equal(d.number, number);
      assert.deepEqual(
        d.targets.map((t) => `${t.type}:${t.id}`),
        targets,
      );
    });
  }

  test('a route with a schedule is used only while its time condition is in that state', () => {
    const byDay = routeOutbound(cfg, caller('1001'), '900441234', day);
    const byNight = routeOutbound(cfg, caller('1001'), '900441234', night);
    assert.equal(byDay.type === 'outbound' && byDay.routeId, 'intl');
    assert.equal(byNight.type === 'outbound' && byNight.routeId, 'cheap-night');
  });

  test('a number no route matches is 404', () => {
    assert.deepEqual(routeOutbound(cfg, caller('1001'), '*99', day), {
      type: 'reject',
      status: 404,
      reason: 'Not Found',
    });
  });
});

describe('outbound: permission classes (internal < local < national < international < premium)', () => {
  const routes: Array<[string, string, PermissionClass]> = [
    ['local', '95001', 'local'],
    ['intl', '900441234', 'international'],
    ['premium', '91681234', 'premium'],
  ];
  const classes: Array<[string, PermissionClass]> = [
    ['1004', 'internal'],
    ['1003', 'local'],
    ['1002', 'national'],
    ['1001', 'international'],
    ['1005', 'premium'],
  ];
  const order: PermissionClass[] = ['internal', 'local', 'national', 'international', 'premium'];
  for (const [routeId, dialled, needs] of routes) {
    for (const [ext, holds] of classes) {
      const allowed = order.indexOf(holds) >= order.indexOf(needs);
      test(`${holds} ${allowed ? 'MAY' : 'MUST NOT'} use a ${needs} route (${dialled})`, () => {
        const d = routeOutbound(cfg, caller(ext), dialled, day);
        if (allowed) assert.equal(d.type === 'outbound' && d.routeId, routeId);
        else assert.deepEqual(d, { type: 'reject', status: 403, reason: 'Forbidden (permission class)' });
      });
    }
  }

  for (const dialled of ['110', '119', '120', '9110', '9112']) {
    test(`an internal extension MAY always dial the emergency number ${dialled}`, () => {
      const d = routeOutbound(cfg, caller('1004'), dialled, day);
      assert.equal(d.type, 'outbound');
      if (d.type === 'outbound') assert.equal(d.emergency, true);
    });
  }
});

describe('outbound: caller ID policies', () => {
  const reception = caller('1001');
  const forwarded = caller('1001', { originalNumber: '13812345678', originalName: 'Li Wei' });
  const cases: Array<[string, CallerIdPolicy, OutboundCaller, boolean, PresentedCallerId]> = [
    [
      'extension presents the extension',
      'extension',
      reception,
      false,
      { number: '1001', name: 'Reception', presentation: 'allowed' },
    ],
    [
      'fixed presents the company number',
      'fixed:862155550000',
      reception,
      false,
      { number: '862155550000', presentation: 'allowed' },
    ],
    [
      'passthrough presents the original caller of a forwarded call',
      'passthrough',
      forwarded,
      false,
      { number: '13812345678', name: 'Li Wei', presentation: 'allowed' },
    ],
    [
      'passthrough without a forwarded caller presents the extension',
      'passthrough',
      reception,
      false,
      { number: '1001', name: 'Reception', presentation: 'allowed' },
    ],
    [
      'anonymous restricts presentation',
      'anonymous',
      reception,
      false,
      { number: '1001', name: 'Reception', presentation: 'restricted' },
    ],
    [
      'anonymous does not hide an emergency caller',
      'anonymous',
      reception,
      true,
      { number: '1001', name: 'Reception', presentation: 'allowed' },
    ],
  ];
  for (const [rule, policy, who, emergency, expected] of cases) {
    test(rule, () => assert.deepEqual(presentCallerId(policy, who, emergency), expected));
  }

  test('the route policy is applied by routeOutbound', () => {
    const d = routeOutbound(cfg, caller('1001'), '900441234', day);
    assert.equal(d.type === 'outbound' && d.callerId.number, '862155550000');
    const p = routeOutbound(cfg, caller('1005'), '91681234', day);
    assert.equal(p.type === 'outbound' && p.callerId.presentation, 'restricted');
  });
});

describe('inbound: matching precedence line+DID+caller > DID > caller > line > group > any', () => {
  const cases: Array<[string, InboundCall, string, string]> = [
    [
      'line, its number as DID and caller all match',
      { line: 'fxo1', callerNumber: '13800000000' },
      'r-full',
      'extension:1003',
    ],
    ['the DID beats the line', { line: 'fxo1', callerNumber: '5551234' }, 'r-did', 'extension:1002'],
    [
      'the DID beats a caller route',
      { line: 'fxo1', callerNumber: '13900000000' },
      'r-did',
      'extension:1002',
    ],
    [
      'a caller route beats a group route',
      { line: 'fxo2', callerNumber: '13900000000' },
      'r-caller',
      'queue:vip',
    ],
    [
      'a group member matches the group route',
      { line: 'fxo2', callerNumber: '5551234' },
      'r-group',
      'ring-group:sales',
    ],
    [
      'a line matching nothing specific takes the catch-all',
      { line: 'fxo3', callerNumber: '5551234' },
      'r-any',
      'ivr:main-menu',
    ],
    [
      'a withheld caller on a plain line takes the catch-all',
      { line: 'fxo3', callerNumber: '' },
      'r-any',
      'ivr:main-menu',
    ],
    [
      'an E1 call carries its DID',
      { line: 'e1-1', did: '5550001', callerNumber: '13800000000' },
      'r-did',
      'extension:1002',
    ],
    [
      'a SIP trunk call by DID',
      { trunk: 'itsp', did: '5550001', callerNumber: '1' },
      'r-did',
      'extension:1002',
    ],
    [
      'a line route does not match a trunk call',
      { trunk: 'itsp', did: '5550099', callerNumber: '1' },
      'r-any',
      'ivr:main-menu',
    ],
  ];
  const label = (d: ReturnType<typeof routeInbound>): string => {
    switch (d.type) {
      case 'extension':
        return `extension:${d.number}`;
      case 'ring-group':
        return `ring-group:${d.group.id}`;
      case 'trunk':
        return `trunk:${d.trunk}`;
      case 'service':
        return `service:${d.number}`;
      case 'ivr':
      case 'queue':
        return `${d.type}:${d.id}`;
      case 'reject':
        return `reject:${d.status}`;
    }
  };
  for (const [rule, call, routeId, expected] of cases) {
    test(`${rule} → ${routeId}`, () => {
      const d = routeInbound(cfg, call, day);
      assert.equal(label(d), expected);
      assert.equal(d.type !== 'reject' && d.routeId, routeId);
    });
  }
});

describe('inbound: destinations', () => {
  test('a time condition sends office hours to the ring group and the rest to the IVR', () => {
    const call: InboundCall = { line: 'e1-1', did: '5559000', callerNumber: '5551234' };
    const open = routeInbound(cfg, call, day);
    assert.equal(open.type, 'ring-group');
    assert.deepEqual(open.via, [{ timeCondition: 'office', state: 'open' }]);
    const closed = routeInbound(cfg, call, night);
    assert.deepEqual(closed, {
      type: 'ivr',
      id: 'after-hours',
      routeId: 'r-hours',
      via: [{ timeCondition: 'office', state: 'closed' }],
    });
    const holiday = routeInbound(cfg, call, Date.parse('2026-10-01T02:00:00Z'));
    assert.equal(holiday.type, 'ivr');
  });

  test('a ring group carries its members, strategy and no-answer destination', () => {
    const d = routeInbound(cfg, { line: 'fxo2', callerNumber: '5551234' }, day);
    assert.equal(d.type, 'ring-group');
    if (d.type !== 'ring-group') return;
    assert.deepEqual(d.group.members, ['1001', '1002']);
    assert.equal(d.group.strategy, 'all');
    assert.equal(d.group.ringTimeoutS, 15);
  });

  test("a ring group's no-answer destination resolves like any other", () => {
    const support = cfg.ringGroups.find((g) => g.id === 'support');
    assert.ok(support?.noAnswer);
    const d = resolveDestination(cfg, support.noAnswer, { line: 'fxo1', callerNumber: '' }, day, 'r-x');
    assert.deepEqual(d, { type: 'queue', id: 'support', routeId: 'r-x', via: [] });
  });

  test('a line call routed to the cloud trunk carries the line number as DID', () => {
    const d = routeInbound(cfg, { line: 'e1-1', did: '5558000', callerNumber: '5551234' }, day);
    assert.deepEqual(d, { type: 'trunk', trunk: 'cloud', number: '5558000', routeId: 'r-cloud', via: [] });
  });

  test('RFC 3261 §21.4.20: a call is never sent back into the trunk it came from (482)', () => {
    const d = routeInbound(cfg, { trunk: 'cloud', did: '5558000', callerNumber: '1' }, day);
    assert.equal(d.type === 'reject' && d.status, 482);
  });

  test('a disabled extension is temporarily unavailable (480)', () => {
    const d = routeInbound(cfg, { line: 'e1-1', did: '5557000', callerNumber: '1' }, day);
    assert.equal(d.type === 'reject' && d.status, 480);
  });

  test('no route at all is 404', () => {
    const none: PstnRoutingConfig = { ...cfg, routes: { outbound: [], inbound: [] } };
    assert.equal(routeInbound(none, { line: 'fxo1', callerNumber: '' }, day).type, 'reject');
  });
});

describe('the SIP routing table reads the extended routes', () => {
  const c = branchOffice();
  const table = new RoutingTable(
    {
      country: c.system.country,
      extensions: c.extensions,
      outbound: c.routes.outbound,
      inbound: c.routes.inbound,
      services: c.services,
      timeConditions: c.timeConditions,
      ringGroups: c.ringGroups,
    },
    () => day,
  );
  test('a mixed route offers its trunks to SIP callers', () => {
    const d = table.fromExtension(caller('1001'), '900441234');
    assert.equal(d.type === 'trunk' && d.trunks.join(), 'cloud');
  });
  test('a route to PSTN groups only is 503 on the SIP path', () => {
    const d = table.fromExtension(caller('1001'), '110');
    assert.equal(d.type === 'reject' && d.status, 503);
  });
  test('time conditions resolve on trunk calls to a ring group, served with its stages', () => {
    const d = table.fromTrunk('itsp', '5559000');
    assert.equal(d.type, 'ring-group');
    if (d.type !== 'ring-group') return;
    assert.ok(d.group.stages.length > 0);
    assert.ok(d.group.stages.every((s) => s.members.length > 0 && s.ringMs > 0));
  });
  test('caller-specific routes need the caller number; line routes never match a trunk', () => {
    const d = table.fromTrunk('itsp', '5550099', '13900000000');
    assert.equal(d.type === 'reject' && d.status, 503); // r-caller → queue, not served yet
  });
});
