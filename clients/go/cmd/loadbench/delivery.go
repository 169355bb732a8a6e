package main

import pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"

// mergedCount is how many provider deltas one text delta message carries.
func mergedCount(delta *pb.TextDelta) int { return int(delta.GetMerged()) + 1 }

// setDelivery asks for coalesced delivery with a window of ms milliseconds.
func setDelivery(req *pb.StreamPromptRequest, ms int) {
	req.Delivery = &pb.Delivery{MaxDelayMs: uint32(ms)}
}
