import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDtmfRelay } from '../../../src/media/dtmf/frame-dtmf.ts';
import { parseTelephoneEvents } from '../../../src/media/dtmf/dtmf-rfc4733.ts';
import { toFrames } from '../../../../base/signal/line-audio.ts';
import { concat, silence, speechLike, tone } from '../../../../base/test/signal/line-signals.ts';

interface Sent {
  pt: number;
  marker: boolean;
  timestamp: number;
  event: number;
  end: boolean;
  duration: number;
}

function run(audio: Int16Array, payloadType = 101): { sent: Sent[]; relay: FrameDtmfRelay } {
  const sent: Sent[] = [];
  let ts = 1000;
  const relay = new FrameDtmfRelay({
    timestamp: () => ts,
    send: (pt, marker, timestamp, payload) => {
      const ev = parseTelephoneEvents(payload);
      assert.ok(ev.ok);
      const e = ev.value[0];
      assert.ok(e);
      sent.push({ pt, marker, timestamp, event: e.event, end: e.end, duration: e.duration });
      return true;
    },
  });
  relay.setPayloadType(payloadType);
  for (const f of toFrames(concat(audio, silence(600)))) {
    ts += 160;
    relay.frame(f);
  }
  return { sent, relay };
}

describe('in-band digits on a PSTN frame leg become RFC 4733 telephone-events', () => {
  const cases = [
    { digit: '5', freqs: [770, 1336], event: 5 },
    { digit: '#', freqs: [941, 1477], event: 11 },
    { digit: 'A', freqs: [697, 1633], event: 12 },
  ];
  for (const c of cases) {
    test(`MUST send digit ${c.digit} as event ${c.event}: marker first, one timestamp, three end packets (RFC 4733 §2.5.1)`, () => {
      const { sent, relay } = run(concat(silence(100), tone(c.freqs, 120, -10)));
      assert.ok(sent.length >= 4, JSON.stringify(sent));
      assert.equal(sent[0]?.marker, true);
      assert.ok(sent.slice(1).every((s) => !s.marker));
      assert.ok(sent.every((s) => s.pt === 101 && s.event === c.event));
      assert.equal(new Set(sent.map((s) => s.timestamp)).size, 1);
      const ends = sent.filter((s) => s.end);
      assert.equal(ends.length, 3);
      // About 120 ms of tone at 8 kHz.
      assert.ok(Math.abs((ends[0]?.duration ?? 0) - 960) <= 160, `duration ${ends[0]?.duration}`);
      assert.equal(relay.dump().digits, 1);
    });
  }

  test('MUST NOT send events when the peer did not negotiate telephone-event', () => {
    const { sent } = run(tone([770, 1336], 120, -10), -1);
    assert.equal(sent.length, 0);
  });

  test('MUST keep two digits apart on the wire', () => {
    const { sent } = run(concat(tone([697, 1209], 100, -10), silence(80), tone([852, 1477], 100, -10)));
    const events = sent.map((s) => s.event);
    const firstNine = events.indexOf(9);
    assert.ok(firstNine > 0 && events.slice(0, firstNine).every((e) => e === 1), events.join(','));
    assert.ok(events.slice(firstNine).every((e) => e === 9));
    assert.equal(sent.filter((s) => s.marker).length, 2);
  });
});

describe('the tone of a digit sent as telephone-events is muted on the line audio (RFC 4733 §2.6)', () => {
  /** Frames through the relay as the worker sends them: relay first, then the frame goes out. */
  function pass(
    audio: Int16Array,
    payloadType: number,
  ): { input: Int16Array[]; output: Int16Array[]; ts: number[] } {
    const input = toFrames(concat(audio, silence(200)));
    const output: Int16Array[] = [];
    const ts: number[] = [];
    let lastSent = 0;
    const relay = new FrameDtmfRelay({
      timestamp: () => lastSent,
      send: (_pt, _marker, timestamp) => {
        ts.push(timestamp);
        return true;
      },
    });
    relay.setPayloadType(payloadType);
    input.forEach((f, i) => {
      const frame = f.slice();
      relay.frame(frame);
      output.push(frame);
      lastSent = 1000 + i * 160;
    });
    relay.close();
    return { input, output, ts };
  }
  const silent = (f: Int16Array | undefined): boolean => f !== undefined && f.every((s) => s === 0);
  // 100 ms of silence, then 160 ms of digit 5: frames 5..12 carry the tone.
  const digit = concat(silence(100), tone([770, 1336], 160, -10));
  const firstToneFrame = 5;
  const lastToneFrame = 12;

  test('MUST blank the frames of the digit from its detection to its end when telephone-event is negotiated', () => {
    const { input, output, ts } = pass(digit, 101);
    const firstMuted = output.findIndex((f, i) => silent(f) && !silent(input[i]));
    // The detector needs about 40 ms of tone: at most two frames of it may leak.
    assert.ok(firstMuted >= firstToneFrame && firstMuted <= firstToneFrame + 2, `first muted ${firstMuted}`);
    for (let i = firstMuted; i <= lastToneFrame; i++) assert.ok(silent(output[i]), `frame ${i} not muted`);
    // Audio before the digit is untouched.
    for (let i = 0; i < firstMuted; i++) assert.deepEqual(output[i], input[i]);
    // The events carry the timestamp of the frame the digit was detected in.
    assert.ok(ts.length >= 4);
    assert.ok(
      ts.every((t) => t === 1000 + firstMuted * 160),
      ts.join(','),
    );
  });

  const untouched = [
    {
      name: 'a digit when the peer did not negotiate telephone-event (in band is its only way)',
      audio: digit,
      pt: -1,
    },
    { name: 'speech-like audio with telephone-event negotiated', audio: speechLike(600), pt: 101 },
  ];
  for (const c of untouched) {
    test(`MUST leave the line audio untouched: ${c.name}`, () => {
      const { input, output } = pass(c.audio, c.pt);
      assert.equal(output.length, input.length);
      output.forEach((f, i) => assert.deepEqual(f, input[i], `frame ${i}`));
      assert.ok(input.some((f) => !silent(f)));
    });
  }
});
