/**
 * Via routing (RFC 3261 §18.2): what a server writes into the top Via of every request it receives
 * (`received`, `rport`), and where the responses to that request go. Pure functions shared by the
 * transport (which stamps on arrival) and the transaction layer (which sends responses).
 */
import { err, ok, type Result } from '../../../../base/result.ts';
import { formatVia, parseVia, viaView, type Via, type ViewOf } from './headers.ts';
import type { SipEndpoint, SipRequest, SipTransportName } from './types.ts';

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

function defaultPort(transport: SipTransportName): number {
  return transport === 'tls' ? 5061 : 5060;
}

function viaTransport(via: ViewOf<Via>, fallback: SipTransportName): SipTransportName {
  switch (via.transport.toUpperCase()) {
    case 'UDP':
      return 'udp';
    case 'TCP':
      return 'tcp';
    case 'TLS':
      return 'tls';
    default:
      return fallback;
  }
}

/**
 * RFC 3261 §18.2.2, in order:
 * - "If the "sent-protocol" is a reliable transport protocol such as TCP or SCTP, or TLS over those,
 *   the response MUST be sent using the existing connection to the source of the original request".
 *   The endpoint carries `connectionId`; its address and port are where to open a new connection
 *   should that one be gone ("the IP address in the received parameter ... using the port in the
 *   sent-by value, or the default port").
 * - "Otherwise, if the Via header field value contains a "maddr" parameter, the response MUST be
 *   forwarded to the address listed there, using the port indicated in "sent-by", or port 5060".
 * - "Otherwise (for unreliable unicast transports), if the top Via has a "received" parameter, the
 *   response MUST be sent to the address in the "received" parameter, using the port indicated in
 *   the "sent-by" value" — RFC 3581 §4: "the response MUST be sent ... to the port number in the rport".
 * - "Otherwise, ... the response MUST be sent to the address indicated by the "sent-by" value".
 */
export function responseDestination(req: SipRequest, source: SipEndpoint): Result<SipEndpoint> {
  const top = req.headers.getList('via')[0];
  if (top === undefined)
    return err({ code: 'EDGE_ERR_SIP_MISSING_VIA', message: 'no Via header', field: 'Via' });
  const via = viaView(top);
  if (!via) return err({ code: 'EDGE_ERR_SIP_PARSE', message: 'malformed top Via', field: 'Via' });
  // A request that arrived over UDP is answered over UDP whatever its Via claims: RFC 3581 §4
  // symmetric response routing, and a spoofed "SIP/2.0/TCP" must not make us open connections.
  const transport = source.transport === 'udp' ? 'udp' : viaTransport(via, source.transport);
  const received = via.params.get('received') || undefined;
  const rportValue = via.params.get('rport');
  const rport = rportValue ? Number(rportValue) : undefined;
  const sentByPort = via.port ?? defaultPort(transport);

  if (source.transport !== 'udp' && source.connectionId !== undefined) {
    return ok({
      transport: source.transport,
      address: received ?? source.address,
      port: sentByPort,
      connectionId: source.connectionId,
    });
  }
  // `maddr` (RFC 3261 §18.2.2, multicast) is ignored: honouring it would let any sender aim our
  // responses at a third party (reflection). Responses go where the request came from.
  if (received !== undefined) {
    const port =
      rport !== undefined && Number.isInteger(rport) && rport > 0 && rport < 65536 ? rport : sentByPort;
    return ok({ transport, address: received, port });
  }
  return ok({ transport, address: plainAddress(via.host), port: sentByPort });
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
