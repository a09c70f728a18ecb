// Compiled, never run (npm run typecheck): the README's first lines and the types a caller
// relies on, checked against the built package as a dependent sees it.
import { createAssistantClient, isApiError, unwrap, type ErrorCode, type ReplyEvent } from "@assistant/sdk";

declare const out: HTMLElement;

export async function readme(): Promise<void> {
  const client = createAssistantClient({ baseUrl: "https://assistant.example.com/api/v1" });
  await client.login("ada@example.com", "correct horse battery");
  const conv = await unwrap(client.api.POST("/conversations", { body: { title: "Lisbon" } }));
  for await (const e of client.streamMessage(conv.id, { content: "Two days in Lisbon?" })) {
    if (e.type === "delta") out.append(e.data.content); // also "message", "done", "error"
  }
  try { await unwrap(client.api.GET("/conversations/{conversation_id}", { params: { path: { conversation_id: conv.id } } })); }
  catch (err) { if (isApiError(err)) console.log(err.status, err.code, err.requestId); }
}

export async function typed(): Promise<void> {
  const client = createAssistantClient();
  const conv = await unwrap(client.api.GET("/conversations/{conversation_id}", { params: { path: { conversation_id: "x" } } }));
  const title: string = conv.title;
  const model: string | null = conv.model;
  // @ts-expect-error: a field the spec does not have
  void conv.name;
  // @ts-expect-error: a body the spec refuses (format is an enum)
  await client.api.POST("/conversations/{conversation_id}/exports", { params: { path: { conversation_id: "x" } }, body: { format: "docx" } });
  // @ts-expect-error: a path the spec does not have
  await client.api.GET("/conversation");
  const code: ErrorCode = "not_found";
  const event = {} as ReplyEvent;
  if (event.type === "done") {
    const status: "pending" | "streaming" | "complete" | "failed" | "cancelled" = event.data.status;
    void status;
  } else if (event.type === "error") {
    const c: ErrorCode = event.data.error.code;
    void c;
  }
  void title, model, code;
}
