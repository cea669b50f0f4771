"""The prompt library: the versioned templates shipped as data files in ``ai_service/prompts``
(one TOML file per version), read and checked once at start-up."""

from __future__ import annotations

import tomllib
from importlib import resources

import msgspec

from ai_service.domain.prompts import PromptTemplate, TemplateError, UseCase, check_template


def load_library() -> dict[str, PromptTemplate]:
    """Every shipped template by version; TemplateError names a broken file."""
    library: dict[str, PromptTemplate] = {}
    for entry in resources.files("ai_service.prompts").iterdir():
        if not entry.name.endswith(".toml"):
            continue
        try:
            template = msgspec.convert(tomllib.loads(entry.read_text()), PromptTemplate)
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
            raise TemplateError(f"prompts/{entry.name}: {exc}") from None
        if entry.name != f"{template.version}.toml":
            raise TemplateError(f"prompts/{entry.name}: its version is {template.version!r}")
        library[template.version] = check_template(template)
    return library


def pick(library: dict[str, PromptTemplate], version: str, use_case: UseCase) -> PromptTemplate:
    template = library.get(version)
    if template is None or template.use_case != use_case:
        known = sorted(v for v, t in library.items() if t.use_case == use_case)
        raise TemplateError(f"no {use_case} prompt {version!r} (shipped: {known})")
    return template
