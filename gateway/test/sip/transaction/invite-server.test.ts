import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createResponse } from '../../../src/sip/message/index.ts';
import type { SipEndpoint, SipResponse } from '../../../src/sip/message/types.ts';
import { InviteServerTransaction } from '../../../src/sip/transaction/index.ts';
import { harness, request, sentResponses, tcpPeer, udpPeer } from './fixtures.ts';

function receiveInvite(h: ReturnType<typeof harness>, source: SipEndpoint = udpPeer) {
  const req = request({ transport: source.transport === 'udp' ? 'UDP' : 'TCP' });
  h.layer.receive(req, source);
  const tx = h.requests[0]?.tx;
  assert.ok(tx instanceof InviteServerTransaction);
  return { req, tx };
}

function ackFor(res: SipResponse, branch = 'z9hG4bK-abc') {
  return request({ method: 'ACK', branch, toTag: /;tag=([^;]+)/.exec(res.headers.get('to') ?? '')?.[1] });
}

void describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1)', () => {
  void test('INVITE server sends 100 Trying after 200 ms when the TU has not answered', () => {
    const h = harness();
    const { tx } = receiveInvite(h);
    assert.equal(tx.state, 'proceeding');
    h.clock.advance(199);
    assert.equal(h.sent.length, 0);
    h.clock.advance(1);
    const trying = sentResponses(h.sent, 100);
    assert.equal(trying.length, 1);
    assert.equal(trying[0]?.atMs, 200);
    assert.doesNotMatch(trying[0]?.msg.headers.get('to') ?? '', /tag=/, '100 Trying carries no To tag');
    h.layer.close();
  });

  void test('does not send 100 Trying when the TU answers within 200 ms', () => {
    const h = harness();
    const { req, tx } = receiveInvite(h);
    h.clock.advance(150);
    tx.respond(createResponse(req, 180, undefined, { toTag: 'uas' }));
    h.clock.advance(1000);
    assert.deepEqual(
      h.sent.map((s) => (s.msg.kind === 'response' ? s.msg.status : 0)),
      [180],
    );
    h.layer.close();
  });

  void test('retransmits the most recent provisional response on an INVITE retransmission', () => {
    const h = harness();
    const { req, tx } = receiveInvite(h);
    tx.respond(createResponse(req, 180, undefined, { toTag: 'uas' }));
    tx.respond(createResponse(req, 183, undefined, { toTag: 'uas' }));
    h.layer.receive(request(), udpPeer);
    assert.deepEqual(
      sentResponses(h.sent).map((s) => (s.msg.kind === 'response' ? s.msg.status : 0)),
      [180, 183, 183],
    );
    assert.equal(h.requests.length, 1, 'retransmission not passed to the TU');
    h.layer.close();
  });

  void test('absorbs INVITE retransmissions in Accepted (RFC 6026) and Timer L ends it at 64·T1', () => {
    const h = harness();
    const { req, tx } = receiveInvite(h);
    const ok200 = createResponse(req, 200, undefined, { toTag: 'uas' });
    assert.equal(tx.respond(ok200), true);
    assert.equal(tx.state, 'accepted');
    assert.deepEqual(h.clock.armed(), ['L']);
    h.layer.receive(request(), udpPeer);
    h.layer.receive(request(), udpPeer);
    assert.equal(sentResponses(h.sent, 200).length, 1, 'retransmitted INVITEs are absorbed');
    assert.equal(h.requests.length, 1);
    assert.equal(tx.respond(ok200), true, 'the TU retransmits its 2xx through the transaction');
    assert.equal(sentResponses(h.sent, 200).length, 2);
    h.clock.advance(31_999);
    assert.equal(tx.state, 'accepted');
    h.clock.advance(1);
    assert.equal(tx.state, 'terminated');
    assert.equal(h.layer.dump().servers.length, 0);
  });

  const ackCases = [
    {
      name: 'an ACK for a 2xx with its own branch matches no transaction and goes to the TU',
      branch: 'z9hG4bK-ack2xx',
    },
    { name: 'an ACK matched in Accepted is passed up to the TU (RFC 6026)', branch: 'z9hG4bK-abc' },
  ];
  for (const { name, branch } of ackCases) {
    void test(name, () => {
      const h = harness();
      const { req, tx } = receiveInvite(h);
      const ok200 = createResponse(req, 200, undefined, { toTag: 'uas' });
      tx.respond(ok200);
      h.layer.receive(ackFor(ok200, branch), udpPeer);
      assert.equal(h.acks.length, 1);
      assert.equal(tx.state, 'accepted');
      h.layer.close();
    });
  }

  void test('Timer G retransmits a 3xx-6xx at T1, 2·T1, 4·T1 capped at T2 on UDP; Timer H fires at 64·T1 and tells the TU', () => {
    const h = harness();
    const { req, tx } = receiveInvite(h);
    let timedOut = 0;
    tx.setUser({ onTimeout: () => timedOut++ });
    tx.respond(createResponse(req, 486, undefined, { toTag: 'uas' }));
    assert.equal(tx.state, 'completed');
    h.clock.advance(31_999);
    assert.deepEqual(
      sentResponses(h.sent, 486).map((s) => s.atMs),
      [0, 500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500],
    );
    assert.equal(timedOut, 0);
    h.clock.advance(1);
    assert.equal(timedOut, 1, 'Timer H: the ACK never came');
    assert.equal(tx.state, 'terminated');
    assert.equal(h.metrics.counter('edgeline_sip_transaction_timeouts_total', '').get({ timer: 'H' }), 1);
    assert.deepEqual(h.clock.armed(), []);
  });

  void test('Timer H on TCP: no Timer G retransmissions', () => {
    const h = harness();
    const { req, tx } = receiveInvite(h, tcpPeer);
    tx.respond(createResponse(req, 404, undefined, { toTag: 'uas' }));
    assert.deepEqual(h.clock.armed(), ['H']);
    h.clock.advance(32_000);
    assert.equal(sentResponses(h.sent, 404).length, 1);
    assert.equal(tx.state, 'terminated');
  });

  void test('retransmits the final response on an INVITE retransmission in Completed', () => {
    const h = harness();
    const { req, tx } = receiveInvite(h);
    tx.respond(createResponse(req, 603, undefined, { toTag: 'uas' }));
    h.clock.advance(100);
    h.layer.receive(request(), udpPeer);
    assert.deepEqual(
      sentResponses(h.sent, 603).map((s) => s.atMs),
      [0, 100],
    );
    h.layer.close();
  });

  const timerI = [
    { source: udpPeer, iMs: 5000 },
    { source: tcpPeer, iMs: 0 },
  ];
  for (const { source, iMs } of timerI) {
    void test(`ACK moves Completed to Confirmed; Timer I is ${iMs} ms on ${source.transport}`, () => {
      const h = harness();
      const { req, tx } = receiveInvite(h, source);
      const res = createResponse(req, 480, undefined, { toTag: 'uas' });
      tx.respond(res);
      const ack = request({
        method: 'ACK',
        transport: source.transport === 'udp' ? 'UDP' : 'TCP',
        toTag: 'uas',
      });
      h.layer.receive(ack, source);
      assert.equal(h.acks.length, 0, 'the ACK of a non-2xx stays in the transaction');
      if (iMs === 0) {
        assert.equal(tx.state, 'terminated');
        return;
      }
      assert.equal(tx.state, 'confirmed');
      assert.deepEqual(h.clock.armed(), ['I']);
      h.layer.receive(ack, source); // absorbed
      h.clock.advance(iMs - 1);
      assert.equal(tx.state, 'confirmed');
      h.clock.advance(1);
      assert.equal(tx.state, 'terminated');
      assert.equal(sentResponses(h.sent, 480).length, 1, 'no Timer G retransmission after the ACK');
    });
  }

  void test('responses from the TU are refused once the transaction has a final response', () => {
    const h = harness();
    const { req, tx } = receiveInvite(h);
    assert.equal(tx.respond(createResponse(req, 486, undefined, { toTag: 'uas' })), true);
    assert.equal(tx.respond(createResponse(req, 200, undefined, { toTag: 'uas' })), false);
    assert.equal(tx.respond(createResponse(req, 180, undefined, { toTag: 'uas' })), false);
    h.layer.close();
  });
});
