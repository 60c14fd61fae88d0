/**
 * The registry of error codes: every stable code the gateway, the drivers and base raise, with
 * when it is raised. Codes are `EDGE_ERR_<AREA>_<WHAT>`; a code is never renamed or reused once
 * released, since logs, the admin UI and API clients match on it.
 *
 * `ParseError.code` and `EdgeError.code` are typed `ErrorCode`, so an unregistered literal does not
 * compile; `base/test/error-codes.test.ts` also scans the sources for every `EDGE_ERR_` string.
 */
export const ERROR_CODES = {
  // Command line and start-up (gateway/src/flags.ts, main.ts, build-gateway.ts).
  EDGE_ERR_MAIN_USAGE: 'A command-line flag is unknown or its value is missing or out of range',
  EDGE_ERR_MAIN_PORT_IN_USE: 'The SIP or HTTP port to listen on is already in use (EADDRINUSE)',

  // Configuration and the records database (gateway/src/store/).
  EDGE_ERR_CONFIG_INVALID:
    'A configuration is not valid JSON or fails validation, or keeps a masked password that was never stored',
  EDGE_ERR_CONFIG_IO: 'The configuration file or its revision history cannot be read or written',
  EDGE_ERR_CONFIG_REVISION_UNKNOWN:
    'A configuration revision number (to show, diff or restore) does not exist',
  EDGE_ERR_STORE_MIGRATION:
    'The records database cannot be opened, a schema migration failed, or its schema is newer than the program',

  // The HTTP API (gateway/src/api/app.ts, the simulated office's routes in drivers/sim/).
  EDGE_ERR_API_BAD_REQUEST:
    'An HTTP request that fails its route schema or is otherwise refused as a client error (4xx)',
  EDGE_ERR_API_NOT_FOUND: 'No HTTP route, or no resource (FXO line, simulated call) with the id in the URL',
  EDGE_ERR_API_CONFLICT: 'An HTTP request the simulated office refuses in its current state (409)',
  EDGE_ERR_API_INTERNAL:
    'An HTTP request failed inside the server (500); the details are logged, not returned',

  // SIP messages (gateway/src/sip/message/, RFC 3261 §7 and §25).
  EDGE_ERR_SIP_PARSE: 'A malformed SIP start line, header, URI, Via, CSeq or Session-Expires value',
  EDGE_ERR_SIP_PARSE_EMPTY: 'Input with only CRLFs: a keep-alive (RFC 5626 §4.4.1), not a SIP message',
  EDGE_ERR_SIP_PARSE_TOO_LARGE:
    'A SIP message, header section, header field or header count over the parse limits (513)',
  EDGE_ERR_SIP_PARSE_VERSION: 'A SIP start line whose version is not SIP/2.0 (505)',
  EDGE_ERR_SIP_MISSING_VIA: 'A SIP message with no Via header, so no transaction key or response destination',
  EDGE_ERR_SIP_MISSING_CSEQ: 'A SIP message with no CSeq header, so no transaction key',
  EDGE_ERR_SIP_MISSING_CALL_ID: 'A SIP message with no (or an empty) Call-ID header, so no transaction key',
  EDGE_ERR_SIP_MISSING_FROM: 'A SIP message with no From header, so no transaction key',
  EDGE_ERR_SIP_MISSING_TO: 'A SIP message with no To header, so no transaction key',

  // SIP transports and transactions (gateway/src/sip/transport/, gateway/src/sip/transaction/).
  EDGE_ERR_SIP_TRANSPORT: 'A SIP transport cannot bind its port or cannot send to a destination',
  EDGE_ERR_SIP_TRANSACTION_REQUEST_INVALID:
    'A client transaction cannot start: the layer is closed, the request is an ACK, has no Via branch or reuses one',
  EDGE_ERR_SIP_TRANSACTION_TIMEOUT:
    'A client transaction ended by Timer B or F (RFC 3261 §17.1) before a final response',

  // SIP dialogs (gateway/src/sip/dialog/dialog.ts, RFC 3261 §12).
  EDGE_ERR_SIP_DIALOG_STATE:
    'A request the dialog state forbids: any on a terminated dialog, or a BYE from the callee on an early one',
  EDGE_ERR_SIP_DIALOG_DUPLICATE: 'A dialog added to the dialog table under an ID already present',
  EDGE_ERR_SIP_DIALOG_TABLE_FULL: 'A dialog refused because the dialog table holds its maximum',

  // SIP digest authentication, client side (gateway/src/sip/auth/digest.ts, RFC 2617, RFC 8760).
  EDGE_ERR_SIP_AUTH_SCHEME: 'A challenge whose scheme is not Digest',
  EDGE_ERR_SIP_AUTH_PARAM: 'A Digest challenge without its realm or nonce parameter',
  EDGE_ERR_SIP_AUTH_ALGORITHM:
    'A Digest challenge with an algorithm not answered (a -sess or unknown algorithm)',
  EDGE_ERR_SIP_AUTH_QOP: 'A Digest challenge whose qop options do not include auth (auth-int only)',
  EDGE_ERR_SIP_AUTH_NC: 'A nonce-count to answer with that does not fit 8 hex digits',

  // SDP (gateway/src/sip/sdp/sdp.ts, RFC 8866).
  EDGE_ERR_SDP_EMPTY: 'An empty session description',
  EDGE_ERR_SDP_LINE: 'An SDP line that is not <type>=<value>',
  EDGE_ERR_SDP_UNKNOWN_TYPE: 'An SDP line of a type RFC 8866 does not define',
  EDGE_ERR_SDP_ORDER:
    'An SDP line out of the order RFC 8866 §5 requires (o=, s=, t= after m=, r= not after t=)',
  EDGE_ERR_SDP_VERSION: 'A missing v= line, one not first, or a version other than 0 (RFC 8866 §5.1)',
  EDGE_ERR_SDP_ORIGIN:
    'A missing o= line, or one without six fields or with a non-numeric sess-id or sess-version',
  EDGE_ERR_SDP_NAME: 'A session description without an s= line (RFC 8866 §5.3)',
  EDGE_ERR_SDP_TIMING: 'A missing t= line, or one without <start-time> <stop-time> (RFC 8866 §5.9)',
  EDGE_ERR_SDP_CONNECTION:
    'A c= line without <nettype> <addrtype> <address>, or a media section with no c= at either level (§5.7)',
  EDGE_ERR_SDP_ATTRIBUTE: 'An a= line with an empty attribute',
  EDGE_ERR_SDP_MEDIA: 'An m= line without <media> <port> <proto> <fmt>, or with a bad port',

  // SDES key exchange (gateway/src/media/srtp/sdes.ts, RFC 4568).
  EDGE_ERR_SDES_SYNTAX: 'An a=crypto value without <tag> <crypto-suite> <key-params>',
  EDGE_ERR_SDES_TAG: 'An a=crypto tag that is not 1 to 9 digits',
  EDGE_ERR_SDES_SUITE: 'An a=crypto crypto-suite that is not a token',
  EDGE_ERR_SDES_KEY:
    'A bad a=crypto key-param: no inline key-method, not base64, wrong key||salt length, bad lifetime or MKI',
  EDGE_ERR_SDES_NO_SUITE:
    'No a=crypto line offered, or none with a supported suite, one key and supported parameters',

  // SRTP (gateway/src/media/srtp/srtp.ts, RFC 3711); the relay counts drops by reason.
  EDGE_ERR_SRTP_TRUNCATED: 'An SRTP packet shorter than its header and authentication tag',
  EDGE_ERR_SRTP_NOT_RTP: 'An SRTP packet that is not RTP version 2',
  EDGE_ERR_SRTP_AUTH: 'An SRTP packet whose authentication tag does not match',
  EDGE_ERR_SRTP_REPLAY: 'An SRTP packet whose index was already received (RFC 3711 §3.3.2)',
  EDGE_ERR_SRTP_REPLAY_OLD: 'An SRTP packet whose index is behind the replay window',

  // RTP (gateway/src/media/rtp/rtp-packet.ts, RFC 3550 §5.1).
  EDGE_ERR_RTP_TRUNCATED:
    'An RTP packet shorter than its 12-byte header, its CSRC list or its header extension',
  EDGE_ERR_RTP_VERSION: 'An RTP packet whose version is not 2',
  EDGE_ERR_RTP_RTCP: 'RTCP on the RTP port: payload type 72-76 (RFC 5761 §4 multiplexing)',
  EDGE_ERR_RTP_PADDING: 'An RTP padding count that does not fit the packet',

  // RTCP (gateway/src/media/rtp/rtcp.ts, RFC 3550 §6 and Appendix A.2).
  EDGE_ERR_RTCP_TRUNCATED:
    'An RTCP compound or packet shorter than a header, or an SR, RR, BYE or SDES body cut short',
  EDGE_ERR_RTCP_LENGTH: 'An RTCP compound not a multiple of 4 bytes, or a packet length running past its end',
  EDGE_ERR_RTCP_FIRST: 'An RTCP compound that does not start with SR or RR (reduced-size RTCP not allowed)',
  EDGE_ERR_RTCP_VERSION: 'An RTCP packet whose version is not 2',
  EDGE_ERR_RTCP_PADDING:
    'RTCP padding on a packet that is not the last of its compound, or a count that does not fit',

  // DTMF (gateway/src/media/dtmf/): RFC 4733 telephone-events and SIP INFO bodies.
  EDGE_ERR_DTMF_TRUNCATED: 'A telephone-event payload shorter than one 4-byte event',
  EDGE_ERR_DTMF_LENGTH: 'A telephone-event payload that is not a multiple of 4 bytes',
  EDGE_ERR_DTMF_DIGIT: 'A digit to send as RFC 4733 events that is not a DTMF key',
  EDGE_ERR_DTMF_DURATION: 'A DTMF digit to send with a duration that is not positive',
  EDGE_ERR_DTMF_INFO_TYPE: 'A SIP INFO body whose Content-Type is not a DTMF type',
  EDGE_ERR_DTMF_INFO_SIZE: 'A SIP INFO DTMF body over 1024 bytes',
  EDGE_ERR_DTMF_INFO_SIGNAL: 'A SIP INFO DTMF body with no Signal line, or a signal that is not a DTMF key',
  EDGE_ERR_DTMF_INFO_DURATION:
    'An application/dtmf-relay Duration that is not a number of milliseconds in range',

  // Conference mixing (gateway/src/media/mix/).
  EDGE_ERR_MIX_CLOSED: 'A member added to a conference or a worker room that is closed',
  EDGE_ERR_MIX_MEMBER_EXISTS: 'A member added to a conference it is already in',
  EDGE_ERR_MIX_FULL: 'A member added to a conference that holds its maximum of members',
  EDGE_ERR_MIX_MEMBER_UNKNOWN: 'A role change for an id or leg that is not in the conference or room',
  EDGE_ERR_MIX_WHISPER_TARGET: 'A whisper role without a talking member other than itself to coach',
  EDGE_ERR_MIX_REFUSED:
    'A mix command the media worker refuses: the leg is already in a room, in none, or unknown',

  // Prompts (gateway/src/media/play/prompt-library.ts) and WAV files (base/signal/wav.ts).
  EDGE_ERR_PROMPT_FILE_MISSING: 'A configured prompt file that does not exist (stat fails)',
  EDGE_ERR_PROMPT_FILE_UNREADABLE: 'A prompt file that exists but cannot be read',
  EDGE_ERR_WAV_TRUNCATED:
    'A WAV file shorter than the 12-byte RIFF header, or a recording than its 44-byte header',
  EDGE_ERR_WAV_NOT_RIFF: 'A file that does not start with "RIFF"',
  EDGE_ERR_WAV_NOT_WAVE: 'A RIFF file whose form type is not "WAVE"',
  EDGE_ERR_WAV_SIZE_MISMATCH:
    'A RIFF or chunk size running past the end of the file, or a data size not a whole number of samples',
  EDGE_ERR_WAV_FMT_SHORT: 'A fmt chunk shorter than WAVEFORMAT (16 bytes) or WAVEFORMATEXTENSIBLE (40)',
  EDGE_ERR_WAV_FMT_MISSING: 'A WAV file with no fmt chunk, or a data chunk before it',
  EDGE_ERR_WAV_DATA_MISSING: 'A WAV file with no data chunk',
  EDGE_ERR_WAV_FORMAT_UNSUPPORTED:
    'A format other than PCM, A-law or µ-law (for a recording, other than 16-bit PCM)',
  EDGE_ERR_WAV_BITS_UNSUPPORTED: 'Bits per sample other than 16 for PCM or 8 for A-law and µ-law',
  EDGE_ERR_WAV_CHANNELS_UNSUPPORTED: 'A prompt that is not mono',
  EDGE_ERR_WAV_RATE_UNSUPPORTED: 'A prompt sample rate other than 8 kHz (or 16 kHz for 16-bit PCM)',
  EDGE_ERR_WAV_FMT_INCONSISTENT:
    'A fmt chunk whose block align or byte rate disagrees with its channels, bits and rate',
  EDGE_ERR_WAV_NOT_CANONICAL:
    'A recording whose header is not the canonical 44-byte RIFF/WAVE/fmt/data layout',

  // Call recording (gateway/src/media/record/); system errors keep their own codes (ENOSPC...).
  EDGE_ERR_RECORDING_ID: 'An interaction id that is not a safe file name for its recording',
  EDGE_ERR_RECORDING_EXISTS:
    'A recording file already exists and is not a stereo 8 kHz recording to continue',
  EDGE_ERR_RECORDING_IO: 'A recording file operation failed with an error that carries no system code',
  EDGE_ERR_RECORDING_COMMAND: 'The recorder worker received a command it does not know',
  EDGE_ERR_RECORDING_WORKER: 'The recorder worker thread failed with an uncaught error',

  // Calls and legs (gateway/src/core/errors.ts, gateway/src/call/); each carries a SIP status.
  EDGE_ERR_CALL_FAILED:
    'A call that cannot be completed (CallError), answered with the SIP status it carries',
  EDGE_ERR_CALL_LEG_STATE: 'An operation the state of a leg does not allow (an illegal state transition)',
  EDGE_ERR_CALL_LEG_ENDED: 'An operation on a leg that has ended',
  EDGE_ERR_CALL_NO_ROUTE: 'No route matches the destination of a call',
  EDGE_ERR_CALL_ORIGINATE_FAILED: 'The outbound leg of a call could not be set up',
  EDGE_ERR_CALL_BRIDGE: 'Two legs of a call could not be bridged',
  EDGE_ERR_CALL_MEDIA: 'The media of a leg (ports, relay, recording) could not be set up or is not available',
  EDGE_ERR_CALL_CANCELLED: 'A call cancelled by its caller before it was answered',

  // Dial plans and trunk channels (gateway/src/routing/).
  EDGE_ERR_ROUTING_PATTERN:
    'A dial pattern that is empty or too long, a bad regular expression, or a bad character or set',
  EDGE_ERR_ROUTING_CHANNELS:
    'An E1 channel list with a bad entry, a backwards range, a non-bearer timeslot (0, 16, >31) or a repeat',

  // PSTN lines and ports (gateway/src/pstn/).
  EDGE_ERR_PSTN_NO_SUCH_LINE: 'A PSTN operation names a line that is not an FXO line of the gateway',
  EDGE_ERR_PSTN_LINE_BUSY: 'A line or E1 timeslot not idle: dialling on it, or learning a busy tone on it',
  EDGE_ERR_PSTN_NOT_RINGING:
    'An answer on a line or timeslot with no incoming call, or a reject of an alerting FXO line',
  EDGE_ERR_PSTN_BAD_NUMBER: 'A number (or post-dial digits) the FXO line cannot dial in its dial mode',
  EDGE_ERR_PSTN_LEARN_FAILED:
    'Learning the busy tone of a line failed (the reason of the learner is in the message)',
  EDGE_ERR_PSTN_LEARN_NO_TONE:
    'Busy-tone learning heard nothing above the minimum level, or no tone in the band',
  EDGE_ERR_PSTN_LEARN_TOO_SHORT: 'Busy-tone learning heard fewer than two whole tone bursts and two gaps',
  EDGE_ERR_PSTN_LEARN_IRREGULAR: 'Busy-tone learning heard bursts and gaps that are not one cadence',

  // Caller ID (base/signal/caller-id*.ts, GR-30-CORE §3 and ETSI EN 300 659-3 §5).
  EDGE_ERR_PSTN_CID_CHECKSUM: 'A caller ID message whose bytes and checksum do not sum to 0 modulo 256',
  EDGE_ERR_PSTN_CID_TRUNCATED:
    'A caller ID message shorter than its length, FSK carrier lost mid-message, or a DTMF spill cut short',
  EDGE_ERR_PSTN_CID_MALFORMED:
    'A caller ID message with a bad date, reason or layout, or a malformed DTMF spill',
  EDGE_ERR_PSTN_CID_UNSUPPORTED: 'A caller ID message type other than SDMF (0x04) or MDMF (0x80)',
  EDGE_ERR_PSTN_CID_FRAMING: 'An FSK caller ID byte without its stop bit',

  // Telephony drivers' commands (drivers/api/types.ts `DriverErrors`).
  EDGE_ERR_DRIVER_ON_HOOK: 'A dial command on a channel that is on hook, or not seized on E1',
  EDGE_ERR_DRIVER_OFF_HOOK: 'A seize of a line that is already off hook',
  EDGE_ERR_DRIVER_UNSUPPORTED:
    'A command the channel kind lacks (hook or pulse on E1, out-of-band digits on analog)',
  EDGE_ERR_DRIVER_BAD_DIGITS: 'Digits a dial command cannot send (not DTMF, or not 0-9 for pulse dialling)',
  EDGE_ERR_DRIVER_BAD_FRAME: 'An audio frame that is not the frame size of the driver',
  EDGE_ERR_DRIVER_STATE: 'An E1 CAS command its signalling state does not allow (seize, answer, digits)',
  EDGE_ERR_DRIVER_BUSY_DIALLING: 'A dial command while the channel is still dialling',
  EDGE_ERR_DRIVER_CLOSED: 'A command on a closed channel',
  EDGE_ERR_DRIVER_ALARM: 'A command on an E1 span in alarm',
  EDGE_ERR_DRIVER_BAD_CONFIG: 'A driver configuration value that is out of range or unknown',
  EDGE_ERR_DRIVER_UNKNOWN_FAMILY: 'A driver configuration naming a family no registered driver provides',

  // The simulated central office (drivers/sim/central-office.ts).
  EDGE_ERR_SIM_NO_SUCH_LINE: 'The simulated office has no line or E1 span by that reference',
  EDGE_ERR_SIM_LINE_BUSY: 'The simulated office cannot offer a call on a line that is not idle',
  EDGE_ERR_SIM_BAD_REQUEST: 'A simulated-office request with an unknown fault or a bad caller number or name',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Registered codes that nothing raises yet, each with the reason it is kept. The registry test
 * fails when a code is neither used nor listed here, and when a listed code is in use.
 */
export const RESERVED_CODES: Readonly<Partial<Record<ErrorCode, string>>> = {
  EDGE_ERR_SIP_TRANSACTION_TIMEOUT:
    'Public in ErrorCodes; a timeout reaches the TU as onTimeout() (a 408, RFC 3261 §8.1.3.1), not as an error',
};

/** A union of codes checked against the registry: `RegisteredCode<'EDGE_ERR_A' | 'EDGE_ERR_B'>`. */
export type RegisteredCode<C extends ErrorCode> = C;
