"""The options of an OPC UA connector: what each means, and the check that refuses bad ones.

Pure functions without asyncua, so that the service validating a connector's configuration does
not load the protocol stack. The driver (`connectors.drivers.opcua`) reads the same names.

Security: with no security option at all the driver connects without security (policy and mode
None), which a plant network server must offer for that. Naming `certificate` and `private_key`
(the client's own, PEM or DER paths on the host running `run_connectors`) turns security on: with
`security_policy` and `security_mode` both named the driver uses exactly those; with either left
out it takes the endpoint the server rates highest (its SecurityLevel) among those matching what
is named. It never falls back to None once a certificate is given.
"""

import math
import re
from dataclasses import dataclass
from typing import Any

SECURITY_POLICIES = ("None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")

# 100 ms publishing with a queue of 1,000 per node keeps a value changing at up to 10 kHz
# without the server discarding any between two publish responses.
DEFAULT_PUBLISHING_INTERVAL_MS = 100.0
DEFAULT_SAMPLING_INTERVAL_MS = 0.0  # 0: the fastest the server samples (on every write)
DEFAULT_QUEUE_SIZE = 1000

_PATHS = ("certificate", "private_key", "server_certificate")
_SECRETS = ("private_key_password", "username", "password")
# name -> (lowest, highest, integer only)
_NUMBERS: dict[str, tuple[float, float, bool]] = {
    "publishing_interval_ms": (10.0, 3_600_000.0, False),
    "sampling_interval_ms": (0.0, 3_600_000.0, False),
    "queue_size": (1, 100_000, True),
}
KNOWN_OPTIONS = ("security_policy", "security_mode", *_PATHS, *_SECRETS, *_NUMBERS)

# ns=<index>;<type>=<identifier>, nsu=<namespace URI>;<type>=<identifier> (the driver looks the
# index up on each connect), or a namespace 0 id (i=2258).
_NODE_ID = re.compile(
    r"^(?:(?:ns=\d{1,5}|nsu=[^;\x00]{1,400});)?"
    r"(?:i=\d{1,10}|s=[^\x00]{1,480}|b=[A-Za-z0-9+/=]{1,480}"
    r"|g=[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"
)


@dataclass(frozen=True, slots=True)
class OpcUaOptions:
    """An OPC UA connector's options once `options_check` found none wrong."""

    security_policy: str | None  # None: not named
    security_mode: str | None
    certificate: str
    private_key: str
    private_key_password: str
    server_certificate: str
    username: str
    password: str
    publishing_interval_ms: float
    sampling_interval_ms: float
    queue_size: int

    @property
    def secure(self) -> bool:
        return bool(self.certificate)


def options_check(options: Any) -> list[str]:
    """Every problem of an OPC UA connector's `options`, each naming its field; [] when valid."""
    if not isinstance(options, dict):
        return ["options: must be an object"]
    problems = [f"options.{key}: unknown option" for key in options if key not in KNOWN_OPTIONS]
    problems += _text_problems(options)
    problems += _number_problems(options)
    if problems:
        return problems
    return _security_problems(options)


def options_read(options: dict[str, Any]) -> OpcUaOptions:
    """The typed options; call after `options_check(options) == []`."""
    return OpcUaOptions(
        security_policy=options.get("security_policy"),
        security_mode=options.get("security_mode"),
        certificate=options.get("certificate", ""),
        private_key=options.get("private_key", ""),
        private_key_password=options.get("private_key_password", ""),
        server_certificate=options.get("server_certificate", ""),
        username=options.get("username", ""),
        password=options.get("password", ""),
        publishing_interval_ms=float(options.get("publishing_interval_ms", DEFAULT_PUBLISHING_INTERVAL_MS)),
        sampling_interval_ms=float(options.get("sampling_interval_ms", DEFAULT_SAMPLING_INTERVAL_MS)),
        queue_size=int(options.get("queue_size", DEFAULT_QUEUE_SIZE)),
    )


def source_check(source: str) -> str:
    """Why `source` is not an OPC UA node id in its string form, or "" when it is one."""
    if not isinstance(source, str) or not _NODE_ID.match(source):
        shown = repr(source[:100]) if isinstance(source, str) else type(source).__name__
        return f"{shown} is not an OPC UA node id (like ns=2;s=Coater.MassLoading or ns=3;i=1001)"
    return ""


def _text_problems(options: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("security_policy", "security_mode", *_PATHS, *_SECRETS):
        if key not in options:
            continue
        value = options[key]
        if not isinstance(value, str):
            problems.append(f"options.{key}: must be a string")
        elif "\x00" in value or len(value) > (longest := 10_000 if key in _SECRETS else 1000):
            problems.append(f"options.{key}: must be at most {longest} characters, without NUL")
        elif key in _PATHS and not value:
            problems.append(f"options.{key}: must be a file path, not empty")
    for key, allowed in (("security_policy", SECURITY_POLICIES), ("security_mode", SECURITY_MODES)):
        value = options.get(key)
        if isinstance(value, str) and value not in allowed:
            problems.append(f"options.{key}: {value[:60]!r} is not one of {', '.join(allowed)}")
    return problems


def _number_problems(options: dict[str, Any]) -> list[str]:
    problems = []
    for key, (low, high, integer) in _NUMBERS.items():
        if key not in options:
            continue
        value = options[key]
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            problems.append(f"options.{key}: must be {kind}")
        elif not math.isfinite(value) or not low <= value <= high:
            problems.append(f"options.{key}: must be between {_plain(low)} and {_plain(high)}")
    return problems


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _security_problems(options: dict[str, Any]) -> list[str]:
    policy, mode = options.get("security_policy"), options.get("security_mode")
    has_cert, has_key = "certificate" in options, "private_key" in options
    problems = []
    if (policy == "None") != (mode == "None") and policy is not None and mode is not None:
        problems.append("options.security_mode: None and a security policy other than None go only together")
    wants_security = (policy not in (None, "None")) or (mode not in (None, "None"))
    if wants_security and not (has_cert and has_key):
        problems.append("options.certificate: a security policy or mode needs certificate and private_key")
    elif has_cert != has_key:
        missing = "private_key" if has_cert else "certificate"
        problems.append(f"options.{missing}: certificate and private_key go together")
    elif has_cert and (policy == "None" or mode == "None"):
        problems.append("options.security_policy: a certificate is used only with a policy other than None")
    if not has_cert:
        for key in ("server_certificate", "private_key_password"):
            if key in options:
                problems.append(f"options.{key}: used only with certificate and private_key")
    if ("username" in options) != ("password" in options):
        missing = "password" if "username" in options else "username"
        problems.append(f"options.{missing}: username and password go together")
    return problems
