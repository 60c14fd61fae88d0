// The baresip harness against itself: two phones call each other directly (no gateway) on
// loopback, each playing a known signal, and what each one decodes is compared with what the
// other played. This is the baseline the gateway media tests are measured against.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baresipAvailable,
  estimateOneWayDelayMs,
  startBaresip,
  type Baresip,
  type BaresipCodec,
  type BaresipSrtp,
} from './baresip.ts';
import {
  canSynthesizeSpeech,
  chirp,
  crossCorrelate,
  readWav,
  speechWav,
  writeWav,
  type PcmAudio,
} from './audio.ts';

const skip = baresipAvailable() ? false : 'baresip (Debian package baresip) is not installed';

const work = mkdtempSync(join(tmpdir(), 'baresip-harness-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** 3 s up-sweep played by the caller. */
const callerSignal = chirp({ durationS: 3, fromHz: 200, toHz: 3400 });
/**
 * The callee plays speech (or a down-sweep without espeak-ng), longer than the caller's signal:
 * baresip 1.0.0 ends the call when its aufile source reaches the end of the file, so the caller's
 * shorter file ends the call.
 */
function calleeSignal(): PcmAudio {
  const path = join(work, 'speech.wav');
  if (canSynthesizeSpeech())
    return speechWav(path, 'Testing the media path of the edgeline gateway, one two three four five.', 6);
  const down = chirp({ durationS: 6, fromHz: 3000, toHz: 300 });
  writeWav(path, down);
  return down;
}

interface DirectCase {
  name: string;
  codec: BaresipCodec;
  srtp: BaresipSrtp;
}

const cases: DirectCase[] = [
  { name: 'µ-law, plain RTP', codec: 'PCMU', srtp: 'off' },
  { name: 'A-law, plain RTP', codec: 'PCMA', srtp: 'off' },
  { name: 'µ-law, SRTP mandatory on both', codec: 'PCMU', srtp: 'mandatory' },
];

describe('baresip harness: two phones calling each other directly', { skip }, () => {
  const callerWav = join(work, 'chirp.wav');
  writeWav(callerWav, callerSignal);
  const callee = calleeSignal();
  const calleeWav = join(work, 'speech.wav');

  for (const c of cases) {
    test(`audio each way correlates ≥ 0.9 with what the other phone played (${c.name})`, async (t) => {
      const phones: Baresip[] = [];
      try {
        const alice = await startBaresip({ user: 'alice', codec: c.codec, srtp: c.srtp, playWav: callerWav });
        phones.push(alice);
        const bob = await startBaresip({ user: 'bob', codec: c.codec, srtp: c.srtp, playWav: calleeWav });
        phones.push(bob);

        await alice.dial(bob.aor);
        await alice.waitEvent('CALL_ESTABLISHED');
        await bob.waitEvent('CALL_RTPESTAB');
        if (c.srtp === 'mandatory') {
          for (const p of [alice, bob]) {
            const menc = await p.waitEvent('CALL_MENC');
            assert.match(menc.param ?? '', /AES_CM_128_HMAC_SHA1_80/);
          }
        }
        // The caller's file ends after 3 s and that ends the call.
        await alice.waitEvent('CALL_CLOSED', { timeoutMs: 10_000 });
        await bob.waitEvent('CALL_CLOSED', { timeoutMs: 5_000 });

        const atBob = await bob.receivedAudio();
        const atAlice = await alice.receivedAudio();
        assert.ok(atBob && atAlice, 'both phones recorded received audio');
        const forward = crossCorrelate(callerSignal, readWav(atBob));
        const backward = crossCorrelate(callee, readWav(atAlice));
        const oneWayMs = estimateOneWayDelayMs({
          sender: alice,
          receiver: bob,
          lagMs: forward.lagMs,
          playedDurationMs: (callerSignal.samples.length * 1000) / callerSignal.sampleRate,
        });
        t.diagnostic(
          `alice→bob NCC ${forward.peak.toFixed(4)} lag ${forward.lagMs} ms, one-way ≈ ${oneWayMs.toFixed(1)} ms; ` +
            `bob→alice NCC ${backward.peak.toFixed(4)} lag ${backward.lagMs} ms`,
        );
        assert.ok(forward.peak >= 0.9, `alice→bob correlation ${forward.peak}`);
        assert.ok(backward.peak >= 0.9, `bob→alice correlation ${backward.peak}`);
        // The measure discriminates: the caller's own sweep is not in what the caller heard.
        const unrelated = crossCorrelate(callerSignal, readWav(atAlice));
        assert.ok(unrelated.peak < 0.5, `unrelated signals correlate ${unrelated.peak}`);
        assert.ok(oneWayMs < 60, `one-way delay ${oneWayMs} ms`);
      } finally {
        await Promise.all(phones.map((p) => p.stop()));
      }
    });
  }

  test('a phone with SRTP mandatory refuses a call offering plain RTP', async () => {
    const phones: Baresip[] = [];
    try {
      const plain = await startBaresip({ user: 'plain', codec: 'PCMU', srtp: 'off', playWav: callerWav });
      phones.push(plain);
      const secure = await startBaresip({ user: 'secure', codec: 'PCMU', srtp: 'mandatory' });
      phones.push(secure);
      await plain.dial(secure.aor);
      const closed = await plain.waitEvent('CALL_CLOSED', { timeoutMs: 10_000 });
      assert.ok(
        !plain.events().some((e) => e.type === 'CALL_ESTABLISHED'),
        `closed with ${closed.param ?? ''}`,
      );
    } finally {
      await Promise.all(phones.map((p) => p.stop()));
    }
  });
});
