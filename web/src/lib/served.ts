// The models `cargo xtask serve` offers beside the page: it serves their list (crates/xtask/src/catalog.rs, the one
// home of it) as JSON, so the page keeps no copy. A static host without the list offers none.

/** One served model, as the list gives it. */
export interface ServedModel {
  file: string;
  label: string;
  note: string;
  bytes: number;
  default: boolean;
}

/** Where the list is, relative to the page. */
export const SERVED_INDEX = 'models/index.json';

/** Reads the list from `index` (JSON `{models: [...]}`), keeping only well-formed entries. */
export function parseServed(json: unknown): ServedModel[] {
  const models = (json as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) return [];
  return models.filter(
    (m): m is ServedModel =>
      typeof m === 'object' &&
      m !== null &&
      typeof m.file === 'string' &&
      /^[\w.-]+\.gguf$/.test(m.file) &&
      typeof m.label === 'string' &&
      typeof m.note === 'string' &&
      typeof m.bytes === 'number' &&
      typeof m.default === 'boolean',
  );
}

/** The served models, or none where the host has no list. */
export async function fetchServedModels(): Promise<ServedModel[]> {
  try {
    const response = await fetch(SERVED_INDEX, { cache: 'no-cache' });
    return response.ok ? parseServed(await response.json()) : [];
  } catch {
    return [];
  }
}

/** A served model's URL, relative to the page at `base`. */
export function servedUrl(m: ServedModel, base: string): string {
  return new URL(`models/${m.file}`, base).href;
}
