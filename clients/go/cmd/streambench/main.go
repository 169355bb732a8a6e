// Command streambench drains StreamPrompt runs as fast as Go can read them and reports
// text deltas per second and the time to the first event. bench/stream.py uses it so the
// figures measure the server, not a slower client.
//
//	streambench -addr 127.0.0.1:50051 -request '{"prompt":"..."}' -rounds 5
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"slices"
	"time"

	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "server address")
	request := flag.String("request", `{"prompt":"hi"}`, "StreamPromptRequest as proto JSON")
	rounds := flag.Int("rounds", 5, "how many runs to time")
	flag.Parse()

	var req pb.StreamPromptRequest
	if err := protojson.Unmarshal([]byte(*request), &req); err != nil {
		log.Fatalf("-request: %v", err)
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewAgentServiceClient(conn)

	var rates, firsts []float64
	runID := req.RunId
	for i := 0; i <= *rounds; i++ {
		if runID != "" {
			// A run id stays taken while its finished run is kept for WatchRun.
			req.RunId = fmt.Sprintf("%s-%d", runID, i)
		}
		deltas, first, total, err := drain(client, &req)
		if err != nil {
			log.Fatal(err)
		}
		if i == 0 {
			continue // warm-up
		}
		rates = append(rates, float64(deltas)/total.Seconds())
		firsts = append(firsts, first.Seconds())
	}
	// One line: median deltas/s, median seconds to the first event.
	fmt.Printf("%f %f\n", median(rates), median(firsts))
}

func drain(client pb.AgentServiceClient, req *pb.StreamPromptRequest) (int, time.Duration, time.Duration, error) {
	start := time.Now()
	stream, err := client.StreamPrompt(context.Background(), req)
	if err != nil {
		return 0, 0, 0, err
	}
	var first time.Duration
	deltas := 0
	for {
		event, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return deltas, first, time.Since(start), fmt.Errorf("stream: %w", err)
		}
		if first == 0 {
			first = time.Since(start)
		}
		if event.GetTextDelta() != nil {
			deltas++
		}
	}
	return deltas, first, time.Since(start), nil
}

func median(values []float64) float64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}
