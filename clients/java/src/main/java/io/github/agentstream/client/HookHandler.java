package io.github.agentstream.client;

import io.github.agentstream.v1.HookEvent;
import io.github.agentstream.v1.HookReply;

/**
 * Observes the run's hook events of the kinds asked for. For an event that expects a reply (a
 * blocking kind) the returned reply is sent ({@link HookReplies}); {@code null} means proceed.
 * For other events the return value is ignored.
 */
@FunctionalInterface
public interface HookHandler {
  HookReply onEvent(HookEvent event) throws Exception;
}
