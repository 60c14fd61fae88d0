/**
 * Caller ID over FSK: the exchange's encoder and the line's decoder.
 *
 * Two modulations carry the same messages (`caller-id.ts`):
 * - Bell 202 (Bellcore GR-30-CORE §2): 1200 baud, mark (1) 1200 Hz, space (0) 2200 Hz.
 * - ITU-T V.23 (ETSI EN 300 659-1 §6.1.2, BT SIN 227): 1200 baud, mark 1300 Hz, space 2100 Hz.
 *
 * Both sit symmetrically around 1700 Hz with the mark below, so one discriminator centred at
 * 1700 Hz decodes either: the sign of the instantaneous frequency offset is the bit.
 *
 * The transmission (GR-30-CORE §3.1; EN 300 659-1 §6.1.4, EN 300 659-3 §4):
 *   channel seizure: "a block of 300 continuous bits of alternating '0's and '1's"
 *   mark signal:     "150 ms of mark" in GR-30 (180 bits); EN 300 659-1: "80 ± 25 bits" of mark
 *   message:         asynchronous characters, each one start bit (0), eight data bits LSB first,
 *                    one stop bit (1)
 */
import { err, type ParseError, type Result } from '../result.ts';
import {
  CallerIdErrors,
  encodeCallerIdMessage,
  MESSAGE_TYPE_MDMF,
  MESSAGE_TYPE_SDMF,
  parseCallerIdMessage,
  type CallerIdDate,
  type CallerIdFormat,
  type CallerIdInfo,
} from './caller-id.ts';
import { clamp16, dbm0ToPeak, dbm0ToPower, SAMPLE_RATE_HZ } from './line-audio.ts';

export type FskStandard = 'bell202' | 'v23';

export interface FskModulation {
  markHz: number;
  spaceHz: number;
  baud: number;
}

export const FSK_STANDARDS: Readonly<Record<FskStandard, FskModulation>> = {
  bell202: { markHz: 1200, spaceHz: 2200, baud: 1200 },
  v23: { markHz: 1300, spaceHz: 2100, baud: 1200 },
};

export interface FskEncodeOptions {
  standard: FskStandard;
  format: CallerIdFormat;
  /** Transmit level; GR-30 and EN 300 659-1 both centre on about −13.5 dBm. */
  levelDbm0?: number;
  /** Channel seizure bits (300 in GR-30 and EN 300 659-1; 0 where a line reversal replaces it). */
  seizureBits?: number;
  /** Mark bits before the first character (180 Bell, 80 ETSI by default). */
  markBits?: number;
  /** Mark bits after the checksum before the carrier stops. */
  trailingMarkBits?: number;
  /** Override the bit rate (tests of the ±1 % tolerance in GR-30 §2.1). */
  baud?: number;
  /** Date to stamp when `info.date` is absent and the format requires one (SDMF). */
  fallbackDate?: CallerIdDate;
}

/** The bit stream of one delivery: seizure, mark, then 8N1 characters, then a short mark tail. */
export function fskBitStream(
  message: Uint8Array,
  seizureBits: number,
  markBits: number,
  trailingMarkBits = 4,
): Uint8Array {
  const bits: number[] = [];
  for (let i = 0; i < seizureBits; i++) bits.push(i % 2);
  for (let i = 0; i < markBits; i++) bits.push(1);
  for (const byte of message) {
    bits.push(0);
    for (let b = 0; b < 8; b++) bits.push((byte >> b) & 1);
    bits.push(1);
  }
  for (let i = 0; i < trailingMarkBits; i++) bits.push(1);
  return Uint8Array.from(bits);
}

/**
 * Phase-continuous FSK: one phase accumulator runs through every bit, so a change of frequency
 * never makes a step in the waveform (which would splatter energy outside the band).
 */
export function modulateFsk(bits: Uint8Array, modulation: FskModulation, levelDbm0: number): Int16Array {
  const samplesPerBit = SAMPLE_RATE_HZ / modulation.baud;
  const total = Math.ceil(bits.length * samplesPerBit);
  const out = new Int16Array(total);
  const peak = dbm0ToPeak(levelDbm0);
  let phase = 0;
  for (let n = 0; n < total; n++) {
    const bit = bits[Math.min(bits.length - 1, Math.floor(n / samplesPerBit))] ?? 1;
    const freq = bit === 1 ? modulation.markHz : modulation.spaceHz;
    out[n] = clamp16(peak * Math.sin(phase));
    phase += (2 * Math.PI * freq) / SAMPLE_RATE_HZ;
    if (phase > 2 * Math.PI) phase -= 2 * Math.PI;
  }
  return out;
}

/** The audio the exchange sends for one caller ID delivery. */
export function encodeFskCallerId(info: CallerIdInfo, options: FskEncodeOptions): Int16Array {
  const base = FSK_STANDARDS[options.standard];
  const modulation = { ...base, baud: options.baud ?? base.baud };
  const message = encodeCallerIdMessage(info, options.format, options.fallbackDate);
  const bits = fskBitStream(
    message,
    options.seizureBits ?? 300,
    options.markBits ?? (options.standard === 'bell202' ? 180 : 80),
    options.trailingMarkBits ?? 4,
  );
  return modulateFsk(bits, modulation, options.levelDbm0 ?? -13);
}

export interface FskDecoderOptions {
  /** Carrier below this level is treated as no carrier. */
  minLevelDbm0?: number;
  /** Mark bits that must precede the message type (EN 300 659-1 allows 80 − 25 = 55). */
  minMarkBits?: number;
}

type UartState = 'idle' | 'character';
type MessageState = 'hunt' | 'body';

export interface FskDecoderDump {
  carrier: boolean;
  uart: UartState;
  message: MessageState;
  bytes: number;
  stats: { messages: number; errors: number; characters: number };
}

const CENTRE_HZ = 1700;
const BAUD = 1200;
const SAMPLES_PER_BIT = SAMPLE_RATE_HZ / BAUD;
const HISTORY = 256;
/** Low-pass taps for the complex baseband: Hamming-windowed sinc, cut-off 1100 Hz. */
const LOWPASS = lowpassTaps(15, 1100);
/** 1700/8000 = 17/80: the mixer's oscillator repeats every 80 samples. */
const MIXER_PERIOD = 80;
const MIX_COS = new Float64Array(MIXER_PERIOD);
const MIX_SIN = new Float64Array(MIXER_PERIOD);
for (let k = 0; k < MIXER_PERIOD; k++) {
  MIX_COS[k] = Math.cos((2 * Math.PI * CENTRE_HZ * k) / SAMPLE_RATE_HZ);
  MIX_SIN[k] = -Math.sin((2 * Math.PI * CENTRE_HZ * k) / SAMPLE_RATE_HZ);
}

function lowpassTaps(count: number, cutoffHz: number): Float64Array {
  const taps = new Float64Array(count);
  const fc = cutoffHz / SAMPLE_RATE_HZ;
  const mid = (count - 1) / 2;
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (count - 1));
    taps[i] = sinc * w;
    sum += taps[i] ?? 0;
  }
  for (let i = 0; i < count; i++) taps[i] = (taps[i] ?? 0) / sum;
  return taps;
}

/**
 * Streaming FSK caller ID decoder.
 *
 * Demodulation: the signal is mixed down by 1700 Hz to a complex baseband and low-pass filtered
 * (which is the band-pass pre-filter: it keeps 600–2800 Hz and drops speech lows, hum and the
 * mixing image); the product z[n]·conj(z[n−1]) turns frequency into phase advance, and its
 * imaginary part over the two magnitudes, smoothed over three samples, is positive for space and negative for mark
 * whatever the level.
 *
 * Bit timing: a UART. Each mark-to-space edge (located between samples by interpolation) starts a
 * character; the ten bits are read at the centres that follow from that edge, each decided by
 * summing the discriminator over the middle of the bit. Re-timing on every start bit absorbs the
 * ±1 % bit-rate tolerance of GR-30 §2.1 over ten bits.
 *
 * `push` returns the outcome of a message when one completes: the caller ID, or an error when the
 * checksum fails, a character is badly framed or the carrier stops mid-message.
 */
export class FskCallerIdDecoder {
  private readonly minPower: number;
  private readonly minMarkSamples: number;
  // Baseband filter state: the last LOWPASS.length mixed samples, as a ring.
  private readonly re = new Float64Array(LOWPASS.length);
  private readonly im = new Float64Array(LOWPASS.length);
  private ringAt = 0;
  private mixAt = 0;
  private prevRe = 0;
  private prevIm = 0;
  private d1 = 0;
  private d2 = 0;
  /** Discriminator history by absolute sample index (mod HISTORY). */
  private readonly disc = new Float64Array(HISTORY);
  private n = 0;
  private power = 0;
  private carrier = false;
  private carrierLowSamples = 0;
  private uart: UartState = 'idle';
  private edgeAt = 0;
  private markRun = 0;
  private markBeforeChar = 0;
  private message: MessageState = 'hunt';
  private bytes: number[] = [];
  private outcome: Result<CallerIdInfo> | undefined;
  private stats = { messages: 0, errors: 0, characters: 0 };

  constructor(options: FskDecoderOptions = {}) {
    // |z|² of a sine of peak A after mixing is A²/4, half its mean power.
    this.minPower = dbm0ToPower(options.minLevelDbm0 ?? -45) / 2;
    this.minMarkSamples = (options.minMarkBits ?? 30) * SAMPLES_PER_BIT;
  }

  push(frame: Int16Array): Result<CallerIdInfo> | undefined {
    this.outcome = undefined;
    for (let i = 0; i < frame.length; i++) this.sample(frame[i] ?? 0);
    return this.outcome;
  }

  /** Forget any partial message (the caller ID window closed). */
  reset(): void {
    this.uart = 'idle';
    this.message = 'hunt';
    this.bytes = [];
    this.markRun = 0;
  }

  close(): void {
    this.reset();
  }

  dump(): FskDecoderDump {
    return {
      carrier: this.carrier,
      uart: this.uart,
      message: this.message,
      bytes: this.bytes.length,
      stats: { ...this.stats },
    };
  }

  private sample(x: number): void {
    const n = this.n++;
    // Mix down and filter.
    const k = this.ringAt;
    this.re[k] = x * (MIX_COS[this.mixAt] ?? 0);
    this.im[k] = x * (MIX_SIN[this.mixAt] ?? 0);
    this.mixAt = (this.mixAt + 1) % MIXER_PERIOD;
    this.ringAt = (k + 1) % LOWPASS.length;
    let zr = 0;
    let zi = 0;
    for (let t = 0; t < LOWPASS.length; t++) {
      const idx = (k - t + LOWPASS.length) % LOWPASS.length;
      const c = LOWPASS[t] ?? 0;
      zr += c * (this.re[idx] ?? 0);
      zi += c * (this.im[idx] ?? 0);
    }
    // Imag(z[n]·conj(z[n−1])) = |z|²·sin(Δφ): sign of the frequency offset.
    // Divided by |z[n]|·|z[n−1]| it is sin(Δφ) alone, so a level step mid-message does not let
    // the louder bits outweigh the quieter ones inside the filter's memory.
    const mag = zr * zr + zi * zi;
    const prevMag = this.prevRe * this.prevRe + this.prevIm * this.prevIm;
    const d0 = (zi * this.prevRe - zr * this.prevIm) / (Math.sqrt(mag * prevMag) + 1e-9);
    this.prevRe = zr;
    this.prevIm = zi;
    const d = d0 + this.d1 + this.d2;
    this.d2 = this.d1;
    this.d1 = d0;
    this.disc[n % HISTORY] = d;
    this.power += (mag - this.power) / 16;

    // Carrier detect with 3 dB of hysteresis and two bit-times of hold-over.
    if (!this.carrier) {
      if (this.power >= this.minPower) {
        this.carrier = true;
        this.carrierLowSamples = 0;
        this.markRun = 0;
      } else return;
    } else if (this.power < this.minPower / 2) {
      if (++this.carrierLowSamples > 2 * SAMPLES_PER_BIT) {
        this.carrier = false;
        this.carrierLost();
        return;
      }
    } else this.carrierLowSamples = 0;

    this.uartStep(n);
  }

  private uartStep(n: number): void {
    if (this.uart === 'idle') {
      this.idleStep(n);
      return;
    }
    // Wait until the stop bit's window has been seen.
    const stopCentre = this.edgeAt + 9.5 * SAMPLES_PER_BIT;
    if (n < Math.round(stopCentre) + 2) return;
    this.endCharacter(n, stopCentre);
  }

  private idleStep(n: number): void {
    const cur = this.disc[n % HISTORY] ?? 0;
    const prev = this.disc[(n - 1 + HISTORY) % HISTORY] ?? 0;
    if (cur <= 0) {
      this.markRun++;
      return;
    }
    if (prev > 0) {
      this.markRun = 0;
      return;
    }
    // Mark-to-space: a start bit begins between n−1 and n.
    this.edgeAt = n - 1 + prev / (prev - cur);
    this.markBeforeChar = this.markRun;
    this.markRun = 0;
    this.uart = 'character';
  }

  private bitAt(centre: number): number {
    let sum = 0;
    for (let m = Math.round(centre - 2); m <= Math.round(centre + 2); m++) sum += this.disc[m % HISTORY] ?? 0;
    return sum > 0 ? 0 : 1;
  }

  private endCharacter(n: number, stopCentre: number): void {
    this.uart = 'idle';
    const start = this.bitAt(this.edgeAt + 0.5 * SAMPLES_PER_BIT);
    if (start !== 0) {
      // A glitch, not a start bit: resume hunting just after it.
      this.rescan(Math.round(this.edgeAt) + 1, n);
      return;
    }
    let byte = 0;
    for (let b = 0; b < 8; b++) byte |= this.bitAt(this.edgeAt + (1.5 + b) * SAMPLES_PER_BIT) << b;
    const stop = this.bitAt(stopCentre);
    this.stats.characters++;
    this.character(byte, stop === 1);
    this.rescan(Math.round(stopCentre), n);
  }

  /** Samples between `from` and `n` already arrived; look for the next start edge among them. */
  private rescan(from: number, n: number): void {
    this.markRun = 0;
    for (let m = from + 1; m <= n; m++) {
      if (this.uart !== 'idle') {
        this.uartStep(m);
      } else this.idleStep(m);
    }
  }

  private character(byte: number, framed: boolean): void {
    switch (this.message) {
      case 'hunt':
        // GR-30 §3.1: the message type is the first character after the mark signal; before it
        // the seizure's alternating bits read as 0x55 characters and are ignored.
        if (
          framed &&
          this.markBeforeChar >= this.minMarkSamples &&
          (byte === MESSAGE_TYPE_SDMF || byte === MESSAGE_TYPE_MDMF)
        ) {
          this.message = 'body';
          this.bytes = [byte];
        }
        return;
      case 'body': {
        if (!framed) {
          this.finish(
            err({
              code: CallerIdErrors.FRAMING,
              message: `stop bit missing after byte ${this.bytes.length}`,
            }),
          );
          return;
        }
        this.bytes.push(byte);
        const length = this.bytes[1];
        if (length !== undefined && this.bytes.length === length + 3) {
          this.finish(parseCallerIdMessage(Uint8Array.from(this.bytes)));
        }
        return;
      }
      default: {
        const never: never = this.message;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  private carrierLost(): void {
    this.uart = 'idle';
    if (this.message === 'body') {
      this.finish(
        err<ParseError>({
          code: CallerIdErrors.TRUNCATED,
          message: `carrier lost after ${this.bytes.length} bytes of the message`,
        }),
      );
    }
  }

  private finish(outcome: Result<CallerIdInfo>): void {
    if (outcome.ok) this.stats.messages++;
    else this.stats.errors++;
    this.outcome = outcome;
    this.message = 'hunt';
    this.bytes = [];
  }
}
