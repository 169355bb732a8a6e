package io.github.agentstream.client;

import com.google.protobuf.Struct;

/**
 * Executes a client tool: gets the call's arguments (the JSON object the model sent, as a
 * {@link Struct}) and returns the tool's output. A thrown exception becomes an {@code is_error}
 * result whose content is the exception's message, which the model reads; the run goes on.
 */
@FunctionalInterface
public interface ToolFunction {
  String call(Struct arguments) throws Exception;
}
