import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { silentLogger } from '../../src/core/log.ts';
import { RtpPortPool, type RtpPortPair } from '../../src/media/rtp-port-pool.ts';
import { freeUdpRange, udpPeer } from './udp-helpers.ts';

describe('RTP port pool', () => {
  test('MUST hand out even RTP ports with RTCP on the odd port above (RFC 3550 §11), bound on the host', async () => {
    const lo = await freeUdpRange(6);
    const pool = new RtpPortPool({ host: '127.0.0.1', lo, hi: lo + 5, logger: silentLogger });
    try {
      assert.equal(pool.capacity, 3);
      const pairs: RtpPortPair[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await pool.allocate();
        assert.ok(r.ok);
        pairs.push(r.value);
      }
      for (const p of pairs) {
        assert.equal(p.rtpPort % 2, 0);
        assert.equal(p.rtcpPort, p.rtpPort + 1);
        assert.deepEqual(p.rtp.address(), { address: '127.0.0.1', family: 'IPv4', port: p.rtpPort });
        assert.equal(p.rtcp.address().port, p.rtcpPort);
      }
      assert.deepEqual(pairs.map((p) => p.rtpPort).sort(), [lo, lo + 2, lo + 4]);
    } finally {
      pool.close();
    }
  });

  test('MUST fail with EDGE_ERR_MEDIA_PORTS_EXHAUSTED when every pair is taken, and succeed again after a release', async () => {
    const lo = await freeUdpRange(4);
    const pool = new RtpPortPool({ host: '127.0.0.1', lo, hi: lo + 3, logger: silentLogger });
    try {
      const a = await pool.allocate();
      const b = await pool.allocate();
      assert.ok(a.ok && b.ok);
      const c = await pool.allocate();
      assert.equal(c.ok, false);
      if (!c.ok) assert.equal(c.error.code, 'EDGE_ERR_MEDIA_PORTS_EXHAUSTED');
      a.value.release();
      a.value.release(); // twice is harmless
      assert.equal(pool.dump().free, 1);
      const d = await pool.allocate();
      assert.ok(d.ok);
      assert.equal(d.value.rtpPort, a.value.rtpPort);
      assert.deepEqual(pool.dump().inUse, [lo, lo + 2]);
    } finally {
      pool.close();
    }
    assert.deepEqual(pool.dump().inUse, []);
    const after = await pool.allocate();
    assert.equal(after.ok, false, 'a closed pool allocates nothing');
  });

  test('MUST skip a pair whose RTP or RTCP port another socket holds, and keep it for later', async () => {
    const lo = await freeUdpRange(6);
    const squatterRtp = await udpPeer(lo);
    const squatterRtcp = await udpPeer(lo + 3);
    let rtpClosed = false;
    const pool = new RtpPortPool({ host: '127.0.0.1', lo, hi: lo + 5, logger: silentLogger });
    try {
      const a = await pool.allocate();
      assert.ok(a.ok);
      assert.equal(a.value.rtpPort, lo + 4);
      assert.equal(pool.dump().bindFailures, 2);
      const none = await pool.allocate();
      assert.equal(none.ok, false);
      await squatterRtp.close();
      rtpClosed = true;
      const b = await pool.allocate();
      assert.ok(b.ok);
      assert.equal(b.value.rtpPort, lo);
    } finally {
      pool.close();
      await squatterRtcp.close();
      if (!rtpClosed) await squatterRtp.close();
    }
  });

  test('released sockets are closed: the port can be bound by someone else', async () => {
    const lo = await freeUdpRange(2);
    const pool = new RtpPortPool({ host: '127.0.0.1', lo, hi: lo + 1, logger: silentLogger });
    const a = await pool.allocate();
    assert.ok(a.ok);
    a.value.release();
    await new Promise((r) => setTimeout(r, 10));
    const other = await udpPeer(lo);
    assert.equal(other.port, lo);
    await other.close();
    pool.close();
  });
});
