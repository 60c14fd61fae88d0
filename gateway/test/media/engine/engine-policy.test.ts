/**
 * Per-endpoint media policy through the engine: codecs, SRTP (SDES answer per leg, RFC 4568),
 * direct media; SRTP terminated in the relay workers with real sockets; dead media from answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MediaParty } from '../../../src/call/ports.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { MetricsRegistry } from '../../../src/core/metrics.ts';
import { MediaEngine } from '../../../src/media/engine/engine.ts';
import { writeRtpHeader } from '../../../src/media/rtp/rtp-packet.ts';
import type { EndpointMediaPolicy } from '../../../src/media/sdp/sdp-anchor.ts';
import { audioStream } from '../../../src/media/sdp/sdp-anchor.ts';
import { generateKeySalt, parseCrypto, splitKeySalt } from '../../../src/media/srtp/sdes.ts';
import { SrtpContext } from '../../../src/media/srtp/srtp.ts';
import { parseSdp } from '../../../src/media/sdp/sdp.ts';
import { freeUdpRange, udpPeer, waitUntil, type UdpPeer } from '../udp-helpers.ts';

const SUITE = 'AES_CM_128_HMAC_SHA1_80' as const;
const PORTS = 24;

function sdp(
  port: number,
  opts: { proto?: string; crypto?: string[]; codecs?: Array<[number, string]>; version?: number } = {},
): Buffer {
  const codecs = opts.codecs ?? [
    [0, 'PCMU/8000'],
    [8, 'PCMA/8000'],
  ];
  const lines = [
    'v=0',
    `o=peer 77 ${opts.version ?? 1} IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} ${opts.proto ?? 'RTP/AVP'} ${codecs.map(([pt]) => pt).join(' ')}`,
    ...codecs.map(([pt, n]) => `a=rtpmap:${pt} ${n}`),
    ...(opts.crypto ?? []).map((c) => `a=crypto:${c}`),
    'a=sendrecv',
  ];
  return Buffer.from(lines.join('\r\n') + '\r\n');
}

function streamOf(out: Buffer | { rejectStatus: number }) {
  assert.ok(Buffer.isBuffer(out), `expected SDP, got ${JSON.stringify(out)}`);
  const p = parseSdp(out);
  assert.ok(p.ok);
  const s = audioStream(p.value);
  assert.ok(s?.remote);
  return s;
}

const inline = (key: Buffer, tag = 1): string => `${tag} ${SUITE} inline:${key.toString('base64')}`;

function rtp(seq: number, fill: number): Buffer {
  const b = Buffer.alloc(172);
  writeRtpHeader(b, {
    marker: false,
    payloadType: 0,
    sequenceNumber: seq,
    timestamp: seq * 160,
    ssrc: 0x5151,
  });
  b.fill(fill, 12);
  return b;
}

function srtpCtx(key: Buffer): SrtpContext {
  const k = splitKeySalt(SUITE, key);
  return new SrtpContext(SUITE, k.masterKey, k.masterSalt);
}

function protect(c: SrtpContext, p: Buffer): Buffer {
  const b = Buffer.alloc(p.length + 10);
  p.copy(b);
  return b.subarray(0, c.protect(b, p.length));
}

describe('media engine: per-endpoint policy, SRTP per leg, dead media from answer', () => {
  let engine: MediaEngine;
  const metrics = new MetricsRegistry();
  const endpoints = new Map<string, Partial<EndpointMediaPolicy>>();
  const dead: string[] = [];
  const peers: UdpPeer[] = [];
  let n = 0;

  before(async () => {
    const lo = await freeUdpRange(PORTS);
    engine = await MediaEngine.start({
      host: '127.0.0.1',
      rtpPorts: { lo, hi: lo + PORTS - 1 },
      codecs: ['PCMU', 'PCMA', 'telephone-event'],
      deadMediaTimeoutS: 1,
      sweepMs: 100,
      workers: 1,
      endpointPolicy: (p: MediaParty) => endpoints.get(`${p.kind}:${p.id}`),
      onDeadMedia: (key) => dead.push(key),
      metrics,
      logger: silentLogger,
    });
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await engine.close();
  });

  /** A new call between extension `a` and trunk `b` with the given policies. */
  function call(a: Partial<EndpointMediaPolicy>, b: Partial<EndpointMediaPolicy>): string {
    const key = `call-${++n}`;
    endpoints.set(`extension:a${n}`, a);
    endpoints.set(`trunk:b${n}`, b);
    engine.describe(key, 'a', { kind: 'extension', id: `a${n}` });
    engine.describe(key, 'b', { kind: 'trunk', id: `b${n}` });
    return key;
  }

  const phoneKey = generateKeySalt(SUITE);

  interface Row {
    rule: string;
    a: Partial<EndpointMediaPolicy>;
    b: Partial<EndpointMediaPolicy>;
    offer: { proto?: string; crypto?: string[] };
    /** Expected on the far leg: status, or protocol and whether it carries our a=crypto. */
    toB: number | { proto: string; crypto: boolean; codecs?: string[] };
    answer?: { proto?: string; crypto?: string[] };
    toA?: number | { proto: string; crypto: boolean };
  }
  const rows: Row[] = [
    {
      rule: 'optional (default): an RTP/SAVP offer with a=crypto is answered with our own key; the far leg is offered RTP/AVP',
      a: {},
      b: {},
      offer: { proto: 'RTP/SAVP', crypto: [inline(phoneKey)] },
      toB: { proto: 'RTP/AVP', crypto: false },
      answer: {},
      toA: { proto: 'RTP/SAVP', crypto: true },
    },
    {
      rule: 'optional: best-effort SRTP (RTP/AVP with a=crypto) is answered with a=crypto on RTP/AVP',
      a: { srtp: 'optional' },
      b: {},
      offer: { crypto: [inline(phoneKey)] },
      toB: { proto: 'RTP/AVP', crypto: false },
      answer: {},
      toA: { proto: 'RTP/AVP', crypto: true },
    },
    {
      rule: 'off: best-effort crypto is ignored and answered plain',
      a: { srtp: 'off' },
      b: {},
      offer: { crypto: [inline(phoneKey)] },
      toB: { proto: 'RTP/AVP', crypto: false },
      answer: {},
      toA: { proto: 'RTP/AVP', crypto: false },
    },
    {
      rule: 'off: an RTP/SAVP offer gets 488',
      a: { srtp: 'off' },
      b: {},
      offer: { proto: 'RTP/SAVP', crypto: [inline(phoneKey)] },
      toB: 488,
    },
    { rule: 'required: a plain offer gets 488', a: { srtp: 'required' }, b: {}, offer: {}, toB: 488 },
    {
      rule: 'required: an offer with only unknown suites gets 488',
      a: { srtp: 'required' },
      b: {},
      offer: { proto: 'RTP/SAVP', crypto: [`1 F8_128_HMAC_SHA1_80 inline:${phoneKey.toString('base64')}`] },
      toB: 488,
    },
    {
      rule: 'required on the far endpoint: it is offered RTP/SAVP with our key, its answer key is taken',
      a: {},
      b: { srtp: 'required' },
      offer: {},
      toB: { proto: 'RTP/SAVP', crypto: true },
      answer: { proto: 'RTP/SAVP', crypto: [inline(generateKeySalt(SUITE))] },
      toA: { proto: 'RTP/AVP', crypto: false },
    },
    {
      rule: 'required on the far endpoint: an answer without a=crypto gets 488',
      a: {},
      b: { srtp: 'required' },
      offer: {},
      toB: { proto: 'RTP/SAVP', crypto: true },
      answer: { proto: 'RTP/SAVP' },
      toA: 488,
    },
    {
      rule: 'codecs: the far endpoint is offered only what its own list allows',
      a: {},
      b: { codecs: ['PCMA'] },
      offer: {},
      toB: { proto: 'RTP/AVP', crypto: false, codecs: ['PCMA'] },
    },
  ];

  for (const row of rows) {
    test(`policy: ${row.rule}`, () => {
      const key = call(row.a, row.b);
      const toB = engine.relay(key, 'a', sdp(40000, row.offer));
      if (typeof row.toB === 'number') {
        assert.deepEqual(toB, { rejectStatus: row.toB });
        assert.equal(
          engine.dump().calls.find((c) => c.callKey === key),
          undefined,
          'no ports taken',
        );
        return;
      }
      const sB = streamOf(toB);
      assert.equal(sB.proto, row.toB.proto);
      assert.equal(sB.crypto.length > 0, row.toB.crypto);
      assert.ok(
        !sB.crypto.some((c) => c.includes(phoneKey.toString('base64'))),
        'the caller’s key never crosses',
      );
      if (row.toB.codecs)
        assert.deepEqual(
          sB.codecs.map((c) => c.name),
          row.toB.codecs,
        );
      if (!row.answer || row.toA === undefined) return engine.release(key);
      const toA = engine.relay(key, 'b', sdp(40002, row.answer));
      if (typeof row.toA === 'number') {
        assert.deepEqual(toA, { rejectStatus: row.toA });
        return engine.release(key);
      }
      const sA = streamOf(toA);
      assert.equal(sA.proto, row.toA.proto);
      assert.equal(sA.crypto.length > 0, row.toA.crypto);
      if (row.toA.crypto) {
        const ours = parseCrypto(sA.crypto[0] ?? '');
        assert.ok(ours.ok);
        assert.equal(ours.value.tag, 1, 'RFC 4568 §7.1.2: the answer keeps the chosen tag');
        assert.equal(ours.value.suite, SUITE);
        assert.notDeepEqual(ours.value.keys[0]?.keySalt, phoneKey, 'our own key, not an echo');
      }
      engine.release(key);
    });
  }

  test('policy: direct media when both endpoints allow it — SDP crosses unchanged both ways, no ports', () => {
    const key = call({ directMedia: true }, { directMedia: true });
    const free = engine.dump().ports.free;
    const offer = sdp(40000);
    const answer = sdp(40002);
    assert.equal(engine.relay(key, 'a', offer), offer);
    assert.equal(engine.relay(key, 'b', answer), answer);
    assert.equal(engine.dump().ports.free, free);
    assert.ok(engine.dump().direct.includes(key));
    engine.release(key);
    const one = call({ directMedia: true }, {});
    assert.notEqual(engine.relay(one, 'a', offer), offer, 'one side not allowing it anchors');
    engine.release(one);
  });

  test('SRTP caller ↔ plain callee through the workers: audio both ways, the legs use different keys, a wrong key is dropped and counted (dump and /metrics)', async () => {
    assert.ok(await engine.settled(), 'ports of the policy calls are back');
    const key = call({}, {});
    const a = await udpPeer();
    const b = await udpPeer();
    peers.push(a, b);
    const toB = streamOf(
      engine.relay(key, 'a', sdp(a.port, { proto: 'RTP/SAVP', crypto: [inline(phoneKey)] })),
    );
    const toA = streamOf(engine.relay(key, 'b', sdp(b.port)));
    assert.ok(await engine.opened(key));
    const gwKey = parseCrypto(toA.crypto[0] ?? '');
    assert.ok(gwKey.ok);
    const gatewayKey = gwKey.value.keys[0]!.keySalt;
    const phone = srtpCtx(phoneKey);
    for (let i = 1; i <= 3; i++) await a.send(protect(phone, rtp(i, 0x33)), toA.remote!.port);
    assert.ok(await waitUntil(() => b.received.length === 3, 2000));
    assert.deepEqual(
      b.received[0]?.msg.subarray(12),
      Buffer.alloc(160, 0x33),
      'plain audio on the callee leg',
    );
    await b.send(rtp(9, 0x44), toB.remote!.port);
    assert.ok(await waitUntil(() => a.received.length === 1, 2000));
    const back = Buffer.from(a.received[0]!.msg);
    const opened = srtpCtx(gatewayKey).unprotect(back, back.length);
    assert.ok(opened.ok, 'the caller opens the gateway’s SRTP with the key of our answer');
    assert.deepEqual(back.subarray(12, opened.value), Buffer.alloc(160, 0x44));
    // A packet under another key: refused, counted, not forwarded.
    const wrong = srtpCtx(generateKeySalt(SUITE));
    for (let i = 4; i <= 5; i++) await a.send(protect(wrong, rtp(i, 0x66)), toA.remote!.port);
    let d = await engine.refresh();
    assert.ok(
      await waitUntil(() => {
        void engine.refresh().then((x) => (d = x));
        return d.counters.srtpDropped.auth === 2;
      }, 2000),
    );
    const leg = d.calls.find((c) => c.callKey === key);
    assert.equal(leg?.a.transport.srtp?.suite, SUITE);
    assert.equal(leg?.a.transport.proto, 'RTP/SAVP');
    assert.equal(leg?.b.transport.srtp, null);
    assert.equal(leg?.a.srtp?.dropped.auth, 2);
    assert.equal(b.received.length, 3);
    assert.match(metrics.render(), /edgeline_media_srtp_dropped_total\{reason="auth"\} 2/);
    const q = engine.quality(key)?.a;
    assert.ok(q && !('direct' in q), 'an anchored leg’s facts');
    assert.equal(q.srtp, SUITE);
    assert.equal(q.received, 2, 'after probation (RFC 3550 A.1)');
    assert.equal(q.lost, 0);
    engine.release(key);
  });

  test('MUST report dead media from answer when a peer never sends', async () => {
    assert.ok(await engine.settled());
    const key = call({}, {});
    streamOf(engine.relay(key, 'a', sdp(40010)));
    streamOf(engine.relay(key, 'b', sdp(40012)));
    assert.ok(await engine.opened(key));
    await new Promise((r) => setTimeout(r, 1300));
    assert.ok(!dead.includes(key), 'not watched before answer (the call may ring with early media)');
    engine.answered(key);
    assert.ok(await waitUntil(() => dead.includes(key), 2500));
    engine.release(key);
    assert.ok(await engine.settled());
  });
});
