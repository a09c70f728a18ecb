// Package assistant is the Go client of the Assistant API.
//
// client.gen.go is generated from api/openapi.yaml by `make generate` (oapi-codegen's models
// and its client with typed responses); it is never edited by hand. The rest is the little
// generation cannot give: New wires a session or an API key into every call and refreshes
// an expired session once (auth.go), every error response becomes an *APIError carrying the
// envelope (errors.go), and the message streams are read as typed events that survive a
// dropped connection (stream.go).
//
//	c, _ := assistant.New("https://assistant.example.com/api/v1")
//	if _, err := c.Login(ctx, "ada@example.com", password); err != nil { ... }
//	conv, _ := c.CreateConversationWithResponse(ctx, assistant.CreateConversationRequest{})
//	for ev, err := range c.StreamReply(ctx, conv.JSON201.Id, assistant.SendMessageRequest{Content: "Hello"}) {
//		if err != nil { ... }
//		if ev.Delta != nil { fmt.Print(ev.Delta.Content) }
//	}
package assistant
