/** Reading back the recorder's stereo WAV files in tests. */
import { readFileSync } from 'node:fs';
import { parseRecordingHeader } from '../../../base/signal/wav.ts';

export interface StereoFile {
  left: Int16Array;
  right: Int16Array;
  riffSize: number;
  dataSize: number;
  fileBytes: number;
}

/** Parse a file as a reader would: trust the header's data size, and check it fits the file. */
export function readStereoWav(path: string): StereoFile {
  const bytes = readFileSync(path);
  const header = parseRecordingHeader(bytes.subarray(0, 44));
  if (!header.ok) throw new Error(header.error.message);
  if (header.value.channels !== 2 || header.value.sampleRateHz !== 8000) throw new Error('not stereo 8 kHz');
  const riffSize = bytes.readUInt32LE(4);
  const dataSize = bytes.readUInt32LE(40);
  if (44 + dataSize > bytes.length)
    throw new Error(`data size ${dataSize} runs past the ${bytes.length}-byte file`);
  const n = dataSize / 4;
  const left = new Int16Array(n);
  const right = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    left[i] = bytes.readInt16LE(44 + 4 * i);
    right[i] = bytes.readInt16LE(46 + 4 * i);
  }
  return { left, right, riffSize, dataSize, fileBytes: bytes.length };
}

/** Frame k of a test stream: every sample is base + k, so each frame is recognisable on either channel. */
export function markedFrame(base: number, k: number): Int16Array {
  return new Int16Array(160).fill(base + k);
}
