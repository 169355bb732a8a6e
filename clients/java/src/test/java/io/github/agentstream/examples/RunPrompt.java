package io.github.agentstream.examples;

import io.github.agentstream.client.AgentClient;
import io.github.agentstream.client.Run;
import io.github.agentstream.client.RunOptions;
import io.github.agentstream.v1.StreamPromptRequest;
import io.github.agentstream.v1.StreamPromptResponse;
import java.time.Duration;

/**
 * Asks the default agent of a running server ({@code make run}) a question, serves a client tool
 * ("weather") with a lambda, and prints the run's events as they stream: {@code make
 * example-java}.
 */
public final class RunPrompt {
  private RunPrompt() {}

  public static void main(String[] args) throws Exception {
    String target = args.length > 1 && args[0].equals("--target") ? args[1] : "localhost:50051";
    String schema =
        """
        {"type": "object", "properties": {"city": {"type": "string", "examples": ["Oslo"]}},
         "required": ["city"]}""";
    RunOptions options =
        RunOptions.builder()
            .tool(
                "weather",
                "Current weather of a city",
                schema,
                arguments -> arguments.getFieldsOrThrow("city").getStringValue() + ": 3°C and cloudy")
            .timeout(Duration.ofSeconds(30))
            .build();
    StreamPromptRequest request =
        StreamPromptRequest.newBuilder()
            .setPrompt("What is the weather in Oslo, and what is 6 * 7?")
            .build();
    try (AgentClient client = AgentClient.connect(target);
        Run run = client.run(request, options)) {
      for (StreamPromptResponse event : run) {
        switch (event.getEventCase()) {
          case TEXT_DELTA -> System.out.print(event.getTextDelta().getText());
          case TOOL_CALL -> System.out.printf(
              "[turn %d] calling %s %s%n",
              event.getTurn(), event.getToolCall().getName(), event.getToolCall().getArguments());
          case TOOL_RESULT -> System.out.printf(
              "[turn %d] %s returned \"%s\"%n",
              event.getTurn(), event.getToolResult().getName(), event.getToolResult().getContent());
          case FINAL_RESPONSE -> System.out.printf(
              "%n[done in %d turn(s), %d tokens]%n",
              event.getFinalResponse().getTurns(),
              event.getFinalResponse().getUsage().getTotalTokens());
          default -> {}
        }
      }
    }
  }
}
