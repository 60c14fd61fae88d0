/**
 * Messages kept only to be sent again. A transaction that absorbs retransmissions (RFC 3261
 * §17.1.1.2 "Completed", §17.2.1 "Completed", §17.2.2 "Completed") must resend the same octets for
 * up to 64·T1, but never reads the message again. Keeping the parsed form would hold a header list,
 * views over the received text and the datagram's buffer for each of them; a frozen message holds
 * its serialized octets as one flat one-byte string (one heap object, no buffer of its own) and
 * parses them back only if someone asks for its header fields.
 */
import { SipHeaders, displayHeaderName } from './headers-store.ts';
import { parseMessage } from './parse.ts';
import { serializeMessage } from './serialize.ts';
import type { SipMessage, SipRequest, SipResponse } from './types.ts';

const empty = Buffer.alloc(0);

/** The octets of a message, one character per octet (latin1 round-trips every byte). */
function wireOf(msg: SipMessage): string {
  return serializeMessage(msg).toString('latin1');
}

function reparse(wireText: string): SipMessage | undefined {
  const parsed = parseMessage(Buffer.from(wireText, 'latin1'));
  return parsed.ok ? parsed.value : undefined;
}

/** A request held as its wire octets. Header fields and body are parsed again on each access. */
export class FrozenRequest implements SipRequest {
  constructor(
    readonly method: string,
    readonly uri: string,
    /** The serialized message, one latin1 character per octet; `serializeMessage` sends it as is. */
    readonly wireText: string,
  ) {}
  get kind(): 'request' {
    return 'request';
  }
  get version(): string {
    return 'SIP/2.0';
  }
  get headers(): SipHeaders {
    return reparse(this.wireText)?.headers ?? new SipHeaders();
  }
  get body(): Buffer {
    return reparse(this.wireText)?.body ?? empty;
  }
}

/** A response held as its wire octets. Header fields and body are parsed again on each access. */
export class FrozenResponse implements SipResponse {
  constructor(
    readonly status: number,
    readonly reason: string,
    /** The serialized message, one latin1 character per octet; `serializeMessage` sends it as is. */
    readonly wireText: string,
  ) {}
  get kind(): 'response' {
    return 'response';
  }
  get version(): string {
    return 'SIP/2.0';
  }
  get headers(): SipHeaders {
    return reparse(this.wireText)?.headers ?? new SipHeaders();
  }
  get body(): Buffer {
    return reparse(this.wireText)?.body ?? empty;
  }
}

/**
 * The frozen form of a message: later changes to `msg` do not reach it, and it references none of
 * `msg`'s strings or buffers. Freezing a frozen message returns it unchanged.
 */
export function freezeRequest(req: SipRequest): FrozenRequest {
  if (req instanceof FrozenRequest) return req;
  return new FrozenRequest(detachString(req.method), detachString(req.uri), wireOf(req));
}

export function freezeResponse(res: SipResponse): FrozenResponse {
  if (res instanceof FrozenResponse) return res;
  return new FrozenResponse(res.status, detachString(res.reason), wireOf(res));
}

/**
 * A copy of `s` that shares no memory with the string it was cut from. Header values are slices of
 * the received message text, and a slice keeps the whole text alive; a value kept for the life of
 * a transaction is copied first. Short slices are already copies in V8.
 */
export function detachString(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** The header fields that identify a request's transaction and dialog, in wire order. */
const identityHeaders = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

/**
 * The request reduced to what identifies it: the start line, the top Via, From, To, Call-ID and
 * CSeq (RFC 3261 §17.2.3 and §9.2 match on these; §8.2.2.2 merges on From tag, Call-ID and CSeq).
 * What a transaction keeps of its request once it only absorbs retransmissions: the body, the
 * credentials and the other header fields are the transaction user's to keep.
 */
export function freezeIdentity(req: SipRequest): FrozenRequest {
  if (req instanceof FrozenRequest) return req;
  let text = `${req.method} ${req.uri} SIP/2.0\r\n`;
  for (const name of identityHeaders) {
    const value = name === 'via' ? req.headers.getLines('via')[0] : req.headers.get(name);
    if (value !== undefined) text += `${displayHeaderName(name)}: ${value}\r\n`;
  }
  text += 'Content-Length: 0\r\n\r\n';
  // Encoding to octets and back yields one flat string that references nothing of `req`.
  return new FrozenRequest(
    detachString(req.method),
    detachString(req.uri),
    Buffer.from(text).toString('latin1'),
  );
}
