// Notices in a fixed form, where the form rather than an SMTP reply says what happened to a recipient. Pure.
//
// Google Groups answers a post it will not take (the group does not exist, or the sender may not post to it) in the
// sender's language, with no SMTP reply, but always linking its help page on posting: whatever the language, that
// is the group refusing the post. The reason is read from the form only where the mail quotes no reply or status.
import { lookup } from '../lookup';
import type { FailureReason } from '../rules/classify';

const NOTICES: ReadonlyArray<readonly [FailureReason, RegExp]> = [
  ['refused', /https?:\/\/groups\.google\.com\/support\b/i],
];

/** The reason a notice's form gives, or undefined. */
export function noticeReasonIn(report: string): FailureReason | undefined {
  return NOTICES.find(([, form]) => form.test(report))?.[0];
}

// PowerMTA classifies each bounce itself and writes the class into its DSN, per recipient, as
// `X-PowerMTA-BounceCategory:` (its documented bounce categories). Like SparkPost's bounce classes, the
// reporting MTA's own table is taken as the reason; 'other' leaves it to the evidence. A 4xx stays soft.
const POWERMTA_CATEGORIES: Readonly<Record<string, FailureReason>> = {
  'bad-mailbox': 'user unknown', // bad, invalid or non-existent recipient address
  'bad-domain': 'invalid domain', // invalid or non-existing domain
  'inactive-mailbox': 'account disabled', // expired, inactive or disabled recipient address
  'quota-issues': 'mailbox full',
  'message-expired': 'unreachable', // not delivered before bounce-after
  'no-answer-from-host': 'unreachable',
  'bad-connection': 'unreachable',
  'routing-errors': 'unreachable',
  'spam-related': 'spam rejection',
  'virus-related': 'spam rejection',
  'content-related': 'refused',
  'policy-related': 'refused',
  'relaying-issues': 'refused',
  'protocol-errors': 'refused',
  'bad-configuration': 'refused', // the remote host's configuration
  'invalid-sender': 'refused', // our sending domain's DNS
  other: 'not defined',
};

/** The reason a reporting MTA's own bounce category gives (PowerMTA's), or undefined. */
export function categoryReason(category: string): FailureReason | undefined {
  return category ? lookup(POWERMTA_CATEGORIES, category) : undefined;
}
