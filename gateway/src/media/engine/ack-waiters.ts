/**
 * Waiting for the relay workers' acknowledgements (`opened`, `closed`) without polling: a waiter
 * is a condition over the engine's state, checked when it is registered and again each time the
 * engine is told something on the waiter's topic (a leg's `opened`, a call released, the last
 * closing port back in the pool). It resolves with the condition's verdict, or with false when its
 * time is up.
 *
 * The condition answers true (done), false (failed: e.g. a bind error or the call is gone) or
 * undefined (not yet).
 *
 * Time is injected: the timeouts run on the `Timers` given (the system's unless a test drives a
 * manual clock).
 */
import { systemTimers, type TimerHandle, type Timers } from '../../../../base/clock.ts';

export type AckCondition = () => boolean | undefined;

export interface AckWaitersDump {
  topics: number;
  waiting: number;
  resolved: number;
  timedOut: number;
}

interface Waiter {
  check: AckCondition;
  done: (v: boolean) => void;
  timer: TimerHandle | undefined;
}

export class AckWaiters {
  private readonly byTopic = new Map<string, Set<Waiter>>();
  private resolved = 0;
  private timedOut = 0;

  constructor(private readonly timers: Timers = systemTimers) {}

  /** Resolves with `check`'s verdict once it has one, or false after `timeoutMs`. */
  until(topic: string, check: AckCondition, timeoutMs: number): Promise<boolean> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<boolean>((resolve) => {
      const w: Waiter = { check, done: resolve, timer: undefined };
      let set = this.byTopic.get(topic);
      if (!set) {
        set = new Set();
        this.byTopic.set(topic, set);
      }
      set.add(w);
      w.timer = this.timers.start('ack', timeoutMs, () => {
        this.remove(topic, w);
        this.timedOut++;
        // A last look: the acknowledgement may have landed without a notification.
        resolve(check() ?? false);
      });
    });
  }

  /** Something on `topic` changed: every waiter on it checks its condition again. */
  notify(topic: string): void {
    const set = this.byTopic.get(topic);
    if (!set) return;
    for (const w of [...set]) {
      const v = w.check();
      if (v === undefined) continue;
      this.remove(topic, w);
      this.resolved++;
      w.done(v);
    }
  }

  /** Settle every waiter with its condition's current verdict (false when it has none). */
  close(): void {
    for (const [topic, set] of [...this.byTopic]) {
      for (const w of [...set]) {
        this.remove(topic, w);
        w.done(w.check() ?? false);
      }
    }
  }

  dump(): AckWaitersDump {
    let waiting = 0;
    for (const s of this.byTopic.values()) waiting += s.size;
    return { topics: this.byTopic.size, waiting, resolved: this.resolved, timedOut: this.timedOut };
  }

  private remove(topic: string, w: Waiter): void {
    w.timer?.cancel();
    w.timer = undefined;
    const set = this.byTopic.get(topic);
    if (!set) return;
    set.delete(w);
    if (set.size === 0) this.byTopic.delete(topic);
  }
}
