package io.github.agentstream.client;

import io.grpc.ChannelCredentials;
import io.grpc.TlsChannelCredentials;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * TLS settings: a CA to trust (none: the system's roots) and, for mTLS, a client certificate with
 * its key (PEM files; the key in PKCS#8).
 *
 * <pre>{@code
 * ClientOptions options = ClientOptions.builder()
 *     .tls(Tls.fromFiles("ca.pem", "client.pem", "client.key"))
 *     .token(System.getenv("AGENTSTREAM_TOKEN"))
 *     .build();
 * }</pre>
 */
public final class Tls {
  private final ChannelCredentials credentials;

  private Tls(ChannelCredentials credentials) {
    this.credentials = credentials;
  }

  /** Trusts the system's roots, presents no client certificate. */
  public static Tls systemRoots() {
    return new Tls(TlsChannelCredentials.create());
  }

  /**
   * Reads the files now: {@code ca} to trust (null: the system's roots), {@code cert} and {@code
   * key} to present a client certificate (both null: none).
   *
   * @throws UncheckedIOException naming the file that cannot be read or parsed
   */
  public static Tls fromFiles(String ca, String cert, String key) {
    TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
    if (ca != null) {
      try {
        builder.trustManager(new File(ca));
      } catch (IOException e) {
        throw new UncheckedIOException("TLS CA " + ca + ": " + e.getMessage(), e);
      }
    }
    if (cert != null || key != null) {
      if (cert == null || key == null) {
        throw new IllegalArgumentException("TLS client certificate: give both cert and key");
      }
      try {
        builder.keyManager(new File(cert), new File(key));
      } catch (IOException e) {
        throw new UncheckedIOException(
            "TLS client certificate " + cert + " / " + key + ": " + e.getMessage(), e);
      }
    }
    return new Tls(builder.build());
  }

  ChannelCredentials credentials() {
    return credentials;
  }
}
