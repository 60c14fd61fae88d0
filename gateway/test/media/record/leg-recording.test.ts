/**
 * Recording and DTMF through the media engine on real sockets: two RTP peers in this process play
 * caller and callee, the relay worker taps both legs into the recorder thread, and the WAV it
 * writes is read back. The caller's burst must be on the left, the callee's on the right, at the
 * same place in the file (both were sent at the same instant): aligned within 40 ms.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../../src/core/log.ts';
import { MediaEngine, type DigitEvent } from '../../../src/media/engine/engine.ts';
import { linearToAlaw, linearToUlaw } from '../../../../base/signal/g711.ts';
import { RecorderClient } from '../../../src/media/record/recorder-client.ts';
import { recordingPath, type RecordingSummary } from '../../../src/media/record/recording-writer.ts';
import { WAV_HEADER_BYTES } from '../../../../base/signal/wav.ts';
import { freeUdpRange, udpPeer, waitUntil, type UdpPeer } from '../udp-helpers.ts';

function sdp(port: number, pt: number, name: string): Buffer {
  return Buffer.from(
    [
      'v=0',
      'o=peer 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${port} RTP/AVP ${pt} 101`,
      `a=rtpmap:${pt} ${name}/8000`,
      'a=rtpmap:101 telephone-event/8000',
      'a=sendrecv',
    ].join('\r\n') + '\r\n',
  );
}

function portOf(out: Buffer | { rejectStatus: number }): number {
  assert.ok(Buffer.isBuffer(out));
  const m = /m=audio (\d+)/.exec(out.toString());
  assert.ok(m?.[1]);
  return Number(m[1]);
}

function packet(pt: number, seq: number, payload: Uint8Array, marker = false, ts = seq * 160): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts, 4);
  b.writeUInt32BE(0xabc0 + pt, 8);
  b.set(payload, 12);
  return b;
}

/** Frame k of a stream that is silent except a burst of `hz` in frames [from, to). */
function frame(law: 'pcmu' | 'pcma', hz: number, k: number, from: number, to: number): Uint8Array {
  const enc = law === 'pcmu' ? linearToUlaw : linearToAlaw;
  return Uint8Array.from({ length: 160 }, (_, i) =>
    enc(k >= from && k < to ? Math.round(10000 * Math.sin((2 * Math.PI * hz * (k * 160 + i)) / 8000)) : 0),
  );
}

/** First sample index where the channel's 5 ms energy rises above a threshold. */
function onset(ch: Int16Array): number {
  for (let i = 0; i + 40 <= ch.length; i += 8) {
    let e = 0;
    for (let k = 0; k < 40; k++) e += Math.abs(ch[i + k] ?? 0);
    if (e / 40 > 2000) return i;
  }
  return -1;
}

describe('recording and DTMF through the media engine', () => {
  let dir: string;
  let engine: MediaEngine;
  let recorder: RecorderClient;
  const closed: Array<[string, RecordingSummary]> = [];
  const digits: DigitEvent[] = [];
  let a: UdpPeer;
  let b: UdpPeer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgeline-rec-'));
    recorder = new RecorderClient({ dir });
    const lo = await freeUdpRange(4);
    engine = await MediaEngine.start({
      host: '127.0.0.1',
      rtpPorts: { lo, hi: lo + 3 },
      codecs: ['PCMU', 'PCMA', 'telephone-event'],
      deadMediaTimeoutS: 0,
      workers: 1,
      recorder: {
        open: (id) => recorder.open(id),
        write: (id, f) => recorder.write(id, f),
        close: (id) => recorder.close(id),
        pathOf: (id) => recordingPath(dir, id),
      },
      shouldRecord: () => true,
      onRecordingClosed: (id, s) => closed.push([id, s]),
      onDigit: (e) => digits.push(e),
      logger: silentLogger,
    });
    a = await udpPeer();
    b = await udpPeer();
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await engine?.close();
    await recorder?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('MUST record caller left and callee right in one stereo WAV, aligned within 40 ms, name it while the call runs, report each RFC 4733 digit once', async () => {
    const key = 'rec-1';
    const toA = portOf(engine.relay(key, 'a', sdp(a.port, 0, 'PCMU')));
    const toB = portOf(engine.relay(key, 'b', sdp(b.port, 8, 'PCMA')));
    assert.ok(await engine.opened(key));
    assert.equal(engine.recordingOf(key), join(dir, `${key}.wav`));
    // 1.2 s of 20 ms packets from both sides at the same instants; bursts in frames 20–30.
    const start = performance.now();
    for (let k = 0; k < 60; k++) {
      await a.send(packet(0, k, frame('pcmu', 500, k, 20, 30)), toB);
      await b.send(packet(8, k, frame('pcma', 1000, k, 20, 30)), toA);
      if (k === 40) {
        // RFC 4733 §2.5.1.2: digit 7, one timestamp, duration growing, the end packet ×3.
        for (let i = 0; i < 6; i++) {
          const ev = Buffer.from([7, (i >= 3 ? 0x80 : 0) | 10, 0, 0]);
          ev.writeUInt16BE(160 * Math.min(i + 1, 3), 2);
          await a.send(packet(101, 1000 + i, ev, i === 0, 99_000), toB);
        }
      }
      const due = start + (k + 1) * 20;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    await new Promise((r) => setTimeout(r, 100));
    engine.release(key);
    assert.equal(engine.recordingOf(key), join(dir, `${key}.wav`), 'named until the file is closed (CDR)');
    assert.ok(await waitUntil(() => closed.length === 1, 3000), 'recording closed');
    const [id, summary] = closed[0] ?? ['', { path: '', bytes: 0, durationMs: 0 }];
    assert.equal(id, key);
    assert.equal(summary.error, undefined);
    assert.equal(summary.path, join(dir, `${key}.wav`));

    const wav = readFileSync(summary.path);
    assert.equal(wav.readUInt16LE(22), 2, 'stereo');
    assert.equal(wav.readUInt32LE(24), 8000);
    const frames = (wav.length - WAV_HEADER_BYTES) / 4;
    const left = new Int16Array(frames);
    const right = new Int16Array(frames);
    for (let i = 0; i < frames; i++) {
      left[i] = wav.readInt16LE(WAV_HEADER_BYTES + 4 * i);
      right[i] = wav.readInt16LE(WAV_HEADER_BYTES + 4 * i + 2);
    }
    assert.ok(frames >= 8000 * 1.1, `${frames} samples recorded`);
    const l = onset(left);
    const r = onset(right);
    assert.ok(l > 0 && r > 0, `bursts found (left ${l}, right ${r})`);
    assert.ok(Math.abs(l - r) <= 320, `left ${l} vs right ${r}: ${Math.abs(l - r) / 8} ms apart`);

    const sevens = digits.filter((d) => d.callKey === key);
    assert.deepEqual(
      sevens.map((d) => [d.digit, d.side, d.source, d.durationMs]),
      [['7', 'a', 'rfc4733', 60]],
    );
    // The event was still relayed to the callee, with the callee's payload type.
    assert.ok(b.received.some((m) => (m.msg[1]! & 0x7f) === 101 && m.msg[12] === 7));
  });

  test('a leg the gateway answered records on its own: an app’s recording (stopped early) beside the interaction’s, each a complete file', async () => {
    const key = 'svc-1';
    const leg = engine.openService(key, 'prompt');
    assert.ok(leg && (await leg.opened()));
    leg.start({
      remote: { address: '127.0.0.1', port: a.port },
      law: 'pcmu',
      audioPayloadType: 0,
      telephoneEventPayloadType: 101,
    });
    const before = closed.length;
    assert.equal(engine.recordLeg(key, key, 'caller'), join(dir, `${key}.wav`), 'the interaction’s');
    const vm = engine.startRecording(key, `${key}-rec1`, 'caller');
    assert.equal(vm, join(dir, `${key}-rec1.wav`));
    assert.equal(engine.startRecording(key, `${key}-rec1`, 'caller'), undefined, 'one recording per id');
    assert.equal(engine.startRecording('no-such-leg', 'x', 'caller'), undefined, 'no leg, no recording');
    const vmClosed = engine.recordingClosed(`${key}-rec1`);
    // 1.6 s from the caller, a burst in frames 10–20; the app's recording stops at 0.8 s.
    const start = performance.now();
    for (let k = 0; k < 80; k++) {
      await a.send(packet(0, k, frame('pcmu', 500, k, 10, 20)), leg.rtpPort);
      if (k === 40) engine.stopRecording(`${key}-rec1`);
      const due = start + (k + 1) * 20;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    const summary = await vmClosed;
    assert.equal(summary.error, undefined);
    assert.equal(summary.path, vm);
    await leg.close();
    assert.ok(await waitUntil(() => closed.length >= before + 2, 3000), 'both recordings closed');
    const whole = closed.find(([id]) => id === key)?.[1];
    assert.ok(whole && !whole.error);
    for (const [path, minS, maxS] of [
      [summary.path, 0.5, 1.2],
      [whole.path, 1.3, 2.5],
    ] as const) {
      const wav = readFileSync(path);
      const frames = (wav.length - WAV_HEADER_BYTES) / 4;
      const left = new Int16Array(frames);
      for (let i = 0; i < frames; i++) left[i] = wav.readInt16LE(WAV_HEADER_BYTES + 4 * i);
      assert.ok(frames >= 8000 * minS && frames <= 8000 * maxS, `${path}: ${frames / 8000} s`);
      assert.ok(onset(left) > 0, `${path}: the caller's burst on the left`);
    }
  });
});
