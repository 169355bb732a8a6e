//! One StreamPrompt run; see `clients/README.md` for the contract every helper follows.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use tonic::Streaming;

use crate::connect::Service;
use crate::error::RunError;
use crate::hooks::{tool_fn, HookFn, HooksConfig, HooksSession, ToolFn};
use crate::pb;
use crate::pb::stream_prompt_response::Event;
use crate::tracing::Tracer;

/// How long a finished run waits for its hooks stream's last events.
pub const HOOKS_DRAIN: Duration = Duration::from_millis(500);

/// State shared with [`CancelHandle`]s.
struct Shared {
    started: bool,
    cancelled_before_start: Option<String>,
    /// The last event (final_response or error) arrived: cancel does nothing any more.
    ended: bool,
    hooks: Option<HooksSession>,
}

/// Cancels a run from anywhere (another task, a signal handler); cheap to clone.
#[derive(Clone)]
pub struct CancelHandle {
    service: Service,
    run_id: String,
    shared: Arc<Mutex<Shared>>,
}

impl CancelHandle {
    /// Cancels the run on the server (CancelRun, or the hooks stream while the run is not
    /// registered yet): it ends with ERROR_CODE_CANCELLED, status CANCELLED and its history.
    /// Before the run started no call is made and the run ends cancelled at once; after it
    /// ended nothing happens.
    pub async fn cancel(&self, reason: &str) {
        {
            let mut shared = self.shared.lock().unwrap();
            if !shared.started {
                shared.cancelled_before_start = Some(reason.to_string());
                return;
            }
            if shared.ended {
                return;
            }
        }
        let request = pb::CancelRunRequest {
            run_id: self.run_id.clone(),
            reason: reason.into(),
        };
        match self.service.clone().cancel_run(request).await {
            Err(status) if status.code() == tonic::Code::NotFound => {}
            _ => return,
        }
        let mut shared = self.shared.lock().unwrap();
        let hooks = shared.hooks.get_or_insert_with(|| {
            // A stream attached only to carry the cancel; events still come on StreamPrompt.
            let config = HooksConfig {
                tools: HashMap::new(),
                handler: None,
                events: vec![pb::HookEventKind::CompletionCall],
                blocking: vec![],
                tracer: None,
            };
            HooksSession::open(self.service.clone(), &self.run_id, Arc::new(config))
        });
        hooks.cancel_run(reason);
    }
}

/// One run of a request. Nothing is sent until it is first read with [`Run::next`],
/// [`Run::events`] or [`Run::result`]. A failed run's events end with `Err(RunError)` after its
/// `error` event. Dropping the run disconnects it.
pub struct Run {
    service: Service,
    request: pb::StreamPromptRequest,
    tools: HashMap<String, ToolFn>,
    handler: Option<HookFn>,
    use_hooks: bool,
    events: Vec<pb::HookEventKind>,
    blocking: Vec<pb::HookEventKind>,
    timeout: Option<Duration>,
    tracer: Option<Arc<dyn Tracer>>,
    shared: Arc<Mutex<Shared>>,
    stream: Option<Streaming<pb::StreamPromptResponse>>,
    final_response: Option<pb::FinalResponse>,
    run_error: Option<pb::RunError>,
    outcome: Option<Result<pb::FinalResponse, RunError>>,
    error_yielded: bool,
}

impl Run {
    pub(crate) fn new(
        service: Service,
        tracer: Option<Arc<dyn Tracer>>,
        mut request: pb::StreamPromptRequest,
    ) -> Self {
        if request.run_id.is_empty() {
            request.run_id = format!("rust-{:016x}", random_u64());
        }
        let shared = Shared {
            started: false,
            cancelled_before_start: None,
            ended: false,
            hooks: None,
        };
        Self {
            service,
            request,
            tools: HashMap::new(),
            handler: None,
            use_hooks: false,
            events: vec![],
            blocking: vec![],
            timeout: None,
            tracer,
            shared: Arc::new(Mutex::new(shared)),
            stream: None,
            final_response: None,
            run_error: None,
            outcome: None,
            error_yielded: false,
        }
    }

    /// Adds a client tool: `function` gets the parsed arguments and returns the output; an
    /// `Err` becomes an `is_error` result the model reads. Calls of one turn run concurrently.
    pub fn tool<F, Fut, E>(mut self, definition: pb::ToolDefinition, function: F) -> Self
    where
        F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.tools
            .insert(definition.name.clone(), tool_fn(function));
        self.request.tools.push(definition);
        self.use_hooks = true;
        self
    }

    /// Attaches a hook handler: `events` are the kinds to receive (none means all), `blocking`
    /// the kinds the loop waits on until it answers (`None` means proceed).
    pub fn hooks<F>(
        mut self,
        handler: F,
        events: &[pb::HookEventKind],
        blocking: &[pb::HookEventKind],
    ) -> Self
    where
        F: Fn(&pb::HookEvent) -> Option<pb::HookReply> + Send + Sync + 'static,
    {
        self.handler = Some(Arc::new(handler));
        self.events = events.to_vec();
        self.blocking = blocking.to_vec();
        self.use_hooks = true;
        self
    }

    /// The call's deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The run's id: the request's, or the one the helper chose for it.
    pub fn run_id(&self) -> &str {
        &self.request.run_id
    }

    /// A handle that cancels this run from another task.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            service: self.service.clone(),
            run_id: self.request.run_id.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Cancels the run (see [`CancelHandle::cancel`]).
    pub async fn cancel(&self, reason: &str) {
        self.cancel_handle().cancel(reason).await;
    }

    /// The next event; `None` once the run is over.
    pub async fn next(&mut self) -> Option<Result<pb::StreamPromptResponse, RunError>> {
        if let Some(outcome) = &self.outcome {
            if let Err(e) = outcome {
                if !self.error_yielded {
                    self.error_yielded = true;
                    return Some(Err(e.clone()));
                }
            }
            return None;
        }
        if self.stream.is_none() {
            if let Err(e) = self.start().await {
                self.finish(Err(e)).await;
                return Box::pin(self.next()).await;
            }
        }
        let stream = self.stream.as_mut()?;
        match stream.message().await {
            Ok(Some(event)) => {
                match &event.event {
                    Some(Event::FinalResponse(f)) => {
                        self.final_response = Some(f.clone());
                        self.shared.lock().unwrap().ended = true;
                    }
                    Some(Event::Error(e)) => {
                        self.run_error = Some(e.clone());
                        self.shared.lock().unwrap().ended = true;
                    }
                    _ => {}
                }
                Some(Ok(event))
            }
            Ok(None) => {
                let outcome = match self.final_response.take() {
                    Some(f) => Ok(f),
                    None => Err(self.failure(
                        tonic::Code::Unknown,
                        "the stream ended without a final response",
                    )),
                };
                self.finish(outcome).await;
                Box::pin(self.next()).await
            }
            Err(status) => {
                let failure = self.failure(status.code(), status.message());
                self.finish(Err(failure)).await;
                Box::pin(self.next()).await
            }
        }
    }

    /// The events as a [`Stream`]; reading can stop and go on later (with `next` or `result`).
    pub fn events(
        &mut self,
    ) -> impl Stream<Item = Result<pb::StreamPromptResponse, RunError>> + '_ {
        futures_util::stream::unfold(self, |run| async move {
            run.next().await.map(|item| (item, run))
        })
    }

    /// Reads the remaining events (serving client tools meanwhile) and returns the final
    /// response, or the run error. Asked again, it answers the same.
    pub async fn result(&mut self) -> Result<pb::FinalResponse, RunError> {
        while self.outcome.is_none() {
            let _ = self.next().await;
        }
        self.error_yielded = true;
        self.outcome.clone().expect("the run is over")
    }

    /// Disconnects a run still going: the server abandons it; the run ends CANCELLED locally.
    pub fn close(&mut self) {
        if self.outcome.is_none() && self.stream.take().is_some() {
            self.outcome = Some(Err(RunError::new(
                tonic::Code::Cancelled,
                "the caller closed the run",
                None,
            )));
            if let Some(hooks) = self.shared.lock().unwrap().hooks.take() {
                hooks.task.abort();
            }
        }
    }

    fn failure(&self, code: tonic::Code, message: &str) -> RunError {
        RunError::new(code, message, self.run_error.clone())
    }

    async fn start(&mut self) -> Result<(), RunError> {
        {
            let mut shared = self.shared.lock().unwrap();
            shared.started = true;
            if let Some(reason) = &shared.cancelled_before_start {
                let message = if reason.is_empty() {
                    "cancelled before the run started"
                } else {
                    reason
                };
                let event = pb::RunError {
                    code: pb::ErrorCode::Cancelled as i32,
                    message: message.to_string(),
                    ..Default::default()
                };
                return Err(RunError::new(tonic::Code::Cancelled, message, Some(event)));
            }
            if self.use_hooks {
                self.request
                    .hooks
                    .get_or_insert_with(Default::default)
                    .wait_for_client = true;
                let config = HooksConfig {
                    tools: std::mem::take(&mut self.tools),
                    handler: self.handler.take(),
                    events: self.events.clone(),
                    blocking: self.blocking.clone(),
                    tracer: self.tracer.clone(),
                };
                shared.hooks = Some(HooksSession::open(
                    self.service.clone(),
                    &self.request.run_id,
                    Arc::new(config),
                ));
            }
        }
        let mut request = tonic::Request::new(self.request.clone());
        if let Some(timeout) = self.timeout {
            request.set_timeout(timeout);
        }
        let response = self.service.stream_prompt(request).await?;
        self.stream = Some(response.into_inner());
        Ok(())
    }

    async fn finish(&mut self, outcome: Result<pb::FinalResponse, RunError>) {
        self.stream = None;
        let hooks = {
            let mut shared = self.shared.lock().unwrap();
            shared.ended = true;
            shared.hooks.take()
        };
        if let Some(mut hooks) = hooks {
            if tokio::time::timeout(HOOKS_DRAIN, &mut hooks.task)
                .await
                .is_err()
            {
                hooks.task.abort();
            }
        }
        self.outcome = Some(outcome);
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Ok(mut shared) = self.shared.lock() {
            if let Some(hooks) = shared.hooks.take() {
                hooks.task.abort();
            }
        }
    }
}

/// Enough randomness for a run id, without a dependency: std's per-process random hash keys.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}
