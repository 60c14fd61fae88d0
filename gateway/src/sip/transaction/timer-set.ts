/**
 * The armed timers of one transaction, by RFC name. A timer of zero duration fires at once: RFC
 * 3261 sets D, I, J and K to zero on reliable transports, which means "terminate now".
 */
import type { TimerHandle, Timers } from '../../core/clock.ts';

export class TimerSet {
  private readonly handles = new Map<string, TimerHandle>();

  constructor(private readonly timers: Timers) {}

  start(name: string, delayMs: number, fire: () => void): void {
    this.stop(name);
    if (delayMs <= 0) {
      fire();
      return;
    }
    const handle = this.timers.start(name, delayMs, () => {
      this.handles.delete(name);
      fire();
    });
    this.handles.set(name, handle);
  }

  stop(name: string): void {
    const h = this.handles.get(name);
    if (h) {
      h.cancel();
      this.handles.delete(name);
    }
  }

  stopAll(): void {
    for (const h of this.handles.values()) h.cancel();
    this.handles.clear();
  }

  armed(): string[] {
    return [...this.handles.keys()];
  }
}
