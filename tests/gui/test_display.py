"""Starting the app where Qt cannot open a window: one line saying what is missing and what to
install (exit 2), never Qt's abort (exit 134)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PyQt6", reason="the desktop app needs PyQt6 (pip install 's2t-stream[gui]')")

from gui.display import DisplayError, check_display, debian_package

ROOT = Path(__file__).resolve().parents[2]


def loads(path: str) -> object:
    return object()


def icccm_missing(path: str) -> object:
    raise OSError("libxcb-icccm.so.4: cannot open shared object file: No such file or directory")


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libEGL.so.1", "libegl1"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
    ],
)
def test_debian_package_of_a_library(soname: str, package: str) -> None:
    assert debian_package(soname) == package


def test_no_display_says_so_and_how_to_get_one() -> None:
    with pytest.raises(DisplayError) as caught:
        check_display({"QT_QPA_PLATFORM": "xcb"}, load=loads)
    message = str(caught.value)
    assert "DISPLAY is not set" in message and "xvfb-run s2t-stream gui" in message
    assert "\n" not in message


def test_a_missing_xcb_library_names_the_package_to_install() -> None:
    with pytest.raises(DisplayError) as caught:
        check_display({"DISPLAY": ":0"}, load=icccm_missing)
    assert "apt-get install libxcb-icccm4" in str(caught.value)


def test_an_x_server_that_does_not_answer() -> None:
    with pytest.raises(DisplayError, match="no X server answers at DISPLAY=:987"):
        check_display({"DISPLAY": ":987"}, load=loads)


def test_an_unknown_platform_lists_those_there_are() -> None:
    with pytest.raises(DisplayError, match=r"no platform plugin 'nosuch'.*offscreen"):
        check_display({"QT_QPA_PLATFORM": "nosuch"}, load=loads)


def test_offscreen_and_a_fallback_platform_pass() -> None:
    check_display({"QT_QPA_PLATFORM": "offscreen"}, load=icccm_missing)
    check_display({"QT_QPA_PLATFORM": "xcb;offscreen"}, load=loads)


@pytest.mark.parametrize(
    ("command", "prefix", "platform"),
    [
        (["-m", "s2t_stream", "gui"], "s2t-stream: error:", None),
        (["-m", "s2t_stream", "gui"], "s2t-stream: error:", "xcb"),
        (["-m", "gui", "--start"], "python -m gui: error:", "xcb"),
    ],
)
def test_the_app_without_a_display_exits_with_one_line(
    command: list[str], prefix: str, platform: str | None
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    if platform:
        env["QT_QPA_PLATFORM"] = platform
    done = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prefix} cannot open a window: no display")


def test_a_missing_recording_is_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "s2t_stream", "gui", "--source", "no-such.wav", "--start"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "s2t-stream: error: --source: no such file: no-such.wav"
