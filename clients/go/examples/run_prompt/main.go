// Command run_prompt asks the default agent of a running server (`make run`)
// a question, serves a client tool ("weather") with a Go function, and prints
// the run's events as they stream.
//
//	cd clients/go && go run ./examples/run_prompt -target localhost:50051
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/agentstream/agentstream/clients/go/agentstream"
	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Weather is the weather tool's arguments: the tool's JSON schema is derived
// from it, and each call's arguments arrive decoded into it.
type Weather struct {
	City string `json:"city" jsonschema:"description=City name,example=Oslo"`
}

func weather(ctx context.Context, args Weather) (string, error) {
	return fmt.Sprintf("%s: 3°C and cloudy", args.City), nil
}

func main() {
	target := flag.String("target", "localhost:50051", "agentstream server")
	prompt := flag.String("prompt", "What is the weather in Oslo, and what is 6 * 7?", "the question")
	ca := flag.String("ca", "", "PEM file of the CA to trust: connect over TLS")
	cert := flag.String("cert", "", "client certificate (PEM), for mTLS")
	key := flag.String("key", "", "client certificate's key (PEM), for mTLS")
	token := flag.String("token", os.Getenv("AGENTSTREAM_TOKEN"), "bearer token (API key or JWT)")
	flag.Parse()

	var options []grpc.DialOption
	if *ca != "" || *cert != "" {
		secure, err := agentstream.WithTLS(agentstream.TLS{CAFile: *ca, CertFile: *cert, KeyFile: *key})
		if err != nil {
			log.Fatal(err)
		}
		options = append(options, secure)
	}
	if *token != "" {
		options = append(options, agentstream.WithToken(*token))
	}
	client, err := agentstream.Dial(*target, options...)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	run := client.Run(ctx, &pb.StreamPromptRequest{Prompt: *prompt},
		agentstream.Tool("weather", "Current weather of a city", weather))
	for event, err := range run.Events() {
		if err != nil {
			// status.Code reads the run's status, e.g. Unauthenticated for a refused token.
			log.Fatalf("run failed: %s: %v", status.Code(err), err)
		}
		switch e := event.GetEvent().(type) {
		case *pb.StreamPromptResponse_TextDelta:
			fmt.Print(e.TextDelta.GetText())
		case *pb.StreamPromptResponse_ToolCall:
			fmt.Printf("[turn %d] calling %s %s\n", event.GetTurn(), e.ToolCall.GetName(), e.ToolCall.GetArguments())
		case *pb.StreamPromptResponse_ToolResult:
			fmt.Printf("[turn %d] %s returned %q\n", event.GetTurn(), e.ToolResult.GetName(), e.ToolResult.GetContent())
		case *pb.StreamPromptResponse_FinalResponse:
			fmt.Printf("\n[done in %d turn(s), %d tokens]\n", e.FinalResponse.GetTurns(), e.FinalResponse.GetUsage().GetTotalTokens())
		}
	}
}
