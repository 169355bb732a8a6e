// Package agentstream is a small helper over the generated AgentService client:
// run a prompt, range over its events, and serve client tools with Go functions.
//
//	client, err := agentstream.Dial("localhost:50051")
//	run := client.Run(ctx, &pb.StreamPromptRequest{Prompt: "What is 6 * 7?"},
//		agentstream.WithTool(weatherDef, func(ctx context.Context, args string) (string, error) {
//			return "sunny", nil
//		}))
//	for event, err := range run.Events() { ... }
//	final, err := run.Final()
//
// The generated types and stubs are in package
// github.com/agentstream/agentstream/clients/go/gen/agentstream/v1.
package agentstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"time"

	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Client talks to one agentstream server.
type Client struct {
	conn *grpc.ClientConn
	// Service is the generated stub, for calls the helper does not wrap.
	Service pb.AgentServiceClient
}

// MaxMessageBytes is the largest message the helper sends or accepts: gRPC's
// default receive limit is 4 MiB, and a run's last event carries its whole
// history, which the server allows up to its max_response_bytes (16 MiB by default).
const MaxMessageBytes = 16 << 20

// Dial connects to target ("host:port"). The connection is plaintext, as for a
// server on localhost, unless an option sets transport credentials (WithTLS);
// options such as WithToken add to that default. Message size limits are raised
// to MaxMessageBytes. Options given later override earlier ones.
func Dial(target string, opts ...grpc.DialOption) (*Client, error) {
	plaintext := grpc.WithTransportCredentials(insecure.NewCredentials())
	sizes := grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))
	conn, err := grpc.NewClient(target, append([]grpc.DialOption{plaintext, sizes}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, Service: pb.NewAgentServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// ListAgents lists the configured agents.
func (c *Client) ListAgents(ctx context.Context) ([]*pb.AgentInfo, error) {
	resp, err := c.Service.ListAgents(ctx, &pb.ListAgentsRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetAgents(), nil
}

// ToolFunc executes a client tool: it gets the call's arguments (a JSON object,
// serialized) and returns the tool's output. A returned error becomes an
// is_error result whose content is the error's message, which the model sees.
// ReportProgress(ctx, ...) reports the tool's progress while it runs.
type ToolFunc func(ctx context.Context, arguments string) (string, error)

// HookFunc observes a hook event of the run. For an event that expects a reply
// (a kind listed as blocking), its return value is the reply's action: nil
// means proceed. For other events the return value is ignored.
type HookFunc func(ctx context.Context, event *pb.HookEvent) *pb.HookReply

// Option configures a Run.
type Option func(*runConfig)

type runConfig struct {
	tools    []*pb.ToolDefinition
	funcs    map[string]ToolFunc
	hook     HookFunc
	useHooks bool
	events   []pb.HookEventKind
	blocking []pb.HookEventKind
	tracer   Tracer
}

// WithTool declares a client tool and the function that executes it. The
// definition is added to the request's tools; the run then waits for the
// helper's hooks stream, which answers the tool's calls. Calls of one turn run
// concurrently.
func WithTool(definition *pb.ToolDefinition, fn ToolFunc) Option {
	return func(c *runConfig) {
		c.tools = append(c.tools, definition)
		c.funcs[definition.GetName()] = fn
	}
}

// WithHooks attaches fn to the run's hook events: events lists the kinds to
// receive (none means all) and blocking the kinds the loop waits on until fn
// answers. The run waits for the hooks stream before its first model call.
// fn may be nil: the stream then only lets Cancel reach the server.
func WithHooks(fn HookFunc, events []pb.HookEventKind, blocking ...pb.HookEventKind) Option {
	return func(c *runConfig) {
		c.hook = fn
		c.useHooks = true
		c.events = events
		c.blocking = blocking
	}
}

// Proceed, Cancel and Skip build hook replies for a HookFunc.
func Proceed() *pb.HookReply {
	return &pb.HookReply{Action: &pb.HookReply_Proceed{Proceed: &pb.HookProceed{}}}
}

// Cancel ends the run with ERROR_CODE_CANCELLED.
func Cancel(reason string) *pb.HookReply {
	return &pb.HookReply{Action: &pb.HookReply_Cancel{Cancel: &pb.HookCancel{Reason: reason}}}
}

// Skip answers a tool call without running it; the model gets reason as its result.
func Skip(reason string) *pb.HookReply {
	return &pb.HookReply{Action: &pb.HookReply_Skip{Skip: &pb.HookSkip{Reason: reason}}}
}

// RunError is how a run failed: the gRPC status, and the run's RunError event
// when the server sent one (nil when the call failed before or without it,
// e.g. when the caller cancelled).
type RunError struct {
	Code    codes.Code
	Message string
	Event   *pb.RunError
	// Hooks is how the helper's hooks stream failed, when it did (e.g. the
	// server refused the attach), which often explains the run's failure.
	Hooks error
}

// GRPCStatus lets status.Code(err) and status.FromError read the run's status.
func (e *RunError) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

func (e *RunError) Error() string {
	if e.Event != nil {
		return fmt.Sprintf("agentstream: %s (%s): %s", e.Event.GetCode(), e.Code, e.Event.GetMessage())
	}
	return fmt.Sprintf("agentstream: %s: %s", e.Code, e.Message)
}

// Run is one StreamPrompt call. Range over Events once; Final tells how it ended.
type Run struct {
	// ID is the run's id (chosen by the helper when the request had none and
	// hooks or client tools are used; otherwise read from the first event).
	ID string

	ctx    context.Context
	cancel context.CancelFunc
	client *Client
	req    *pb.StreamPromptRequest
	cfg    runConfig

	final    *pb.FinalResponse
	err      error
	done     bool
	hooksMu  sync.Mutex
	hooksErr error
	// Closed when the hooks stream ended (nil without one).
	hooksDone chan struct{}
	sendHooks func(*pb.HookReply) error
	// ended is set once the run is over (its last event or run_ended seen): Cancel is
	// then a no-op, so it cannot cut off the last events still on their way.
	ended bool
}

// hooksDrainTimeout bounds how long a finished run waits for its hooks stream's
// last events (they are delivered to the HookFunc before Events returns).
const hooksDrainTimeout = 2 * time.Second

// Run starts nothing yet: the call is made when Events is ranged over (or Final
// is called). Cancel the context, or call Cancel, to disconnect.
func (c *Client) Run(ctx context.Context, req *pb.StreamPromptRequest, opts ...Option) *Run {
	cfg := runConfig{funcs: map[string]ToolFunc{}}
	for _, opt := range opts {
		opt(&cfg)
	}
	ctx, cancel := context.WithCancel(ctx)
	return &Run{ID: req.GetRunId(), ctx: ctx, cancel: cancel, client: c, req: req, cfg: cfg}
}

// Cancel cancels the run on the server with CancelRun, whichever replica answers:
// it ends with ERROR_CODE_CANCELLED, its history, and status CANCELLED. When the
// server does not know the run yet (or has no CancelRun), it cancels through the
// hooks stream if one is open, and otherwise disconnects (see Disconnect).
func (r *Run) Cancel(reason string) {
	r.hooksMu.Lock()
	send, ended := r.sendHooks, r.ended
	r.hooksMu.Unlock()
	if ended {
		return
	}
	if r.ID != "" {
		// The run's context may be what is being given up; keep its values, not its end.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), cancelRunTimeout)
		_, err := r.client.Service.CancelRun(ctx, &pb.CancelRunRequest{RunId: r.ID, Reason: reason})
		cancel()
		if err == nil {
			return
		}
	}
	if send != nil && send(Cancel(reason)) == nil {
		return
	}
	r.cancel()
}

// Disconnect drops the call, as cancelling the context does: a run started with
// Detach goes on (Client.Watch resumes it); the server cancels any other run.
// Events then ends with codes.Canceled.
func (r *Run) Disconnect() { r.cancel() }

// cancelRunTimeout bounds the CancelRun call of Cancel.
const cancelRunTimeout = 10 * time.Second

// Watch streams a run's events with seq > afterSeq from the server's log, then
// live until its last event, each exactly once: resume a run with the seq of the
// last event you saw. A failed run yields its RunError event and then a nil
// event with a *RunError, as Run.Events does.
func (c *Client) Watch(ctx context.Context, runID string, afterSeq uint64) iter.Seq2[*pb.StreamPromptResponse, error] {
	return func(yield func(*pb.StreamPromptResponse, error) bool) {
		stream, err := c.Service.WatchRun(ctx, &pb.WatchRunRequest{RunId: runID, AfterSeq: afterSeq})
		if err != nil {
			yield(nil, statusError(err, nil))
			return
		}
		var runErr *pb.RunError
		for {
			event, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, statusError(err, runErr))
				return
			}
			if e, ok := event.GetEvent().(*pb.StreamPromptResponse_Error); ok {
				runErr = e.Error
			}
			if !yield(event, nil) {
				return
			}
		}
	}
}

func (r *Run) markEnded() {
	r.hooksMu.Lock()
	r.ended = true
	r.hooksMu.Unlock()
}

// Final drains the remaining events and returns the final response, or a
// *RunError (or a transport error) when the run failed.
func (r *Run) Final() (*pb.FinalResponse, error) {
	if !r.done {
		for range r.Events() { //nolint:revive // draining
		}
	}
	return r.final, r.err
}

// Events streams the run's events. A failed run yields its RunError event and
// then a nil event with a *RunError.
func (r *Run) Events() iter.Seq2[*pb.StreamPromptResponse, error] {
	return func(yield func(*pb.StreamPromptResponse, error) bool) {
		if r.done {
			return
		}
		defer func() {
			r.done = true
			if r.hooksDone != nil {
				select {
				case <-r.hooksDone:
				case <-time.After(hooksDrainTimeout):
				}
			}
			r.cancel()
		}()
		req := r.req
		if len(r.cfg.funcs) > 0 || r.cfg.useHooks {
			req = r.prepareHooks()
			if err := r.startHooks(); err != nil {
				r.err = err
				yield(nil, err)
				return
			}
		}
		stream, err := r.client.Service.StreamPrompt(r.outgoing(r.ctx), req)
		if err != nil {
			r.err = statusError(err, nil)
			yield(nil, r.err)
			return
		}
		var runErr *pb.RunError
		for {
			event, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				r.err = statusError(err, runErr)
				var re *RunError
				if errors.As(r.err, &re) {
					r.hooksMu.Lock()
					re.Hooks = r.hooksErr
					r.hooksMu.Unlock()
				}
				yield(nil, r.err)
				return
			}
			if r.ID == "" {
				r.ID = event.GetRunId()
			}
			switch e := event.GetEvent().(type) {
			case *pb.StreamPromptResponse_FinalResponse:
				r.final = e.FinalResponse
				r.markEnded()
			case *pb.StreamPromptResponse_Error:
				runErr = e.Error
				r.markEnded()
			}
			if !yield(event, nil) {
				r.err = context.Canceled
				return
			}
		}
	}
}

func statusError(err error, event *pb.RunError) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &RunError{Code: st.Code(), Message: st.Message(), Event: event}
}

func (r *Run) prepareHooks() *pb.StreamPromptRequest {
	req := cloneRequest(r.req)
	if req.RunId == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		req.RunId = "go-" + hex.EncodeToString(b[:])
	}
	r.ID = req.RunId
	req.Tools = append(req.Tools, r.cfg.tools...)
	if req.Hooks == nil {
		req.Hooks = &pb.HooksOptions{}
	}
	req.Hooks.WaitForClient = true
	return req
}

// startHooks attaches to the run (before StreamPrompt starts it) and serves
// its hook events in the background until the run ends.
func (r *Run) startHooks() error {
	stream, err := r.client.Service.Hooks(r.outgoing(r.ctx))
	if err != nil {
		return statusError(err, nil)
	}
	attach := &pb.HookAttach{RunId: r.ID, Events: r.cfg.events, Blocking: r.cfg.blocking}
	if err := stream.Send(&pb.HooksRequest{Request: &pb.HooksRequest_Attach{Attach: attach}}); err != nil {
		if err == io.EOF { // the server ended the stream (e.g. UNAUTHENTICATED): Recv has why
			_, err = stream.Recv()
		}
		return statusError(err, nil)
	}
	var sendMu sync.Mutex
	sendErr := func(reply *pb.HookReply) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(&pb.HooksRequest{Request: &pb.HooksRequest_Reply{Reply: reply}})
	}
	send := func(reply *pb.HookReply) { _ = sendErr(reply) }
	r.hooksMu.Lock()
	r.sendHooks = sendErr
	r.hooksMu.Unlock()
	r.hooksDone = make(chan struct{})
	go func() {
		defer close(r.hooksDone)
		for {
			msg, err := stream.Recv()
			if err != nil {
				if err != io.EOF && status.Code(err) != codes.Canceled {
					r.hooksMu.Lock()
					r.hooksErr = err
					r.hooksMu.Unlock()
				}
				return
			}
			switch m := msg.GetResponse().(type) {
			case *pb.HooksResponse_RunEnded:
				r.hooksMu.Lock()
				r.sendHooks = nil
				r.ended = true
				r.hooksMu.Unlock()
				sendMu.Lock()
				_ = stream.CloseSend()
				sendMu.Unlock()
				return
			case *pb.HooksResponse_Event:
				r.handleHookEvent(m.Event, send)
			}
		}
	}()
	return nil
}

func (r *Run) handleHookEvent(event *pb.HookEvent, send func(*pb.HookReply)) {
	if call := event.GetToolCall(); call != nil && call.GetExecute() {
		go func() {
			output := r.executeTool(event, call, send)
			send(&pb.HookReply{EventId: event.GetEventId(), Action: &pb.HookReply_ToolOutput{ToolOutput: output}})
		}()
		return
	}
	var reply *pb.HookReply
	if r.cfg.hook != nil {
		reply = r.cfg.hook(r.ctx, event)
	}
	if !event.GetReplyExpected() {
		return
	}
	if reply == nil {
		reply = Proceed()
	}
	reply.EventId = event.GetEventId()
	send(reply)
}

// executeTool runs a client tool call, in its span when the run has a Tracer.
func (r *Run) executeTool(event *pb.HookEvent, call *pb.HookToolCall, send func(*pb.HookReply)) *pb.HookToolOutput {
	fn := r.cfg.funcs[call.GetName()]
	if fn == nil {
		return &pb.HookToolOutput{Content: fmt.Sprintf("no client tool named %q", call.GetName()), IsError: true}
	}
	ctx := withProgress(r.ctx, event.GetEventId(), send)
	end := func(error) {}
	if r.cfg.tracer != nil {
		ctx, end = r.cfg.tracer.StartTool(ctx, call.GetName(), call.GetCallId(), event.GetTraceContext())
	}
	content, err := runTool(ctx, fn, call.GetArguments())
	end(err)
	if err != nil {
		return &pb.HookToolOutput{Content: err.Error(), IsError: true}
	}
	return &pb.HookToolOutput{Content: content}
}

func runTool(ctx context.Context, fn ToolFunc, arguments string) (content string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return fn(ctx, arguments)
}

func cloneRequest(req *pb.StreamPromptRequest) *pb.StreamPromptRequest {
	out := &pb.StreamPromptRequest{}
	if req != nil {
		out = protoClone(req)
	}
	return out
}

// ErrNoFinal is returned by Prompt when a stream ended without a final response.
var ErrNoFinal = errors.New("agentstream: stream ended without a final response")

// Prompt runs a request to its end and returns the final response.
func (c *Client) Prompt(ctx context.Context, req *pb.StreamPromptRequest, opts ...Option) (*pb.FinalResponse, error) {
	final, err := c.Run(ctx, req, opts...).Final()
	if err == nil && final == nil {
		err = ErrNoFinal
	}
	return final, err
}
