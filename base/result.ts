/**
 * Every input from outside is parsed into a typed result at the boundary: either a value or an
 * error that says what was wrong and where. Nothing downstream ever sees half-parsed input.
 */
import type { ErrorCode } from './error-codes.ts';

export type Result<T, E = ParseError> = { ok: true; value: T } | { ok: false; error: E };

/**
 * A parse failure: a stable code from the registry (`base/error-codes.ts`), a human message and,
 * where it applies, the field or JSON path.
 */
export interface ParseError {
  code: ErrorCode;
  message: string;
  /** The header, field or JSON path of the bad value (e.g. `Via`, `/trunks/0/members/1/port`). */
  field?: string;
}

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function err<E = ParseError>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}
