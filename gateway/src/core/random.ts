/**
 * Cryptographically random identifiers drawn from a pool: one `randomFillSync` call serves many
 * branches, tags and Call-IDs instead of one call per identifier. Every byte handed out is fresh
 * CSPRNG output and is never handed out twice, so uniqueness and unpredictability are those of
 * `randomBytes`.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolPos = POOL_BYTES;

function take(bytes: number): number {
  if (bytes > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} random bytes at a time`);
  if (poolPos + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const at = poolPos;
  poolPos += bytes;
  return at;
}

/** `bytes` random bytes as lower-case hex (2·bytes characters). */
export function randomHex(bytes: number): string {
  const at = take(bytes);
  return pool.toString('hex', at, at + bytes);
}

/** Copy `bytes` random bytes into `target` at `offset`. */
export function randomInto(target: Buffer, offset: number, bytes: number): void {
  const at = take(bytes);
  pool.copy(target, offset, at, at + bytes);
}
