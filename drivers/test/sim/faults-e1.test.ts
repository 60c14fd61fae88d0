import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../base/clock.ts';
import { FskCallerIdDecoder } from '../../../base/signal/caller-id-fsk.ts';
import { DriverErrors } from '../../api/types.ts';
import { openDriver } from '../../index.ts';
import { eventsOf, harness, heard, levelDbm0, purity, sendTone } from './harness.ts';

describe('injected line faults', () => {
  test('no dial tone: the seized line stays silent and takes no digits', () => {
    const h = harness();
    assert.ok(h.office.setFaults(1, ['no-dial-tone']).ok);
    const tap = h.tap('fxo-1');
    assert.ok(tap.channel.seize().ok);
    h.advance(1000);
    assert.ok(levelDbm0(heard(tap, 0, 1000)) < -60);
    assert.ok(tap.channel.dialDtmf('95001').ok);
    h.advance(3000);
    assert.equal(h.office.port(1)?.summary().dialled, '');
    assert.equal(eventsOf(tap, 'loop-current').at(-1)?.present, true);
    h.close();
  });

  test('dead line: no battery alarm, no loop current when seized, no ringing, no audio', () => {
    const h = harness();
    const tap = h.tap('fxo-1');
    assert.ok(h.office.setFaults('fxo-1', ['dead-line']).ok);
    h.advance(20);
    assert.deepEqual(eventsOf(tap, 'alarm').at(-1)?.alarms, ['no-battery']);
    assert.ok(h.office.originate({ line: 1, callerId: { number: '1' } }).ok);
    h.advance(11_000);
    assert.equal(eventsOf(tap, 'ring-on').length, 0);
    assert.ok(tap.channel.seize().ok);
    h.advance(1000);
    assert.equal(eventsOf(tap, 'loop-current').at(-1)?.present, false);
    assert.ok(levelDbm0(heard(tap, 0, h.clock.now())) < -90);
    h.close();
  });

  test('ring with no caller ID: rings in cadence and sends nothing between rings', () => {
    const h = harness();
    assert.ok(h.office.setFaults(1, ['no-caller-id']).ok);
    const tap = h.tap('fxo-1');
    assert.ok(h.office.originate({ line: 1, callerId: { number: '13800138000' } }).ok);
    h.advance(5100);
    assert.equal(eventsOf(tap, 'ring-on').length, 2);
    assert.ok(levelDbm0(heard(tap, 1000, 5000)) < -90);
    h.close();
  });

  test('ringing that stops mid-cadence: the second burst breaks off and never returns', () => {
    const h = harness();
    assert.ok(h.office.setFaults(1, ['ring-stops']).ok);
    const tap = h.tap('fxo-1');
    const r = h.office.originate({ line: 1, callerId: { number: '13800138000' } });
    assert.ok(r.ok);
    h.advance(20_000);
    assert.deepEqual(
      eventsOf(tap, 'ring-on').map((e) => e.atMs),
      [0, 5000],
    );
    assert.deepEqual(
      eventsOf(tap, 'ring-off').map((e) => e.atMs),
      [1000, 5500],
    );
    assert.equal(r.value.state, 'ended');
    assert.equal(r.value.summary().cause, 'ringing-stopped');
    h.close();
  });

  test('garbage audio: noise at about −20 dBm0 on the line, idle or not', () => {
    const h = harness();
    assert.ok(h.office.setFaults(1, ['garbage-audio']).ok);
    const tap = h.tap('fxo-1');
    h.advance(1000);
    const lvl = levelDbm0(heard(tap, 0, 1000));
    assert.ok(Math.abs(lvl - -20) < 1, `level ${lvl}`);
    h.close();
  });

  test('an unknown fault is refused with the field named', () => {
    const h = harness();
    const r = h.office.setFaults(1, ['smoke']);
    assert.equal(r.ok ? null : r.error.field, 'faults');
    h.close();
  });
});

describe('E1 channel-associated signalling', () => {
  test('outgoing: seize → acknowledged → digit list → answered (1004 Hz) → clear-forward → idle', () => {
    const h = harness();
    const tap = h.tap('e1-1-1');
    assert.ok(tap.channel.seize().ok);
    h.advance(20);
    assert.deepEqual(
      tap.events.map((e) => e.type),
      ['cas', 'proceeding'],
    );
    assert.ok(tap.channel.sendDigits('95001').ok);
    h.advance(1100);
    assert.ok(eventsOf(tap, 'answered').length === 1);
    const t = eventsOf(tap, 'answered')[0]?.atMs ?? 0;
    h.advance(600);
    const s = heard(tap, t + 40, t + 540);
    assert.ok(purity(s, 1004) > 0.99);
    assert.ok(Math.abs(levelDbm0(s)) < 0.2);
    assert.ok(tap.channel.release().ok);
    h.advance(20);
    assert.equal(eventsOf(tap, 'idle').length, 1);
    assert.equal(tap.channel.status().cas, 'idle');
    assert.equal(h.office.port('e1-1-1')?.state, 'idle');
    h.close();
  });

  test('outgoing with in-band DTMF digits reaches the echo number', () => {
    const h = harness();
    const tap = h.tap('e1-1-2');
    assert.ok(tap.channel.seize().ok);
    h.advance(20);
    assert.ok(tap.channel.dialDtmf('95000').ok);
    h.advance(1000 + 1200);
    assert.equal(eventsOf(tap, 'answered').length, 1);
    const t0 = h.clock.now();
    sendTone(h, tap.channel, 1200, -12, 400);
    assert.ok(purity(heard(tap, t0 + 60, t0 + 400), 1200) > 0.95);
    h.close();
  });

  test('incoming: seizure with digits and caller ID, answer, audio both ways, far-end clear', () => {
    const h = harness();
    const tap = h.tap('e1-1-5');
    const r = h.office.originate({
      line: 'e1-1-5',
      callerId: { number: '13900139000' },
      calledNumber: '8001',
    });
    assert.ok(r.ok);
    h.advance(40);
    const inc = eventsOf(tap, 'incoming');
    assert.equal(inc.length, 1);
    assert.equal(inc[0]?.digits, '8001');
    assert.equal(inc[0]?.callerId, '13900139000');
    assert.ok(tap.channel.answer().ok);
    h.advance(20);
    assert.equal(r.value.state, 'answered');
    assert.ok(r.value.playTone([800], -10, 400).ok);
    const t0 = h.clock.now();
    sendTone(h, tap.channel, 1300, -10, 400);
    assert.ok(purity(heard(tap, t0 + 40, t0 + 400), 800) > 0.95);
    const rec = r.value.recordedSamples();
    assert.ok(purity(rec.subarray(rec.length - 2400), 1300) > 0.95);
    assert.ok(r.value.hangup().ok);
    h.advance(20);
    assert.equal(eventsOf(tap, 'cleared').length, 1);
    assert.ok(tap.channel.release().ok);
    h.advance(20);
    assert.equal(tap.channel.status().cas, 'idle');
    assert.equal(h.office.port('e1-1-5')?.state, 'idle');
    h.close();
  });

  test('incoming: the gateway hanging up first sends clear-back and both sides return to idle', () => {
    const h = harness();
    const tap = h.tap('e1-1-6');
    const r = h.office.originate({ line: 'e1-1-6', callerId: { number: '1' } });
    assert.ok(r.ok);
    h.advance(40);
    assert.ok(tap.channel.answer().ok);
    h.advance(40);
    assert.ok(tap.channel.release().ok);
    h.advance(40);
    assert.equal(r.value.summary().endedBy, 'gateway');
    assert.equal(tap.channel.status().cas, 'idle');
    assert.equal(h.office.port('e1-1-6')?.state, 'idle');
    h.close();
  });

  test('a span alarm clears calls and refuses seizures', () => {
    const h = harness();
    const ch = h.channel('e1-1-3');
    assert.ok(ch.seize().ok);
    h.advance(20);
    assert.ok(h.office.setSpanAlarms(1, ['red']).ok);
    h.advance(20);
    const r = ch.seize();
    assert.equal(r.ok ? null : r.error.code, DriverErrors.ALARM);
    assert.equal(ch.status().cas, 'idle');
    h.close();
  });

  test('calling an E1 number from an analog line offers the call on that timeslot', () => {
    const h = harness();
    const e1 = h.tap('e1-1-7');
    const fxo = h.tap('fxo-1');
    assert.ok(fxo.channel.seize().ok);
    h.advance(300);
    assert.ok(fxo.channel.dialDtmf('5560107').ok);
    h.advance(1600);
    const inc = eventsOf(e1, 'incoming');
    assert.equal(inc[0]?.digits, '5560107');
    assert.equal(inc[0]?.callerId, '5550001');
    assert.ok(e1.channel.answer().ok);
    h.advance(40);
    assert.equal(eventsOf(fxo, 'polarity-reversal').length, 1);
    h.close();
  });
});

describe('driver registry', () => {
  const clock = new ManualClock();
  const deps = { clock, timers: clock };
  test('the default sim card has 4 FXO ports and one E1 span of 30 channels', () => {
    const r = openDriver({ family: 'sim' }, deps);
    assert.ok(r.ok);
    const card = r.value[0];
    assert.ok(card);
    assert.deepEqual(
      card.spans.map((s) => [s.kind, s.channels.length]),
      [
        ['analog', 4],
        ['e1', 30],
      ],
    );
    assert.equal(card.channels().length, 34);
    card.close();
    (card as unknown as { office: { close(): void } }).office.close();
  });

  test('a large card of 8 E1 spans has 240 channels, numbered per span', () => {
    const r = openDriver({ family: 'sim', fxo: 0, e1Spans: 8 }, deps);
    assert.ok(r.ok);
    const card = r.value[0];
    assert.ok(card);
    assert.equal(card.channels().length, 240);
    assert.equal(card.channels().at(-1)?.id, 'sim0/e1-8-30');
    (card as unknown as { office: { close(): void } }).office.close();
  });

  const bad = [
    { config: { family: 'dahdi' as const }, field: 'family' },
    { config: { family: 'sim' as const, fxo: -1 }, field: 'fxo' },
    { config: { family: 'sim' as const, e1Spans: 'two' }, field: 'e1Spans' },
    { config: { family: 'sim' as const, tonePlan: 'mars' }, field: 'tonePlan' },
  ];
  for (const c of bad) {
    test(`refuses a configuration with a bad ${c.field}`, () => {
      const r = openDriver(c.config, deps);
      assert.equal(r.ok ? null : r.error.field, c.field);
    });
  }
});

describe('caller ID with the configured tone plan', () => {
  test('an ETSI office rings 1 s / 4 s and sends V.23 when the line says so', () => {
    const h = harness({ lines: { 3: { cidMode: 'fsk-v23' } } });
    const tap = h.tap('fxo-3');
    assert.ok(h.office.originate({ line: 3, callerId: { number: '4930123456' } }).ok);
    h.advance(2500);
    const dec = new FskCallerIdDecoder();
    let number: string | undefined;
    for (const f of tap.frames) {
      const r = dec.push(f.frame);
      if (r?.ok) number = r.value.number;
    }
    assert.equal(number, '4930123456');
    h.close();
  });
});
