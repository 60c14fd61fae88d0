import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { harness, recordingUser, request, responseTo, sentRequests, tcpPeer, udpPeer } from './fixtures.ts';

function startOptions(h: ReturnType<typeof harness>, dest = udpPeer) {
  const rec = recordingUser();
  const req = request({ method: 'OPTIONS', transport: dest.transport === 'udp' ? 'UDP' : 'TCP' });
  const tx = h.layer.sendRequest(req, dest, rec.user);
  return { tx, req, ...rec };
}

void describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  void test('non-INVITE E timer doubles from T1 and caps at T2 in Trying', () => {
    const h = harness();
    startOptions(h);
    h.clock.advance(32_000);
    // Intervals 500, 1000, 2000, 4000, 4000, ... (T2 = 4 s); Timer F at 64·T1 = 32 s.
    assert.deepEqual(
      sentRequests(h.sent, 'OPTIONS').map((s) => s.atMs),
      [0, 500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500],
    );
  });

  void test('Timer E is reset to T2 once a provisional arrived (Proceeding)', () => {
    const h = harness();
    const { tx, req, events } = startOptions(h);
    h.clock.advance(600); // sent at 0 and 500; next E due at 1500
    h.layer.receive(responseTo(req, 100), udpPeer);
    assert.equal(tx.state, 'proceeding');
    assert.deepEqual(events, ['100']);
    h.clock.advance(10_000);
    assert.deepEqual(
      sentRequests(h.sent, 'OPTIONS').map((s) => s.atMs),
      [0, 500, 1500, 5500, 9500],
    );
    h.layer.close();
  });

  void test('MUST NOT retransmit on TCP (Timer E is not started)', () => {
    const h = harness();
    startOptions(h, tcpPeer);
    assert.deepEqual(h.clock.armed(), ['F']);
    h.clock.advance(31_999);
    assert.equal(sentRequests(h.sent, 'OPTIONS').length, 1);
    h.layer.close();
  });

  for (const dest of [udpPeer, tcpPeer]) {
    void test(`Timer F fires after 64·T1 and tells the TU (${dest.transport})`, () => {
      const h = harness();
      const { tx, req, events } = startOptions(h, dest);
      h.layer.receive(responseTo(req, 100), dest);
      h.clock.advance(31_999);
      assert.deepEqual(events, ['100']);
      h.clock.advance(1);
      assert.deepEqual(events, ['100', 'timeout']);
      assert.equal(tx.state, 'terminated');
      assert.equal(h.metrics.counter('edgeline_sip_transaction_timeouts_total', '').get({ timer: 'F' }), 1);
      assert.deepEqual(h.clock.armed(), []);
    });
  }

  const timerK = [
    { dest: udpPeer, kMs: 5000 },
    { dest: tcpPeer, kMs: 0 },
  ];
  for (const { dest, kMs } of timerK) {
    void test(`Timer K is ${kMs} ms on ${dest.transport}; responses in Completed are absorbed`, () => {
      const h = harness();
      const { tx, req, events } = startOptions(h, dest);
      h.layer.receive(responseTo(req, 200), dest);
      assert.deepEqual(events, ['200']);
      if (kMs === 0) {
        assert.equal(tx.state, 'terminated');
        return;
      }
      assert.equal(tx.state, 'completed');
      assert.deepEqual(h.clock.armed(), ['K']);
      h.layer.receive(responseTo(req, 200), dest);
      assert.deepEqual(events, ['200'], 'retransmitted final response not passed up');
      h.clock.advance(kMs - 1);
      assert.equal(tx.state, 'completed');
      h.clock.advance(1);
      assert.equal(tx.state, 'terminated');
      assert.equal(h.layer.dump().clients.length, 0);
    });
  }

  void test('T4 is configurable (Timer K)', () => {
    const h = harness({ timersMs: { T4: 2500 } });
    const { tx, req } = startOptions(h);
    h.layer.receive(responseTo(req, 404), udpPeer);
    h.clock.advance(2499);
    assert.equal(tx.state, 'completed');
    h.clock.advance(1);
    assert.equal(tx.state, 'terminated');
  });
});
