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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { linearToUlaw, ulawToLinear } from '../../../base/signal/g711.ts';
import { goertzelPower } from '../../../base/test/signal/tone-analysis.ts';
import { writeRtpHeader } from '../../src/media/rtp/rtp-packet.ts';
import { chirp, crossCorrelate, readWav, writeWav, type PcmAudio } from '../peers/audio.ts';
import { baresipAvailable, startBaresip, type Baresip } from '../peers/baresip.ts';
import { freePort, freeUdpBlock } from '../peers/free-port.ts';
import { routeLinesToConnect, startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
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

/** PCMU audio a peer received from `fromPort` since index `from`, decoded, in arrival order. */
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

/**
 * How much of a prompt a listener heard, in order: each half second of the reference is looked for
 * in the received audio near where the previous one was found (±100 ms), and counts as heard at a
 * normalised correlation ≥ 0.9. Robust to the few-millisecond slips of a loaded machine (a whole
 * correlation would fall with the first one) while still failing a prompt cut short, replaced or
 * played out of order. The tests ask for three quarters of the half-seconds: on a quiet machine all
 * are heard; with both cores busy a 20 ms frame clock slips now and then (a click on a real phone).
 */
function promptSegments(
  ref: PcmAudio,
  received: PcmAudio,
): { heard: number; startMs: number; describe: string } {
  const seg = 4000;
  const slack = 800;
  const first = crossCorrelate({ sampleRate: 8000, samples: ref.samples.subarray(0, seg) }, received);
  let at = first.lagSamples;
  let hits = 0;
  let total = 0;
  const peaks: string[] = [];
  for (let start = 0; start + seg <= ref.samples.length; start += seg) {
    total++;
    const lo = Math.max(0, at + start - slack);
    const window = received.samples.subarray(lo, Math.min(received.samples.length, at + start + seg + slack));
    const c = crossCorrelate(
      { sampleRate: 8000, samples: ref.samples.subarray(start, start + seg) },
      {
        sampleRate: 8000,
        samples: window,
      },
      { minOverlap: 1 },
    );
    peaks.push(c.peak.toFixed(2));
    if (c.peak >= 0.9) {
      hits++;
      at = lo + c.lagSamples - start;
    }
  }
  return {
    heard: total === 0 ? 0 : hits / total,
    startMs: (first.lagSamples / 8000) * 1000,
    describe: `${hits}/${total} half-seconds at NCC ≥ 0.9 [${peaks.join(' ')}], start ${first.lagMs} ms`,
  };
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
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
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
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
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
      const c = promptSegments(ref, promptHeard);
      assert.ok(c.heard >= 0.75, `prompt heard in order: ${c.describe}`);

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

  test(
    'from a simulated PSTN line: the caller hears the prompt, then the extension; both hear each other; one interaction',
    { skip: baresipAvailable() ? false : 'baresip (Debian package baresip) is not installed' },
    async () => {
      const work = mkdtempSync(join(tmpdir(), 'connect-pstn-'));
      let phone: Baresip | undefined;
      try {
        // The line's inbound route goes to a connect service with a fixed extension (an operator line).
        await routeLinesToConnect(gw, '*49', '1003');

        // 1003 plays a rising chirp after a pause long enough for the prompt; the caller a falling one.
        const up = chirp({ durationS: 3, fromHz: 300, toHz: 3000 });
        const down = chirp({ durationS: 3, fromHz: 3000, toHz: 300 });
        const upWav = join(work, 'up.wav');
        const padded = new Int16Array(up.samples.length + 40 * 8000);
        padded.set(up.samples);
        writeWav(upWav, { sampleRate: 8000, samples: padded });
        writeWav(join(gw.dataDir, 'down.wav'), down);
        phone = await startBaresip({
          user: '1003',
          password: 'demo1003',
          registrar: { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' },
          codec: 'PCMU',
          playWav: upWav,
        });
        await phone.waitRegistered();

        const r = await gw.api<{ id: string }>('POST', '/api/sim/calls', {
          line: 2,
          callerId: { number: '13800138000' },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        const id = r.body.id;
        await phone.waitEvent('CALL_ESTABLISHED', { timeoutMs: 20_000 });
        let phase = '';
        for (const end = Date.now() + 5000; phase !== 'bridged' && Date.now() < end; await sleep(50)) {
          phase = (await status()).media.connect?.running[0]?.phase ?? '';
        }
        assert.equal(phase, 'bridged');
        // The line's frame leg and the app's media leg are wired in their worker: the only port
        // pair of the call is the extension's.
        assert.equal(
          (await status()).media.engine.ports.inUse.length,
          1,
          'one RTP port pair: the extension’s',
        );
        const play = await gw.api('POST', `/api/sim/calls/${id}/play`, { wav: 'down.wav' });
        assert.equal(play.status, 200, JSON.stringify(play.body));
        await sleep(4500);

        const wav = await fetch(`http://127.0.0.1:${gw.httpPort}/api/sim/calls/${id}/recording`);
        assert.equal(wav.status, 200);
        const atCallerPath = join(work, 'at-caller.wav');
        writeFileSync(atCallerPath, Buffer.from(await wav.arrayBuffer()));
        const atCaller = readWav(atCallerPath);
        await gw.api('POST', `/api/sim/calls/${id}/hangup`);
        await phone.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
        const atPhonePath = await phone.receivedAudio();
        assert.ok(atPhonePath, 'the phone recorded what it heard');

        const prompt = promptSegments(readWav(PROMPT), atCaller);
        const upward = crossCorrelate(up, atCaller);
        const downward = crossCorrelate(down, readWav(atPhonePath));
        assert.ok(prompt.heard >= 0.75, `the line heard the prompt in order: ${prompt.describe}`);
        assert.ok(upward.peak >= 0.8, `the line heard the extension: NCC ${upward.peak.toFixed(3)}`);
        assert.ok(downward.peak >= 0.8, `the extension heard the line: NCC ${downward.peak.toFixed(3)}`);
        assert.ok(prompt.startMs < upward.lagMs, 'the prompt came before the extension');

        let rows: CdrRow[] = [];
        for (const end = Date.now() + 5000; rows.length < 2 && Date.now() < end; await sleep(100)) {
          const all = (await gw.api<{ cdrs: CdrRow[] }>('GET', '/api/cdrs?limit=20')).body.cdrs;
          const b1 = all.find((x) => (x.legId ?? x.leg_id ?? '').endsWith(':b1') && x.peer === '1003');
          const ix = b1 ? (b1.interactionId ?? b1.interaction_id) : undefined;
          rows = ix ? all.filter((x) => (x.interactionId ?? x.interaction_id) === ix) : [];
        }
        assert.ok(rows.length >= 2, JSON.stringify(rows));
        assert.ok(rows.some((x) => x.direction === 'inbound'));
        assert.ok(rows.some((x) => x.direction === 'outbound' && x.peer === '1003'));
      } finally {
        await phone?.stop();
        rmSync(work, { recursive: true, force: true });
      }
    },
  );
});
