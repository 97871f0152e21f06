// A provider's body → contract events, by provider: what POST /feedback/PROVIDER runs once the sender is
// authenticated, and what a replay of a kept body (`campaign dead-letters replay`, the console) runs again.
import { translateGeneric } from './generic';
import { readKumoRecords, translateKumo } from './kumomta';
import { translateSes } from './ses';
import { readSnsMessage } from './sns';
import { translateSparkPost } from './sparkpost';
import { BadPayload, type Translation } from './translate';

/** The providers of POST /feedback/PROVIDER. */
export const PROVIDERS = ['sparkpost', 'ses', 'kumomta', 'generic'];

export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new BadPayload('the body is not JSON');
  }
}

/** An SNS notification's SES message (the envelope already authenticated). */
export const translateSnsNotification = (m: { Message: string; MessageId: string }) =>
  translateSes(parseJson(m.Message), m.MessageId);

/**
 * Translates an authenticated body. SES's is the SNS envelope: a kept one was verified when it came (nothing
 * unauthenticated is kept), and its signature's hour has passed by the time it is replayed, so it is not checked.
 */
export async function translateProviderBody(
  provider: string,
  body: string,
  contentType: string,
): Promise<Translation> {
  switch (provider) {
    case 'sparkpost':
      return translateSparkPost(parseJson(body));
    case 'kumomta':
      return translateKumo(readKumoRecords(body));
    case 'generic':
      return translateGeneric(body, contentType);
    case 'ses': {
      let m: ReturnType<typeof readSnsMessage>;
      try {
        m = readSnsMessage(JSON.parse(body));
      } catch (error) {
        throw error instanceof BadPayload ? error : new BadPayload('the body is not JSON');
      }
      return m.Type === 'Notification'
        ? translateSnsNotification(m)
        : { feedback: [], tracking: [], ignored: 1, refused: [] };
    }
    default:
      throw new BadPayload(`no provider "${provider}"; expected ${PROVIDERS.join(', ')}`);
  }
}

/**
 * Translates events a provider's batch held that were refused one by one (kept with their own reason): each is
 * read again as a batch of one by its provider's translator. Null for a provider whose events are not kept alone.
 */
export function translateProviderEvents(provider: string, events: unknown[]): Translation | null {
  switch (provider) {
    case 'sparkpost':
      // The msys key (message_event, track_event, …) is not read: an event's own `type` decides.
      return translateSparkPost(events.map((event) => ({ msys: { event } })));
    case 'kumomta':
      return translateKumo(events);
    default:
      return null;
  }
}
