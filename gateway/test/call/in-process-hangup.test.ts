/**
 * Ending an answered call, at the wire, and its records. RFC 3261 §15: either party ends the
 * session with BYE; the B2BUA answers it on that leg and sends its own BYE on the other, so both
 * dialogs end. §13.3.1.4: a 2xx never ACKed is retransmitted (T1 doubling up to T2) for 64·T1,
 * then the session is ended with BYE. Every call writes one CDR row per leg, all with the
 * interaction id of the call, and one interaction row.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InProcessGateway } from '../support/in-process-gateway.ts';

const config = {
  extensions: [
    { number: '1001', password: 'secret-1001', displayName: 'Alice' },
    { number: '1002', password: 'secret-1002' },
  ],
};
const ALICE = '10.0.1.1';
const T1 = 500;
const T2 = 4000;

function ringing() {
  const h = new InProcessGateway({ config });
  const [alice, bob] = h.registered(['1001', ALICE], ['1002', '10.0.2.1']);
  assert.ok(alice && bob);
  const start = h.clock.wallNow();
  const a = alice.invite('1002');
  h.run();
  const b = bob.incoming[0];
  assert.ok(b);
  b.ring();
  h.run();
  return { h, alice, bob, a, b, start };
}

void describe('hanging up (RFC 3261 §15) and the call’s records', () => {
  for (const side of ['caller', 'callee'] as const) {
    void test(`a BYE from the ${side} ends both dialogs; one CDR row per leg, one interaction id`, () => {
      const { h, a, b, start } = ringing();
      h.run(1000);
      b.answer();
      h.run(5000);
      const bye = side === 'caller' ? a.bye() : b.bye();
      h.run();
      assert.equal(bye.status, 200, 'the BYE is answered on its own leg');
      const other = side === 'caller' ? b : a;
      assert.deepEqual(
        other.requests.map((r) => r.method),
        ['BYE'],
        'the other party gets the gateway’s BYE',
      );
      assert.ok(other.ended);
      assert.equal(other.sent.length, 0);

      assert.equal(h.cdr.legs.length, 2);
      const [inbound, outbound] = [
        h.cdr.legs.find((l) => l.direction === 'inbound'),
        h.cdr.legs.find((l) => l.direction === 'outbound'),
      ];
      assert.ok(inbound && outbound);
      assert.equal(inbound.interactionId, outbound.interactionId);
      assert.notEqual(inbound.legId, outbound.legId);
      assert.equal(inbound.peer, '1001');
      assert.equal(outbound.peer, '1002');
      assert.equal(inbound.callId, a.invite.headers.get('call-id'));
      assert.equal(outbound.callId, b.invite.headers.get('call-id'));
      for (const l of [inbound, outbound]) {
        assert.equal(l.status, 200);
        assert.equal(l.hangupBy, side);
        assert.equal(l.startedAt, new Date(start).toISOString());
        assert.equal(l.answeredAt, new Date(start + 1000).toISOString());
        assert.equal(l.durationMs, 6000);
        assert.equal(l.billableMs, 5000);
      }
      assert.deepEqual(
        h.cdr.interactions.map((i) => [i.interactionId, i.caller, i.callee, i.dialled, i.outcome, i.legs]),
        [[inbound.interactionId, '1001', '1002', '1002', 'answered', 2]],
      );
      h.assertNothingLeftBehind();
    });
  }

  void test('both hang up at once: each BYE is answered (200, or 481 for the dialog already gone) and both end', () => {
    const { h, a, b } = ringing();
    b.answer();
    h.run();
    const byes = [a.bye(), b.bye()];
    h.run();
    for (const bye of byes) assert.ok(bye.status === 200 || bye.status === 481, `BYE answered ${bye.status}`);
    assert.ok(a.ended && b.ended);
    assert.equal(h.cdr.interactions.length, 1);
    h.assertNothingLeftBehind();
  });

  void test('a caller that never ACKs: the 2xx is retransmitted at T1, 2·T1, 4·T1 … T2 for 64·T1, then both legs get BYE (§13.3.1.4)', () => {
    const { h, a, b } = ringing();
    a.autoAck = false;
    b.answer();
    h.run();
    const answeredAt = h.clock.now();
    h.run(64 * T1);
    const oks = h.net
      .messages({ from: '10.0.0.1', to: ALICE })
      .filter(
        (d) =>
          d.msg.kind === 'response' &&
          d.msg.status === 200 &&
          /INVITE$/.test(d.msg.headers.get('cseq') ?? ''),
      );
    const expected: number[] = [0];
    for (let interval = T1, at = T1; at < 64 * T1; interval = Math.min(2 * interval, T2), at += interval)
      expected.push(at);
    assert.deepEqual(
      oks.map((d) => d.sentAtMs - answeredAt),
      expected,
    );
    // "the dialog is confirmed, but the session SHOULD be terminated ... with a BYE".
    assert.equal(a.requests.at(-1)?.method, 'BYE');
    assert.equal(b.requests.at(-1)?.method, 'BYE');
    assert.ok(a.ended && b.ended);
    assert.equal(h.cdr.legs[0]?.hangupBy, 'system');
    h.assertNothingLeftBehind();
  });
});
