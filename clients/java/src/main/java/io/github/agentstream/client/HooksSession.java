package io.github.agentstream.client;

import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import io.github.agentstream.v1.AgentServiceGrpc;
import io.github.agentstream.v1.HookAttach;
import io.github.agentstream.v1.HookCancel;
import io.github.agentstream.v1.HookEvent;
import io.github.agentstream.v1.HookEventKind;
import io.github.agentstream.v1.HookProgress;
import io.github.agentstream.v1.HookReply;
import io.github.agentstream.v1.HookToolCall;
import io.github.agentstream.v1.HookToolOutput;
import io.github.agentstream.v1.HooksRequest;
import io.github.agentstream.v1.HooksResponse;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/** The hooks stream of one run: serves its client tools and hook handler, carries cancel. */
final class HooksSession implements ClientResponseObserver<HooksRequest, HooksResponse> {
  private final Map<String, ClientTool> tools;
  private final HookHandler handler;
  private final ExecutorService executor;
  private final Tracer tracer;
  private final CountDownLatch closed = new CountDownLatch(1);
  private final Set<Future<?>> toolTasks = ConcurrentHashMap.newKeySet();
  private ClientCallStreamObserver<HooksRequest> requests;
  private volatile boolean runEnded;
  private volatile Throwable failure;

  private HooksSession(
      Map<String, ClientTool> tools, HookHandler handler, ExecutorService executor, Tracer tracer) {
    this.tools = tools;
    this.handler = handler;
    this.executor = executor;
    this.tracer = tracer;
  }

  /** Opens the stream and attaches to the run (before or after it started). */
  static HooksSession open(
      AgentServiceGrpc.AgentServiceStub stub,
      String runId,
      List<HookEventKind> events,
      List<HookEventKind> blocking,
      HookHandler handler,
      Map<String, ClientTool> tools,
      ExecutorService executor,
      Tracer tracer) {
    HooksSession session = new HooksSession(tools, handler, executor, tracer);
    stub.hooks(session);
    HookAttach attach =
        HookAttach.newBuilder()
            .setRunId(runId)
            .addAllEvents(events)
            .addAllBlocking(blocking)
            .setOmitAggregatedText(handler == null)
            .build();
    session.send(HooksRequest.newBuilder().setAttach(attach).build());
    return session;
  }

  /** Asks the server to cancel the run; false when the run is already over. */
  boolean cancelRun(String reason) {
    if (runEnded || closed.getCount() == 0) {
      return false;
    }
    HookReply reply =
        HookReply.newBuilder().setCancel(HookCancel.newBuilder().setReason(reason)).build();
    send(HooksRequest.newBuilder().setReply(reply).build());
    return true;
  }

  /** Waits up to {@code drain} for the server to end the stream, then closes it. */
  void drain(Duration drain) {
    try {
      closed.await(drain.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (closed.getCount() > 0) {
      requests.cancel("the run is over", null);
    }
    toolTasks.forEach(task -> task.cancel(true));
  }

  /** How the stream failed, when it did for another reason than the run ending. */
  Throwable failure() {
    return failure;
  }

  @Override
  public void beforeStart(ClientCallStreamObserver<HooksRequest> requestStream) {
    this.requests = requestStream;
  }

  @Override
  public void onNext(HooksResponse response) {
    switch (response.getResponseCase()) {
      case EVENT -> onEvent(response.getEvent());
      case RUN_ENDED -> {
        runEnded = true;
        synchronized (this) {
          requests.onCompleted();
        }
      }
      default -> {}
    }
  }

  @Override
  public void onError(Throwable t) {
    if (Status.fromThrowable(t).getCode() != Status.Code.CANCELLED) {
      failure = t;
    }
    closed.countDown();
  }

  @Override
  public void onCompleted() {
    closed.countDown();
  }

  private void onEvent(HookEvent event) {
    if (event.hasToolCall() && event.getToolCall().getExecute()) {
      Future<?>[] task = new Future<?>[1];
      task[0] =
          executor.submit(
              () -> {
                reply(event.getEventId(), execute(event));
                toolTasks.remove(task[0]);
              });
      toolTasks.add(task[0]);
      return;
    }
    HookReply answer = null;
    if (handler != null) {
      try {
        answer = handler.onEvent(event);
      } catch (Exception e) {
        // A failing handler must not stall the run; it proceeds.
        answer = null;
      }
    }
    if (event.getReplyExpected()) {
      HookReply.Builder reply = answer == null ? HookReplies.proceed().toBuilder() : answer.toBuilder();
      send(HooksRequest.newBuilder().setReply(reply.setEventId(event.getEventId())).build());
    }
  }

  /**
   * Runs a tool call. Whatever the function throws, an exception or an {@link Error} (an
   * assertion, a stack overflow), becomes an is_error result, so the run never waits on a reply
   * that will not come.
   */
  private HookToolOutput execute(HookEvent event) {
    HookToolCall call = event.getToolCall();
    ClientTool tool = tools.get(call.getName());
    if (tool == null) {
      return output("no client tool named \"" + call.getName() + "\"", true);
    }
    Callable<String> run =
        () -> {
          Struct.Builder arguments = Struct.newBuilder();
          if (!call.getArguments().isBlank()) {
            JsonFormat.parser().merge(call.getArguments(), arguments);
          }
          return ToolProgress.with(
              progress -> send(progressReply(event.getEventId(), progress)),
              () -> tool.function().call(arguments.build()));
        };
    try {
      String content =
          tracer == null
              ? run.call()
              : tracer.inTool(call.getName(), call.getCallId(), event.getTraceContextMap(), run);
      return output(content, false);
    } catch (Exception e) {
      String message = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
      return output(message, true);
    } catch (Error e) {
      return output("the tool failed: " + e, true);
    }
  }

  private static HookToolOutput output(String content, boolean isError) {
    return HookToolOutput.newBuilder().setContent(content).setIsError(isError).build();
  }

  private static HooksRequest progressReply(String eventId, HookProgress progress) {
    HookReply reply = HookReply.newBuilder().setEventId(eventId).setToolProgress(progress).build();
    return HooksRequest.newBuilder().setReply(reply).build();
  }

  private void reply(String eventId, HookToolOutput output) {
    HookReply reply = HookReply.newBuilder().setEventId(eventId).setToolOutput(output).build();
    send(HooksRequest.newBuilder().setReply(reply).build());
  }

  // StreamObserver is not thread-safe: tool threads and the caller's cancel share it.
  private synchronized void send(HooksRequest request) {
    try {
      requests.onNext(request);
    } catch (RuntimeException e) {
      // The stream is closed: the run is over, and its outcome arrives on StreamPrompt.
    }
  }
}
