"""Before Qt starts: can it open a window here? Qt aborts (exit 134) when there is no display or
its platform plugin cannot load; this check says instead, in one line, what is missing and what
to install. It looks at the platforms Qt would try (QT_QPA_PLATFORM, else Wayland and X11),
loads the plugin's shared library and, for X11, connects to the display."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from s2t_stream.errors import S2TError

HEADLESS = {"offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay", "minimalegl"}
# shared libraries whose Debian package name does not follow the soname
PACKAGE_OF = {"libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0"}
XVFB_HINT = "a virtual X server: xvfb-run s2t-stream gui (apt-get install xvfb)"

Loader = Callable[[str], object]


class DisplayError(S2TError):
    """Qt could not open a window here (the message says what to install or set)."""


def debian_package(soname: str) -> str:
    """The Debian package that ships `soname` by the library packaging policy:
    libxcb-icccm.so.4 → libxcb-icccm4, libxkbcommon-x11.so.0 → libxkbcommon-x11-0."""
    if soname in PACKAGE_OF:
        return PACKAGE_OF[soname]
    match = re.fullmatch(r"(lib.+?)\.so\.(\d+)(?:\..*)?", soname)
    if match is None:
        return soname
    stem, version = match.group(1).lower(), match.group(2)
    return f"{stem}-{version}" if stem[-1].isdigit() else f"{stem}{version}"


def plugin_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Where Qt looks for platform plugins."""
    from PyQt6.QtCore import QLibraryInfo  # QtCore needs no display

    dirs = [Path(p) for p in environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    extra = [Path(p) / "platforms" for p in environ.get("QT_PLUGIN_PATH", "").split(os.pathsep)]
    base = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    return [*dirs, *[d for d in extra if str(d) != "platforms"], base]


def requested_platforms(environ: Mapping[str, str]) -> list[str]:
    """The platform plugins Qt tries, in order."""
    spec = environ.get("QT_QPA_PLATFORM", "")
    if spec:
        return [name.split(":")[0].strip() for name in spec.split(";") if name.strip()]
    return ["wayland", "xcb"] if environ.get("WAYLAND_DISPLAY") else ["xcb"]


def missing_libraries(plugin: Path, load: Loader) -> list[str]:
    """The shared libraries `plugin` needs that cannot be found (empty: it loads)."""
    try:
        load(str(plugin))
        return []
    except OSError as error:
        first = re.search(r"(lib[^\s:/]+\.so[.\d]*)", str(error))
    found = _ldd_missing(plugin)
    return found or ([first.group(1)] if first else [str(plugin.name)])


def _ldd_missing(plugin: Path) -> list[str]:
    """Every missing library ldd names (the loader stops at the first)."""
    if shutil.which("ldd") is None:
        return []
    try:
        output = subprocess.run(
            ["ldd", str(plugin)], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split()[0] for line in output.splitlines() if "not found" in line})


def can_connect_x11(display: str) -> bool:
    """Whether an X server answers at `display` (libxcb, as Qt's xcb plugin connects)."""
    name = ctypes.util.find_library("xcb") or "libxcb.so.1"
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return True  # the plugin check reports libxcb itself
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return bool(connection) and xcb.xcb_connection_has_error(connection) == 0
    finally:
        if connection:
            xcb.xcb_disconnect(connection)


def platform_problem(name: str, environ: Mapping[str, str], load: Loader) -> str | None:
    """Why Qt's platform `name` cannot open a window here (None: it can)."""
    dirs = plugin_dirs(environ)
    plugin = next((d / f"libq{name}.so" for d in dirs if (d / f"libq{name}.so").is_file()), None)
    if plugin is None:
        there = sorted(p.stem[4:] for d in dirs if d.is_dir() for p in d.glob("libq*.so"))
        return f"Qt has no platform plugin {name!r}; there are: {', '.join(there)}"
    if name in HEADLESS:
        return None
    problems = []
    display_var = "DISPLAY" if name == "xcb" else "WAYLAND_DISPLAY"
    if name in ("xcb", "wayland") and not environ.get(display_var):
        hint = f", or in {XVFB_HINT}" if name == "xcb" else ""
        problems.append(f"no display ({display_var} is not set): run it in a desktop session{hint}")
    missing = missing_libraries(plugin, load)
    if missing:
        packages = " ".join(sorted({debian_package(lib) for lib in missing}))
        problems.append(
            f"Qt's {name} plugin cannot load ({', '.join(missing)} missing): "
            f"apt-get install {packages}"
        )
    elif name == "xcb" and environ.get("DISPLAY") and not can_connect_x11(environ["DISPLAY"]):
        display = environ["DISPLAY"]
        problems.append(f"no X server answers at DISPLAY={display}: start one, or use {XVFB_HINT}")
    return "; ".join(problems) or None


def check_display(environ: Mapping[str, str] | None = None, load: Loader = ctypes.CDLL) -> None:
    """Raise DisplayError (one line) unless one of the platforms Qt tries can open a window.
    Linux only: elsewhere Qt's own platform (Windows, macOS) needs no display server."""
    if not sys.platform.startswith("linux"):
        return
    env = os.environ if environ is None else environ
    problem = None
    for name in requested_platforms(env):  # Qt falls back to the next one: so do we
        problem = platform_problem(name, env, load)
        if problem is None:
            return
    raise DisplayError(f"cannot open a window: {problem or 'QT_QPA_PLATFORM names no platform'}")
