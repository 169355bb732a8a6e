package io.github.agentstream.client;

/**
 * How a client connects: TLS, a bearer token, a tracer. Build with {@link #builder}; pass to
 * {@link AgentClient#connect(String, ClientOptions)}.
 */
public final class ClientOptions {
  final Tls tls;
  final String token;
  final Tracer tracer;

  private ClientOptions(Builder b) {
    this.tls = b.tls;
    this.token = b.token;
    this.tracer = b.tracer;
  }

  public static Builder builder() {
    return new Builder();
  }

  static ClientOptions none() {
    return builder().build();
  }

  public static final class Builder {
    private Tls tls;
    private String token;
    private Tracer tracer;

    private Builder() {}

    /** Connects over TLS with these settings (plaintext otherwise). */
    public Builder tls(Tls tls) {
      this.tls = tls;
      return this;
    }

    /**
     * Sends {@code authorization: Bearer <token>} with every call. A token the server refuses
     * fails calls with UNAUTHENTICATED ({@code Status.fromThrowable(e)} of the run error).
     */
    public Builder token(String token) {
      this.token = token;
      return this;
    }

    /**
     * Sends the caller's trace context with every call and runs client tools through it: {@link
     * Tracer#traceparent} for a traceparent from anywhere, {@link OpenTelemetryTracer} for
     * OpenTelemetry.
     */
    public Builder tracer(Tracer tracer) {
      this.tracer = tracer;
      return this;
    }

    public ClientOptions build() {
      return new ClientOptions(this);
    }
  }
}
