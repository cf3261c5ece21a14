"""API tokens: hashes only in the configuration, constant-time lookup, roles that include the ones below."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from starter.service.settings import Settings
from starter.service.tokens import (
    Principal,
    ReloadingTokens,
    Role,
    TokenConfigError,
    TokenStore,
    config_line,
    hash_token,
    new_token,
)
from tests.helpers.e2e import CXSLA


def _who(tokens: TokenStore | ReloadingTokens, token: str) -> Principal:
    """Whom the token authenticates as; a token nobody holds fails the test here."""
    principal = tokens.authenticate(token)
    assert principal is not None, "the token was not admitted"
    return principal


def test_a_configured_hash_admits_its_token_and_nothing_else():
    agent, boss = new_token(), new_token()
    store = TokenStore.parse(f"{config_line('amy', Role.AGENT, agent)}\n# comment\n"
                             f"{config_line('sam', Role.SUPERVISOR, boss)}")
    assert _who(store, agent).identity == "amy"
    assert _who(store, boss).role is Role.SUPERVISOR
    assert store.authenticate(agent + "x") is None and store.authenticate("") is None
    assert agent not in config_line("amy", Role.AGENT, agent)


def test_roles_include_the_ones_below():
    assert Role.ADMIN.allows(Role.SUPERVISOR) and Role.ADMIN.allows(Role.AGENT)
    assert Role.SUPERVISOR.allows(Role.AGENT) and not Role.SUPERVISOR.allows(Role.ADMIN)
    assert not Role.AGENT.allows(Role.SUPERVISOR)


@pytest.mark.parametrize(("line", "message"), [
    ("amy agent", "expected 'identity role sha256:<hex>'"),
    ("amy boss sha256:" + "0" * 64, "role 'boss'"),
    ("amy agent cxsla_plaintexttokenplaintexttoken", "never put a token itself here"),
    ("a/b agent sha256:" + "0" * 64, "identity 'a/b'"),
])
def test_bad_configuration_lines_are_refused_with_the_reason(line, message):
    with pytest.raises(TokenConfigError, match=message):
        TokenStore.parse(line)


def test_tokens_come_from_the_environment_and_a_file(tmp_path):
    one, two = new_token(), new_token()
    (tmp_path / "tokens").write_text(config_line("file-user", Role.ADMIN, two) + "\n")
    store = TokenStore.from_settings(Settings(_env_file=None, api_tokens=config_line("env-user", Role.AGENT, one),
                                              api_tokens_file=str(tmp_path / "tokens")))
    assert _who(store, one).identity == "env-user" and _who(store, two).identity == "file-user"
    with pytest.raises(TokenConfigError, match="cannot read"):
        TokenStore.from_settings(Settings(_env_file=None, api_tokens=None, api_tokens_file=str(tmp_path / "no")))


@pytest.mark.e2e  # runs the `cxsla` CLI as a process
def test_cli_prints_a_token_once_and_the_line_that_admits_it():
    made = subprocess.run([CXSLA, "token", "new", "--role", "supervisor", "--identity", "sam"],
                          capture_output=True, text=True, timeout=30, check=True).stdout
    token = made.split("token: ")[1].split()[0]
    line = made.split("config: ")[1].strip()
    assert line == f"sam supervisor {hash_token(token)}" and token not in line
    hashed = subprocess.run([CXSLA, "token", "hash", "--role", "agent", "--identity", "amy"], input=token + "\n",
                            capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert _who(TokenStore.parse(hashed), token).identity == "amy"
    short = subprocess.run([CXSLA, "token", "hash", "--role", "agent", "--identity", "amy"], input="abc\n",
                           capture_output=True, text=True, timeout=30)
    assert short.returncode != 0 and "at least 24" in short.stderr


@pytest.mark.e2e  # runs the `cxsla` CLI as a process
def test_cli_writes_the_line_to_a_new_private_tokens_file_and_refuses_a_second_token_for_one_identity(tmp_path):
    path = tmp_path / "conf" / "api-tokens"
    made = subprocess.run([CXSLA, "token", "new", "--role", "agent", "--identity", "amy", "--write", str(path)],
                          capture_output=True, text=True, timeout=30, check=True).stdout
    token = made.split("token: ")[1].split()[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text(path.read_text().rstrip("\n"))  # a hand-edited file without a final newline
    subprocess.run([CXSLA, "token", "new", "--role", "admin", "--identity", "root", "--write", str(path)],
                   capture_output=True, text=True, timeout=30, check=True)
    store = TokenStore.parse(path.read_text())
    assert len(store) == 2 and _who(store, token).identity == "amy"
    again = subprocess.run([CXSLA, "token", "new", "--role", "admin", "--identity", "amy", "--write", str(path)],
                           capture_output=True, text=True, timeout=30)
    assert again.returncode != 0 and "already has a token for amy" in again.stderr
    assert len(TokenStore.parse(path.read_text())) == 2


def test_a_changed_tokens_file_is_reloaded_and_an_invalid_one_keeps_the_previous_tokens(tmp_path):
    path = tmp_path / "tokens"
    first = TokenStore.create_file(path, "amy", Role.AGENT)
    tokens = ReloadingTokens(Settings(_env_file=None, api_tokens=None, api_tokens_file=str(path)), check_every=0)
    second, _ = TokenStore.add_to_file(path, "sam", Role.SUPERVISOR)
    assert _who(tokens, second).identity == "sam"  # noticed from the size and mtime
    path.write_text("sam supervisor not-a-hash\n")
    assert tokens.reload() is False
    assert _who(tokens, first).identity == "amy" and _who(tokens, second).identity == "sam"
    path.write_text(config_line("sam", Role.SUPERVISOR, second) + "\n")
    os.utime(path, ns=(0, 0))
    assert tokens.authenticate(first) is None and _who(tokens, second).identity == "sam"
