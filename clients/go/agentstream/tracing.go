package agentstream

import "context"

// Tracer lets the helper join a distributed trace without depending on a
// tracing library. The module github.com/agentstream/agentstream/clients/go/otel
// implements it with OpenTelemetry; without one (the default) nothing is traced.
type Tracer interface {
	// Outgoing returns ctx with the current trace context added to its outgoing
	// gRPC metadata, so the server's run joins the caller's trace.
	Outgoing(ctx context.Context) context.Context
	// StartTool starts the span of one client tool call as a child of the server
	// span whose W3C context (traceparent, tracestate) the hooks event carried.
	// The tool runs with the returned context; end is called with its error.
	StartTool(ctx context.Context, tool, callID string, traceContext map[string]string) (_ context.Context, end func(error))
}

// WithTracer traces the run's calls and client tools with t.
func WithTracer(t Tracer) Option {
	return func(c *runConfig) { c.tracer = t }
}

func (r *Run) outgoing(ctx context.Context) context.Context {
	if r.cfg.tracer == nil {
		return ctx
	}
	return r.cfg.tracer.Outgoing(ctx)
}
