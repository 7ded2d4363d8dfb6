/// <reference lib="dom" />
/** Where the page gets a file's bytes: a file picked by the user or a URL (on this server). Errors name the source. */

/** A file's contents and the name its errors use. */
export interface SourceBytes {
  bytes: Uint8Array;
  source: string;
}

/**
 * Reads the picked file if there is one, else fetches `url`; null when neither is given. `what` names the input in
 * messages ("weights", "config"), as the CLI's "cannot read weights" does.
 */
export async function readSource(
  file: File | undefined,
  url: string,
  what: string,
): Promise<SourceBytes | null> {
  if (file) {
    try {
      return { bytes: new Uint8Array(await file.arrayBuffer()), source: file.name };
    } catch (e) {
      throw new Error(`${file.name}: cannot read ${what} (${(e as Error).message})`);
    }
  }
  url = url.trim();
  if (!url) return null;
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${url}: cannot read ${what} (${(e as Error).message})`);
  }
  if (!response.ok) {
    throw new Error(`${url}: cannot read ${what} (HTTP ${response.status} ${response.statusText})`);
  }
  return { bytes: new Uint8Array(await response.arrayBuffer()), source: url };
}
