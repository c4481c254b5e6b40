"""Spec files an attacker or an unlucky operator writes: each is one line naming the file, fast."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sluice.errors import SluiceError, SpecErrors
from sluice.spec.reader import load_spec
from sluice.spec.yaml_lines import MAX_BYTES

GOOD = """\
pipeline: shop
start_date: 2026-01-01
zones:
  - name: bronze
    select: [path:models/bronze]
"""


def write(tmp_path: Path, data: str | bytes, name: str = "p.yml") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(SluiceError) as exc:
        load_spec(path)
    err = exc.value
    lines = [str(e) for e in err.errors] if isinstance(err, SpecErrors) else str(err).splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_latin1_bytes_are_named_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("shop", "shop\ndescription: caf\xe9").encode("latin-1"))
    assert error_of(path) == f"{path}:2: not UTF-8 text (byte 0xe9); save the file as UTF-8"


def test_utf16_with_a_byte_order_mark_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.encode("utf-16"))
    assert error_of(path).startswith(f"{path}:1: not UTF-8 text (byte 0xff)")


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    assert load_spec(write(tmp_path, b"\xef\xbb\xbf" + GOOD.encode())).spec.pipeline == "shop"


def test_an_impossible_date_is_an_error_at_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("2026-01-01", "2026-13-45"))
    assert error_of(path).startswith(f"{path}:2: start_date: ")


def test_a_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "# " + "x" * MAX_BYTES + "\n")
    started = time.monotonic()
    size = path.stat().st_size
    assert error_of(path) == f"{path}: the file is {size:,} bytes; the limit is {MAX_BYTES:,}"
    assert time.monotonic() - started < 1


def test_an_alias_bomb_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = write(tmp_path, "\n".join(f"x-{line}" for line in lines) + "\n" + GOOD + "description: *a8\n")
    assert path.stat().st_size < 1024
    started = time.monotonic()
    message = error_of(path)
    assert time.monotonic() - started < 1
    assert message.startswith(f"{path}:") and "refused: expands to more than 100,000 YAML nodes" in message


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "description: " + "[" * 5000 + "]" * 5000 + "\n")
    message = error_of(path)
    assert message.startswith(f"{path}:6: refused: nested more than 64 levels deep"), message


def test_an_integer_python_will_not_convert_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "defaults: {retries: " + "9" * 5000 + "}\n")
    assert error_of(path).startswith(f"{path}: invalid YAML: ")


@pytest.mark.parametrize("value", [".inf", ".nan", "1e300"])
def test_infinite_or_huge_minutes_are_refused_at_their_key(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, GOOD + f"defaults: {{retry_delay_minutes: {value}}}\n")
    assert error_of(path).startswith(f"{path}:6: defaults.retry_delay_minutes: ")


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (GOOD.replace("shop", "s" * 251), "pipeline", "251 characters; an Airflow dag_id is at most 250"),
        (GOOD.replace("bronze", "b" * 65), "zones[0].name", "65 characters; a zone name is at most 64"),
        (GOOD + f"tags: [ok, {'t' * 101}]\n", "tags[1]", "101 characters; an Airflow DAG tag is at most 100"),
        (GOOD + "max_active_runs: 0\n", "max_active_runs", "greater than or equal to 1"),
    ],
)
def test_values_airflow_refuses_are_refused_by_the_spec(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    message = error_of(write(tmp_path, text))
    assert f": {key}: " in message and words in message, message


def test_merge_keys_and_x_anchors_work(tmp_path: Path) -> None:
    text = """\
x-zone: &zone
  publish: barrier
  description: shared
pipeline: shop
zones:
  - <<: *zone
    name: bronze
    select: [path:models/bronze]
  - <<: *zone
    name: silver
    description: its own
    select: [path:models/silver]
"""
    zones = load_spec(write(tmp_path, text)).spec.zones
    assert [(z.name, z.description) for z in zones] == [("bronze", "shared"), ("silver", "its own")]


def test_a_key_written_twice_is_still_an_error_beside_merge_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path, "x-d: &d {retries: 1}\npipeline: shop\ndefaults:\n  <<: *d\n  retries: 2\n  retries: 3\n"
    )
    assert error_of(path) == f"{path}:6: defaults.retries: key appears twice"


def test_a_directory_named_like_a_spec_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "dir.yml").mkdir()
    assert error_of(tmp_path / "dir.yml") == f"{tmp_path / 'dir.yml'}: not a regular file"


def test_a_fifo_named_like_a_spec_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yml")
    assert error_of(tmp_path / "fifo.yml") == f"{tmp_path / 'fifo.yml'}: not a regular file"
