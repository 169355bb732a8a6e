package io.github.agentstream.client;

import io.github.agentstream.v1.AgentInfo;
import io.github.agentstream.v1.AgentServiceGrpc;
import io.github.agentstream.v1.ListAgentsRequest;
import io.github.agentstream.v1.RunError;
import io.github.agentstream.v1.StreamPromptRequest;
import io.github.agentstream.v1.StreamPromptResponse;
import io.github.agentstream.v1.WatchRunRequest;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptors;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
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
 *
 * Over TLS with a token: {@code AgentClient.connect(target, ClientOptions.builder().tls(Tls.fromFiles(ca,
 * cert, key)).token(token).build())}.
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
  private final Tracer tracer;

  private AgentClient(Channel channel, ManagedChannel owned, Tracer tracer) {
    this.channel = channel;
    this.owned = owned;
    this.tracer = tracer;
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
    return connect(target, ClientOptions.none());
  }

  /**
   * Connects to {@code target} with options: TLS (plaintext without), a bearer token sent with
   * every call, a tracer. The channel connects at the first call.
   */
  public static AgentClient connect(String target, ClientOptions options) {
    ChannelCredentials credentials =
        options.tls != null ? options.tls.credentials() : InsecureChannelCredentials.create();
    ManagedChannel channel = Grpc.newChannelBuilder(target, credentials).build();
    Channel calls = channel;
    if (options.token != null || options.tracer != null) {
      calls = ClientInterceptors.intercept(channel, new CallHeaders(options.token, options.tracer));
    }
    return new AgentClient(calls, channel, options.tracer);
  }

  /** Uses a channel the caller built (TLS, interceptors, ...) and keeps owning. */
  public static AgentClient of(Channel channel) {
    return new AgentClient(channel, null, null);
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
    return new Run(stub, b.build(), options, toolExecutor, tracer);
  }

  /**
   * The events of a run with seq greater than {@code afterSeq}, from the server's log and then
   * live until the run's last event, each once: resumes a run (started with {@code detach}) with
   * the seq of the last event seen. The iteration of a failed run throws {@link
   * RunFailedException} after its {@code error} event, as a {@link Run}'s does. Consecutive
   * deltas already logged arrive joined (WatchRun's {@code coalesce}): such an event covers the
   * seqs {@code firstSeq..seq}, so resume after its {@code seq}.
   */
  public Iterable<StreamPromptResponse> watch(String runId, long afterSeq) {
    WatchRunRequest request =
        WatchRunRequest.newBuilder()
            .setRunId(runId)
            .setAfterSeq(afterSeq)
            .setCoalesce(true)
            .build();
    return () -> new Watch(blockingStub().watchRun(request));
  }

  /** A WatchRun call's events; a broken call becomes a RunFailedException. */
  private static final class Watch implements Iterator<StreamPromptResponse> {
    private final Iterator<StreamPromptResponse> events;
    private RunError runError;

    Watch(Iterator<StreamPromptResponse> events) {
      this.events = events;
    }

    @Override
    public boolean hasNext() {
      try {
        return events.hasNext();
      } catch (StatusRuntimeException e) {
        throw new RunFailedException(e.getStatus(), runError);
      }
    }

    @Override
    public StreamPromptResponse next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      StreamPromptResponse event = events.next();
      if (event.hasError()) {
        runError = event.getError();
      }
      return event;
    }
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
