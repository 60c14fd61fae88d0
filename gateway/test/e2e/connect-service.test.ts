/**
 * Answer first, bridge later, end to end: the demo's `*48` + extension. SIPp plays the caller (1001
 * dials *481002) and the callee (1002, registered); two RTP peers of this test are their media.
 * The gateway answers the caller itself, plays "please hold while we connect you" (the shipped
 * prompt, Mandarin then English), rings 1002 from a leg of its own media with ringback in the
 * caller's ear, and bridges the two when 1002 answers: each peer then hears the other's tone.
 * The caller's BYE ends both legs (the gateway sends BYE to 1002); both CDR rows carry the one
 * interaction id; every port returns to the pool.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { linearToUlaw, ulawToLinear } from '../../../base/signal/g711.ts';
import { goertzelPower } from '../../../base/test/signal/tone-analysis.ts';
import { writeRtpHeader } from '../../src/media/rtp/rtp-packet.ts';
import { crossCorrelate, readWav, type PcmAudio } from '../peers/audio.ts';
import { freePort } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import {
  describeSippResult,
  registerDemoExtension,
  runSipp,
  sippBinary,
  startSipp,
  type SippServer,
} from '../peers/sipp.ts';
import { freeUdpRange, udpPeer, type UdpPeer } from '../media/udp-helpers.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;
const RTP_PORTS = 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PROMPT = fileURLToPath(new URL('../../assets/prompts/connect-hold.wav', import.meta.url));

interface Session {
  callKey: string;
  service: string;
  localPort: number;
}
interface Status {
  media: {
    engine: { ports: { inUse: number[]; free: number; capacity: number; closing: number }; bridges: number };
    sessions?: Session[];
    connect?: { running: Array<{ callKey: string; phase: string }>; totals: Record<string, number> };
  };
}
interface CdrRow {
  leg_id?: string;
  legId?: string;
  interaction_id?: string;
  interactionId?: string;
  direction: string;
  peer: string;
  answered_at?: string | null;
  answeredAt?: string | null;
}

/** A PCMU tone stream from `peer` to `port`, 20 ms packets; returns the stop. */
function toneStream(peer: UdpPeer, port: number, freqHz: number, ssrc: number): () => void {
  let seq = 0;
  const t = setInterval(() => {
    const b = Buffer.alloc(172);
    writeRtpHeader(b, {
      marker: false,
      payloadType: 0,
      sequenceNumber: seq & 0xffff,
      timestamp: seq * 160,
      ssrc,
    });
    for (let i = 0; i < 160; i++) {
      const n = seq * 160 + i;
      b[12 + i] = linearToUlaw(Math.round(8000 * Math.sin((2 * Math.PI * freqHz * n) / 8000)));
    }
    seq++;
    void peer.send(b, port).catch(() => undefined);
  }, 20);
  return () => clearInterval(t);
}

/** PCMU audio a peer received from `fromPort` since index `from`, decoded. */
function heard(peer: UdpPeer, fromPort: number, from = 0): PcmAudio {
  const frames = peer.received
    .slice(from)
    .filter((r) => r.from.port === fromPort && r.msg.length === 172 && ((r.msg[1] ?? 0) & 0x7f) === 0);
  const samples = new Int16Array(frames.length * 160);
  frames.forEach((r, k) => {
    for (let i = 0; i < 160; i++) samples[k * 160 + i] = ulawToLinear(r.msg[12 + i] ?? 0xff);
  });
  return { sampleRate: 8000, samples };
}

/** Share of a signal's energy at `freqHz` against the other tone's (dB): > 0 means freqHz dominates. */
function dominance(a: PcmAudio, freqHz: number, otherHz: number): number {
  const p = goertzelPower(a.samples, 8000, freqHz);
  const q = goertzelPower(a.samples, 8000, otherHz);
  return 10 * Math.log10((p + 1e-9) / (q + 1e-9));
}

describe('answer first, bridge later: the *48 connect service (SIPp + RTP peers)', { skip }, () => {
  let gw: GatewayProcess;
  let callee: SippServer | undefined;

  before(async () => {
    const rtpLo = await freeUdpRange(RTP_PORTS);
    gw = await startGateway({ demo: true, extraArgs: ['--rtp-ports', `${rtpLo}-${rtpLo + RTP_PORTS - 1}`] });
  });

  after(async () => {
    await callee?.stop(500).catch(() => undefined);
    await gw?.stop();
  });

  const status = async (): Promise<Status> => (await gw.api<Status>('GET', '/api/status')).body;

  async function session(match: (s: Session) => boolean): Promise<Session> {
    for (const end = Date.now() + 15_000; Date.now() < end; await sleep(20)) {
      const s = (await status()).media.sessions?.find((x) => x.service === 'prompt' && match(x));
      if (s) return s;
    }
    assert.fail(`no such media session: ${JSON.stringify((await status()).media).slice(0, 1500)}`);
  }

  test('the caller hears the prompt then the callee; each hears the other; one interaction in the CDRs; BYE ends both', async () => {
    const remote = `127.0.0.1:${gw.sipPort}`;
    const calleePort = await freePort('udp');
    await registerDemoExtension(remote, calleePort, '1002');
    callee = await startSipp({
      scenario: 'uas.xml',
      localPort: calleePort,
      timeoutS: 60,
      extraArgs: ['-mp', String(await freePort('udp')), '-mi', '127.0.0.1'],
    });
    // The caller's SDP names peer A: the prompt goes there from its first frame.
    const a = await udpPeer();
    const b = await udpPeer();
    const done = runSipp({
      scenario: 'uac-auth-media-port.xml',
      remote,
      localPort: await freePort('udp'),
      calls: 1,
      service: '*481002',
      holdMs: 13_000,
      auth: { username: '1001', password: 'demo1001' },
      keys: {
        caller: '1001',
        caller_domain: 'edgeline.local',
        rtp_port: String(a.port),
        rtp_proto: 'RTP/AVP',
        sdp_attr: 'label:1',
      },
      extraArgs: ['-mp', String(await freePort('udp')), '-mi', '127.0.0.1'],
      timeoutS: 40,
    });

    const stops: Array<() => void> = [];
    try {
      // The caller's leg: the gateway answered it itself (no B2BUA relay, a media leg of its own).
      const callerLeg = await session((s) => !s.callKey.includes(':b'));
      stops.push(toneStream(a, callerLeg.localPort, 1000, 0x1001));
      const calleeLeg = await session((s) => s.callKey === `${callerLeg.callKey}:b1`);
      const promptHeard = heard(a, callerLeg.localPort);
      stops.push(toneStream(b, calleeLeg.localPort, 1800, 0x1002));

      // The prompt came first, whole (it ends before the extension is rung).
      const ref = readWav(PROMPT);
      const c = crossCorrelate(ref, promptHeard, { maxLagSamples: 8000 });
      assert.ok(c.peak >= 0.8, `prompt NCC ${c.peak.toFixed(3)} at lag ${c.lagMs} ms`);

      let phase = '';
      for (const end = Date.now() + 8000; phase !== 'bridged' && Date.now() < end; await sleep(50)) {
        phase =
          (await status()).media.connect?.running.find((r) => r.callKey === callerLeg.callKey)?.phase ?? '';
      }
      assert.equal(phase, 'bridged', gw.output().slice(-3000));
      assert.equal((await status()).media.engine.bridges, 1);
      await sleep(300);
      const fromA = a.received.length;
      const fromB = b.received.length;
      await sleep(2000);
      const atCaller = heard(a, callerLeg.localPort, fromA);
      const atCallee = heard(b, calleeLeg.localPort, fromB);
      assert.ok(
        atCaller.samples.length >= 80 * 160,
        `the caller kept receiving (${atCaller.samples.length / 160} frames)`,
      );
      assert.ok(
        atCallee.samples.length >= 80 * 160,
        `the callee kept receiving (${atCallee.samples.length / 160} frames)`,
      );
      // Each hears the other's tone, not its own.
      assert.ok(
        dominance(atCaller, 1800, 1000) > 20,
        `caller hears the callee: ${dominance(atCaller, 1800, 1000).toFixed(1)} dB`,
      );
      assert.ok(
        dominance(atCallee, 1000, 1800) > 20,
        `callee hears the caller: ${dominance(atCallee, 1000, 1800).toFixed(1)} dB`,
      );

      const r = await done;
      assert.equal(r.exitCode, 0, `caller: ${describeSippResult(r)}`);
      // The callee's call completes only with the gateway's BYE (uas.xml waits for it).
      const calleeResult = await callee.stop();
      callee = undefined;
      assert.equal(calleeResult.stats?.successful, 1, `callee: ${describeSippResult(calleeResult)}`);

      // One interaction id across both legs' CDR rows.
      let rows: CdrRow[] = [];
      for (const end = Date.now() + 5000; rows.length < 2 && Date.now() < end; await sleep(100)) {
        rows = (await gw.api<{ cdrs: CdrRow[] }>('GET', `/api/cdrs?interaction=${callerLeg.callKey}`)).body
          .cdrs;
      }
      const ids = rows.map((x) => x.legId ?? x.leg_id).sort();
      assert.deepEqual(ids, [`${callerLeg.callKey}:a`, `${callerLeg.callKey}:b1`], JSON.stringify(rows));
      for (const row of rows) assert.equal(row.interactionId ?? row.interaction_id, callerLeg.callKey);
      assert.ok(
        rows.every((x) => (x.answeredAt ?? x.answered_at) !== null),
        'both legs were answered',
      );
    } finally {
      for (const s of stops) s();
      await a.close();
      await b.close();
    }
    let e = (await status()).media.engine;
    for (const end = Date.now() + 3000; Date.now() < end; await sleep(50)) {
      e = (await status()).media.engine;
      if (e.ports.closing === 0 && e.ports.inUse.length === 0 && e.bridges === 0) break;
    }
    assert.deepEqual(e.ports.inUse, [], 'every port back in the pool');
    assert.equal(e.bridges, 0);
  });
});
