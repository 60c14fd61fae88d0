/**
 * Calls nobody answers, at the wire. A call rings for the gateway's ring timeout
 * (`callControlSettings.ringTimeoutMs`, 180 s), then every branch still ringing is CANCELed
 * (RFC 3261 §9.1) and the caller gets 480 Temporarily Unavailable ("No Answer"). Ring groups
 * ring within their own limits (routing/ring-group.ts): a hunt member rings `ringSeconds`, then
 * the next; a member that fails early hands over at once; past the group's `ringTimeoutS` the
 * call goes to the group's no-answer destination, or fails with 480.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { callControlSettings } from '../../src/call-control-settings.ts';
import { InProcessGateway } from '../support/in-process-gateway.ts';
import type { TestUa } from '../support/test-ua.ts';

const extensions = ['1001', '1002', '1003', '1004', '1005'].map((number) => ({
  number,
  password: `secret-${number}`,
}));
const CARRIER = '10.0.9.1';

const finalsTo = (ua: TestUa, method: string): number[] =>
  ua.responsesReceived(method).flatMap((r) => (r.status >= 200 && r.status !== 407 ? [r.status] : []));

void describe('no answer: the ring timeout', () => {
  void test('an unanswered call is CANCELed at the ring timeout and the caller gets 480 No Answer', () => {
    const h = new InProcessGateway({ config: { extensions } });
    const [alice, desk, soft] = h.registered(
      ['1001', '10.0.1.1'],
      ['1002', '10.0.2.1'],
      ['1002', '10.0.2.2'],
    );
    assert.ok(alice && desk && soft);
    const call = alice.invite('1002');
    h.run();
    const ringing = [desk.incoming[0], soft.incoming[0]];
    for (const c of ringing) c?.ring();
    h.run(callControlSettings.ringTimeoutMs - 1);
    assert.deepEqual(finalsTo(alice, 'INVITE'), [], 'still ringing 1 ms before the timeout');
    assert.ok(ringing.every((c) => c?.cancelRequest === undefined));
    h.run(1);
    for (const c of ringing) {
      assert.equal(
        c?.cancelledAtMs,
        callControlSettings.ringTimeoutMs,
        'every branch is CANCELed at the timeout',
      );
      assert.equal(c?.finalStatus, 487);
    }
    assert.deepEqual(finalsTo(alice, 'INVITE'), [480]);
    assert.equal(call.final?.reason, 'No Answer');
    assert.equal(h.cdr.interactions[0]?.outcome, 'no-answer');
    assert.equal(h.cdr.legs.length, 3);
    assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
    h.assertNothingLeftBehind();
  });
});

/** A trunk whose DID 5550100 reaches the ring group `sales`. */
function ringGroup(group: Record<string, unknown>) {
  const h = new InProcessGateway({
    config: {
      extensions,
      trunks: [{ id: 'carrier', members: [{ host: CARRIER, port: 5060 }], probe: { enabled: false } }],
      routes: {
        inbound: [
          {
            id: 'sales-line',
            trunk: 'carrier',
            did: '5550100',
            destination: { type: 'ring-group', target: 'sales' },
          },
        ],
      },
      ringGroups: [{ id: 'sales', ...group }],
    },
  });
  const phones = h.registered(
    ['1002', '10.0.2.1'],
    ['1003', '10.0.3.1'],
    ['1004', '10.0.4.1'],
    ['1005', '10.0.5.1'],
  );
  const carrier = h.peer('+8613800000000', CARRIER, { domain: CARRIER });
  return { h, phones, carrier };
}

void describe('no answer: ring groups ring within their limits', () => {
  void test('hunt: each member rings ringSeconds, then the next; past ringTimeoutS the caller gets 480', () => {
    const { h, phones, carrier } = ringGroup({
      members: ['1002', '1003', '1004'],
      strategy: 'hunt',
      ringSeconds: 10,
      ringTimeoutS: 25,
    });
    for (const p of phones) p.onIncoming = (c) => c.ring();
    const call = carrier.invite('sip:5550100@10.0.0.1');
    h.run(30_000);
    const [p1002, p1003, p1004, p1005] = phones.map((p) => p.incoming[0]);
    // 1002 from 0 s to 10 s, 1003 from 10 s to 20 s, 1004 for the 5 s left of the group's 25 s.
    assert.deepEqual(
      [p1002, p1003, p1004].map((c) => [c?.receivedAtMs, c?.cancelledAtMs, c?.finalStatus]),
      [
        [0, 10_000, 487],
        [10_000, 20_000, 487],
        [20_000, 25_000, 487],
      ],
    );
    assert.equal(p1005, undefined, 'a phone outside the group never rings');
    assert.deepEqual(finalsTo(carrier, 'INVITE'), [480]);
    assert.equal(call.final?.headers.get('cseq'), call.invite.headers.get('cseq'));
    assert.equal(h.cdr.legs.length, 4);
    assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
    h.assertNothingLeftBehind();
  });

  void test('hunt: a busy member hands over to the next at once', () => {
    const { h, phones, carrier } = ringGroup({
      members: ['1002', '1003'],
      strategy: 'hunt',
      ringSeconds: 10,
      ringTimeoutS: 20,
    });
    const [p1002, p1003] = phones;
    assert.ok(p1002 && p1003);
    p1002.onIncoming = (c) => c.reject(486);
    p1003.onIncoming = (c) => c.ring();
    const call = carrier.invite('sip:5550100@10.0.0.1');
    h.run(1000);
    assert.equal(
      p1003.incoming[0]?.receivedAtMs,
      0,
      'the next member rings without waiting out the first one’s turn',
    );
    p1003.incoming[0]?.answer();
    h.run();
    assert.equal(call.status, 200);
    call.bye();
    h.run();
    assert.equal(p1003.incoming[0]?.requests.at(-1)?.method, 'BYE');
    h.assertNothingLeftBehind();
  });

  void test('ringall past its ringTimeoutS: every member is CANCELed and the no-answer destination rings', () => {
    const { h, phones, carrier } = ringGroup({
      members: ['1002', '1003'],
      strategy: 'ringall',
      ringTimeoutS: 20,
      noAnswer: { type: 'extension', target: '1005' },
    });
    for (const p of phones) p.onIncoming = (c) => c.ring();
    const call = carrier.invite('sip:5550100@10.0.0.1');
    h.run(20_000);
    const [p1002, p1003, , p1005] = phones.map((p) => p.incoming[0]);
    assert.deepEqual(
      [p1002, p1003].map((c) => [c?.receivedAtMs, c?.cancelledAtMs]),
      [
        [0, 20_000],
        [0, 20_000],
      ],
    );
    assert.equal(p1005?.receivedAtMs, 20_000, 'the no-answer destination rings when the group gives up');
    assert.deepEqual(finalsTo(carrier, 'INVITE'), [], 'the caller is still ringing');
    p1005?.answer();
    h.run();
    assert.deepEqual(finalsTo(carrier, 'INVITE'), [200]);
    p1005?.bye();
    h.run();
    assert.ok(call.ended);
    assert.equal(h.cdr.interactions.length, 1);
    assert.equal(h.cdr.interactions[0]?.outcome, 'answered');
    h.assertNothingLeftBehind();
  });
});
