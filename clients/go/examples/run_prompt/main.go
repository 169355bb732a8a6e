// Command run_prompt asks the default agent of a running server (`make run`)
// a question, serves a client tool ("weather") with a Go function, and prints
// the run's events as they stream.
//
//	cd clients/go && go run ./examples/run_prompt -target localhost:50051
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/agentstream/agentstream/clients/go/agentstream"
	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

func main() {
	target := flag.String("target", "localhost:50051", "agentstream server")
	prompt := flag.String("prompt", "What is the weather in Oslo, and what is 6 * 7?", "the question")
	flag.Parse()

	client, err := agentstream.Dial(*target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	params, _ := structpb.NewStruct(map[string]any{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string", "examples": []any{"Oslo"}}},
		"required":   []any{"city"},
	})
	weather := &pb.ToolDefinition{Name: "weather", Description: "Current weather of a city", Parameters: params}

	run := client.Run(ctx, &pb.StreamPromptRequest{Prompt: *prompt},
		agentstream.WithTool(weather, func(ctx context.Context, arguments string) (string, error) {
			var args struct{ City string }
			if err := json.Unmarshal([]byte(arguments), &args); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: 3°C and cloudy", args.City), nil
		}))
	for event, err := range run.Events() {
		if err != nil {
			log.Fatal(err)
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
