/** The engine waits for its workers' acknowledgements by notification, never by polling. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../../base/clock.ts';
import { AckWaiters } from '../../../src/media/engine/ack-waiters.ts';

describe('AckWaiters', () => {
  test('MUST resolve at once when the condition already holds or has failed', async () => {
    const w = new AckWaiters();
    assert.equal(await w.until('x', () => true, 1000), true);
    assert.equal(await w.until('x', () => false, 1000), false);
    assert.equal(w.dump().waiting, 0);
  });

  test('MUST resolve with the verdict when notified on its topic, and only then', async () => {
    const w = new AckWaiters();
    const leg: { opened?: boolean } = {};
    const p = w.until('leg:1', () => leg.opened, 5000);
    w.notify('leg:1'); // nothing known yet: keeps waiting
    leg.opened = true;
    w.notify('leg:2'); // another topic: not checked
    assert.equal(w.dump().waiting, 1);
    w.notify('leg:1');
    assert.equal(await p, true);
    assert.deepEqual(w.dump(), { topics: 0, waiting: 0, resolved: 1, timedOut: 0 });
  });

  test('MUST resolve false when the condition fails (bind error, call gone)', async () => {
    const w = new AckWaiters();
    const call: { ok?: boolean } = {};
    const p = w.until('call:k', () => call.ok, 5000);
    call.ok = false;
    w.notify('call:k');
    assert.equal(await p, false);
  });

  test('MUST resolve false after the timeout, with one last look at the condition', async () => {
    const clock = new ManualClock();
    const w = new AckWaiters(clock);
    let settled: boolean | undefined;
    const p1 = w.until('t', () => undefined, 30).then((v) => (settled = v));
    clock.advance(29);
    await Promise.resolve();
    assert.equal(settled, undefined, 'still waiting 1 ms before the timeout');
    clock.advance(1);
    assert.equal(await p1, false);
    const ack: { done?: boolean } = {};
    const p2 = w.until('t', () => ack.done, 30);
    ack.done = true; // landed without a notification
    clock.advance(30);
    assert.equal(await p2, true);
    assert.equal(w.dump().timedOut, 2);
    assert.equal(clock.armed().length, 0, 'no timer left armed');
  });

  test('MUST settle every waiter on close', async () => {
    const w = new AckWaiters();
    const ps = [w.until('a', () => undefined, 60_000), w.until('b', () => undefined, 60_000)];
    w.close();
    assert.deepEqual(await Promise.all(ps), [false, false]);
    assert.equal(w.dump().waiting, 0);
  });
});
