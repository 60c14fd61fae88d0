import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createResponse } from '../../../src/sip/message/index.ts';
import type { SipEndpoint } from '../../../src/sip/message/types.ts';
import { NonInviteServerTransaction } from '../../../src/sip/transaction/index.ts';
import { harness, request, sentResponses, tcpPeer, udpPeer } from './fixtures.ts';

function receiveBye(h: ReturnType<typeof harness>, source: SipEndpoint = udpPeer) {
  const spec = {
    method: 'BYE',
    toTag: 'uas',
    transport: source.transport === 'udp' ? ('UDP' as const) : ('TCP' as const),
  };
  h.layer.receive(request(spec), source);
  const tx = h.requests[0]?.tx;
  assert.ok(tx instanceof NonInviteServerTransaction);
  return { req: request(spec), tx, spec };
}

const statuses = (h: ReturnType<typeof harness>) =>
  sentResponses(h.sent).map((s) => (s.msg.kind === 'response' ? s.msg.status : 0));

void describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  void test('discards request retransmissions in Trying', () => {
    const h = harness();
    const { tx, spec } = receiveBye(h);
    h.layer.receive(request(spec), udpPeer);
    assert.equal(tx.state, 'trying');
    assert.equal(h.sent.length, 0);
    assert.equal(h.requests.length, 1);
    h.layer.close();
  });

  void test('retransmits the last provisional in Proceeding and the final response in Completed', () => {
    const h = harness();
    const { req, tx, spec } = receiveBye(h);
    tx.respond(createResponse(req, 100));
    assert.equal(tx.state, 'proceeding');
    h.layer.receive(request(spec), udpPeer);
    tx.respond(createResponse(req, 200));
    assert.equal(tx.state, 'completed');
    h.layer.receive(request(spec), udpPeer);
    assert.equal(tx.respond(createResponse(req, 500)), false, 'later final responses are discarded');
    assert.deepEqual(statuses(h), [100, 100, 200, 200]);
    h.layer.close();
  });

  const timerJ = [
    { source: udpPeer, jMs: 32_000 },
    { source: tcpPeer, jMs: 0 },
  ];
  for (const { source, jMs } of timerJ) {
    void test(`Timer J is ${jMs} ms on ${source.transport} (64·T1 unreliable, 0 reliable)`, () => {
      const h = harness();
      const { req, tx } = receiveBye(h, source);
      tx.respond(createResponse(req, 200));
      if (jMs === 0) {
        assert.equal(tx.state, 'terminated');
        assert.equal(h.layer.dump().servers.length, 0);
        return;
      }
      assert.deepEqual(h.clock.armed(), ['J']);
      h.clock.advance(jMs - 1);
      assert.equal(tx.state, 'completed');
      h.clock.advance(1);
      assert.equal(tx.state, 'terminated');
      assert.equal(h.layer.dump().servers.length, 0);
    });
  }
});
