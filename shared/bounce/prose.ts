// The parts of a bounce mail: which is the report, which the returned message, and the prose around them.
import { bodyText, type MimePart } from './mime';

/** A delivery-status report part (RFC 3464, or its RFC 6533 global form). */
export const isStatus = (p: MimePart) => /^message\/(?:global-)?delivery-status$/.test(p.contentType);
/** The returned message, whole or its headers only. */
export const isOriginal = (p: MimePart) =>
  /^(?:message\/(?:global-)?rfc822|text\/rfc822-headers|message\/global-headers|message\/partial)$/.test(
    p.contentType,
  );

/** The prose of the mail: its text parts outside the returned message (HTML stripped where there is no text). */
export function proseOf(mail: MimePart): string {
  const texts: string[] = [];
  const html: string[] = [];
  const visit = (part: MimePart) => {
    if (isOriginal(part) || isStatus(part)) return;
    if (part.parts.length > 0) return part.parts.forEach(visit);
    if (part.contentType === 'text/plain' || part.contentType === 'text') texts.push(bodyText(part));
    else if (part.contentType === 'text/html') html.push(stripHtml(bodyText(part)));
  };
  visit(mail);
  return (texts.length > 0 ? texts : html).join('\n');
}

function stripHtml(html: string): string {
  return html
    .replace(/<(?:script|style)[\s\S]*?<\/(?:script|style)>/gi, '')
    .replace(/<br\s*\/?>|<\/(?:p|div|tr|li|h\d)>/gi, '\n')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+/g, ' ');
}
