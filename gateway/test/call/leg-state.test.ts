import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../base/clock.ts';
import { TypedEmitter } from '../../src/core/typed-emitter.ts';
import { isLegalEdge, LegStateMachine } from '../../src/call/leg-state.ts';
import type { LegEvents, LegState } from '../../src/call/leg.ts';

const STATES: LegState[] = ['offered', 'alerting', 'early', 'answered', 'ended'];

function machine() {
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const events = new TypedEmitter<LegEvents>((_e, x) => errors.push(x));
  const seen: string[] = [];
  events.on('state', (to, from) => seen.push(`${from}→${to}`));
  events.on('ended', (end) => seen.push(`ended:${end.cause}`));
  return { clock, events, seen, errors, m: new LegStateMachine(events, clock) };
}

describe('leg state machine', () => {
  test('edge table: offered → alerting/early/answered/ended; alerting ↔ early; answered → ended only', () => {
    const legal: Record<LegState, LegState[]> = {
      offered: ['alerting', 'early', 'answered', 'ended'],
      alerting: ['early', 'answered', 'ended'],
      early: ['alerting', 'answered', 'ended'],
      answered: ['ended'],
      ended: [],
    };
    for (const from of STATES) {
      for (const to of STATES) {
        assert.equal(isLegalEdge(from, to), legal[from].includes(to), `${from} → ${to}`);
      }
    }
  });

  test('a provisional repeat (a second 180) is accepted without an event', () => {
    const { m, seen } = machine();
    assert.ok(m.transition('alerting').ok);
    assert.ok(m.transition('alerting').ok);
    assert.deepEqual(seen, ['offered→alerting']);
  });

  test('answered → alerting is refused with EDGE_ERR_CALL_LEG_STATE and changes nothing', () => {
    const { m, seen } = machine();
    m.transition('answered');
    const r = m.transition('alerting');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'EDGE_ERR_CALL_LEG_STATE');
    assert.equal(m.state, 'answered');
    assert.deepEqual(seen, ['offered→answered']);
  });

  test('a second answer is refused (answered is not a repeatable state)', () => {
    const { m } = machine();
    m.transition('answered');
    assert.equal(m.transition('answered').ok, false);
  });

  test('after the end every transition is refused with EDGE_ERR_CALL_LEG_ENDED', () => {
    const { m } = machine();
    m.finish({ cause: 'normal-clearing', by: 'remote', sipStatus: 200 });
    for (const to of ['alerting', 'early', 'answered'] as const) {
      const r = m.transition(to);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, 'EDGE_ERR_CALL_LEG_ENDED');
    }
  });

  test('the first end wins: a later finish is ignored and emits nothing', () => {
    const { m, seen, clock } = machine();
    m.transition('answered');
    clock.advance(5000);
    assert.equal(m.finish({ cause: 'normal-clearing', by: 'remote', sipStatus: 200 }), true);
    assert.equal(m.finish({ cause: 'temporary-failure', by: 'system', sipStatus: 503 }), false);
    assert.equal(m.end?.cause, 'normal-clearing');
    assert.equal(m.end?.atMs, clock.wallNow());
    assert.deepEqual(seen, ['offered→answered', 'answered→ended', 'ended:normal-clearing']);
  });

  test('answer time is stamped on the wall clock', () => {
    const { m, clock } = machine();
    clock.advance(1234);
    m.transition('answered');
    assert.equal(m.answeredAt, clock.wallNow());
  });

  test('a listener that throws reaches the error hook and does not stop the transition', () => {
    const { m, events, errors } = machine();
    const after: string[] = [];
    events.on('state', () => {
      throw new Error('app bug');
    });
    events.on('state', (to) => after.push(to));
    assert.ok(m.transition('early').ok);
    assert.equal(m.state, 'early');
    assert.deepEqual(after, ['early']);
    assert.equal(errors.length, 1);
  });
});
