/**
 * States that only absorb retransmissions keep the octets they resend and the identity of their
 * request, not parsed messages: the bytes on the wire are the same as before they were frozen.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createResponse, serializeMessage } from '../../../src/sip/message/index.ts';
import type { SipRequest } from '../../../src/sip/message/types.ts';
import { InviteServerTransaction, NonInviteServerTransaction } from '../../../src/sip/transaction/index.ts';
import { TimerSet } from '../../../src/sip/transaction/timer-set.ts';
import { ManualClock } from '../../../../base/clock.ts';
import {
  harness,
  recordingUser,
  request,
  responseTo,
  sentRequests,
  sentResponses,
  udpPeer,
} from './fixtures.ts';

const octets = (sent: ReturnType<typeof harness>['sent']) =>
  sent.map((s) => serializeMessage(s.msg).toString('latin1'));

function withBody(req: SipRequest): SipRequest {
  req.headers.append('authorization', 'Digest username="alice", response="00"');
  req.body = Buffer.from('v=0\r\n');
  return req;
}

void describe('absorbing states keep octets and identity only', () => {
  void test('non-INVITE server in Completed resends the very octets of its final response; request reduced to identity', () => {
    const h = harness();
    const spec = { method: 'BYE', toTag: 'uas' };
    h.layer.receive(withBody(request(spec)), udpPeer);
    const { req, tx } = h.requests[0] ?? assert.fail('no request');
    assert.ok(tx instanceof NonInviteServerTransaction);
    assert.equal(tx.request.headers.has('authorization'), true, 'whole request while the TU answers');
    tx.respond(createResponse(req, 200, 'OK', { headers: [['x-trace', 'a']] }));
    assert.equal(tx.state, 'completed');
    h.layer.receive(request(spec), udpPeer);
    h.layer.receive(request(spec), udpPeer);
    const sent = octets(sentResponses(h.sent));
    assert.equal(sent.length, 3);
    assert.equal(sent[1], sent[0]);
    assert.equal(sent[2], sent[0]);
    assert.equal(tx.request.headers.has('authorization'), false);
    assert.equal(tx.request.body.length, 0);
    assert.equal(tx.request.headers.get('call-id'), req.headers.get('call-id'));
    assert.equal(tx.dump().callId, req.headers.get('call-id'));
    assert.equal(tx.dump().lastStatus, 200);
    h.layer.close();
  });

  void test('INVITE server: Timer G and INVITE retransmissions resend the same 486 octets', () => {
    const h = harness();
    h.layer.receive(withBody(request()), udpPeer);
    const { req, tx } = h.requests[0] ?? assert.fail('no request');
    assert.ok(tx instanceof InviteServerTransaction);
    tx.respond(createResponse(req, 486, 'Busy Here', { toTag: 'b1' }));
    h.clock.advance(500);
    h.layer.receive(request(), udpPeer);
    const sent = octets(sentResponses(h.sent, 486));
    assert.equal(sent.length, 3);
    assert.ok(sent.every((s) => s === sent[0]));
    assert.equal(tx.request.headers.has('authorization'), false);
    assert.equal(tx.response?.status, 486);
    h.layer.close();
  });

  void test('INVITE server in Accepted holds no response and the dump still tells the status (RFC 6026)', () => {
    const h = harness();
    h.layer.receive(withBody(request()), udpPeer);
    const { req, tx } = h.requests[0] ?? assert.fail('no request');
    assert.ok(tx instanceof InviteServerTransaction);
    tx.respond(createResponse(req, 200, 'OK', { toTag: 'a1' }));
    assert.equal(tx.state, 'accepted');
    assert.equal(tx.response, undefined);
    assert.equal(tx.dump().lastStatus, 200);
    assert.equal(tx.request.headers.get('cseq'), '1 INVITE');
    h.layer.close();
  });

  void test('INVITE client in Completed resends the same ACK octets; in Accepted the TU still hears every 2xx', () => {
    const h = harness();
    const rejected = recordingUser();
    const inv = withBody(request({ branch: 'z9hG4bK-c1' }));
    const tx = h.layer.sendRequest(inv, udpPeer, rejected.user);
    const res = responseTo(inv, 486);
    h.layer.receive(res, udpPeer);
    h.layer.receive(res, udpPeer);
    const acks = octets(sentRequests(h.sent, 'ACK'));
    assert.equal(acks.length, 2);
    assert.equal(acks[1], acks[0]);
    assert.equal(tx.request.body.length, 0);

    const accepted = recordingUser();
    const inv2 = request({ branch: 'z9hG4bK-c2', callId: 'call-2' });
    const tx2 = h.layer.sendRequest(inv2, udpPeer, accepted.user);
    h.layer.receive(responseTo(inv2, 200), udpPeer);
    h.layer.receive(responseTo(inv2, 200), udpPeer);
    assert.equal(tx2.state, 'accepted');
    assert.deepEqual(accepted.events, ['200', '200']);
    h.layer.close();
  });

  void test('a transaction runs at most two timers; a fired timer leaves the set', () => {
    const clock = new ManualClock();
    const set = new TimerSet(clock);
    const fired: string[] = [];
    set.start('A', 500, () => fired.push('A'));
    set.start('B', 32_000, () => fired.push('B'));
    assert.throws(() => set.start('C', 1, () => undefined));
    set.start('A', 1000, () => fired.push('A2'));
    assert.deepEqual(set.armed(), ['B', 'A']);
    clock.advance(1000);
    assert.deepEqual(fired, ['A2']);
    assert.deepEqual(set.armed(), ['B']);
    set.stopAll();
    assert.deepEqual(clock.armed(), []);
  });
});
