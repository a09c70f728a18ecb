// The event-stream parser on its own, fed the byte splits a network produces.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readServerSentEvents } from "../dist/index.js";

function streamOf(chunks) {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(typeof ch === "string" ? enc.encode(ch) : ch);
      c.close();
    },
  });
}

async function collect(chunks) {
  const out = [];
  for await (const e of readServerSentEvents(streamOf(chunks))) out.push(e);
  return out;
}

const wire = 'id: 0\nevent: message\ndata: {"a":1}\n\n: ping\n\nid: 5\nevent: delta\ndata: {"content":"héllo"}\n\n';
const want = [
  { id: "0", event: "message", data: '{"a":1}' },
  { id: "5", event: "delta", data: '{"content":"héllo"}' },
];

test("events split at every byte give the same events", async () => {
  const bytes = new TextEncoder().encode(wire);
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(await collect([bytes.slice(0, cut), bytes.slice(cut)]), want, `split at byte ${cut}`);
  }
  assert.deepEqual(await collect([...bytes].map((b) => new Uint8Array([b]))), want, "one byte at a time");
});

test("CRLF, CR and LF line ends, a CRLF split across reads, and a leading BOM", async () => {
  const crlf = wire.replaceAll("\n", "\r\n");
  const at = crlf.indexOf("\r\n") + 1; // between CR and LF
  assert.deepEqual(await collect(["\ufeff" + crlf.slice(0, at), crlf.slice(at)]), want);
  assert.deepEqual(await collect([wire.replaceAll("\n", "\r")]), want);
});

test("multi-line data, a field without a colon, unknown fields, and an unfinished last event", async () => {
  const got = await collect(["data: one\ndata:two\nretry: 10\nfoo: bar\ndata\n\nid: 7\ndata: x\n\ndata: cut"]);
  assert.deepEqual(got, [
    { id: undefined, event: "message", data: "one\ntwo\n" },
    { id: "7", event: "message", data: "x" },
  ]);
});

test("an id with NUL is ignored and the last id persists", async () => {
  const got = await collect(["id: 3\ndata: a\n\nid: 4\u0000\ndata: b\n\n"]);
  assert.deepEqual(got.map((e) => e.id), ["3", "3"]);
});
