/**
 * Two RelayLegs bridged in this process on real loopback sockets, with UDP peers playing the
 * phones: SRTP terminated per leg (RFC 3711), RTCP terminated per leg (RFC 3550 §6), the
 * gateway's own continuous stream across source changes, dead media counted from answer.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, describe, test } from 'node:test';
import { parseRtcp } from '../../../src/media/rtp/rtcp.ts';
import { RelayLeg, type RelayLegEvents } from '../../../src/media/rtp/relay-leg.ts';
import { writeRtpHeader } from '../../../src/media/rtp/rtp-packet.ts';
import { generateKeySalt, splitKeySalt } from '../../../src/media/srtp/sdes.ts';
import { SrtpContext } from '../../../src/media/srtp/srtp.ts';
import type { LegSrtpKeys } from '../../../src/media/worker/worker-protocol.ts';
import { udpPeer, waitUntil, type UdpPeer } from '../udp-helpers.ts';

const SUITE = 'AES_CM_128_HMAC_SHA1_80' as const;
const events: RelayLegEvents = { latched: () => undefined };

function bind(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

function rtp(seq: number, opts: { ssrc?: number; ts?: number; pt?: number; fill?: number } = {}): Buffer {
  const b = Buffer.alloc(12 + 160 + 16);
  writeRtpHeader(b, {
    marker: false,
    payloadType: opts.pt ?? 0,
    sequenceNumber: seq & 0xffff,
    timestamp: (opts.ts ?? seq * 160) >>> 0,
    ssrc: opts.ssrc ?? 0xa1a1a1a1,
  });
  b.fill(opts.fill ?? seq & 0xff, 12, 172);
  return b.subarray(0, 172);
}

const ctx = (keySalt: Buffer): SrtpContext => {
  const k = splitKeySalt(SUITE, keySalt);
  return new SrtpContext(SUITE, k.masterKey, k.masterSalt);
};

/** A protected copy of `packet` (the context keeps its ROC state, as a phone's would). */
function protect(c: SrtpContext, packet: Buffer): Buffer {
  const b = Buffer.alloc(packet.length + 16);
  packet.copy(b);
  return b.subarray(0, c.protect(b, packet.length));
}

interface Bridge {
  a: RelayLeg;
  b: RelayLeg;
  peerA: UdpPeer;
  peerB: UdpPeer;
  rtcpA: UdpPeer;
  rtcpB: UdpPeer;
  /** Leg A's RTCP port (the sockets of this test are bound apart, not as a pair). */
  rtcpPortA: number;
  close(): Promise<void>;
}

async function bridge(opts: { rtcpIntervalMs?: number } = {}): Promise<Bridge> {
  const [ra, rca, rb, rcb] = await Promise.all([bind(), bind(), bind(), bind()]);
  const legOpts = { rtcpIntervalMs: opts.rtcpIntervalMs ?? 60_000, cname: 'edgeline@test' };
  const a = new RelayLeg(1, ra.address().port, ra, rca, events, legOpts);
  const b = new RelayLeg(2, rb.address().port, rb, rcb, events, legOpts);
  a.peer = b;
  b.peer = a;
  const [peerA, peerB, rtcpA, rtcpB] = await Promise.all([udpPeer(), udpPeer(), udpPeer(), udpPeer()]);
  a.setRemote({ address: '127.0.0.1', port: peerA.port }, { address: '127.0.0.1', port: rtcpA.port });
  b.setRemote({ address: '127.0.0.1', port: peerB.port }, { address: '127.0.0.1', port: rtcpB.port });
  a.setCodecs(0, -1, -1, 'pcmu');
  b.setCodecs(0, -1, -1, 'pcmu');
  return {
    a,
    b,
    peerA,
    peerB,
    rtcpA,
    rtcpB,
    rtcpPortA: rca.address().port,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([peerA, peerB, rtcpA, rtcpB].map((p) => p.close()));
    },
  };
}

const open: Bridge[] = [];
after(async () => {
  await Promise.all(open.map((b) => b.close()));
});

describe('RelayLeg: SRTP terminated per leg (RFC 3711) on real sockets', () => {
  const phoneKey = generateKeySalt(SUITE);
  const gatewayKeyA = generateKeySalt(SUITE);
  const keysA: LegSrtpKeys = {
    suite: SUITE,
    localKey: gatewayKeyA.toString('base64'),
    remoteKey: phoneKey.toString('base64'),
  };

  test('MUST unprotect SRTP from an SRTP leg and forward plain RTP on a plain leg, and protect the way back with our own key', async () => {
    const br = await bridge();
    open.push(br);
    br.a.setSrtp(keysA);
    const phone = ctx(phoneKey);
    const sent = [1, 2, 3].map((i) => rtp(i));
    for (const p of sent) await br.peerA.send(protect(phone, p), br.a.localPort);
    assert.ok(await waitUntil(() => br.peerB.received.length === 3, 2000));
    for (let i = 0; i < 3; i++)
      assert.deepEqual(
        br.peerB.received[i]?.msg.subarray(12),
        sent[i]?.subarray(12),
        'plain payload on leg B',
      );
    // Back: plain from B, SRTP to A under the gateway's key (the phone's key does not open it).
    await br.peerB.send(rtp(50, { ssrc: 0xb2b2b2b2, fill: 0x55 }), br.b.localPort);
    assert.ok(await waitUntil(() => br.peerA.received.length === 1, 2000));
    const got = Buffer.from(br.peerA.received[0]!.msg);
    assert.equal(got.length, 172 + 10, 'an 80-bit tag was appended');
    assert.equal(ctx(phoneKey).unprotect(Buffer.from(got), got.length).ok, false);
    const r = ctx(gatewayKeyA).unprotect(got, got.length);
    assert.ok(r.ok);
    assert.deepEqual(got.subarray(12, r.value), Buffer.alloc(160, 0x55));
    const s = br.a.stats();
    assert.equal(s.srtp?.suite, SUITE);
    assert.equal(s.srtp?.unprotected, 3);
    assert.equal(s.srtp?.protected, 1);
    assert.equal(br.b.stats().srtp, null);
  });

  test('MUST carry audio when both legs are SRTP with different keys', async () => {
    const br = await bridge();
    open.push(br);
    const phoneKeyB = generateKeySalt(SUITE);
    const gatewayKeyB = generateKeySalt(SUITE);
    br.a.setSrtp(keysA);
    br.b.setSrtp({
      suite: SUITE,
      localKey: gatewayKeyB.toString('base64'),
      remoteKey: phoneKeyB.toString('base64'),
    });
    await br.peerA.send(protect(ctx(phoneKey), rtp(7, { fill: 0x11 })), br.a.localPort);
    assert.ok(await waitUntil(() => br.peerB.received.length === 1, 2000));
    const got = Buffer.from(br.peerB.received[0]!.msg);
    const r = ctx(gatewayKeyB).unprotect(got, got.length);
    assert.ok(r.ok, 'leg B hears the gateway under the key announced on leg B');
    assert.deepEqual(got.subarray(12, r.value), Buffer.alloc(160, 0x11));
  });

  const refusals: Array<{ rule: string; reason: 'auth' | 'replay'; play: (br: Bridge) => Promise<void> }> = [
    {
      rule: 'MUST drop and count SRTP under a wrong key (authentication failure, RFC 3711 §3.3 step 5)',
      reason: 'auth',
      play: async (br) => {
        const wrong = ctx(generateKeySalt(SUITE));
        for (let i = 1; i <= 4; i++) await br.peerA.send(protect(wrong, rtp(i)), br.a.localPort);
      },
    },
    {
      rule: 'MUST drop and count a replayed SRTP packet (RFC 3711 §3.3.2)',
      reason: 'replay',
      play: async (br) => {
        const phone = ctx(phoneKey);
        const first = protect(phone, rtp(1));
        await br.peerA.send(first, br.a.localPort);
        await br.peerA.send(protect(phone, rtp(2)), br.a.localPort);
        assert.ok(await waitUntil(() => br.peerB.received.length === 2, 2000));
        await br.peerA.send(first, br.a.localPort);
        await br.peerA.send(first, br.a.localPort);
      },
    },
  ];
  for (const row of refusals) {
    test(row.rule, async () => {
      const br = await bridge();
      open.push(br);
      br.a.setSrtp(keysA);
      const forwardedBefore = () => br.peerB.received.length;
      await row.play(br);
      const expected = row.reason === 'auth' ? 4 : 2;
      assert.ok(await waitUntil(() => br.a.stats().srtp?.dropped[row.reason] === expected, 2000));
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(forwardedBefore(), row.reason === 'auth' ? 0 : 2, 'refused packets are not forwarded');
      // A packet that fails authentication never latches the leg (no hijack by forgery).
      if (row.reason === 'auth') assert.equal(br.a.stats().latched, null);
      else assert.notEqual(br.a.stats().latched, null);
    });
  }

  test('MUST keep crypto state when the same keys are set again (a repeated answer), and change keys on a new one', async () => {
    const br = await bridge();
    open.push(br);
    br.a.setSrtp(keysA);
    const phone = ctx(phoneKey);
    const first = protect(phone, rtp(1));
    await br.peerA.send(first, br.a.localPort);
    assert.ok(await waitUntil(() => br.peerB.received.length === 1, 2000));
    br.a.setSrtp({ ...keysA });
    await br.peerA.send(first, br.a.localPort);
    assert.ok(await waitUntil(() => br.a.stats().srtp?.dropped.replay === 1, 2000), 'replay window kept');
    const newPhoneKey = generateKeySalt(SUITE);
    br.a.setSrtp({ ...keysA, remoteKey: newPhoneKey.toString('base64') });
    await br.peerA.send(protect(ctx(newPhoneKey), rtp(2)), br.a.localPort);
    assert.ok(await waitUntil(() => br.peerB.received.length === 2, 2000));
    assert.equal(br.a.stats().srtp?.dropped.replay, 1, 'drop counts survive a re-key');
  });
});

describe('RelayLeg: the gateway’s own stream and RTCP per leg', () => {
  test('MUST send one SSRC with continuous sequence numbers and timestamps across a source change, marking the change (RFC 3550 §8.2, RFC 3551 §4.1)', async () => {
    const br = await bridge();
    open.push(br);
    for (let i = 0; i < 3; i++) await br.peerA.send(rtp(100 + i, { ssrc: 0x1111 }), br.a.localPort);
    // A re-INVITE brought another device: new SSRC, unrelated sequence and timestamp.
    for (let i = 0; i < 3; i++)
      await br.peerA.send(rtp(40000 + i, { ssrc: 0x2222, ts: 9_000_000 + i * 160 }), br.a.localPort);
    assert.ok(await waitUntil(() => br.peerB.received.length === 6, 2000));
    const got = br.peerB.received.map((r) => r.msg);
    const ssrc = got[0]!.readUInt32BE(8);
    assert.notEqual(ssrc, 0x1111);
    for (let i = 1; i < 6; i++) {
      assert.equal(got[i]!.readUInt32BE(8), ssrc, 'one SSRC');
      assert.equal((got[i]!.readUInt16BE(2) - got[i - 1]!.readUInt16BE(2)) & 0xffff, 1, 'sequence continues');
      const dts = (got[i]!.readUInt32BE(4) - got[i - 1]!.readUInt32BE(4)) >>> 0;
      assert.ok(dts >= 160 && dts < 8000 * 2, `timestamp advances by elapsed time, got ${dts}`);
    }
    assert.equal(got[3]![1]! & 0x80, 0x80, 'marker on the first packet of the new source');
    assert.equal(got[4]![1]! & 0x80, 0);
    assert.equal(br.b.stats().outStream.sourceChanges, 1);
  });

  test('MUST send its own RTCP SR/RR on each leg, consume the peer’s, and report jitter, loss, RTT and MOS (RFC 3550 §6.4, G.107)', async () => {
    const br = await bridge({ rtcpIntervalMs: 200 });
    open.push(br);
    // 20 packets from A with seq 5 missing: one lost of 20 expected.
    for (let i = 1; i <= 20; i++) if (i !== 5) await br.peerA.send(rtp(i), br.a.localPort);
    assert.ok(await waitUntil(() => br.rtcpA.received.length >= 1 && br.rtcpB.received.length >= 1, 3000));
    // Leg B's peer gets an SR about the gateway's stream (we sent it RTP).
    const onB = parseRtcp(br.rtcpB.received.at(-1)!.msg);
    assert.ok(onB.ok);
    const sr = onB.value.find((p) => p.type === 'sr');
    assert.ok(sr && sr.type === 'sr', 'SR on the leg we send RTP to');
    assert.equal(sr.ssrc, br.b.stats().outStream.ssrc);
    // Leg A's peer gets an RR with a block about its stream.
    const onA = parseRtcp(br.rtcpA.received.at(-1)!.msg);
    assert.ok(onA.ok);
    const rr = onA.value.find((p) => p.type === 'rr' || p.type === 'sr');
    assert.ok(rr && (rr.type === 'rr' || rr.type === 'sr'));
    assert.equal(rr.reports[0]?.ssrc, 0xa1a1a1a1);
    // RTCP from the peer is consumed, not relayed: RTCP port of B hears only the gateway's reports.
    const before = br.rtcpB.received.length;
    const peerRr = Buffer.from([0x80, 201, 0, 1, 0xa1, 0xa1, 0xa1, 0xa1]);
    await br.rtcpA.send(peerRr, br.rtcpPortA);
    assert.ok(await waitUntil(() => br.a.stats().rtcpRx === 1, 2000));
    const fromGateway = br.rtcpB.received.slice(before).every((r) => {
      const p = parseRtcp(r.msg);
      return p.ok && p.value[0]?.type === 'sr';
    });
    assert.ok(fromGateway);
    const q = br.a.stats().quality;
    assert.equal(q.expected, 19, 'RFC 3550 A.1: the first packet is on probation, not counted');
    assert.equal(q.lost, 1);
    assert.ok(q.lossPercent > 5 && q.lossPercent < 6, `loss ${q.lossPercent}`);
    assert.ok(q.mos > 1 && q.mos < 4.4, `MOS reflects the loss, got ${q.mos}`);
    assert.ok(q.reportsSent >= 1);
    assert.equal(q.reportsReceived, 1);
    const clean = br.b.stats().quality;
    assert.equal(clean.received, 0, 'leg B received nothing');
  });

  test('MUST report a leg dead from answer even when its peer never sent (watch from answer)', async () => {
    const br = await bridge();
    open.push(br);
    br.a.deadMediaMs = 300;
    assert.equal(br.a.sweep(400), false, 'before answer a silent leg may still be ringing');
    br.a.watchFromAnswer = true;
    assert.equal(br.a.sweep(200), false);
    assert.equal(br.a.sweep(200), true);
    assert.equal(br.a.sweep(200), false, 'reported once');
  });
});
