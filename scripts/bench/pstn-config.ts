// The configuration bench:pstn runs the gateway with: one simulated card of the chosen size, every
// FXO line and E1 span in one port group, calls arriving on that group routed to the far end (a
// SIP trunk whose one member is the bench's answering, echoing peer).
import { demoExtensions } from './edgeline-target.ts';

export interface CardSize {
  fxo: number;
  e1Spans: number;
}

/** Bearer channels of a card: FXO ports plus 30 per E1 span. */
export function channelCount(size: CardSize): number {
  return size.fxo + 30 * size.e1Spans;
}

export function pstnBenchConfig(size: CardSize, farEndPort: number): Record<string, unknown> {
  const lines = Array.from({ length: size.fxo }, (_, i) => ({
    id: `fxo${i + 1}`,
    card: 'sim0',
    port: i + 1,
    number: String(5550001 + i),
  }));
  const spans = Array.from({ length: size.e1Spans }, (_, i) => ({
    id: `e1-${i + 1}`,
    card: 'sim0',
    span: i + 1,
  }));
  return {
    system: { name: 'edgeline-bench', domain: 'edgeline.local', country: 'CN' },
    sip: { digestAlgorithms: ['MD5'] },
    extensions: demoExtensions(),
    trunks: [
      {
        id: 'far',
        name: 'far end',
        members: [{ host: '127.0.0.1', port: farEndPort, transport: 'udp', weight: 1 }],
        probe: { enabled: false, intervalMs: 5000, timeoutMs: 2000, downAfter: 3, upAfter: 2 },
        failover: { inviteTimeoutMs: 8000, onStatus: [408, 500, 502, 503, 504] },
        identity: { trusted: true, acceptPai: true, sendPai: true },
        inbound: { acceptFromMembersOnly: true },
      },
    ],
    routes: {
      outbound: [],
      inbound: [{ id: 'pstn-in', group: 'all', destination: { type: 'trunk', target: 'far' } }],
    },
    pstn: {
      cards: [{ id: 'sim0', driver: 'sim', fxo: size.fxo, e1Spans: size.e1Spans }],
      lines,
      spans,
      groups: [{ id: 'all', members: [...lines.map((l) => l.id), ...spans.map((s) => s.id)] }],
    },
  };
}
