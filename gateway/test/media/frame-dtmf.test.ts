import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDtmfRelay } from '../../src/media/frame-dtmf.ts';
import { parseTelephoneEvents } from '../../src/media/dtmf-rfc4733.ts';
import { toFrames } from '../../src/pstn/line-audio.ts';
import { concat, silence, tone } from '../pstn/line-signals.ts';

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
