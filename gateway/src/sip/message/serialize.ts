/**
 * Writing a message to bytes (RFC 3261 §7). Header fields go out in their stored order with their
 * long names; Content-Length is always written and always equals the body length (RFC 3261
 * §20.14: "The Content-Length header field value MUST be correct"), in place of any stored one.
 */
import { displayHeaderName } from './headers-store.ts';
import type { SipMessage } from './types.ts';

/** A message already held as its octets (see `frozen.ts`): one latin1 character per octet. */
interface WireBacked {
  readonly wireText: string;
}

export function serializeMessage(msg: SipMessage): Buffer {
  const wireText = (msg as Partial<WireBacked>).wireText;
  if (typeof wireText === 'string') return Buffer.from(wireText, 'latin1');
  let head =
    msg.kind === 'request'
      ? `${msg.method} ${msg.uri} SIP/2.0\r\n`
      : `SIP/2.0 ${msg.status} ${msg.reason}\r\n`;
  let wroteLength = false;
  const length = `Content-Length: ${msg.body.length}\r\n`;
  for (const [name, value] of msg.headers.entries()) {
    if (name === 'content-length') {
      if (!wroteLength) head += length;
      wroteLength = true;
      continue;
    }
    head += `${displayHeaderName(name)}: ${value}\r\n`;
  }
  if (!wroteLength) head += length;
  head += '\r\n';
  if (msg.body.length === 0) return Buffer.from(head, 'utf8');
  // One allocation for the whole datagram: the header text is encoded straight into it.
  const headLength = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLength + msg.body.length);
  out.write(head, 0, headLength, 'utf8');
  msg.body.copy(out, headLength);
  return out;
}
