// Notices in a fixed form, where the form rather than an SMTP reply says what happened to a recipient. Pure.
//
// Google Groups answers a post it will not take (the group does not exist, or the sender may not post to it) in the
// sender's language, with no SMTP reply, but always linking its help page on posting: whatever the language, that
// is the group refusing the post. The reason is read from the form only where the mail quotes no reply or status.
import type { FailureReason } from '../rules/classify';

const NOTICES: ReadonlyArray<readonly [FailureReason, RegExp]> = [
  ['refused', /https?:\/\/groups\.google\.com\/support\b/i],
];

/** The reason a notice's form gives, or undefined. */
export function noticeReasonIn(report: string): FailureReason | undefined {
  return NOTICES.find(([, form]) => form.test(report))?.[0];
}
