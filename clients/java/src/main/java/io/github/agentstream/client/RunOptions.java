package io.github.agentstream.client;

import io.github.agentstream.v1.HookEventKind;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** How a run is served: client tools, a hook handler, a deadline. Build with {@link #builder}. */
public final class RunOptions {
  final Map<String, ClientTool> tools;
  final HookHandler handler;
  final boolean hooks;
  final List<HookEventKind> events;
  final List<HookEventKind> blocking;
  final Duration timeout;

  private RunOptions(Builder b) {
    this.tools = Map.copyOf(b.tools);
    this.handler = b.handler;
    this.hooks = b.hooks;
    this.events = List.copyOf(b.events);
    this.blocking = List.copyOf(b.blocking);
    this.timeout = b.timeout;
  }

  public static Builder builder() {
    return new Builder();
  }

  static RunOptions none() {
    return builder().build();
  }

  boolean usesHooks() {
    return hooks || !tools.isEmpty();
  }

  public static final class Builder {
    private final Map<String, ClientTool> tools = new LinkedHashMap<>();
    private HookHandler handler;
    private boolean hooks;
    private final List<HookEventKind> events = new ArrayList<>();
    private final List<HookEventKind> blocking = new ArrayList<>();
    private Duration timeout;

    private Builder() {}

    /** Adds a client tool; its calls are answered by its function, concurrently. */
    public Builder tool(ClientTool tool) {
      tools.put(tool.name(), tool);
      return this;
    }

    /** Adds a client tool from its name, description, JSON schema and function. */
    public Builder tool(String name, String description, String jsonSchema, ToolFunction fn) {
      return tool(ClientTool.of(name, description, jsonSchema, fn));
    }

    /**
     * Attaches a hook handler: {@code events} are the kinds to receive (none means all), {@code
     * blocking} the kinds the loop waits on until the handler answers.
     */
    public Builder hooks(
        HookHandler handler, List<HookEventKind> events, List<HookEventKind> blocking) {
      this.handler = handler;
      this.hooks = true;
      this.events.addAll(events);
      this.blocking.addAll(blocking);
      return this;
    }

    /** The call's deadline. */
    public Builder timeout(Duration timeout) {
      this.timeout = timeout;
      return this;
    }

    public RunOptions build() {
      return new RunOptions(this);
    }
  }
}
