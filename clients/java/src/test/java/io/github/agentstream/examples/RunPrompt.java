package io.github.agentstream.examples;

import io.github.agentstream.client.AgentClient;
import io.github.agentstream.client.ClientOptions;
import io.github.agentstream.client.Run;
import io.github.agentstream.client.RunFailedException;
import io.github.agentstream.client.RunOptions;
import io.github.agentstream.client.Tls;
import io.github.agentstream.v1.StreamPromptRequest;
import io.github.agentstream.v1.StreamPromptResponse;
import io.grpc.Status;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * Asks the default agent of a running server ({@code make run}) a question, serves a client tool
 * ("weather") with a lambda, and prints the run's events as they stream: {@code make
 * example-java}. Over TLS: {@code --ca ca.pem}, for mTLS also {@code --cert client.pem --key
 * client.key}; a bearer token with {@code --token} (or {@code AGENTSTREAM_TOKEN}).
 */
public final class RunPrompt {
  private RunPrompt() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> flags = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      flags.put(args[i], args[i + 1]);
    }
    String target = flags.getOrDefault("--target", "localhost:50051");
    ClientOptions.Builder connection = ClientOptions.builder();
    if (flags.containsKey("--ca") || flags.containsKey("--cert")) {
      connection.tls(Tls.fromFiles(flags.get("--ca"), flags.get("--cert"), flags.get("--key")));
    }
    String token = flags.getOrDefault("--token", System.getenv("AGENTSTREAM_TOKEN"));
    if (token != null) {
      connection.token(token);
    }
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
    try (AgentClient client = AgentClient.connect(target, connection.build());
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
    } catch (RunFailedException e) {
      // The run's gRPC status, e.g. UNAUTHENTICATED for a refused token.
      System.out.println("run failed: " + Status.fromThrowable(e).getCode() + ": " + e.getMessage());
      System.exit(1);
    }
  }
}
