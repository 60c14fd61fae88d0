import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SipRequest } from '../../../src/sip/message/types.ts';
import { InviteClientTransaction } from '../../../src/sip/transaction/index.ts';
import { harness, recordingUser, request, responseTo, sentRequests, tcpPeer, udpPeer } from './fixtures.ts';

function startInvite(h: ReturnType<typeof harness>, dest = udpPeer, transport: 'UDP' | 'TCP' = 'UDP') {
  const rec = recordingUser();
  const req = request({ transport, routes: ['<sip:proxy1.example;lr>', '<sip:proxy2.example;lr>'] });
  const tx = h.layer.sendRequest(req, dest, rec.user);
  assert.ok(tx instanceof InviteClientTransaction);
  return { tx, req, ...rec };
}

void describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2)', () => {
  void test('MUST retransmit INVITE at T1, 2·T1, 4·T1 on UDP (Timer A doubles until Timer B)', () => {
    const h = harness();
    startInvite(h);
    h.clock.advance(32_000);
    // 0, then T1 later, then 2·T1, 4·T1, 8·T1, 16·T1, 32·T1 after that; Timer B at 64·T1 ends it.
    assert.deepEqual(
      sentRequests(h.sent, 'INVITE').map((s) => s.atMs),
      [0, 500, 1500, 3500, 7500, 15_500, 31_500],
    );
    assert.equal(
      h.metrics.counter('edgeline_sip_retransmissions_total', '').get({ kind: 'invite_client' }),
      6,
    );
    h.layer.close();
  });

  void test('MUST NOT retransmit INVITE on TCP (Timer A is not started)', () => {
    const h = harness();
    startInvite(h, tcpPeer, 'TCP');
    assert.deepEqual(h.clock.armed(), ['B']);
    h.clock.advance(31_999);
    assert.equal(sentRequests(h.sent, 'INVITE').length, 1);
    h.layer.close();
  });

  for (const dest of [udpPeer, tcpPeer]) {
    void test(`Timer B fires after 64·T1 and tells the TU (${dest.transport})`, () => {
      const h = harness();
      const { tx, events } = startInvite(h, dest);
      h.clock.advance(31_999);
      assert.deepEqual(events, []);
      h.clock.advance(1);
      assert.deepEqual(events, ['timeout']);
      assert.equal(tx.state, 'terminated');
      assert.equal(h.layer.dump().clients.length, 0);
      assert.equal(h.metrics.counter('edgeline_sip_transaction_timeouts_total', '').get({ timer: 'B' }), 1);
      assert.deepEqual(h.clock.armed(), []);
    });
  }

  void test('T1 is configurable: Timer A starts at T1 and Timer B is 64·T1', () => {
    const h = harness({ timersMs: { T1: 100 } });
    const { events } = startInvite(h);
    h.clock.advance(6399);
    assert.deepEqual(
      sentRequests(h.sent, 'INVITE')
        .map((s) => s.atMs)
        .slice(0, 3),
      [0, 100, 300],
    );
    assert.deepEqual(events, []);
    h.clock.advance(1);
    assert.deepEqual(events, ['timeout']);
  });

  void test('a provisional response moves Calling to Proceeding, reaches the TU and stops retransmissions', () => {
    const h = harness();
    const { tx, req, events } = startInvite(h);
    h.clock.advance(700);
    h.layer.receive(responseTo(req, 180), udpPeer);
    assert.equal(tx.state, 'proceeding');
    assert.deepEqual(events, ['180']);
    h.clock.advance(60_000);
    assert.deepEqual(
      sentRequests(h.sent, 'INVITE').map((s) => s.atMs),
      [0, 500],
    );
    assert.deepEqual(events, ['180'], 'no Timer B in Proceeding');
    h.layer.close();
  });

  for (const status of [302, 486, 603]) {
    void test(`MUST generate ACK for a ${status} on the same branch (§17.1.1.3)`, () => {
      const h = harness();
      const { tx, req, events } = startInvite(h);
      const res = responseTo(req, status, 'uas-tag');
      h.layer.receive(res, udpPeer);
      assert.deepEqual(events, [String(status)]);
      assert.equal(tx.state, 'completed');
      const acks = sentRequests(h.sent, 'ACK');
      assert.equal(acks.length, 1);
      const ack = acks[0]?.msg as SipRequest;
      assert.deepEqual(acks[0]?.dest, udpPeer);
      assert.equal(ack.uri, req.uri);
      assert.deepEqual(ack.headers.getList('via'), [req.headers.getList('via')[0]]);
      assert.equal(ack.headers.get('call-id'), req.headers.get('call-id'));
      assert.equal(ack.headers.get('from'), req.headers.get('from'));
      assert.equal(ack.headers.get('to'), res.headers.get('to'));
      assert.match(ack.headers.get('to') ?? '', /;tag=uas-tag$/);
      assert.equal(ack.headers.get('cseq'), '1 ACK');
      assert.deepEqual(ack.headers.getList('route'), req.headers.getList('route'));
    });
  }

  void test('MUST re-send the ACK for each retransmitted final response without passing it to the TU', () => {
    const h = harness();
    const { req, events } = startInvite(h);
    const res = responseTo(req, 486);
    h.layer.receive(res, udpPeer);
    h.layer.receive(res, udpPeer);
    h.layer.receive(res, udpPeer);
    assert.equal(sentRequests(h.sent, 'ACK').length, 3);
    assert.deepEqual(events, ['486']);
    h.layer.close();
  });

  const timerD = [
    { dest: udpPeer, transport: 'UDP' as const, dMs: 32_000 },
    { dest: tcpPeer, transport: 'TCP' as const, dMs: 0 },
  ];
  for (const { dest, transport, dMs } of timerD) {
    void test(`Timer D is ${dMs / 1000} s on ${dest.transport} (§17.1.1.2)`, () => {
      const h = harness();
      const { tx, req } = startInvite(h, dest, transport);
      h.clock.advance(1000);
      h.layer.receive(responseTo(req, 404), dest);
      if (dMs === 0) {
        assert.equal(tx.state, 'terminated');
        return;
      }
      assert.deepEqual(h.clock.armed(), ['D']);
      h.clock.advance(dMs - 1);
      assert.equal(tx.state, 'completed');
      h.clock.advance(1);
      assert.equal(tx.state, 'terminated');
      assert.equal(h.layer.dump().clients.length, 0);
    });
  }

  void test('2xx moves to Accepted (RFC 6026): every 2xx reaches the TU, no ACK is generated, Timer M ends it at 64·T1', () => {
    const h = harness();
    const { tx, req, events } = startInvite(h);
    h.layer.receive(responseTo(req, 180), udpPeer);
    h.clock.advance(2000);
    h.layer.receive(responseTo(req, 200, 'a'), udpPeer);
    assert.equal(tx.state, 'accepted');
    assert.deepEqual(h.clock.armed(), ['M']);
    h.layer.receive(responseTo(req, 200, 'a'), udpPeer);
    h.layer.receive(responseTo(req, 200, 'b'), udpPeer); // another fork
    h.layer.receive(responseTo(req, 486), udpPeer); // not a 2xx: discarded
    assert.deepEqual(events, ['180', '200', '200', '200']);
    assert.equal(sentRequests(h.sent, 'ACK').length, 0, 'the TU acknowledges 2xx itself (§13.2.2.4)');
    h.clock.advance(31_999);
    assert.equal(tx.state, 'accepted');
    h.clock.advance(1);
    assert.equal(tx.state, 'terminated');
    h.layer.receive(responseTo(req, 200, 'a'), udpPeer);
    assert.equal(h.strays.length, 1, 'a 2xx after Timer M is a stray for the core');
  });

  void test('cancel() waits for a provisional response, then sends a CANCEL built per §9.1 in its own transaction', () => {
    const h = harness();
    const { tx, req } = startInvite(h);
    const cancelUser = recordingUser();
    assert.equal(tx.cancel(cancelUser.user), true);
    h.clock.advance(100);
    assert.equal(sentRequests(h.sent, 'CANCEL').length, 0, 'MUST NOT be sent before a provisional response');
    h.layer.receive(responseTo(req, 100), udpPeer);
    const cancels = sentRequests(h.sent, 'CANCEL');
    assert.equal(cancels.length, 1);
    const cancel = cancels[0]?.msg as SipRequest;
    assert.equal(cancel.uri, req.uri);
    for (const name of ['call-id', 'from', 'to'])
      assert.equal(cancel.headers.get(name), req.headers.get(name), name);
    assert.equal(cancel.headers.get('cseq'), '1 CANCEL');
    assert.deepEqual(cancel.headers.getList('via'), [req.headers.getList('via')[0]]);
    assert.deepEqual(cancel.headers.getList('route'), req.headers.getList('route'));
    // The CANCEL has its own non-INVITE client transaction: its 200 goes to the CANCEL's user,
    // the 487 to the INVITE's.
    h.layer.receive(responseTo(cancel, 200), udpPeer);
    assert.deepEqual(cancelUser.events, ['200']);
    h.layer.receive(responseTo(req, 487), udpPeer);
    assert.equal(tx.state, 'completed');
    assert.equal(tx.cancel(), false, 'nothing left to cancel after a final response');
    h.layer.close();
  });

  /** An INVITE that rang, then its CANCEL (§9.1: sent once a provisional response has arrived). */
  function cancelAfterRinging(
    h: ReturnType<typeof harness>,
    dest = udpPeer,
    transport: 'UDP' | 'TCP' = 'UDP',
  ) {
    const started = startInvite(h, dest, transport);
    h.layer.receive(responseTo(started.req, 180), dest);
    const cancelUser = recordingUser();
    assert.equal(started.tx.cancel(cancelUser.user), true);
    const cancel = sentRequests(h.sent, 'CANCEL')[0]?.msg as SipRequest;
    assert.ok(cancel, 'the CANCEL went out');
    return { ...started, cancel, cancelUser };
  }

  for (const { dest, transport } of [
    { dest: udpPeer, transport: 'UDP' as const },
    { dest: tcpPeer, transport: 'TCP' as const },
  ])
    void test(`SHOULD destroy a CANCELed INVITE with no final response after 64·T1, telling the TU (§9.1, ${dest.transport})`, () => {
      const h = harness();
      const { tx, events } = cancelAfterRinging(h, dest, transport);
      assert.deepEqual(tx.dump().armed, ['cancel-giveup']);
      h.clock.advance(31_999);
      assert.equal(tx.state, 'proceeding');
      assert.deepEqual(events, ['180']);
      h.clock.advance(1);
      assert.equal(tx.state, 'terminated');
      assert.deepEqual(events, ['180', 'timeout'], 'the TU takes it as a timeout (§8.1.3.1: a 408)');
      assert.deepEqual(
        h.layer.dump().clients.filter((c) => c.kind === 'invite_client'),
        [],
      );
      assert.equal(
        h.metrics.counter('edgeline_sip_transaction_timeouts_total', '').get({ timer: 'cancel-giveup' }),
        1,
      );
      assert.equal(sentRequests(h.sent, 'INVITE').length, 1, 'the INVITE is not sent again');
      h.layer.close();
    });

  void test('the 64·T1 after CANCEL runs from the CANCEL being sent: a CANCEL asked for in Calling waits for the provisional response', () => {
    const h = harness();
    const { tx, req, events } = startInvite(h);
    assert.equal(tx.cancel(), true);
    h.clock.advance(10_000);
    assert.deepEqual(h.clock.armed().sort(), ['A', 'B'], 'nothing sent, Timer B still guards Calling');
    h.layer.receive(responseTo(req, 180), udpPeer);
    assert.equal(sentRequests(h.sent, 'CANCEL')[0]?.atMs, 10_000);
    h.clock.advance(31_999);
    assert.equal(tx.state, 'proceeding');
    h.clock.advance(1);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(events, ['180', 'timeout']);
    h.layer.close();
  });

  void test('a provisional response after the CANCEL neither stops nor restarts the 64·T1', () => {
    const h = harness();
    const { tx, req, events } = cancelAfterRinging(h);
    h.clock.advance(20_000);
    h.layer.receive(responseTo(req, 183), udpPeer);
    assert.deepEqual(tx.dump().armed, ['cancel-giveup']);
    h.clock.advance(12_000);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(events, ['180', '183', 'timeout']);
    h.layer.close();
  });

  void test('a 200 to the CANCEL does not end the wait: the INVITE is still given up when its 487 never comes', () => {
    const h = harness();
    const { tx, cancel, cancelUser, events } = cancelAfterRinging(h);
    h.layer.receive(responseTo(cancel, 200), udpPeer);
    assert.deepEqual(cancelUser.events, ['200']);
    h.clock.advance(32_000);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(events, ['180', 'timeout']);
    assert.deepEqual(h.layer.dump().clients, []);
    assert.deepEqual(h.clock.armed(), []);
  });

  const finalAfterCancel = [
    { status: 487, state: 'completed' as const, armed: ['D'] },
    { status: 200, state: 'accepted' as const, armed: ['M'] },
  ];
  for (const { status, state, armed } of finalAfterCancel)
    void test(`a ${status} after the CANCEL stops the 64·T1: ${state} runs its own timer only`, () => {
      const h = harness();
      const { tx, req, cancel, events } = cancelAfterRinging(h);
      h.layer.receive(responseTo(cancel, 200), udpPeer);
      h.clock.advance(1000);
      h.layer.receive(responseTo(req, status), udpPeer);
      assert.equal(tx.state, state);
      assert.deepEqual(tx.dump().armed, armed);
      h.clock.advance(31_000);
      assert.deepEqual(events, ['180', String(status)], 'no timeout reaches the TU');
      h.layer.close();
    });

  void test('a transport error ends the transaction and tells the TU (§17.1.4)', () => {
    const h = harness({
      send: () => {
        throw new Error('unreachable');
      },
    });
    const { tx, events } = startInvite(h);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(events, ['transport-error:unreachable']);
    assert.deepEqual(h.clock.armed(), []);
  });
});
