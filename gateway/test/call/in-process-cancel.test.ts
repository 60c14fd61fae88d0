/**
 * CANCEL through the B2BUA, at the wire (RFC 3261 §9): the caller's CANCEL is answered hop by hop,
 * the INVITE gets 487, the callee's INVITE is CANCELed in turn, but only once it has answered
 * provisionally (§9.1); and the races between a CANCEL and the callee's 2xx, in both orders.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InProcessGateway } from '../support/in-process-gateway.ts';
import type { TestUa } from '../support/test-ua.ts';

const config = {
  extensions: ['1001', '1002'].map((number) => ({ number, password: `secret-${number}` })),
};
const ALICE = '10.0.1.1';
const BOB = '10.0.2.1';

function call(o: { latencyMs?: number } = {}) {
  const h = new InProcessGateway({ config, latencyMs: o.latencyMs ?? 0 });
  const [alice, bob] = h.registered(['1001', ALICE], ['1002', BOB]);
  assert.ok(alice && bob);
  return { h, alice, bob };
}

/** INVITE final statuses on the wire, the digest challenge left out. */
const finalsTo = (ua: TestUa, method: string): number[] =>
  ua.responsesReceived(method).flatMap((r) => (r.status >= 200 && r.status !== 407 ? [r.status] : []));

void describe('CANCEL through the B2BUA (RFC 3261 §9)', () => {
  void test('a CANCEL while the callee rings: 200 to it, 487 to the INVITE, and the callee is CANCELed (§9.2)', () => {
    const { h, alice, bob } = call();
    const c = alice.invite('1002');
    h.run();
    const b = bob.incoming[0];
    assert.ok(b);
    b.ring();
    h.run();
    const cancel = c.cancel();
    h.run();
    assert.equal(cancel.status, 200, 'the CANCEL is answered by the gateway itself (hop by hop)');
    assert.deepEqual(finalsTo(alice, 'INVITE'), [487]);
    const inviteSeq = c.invite.headers.get('cseq')?.split(' ')[0];
    assert.equal(
      h.transport.received.filter(
        (m) => m.kind === 'request' && m.method === 'ACK' && m.headers.get('cseq') === `${inviteSeq} ACK`,
      ).length,
      1,
      'the caller ACKs the 487 (§17.1.1.3)',
    );
    assert.ok(b.cancelRequest, 'the callee gets a CANCEL');
    assert.equal(b.finalStatus, 487);
    assert.equal(bob.requestsReceived('ACK').length, 1, 'the gateway ACKs the callee’s 487');
    assert.equal(h.cdr.interactions[0]?.outcome, 'cancelled');
    assert.equal(h.cdr.legs.length, 2);
    assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
    h.assertNothingLeftBehind();
  });

  void test('the CANCEL to the callee waits for its first provisional response (§9.1)', () => {
    // The callee is far away (300 ms each way): the caller has cancelled long before the callee
    // even heard the INVITE. "If no provisional response has been received, the CANCEL request
    // MUST NOT be sent; rather, the client MUST wait for the arrival of a provisional response".
    const { h, alice, bob } = call();
    h.net.setLatency('10.0.0.1', BOB, 300);
    const c = alice.invite('1002');
    h.run();
    // The caller's own CANCEL waits too, for the gateway's 100 Trying (§17.2.1: within 200 ms).
    const cancel = c.cancel();
    h.run(250);
    assert.equal(cancel.status, 200);
    assert.deepEqual(finalsTo(alice, 'INVITE'), [487], 'the caller is not kept waiting for the far callee');
    h.run(2000);
    const toBob = h.net.messages({ from: '10.0.0.1', to: BOB });
    const fromBob = h.net.messages({ from: BOB, to: '10.0.0.1' });
    const cancels = toBob.filter((d) => d.msg.kind === 'request' && d.msg.method === 'CANCEL');
    const firstProvisional = fromBob.find((d) => d.msg.kind === 'response' && d.msg.status < 200);
    // Over 600 ms of round trip the CANCEL is retransmitted (Timer E): the first one counts.
    assert.ok(cancels.length >= 1);
    assert.ok(firstProvisional?.deliveredAtMs !== undefined);
    assert.ok(
      cancels[0] && cancels[0].sentAtMs >= firstProvisional.deliveredAtMs,
      `CANCEL sent at ${cancels[0]?.sentAtMs} ms, the callee's first provisional arrived at ${firstProvisional.deliveredAtMs} ms`,
    );
    assert.equal(bob.incoming[0]?.finalStatus, 487);
    h.assertNothingLeftBehind();
  });

  void test('a callee that never answers is never sent a CANCEL; its INVITE ends at Timer B (§9.1, §17.1.1.2)', () => {
    const { h, alice } = call();
    h.net.block(BOB);
    const c = alice.invite('1002');
    h.run(300);
    c.cancel();
    h.run();
    assert.deepEqual(finalsTo(alice, 'INVITE'), [487]);
    h.run(64 * 500);
    const toBob = h.net.messages({ from: '10.0.0.1', to: BOB }).map((d) => d.msg);
    assert.ok(toBob.length > 1, 'the INVITE was retransmitted (Timer A)');
    assert.deepEqual(
      toBob.filter((m) => m.kind === 'request' && m.method !== 'INVITE'),
      [],
      'nothing but the INVITE went to the silent callee',
    );
    h.net.unblock(BOB);
    h.assertNothingLeftBehind();
  });

  const races = [
    {
      name: 'the 2xx reaches the gateway first: the caller gets 200 (its CANCEL had no effect, §9.2), ACKs it and ends it with BYE',
      order: ['answer', 'cancel'] as const,
      callerFinal: 200,
    },
    {
      name: 'the CANCEL reaches the gateway first: the caller gets 487; the callee’s crossing 2xx is ACKed and ended with BYE (§13.2.2.4)',
      order: ['cancel', 'answer'] as const,
      callerFinal: 487,
    },
  ];
  for (const race of races) {
    void test(`CANCEL crossing the callee’s 200 — ${race.name}`, () => {
      const { h, alice, bob } = call();
      const c = alice.invite('1002');
      h.run();
      const b = bob.incoming[0];
      assert.ok(b);
      b.ring();
      h.run();
      // Both leave in the same instant; neither side has heard of the other's yet.
      for (const step of race.order) {
        if (step === 'answer') b.answer();
        else c.cancel();
      }
      h.run();
      assert.deepEqual(finalsTo(alice, 'INVITE'), [race.callerFinal], 'one final response to the caller');
      assert.equal(c.cancelExchange?.status, 200, 'the CANCEL matched the INVITE transaction: 200');
      if (race.callerFinal === 200) {
        assert.deepEqual(
          c.sent.map((e) => [e.request?.method, e.status]),
          [['BYE', 200]],
          'the caller ends the dialog its CANCEL could not stop',
        );
      }
      // Either way the callee's answered dialog is ACKed and then ended: nobody is left talking.
      assert.equal(b.acks.length, 1, 'the callee’s 2xx is ACKed');
      assert.deepEqual(
        b.requests.map((r) => r.method),
        ['BYE'],
      );
      assert.ok(b.ended);
      assert.deepEqual(
        b.responsesSent.map((r) => r.status),
        [180, 200],
        'a CANCEL after the callee’s 2xx changes nothing there',
      );
      assert.equal(h.cdr.interactions.length, 1);
      assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
      h.assertNothingLeftBehind();
    });
  }
});
