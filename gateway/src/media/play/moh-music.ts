/**
 * The built-in music on hold: a short, gentle loop synthesised in code, so the appliance holds
 * callers with something pleasant without shipping or reading a file. Four bars of arpeggiated
 * chords (C – Am – F – G, a quarter second per note) played by a soft bell-like voice: each note a
 * sine with a little second harmonic, a 10 ms attack and an exponential decay. Note tails that
 * ring past the end of the loop wrap round to its start, so the loop has no seam.
 *
 * Level: ITU-T G.711 puts 0 dBm0 at a sine of peak `ZERO_DBM0_PEAK` (µ-law scale); music on hold is
 * normally played some 15–20 dB below that, so the loop is normalised to −16 dBm0 RMS. All notes
 * lie between 260 and 1050 Hz, inside the telephone band (ITU-T G.712: 300–3400 Hz) apart from
 * the lowest fundamental, whose second harmonic carries it.
 */
import { ZERO_DBM0_PEAK } from '../../../../base/signal/milliwatt.ts';
import { FRAME_SAMPLES, SAMPLE_RATE_HZ, saturate16 } from '../../../../base/signal/pcm-frame.ts';

/** The id the built-in loop has in the engine's prompt caches. */
export const BUILTIN_MOH_ID = 'moh:builtin';
/** Level of the loop, dBm0 (RMS over the whole loop). */
export const BUILTIN_MOH_LEVEL_DBM0 = -16;

const NOTE_MS = 250;
const TAIL_MS = 700;
const ATTACK_MS = 10;

/** Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz). */
function hz(midi: number): number {
  return 440 * 2 ** ((midi - 69) / 12);
}

/** C major, A minor, F major, G major: root, third, fifth, octave, fifth, third, ... */
const CHORDS: readonly (readonly number[])[] = [
  [60, 64, 67, 72],
  [57, 60, 64, 69],
  [53, 57, 60, 65],
  [55, 59, 62, 67],
];
const PATTERN = [0, 1, 2, 3] as const;

/** The melody's notes as MIDI numbers, in order (one per `NOTE_MS`). */
export function builtInMelody(): number[] {
  const notes: number[] = [];
  for (const chord of CHORDS) for (const i of PATTERN) notes.push((chord[i] ?? 60) + 12);
  return notes;
}

/**
 * The loop as 8 kHz linear samples, a whole number of 20 ms frames long (4 s). Deterministic:
 * the same samples on every call, which is what lets a test recognise it at the far end.
 */
export function builtInMusicOnHold(): Int16Array {
  const notes = builtInMelody();
  const noteSamples = (NOTE_MS * SAMPLE_RATE_HZ) / 1000;
  const total = notes.length * noteSamples;
  const tail = (TAIL_MS * SAMPLE_RATE_HZ) / 1000;
  const attack = (ATTACK_MS * SAMPLE_RATE_HZ) / 1000;
  const mix = new Float64Array(total);
  notes.forEach((midi, k) => {
    const f = hz(midi);
    const start = k * noteSamples;
    for (let n = 0; n < tail; n++) {
      const t = n / SAMPLE_RATE_HZ;
      const env = Math.min(1, n / attack) * Math.exp(-t / 0.18);
      const v = env * (Math.sin(2 * Math.PI * f * t) + 0.25 * Math.sin(4 * Math.PI * f * t));
      const at = (start + n) % total;
      mix[at] = (mix[at] ?? 0) + v;
    }
  });
  let energy = 0;
  for (const v of mix) energy += v * v;
  const rms = Math.sqrt(energy / total);
  const target = (ZERO_DBM0_PEAK.pcmu / Math.SQRT2) * 10 ** (BUILTIN_MOH_LEVEL_DBM0 / 20);
  const gain = rms > 0 ? target / rms : 0;
  const out = new Int16Array(Math.ceil(total / FRAME_SAMPLES) * FRAME_SAMPLES);
  for (let i = 0; i < total; i++) out[i] = saturate16(Math.round((mix[i] ?? 0) * gain));
  return out;
}
