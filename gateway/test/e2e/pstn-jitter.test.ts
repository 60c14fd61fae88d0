/**
 * SIP → PSTN audio through a bad network (issue 3, "Jitter buffer (adaptive) for every stream the
 * gateway consumes (… PSTN)"): the SIP party of a PSTN call sends a steady tone over a path that
 * reorders (pairs swapped), delays (0–40 ms per packet) and loses (2 %) packets. What the simulated
 * PSTN caller hears on the line must be the tone, continuous: no silent frame, no run of degraded
 * frames longer than one concealed frame, frequency right.
 *
 * SIPp registers as 1001 and answers the call the line rings there; its SDP names a socket of this
 * test, which plays the SIP party's media so it can impair it exactly (seeded, reproducible).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeG711 } from '../../../base/signal/g711.ts';
import { writeRtpHeader } from '../../src/media/rtp/rtp-packet.ts';
import { freePort, freeUdpBlock } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { metricSum } from '../peers/raw-sip.ts';
import { sippBinary, startSipp, type SippServer, registerDemoExtension } from '../peers/sipp.ts';
import { freeUdpRange, udpPeer, waitUntil, type UdpPeer } from '../media/udp-helpers.ts';
import { rms, zeroCrossingFrequencyHz } from '../../../base/test/signal/tone-analysis.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;

const RTP_PORTS = 40;
const TONE_HZ = 1000;
const TONE_PEAK = 8000;
const PACKETS = 250; // 5 s
const MAX_DELAY_MS = 40;
const LOSS = 0.02;
/** Every this many pairs, the two packets of a pair leave in swapped order. */
const SWAP_EVERY_PAIRS = 4;

interface FramesDump {
  jitter: { late: number; lost: number; concealed: number; maxTargetDelayMs: number };
  playout: { underruns: number };
}
interface SimCall {
  id: string;
  state: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small seeded generator (mulberry32), so every run impairs the stream the same way. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Plan {
  /** Packet index → send offset from the start (ms); lost packets are absent. */
  sends: Array<{ index: number; atMs: number }>;
  lost: number[];
  swapped: number;
}

/** The impairment: losses never adjacent (so each gap is one frame), pairs swapped, random delay. */
function impairment(seed: number): Plan {
  const rnd = prng(seed);
  const lost = new Set<number>();
  const want = Math.round(PACKETS * LOSS);
  while (lost.size < want) {
    const i = 10 + Math.floor(rnd() * (PACKETS - 20));
    if (!lost.has(i - 1) && !lost.has(i) && !lost.has(i + 1)) lost.add(i);
  }
  const sends: Plan['sends'] = [];
  let swapped = 0;
  for (let i = 0; i < PACKETS; i++) {
    if (lost.has(i)) continue;
    // A swapped pair: each packet leaves in the other's slot.
    const pair = Math.floor(i / 2);
    const swap = pair % SWAP_EVERY_PAIRS === SWAP_EVERY_PAIRS - 1;
    const slot = swap ? (i % 2 === 0 ? i + 1 : i - 1) : i;
    if (swap && i % 2 === 0) swapped++;
    sends.push({ index: i, atMs: slot * 20 + rnd() * MAX_DELAY_MS });
  }
  sends.sort((a, b) => a.atMs - b.atMs);
  return { sends, lost: [...lost].sort((a, b) => a - b), swapped };
}

/** µ-law packets of a continuous tone, one per 20 ms frame. */
function tonePackets(ssrc: number): Buffer[] {
  const out: Buffer[] = [];
  const pcm = new Int16Array(160);
  for (let i = 0; i < PACKETS; i++) {
    for (let k = 0; k < 160; k++)
      pcm[k] = Math.round(TONE_PEAK * Math.sin((2 * Math.PI * TONE_HZ * (i * 160 + k)) / 8000));
    const b = Buffer.alloc(172);
    writeRtpHeader(b, {
      marker: i === 0,
      payloadType: 0,
      sequenceNumber: (40000 + i) & 0xffff,
      timestamp: (0xffff_f000 + i * 160) >>> 0,
      ssrc,
    });
    encodeG711('pcmu', pcm, b.subarray(12));
    out.push(b);
  }
  return out;
}

/** Send per the plan on the wall clock; resolves when the last packet is out. */
async function play(from: UdpPeer, toPort: number, packets: Buffer[], plan: Plan): Promise<void> {
  const t0 = performance.now();
  let next = 0;
  while (next < plan.sends.length) {
    const now = performance.now() - t0;
    while (next < plan.sends.length && (plan.sends[next]?.atMs ?? Infinity) <= now) {
      const s = plan.sends[next++];
      if (s) await from.send(packets[s.index] as Buffer, toPort);
    }
    const due = plan.sends[next]?.atMs;
    if (due !== undefined) await sleep(Math.max(0, due - (performance.now() - t0) - 1));
  }
}

export interface LineAnalysis {
  toneFrames: number;
  /** Frames of the tone region below −20 dB of its median level. */
  silentFrames: number;
  /** Frames below −3 dB of the median (concealed or missing). */
  degradedFrames: number;
  longestDegradedRun: number;
  frequencyHz: number;
  medianRms: number;
}

/** Cut what the line heard into its 20 ms frames and measure the tone region. */
export function analyseLine(samples: Int16Array): LineAnalysis {
  const levels: number[] = [];
  for (let at = 0; at + 160 <= samples.length; at += 160) levels.push(rms(samples.subarray(at, at + 160)));
  const loud = TONE_PEAK / Math.SQRT2 / 4;
  const first = levels.findIndex((l) => l > loud);
  let last = levels.length - 1;
  while (last > first && (levels[last] ?? 0) <= loud) last--;
  const region = first < 0 ? [] : levels.slice(first, last + 1);
  const sorted = [...region].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  let silent = 0;
  let degraded = 0;
  let run = 0;
  let longest = 0;
  for (const l of region) {
    if (l < median * 0.1) silent++;
    if (l < median * 0.7) {
      degraded++;
      longest = Math.max(longest, ++run);
    } else run = 0;
  }
  const tone = first < 0 ? new Int16Array(0) : samples.subarray(first * 160, (last + 1) * 160);
  return {
    toneFrames: region.length,
    silentFrames: silent,
    degradedFrames: degraded,
    longestDegradedRun: longest,
    frequencyHz: zeroCrossingFrequencyHz(tone, 8000),
    medianRms: median,
  };
}

function pcmOfWav(buf: Buffer): Int16Array {
  // The office's recording: a 44-byte canonical header, then 16-bit little-endian samples.
  const data = buf.subarray(44);
  const out = new Int16Array(data.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = data.readInt16LE(i * 2);
  return out;
}

describe(
  'SIP → PSTN audio through reordering, jitter and loss (SIPp signalling, test-owned RTP)',
  { skip },
  () => {
    let gw: GatewayProcess;
    let callee: SippServer | undefined;
    let media: UdpPeer;

    before(async () => {
      // A block checked free now: the gateway's PSTN and SIP legs both take ports from it.
      const rtpLo = await freeUdpRange(RTP_PORTS);
      gw = await startGateway({
        demo: true,
        extraArgs: ['--rtp-ports', `${rtpLo}-${rtpLo + RTP_PORTS - 1}`],
      });
      media = await udpPeer();
      const calleePort = await freePort('udp');
      await registerDemoExtension(`127.0.0.1:${gw.sipPort}`, calleePort, '1001');
      callee = await startSipp({
        scenario: 'uas-media-port.xml',
        localPort: calleePort,
        timeoutS: 120,
        keys: { rtp_port: String(media.port) },
        extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      });
    });

    after(async () => {
      await media?.close();
      await callee?.stop(500).catch(() => undefined);
      await gw?.stop();
    });

    test('the line MUST hear the tone continuous: no silent frame, degraded runs of at most one frame, frequency within 1 %', async (t) => {
      const r = await gw.api<SimCall>('POST', '/api/sim/calls', {
        line: 1,
        callerId: { number: '13800138000' },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const id = r.body.id;
      const answered = await waitUntil(() => media.received.length > 0, 15_000);
      assert.ok(answered, `no RTP from the gateway: ${gw.output().slice(-2000)}`);
      for (let i = 0; i < 50; i++) {
        if ((await gw.api<SimCall>('GET', `/api/sim/calls/${id}`)).body.state === 'answered') break;
        await sleep(100);
      }
      // Symmetric RTP: the gateway's port is where its packets come from.
      const gatewayPort = media.received[0]?.from.port ?? 0;
      const plan = impairment(0x5eed);
      await play(media, gatewayPort, tonePackets(0x1234abcd), plan);
      // The workers' statistics reach the dump once a second.
      await sleep(1500);

      const status = await gw.api<{ media: { engine: { frames: FramesDump } } }>('GET', '/api/status');
      const metrics = await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`).then((x) => x.text());
      const wav = await fetch(`http://127.0.0.1:${gw.httpPort}/api/sim/calls/${id}/recording`);
      assert.equal(wav.status, 200);
      const a = analyseLine(pcmOfWav(Buffer.from(await wav.arrayBuffer())));
      await gw.api('POST', `/api/sim/calls/${id}/hangup`);

      t.diagnostic(
        `sent ${PACKETS - plan.lost.length}/${PACKETS} packets (lost ${plan.lost.join(',')}; ${plan.swapped} pairs swapped; delay 0–${MAX_DELAY_MS} ms)`,
      );
      t.diagnostic(`line: ${JSON.stringify(a)}`);
      t.diagnostic(`frame legs: ${JSON.stringify(status.body.media.engine.frames)}`);
      assert.ok(a.toneFrames >= PACKETS - 5, `tone region of ${a.toneFrames} frames`);
      assert.equal(a.silentFrames, 0, 'silent frames in the tone');
      assert.ok(a.longestDegradedRun <= 1, `a run of ${a.longestDegradedRun} degraded frames`);
      assert.ok(Math.abs(a.frequencyHz - TONE_HZ) < TONE_HZ * 0.01, `heard ${a.frequencyHz} Hz`);
      const f = status.body.media.engine.frames;
      assert.ok(f.jitter.lost >= plan.lost.length - 1, `lost ${f.jitter.lost} of ${plan.lost.length}`);
      assert.ok(f.jitter.concealed >= f.jitter.lost);
      assert.equal(f.playout.underruns, 0, 'the card never ran dry');
      assert.equal(metricSum(metrics, 'edgeline_media_frame_jitter_frames', /kind="lost"/), f.jitter.lost);
    });
  },
);
