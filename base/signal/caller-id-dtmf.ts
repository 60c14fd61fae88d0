/**
 * Caller ID sent as DTMF digits (CLIP by DTMF), as exchanges in Denmark, the Netherlands, Sweden,
 * Finland, Brazil, India and parts of China deliver it, usually before the first ring.
 *
 * The digits arrive as a digit spill bracketed by start and end codes:
 *
 * | variant | number            | private  | unavailable | where                              |
 * |---------|-------------------|----------|-------------|------------------------------------|
 * | `A-C`   | `A<number>C`      | `B10C`   | `B00C`      | ETSI-style; NL, SE, FI, BR, IN     |
 * | `A-#`   | `A<number>#`      | `D1#`    | `D2#`/`D3#` | Denmark (TDK)                      |
 * | `D-C`   | `D<number>C`      | `B10C`   | `B00C`      | exchanges in China and Taiwan      |
 *
 * The decoder accepts any of them: a start code `A` or `D`, digits, an end code `C` or `#`; the
 * special-information forms `B<2 digits>C` and `D<1 digit>#`. A `D` followed by one digit and `#`
 * is read as the Danish reason code, not as a one-digit number. The TDK specification gives DTMF
 * CLIP tones and pauses of at least 50 ms each; `DTMF_CALLER_ID_TIMING` is what the simulated
 * exchange sends.
 */
import { err, ok, type Result } from '../result.ts';
import type { ErrorCode } from '../error-codes.ts';
import { DtmfDetector, type DtmfDetectorEvent } from './dtmf-detector.ts';
import { CallerIdErrors, type CallerIdInfo } from './caller-id.ts';

export type DtmfCallerIdVariant = 'A-C' | 'A-#' | 'D-C';

export const DTMF_CALLER_ID_TIMING = { toneMs: 70, gapMs: 70 } as const;

/** A digit spill longer than this is not caller ID. */
const MAX_DIGITS = 24;

/** The digits the exchange sends for `info` (number digits only; `+` and spaces are dropped). */
export function encodeDtmfCallerId(info: CallerIdInfo, variant: DtmfCallerIdVariant): string {
  const start = variant === 'D-C' ? 'D' : 'A';
  const end = variant === 'A-#' ? '#' : 'C';
  if (info.number !== undefined) return start + info.number.replace(/[^0-9*]/g, '') + end;
  const reason = info.reason ?? 'out-of-area';
  if (variant === 'A-#') return reason === 'private' ? 'D1#' : 'D2#';
  return reason === 'private' ? 'B10C' : 'B00C';
}

type CollectorState = 'hunt' | 'number' | 'special';

/**
 * Assembles DTMF caller ID from detected digits. `push` returns the caller ID when an end code
 * closes it, or an error when the spill is malformed; `end` closes the caller ID window and
 * reports a spill that started but never ended (truncated).
 */
export class DtmfCallerIdCollector {
  private state: CollectorState = 'hunt';
  private start = '';
  private digits = '';

  push(digit: string): Result<CallerIdInfo> | undefined {
    const d = digit.toUpperCase();
    switch (this.state) {
      case 'hunt':
        if (d === 'A' || d === 'D') this.begin('number', d);
        else if (d === 'B') this.begin('special', d);
        // Anything else before a start code is not caller ID (a stray digit, speech talk-off).
        return undefined;
      case 'number':
      case 'special':
        if (/^[0-9*]$/.test(d)) {
          this.digits += d;
          if (this.digits.length > MAX_DIGITS)
            return this.finish(this.fail(CallerIdErrors.MALFORMED, 'digit spill too long'));
          return undefined;
        }
        if (d === 'C' || d === '#') return this.finish(this.complete(d));
        if (d === 'A' || d === 'B' || d === 'D') {
          // A new start code: the previous spill was cut short; the new one is taken.
          const error = this.fail(CallerIdErrors.TRUNCATED, `start code ${d} inside a caller ID`);
          this.begin(d === 'B' ? 'special' : 'number', d);
          return error;
        }
        return this.finish(this.fail(CallerIdErrors.MALFORMED, `unexpected ${d}`));
      default: {
        const never: never = this.state;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  /** The caller ID window closed: a spill in progress is truncated. */
  end(): Result<CallerIdInfo> | undefined {
    if (this.state === 'hunt') return undefined;
    return this.finish(this.fail(CallerIdErrors.TRUNCATED, `no end code after ${this.start}${this.digits}`));
  }

  reset(): void {
    this.state = 'hunt';
    this.start = '';
    this.digits = '';
  }

  dump(): { state: CollectorState; received: string } {
    return { state: this.state, received: this.start + this.digits };
  }

  private begin(state: CollectorState, start: string): void {
    this.state = state;
    this.start = start;
    this.digits = '';
  }

  private complete(endCode: string): Result<CallerIdInfo> {
    if (this.state === 'special' || (this.start === 'D' && endCode === '#' && this.digits.length === 1)) {
      return reasonFor(this.start + this.digits + endCode);
    }
    if (this.digits.length === 0) return this.fail(CallerIdErrors.MALFORMED, 'empty number');
    return ok({ number: this.digits });
  }

  private fail(code: ErrorCode, message: string): Result<CallerIdInfo> {
    return err({ code, message });
  }

  private finish(outcome: Result<CallerIdInfo>): Result<CallerIdInfo> {
    this.reset();
    return outcome;
  }
}

function reasonFor(code: string): Result<CallerIdInfo> {
  switch (code) {
    case 'B10C':
    case 'D1#':
      return ok({ reason: 'private' });
    case 'B00C':
    case 'D2#':
    case 'D3#':
      return ok({ reason: 'out-of-area' });
    default:
      return err({ code: CallerIdErrors.MALFORMED, message: `unknown special information code ${code}` });
  }
}

/** Decode a whole digit string at once (the first caller ID in it). */
export function parseDtmfCallerId(digits: string): Result<CallerIdInfo> {
  const collector = new DtmfCallerIdCollector();
  for (const d of digits) {
    const r = collector.push(d);
    if (r) return r;
  }
  return collector.end() ?? err({ code: CallerIdErrors.MALFORMED, message: 'no start code' });
}

/**
 * DTMF caller ID from line audio: the media DTMF detector finds the digits (Q.24 receiver), the
 * collector assembles them. `push` returns the outcome when a spill completes.
 */
export class DtmfCallerIdDecoder {
  private readonly collector = new DtmfCallerIdCollector();
  private readonly detector: DtmfDetector;
  private outcome: Result<CallerIdInfo> | undefined;
  private heard = '';

  constructor() {
    this.detector = new DtmfDetector((ev: DtmfDetectorEvent) => {
      if (ev.type !== 'begin') return;
      this.heard += ev.digit;
      const r = this.collector.push(ev.digit);
      if (r) this.outcome = r;
    });
  }

  push(frame: Int16Array): Result<CallerIdInfo> | undefined {
    this.outcome = undefined;
    this.detector.process(frame);
    return this.outcome;
  }

  /** The caller ID window closed. */
  end(): Result<CallerIdInfo> | undefined {
    return this.collector.end();
  }

  reset(): void {
    this.collector.reset();
    this.heard = '';
  }

  close(): void {
    this.detector.close();
    this.collector.reset();
  }

  dump(): { heard: string; collector: ReturnType<DtmfCallerIdCollector['dump']> } {
    return { heard: this.heard, collector: this.collector.dump() };
  }
}
