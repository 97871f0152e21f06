// The pages' HTML: whatever a label holds, it comes out as text, never as markup.
import { escapeHtml, listPage } from './html';

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
