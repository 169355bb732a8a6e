package io.github.agentstream.client;

import io.github.agentstream.v1.AgentServiceGrpc;
import io.github.agentstream.v1.CancelRunRequest;
import io.github.agentstream.v1.ErrorCode;
import io.github.agentstream.v1.FinalResponse;
import io.github.agentstream.v1.HookEventKind;
import io.github.agentstream.v1.RunError;
import io.github.agentstream.v1.StreamPromptRequest;
import io.github.agentstream.v1.StreamPromptResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One StreamPrompt run (see clients/README.md for the contract every helper follows). Iterate it
 * for its events, blocking; the iteration of a failed run ends by throwing {@link
 * RunFailedException} after the run's {@code error} event. {@link #result()} reads what is left
 * and returns the final response. Nothing is sent until the run is first read.
 *
 * <pre>{@code
 * try (Run run = client.run(request, options)) {
 *   for (StreamPromptResponse event : run) { ... }
 *   FinalResponse done = run.result();
 * }
 * }</pre>
 */
public final class Run implements Iterable<StreamPromptResponse>, AutoCloseable {
  /** How long a finished run waits for its hooks stream's last events (clients/README.md). */
  static final Duration HOOKS_DRAIN = Duration.ofMillis(500);

  private final AgentServiceGrpc.AgentServiceStub stub;
  private final StreamPromptRequest request;
  private final RunOptions options;
  private final ExecutorService executor;
  private final Tracer tracer;
  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private final Events events = new Events();
  private final Object lock = new Object();

  // Guarded by lock.
  private boolean started;
  private String cancelledBeforeStart;
  private HooksSession hooks;
  private ClientCallStreamObserver<StreamPromptRequest> call;

  // Set by gRPC's thread when the last event (final_response or error) arrives.
  private volatile boolean ended;

  // Read and written by the reading thread only.
  private FinalResponse finalResponse;
  private RunError runError;
  private RunFailedException failure;
  private boolean finished;

  private record End(Status status) {}

  Run(
      AgentServiceGrpc.AgentServiceStub stub,
      StreamPromptRequest request,
      RunOptions options,
      ExecutorService executor,
      Tracer tracer) {
    this.stub = stub;
    this.request = request;
    this.options = options;
    this.executor = executor;
    this.tracer = tracer;
  }

  /** The run's id: the request's, or the one the helper chose for it. */
  public String runId() {
    return request.getRunId();
  }

  /** The run's events; the same iterator each time, so reading can stop and go on later. */
  @Override
  public Iterator<StreamPromptResponse> iterator() {
    return events;
  }

  /**
   * Reads the remaining events (serving client tools meanwhile) and returns the final response.
   *
   * @throws RunFailedException when the run failed, was cancelled, or the call broke
   */
  public FinalResponse result() {
    while (events.advance() != null) {
      // Events nobody asked for are dropped; the outcome is kept.
    }
    if (failure != null) {
      throw failure;
    }
    return finalResponse;
  }

  /**
   * Cancels the run on the server (CancelRun, or the hooks stream while the run is not registered
   * yet): it ends with ERROR_CODE_CANCELLED, status CANCELLED and its history. Before the run
   * started, no call is made and the run ends cancelled at once; after it ended, nothing happens.
   */
  public void cancel(String reason) {
    synchronized (lock) {
      if (!started) {
        cancelledBeforeStart = reason;
        return;
      }
      if (ended || finished) {
        return;
      }
    }
    try {
      AgentServiceGrpc.newBlockingStub(stub.getChannel())
          .withDeadlineAfter(5, TimeUnit.SECONDS)
          .cancelRun(
              CancelRunRequest.newBuilder().setRunId(runId()).setReason(reason).build());
      return;
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
        throw e;
      }
    }
    synchronized (lock) {
      // Not registered yet: a hooks stream's attach waits for the run, then carries the cancel.
      if (hooks == null) {
        // A stream attached only to carry the cancel; the run's events still come on StreamPrompt.
        hooks = openHooks(List.of(HookEventKind.HOOK_EVENT_KIND_COMPLETION_CALL), List.of(), null);
      }
      hooks.cancelRun(reason);
    }
  }

  /** Disconnects a run that is still going (the server abandons it); else does nothing. */
  @Override
  public void close() {
    synchronized (lock) {
      if (call != null && !ended) {
        call.cancel("the caller closed the run", null);
      }
    }
  }

  private HooksSession openHooks(
      List<HookEventKind> kinds, List<HookEventKind> blocking, HookHandler handler) {
    return HooksSession.open(
        stub, runId(), kinds, blocking, handler, options.tools, executor, tracer);
  }

  private void start() {
    synchronized (lock) {
      if (started) {
        return;
      }
      started = true;
      if (cancelledBeforeStart != null) {
        queue.add(new End(cancelledStatus(cancelledBeforeStart)));
        return;
      }
      if (options.usesHooks()) {
        hooks = openHooks(options.events, options.blocking, options.handler);
      }
      AgentServiceGrpc.AgentServiceStub s = stub;
      if (options.timeout != null) {
        s = s.withDeadlineAfter(options.timeout.toMillis(), TimeUnit.MILLISECONDS);
      }
      s.streamPrompt(request, new Receiver());
    }
  }

  private static Status cancelledStatus(String reason) {
    String message = reason.isEmpty() ? "cancelled before the run started" : reason;
    return Status.CANCELLED.withDescription(message);
  }

  private void finish(Status status) {
    finished = true;
    HooksSession session;
    synchronized (lock) {
      session = hooks;
    }
    if (session != null) {
      session.drain(HOOKS_DRAIN);
    }
    if (status.isOk() && finalResponse != null) {
      return;
    }
    if (cancelledBeforeStart != null && runError == null) {
      runError =
          RunError.newBuilder()
              .setCode(ErrorCode.ERROR_CODE_CANCELLED)
              .setMessage(status.getDescription())
              .build();
    }
    if (status.isOk()) {
      status = Status.UNKNOWN.withDescription("the stream ended without a final response");
    }
    failure = new RunFailedException(status, runError);
  }

  private final class Receiver
      implements ClientResponseObserver<StreamPromptRequest, StreamPromptResponse> {
    @Override
    public void beforeStart(ClientCallStreamObserver<StreamPromptRequest> requestStream) {
      call = requestStream;
    }

    @Override
    public void onNext(StreamPromptResponse event) {
      if (event.hasFinalResponse() || event.hasError()) {
        ended = true;
      }
      queue.add(event);
    }

    @Override
    public void onError(Throwable t) {
      queue.add(new End(Status.fromThrowable(t)));
    }

    @Override
    public void onCompleted() {
      queue.add(new End(Status.OK));
    }
  }

  private final class Events implements Iterator<StreamPromptResponse> {
    private StreamPromptResponse next;

    @Override
    public boolean hasNext() {
      if (next == null) {
        next = advance();
      }
      if (next == null && failure != null) {
        throw failure;
      }
      return next != null;
    }

    @Override
    public StreamPromptResponse next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      StreamPromptResponse event = next;
      next = null;
      return event;
    }

    /** The next event, or null once the run is over (its outcome then recorded). */
    StreamPromptResponse advance() {
      if (next != null) {
        StreamPromptResponse event = next;
        next = null;
        return event;
      }
      if (finished) {
        return null;
      }
      start();
      Object item;
      try {
        item = queue.take();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        close();
        throw new RunFailedException(Status.CANCELLED.withDescription("interrupted"), null);
      }
      if (item instanceof End end) {
        finish(end.status());
        return null;
      }
      StreamPromptResponse event = (StreamPromptResponse) item;
      if (event.hasFinalResponse()) {
        finalResponse = event.getFinalResponse();
      } else if (event.hasError()) {
        runError = event.getError();
      }
      return event;
    }
  }
}
