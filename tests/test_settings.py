"""Settings come from the environment; bad ones stop the bot with a clear message and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.storage import sqlite_path

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {"DISCORD_TOKEN": "MTIz.discord-token-secret", "VIBEDREAM_API_KEY": "vd-secret-key"}


def run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every documented variable is read, guild ids split on commas, defaults filled in."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DISCORD_GUILD_IDS", "123, 456")
    monkeypatch.setenv("DATABASE_URL", "sqlite:////var/lib/imagine/bot.db")
    monkeypatch.setenv("DEFAULT_SIZE", "1280*720")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.discord_guild_ids == [123, 456]
    assert str(sqlite_path(settings.database_url)) == "/var/lib/imagine/bot.db"
    assert settings.default_size == "1280*720" and settings.default_format == "jpeg"
    assert settings.vibedream_base_url == "https://api.vibedream.ai/api/v1"
    assert settings.log_level == "DEBUG"
    assert "vd-secret-key" not in repr(settings)


def test_settings_come_from_a_dotenv_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An operator's .env in the working directory is enough."""
    monkeypatch.chdir(tmp_path)
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("DISCORD_TOKEN=abc.def\nVIBEDREAM_API_KEY=key-123\n")
    settings = Settings()
    assert settings.vibedream_api_key.get_secret_value() == "key-123"


def test_empty_environment_exits_2_naming_both_secrets(tmp_path: Path) -> None:
    """`python -m bot` with nothing set exits 2, names both variables, shows no traceback."""
    result = run_bot({}, tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr and "VIBEDREAM_API_KEY" in result.stderr
    assert ".env.example" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_settings_are_each_named_and_never_echoed(tmp_path: Path) -> None:
    """Each bad setting is named; no secret value appears in the output."""
    env = {
        **REQUIRED,
        "DATABASE_URL": "mysql://db/imagine",
        "DEFAULT_SIZE": "4096*4096",
        "DISCORD_GUILD_IDS": "12,abc",
    }
    result = run_bot(env, tmp_path)
    assert result.returncode == 2
    for name in ("DATABASE_URL", "DEFAULT_SIZE", "DISCORD_GUILD_IDS"):
        assert name in result.stderr
    assert "DISCORD_TOKEN" not in result.stderr  # it was fine
    for secret in REQUIRED.values():
        assert secret not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_every_setting_is_documented() -> None:
    """Each setting appears in .env.example and in the README's settings table."""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        variable = name.upper()
        assert f"\n{variable}=" in example, f"{variable} missing from .env.example"
        assert f"| `{variable}` |" in readme, f"{variable} missing from the README"


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [("8", "0-1,6", [0, 1, 6]), ("2", "1", [1]), ("4", "", None)],
)
def test_shard_ranges_are_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, count: str, ids: str, expected: object
) -> None:
    """DISCORD_SHARD_IDS takes ranges and lists; the scope covers exactly those shards."""
    monkeypatch.chdir(tmp_path)
    for name, value in {**REQUIRED, "DISCORD_SHARD_COUNT": count, "DISCORD_SHARD_IDS": ids}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.discord_shard_ids == expected
    if expected is not None:
        covered = [shard for shard in range(int(count)) if settings.shard_scope.covers(shard << 22)]
        assert covered == expected


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"DISCORD_SHARD_IDS": "0-3"}, "needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1-2"}, "below DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "one"}, "shard numbers and ranges"),
    ],
)
def test_impossible_shard_settings_stop_the_bot(
    tmp_path: Path, env: dict[str, str], complaint: str
) -> None:
    """Shard ids without a total, or past it, are refused at start with a sentence."""
    result = run_bot({**REQUIRED, **env}, tmp_path)
    assert result.returncode == 2 and complaint in result.stderr
