import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AttemptPlan, splitTargets, type AttemptStep } from '../../src/call/attempt-plan.ts';
import type { OutboundTarget } from '../../src/call/sip-call.ts';

const t = (
  kind: 'extension' | 'trunk',
  peer: string,
  extra: Partial<OutboundTarget> = {},
): OutboundTarget => ({
  kind,
  peer,
  requestUri: `sip:${peer}@h`,
  dest: { transport: 'udp', address: '127.0.0.1', port: 5060 },
  pinToSource: kind === 'extension',
  ...extra,
});
const trunk = (peer: string) => t('trunk', peer, { failoverOn: [503, 408, 500] });
const peers = (s: AttemptStep) => s.start.map((x) => x.peer);

describe('the order of outbound attempts (RFC 3261 §16.7 as a forking B2BUA applies it)', () => {
  test('an extension’s contacts ring together; the call fails only when every one has', () => {
    const plan = new AttemptPlan();
    const first = plan.begin([t('extension', 'c1'), t('extension', 'c2')]);
    assert.deepEqual(peers(first), ['c1', 'c2']);
    const a = plan.failed(t('extension', 'c1'), { status: 486, cause: 486, rang: false });
    assert.deepEqual(a, { start: [], cancelOthers: false, exhausted: false });
    const b = plan.failed(t('extension', 'c2'), { status: 480, cause: 480, rang: true });
    assert.equal(b.exhausted, true);
    assert.equal(plan.finalStatus(480), 486, 'busy tells the caller most (§16.7 step 6)');
  });

  test('trunk members one after another on a failover status; a final answer ends the search', () => {
    const members = [trunk('m1'), trunk('m2'), trunk('m3')];
    const plan = new AttemptPlan(members);
    assert.deepEqual(peers(plan.begin([])), ['m1']);
    assert.deepEqual(
      peers(plan.failed(members[0] as OutboundTarget, { status: 503, cause: 503, rang: false })),
      ['m2'],
    );
    const busy = plan.failed(members[1] as OutboundTarget, { status: 486, cause: 486, rang: false });
    assert.deepEqual(busy, { start: [], cancelOthers: false, exhausted: true });
    assert.deepEqual(plan.finals, [503, 486]);
  });

  test('MUST NOT fail over once the far end rang the callee (the call is the callee’s)', () => {
    const members = [trunk('m1'), trunk('m2')];
    const plan = new AttemptPlan(members);
    plan.begin([]);
    const s = plan.failed(members[0] as OutboundTarget, { status: 503, cause: 503, rang: true });
    assert.equal(s.exhausted, true);
  });

  test('a silent member (no answer within inviteTimeoutMs) moves on without a failover decision', () => {
    const plan = new AttemptPlan([t('trunk', 'm1'), t('trunk', 'm2')]);
    plan.begin([]);
    assert.deepEqual(peers(plan.abandoned(408)), ['m2']);
  });

  test('ring-group stages ring together, the next only after every attempt of the one before', () => {
    const plan = new AttemptPlan([
      t('extension', 'a', { stage: 0 }),
      t('extension', 'b', { stage: 0 }),
      t('extension', 'c', { stage: 1 }),
    ]);
    assert.deepEqual(peers(plan.begin([])), ['a', 'b']);
    assert.deepEqual(peers(plan.abandoned(480)), [], 'b still rings');
    assert.deepEqual(peers(plan.abandoned(480)), ['c']);
    assert.equal(plan.abandoned(480).exhausted, true);
  });

  test('MUST end all pending branches on a 6xx (§16.7 step 5)', () => {
    const plan = new AttemptPlan([t('extension', 'later', { stage: 1 })]);
    plan.begin([t('extension', 'c1'), t('extension', 'c2')]);
    const s = plan.failed(t('extension', 'c1'), { status: 603, cause: 603, rang: false });
    assert.equal(s.cancelOthers, true);
    assert.deepEqual(peers(s), []);
    assert.equal(plan.finalStatus(480), 603);
  });

  test('after an answer or a stop nothing more starts', () => {
    const plan = new AttemptPlan([t('trunk', 'm2')]);
    plan.begin([t('extension', 'c1'), t('extension', 'c2')]);
    plan.answered();
    assert.deepEqual(plan.failed(t('extension', 'c2'), { status: 487, cause: 487, rang: false }), {
      start: [],
      cancelOthers: false,
      exhausted: false,
    });
    const stopped = new AttemptPlan([t('trunk', 'm1')]);
    stopped.stop();
    assert.deepEqual(peers(stopped.begin([])), []);
  });

  test('a routed list splits into the contacts that ring together and the queue behind them', () => {
    const s = splitTargets([t('extension', 'c1'), t('extension', 'c2'), trunk('m1'), trunk('m2')]);
    assert.deepEqual(
      s.parallel.map((x) => x.peer),
      ['c1', 'c2'],
    );
    assert.deepEqual(
      s.sequential.map((x) => x.peer),
      ['m1', 'm2'],
    );
    const staged = splitTargets([t('extension', 'a', { stage: 0 })]);
    assert.deepEqual(staged.parallel, []);
  });
});
