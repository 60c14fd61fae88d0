/**
 * Digit collection on a leg, sans-I/O: digits are pushed in as the leg reports them, timers come
 * from the injected `Timers`, and each `collect` resolves exactly once.
 *
 * Type-ahead: digits that arrive while nothing collects (a caller who knows the menu and presses
 * during the prompt — the digit that barged in included) wait in a bounded buffer and are the
 * first digits of the next `collect`, as callers of every IVR expect. `flush` drops them.
 *
 * Timing follows the usual IVR model (Asterisk `Read()`, VoiceXML's `timeout`/`interdigittimeout`):
 * the first-digit timer runs from the start of collection until a digit arrives; after each digit
 * the inter-digit timer restarts. A timeout returns the digits gathered so far.
 */
import type { TimerHandle, Timers } from '../../../base/clock.ts';
import type { DtmfDigit } from '../../../base/signal/dtmf-digits.ts';
import type { CollectOptions, DigitPress, DigitResult } from './leg.ts';

/** Type-ahead kept at most; older digits are dropped first. */
export const MAX_BUFFERED_DIGITS = 32;
/** The longest collection an app may ask for (a card number with a PIN fits). */
export const MAX_COLLECT_DIGITS = 64;

interface Active {
  opts: CollectOptions;
  digits: string;
  timer: TimerHandle | undefined;
  resolve: (r: DigitResult) => void;
  onAbort: (() => void) | undefined;
}

export interface DigitCollectorDump {
  buffered: string;
  collecting: boolean;
  collected: string | null;
}

export class DigitCollector {
  private buffer: DtmfDigit[] = [];
  private active: Active | undefined;
  private closed = false;

  constructor(private readonly timers: Timers) {}

  /** A digit reported by the leg. Hook flash (`!`) is not a collectable digit and is ignored here. */
  push(press: DigitPress): void {
    if (this.closed || press.digit === '!') return;
    if (this.active) {
      this.accept(this.active, press.digit);
      return;
    }
    this.buffer.push(press.digit);
    if (this.buffer.length > MAX_BUFFERED_DIGITS) this.buffer.shift();
  }

  flush(): void {
    this.buffer = [];
  }

  /**
   * Collect digits. A collection already running is stopped first (one at a time per leg).
   * Throws RangeError for options no caller can satisfy (a programming error, not caller input).
   */
  collect(opts: CollectOptions): Promise<DigitResult> {
    if (!Number.isInteger(opts.max) || opts.max < 1 || opts.max > MAX_COLLECT_DIGITS) {
      throw new RangeError(
        `collect: max must be an integer from 1 to ${MAX_COLLECT_DIGITS}, not ${opts.max}`,
      );
    }
    for (const ms of [opts.firstDigitTimeoutMs, opts.interDigitTimeoutMs]) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`collect: timeouts must be ≥ 0 ms, not ${ms}`);
    }
    if (this.closed) return Promise.resolve({ digits: '', outcome: 'ended' });
    if (this.active) this.finish(this.active, 'stopped');
    if (opts.signal?.aborted) return Promise.resolve({ digits: '', outcome: 'stopped' });

    return new Promise<DigitResult>((resolve) => {
      const a: Active = { opts, digits: '', timer: undefined, resolve, onAbort: undefined };
      this.active = a;
      if (opts.signal) {
        a.onAbort = () => this.finish(a, 'stopped');
        opts.signal.addEventListener('abort', a.onAbort, { once: true });
      }
      this.arm(a, 'first-digit', opts.firstDigitTimeoutMs);
      // Type-ahead first, in the order it was pressed; it may complete the collection at once.
      while (this.active === a && this.buffer.length > 0) this.accept(a, this.buffer.shift()!);
    });
  }

  /** The leg ended: a running collection resolves `ended`; nothing is collected afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.active) this.finish(this.active, 'ended');
    this.buffer = [];
  }

  dump(): DigitCollectorDump {
    return {
      buffered: this.buffer.join(''),
      collecting: this.active !== undefined,
      collected: this.active?.digits ?? null,
    };
  }

  private accept(a: Active, digit: DtmfDigit): void {
    if (a.opts.terminators?.includes(digit)) {
      this.finish(a, 'terminator', digit);
      return;
    }
    a.digits += digit;
    if (a.digits.length >= a.opts.max) {
      this.finish(a, 'max');
      return;
    }
    this.arm(a, 'inter-digit', a.opts.interDigitTimeoutMs);
  }

  private arm(a: Active, name: string, ms: number): void {
    a.timer?.cancel();
    a.timer = this.timers.start(name, ms, () => {
      if (this.active === a) this.finish(a, 'timeout');
    });
  }

  private finish(a: Active, outcome: DigitResult['outcome'], terminator?: DtmfDigit): void {
    if (this.active !== a) return;
    this.active = undefined;
    a.timer?.cancel();
    if (a.onAbort) a.opts.signal?.removeEventListener('abort', a.onAbort);
    a.resolve(terminator ? { digits: a.digits, outcome, terminator } : { digits: a.digits, outcome });
  }
}
