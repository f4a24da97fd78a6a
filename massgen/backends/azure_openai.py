"""The ``azure_openai`` backend: Chat Completions on an Azure OpenAI deployment. Everything but
where requests go and how the key is sent is the ``chatcompletion`` backend."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from massgen.backends.chat_completions import ChatCompletionsBackend
from massgen.errors import ConfigurationError

if TYPE_CHECKING:
    from massgen.config.schema import BackendConfig

DEFAULT_API_VERSION = "2024-10-21"  # the current GA version of the data-plane API


def keyed(headers: dict[str, str], api_key: str | None) -> dict[str, str]:
    """OpenAI's request ``headers`` as Azure takes them: the key in ``api-key``, no bearer."""
    headers = {k: v for k, v in headers.items() if k != "Authorization"}
    if api_key:
        headers["api-key"] = api_key
    return headers


class AzureOpenAIBackend(ChatCompletionsBackend):
    type = "azure_openai"

    def __init__(self, config: BackendConfig, api_key: str | None = None) -> None:
        endpoint = config.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise ConfigurationError(
                "azure_openai needs an endpoint: set AZURE_OPENAI_ENDPOINT or backend.base_url "
                "(https://YOUR-RESOURCE.openai.azure.com)"
            )
        deployment = config.deployment_name or config.model
        if not deployment:
            raise ConfigurationError("azure_openai needs backend.deployment_name (or model)")
        self.endpoint = endpoint.rstrip("/")
        self.deployment = deployment
        self.api_version = (
            config.api_version or os.environ.get("AZURE_OPENAI_API_VERSION") or DEFAULT_API_VERSION
        )
        super().__init__(config.model_copy(update={"base_url": self.endpoint}), api_key)

    @property
    def model(self) -> str:
        return self.config.model or self.deployment

    @property
    def self_hosted(self) -> bool:
        return False  # always a paid Azure deployment, whatever its endpoint

    @property
    def openai_hosted(self) -> bool:
        return True  # Azure's API follows OpenAI's: max_completion_tokens

    def url(self) -> str:
        return f"{self.endpoint}/openai/deployments/{self.deployment}/chat/completions"

    def query(self) -> dict[str, str]:
        return {"api-version": self.api_version}

    def headers(self) -> dict[str, str]:
        return keyed(super().headers(), self.api_key)
