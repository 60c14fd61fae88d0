/**
 * Time is injected (DESIGN §2). Everything that waits uses the monotonic `now()`; records stamp
 * the wall clock `wallNow()`. Protocol cores never read the system clock themselves.
 */
export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin; never goes backwards. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch, for records shown to people. */
  wallNow(): number;
}

export interface TimerHandle {
  cancel(): void;
}

/**
 * One port for every timer. `name` carries the RFC name of the timer (`A`, `B`, `E`, `F`, ...)
 * so dumps and tests can tell them apart.
 */
export interface Timers {
  start(name: string, delayMs: number, fire: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

/** A handle without a closure: transactions arm and cancel several timers each, at call rate. */
class SystemTimerHandle implements TimerHandle {
  constructor(private readonly t: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.t);
  }
}

export const systemTimers: Timers = {
  start(_name, delayMs, fire) {
    const t = setTimeout(fire, Math.max(0, delayMs));
    // Timers must never keep a draining process alive on their own.
    t.unref();
    return new SystemTimerHandle(t);
  },
};

interface PendingTimer {
  name: string;
  dueMs: number;
  seq: number;
  fire: () => void;
  cancelled: boolean;
}

/**
 * A clock and timer port driven by hand, for tests of protocol cores: `advance(ms)` moves time and
 * fires every timer that falls due, in due order, including timers started by fired timers.
 */
export class ManualClock implements Clock, Timers {
  private monoMs = 0;
  private seq = 0;
  private pending: PendingTimer[] = [];

  constructor(private wallOriginMs = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.monoMs;
  }

  wallNow(): number {
    return this.wallOriginMs + this.monoMs;
  }

  start(name: string, delayMs: number, fire: () => void): TimerHandle {
    const timer: PendingTimer = {
      name,
      dueMs: this.monoMs + Math.max(0, delayMs),
      seq: this.seq++,
      fire,
      cancelled: false,
    };
    this.pending.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Names of the timers still armed, in due order (for assertions such as "Timer A is running"). */
  armed(): string[] {
    return this.live()
      .sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq)
      .map((t) => t.name);
  }

  advance(ms: number): void {
    const target = this.monoMs + ms;
    for (;;) {
      const next = this.live()
        .filter((t) => t.dueMs <= target)
        .sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq)[0];
      if (!next) break;
      this.monoMs = next.dueMs;
      next.cancelled = true;
      next.fire();
    }
    this.monoMs = target;
    this.pending = this.live();
  }

  private live(): PendingTimer[] {
    return this.pending.filter((t) => !t.cancelled);
  }
}
