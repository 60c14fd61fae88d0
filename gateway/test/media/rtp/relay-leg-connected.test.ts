/**
 * A latched leg sends through a socket connected to its latched source, a sibling of its RTP
 * socket on the same port (SO_REUSEADDR): the kernel hands the source's packets to the connected
 * socket and everything else to the unconnected one, so foreign packets are still counted
 * (RFC 7362 §5.1) and the media goes back from the port it came to (RFC 4961 §3).
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { describe, test } from 'node:test';
import { RelayLeg, type RelayLegEvents } from '../../../src/media/rtp/relay-leg.ts';
import { writeRtpHeader } from '../../../src/media/rtp/rtp-packet.ts';
import { udpPeer, waitUntil, type UdpPeer } from '../udp-helpers.ts';

const events: RelayLegEvents = { latched: () => undefined };

function bind(shared: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', reuseAddr: shared });
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

function rtp(seq: number, ssrc = 0xa1a1a1a1): Buffer {
  const b = Buffer.alloc(172);
  writeRtpHeader(b, { marker: false, payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc });
  b.fill(seq & 0xff, 12);
  return b;
}

async function bridge(shared: boolean): Promise<{
  a: RelayLeg;
  b: RelayLeg;
  peerA: UdpPeer;
  peerB: UdpPeer;
  close(): Promise<void>;
}> {
  const [ra, rca, rb, rcb] = await Promise.all([bind(shared), bind(false), bind(shared), bind(false)]);
  const opts = { connectAfterLatch: true, rtcpIntervalMs: 60_000, cname: 'edgeline@test' };
  const a = new RelayLeg(1, ra.address().port, ra, rca, events, opts);
  const b = new RelayLeg(2, rb.address().port, rb, rcb, events, opts);
  a.peer = b;
  b.peer = a;
  const [peerA, peerB] = await Promise.all([udpPeer(), udpPeer()]);
  a.setRemote({ address: '127.0.0.1', port: peerA.port }, null);
  b.setRemote({ address: '127.0.0.1', port: peerB.port }, null);
  a.setCodecs(0, -1, -1, 'pcmu');
  b.setCodecs(0, -1, -1, 'pcmu');
  return {
    a,
    b,
    peerA,
    peerB,
    close: async () => {
      await Promise.all([a.close(), b.close(), peerA.close(), peerB.close()]);
    },
  };
}

describe('RelayLeg: connected sending after latching', () => {
  test('MUST send through a connected socket on the leg’s own port once latched, and keep relaying both ways', async () => {
    const br = await bridge(true);
    try {
      assert.equal(br.a.connectState, 'unconnected');
      await br.peerA.send(rtp(1), br.a.localPort);
      await br.peerB.send(rtp(1, 0xb2b2b2b2), br.b.localPort);
      assert.ok(
        await waitUntil(() => br.a.connectState === 'connected' && br.b.connectState === 'connected', 2000),
      );
      for (let i = 2; i <= 20; i++) {
        await br.peerA.send(rtp(i), br.a.localPort);
        await br.peerB.send(rtp(i, 0xb2b2b2b2), br.b.localPort);
      }
      assert.ok(
        await waitUntil(() => br.peerB.received.length === 20 && br.peerA.received.length === 20, 2000),
      );
      // RFC 4961 §3: symmetric RTP, sent from the port the leg receives on.
      assert.ok(br.peerB.received.every((r) => r.from.port === br.b.localPort));
      assert.ok(br.peerA.received.every((r) => r.from.port === br.a.localPort));
      assert.equal(br.a.rx, 20);
      assert.equal(br.b.tx, 20);
      assert.equal(br.a.dropped.foreignSource, 0);
    } finally {
      await br.close();
    }
  });

  test('MUST still receive and count every packet of a foreign source after the leg is connected (RFC 7362 §5.1)', async () => {
    const br = await bridge(true);
    const intruder = await udpPeer();
    try {
      await br.peerA.send(rtp(1), br.a.localPort);
      assert.ok(await waitUntil(() => br.a.connectState === 'connected', 2000));
      for (let i = 0; i < 15; i++) await intruder.send(rtp(100 + i, 0x66666666), br.a.localPort);
      await br.peerA.send(rtp(2), br.a.localPort);
      assert.ok(await waitUntil(() => br.a.dropped.foreignSource === 15 && br.a.rx === 2, 2000));
      assert.ok(await waitUntil(() => br.peerB.received.length === 2, 2000));
      assert.ok(
        br.peerB.received.every((r) => r.msg[12] !== 100 % 256),
        'nothing of the intruder relayed',
      );
    } finally {
      await intruder.close();
      await br.close();
    }
  });

  test('MUST keep sending unconnected when the port cannot be shared', async () => {
    const br = await bridge(false);
    try {
      await br.peerA.send(rtp(1), br.a.localPort);
      await br.peerB.send(rtp(1, 0xb2b2b2b2), br.b.localPort);
      assert.ok(await waitUntil(() => br.a.connectState === 'failed', 2000));
      await br.peerA.send(rtp(2), br.a.localPort);
      assert.ok(await waitUntil(() => br.peerB.received.length === 2, 2000));
      assert.equal(br.a.sendErrors, 0);
    } finally {
      await br.close();
    }
  });

  test('MUST count an ICMP port unreachable on the connected socket as a send error, not crash', async () => {
    const br = await bridge(true);
    try {
      await br.peerA.send(rtp(1), br.a.localPort);
      await br.peerB.send(rtp(1, 0xb2b2b2b2), br.b.localPort);
      assert.ok(await waitUntil(() => br.b.connectState === 'connected', 2000));
      // The callee's phone goes away: what the leg sends it bounces as ICMP port unreachable.
      await br.peerB.close();
      for (let i = 2; i <= 6; i++) {
        await br.peerA.send(rtp(i), br.a.localPort);
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(await waitUntil(() => br.b.sendErrors > 0, 2000), 'the refusal is counted');
    } finally {
      await Promise.all([br.a.close(), br.b.close(), br.peerA.close()]);
    }
  });
});
