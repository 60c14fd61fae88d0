/**
 * At start-up, before anything records: a recording cut by a crash may end in a partly written
 * flush, its RIFF sizes behind (or, with a torn last frame, past) the bytes on disk. Each of the
 * recorder's files whose sizes disagree with its length gets sizes for the whole stereo frames it
 * holds, so every recording is playable up to its last flush (at most a second before the crash).
 */
import { closeSync, fstatSync, openSync, readSync, readdirSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  DATA_SIZE_OFFSET,
  WAV_HEADER_BYTES,
  parseRecordingHeader,
  wavSizeFixups,
} from '../../../../base/signal/wav.ts';

/** Bytes of one stereo 16-bit frame (a sample on each channel). */
const FRAME_BYTES = 4;

export interface RepairReport {
  checked: number;
  repaired: string[];
  /** Files that are no recording of ours (left as they are). */
  skipped: string[];
}

export function repairRecordings(dir: string): RepairReport {
  const report: RepairReport = { checked: 0, repaired: [], skipped: [] };
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.wav'));
  } catch {
    return report;
  }
  for (const name of names) {
    const path = join(dir, name);
    report.checked++;
    let fd: number | undefined;
    try {
      fd = openSync(path, 'r+');
      const header = new Uint8Array(WAV_HEADER_BYTES);
      const size = fstatSync(fd).size;
      if (size < WAV_HEADER_BYTES || readSync(fd, header, 0, WAV_HEADER_BYTES, 0) < WAV_HEADER_BYTES) {
        report.skipped.push(name);
        continue;
      }
      if (!parseRecordingHeader(header).ok) {
        report.skipped.push(name);
        continue;
      }
      const stated = new DataView(header.buffer).getUint32(DATA_SIZE_OFFSET, true);
      const whole = Math.floor((size - WAV_HEADER_BYTES) / FRAME_BYTES) * FRAME_BYTES;
      if (stated === whole && size === WAV_HEADER_BYTES + whole) continue;
      // A torn last frame is cut off: the two channels stay in step.
      if (size !== WAV_HEADER_BYTES + whole) truncateSync(path, WAV_HEADER_BYTES + whole);
      for (const f of wavSizeFixups(whole)) writeSync(fd, f.bytes, 0, f.bytes.length, f.offset);
      report.repaired.push(name);
    } catch {
      report.skipped.push(name);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return report;
}
