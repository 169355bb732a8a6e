use std::sync::Arc;

use tonic::transport::Channel;

use crate::connect::{CallHeaders, ClientBuilder, ConnectError, Service};
use crate::error::RunError;
use crate::pb;
use crate::pb::agent_service_client::AgentServiceClient;
use crate::run::Run;
use crate::tracing::Tracer;

/// The largest message sent or accepted: a run's last event carries its whole history, which
/// the server allows up to its max_response_bytes (16 MiB by default).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// A client of one agentstream server; cheap to clone.
#[derive(Clone)]
pub struct AgentClient {
    service: Service,
    tracer: Option<Arc<dyn Tracer>>,
}

impl AgentClient {
    /// Connects to `target` ("host:port", or a URI) in plaintext, as for a server on localhost.
    pub async fn connect(target: impl AsRef<str>) -> Result<Self, ConnectError> {
        Self::builder(target).connect().await
    }

    /// Connects with options: TLS, a bearer token, a tracer.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use agentstream::{AgentClient, Tls};
    /// let client = AgentClient::builder("agents.example.com:443")
    ///     .tls(Tls::default().ca_file("ca.pem")?)
    ///     .token(std::env::var("AGENTSTREAM_TOKEN")?)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(target: impl AsRef<str>) -> ClientBuilder {
        ClientBuilder::new(target.as_ref())
    }

    /// Uses a channel the caller built (TLS, timeouts, ...).
    pub fn from_channel(channel: Channel) -> Self {
        Self::with_headers(channel, CallHeaders::default(), None)
    }

    pub(crate) fn with_headers(
        channel: Channel,
        headers: CallHeaders,
        tracer: Option<Arc<dyn Tracer>>,
    ) -> Self {
        let service = AgentServiceClient::with_interceptor(channel, headers)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Self { service, tracer }
    }

    /// The generated stub, for calls the helper does not wrap (with the token and trace
    /// context the client was built with).
    pub fn service(&self) -> Service {
        self.service.clone()
    }

    /// Lists the configured agents.
    pub async fn list_agents(&self) -> Result<Vec<pb::AgentInfo>, tonic::Status> {
        let response = self.service().list_agents(pb::ListAgentsRequest {}).await?;
        Ok(response.into_inner().agents)
    }

    /// The events of a run with seq greater than `after_seq`, from the server's log and then
    /// live until the run's last event, each once: resumes a run (started with `detach`) with
    /// the seq of the last event seen. Read it with [`Watch::next`]. Consecutive deltas already
    /// logged arrive joined (WatchRun's `coalesce`): such an event covers the seqs
    /// `first_seq..=seq`, so resume after its `seq`.
    pub async fn watch(&self, run_id: &str, after_seq: u64) -> Result<Watch, RunError> {
        let request = pb::WatchRunRequest {
            run_id: run_id.into(),
            after_seq,
            coalesce: true,
        };
        let stream = self.service().watch_run(request).await?.into_inner();
        Ok(Watch {
            stream,
            run_error: None,
            done: false,
        })
    }

    /// A run of the request; configure it (`tool`, `hooks`, `timeout`), then read it.
    pub fn run(&self, request: pb::StreamPromptRequest) -> Run {
        Run::new(self.service(), self.tracer.clone(), request)
    }
}

/// A WatchRun call: the events of a run, ending with `Err(RunError)` after a failed run's
/// `error` event, as a [`Run`]'s do.
pub struct Watch {
    stream: tonic::Streaming<pb::StreamPromptResponse>,
    run_error: Option<pb::RunError>,
    done: bool,
}

impl Watch {
    /// The next event; `None` once the run is over.
    pub async fn next(&mut self) -> Option<Result<pb::StreamPromptResponse, RunError>> {
        if self.done {
            return None;
        }
        match self.stream.message().await {
            Ok(Some(event)) => {
                if let Some(pb::stream_prompt_response::Event::Error(e)) = &event.event {
                    self.run_error = Some(e.clone());
                }
                Some(Ok(event))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(status) => {
                self.done = true;
                let event = self.run_error.take();
                Some(Err(RunError::new(status.code(), status.message(), event)))
            }
        }
    }
}
