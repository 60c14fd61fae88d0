/**
 * RTP anchored by the real gateway: SIPp plays the caller (1001) and the callee (1002) for
 * signalling, while two UDP RTP peers in this process play their media sides. They send to the
 * ports the gateway anchored each leg on and are latched by symmetric RTP (RFC 4961).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { writeRtpHeader } from '../../src/media/rtp/rtp-packet.ts';
import { freePort, freeUdpBlock } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import {
  describeSippResult,
  runSipp,
  sippBinary,
  startSipp,
  type SippServer,
  registerDemoExtension,
} from '../peers/sipp.ts';
import { freeUdpRange, udpPeer, waitUntil } from '../media/udp-helpers.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;
const RTP_PORTS = 20;

interface LegDump {
  rtpPort: number;
  rx?: number;
  tx?: number;
  latched: { address: string; port: number } | null;
}
interface EngineDump {
  ports: { inUse: number[]; free: number; capacity: number; closing: number };
  calls: Array<{ callKey: string; a: LegDump; b: LegDump }>;
}

function rtp(seq: number, fill: number): Buffer {
  const b = Buffer.alloc(172);
  writeRtpHeader(b, {
    marker: false,
    payloadType: 0,
    sequenceNumber: seq,
    timestamp: seq * 160,
    ssrc: 0xabc + fill,
  });
  for (let i = 12; i < b.length; i++) b[i] = (i * fill + seq) & 0xff;
  return b;
}

describe('RTP relayed through the gateway between two SIP legs (SIPp + RTP peers)', { skip }, () => {
  let gw: GatewayProcess;
  let callee: SippServer | undefined;
  let rtpLo: number;

  before(async () => {
    rtpLo = await freeUdpRange(RTP_PORTS);
    gw = await startGateway({ demo: true, extraArgs: ['--rtp-ports', `${rtpLo}-${rtpLo + RTP_PORTS - 1}`] });
  });

  after(async () => {
    await callee?.stop(500).catch(() => undefined);
    await gw?.stop();
  });

  const engine = async (): Promise<EngineDump> =>
    (await gw.api<{ media: { engine: EngineDump } }>('GET', '/api/status')).body.media.engine;

  test('audio from each side arrives bit-exact on the other, from the gateway’s anchored ports, and every port returns after BYE', async () => {
    const remote = `127.0.0.1:${gw.sipPort}`;
    const calleePort = await freePort('udp');
    await registerDemoExtension(remote, calleePort, '1002');
    callee = await startSipp({
      scenario: 'uas.xml',
      localPort: calleePort,
      timeoutS: 60,
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
    });
    const done = runSipp({
      scenario: 'uac-auth.xml',
      remote,
      localPort: await freePort('udp'),
      calls: 1,
      service: '1002',
      holdMs: 3000,
      auth: { username: '1001', password: 'demo1001' },
      keys: { caller: '1001', caller_domain: 'edgeline.local' },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      timeoutS: 20,
    });
    let call: EngineDump['calls'][number] | undefined;
    const deadline = Date.now() + 5000;
    while (!call && Date.now() < deadline) {
      call = (await engine()).calls[0];
      if (!call) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(call, `no anchored call: ${gw.output().slice(-2000)}`);
    for (const p of [call.a.rtpPort, call.b.rtpPort]) assert.ok(p >= rtpLo && p < rtpLo + RTP_PORTS);

    const a = await udpPeer();
    const b = await udpPeer();
    try {
      // First packets latch each leg to its peer (the SDP named SIPp's media ports).
      await a.send(rtp(0, 1), call.a.rtpPort);
      await b.send(rtp(0, 2), call.b.rtpPort);
      let latched = false;
      for (
        const end = Date.now() + 3000;
        !latched && Date.now() < end;
        await new Promise((x) => setTimeout(x, 100))
      ) {
        const c = (await engine()).calls[0];
        latched = c?.a.latched?.port === a.port && c.b.latched?.port === b.port;
      }
      assert.ok(latched, 'both legs latched to the test peers');
      a.received.length = 0;
      b.received.length = 0;
      const fromA = Array.from({ length: 20 }, (_, i) => rtp(i + 1, 3));
      const fromB = Array.from({ length: 20 }, (_, i) => rtp(i + 1, 5));
      for (let i = 0; i < 20; i++) {
        await a.send(fromA[i] ?? Buffer.alloc(0), call.a.rtpPort);
        await b.send(fromB[i] ?? Buffer.alloc(0), call.b.rtpPort);
      }
      assert.ok(await waitUntil(() => b.received.length >= 20 && a.received.length >= 20, 3000));
      // Payloads cross bit-exact and in order; the header is the gateway's own stream on each leg
      // (its SSRC, a continuous sequence), so phones never see the far party's SSRC change.
      const payload = (m: Buffer) => m.subarray(12);
      assert.deepEqual(
        b.received.map((r) => payload(r.msg)),
        fromA.map(payload),
      );
      assert.deepEqual(
        a.received.map((r) => payload(r.msg)),
        fromB.map(payload),
      );
      for (const got of [a.received, b.received]) {
        const ssrcs = new Set(got.map((r) => r.msg.readUInt32BE(8)));
        assert.equal(ssrcs.size, 1, 'one SSRC per leg');
        const seqs = got.map((r) => r.msg.readUInt16BE(2));
        for (let i = 1; i < seqs.length; i++)
          assert.equal(seqs[i], ((seqs[i - 1] ?? 0) + 1) & 0xffff, 'continuous sequence');
      }
      assert.equal(a.received[0]?.from.port, call.a.rtpPort);
      assert.equal(b.received[0]?.from.port, call.b.rtpPort);
    } finally {
      await a.close();
      await b.close();
    }
    const r = await done;
    assert.equal(r.exitCode, 0, describeSippResult(r));
    let released = false;
    for (
      const end = Date.now() + 3000;
      !released && Date.now() < end;
      await new Promise((x) => setTimeout(x, 50))
    ) {
      const e = await engine();
      released = e.calls.length === 0 && e.ports.closing === 0 && e.ports.inUse.length === 0;
    }
    assert.ok(released, 'ports back in the pool after BYE');
    const e = await engine();
    assert.equal(e.ports.free, e.ports.capacity);
  });
});
