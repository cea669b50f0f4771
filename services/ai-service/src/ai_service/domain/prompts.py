"""Prompts: versioned templates kept as data files (``ai_service/prompts/*.toml``), filled in
here. User text is data, never instructions: it goes to the model only as JSON inside one
``<user_data>`` block that the system message tells the model to treat as data, and the JSON
escapes ``<``, ``>`` and ``&``, so nothing a user writes can close the block or open another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

UseCase = Literal["challenge", "task"]
OPEN, CLOSE = "<user_data>", "</user_data>"
Message = dict[str, str]


class PromptTemplate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One version of one use case's prompt (the file's shape)."""

    version: str
    use_case: UseCase
    system: str
    # {rules} and {data}; {data} must sit between <user_data> and </user_data>.
    user: str
    # {problems}: why the previous answer was refused.
    repair: str


class TemplateError(ValueError):
    """A template that cannot be used; the message says why."""


def check_template(template: PromptTemplate) -> PromptTemplate:
    if f"{OPEN}{{data}}{CLOSE}" not in template.user.replace("\n", ""):
        raise TemplateError(f"{template.version}: user must hold {OPEN}{{data}}{CLOSE}")
    if "{data}" in template.system or "{data}" in template.repair:
        raise TemplateError(f"{template.version}: user data belongs in the user message only")
    if "{problems}" not in template.repair:
        raise TemplateError(f"{template.version}: repair must name the {{problems}}")
    return template


def as_data(value: Any) -> str:
    """``value`` as JSON in which no markup can appear (``<`` → ``\\u003c`` and so on)."""
    text = msgspec.json.encode(value).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(template: PromptTemplate, data: Any, rules: Mapping[str, Any]) -> list[Message]:
    """The conversation that asks the model: the system message, then the request with the
    platform's rules (ours, trusted) and the user's data (delimited, escaped)."""
    user = template.user.replace("{rules}", as_data(rules)).replace("{data}", as_data(data))
    return [{"role": "system", "content": template.system}, {"role": "user", "content": user}]


def repair(
    template: PromptTemplate, asked: list[Message], answer: str, problems: list[str]
) -> list[Message]:
    """The same conversation with the refused answer and why it was refused: one more try."""
    why = template.repair.replace("{problems}", "; ".join(problems)[:2000])
    return [
        *asked,
        {"role": "assistant", "content": answer[:8000]},
        {"role": "user", "content": why},
    ]


def response_format(name: str, draft: type[Any]) -> dict[str, Any]:
    """The structured-output request for ``draft`` (OpenAI's ``json_schema`` format, strict):
    its JSON schema with every object closed and every property required (an optional one is
    nullable instead), which is what strict mode asks of a schema."""
    schema = msgspec.json.schema(draft)
    defs: dict[str, Any] = schema.pop("$defs", {})
    root = defs.pop(schema["$ref"].rsplit("/", 1)[-1]) if "$ref" in schema else schema

    def close(node: Any) -> Any:
        if isinstance(node, dict):
            # keywords only: "properties" maps names (a field may be called "title")
            node = {
                k: ({n: close(p) for n, p in v.items()} if k == "properties" else close(v))
                for k, v in node.items()
                if k not in ("default", "title", "description")
            }
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            return node
        if isinstance(node, list):
            return [close(v) for v in node]
        return node

    strict = close(root)
    if defs:
        strict["$defs"] = {n: close(d) for n, d in defs.items()}
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": strict}}
