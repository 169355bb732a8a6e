use std::fmt;

use crate::pb;

/// How a run ended without a final response: the call's gRPC status and, when the server sent
/// one, the run's `error` event with the history so far.
#[derive(Clone, Debug)]
pub struct RunError {
    code: tonic::Code,
    message: String,
    event: Option<pb::RunError>,
}

impl RunError {
    pub(crate) fn new(
        code: tonic::Code,
        message: impl Into<String>,
        event: Option<pb::RunError>,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            event,
        }
    }

    /// The call's gRPC status code.
    pub fn code(&self) -> tonic::Code {
        self.code
    }

    /// The error code the server sent, `Unspecified` when the call broke before it.
    pub fn error_code(&self) -> pb::ErrorCode {
        self.event
            .as_ref()
            .map_or(pb::ErrorCode::Unspecified, |e| e.code())
    }

    /// The server's message, else the status message.
    pub fn message(&self) -> &str {
        self.event.as_ref().map_or(&self.message, |e| &e.message)
    }

    /// True when the same request may succeed later.
    pub fn retryable(&self) -> bool {
        self.event.as_ref().is_some_and(|e| e.retryable)
    }

    /// The conversation so far; send it back with an empty prompt to continue.
    pub fn history(&self) -> &[pb::Message] {
        self.event.as_ref().map_or(&[], |e| &e.history)
    }

    /// The run's `error` event, when the server sent one.
    pub fn event(&self) -> Option<&pb::RunError> {
        self.event.as_ref()
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.event {
            Some(e) => write!(
                f,
                "{} ({:?}): {}",
                e.code().as_str_name(),
                self.code,
                e.message
            ),
            None => write!(f, "{:?}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for RunError {}

impl From<RunError> for tonic::Status {
    fn from(e: RunError) -> Self {
        tonic::Status::new(e.code, e.message().to_string())
    }
}

impl From<tonic::Status> for RunError {
    fn from(s: tonic::Status) -> Self {
        RunError::new(s.code(), s.message(), None)
    }
}
