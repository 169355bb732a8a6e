package agentstream

import (
	"context"

	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
)

type progressKey struct{}

type progressFunc func(message string, fraction *float64)

// ReportProgress tells the caller how far the client tool running under ctx
// has got: a message and, when known, one fraction between 0 and 1. Each report
// becomes a tool_progress event of the run; the server rate-limits them per
// call. Outside a client tool it does nothing.
func ReportProgress(ctx context.Context, message string, fraction ...float64) {
	report, _ := ctx.Value(progressKey{}).(progressFunc)
	if report == nil {
		return
	}
	var f *float64
	if len(fraction) > 0 {
		f = &fraction[0]
	}
	report(message, f)
}

// withProgress gives the tool answering eventID a way to report its progress
// through the hooks stream, ahead of its output.
func withProgress(ctx context.Context, eventID string, send func(*pb.HookReply)) context.Context {
	report := progressFunc(func(message string, fraction *float64) {
		progress := &pb.HookProgress{Message: message, Fraction: fraction}
		send(&pb.HookReply{EventId: eventID, Action: &pb.HookReply_ToolProgress{ToolProgress: progress}})
	})
	return context.WithValue(ctx, progressKey{}, report)
}
