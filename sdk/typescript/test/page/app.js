// A small page using the built SDK: sign in, stream a reply into the page, and show an
// error's request id. The API's address comes from the page's `api` query parameter.
import { createAssistantClient, isApiError, unwrap } from "/dist/index.js";

const $ = (id) => document.getElementById(id);
const client = createAssistantClient({ baseUrl: new URL(location.href).searchParams.get("api") ?? "/api/v1" });

function showError(err) {
  $("error-code").textContent = isApiError(err) ? err.code : "exception";
  $("error-message").textContent = err.message;
  $("error-request-id").textContent = isApiError(err) ? err.requestId : "";
}

$("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const email = $("email").value;
    const password = $("password").value;
    await client.register({ email, password });
    await client.logout();
    const session = await client.login(email, password);
    $("who").textContent = session.user.email;
  } catch (err) {
    showError(err);
  }
});

$("chat").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const reply = $("reply");
  reply.textContent = "";
  $("status").textContent = "streaming";
  try {
    const conv = await unwrap(client.api.POST("/conversations", { body: {} }));
    let deltas = 0;
    for await (const e of client.streamMessage(conv.id, { content: $("message").value })) {
      if (e.type === "delta") {
        reply.append(e.data.content);
        reply.dataset.deltas = String(++deltas);
      } else if (e.type === "done") {
        reply.dataset.messageId = e.data.id;
        $("status").textContent = e.data.status;
      } else if (e.type === "error") {
        showError(e.data.error);
        $("status").textContent = "failed";
      }
    }
  } catch (err) {
    showError(err);
    $("status").textContent = "failed";
  }
});

$("upload").addEventListener("click", async () => {
  try {
    const file = $("file").files[0];
    const stored = await client.uploadFile(file, file.name);
    $("uploaded").textContent = `${stored.filename} ${stored.size_bytes}`;
  } catch (err) {
    showError(err);
  }
});

$("missing").addEventListener("click", async () => {
  try {
    await unwrap(
      client.api.GET("/conversations/{conversation_id}", {
        params: { path: { conversation_id: "0190a3c2-0000-7000-8000-000000000000" } },
      }),
    );
  } catch (err) {
    showError(err);
  }
});

// For the test, which plays an access token expiring.
window.assistantClient = client;
document.body.dataset.ready = "true";
