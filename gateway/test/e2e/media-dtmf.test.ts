/**
 * DTMF and the echo test through the media engine, with SIPp playing RTP from a pcap this test
 * writes (libpcap, Ethernet/IPv4/UDP/RTP: G.711 µ-law audio and RFC 4733 events for "123#").
 * SIPp plays pcaps from a raw socket whose source is its own media port, so that is where the
 * gateway latches (RFC 4961) and echoes to; SIPp cannot record what it receives, so a capture
 * of the loopback interface (dumpcap) stands in for its ears. The echo must come back bit-exact
 * but for the SSRC, and each digit must be reported once.
 *
 * The second case sends SIP INFO (application/dtmf-relay, Signal=5) on a call bridged through
 * the gateway to a SIPp UAS: the digit is reported once and the INFO still reaches the callee.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { linearToUlaw } from '../../../base/signal/g711.ts';
import { parseRtp } from '../../src/media/rtp/rtp-packet.ts';
import { freePort, freeUdpBlock } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import {
  describeSippResult,
  runSipp,
  scenarioFile,
  sippBinary,
  startSipp,
  registerDemoExtension,
} from '../peers/sipp.ts';
import { freeUdpRange } from '../media/udp-helpers.ts';

const haveDumpcap = spawnSync('dumpcap', ['-v'], { stdio: 'ignore' }).status === 0;
const rawOk = typeof process.getuid === 'function' && process.getuid() === 0;
const skip =
  sippBinary() === null
    ? 'sip-tester (SIPp) is not installed'
    : !haveDumpcap
      ? 'dumpcap (wireshark-common) is not installed'
      : !rawOk
        ? 'SIPp plays pcaps from a raw socket: needs root'
        : false;

interface Digit {
  callKey: string;
  side: string;
  digit: string;
  durationMs: number;
  source: string;
}
interface EngineDump {
  dtmf: { digits: number; bySource: Record<string, number>; recent: Digit[] };
}

// ---------------------------------------------------------------------------------------------
// pcap writing and reading (libpcap format, https://wiki.wireshark.org/Development/LibpcapFileFormat)
// ---------------------------------------------------------------------------------------------

interface TimedDatagram {
  atMs: number;
  payload: Buffer;
}

function ipv4Checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A pcap of UDP datagrams 127.0.0.1:srcPort → 127.0.0.1:dstPort, link type Ethernet. */
function writePcap(path: string, datagrams: TimedDatagram[], srcPort: number, dstPort: number): void {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65535, 16);
  global.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const records: Buffer[] = [global];
  for (const d of datagrams) {
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x0800, 12);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + d.payload.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    ip.set([127, 0, 0, 1], 12);
    ip.set([127, 0, 0, 1], 16);
    ip.writeUInt16BE(ipv4Checksum(ip), 10);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(srcPort, 0);
    udp.writeUInt16BE(dstPort, 2);
    udp.writeUInt16BE(8 + d.payload.length, 4);
    const frame = Buffer.concat([eth, ip, udp, d.payload]);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(d.atMs / 1000), 0);
    rec.writeUInt32LE(Math.round((d.atMs % 1000) * 1000), 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    records.push(rec, frame);
  }
  writeFileSync(path, Buffer.concat(records));
}

/** UDP payloads of a pcap (Ethernet or Linux cooked capture), in capture order. */
function readPcapUdp(path: string): Array<{ srcPort: number; dstPort: number; payload: Buffer }> {
  const b = readFileSync(path);
  if (b.length < 24) return [];
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20);
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : 0;
  const out: Array<{ srcPort: number; dstPort: number; payload: Buffer }> = [];
  for (let o = 24; o + 16 <= b.length;) {
    const caplen = u32(o + 8);
    const frame = b.subarray(o + 16, o + 16 + caplen);
    o += 16 + caplen;
    const ip = frame.subarray(linkHeader);
    if (ip.length < 28 || ip[0] === undefined || ip[0] >> 4 !== 4 || ip[9] !== 17) continue;
    const ihl = (ip[0] & 0x0f) * 4;
    const udp = ip.subarray(ihl);
    out.push({
      srcPort: udp.readUInt16BE(0),
      dstPort: udp.readUInt16BE(2),
      payload: Buffer.from(udp.subarray(8, udp.readUInt16BE(4))),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the caller sends: 1 s of audio, "123#" as RFC 4733 events, 0.5 s of audio
// ---------------------------------------------------------------------------------------------

const SSRC = 0x5eed1234;

function rtp(pt: number, marker: boolean, seq: number, ts: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | pt;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(SSRC, 8);
  return Buffer.concat([h, payload]);
}

function callerStream(): TimedDatagram[] {
  const out: TimedDatagram[] = [];
  let seq = 20000;
  let ts = 160000;
  let at = 1_700_000_000_000;
  const audio = (frames: number) => {
    for (let i = 0; i < frames; i++) {
      const payload = Buffer.alloc(160);
      for (let k = 0; k < 160; k++)
        payload[k] = linearToUlaw(Math.round(8000 * Math.sin((2 * Math.PI * 440 * (ts + k)) / 8000)));
      out.push({ atMs: at, payload: rtp(0, i === 0, seq++, ts, payload) });
      ts += 160;
      at += 20;
    }
  };
  audio(50);
  for (const event of [1, 2, 3, 11]) {
    // RFC 4733 §2.5.1.2: one timestamp for the event, duration growing every 20 ms; §2.5.1.4: the
    // end packet three times. Then 60 ms of audio between digits.
    for (let i = 0; i < 7; i++) {
      const p = Buffer.alloc(4);
      p[0] = event;
      p[1] = (i >= 4 ? 0x80 : 0) | 10;
      p.writeUInt16BE(160 * Math.min(i + 1, 5), 2);
      out.push({ atMs: at, payload: rtp(101, i === 0, seq++, ts, p) });
      if (i < 4) at += 20;
    }
    ts += 800;
    at += 20;
    audio(3);
  }
  audio(25);
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('DTMF through the media engine (SIPp, pcap, loopback capture)', { skip }, () => {
  let gw: GatewayProcess;
  let dir: string;

  before(async () => {
    const lo = await freeUdpRange(10);
    gw = await startGateway({ demo: true, extraArgs: ['--rtp-ports', `${lo}-${lo + 9}`] });
    dir = mkdtempSync(join(tmpdir(), 'edgeline-dtmf-'));
  });

  after(async () => {
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const engine = async (): Promise<EngineDump> =>
    (await gw.api<{ media: { engine: EngineDump } }>('GET', '/api/status')).body.media.engine;

  test('*43 echoes the pcap audio and RFC 4733 events bit-exact (our SSRC) and reports "123#" once per digit', async () => {
    const sent = callerStream();
    const pcap = join(dir, 'caller.pcap');
    writePcap(pcap, sent, 6000, 6000);
    const scenario = join(dir, 'uac-auth-pcap.xml');
    writeFileSync(
      scenario,
      readFileSync(scenarioFile('uac-auth.xml'), 'utf8').replace(
        '<pause/>',
        `<nop><action><exec play_pcap_audio="${pcap}"/></action></nop>\n  <pause milliseconds="3500"/>`,
      ),
    );
    const mediaPort = await freePort('udp');
    const capture = join(dir, 'heard.pcap');
    const dumpcap = await startCapture(capture, `udp and dst port ${mediaPort}`);
    const before = (await engine()).dtmf.bySource.rfc4733 ?? 0;
    let r;
    try {
      r = await runSipp({
        scenario,
        remote: `127.0.0.1:${gw.sipPort}`,
        localPort: await freePort('udp'),
        calls: 1,
        service: '*43',
        auth: { username: '1001', password: 'demo1001' },
        keys: { caller: '1001', caller_domain: 'edgeline.local' },
        extraArgs: ['-mp', String(mediaPort), '-mi', '127.0.0.1'],
        timeoutS: 15,
      });
    } finally {
      await stopCapture(dumpcap);
    }
    assert.equal(r.exitCode, 0, describeSippResult(r));

    const heard = readPcapUdp(capture).map((d) => d.payload);
    const bySeq = new Map(heard.map((p) => [p.readUInt16BE(2), p]));
    assert.equal(heard.length, sent.length, `echoed ${heard.length} of ${sent.length} packets`);
    const ssrcs = new Set(heard.map((p) => p.readUInt32BE(8)));
    assert.equal(ssrcs.size, 1, 'one SSRC for the echo');
    assert.ok(!ssrcs.has(SSRC), 'the echo has its own SSRC (RFC 3550 §8)');
    for (const { payload: p } of sent) {
      const back = bySeq.get(p.readUInt16BE(2));
      assert.ok(back, `packet ${p.readUInt16BE(2)} came back`);
      assert.deepEqual(back.subarray(0, 8), p.subarray(0, 8), 'V/P/X/CC, M/PT, sequence, timestamp');
      assert.deepEqual(back.subarray(12), p.subarray(12), 'payload');
      assert.ok(parseRtp(back).ok);
    }

    let digits: Digit[] = [];
    for (
      const deadline = Date.now() + 2000;
      Date.now() < deadline;
      await new Promise((res) => setTimeout(res, 50))
    ) {
      const e = await engine();
      digits = e.dtmf.recent.filter((d) => d.source === 'rfc4733');
      if ((e.dtmf.bySource.rfc4733 ?? 0) - before >= 4) break;
    }
    assert.deepEqual(
      digits.slice(-4).map((d) => d.digit),
      ['1', '2', '3', '#'],
      JSON.stringify(digits),
    );
    assert.equal(((await engine()).dtmf.bySource.rfc4733 ?? 0) - before, 4, 'each digit reported once');
    for (const d of digits.slice(-4)) assert.equal(d.durationMs, 100);
    const metrics = await gw.api<string>('GET', '/metrics');
    assert.match(String(metrics.body), /edgeline_media_dtmf_digits_total\{source="rfc4733"\} \d+/);
  });

  test('SIP INFO (application/dtmf-relay, Signal=5) on a bridged call is reported once and still reaches the callee', async () => {
    // The callee registers as 1008 from the port its UAS then listens on.
    const uasPort = await freePort('udp');
    await registerDemoExtension(`127.0.0.1:${gw.sipPort}`, uasPort, '1008');
    const uas = await startSipp({
      scenario: 'uas-hold.xml',
      localPort: uasPort,
      timeoutS: 30,
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
    });
    const before = (await engine()).dtmf.bySource.info ?? 0;
    try {
      const r = await runSipp({
        scenario: 'uac-auth-hold.xml',
        remote: `127.0.0.1:${gw.sipPort}`,
        localPort: await freePort('udp'),
        calls: 1,
        service: '1008',
        holdMs: 300,
        auth: { username: '1001', password: 'demo1001' },
        keys: { caller: '1001', caller_domain: 'edgeline.local' },
        extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
        timeoutS: 15,
      });
      assert.equal(r.exitCode, 0, describeSippResult(r));
    } finally {
      const callee = await uas.stop();
      // The callee's scenario expects the INFO: its success means the INFO was relayed.
      assert.equal(callee.stats?.successful, 1, describeSippResult(callee));
    }
    const e = await engine();
    assert.equal((e.dtmf.bySource.info ?? 0) - before, 1, 'one INFO, one digit');
    const last = e.dtmf.recent.filter((d) => d.source === 'info').at(-1);
    assert.ok(last);
    assert.deepEqual(
      { digit: last.digit, side: last.side, durationMs: last.durationMs },
      { digit: '5', side: 'a', durationMs: 160 },
    );
  });
});

async function startCapture(file: string, filter: string): Promise<ChildProcess> {
  const child = spawn('dumpcap', ['-i', 'lo', '-P', '-f', filter, '-w', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`dumpcap did not start: ${err}`)), 10_000);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('Capturing on')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', () => {
      clearTimeout(t);
      reject(new Error(`dumpcap exited: ${err}`));
    });
  });
  return child;
}

async function stopCapture(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  // The last packets are still in the capture buffer: give them a moment, then let dumpcap flush.
  await new Promise((r) => setTimeout(r, 300));
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGINT');
  });
}
