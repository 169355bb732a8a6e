package io.github.agentstream.conformance;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.github.agentstream.client.AgentClient;
import io.github.agentstream.client.ClientTool;
import io.github.agentstream.client.HookReplies;
import io.github.agentstream.client.Run;
import io.github.agentstream.client.RunFailedException;
import io.github.agentstream.client.RunOptions;
import io.github.agentstream.client.ToolProgress;
import io.github.agentstream.v1.FinalResponse;
import io.github.agentstream.v1.HookEventKind;
import io.github.agentstream.v1.StreamPromptRequest;
import io.github.agentstream.v1.StreamPromptResponse;
import io.github.agentstream.v1.ToolDefinition;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Runs tests/conformance/scenarios.json against a server with the Java helper and prints one
 * PASS/FAIL line per scenario, then "N passed, N failed"; exits 1 when a scenario failed.
 */
public final class Runner {
  private Runner() {}

  static final class StepFailed extends Exception {
    private static final long serialVersionUID = 1L;

    StepFailed(String message) {
      super(message);
    }
  }

  static final class Outcome {
    final List<Value> events = new ArrayList<>();
    final List<String> kinds = new ArrayList<>();
    final List<String> answerOrder = Collections.synchronizedList(new ArrayList<>());
    final List<String> hookEvents = Collections.synchronizedList(new ArrayList<>());
    String status = "OK";
    Value result;
  }

  public static void main(String[] args) throws Exception {
    String target = "localhost:50051";
    String scenariosPath = "../../tests/conformance/scenarios.json";
    String only = "";
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--target" -> target = args[i + 1];
        case "--scenarios" -> scenariosPath = args[i + 1];
        case "--only" -> only = args[i + 1];
        default -> throw new IllegalArgumentException("unknown flag " + args[i]);
      }
    }
    Value file = Json.parse(Files.readString(Path.of(scenariosPath)));
    int passed = 0;
    int failed = 0;
    try (AgentClient client = AgentClient.connect(target)) {
      for (Value scenario : Json.field(file, "scenarios").getListValue().getValuesList()) {
        String name = Json.string(scenario, "name");
        if (!only.isEmpty() && !only.equals(name)) {
          continue;
        }
        long start = System.nanoTime();
        try {
          runScenario(client, scenario);
          passed++;
          System.out.printf("PASS %s (%dms)%n", name, (System.nanoTime() - start) / 1_000_000);
        } catch (StepFailed e) {
          failed++;
          System.out.printf("FAIL %s: %s%n", name, e.getMessage());
        }
        System.out.flush();
      }
    }
    System.out.printf("%d passed, %d failed%n", passed, failed);
    System.exit(failed > 0 ? 1 : 0);
  }

  static void runScenario(AgentClient client, Value scenario) throws StepFailed {
    Value previous = null;
    List<Value> steps = Json.field(scenario, "steps").getListValue().getValuesList();
    for (int i = 0; i < steps.size(); i++) {
      try {
        previous = runStep(client, steps.get(i), previous);
      } catch (StepFailed e) {
        throw new StepFailed("step " + (i + 1) + ": " + e.getMessage());
      } catch (RuntimeException e) {
        throw new StepFailed("step " + (i + 1) + ": " + e);
      }
    }
  }

  static Value runStep(AgentClient client, Value step, Value previous) throws StepFailed {
    if (Json.field(step, "watch") != null) {
      return watchPrevious(client, step, previous);
    }
    StreamPromptRequest.Builder request =
        Json.into(Json.field(step, "request"), StreamPromptRequest.newBuilder());
    if (Json.field(step, "continue_from_previous") != null) {
      request.clearHistory().addAllHistory(historyOf(previous));
    }
    Outcome out = new Outcome();
    RunOptions.Builder options = RunOptions.builder().timeout(Duration.ofSeconds(30));
    for (Value spec : list(Json.field(step, "client_tools"))) {
      options.tool(clientTool(spec, out));
    }
    Value hooks = Json.field(step, "hooks");
    if (hooks != null) {
      List<Value> actions = list(Json.field(hooks, "on"));
      options.hooks(
          event -> {
            String kind = event.getEventCase().name().toLowerCase(Locale.ROOT);
            out.hookEvents.add(kind);
            for (Value action : actions) {
              if (Json.string(action, "event").equals(kind)) {
                return switch (Json.string(action, "action")) {
                  case "cancel" -> HookReplies.cancel(Json.string(action, "reason"));
                  case "skip" -> HookReplies.skip(Json.string(action, "reason"));
                  default -> HookReplies.proceed();
                };
              }
            }
            return null;
          },
          kinds(Json.field(hooks, "events")),
          kinds(Json.field(hooks, "blocking")));
    }
    Run run = client.run(request.build(), options.build());
    play(run, step, out);
    Value resume = Json.field(step, "resume");
    if (resume != null && resume.getBoolValue()) {
      resume(client, run.runId(), out);
    }
    check(client, Json.field(step, "expect"), out, 0);
    return out.events.isEmpty() ? null : out.events.get(out.events.size() - 1);
  }

  /** Watches the previous step's (ended) run after {@code watch.after_seq}: a replay. */
  static Value watchPrevious(AgentClient client, Value step, Value previous) throws StepFailed {
    String runId = Json.string(previous, "runId");
    if (runId.isEmpty()) {
      throw new StepFailed("a watch step needs a previous step's run");
    }
    Value after = Json.field(Json.field(step, "watch"), "after_seq");
    long afterSeq = after == null ? 0 : (long) after.getNumberValue();
    Outcome out = new Outcome();
    watchInto(client, runId, afterSeq, out);
    check(client, Json.field(step, "expect"), out, afterSeq);
    return out.events.isEmpty() ? previous : out.events.get(out.events.size() - 1);
  }

  /** Reads the run as the step says (disconnect, cancel, leave early), then asks the result. */
  static void play(Run run, Value step, Outcome out) throws StepFailed {
    String disconnectAfter = Json.string(step, "disconnect_after");
    String breakAfter = Json.string(step, "break_after");
    Value cancelAfter = Json.field(step, "cancel_after");
    Value cancelBefore = Json.field(step, "cancel_before_start");
    if (cancelBefore != null) {
      run.cancel(cancelBefore.getStringValue());
    }
    boolean recording = true;
    try {
      for (Iterator<StreamPromptResponse> it = run.iterator(); it.hasNext(); ) {
        StreamPromptResponse event = it.next();
        if (!recording) {
          continue;
        }
        String kind = event.getEventCase().name().toLowerCase(Locale.ROOT);
        out.kinds.add(kind);
        out.events.add(Json.of(event));
        if (kind.equals(disconnectAfter)) {
          recording = false;
          run.close();
        }
        if (cancelAfter != null && kind.equals(Json.string(cancelAfter, "event"))) {
          run.cancel(Json.string(cancelAfter, "reason"));
          cancelAfter = null;
        }
        if (kind.equals(breakAfter)) {
          break;
        }
      }
    } catch (RunFailedException e) {
      out.status = statusName(e);
    }
    String first = result(run, out);
    String again = result(run, new Outcome());
    if (!first.equals(again)) {
      throw new StepFailed("result() answered " + first + ", then " + again);
    }
  }

  /** Watches the run from the last event recorded and records the rest; its status is the step's. */
  static void resume(AgentClient client, String runId, Outcome out) {
    long after = 0;
    if (!out.events.isEmpty()) {
      after = Long.parseLong(Json.string(out.events.get(out.events.size() - 1), "seq"));
    }
    watchInto(client, runId, after, out);
  }

  /** Records the run's events after {@code after} (the helper's watch); its status is the step's. */
  static void watchInto(AgentClient client, String runId, long after, Outcome out) {
    out.status = "OK";
    try {
      for (StreamPromptResponse event : client.watch(runId, after)) {
        out.kinds.add(event.getEventCase().name().toLowerCase(Locale.ROOT));
        out.events.add(Json.of(event));
      }
    } catch (RunFailedException e) {
      out.status = statusName(e);
    }
  }

  /** Asks the run's result, records it, and returns its status name. */
  static String result(Run run, Outcome out) {
    try {
      FinalResponse done = run.result();
      out.result = wrap("finalResponse", Json.of(done));
      out.status = "OK";
    } catch (RunFailedException e) {
      out.status = statusName(e);
      out.result =
          wrap("error", e.error().map(Json::of).orElse(Value.newBuilder().setStructValue(
              Struct.getDefaultInstance()).build()));
    }
    return out.status;
  }

  static String statusName(Throwable e) {
    return Status.fromThrowable(e).getCode().name();
  }

  static Value wrap(String key, Value v) {
    return Value.newBuilder().setStructValue(Struct.newBuilder().putFields(key, v)).build();
  }

  static ClientTool clientTool(Value spec, Outcome out) {
    ToolDefinition definition =
        Json.into(Json.field(spec, "definition"), ToolDefinition.newBuilder()).build();
    List<Value> answers = list(Json.field(spec, "answers"));
    return new ClientTool(
        definition,
        arguments -> {
          Value args = Value.newBuilder().setStructValue(arguments).build();
          for (Value answer : answers) {
            Value when = Json.field(answer, "when");
            if (when != null && Match.match(when, args, "") != null) {
              continue;
            }
            Value delay = Json.field(answer, "delay_ms");
            if (delay != null) {
              Thread.sleep((long) delay.getNumberValue());
            }
            for (Value progress : list(Json.field(answer, "progress"))) {
              Value fraction = Json.field(progress, "fraction");
              if (fraction != null) {
                ToolProgress.report(Json.string(progress, "message"), fraction.getNumberValue());
              } else {
                ToolProgress.report(Json.string(progress, "message"));
              }
            }
            out.answerOrder.add(Json.string(answer, "label"));
            if (Json.field(answer, "raise") != null) {
              throw new IllegalStateException(Json.string(answer, "raise"));
            }
            if (Json.field(answer, "panic") != null) {
              throw new AssertionError(Json.string(answer, "panic"));
            }
            Value isError = Json.field(answer, "is_error");
            if (isError != null && isError.getBoolValue()) {
              throw new IllegalStateException(Json.string(answer, "content"));
            }
            return Json.string(answer, "content");
          }
          throw new IllegalStateException("no scripted answer for " + Json.print(arguments));
        });
  }

  static void check(AgentClient client, Value ex, Outcome out, long afterSeq) throws StepFailed {
    String status = Json.string(ex, "status");
    if (!status.isEmpty() && !status.equals(out.status)) {
      throw new StepFailed("status " + out.status + ", want " + status + " (events " + out.kinds + ")");
    }
    long nextSeq = afterSeq + 1;
    for (int i = 0; i < out.events.size(); i++) {
      Value ev = out.events.get(i);
      // An event covers firstSeq..seq (deltas the watch joined), else just seq.
      long seq = Long.parseLong(Json.string(ev, "seq").isEmpty() ? "0" : Json.string(ev, "seq"));
      String firstSeq = Json.string(ev, "firstSeq");
      long first = firstSeq.isEmpty() ? seq : Long.parseLong(firstSeq);
      if (first != nextSeq || seq < first) {
        throw new StepFailed(
            "event " + (i + 1) + " covers seqs " + first + ".." + seq + ", want " + nextSeq + " first");
      }
      nextSeq = seq + 1;
      if (!Json.string(ev, "runId").equals(Json.string(out.events.get(0), "runId"))) {
        throw new StepFailed("event " + (i + 1) + " has run_id " + Json.string(ev, "runId"));
      }
    }
    Value events = Json.field(ex, "events");
    if (events != null) {
      List<String> pattern = new ArrayList<>();
      list(events).forEach(v -> pattern.add(v.getStringValue()));
      if (!Match.kinds(pattern, out.kinds)) {
        throw new StepFailed("events " + out.kinds + " do not match " + pattern);
      }
    }
    int next = 0;
    for (Value want : list(Json.field(ex, "contains"))) {
      boolean found = false;
      while (next < out.events.size() && !found) {
        found = Match.match(want, out.events.get(next++), "") == null;
      }
      if (!found) {
        throw new StepFailed("no event matching " + Json.print(want) + " (in order)");
      }
    }
    Value last = Json.field(ex, "last");
    if (last != null) {
      if (out.events.isEmpty()) {
        throw new StepFailed("no events");
      }
      String err = Match.match(last, out.events.get(out.events.size() - 1), "last");
      if (err != null) {
        throw new StepFailed(err);
      }
    }
    Value result = Json.field(ex, "result");
    if (result != null) {
      String err = Match.match(result, out.result, "result");
      if (err != null) {
        throw new StepFailed(err);
      }
    }
    for (Value kind : list(Json.field(ex, "absent"))) {
      if (out.kinds.contains(kind.getStringValue())) {
        throw new StepFailed("unexpected " + kind.getStringValue() + " event");
      }
    }
    Value order = Json.field(ex, "answer_order");
    if (order != null && !strings(order).equals(out.answerOrder)) {
      throw new StepFailed(
          "client tools answered in order " + out.answerOrder + ", want " + strings(order));
    }
    Value hookEvents = Json.field(ex, "hook_events");
    if (hookEvents != null && !strings(hookEvents).equals(out.hookEvents)) {
      throw new StepFailed("hook events " + out.hookEvents + ", want " + strings(hookEvents));
    }
    Value healthy = Json.field(ex, "server_healthy");
    if (healthy != null && healthy.getBoolValue()) {
      try {
        client.listAgents();
      } catch (RuntimeException e) {
        throw new StepFailed("server unhealthy after the step: " + statusName(e));
      }
    }
  }

  static List<io.github.agentstream.v1.Message> historyOf(Value previous) throws StepFailed {
    Value holder = Json.field(previous, "finalResponse");
    if (holder == null) {
      holder = Json.field(previous, "error");
    }
    if (holder == null) {
      throw new StepFailed("the previous step ended without a final response or error");
    }
    return Json.into(holder, FinalResponse.newBuilder()).getHistoryList();
  }

  static List<Value> list(Value v) {
    return v == null ? List.of() : v.getListValue().getValuesList();
  }

  static List<String> strings(Value v) {
    List<String> out = new ArrayList<>();
    list(v).forEach(s -> out.add(s.getStringValue()));
    return out;
  }

  static List<HookEventKind> kinds(Value names) {
    List<HookEventKind> out = new ArrayList<>();
    list(names).forEach(n -> out.add(HookEventKind.valueOf(n.getStringValue())));
    return out;
  }
}
