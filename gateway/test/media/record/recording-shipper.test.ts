/**
 * Recordings leave a relay worker in one message per shipment, straight to the recorder thread:
 * the RecordingShipper's batches, the recorder host writing them, and WorkerRecordings reporting a
 * stopped recording only after the recorder has written its last frames.
 */
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { describe, test } from 'node:test';
import { STEREO_FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import { RecorderHost, type RecorderEvent } from '../../../src/media/record/recorder-host.ts';
import { attachRelayPort } from '../../../src/media/record/recorder-worker.ts';
import type { RecordingSummary, RecordingWriter } from '../../../src/media/record/recording-writer.ts';
import { RecordingShipper, type RecordingBatch } from '../../../src/media/record/recording-shipper.ts';
import { WorkerRecordings } from '../../../src/media/record/worker-recordings.ts';
import type { FromWorker } from '../../../src/media/worker/worker-protocol.ts';

/** `n` stereo frames whose samples all carry `value`. */
const frames = (n: number, value: number): Int16Array => new Int16Array(n * STEREO_FRAME_SAMPLES).fill(value);

class MemoryWriter implements RecordingWriter {
  readonly chunks: Int16Array[] = [];
  closed = false;
  write(stereo: Int16Array): void {
    this.chunks.push(stereo.slice());
  }
  flush(): void {}
  close(): RecordingSummary {
    this.closed = true;
    return { path: 'mem', bytes: this.samples * 2, durationMs: (this.samples / STEREO_FRAME_SAMPLES) * 20 };
  }
  get samples(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

function memoryHost(): { host: RecorderHost; writers: Map<string, MemoryWriter>; events: RecorderEvent[] } {
  const writers = new Map<string, MemoryWriter>();
  const events: RecorderEvent[] = [];
  const host = new RecorderHost(
    (id) => {
      const w = new MemoryWriter();
      writers.set(id, w);
      return w;
    },
    (e) => events.push(e),
  );
  return { host, writers, events };
}

const waitFor = async (check: () => boolean, ms = 2000): Promise<boolean> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
};

describe('RecordingShipper', () => {
  test('MUST send every recording’s frames in one batch, consecutive frames of one recording as one segment', () => {
    const sent: Array<{ batch: RecordingBatch; transfer: ArrayBuffer[] }> = [];
    const s = new RecordingShipper((batch, transfer) => sent.push({ batch, transfer }), 4);
    s.add('r1', frames(2, 1));
    s.add('r1', frames(1, 1));
    s.add('r2', frames(3, 2));
    s.add('r1', frames(1, 3));
    s.ship();
    assert.equal(sent.length, 1);
    const b = sent[0]?.batch;
    assert.ok(b);
    assert.deepEqual(b.ids, ['r1', 'r2', 'r1']);
    assert.deepEqual([...b.frames], [3, 3, 1]);
    assert.equal(b.samples.length, 7 * STEREO_FRAME_SAMPLES);
    assert.equal(b.samples[3 * STEREO_FRAME_SAMPLES], 2);
    assert.equal(b.samples[6 * STEREO_FRAME_SAMPLES], 3);
    // Grown past its first 4 frames, and handed over with the batch.
    assert.ok(sent[0]?.transfer.includes(b.samples.buffer as ArrayBuffer));
    assert.deepEqual(b.ended, []);
    s.ship();
    assert.equal(sent.length, 1, 'nothing queued: nothing sent');
  });

  test('MUST list an ended recording in the batch that carries its last frames', () => {
    const sent: RecordingBatch[] = [];
    const s = new RecordingShipper((batch) => sent.push(batch));
    s.add('r1', frames(1, 1));
    s.end('r1');
    s.ship();
    assert.deepEqual(sent[0]?.ids, ['r1']);
    assert.deepEqual(sent[0]?.ended, ['r1']);
    s.end('r2');
    s.ship();
    assert.deepEqual(sent[1]?.ended, ['r2'], 'an end with no frames left still goes');
  });

  test('MUST ignore a partial frame', () => {
    const sent: RecordingBatch[] = [];
    const s = new RecordingShipper((batch) => sent.push(batch));
    s.add('r1', new Int16Array(STEREO_FRAME_SAMPLES + 5).fill(9));
    s.ship();
    assert.equal(sent[0]?.samples.length, STEREO_FRAME_SAMPLES);
  });
});

describe('direct recording channel (relay worker → recorder thread)', () => {
  test('MUST write each segment of a batch to its recording’s writer', () => {
    const { host, writers } = memoryHost();
    const samples = new Int16Array(3 * STEREO_FRAME_SAMPLES);
    samples.fill(5, 0, 2 * STEREO_FRAME_SAMPLES);
    samples.fill(7, 2 * STEREO_FRAME_SAMPLES);
    host.handle({ type: 'batch', ids: ['a', 'b'], frames: Int32Array.from([2, 1]), samples });
    assert.equal(writers.get('a')?.samples, 2 * STEREO_FRAME_SAMPLES);
    assert.equal(writers.get('b')?.chunks[0]?.[0], 7);
    assert.equal(host.dump()['framesWritten'], 3);
  });

  test('MUST carry taps’ frames over a port to the recorder, and report a stop only after its last frames are written', async () => {
    const { port1, port2 } = new MessageChannel();
    const { host, writers } = memoryHost();
    attachRelayPort(host, port1);
    const posted: FromWorker[] = [];
    const rec = new WorkerRecordings({ recorderPort: port2, post: (m) => posted.push(m), shipEveryTicks: 5 });
    try {
      const tap = rec.start('call-1', [1, 2]);
      assert.ok(tap);
      assert.equal(rec.start('call-1', [1, 2]), undefined, 'one tap per recording');
      tap.attach('1', 'caller');
      const f = new Int16Array(160).fill(1000);
      for (let i = 0; i < 12; i++) {
        tap.put('1', f, i * 160);
        rec.tick();
      }
      // Two shipments of 5 ticks went; 2 ticks are still in the tap.
      assert.ok(await waitFor(() => (writers.get('call-1')?.samples ?? 0) === 10 * STEREO_FRAME_SAMPLES));
      assert.equal(posted.length, 0, 'nothing crosses the engine’s port');
      rec.stop('call-1');
      assert.equal(posted.length, 0, 'stopped is told only once the recorder answered');
      assert.ok(await waitFor(() => posted.length === 1));
      assert.deepEqual(posted[0], {
        t: 'recording-stopped',
        recordingId: 'call-1',
        frames: 12,
        durationMs: 240,
      });
      assert.equal(
        writers.get('call-1')?.samples,
        12 * STEREO_FRAME_SAMPLES,
        'the last frames were written first',
      );
      assert.equal(rec.dump().awaitingAck, 0);
    } finally {
      port1.close();
      port2.close();
    }
  });

  test('MUST report a stopped recording after the timeout when the recorder never answers', async () => {
    const { port1, port2 } = new MessageChannel();
    const posted: FromWorker[] = [];
    const rec = new WorkerRecordings({ recorderPort: port2, post: (m) => posted.push(m), ackTimeoutMs: 20 });
    try {
      rec.start('call-2', [1, 2]);
      rec.stop('call-2');
      assert.ok(await waitFor(() => posted.length === 1));
      assert.equal(posted[0]?.t, 'recording-stopped');
      assert.equal(rec.dump().ackTimeouts, 1);
    } finally {
      port1.close();
      port2.close();
    }
  });

  test('MUST send frames to the engine, in order before the stop, when there is no recorder port', () => {
    const posted: FromWorker[] = [];
    const rec = new WorkerRecordings({
      recorderPort: undefined,
      post: (m) => posted.push(m),
      shipEveryTicks: 2,
    });
    const tap = rec.start('call-3', [1, 2]);
    assert.ok(tap);
    tap.attach('1', 'caller');
    for (let i = 0; i < 3; i++) {
      tap.put('1', new Int16Array(160).fill(7), i * 160);
      rec.tick();
    }
    rec.stop('call-3');
    assert.deepEqual(
      posted.map((m) => m.t),
      ['recording', 'recording', 'recording-stopped'],
    );
    const first = posted[0];
    assert.ok(first?.t === 'recording');
    assert.equal(first.samples.length, 2 * STEREO_FRAME_SAMPLES);
  });
});
