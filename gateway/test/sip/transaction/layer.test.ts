import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createResponse } from '../../../src/sip/message/index.ts';
import type { SipEndpoint, SipRequest } from '../../../src/sip/message/types.ts';
import { responseDestination } from '../../../src/sip/transaction/index.ts';
import { harness, recordingUser, request, responseTo, sentResponses, tcpPeer, udpPeer } from './fixtures.ts';

const statuses = (h: ReturnType<typeof harness>) =>
  sentResponses(h.sent).map((s) => (s.msg.kind === 'response' ? s.msg.status : 0));

void describe('server matching (RFC 3261 §17.2.3, §9.2, §8.2.2.2)', () => {
  void test('a retransmission matches on branch, sent-by and method; another sent-by is a new transaction', () => {
    const h = harness();
    h.layer.receive(request({ method: 'OPTIONS' }), udpPeer);
    h.layer.receive(request({ method: 'OPTIONS' }), udpPeer);
    assert.equal(h.requests.length, 1);
    h.layer.receive(request({ method: 'OPTIONS', host: '192.0.2.99:5060', fromTag: 'other' }), udpPeer);
    assert.equal(h.requests.length, 2);
    h.layer.close();
  });

  void test('merged request gets 482 (same From tag, Call-ID and CSeq, other branch, no To tag)', () => {
    const h = harness();
    h.layer.receive(request({ branch: 'z9hG4bK-path1' }), udpPeer);
    h.layer.receive(request({ branch: 'z9hG4bK-path2' }), udpPeer);
    assert.equal(h.requests.length, 1, 'the merged copy is not given to the TU');
    assert.deepEqual(statuses(h), [482]);
    // Its retransmission hits the 482 transaction and gets the 482 again.
    h.layer.receive(request({ branch: 'z9hG4bK-path2' }), udpPeer);
    assert.deepEqual(statuses(h), [482, 482]);
    h.layer.close();
  });

  void test('a request with a To tag is never treated as merged', () => {
    const h = harness();
    h.layer.receive(request({ method: 'INFO', toTag: 't', branch: 'z9hG4bK-1' }), udpPeer);
    h.layer.receive(request({ method: 'INFO', toTag: 't', branch: 'z9hG4bK-2' }), udpPeer);
    assert.equal(h.requests.length, 2);
    h.layer.close();
  });

  void test('CANCEL matches the INVITE server transaction; the TU answers both', () => {
    const h = harness();
    h.layer.receive(request(), udpPeer);
    const invite = h.requests[0];
    assert.ok(invite);
    h.layer.receive(request({ method: 'CANCEL' }), udpPeer);
    assert.equal(h.cancels.length, 1);
    const ev = h.cancels[0];
    assert.ok(ev);
    assert.equal(ev.inviteTx, invite.tx);
    assert.notEqual(ev.cancelTx, invite.tx);
    assert.equal(h.sent.length, 0, 'the layer does not answer the CANCEL itself');
    ev.cancelTx.respond(createResponse(ev.cancel, 200));
    invite.tx.respond(createResponse(invite.req, 487, undefined, { toTag: 'uas' }));
    assert.deepEqual(statuses(h), [200, 487]);
    // A retransmitted CANCEL hits the CANCEL transaction, not the TU.
    h.layer.receive(request({ method: 'CANCEL' }), udpPeer);
    assert.equal(h.cancels.length, 1);
    assert.deepEqual(statuses(h), [200, 487, 200]);
    h.layer.close();
  });

  void test('a CANCEL on another branch matches no INVITE (the TU answers 481)', () => {
    const h = harness();
    h.layer.receive(request(), udpPeer);
    h.layer.receive(request({ method: 'CANCEL', branch: 'z9hG4bK-unknown' }), udpPeer);
    assert.equal(h.cancels[0]?.inviteTx, undefined);
    h.layer.close();
  });

  void test('RFC 2543 transaction matching without magic cookie', () => {
    const h = harness();
    const old = { branch: '1234', callId: 'old@host' };
    h.layer.receive(request(old), udpPeer);
    assert.equal(h.requests.length, 1);
    const tx = h.requests[0]?.tx;
    assert.ok(tx);
    // Same Request-URI, tags, Call-ID, CSeq and top Via: a retransmission.
    h.layer.receive(request(old), udpPeer);
    assert.equal(h.requests.length, 1);
    tx.respond(createResponse(request(old), 486, undefined, { toTag: 'uas' }));
    // The ACK matches by Request-URI, From tag, Call-ID, CSeq number and top Via, and its To tag
    // must equal the one of the response.
    h.layer.receive(request({ ...old, method: 'ACK', toTag: 'wrong' }), udpPeer);
    assert.equal(tx.state, 'completed');
    assert.equal(h.acks.length, 1, 'an ACK with another To tag is not for this transaction');
    h.layer.receive(request({ ...old, method: 'ACK', toTag: 'uas' }), udpPeer);
    assert.equal(tx.state, 'confirmed');
    // A different top Via is a different transaction.
    h.layer.receive(request({ ...old, callId: 'old2@host', via: 'SIP/2.0/UDP 192.0.2.10:5062' }), udpPeer);
    assert.equal(h.requests.length, 2);
    h.layer.close();
  });

  void test('RFC 2543 CANCEL matches by Request-URI, tags, Call-ID, CSeq number and top Via', () => {
    const h = harness();
    h.layer.receive(request({ branch: 'old-1' }), udpPeer);
    h.layer.receive(request({ branch: 'old-1', method: 'CANCEL' }), udpPeer);
    assert.equal(h.cancels[0]?.inviteTx, h.requests[0]?.tx);
    h.layer.close();
  });

  void test('answers 400 to a request whose CSeq method differs from the method', () => {
    const h = harness();
    h.layer.receive(request({ method: 'INVITE', cseqMethod: 'OPTIONS' }), udpPeer);
    assert.deepEqual(statuses(h), [400]);
    assert.equal(h.requests.length, 0);
  });

  void test('answers 503 statelessly over the server transaction cap, and takes requests again after', () => {
    const h = harness({ maxServerTransactions: 2 });
    for (const b of ['z9hG4bK-1', 'z9hG4bK-2', 'z9hG4bK-3'])
      h.layer.receive(request({ method: 'OPTIONS', branch: b, callId: b }), udpPeer);
    assert.equal(h.requests.length, 2);
    assert.deepEqual(statuses(h), [503]);
    assert.equal(h.layer.dump().servers.length, 2);
    for (const { req, tx } of h.requests) tx.respond(createResponse(req, 200));
    h.clock.advance(32_000); // Timer J
    assert.equal(h.layer.dump().servers.length, 0);
    h.layer.receive(request({ method: 'OPTIONS', branch: 'z9hG4bK-4', callId: 'x' }), udpPeer);
    assert.equal(h.requests.length, 3);
    h.layer.close();
  });
});

void describe('client matching (RFC 3261 §17.1.3)', () => {
  void test('a response matches on branch and CSeq method: a CANCEL response does not reach the INVITE', () => {
    const h = harness();
    const inviteUser = recordingUser();
    const invite = request({ branch: 'z9hG4bK-c1' });
    h.layer.sendRequest(invite, udpPeer, inviteUser.user);
    h.layer.receive(responseTo(request({ method: 'CANCEL', branch: 'z9hG4bK-c1' }), 200), udpPeer);
    assert.deepEqual(inviteUser.events, []);
    assert.equal(h.strays.length, 1);
    h.layer.receive(responseTo(request({ branch: 'z9hG4bK-other' }), 180), udpPeer);
    assert.equal(h.strays.length, 2);
    h.layer.close();
  });

  void test('refuses a request without a branch or with a branch already in use', () => {
    const h = harness();
    const user = recordingUser().user;
    assert.throws(() => h.layer.sendRequest(request({ via: 'SIP/2.0/UDP 192.0.2.1:5060' }), udpPeer, user));
    h.layer.sendRequest(request(), udpPeer, user);
    assert.throws(() => h.layer.sendRequest(request(), udpPeer, user));
    h.layer.close();
  });
});

void describe('response destination (RFC 3261 §18.2.2, RFC 3581)', () => {
  const cases: Array<{ name: string; via: string; source: SipEndpoint; want: SipEndpoint }> = [
    {
      name: 'response goes to received/rport (rport filled in from the source)',
      via: 'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-d;rport',
      source: { transport: 'udp', address: '203.0.113.7', port: 61000 },
      want: { transport: 'udp', address: '203.0.113.7', port: 61000 },
    },
    {
      name: 'response goes to received and the sent-by port without rport',
      via: 'SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-d',
      source: { transport: 'udp', address: '203.0.113.7', port: 61000 },
      want: { transport: 'udp', address: '203.0.113.7', port: 5070 },
    },
    {
      name: 'response goes to the sent-by when it is the source address (default port 5060)',
      via: 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-d',
      source: { transport: 'udp', address: '192.0.2.10', port: 5060 },
      want: { transport: 'udp', address: '192.0.2.10', port: 5060 },
    },
    {
      name: 'maddr is ignored: the response goes back to the source, never to a third party',
      via: 'SIP/2.0/UDP 192.0.2.10:5062;maddr=239.255.255.1;branch=z9hG4bK-d',
      source: { transport: 'udp', address: '192.0.2.10', port: 5062 },
      want: { transport: 'udp', address: '192.0.2.10', port: 5062 },
    },
    {
      name: 'a UDP request whose Via claims TCP is answered over UDP (no connection opened on request)',
      via: 'SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK-d;rport',
      source: { transport: 'udp', address: '192.0.2.10', port: 40000 },
      want: { transport: 'udp', address: '192.0.2.10', port: 40000 },
    },
    {
      name: 'response goes over the same connection on TCP',
      via: 'SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bK-d',
      source: tcpPeer,
      want: { transport: 'tcp', address: tcpPeer.address, port: 5060, connectionId: 'conn-1' },
    },
  ];
  for (const { name, via, source, want } of cases) {
    void test(name, () => {
      const h = harness();
      h.layer.receive(request({ method: 'OPTIONS', via }), source);
      const entry = h.requests[0];
      assert.ok(entry);
      entry.tx.respond(createResponse(entry.req, 200));
      assert.deepEqual(h.sent[0]?.dest, want);
      // The request the TU saw carries the stamped Via, so its responses do too (§18.2.1).
      const topVia = (h.sent[0]?.msg.headers.getList('via')[0] ?? '').toLowerCase();
      if (source.address !== '192.0.2.10')
        assert.match(topVia, new RegExp(`received=${source.address.replace(/\./g, '\\.')}`));
      if (via.includes('rport')) assert.match(topVia, new RegExp(`rport=${source.port}`));
      h.layer.close();
    });
  }

  void test('responseDestination reports a request without a Via', () => {
    const req: SipRequest = request();
    req.headers.remove('via');
    assert.equal(responseDestination(req, udpPeer).ok, false);
  });
});

void describe('layer housekeeping', () => {
  void test('counts transactions and deletes them when terminated', () => {
    const h = harness();
    h.layer.receive(request({ method: 'OPTIONS', toTag: 'x' }), tcpPeer);
    h.layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bK-out' }), udpPeer, recordingUser().user);
    assert.deepEqual(h.layer.dump().active, {
      invite_client: 0,
      non_invite_client: 1,
      invite_server: 0,
      non_invite_server: 1,
    });
    const rendered = h.metrics.render();
    assert.match(rendered, /edgeline_sip_transactions_active\{kind="non_invite_server"\} 1/);
    assert.match(rendered, /edgeline_sip_transactions_total\{kind="non_invite_client"\} 1/);
    const entry = h.requests[0];
    assert.ok(entry);
    entry.tx.respond(createResponse(entry.req, 200)); // Timer J = 0 on TCP
    assert.equal(h.layer.dump().active.non_invite_server, 0);
    h.layer.close();
    assert.equal(h.layer.dump().active.non_invite_client, 0);
    assert.deepEqual(h.clock.armed(), []);
  });

  void test('drops a message without a Via and counts it', () => {
    const h = harness();
    const req = request();
    req.headers.remove('via');
    h.layer.receive(req, udpPeer);
    assert.equal(h.sent.length, 0);
    assert.equal(h.requests.length, 0);
    assert.equal(
      h.metrics.counter('edgeline_sip_transaction_discards_total', '').get({ reason: 'malformed' }),
      1,
    );
  });
});
