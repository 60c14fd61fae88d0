import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ringGroupStages, ringStrategyOf, type RingGroupSpec } from '../../src/routing/ring-group.ts';
import { ringGroupTargets } from '../../src/call/ring-group-targets.ts';
import type { RingGroupPlan } from '../../src/routing/sip-routing.ts';

const base: RingGroupSpec = {
  id: 'g',
  members: ['1001', '1002', '1003'],
  strategy: 'ringall',
  ringTimeoutS: 20,
};

describe('ring groups', () => {
  test('strategy names: all ≡ ringall, sequential ≡ hunt', () => {
    const cases: Array<[RingGroupSpec['strategy'], string]> = [
      ['ringall', 'ringall'],
      ['all', 'ringall'],
      ['hunt', 'hunt'],
      ['sequential', 'hunt'],
    ];
    for (const [s, want] of cases) assert.equal(ringStrategyOf(s), want);
  });

  test('stages by strategy, ring times bounded by the group timeout', () => {
    const cases: Array<{ name: string; g: Partial<RingGroupSpec>; want: Array<[string[], number]> }> = [
      { name: 'ringall: one stage, the group timeout', g: {}, want: [[['1001', '1002', '1003'], 20_000]] },
      {
        name: 'hunt: each member ringSeconds',
        g: { strategy: 'hunt', ringSeconds: 5, ringTimeoutS: 60 },
        want: [
          [['1001'], 5000],
          [['1002'], 5000],
          [['1003'], 5000],
        ],
      },
      {
        name: 'hunt: the group timeout cuts the last turn short and drops later members',
        g: { strategy: 'hunt', ringSeconds: 8, ringTimeoutS: 12 },
        want: [
          [['1001'], 8000],
          [['1002'], 4000],
        ],
      },
      {
        name: 'sequential without ringSeconds: ringTimeoutS per member (the earlier meaning)',
        g: { strategy: 'sequential', ringTimeoutS: 7 },
        want: [
          [['1001'], 7000],
          [['1002'], 7000],
          [['1003'], 7000],
        ],
      },
    ];
    for (const c of cases) {
      const stages = ringGroupStages({ ...base, ...c.g });
      assert.deepEqual(
        stages.map((s) => [s.members, s.ringMs]),
        c.want,
        c.name,
      );
    }
  });

  test('targets: contacts per stage, members without contacts left out, no-answer as a later stage', () => {
    const contacts: Record<string, string[]> = {
      '1001': ['a', 'a2'],
      '1002': [],
      '1003': ['c'],
      '2000': ['vm'],
    };
    const plan: RingGroupPlan = {
      id: 'g',
      stages: [
        { members: ['1001'], ringMs: 5000 },
        { members: ['1002'], ringMs: 5000 },
        { members: ['1003'], ringMs: 5000 },
      ],
      noAnswer: { type: 'extension', number: '2000' },
    };
    const targets = ringGroupTargets(plan, {
      contacts: (n) =>
        (contacts[n] ?? []).map((c) => ({
          contact: `sip:${c}@127.0.0.1`,
          source: { transport: 'udp' as const, address: '127.0.0.1', port: 5060 },
        })),
      trunkTargets: () => [],
    });
    assert.deepEqual(
      targets.map((t) => [t.peer, t.requestUri, t.stage, t.ringTimeoutMs ?? null]),
      [
        ['1001', 'sip:a@127.0.0.1', 0, 5000],
        ['1001', 'sip:a2@127.0.0.1', 0, 5000],
        ['1003', 'sip:c@127.0.0.1', 1, 5000],
        ['2000', 'sip:vm@127.0.0.1', 2, null],
      ],
    );
  });
});
