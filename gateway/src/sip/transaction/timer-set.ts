/**
 * The armed timers of one transaction, by RFC name. A timer of zero duration fires at once: RFC
 * 3261 sets D, I, J and K to zero on reliable transports, which means "terminate now".
 *
 * No state of any transaction runs more than two timers at once (A+B, E+F, G+H, or one of D, I,
 * J, K, L, M, Trying), so two fixed slots replace a map: at call rate, every live transaction
 * carries one of these for up to 64·T1.
 */
import type { TimerHandle, Timers } from '../../../../base/clock.ts';

export class TimerSet {
  private name0: string | undefined;
  private handle0: TimerHandle | undefined;
  private name1: string | undefined;
  private handle1: TimerHandle | undefined;

  constructor(private readonly timers: Timers) {}

  start(name: string, delayMs: number, fire: () => void): void {
    this.stop(name);
    if (delayMs <= 0) {
      fire();
      return;
    }
    if (this.name0 !== undefined && this.name1 !== undefined)
      throw new Error(`timer ${name}: a transaction runs at most two timers`);
    const handle = this.timers.start(name, delayMs, () => {
      this.clear(name);
      fire();
    });
    // Slots stay in start order (slot 1 is the newer), so dumps list timers as they were armed.
    if (this.name0 === undefined && this.name1 !== undefined) {
      this.name0 = this.name1;
      this.handle0 = this.handle1;
    }
    if (this.name0 === undefined) {
      this.name0 = name;
      this.handle0 = handle;
    } else {
      this.name1 = name;
      this.handle1 = handle;
    }
  }

  stop(name: string): void {
    if (this.name0 === name) this.handle0?.cancel();
    if (this.name1 === name) this.handle1?.cancel();
    this.clear(name);
  }

  stopAll(): void {
    this.handle0?.cancel();
    this.handle1?.cancel();
    this.name0 = this.handle0 = this.name1 = this.handle1 = undefined;
  }

  armed(): string[] {
    const out: string[] = [];
    if (this.name0 !== undefined) out.push(this.name0);
    if (this.name1 !== undefined) out.push(this.name1);
    return out;
  }

  private clear(name: string): void {
    if (this.name0 === name) this.name0 = this.handle0 = undefined;
    if (this.name1 === name) this.name1 = this.handle1 = undefined;
  }
}
