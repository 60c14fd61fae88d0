/**
 * The drivers the gateway can open, by family. Only the simulation is built in so far; `dahdi`
 * and `serial` register here when they exist.
 */
import type { Result } from '../base/result.ts';
import { DriverRegistry, type DriverConfig, type DriverDeps } from './api/registry.ts';
import type { Card, DriverError } from './api/types.ts';
import { openSimDriver } from './sim/driver.ts';

export const drivers = new DriverRegistry();
drivers.register('sim', openSimDriver);

export function openDriver(config: DriverConfig, deps: DriverDeps): Result<Card[], DriverError> {
  return drivers.open(config, deps);
}

export type * from './api/types.ts';
export type { DriverConfig, DriverDeps, DriverFactory } from './api/registry.ts';
