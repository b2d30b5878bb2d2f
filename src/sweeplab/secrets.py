"""Secrets: the values of secret-named environment variables (W&B key, cloud keys, tokens)
and of secret-named config keys (``--set api_token=...``).

None of them goes through Ray: its runtime-environment agent logs the environment variables
it is given in plain text (``runtime_env_agent.log``, mode 644), which Tune fills with the
driver's AWS keys, and Tune keeps every trial's config in its experiment state. Trials get
environment secrets from their process environment (a local Ray's workers inherit the
driver's), and secret config values from ``SWEEPLAB_SECRET_<key>`` variables, which the
driver sets before it starts a local Ray; on a cluster each node's environment must hold
them. Every text sweeplab stores, and every trial error, is masked by the same rule.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import traceback
from typing import Any, Callable, Iterable, Mapping, Optional

SECRET_NAME = re.compile(r"(TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(_|$)", re.IGNORECASE)
ENV_PREFIX = "SWEEPLAB_SECRET_"
MASK = "***"
MIN_LENGTH = 6  # shorter values would mask ordinary words and numbers


def is_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def _decoded(value: str) -> str:
    return str(from_env(value))


def from_env(text: str) -> Any:
    """A secret's value from ``SWEEPLAB_SECRET_<key>``: JSON where the driver set it (a
    number stays a number), else the plain text a user sets by hand."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _values(config: Optional[Mapping[str, Any]] = None) -> list[str]:
    found = [
        _decoded(v) if k.startswith(ENV_PREFIX) else v
        for k, v in os.environ.items()
        if k.startswith(ENV_PREFIX) or is_secret(k)
    ]
    found += [str(v) for k, v in (config or {}).items() if is_secret(str(k))]
    return sorted({v for v in found if len(v) >= MIN_LENGTH}, key=len, reverse=True)


def redact(obj: Any, config: Optional[Mapping[str, Any]] = None) -> Any:
    """``obj`` (text, or dicts / lists of it) with every secret value replaced by ***:
    secret-named environment variables, and secret-named keys of ``config``."""
    secrets = _values(config)
    if not secrets:
        return obj

    def clean(x: Any) -> Any:
        if isinstance(x, str):
            for value in secrets:
                x = x.replace(value, MASK)
            return x
        if isinstance(x, dict):
            return {
                k: MASK if isinstance(k, str) and is_secret(k) and v is not None else clean(v) for k, v in x.items()
            }
        if isinstance(x, (list, tuple)):
            return type(x)(clean(v) for v in x)
        return x

    return clean(obj)


def split_secrets(fixed: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public values, secret values) of a sweep's fixed values."""
    public = {k: v for k, v in fixed.items() if not is_secret(k)}
    return public, {k: v for k, v in fixed.items() if is_secret(k)}


def export(secrets: Mapping[str, Any]) -> None:
    """Put secret config values where this process's children (a local Ray's workers) find
    them, before Ray starts."""
    for key, value in secrets.items():
        os.environ[ENV_PREFIX + key] = json.dumps(value)


def restored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A resumed sweep's secret values: the sweep stored them masked; each comes back from
    ``SWEEPLAB_SECRET_<key>`` (which the first run's driver set, or the user sets)."""
    from .errors import UserError

    out = {}
    for key, value in stored.items():
        if ENV_PREFIX + key in os.environ:
            out[key] = from_env(os.environ[ENV_PREFIX + key])
        elif value == MASK:
            raise UserError(f"{key}: a secret, which the sweep did not store; set {ENV_PREFIX}{key} to resume it")
        else:
            out[key] = value
    return out


def keep_out_of_ray() -> None:
    """Tune copies the driver's AWS credentials into every trainable's runtime environment,
    which Ray's agent logs in plain text; workers inherit them from their process instead."""
    from .ray_internals import drop_propagated_env

    drop_propagated_env(is_secret)


class TrialError(RuntimeError):
    """A trial's error with its secrets masked (the original traceback, as text)."""


def guarded(fn: Callable, secret_keys: Iterable[str] = ()) -> Callable:
    """``fn`` as a Tune function trainable that gets ``secret_keys`` from the worker's
    environment into its config, and raises its errors with every secret masked (Tune writes
    them to error.txt / error.pkl and the driver's stderr)."""
    keys = tuple(secret_keys)

    @functools.wraps(fn)
    def trainable(config, *args, **kwargs):
        if keys:
            missing = [k for k in keys if ENV_PREFIX + k not in os.environ]
            if missing:
                raise TrialError(
                    f"secret --set {missing[0]} did not reach this worker: Ray workers started outside "
                    f"this sweep need {ENV_PREFIX}{missing[0]} in their environment"
                )
            config = {**config, **{k: from_env(os.environ[ENV_PREFIX + k]) for k in keys}}
        streams = sys.stdout, sys.stderr
        if _values(config):  # what the trainable prints reaches Ray's worker logs: masked there too
            sys.stdout, sys.stderr = (_Masked(stream, config) for stream in streams)
        try:
            return fn(config, *args, **kwargs)
        except Exception as e:
            text = "".join(traceback.format_exception(e))
            masked = redact(text, config)
            if masked == text:
                raise
            raise TrialError(masked) from None
        finally:
            sys.stdout, sys.stderr = streams

    return trainable


class _Masked:
    """A text stream that writes through ``redact``: every secret value as ***."""

    def __init__(self, stream, config: Mapping[str, Any]):
        self._stream, self._config = stream, config

    def write(self, text: str) -> int:
        self._stream.write(redact(text, self._config) if isinstance(text, str) else text)
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding ...
        return getattr(self._stream, name)
