/**
 * The driver registry: each family (`sim`, `dahdi`, `serial`) registers a factory; the gateway
 * opens the configured one and gets its cards. Time is injected here once and passed to every
 * card, so a whole simulated exchange runs on a test's manual clock.
 */
import type { Clock, Timers } from '../../base/clock.ts';
import { err, type Result } from '../../base/result.ts';
import { DriverErrors, type Card, type DriverError, type DriverFamily } from './types.ts';

export interface DriverDeps {
  clock: Clock;
  timers: Timers;
}

/** The configuration of one driver: its family and the family's own options. */
export interface DriverConfig {
  family: DriverFamily;
  [option: string]: unknown;
}

export type DriverFactory = (config: DriverConfig, deps: DriverDeps) => Result<Card[], DriverError>;

export class DriverRegistry {
  private readonly factories = new Map<DriverFamily, DriverFactory>();

  register(family: DriverFamily, factory: DriverFactory): void {
    this.factories.set(family, factory);
  }

  families(): DriverFamily[] {
    return [...this.factories.keys()];
  }

  open(config: DriverConfig, deps: DriverDeps): Result<Card[], DriverError> {
    const factory = this.factories.get(config.family);
    if (!factory) {
      return err({
        code: DriverErrors.UNKNOWN_FAMILY,
        message: `no driver for family ${JSON.stringify(config.family)} (have: ${this.families().join(', ')})`,
        field: 'family',
      });
    }
    return factory(config, deps);
  }
}
