import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../base/clock.ts';
import { silentLogger } from '../../src/core/log.ts';
import { MetricsRegistry } from '../../src/core/metrics.ts';
import { MediaEngine } from '../../src/media/engine/engine.ts';
import { ServiceAnswerer } from '../../src/services/service-answerer.ts';
import { answerServiceOffer, serviceOffer } from '../../src/media/sdp/service-sdp.ts';
import { codecsOf, directionOf, parseSdp } from '../../src/media/sdp/sdp.ts';
import { freeUdpRange } from '../media/udp-helpers.ts';

const sdp = (...lines: string[]): Buffer => Buffer.from(lines.join('\r\n') + '\r\n');
const head = ['v=0', 'o=phone 1 1 IN IP4 192.0.2.10', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0'];
const local = { address: '127.0.0.1', rtpPort: 30000 };

describe('service offer/answer (RFC 3264)', () => {
  const cases: Array<{
    name: string;
    offer: Buffer;
    law?: 'pcmu' | 'pcma';
    pt?: number;
    te?: number;
    dir?: string;
    remote?: { address: string; port: number } | null;
    status?: number;
  }> = [
    {
      name: 'PCMU, PCMA and telephone-event offered: PCMU chosen, telephone-event kept with its PT',
      offer: sdp(
        ...head,
        'm=audio 4000 RTP/AVP 0 8 101',
        'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-15',
      ),
      law: 'pcmu',
      pt: 0,
      te: 101,
      dir: 'sendrecv',
      remote: { address: '192.0.2.10', port: 4000 },
    },
    {
      name: "offerer's order decides: PCMA first",
      offer: sdp(...head, 'm=audio 4002 RTP/AVP 8 0', 'a=rtpmap:8 PCMA/8000'),
      law: 'pcma',
      pt: 8,
      dir: 'sendrecv',
      remote: { address: '192.0.2.10', port: 4002 },
    },
    {
      name: "PCMA under a dynamic payload type number (the answer keeps the offer's number)",
      offer: sdp(...head, 'm=audio 4004 RTP/AVP 96', 'a=rtpmap:96 PCMA/8000'),
      law: 'pcma',
      pt: 96,
    },
    {
      name: 'sendonly offer gets a recvonly answer',
      offer: sdp(...head, 'm=audio 4006 RTP/AVP 0', 'a=sendonly'),
      dir: 'recvonly',
    },
    {
      name: 'RFC 2543 hold address 0.0.0.0: nowhere to send until latching',
      offer: sdp(
        'v=0',
        'o=phone 1 1 IN IP4 192.0.2.10',
        's=-',
        'c=IN IP4 0.0.0.0',
        't=0 0',
        'm=audio 4008 RTP/AVP 0',
      ),
      remote: null,
    },
    {
      name: 'media-level c= overrides the session level',
      offer: sdp(...head, 'm=audio 4010 RTP/AVP 0', 'c=IN IP4 198.51.100.7'),
      remote: { address: '198.51.100.7', port: 4010 },
    },
    { name: 'only G.729: 488', offer: sdp(...head, 'm=audio 4012 RTP/AVP 18'), status: 488 },
    { name: 'only video: 488', offer: sdp(...head, 'm=video 4014 RTP/AVP 31'), status: 488 },
    { name: 'unparsable SDP: 488', offer: Buffer.from('this is not SDP'), status: 488 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = answerServiceOffer(c.offer, local);
      if (c.status !== undefined) {
        assert.equal(r.ok, false);
        if (!r.ok) assert.equal(r.error.status, c.status);
        return;
      }
      assert.ok(r.ok, r.ok ? '' : r.error.reason);
      const { plan } = r.value;
      if (c.law) assert.equal(plan.law, c.law);
      if (c.pt !== undefined) assert.equal(plan.audioPayloadType, c.pt);
      if (c.te !== undefined) assert.equal(plan.telephoneEventPayloadType, c.te);
      if (c.dir) assert.equal(plan.direction, c.dir);
      if (c.remote !== undefined) assert.deepEqual(plan.remote ?? null, c.remote);
      const answer = parseSdp(r.value.sdp);
      assert.ok(answer.ok);
      assert.equal(answer.value.connection?.address, '127.0.0.1');
      assert.equal(answer.value.media[0]?.port, 30000);
      if (c.dir)
        assert.equal(
          directionOf(answer.value.media[0] ?? ({ attributes: [] } as never), answer.value),
          c.dir,
        );
    });
  }

  test('a second audio stream is rejected with port 0; the m= lines stay one for one (RFC 3264 §6)', () => {
    const r = answerServiceOffer(sdp(...head, 'm=audio 4000 RTP/AVP 0', 'm=audio 4100 RTP/AVP 8'), local);
    assert.ok(r.ok);
    const a = parseSdp(r.value.sdp);
    assert.ok(a.ok);
    assert.deepEqual(
      a.value.media.map((m) => m.port),
      [30000, 0],
    );
  });

  test('late offer: one audio codec (PCMU) and telephone-event, so the answer cannot choose anything else (RFC 3264 §6.1)', () => {
    const { plan, sdp: offer } = serviceOffer(local);
    const parsed = parseSdp(offer);
    assert.ok(parsed.ok);
    const m = parsed.value.media[0];
    assert.ok(m);
    assert.deepEqual(
      codecsOf(m).map((c) => c.name),
      ['PCMU', 'telephone-event'],
    );
    assert.equal(plan.remote, undefined);
    assert.equal(plan.law, 'pcmu');
    assert.equal(plan.telephoneEventPayloadType, 101);
  });
});

describe('ServiceAnswerer', () => {
  const offer = sdp(
    'v=0',
    'o=phone 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 4000 RTP/AVP 0 101',
    'a=rtpmap:101 telephone-event/8000',
  );

  const start = async (lo: number, pairs = 1) => {
    const clock = new ManualClock();
    const metrics = new MetricsRegistry();
    const engine = await MediaEngine.start({
      host: '127.0.0.1',
      rtpPorts: { lo, hi: lo + 2 * pairs - 1 },
      codecs: ['PCMU', 'PCMA', 'telephone-event'],
      deadMediaTimeoutS: 0,
      workers: 1,
      logger: silentLogger,
    });
    const answerer = new ServiceAnswerer({ host: '127.0.0.1', engine, clock, logger: silentLogger, metrics });
    return { engine, answerer, metrics };
  };

  test('MUST answer 503 when the port range is exhausted and give ports back when sessions close', async () => {
    const lo = await freeUdpRange(2);
    const { engine, answerer, metrics } = await start(lo);
    try {
      const a = await answerer.answer({ kind: 'echo' }, offer);
      assert.ok(a.ok);
      assert.equal(a.lateOffer, false);
      assert.match(a.sdp.toString(), new RegExp(`m=audio ${lo} RTP/AVP 0 101`));
      const b = await answerer.answer({ kind: 'milliwatt' }, offer);
      assert.equal(b.ok, false);
      if (!b.ok) assert.equal(b.status, 503);
      assert.deepEqual(answerer.dump().ports.inUse, [lo]);
      assert.equal(answerer.dump().sessions.length, 1);
      a.session.close();
      a.session.close();
      // The session stays listed until the worker has closed its sockets and the port is back.
      assert.ok(await engine.settled());
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(answerer.dump().ports.inUse, []);
      assert.equal(answerer.dump().sessions.length, 0);
      const c = await answerer.answer({ kind: 'milliwatt' }, undefined);
      assert.ok(c.ok);
      assert.equal(c.lateOffer, true);
      assert.match(
        metrics.render(),
        /edgeline_media_service_answers_total\{service="milliwatt",outcome="503"\} 1/,
      );
    } finally {
      await answerer.close();
      await engine.close();
    }
    assert.deepEqual(answerer.dump().sessions, [], 'close() ends every session');
  });

  test('a conference beyond its maxParties is refused 486 before a port is taken; monitoring an extension in no call 404; mix sessions are listed apart', async () => {
    const lo = await freeUdpRange(6);
    const { engine, answerer, metrics } = await start(lo, 3);
    const room = { kind: 'conference', room: '*51', maxParties: 2 } as const;
    try {
      const a = await answerer.answer(room, offer, 'ix-a');
      const b = await answerer.answer(room, undefined, 'ix-b');
      assert.ok(a.ok && b.ok);
      const c = await answerer.answer(room, offer, 'ix-c');
      assert.deepEqual(c.ok ? null : [c.status, c.reason], [486, 'Busy Here (conference full: 2 parties)']);
      assert.equal(answerer.dump().ports.inUse.length, 2, 'no port spent on the refused caller');
      const m = await answerer.answer({ kind: 'monitor', extension: '1002', mode: 'listen' }, offer, 'ix-m');
      assert.deepEqual(m.ok ? null : m.status, 404);
      assert.equal(answerer.dump().ports.inUse.length, 2);
      const d = answerer.dump();
      assert.deepEqual(d.sessions, []);
      assert.deepEqual(
        d.mix.sessions.map((s) => [s.callKey, s.service, s.number, s.monitoredExtension, s.plan.law]),
        [
          ['ix-a', 'conference', '*51', null, 'pcmu'],
          ['ix-b', 'conference', '*51', null, 'pcmu'],
        ],
      );
      assert.match(
        metrics.render(),
        /edgeline_media_mix_answers_total\{service="conference",outcome="486"\} 1/,
      );
      assert.match(metrics.render(), /edgeline_media_mix_answers_total\{service="monitor",outcome="404"\} 1/);
      a.session.close();
      b.session.close();
      assert.ok(await engine.settled());
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(answerer.dump().ports.inUse, []);
      assert.deepEqual(answerer.dump().mix.sessions, []);
      assert.deepEqual(engine.dump().mix?.conferences, [], 'the last one out closed the room');
    } finally {
      await answerer.close();
      await engine.close();
    }
  });

  test('MUST answer 488 without keeping a port when nothing in the offer is usable', async () => {
    const lo = await freeUdpRange(2);
    const { engine, answerer } = await start(lo);
    try {
      const r = await answerer.answer({ kind: 'echo' }, sdp(...head, 'm=audio 4012 RTP/AVP 18'));
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.status, 488);
      assert.ok(await engine.settled());
      assert.deepEqual(answerer.dump().ports.inUse, []);
    } finally {
      await answerer.close();
      await engine.close();
    }
  });
});
