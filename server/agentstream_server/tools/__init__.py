"""Writing server tools: the public API.

    from agentstream_server.tools import ToolContext, ToolError, tool

    @tool("word_count", "Count the words of a text",
          {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
    def word_count(args: dict, context: ToolContext) -> str:
        context.progress("counting", 0.5)
        return str(len(args["text"].split()))

An agent names it in the config as `module.path:word_count` (or `module.path` for
every tool of the module). The built-in tools are made the same way.
"""

from ..core.tools import Tool, ToolContext, ToolError, tool

__all__ = ["Tool", "ToolContext", "ToolError", "tool"]
