"""The config schema (docs/architecture.md, "Config") as pydantic models.

Unknown keys are errors, so a typo is caught with a suggestion instead of silently ignored.
Backend ``type`` and options are checked against :mod:`massgen.providers` (facts as data);
nothing here imports a backend or a provider SDK. The shared base is
:mod:`massgen.config.fields`; an agent's tools (MCP servers, custom tools) are
:mod:`massgen.config.tool_config`.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from massgen.config.fields import FieldProblem, HttpURL, Strict
from massgen.config.generation import GenerationConfig
from massgen.config.tool_config import CustomToolConfig, MCPServerConfig
from massgen.config.understanding import Understanding
from massgen.providers import check_backend_type, option_problem, refusal


class ReasoningConfig(Strict):
    """OpenAI reasoning models (Responses API): effort and the summary streamed back."""

    effort: Literal["minimal", "low", "medium", "high"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class TextConfig(Strict):
    """OpenAI models (Responses API): how long the text they write is."""

    verbosity: Literal["low", "medium", "high"] | None = None


# ag2: an AG2 agent's own configuration, in AG2's shape (``llm_config``, ``code_execution_config``)
class AG2ModelEntry(Strict):
    """One ``llm_config.config_list`` entry: an OpenAI-compatible endpoint and model."""

    model: str = Field(min_length=1, description="The model name at the endpoint.")
    api_key: SecretStr | None = Field(default=None, description="Default: OPENAI_API_KEY.")
    base_url: HttpURL = Field(default=None, description="Default: OPENAI_BASE_URL, else OpenAI.")
    api_type: Literal["openai"] = Field(
        default="openai", description="AG2's client type; massgen runs OpenAI-compatible ones."
    )


class AG2LLMConfig(Strict):
    config_list: list[AG2ModelEntry] = Field(min_length=1, description="Tried in order.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, description="Sampling seed, sent with each request.")
    timeout: float | None = Field(default=None, gt=0, description="Seconds for one request.")


class AG2CodeExecution(Strict):
    """Code blocks the agent writes are run: ``local`` in massgen's bubblewrap sandbox
    (never unconfined on the host), ``docker`` in AG2's Docker executor."""

    executor: Literal["local", "docker"] = "local"
    work_dir: str = Field(default="coding", description="Without run files: where code runs.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds for one code block.")
    docker_image: str = Field(default="python:3.12-slim", description="docker: the image.")


class BackendConfig(Strict):
    """How one agent reaches its model."""

    type: str = Field(description="Backend type, e.g. chatcompletion, grok, vllm.")
    model: str | None = Field(default=None, description="Model name at the provider.")
    base_url: HttpURL = Field(default=None, description="Override the endpoint URL.")
    api_key: SecretStr | None = Field(default=None, description="Key; default from env.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    timeout: float = Field(default=120.0, gt=0, description="Seconds for one HTTP request.")
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries of a failed call.")
    stream: bool = Field(default=True, description="Stream responses (off for servers that can't).")
    workflow_mode: Literal["auto", "tools", "json", "text"] = Field(
        default="auto",
        description="How the model states its action: function calls, schema-constrained "
        "JSON, or text; auto starts with tools and falls back after an invalid attempt.",
    )
    seed: int | None = Field(
        default=None,
        description="Sampling seed, sent with each request where the API takes one "
        "(chatcompletion and its presets, azure_openai, gemini, local; ag2: in llm_config). "
        "The Responses API (openai), claude and claude_code have none: refused there.",
    )
    # provider features (where the provider has them)
    enable_web_search: bool = Field(default=False, description="Provider's own web search.")
    enable_code_execution: bool = Field(default=False, description="Provider's code sandbox.")
    enable_code_interpreter: bool = Field(default=False, description="OpenAI's code sandbox.")
    reasoning: ReasoningConfig | None = Field(default=None, description="openai: effort, summary.")
    text: TextConfig | None = Field(default=None, description="openai: verbosity.")
    thinking_budget: int | None = Field(
        default=None, ge=0, description="claude, gemini: tokens for extended thinking."
    )
    # type: azure_openai (the endpoint is base_url, else AZURE_OPENAI_ENDPOINT)
    deployment_name: str | None = Field(default=None, description="azure_openai: deployment.")
    api_version: str | None = Field(default=None, description="azure_openai: API version.")
    # claude_code (Claude Code through the Claude Agent SDK; see massgen/backends/claude_code.py)
    cwd: str | None = Field(
        default=None,
        description="claude_code, codex: its tools' folder in a run without files (relative "
        "to where massgen runs; created if missing); a run with files uses the agent's "
        "workspace.",
    )
    allowed_tools: list[str] | None = Field(
        default=None,
        description="claude_code: its own tools it may use (default: Read, Write, Edit, Bash, "
        "Grep, Glob).",
    )
    disallowed_tools: list[str] | None = Field(
        default=None, description="claude_code: its own tools to leave out."
    )
    max_turns: int | None = Field(
        default=None, gt=0, description="claude_code: model calls in one agent turn at most."
    )
    # sampling and request options of particular providers (checked in _supported below)
    top_k: int | None = Field(default=None, gt=0, description="claude, gemini, servers: top-k.")
    repetition_penalty: float | None = Field(
        default=None, gt=0, description="vLLM, SGLang, llama.cpp, ...: repetition penalty."
    )
    separate_reasoning: bool | None = Field(
        default=None, description="SGLang: return reasoning apart from the answer."
    )
    extra_body: dict[str, Any] | None = Field(
        default=None, description="OpenAI-compatible servers: extra JSON fields, sent as is."
    )
    safety_settings: dict[str, str] | None = Field(
        default=None, description="gemini: {HARM_CATEGORY_...: BLOCK_...}."
    )
    vision: bool | None = Field(
        default=None,
        description="chatcompletion and its presets: the model accepts images (image_url parts).",
    )
    parallel_requests: int | None = Field(
        default=None,
        gt=0,
        description="OpenAI-compatible servers: requests in flight to this endpoint at most.",
    )
    port: int | None = Field(
        default=None, gt=0, lt=65536, description="lmstudio, vllm, sglang, ollama: local port."
    )
    self_hosted: bool | None = Field(
        default=None,
        description="OpenAI-compatible servers: the model runs on your own hardware, so its "
        "calls cost nothing (default: true for vllm, sglang, lmstudio and ollama; others are "
        "priced by their model, or their cost is unknown).",
    )
    prompt_cache: bool | None = Field(
        default=None,
        description="Provider prompt caching of the prompt part the agents of a round share "
        "(null: on where it applies: claude's cache_control breakpoints, prompt_cache_key to "
        "OpenAI's own service and Azure; true: also send prompt_cache_key to other "
        "OpenAI-compatible servers; false: off).",
    )
    # the agent's own tools (the tool loop runs them inside a turn)
    mcp_servers: list[MCPServerConfig] = Field(default_factory=list)
    custom_tools: list[CustomToolConfig] = Field(default_factory=list)
    # type: local
    model_path: str | None = Field(default=None, description="local: a GGUF file to run.")
    n_ctx: int | None = Field(default=None, gt=0, description="local: context window (tokens).")
    n_threads: int | None = Field(default=None, gt=0, description="local: CPU threads.")
    # ag2
    agent_type: Literal["ConversableAgent", "AssistantAgent"] | None = Field(
        default=None, description="ag2: the AG2 agent class."
    )
    llm_config: AG2LLMConfig | None = Field(default=None, description="ag2: its models.")
    code_execution_config: AG2CodeExecution | None = Field(
        default=None, description="ag2: run the code blocks it writes (false: never)."
    )

    @field_validator("code_execution_config", mode="before")
    @classmethod
    def _no_code(cls, value: Any) -> Any:
        return None if value is False else value  # AG2's own way to say "no code execution"

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        check_backend_type(value)
        return value

    @field_validator("mcp_servers")
    @classmethod
    def _unique_servers(cls, servers: list[MCPServerConfig]) -> list[MCPServerConfig]:
        names = [s.name for s in servers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two MCP servers are named '{twice[0]}'; names must differ")
        return servers

    @model_validator(mode="after")
    def _supported(self) -> BackendConfig:
        """Options a provider has no way to honour are refused, naming what to use instead,
        rather than silently dropped."""
        problem = option_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _model_given(self) -> BackendConfig:
        """Every backend names its model, except ``local`` (the embedded model by default)
        and ``azure_openai`` (its deployment names it)."""
        if self.model is not None and not self.model.strip():
            raise ValueError("model: must not be empty")
        if self.model is None and self.type not in ("local", "azure_openai", "ag2"):
            raise ValueError(f"missing required key 'model' (the model name at {self.type})")
        return self


class AgentConfig(Strict):
    id: str | None = Field(default=None, description="Name shown in the UI and logs.")
    system_message: str | None = None
    backend: BackendConfig
    max_cost_usd: float | None = Field(
        default=None, gt=0, description="This agent's budget in USD (overrides the team's)."
    )
    max_total_tokens: int | None = Field(
        default=None, gt=0, description="This agent's budget in tokens (prompt + completion)."
    )
    understanding: Understanding = Field(
        default=None, description="Its understanding tools (true: all four; false: none)."
    )
    generation: GenerationConfig | None = Field(
        default=None, description="Its generate_* tools (a kind set here replaces the team's)."
    )


#: The coordination strategies (docs/architecture.md, "Strategies").
STRATEGIES = ("vote", "debate", "judge")
#: Orchestrator options that mean something under some strategies only; a config that sets
#: one under another strategy to anything but its default is refused (it would do nothing).
STRATEGY_OPTIONS: dict[str, tuple[str, ...]] = {
    "max_rounds": ("vote", "debate"),
    "vote_weighting": ("vote",),
    "peer_view": ("vote",),
    "peer_view_size": ("vote",),
    "peer_view_above": ("vote",),
    "stop_when": ("vote",),
    "consensus_threshold": ("debate",),
    "judge": ("debate", "judge"),
    "layers": ("judge",),
}
#: Rounds when ``max_rounds`` is not set: vote's rounds (the first answers included, the last
#: vote-only); debate's revision rounds after the independent answers (Du et al. use two).
DEFAULT_ROUNDS = {"vote": 6, "debate": 2, "judge": 6}


class ContextPathConfig(Strict):
    """A file or directory of the user's that the agents may work on (a relative path is
    relative to where massgen runs, so a shared config can grant ``.``: your project)."""

    path: str
    permission: Literal["read", "write"] = Field(
        default="read", description="write: the final presenter may change it."
    )
    protected_paths: list[str] = Field(
        default_factory=list, description="Inside the path; never written, even with write."
    )


class CoordinationConfig(Strict):
    """How the agents coordinate (``orchestrator.coordination``)."""

    enable_planning_mode: bool = Field(
        default=False,
        description="While the agents coordinate, calls of MCP tools that change things are "
        "planned, not made; the final presenter makes them. Tools marked read-only (read_only, "
        "read_only_tools, or the server's readOnlyHint) run as usual.",
    )


class OrchestratorConfig(Strict):
    """Coordination rules and the bounds that make every run end."""

    strategy: Literal["vote", "debate", "judge"] = "vote"
    max_new_answers_per_agent: int = Field(default=3, ge=1)
    max_rounds: int | None = Field(
        default=None,
        ge=1,
        description="vote: rounds, the last vote-only (default 6, at least 2); debate: "
        "revision rounds after the independent answers (default 2).",
    )
    timeout_seconds: float = Field(default=600.0, gt=0, description="Whole run.")
    turn_timeout_seconds: float = Field(default=300.0, gt=0, description="One agent turn.")
    first_answer_timeout_seconds: float = Field(
        default=180.0, gt=0, description="How long answered agents wait for the others' first."
    )
    max_tool_calls_per_turn: int = Field(
        default=25, ge=0, description="An agent's own tool calls in one turn, at most."
    )
    tool_timeout_seconds: float = Field(default=60.0, gt=0, description="One tool call.")
    tool_result_max_chars: int = Field(
        default=20_000, ge=100, description="A longer tool result is cut, with a note."
    )
    # files and commands
    context_paths: list[ContextPathConfig] = Field(default_factory=list)
    enable_filesystem: bool | None = Field(
        default=None,
        description="true: every agent has a workspace and the file tools; false: no file "
        "tools and no commands; unset: file tools when there are context paths or commands.",
    )
    enable_command_line: bool = Field(
        default=False, description="run_command: shell commands in the agent's workspace."
    )
    sandbox: Literal["auto", "bubblewrap", "docker", "none"] = Field(
        default="auto", description="Where commands run; none: unconfined, on purpose."
    )
    use_docker: bool = Field(
        default=False, description="Commands, in a Docker container (turns run_command on)."
    )
    docker_image: str = "python:3.12-slim"
    command_timeout_seconds: float = Field(default=120.0, gt=0)
    snapshot_storage: str | None = Field(
        default=None, description="Where answers' file snapshots go (default: the session)."
    )
    agent_temporary_workspace: str | None = Field(
        default=None, description="Where agents' workspaces go (default: the session)."
    )
    restart_policy: Literal["cancel", "finish"] = "cancel"
    restart_debounce_seconds: float = Field(default=0.1, ge=0)
    final_answer: Literal["present", "reuse"] = "present"
    coordination: CoordinationConfig = Field(default_factory=CoordinationConfig)
    understanding: Understanding = Field(
        default=None, description="Every agent's understanding tools (an agent's own replace it)."
    )
    generation: GenerationConfig | None = Field(
        default=None, description="Every agent's generate_image, generate_audio, generate_video."
    )
    final_answer_max_tokens: int | None = Field(
        default=None,
        gt=0,
        description="The final answer's length in tokens at most (its call's max_tokens; the "
        "presenter's own max_tokens still applies). A run of one agent then presents too.",
    )
    final_answer_stop: list[str] = Field(
        default_factory=list,
        max_length=4,
        description="The final answer ends before any of these (its call's stop sequences).",
    )
    # vote: the ensemble options
    vote_weighting: Literal["equal", "confidence"] = Field(
        default="equal",
        description="vote: equal votes, or each weighted by the voter's stated confidence (0-1).",
    )
    peer_view: Literal["auto", "all", "shortlist"] = Field(
        default="auto",
        description="vote: the answers an evaluating agent reads. all: every agent's latest; "
        "shortlist: peer_view_size answers, the same for every voter of a round (those that "
        "held the most votes, then those no peer has read yet, then a sample that changes "
        "each round), plus at most one of the others that no other voter is given (so every "
        "answer is read by a peer), plus its own; auto: shortlist in teams of more than "
        "peer_view_above agents, else all. A vote goes only to an answer the voter read.",
    )
    peer_view_size: int = Field(
        default=4, ge=1, description="vote: how many answers the shortlist holds (peer_view)."
    )
    peer_view_above: int = Field(
        default=6,
        ge=1,
        description="vote: with peer_view: auto, teams of more agents than this read a "
        "shortlist (6: up to 6 answers, every prompt reads them all).",
    )
    stop_when: int | float | Literal["majority"] | None = Field(
        default=None,
        description="vote: end the coordination once one answer holds the votes of this many "
        "live agents: 'majority' (more than half), a share (above 0, at most 1: at least "
        "that share, rounded up) or a number of agents (2 or more). Evaluation turns then "
        "start only as many at a time as could still complete the quorum, the turns left "
        "are cancelled and the winner (chosen as usual) presents. Unset: every live agent votes.",
    )
    min_agents: int | None = Field(
        default=None, ge=1, description="Fewer live agents than this: the run fails."
    )
    fallback_to_best: bool = Field(
        default=False,
        description="On failure or timeout, the best-scored answer so far is the final answer.",
    )
    # debate and judge
    consensus_threshold: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="debate: stop once this share of the agents agree (1.0: all of them). "
        "The share is compared in whole percents, the threshold read to two places: 0.67 "
        "is reached by 2 of 3 agents (67%) and 3 of 4 (75%), not by 3 of 5 (60%).",
    )
    judge: str | None = Field(
        default=None,
        description="judge: the aggregating agent's id (default the first); debate: an agent "
        "that synthesises the final answer instead of taking the majority's.",
    )
    layers: int = Field(
        default=1,
        ge=1,
        le=10,
        description="judge: layers of answers, each reading the previous layer's.",
    )
    # budgets (docs/architecture.md, "Budgets"): a model call that could cross a cap is not started
    max_cost_usd: float | None = Field(default=None, gt=0, description="Whole run, in USD.")
    max_total_tokens: int | None = Field(
        default=None, gt=0, description="Whole run, prompt + completion tokens."
    )
    agent_max_cost_usd: float | None = Field(default=None, gt=0, description="Each agent, in USD.")
    agent_max_total_tokens: int | None = Field(
        default=None, gt=0, description="Each agent, prompt + completion tokens."
    )

    @model_validator(mode="after")
    def _strategy_options(self) -> OrchestratorConfig:
        if self.strategy == "vote" and self.max_rounds is not None and self.max_rounds < 2:
            raise FieldProblem(
                ("max_rounds",),
                "must be at least 2 for strategy vote (the last round is vote-only)",
            )
        for option, strategies in STRATEGY_OPTIONS.items():
            # a dumped config carries every default: only a value that would change something
            # under another strategy is refused
            default = type(self).model_fields[option].default
            if getattr(self, option) != default and self.strategy not in strategies:
                raise FieldProblem(
                    (option,),
                    f"applies to strategy {' and '.join(strategies)}, not {self.strategy}",
                )
        if self.coordination.enable_planning_mode:
            planning = ("coordination", "enable_planning_mode")
            if self.final_answer == "reuse":
                raise FieldProblem(
                    planning,
                    "needs a final presenter to make the planned calls, and final_answer: "
                    "reuse has none (use final_answer: present)",
                )
            if self.strategy == "debate" and self.judge is None:
                raise FieldProblem(
                    planning,
                    "needs a final presenter to make the planned calls, and a debate without "
                    "'judge' ends with the majority's answer as it is (set judge: to the agent "
                    "that writes the final answer)",
                )
        return self

    @field_validator("stop_when", mode="before")
    @classmethod
    def _stop_when(cls, value: object) -> object:
        if value is None or value == "majority":
            return value
        shape = (
            "must be 'majority', a share of the live agents (above 0, at most 1, e.g. 0.6) "
            "or a number of agents (2 or more)"
        )
        if isinstance(value, bool) or not isinstance(value, int | float):
            got = str(value).lower() if isinstance(value, bool) else repr(value)
            raise ValueError(f"{shape}, got {got}")
        if isinstance(value, int) and value < 2:
            raise ValueError(f"{shape}, got {value} (every live agent: 1.0)")
        if isinstance(value, float) and not 0 < value <= 1:
            raise ValueError(f"{shape}, got {value:g}")
        return value

    @field_validator("final_answer_stop")
    @classmethod
    def _stop_sequences(cls, value: list[str]) -> list[str]:
        if any(not text for text in value):
            raise ValueError("a stop sequence must not be empty")
        return value

    @property
    def shapes_final_answer(self) -> bool:
        """The final answer has a length cap or stop sequences: it is always written by a
        final call (even in a run of one agent), where they apply."""
        return self.final_answer_max_tokens is not None or bool(self.final_answer_stop)

    @property
    def rounds(self) -> int:
        """``max_rounds``, or the strategy's default."""
        return self.max_rounds if self.max_rounds is not None else DEFAULT_ROUNDS[self.strategy]

    @property
    def budget_caps(self) -> dict[str, float | int]:
        """The run's and the team's per-agent caps that are set."""
        caps = {
            "max_cost_usd": self.max_cost_usd,
            "max_total_tokens": self.max_total_tokens,
            "agent_max_cost_usd": self.agent_max_cost_usd,
            "agent_max_total_tokens": self.agent_max_total_tokens,
        }
        return {k: v for k, v in caps.items() if v is not None}


class UIConfig(Strict):
    display_type: Literal["textual", "plain", "json"] = "textual"
    logging_enabled: bool = True
    examples: list[str] = Field(
        default_factory=list,
        description="Questions the app's welcome screen offers to pick (default: a few built in).",
    )


class MassGenConfig(Strict):
    """A whole config file. Give ``agents`` (a list) or ``agent`` (one)."""

    agents: list[AgentConfig] = Field(default_factory=list)
    agent: AgentConfig | None = None
    orchestrator: OrchestratorConfig = Field(default_factory=OrchestratorConfig)
    ui: UIConfig = Field(default_factory=UIConfig)

    @model_validator(mode="after")
    def _normalise_agents(self) -> MassGenConfig:
        if self.agent is not None:
            if self.agents:
                raise ValueError("give either 'agents' or 'agent', not both")
            self.agents = [self.agent]
            self.agent = None
        if not self.agents:
            raise ValueError("no agents: add an 'agents:' list (or a single 'agent:')")
        for index, agent in enumerate(self.agents, start=1):
            if agent.id is None:
                agent.id = f"agent{index}"
        self.check_orchestrator()
        return self

    def check_orchestrator(self) -> None:
        """The orchestrator's options that depend on the agents, checked against them."""
        orchestrator = self.orchestrator
        ids = [str(a.id) for a in self.agents]
        if orchestrator.judge is not None and orchestrator.judge not in ids:
            close = difflib.get_close_matches(orchestrator.judge, ids, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"agents: {', '.join(ids)}"
            raise FieldProblem(
                ("orchestrator", "judge"), f"no agent '{orchestrator.judge}' ({hint})"
            )
        if orchestrator.coordination.enable_planning_mode and len(ids) == 1:
            raise FieldProblem(
                ("orchestrator", "coordination", "enable_planning_mode"),
                "one agent's answer is final without a presentation turn, so its planned "
                "calls would never be made (add agents, or turn planning mode off)",
            )
        for option, key in (
            ("max_tokens", "final_answer_max_tokens"),
            ("stop", "final_answer_stop"),
        ):
            problem = self.final_call_problem(option) if getattr(orchestrator, key) else None
            if problem:
                raise FieldProblem(("orchestrator", key), problem)
        stop = orchestrator.stop_when
        if isinstance(stop, int) and not isinstance(stop, bool) and stop > len(ids):
            raise FieldProblem(
                ("orchestrator", "stop_when"),
                f"{stop} agents must agree, the config has {len(ids)}",
            )
        if orchestrator.min_agents is not None and orchestrator.min_agents > len(ids):
            raise FieldProblem(
                ("orchestrator", "min_agents"),
                f"{orchestrator.min_agents} agents needed, the config has {len(ids)}",
            )

    def final_call_problem(self, option: str) -> str | None:
        """Why this team cannot apply ``option`` (``max_tokens`` or ``stop``) to its final
        answer's call, or None: it has no such call, or an agent that may make it cannot."""
        orchestrator = self.orchestrator
        if orchestrator.final_answer == "reuse":
            return (
                "the final answer is the chosen answer as it is (final_answer: reuse): no "
                "final call to apply it to"
            )
        if orchestrator.strategy == "debate" and orchestrator.judge is None:
            return (
                "a debate without a judge ends with the majority's answer as it is: no final "
                "call to apply it to (set judge)"
            )
        for agent in self.agents:
            reason = refusal(agent.backend.type, option)
            if reason:
                return f"agent {agent.id} may write the final answer, and {reason}"
        return None

    @field_validator("agents")
    @classmethod
    def _unique_ids(cls, agents: list[AgentConfig]) -> list[AgentConfig]:
        ids = [a.id for a in agents if a.id is not None]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate agent id '{duplicates[0]}'")
        return agents
