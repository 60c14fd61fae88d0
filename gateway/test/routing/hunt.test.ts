import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attemptKey,
  huntGroup,
  huntOrder,
  nextAttempt,
  nextRoundRobin,
  parseChannelList,
  type HuntState,
  type HuntStrategy,
  type PstnPorts,
  type RouteTarget,
  type WalkState,
} from '../../src/routing/hunt.ts';

const ports = (hunt: HuntStrategy = 'sequential'): PstnPorts => ({
  lines: [
    { id: 'fxo1', card: 'sim0', port: 1, direction: 'both' },
    { id: 'fxo2', card: 'sim0', port: 2, direction: 'out' },
    { id: 'fxo3', card: 'sim0', port: 3, direction: 'in' },
    { id: 'fxo4', card: 'sim0', port: 4, direction: 'both' },
  ],
  spans: [{ id: 'e1-1', card: 'sim0', span: 1, channels: '1-2', direction: 'both' }],
  groups: [
    { id: 'mixed', members: ['fxo1', 'fxo2', 'fxo3', 'e1-1'], hunt },
    { id: 'spare', members: ['fxo4'], hunt: 'sequential' },
  ],
});

const keys = (hunt: HuntStrategy, state: HuntState) => {
  const g = huntGroup(ports(hunt), 'mixed', 'out');
  assert.ok(g);
  return huntOrder(g, state).map((c) => c.key);
};

describe('E1 channel lists (ITU-T G.704: timeslots 1-15 and 17-31 are bearers)', () => {
  const good: Array<[string, number]> = [
    ['1-15,17-31', 30],
    ['1', 1],
    ['1-2,5', 3],
  ];
  for (const [spec, count] of good) {
    test(`'${spec}' gives ${count} channels`, () => {
      const r = parseChannelList(spec);
      assert.ok(r.ok);
      assert.equal(r.value.length, count);
    });
  }
  const bad: Array<[string, RegExp]> = [
    ['1-31', /timeslot 16/],
    ['0-3', /timeslot 0/],
    ['30-32', /timeslot 32/],
    ['5-3', /backwards/],
    ['1,1', /twice/],
    ['a', /not a channel/],
  ];
  for (const [spec, message] of bad) {
    test(`refuses '${spec}'`, () => {
      const r = parseChannelList(spec);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error.message, message);
    });
  }
});

describe('hunt order', () => {
  test('a group expands spans to their channels and leaves inbound-only lines out of outbound hunts', () => {
    assert.deepEqual(keys('sequential', { busy: new Set() }), ['fxo1', 'fxo2', 'e1-1/1', 'e1-1/2']);
    const inbound = huntGroup(ports(), 'mixed', 'in');
    assert.deepEqual(
      inbound?.channels.map((c) => c.key),
      ['fxo1', 'fxo3', 'e1-1/1', 'e1-1/2'],
    );
  });

  const cases: Array<{ rule: string; hunt: HuntStrategy; state: HuntState; expected: string[] }> = [
    {
      rule: 'sequential starts from the first member',
      hunt: 'sequential',
      state: { busy: new Set() },
      expected: ['fxo1', 'fxo2', 'e1-1/1', 'e1-1/2'],
    },
    {
      rule: 'sequential skips busy channels',
      hunt: 'sequential',
      state: { busy: new Set(['fxo1', 'e1-1/1']) },
      expected: ['fxo2', 'e1-1/2'],
    },
    {
      rule: 'sequential ignores the round-robin pointer',
      hunt: 'sequential',
      state: { busy: new Set(), rrNext: 2 },
      expected: ['fxo1', 'fxo2', 'e1-1/1', 'e1-1/2'],
    },
    {
      rule: 'round-robin starts at the pointer',
      hunt: 'round-robin',
      state: { busy: new Set(), rrNext: 2 },
      expected: ['e1-1/1', 'e1-1/2', 'fxo1', 'fxo2'],
    },
    {
      rule: 'round-robin without a pointer starts at the first',
      hunt: 'round-robin',
      state: { busy: new Set() },
      expected: ['fxo1', 'fxo2', 'e1-1/1', 'e1-1/2'],
    },
    {
      rule: 'round-robin wraps a pointer past the end',
      hunt: 'round-robin',
      state: { busy: new Set(), rrNext: 5 },
      expected: ['fxo2', 'e1-1/1', 'e1-1/2', 'fxo1'],
    },
    {
      rule: 'round-robin skips busy channels',
      hunt: 'round-robin',
      state: { busy: new Set(['e1-1/1']), rrNext: 2 },
      expected: ['e1-1/2', 'fxo1', 'fxo2'],
    },
    {
      rule: 'least-used takes the fewest calls first, ties in member order',
      hunt: 'least-used',
      state: { busy: new Set(), usage: { fxo1: 3, fxo2: 1, 'e1-1/1': 1 } },
      expected: ['e1-1/2', 'fxo2', 'e1-1/1', 'fxo1'],
    },
    {
      rule: 'least-used skips busy channels',
      hunt: 'least-used',
      state: { busy: new Set(['e1-1/2']), usage: { fxo1: 3, fxo2: 1, 'e1-1/1': 1 } },
      expected: ['fxo2', 'e1-1/1', 'fxo1'],
    },
    {
      rule: 'every channel busy gives nothing',
      hunt: 'least-used',
      state: { busy: new Set(['fxo1', 'fxo2', 'e1-1/1', 'e1-1/2']) },
      expected: [],
    },
  ];
  for (const c of cases) {
    test(c.rule, () => assert.deepEqual(keys(c.hunt, c.state), c.expected));
  }

  test('the round-robin pointer moves past the channel seized, wrapping at the end', () => {
    const g = huntGroup(ports('round-robin'), 'mixed', 'out');
    assert.ok(g);
    const [first, , , last] = g.channels;
    assert.ok(first && last);
    assert.equal(nextRoundRobin(g, first), 1);
    assert.equal(nextRoundRobin(g, last), 0);
  });
});

describe('walking the targets: all channels busy → next target, then 503 with busy tone', () => {
  const targets: RouteTarget[] = [
    { type: 'group', id: 'mixed' },
    { type: 'trunk', id: 'cloud' },
    { type: 'group', id: 'spare' },
  ];
  const allMixed = new Set(['fxo1', 'fxo2', 'e1-1/1', 'e1-1/2']);
  const walk = (state: Partial<WalkState>) => {
    const step = nextAttempt(ports(), targets, { busy: new Set(), tried: new Set(), ...state });
    return step.kind === 'try' ? attemptKey(step.attempt) : `${step.status} ${step.tone}`;
  };
  const cases: Array<[string, Partial<WalkState>, string]> = [
    ['the first free channel of the first group', {}, 'channel:fxo1'],
    [
      'a channel whose seize failed (glare, no dial tone) is passed over',
      { tried: new Set(['channel:fxo1']) },
      'channel:fxo2',
    ],
    ['a group with every channel busy passes to the next target', { busy: allMixed }, 'trunk:cloud'],
    ['a trunk that is down is skipped', { busy: allMixed, trunksDown: new Set(['cloud']) }, 'channel:fxo4'],
    ['a trunk already tried is skipped', { busy: allMixed, tried: new Set(['trunk:cloud']) }, 'channel:fxo4'],
    [
      'everything busy or tried: 503 and busy tone',
      { busy: new Set([...allMixed, 'fxo4']), tried: new Set(['trunk:cloud']) },
      '503 busy',
    ],
  ];
  for (const [rule, state, expected] of cases) {
    test(`${rule} → ${expected}`, () => assert.equal(walk(state), expected));
  }

  test('walking step by step visits every channel once, then gives up', () => {
    const tried = new Set<string>();
    const seen: string[] = [];
    for (;;) {
      const step = nextAttempt(ports('round-robin'), targets, {
        busy: new Set(),
        tried,
        rrNext: { mixed: 3 },
      });
      if (step.kind === 'exhausted') {
        assert.equal(step.status, 503);
        break;
      }
      seen.push(attemptKey(step.attempt));
      tried.add(attemptKey(step.attempt));
    }
    assert.deepEqual(seen, [
      'channel:e1-1/2',
      'channel:fxo1',
      'channel:fxo2',
      'channel:e1-1/1',
      'trunk:cloud',
      'channel:fxo4',
    ]);
  });
});
