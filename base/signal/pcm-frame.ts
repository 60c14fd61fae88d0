/**
 * The engine's unit of audio (DESIGN §1): 20 ms of linear 16-bit PCM at 8 kHz, 160 samples.
 * Stereo frames (recorder) interleave left/right: 320 samples per 20 ms.
 */
export const SAMPLE_RATE_HZ = 8000;
export const FRAME_MS = 20;
export const FRAME_SAMPLES = (SAMPLE_RATE_HZ * FRAME_MS) / 1000;
export const STEREO_FRAME_SAMPLES = FRAME_SAMPLES * 2;

/** Clamp a summed sample to the 16-bit range (saturation, not wrap-around). */
export function saturate16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** Cut a sample stream into frames; the last one is padded with silence. */
export function toFrames(samples: Int16Array): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let at = 0; at < samples.length; at += FRAME_SAMPLES) {
    const frame = new Int16Array(FRAME_SAMPLES);
    frame.set(samples.subarray(at, Math.min(at + FRAME_SAMPLES, samples.length)));
    frames.push(frame);
  }
  return frames;
}
