// Command example signs in to an Assistant server, streams a reply to the terminal and
// saves the conversation as a PDF:
//
//	ASSISTANT_EMAIL=ada@example.com ASSISTANT_PASSWORD=... go run ./sdk/go/example "What should I see in Lisbon?"
//
// ASSISTANT_URL is the API's base (default http://localhost:8080/api/v1); -register creates
// the account first (on a server whose REGISTRATION_MODE is open); -pdf names the file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"

	"assistant/sdk/go/assistant"
)

type options struct {
	url, email, password string
	register             bool
	question, pdf        string
}

func main() {
	o := options{
		url:      env("ASSISTANT_URL", "http://localhost:8080/api/v1"),
		email:    os.Getenv("ASSISTANT_EMAIL"),
		password: os.Getenv("ASSISTANT_PASSWORD"),
	}
	flag.BoolVar(&o.register, "register", false, "create the account first")
	flag.StringVar(&o.pdf, "pdf", "conversation.pdf", "where to save the exported PDF")
	flag.Parse()
	o.question = strings.Join(flag.Args(), " ")
	if o.question == "" {
		o.question = "What should I see in Lisbon in two days?"
	}
	if o.email == "" || o.password == "" {
		fmt.Fprintln(os.Stderr, "example: set ASSISTANT_EMAIL and ASSISTANT_PASSWORD")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, http.DefaultClient, os.Stdout); err != nil {
		var apiErr *assistant.APIError
		if errors.As(err, &apiErr) {
			fmt.Fprintf(os.Stderr, "example: %s (%s, request %s)\n", apiErr.Message, apiErr.Code, apiErr.RequestID)
		} else {
			fmt.Fprintln(os.Stderr, "example:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, hc *http.Client, out io.Writer) error {
	c, err := assistant.New(o.url, assistant.WithHTTP(hc))
	if err != nil {
		return err
	}
	if o.register {
		_, err = c.Register(ctx, assistant.RegisterRequest{Email: assistant.Email(o.email), Password: o.password})
	} else {
		_, err = c.Login(ctx, o.email, o.password)
	}
	if err != nil {
		return fmt.Errorf("signing in: %w", err)
	}

	conv, err := c.CreateConversationWithResponse(ctx, assistant.CreateConversationRequest{})
	if err != nil {
		return err
	}
	for ev, err := range c.StreamReply(ctx, conv.JSON201.Id, assistant.SendMessageRequest{Content: o.question}) {
		if err != nil {
			return err
		}
		if ev.Delta != nil {
			fmt.Fprint(out, ev.Delta.Content)
		}
	}
	fmt.Fprintln(out)

	export, err := c.CreateExportWithResponse(ctx, conv.JSON201.Id, assistant.CreateExportRequest{Format: assistant.CreateExportRequestFormatPdf})
	if err != nil {
		return err
	}
	pdf, err := c.DownloadExportWithResponse(ctx, export.JSON201.Id, nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.pdf, pdf.Body, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "saved %s (%d bytes)\n", o.pdf, len(pdf.Body))
	return nil
}

func env(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
