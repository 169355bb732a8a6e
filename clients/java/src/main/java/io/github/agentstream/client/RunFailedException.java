package io.github.agentstream.client;

import io.github.agentstream.v1.ErrorCode;
import io.github.agentstream.v1.Message;
import io.github.agentstream.v1.RunError;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.Optional;

/**
 * A run ended without a final response. It is a {@link StatusRuntimeException}, so {@code
 * Status.fromThrowable(e).getCode()} reads the call's gRPC status; it also carries the run's
 * {@link RunError} event when the server sent one, with the history so far.
 */
public final class RunFailedException extends StatusRuntimeException {
  private static final long serialVersionUID = 1L;

  private final transient RunError error;

  RunFailedException(Status status, RunError error) {
    super(status);
    this.error = error;
  }

  /** The run's error event, empty when the call broke before the server sent one. */
  public Optional<RunError> error() {
    return Optional.ofNullable(error);
  }

  /** The error code the server sent, or ERROR_CODE_UNSPECIFIED without an error event. */
  public ErrorCode errorCode() {
    return error == null ? ErrorCode.ERROR_CODE_UNSPECIFIED : error.getCode();
  }

  /** True when the same request may succeed later. */
  public boolean retryable() {
    return error != null && error.getRetryable();
  }

  /** The conversation so far; send it back with an empty prompt to continue. */
  public List<Message> history() {
    return error == null ? List.of() : error.getHistoryList();
  }

  @Override
  public String getMessage() {
    Status status = getStatus();
    if (error != null) {
      return error.getCode() + " (" + status.getCode() + "): " + error.getMessage();
    }
    return status.getCode() + ": " + status.getDescription();
  }
}
