import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock, type Timers } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/log.ts';
import { alawToLinear, ulawToLinear, type G711Law } from '../../src/media/g711.ts';
import {
  fillMilliwatt,
  MILLIWATT_PERIOD_SAMPLES,
  MilliwattSession,
  milliwattPeriod,
  ZERO_DBM0_PEAK,
} from '../../src/media/milliwatt-service.ts';
import { parseRtp } from '../../src/media/rtp-packet.ts';
import { RtpPortPool } from '../../src/media/rtp-port-pool.ts';
import type { MediaPlan } from '../../src/media/service-sdp.ts';
import { goertzelPower, levelDbm0, zeroCrossingFrequencyHz } from './tone-analysis.ts';
import { freeUdpRange, udpPeer, waitUntil } from './udp-helpers.ts';

const decode = (law: G711Law, codes: ArrayLike<number>): Float64Array => {
  const out = new Float64Array(codes.length);
  for (let i = 0; i < codes.length; i++)
    out[i] = law === 'pcmu' ? ulawToLinear(codes[i] ?? 0) : alawToLinear(codes[i] ?? 0);
  return out;
};

describe('digital milliwatt tone (ITU-T O.133, G.711)', () => {
  for (const law of ['pcmu', 'pcma'] as const) {
    test(`${law}: one second is 1004 Hz ± 0.5 Hz at 0 dBm0 ± 0.2 dB`, () => {
      const codes = new Uint8Array(8000);
      let pos = 0;
      // Built 160 samples at a time, as packets are: the phase must carry over.
      for (let at = 0; at < 8000; at += 160) pos = fillMilliwatt(law, pos, codes, at, 160);
      const samples = decode(law, codes);
      const f = zeroCrossingFrequencyHz(samples, 8000);
      assert.ok(Math.abs(f - 1004) < 0.5, `frequency ${f}`);
      const level = levelDbm0(samples, ZERO_DBM0_PEAK[law]);
      assert.ok(Math.abs(level) < 0.2, `level ${level} dBm0`);
      // The energy is at 1004 Hz, not at the 1000 Hz submultiple O.133 avoids.
      assert.ok(goertzelPower(samples, 8000, 1004) > 100 * goertzelPower(samples, 8000, 1000));
    });
  }

  test('the peak is 3.17 dB below µ-law overload and 3.14 dB below A-law overload', () => {
    assert.ok(Math.abs(20 * Math.log10((8159 * 4) / ZERO_DBM0_PEAK.pcmu) - 3.17) < 0.01);
    assert.ok(Math.abs(20 * Math.log10((4096 * 8) / ZERO_DBM0_PEAK.pcma) - 3.14) < 0.01);
  });

  test('the sampled 1004 Hz sine repeats every 2000 samples: packets cut across the period boundary stay continuous', () => {
    const period = milliwattPeriod('pcmu');
    assert.equal(period.length, MILLIWATT_PERIOD_SAMPLES);
    const out = new Uint8Array(160);
    const next = fillMilliwatt('pcmu', 1920, out, 0, 160);
    assert.equal(next, 80);
    assert.deepEqual(out.subarray(0, 80), period.subarray(1920, 2000));
    assert.deepEqual(out.subarray(80), period.subarray(0, 80));
  });
});

describe('milliwatt session', () => {
  async function setup(law: G711Law, payloadType: number) {
    const lo = await freeUdpRange(2);
    const pool = new RtpPortPool({ host: '127.0.0.1', lo, hi: lo + 1, logger: silentLogger });
    const pair = await pool.allocate();
    assert.ok(pair.ok);
    const peer = await udpPeer();
    const clock = new ManualClock();
    const plan: MediaPlan = {
      law,
      audioPayloadType: payloadType,
      telephoneEventPayloadType: 101,
      remote: { address: '127.0.0.1', port: peer.port },
      direction: 'sendrecv',
      ptimeMs: 20,
    };
    const session = new MilliwattSession(pair.value, plan, { clock, timers: clock, logger: silentLogger });
    return { pool, pair: pair.value, peer, clock, session };
  }

  for (const [law, pt] of [
    ['pcmu', 0],
    ['pcma', 8],
  ] as const) {
    test(`${law}: sends 20 ms packets of 160 samples to the offer's address, sequence +1 and timestamp +160 per packet (RFC 3550 §5.1)`, async () => {
      const { pool, peer, clock, session } = await setup(law, pt);
      try {
        clock.advance(1000);
        // t = 0, 20, …, 1000 ms: 51 packets are due.
        assert.ok(await waitUntil(() => peer.received.length >= 51, 2000), `got ${peer.received.length}`);
        const packets = peer.received.map((r) => {
          const p = parseRtp(r.msg);
          assert.ok(p.ok);
          return { ...p.value, payload: r.msg.subarray(p.value.payloadOffset) };
        });
        assert.equal(packets.length, 51);
        const first = packets[0];
        assert.ok(first);
        assert.equal(first.marker, true, 'marker on the first packet (RFC 3551 §4.1)');
        const samples: number[] = [];
        packets.forEach((p, i) => {
          assert.equal(p.payloadType, pt);
          assert.equal(p.payload.length, 160);
          assert.equal(p.ssrc, first.ssrc);
          assert.equal(p.sequenceNumber, (first.sequenceNumber + i) & 0xffff);
          assert.equal(p.timestamp, (first.timestamp + 160 * i) >>> 0);
          if (i > 0) assert.equal(p.marker, false);
          for (const c of p.payload) samples.push(law === 'pcmu' ? ulawToLinear(c) : alawToLinear(c));
        });
        const f = zeroCrossingFrequencyHz(samples, 8000);
        assert.ok(Math.abs(f - 1004) < 1, `frequency ${f}`);
        assert.ok(Math.abs(levelDbm0(samples, ZERO_DBM0_PEAK[law])) < 0.2);
      } finally {
        session.close();
        await peer.close();
        pool.close();
      }
    });
  }

  test('MUST not drift: timers firing late and irregularly still give exactly one packet per 20 ms over 60 s', async () => {
    const { pool, peer, clock, session } = await setup('pcmu', 0);
    try {
      for (let t = 0; t < 60_000; t += 37) clock.advance(37);
      const elapsed = clock.now();
      const d = session.dump() as { packetsSent: number; packetsSkipped: number };
      assert.equal(d.packetsSent + d.packetsSkipped, Math.floor(elapsed / 20) + 1);
      assert.equal(d.packetsSkipped, 0);
    } finally {
      session.close();
      await peer.close();
      pool.close();
    }
  });

  test('after a stall longer than the catch-up burst, stale packets are skipped: timestamps jump, sequence numbers do not', async () => {
    const lo = await freeUdpRange(2);
    const pool = new RtpPortPool({ host: '127.0.0.1', lo, hi: lo + 1, logger: silentLogger });
    const pair = await pool.allocate();
    assert.ok(pair.ok);
    const peer = await udpPeer();
    const clock = new ManualClock();
    // Timers that fire only when told to: the event loop was blocked for 500 ms.
    let pending: (() => void) | undefined;
    const timers: Timers = {
      start: (_name, _delayMs, fire) => {
        pending = fire;
        return { cancel: () => (pending = undefined) };
      },
    };
    const plan: MediaPlan = {
      law: 'pcmu',
      audioPayloadType: 0,
      telephoneEventPayloadType: undefined,
      remote: { address: '127.0.0.1', port: peer.port },
      direction: 'sendrecv',
      ptimeMs: 20,
    };
    const session = new MilliwattSession(pair.value, plan, { clock, timers, logger: silentLogger });
    try {
      pending?.(); // t = 0: the first packet
      clock.advance(500);
      pending?.(); // 25 more are due; only the last 8 are worth sending
      assert.ok(await waitUntil(() => peer.received.length >= 9, 2000));
      const ps = peer.received.map((r) => {
        const p = parseRtp(r.msg);
        assert.ok(p.ok);
        return { seq: p.value.sequenceNumber, ts: p.value.timestamp };
      });
      const d = session.dump() as { packetsSent: number; packetsSkipped: number };
      assert.equal(d.packetsSent, 9);
      assert.equal(d.packetsSkipped, 17);
      const [a, b] = [ps[0], ps[1]];
      assert.ok(a && b);
      assert.equal(b.seq, (a.seq + 1) & 0xffff);
      assert.equal(b.ts, (a.ts + 160 * 18) >>> 0);
    } finally {
      session.close();
      await peer.close();
      pool.close();
    }
  });

  test('MUST follow the latched source: once the peer sends RTP, the tone goes where it came from (RFC 4961)', async () => {
    const { pool, pair, peer, clock, session } = await setup('pcmu', 0);
    const natted = await udpPeer();
    try {
      await natted.send(Buffer.from('80000001000000000000abcdffff', 'hex'), pair.rtpPort);
      assert.ok(await waitUntil(() => (session.dump() as { latched: boolean }).latched, 2000));
      clock.advance(100);
      assert.ok(await waitUntil(() => natted.received.length >= 6, 2000));
      assert.equal(peer.received.length, 0, 'nothing went to the SDP address after latching');
    } finally {
      session.close();
      await natted.close();
      await peer.close();
      pool.close();
    }
  });

  test('close() stops the timer and returns the ports', async () => {
    const { pool, clock, session, peer } = await setup('pcmu', 0);
    session.close();
    assert.deepEqual(clock.armed(), []);
    assert.deepEqual(pool.dump().inUse, []);
    await peer.close();
    pool.close();
  });
});
