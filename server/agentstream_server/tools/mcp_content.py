"""An MCP tool result as the text of a `tool_result`.

Text blocks are kept as they are; binary content (images, audio, blobs) becomes
a short placeholder, since a tool result is text for every provider; a result
with only structured content is sent as its JSON.
"""

from __future__ import annotations

import base64
import binascii
import json

import mcp_types as mt


def result_text(result: mt.CallToolResult) -> str:
    pieces = [_block_text(block) for block in result.content]
    if not pieces and result.structured_content is not None:
        return json.dumps(result.structured_content)
    return "\n".join(pieces)


def _block_text(block: mt.ContentBlock) -> str:
    if isinstance(block, mt.TextContent):
        return block.text
    if isinstance(block, mt.ImageContent | mt.AudioContent):
        kind = "image" if isinstance(block, mt.ImageContent) else "audio"
        return f"[{kind}: {block.mime_type}, {_decoded_size(block.data)} bytes, not shown]"
    if isinstance(block, mt.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mt.TextResourceContents):
            return resource.text
        mime = resource.mime_type or "application/octet-stream"
        return f"[resource {resource.uri}: {mime}, {_decoded_size(resource.blob)} bytes, not shown]"
    return f"[resource link: {block.uri}]"


def _decoded_size(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return len(data)
