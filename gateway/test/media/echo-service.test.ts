import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/log.ts';
import { EchoSession } from '../../src/media/echo-service.ts';
import { RtpPortPool } from '../../src/media/rtp-port-pool.ts';
import { RELATCH_AFTER_MS } from '../../src/media/rtp-stream.ts';
import type { MediaPlan } from '../../src/media/service-sdp.ts';
import { freeUdpRange, udpPeer, waitUntil } from './udp-helpers.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

async function setup(direction: MediaPlan['direction'] = 'sendrecv') {
  const lo = await freeUdpRange(2);
  const pool = new RtpPortPool({ host: '127.0.0.1', lo, hi: lo + 1, logger: silentLogger });
  const pair = await pool.allocate();
  assert.ok(pair.ok);
  const clock = new ManualClock();
  const plan: MediaPlan = {
    law: 'pcmu',
    audioPayloadType: 0,
    telephoneEventPayloadType: 101,
    remote: undefined,
    direction,
    ptimeMs: 20,
  };
  const session = new EchoSession(pair.value, plan, { clock, logger: silentLogger });
  return { pool, port: pair.value.rtpPort, rtcpPort: pair.value.rtcpPort, clock, session };
}

describe('echo session', () => {
  test('MUST send every packet back to its source with payload, PT, marker, sequence number and timestamp bit-exact and our own SSRC', async () => {
    const { pool, port, session } = await setup();
    const peer = await udpPeer();
    try {
      const sent = [
        hex('80 80 0001 00000a00 11223344'), // marker, empty payload
        Buffer.concat([
          hex('80 00 0002 00000aa0 11223344'),
          Buffer.from(Array.from({ length: 160 }, (_, i) => i)),
        ]),
        hex('80 65 0003 00000b40 11223344 05 0a 00a0'), // RFC 4733 event 5
        hex('90 00 0004 00000be0 11223344 bede 0001 01020304 ffff'), // with a header extension
        hex('81 00 0005 00000c80 11223344 99999999 7f7f'), // one CSRC
      ];
      for (const p of sent) await peer.send(p, port);
      assert.ok(
        await waitUntil(() => peer.received.length === sent.length, 2000),
        `got ${peer.received.length}`,
      );
      const ssrc = peer.received[0]?.msg.readUInt32BE(8);
      assert.notEqual(ssrc, 0x11223344);
      sent.forEach((p, i) => {
        const back = peer.received[i]?.msg;
        assert.ok(back);
        assert.equal(back.length, p.length);
        assert.deepEqual(back.subarray(0, 8), p.subarray(0, 8), `header of packet ${i}`);
        assert.equal(back.readUInt32BE(8), ssrc);
        assert.deepEqual(back.subarray(12), p.subarray(12), `payload of packet ${i}`);
        assert.equal(peer.received[i]?.from.port, port, 'sent from the port it receives on (RFC 4961)');
      });
      const d = session.dump() as { counters: { received: number; sent: number } };
      assert.equal(d.counters.received, 5);
      assert.equal(d.counters.sent, 5);
    } finally {
      session.close();
      await peer.close();
      pool.close();
    }
  });

  test('MUST drop and count what is not RTP, payload types not negotiated, and RTCP', async () => {
    const { pool, port, rtcpPort, session } = await setup();
    const peer = await udpPeer();
    try {
      await peer.send(Buffer.from('hello, not RTP'), port);
      await peer.send(hex('40 00 0001 00000000 00000001'), port); // version 1
      await peer.send(hex('80 00 00'), port); // truncated
      await peer.send(hex('80 12 0001 00000000 00000001 aabb'), port); // G.729 never negotiated
      await peer.send(hex('81 c9 0007 00000001'), rtcpPort);
      await peer.send(hex('80 00 0002 00000000 00000001 ff'), port);
      assert.ok(await waitUntil(() => peer.received.length === 1, 2000));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(peer.received.length, 1, 'only the PCMU packet came back');
      const d = session.dump() as { counters: Record<string, number> };
      assert.equal(d.counters.notRtp, 3);
      assert.equal(d.counters.unexpectedPayloadType, 1);
      assert.equal(d.counters.rtcpReceived, 1);
      assert.equal(d.counters.received, 1);
    } finally {
      session.close();
      await peer.close();
      pool.close();
    }
  });

  test(`MUST latch to the first source and ignore others until it has been silent for ${RELATCH_AFTER_MS} ms`, async () => {
    const { pool, port, clock, session } = await setup();
    const caller = await udpPeer();
    const intruder = await udpPeer();
    const pkt = hex('80 00 0001 00000000 00000001 ff');
    try {
      await caller.send(pkt, port);
      assert.ok(await waitUntil(() => caller.received.length === 1, 2000));
      await intruder.send(pkt, port);
      await caller.send(pkt, port);
      assert.ok(await waitUntil(() => caller.received.length === 2, 2000));
      assert.equal(intruder.received.length, 0);
      assert.equal((session.dump() as { counters: { foreignSource: number } }).counters.foreignSource, 1);
      clock.advance(RELATCH_AFTER_MS);
      await intruder.send(pkt, port);
      assert.ok(
        await waitUntil(() => intruder.received.length === 1, 2000),
        'a new source after silence is latched (NAT rebinding)',
      );
      assert.equal((session.dump() as { relatches: number }).relatches, 1);
    } finally {
      session.close();
      await caller.close();
      await intruder.close();
      pool.close();
    }
  });

  test('MUST not send when the offer was sendonly (answer recvonly, RFC 3264 §6.1)', async () => {
    const { pool, port, session } = await setup('recvonly');
    const peer = await udpPeer();
    try {
      await peer.send(hex('80 00 0001 00000000 00000001 ff'), port);
      assert.ok(
        await waitUntil(
          () => (session.dump() as { counters: { received: number } }).counters.received === 1,
          2000,
        ),
      );
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(peer.received.length, 0);
    } finally {
      session.close();
      await peer.close();
      pool.close();
    }
  });

  test('MUST pick a new SSRC when the caller uses ours (RFC 3550 §8.2)', async () => {
    const { pool, port, session } = await setup();
    const peer = await udpPeer();
    try {
      const ours = (session.dump() as { ssrc: number }).ssrc;
      const p = hex('80 00 0001 00000000 00000000 ff');
      p.writeUInt32BE(ours, 8);
      await peer.send(p, port);
      assert.ok(await waitUntil(() => peer.received.length === 1, 2000));
      assert.notEqual(peer.received[0]?.msg.readUInt32BE(8), ours);
    } finally {
      session.close();
      await peer.close();
      pool.close();
    }
  });
});
