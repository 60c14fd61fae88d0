/**
 * The gateway's error classes. Their codes (`EDGE_ERR_<AREA>_<WHAT>`) come from the registry in
 * `base/error-codes.ts`; `ErrorCodes` names the ones the gateway raises through these classes and
 * store results. Call failures carry the SIP status they map to.
 */
import type { ErrorCode } from '../../../base/error-codes.ts';

export type { ErrorCode } from '../../../base/error-codes.ts';

export const ErrorCodes = {
  CONFIG_INVALID: 'EDGE_ERR_CONFIG_INVALID',
  CONFIG_IO: 'EDGE_ERR_CONFIG_IO',
  CONFIG_REVISION_UNKNOWN: 'EDGE_ERR_CONFIG_REVISION_UNKNOWN',
  STORE_MIGRATION: 'EDGE_ERR_STORE_MIGRATION',
  SIP_PARSE: 'EDGE_ERR_SIP_PARSE',
  SIP_TRANSPORT: 'EDGE_ERR_SIP_TRANSPORT',
  SIP_TRANSACTION_TIMEOUT: 'EDGE_ERR_SIP_TRANSACTION_TIMEOUT',
  SIP_TRANSACTION_REQUEST_INVALID: 'EDGE_ERR_SIP_TRANSACTION_REQUEST_INVALID',
  CALL_FAILED: 'EDGE_ERR_CALL_FAILED',
  PORT_IN_USE: 'EDGE_ERR_MAIN_PORT_IN_USE',
  CLI_USAGE: 'EDGE_ERR_MAIN_USAGE',
  API_BAD_REQUEST: 'EDGE_ERR_API_BAD_REQUEST',
  API_NOT_FOUND: 'EDGE_ERR_API_NOT_FOUND',
  API_CONFLICT: 'EDGE_ERR_API_CONFLICT',
  API_INTERNAL: 'EDGE_ERR_API_INTERNAL',
  SIP_DIALOG_STATE: 'EDGE_ERR_SIP_DIALOG_STATE',
} as const satisfies Record<string, ErrorCode>;

export class EdgeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'EdgeError';
  }
}

/** A call that cannot be completed, with the SIP status the caller is answered with. */
export class CallError extends EdgeError {
  constructor(
    readonly sipStatus: number,
    message: string,
    detail?: Record<string, unknown>,
  ) {
    super(ErrorCodes.CALL_FAILED, message, detail);
    this.name = 'CallError';
  }
}
