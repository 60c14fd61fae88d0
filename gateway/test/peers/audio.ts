// Audio fixtures and measurements for media tests with real peers: 16-bit PCM WAV files read and
// written in code, test signals (a linear chirp made in code, speech from espeak-ng resampled by
// sox), and the normalised cross-correlation that tells whether what a peer recorded is what the
// other peer played, and at which lag.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export interface PcmAudio {
  sampleRate: number;
  /** Mono samples (a multi-channel file is reduced to its first channel). */
  samples: Int16Array;
}

/** Read a RIFF/WAVE file holding 16-bit linear PCM (what sox, espeak-ng and baresip's sndfile write). */
export function readWav(path: string): PcmAudio {
  const buf = readFileSync(path);
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE')
    throw new Error(`${path}: not a RIFF/WAVE file`);
  let offset = 12;
  let sampleRate = 0;
  let channels = 0;
  let bits = 0;
  let format = 0;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('latin1', offset, offset + 4);
    let size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    // A writer killed before it patched the sizes leaves 0 or 0xFFFFFFFF: take the rest of the file.
    if (size === 0 || body + size > buf.length) size = buf.length - body;
    if (id === 'fmt ') {
      format = buf.readUInt16LE(body);
      channels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
      bits = buf.readUInt16LE(body + 14);
    } else if (id === 'data') {
      // WAVE_FORMAT_PCM (1) or WAVE_FORMAT_EXTENSIBLE (0xFFFE) carrying PCM.
      if ((format !== 1 && format !== 0xfffe) || bits !== 16 || channels < 1)
        throw new Error(`${path}: need 16-bit PCM, got format ${format}, ${bits} bits, ${channels} channels`);
      const frames = Math.floor(size / (2 * channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = buf.readInt16LE(body + i * 2 * channels);
      return { sampleRate, samples };
    }
    offset = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Write mono 16-bit PCM as a canonical 44-byte-header WAV. */
export function writeWav(path: string, audio: PcmAudio): void {
  const dataBytes = audio.samples.length * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'latin1');
  buf.write('fmt ', 12, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(audio.sampleRate, 24);
  buf.writeUInt32LE(audio.sampleRate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < audio.samples.length; i++) buf.writeInt16LE(audio.samples[i] ?? 0, 44 + i * 2);
  writeFileSync(path, buf);
}

export interface ChirpOptions {
  durationS: number;
  fromHz: number;
  toHz: number;
  sampleRate?: number;
  /** Peak amplitude as a fraction of full scale. */
  amplitude?: number;
  /** Raised-cosine fade in and out, so the edges do not click. */
  fadeMs?: number;
}

/**
 * A linear sweep. Its autocorrelation has one narrow peak, so the lag found by cross-correlation
 * is unambiguous (a pure tone would match at every period).
 */
export function chirp(opts: ChirpOptions): PcmAudio {
  const sampleRate = opts.sampleRate ?? 8000;
  const n = Math.round(opts.durationS * sampleRate);
  const amplitude = (opts.amplitude ?? 0.5) * 32767;
  const fade = Math.round(((opts.fadeMs ?? 20) * sampleRate) / 1000);
  const k = (opts.toHz - opts.fromHz) / opts.durationS;
  const samples = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    const phase = 2 * Math.PI * (opts.fromHz * t + (k * t * t) / 2);
    let gain = 1;
    if (i < fade) gain = 0.5 - 0.5 * Math.cos((Math.PI * i) / fade);
    else if (i >= n - fade) gain = 0.5 - 0.5 * Math.cos((Math.PI * (n - 1 - i)) / fade);
    samples[i] = Math.round(amplitude * gain * Math.sin(phase));
  }
  return { sampleRate, samples };
}

/** Digital silence, for a peer that only listens. */
export function silence(durationS: number, sampleRate = 8000): PcmAudio {
  return { sampleRate, samples: new Int16Array(Math.round(durationS * sampleRate)) };
}

/** True when espeak-ng and sox are both installed. */
export function canSynthesizeSpeech(): boolean {
  return ['espeak-ng', 'sox'].every(
    (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0,
  );
}

/**
 * Speech from espeak-ng, converted by sox to 8 kHz mono 16-bit and cut or padded to `durationS`.
 * Written to `path`; also returned.
 */
export function speechWav(path: string, text: string, durationS = 3): PcmAudio {
  const raw = `${path}.espeak.wav`;
  const speak = spawnSync('espeak-ng', ['-w', raw, '-s', '160', text], { encoding: 'utf8', timeout: 20_000 });
  if (speak.status !== 0) throw new Error(`espeak-ng failed: ${speak.stderr}`);
  const convert = spawnSync(
    'sox',
    [
      raw,
      '-r',
      '8000',
      '-c',
      '1',
      '-b',
      '16',
      '-e',
      'signed-integer',
      path,
      'pad',
      '0',
      String(durationS),
      'trim',
      '0',
      String(durationS),
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  if (convert.status !== 0) throw new Error(`sox failed: ${convert.stderr}`);
  return readWav(path);
}

export interface Correlation {
  /** Normalised cross-correlation at the best lag, in [-1, 1]. */
  peak: number;
  /**
   * Samples by which `received` is late against `sent`: received[n] ≈ sent[n - lag]. Negative when
   * the recording starts after the beginning of the sent signal (its first samples were missed).
   */
  lagSamples: number;
  lagMs: number;
  /** Samples the two signals overlap at that lag. */
  overlapSamples: number;
}

/**
 * Normalised cross-correlation of `received` against `sent` over every lag whose overlap is at
 * least `minOverlap` of the shorter signal: Σ s[n-lag]·r[n] / sqrt(Σ s² · Σ r²), both energies
 * taken over the overlapping part only, so silence outside it neither helps nor hurts. The raw
 * correlation comes from one FFT; the energies from prefix sums.
 */
export function crossCorrelate(
  sent: PcmAudio,
  received: PcmAudio,
  opts: { minOverlap?: number; maxLagSamples?: number } = {},
): Correlation {
  if (sent.sampleRate !== received.sampleRate)
    throw new Error(`sample rates differ: ${sent.sampleRate} and ${received.sampleRate}`);
  const s = sent.samples;
  const r = received.samples;
  const ns = s.length;
  const nr = r.length;
  if (ns === 0 || nr === 0) return { peak: 0, lagSamples: 0, lagMs: 0, overlapSamples: 0 };
  let size = 1;
  while (size < ns + nr) size <<= 1;
  const sRe = new Float64Array(size);
  const sIm = new Float64Array(size);
  const rRe = new Float64Array(size);
  const rIm = new Float64Array(size);
  for (let i = 0; i < ns; i++) sRe[i] = s[i] ?? 0;
  for (let i = 0; i < nr; i++) rRe[i] = r[i] ?? 0;
  fft(sRe, sIm, false);
  fft(rRe, rIm, false);
  // c[lag] = Σ_n r[n]·s[n-lag] = IFFT(R · conj(S)).
  for (let i = 0; i < size; i++) {
    const a = rRe[i] ?? 0;
    const b = rIm[i] ?? 0;
    const c = sRe[i] ?? 0;
    const d = -(sIm[i] ?? 0);
    rRe[i] = a * c - b * d;
    rIm[i] = a * d + b * c;
  }
  fft(rRe, rIm, true);
  const sEnergy = prefixSquares(s);
  const rEnergy = prefixSquares(r);
  const minOverlap = Math.max(1, Math.floor((opts.minOverlap ?? 0.5) * Math.min(ns, nr)));
  const maxLag = opts.maxLagSamples ?? Math.max(ns, nr);
  let best: Correlation = { peak: -2, lagSamples: 0, lagMs: 0, overlapSamples: 0 };
  for (let lag = -(ns - 1); lag <= nr - 1; lag++) {
    if (Math.abs(lag) > maxLag) continue;
    // Overlap: n in [max(0, lag), min(nr, ns + lag)).
    const lo = Math.max(0, lag);
    const hi = Math.min(nr, ns + lag);
    const overlap = hi - lo;
    if (overlap < minOverlap) continue;
    const raw = rRe[(lag + size) % size] ?? 0;
    const es = (sEnergy[hi - lag] ?? 0) - (sEnergy[lo - lag] ?? 0);
    const er = (rEnergy[hi] ?? 0) - (rEnergy[lo] ?? 0);
    if (es <= 0 || er <= 0) continue;
    const value = raw / Math.sqrt(es * er);
    if (value > best.peak)
      best = { peak: value, lagSamples: lag, lagMs: (lag * 1000) / sent.sampleRate, overlapSamples: overlap };
  }
  if (best.peak === -2) best.peak = 0;
  return best;
}

function prefixSquares(x: Int16Array): Float64Array {
  const out = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) {
    const v = x[i] ?? 0;
    out[i + 1] = (out[i] ?? 0) + v * v;
  }
  return out;
}

/** In-place iterative radix-2 FFT; the inverse is scaled by 1/n. */
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[i] ?? 0;
      re[i] = re[j] ?? 0;
      re[j] = tr;
      const ti = im[i] ?? 0;
      im[i] = im[j] ?? 0;
      im[j] = ti;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = ((inverse ? 2 : -2) * Math.PI) / len;
    const wRe = Math.cos(angle);
    const wIm = Math.sin(angle);
    const half = len >> 1;
    for (let i = 0; i < n; i += len) {
      let cRe = 1;
      let cIm = 0;
      for (let k = 0; k < half; k++) {
        const a = i + k;
        const b = a + half;
        const xRe = re[b] ?? 0;
        const xIm = im[b] ?? 0;
        const tRe = xRe * cRe - xIm * cIm;
        const tIm = xRe * cIm + xIm * cRe;
        const uRe = re[a] ?? 0;
        const uIm = im[a] ?? 0;
        re[a] = uRe + tRe;
        im[a] = uIm + tIm;
        re[b] = uRe - tRe;
        im[b] = uIm - tIm;
        const nRe = cRe * wRe - cIm * wIm;
        cIm = cRe * wIm + cIm * wRe;
        cRe = nRe;
      }
    }
  }
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i] = (re[i] ?? 0) / n;
      im[i] = (im[i] ?? 0) / n;
    }
  }
}

/** Root-mean-square level in dBFS, to tell a silent recording from a quiet one in reports. */
export function rmsDbfs(audio: PcmAudio): number {
  let sum = 0;
  for (const v of audio.samples) sum += v * v;
  const rms = Math.sqrt(sum / Math.max(1, audio.samples.length));
  return rms === 0 ? -Infinity : 20 * Math.log10(rms / 32768);
}
