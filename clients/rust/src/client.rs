use tonic::transport::{Channel, Endpoint};

use crate::pb;
use crate::pb::agent_service_client::AgentServiceClient;
use crate::run::Run;

/// The largest message sent or accepted: a run's last event carries its whole history, which
/// the server allows up to its max_response_bytes (16 MiB by default).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// A client of one agentstream server; cheap to clone.
#[derive(Clone)]
pub struct AgentClient {
    service: AgentServiceClient<Channel>,
}

impl AgentClient {
    /// Connects to `target` ("host:port", or a URI) in plaintext, as for a server on localhost.
    pub async fn connect(target: impl AsRef<str>) -> Result<Self, tonic::transport::Error> {
        let target = target.as_ref();
        let uri = if target.contains("://") {
            target.to_string()
        } else {
            format!("http://{target}")
        };
        let channel = Endpoint::from_shared(uri)?.connect().await?;
        Ok(Self::from_channel(channel))
    }

    /// Uses a channel the caller built (TLS, timeouts, ...).
    pub fn from_channel(channel: Channel) -> Self {
        let service = AgentServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Self { service }
    }

    /// The generated stub, for calls the helper does not wrap.
    pub fn service(&self) -> AgentServiceClient<Channel> {
        self.service.clone()
    }

    /// Lists the configured agents.
    pub async fn list_agents(&self) -> Result<Vec<pb::AgentInfo>, tonic::Status> {
        let response = self.service().list_agents(pb::ListAgentsRequest {}).await?;
        Ok(response.into_inner().agents)
    }

    /// A run of the request; configure it (`tool`, `hooks`, `timeout`), then read it.
    pub fn run(&self, request: pb::StreamPromptRequest) -> Run {
        Run::new(self.service(), request)
    }
}
