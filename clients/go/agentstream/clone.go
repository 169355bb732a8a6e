package agentstream

import (
	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	"google.golang.org/protobuf/proto"
)

func protoClone(req *pb.StreamPromptRequest) *pb.StreamPromptRequest {
	return proto.Clone(req).(*pb.StreamPromptRequest)
}
