/**
 * WAV (RIFF WAVE) files: parsing prompt headers into a Result, decoding them to engine frames, and
 * the header of the recorder's stereo files.
 *
 * Layout (Microsoft "Multimedia Programming Interface and Data Specifications 1.0", RIFF):
 * `RIFF <size:u32le> WAVE` followed by chunks `<id:4> <size:u32le> <data>`, each data padded to an
 * even length ("If the chunk size is an odd number of bytes, a pad byte with value zero is written
 * after ckData"). The `fmt ` chunk carries WAVEFORMAT (format tag, channels, sample rate, average
 * bytes per second, block align) and, for PCM, bits per sample; `data` holds the samples. Other
 * chunks (`LIST`, `fact`, `cue `...) are skipped.
 */
import { err, ok, type Result, type ParseError } from '../result.ts';
import type { ErrorCode } from '../error-codes.ts';
import { alawToLinear, ulawToLinear } from './g711.ts';
import { downsample16kTo8k } from './resample.ts';
import { toFrames } from './pcm-frame.ts';

export const WAVE_FORMAT_PCM = 1;
export const WAVE_FORMAT_ALAW = 6;
export const WAVE_FORMAT_MULAW = 7;
/** WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the SubFormat GUID. */
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export type WavEncoding = 'pcm16' | 'pcma' | 'pcmu';

export interface WavInfo {
  encoding: WavEncoding;
  sampleRateHz: 8000 | 16000;
  channels: 1;
  bitsPerSample: 8 | 16;
  blockAlign: number;
  /** Byte offset of the first sample in the file. */
  dataOffset: number;
  dataBytes: number;
  /** Number of samples per channel. */
  samples: number;
  durationMs: number;
}

function fail(code: ErrorCode, message: string, field: string): Result<never> {
  return err<ParseError>({ code, message, field });
}

function tag4(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at] ?? 0, b[at + 1] ?? 0, b[at + 2] ?? 0, b[at + 3] ?? 0);
}

interface Fmt {
  formatTag: number;
  channels: number;
  sampleRateHz: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

function parseFmt(view: DataView, at: number, size: number): Result<Fmt> {
  if (size < 16)
    return fail('EDGE_ERR_WAV_FMT_SHORT', `fmt chunk is ${size} bytes, WAVEFORMAT needs 16`, 'fmt.size');
  let formatTag = view.getUint16(at, true);
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16) after the 16
    // bytes; the GUID's first two bytes are the format tag it stands for.
    if (size < 40)
      return fail('EDGE_ERR_WAV_FMT_SHORT', `extensible fmt chunk is ${size} bytes, needs 40`, 'fmt.size');
    formatTag = view.getUint16(at + 24, true);
  }
  return ok({
    formatTag,
    channels: view.getUint16(at + 2, true),
    sampleRateHz: view.getUint32(at + 4, true),
    byteRate: view.getUint32(at + 8, true),
    blockAlign: view.getUint16(at + 12, true),
    bitsPerSample: view.getUint16(at + 14, true),
  });
}

function checkFmt(f: Fmt): Result<{ encoding: WavEncoding; bits: 8 | 16; rate: 8000 | 16000 }> {
  let encoding: WavEncoding;
  let bits: 8 | 16;
  switch (f.formatTag) {
    case WAVE_FORMAT_PCM:
      encoding = 'pcm16';
      bits = 16;
      break;
    case WAVE_FORMAT_ALAW:
      encoding = 'pcma';
      bits = 8;
      break;
    case WAVE_FORMAT_MULAW:
      encoding = 'pcmu';
      bits = 8;
      break;
    default:
      return fail(
        'EDGE_ERR_WAV_FORMAT_UNSUPPORTED',
        `format tag ${f.formatTag} is not PCM (1), A-law (6) or µ-law (7)`,
        'fmt.formatTag',
      );
  }
  if (f.bitsPerSample !== bits)
    return fail(
      'EDGE_ERR_WAV_BITS_UNSUPPORTED',
      `${encoding} needs ${bits} bits per sample, file says ${f.bitsPerSample}`,
      'fmt.bitsPerSample',
    );
  if (f.channels !== 1)
    return fail(
      'EDGE_ERR_WAV_CHANNELS_UNSUPPORTED',
      `prompts are mono, file has ${f.channels} channels`,
      'fmt.channels',
    );
  const rates: readonly number[] = encoding === 'pcm16' ? [8000, 16000] : [8000];
  if (!rates.includes(f.sampleRateHz))
    return fail(
      'EDGE_ERR_WAV_RATE_UNSUPPORTED',
      `${encoding} at ${f.sampleRateHz} Hz is not supported (${rates.join(' or ')} Hz)`,
      'fmt.sampleRate',
    );
  const blockAlign = (f.channels * bits) / 8;
  if (f.blockAlign !== blockAlign)
    return fail(
      'EDGE_ERR_WAV_FMT_INCONSISTENT',
      `block align ${f.blockAlign}, expected ${blockAlign}`,
      'fmt.blockAlign',
    );
  if (f.byteRate !== f.sampleRateHz * blockAlign)
    return fail(
      'EDGE_ERR_WAV_FMT_INCONSISTENT',
      `byte rate ${f.byteRate}, expected ${f.sampleRateHz * blockAlign}`,
      'fmt.byteRate',
    );
  return ok({ encoding, bits, rate: f.sampleRateHz as 8000 | 16000 });
}

/** Parse and validate the header of a prompt file; the sizes are checked against the bytes present. */
export function parseWavHeader(bytes: Uint8Array): Result<WavInfo> {
  if (bytes.length < 12)
    return fail('EDGE_ERR_WAV_TRUNCATED', `${bytes.length} bytes, a RIFF header needs 12`, 'RIFF');
  if (tag4(bytes, 0) !== 'RIFF')
    return fail('EDGE_ERR_WAV_NOT_RIFF', 'file does not start with "RIFF"', 'RIFF');
  if (tag4(bytes, 8) !== 'WAVE')
    return fail(
      'EDGE_ERR_WAV_NOT_WAVE',
      `RIFF form type is "${tag4(bytes, 8)}", not "WAVE"`,
      'RIFF.formType',
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const riffSize = view.getUint32(4, true);
  // The RIFF size counts everything after the size field itself.
  const riffEnd = 8 + riffSize;
  if (riffEnd > bytes.length)
    return fail(
      'EDGE_ERR_WAV_SIZE_MISMATCH',
      `RIFF size ${riffSize} runs past the end of the ${bytes.length}-byte file`,
      'RIFF.size',
    );
  let fmt: Fmt | undefined;
  let at = 12;
  while (at + 8 <= riffEnd) {
    const id = tag4(bytes, at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (body + size > riffEnd)
      return fail(
        'EDGE_ERR_WAV_SIZE_MISMATCH',
        `chunk "${id}" of ${size} bytes runs past the end of the RIFF form`,
        `${id.trim()}.size`,
      );
    if (id === 'fmt ') {
      const parsed = parseFmt(view, body, size);
      if (!parsed.ok) return parsed;
      fmt = parsed.value;
    } else if (id === 'data') {
      if (!fmt) return fail('EDGE_ERR_WAV_FMT_MISSING', 'data chunk before fmt chunk', 'fmt');
      const checked = checkFmt(fmt);
      if (!checked.ok) return checked;
      const { encoding, bits, rate } = checked.value;
      const blockAlign = bits / 8;
      if (size % blockAlign !== 0)
        return fail(
          'EDGE_ERR_WAV_SIZE_MISMATCH',
          `data size ${size} is not a whole number of ${blockAlign}-byte samples`,
          'data.size',
        );
      const samples = size / blockAlign;
      return ok({
        encoding,
        sampleRateHz: rate,
        channels: 1,
        bitsPerSample: bits,
        blockAlign,
        dataOffset: body,
        dataBytes: size,
        samples,
        durationMs: (samples * 1000) / rate,
      });
    }
    // Odd-sized chunks are followed by one pad byte.
    at = body + size + (size & 1);
  }
  return fail(
    fmt ? 'EDGE_ERR_WAV_DATA_MISSING' : 'EDGE_ERR_WAV_FMT_MISSING',
    fmt ? 'no data chunk' : 'no fmt chunk',
    fmt ? 'data' : 'fmt',
  );
}

/** Decode the samples of a parsed file to 16-bit linear at the file's own rate. */
export function decodeWavSamples(bytes: Uint8Array, info: WavInfo): Int16Array {
  const out = new Int16Array(info.samples);
  const data = bytes.subarray(info.dataOffset, info.dataOffset + info.dataBytes);
  switch (info.encoding) {
    case 'pcm16': {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
      break;
    }
    case 'pcma':
      for (let i = 0; i < out.length; i++) out[i] = alawToLinear(data[i] ?? 0xd5);
      break;
    case 'pcmu':
      for (let i = 0; i < out.length; i++) out[i] = ulawToLinear(data[i] ?? 0xff);
      break;
    default: {
      const never: never = info.encoding;
      throw new Error(`unreachable encoding ${String(never)}`);
    }
  }
  return out;
}

/** A prompt file as engine frames: 20 ms at 8 kHz (16 kHz files are low-pass filtered and decimated). */
export function decodeWavToFrames(bytes: Uint8Array): Result<{ info: WavInfo; frames: Int16Array[] }> {
  const parsed = parseWavHeader(bytes);
  if (!parsed.ok) return parsed;
  const info = parsed.value;
  const native = decodeWavSamples(bytes, info);
  const at8k = info.sampleRateHz === 16000 ? downsample16kTo8k(native) : native;
  return ok({ info, frames: toFrames(at8k) });
}

export const WAV_HEADER_BYTES = 44;
/** Offsets of the two size fields the recorder rewrites on every flush. */
export const RIFF_SIZE_OFFSET = 4;
export const DATA_SIZE_OFFSET = 40;

export interface WavHeaderOptions {
  channels: number;
  sampleRateHz: number;
  dataBytes: number;
}

/** The canonical 44-byte header of 16-bit PCM (format tag 1): RIFF, a 16-byte fmt chunk, data. */
export function writeWavHeader(
  opts: WavHeaderOptions,
  out: Uint8Array = new Uint8Array(WAV_HEADER_BYTES),
): Uint8Array {
  const view = new DataView(out.buffer, out.byteOffset, WAV_HEADER_BYTES);
  const blockAlign = opts.channels * 2;
  const ascii = (at: number, s: string): void => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(RIFF_SIZE_OFFSET, 36 + opts.dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, WAVE_FORMAT_PCM, true);
  view.setUint16(22, opts.channels, true);
  view.setUint32(24, opts.sampleRateHz, true);
  view.setUint32(28, opts.sampleRateHz * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(DATA_SIZE_OFFSET, opts.dataBytes, true);
  return out;
}

/**
 * The two size fields of a canonical header for `dataBytes` of samples, as 4-byte little-endian
 * patches: a streaming writer rewrites them in place after appending, so the file on disk is a
 * complete, readable WAV after every flush.
 */
export function wavSizeFixups(dataBytes: number): { offset: number; bytes: Uint8Array }[] {
  const le = (v: number): Uint8Array => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return b;
  };
  return [
    { offset: RIFF_SIZE_OFFSET, bytes: le(36 + dataBytes) },
    { offset: DATA_SIZE_OFFSET, bytes: le(dataBytes) },
  ];
}

/**
 * The recorder's own files (16-bit PCM stereo): the header of a file that may have been left by a
 * crash, with its size fields possibly behind the bytes actually written.
 */
export function parseRecordingHeader(header: Uint8Array): Result<{ channels: number; sampleRateHz: number }> {
  if (header.length < WAV_HEADER_BYTES)
    return fail('EDGE_ERR_WAV_TRUNCATED', `${header.length} bytes, header needs 44`, 'RIFF');
  if (
    tag4(header, 0) !== 'RIFF' ||
    tag4(header, 8) !== 'WAVE' ||
    tag4(header, 12) !== 'fmt ' ||
    tag4(header, 36) !== 'data'
  )
    return fail('EDGE_ERR_WAV_NOT_CANONICAL', 'not a canonical 44-byte PCM WAV header', 'RIFF');
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (view.getUint16(20, true) !== WAVE_FORMAT_PCM || view.getUint16(34, true) !== 16)
    return fail('EDGE_ERR_WAV_FORMAT_UNSUPPORTED', 'not 16-bit PCM', 'fmt.formatTag');
  return ok({ channels: view.getUint16(22, true), sampleRateHz: view.getUint32(24, true) });
}
