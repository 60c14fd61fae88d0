import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../base/clock.ts';
import type { DtmfDigit } from '../../../base/signal/dtmf-digits.ts';
import { DigitCollector, MAX_BUFFERED_DIGITS } from '../../src/call/digit-collector.ts';
import type { DigitResult } from '../../src/call/leg.ts';

function setup() {
  const clock = new ManualClock();
  const c = new DigitCollector(clock);
  const press = (digits: string) => {
    for (const d of digits)
      c.push({ digit: d as DtmfDigit, durationMs: 100, source: 'rfc4733', atMs: clock.wallNow() });
  };
  return { clock, c, press };
}

/** Resolve pending promise callbacks (the collector resolves synchronously; `await` needs a tick). */
const settle = () => new Promise((r) => setImmediate(r));

async function outcomeOf(p: Promise<DigitResult>): Promise<DigitResult | 'pending'> {
  let out: DigitResult | 'pending' = 'pending';
  void p.then((r) => (out = r));
  await settle();
  return out;
}

const opts = { max: 4, terminators: '#', firstDigitTimeoutMs: 5000, interDigitTimeoutMs: 3000 };

describe('digit collection', () => {
  test('ends at once on the max-th digit', async () => {
    const { c, press } = setup();
    const p = c.collect(opts);
    press('1234');
    assert.deepEqual(await p, { digits: '1234', outcome: 'max' });
  });

  test('a terminator ends early and is not part of the digits', async () => {
    const { c, press } = setup();
    const p = c.collect(opts);
    press('12#');
    assert.deepEqual(await p, { digits: '12', outcome: 'terminator', terminator: '#' });
  });

  test('no first digit within firstDigitTimeoutMs: timeout with no digits', async () => {
    const { c, clock } = setup();
    const p = c.collect(opts);
    clock.advance(4999);
    assert.equal(await outcomeOf(p), 'pending');
    clock.advance(1);
    assert.deepEqual(await p, { digits: '', outcome: 'timeout' });
  });

  test('the inter-digit timer restarts after every digit and replaces the first-digit timer', async () => {
    const { c, clock, press } = setup();
    const p = c.collect(opts);
    clock.advance(4000);
    press('1');
    clock.advance(2999);
    press('2');
    clock.advance(2999);
    assert.equal(await outcomeOf(p), 'pending');
    clock.advance(1);
    assert.deepEqual(await p, { digits: '12', outcome: 'timeout' });
    assert.deepEqual(clock.armed(), [], 'no timer left running');
  });

  test('type-ahead: digits pressed before collection are its first digits, in order', async () => {
    const { c, press } = setup();
    press('98');
    const p = c.collect({ ...opts, max: 3 });
    press('7');
    assert.deepEqual(await p, { digits: '987', outcome: 'max' });
  });

  test('type-ahead that completes the collection resolves at once', async () => {
    const { c, press } = setup();
    press('5#');
    assert.deepEqual(await c.collect(opts), { digits: '5', outcome: 'terminator', terminator: '#' });
  });

  test('type-ahead beyond the collection stays buffered for the next one', async () => {
    const { c, press } = setup();
    press('12');
    assert.deepEqual(await c.collect({ ...opts, max: 1 }), { digits: '1', outcome: 'max' });
    assert.equal(c.dump().buffered, '2');
  });

  test(`the type-ahead buffer keeps the last ${MAX_BUFFERED_DIGITS} digits`, () => {
    const { c, press } = setup();
    press('0'.repeat(MAX_BUFFERED_DIGITS) + '12');
    assert.equal(c.dump().buffered.length, MAX_BUFFERED_DIGITS);
    assert.ok(c.dump().buffered.endsWith('12'));
  });

  test('flush drops the type-ahead', async () => {
    const { c, press, clock } = setup();
    press('12');
    c.flush();
    const p = c.collect(opts);
    clock.advance(5000);
    assert.deepEqual(await p, { digits: '', outcome: 'timeout' });
  });

  test('hook flash is not a collectable digit', async () => {
    const { c, press } = setup();
    const p = c.collect({ ...opts, max: 1 });
    press('!5');
    assert.deepEqual(await p, { digits: '5', outcome: 'max' });
  });

  test('abort stops with the digits so far and frees the timer', async () => {
    const { c, clock, press } = setup();
    const ac = new AbortController();
    const p = c.collect({ ...opts, signal: ac.signal });
    press('4');
    ac.abort();
    assert.deepEqual(await p, { digits: '4', outcome: 'stopped' });
    assert.deepEqual(clock.armed(), []);
  });

  test('an already aborted signal stops at once', async () => {
    const { c } = setup();
    const ac = new AbortController();
    ac.abort();
    assert.deepEqual(await c.collect({ ...opts, signal: ac.signal }), { digits: '', outcome: 'stopped' });
  });

  test('a second collection stops the first', async () => {
    const { c, press } = setup();
    const first = c.collect(opts);
    press('1');
    const second = c.collect({ ...opts, max: 1 });
    press('2');
    assert.deepEqual(await first, { digits: '1', outcome: 'stopped' });
    assert.deepEqual(await second, { digits: '2', outcome: 'max' });
  });

  test('the leg ending mid-collect resolves ended; later collections end at once', async () => {
    const { c, clock, press } = setup();
    const p = c.collect(opts);
    press('3');
    c.close();
    assert.deepEqual(await p, { digits: '3', outcome: 'ended' });
    assert.deepEqual(clock.armed(), []);
    assert.deepEqual(await c.collect(opts), { digits: '', outcome: 'ended' });
  });

  test('options no caller can satisfy are refused with a RangeError', () => {
    const { c } = setup();
    assert.throws(() => c.collect({ ...opts, max: 0 }), RangeError);
    assert.throws(() => c.collect({ ...opts, max: 1.5 }), RangeError);
    assert.throws(() => c.collect({ ...opts, interDigitTimeoutMs: -1 }), RangeError);
    assert.throws(() => c.collect({ ...opts, firstDigitTimeoutMs: Number.NaN }), RangeError);
  });
});
