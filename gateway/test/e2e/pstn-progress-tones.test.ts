/**
 * Call-progress tones to a PSTN caller, with real peers: a simulated PSTN caller rings line 1,
 * the gateway answers the line when the SIP side rings and plays the tone plan's ringback until a
 * SIPp extension answers (then the extension's audio is heard); a busy extension leaves the caller
 * with the plan's busy tone and an unrouted call with congestion, each for the configured time,
 * after which the line is released.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { freePort } from '../peers/free-port.ts';
import { describeSippResult, runSipp, sippBinary, startSipp, type SippServer } from '../peers/sipp.ts';
import { goertzelPower } from '../../../base/test/signal/tone-analysis.ts';
import { linearToUlaw } from '../../../base/signal/g711.ts';

const skip = sippBinary() ? false : 'SIPp (Debian package sip-tester) is not installed';
const FAILURE_TONE_MS = 3000;

interface SimCall {
  id: string;
  state: string;
  endedBy: string | null;
  recording: { frames: number };
}
type Doc = Record<string, unknown> & {
  system: Record<string, unknown>;
  pstn: Record<string, unknown>;
  routes: { inbound: Array<{ destination: { type: string; target: string } }> };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Per 20 ms frame: is `hz` present (most of the frame's energy at that frequency, above −40 dBm0)? */
function framesWithTone(samples: Int16Array, hz: number): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i + 160 <= samples.length; i += 160) {
    const f = samples.subarray(i, i + 160);
    let e = 0;
    for (const x of f) e += x * x;
    const p = goertzelPower(f, 8000, hz);
    // A pure sine puts (N/2)² · A²/4 … of its energy in its bin: compare against the frame energy.
    out.push(e > 160 * 30 * 30 && p > (0.3 * (e * 160)) / 2);
  }
  return out;
}

/** Run lengths in ms: [on, off, on, …] starting at the first "on" frame. */
function runsMs(flags: boolean[]): number[] {
  const first = flags.indexOf(true);
  if (first < 0) return [];
  const runs: number[] = [];
  let cur = true;
  let n = 0;
  for (let i = first; i < flags.length; i++) {
    if (flags[i] === cur) n++;
    else {
      runs.push(n * 20);
      cur = !cur;
      n = 1;
    }
  }
  runs.push(n * 20);
  return runs;
}

function near(actual: number | undefined, want: number, tolMs = 60): boolean {
  return actual !== undefined && Math.abs(actual - want) <= tolMs;
}

describe('call-progress tones to a PSTN caller (simulated office, SIPp extensions)', { skip }, () => {
  let gw: GatewayProcess;
  const servers: SippServer[] = [];

  before(async () => {
    gw = await startGateway({ demo: true });
  });
  after(async () => {
    for (const s of servers) await s.stop(300).catch(() => undefined);
    await gw?.stop();
  });

  const simCall = async (id: string) => (await gw.api<SimCall>('GET', `/api/sim/calls/${id}`)).body;
  const recording = async (id: string): Promise<Int16Array> => {
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}/api/sim/calls/${id}/recording`);
    const wav = Buffer.from(await res.arrayBuffer());
    const pcm = wav.subarray(44);
    return new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + (pcm.length & ~1)));
  };

  async function configure(change: (d: Doc) => void): Promise<void> {
    const doc = (await gw.api<Doc>('GET', '/api/config')).body;
    change(doc);
    const put = await gw.api('PUT', '/api/config', doc);
    assert.equal(put.status, 200, JSON.stringify(put.body));
  }

  async function register(ext: string, port: number): Promise<void> {
    const reg = await runSipp({
      scenario: 'register-auth.xml',
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: port,
      calls: 1,
      auth: { username: ext, password: `demo${ext}`, uri: 'edgeline.local' },
      keys: { caller: ext, caller_domain: 'edgeline.local', expires: '300' },
      timeoutS: 15,
    });
    assert.equal(reg.exitCode, 0, describeSippResult(reg));
  }

  async function waitIdleLine(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const lines = (
        await gw.api<{ lines: Array<{ key: string; state: string; call: unknown }> }>(
          'GET',
          '/api/pstn/lines',
        )
      ).body.lines;
      const l = lines.find((x) => x.key === 'fxo1');
      if (l?.state === 'idle' && l.call === null) return;
      await sleep(100);
    }
    assert.fail('line fxo1 not idle');
  }

  async function ringLine1(): Promise<string> {
    await waitIdleLine();
    const r = await gw.api<{ id: string }>('POST', '/api/sim/calls', {
      line: 1,
      callerId: { number: '13800138000' },
      cidMode: 'fsk-bell202',
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  }

  async function until(id: string, ok: (c: SimCall) => boolean, withinMs: number): Promise<SimCall> {
    const t0 = Date.now();
    for (;;) {
      const c = await simCall(id);
      if (ok(c)) return c;
      if (Date.now() - t0 > withinMs) assert.fail(`sim call ${JSON.stringify(c)}`);
      await sleep(100);
    }
  }

  test('ringback of the plan (cn: 450 Hz 1 s on / 4 s off) while the extension rings, then the extension’s audio', async (t) => {
    const sipPort = await freePort('udp');
    const rtpPort = await freePort('udp');
    await register('1001', sipPort);
    // The extension's media: a 1000 Hz tone sent back to wherever the gateway's RTP comes from.
    const rtp = createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(rtpPort, '127.0.0.1', r));
    let timer: NodeJS.Timeout | undefined;
    let seq = 0;
    rtp.on('message', (_m, rinfo) => {
      if (timer) return;
      timer = setInterval(() => {
        const pkt = Buffer.alloc(12 + 160);
        pkt[0] = 0x80;
        pkt[1] = 0;
        pkt.writeUInt16BE(seq & 0xffff, 2);
        pkt.writeUInt32BE((seq * 160) >>> 0, 4);
        pkt.writeUInt32BE(0x1234, 8);
        for (let i = 0; i < 160; i++) {
          const n = seq * 160 + i;
          pkt[12 + i] = linearToUlaw(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * n) / 8000)));
        }
        seq++;
        rtp.send(pkt, rinfo.port, rinfo.address);
      }, 20);
    });
    try {
      const callee = await startSipp({
        scenario: 'uas-ring-then-answer.xml',
        localPort: sipPort,
        holdMs: 6500,
        keys: { rtp_port: String(rtpPort) },
        timeoutS: 60,
      });
      servers.push(callee);
      const id = await ringLine1();
      await until(id, (c) => c.state === 'answered', 10_000);
      await sleep(9000);
      const samples = await recording(id);
      await gw.api('POST', `/api/sim/calls/${id}/hangup`);
      const ring = framesWithTone(samples, 450);
      const runs = runsMs(ring);
      const tone1000 = framesWithTone(samples, 1000);
      const firstMedia = tone1000.indexOf(true);
      t.diagnostic(
        `ringback runs (ms) ${runs.slice(0, 6).join(',')}; callee audio from ${firstMedia * 20} ms`,
      );
      assert.ok(near(runs[0], 1000), `first ringback burst ${runs[0]} ms`);
      assert.ok(near(runs[1], 4000), `ringback pause ${runs[1]} ms`);
      assert.ok(firstMedia > 0, 'the callee’s audio is heard after the answer');
      // The ringback stops at the answer: no 450 Hz once the callee’s audio is there.
      assert.equal(ring.slice(firstMedia + 5).filter(Boolean).length, 0, 'no ringback after the answer');
      assert.ok(
        tone1000.slice(firstMedia, firstMedia + 50).filter(Boolean).length > 40,
        'callee audio steady',
      );
    } finally {
      if (timer) clearInterval(timer);
      rtp.close();
    }
  });

  const failureCases = [
    { plan: 'cn', ext: '1002', hz: 450, on: 350, off: 350, tone: 'busy (486)', scenario: 'uas-486.xml' },
    { plan: 'etsi', ext: '1002', hz: 425, on: 500, off: 500, tone: 'busy (486)', scenario: 'uas-486.xml' },
    { plan: 'cn', ext: null, hz: 450, on: 700, off: 700, tone: 'congestion (no route)', scenario: null },
    { plan: 'nanp', ext: null, hz: 480, on: 250, off: 250, tone: 'congestion (no route)', scenario: null },
  ] as const;

  for (const c of failureCases) {
    test(`${c.plan}: ${c.tone} → ${c.hz} Hz ${c.on}/${c.off} ms for the configured time, then the line is released`, async (t) => {
      await configure((d) => {
        d.system['tonePlan'] = c.plan;
        d.pstn['callProgress'] = { answer: 'early', failureToneMs: FAILURE_TONE_MS };
        const dest = d.routes.inbound[0]?.destination;
        if (dest) dest.target = c.ext ?? '1009';
        if (!c.ext) d.routes.inbound = [];
      });
      if (c.scenario && c.ext) {
        const port = await freePort('udp');
        await register(c.ext, port);
        servers.push(await startSipp({ scenario: c.scenario, localPort: port, timeoutS: 60 }));
      }
      const id = await ringLine1();
      const ended = await until(id, (s) => s.state === 'ended', 15_000);
      assert.equal(ended.endedBy, 'gateway');
      const samples = await recording(id);
      const runs = runsMs(framesWithTone(samples, c.hz));
      t.diagnostic(`${c.plan} runs (ms) ${runs.join(',')}; heard ${samples.length / 8} ms`);
      assert.ok(near(samples.length / 8, FAILURE_TONE_MS, 500), `tone for ${samples.length / 8} ms`);
      assert.ok(runs.length >= 3, `cadence runs ${runs.join(',')}`);
      // The release cuts the last burst short: every run before it follows the cadence.
      for (let i = 0; i < runs.length - 2; i++)
        assert.ok(near(runs[i], i % 2 === 0 ? c.on : c.off), `run ${i}: ${runs[i]} ms`);
      await waitIdleLine();
    });
  }
});
