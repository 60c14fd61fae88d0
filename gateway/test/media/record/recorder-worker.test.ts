import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecorderClient, type RecorderErrorEvent } from '../../../src/media/record/recorder-client.ts';
import { RecorderTap } from '../../../src/media/record/recorder.ts';
import { markedFrame, readStereoWav } from '../recording-fixtures.ts';

let dir = '';
let client: RecorderClient;
const errors: RecorderErrorEvent[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeline-recw-'));
  client = new RecorderClient({ dir, flushEveryMs: 100 });
  client.onError((e) => errors.push(e));
});
after(async () => {
  await client.stop();
  rmSync(dir, { recursive: true, force: true });
});

function waitFor(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (predicate()) resolve();
      else if (Date.now() - start > timeoutMs) reject(new Error('timed out'));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

describe('recorder worker', () => {
  test('a tap on the main thread records through the worker: exact samples, both channels aligned', async () => {
    const tap = new RecorderTap({ interactionId: 'w-1', sink: (id, s) => client.write(id, s) });
    tap.attach('caller', 'caller');
    tap.attach('agent', 'other');
    for (let k = 0; k < 75; k++) {
      tap.put('caller', markedFrame(1000, k));
      if (k >= 25) tap.put('agent', markedFrame(5000, k)); // the agent answers half a second late
      tap.tick();
    }
    tap.close();
    const summary = await client.close('w-1');
    assert.deepEqual(summary, { path: join(dir, 'w-1.wav'), bytes: 44 + 75 * 640, durationMs: 1500 });
    const file = readStereoWav(summary.path);
    for (let k = 0; k < 75; k++) {
      assert.equal(file.left[k * 160], 1000 + k);
      assert.equal(file.right[k * 160 + 159], k >= 25 ? 5000 + k : 0);
    }
  });

  test('the worker flushes on its timer while the interaction is still recording', async () => {
    const tap = new RecorderTap({
      interactionId: 'w-2',
      batchFrames: 5,
      sink: (id, s) => client.write(id, s),
    });
    tap.attach('caller', 'caller');
    for (let k = 0; k < 20; k++) {
      tap.put('caller', markedFrame(1, k));
      tap.tick();
    }
    await waitFor(() => {
      try {
        return readStereoWav(join(dir, 'w-2.wav')).left.length === 20 * 160;
      } catch {
        return false;
      }
    });
    tap.close();
    assert.equal((await client.close('w-2')).durationMs, 400);
  });

  test('a disk write error surfaces as an error event and the worker keeps recording others', async () => {
    symlinkSync('/dev/full', join(dir, 'w-full.wav'));
    client.open('w-full');
    client.write('w-full', new Int16Array(320 * 10));
    await waitFor(() => errors.some((e) => e.interactionId === 'w-full'));
    const e = errors.find((x) => x.interactionId === 'w-full');
    assert.equal(e?.code, 'ENOSPC');
    const summary = await client.close('w-full');
    assert.match(summary.error ?? '', /ENOSPC/);

    client.write('w-3', new Int16Array(320 * 2).fill(3));
    const ok = await client.close('w-3');
    assert.equal(ok.durationMs, 40);
    assert.equal(ok.error, undefined);
  });
});
