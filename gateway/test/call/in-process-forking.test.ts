/**
 * Forking by the B2BUA, at the wire: an extension with several registered contacts rings them all
 * at once (one INVITE per contact, each a dialog of its own on our side), the first 2xx wins, the
 * other branches are CANCELed, and the caller sees one early dialog and one final response.
 * RFC 3261 §16.7 (the forking proxy's rules, which a forking B2BUA mirrors toward its caller) and
 * §13.2.2.4 (a 2xx from a branch we no longer want is ACKed, then ended with BYE).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getTag } from '../../src/sip/message/index.ts';
import { InProcessGateway } from '../support/in-process-gateway.ts';
import type { TestUa } from '../support/test-ua.ts';

const config = {
  extensions: ['1001', '1002'].map((number) => ({ number, password: `secret-${number}` })),
};

/** Alice (1001) and the two phones of 1002: a desk phone and a softphone. */
function fork() {
  const h = new InProcessGateway({ config });
  const [alice, desk, soft] = h.registered(['1001', '10.0.1.1'], ['1002', '10.0.2.1'], ['1002', '10.0.2.2']);
  assert.ok(alice && desk && soft);
  return { h, alice, desk, soft };
}

const finalsTo = (ua: TestUa, method: string): number[] =>
  ua.responsesReceived(method).flatMap((r) => (r.status >= 200 && r.status !== 407 ? [r.status] : []));

void describe('forking to the contacts of an extension (RFC 3261 §16.7)', () => {
  void test('both contacts ring; the first 2xx wins, the other branch is CANCELed and its 487 ACKed', () => {
    const { h, alice, desk, soft } = fork();
    const call = alice.invite('1002');
    h.run();
    assert.equal(desk.incoming.length, 1, 'one INVITE to the desk phone');
    assert.equal(soft.incoming.length, 1, 'one INVITE to the softphone');
    const [d, s] = [desk.incoming[0], soft.incoming[0]];
    assert.ok(d && s);
    // Each branch is a dialog of its own on the gateway's side: its own Call-ID and From tag.
    assert.notEqual(d.invite.headers.get('call-id'), s.invite.headers.get('call-id'));
    assert.notEqual(d.invite.headers.get('call-id'), call.invite.headers.get('call-id'));
    // Media passes through: both branches are offered the caller's SDP as it was sent.
    assert.equal(d.invite.body.toString(), call.invite.body.toString());
    assert.equal(s.invite.body.toString(), call.invite.body.toString());

    d.ring();
    s.ring();
    h.run();
    // §16.7 step 5: provisional responses go upstream; toward the caller both are one early dialog.
    const ringing = alice.responsesReceived('INVITE').filter((r) => r.status === 180);
    assert.equal(ringing.length, 2);
    assert.equal(new Set(ringing.map((r) => getTag(r.headers.get('to') ?? ''))).size, 1);

    d.answer();
    h.run();
    assert.deepEqual(finalsTo(alice, 'INVITE'), [200], 'the caller sees exactly one final response');
    assert.equal(call.status, 200);
    assert.equal(
      getTag(call.final?.headers.get('to') ?? ''),
      getTag(ringing[0]?.headers.get('to') ?? ''),
      'the early dialog the caller saw is the one confirmed',
    );
    assert.equal(d.acks.length, 1, 'the winning branch gets the ACK for its 2xx');
    // §16.7 step 10 (a forking B2BUA alike): the branch still ringing is CANCELed.
    assert.ok(s.cancelRequest, 'the other branch gets a CANCEL');
    assert.equal(s.finalStatus, 487);
    assert.equal(soft.requestsReceived('ACK').length, 1, 'its 487 is ACKed (RFC 3261 §17.1.1.3)');
    assert.deepEqual(soft.requestsReceived('BYE'), [], 'a cancelled branch never gets a BYE');

    call.bye();
    h.run();
    assert.equal(
      d.requests.filter((r) => r.method === 'BYE').length,
      1,
      'the BYE reaches the answered phone',
    );
    assert.equal(call.sent.at(-1)?.status, 200);

    // One CDR row per leg (the caller's and both branches), one interaction id for all of them.
    assert.equal(h.cdr.legs.length, 3);
    assert.equal(new Set(h.cdr.legs.map((l) => l.legId)).size, 3);
    assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
    assert.equal(h.cdr.interactions.length, 1);
    assert.equal(h.cdr.interactions[0]?.outcome, 'answered');
    assert.equal(h.cdr.interactions[0]?.interactionId, h.cdr.legs[0]?.interactionId);
    h.assertNothingLeftBehind();
  });

  void test('both branches answer at once: one 200 to the caller, the later 2xx is ACKed then BYEd (§13.2.2.4)', () => {
    const { h, alice, desk, soft } = fork();
    const call = alice.invite('1002');
    h.run();
    const [d, s] = [desk.incoming[0], soft.incoming[0]];
    assert.ok(d && s);
    d.ring();
    s.ring();
    h.run();
    // Both 2xx leave before either phone hears of the other: the desk's reaches the gateway first.
    d.answer();
    s.answer();
    h.run();
    assert.deepEqual(finalsTo(alice, 'INVITE'), [200]);
    assert.equal(call.extraDialogs.length, 0, 'the caller is offered one dialog only');
    assert.equal(d.acks.length, 1);
    assert.equal(s.acks.length, 1, 'the surplus 2xx is ACKed');
    assert.deepEqual(
      s.requests.map((r) => r.method),
      ['BYE'],
      'and its dialog ended with BYE',
    );
    assert.ok(s.ended);
    assert.ok(!d.ended);
    // The CANCEL sent to it crossed its 2xx: answered 200, it changes nothing (RFC 3261 §9.2).
    assert.ok(s.cancelRequest);
    assert.deepEqual(
      s.responsesSent.map((r) => r.status),
      [180, 200],
    );

    d.bye();
    h.run();
    assert.equal(
      call.requests.filter((r) => r.method === 'BYE').length,
      1,
      'the callee’s BYE reaches the caller',
    );
    assert.equal(h.cdr.legs.length, 3);
    assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
    h.assertNothingLeftBehind();
  });

  const failures: Array<{ name: string; desk: number; soft: number | 'answer' | 'ring'; caller: number }> = [
    {
      name: 'busy and unavailable: busy wins (486 tells the caller most)',
      desk: 486,
      soft: 480,
      caller: 486,
    },
    {
      name: 'a 6xx ends the search: the ringing branch is CANCELed (§16.7 step 5)',
      desk: 603,
      soft: 'ring',
      caller: 603,
    },
    {
      name: 'a busy branch does not end the call: the other one answers',
      desk: 486,
      soft: 'answer',
      caller: 200,
    },
  ];
  for (const c of failures) {
    void test(`when a branch fails — ${c.name}`, () => {
      const { h, alice, desk, soft } = fork();
      const call = alice.invite('1002');
      h.run();
      const [d, s] = [desk.incoming[0], soft.incoming[0]];
      assert.ok(d && s);
      s.ring();
      h.run();
      d.reject(c.desk);
      h.run();
      if (c.soft === 'answer') s.answer();
      else if (typeof c.soft === 'number') s.reject(c.soft);
      h.run();
      assert.deepEqual(finalsTo(alice, 'INVITE'), [c.caller], 'one final response to the caller');
      assert.equal(desk.requestsReceived('ACK').length, 1, 'the failed branch’s final response is ACKed');
      if (c.soft === 'ring') {
        assert.ok(s.cancelRequest, 'the branch still ringing is CANCELed');
        assert.equal(s.finalStatus, 487);
      }
      if (c.caller === 200) {
        call.bye();
        h.run();
      }
      assert.equal(h.cdr.interactions.length, 1);
      h.assertNothingLeftBehind();
    });
  }
});
