package io.github.agentstream.client;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall.SimpleForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import java.util.Map;

/** Adds what every call carries: the bearer token and the caller's trace context. */
final class CallHeaders implements ClientInterceptor {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final String authorization;
  private final Tracer tracer;

  CallHeaders(String token, Tracer tracer) {
    this.authorization = token == null ? null : "Bearer " + token;
    this.tracer = tracer;
  }

  @Override
  public <Q, R> ClientCall<Q, R> interceptCall(
      MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
    // Asked here, on the thread that starts the call, so the tracer sees the caller's span.
    Map<String, String> trace = tracer == null ? Map.of() : tracer.outgoing();
    return new SimpleForwardingClientCall<>(next.newCall(method, options)) {
      @Override
      public void start(Listener<R> listener, Metadata headers) {
        if (authorization != null) {
          headers.put(AUTHORIZATION, authorization);
        }
        trace.forEach(
            (key, value) -> headers.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), value));
        super.start(listener, headers);
      }
    };
  }
}
