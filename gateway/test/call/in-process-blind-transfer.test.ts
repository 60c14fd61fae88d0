/**
 * Blind transfer carried out by the B2BUA, at the wire (RFC 3515 REFER, RFC 5589 §6): Alice (1001)
 * calls Bob (1002); Bob REFERs Alice to Carol (1003). The gateway accepts the REFER (202), reports
 * the target's progress to Bob in NOTIFYs of the implicit subscription (message/sipfrag), calls
 * Carol on Alice's behalf, and when Carol answers joins Alice to her and ends Bob's dialog; when
 * Carol does not answer, Bob is told why and the call stays as it was.
 *
 * Media is passed through (no engine): `PassThroughMedia` accepts the transfer's media steps as
 * given, so what is checked here is the signalling.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { callControlSettings } from '../../src/call-control-settings.ts';
import { passThroughMedia } from '../../src/call/ports.ts';
import { parseCSeq } from '../../src/sip/message/index.ts';
import { InProcessGateway, type InProcessGatewayOptions } from '../support/in-process-gateway.ts';

const config = {
  extensions: ['1001', '1002', '1003'].map((number) => ({ number, password: `secret-${number}` })),
};

/** Alice has called Bob and Bob answered; Carol's phone is registered. */
function answered(opts: Omit<InProcessGatewayOptions, 'config'> = {}) {
  const h = new InProcessGateway({ config, ...opts });
  const [alice, bob, carol] = h.registered(['1001', '10.0.1.1'], ['1002', '10.0.2.1'], ['1003', '10.0.3.1']);
  assert.ok(alice && bob && carol);
  const a = alice.invite('1002');
  h.run();
  const b = bob.incoming[0];
  assert.ok(b);
  b.answer();
  h.run();
  assert.equal(a.status, 200);
  return { h, alice, bob, carol, a, b };
}

const sipfrags = (notifies: readonly { body: Buffer }[]) => notifies.map((n) => n.body.toString().trim());

void describe('blind transfer by the B2BUA (RFC 3515, RFC 5589 §6)', () => {
  void test('the target answers: 202, NOTIFYs 100/180/200, the transferor’s dialog ends, the transferee talks to the target', () => {
    const { h, a, b, carol } = answered();
    const refer = b.refer('1003');
    h.run();
    // RFC 3515 §2.4.2: "the recipient of the REFER ... MUST respond with 202 Accepted".
    assert.equal(refer.status, 202);
    const t = carol.incoming[0];
    assert.ok(t, 'the gateway calls the target itself');
    // The target is called on the transferee's behalf: From names Alice, the offer is her media.
    assert.match(t.invite.headers.get('from') ?? '', /<sip:1001@/);
    assert.match(t.invite.body.toString(), /c=IN IP4 10\.0\.1\.1/);
    t.ring();
    h.run();
    t.answer();
    h.run();

    // RFC 3515 §2.4.4/§2.4.5: NOTIFYs carry the target's progress as sipfrag, Event refer with
    // the REFER's CSeq as id, the last one terminating the subscription.
    assert.deepEqual(sipfrags(b.notifies), ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 200 OK']);
    const referSeq = parseCSeq(refer.request?.headers.get('cseq') ?? '');
    assert.ok(referSeq.ok);
    for (const n of b.notifies) {
      assert.equal(n.headers.get('event'), `refer;id=${referSeq.value.seq}`);
      assert.match(n.headers.get('content-type') ?? '', /^message\/sipfrag/);
    }
    assert.match(b.notifies.at(-1)?.headers.get('subscription-state') ?? '', /^terminated/);
    assert.match(b.notifies[0]?.headers.get('subscription-state') ?? '', /^active/);
    // RFC 5589 §6: the transferor's dialog is ended once the transfer is done.
    assert.equal(b.requests.at(-1)?.method, 'BYE');
    assert.ok(b.ended);
    // The transferee's dialog with the gateway stays as it was: nothing was sent on it.
    assert.deepEqual(a.requests, []);
    assert.equal(t.acks.length, 1, 'the target’s 2xx is ACKed');

    a.bye();
    h.run();
    assert.equal(t.requests.at(-1)?.method, 'BYE', 'the transferee’s BYE reaches the target');
    assert.ok(t.ended);

    // One interaction: the caller's leg, the transferor's (transferred away) and the target's.
    assert.equal(h.cdr.legs.length, 3);
    assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
    assert.deepEqual(h.cdr.legs.map((l) => l.peer).sort(), ['1001', '1002', '1003']);
    assert.equal(h.cdr.legs.find((l) => l.peer === '1002')?.hangupCause, 'transferred');
    assert.equal(h.cdr.interactions.length, 1);
    h.assertNothingLeftBehind();
  });

  void test('a transferee put on hold by the transferor is resumed by the gateway once the target answers (RFC 3264 §8)', () => {
    const { h, bob, a, b, carol } = answered();
    const hold = b.reinvite(bob.offer('sendonly'));
    h.run();
    assert.equal(hold.attempts[0]?.status, 200);
    assert.match(a.requests.at(-1)?.body.toString() ?? '', /a=sendonly/);
    b.refer('1003');
    h.run();
    carol.incoming[0]?.answer();
    h.run();
    assert.equal(b.requests.at(-1)?.method, 'BYE');
    // Nobody else would take Alice off hold: the gateway re-INVITEs her, a=sendrecv.
    const resume = a.requests.at(-1);
    assert.equal(resume?.method, 'INVITE');
    assert.match(resume?.body.toString() ?? '', /a=sendrecv/);
    assert.equal(a.acks.length, 2, 'the 2xx to the hold and the one to the resume are ACKed');
    carol.incoming[0]?.bye();
    h.run();
    assert.ok(a.ended);
    h.assertNothingLeftBehind();
  });

  void test('the target is busy: NOTIFY with the 486 sipfrag ends the subscription; the call goes on and the transferor resumes it', () => {
    const { h, bob, a, b, carol } = answered();
    const hold = b.reinvite(bob.offer('sendonly'));
    h.run();
    assert.equal(hold.attempts[0]?.status, 200);
    const refer = b.refer('1003');
    carol.onIncoming = (c) => c.reject(486);
    h.run();
    assert.equal(refer.status, 202);
    assert.deepEqual(sipfrags(b.notifies), ['SIP/2.0 100 Trying', 'SIP/2.0 486 Busy Here']);
    assert.match(b.notifies.at(-1)?.headers.get('subscription-state') ?? '', /^terminated/);
    assert.ok(!b.ended && !a.ended, 'both parties are still in the call');
    assert.equal(carol.requestsReceived('ACK').length, 1, 'the target’s 486 is ACKed');
    // RFC 5589 §6: the transfer failed; the transferor takes the transferee off hold itself.
    const resume = b.reinvite(bob.offer('sendrecv'));
    h.run();
    assert.equal(resume.attempts[0]?.status, 200);
    assert.match(a.requests.at(-1)?.body.toString() ?? '', /a=sendrecv/);
    b.bye();
    h.run();
    assert.ok(a.ended);
    assert.equal(h.cdr.legs.length, 3);
    assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
    h.assertNothingLeftBehind();
  });

  void test('the target does not answer: at the ring timeout it is CANCELed and the transferor gets NOTIFY 480', () => {
    const { h, b, a, carol } = answered();
    b.refer('1003');
    carol.onIncoming = (c) => c.ring();
    h.run();
    h.run(callControlSettings.ringTimeoutMs);
    const t = carol.incoming[0];
    assert.ok(t?.cancelRequest, 'the target is CANCELed');
    assert.equal(t.finalStatus, 487);
    assert.deepEqual(sipfrags(b.notifies), [
      'SIP/2.0 100 Trying',
      'SIP/2.0 180 Ringing',
      'SIP/2.0 480 Temporarily Unavailable',
    ]);
    a.bye();
    h.run();
    assert.ok(b.ended);
    h.assertNothingLeftBehind();
  });

  void test('the caller transfers the callee: the target is called as the callee, and the caller’s dialog ends', () => {
    const { h, a, b, carol } = answered();
    const refer = a.refer('1003');
    h.run();
    assert.equal(refer.status, 202);
    const t = carol.incoming[0];
    assert.ok(t);
    assert.match(
      t.invite.headers.get('from') ?? '',
      /<sip:1002@/,
      'the transferee (Bob) is who calls the target',
    );
    t.answer();
    h.run();
    assert.deepEqual(sipfrags(a.notifies), ['SIP/2.0 100 Trying', 'SIP/2.0 200 OK']);
    assert.equal(a.requests.at(-1)?.method, 'BYE');
    assert.ok(a.ended);
    assert.deepEqual(b.requests, [], 'the transferee’s dialog is left as it was');
    t.bye();
    h.run();
    assert.ok(b.ended, 'the target’s BYE reaches the transferee');
    assert.equal(new Set(h.cdr.legs.map((l) => l.interactionId)).size, 1);
    h.assertNothingLeftBehind();
  });

  void test('the transferee hangs up while the target rings: the target is CANCELed and the transferor’s dialog ended', () => {
    const { h, a, b, carol } = answered();
    carol.onIncoming = (c) => c.ring();
    b.refer('1003');
    h.run();
    a.bye();
    h.run();
    const t = carol.incoming[0];
    assert.ok(t?.cancelRequest);
    assert.equal(t.finalStatus, 487);
    assert.equal(b.requests.at(-1)?.method, 'BYE');
    assert.ok(b.ended);
    h.assertNothingLeftBehind();
  });

  void test('the transferor hangs up after the 202 (RFC 5589 §6 allows it) and the target is busy: the transferee is hung up', () => {
    const { h, a, b, carol } = answered();
    carol.onIncoming = (c) => c.ring();
    b.refer('1003');
    h.run();
    const bye = b.bye();
    h.run();
    assert.equal(bye.status, 200);
    assert.ok(!a.ended, 'the transferee waits for the target');
    carol.incoming[0]?.reject(486);
    h.run();
    assert.equal(a.requests.at(-1)?.method, 'BYE');
    assert.ok(a.ended);
    h.assertNothingLeftBehind();
  });

  void test('with media passed end to end (anchoring off) a REFER is refused 501: nothing can re-bridge the media', () => {
    const { h, a, b, carol } = answered({ media: passThroughMedia });
    const refer = b.refer('1003');
    h.run();
    assert.equal(refer.status, 501);
    assert.equal(carol.incoming.length, 0);
    a.bye();
    h.run();
    assert.ok(b.ended);
    h.assertNothingLeftBehind();
  });
});
