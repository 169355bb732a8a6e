package io.github.agentstream.client;

import io.github.agentstream.v1.HookProgress;
import java.util.function.Consumer;

/**
 * Lets a client tool tell the caller how far it has got. Each report becomes a {@code
 * tool_progress} event of the run (the server rate-limits them per call). It works on the thread
 * the helper runs the tool function on; elsewhere it does nothing.
 *
 * <pre>{@code
 * .tool("weather", "Current weather", schema, args -> {
 *   ToolProgress.report("asking the met office", 0.5);
 *   return "cold";
 * })
 * }</pre>
 */
public final class ToolProgress {
  private static final ThreadLocal<Consumer<HookProgress>> CURRENT = new ThreadLocal<>();

  private ToolProgress() {}

  /** Reports a message. */
  public static void report(String message) {
    send(HookProgress.newBuilder().setMessage(message).build());
  }

  /** Reports a message and how far the tool is, between 0 and 1. */
  public static void report(String message, double fraction) {
    send(HookProgress.newBuilder().setMessage(message).setFraction(fraction).build());
  }

  private static void send(HookProgress progress) {
    Consumer<HookProgress> sink = CURRENT.get();
    if (sink != null) {
      sink.accept(progress);
    }
  }

  /** Runs {@code body} with reports going to {@code sink}. */
  static <T> T with(Consumer<HookProgress> sink, java.util.concurrent.Callable<T> body)
      throws Exception {
    CURRENT.set(sink);
    try {
      return body.call();
    } finally {
      CURRENT.remove();
    }
  }
}
