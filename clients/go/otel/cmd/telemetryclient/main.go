// Command telemetryclient is the Go side of the telemetry tests: under a span of
// its own it runs a prompt whose model calls a client tool served here, then
// prints every span it recorded as one JSON line each, and "final: <text>".
//
//	telemetryclient -addr HOST:PORT -agent NAME -script JSON
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"

	"github.com/agentstream/agentstream/clients/go/agentstream"
	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	agentstreamotel "github.com/agentstream/agentstream/clients/go/otel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/types/known/structpb"
)

func main() {
	addr := flag.String("addr", "localhost:50051", "server address")
	agent := flag.String("agent", "", "agent name")
	script := flag.String("script", "[]", "offline model script (JSON)")
	flag.Parse()

	exporter := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	var turns []any
	if err := json.Unmarshal([]byte(*script), &turns); err != nil {
		log.Fatal(err)
	}
	extra, err := structpb.NewStruct(map[string]any{"script": turns})
	if err != nil {
		log.Fatal(err)
	}
	client, err := agentstream.Dial(*addr)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	lookup := &pb.ToolDefinition{Name: "lookup_order", Description: "Where an order is"}
	ctx, root := otel.Tracer("backend").Start(context.Background(), "handle order question")
	final, err := client.Prompt(ctx,
		&pb.StreamPromptRequest{Agent: *agent, Prompt: "Where is order A-7?", ExtraParams: extra},
		agentstream.WithTracer(agentstreamotel.Tracer()),
		agentstream.WithTool(lookup, func(ctx context.Context, arguments string) (string, error) {
			return "order A-7 is in the Lyon depot", nil
		}))
	root.End()
	if err != nil {
		log.Fatal(err)
	}
	for _, span := range exporter.GetSpans() {
		attributes := map[string]any{}
		for _, kv := range span.Attributes {
			attributes[string(kv.Key)] = kv.Value.AsInterface()
		}
		var parent any
		if span.Parent.IsValid() {
			parent = span.Parent.SpanID().String()
		}
		line, _ := json.Marshal(map[string]any{
			"name":       span.Name,
			"trace_id":   span.SpanContext.TraceID().String(),
			"span_id":    span.SpanContext.SpanID().String(),
			"parent_id":  parent,
			"attributes": attributes,
		})
		fmt.Println(string(line))
	}
	fmt.Printf("final: %s\n", final.GetText())
}
