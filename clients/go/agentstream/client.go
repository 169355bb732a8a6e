// Package agentstream is a small helper over the generated AgentService client:
// run a prompt, range over its events, and serve client tools with Go functions.
//
//	type Weather struct {
//		City string `json:"city" jsonschema:"description=City name"`
//	}
//	client, err := agentstream.Dial("localhost:50051")
//	run := client.Run(ctx, &pb.StreamPromptRequest{Prompt: "Weather in Oslo?"},
//		agentstream.Tool("weather", "Current weather of a city",
//			func(ctx context.Context, args Weather) (string, error) {
//				return args.City + ": sunny", nil
//			}))
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
	// err is why an option cannot be used (a typed tool's Args with no schema);
	// the run fails with it before it starts.
	err error
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
// e.g. when the caller cancelled). status.Code(err) reads its code, and
// errors.Is(err, context.Canceled) holds when the caller's context ended it.
type RunError struct {
	Code    codes.Code
	Message string
	Event   *pb.RunError
	// Hooks is how the helper's hooks stream failed, when it did (e.g. the
	// server refused the attach), which often explains the run's failure.
	Hooks error
	// cause is the caller's context error when that context ended the call.
	cause error
}

// GRPCStatus lets status.Code(err) and status.FromError read the run's status.
func (e *RunError) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

func (e *RunError) Error() string {
	if e.Event != nil {
		return fmt.Sprintf("agentstream: %s (%s): %s", e.Event.GetCode(), e.Code, e.Event.GetMessage())
	}
	return fmt.Sprintf("agentstream: %s: %s", e.Code, e.Message)
}

// Unwrap returns the caller's context error when the context ended the call.
func (e *RunError) Unwrap() error { return e.cause }

// ErrorCode is the code of the run's error event; ERROR_CODE_UNSPECIFIED without one.
func (e *RunError) ErrorCode() pb.ErrorCode { return e.Event.GetCode() }

// History is the conversation so far (empty without an error event).
func (e *RunError) History() []*pb.Message { return e.Event.GetHistory() }

// Run is one StreamPrompt call (see clients/README.md for the contract every
// helper follows). Range over Events; Final reads the rest and tells how it ended.
type Run struct {
	// ID is the run's id: the request's, or one the helper chose for it.
	ID string

	ctx    context.Context
	cancel context.CancelFunc
	client *Client
	req    *pb.StreamPromptRequest
	cfg    runConfig

	stream     pb.AgentService_StreamPromptClient
	runErr     *pb.RunError
	final      *pb.FinalResponse
	err        error
	done       bool
	errYielded bool

	hooksMu  sync.Mutex
	hooksErr error
	// Closed when the hooks stream ended (nil without one).
	hooksDone chan struct{}
	sendHooks func(*pb.HookReply) error
	// started is set when the call is made; before, Cancel only records its reason.
	started              bool
	cancelledBeforeStart *string
	// ended is set once the run is over (its last event or run_ended seen): Cancel is
	// then a no-op, so it cannot cut off the last events still on their way.
	ended bool
}

// hooksDrainTimeout bounds how long a finished run waits for its hooks stream's
// last events (they are delivered to the HookFunc before Events returns).
const hooksDrainTimeout = 500 * time.Millisecond

// Run starts nothing yet: the call is made when Events is ranged over (or Final
// is called). Cancelling ctx disconnects; Cancel cancels the run on the server.
func (c *Client) Run(ctx context.Context, req *pb.StreamPromptRequest, opts ...Option) *Run {
	cfg := runConfig{funcs: map[string]ToolFunc{}}
	for _, opt := range opts {
		opt(&cfg)
	}
	req = cloneRequest(req)
	if req.RunId == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		req.RunId = "go-" + hex.EncodeToString(b[:])
	}
	ctx, cancel := context.WithCancel(ctx)
	return &Run{ID: req.GetRunId(), ctx: ctx, cancel: cancel, client: c, req: req, cfg: cfg}
}

// Cancel cancels the run on the server (through CancelRun, or the hooks stream
// while the run is not registered yet): it ends with ERROR_CODE_CANCELLED, its
// history, and status CANCELLED. Before the run started no call is made and it
// ends cancelled at once; after it ended nothing happens.
func (r *Run) Cancel(reason string) {
	r.hooksMu.Lock()
	if !r.started {
		r.cancelledBeforeStart = &reason
		r.hooksMu.Unlock()
		return
	}
	send, ended := r.sendHooks, r.ended
	r.hooksMu.Unlock()
	if ended {
		return
	}
	// The run's context may be what is being given up; keep its values, not its end.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), cancelRunTimeout)
	_, err := r.client.Service.CancelRun(ctx, &pb.CancelRunRequest{RunId: r.ID, Reason: reason})
	cancel()
	if status.Code(err) != codes.NotFound {
		return
	}
	if send == nil {
		// A hooks stream attached only to carry the cancel: attaching waits for the run.
		if r.startHooks([]pb.HookEventKind{pb.HookEventKind_HOOK_EVENT_KIND_COMPLETION_CALL}, nil) != nil {
			return
		}
		r.hooksMu.Lock()
		send = r.sendHooks
		r.hooksMu.Unlock()
	}
	if send != nil {
		_ = send(Cancel(reason))
	}
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
// event with a *RunError, as Run.Events does. Consecutive deltas already logged
// arrive joined (WatchRun's coalesce): such an event covers the seqs
// FirstSeq..Seq, so resume after its Seq.
func (c *Client) Watch(ctx context.Context, runID string, afterSeq uint64) iter.Seq2[*pb.StreamPromptResponse, error] {
	return func(yield func(*pb.StreamPromptResponse, error) bool) {
		request := &pb.WatchRunRequest{RunId: runID, AfterSeq: afterSeq, Coalesce: true}
		stream, err := c.Service.WatchRun(ctx, request)
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

// Final reads the remaining events (serving client tools meanwhile) and returns
// the final response, or a *RunError when the run failed. Asked again, it
// answers the same.
func (r *Run) Final() (*pb.FinalResponse, error) {
	for !r.done {
		r.next()
	}
	r.errYielded = true
	return r.final, r.err
}

// Events streams the run's events. A failed run yields its RunError event and
// then a nil event with a *RunError. Leaving the loop early does not stop the
// run: ranging again, or Final, goes on where it stopped.
func (r *Run) Events() iter.Seq2[*pb.StreamPromptResponse, error] {
	return func(yield func(*pb.StreamPromptResponse, error) bool) {
		for {
			event, err, ok := r.next()
			if !ok || !yield(event, err) {
				return
			}
		}
	}
}

// next reads one event; at the end it gives the run's error once, then ok=false.
func (r *Run) next() (event *pb.StreamPromptResponse, err error, ok bool) {
	if r.done {
		if r.err != nil && !r.errYielded {
			r.errYielded = true
			return nil, r.err, true
		}
		return nil, nil, false
	}
	if r.stream == nil {
		if err := r.start(); err != nil {
			r.finish(err)
			return r.next()
		}
	}
	event, err = r.stream.Recv()
	if err == io.EOF {
		if r.final == nil {
			err = &RunError{Code: codes.Unknown, Message: "the stream ended without a final response", Event: r.runErr}
		} else {
			err = nil
		}
		r.finish(err)
		return r.next()
	}
	if err != nil {
		r.finish(r.statusError(err))
		return r.next()
	}
	switch e := event.GetEvent().(type) {
	case *pb.StreamPromptResponse_FinalResponse:
		r.final = e.FinalResponse
		r.markEnded()
	case *pb.StreamPromptResponse_Error:
		r.runErr = e.Error
		r.markEnded()
	}
	return event, nil, true
}

func (r *Run) start() error {
	r.hooksMu.Lock()
	r.started = true
	reason := r.cancelledBeforeStart
	r.hooksMu.Unlock()
	if reason != nil {
		message := *reason
		if message == "" {
			message = "cancelled before the run started"
		}
		event := &pb.RunError{Code: pb.ErrorCode_ERROR_CODE_CANCELLED, Message: message}
		return &RunError{Code: codes.Canceled, Message: message, Event: event}
	}
	if r.cfg.err != nil {
		return r.cfg.err
	}
	req := r.req
	if len(r.cfg.funcs) > 0 || r.cfg.useHooks {
		req = r.prepareHooks()
		if err := r.startHooks(subscribedKinds(r.cfg.events, r.cfg.blocking, r.cfg.hook != nil), r.cfg.blocking); err != nil {
			return err
		}
	}
	stream, err := r.client.Service.StreamPrompt(r.outgoing(r.ctx), req)
	if err != nil {
		return r.statusError(err)
	}
	r.stream = stream
	return nil
}

// finish records how the run ended, lets the hooks stream drain briefly, and
// releases the call.
func (r *Run) finish(err error) {
	r.done = true
	r.err = err
	r.markEnded()
	r.hooksMu.Lock()
	hooksDone := r.hooksDone
	r.hooksMu.Unlock()
	if hooksDone != nil {
		select {
		case <-hooksDone:
		case <-time.After(hooksDrainTimeout):
		}
	}
	r.cancel()
	var re *RunError
	if errors.As(err, &re) {
		r.hooksMu.Lock()
		re.Hooks = r.hooksErr
		r.hooksMu.Unlock()
	}
}

// statusError turns a call's error into a *RunError carrying the run's error event.
func statusError(err error, event *pb.RunError) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &RunError{Code: st.Code(), Message: st.Message(), Event: event}
}

func (r *Run) statusError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	re := &RunError{Code: st.Code(), Message: st.Message(), Event: r.runErr}
	if ctxErr := r.ctx.Err(); ctxErr != nil && r.runErr == nil {
		re.cause = ctxErr
	}
	return re
}

func (r *Run) prepareHooks() *pb.StreamPromptRequest {
	req := cloneRequest(r.req)
	req.Tools = append(req.Tools, r.cfg.tools...)
	if req.Hooks == nil {
		req.Hooks = &pb.HooksOptions{}
	}
	req.Hooks.WaitForClient = true
	return req
}

// subscribedKinds is what a hooks stream asks for: the kinds listed (blocking
// ones included), every kind for a HookFunc that listed none, and otherwise only
// tool calls, so that a stream opened for client tools or Cancel is not sent
// every text delta too.
func subscribedKinds(events, blocking []pb.HookEventKind, hasFunc bool) []pb.HookEventKind {
	if len(events) == 0 && hasFunc {
		return nil // none means all
	}
	base := events
	if len(events) == 0 {
		base = []pb.HookEventKind{pb.HookEventKind_HOOK_EVENT_KIND_TOOL_CALL}
	}
	kinds := make([]pb.HookEventKind, 0, len(base)+len(blocking))
	seen := map[pb.HookEventKind]bool{}
	for _, k := range append(append([]pb.HookEventKind{}, base...), blocking...) {
		if !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// startHooks attaches to the run (before or after StreamPrompt starts it) and
// serves its hook events in the background until the run ends.
func (r *Run) startHooks(events, blocking []pb.HookEventKind) error {
	stream, err := r.client.Service.Hooks(r.outgoing(r.ctx))
	if err != nil {
		return r.statusError(err)
	}
	attach := &pb.HookAttach{RunId: r.ID, Events: events, Blocking: blocking}
	if err := stream.Send(&pb.HooksRequest{Request: &pb.HooksRequest_Attach{Attach: attach}}); err != nil {
		if err == io.EOF { // the server ended the stream (e.g. UNAUTHENTICATED): Recv has why
			_, err = stream.Recv()
		}
		return r.statusError(err)
	}
	var sendMu sync.Mutex
	sendErr := func(reply *pb.HookReply) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(&pb.HooksRequest{Request: &pb.HooksRequest_Reply{Reply: reply}})
	}
	send := func(reply *pb.HookReply) { _ = sendErr(reply) }
	done := make(chan struct{})
	r.hooksMu.Lock()
	r.sendHooks = sendErr
	r.hooksDone = done
	r.hooksMu.Unlock()
	go func() {
		defer close(done)
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
