// Command loadbench starts many concurrent StreamPrompt runs whose text deltas come at
// a paced schedule, and reports how late they arrive. bench/concurrency.py runs it in
// separate processes against agentstream (the offline model's `paced_text` step) and
// against the bare grpc.aio baseline (bench/baseline.py, the same pace).
//
//	loadbench -addr 127.0.0.1:50051 -runs 500 -deltas 500 -rate 20 -mode agent
//
// Each run's pace is a few numbers in its request (mean gap, jitter, seed); the server
// and this client draw the same jittered gaps from them (SplitMix64, as
// server/agentstream_server/providers/pacing.py), gaps uniform in [0.5, 1.5] of 1/rate
// on a schedule that does not drift. So the client knows when the model produced delta
// i: the first event's arrival plus the sum of gaps 0..i. A server too busy to fire its
// timers on time shows up as added delay: a delta's arrival minus that time. A merged
// delta (coalesced delivery) carries its count, and each delta in it is timed.
// One JSON line on stdout: completed runs, failures by status, added delay and first
// event percentiles in milliseconds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"sync"
	"time"

	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

type config struct {
	addr       string
	mode       string
	runs       int
	deltas     int
	rate       float64
	seed       int64
	perConn    int
	deliveryMs int
}

type runResult struct {
	first  time.Duration
	added  []float64 // milliseconds, one per delta
	err    error
	merged int // messages that carried more than one delta
	msgs   int
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:50051", "server address")
	flag.StringVar(&c.mode, "mode", "agent", "agent (offline model script) or baseline (bench/baseline.py)")
	flag.IntVar(&c.runs, "runs", 100, "concurrent runs")
	flag.IntVar(&c.deltas, "deltas", 500, "text deltas per run")
	flag.Float64Var(&c.rate, "rate", 20, "mean deltas per second per run")
	flag.Int64Var(&c.seed, "seed", 1, "seed of the jitter")
	flag.IntVar(&c.perConn, "per-conn", 100, "runs per HTTP/2 connection")
	flag.IntVar(&c.deliveryMs, "delivery-ms", -1, "coalescing window to request (-1: none)")
	printSchedule := flag.Int("print-schedule", -1, "print run N's seed and due times as JSON and exit")
	flag.Parse()
	if *printSchedule >= 0 {
		due, seed := schedule(c, int64(*printSchedule))
		if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"seed": seed, "at_ms": due}); err != nil {
			log.Fatal(err)
		}
		return
	}

	conns := make([]pb.AgentServiceClient, 0, c.runs/c.perConn+1)
	for i := 0; i < c.runs; i += c.perConn {
		conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		client := pb.NewAgentServiceClient(conn)
		// Connect before the clock starts (the baseline answers Unimplemented: enough).
		_, _ = client.ListAgents(context.Background(), &pb.ListAgentsRequest{})
		conns = append(conns, client)
	}
	results := make([]runResult, c.runs)
	var started sync.WaitGroup // each run's first event; then "all started" on stderr
	started.Add(c.runs)
	go func() {
		started.Wait()
		fmt.Fprintln(os.Stderr, "all started")
	}()
	var wg sync.WaitGroup
	for i := range c.runs {
		due, seed := schedule(c, int64(i))
		req, err := request(c, i, seed)
		if err != nil {
			log.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(conns[i/c.perConn], req, due, started.Done)
		}()
	}
	wg.Wait()
	report(results)
}

// jitter is the spread of the gaps around their mean: uniform in [1-jitter, 1+jitter].
const jitter = 0.5

// schedule draws one run's due times in milliseconds after its start, as pacing.py does.
func schedule(c config, run int64) (at []float64, seed uint64) {
	seed = uint64(c.seed*1_000_003 + run)
	mean := 1000 / c.rate
	at = make([]float64, c.deltas)
	state, sum := seed, 0.0
	for i := range at {
		state += 0x9E3779B97F4A7C15
		z := state
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		u := float64(z>>11) * (1.0 / (1 << 53))
		sum += float64(mean * float64((1-jitter)+float64(2*jitter*u)))
		at[i] = sum
	}
	return at, seed
}

func request(c config, i int, seed uint64) (*pb.StreamPromptRequest, error) {
	pace := map[string]any{"mean_ms": 1000 / c.rate, "jitter": jitter, "seed": float64(seed)}
	var extra map[string]any
	if c.mode == "baseline" {
		extra = map[string]any{"count": c.deltas, "word": "word ", "pace": pace}
	} else {
		pace["text"], pace["count"] = "word ", c.deltas
		extra = map[string]any{"script": []any{[]any{map[string]any{"paced_text": pace}}}}
	}
	params, err := structpb.NewStruct(extra)
	if err != nil {
		return nil, err
	}
	req := &pb.StreamPromptRequest{
		Agent:       "bench",
		Prompt:      "bench",
		RunId:       fmt.Sprintf("load-%d-%d", os.Getpid(), i),
		ExtraParams: params,
	}
	if c.deliveryMs >= 0 {
		setDelivery(req, c.deliveryMs)
	}
	return req, nil
}

func run(client pb.AgentServiceClient, req *pb.StreamPromptRequest, due []float64, started func()) runResult {
	var r runResult
	start := time.Now()
	stream, err := client.StreamPrompt(context.Background(), req)
	if err != nil {
		started()
		r.err = err
		return r
	}
	var anchor time.Time
	next := 0
	for {
		event, err := stream.Recv()
		now := time.Now()
		if err != nil {
			if anchor.IsZero() {
				started()
			}
			if !errors.Is(err, io.EOF) {
				r.err = err
			} else if next != len(due) {
				r.err = fmt.Errorf("got %d of %d deltas", next, len(due))
			}
			return r
		}
		if anchor.IsZero() {
			anchor, r.first = now, now.Sub(start)
			started()
		}
		delta := event.GetTextDelta()
		if delta == nil {
			continue
		}
		count := mergedCount(delta)
		r.msgs++
		if count > 1 {
			r.merged++
		}
		for k := 0; k < count && next < len(due); k++ {
			at := anchor.Add(time.Duration(due[next] * float64(time.Millisecond)))
			next++
			r.added = append(r.added, float64(now.Sub(at))/float64(time.Millisecond))
		}
	}
}

func report(results []runResult) {
	var added, firsts []float64
	failures := map[string]int{}
	completed, msgs, merged := 0, 0, 0
	for _, r := range results {
		if r.err != nil {
			failures[status.Code(r.err).String()+": "+shorten(r.err.Error())]++
			continue
		}
		completed++
		added = append(added, r.added...)
		firsts = append(firsts, float64(r.first)/float64(time.Millisecond))
		msgs += r.msgs
		merged += r.merged
	}
	out := map[string]any{
		"runs": len(results), "completed": completed, "failures": failures,
		"messages": msgs, "merged_messages": merged, "deltas": len(added),
		"added_ms":       percentiles(added),
		"first_event_ms": percentiles(firsts),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}
}

func percentiles(values []float64) map[string]float64 {
	if len(values) == 0 {
		return map[string]float64{}
	}
	slices.Sort(values)
	at := func(q float64) float64 { return values[min(len(values)-1, int(float64(len(values))*q))] }
	return map[string]float64{"p50": at(0.5), "p99": at(0.99), "max": values[len(values)-1]}
}

func shorten(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}
