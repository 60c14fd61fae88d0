import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Conference, type MixRole } from '../../../src/media/mix/mixer.ts';

const dc = (v: number): Int16Array => new Int16Array(160).fill(v);

/** Every member sends a distinct DC level; returns the level each one hears (asserting it is flat). */
function hear(conf: Conference, levels: Record<string, number>): Record<string, number> {
  for (const [id, v] of Object.entries(levels)) conf.put(id, dc(v));
  const heard: Record<string, number> = {};
  for (const [id, frame] of conf.mix()) {
    const first = frame[0] ?? NaN;
    assert.ok(
      frame.every((s) => s === first),
      `${id} hears a flat frame`,
    );
    heard[id] = first;
  }
  return heard;
}

describe('Conference mixing', () => {
  test('N−1: each party hears exactly the sum of the others, not itself', () => {
    const conf = new Conference();
    for (const id of ['a', 'b', 'c', 'd']) assert.ok(conf.add(id).ok);
    assert.deepEqual(hear(conf, { a: 1, b: 10, c: 100, d: 1000 }), { a: 1110, b: 1101, c: 1011, d: 111 });
  });

  test('two parties hear each other exactly (a bridged call through the mixer)', () => {
    const conf = new Conference();
    conf.add('caller');
    conf.add('agent');
    const tone = Int16Array.from({ length: 160 }, (_, i) => Math.round(12000 * Math.sin(i / 3)));
    conf.put('caller', tone);
    conf.put('agent', dc(-5));
    const out = conf.mix();
    assert.deepEqual(out.get('agent'), tone);
    assert.deepEqual(out.get('caller'), dc(-5));
  });

  test('sums saturate at ±32767/−32768 instead of wrapping', () => {
    const conf = new Conference();
    for (const id of ['a', 'b', 'c']) conf.add(id);
    assert.deepEqual(hear(conf, { a: 30000, b: 30000, c: 30000 }), { a: 32767, b: 32767, c: 32767 });
    assert.deepEqual(hear(conf, { a: -30000, b: -30000, c: 20000 }), { a: -10000, b: -10000, c: -32768 });
  });

  test('exactness: the own input is removed before saturation', () => {
    const conf = new Conference();
    for (const id of ['a', 'b', 'c']) conf.add(id);
    // a + b + c overflows, but what each hears fits and must be exact.
    assert.deepEqual(hear(conf, { a: 32000, b: 32000, c: -32000 }), { a: 0, b: 0, c: 32767 });
  });

  test('a member that sends nothing this tick is silence, not its last frame', () => {
    const conf = new Conference();
    conf.add('a');
    conf.add('b');
    hear(conf, { a: 7, b: 9 });
    assert.deepEqual(hear(conf, { a: 7 }), { a: 0, b: 7 });
  });

  const matrix: { role: MixRole; caller: number; agent: number; supervisor: number; rule: string }[] = [
    { role: 'listen', caller: 20, agent: 1, supervisor: 21, rule: 'listen: hears both, heard by none' },
    {
      role: 'whisper',
      caller: 20,
      agent: 301,
      supervisor: 21,
      rule: 'whisper: heard by the agent only, not the caller',
    },
    { role: 'barge', caller: 320, agent: 301, supervisor: 21, rule: 'barge: a normal party heard by both' },
    { role: 'party', caller: 320, agent: 301, supervisor: 21, rule: 'party: same as barge' },
  ];
  for (const m of matrix) {
    test(`supervisor ${m.rule}`, () => {
      const conf = new Conference();
      conf.add('caller');
      conf.add('agent');
      assert.ok(conf.add('sup', { role: m.role, whisperTo: m.role === 'whisper' ? 'agent' : undefined }).ok);
      const heard = hear(conf, { caller: 1, agent: 20, sup: 300 });
      assert.deepEqual(heard, { caller: m.caller, agent: m.agent, sup: m.supervisor });
    });
  }

  test('a supervisor moves listen → whisper → barge without leaving', () => {
    const conf = new Conference();
    conf.add('caller');
    conf.add('agent');
    conf.add('sup', { role: 'listen' });
    const levels = { caller: 1, agent: 20, sup: 300 };
    assert.equal(hear(conf, levels).agent, 1);
    assert.ok(conf.setRole('sup', 'whisper', 'agent').ok);
    assert.deepEqual([hear(conf, levels).agent, hear(conf, levels).caller], [301, 20]);
    assert.ok(conf.setRole('sup', 'barge').ok);
    assert.equal(hear(conf, levels).caller, 320);
  });

  test('whisper and listen supervisors do not hear each other', () => {
    const conf = new Conference();
    conf.add('caller');
    conf.add('agent');
    conf.add('coach', { role: 'whisper', whisperTo: 'agent' });
    conf.add('qa', { role: 'listen' });
    assert.deepEqual(hear(conf, { caller: 1, agent: 20, coach: 300, qa: 4000 }), {
      caller: 20,
      agent: 301,
      coach: 21,
      qa: 21,
    });
  });

  const rejects: { name: string; run: (c: Conference) => { ok: boolean }; field: string }[] = [
    { name: 'a ninth member', run: (c) => c.add('p9'), field: 'id' },
    { name: 'a duplicate id', run: (c) => c.add('p1'), field: 'id' },
  ];
  for (const r of rejects) {
    test(`rejects ${r.name}`, () => {
      const conf = new Conference();
      for (let i = 1; i <= 8; i++) assert.ok(conf.add(`p${i}`).ok);
      const res = r.run(conf) as ReturnType<Conference['add']>;
      assert.equal(res.ok, false);
      if (!res.ok) assert.equal(res.error.field, r.field);
    });
  }

  test('eight parties mix; a whisper needs a talking member to coach', () => {
    const conf = new Conference();
    const levels: Record<string, number> = {};
    for (let i = 1; i <= 7; i++) {
      conf.add(`p${i}`);
      levels[`p${i}`] = i;
    }
    assert.equal(conf.add('w', { role: 'whisper', whisperTo: 'nobody' }).ok, false);
    conf.add('p8');
    levels.p8 = 8;
    const heard = hear(conf, levels);
    for (let i = 1; i <= 8; i++) assert.equal(heard[`p${i}`], 36 - i);
    conf.close();
    assert.equal(conf.size, 0);
  });
});
