// The pages' HTML: whatever a label holds, it comes out as text, never as markup.
import { escapeHtml, listPage, tilePage } from './html';

test('escapeHtml leaves no character that could open markup or end an attribute', () => {
  expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe(
    '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
  );
});

test('a label with markup is shown as text on the list', () => {
  const html = listPage([
    {
      id: '1',
      label: '</td><script>x()</script>',
      state: 'sent',
      efs: true,
      toSend: 2,
      sent: 2,
      progress: 1,
    },
  ]);
  expect(html).not.toContain('<script>');
  expect(html).toContain('&lt;/td&gt;&lt;script&gt;x()&lt;/script&gt;');
});

test('a tile of one message says "1 message", of two "2 messages", in the page and in its refresh script', () => {
  const one = { delivered: 1, bouncesAndErrors: 2, opens: 1, clicks: 0, complaints: 1 };
  const html = tilePage(
    {
      id: '7',
      label: 'x',
      state: 'sent',
      efs: true,
      validUntil: null,
      statsComputedAt: null,
      progress: 1,
      toSend: 3,
      sent: 3,
      deliveredRate: 0.33,
      bouncesAndErrorsRate: 0.67,
      openRate: 1,
      clickRate: 0,
      complaintRate: 1,
      ...one,
    },
    [],
  );
  const sub = (k: string) => html.match(new RegExp(`data-k="${k}Sub">([^<]*)<`))?.[1];
  expect(sub('deliveredRate')).toBe('1 message');
  expect(sub('bouncesAndErrorsRate')).toBe('2 messages');
  expect(sub('openRate')).toBe('1 recipient');
  expect(sub('clickRate')).toBe('0 recipients');
  expect(sub('complaintRate')).toBe('1 message');
  expect(html).not.toContain(" + ' messages'");
});
