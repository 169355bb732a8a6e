package io.github.agentstream.client;

import io.github.agentstream.v1.AgentInfo;
import io.github.agentstream.v1.AgentServiceGrpc;
import io.github.agentstream.v1.ListAgentsRequest;
import io.github.agentstream.v1.StreamPromptRequest;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A client of one agentstream server.
 *
 * <pre>{@code
 * try (AgentClient client = AgentClient.connect("localhost:50051")) {
 *   Run run = client.run(StreamPromptRequest.newBuilder().setPrompt("What is 6 * 7?").build());
 *   for (StreamPromptResponse event : run) { ... }
 * }
 * }</pre>
 */
public final class AgentClient implements AutoCloseable {
  private static final SecureRandom RANDOM = new SecureRandom();

  /**
   * The largest message sent or accepted: a run's last event carries its whole history, which
   * the server allows up to its max_response_bytes (16 MiB by default).
   */
  public static final int MAX_MESSAGE_BYTES = 16 << 20;

  private final Channel channel;
  private final ManagedChannel owned;
  private final AgentServiceGrpc.AgentServiceStub stub;
  private final ExecutorService toolExecutor;

  private AgentClient(Channel channel, ManagedChannel owned) {
    this.channel = channel;
    this.owned = owned;
    this.stub =
        AgentServiceGrpc.newStub(channel)
            .withMaxInboundMessageSize(MAX_MESSAGE_BYTES)
            .withMaxOutboundMessageSize(MAX_MESSAGE_BYTES);
    this.toolExecutor =
        Executors.newCachedThreadPool(
            task -> {
              Thread thread = new Thread(task, "agentstream-tool");
              thread.setDaemon(true);
              return thread;
            });
  }

  /** Connects to {@code target} ("host:port") in plaintext, as for a server on localhost. */
  public static AgentClient connect(String target) {
    ManagedChannel channel = ManagedChannelBuilder.forTarget(target).usePlaintext().build();
    return new AgentClient(channel, channel);
  }

  /** Uses a channel the caller built (TLS, interceptors, ...) and keeps owning. */
  public static AgentClient of(Channel channel) {
    return new AgentClient(channel, null);
  }

  /** The generated blocking stub, for calls the helper does not wrap. */
  public AgentServiceGrpc.AgentServiceBlockingStub blockingStub() {
    return AgentServiceGrpc.newBlockingStub(channel)
        .withMaxInboundMessageSize(MAX_MESSAGE_BYTES)
        .withMaxOutboundMessageSize(MAX_MESSAGE_BYTES);
  }

  /** Lists the configured agents. */
  public List<AgentInfo> listAgents() {
    return blockingStub().listAgents(ListAgentsRequest.getDefaultInstance()).getAgentsList();
  }

  /** A run of the request, started when first read. */
  public Run run(StreamPromptRequest request) {
    return run(request, RunOptions.none());
  }

  /** A run of the request served with client tools, hooks or a deadline. */
  public Run run(StreamPromptRequest request, RunOptions options) {
    StreamPromptRequest.Builder b = request.toBuilder();
    if (b.getRunId().isEmpty()) {
      byte[] id = new byte[8];
      RANDOM.nextBytes(id);
      b.setRunId("java-" + HexFormat.of().formatHex(id));
    }
    if (options.usesHooks()) {
      options.tools.values().forEach(tool -> b.addTools(tool.definition()));
      b.getHooksBuilder().setWaitForClient(true);
    }
    return new Run(stub, b.build(), options, toolExecutor);
  }

  @Override
  public void close() throws InterruptedException {
    toolExecutor.shutdownNow();
    if (owned != null) {
      owned.shutdown();
      if (!owned.awaitTermination(5, TimeUnit.SECONDS)) {
        owned.shutdownNow();
      }
    }
  }
}
