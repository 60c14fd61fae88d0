/**
 * Conference and monitoring calls (`services[]` of type conference / monitor): answered by the
 * gateway with a leg in a mixing room of the media engine, a dialog on the inbound leg only.
 */
import type { Logger } from '../core/log.ts';
import type { MixAnswerer } from './mix-answerer.ts';
import type { SipCall } from '../call/sip-call.ts';

export function answerMixCall(
  call: SipCall,
  answerer: MixAnswerer | undefined,
  destination: { number: string; service: string; target?: string },
  offer: Buffer | undefined,
  logger: Logger,
): void {
  if (!answerer) {
    call.reject(503, 'Service Unavailable (media service not running)');
    return;
  }
  answerer
    .answer({
      number: destination.number,
      target: destination.target,
      callKey: call.interactionId,
      offer,
      // The monitored call ended first: the supervisor gets BYE.
      hangup: () => call.hangup('monitored call ended'),
    })
    .then(
      (r) => {
        if (!r.ok) {
          if (call.currentState === 'routing') call.reject(r.status, r.reason);
          return;
        }
        // Cancelled or drained while the media was set up: nothing to answer, free the ports.
        if (!call.answerLocally(r.sdp, () => r.session.close())) r.session.close();
      },
      (e: unknown) => {
        logger.error({ err: e, service: destination.service }, 'mix service answer failed');
        if (call.currentState === 'routing') call.reject(500, 'Server Internal Error');
      },
    );
}
