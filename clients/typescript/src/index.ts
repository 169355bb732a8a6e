export * from "./client.js";
export * from "./tool.js";
/** The generated messages, enums and service descriptor. */
export * as pb from "./gen/agentstream/v1/agent_pb.js";
