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
    out += escapeValue(values[template.columns[i]!] ?? '') + template.parts[i + 1]!;
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

/** Escapes a personalization value placed into an HTML body. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}
