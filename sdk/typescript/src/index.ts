export { AssistantClient, createAssistantClient, type AssistantClientOptions } from "./client.js";
export { Credentials, authenticatedFetch, type Session } from "./auth.js";
export { ApiError, isApiError, unwrap, type ErrorCode, type ErrorEnvelope, type FieldError } from "./errors.js";
export { readServerSentEvents, type ServerSentEvent } from "./sse.js";
export {
  ReplyStream,
  type ReplyEvent,
  type ReplyStreamOptions,
  type MessageEvent,
  type RegenerateEvent,
  type DeltaEvent,
  type DoneEvent,
  type ErrorEvent,
} from "./stream.js";
export type { paths, components, operations } from "./generated/api.js";
