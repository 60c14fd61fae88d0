/**
 * `Leg.record` (voicemail and the like) on a leg's media handle: the recording ends at `stop`, at
 * its maximum length, when its signal aborts or when the leg ends — once, whichever comes first —
 * and `done` tells the file and its length. A leg without media, or media that cannot record,
 * gets a failure, never a handle that never ends.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../base/clock.ts';
import type { HandleRecording, LegMediaHandle } from '../../src/call/leg-media.ts';
import { LegRecordings, recordingPrefix } from '../../src/call/leg-recording.ts';

function fakeHandle(clock: ManualClock, canRecord = true) {
  const stops: string[] = [];
  const handle: LegMediaHandle = {
    play: () => true,
    applyAnswer: () => true,
    stopPlay: () => undefined,
    close: () => Promise.resolve(),
    record: (recordingId): HandleRecording | undefined => {
      if (!canRecord) return undefined;
      const startedAt = clock.now();
      let done: (c: { path: string; durationMs: number }) => void = () => undefined;
      const closed = new Promise<{ path: string; durationMs: number }>((r) => (done = r));
      return {
        path: `/rec/${recordingId}.wav`,
        closed,
        stop: () => {
          stops.push(recordingId);
          done({ path: `/rec/${recordingId}.wav`, durationMs: clock.now() - startedAt });
        },
      };
    },
  };
  return { handle, stops };
}

void describe('recordings a leg’s app asks for (Leg.record)', () => {
  void test('the maximum length stops the recording once; a later stop does nothing', async () => {
    const clock = new ManualClock();
    const { handle, stops } = fakeHandle(clock);
    const recs = new LegRecordings(recordingPrefix('ix-1:a'), clock);
    const r = recs.start(handle, { maxDurationMs: 30_000 });
    assert.ok(r.ok);
    assert.equal(r.value.recordingId, 'ix-1-a-rec1', 'a file name of the leg');
    clock.advance(29_999);
    assert.deepEqual(stops, []);
    clock.advance(1);
    assert.deepEqual(stops, ['ix-1-a-rec1']);
    r.value.stop();
    recs.ended();
    assert.deepEqual(stops, ['ix-1-a-rec1'], 'stopped once');
    assert.deepEqual(await r.value.done, { path: '/rec/ix-1-a-rec1.wav', durationMs: 30_000 });
  });

  void test('the signal, the app’s stop and the leg’s end each stop their recording; ids never repeat', async () => {
    const clock = new ManualClock();
    const { handle, stops } = fakeHandle(clock);
    const recs = new LegRecordings('ix-2-a', clock);
    const ac = new AbortController();
    const bySignal = recs.start(handle, { signal: ac.signal, maxDurationMs: 60_000 });
    const byStop = recs.start(handle, {});
    const byEnd = recs.start(handle, {});
    assert.ok(bySignal.ok && byStop.ok && byEnd.ok);
    clock.advance(1000);
    ac.abort();
    clock.advance(500);
    byStop.value.stop();
    clock.advance(500);
    recs.ended();
    assert.deepEqual(stops, ['ix-2-a-rec1', 'ix-2-a-rec2', 'ix-2-a-rec3']);
    assert.equal((await bySignal.value.done).durationMs, 1000);
    assert.equal((await byStop.value.done).durationMs, 1500);
    assert.equal((await byEnd.value.done).durationMs, 2000);
    clock.advance(60_000);
    assert.equal(stops.length, 3, 'the maximum-length timer was cancelled with the signal');
  });

  void test('no media, media that cannot record, or a signal already aborted: a failure, no handle', () => {
    const clock = new ManualClock();
    const recs = new LegRecordings('ix-3-a', clock);
    const none = recs.start(undefined, {});
    assert.ok(!none.ok);
    assert.equal(none.error.code, 'EDGE_ERR_CALL_LEG_STATE');
    const cannot = recs.start(fakeHandle(clock, false).handle, {});
    assert.ok(!cannot.ok);
    assert.equal(cannot.error.code, 'EDGE_ERR_CALL_MEDIA');
    const ac = new AbortController();
    ac.abort();
    const aborted = recs.start(fakeHandle(clock).handle, { signal: ac.signal });
    assert.ok(!aborted.ok);
  });
});
