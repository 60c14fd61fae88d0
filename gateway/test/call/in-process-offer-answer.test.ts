/**
 * Offer/answer across the B2BUA, at the wire, with media passed through. RFC 3264 §4 / RFC 3261
 * §13.2.1: an INVITE may carry no offer; the 2xx then carries one and the ACK the answer, so the
 * B2BUA holds the far leg's ACK until the near leg's ACK brings the answer. Re-INVITEs follow the
 * same rules, and a re-INVITE the far party refuses leaves the session as it was (§14.1).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InProcessGateway } from '../support/in-process-gateway.ts';

const config = {
  extensions: ['1001', '1002'].map((number) => ({ number, password: `secret-${number}` })),
};

function parties() {
  const h = new InProcessGateway({ config });
  const [alice, bob] = h.registered(['1001', '10.0.1.1'], ['1002', '10.0.2.1']);
  assert.ok(alice && bob);
  return { h, alice, bob };
}

void describe('offer/answer across the B2BUA (RFC 3264)', () => {
  void test('an INVITE without an offer: the callee’s offer reaches the caller in the 2xx, the caller’s answer reaches the callee in the ACK', () => {
    const { h, alice, bob } = parties();
    const a = alice.invite('1002', { sdp: null });
    h.run();
    const b = bob.incoming[0];
    assert.ok(b);
    assert.equal(b.invite.body.length, 0, 'no offer is made up on the caller’s behalf');
    const offer = bob.offer();
    b.answer(offer);
    h.run();
    assert.equal(a.final?.body.toString(), offer.toString());
    assert.equal(b.acks.length, 1);
    assert.match(b.acks[0]?.body.toString() ?? '', /^o=1001 /m, 'the ACK carries the caller’s answer');
    a.bye();
    h.run();
    h.assertNothingLeftBehind();
  });

  void test('a re-INVITE without an offer: the same, on the established call', () => {
    const { h, alice, bob } = parties();
    const a = alice.invite('1002');
    h.run();
    const b = bob.incoming[0];
    assert.ok(b);
    b.answer();
    h.run();
    const r = a.reinvite(Buffer.alloc(0));
    h.run();
    assert.equal(r.attempts[0]?.status, 200);
    const relayed = b.requests.at(-1);
    assert.equal(relayed?.method, 'INVITE');
    assert.equal(relayed?.body.length, 0);
    assert.match(
      r.attempts[0]?.final?.body.toString() ?? '',
      /^o=1002 /m,
      'the callee’s offer reaches the caller',
    );
    assert.equal(b.acks.length, 2);
    assert.match(b.acks[1]?.body.toString() ?? '', /^o=1001 /m, 'the caller’s answer reaches the callee');
    b.bye();
    h.run();
    h.assertNothingLeftBehind();
  });

  void test('a re-INVITE the far party refuses (488) is refused to its sender; the call goes on', () => {
    const { h, alice, bob } = parties();
    const a = alice.invite('1002');
    h.run();
    const b = bob.incoming[0];
    assert.ok(b);
    b.answer();
    h.run();
    b.answerReinvite = () => ({ status: 488 });
    const r = a.reinvite(alice.offer('sendonly'));
    h.run();
    assert.equal(r.attempts[0]?.status, 488);
    assert.equal(
      bob.requestsReceived('ACK').length,
      2,
      'the 488 is ACKed hop by hop (the 2xx’s ACK and this one)',
    );
    assert.ok(!a.ended && !b.ended);
    b.answerReinvite = (req) => ({ status: 200, sdp: bob.answerTo(req.body) });
    const again = a.reinvite(alice.offer('sendonly'));
    h.run();
    assert.equal(again.attempts[0]?.status, 200);
    a.bye();
    h.run();
    h.assertNothingLeftBehind();
  });
});
