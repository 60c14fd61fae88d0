/**
 * What the server transport writes into the top Via of every request it receives, and where the
 * responses to that request go.
 */
import { parseVia, formatVia } from '../message/index.ts';
import { viaView } from '../message/headers.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../message/types.ts';

/**
 * RFC 3261 §18.2.1: "When the server transport receives a request over any transport, it MUST
 * examine the value of the "sent-by" parameter in the top Via header field value. If the host
 * portion of the "sent-by" field contains a domain name, or if it contains an IP address that
 * differs from the packet source address, the server MUST add a "received" parameter to that Via
 * header field value."
 *
 * RFC 3581 §4: "When a server compliant to this specification (which can be a proxy or UAS)
 * receives a request, it examines the topmost Via header field value. If this Via header field
 * value contains an "rport" parameter with no value, it MUST set the value of the parameter to the
 * source port of the request. ... the server MUST also add a "received" parameter containing the
 * source IP address that the request came from, even if it is identical to the value of the
 * "sent-by" component."
 *
 * Only the first element of the top Via changes; every other header line keeps its bytes and its
 * place. Returns false when the top Via is missing or unparseable (the request is left as it is).
 */
export function stampReceived(req: SipRequest, source: SipEndpoint): boolean {
  const topLine = req.headers.getLines('via')[0];
  if (topLine === undefined) return false;
  const cut = firstElementEnd(topLine);
  const first = topLine.slice(0, cut).trim();
  const seen = viaView(first);
  if (!seen) return false;

  const sourceIp = plainAddress(source.address);
  const rportRequested = seen.params.has('rport') && !seen.params.get('rport');
  const sentByDiffers = plainAddress(seen.host).toLowerCase() !== sourceIp.toLowerCase();
  if (!rportRequested && !sentByDiffers) return true;

  // A copy to change: the memoized view is shared.
  const parsed = parseVia(first);
  if (!parsed.ok) return false;
  const via = parsed.value;
  if (rportRequested) via.params.set('rport', String(source.port));
  via.params.set('received', sourceIp);
  const stamped = formatVia(via) + topLine.slice(cut);

  req.headers.replaceFirstLine('via', stamped);
  return true;
}

/**
 * Where a response is sent (RFC 3261 §18.2.2, RFC 3581 §4), from its top Via as stamped on receipt
 * and the endpoint the request arrived from.
 *
 * §18.2.2: "If the "sent-protocol" is a reliable transport protocol such as TCP or SCTP, or TLS
 * over those, the response MUST be sent using the existing connection to the source of the
 * original request that created the transaction, if that connection is still open." Otherwise the
 * sender "SHOULD open a connection to the IP address in the "received" parameter, if present,
 * using the port in the "sent-by" value".
 *
 * "Otherwise, if the Via header field value contains a "maddr" parameter, the response MUST be
 * forwarded to the address listed there ... Otherwise (for unreliable unicast transports), if the
 * top Via has a "received" parameter, the response MUST be sent to the address in the "received"
 * parameter, using the port indicated in the "sent-by" value, or using port 5060 if none is
 * specified explicitly."
 *
 * RFC 3581 §4: "the response MUST be sent to the IP address listed in the "received" parameter,
 * and the port in the "rport" parameter."
 */
export function responseDestination(res: SipResponse, requestSource?: SipEndpoint): SipEndpoint | undefined {
  const top = res.headers.getList('via')[0];
  if (top === undefined) return requestSource;
  const parsed = parseVia(top);
  if (!parsed.ok) return requestSource;
  const via = parsed.value;
  const transport = via.transport.toLowerCase();
  const received = via.params.get('received') ?? undefined;
  const rport = Number(via.params.get('rport') ?? NaN);
  const defaultPort = transport === 'tls' ? 5061 : 5060;

  if (transport === 'tcp' || transport === 'tls') {
    const port = via.port ?? defaultPort;
    const address = received ?? plainAddress(via.host);
    // The connection the request came on while it is open; once closed, `send` falls back to a
    // connection to received:sent-by-port as §18.2.2 prescribes.
    const connectionId = requestSource?.transport === transport ? requestSource.connectionId : undefined;
    return connectionId ? { transport, address, port, connectionId } : { transport, address, port };
  }
  if (transport !== 'udp') return requestSource;

  const maddr = via.params.get('maddr');
  if (maddr) return { transport: 'udp', address: plainAddress(maddr), port: via.port ?? defaultPort };
  if (received) {
    const port = Number.isInteger(rport) && rport > 0 ? rport : (via.port ?? defaultPort);
    return { transport: 'udp', address: received, port };
  }
  return { transport: 'udp', address: plainAddress(via.host), port: via.port ?? defaultPort };
}

/** IPv6 references lose their brackets, IPv4-mapped IPv6 source addresses become IPv4. */
export function plainAddress(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.startsWith('::ffff:') && bare.includes('.') ? bare.slice(7) : bare;
}

/** Index of the first comma outside quotes in a header line (or its length): the end of element one. */
function firstElementEnd(line: string): number {
  let inQuote = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x2c /* , */) return i;
  }
  return line.length;
}
