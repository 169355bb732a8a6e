package io.github.agentstream.client;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import io.github.agentstream.v1.ToolDefinition;
import java.util.Objects;

/** A tool the model may call that runs in this process: its definition and its function. */
public record ClientTool(ToolDefinition definition, ToolFunction function) {
  public ClientTool {
    Objects.requireNonNull(definition, "definition");
    Objects.requireNonNull(function, "function");
    if (definition.getName().isEmpty()) {
      throw new IllegalArgumentException("tool definition: name is required");
    }
  }

  /**
   * A tool from its name, description and JSON schema (a JSON object, as text).
   *
   * @throws IllegalArgumentException when the schema is not a JSON object
   */
  public static ClientTool of(
      String name, String description, String jsonSchema, ToolFunction function) {
    Struct.Builder schema = Struct.newBuilder();
    try {
      JsonFormat.parser().merge(jsonSchema, schema);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(
          "tool " + name + ": the schema is not a JSON object: " + e.getMessage(), e);
    }
    ToolDefinition definition =
        ToolDefinition.newBuilder()
            .setName(name)
            .setDescription(description)
            .setParameters(schema)
            .build();
    return new ClientTool(definition, function);
  }

  public String name() {
    return definition.getName();
  }
}
