// Package agentstreamotel traces the agentstream helper with OpenTelemetry: the
// run's calls carry the current trace context, and each client tool runs in an
// "execute_tool {tool}" span that is the child of the server's execute_tool span.
// It is a module of its own, so the helper itself never depends on OpenTelemetry.
//
//	otel.SetTextMapPropagator(propagation.TraceContext{}) // once, with your tracer provider
//	run := client.Run(ctx, req, agentstream.WithTracer(agentstreamotel.Tracer()), tools...)
package agentstreamotel

import (
	"context"
	"fmt"

	"github.com/agentstream/agentstream/clients/go/agentstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
)

const instrumentationName = "agentstream.client"

// Tracer uses the global tracer provider and text map propagator.
func Tracer() agentstream.Tracer { return tracer{} }

type tracer struct{}

func (tracer) Outgoing(ctx context.Context) context.Context {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	for key, value := range carrier {
		ctx = metadata.AppendToOutgoingContext(ctx, key, value)
	}
	return ctx
}

func (tracer) StartTool(ctx context.Context, tool, callID string, traceContext map[string]string) (context.Context, func(error)) {
	if len(traceContext) > 0 {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(traceContext))
	}
	ctx, span := otel.Tracer(instrumentationName).Start(ctx, "execute_tool "+tool,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", tool),
			attribute.String("gen_ai.tool.call.id", callID),
			attribute.String("gen_ai.tool.type", "function"),
			attribute.String("agentstream.tool.side", "client"),
		))
	return ctx, func(err error) {
		if err != nil {
			span.SetAttributes(attribute.String("error.type", fmt.Sprintf("%T", err)))
			span.SetStatus(codes.Error, "tool_error")
		}
		span.End()
	}
}
