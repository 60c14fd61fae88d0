/**
 * The media engine with real UDP sockets on 127.0.0.1: two RTP peers in this process play the
 * caller's and the callee's media while the engine anchors, latches, rewrites and transcodes.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../../src/core/log.ts';
import { MediaEngine } from '../../../src/media/engine/engine.ts';
import { alawToLinear, linearToUlaw } from '../../../../base/signal/g711.ts';
import { writeRtpHeader } from '../../../src/media/rtp/rtp-packet.ts';
import { audioStream } from '../../../src/media/sdp/sdp-anchor.ts';
import { parseSdp } from '../../../src/media/sdp/sdp.ts';
import { freeUdpRange, udpPeer, waitUntil, type UdpPeer } from '../udp-helpers.ts';

const PORTS = 8; // four RTP/RTCP pairs: two calls

function sdp(
  port: number,
  pts: Array<[number, string]>,
  opts: { dir?: string; host?: string; version?: number } = {},
): Buffer {
  const lines = [
    'v=0',
    `o=peer 4242 ${opts.version ?? 1} IN IP4 127.0.0.1`,
    's=-',
    `c=IN IP4 ${opts.host ?? '127.0.0.1'}`,
    't=0 0',
    `m=audio ${port} RTP/AVP ${pts.map(([pt]) => pt).join(' ')}`,
    ...pts.map(([pt, name]) => `a=rtpmap:${pt} ${name}`),
    `a=${opts.dir ?? 'sendrecv'}`,
  ];
  return Buffer.from(lines.join('\r\n') + '\r\n');
}

function anchoredPort(out: Buffer | { rejectStatus: number }): number {
  assert.ok(Buffer.isBuffer(out), `expected SDP, got ${JSON.stringify(out)}`);
  const p = parseSdp(out);
  assert.ok(p.ok);
  const s = audioStream(p.value);
  assert.ok(s?.remote);
  assert.equal(s.remote.address, '127.0.0.1');
  return s.remote.port;
}

function rtp(pt: number, seq: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  writeRtpHeader(b, {
    marker: false,
    payloadType: pt,
    sequenceNumber: seq,
    timestamp: seq * 160,
    ssrc: 0x1234,
  });
  b.set(payload, 12);
  return b;
}

/**
 * What a leg's peer receives is the gateway's own stream (RFC 3550 §7.1 translator with its own
 * SSRC): one SSRC throughout, and the sent packets' sequence and timestamp spacing preserved.
 */
function assertOwnStream(
  got: Buffer[],
  sent: Buffer[],
  check: { payload?: boolean; payloadType?: boolean } = {},
): void {
  assert.equal(got.length, sent.length);
  const ssrc = got[0]?.readUInt32BE(8);
  for (let i = 0; i < got.length; i++) {
    const g = got[i];
    const s = sent[i];
    assert.ok(g && s);
    assert.equal(g.readUInt32BE(8), ssrc, 'one SSRC on the leg');
    if (check.payload !== false) assert.deepEqual(g.subarray(12), s.subarray(12), 'payload bit-exact');
    if (check.payloadType !== false) assert.equal(g[1]! & 0x7f, s[1]! & 0x7f);
    const g0 = got[0]!;
    const s0 = sent[0]!;
    assert.equal(
      (g.readUInt16BE(2) - g0.readUInt16BE(2)) & 0xffff,
      (s.readUInt16BE(2) - s0.readUInt16BE(2)) & 0xffff,
    );
    assert.equal(
      (g.readUInt32BE(4) - g0.readUInt32BE(4)) >>> 0,
      (s.readUInt32BE(4) - s0.readUInt32BE(4)) >>> 0,
    );
  }
}

const ramp = (n: number, offset = 0): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i + offset) & 0xff);

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('media engine: anchoring and relay on real sockets', () => {
  let lo: number;
  let engine: MediaEngine;
  const dead: string[] = [];
  const policies = new Map<string, { a: string[]; b: string[] }>();
  const peers: UdpPeer[] = [];

  before(async () => {
    lo = await freeUdpRange(PORTS);
    engine = await MediaEngine.start({
      host: '127.0.0.1',
      rtpPorts: { lo, hi: lo + PORTS - 1 },
      codecs: ['PCMU', 'PCMA', 'telephone-event'],
      deadMediaTimeoutS: 0.3,
      sweepMs: 50,
      workers: 2,
      policy: (key, side) => policies.get(key)?.[side] ?? ['PCMU', 'PCMA', 'telephone-event'],
      onDeadMedia: (key) => dead.push(key),
      logger: silentLogger,
    });
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await engine.close();
  });

  async function bridged(key: string, offerPts: Array<[number, string]>, answerPts: Array<[number, string]>) {
    const a = await udpPeer();
    const b = await udpPeer();
    peers.push(a, b);
    const toB = engine.relay(key, 'a', sdp(a.port, offerPts));
    const bSide = anchoredPort(toB);
    const toA = engine.relay(key, 'b', sdp(b.port, answerPts));
    const aSide = anchoredPort(toA);
    assert.ok(await engine.opened(key));
    return { a, b, aSide, bSide, toA: toA as Buffer, toB: toB as Buffer };
  }

  test('MUST forward RTP payloads both ways bit-exact on the gateway’s own continuous stream when both legs negotiated the same law, from our own ports (RFC 4961)', async () => {
    const { a, b, aSide, bSide } = await bridged(
      'same',
      [
        [0, 'PCMU/8000'],
        [101, 'telephone-event/8000'],
      ],
      [
        [0, 'PCMU/8000'],
        [101, 'telephone-event/8000'],
      ],
    );
    assert.notEqual(aSide, bSide);
    const sentA = [1, 2, 3].map((i) => rtp(0, i, ramp(160, i)));
    const sentB = [1, 2, 3].map((i) => rtp(0, 100 + i, ramp(160, 7 * i)));
    for (const p of sentA) await a.send(p, aSide);
    for (const p of sentB) await b.send(p, bSide);
    assert.ok(await waitUntil(() => b.received.length === 3 && a.received.length === 3, 2000));
    assertOwnStream(
      b.received.map((r) => r.msg),
      sentA,
    );
    assertOwnStream(
      a.received.map((r) => r.msg),
      sentB,
    );
    // Symmetric RTP: each peer hears the gateway from the port it sends to.
    assert.equal(b.received[0]?.from.port, bSide);
    assert.equal(a.received[0]?.from.port, aSide);
    const d = await engine.refresh();
    const call = d.calls.find((c) => c.callKey === 'same');
    assert.deepEqual(call?.a.latched, { address: '127.0.0.1', port: a.port });
    assert.equal(call?.a.rx, 3);
    assert.equal(call?.b.tx, 3);
    assert.equal(call?.a.codec, 'PCMU');
  });

  test('MUST transcode µ-law ↔ A-law by the G.711 tables and rewrite the payload type when the legs chose different laws', async () => {
    policies.set('xcode', { a: ['PCMA', 'telephone-event'], b: ['PCMU', 'telephone-event'] });
    const { a, b, aSide, bSide, toB, toA } = await bridged('xcode', [[8, 'PCMA/8000']], [[0, 'PCMU/8000']]);
    assert.match(toB.toString(), /m=audio \d+ RTP\/AVP 0\r\n/);
    assert.match(toA.toString(), /m=audio \d+ RTP\/AVP 8\r\n/);
    const payload = Uint8Array.from({ length: 256 }, (_, i) => i);
    await a.send(rtp(8, 1, payload), aSide);
    assert.ok(await waitUntil(() => b.received.length === 1, 2000));
    const got = b.received[0]?.msg;
    assert.ok(got);
    assert.equal((got[1] ?? 0) & 0x7f, 0);
    assert.deepEqual(
      [...got.subarray(12)],
      [...payload].map((c) => linearToUlaw(alawToLinear(c))),
    );
    assertOwnStream([got], [rtp(8, 1, payload)], { payload: false, payloadType: false });
    await b.send(rtp(0, 1, payload), bSide);
    assert.ok(await waitUntil(() => a.received.length === 1, 2000));
    assert.equal((a.received[0]?.msg[1] ?? 0) & 0x7f, 8);
  });

  test('MUST drop and count packets from a foreign source after latching, and garbage, truncated, oversized and wrong-version RTP', async () => {
    const s = await engine.refresh();
    const call = s.calls.find((c) => c.callKey === 'same');
    assert.ok(call);
    const aSide = call.a.rtpPort;
    const intruder = await udpPeer();
    peers.push(intruder);
    const b = peers[1];
    assert.ok(b);
    const before = b.received.length;
    await intruder.send(rtp(0, 9, ramp(160)), aSide);
    const bad = [
      Buffer.from('hello'),
      Buffer.alloc(2000, 0x80),
      Buffer.from([0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from([0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
    ];
    for (const g of bad) await intruder.send(g, aSide);
    let d = await engine.refresh();
    assert.ok(
      await waitUntil(() => {
        void engine.refresh().then((x) => (d = x));
        const leg = d.calls.find((c) => c.callKey === 'same')?.a;
        return (leg?.dropped?.foreignSource ?? 0) >= 1 && (leg?.dropped?.truncated ?? 0) >= 2;
      }, 2000),
    );
    const leg = d.calls.find((c) => c.callKey === 'same')?.a;
    assert.equal(leg?.dropped?.foreignSource, 1);
    assert.equal(leg?.dropped?.oversized, 1);
    assert.equal(leg?.dropped?.notRtp, 1);
    assert.equal(leg?.dropped?.truncated, 2);
    assert.equal(b.received.length, before, 'nothing from the intruder reached the callee');
  });

  test('MUST keep the same ports across a hold and resume re-INVITE and not send to a peer holding with c=0.0.0.0', () => {
    const d0 = engine.dump().calls.find((c) => c.callKey === 'same');
    assert.ok(d0);
    const a = peers[0];
    assert.ok(a);
    const hold = engine.relay('same', 'a', sdp(a.port, [[0, 'PCMU/8000']], { dir: 'sendonly', version: 2 }));
    assert.ok(Buffer.isBuffer(hold));
    assert.equal(anchoredPort(hold), d0.b.rtpPort);
    assert.match(hold.toString(), /a=sendonly/);
    const ans = engine.relay(
      'same',
      'b',
      sdp(peers[1]?.port ?? 0, [[0, 'PCMU/8000']], { dir: 'recvonly', version: 2 }),
    );
    assert.equal(anchoredPort(ans), d0.a.rtpPort);
    const resume = engine.relay('same', 'a', sdp(a.port, [[0, 'PCMU/8000']], { version: 3 }));
    assert.equal(anchoredPort(resume), d0.b.rtpPort);
    const held = engine.relay(
      'same',
      'b',
      sdp(peers[1]?.port ?? 0, [[0, 'PCMU/8000']], { host: '0.0.0.0', version: 3 }),
    );
    assert.ok(Buffer.isBuffer(held));
    assert.match(held.toString(), /c=IN IP4 0\.0\.0\.0/);
  });

  test('MUST answer 488 to an offer with no common codec, without taking ports', () => {
    const free = engine.dump().ports.free;
    assert.deepEqual(engine.relay('g729', 'a', sdp(4000, [[18, 'G729/8000']])), { rejectStatus: 488 });
    assert.deepEqual(engine.relay('junk', 'a', Buffer.from('not sdp')), { rejectStatus: 488 });
    assert.equal(engine.dump().ports.free, free);
  });

  test('MUST answer 503 when the port range is exhausted', () => {
    assert.equal(engine.dump().ports.free, 0);
    assert.deepEqual(engine.relay('third', 'a', sdp(4000, [[0, 'PCMU/8000']])), { rejectStatus: 503 });
  });

  test('MUST report dead media when a leg that sent stops sending, but not while a side holds', async () => {
    assert.ok(await waitUntil(() => dead.includes('xcode'), 3000), `dead: ${dead.join()}`);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(dead, ['xcode'], 'the held call is not dead');
  });

  test('MUST return every port to the pool and close every socket when calls are released', async () => {
    engine.release('same');
    engine.release('xcode');
    engine.release('never-existed');
    assert.ok(await engine.settled());
    const d = engine.dump();
    assert.deepEqual(d.ports.inUse, []);
    assert.equal(d.ports.free, d.ports.capacity);
    assert.equal(d.ports.capacity, PORTS / 2);
    assert.deepEqual(
      d.workers.map((w) => w.legs),
      [0, 0],
    );
    for (let p = lo; p < lo + PORTS; p++) assert.ok(await portFree(p), `port ${p} still bound`);
    const stats = await engine.refresh();
    assert.equal(stats.calls.length, 0);
  });
});
