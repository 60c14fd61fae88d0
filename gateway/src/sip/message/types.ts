/**
 * SIP message model (RFC 3261 §7). Messages keep their header values as the strings received;
 * structured views (Via, name-addr, CSeq, URIs) are parsed lazily by the functions in
 * `headers.ts` and `uri.ts`, only when a layer needs them.
 */
import { SipHeaders } from './headers-store.ts';

export { SipHeaders };

export type SipTransportName = 'udp' | 'tcp' | 'tls';

/** Where a message came from or goes to. `connectionId` pins a stream transport's connection. */
export interface SipEndpoint {
  transport: SipTransportName;
  address: string;
  port: number;
  connectionId?: string;
}

export interface SipRequest {
  kind: 'request';
  method: string;
  /** Request-URI exactly as on the wire (RFC 3261 §7.1); parse with `parseUri` when needed. */
  uri: string;
  version: string;
  headers: SipHeaders;
  body: Buffer;
}

export interface SipResponse {
  kind: 'response';
  status: number;
  reason: string;
  version: string;
  headers: SipHeaders;
  body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;
