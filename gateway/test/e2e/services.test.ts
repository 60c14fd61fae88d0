/**
 * Service numbers answered by the gateway itself, end to end: SIPp calls `*43` and `*44` as
 * extension 1001 (digest challenge, 200 with the gateway's SDP, ACK, BYE) while a UDP RTP peer in
 * this process plays the caller's media side: it sends from its own socket and is reached by
 * symmetric RTP latching (RFC 4961), since SIPp's SDP names SIPp's media port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ulawToLinear } from '../../../base/signal/g711.ts';
import { parseRtp } from '../../src/media/rtp/rtp-packet.ts';
import { freePort, freeUdpBlock } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { describeSippResult, runSipp, sippBinary, type SippResult } from '../peers/sipp.ts';
import { levelDbm0, zeroCrossingFrequencyHz } from '../../../base/test/signal/tone-analysis.ts';
import { freeUdpRange, udpPeer, waitUntil, type UdpPeer } from '../media/udp-helpers.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;

interface MediaDump {
  ports: { inUse: number[]; capacity: number; free: number };
  sessions: Array<{
    service: string;
    localPort: number;
    latched: boolean;
    counters: Record<string, number>;
    plan: { law: string; audioPayloadType: number };
  }>;
}
interface Interaction {
  dialled: string;
  outcome: string;
  status: number;
}

const RTP_PORTS = 10;

describe('service numbers answered by the gateway (SIPp + RTP peer)', { skip }, () => {
  let gw: GatewayProcess;
  let rtpLo: number;

  before(async () => {
    rtpLo = await freeUdpRange(RTP_PORTS);
    gw = await startGateway({ demo: true, extraArgs: ['--rtp-ports', `${rtpLo}-${rtpLo + RTP_PORTS - 1}`] });
  });

  after(async () => {
    await gw?.stop();
  });

  const media = async (): Promise<MediaDump> =>
    (await gw.api<{ media: MediaDump }>('GET', '/api/status')).body.media;

  /** Place a call to `service` held for `holdMs`; resolves when SIPp has sent BYE and got its 200. */
  async function call(service: string, holdMs: number): Promise<{ done: Promise<SippResult> }> {
    const done = runSipp({
      scenario: 'uac-auth.xml',
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: await freePort('udp'),
      calls: 1,
      service,
      holdMs,
      auth: { username: '1001', password: 'demo1001' },
      keys: { caller: '1001', caller_domain: 'edgeline.local' },
      // SIPp's own media socket (named in its SDP) on a port of our choosing, so parallel runs do not collide.
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      timeoutS: 12,
    });
    // Wrapped: awaiting call() must not wait for the call to end.
    return { done };
  }

  async function sessionOf(service: string): Promise<MediaDump['sessions'][number]> {
    let found: MediaDump['sessions'][number] | undefined;
    const ok = await waitUntilAsync(async () => {
      found = (await media()).sessions.find((s) => s.service === service);
      return found !== undefined;
    }, 5000);
    assert.ok(ok && found, `no ${service} session appeared: ${gw.output().slice(-2000)}`);
    return found;
  }

  async function afterCall(sipp: { done: Promise<SippResult> }, dialled: string): Promise<void> {
    const r = await sipp.done;
    assert.equal(r.exitCode, 0, describeSippResult(r));
    // BYE from the caller closed the session and returned its ports.
    assert.ok(
      await waitUntilAsync(async () => (await media()).sessions.length === 0, 3000),
      'session still open after BYE',
    );
    const m = await media();
    assert.deepEqual(m.ports.inUse, []);
    assert.equal(m.ports.free, m.ports.capacity);
    assert.equal(m.ports.capacity, RTP_PORTS / 2);
    // CDRs are committed in batches at most 100 ms after the call ends.
    let row: Interaction | undefined;
    for (
      const deadline = Date.now() + 2000;
      !row && Date.now() < deadline;
      await new Promise((r) => setTimeout(r, 50))
    ) {
      const cdr = await gw.api<{ interactions: Interaction[] }>('GET', '/api/interactions?limit=50');
      row = cdr.body.interactions.find((i) => i.dialled === dialled);
    }
    assert.ok(row, 'CDR written');
    assert.equal(row.outcome, 'answered');
    assert.equal(row.status, 200);
  }

  test('*43 echoes every RTP packet back bit-exact (payload, PT, sequence, timestamp; our SSRC), RFC 4733 events included, and frees its ports on BYE', async () => {
    const sipp = await call('*43', 3000);
    const peer = await udpPeer();
    try {
      const s = await sessionOf('echo');
      assert.ok(s.localPort >= rtpLo && s.localPort < rtpLo + RTP_PORTS && s.localPort % 2 === 0);
      assert.equal(s.plan.law, 'pcmu');
      const sent = caller(50);
      for (const p of sent) {
        await peer.send(p, s.localPort);
        await new Promise((r) => setTimeout(r, 2));
      }
      assert.ok(
        await waitUntil(() => peer.received.length >= sent.length, 3000),
        `echoed ${peer.received.length} of ${sent.length}`,
      );
      assertEchoed(sent, peer);
    } finally {
      await peer.close();
    }
    await afterCall(sipp, '*43');
  });

  test('*44 sends 1004 Hz ± 2 Hz at 0 dBm0 ± 0.2 dB in 20 ms PCMU packets to the latched caller, and frees its ports on BYE', async () => {
    const sipp = await call('*44', 3000);
    const peer = await udpPeer();
    try {
      const s = await sessionOf('milliwatt');
      // One packet from the caller's real media socket: the tone follows it (latching).
      await peer.send(Buffer.from('80000001000000000000abcd' + 'ff'.repeat(160), 'hex'), s.localPort);
      assert.ok(
        await waitUntil(() => peer.received.length >= 60, 4000),
        `got ${peer.received.length} packets`,
      );
      const packets = peer.received.slice(0, 60).map((r) => {
        const p = parseRtp(r.msg);
        assert.ok(p.ok);
        return {
          seq: p.value.sequenceNumber,
          ts: p.value.timestamp,
          pt: p.value.payloadType,
          payload: r.msg.subarray(p.value.payloadOffset, p.value.payloadOffset + p.value.payloadLength),
        };
      });
      packets.sort(
        (a, b) => ((a.seq - (packets[0]?.seq ?? 0)) & 0xffff) - ((b.seq - (packets[0]?.seq ?? 0)) & 0xffff),
      );
      // 50 consecutive packets = 1 s of tone.
      const second = packets.slice(5, 55);
      const samples: number[] = [];
      second.forEach((p, i) => {
        assert.equal(p.pt, 0);
        assert.equal(p.payload.length, 160);
        if (i > 0) {
          const prev = second[i - 1];
          assert.ok(prev);
          assert.equal(p.seq, (prev.seq + 1) & 0xffff, 'sequence numbers without gaps');
          assert.equal(p.ts, (prev.ts + 160) >>> 0, 'timestamps 160 apart');
        }
        for (const c of p.payload) samples.push(ulawToLinear(c));
      });
      const f = zeroCrossingFrequencyHz(samples, 8000);
      assert.ok(Math.abs(f - 1004) <= 2, `frequency ${f} Hz`);
      const level = levelDbm0(samples, 5664 * 4);
      assert.ok(Math.abs(level) <= 0.2, `level ${level} dBm0`);
    } finally {
      await peer.close();
    }
    await afterCall(sipp, '*44');
  });
});

/** What the caller sends: 45 PCMU packets of a ramp, then an RFC 4733 event (start, 3 updates, end ×3). */
function caller(audioPackets: number): Buffer[] {
  const out: Buffer[] = [];
  let seq = 1000;
  let ts = 123456;
  for (let i = 0; i < audioPackets - 7; i++) {
    const p = Buffer.alloc(12 + 160);
    p.writeUInt8(0x80, 0);
    p.writeUInt8(i === 0 ? 0x80 : 0x00, 1);
    p.writeUInt16BE(seq++ & 0xffff, 2);
    p.writeUInt32BE(ts, 4);
    p.writeUInt32BE(0x1a2b3c4d, 8);
    for (let k = 0; k < 160; k++) p[12 + k] = (i * 7 + k) & 0xff;
    out.push(p);
    ts += 160;
  }
  // RFC 4733 §2.5.1.2: one timestamp for the whole event, duration growing, end bit on the last three.
  for (let i = 0; i < 7; i++) {
    const p = Buffer.alloc(16);
    p.writeUInt8(0x80, 0);
    p.writeUInt8((i === 0 ? 0x80 : 0) | 101, 1);
    p.writeUInt16BE(seq++ & 0xffff, 2);
    p.writeUInt32BE(ts, 4);
    p.writeUInt32BE(0x1a2b3c4d, 8);
    p.writeUInt8(5, 12); // digit 5
    p.writeUInt8((i >= 4 ? 0x80 : 0) | 10, 13); // E bit, volume 10
    p.writeUInt16BE(160 * Math.min(i + 1, 4), 14);
    out.push(p);
  }
  return out;
}

function assertEchoed(sent: Buffer[], peer: UdpPeer): void {
  const bySeq = new Map(peer.received.map((r) => [r.msg.readUInt16BE(2), r.msg]));
  const ssrcs = new Set(peer.received.map((r) => r.msg.readUInt32BE(8)));
  assert.equal(ssrcs.size, 1, 'one SSRC for the echo');
  assert.ok(!ssrcs.has(0x1a2b3c4d), 'the echo has its own SSRC (RFC 3550 §8)');
  for (const p of sent) {
    const back = bySeq.get(p.readUInt16BE(2));
    assert.ok(back, `packet ${p.readUInt16BE(2)} came back`);
    assert.deepEqual(back.subarray(0, 8), p.subarray(0, 8));
    assert.deepEqual(back.subarray(12), p.subarray(12));
  }
}

async function waitUntilAsync(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
