/**
 * Call-progress tones as prompts an app can play on a leg: one whole cadence cycle of the tone
 * (China's ringback: 1 s on, 4 s off), so that played with `loop` the cadence runs on exactly as
 * an exchange would play it. A continuous tone (dial tone) is cut to one second.
 */
import { ToneGenerator } from '../../../base/signal/tone-generator.ts';
import type { ToneName, TonePlan } from '../../../base/signal/tone-plan.ts';
import { FRAME_SAMPLES, SAMPLE_RATE_HZ } from '../../../base/signal/pcm-frame.ts';
import type { PromptRef } from '../call/leg.ts';

const cache = new Map<string, PromptRef>();

export function tonePrompt(plan: TonePlan, name: ToneName): PromptRef {
  const id = `tone:${plan.id}:${name}`;
  const hit = cache.get(id);
  if (hit) return hit;
  const spec = plan.tones[name];
  const cycleMs = spec.cadenceMs.reduce((a, b) => a + b, 0) || 1000;
  const frames = Math.max(1, Math.round((cycleMs * SAMPLE_RATE_HZ) / 1000 / FRAME_SAMPLES));
  const samples = new Int16Array(frames * FRAME_SAMPLES);
  new ToneGenerator(spec).fill(samples);
  const prompt: PromptRef = { kind: 'audio', id, samples };
  cache.set(id, prompt);
  return prompt;
}
