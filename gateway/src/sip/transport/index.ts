export { SipTransports, type SipTransportOptions } from './transports.ts';
export { ensureCertificate, type TlsCertificate } from './certificate.ts';
export { StreamFramer, type FrameEvent, type FrameErrorReason } from './stream-framer.ts';
