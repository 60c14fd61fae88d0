// The SIP side of bench:pstn: a trunk peer that answers every INVITE at once and echoes its RTP.
// One UDP socket for SIP; one RTP socket per call, so each stream is known by the caller it
// belongs to. Every packet goes straight back to where it came from (SSRC rewritten, as a far
// end with its own source would), and what the gateway sent is measured on the way: packets and
// the dominant frequency over a window (zero crossings), which tells whether each call carries
// its own caller's tone (PSTN → SIP direction, no crossed streams).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { decodeG711, type G711Law } from '../../base/signal/g711.ts';
import { emptyRtpView, parseRtp, rewriteSsrc } from '../../gateway/src/media/rtp/rtp-packet.ts';
import {
  createResponse,
  generateTag,
  parseMessage,
  parseNameAddr,
  parseUri,
  serializeMessage,
} from '../../gateway/src/sip/message/index.ts';
import type { SipRequest } from '../../gateway/src/sip/message/index.ts';

const HOST = '127.0.0.1';

export interface FarEndCallStats {
  callId: string;
  /** The caller's number as the trunk received it (From user part). */
  caller: string;
  /** Also in P-Asserted-Identity, when present. */
  asserted: string | null;
  law: G711Law | null;
  packetsIn: number;
  packetsEchoed: number;
  /** Dominant frequency over the window, Hz (null before a window closed or with no samples). */
  windowHz: number | null;
  windowPackets: number;
  ended: boolean;
}

interface FarEndCall {
  stats: FarEndCallStats;
  socket: Socket;
  port: number;
  answer: Buffer;
  toTag: string;
  // Window analysis.
  inWindow: boolean;
  crossings: number;
  samples: number;
  last: number;
}

export interface FarEnd {
  readonly sipPort: number;
  /** Calls answered and not yet ended. */
  active(): number;
  calls(): FarEndCallStats[];
  /** Start (or restart) counting zero crossings on every stream. */
  openWindow(): void;
  closeWindow(): void;
  close(): Promise<void>;
}

function bind(socket: Socket, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, HOST, () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket.address().port);
    });
  });
}

function userOf(headerValue: string | undefined): string | null {
  if (headerValue === undefined) return null;
  const na = parseNameAddr(headerValue);
  if (!na.ok) return null;
  const uri = parseUri(na.value.uri);
  if (!uri.ok) return null;
  const u = uri.value as { user?: string; number?: string };
  return u.user ?? u.number ?? null;
}

/** The offer's first G.711 payload type (PCMU 0 or PCMA 8), as the answer's only codec. */
function pickLaw(offer: string): G711Law | null {
  const m = /^m=audio \d+ [A-Z/]+ ([0-9 ]+)/m.exec(offer);
  for (const pt of (m?.[1] ?? '').trim().split(/\s+/)) {
    if (pt === '0') return 'pcmu';
    if (pt === '8') return 'pcma';
  }
  return null;
}

function answerSdp(port: number, law: G711Law): Buffer {
  const pt = law === 'pcmu' ? 0 : 8;
  const name = law === 'pcmu' ? 'PCMU' : 'PCMA';
  return Buffer.from(
    [
      'v=0',
      `o=bench 1 1 IN IP4 ${HOST}`,
      's=bench-pstn',
      `c=IN IP4 ${HOST}`,
      't=0 0',
      `m=audio ${port} RTP/AVP ${pt}`,
      `a=rtpmap:${pt} ${name}/8000`,
      'a=ptime:20',
      'a=sendrecv',
      '',
    ].join('\r\n'),
  );
}

export async function startFarEnd(): Promise<FarEnd> {
  const sip = createSocket('udp4');
  const sipPort = await bind(sip);
  const calls = new Map<string, FarEndCall>();
  const view = emptyRtpView();
  const pcm = new Int16Array(1024);
  let windowOpen = false;

  const reply = (req: SipRequest, to: RemoteInfo, status: number, extra?: FarEndCall): void => {
    const res = createResponse(req, status, undefined, {
      ...(extra ? { toTag: extra.toTag, body: extra.answer, contentType: 'application/sdp' } : {}),
      headers: extra ? [['contact', `<sip:bench@${HOST}:${sipPort}>`]] : [],
    });
    sip.send(serializeMessage(res), to.port, to.address);
  };

  const onRtp = (call: FarEndCall, buf: Buffer, from: RemoteInfo): void => {
    call.stats.packetsIn++;
    const parsed = parseRtp(buf, view);
    if (parsed.ok && call.stats.law && (view.payloadType === 0 || view.payloadType === 8)) {
      if (call.inWindow) {
        const n = Math.min(view.payloadLength, pcm.length);
        decodeG711(call.stats.law, buf.subarray(view.payloadOffset, view.payloadOffset + n), pcm);
        let last = call.last;
        for (let i = 0; i < n; i++) {
          const s = pcm[i] ?? 0;
          if (s < 0 !== last < 0) call.crossings++;
          last = s;
        }
        call.last = last;
        call.samples += n;
        call.stats.windowPackets++;
      }
      rewriteSsrc(buf, 0x5eed0000 + (call.port & 0xffff));
    }
    call.socket.send(buf, from.port, from.address);
    call.stats.packetsEchoed++;
  };

  const onInvite = async (req: SipRequest, from: RemoteInfo): Promise<void> => {
    const callId = req.headers.get('call-id') ?? '';
    const existing = calls.get(callId);
    if (existing) {
      // A retransmission, or a re-INVITE (session refresh): the same session again.
      reply(req, from, 200, existing);
      return;
    }
    const law = pickLaw(req.body.toString('latin1'));
    if (!law) {
      reply(req, from, 488);
      return;
    }
    const socket = createSocket('udp4');
    const port = await bind(socket);
    const call: FarEndCall = {
      stats: {
        callId,
        caller: userOf(req.headers.get('from')) ?? '',
        asserted: userOf(req.headers.get('p-asserted-identity')),
        law,
        packetsIn: 0,
        packetsEchoed: 0,
        windowHz: null,
        windowPackets: 0,
        ended: false,
      },
      socket,
      port,
      answer: answerSdp(port, law),
      toTag: generateTag(),
      inWindow: windowOpen,
      crossings: 0,
      samples: 0,
      last: 0,
    };
    socket.on('message', (buf, rinfo) => onRtp(call, buf, rinfo));
    calls.set(callId, call);
    reply(req, from, 200, call);
  };

  sip.on('message', (buf, from) => {
    const msg = parseMessage(buf);
    if (!msg.ok || msg.value.kind !== 'request') return;
    const req = msg.value;
    switch (req.method) {
      case 'INVITE':
        void onInvite(req, from);
        return;
      case 'ACK':
        return;
      case 'BYE':
      case 'CANCEL': {
        const call = calls.get(req.headers.get('call-id') ?? '');
        if (call && !call.stats.ended) {
          call.stats.ended = true;
          call.socket.close();
        }
        reply(req, from, 200);
        return;
      }
      default:
        reply(req, from, 200);
    }
  });

  return {
    sipPort,
    active: () => [...calls.values()].filter((c) => !c.stats.ended).length,
    calls: () => [...calls.values()].map((c) => ({ ...c.stats })),
    openWindow() {
      windowOpen = true;
      for (const c of calls.values()) {
        c.inWindow = true;
        c.crossings = 0;
        c.samples = 0;
        c.stats.windowPackets = 0;
        c.stats.windowHz = null;
      }
    },
    closeWindow() {
      windowOpen = false;
      for (const c of calls.values()) {
        if (!c.inWindow) continue;
        c.inWindow = false;
        c.stats.windowHz = c.samples > 0 ? (c.crossings / 2) * (8000 / c.samples) : null;
      }
    },
    async close() {
      for (const c of calls.values()) if (!c.stats.ended) c.socket.close();
      calls.clear();
      await new Promise<void>((r) => sip.close(() => r()));
    },
  };
}
