"""`build_source(settings)`: the configured secret source, checked before anything starts."""

from __future__ import annotations

from typing import Any

from tradewarden.core.config import Profile, SecretSource, Settings
from tradewarden.secrets.errors import SecretConfigError
from tradewarden.secrets.source import Source
from tradewarden.secrets.value import Secret


def build_source(settings: Settings, **options: Any) -> Source:
    """The source named by ``TRADEWARDEN_SECRET_SOURCE``. Raises `SecretConfigError` (naming
    the setting) when it cannot be used: env with the prod profile, the file source without
    its file/key settings or with an unsafe file, AWS without a region. `options` go to the
    source's constructor (tests: `clock`, `client`, ...)."""
    kind = settings.secret_source
    if kind is SecretSource.ENV:
        if settings.profile is Profile.PROD:
            raise SecretConfigError(
                "TRADEWARDEN_SECRET_SOURCE=env is refused with TRADEWARDEN_PROFILE=prod:"
                " use aws (Secrets Manager) or file (Fernet)"
            )
        from tradewarden.secrets.env import EnvSource

        return EnvSource(settings, **options)
    if kind is SecretSource.FILE:
        from tradewarden.secrets.fernet_file import FILE_SETTING, KEY_SETTING, FernetFileSource

        if settings.credential_file is None:
            raise SecretConfigError(f"{FILE_SETTING}: not set (TRADEWARDEN_SECRET_SOURCE=file)")
        if settings.credential_key is None or not settings.credential_key.get_secret_value():
            raise SecretConfigError(f"{KEY_SETTING}: not set (TRADEWARDEN_SECRET_SOURCE=file)")
        key = Secret(settings.credential_key.get_secret_value(), KEY_SETTING)
        source = FernetFileSource(settings.credential_file, key, **options)
        if settings.credential_file.exists():  # a missing file is created by `secrets put`
            source.check_file()
        return source
    from tradewarden.secrets.aws import AwsSecretsManagerSource

    options.setdefault("ttl_s", settings.secret_ttl_seconds)
    options.setdefault("grace_s", settings.secret_grace_seconds)
    return AwsSecretsManagerSource(**options)
