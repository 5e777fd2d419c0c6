// Bytes of a task file as text: strictly (invalid UTF-8 is refused, never turned into
// U+FFFD and run) or leniently (only where nothing is run from it), BOM removed.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The text, or undefined if the bytes are not valid UTF-8. */
export function decodeStrict(bytes: Buffer): string | undefined {
  try {
    const text = utf8.decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    return undefined;
  }
}

export function decodeLenient(bytes: Buffer): string {
  const text = bytes.toString("utf8");
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

