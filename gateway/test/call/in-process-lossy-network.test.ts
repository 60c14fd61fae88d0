/**
 * What UDP does to a call, at the wire: messages late by more than T1, or lost. RFC 3261
 * §13.3.1.4: a UAS retransmits its 2xx until the ACK arrives; §13.2.2.4: "The UAC core MUST
 * generate an ACK request for each 2xx received from the transaction layer" — a retransmitted 2xx
 * of a dialog we keep is ACKed again, it is not a new answer. §9.1: a CANCELed INVITE that never
 * gets its final response is given up after 64·T1.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getTag, type SipMessage, type SipRequest } from '../../src/sip/message/index.ts';
import { InProcessGateway } from '../support/in-process-gateway.ts';

const config = {
  extensions: ['1001', '1002', '1003'].map((number) => ({ number, password: `secret-${number}` })),
};
const GW = '10.0.0.1';
const BOB = '10.0.2.1';
const CAROL = '10.0.3.1';
const T1 = 500;

function parties() {
  const h = new InProcessGateway({ config });
  const [alice, bob, carol] = h.registered(['1001', '10.0.1.1'], ['1002', BOB], ['1003', CAROL]);
  assert.ok(alice && bob && carol);
  return { h, alice, bob, carol };
}

const isAck = (m: SipMessage): m is SipRequest => m.kind === 'request' && m.method === 'ACK';

/** §13.2.2.4 on the wire: the callee sent its 2xx more than once, and each got the same ACK. */
function assertEvery2xxAcked(h: InProcessGateway, callee: string): void {
  const oks = h.net
    .messages({ from: callee, to: GW })
    .filter(
      (d) =>
        d.msg.kind === 'response' && d.msg.status === 200 && d.msg.headers.get('cseq')?.endsWith('INVITE'),
    );
  const acks = h.net.messages({ from: GW, to: callee }).filter((d) => isAck(d.msg));
  assert.ok(oks.length >= 2, 'the callee retransmitted its 2xx');
  assert.equal(acks.length, oks.length, 'an ACK for each 2xx received');
  assert.equal(new Set(acks.map((d) => d.bytes.toString('latin1'))).size, 1, 'the same ACK each time');
}

void describe('a call over a lossy or slow network', () => {
  void test('the caller’s ACK is lost: the gateway retransmits its 2xx at T1 and the second ACK stops it', () => {
    const { h, alice, bob } = parties();
    const a = alice.invite('1002');
    h.run();
    // The digest challenge's ACK has gone already: the next ACK of this Call-ID is the 2xx's.
    const callId = a.invite.headers.get('call-id');
    h.net.lose((m) => isAck(m) && m.headers.get('call-id') === callId);
    bob.incoming[0]?.answer();
    h.run(10 * T1);
    const oks = alice.responsesReceived('INVITE').filter((r) => r.status === 200);
    assert.equal(oks.length, 2, 'one retransmission, then the ACK got through');
    assert.ok(!a.ended && bob.incoming[0]?.ended === false, 'the call is up');
    a.bye();
    h.run();
    h.assertNothingLeftBehind();
  });

  const slowAcks = [
    {
      name: 'its ACK is lost',
      setup: (h: InProcessGateway) => h.net.lose((m) => isAck(m) && m.uri.includes(BOB)),
    },
    {
      name: 'it is 300 ms away (its first retransmission leaves before our ACK arrives)',
      setup: (h: InProcessGateway) => h.net.setLatency(GW, BOB, 300),
    },
  ];
  for (const c of slowAcks) {
    void test(`the callee retransmits its 2xx because ${c.name}: the gateway ACKs it again and the call stays up (§13.2.2.4)`, () => {
      const { h, alice, bob } = parties();
      c.setup(h);
      const a = alice.invite('1002');
      h.run(1000);
      const b = bob.incoming[0];
      assert.ok(b);
      b.answer();
      h.run(5000);
      assert.ok(b.acks.length >= 1, 'the callee got an ACK');
      assertEvery2xxAcked(h, BOB);
      assert.deepEqual(
        b.requests.map((r) => r.method),
        [],
        'nothing ends the callee’s dialog',
      );
      assert.ok(!a.ended && !b.ended);
      a.bye();
      h.run(1000);
      assert.ok(b.ended);
      // The final check's probes run on a network without delay.
      h.net.setLatency(GW, BOB, 0);
      h.assertNothingLeftBehind();
    });
  }

  void test('an INVITE without an offer: a 2xx repeated while its ACK waits for the caller’s answer is not a new answer, and the ACK carrying the answer goes again for later ones', () => {
    const { h, alice, bob } = parties();
    const a = alice.invite('1002', { sdp: null });
    a.autoAck = false;
    h.run();
    const b = bob.incoming[0];
    assert.ok(b);
    h.net.lose((m) => isAck(m) && m.uri.includes(BOB));
    b.answer(bob.offer());
    h.run(T1 + 100);
    const toBob = () =>
      h.net
        .messages({ from: GW, to: BOB })
        .filter((d) => d.msg.kind === 'request' && d.msg.method !== 'INVITE');
    assert.deepEqual(toBob(), [], 'no ACK before the caller’s answer, and no BYE');
    a.ack();
    h.run(10 * T1);
    const acks = toBob().filter((d) => isAck(d.msg));
    assert.equal(acks.length, 2, 'the ACK with the answer (lost), then again for the next 2xx');
    assert.equal(new Set(acks.map((d) => d.bytes.toString('latin1'))).size, 1, 'the same ACK each time');
    assert.match(b.acks[0]?.body.toString() ?? '', /^o=1001 /m, 'the ACK carries the caller’s answer');
    assert.deepEqual(
      b.requests.map((r) => r.method),
      [],
      'nothing ends the callee’s dialog',
    );
    assert.ok(!a.ended && !b.ended);
    a.bye();
    h.run();
    h.assertNothingLeftBehind();
  });

  void test('a 2xx to the same INVITE with another To tag is another fork’s: ACKed, then ended with BYE, and the call stays up (§13.2.2.4)', () => {
    const { h, alice, bob } = parties();
    const a = alice.invite('1002');
    h.run();
    const b = bob.incoming[0];
    assert.ok(b);
    const ok = b.answer();
    h.run();
    // A forking proxy at the callee's address passes on a second answer, from another phone.
    const headers = ok.headers.clone();
    headers.set('to', (ok.headers.get('to') ?? '').replace(/;tag=[^;]+/, ';tag=other-fork'));
    bob.sendStateless({ ...ok, headers });
    h.run();
    const toOtherFork = h.net
      .messages({ from: GW, to: BOB })
      .map((d) => d.msg)
      .filter(
        (m): m is SipRequest => m.kind === 'request' && getTag(m.headers.get('to') ?? '') === 'other-fork',
      );
    assert.deepEqual(
      toOtherFork.map((m) => m.method),
      ['ACK', 'BYE'],
    );
    assert.ok(!a.ended && !b.ended, 'the answered dialog is untouched');
    a.bye();
    h.run();
    h.assertNothingLeftBehind();
  });

  void test('a transfer target whose ACK was lost gets an ACK for its retransmitted 2xx (§13.2.2.4)', () => {
    const { h, alice, bob, carol } = parties();
    const a = alice.invite('1002');
    h.run();
    bob.incoming[0]?.answer();
    h.run();
    bob.incoming[0]?.refer('1003');
    h.run();
    h.net.lose((m) => isAck(m) && m.uri.includes(CAROL));
    const t = carol.incoming[0];
    assert.ok(t);
    t.answer();
    h.run(40_000);
    assert.ok(t.acks.length >= 1, 'the target got an ACK');
    assertEvery2xxAcked(h, CAROL);
    assert.ok(!t.ended && !a.ended, 'the transferee and the target are still talking');
    a.bye();
    h.run();
    h.assertNothingLeftBehind();
  });

  void test('a CANCELed INVITE that never gets a final response is given up after 64·T1 (§9.1)', () => {
    const { h, alice, bob } = parties();
    const a = alice.invite('1002');
    h.run();
    bob.incoming[0]?.ring();
    h.run();
    h.net.block(BOB);
    a.cancel();
    h.run();
    assert.deepEqual(
      a.finals.filter((s) => s !== 407),
      [487],
    );
    // "If there is no final response for the original request in 64*T1 seconds ..., the
    // client SHOULD then consider the original transaction cancelled and SHOULD destroy the
    // client transaction handling the original request."
    h.run(64 * T1 + 1000);
    assert.deepEqual(h.tx.dump().clients, [], 'no client transaction left in the gateway');
    h.net.unblock(BOB);
    // The phone stops ringing on its own (its user gives up): its 480 matches no transaction at
    // the gateway any more and is dropped, and the phone's Timer H ends its side.
    bob.incoming[0]?.reject(480);
    h.assertNothingLeftBehind();
  });
});
