/** The SIP message layer: parse, serialize, structured header views, URIs, building, validation. */
export type { SipEndpoint, SipMessage, SipRequest, SipResponse, SipTransportName } from './types.ts';
export { SipHeaders, displayHeaderName, normalizeHeaderName, splitTopLevelCommas } from './headers-store.ts';
export { SipParseCodes, parseMessage, sipParseLimits, streamFrameLength } from './parse.ts';
export type { SipParseError } from './parse.ts';
export { serializeMessage } from './serialize.ts';
export {
  FrozenRequest,
  FrozenResponse,
  detachString,
  freezeIdentity,
  freezeRequest,
  freezeResponse,
} from './frozen.ts';
export {
  formatHost,
  formatUri,
  isSipUri,
  isTelUri,
  parseHostPort,
  parseUri,
  unescapeUriPart,
} from './uri.ts';
export type { OtherUri, SipUri, TelUri, Uri } from './uri.ts';
export {
  formatNameAddr,
  formatVia,
  getTag,
  isToken,
  isTokenChar,
  parseAuthHeader,
  parseCSeq,
  parseMediaType,
  parseMultipart,
  parseNameAddr,
  parseVia,
  quote,
  unquote,
} from './headers.ts';
export type { AuthParams, MediaType, NameAddr, Via } from './headers.ts';
export {
  createErrorResponse,
  createResponse,
  generateBranch,
  generateCallId,
  generateTag,
  reasonPhrase,
} from './build.ts';
export type { CreateResponseOptions } from './build.ts';
export { checkRequest, checkResponse, structuralProblem } from './validate.ts';
export type {
  CheckRequestOptions,
  CheckResponseOptions,
  MessageProblem,
  RequestRejection,
} from './validate.ts';
