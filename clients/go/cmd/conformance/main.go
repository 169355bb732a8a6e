// Command conformance runs tests/conformance/scenarios.json against a server
// with the Go helper (package agentstream) and prints one PASS/FAIL line per
// scenario, then "N passed, N failed". It exits 1 when a scenario failed.
//
//	go run ./cmd/conformance -target 127.0.0.1:50051 -scenarios ../../tests/conformance/scenarios.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentstream/agentstream/clients/go/agentstream"
	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type scenarioFile struct {
	Scenarios []scenario `json:"scenarios"`
}

type scenario struct {
	Name  string `json:"name"`
	Steps []step `json:"steps"`
}

type step struct {
	Request              json.RawMessage `json:"request"`
	ContinueFromPrevious bool            `json:"continue_from_previous"`
	ClientTools          []clientTool    `json:"client_tools"`
	Hooks                *hooks          `json:"hooks"`
	DisconnectAfter      string          `json:"disconnect_after"`
	CancelAfter          *cancelAfter    `json:"cancel_after"`
	Resume               bool            `json:"resume"`
	Watch                *watchStep      `json:"watch"`
	CancelBeforeStart    *string         `json:"cancel_before_start"`
	BreakAfter           string          `json:"break_after"`
	Expect               expect          `json:"expect"`
}

// watchStep watches the previous step's run after AfterSeq instead of starting one.
type watchStep struct {
	AfterSeq uint64 `json:"after_seq"`
}

type clientTool struct {
	Definition json.RawMessage `json:"definition"`
	Answers    []answer        `json:"answers"`
	// Typed names a tool of typed.go, served with agentstream.Tool.
	Typed string `json:"typed"`
}

type answer struct {
	Label   string `json:"label"`
	When    any    `json:"when"`
	Content string `json:"content"`
	IsError bool   `json:"is_error"`
	Raise   string `json:"raise"`
	Panic   string `json:"panic"`
	DelayMs int    `json:"delay_ms"`
	// Progress the tool reports before it answers.
	Progress []progressReport `json:"progress"`
}

type progressReport struct {
	Message  string   `json:"message"`
	Fraction *float64 `json:"fraction"`
}

type hooks struct {
	Events   []string     `json:"events"`
	Blocking []string     `json:"blocking"`
	On       []hookAction `json:"on"`
}

type cancelAfter struct {
	Event  string `json:"event"`
	Reason string `json:"reason"`
}

type hookAction struct {
	Event  string `json:"event"`
	Action string `json:"action"`
	Reason string `json:"reason"`
}

type expect struct {
	Status        string   `json:"status"`
	Events        []string `json:"events"`
	Contains      []any    `json:"contains"`
	Last          any      `json:"last"`
	Absent        []string `json:"absent"`
	AnswerOrder   []string `json:"answer_order"`
	HookEvents    []string `json:"hook_events"`
	ServerHealthy bool     `json:"server_healthy"`
	Result        any      `json:"result"`
}

// statusNames are the canonical gRPC code names the scenarios use.
var statusNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

func main() {
	target := flag.String("target", "localhost:50051", "server address")
	path := flag.String("scenarios", "../../tests/conformance/scenarios.json", "scenarios file")
	only := flag.String("only", "", "run only the scenario with this name")
	flag.Parse()

	data, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var file scenarioFile
	if err := json.Unmarshal(data, &file); err != nil {
		fmt.Fprintln(os.Stderr, "bad scenarios file:", err)
		os.Exit(2)
	}
	client, err := agentstream.Dial(*target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer client.Close()

	passed, failed := 0, 0
	for _, sc := range file.Scenarios {
		if *only != "" && sc.Name != *only {
			continue
		}
		start := time.Now()
		if err := runScenario(client, sc); err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", sc.Name, err)
		} else {
			passed++
			fmt.Printf("PASS %s (%dms)\n", sc.Name, time.Since(start).Milliseconds())
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

func runScenario(client *agentstream.Client, sc scenario) error {
	var previous any
	for i, st := range sc.Steps {
		last, err := runStep(client, st, previous)
		if err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		previous = last
	}
	return nil
}

type outcome struct {
	events      []any
	kinds       []string
	status      string
	answerOrder []string
	hookEvents  []string
	result      any
}

func runStep(client *agentstream.Client, st step, previous any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st.Watch != nil {
		return watchPrevious(ctx, client, st, previous)
	}

	req := &pb.StreamPromptRequest{}
	if err := protojson.Unmarshal(st.Request, req); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	if st.ContinueFromPrevious {
		history, err := historyOf(previous)
		if err != nil {
			return nil, err
		}
		req.History = history
	}

	out := &outcome{}
	var mu sync.Mutex
	var opts []agentstream.Option
	for _, tool := range st.ClientTools {
		def := &pb.ToolDefinition{}
		if err := protojson.Unmarshal(tool.Definition, def); err != nil {
			return nil, fmt.Errorf("bad tool definition: %w", err)
		}
		answers := tool.Answers
		play := func(ctx context.Context, args any) (string, error) {
			for _, a := range answers {
				if a.When != nil && match(a.When, args, "") != nil {
					continue
				}
				time.Sleep(time.Duration(a.DelayMs) * time.Millisecond)
				for _, p := range a.Progress {
					if p.Fraction != nil {
						agentstream.ReportProgress(ctx, p.Message, *p.Fraction)
					} else {
						agentstream.ReportProgress(ctx, p.Message)
					}
				}
				mu.Lock()
				out.answerOrder = append(out.answerOrder, a.Label)
				mu.Unlock()
				if a.Raise != "" {
					return "", errors.New(a.Raise)
				}
				if a.Panic != "" {
					panic(a.Panic)
				}
				if a.IsError {
					return "", errors.New(a.Content)
				}
				return a.Content, nil
			}
			return "", fmt.Errorf("no scripted answer for %v", args)
		}
		if tool.Typed != "" {
			option, err := typedTool(tool.Typed, tool.Definition, play)
			if err != nil {
				return nil, err
			}
			opts = append(opts, option)
			continue
		}
		opts = append(opts, agentstream.WithTool(def, func(ctx context.Context, arguments string) (string, error) {
			var args any
			if err := json.Unmarshal([]byte(arguments), &args); err != nil {
				return "", fmt.Errorf("arguments are not JSON: %w", err)
			}
			return play(ctx, args)
		}))
	}
	if st.Hooks != nil {
		events, err := hookKinds(st.Hooks.Events)
		if err != nil {
			return nil, err
		}
		blocking, err := hookKinds(st.Hooks.Blocking)
		if err != nil {
			return nil, err
		}
		actions := st.Hooks.On
		opts = append(opts, agentstream.WithHooks(func(ctx context.Context, event *pb.HookEvent) *pb.HookReply {
			kind := oneofName(event, "event")
			mu.Lock()
			out.hookEvents = append(out.hookEvents, kind)
			mu.Unlock()
			for _, a := range actions {
				if a.Event != kind {
					continue
				}
				switch a.Action {
				case "cancel":
					return agentstream.Cancel(a.Reason)
				case "skip":
					return agentstream.Skip(a.Reason)
				}
				return agentstream.Proceed()
			}
			return nil
		}, events, blocking...))
	}

	runCtx, disconnect := context.WithCancel(ctx)
	defer disconnect()
	run := client.Run(runCtx, req, opts...)
	if st.CancelBeforeStart != nil {
		run.Cancel(*st.CancelBeforeStart)
	}
	cancelled := false
	disconnected := false
	for event, err := range run.Events() {
		if err != nil {
			break
		}
		kind := oneofName(event, "event")
		value, err := toJSON(event)
		if err != nil {
			return nil, err
		}
		out.kinds = append(out.kinds, kind)
		out.events = append(out.events, value)
		if st.DisconnectAfter != "" && kind == st.DisconnectAfter {
			disconnected = true
			disconnect()
			break
		}
		if st.CancelAfter != nil && kind == st.CancelAfter.Event && !cancelled {
			cancelled = true
			run.Cancel(st.CancelAfter.Reason)
		}
		if kind == st.BreakAfter {
			break
		}
	}
	first, err := result(run, out)
	if err != nil {
		return nil, err
	}
	again, err := result(run, &outcome{})
	if err != nil {
		return nil, err
	}
	if first != again {
		return nil, fmt.Errorf("Final() answered %s, then %s", first, again)
	}
	if disconnected {
		if _, err := run.Final(); !errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("after a disconnect, errors.Is(err, context.Canceled) is false for %v", err)
		}
	}
	if st.Resume {
		if out.status, err = resume(ctx, client, run.ID, out); err != nil {
			return nil, err
		}
	}
	if err := check(client, st.Expect, out, 0); err != nil {
		return nil, err
	}
	if len(out.events) == 0 {
		return nil, nil
	}
	return out.events[len(out.events)-1], nil
}

// watchPrevious watches the previous step's (ended) run after st.Watch.AfterSeq: a replay.
func watchPrevious(ctx context.Context, client *agentstream.Client, st step, previous any) (any, error) {
	last, _ := previous.(map[string]any)
	runID, _ := last["runId"].(string)
	if runID == "" {
		return nil, fmt.Errorf("a watch step needs a previous step's run")
	}
	out := &outcome{}
	var err error
	if out.status, err = watchInto(ctx, client, runID, st.Watch.AfterSeq, out); err != nil {
		return nil, err
	}
	if err := check(client, st.Expect, out, st.Watch.AfterSeq); err != nil {
		return nil, err
	}
	if len(out.events) == 0 {
		return previous, nil
	}
	return out.events[len(out.events)-1], nil
}

// statusOf names the status a run or watch ended with.
func statusOf(err error) (string, error) {
	if err == nil {
		return "OK", nil
	}
	var re *agentstream.RunError
	if !errors.As(err, &re) {
		return "", fmt.Errorf("run failed without a status: %v", err)
	}
	return statusNames[re.Code], nil
}

// resume watches the run from the last event recorded and records the rest.
func resume(ctx context.Context, client *agentstream.Client, runID string, out *outcome) (string, error) {
	var after uint64
	if n := len(out.events); n > 0 {
		seq, err := strconv.ParseUint(fmt.Sprint(out.events[n-1].(map[string]any)["seq"]), 10, 64)
		if err != nil {
			return "", fmt.Errorf("last event's seq: %v", err)
		}
		after = seq
	}
	return watchInto(ctx, client, runID, after, out)
}

// watchInto records the run's events after `after` (the helper's Watch) and
// returns the watch's status.
func watchInto(ctx context.Context, client *agentstream.Client, runID string, after uint64, out *outcome) (string, error) {
	var watchErr error
	for event, err := range client.Watch(ctx, runID, after) {
		if err != nil {
			watchErr = err
			break
		}
		value, err := toJSON(event)
		if err != nil {
			return "", err
		}
		out.kinds = append(out.kinds, oneofName(event, "event"))
		out.events = append(out.events, value)
	}
	return statusOf(watchErr)
}

// result asks the run's outcome, records it, and returns its status name, read
// the way any gRPC error is read (status.Code).
func result(run *agentstream.Run, out *outcome) (string, error) {
	final, err := run.Final()
	out.status = statusNames[status.Code(err)]
	if err == nil {
		value, err := toJSON(final)
		out.result = map[string]any{"finalResponse": value}
		return out.status, err
	}
	var re *agentstream.RunError
	if !errors.As(err, &re) {
		return "", fmt.Errorf("run failed without a *RunError: %v", err)
	}
	event := any(map[string]any{})
	if re.Event != nil {
		value, err := toJSON(re.Event)
		if err != nil {
			return "", err
		}
		event = value
	}
	out.result = map[string]any{"error": event}
	return out.status, nil
}

func check(client *agentstream.Client, ex expect, out *outcome, afterSeq uint64) error {
	if ex.Status != "" && ex.Status != out.status {
		return fmt.Errorf("status %s, want %s (events %v)", out.status, ex.Status, out.kinds)
	}
	nextSeq := afterSeq + 1
	for i, ev := range out.events {
		m := ev.(map[string]any)
		// An event covers firstSeq..seq (deltas the watch joined), else just seq.
		seq, _ := strconv.ParseUint(fmt.Sprint(m["seq"]), 10, 64)
		first, _ := strconv.ParseUint(fmt.Sprint(m["firstSeq"]), 10, 64)
		if first == 0 {
			first = seq
		}
		if first != nextSeq || seq < first {
			return fmt.Errorf("event %d covers seqs %d..%d, want %d first", i+1, first, seq, nextSeq)
		}
		nextSeq = seq + 1
		if m["runId"] != out.events[0].(map[string]any)["runId"] {
			return fmt.Errorf("event %d has run_id %v, the first had %v", i+1, m["runId"], out.events[0].(map[string]any)["runId"])
		}
	}
	if ex.Events != nil {
		if err := matchKinds(ex.Events, out.kinds); err != nil {
			return err
		}
	}
	next := 0
	for _, want := range ex.Contains {
		found := false
		for next < len(out.events) {
			ev := out.events[next]
			next++
			if match(want, ev, "") == nil {
				found = true
				break
			}
		}
		if !found {
			w, _ := json.Marshal(want)
			return fmt.Errorf("no event matching %s (in order)", w)
		}
	}
	if ex.Result != nil {
		if err := match(ex.Result, out.result, "result"); err != nil {
			return err
		}
	}
	if ex.Last != nil {
		if len(out.events) == 0 {
			return errors.New("no events")
		}
		if err := match(ex.Last, out.events[len(out.events)-1], "last"); err != nil {
			return err
		}
	}
	for _, kind := range ex.Absent {
		for _, k := range out.kinds {
			if k == kind {
				return fmt.Errorf("unexpected %s event", kind)
			}
		}
	}
	if ex.AnswerOrder != nil && !reflect.DeepEqual(ex.AnswerOrder, out.answerOrder) {
		return fmt.Errorf("client tools answered in order %v, want %v", out.answerOrder, ex.AnswerOrder)
	}
	if ex.HookEvents != nil && !reflect.DeepEqual(ex.HookEvents, out.hookEvents) {
		return fmt.Errorf("hook events %v, want %v", out.hookEvents, ex.HookEvents)
	}
	if ex.ServerHealthy {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := client.ListAgents(ctx); err != nil {
			return fmt.Errorf("server unhealthy after the step: %w", err)
		}
	}
	return nil
}

// matchKinds matches event kinds against a pattern: each item is a kind, with
// an optional suffix + (one or more), * (any number) or ? (optional).
func matchKinds(pattern []string, kinds []string) error {
	var b strings.Builder
	b.WriteString("^")
	for _, item := range pattern {
		name, quant := item, ""
		if n := len(item); n > 0 && strings.ContainsAny(item[n-1:], "+*?") {
			name, quant = item[:n-1], item[n-1:]
		}
		b.WriteString("(?:" + regexp.QuoteMeta(name) + ",)" + quant)
	}
	b.WriteString("$")
	joined := strings.Join(kinds, ",")
	if len(kinds) > 0 {
		joined += ","
	}
	if !regexp.MustCompile(b.String()).MatchString(joined) {
		return fmt.Errorf("events %v do not match %v", kinds, pattern)
	}
	return nil
}

// match checks that actual has everything expected has: objects by key
// (recursively), lists element by element with equal lengths, scalars equal; a
// missing actual value is the proto3 default (JSON omits defaults); an object
// {"$contains": s} matches a string containing s.
func match(expected, actual any, path string) error {
	switch e := expected.(type) {
	case map[string]any:
		if sub, ok := e["$contains"]; ok && len(e) == 1 {
			s, _ := actual.(string)
			if !strings.Contains(s, fmt.Sprint(sub)) {
				return fmt.Errorf("%s: %q does not contain %q", path, s, sub)
			}
			return nil
		}
		a, ok := actual.(map[string]any)
		if actual == nil {
			a, ok = map[string]any{}, true
		}
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", path, actual)
		}
		for k, v := range e {
			if err := match(v, a[k], path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		a, ok := actual.([]any)
		if actual == nil {
			a, ok = []any{}, true
		}
		if !ok || len(a) != len(e) {
			return fmt.Errorf("%s: want %d items, got %v", path, len(e), actual)
		}
		for i := range e {
			if err := match(e[i], a[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if actual == nil {
		switch e := expected.(type) {
		case nil:
			return nil
		case bool:
			if !e {
				return nil
			}
		case float64:
			if e == 0 {
				return nil
			}
		case string:
			if e == "" || e == "0" {
				return nil
			}
		}
		return fmt.Errorf("%s: want %v, got nothing", path, expected)
	}
	eb, ebool := expected.(bool)
	ab, abool := actual.(bool)
	if ebool || abool {
		if ebool && abool && eb == ab {
			return nil
		}
		return fmt.Errorf("%s: want %v, got %v", path, expected, actual)
	}
	if scalar(expected) != scalar(actual) {
		return fmt.Errorf("%s: want %v, got %v", path, expected, actual)
	}
	return nil
}

func scalar(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func toJSON(m proto.Message) (any, error) {
	data, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var v any
	return v, json.Unmarshal(data, &v)
}

func oneofName(m proto.Message, oneof string) string {
	r := m.ProtoReflect()
	field := r.WhichOneof(r.Descriptor().Oneofs().ByName(protoreflectName(oneof)))
	if field == nil {
		return ""
	}
	return string(field.Name())
}

func hookKinds(names []string) ([]pb.HookEventKind, error) {
	var kinds []pb.HookEventKind
	for _, name := range names {
		v, ok := pb.HookEventKind_value[name]
		if !ok {
			return nil, fmt.Errorf("unknown hook event kind %q", name)
		}
		kinds = append(kinds, pb.HookEventKind(v))
	}
	return kinds, nil
}

func historyOf(previous any) ([]*pb.Message, error) {
	last, _ := previous.(map[string]any)
	var holder any
	for _, key := range []string{"finalResponse", "error"} {
		if v, ok := last[key]; ok {
			holder = v
		}
	}
	if holder == nil {
		return nil, errors.New("the previous step ended without a final response or error to continue from")
	}
	data, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	final := &pb.FinalResponse{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, final); err != nil {
		return nil, err
	}
	return final.GetHistory(), nil
}
