import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TypedEmitter } from '../../src/core/typed-emitter.ts';

type Events = { tick: [n: number]; done: [] };

describe('typed emitter', () => {
  test('delivers to every listener in subscription order; off stops delivery', () => {
    const e = new TypedEmitter<Events>(() => assert.fail('no listener throws'));
    const got: string[] = [];
    const offA = e.on('tick', (n) => got.push(`a${n}`));
    e.on('tick', (n) => got.push(`b${n}`));
    e.emit('tick', 1);
    offA();
    e.emit('tick', 2);
    assert.deepEqual(got, ['a1', 'b1', 'b2']);
  });

  test('once delivers one event', () => {
    const e = new TypedEmitter<Events>(() => undefined);
    let n = 0;
    e.once('done', () => n++);
    e.emit('done');
    e.emit('done');
    assert.equal(n, 1);
    assert.equal(e.listenerCount('done'), 0);
  });

  test('a listener removing another during delivery does not skip or crash the rest', () => {
    const e = new TypedEmitter<Events>(() => undefined);
    const got: string[] = [];
    const fns = [() => got.push('x'), () => got.push('y')];
    e.on('done', () => e.off('done', fns[1]!));
    for (const f of fns) e.on('done', f);
    e.emit('done');
    assert.deepEqual(got, ['x', 'y'], 'this delivery still reaches y');
    e.emit('done');
    assert.deepEqual(got, ['x', 'y', 'x']);
  });

  test('a throwing listener is reported with its event and the others still run', () => {
    const errors: Array<[string, unknown]> = [];
    const e = new TypedEmitter<Events>((ev, x) => errors.push([String(ev), x]));
    let reached = false;
    e.on('tick', () => {
      throw new Error('boom');
    });
    e.on('tick', () => (reached = true));
    e.emit('tick', 3);
    assert.equal(reached, true);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]![0], 'tick');
  });

  test('clear drops every listener', () => {
    const e = new TypedEmitter<Events>(() => undefined);
    e.on('tick', () => assert.fail('cleared'));
    e.clear();
    e.emit('tick', 1);
  });
});
