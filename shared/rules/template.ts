// Personalization: `{{column}}` placeholders in a delivery's subject and bodies.

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

/** The distinct column names the given texts refer to. */
export function placeholders(...texts: (string | null | undefined)[]): string[] {
  const found = new Set<string>();
  for (const text of texts) {
    for (const match of (text ?? '').matchAll(PLACEHOLDER)) found.add(match[1]!);
  }
  return [...found];
}

/**
 * Why a placeholder cannot name a column, or null. The names of JavaScript objects' built-in properties
 * (constructor, __proto__, toString, …) are refused when the delivery is created: looked up on a recipient's
 * values they found the language's functions instead of a column.
 */
export function placeholderProblem(name: string): string | null {
  return name in Object.prototype
    ? `the placeholder {{${name}}} is the name of a built-in property of JavaScript objects; rename the column (e.g. {{${name}_value}})`
    : null;
}

/** A template split once into literal parts and column references, so rendering is a join. */
export interface CompiledTemplate {
  parts: string[];
  columns: string[];
}

export function compileTemplate(text: string): CompiledTemplate {
  const parts: string[] = [];
  const columns: string[] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    parts.push(text.slice(last, match.index));
    columns.push(match[1]!);
    last = match.index! + match[0].length;
  }
  parts.push(text.slice(last));
  return { parts, columns };
}

/** Fills a compiled template from a recipient's values; `escape` adapts a value to the target (HTML). */
export function render(
  template: CompiledTemplate,
  values: Record<string, string>,
  escapeValue: (value: string) => string = (v) => v,
): string {
  if (template.columns.length === 0) return template.parts[0]!;
  let out = template.parts[0]!;
  for (let i = 0; i < template.columns.length; i++) {
    const column = template.columns[i]!;
    // Own values only: a column the recipient lacks renders empty, never a property of Object.prototype.
    out += escapeValue(Object.hasOwn(values, column) ? (values[column] ?? '') : '') + template.parts[i + 1]!;
  }
  return out;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

const HTML_SPECIAL = /[&<>"']/;

/** Escapes a personalization value placed into an HTML body (most values have nothing to escape). */
export function escapeHtml(value: string): string {
  return HTML_SPECIAL.test(value) ? value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!) : value;
}
