/** Shared builders for the transaction tests: a layer on a manual clock and hand-made messages. */
import { ManualClock } from '../../../../base/clock.ts';
import { MetricsRegistry } from '../../../src/core/metrics.ts';
import { SipHeaders } from '../../../src/sip/message/headers-store.ts';
import type { SipEndpoint, SipMessage, SipRequest, SipResponse } from '../../../src/sip/message/types.ts';
import {
  TransactionLayer,
  type ClientTransactionUser,
  type InviteServerTransaction,
  type ServerTransaction,
  type TransactionLayerDeps,
} from '../../../src/sip/transaction/index.ts';

export const udpPeer: SipEndpoint = { transport: 'udp', address: '192.0.2.10', port: 5060 };
export const tcpPeer: SipEndpoint = {
  transport: 'tcp',
  address: '192.0.2.10',
  port: 40123,
  connectionId: 'conn-1',
};

export interface RequestSpec {
  method?: string;
  uri?: string;
  branch?: string;
  /** Whole top Via value; overrides transport/host/branch. */
  via?: string;
  transport?: 'UDP' | 'TCP' | 'TLS';
  host?: string;
  callId?: string;
  fromTag?: string;
  toTag?: string;
  seq?: number;
  cseqMethod?: string;
  routes?: string[];
}

export function request(spec: RequestSpec = {}): SipRequest {
  const method = spec.method ?? 'INVITE';
  const h = new SipHeaders();
  h.append(
    'via',
    spec.via ??
      `SIP/2.0/${spec.transport ?? 'UDP'} ${spec.host ?? '192.0.2.10:5060'};branch=${spec.branch ?? 'z9hG4bK-abc'}`,
  );
  for (const r of spec.routes ?? []) h.append('route', r);
  h.append('max-forwards', '70');
  h.append('from', `"Alice" <sip:alice@atlanta.example>;tag=${spec.fromTag ?? 'from1'}`);
  h.append('to', `<sip:bob@biloxi.example>${spec.toTag ? `;tag=${spec.toTag}` : ''}`);
  h.append('call-id', spec.callId ?? 'call-1@atlanta.example');
  h.append('cseq', `${spec.seq ?? 1} ${spec.cseqMethod ?? method}`);
  h.append('contact', '<sip:alice@192.0.2.10>');
  h.append('content-length', '0');
  return {
    kind: 'request',
    method,
    uri: spec.uri ?? 'sip:bob@biloxi.example',
    version: 'SIP/2.0',
    headers: h,
    body: Buffer.alloc(0),
  };
}

/** A response to `req` as the far end would send it (Via, From, Call-ID, CSeq copied; To tagged). */
export function responseTo(req: SipRequest, status: number, toTag = 'to1'): SipResponse {
  const h = new SipHeaders();
  for (const v of req.headers.getLines('via')) h.append('via', v);
  h.append('from', req.headers.get('from') ?? '');
  const to = req.headers.get('to') ?? '';
  h.append('to', status === 100 || to.includes(';tag=') ? to : `${to};tag=${toTag}`);
  h.append('call-id', req.headers.get('call-id') ?? '');
  h.append('cseq', req.headers.get('cseq') ?? '');
  h.append('content-length', '0');
  return {
    kind: 'response',
    status,
    reason: 'Reason',
    version: 'SIP/2.0',
    headers: h,
    body: Buffer.alloc(0),
  };
}

export interface Sent {
  msg: SipMessage;
  dest: SipEndpoint;
  atMs: number;
}

export interface CancelEvent {
  cancel: SipRequest;
  inviteTx: InviteServerTransaction | undefined;
  cancelTx: ServerTransaction;
}

export function harness(overrides: Partial<TransactionLayerDeps> = {}) {
  const clock = new ManualClock();
  const metrics = new MetricsRegistry();
  const sent: Sent[] = [];
  const requests: Array<{ req: SipRequest; tx: ServerTransaction }> = [];
  const cancels: CancelEvent[] = [];
  const acks: SipRequest[] = [];
  const strays: SipResponse[] = [];
  const layer = new TransactionLayer({
    clock,
    timers: clock,
    metrics,
    send: (msg, dest) => sent.push({ msg, dest, atMs: clock.now() }),
    onRequest: (req, tx) => requests.push({ req, tx }),
    onCancel: (cancel, inviteTx, cancelTx) => cancels.push({ cancel, inviteTx, cancelTx }),
    onAck: (ack) => acks.push(ack),
    onStrayResponse: (res) => strays.push(res),
    ...overrides,
  });
  return { clock, metrics, layer, sent, requests, cancels, acks, strays };
}

/** A client TU that records what it is told. */
export function recordingUser() {
  const responses: SipResponse[] = [];
  const events: string[] = [];
  const user: ClientTransactionUser = {
    onResponse: (res) => {
      responses.push(res);
      events.push(String(res.status));
    },
    onTimeout: () => events.push('timeout'),
    onTransportError: (e) => events.push(`transport-error:${e.message}`),
  };
  return { user, responses, events };
}

export function sentRequests(sent: Sent[], method: string): Sent[] {
  return sent.filter((s) => s.msg.kind === 'request' && s.msg.method === method);
}

export function sentResponses(sent: Sent[], status?: number): Sent[] {
  return sent.filter((s) => s.msg.kind === 'response' && (status === undefined || s.msg.status === status));
}
