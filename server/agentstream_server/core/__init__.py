"""The agent loop: plain asyncio over neutral events, free of gRPC and of any provider."""
