/** One server-sent event as the wire carries it. */
export interface ServerSentEvent {
  /** The event's `id:` (for this API, the bytes of reply text sent so far), if it had one. */
  id: string | undefined;
  /** The event's name (`message` when the event names none). */
  event: string;
  /** The `data:` lines, joined with newlines. */
  data: string;
}

/**
 * Reads server-sent events from a fetch response body, as the HTML standard's event-stream
 * parser does: lines end with CRLF, LF or CR; `:` lines are comments (the server's pings);
 * an event is dispatched at a blank line; an unfinished event at the end is dropped. Only
 * web-standard APIs (ReadableStream, TextDecoder), so it runs in browsers and in Node.js.
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  let first = true;
  let id: string | undefined;
  let event = "";
  let data: string[] = [];
  let sawData = false;

  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      if (first && buffer.length > 0) {
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
        first = false;
      }
      let start = 0;
      for (;;) {
        const cr = buffer.indexOf("\r", start);
        const lf = buffer.indexOf("\n", start);
        let end: number;
        let next: number;
        if (cr >= 0 && (lf < 0 || cr < lf)) {
          // A CR at the very end may be the first half of a CRLF split across reads.
          if (cr === buffer.length - 1 && !done) break;
          end = cr;
          next = buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
        } else if (lf >= 0) {
          end = lf;
          next = lf + 1;
        } else {
          break;
        }
        const line = buffer.slice(start, end);
        start = next;
        if (line === "") {
          if (sawData) {
            yield { id, event: event || "message", data: data.join("\n") };
          }
          event = "";
          data = [];
          sawData = false;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        switch (field) {
          case "event":
            event = value;
            break;
          case "data":
            data.push(value);
            sawData = true;
            break;
          case "id":
            // The standard ignores an id containing NUL; the last id persists across events.
            if (!value.includes("\0")) id = value;
            break;
          default:
          // `retry` and unknown fields: nothing for a fetch-based reader to do.
        }
      }
      buffer = buffer.slice(start);
      if (done) return;
    }
  } finally {
    // Stops the download when the consumer stops early (break, an exception).
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}
