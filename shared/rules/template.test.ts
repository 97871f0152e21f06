// {{column}} personalization: finding the columns a message uses, compiling and rendering.
import { compileTemplate, escapeHtml, placeholders, render } from './template';

describe('placeholders', () => {
  it.each<[string, (string | null | undefined)[], string[]]>([
    ['no placeholder', ['Hello'], []],
    ['one placeholder', ['Hello {{first}}'], ['first']],
    ['spaces inside the braces', ['Hello {{ first }}'], ['first']],
    [
      'each column once across texts',
      ['{{first}} {{last}}', 'Dear {{first}}', null, undefined],
      ['first', 'last'],
    ],
    ['dots, dashes and underscores', ['{{a.b}} {{c-d}} {{e_f}}'], ['a.b', 'c-d', 'e_f']],
    ['single braces are literal', ['{first} { {x} }'], []],
    ['empty braces are literal', ['{{}} {{ }}'], []],
  ])('finds %s', (_what, texts, columns) => {
    expect(placeholders(...texts)).toEqual(columns);
  });
});

describe('render', () => {
  it.each<[string, string, Record<string, string>, string]>([
    ['text without placeholders as is', 'Hello all', { first: 'Ann' }, 'Hello all'],
    ['a placeholder from the values', 'Hello {{first}}!', { first: 'Ann' }, 'Hello Ann!'],
    ['adjacent placeholders', '{{first}}{{last}}', { first: 'Ann', last: 'Lee' }, 'AnnLee'],
    ['placeholders at both ends', '{{a}} and {{b}}', { a: '1', b: '2' }, '1 and 2'],
    ['a repeated placeholder each time', '{{x}}-{{x}}', { x: 'y' }, 'y-y'],
    ['a missing value as empty', 'Hello {{first}}.', {}, 'Hello .'],
    [
      'a value that looks like a placeholder literally',
      'Hi {{first}}',
      { first: '{{last}}', last: 'no' },
      'Hi {{last}}',
    ],
  ])('renders %s', (_what, text, values, expected) => {
    expect(render(compileTemplate(text), values)).toBe(expected);
  });

  it('escapes the values but not the template when given an escape', () => {
    const template = compileTemplate('<p>Hello <b>{{first}}</b></p>');
    expect(render(template, { first: '<script>"x" & \'y\'</script>' }, escapeHtml)).toBe(
      '<p>Hello <b>&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;</b></p>',
    );
  });

  it('compiles a template into literal parts around its columns', () => {
    expect(compileTemplate('a {{x}} b {{ y }} c')).toEqual({
      parts: ['a ', ' b ', ' c'],
      columns: ['x', 'y'],
    });
  });
});

describe('escapeHtml', () => {
  it.each([
    ['&', '&amp;'],
    ['<', '&lt;'],
    ['>', '&gt;'],
    ['"', '&quot;'],
    ["'", '&#39;'],
    ['plain text', 'plain text'],
    ['&amp;', '&amp;amp;'],
  ])('escapes %j as %j', (value, escaped) => {
    expect(escapeHtml(value)).toBe(escaped);
  });
});
