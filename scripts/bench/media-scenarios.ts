// SIPp scenarios for the media benchmark, written to a work directory at run time. They differ
// from the test scenarios in two ways: each call's SDP names its own load-generator port (field0
// of the injection file), and each side logs the media address the gateway handed it (-trace_logs)
// so the load generator knows where to send. The caller dials a distinct number per call (field1);
// the callee logs the number it was called at, which pairs the two legs of a call across the B2BUA.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SDP = (origin: string): string => `v=0
      o=${origin} 53655765 2353687637 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio [field0] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
      a=sendrecv`;

/**
 * ereg actions reading c= and m= of the received body, then one log line "tag number ownPort c=… m=…".
 * Whole matches only: SIPp rejects a scenario with a variable referenced once (an unused group).
 */
const LOG_MEDIA = (tag: string, numberExpr: string, numberEreg = ''): string => `<action>
      ${numberEreg}
      <ereg regexp="c=IN IP4 [0-9.]+" search_in="body" check_it="true" assign_to="cip"/>
      <ereg regexp="m=audio [0-9]+" search_in="body" check_it="true" assign_to="mport"/>
      <log message="${tag} ${numberExpr} [field0] [$cip] [$mport]"/>
    </action>`;

const UAC = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="bench-media uac">
  <send retrans="500"><![CDATA[

      INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[caller]@[caller_domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[caller]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      ${SDP('bench-a')}

    ]]></send>
  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>
  <send><![CDATA[

      ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3];rport
      From: <sip:[caller]@[caller_domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <send retrans="500"><![CDATA[

      INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[caller]@[caller_domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:[caller]@[local_ip]:[local_port];transport=[transport]>
      [authentication]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      ${SDP('bench-a')}

    ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true">
    ${LOG_MEDIA('A', '[field1]')}
  </recv>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: <sip:[caller]@[caller_domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Contact: <sip:[caller]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <pause/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: <sip:[caller]@[caller_domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
</scenario>
`;

const UAS = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="bench-media uas">
  <recv request="INVITE" rrs="true">
    ${LOG_MEDIA(
      'B',
      '[$ruri]',
      '<ereg regexp="INVITE sip:[^@;> ]+@" search_in="msg" check_it="true" assign_to="ruri"/>',
    )}
  </recv>
  <send><![CDATA[

      SIP/2.0 100 Trying
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      ${SDP('bench-b')}

    ]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <timewait milliseconds="1000"/>
</scenario>
`;

export interface MediaScenarios {
  uac: string;
  uas: string;
}

export function writeMediaScenarios(dir: string): MediaScenarios {
  const uac = join(dir, 'bench-media-uac.xml');
  const uas = join(dir, 'bench-media-uas.xml');
  writeFileSync(uac, UAC);
  writeFileSync(uas, UAS);
  return { uac, uas };
}

/** SIPp injection file: SEQUENTIAL, one line per call, field0 = port, field1 = dialled number. */
export function writeInjection(path: string, rows: ReadonlyArray<readonly [number, string]>): void {
  writeFileSync(path, ['SEQUENTIAL', ...rows.map(([p, n]) => `${p};${n}`)].join('\n') + '\n');
}
