/**
 * G.711 (ITU-T Recommendation G.711, 1988) µ-law and A-law companding by lookup tables.
 *
 * Linear samples are 16-bit signed PCM. G.711 itself works on a 14-bit (µ-law) and 13-bit
 * (A-law) uniform scale: the encoder drops the low bits first, so the encode tables are indexed
 * by the 14-bit resp. 13-bit value and the decode tables return the 16-bit value (the 14/13-bit
 * value shifted up). The tables are built once at load from the segment rules of G.711 Tables
 * 1a/1b and 2a/2b (the same construction as the widely used reference `g711.c`); on the hot path
 * a sample costs one array read.
 */

/** µ-law bias: G.711 µ-law segments are offset by 33 on the 14-bit scale (132 on the 16-bit one). */
const ULAW_BIAS = 0x84;
/** The largest magnitude µ-law represents on the 14-bit scale. */
const ULAW_CLIP_14 = 8159;

/** Segment end points: µ-law on the biased 14-bit scale, A-law on the 13-bit scale. */
const ULAW_SEG_END = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff] as const;
const ALAW_SEG_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff] as const;

function segmentOf(value: number, ends: readonly number[]): number {
  for (let i = 0; i < ends.length; i++) if (value <= (ends[i] ?? 0)) return i;
  return ends.length;
}

function ulawDecodeOne(code: number): number {
  // G.711 µ-law code words are transmitted with all bits inverted.
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + ULAW_BIAS;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? ULAW_BIAS - t : t - ULAW_BIAS;
}

function ulawEncode14(pcm14: number): number {
  let mask: number;
  let v = pcm14;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  } else mask = 0xff;
  if (v > ULAW_CLIP_14) v = ULAW_CLIP_14;
  v += ULAW_BIAS >> 2;
  const seg = segmentOf(v, ULAW_SEG_END);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask;
}

function alawDecodeOne(code: number): number {
  // G.711 A-law: the even bits of the code word are inverted for transmission (XOR 0x55).
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

function alawEncode13(pcm13: number): number {
  let mask: number;
  let v = pcm13;
  if (v >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    v = -v - 1;
  }
  const seg = segmentOf(v, ALAW_SEG_END);
  if (seg >= 8) return 0x7f ^ mask;
  const mantissa = seg < 2 ? (v >> 1) & 0x0f : (v >> seg) & 0x0f;
  return ((seg << 4) | mantissa) ^ mask;
}

/** Code word → 16-bit linear sample. */
const ULAW_DECODE: Int16Array = new Int16Array(256);
const ALAW_DECODE: Int16Array = new Int16Array(256);
/** 14-bit linear (offset by 8192) → µ-law code word. */
const ULAW_ENCODE = new Uint8Array(1 << 14);
/** 13-bit linear (offset by 4096) → A-law code word. */
const ALAW_ENCODE = new Uint8Array(1 << 13);

for (let c = 0; c < 256; c++) {
  ULAW_DECODE[c] = ulawDecodeOne(c);
  ALAW_DECODE[c] = alawDecodeOne(c);
}
for (let i = 0; i < ULAW_ENCODE.length; i++) ULAW_ENCODE[i] = ulawEncode14(i - 8192);
for (let i = 0; i < ALAW_ENCODE.length; i++) ALAW_ENCODE[i] = alawEncode13(i - 4096);

export type G711Law = 'pcmu' | 'pcma';

/** Encode one 16-bit linear sample (values outside −32768…32767 are clamped). */
export function linearToUlaw(sample: number): number {
  const s = sample > 32767 ? 32767 : sample < -32768 ? -32768 : sample | 0;
  return ULAW_ENCODE[(s >> 2) + 8192] ?? 0xff;
}

export function linearToAlaw(sample: number): number {
  const s = sample > 32767 ? 32767 : sample < -32768 ? -32768 : sample | 0;
  return ALAW_ENCODE[(s >> 3) + 4096] ?? 0xd5;
}

export function ulawToLinear(code: number): number {
  return ULAW_DECODE[code & 0xff] ?? 0;
}

export function alawToLinear(code: number): number {
  return ALAW_DECODE[code & 0xff] ?? 0;
}

/** Encode `samples` into `out` (same length or longer); returns the number of bytes written. */
export function encodeG711(law: G711Law, samples: ArrayLike<number>, out: Uint8Array): number {
  const n = Math.min(samples.length, out.length);
  const enc = law === 'pcmu' ? linearToUlaw : linearToAlaw;
  for (let i = 0; i < n; i++) out[i] = enc(samples[i] ?? 0);
  return n;
}

/** Decode `codes` into `out`; returns the number of samples written. */
export function decodeG711(law: G711Law, codes: ArrayLike<number>, out: Int16Array): number {
  const n = Math.min(codes.length, out.length);
  const table = law === 'pcmu' ? ULAW_DECODE : ALAW_DECODE;
  for (let i = 0; i < n; i++) out[i] = table[(codes[i] ?? 0) & 0xff] ?? 0;
  return n;
}

/** The code word for silence: µ-law 0xFF (+0), A-law 0xD5 (+8, the smallest positive level). */
export function silenceCode(law: G711Law): number {
  return law === 'pcmu' ? 0xff : 0xd5;
}
