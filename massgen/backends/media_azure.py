"""Azure OpenAI's image generation: the Images API (generations and edits) of a deployment,
``{endpoint}/openai/deployments/{deployment}/images/...?api-version=...`` with the key in an
``api-key`` header. The requests and answers are OpenAI's (:class:`OpenAIMedia`)."""

from __future__ import annotations

import os
from urllib.parse import quote

from massgen.backends.azure_openai import keyed
from massgen.backends.media_openai import OpenAIMedia
from massgen.errors import ConfigurationError

#: The first data-plane version with gpt-image-1 (``$AZURE_OPENAI_API_VERSION`` overrides it).
IMAGES_API_VERSION = "2025-04-01-preview"


class AzureMedia(OpenAIMedia):
    """The deployment ``deployment`` of the Azure OpenAI resource at ``endpoint``."""

    provider = "azure_openai"

    def __init__(
        self,
        endpoint: str | None,
        api_key: str | None,
        timeout: float,
        deployment: str,
        api_version: str | None = None,
    ) -> None:
        if not endpoint:
            raise ConfigurationError(
                "azure_openai image generation needs an endpoint: set AZURE_OPENAI_ENDPOINT "
                "or generation.image.base_url (https://YOUR-RESOURCE.openai.azure.com)"
            )
        super().__init__(endpoint, api_key, timeout)
        self.deployment = deployment
        self.api_version = (
            api_version or os.environ.get("AZURE_OPENAI_API_VERSION") or IMAGES_API_VERSION
        )

    def url(self, path: str) -> str:
        deployment = quote(self.deployment, safe="")
        return (
            f"{self.base_url}/openai/deployments/{deployment}{path}"
            f"?api-version={quote(self.api_version, safe='')}"
        )

    def headers(self) -> dict[str, str]:
        return keyed(super().headers(), self.api_key)
